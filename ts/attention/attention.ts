// attention(q, k, v, options): the one entry point. Checks every argument, broadcasts the
// mask and bias to [B, H, Nq, Nk] views (no copies), then runs the named mechanism. A
// SparseMask is not broadcast: it goes to mechanism 'sparse' as extra.sparseMask.
import { checkOneOf, invalidParameterError, rangeError } from '../errors';
import { checkScale } from '../ops/checks';
import { isFloat } from '../dtype';
import { checkTensor, Tensor } from '../tensor';
import { gradRecorded, needsGrad } from '../autograd/graph';
import { defaultGenerator, RandomGenerator } from '../generator';
import { checkProbability } from '../ops/dropout_backward';
import type { AttentionBias, CausalAlignment } from './attn_bias';
import { BlockSparseLayout } from './block_layout';
import { memoryEfficient, PRECISIONS, vanilla } from './dense';
import { AttentionInputs, attentionMechanisms, AttentionPrecision, getAttention, registerAttention } from './registry';
import { resolveKeyRule } from './key_rule';
import { forwardRecorded, recordSplit } from './recorded';
import { blockSparse, sparse } from './sparse';
import { SparseMask, SparsePath } from './sparse_mask';

registerAttention('memory_efficient', memoryEfficient);
registerAttention('vanilla', vanilla);
registerAttention('sparse', sparse);
registerAttention('block_sparse', blockSparse);

export interface AttentionOptions {
  /** A registered mechanism: 'memory_efficient' (default), 'vanilla', 'sparse', 'block_sparse', or one registered later. */
  mechanism?: string;
  /** Multiplies q . k; default 1 / sqrt(D). */
  scale?: number;
  /**
   * uint8, 1 = attend: [Nq, Nk] or broadcastable to [B, H, Nq, Nk]. For mechanism 'sparse'
   * a SparseMask instead (and only there: other mechanisms take mask.toDense()).
   */
  mask?: Tensor | SparseMask | null;
  /** Additive float scores, broadcastable to [B, H, Nq, Nk]. */
  bias?: Tensor | null;
  /**
   * true or 'top_left': key j is attended by query i only when j <= i; 'bottom_right': when
   * j <= i + Nk − Nq (attnBias.lowerTriangularFromBottomRight()). Default false.
   */
  causal?: boolean | CausalAlignment;
  /**
   * Which keys each query may attend, as an AttentionBias (attnBias.lowerTriangular(),
   * lowerTriangularFromBottomRight(), localWindow(), blockDiagonal()): served by
   * 'memory_efficient' (skipping the key tiles it leaves out) and 'vanilla'; it composes with
   * options.mask and options.bias, not with options.causal.
   */
  attnBias?: AttentionBias | null;
  /** 'block_sparse': the blocks to attend. */
  layout?: BlockSparseLayout;
  /** 'sparse': 'auto' (default; SparseMask.explain() says what it picks), 'csr' or 'block'. */
  sparsePath?: SparsePath;
  /**
   * Float32 matmul precision, as PyTorch names it: 'highest' computes in float32, 'high' lets
   * the CUDA tensor-core kernels (memory_efficient, block_sparse, sparse's block path) use
   * 3xTF32. Default: the kernel's own. float16 and bfloat16 inputs are not affected.
   */
  precision?: AttentionPrecision;
  /**
   * Dropout on the attention probabilities (timm's attn_drop, SDPA's dropout_p): each is zeroed
   * with this probability and the others scaled by 1/(1 − p). Default 0. Only mechanisms that
   * materialize the probabilities apply it ('vanilla'); the others refuse a p above 0.
   */
  dropout?: number;
  /** The generator the dropout draws B·H·Nq·Nk words from. Default: the default generator of q's device. */
  generator?: RandomGenerator;
  /** Mechanism-specific options. */
  [key: string]: unknown;
}

/** A view of `t` broadcast to `shape` (numpy rules, aligned at the right), with stride 0 where broadcast. */
export function broadcastView(fn: string, name: string, t: Tensor, shape: readonly number[]): Tensor {
  if (t.rank > shape.length) throw rangeError(fn, `${name} of shape [${t.shape.join(', ')}] has more dimensions than [${shape.join(', ')}]`);
  const lead = shape.length - t.rank;
  const strides = shape.map((size, i) => {
    if (i < lead) return 0;
    const own = t.shape[i - lead];
    if (own === size) return t.strides[i - lead];
    if (own === 1) return 0;
    throw rangeError(fn, `${name} of shape [${t.shape.join(', ')}] does not broadcast to [${shape.join(', ')}]`);
  });
  return t._view(shape, strides);
}

/**
 * softmax(q kᵀ · scale + bias, masked) v per batch and head.
 * q: [B, Nq, H, D], k and v: [B, Nk, H, D] (xFormers' BMHK layout; strided views such as
 * those of splitQkv() are read in place), or [B, Nk, Hkv, D] with H a multiple of Hkv
 * (grouped- and multi-query attention, 'memory_efficient': query head h reads kv head
 * h / (H / Hkv), never a copy per head). Returns a contiguous [B, Nq, H, D] tensor in q's
 * dtype. A query row with no allowed key (all masked) gives zeros, never NaN.
 * When q, k, v or the bias require grad, the call is recorded for backward (every built-in
 * mechanism has a gradient; the mask gets none).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const fn = 'attention';
  checkTensor(fn, 'q', q);
  checkTensor(fn, 'k', k);
  checkTensor(fn, 'v', v);
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object', options);
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (t.rank !== 4) throw rangeError(fn, `${name} must be [B, N, H, D], got [${t.shape.join(', ')}]`);
    if (t.strides[3] !== 1 && t.shape[3] > 1) throw rangeError(fn, `${name} needs a unit stride along D`);
  }
  if (!isFloat(q.dtype)) throw invalidParameterError(fn, 'q.dtype', 'a float dtype', q.dtype);
  if (k.dtype !== q.dtype || v.dtype !== q.dtype) throw new TypeError(`${fn}: q, k and v must share one dtype, got ${q.dtype}, ${k.dtype}, ${v.dtype}`);
  if (k.device !== q.device || v.device !== q.device) throw new TypeError(`${fn}: q, k and v must be on one device, got ${q.device}, ${k.device}, ${v.device}`);
  const [B, Nq, H, D] = q.shape;
  const [, Nk, Hkv] = k.shape;
  if (k.shape[0] !== B || !(Hkv === H || (Hkv > 0 && H % Hkv === 0)) || k.shape[3] !== D || v.shape.some((s, i) => s !== k.shape[i])) {
    throw rangeError(fn, `shapes disagree: q [${q.shape.join(', ')}], k [${k.shape.join(', ')}], v [${v.shape.join(', ')}] ` +
      '(q [B, Nq, H, D], k and v [B, Nk, Hkv, D] with H a multiple of Hkv)');
  }
  const {
    mechanism = 'memory_efficient', scale = 1 / Math.sqrt(Math.max(D, 1)), mask = null, bias = null, causal: causalOption = false, attnBias = null,
    dropout = 0, generator, ...extra
  } = options;
  const tracked = needsGrad(q, k) || needsGrad(v, bias);
  checkScale(fn, scale);
  const { causal, attnBias: rule, keyRanges } = resolveKeyRule(fn, causalOption, attnBias, Nq, Nk);
  const dropP = checkProbability(fn, 'options.dropout', dropout);
  if (generator !== undefined && !(generator instanceof RandomGenerator)) throw invalidParameterError(fn, 'options.generator', 'a RandomGenerator', generator);
  if (typeof mechanism !== 'string') throw invalidParameterError(fn, 'options.mechanism', 'a string', mechanism);
  const impl = getAttention(mechanism);
  if (!impl) throw invalidParameterError(fn, 'options.mechanism', `one of ${attentionMechanisms().map((m) => `'${m}'`).join(', ')}`, mechanism);
  const precision = extra.precision === undefined ? undefined : checkOneOf(fn, 'options.precision', extra.precision, PRECISIONS);
  delete extra.precision;
  const full = [B, H, Nq, Nk];
  // The broadcast views hold their storage: made inside the try, so a later throw frees them.
  let maskView: Tensor | null = null;
  let biasView: Tensor | null = null;
  try {
    if (mask instanceof SparseMask) {
      if (mechanism !== 'sparse') {
        throw new TypeError(`${fn}: options.mask is a SparseMask, which only mechanism 'sparse' reads; pass mask.toDense() to '${String(mechanism)}'`);
      }
      mask.assertAlive(fn, 'options.mask');
      extra.sparseMask = mask;
    } else if (mask !== null && mask !== undefined) {
      checkTensor(fn, 'options.mask', mask);
      if (mask.dtype !== 'uint8') throw invalidParameterError(fn, 'options.mask', 'a uint8 tensor (1 = attend)', mask);
      if (mask.device !== q.device) throw new TypeError(`${fn}: options.mask is on ${mask.device} but q is on ${q.device}`);
      maskView = broadcastView(fn, 'options.mask', mask, full);
    }
    if (bias !== null && bias !== undefined) {
      checkTensor(fn, 'options.bias', bias);
      if (!isFloat(bias.dtype)) throw invalidParameterError(fn, 'options.bias', 'a float tensor', bias);
      if (bias.device !== q.device) throw new TypeError(`${fn}: options.bias is on ${bias.device} but q is on ${q.device}`);
      biasView = broadcastView(fn, 'options.bias', bias, full);
    }
    const inputs: AttentionInputs = { q, k, v, scale, causal, mask: maskView, bias: biasView, precision, extra, keyRanges, attnBias: rule };
    impl.checkInputs?.(fn, inputs);
    const reasons = impl.notSupportedReasons(inputs);
    if (rule !== null && !impl.supportsKeyRanges) {
      reasons.push(`options.${attnBias === null ? 'causal' : 'attnBias'} (${rule}) is served by 'memory_efficient' and 'vanilla': ` +
        'pass its pattern as options.mask (attnBias.materialize(Nq, Nk).toTensor()) here');
    }
    if (Hkv !== H && !impl.supportsGroupedKV) {
      reasons.push(`k and v have ${Hkv} heads and q ${H} (grouped-query attention), which only 'memory_efficient' reads: repeat k and v to ${H} heads here`);
    }
    if (dropP > 0 && !impl.supportsDropout) {
      reasons.push(`options.dropout = ${dropP} needs the attention probabilities, which this mechanism never materializes: use mechanism 'vanilla', or dropout 0`);
    }
    if (reasons.length > 0) {
      throw new Error(`${fn}: mechanism '${mechanism}' cannot serve these inputs (q [${q.shape.join(', ')}] ${q.dtype} on ${q.device}):\n` +
        reasons.map((r) => `  - ${r}`).join('\n'));
    }
    if (dropP > 0) {
      // Drawn once the call is sure to run: a refused call leaves the generator as it was.
      const words = B * H * Nq * Nk;
      const draw = dropP === 1 ? { seed: 0, offset: 0 } : (generator ?? defaultGenerator(q.device)).draw(fn, words);
      inputs.dropout = { p: dropP, seed: draw.seed, offset: draw.offset };
    }
    return tracked ? forwardRecorded(fn, mechanism, impl, inputs, bias) : impl.forward(inputs);
  } finally {
    maskView?.dispose();
    biasView?.dispose();
  }
}

/**
 * Splits a fused qkv projection [B, N, 3, H, D] into q, k and v views [B, N, H, D] of the
 * same storage: no copy; attention() reads them in place. When qkv requires grad, each view
 * records (its gradient fills its slot of qkv's).
 */
export function splitQkv(qkv: Tensor): { q: Tensor; k: Tensor; v: Tensor } {
  const fn = 'splitQkv';
  checkTensor(fn, 'qkv', qkv);
  if (qkv.rank !== 5 || qkv.shape[2] !== 3) throw rangeError(fn, `qkv must be [B, N, 3, H, D], got [${qkv.shape.join(', ')}]`);
  const [B, N, , H, D] = qkv.shape;
  const s = qkv.strides;
  const tracked = qkv.requiresGrad && gradRecorded();
  const view = (i: number) => {
    const t = qkv._view([B, N, H, D], [s[0], s[1], s[3], s[4]], qkv.offset + i * s[2]);
    return tracked ? recordSplit(t, qkv, i) : t;
  };
  return { q: view(0), k: view(1), v: view(2) };
}

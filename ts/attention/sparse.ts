// The two sparse mechanisms. 'sparse' reads a SparseMask (sparse_mask.ts) one of two ways:
//   'csr'   native().sparseAttention: scores only the mask's entries (the CSR kernel);
//   'block' native().attention with the mask as a dense uint8 element mask, plus tile lists
//           so the tiled kernel skips the tiles that hold no entry.
// 'block_sparse' is the tiled kernel restricted to the on blocks of a BlockSparseLayout
// (block_layout.ts). Every check is made here, before native code runs; see
// SparseAttentionParams and AttentionParams in native/core/ops.h for what the kernels get.
import { checkOneOf, invalidParameterError, rangeError } from '../errors';
import { native, NativeBlockPlan } from '../native';
import { fill } from '../ops/checks';
import { empty, Tensor } from '../tensor';
import { sparseAttentionBackward } from '../ops/attention_backward';
import { BlockSparseLayout } from './block_layout';
import { headDimReasons, precisionCode } from './dense';
import { MAX_HEAD_DIM } from './limits';
import { ceilDiv } from './mask_input';
import { lseFor, onlyNeeded, tiledTape } from './recorded';
import type { AttentionInputs, AttentionMechanism, AttentionTape } from './registry';
import { SPARSE_PATHS, SparseMask, SparsePath } from './sparse_mask';

/** What a backward names when the mask or layout its forward read has been disposed since. */
const BACKWARD = 'attention backward';

/** The mechanism's checked options: a live SparseMask that fits q and k, and the path asked for. */
function sparseOptions(fn: string, inputs: AttentionInputs): { mask: SparseMask; path: SparsePath } {
  const { q, k, extra } = inputs;
  const mask = extra.sparseMask;
  if (!(mask instanceof SparseMask)) {
    throw new TypeError(`${fn}: mechanism 'sparse' needs options.mask to be a SparseMask (SparseMask.fromDense(mask)), got ${inputs.mask ? 'a dense mask' : 'none'}`);
  }
  mask.assertAlive(fn, 'options.mask');
  const [, Nq, H] = q.shape;
  const Nk = k.shape[1];
  if (mask.nq !== Nq || mask.nk !== Nk) {
    throw rangeError(fn, `options.mask is a [${mask.shape.join(', ')}] SparseMask but q and k need [Nq, Nk] = [${Nq}, ${Nk}]`);
  }
  if (mask.heads !== 1 && mask.heads !== H) throw rangeError(fn, `options.mask has ${mask.heads} heads but q has ${H} (it needs 1 or ${H})`);
  if (mask.device !== q.device) throw new TypeError(`${fn}: options.mask is on ${mask.device} but q is on ${q.device}`);
  const path = checkOneOf(fn, 'options.sparsePath', extra.sparsePath ?? 'auto', SPARSE_PATHS);
  return { mask, path };
}

/** native().attention over a block plan, options.precision where given, and the rows' log-sum-exp into `lse` where given. */
function tiledAttention(out: Tensor, inputs: AttentionInputs, mask: Tensor | null, plan: NativeBlockPlan, lse: Tensor | null = null): void {
  const { q, k, v, bias, scale, causal } = inputs;
  native().attention(out, q, k, v, mask, bias, scale, causal, plan, precisionCode(inputs), lse);
}

/**
 * A training forward: `run` fills out and lse (the tiled kernel or the CSR one), then `tape`
 * says what the backward keeps and does. lse is freed if either throws.
 */
function withLse(inputs: AttentionInputs, run: (out: Tensor, lse: Tensor) => void, tape: (out: Tensor, lse: Tensor) => AttentionTape): AttentionTape {
  const [B, Nq, H, D] = inputs.q.shape;
  const out = empty([B, Nq, H, D], { dtype: inputs.q.dtype, device: inputs.q.device });
  const lse = lseFor(inputs.q);
  try {
    fill({ out, given: false }, () => run(out, lse));
    return tape(out, lse);
  } catch (e) {
    lse.dispose();
    throw e;
  }
}

/**
 * Mechanism 'sparse': softmax over a SparseMask's entries only (options.mask), on the path
 * options.sparsePath names ('auto' by default: SparseMask.explain() says which and why).
 * No bias and no causal: put causality into the mask.
 */
export const sparse: AttentionMechanism & { forwardInto(out: Tensor, inputs: AttentionInputs): void } = {
  checkInputs(fn, inputs) {
    sparseOptions(fn, inputs);
  },
  notSupportedReasons(inputs) {
    const reasons: string[] = [];
    if (inputs.bias) reasons.push('an additive bias is not supported (use block_sparse or memory_efficient with mask.toDense())');
    if (inputs.causal) reasons.push('causal is not supported: put causality into the mask');
    if (inputs.extra.sparsePath === 'block') reasons.push(...headDimReasons(inputs));
    return reasons;
  },
  forward(inputs) {
    const [B, Nq, H, D] = inputs.q.shape;
    const out = empty([B, Nq, H, D], { dtype: inputs.q.dtype, device: inputs.q.device });
    return fill({ out, given: false }, () => sparse.forwardInto(out, inputs));
  },
  /** @internal forward() into a given contiguous [B, Nq, H, D] output (tests poison it first). */
  forwardInto(out, inputs) {
    const fn = 'attention';
    const { q, k, v, scale } = inputs;
    const { mask, path: asked } = sparseOptions(fn, inputs);
    const path = asked === 'auto' ? mask.autoPath(q.dtype, q.shape[3]) : asked;
    if (path === 'csr') {
      native().sparseAttention(out, q, k, v, mask.devicePlan(fn), scale);
      return;
    }
    const view = elementMaskView(mask, inputs);
    try {
      tiledAttention(out, inputs, view, mask.blockPlan(fn));
    } finally {
      view.dispose();
    }
  },
  /**
   * The CSR path saves q, k, v, out and lse, and its backward scores the mask's entries only
   * (dK and dV through the plan's transposed mask); the block path is the tiled kernel's
   * (tiledTape) with the dense element mask. A mask disposed before backward is refused there.
   */
  forwardWithGrad(inputs) {
    const fn = 'attention';
    const { mask, path: asked } = sparseOptions(fn, inputs);
    const path = asked === 'auto' ? mask.autoPath(inputs.q.dtype, inputs.q.shape[3]) : asked;
    if (path === 'csr') {
      const { q, k, v, scale } = inputs;
      return withLse(inputs, (out, lse) => native().sparseAttention(out, q, k, v, mask.devicePlan(fn), scale, lse), (out, lse) => ({
        out,
        saved: [q, k, v, out, lse],
        backward: (g, s, needs) => onlyNeeded(sparseAttentionBackward(g, { q: s[0], k: s[1], v: s[2], out: s[3], lse: s[4] }, mask.devicePlan(BACKWARD), scale), needs),
      }));
    }
    const view = elementMaskView(mask, inputs); // saved: attention() disposes it once the tape has its own view
    try {
      return withLse(inputs, (out, lse) => tiledAttention(out, inputs, view, mask.blockPlan(fn), lse),
        (out, lse) => tiledTape(inputs, out, lse, view, () => mask.blockPlan(BACKWARD), precisionCode(inputs)));
    } catch (e) {
      view.dispose();
      throw e;
    }
  },
  /** The native block computes the CSR path over the mask's plan (options mask and sparsePath only). */
  blockPlan({ heads, tokens, headDim, dtype, device, options }) {
    const { mask, sparsePath = 'auto', ...rest } = options;
    if (headDim > MAX_HEAD_DIM || Object.values(rest).some((v) => v !== undefined)) return null;
    if (!(mask instanceof SparseMask) || mask.disposed || mask.nq !== tokens || mask.nk !== tokens) return null;
    if ((mask.heads !== 1 && mask.heads !== heads) || mask.device !== device) return null;
    const path = sparsePath === 'auto' ? mask.autoPath(dtype, headDim) : sparsePath;
    return path === 'csr' ? { kind: 'sparse', plan: mask.devicePlan('attention') } : null;
  },
};

/**
 * The block path's mask: the tiled kernel reads the SparseMask as a dense element mask,
 * broadcast over the batch (and the heads when shared), skipping the tiles that hold no entry.
 */
function elementMaskView(mask: SparseMask, inputs: AttentionInputs): Tensor {
  const [B, , H] = inputs.q.shape;
  const dense = mask.denseElementMask('attention');
  return dense._view([B, H, mask.nq, mask.nk], [0, mask.heads === 1 ? 0 : mask.nq * mask.nk, mask.nk, 1]);
}

/** The mechanism's checked layout: a live BlockSparseLayout that covers q and k. */
function blockSparseLayout(fn: string, inputs: AttentionInputs): BlockSparseLayout {
  const { q, k, extra } = inputs;
  const layout = extra.layout;
  if (!(layout instanceof BlockSparseLayout)) throw invalidParameterError(fn, 'options.layout', "a BlockSparseLayout for mechanism 'block_sparse'", layout);
  layout.assertAlive(fn, 'options.layout');
  const [, Nq, H] = q.shape;
  const Nk = k.shape[1];
  const bs = layout.blockSize;
  if (layout.rows !== ceilDiv(Nq, bs) || layout.cols !== ceilDiv(Nk, bs)) {
    throw rangeError(fn, `options.layout is [${layout.shape.join(', ')}] blocks of ${bs}, but Nq = ${Nq} and Nk = ${Nk} need [${ceilDiv(Nq, bs)}, ${ceilDiv(Nk, bs)}]`);
  }
  if (layout.heads !== 1 && layout.heads !== H) throw rangeError(fn, `options.layout has ${layout.heads} heads but q has ${H} (it needs 1 or ${H})`);
  if (layout.device !== q.device) throw new TypeError(`${fn}: options.layout is on ${layout.device} but q is on ${q.device}`);
  return layout;
}

/**
 * Mechanism 'block_sparse': exact attention over the blocks a BlockSparseLayout turns on
 * (options.layout), on top of the usual options.mask, options.bias and options.causal.
 */
export const blockSparse: AttentionMechanism & { forwardInto(out: Tensor, inputs: AttentionInputs): void } = {
  checkInputs(fn, inputs) {
    blockSparseLayout(fn, inputs);
  },
  notSupportedReasons(inputs) {
    const reasons = headDimReasons(inputs);
    if (inputs.bias && inputs.bias.device !== inputs.q.device) reasons.push('bias is on another device');
    return reasons;
  },
  forward(inputs) {
    const [B, Nq, H, D] = inputs.q.shape;
    const out = empty([B, Nq, H, D], { dtype: inputs.q.dtype, device: inputs.q.device });
    return fill({ out, given: false }, () => blockSparse.forwardInto(out, inputs));
  },
  /** @internal forward() into a given contiguous [B, Nq, H, D] output (tests poison it first). */
  forwardInto(out, inputs) {
    const fn = 'attention';
    tiledAttention(out, inputs, inputs.mask, blockSparseLayout(fn, inputs).blockPlan(fn));
  },
  /** As memory_efficient's, over the layout's blocks; a layout disposed before backward is refused there. */
  forwardWithGrad(inputs) {
    const fn = 'attention';
    const layout = blockSparseLayout(fn, inputs);
    return withLse(inputs, (out, lse) => tiledAttention(out, inputs, inputs.mask, layout.blockPlan(fn), lse),
      (out, lse) => tiledTape(inputs, out, lse, inputs.mask, () => layout.blockPlan(BACKWARD), precisionCode(inputs)));
  },
};

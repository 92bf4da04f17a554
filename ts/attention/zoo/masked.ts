// What the mask mechanisms (local, global, random) share: a mask built row by row straight
// into CSR (O(entries), never the N x N matrix), a cache of the masks built (a SparseMask holds
// the CSR kernel's plan and the transposed plan its backward reads, so they are built once per
// (N, options), not per call), the attention under such a mask, and the module that hands the
// layer's geometry to the function form.
import type { Device } from '../../dtype';
import { typeError } from '../../errors';
import type { GradNode } from '../../autograd/node';
import type { AttentionConfig } from '../../nn/layers';
import type { Tensor } from '../../tensor';
import { attention, AttentionOptions } from '../attention';
import { allocating, checkInt32 } from '../mask_input';
import { AttentionModule } from '../module';
import type { AttentionInputs, AttentionMechanism, AttentionPrecision, MechanismGeometry } from '../registry';
import { SparseMask, SparsePath } from '../sparse_mask';

/** Row i's allowed keys: `push` each column, ascending, without repeats. */
export type MaskRows = (i: number, push: (j: number) => void) => void;

/**
 * The [n, n] SparseMask whose row i holds the columns `rows` pushes; with `causal`, only those
 * up to i. Built straight into CSR: O(n + entries) work and memory.
 */
export function buildMask(fn: string, n: number, causal: boolean, device: Device, rows: MaskRows): SparseMask {
  return allocating(fn, `a mask of ${n} rows`, () => {
    const offsets = new Int32Array(n + 1);
    let cols = new Int32Array(Math.max(16, 4 * n));
    let nnz = 0;
    let limit = 0;
    const push = (j: number) => {
      if (j > limit) return;
      if (nnz === cols.length) {
        checkInt32(fn, 'the count of entries', 2 * nnz);
        const grown = new Int32Array(2 * nnz);
        grown.set(cols);
        cols = grown;
      }
      cols[nnz++] = j;
    };
    for (let i = 0; i < n; i++) {
      limit = causal ? i : n - 1;
      rows(i, push);
      offsets[i + 1] = nnz;
    }
    return new SparseMask([n, n], offsets, cols.slice(0, nnz), device, undefined);
  });
}

/** Pushes columns [begin, end) clipped to [0, n). */
export function pushRange(push: (j: number) => void, begin: number, end: number, n: number): void {
  for (let j = Math.max(0, begin); j < Math.min(end, n); j++) push(j);
}

/**
 * The masks a mechanism built, by key, the most recent `limit` kept. One dropped is not
 * disposed: a tape or a caller may still hold it, and its plans are freed once it is
 * collected (their memory is reported to V8).
 */
export class MaskCache {
  private readonly masks = new Map<string, SparseMask>();
  constructor(private readonly limit = 16) {}

  get(key: string, build: () => SparseMask): SparseMask {
    let mask = this.masks.get(key);
    if (mask !== undefined && !mask.disposed) {
      this.masks.delete(key); // re-inserted below: the most recent last
    } else {
      mask = build();
      while (this.masks.size >= this.limit) this.masks.delete(this.masks.keys().next().value as string);
    }
    this.masks.set(key, mask);
    return mask;
  }

  get size(): number {
    return this.masks.size;
  }
}

/**
 * Masks made for one call each (random's, drawn per training step), disposed once the tape
 * that reads them is freed (its backward has run, or nothing holds its output): checked at
 * each hold() and on dispose().
 */
export class MaskLeases {
  private held: { mask: SparseMask; node: GradNode }[] = [];

  /** Keeps `mask` while the tape through `out` (attention's output under it) lives; disposes it now if nothing was recorded. */
  hold(mask: SparseMask, out: Tensor): void {
    this.sweep();
    const node = out._autograd?.node ?? null;
    if (node === null || node.freed) mask.dispose();
    else this.held.push({ mask, node });
  }

  /** Masks still held (their tapes alive). */
  get size(): number {
    this.sweep();
    return this.held.length;
  }

  /** Disposes every mask, held or not. */
  dispose(): void {
    for (const { mask } of this.held) mask.dispose();
    this.held = [];
  }

  private sweep(): void {
    this.held = this.held.filter(({ mask, node }) => (node.freed ? (mask.dispose(), false) : true));
  }
}

/** The options of attention() itself, which a layer's configuration may carry beside a mechanism's own. */
const ATTENTION_KEYS = new Set(['mechanism', 'scale', 'mask', 'bias', 'causal', 'precision', 'sparsePath', 'dropout', 'generator']);

/** The mechanism's own options out of `options`; a key neither its own nor attention()'s is a TypeError naming it. */
export function ownOptions(fn: string, mechanism: string, known: readonly string[], options: Record<string, unknown>): Record<string, unknown> {
  const own: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (known.includes(key)) own[key] = value;
    else if (!ATTENTION_KEYS.has(key)) throw typeError(fn, `mechanism '${mechanism}' has no option '${key}' (its options: ${known.join(', ')})`);
  }
  return own;
}

/** Attention's options that the mask's attention passes on. */
interface PassedOptions {
  scale?: number;
  bias?: Tensor | null;
  precision?: AttentionPrecision;
  sparsePath?: SparsePath;
}

/**
 * softmax(q kᵀ · scale + bias) v over the entries of `mask` only. Without a bias, mechanism
 * 'sparse' (its 'auto' path: the CSR kernel, or the tiled kernel skipping empty tiles, by the
 * mask's density and fill, as SparseMask.explain() says); with one, memory_efficient under the
 * mask's dense element mask (the CSR kernel takes no bias). Records when an input requires grad.
 */
export function attendMasked(q: Tensor, k: Tensor, v: Tensor, mask: SparseMask, o: PassedOptions): Tensor {
  const { scale, bias, precision, sparsePath } = o;
  if (bias) return attention(q, k, v, { mechanism: 'memory_efficient', mask: mask.denseElementMask('attention'), bias, scale, precision });
  return attention(q, k, v, { mechanism: 'sparse', mask, scale, precision, sparsePath });
}

/** How a mask mechanism reads its options and makes its mask. */
export interface MaskSpec<O> {
  name: string;
  /** Its own option names (snake_case, as in the configurations). */
  options: readonly string[];
  /** Its own options, checked (TypeError or RangeError naming fn and the option). */
  parse(fn: string, own: Record<string, unknown>): O;
  /** Throws a RangeError naming fn where the options do not fit a sequence of n tokens. */
  checkTokens(fn: string, opts: O, n: number): void;
  /** What tells two masks apart, besides N, causal and the device. */
  key(opts: O): string;
  /** The rows of the mask over n tokens. */
  rows(opts: O, n: number): MaskRows;
}

/** The mechanism's mask for these options, N, causal rule and device: from the cache, or built into it. */
function cachedMask<O>(spec: MaskSpec<O>, cache: MaskCache, opts: O, n: number, causal: boolean, device: Device): SparseMask {
  return cache.get(`${device} ${n} ${causal} ${spec.key(opts)}`, () => buildMask('attention', n, causal, device, spec.rows(opts, n)));
}

/**
 * The function form of a mask mechanism: attention(q, k, v, { mechanism, ...options }) over
 * self-attention shapes (Nq = Nk), causal folded into the mask; its gradient is the sparse
 * or dense kernel's (the forward records through attention()).
 */
export function maskMechanism<O>(spec: MaskSpec<O>, cache: MaskCache): Omit<AttentionMechanism, 'createModule'> {
  const parse = (fn: string, inputs: AttentionInputs): O => {
    const { sparsePath, ...rest } = inputs.extra;
    void sparsePath;
    return spec.parse(fn, ownOptions(fn, spec.name, spec.options, rest));
  };
  return {
    checkInputs(fn, inputs) {
      if (inputs.mask !== null) throw typeError(fn, `mechanism '${spec.name}' makes its own mask: pass no options.mask (combine patterns and use mechanism 'sparse' instead)`);
      const opts = parse(fn, inputs);
      if (inputs.q.shape[1] === inputs.k.shape[1]) spec.checkTokens(fn, opts, inputs.q.shape[1]);
    },
    notSupportedReasons(inputs) {
      const [nq, nk] = [inputs.q.shape[1], inputs.k.shape[1]];
      return nq === nk ? [] : [`its mask is over one sequence (self-attention): Nq = ${nq} and Nk = ${nk} differ`];
    },
    forward(inputs) {
      const { q, k, v, causal, scale, bias, precision, extra } = inputs;
      const mask = cachedMask(spec, cache, parse('attention', inputs), q.shape[1], causal, q.device);
      return attendMasked(q, k, v, mask, { scale, bias, precision, sparsePath: extra.sparsePath as SparsePath | undefined });
    },
  };
}

/**
 * The module of a mask mechanism in a layer: the function form, with the options the layer's
 * geometry settles (`resolved`, e.g. the grid) added to the layer's for each call.
 */
export class MaskAttentionModule extends AttentionModule {
  readonly input = 'qkv';

  constructor(geometry: MechanismGeometry, readonly mechanism: string, readonly resolved: Readonly<Record<string, unknown>>) {
    super(geometry);
  }

  override forwardHeads(q: Tensor, k: Tensor, v: Tensor, options: AttentionConfig): Tensor {
    return attention(q, k, v, { ...options, ...this.resolved, mechanism: this.mechanism } as AttentionOptions);
  }
}

/**
 * createModule's checks of a mask mechanism: `options` (the layer's, with what its geometry
 * settles) holds no mask and no option foreign to the mechanism or attention(); its own are
 * parsed and checked against the layer's tokens where known.
 */
export function moduleOptions<O>(spec: MaskSpec<O>, fn: string, options: Record<string, unknown>, geometry: MechanismGeometry): O {
  if (options.mask !== undefined && options.mask !== null) throw typeError(fn, `mechanism '${spec.name}' makes its own mask: pass no mask`);
  const opts = spec.parse(fn, ownOptions(fn, spec.name, spec.options, options));
  if (geometry.tokens !== undefined) spec.checkTokens(fn, opts, geometry.tokens);
  return opts;
}

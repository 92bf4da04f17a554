// Attention on the autograd tape. attention() records a mechanism's training forward
// (AttentionMechanism.forwardWithGrad) as one node with edges to q, k, v and the bias as the
// caller gave it, summing the bias gradient over its broadcast dims; a mechanism without one
// must record its own gradient. splitQkv's views record too, so that a fused qkv projection
// gets its gradient. The formulas: ts/autograd/DERIVATIVES.md.
import { typeError } from '../errors';
import { native, NativeBlockPlan } from '../native';
import { attentionBackward } from '../ops/attention_backward';
import type { DType } from '../dtype';
import { empty, Tensor, zeros } from '../tensor';
import { record } from '../autograd/graph';
import { GradFn } from '../autograd/node';
import { sumTo } from '../autograd/reduce';
import { AttentionGrads, AttentionInputs, AttentionMechanism, AttentionNeeds, AttentionTape } from './registry';

/** What a bias gradient must look like: the caller's bias's shape and dtype. */
interface BiasLike { shape: readonly number[]; dtype: DType }

/** g summed to the bias's shape, in its dtype (g disposed). */
function biasGradient(g: Tensor, bias: BiasLike): Tensor {
  let r = sumTo(g, bias.shape);
  g.dispose();
  if (r.dtype !== bias.dtype) {
    const c = r.cast(bias.dtype);
    r.dispose();
    r = c;
  }
  return r;
}

/**
 * The output of mechanism `name` on `inputs`, recorded on the tape: `bias` is the caller's
 * bias (inputs.bias its broadcast view), which gets its gradient summed back to its shape.
 */
export function forwardRecorded(fn: string, name: string, impl: AttentionMechanism, inputs: AttentionInputs, bias: Tensor | null): Tensor {
  const { q, k, v } = inputs;
  const needs: AttentionNeeds = { q: q.requiresGrad, k: k.requiresGrad, v: v.requiresGrad, bias: bias?.requiresGrad ?? false };
  if (impl.forwardWithGrad === undefined) return forwardRecordingItself(fn, name, impl, inputs, bias, needs.bias);
  const tape = impl.forwardWithGrad(inputs, needs);
  const theirs = [q, k, v, inputs.mask, inputs.bias, tape.out];
  try {
    return record(fn, tape.out, [q, k, v, bias], tape.saved, attentionGrad(tape, bias));
  } finally {
    for (const t of tape.saved) if (!theirs.includes(t)) t.dispose(); // the tape holds its own views
  }
}

function attentionGrad(tape: AttentionTape, bias: Tensor | null): GradFn {
  const backward = tape.backward;
  const biasLike: BiasLike | null = bias === null ? null : { shape: bias.shape, dtype: bias.dtype };
  return (g, saved, needs) => {
    const r = backward(g, saved, { q: needs[0], k: needs[1], v: needs[2], bias: needs[3] });
    const dbias = r.dbias !== null && biasLike !== null ? biasGradient(r.dbias, biasLike) : (r.dbias?.dispose(), null);
    return [r.dq, r.dk, r.dv, dbias];
  };
}

/**
 * A mechanism without forwardWithGrad (one registered from TypeScript): its forward must
 * record its own gradient, through ops that record or customOp. The broadcast bias view it
 * reads is recorded, so that a gradient reaching it is summed back to the caller's bias.
 */
function forwardRecordingItself(fn: string, name: string, impl: AttentionMechanism, inputs: AttentionInputs, bias: Tensor | null, biasGrad: boolean): Tensor {
  if (biasGrad && inputs.bias !== null && bias !== null) {
    const caller: BiasLike = { shape: bias.shape, dtype: bias.dtype };
    record(fn, inputs.bias, [bias], [], (g) => [biasGradient(g._view(g.shape, g.strides), caller)]);
  }
  const out = impl.forward(inputs);
  if (!out.requiresGrad) {
    out.dispose();
    throw typeError(fn, `mechanism '${name}' has no gradient: an input requires grad, but it has no forwardWithGrad and its forward recorded nothing ` +
      '(build it from ops that record, or with customOp); call it under noGrad() or on detach()ed tensors');
  }
  return out;
}

/** Disposes the gradients not asked for; the rest as they are. */
export function onlyNeeded(r: { dq: Tensor; dk: Tensor; dv: Tensor; dbias?: Tensor | null }, needs: AttentionNeeds): AttentionGrads {
  const pick = (t: Tensor, wanted: boolean) => (wanted ? t : (t.dispose(), null));
  return { dq: pick(r.dq, needs.q), dk: pick(r.dk, needs.k), dv: pick(r.dv, needs.v), dbias: r.dbias ?? null };
}

/**
 * The tape of a forward through the tiled kernel (memory_efficient, block_sparse, sparse's
 * block path): saves q, k, v, out, lse and the mask and bias views the kernel read; the
 * backward is attentionBackward under the same mask, bias, scale, causal rule, key ranges and plan.
 * `plan` is asked again at backward time, so that a layout or mask disposed since is refused.
 */
export function tiledTape(inputs: AttentionInputs, out: Tensor, lse: Tensor, mask: Tensor | null, plan: () => NativeBlockPlan | null, precision?: number,
  keyRanges: Int32Array | null = null): AttentionTape {
  const { q, k, v, bias, scale, causal } = inputs;
  const saved = [q, k, v, out, lse];
  const maskAt = mask ? saved.push(mask) - 1 : -1;
  const biasAt = bias ? saved.push(bias) - 1 : -1;
  return {
    out,
    saved,
    backward(g, s, needs) {
      const options = { mask: maskAt < 0 ? null : s[maskAt], bias: biasAt < 0 ? null : s[biasAt], scale, causal, plan: plan(), precision, keyRanges, biasGrad: needs.bias };
      return onlyNeeded(attentionBackward(g, { q: s[0], k: s[1], v: s[2], out: s[3], lse: s[4] }, options), needs);
    },
  };
}

/** A float32 [B, H, Nq] row log-sum-exp output for a forward that records, on q's device. */
export function lseFor(q: Tensor): Tensor {
  const [B, Nq, H] = q.shape;
  return empty([B, H, Nq], { dtype: 'float32', device: q.device });
}

/**
 * @internal Records view `i` (q, k or v) of splitQkv(qkv): its gradient is zeros of qkv's
 * shape holding g in slot i of dim 2 (the walk sums the three).
 */
export function recordSplit(view: Tensor, qkv: Tensor, i: number): Tensor {
  const shape = qkv.shape;
  return record('splitQkv', view, [qkv], [], (g) => {
    const dx = zeros(shape, { dtype: g.dtype, device: g.device });
    const s = dx.strides;
    const slot = dx._view(g.shape, [s[0], s[1], s[3], s[4]], i * s[2]);
    try {
      if (g.size > 0) native().copy(slot, g);
    } finally {
      slot.dispose();
    }
    return [dx];
  });
}

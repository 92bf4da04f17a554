// encoderBlock: a pre-norm Transformer encoder block without layer scale in one native call,
//   out = x + proj(attention(qkv(norm1(x)))), then out += fc2(act(fc1(norm2(out)))),
// its attention dense (memory_efficient) or the CSR kernel over a mask's plan, as the
// mechanism's blockPlan() gives it. The addon issues the backend calls that
// EncoderBlock.forwardOps (ts/nn/layers.ts) issues one by one; test/fused_block.test.ts
// holds the two equal. Internal: EncoderBlock is its public face.
import type { BlockAttention } from '../attention/registry';
import { isFloat } from '../dtype';
import { native } from '../native';
import { checkTensor, empty, isTensor, Tensor } from '../tensor';
import { ActivationSpec, activationCode } from './activation';
import { fill, shapeString } from './checks';
import { needsGrad, noGradientError } from '../autograd/graph';

/** The block's parameters, as timm names them (norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2). */
export interface EncoderBlockWeights {
  norm1Weight: Tensor | null;
  norm1Bias: Tensor | null;
  /** [3C, C] */
  qkvWeight: Tensor;
  qkvBias: Tensor | null;
  /** [C, C] */
  projWeight: Tensor;
  projBias: Tensor | null;
  norm2Weight: Tensor | null;
  norm2Bias: Tensor | null;
  /** [hidden, C] */
  fc1Weight: Tensor;
  fc1Bias: Tensor | null;
  /** [C, hidden] */
  fc2Weight: Tensor;
  fc2Bias: Tensor | null;
}

export interface EncoderBlockOptions {
  heads: number;
  /** LayerNorm epsilons of norm1 and norm2. */
  eps1: number;
  eps2: number;
  /** The MLP's activation (between fc1 and fc2). */
  activation: ActivationSpec;
  /** Multiplies q . k. */
  scale: number;
  /** The attention, as a mechanism's blockPlan() gives it. */
  attention: BlockAttention;
}

const NAMES: readonly (keyof EncoderBlockWeights)[] = [
  'norm1Weight', 'norm1Bias', 'qkvWeight', 'qkvBias', 'projWeight', 'projBias', 'norm2Weight', 'norm2Bias', 'fc1Weight', 'fc1Bias', 'fc2Weight', 'fc2Bias',
];

/**
 * Why encoderBlock() cannot run these arguments; empty when it can. x must be a live,
 * contiguous, non-empty float [B, N, C]; each weight a contiguous tensor of x's dtype and
 * device and of the block's shape (only vectors may be null).
 */
export function encoderBlockReasons(x: Tensor, weights: EncoderBlockWeights, options: Omit<EncoderBlockOptions, 'attention' | 'activation'>): string[] {
  if (!isTensor(x) || x.disposed) return ['x is not a live tensor'];
  if (x.rank !== 3 || !isFloat(x.dtype) || !x.isContiguous) return [`x must be a contiguous float [B, N, C], got ${shapeString(x.shape)} ${x.dtype}`];
  const [B, N, C] = x.shape;
  const { heads, eps1, eps2, scale } = options;
  const reasons: string[] = [];
  if (B * N === 0) reasons.push(`x ${shapeString(x.shape)} is empty`);
  if (!Number.isInteger(heads) || heads < 1 || C % heads !== 0) reasons.push(`C = ${C} is not a multiple of heads = ${heads}`);
  for (const [name, value] of [['eps1', eps1], ['eps2', eps2], ['scale', scale]] as const) {
    if (typeof value !== 'number' || !Number.isFinite(value)) reasons.push(`${name} must be a finite number, got ${value}`);
  }
  const hidden = isTensor(weights.fc1Weight) ? weights.fc1Weight.shape[0] : 0;
  const shapes: Record<keyof EncoderBlockWeights, number[]> = {
    norm1Weight: [C], norm1Bias: [C], qkvWeight: [3 * C, C], qkvBias: [3 * C], projWeight: [C, C], projBias: [C],
    norm2Weight: [C], norm2Bias: [C], fc1Weight: [hidden, C], fc1Bias: [hidden], fc2Weight: [C, hidden], fc2Bias: [C],
  };
  for (const name of NAMES) {
    const w = weights[name];
    const shape = shapes[name];
    if (w === null && shape.length === 1) continue;
    const fits = isTensor(w) && !w.disposed && w.dtype === x.dtype && w.device === x.device && w.isContiguous &&
      w.rank === shape.length && w.shape.every((d, i) => d === shape[i]);
    if (!fits) reasons.push(`${name} must be a contiguous ${shapeString(shape)} ${x.dtype} tensor on ${x.device}`);
  }
  return reasons;
}

/** The block in one native call (see the file's comment); throws an Error naming encoderBlock, listing every reason, where it cannot. */
export function encoderBlock(x: Tensor, weights: EncoderBlockWeights, options: EncoderBlockOptions): Tensor {
  const fn = 'encoderBlock';
  if (encoderBlockNeedsGrad(x, weights)) throw noGradientError(fn);
  checkTensor(fn, 'x', x);
  const reasons = encoderBlockReasons(x, weights, options);
  if (reasons.length > 0) throw new RangeError(`${fn}: ${reasons.join('; ')}`);
  return runEncoderBlock(x, weights, options);
}

/** Whether x or a weight requires grad (the block has no backward: autograd runs it op by op). */
export function encoderBlockNeedsGrad(x: Tensor, weights: EncoderBlockWeights): boolean {
  return needsGrad(x) || (weights !== null && typeof weights === 'object' && Object.values(weights).some((w) => needsGrad(w)));
}

/** @internal encoderBlock after its checks: for a caller that has just found no reasons (EncoderBlock.forwardFused). */
export function runEncoderBlock(x: Tensor, weights: EncoderBlockWeights, options: EncoderBlockOptions): Tensor {
  const fn = 'encoderBlock';
  const { attention } = options;
  if (attention?.kind !== 'dense' && attention?.kind !== 'sparse') {
    throw new TypeError(`${fn}: expected options.attention to be a mechanism's block plan ({ kind: 'dense' } or { kind: 'sparse', plan })`);
  }
  const [act, param, param2] = activationCode(fn, options.activation, 'options.activation');
  const w = weights;
  const out = empty(x.shape, { dtype: x.dtype, device: x.device });
  return fill({ out, given: false }, () => native().encoderBlock(out, x, w.norm1Weight, w.norm1Bias, w.qkvWeight, w.qkvBias, w.projWeight,
    w.projBias, w.norm2Weight, w.norm2Bias, w.fc1Weight, w.fc1Bias, w.fc2Weight, w.fc2Bias, options.heads, options.eps1, options.eps2,
    act, param, param2, options.scale, attention.kind === 'sparse' ? attention.plan : null));
}

// Gradients of the Tensor methods that make a view or a copy of one tensor: reshape,
// permute, transpose, contiguous, clone, cast, to. Each saves nothing: the gradient is
// the output's gradient reshaped, permuted back, or converted back (../DERIVATIVES.md).
import type { Tensor } from '../../tensor';
import { record } from '../graph';
import { GradFn } from '../node';
import { permuteGrad } from './shape';

/** @internal Records `out`, made from `x` by the Tensor method `op` (`order` for permute and transpose). */
export function recordView<T extends Tensor>(op: string, x: Tensor, out: T, order?: readonly number[]): T {
  return record(op, out, [x], [], viewGrad(op, x, order));
}

function viewGrad(op: string, x: Tensor, order: readonly number[] | undefined): GradFn {
  if (order !== undefined) return permuteGrad(order);
  const shape = x.shape;
  const dtype = x.dtype;
  const device = x.device;
  switch (op) {
    case 'reshape': return (g) => [g.reshape(shape)];
    case 'cast': return (g) => [g.cast(dtype)];
    case 'to': return (g) => [g.to(device)];
    default: return (g) => [g._view(g.shape, g.strides)]; // contiguous, clone: the identity
  }
}

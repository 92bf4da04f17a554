// Gradients of the shape ops that ts/ops gives as functions: slice (zeros around the
// gradient), concat (slices of the gradient), permute and transpose (the inverse order).
// The formulas, and what each forward saves (nothing): ../DERIVATIVES.md.
import { native } from '../../native';
import { Tensor, zeros } from '../../tensor';
import { GradFn } from '../node';

/** The permutation that undoes `order`. */
export function inverse(order: readonly number[]): number[] {
  const inv = new Array<number>(order.length);
  order.forEach((d, i) => (inv[d] = i));
  return inv;
}

/** x.permute(order) (a view or a copy): the gradient permuted back, as a view. */
export function permuteGrad(order: readonly number[]): GradFn {
  const inv = inverse(order);
  return (g) => [g.permute(inv)];
}

/** slice(x, dim, start, end): zeros of x's shape with the gradient in the slice. */
export function sliceGrad(x: Tensor, dim: number, start: number): GradFn {
  const xShape = x.shape;
  return (g) => {
    const dx = zeros(xShape, { dtype: g.dtype, device: g.device });
    if (g.size > 0) {
      const window = dx._view(g.shape, dx.strides, start * dx.strides[dim]);
      native().copy(window, g);
      window.dispose();
    }
    return [dx];
  };
}

/** concat(tensors, dim): each input's part of the gradient, as a view. */
export function concatGrad(tensors: readonly Tensor[], dim: number): GradFn {
  const sizes = tensors.map((t) => t.shape[dim]);
  return (g, _saved, needs) => {
    let at = 0;
    return sizes.map((n, i) => {
      const start = at;
      at += n;
      return needs[i] ? g._view(g.shape.map((s, j) => (j === dim ? n : s)), g.strides, g.offset + start * g.strides[dim]) : null;
    });
  };
}

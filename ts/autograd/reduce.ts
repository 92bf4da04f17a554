// sumTo: the gradient of a broadcast. A gradient of the broadcast shape is summed over the
// axes that broadcasting added or stretched, back to the input's shape (tfjs's
// reduce-over-broadcast-axes in Add_grad.ts). A sum over leading dims (bias gradients, a
// batch broadcast) is the native column sum (sumRows, float32 in two stages); other axes go
// through the mean op times the count: one extra rounding, within float32's eps.
import { mean, mul } from '../ops/elementwise';
import { sumRows } from '../ops/sum_rows';
import { product } from '../ops/checks';
import { Tensor, zeros } from '../tensor';

/** `g` summed to `shape` (which broadcasts to g's shape); a new tensor or a new view of g. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  if (axes.length === 0) return g._view(g.shape, g.strides);
  const count = product(axes.map((i) => g.shape[i]));
  if (count === 0) return zeros(shape, { dtype: g.dtype, device: g.device }); // a sum over nothing
  if (axes[axes.length - 1] === axes.length - 1 && g.size > 0) return leadingSum(g, axes.length, shape);
  let r = g;
  // Reduce the last axes first, so that the earlier indices stay valid; leading axes are dropped, the others kept as 1.
  for (let k = axes.length - 1; k >= 0; k--) {
    const next = mean(r, axes[k], { keepDim: axes[k] >= lead });
    if (r !== g) r.dispose();
    r = next;
  }
  const sum = mul(r, count);
  r.dispose();
  return sum.rank === shape.length ? sum : reshaped(sum, shape);
}

/** g summed over its first `k` dims (every later dim kept), as `shape`: rows [R, rest] through sumRows. */
function leadingSum(g: Tensor, k: number, shape: readonly number[]): Tensor {
  const rows = g.reshape([product(g.shape, k), g.size / product(g.shape, k)]);
  try {
    return reshaped(sumRows(rows), shape);
  } finally {
    rows.dispose();
  }
}

function reshaped(t: Tensor, shape: readonly number[]): Tensor {
  const v = t.reshape(shape);
  t.dispose();
  return v;
}

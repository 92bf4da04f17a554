// Gradients of add, sub, mul (numpy broadcasting: summed back over the broadcast axes),
// residualAdd and mean. The formulas, and what each forward saves: ../DERIVATIVES.md.
import { div, mul } from '../../ops/elementwise';
import { isTensor, Tensor } from '../../tensor';
import { GradFn } from '../node';
import { sumTo } from '../reduce';

function scaled(g: Tensor, s: number, shape: readonly number[]): Tensor {
  if (s === 1) return sumTo(g, shape);
  const m = mul(g, s);
  const r = sumTo(m, shape);
  m.dispose();
  return r;
}

/** add (sign 1) and sub (sign −1): a ± b·alpha. Saves nothing. */
export function addGrad(a: Tensor, b: Tensor | number, alpha: number, sign: 1 | -1): GradFn {
  const aShape = a.shape;
  const bShape = isTensor(b) ? b.shape : null;
  return (g, _saved, needs) => [
    needs[0] ? sumTo(g, aShape) : null,
    needs[1] && bShape ? scaled(g, sign * alpha, bShape) : null,
  ];
}

/** mul: a·b·alpha. Saves a and b (each gradient needs the other). */
export function mulGrad(a: Tensor, b: Tensor | number, alpha: number): GradFn {
  const aShape = a.shape;
  const bShape = isTensor(b) ? b.shape : null;
  return (g, saved, needs) => {
    const [sa, sb] = saved;
    const da = needs[0] ? product(g, bShape ? sb : (b as number), alpha, aShape) : null;
    const db = needs[1] && bShape ? product(g, sa, alpha, bShape) : null;
    return [da, db];
  };
}

function product(g: Tensor, other: Tensor | number, alpha: number, shape: readonly number[]): Tensor {
  const full = typeof other === 'number' ? mul(g, other * alpha) : mul(g, other, { alpha });
  const r = sumTo(full, shape);
  full.dispose();
  return r;
}

/** div: y = a / (b·alpha). Saves b and y: da = g / (b·alpha), db = −g·y / b. */
export function divGrad(a: Tensor, b: Tensor | number, alpha: number): GradFn {
  const aShape = a.shape;
  const bShape = isTensor(b) ? b.shape : null;
  return (g, saved, needs) => {
    if (!bShape) return [needs[0] ? mul(g, 1 / (alpha * (b as number))) : null, null];
    const [sb, sy] = saved;
    let da: Tensor | null = null;
    if (needs[0]) {
      const q = div(g, sb, { alpha });
      da = sumTo(q, aShape);
      q.dispose();
    }
    let db: Tensor | null = null;
    if (needs[1]) {
      const gy = mul(g, sy, { alpha: -1 });
      const q = div(gy, sb);
      db = sumTo(q, bShape);
      for (const t of [gy, q]) t.dispose();
    }
    return [da, db];
  };
}

/** residualAdd: x + branch·scale, in place. Saves nothing. */
export function residualAddGrad(branch: Tensor, scale: number): GradFn {
  const bShape = branch.shape;
  return (g, _saved, needs) => [needs[0] ? g._view(g.shape, g.strides) : null, needs[1] ? scaled(g, scale, bShape) : null];
}

/** mean over `dim` of x: the gradient spread evenly, g/n at every element. Saves nothing. */
export function meanGrad(x: Tensor, dim: number): GradFn {
  const xShape = x.shape;
  const n = x.shape[dim];
  const kept = x.shape.map((s, i) => (i === dim ? 1 : s));
  return (g) => {
    const gk = g.reshape(kept);
    const spread = gk._view(xShape, xShape.map((s, i) => (kept[i] === 1 && s !== 1 ? 0 : gk.strides[i])));
    const r = mul(spread, n === 0 ? 0 : 1 / n); // n = 0: an empty gradient
    spread.dispose();
    gk.dispose();
    return [r];
  };
}

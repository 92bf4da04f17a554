// Gradients of matmul and linear, through GEMMs of the transposes (the transposes are
// GEMM flags, not copies), summed over broadcast batch dims; linear's bias by the row sum;
// an activation epilogue through its native backward first.
// The formulas, and what each forward saves: ../DERIVATIVES.md.
import { matmul } from '../../ops/linear';
import { activationBackward } from '../../ops/activation_backward';
import { ActivationSpec } from '../../ops/activation';
import { product } from '../../ops/checks';
import { Tensor } from '../../tensor';
import { GradFn } from '../node';
import { sumTo } from '../reduce';

function reduced(full: Tensor, shape: readonly number[]): Tensor {
  const r = sumTo(full, shape);
  full.dispose();
  return r;
}

/**
 * matmul(a, b, { transposeA, transposeB }): with A = op(a), B = op(b), out = A·B, so
 * dA = g·Bᵀ and dB = Aᵀ·g, transposed back where a or b was given transposed. Saves a and b.
 */
export function matmulGrad(a: Tensor, b: Tensor, transA: boolean, transB: boolean): GradFn {
  const aShape = a.shape;
  const bShape = b.shape;
  return (g, [sa, sb], needs) => {
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[0]) {
      da = transA ? matmul(sb, g, { transposeA: transB, transposeB: true }) : matmul(g, sb, { transposeB: !transB });
      da = reduced(da, aShape);
    }
    if (needs[1]) {
      db = transB ? matmul(g, sa, { transposeA: true, transposeB: transA }) : matmul(sa, g, { transposeA: !transA });
      db = reduced(db, bShape);
    }
    return [da, db];
  };
}

/**
 * linear(x, W, b) with no activation: out = x Wᵀ + b (+ residual). Over the rows
 * x2 [M, K] and g2 [M, N]: dx = g2 W, dW = g2ᵀ x2, db = Σ rows g2, dresidual = g.
 * Saves x (for dW) and W (for dx).
 */
export function linearGrad(x: Tensor, weight: Tensor): GradFn {
  const xShape = x.shape;
  const K = weight.shape[1];
  const N = weight.shape[0];
  const M = product(x.shape, x.rank - 1);
  return (g, [sx, sw], needs) => {
    const g2 = g.reshape([M, N]);
    try {
      let dx: Tensor | null = null;
      if (needs[0]) {
        const d2 = matmul(g2, sw);
        dx = d2.reshape(xShape);
        d2.dispose();
      }
      let dw: Tensor | null = null;
      if (needs[1]) {
        const x2 = sx.reshape([M, K]);
        dw = matmul(g2, x2, { transposeA: true });
        x2.dispose();
      }
      const db = needs[2] ? sumTo(g2, [N]) : null;
      const dr = needs[3] ? g._view(g.shape, g.strides) : null;
      return [dx, dw, db, dr];
    } finally {
      g2.dispose();
    }
  };
}

/**
 * linear(x, W, b, { activation }): out = act(pre), pre = x Wᵀ + b, which the recording
 * forward writes and saves (DERIVATIVES.md says why). dpre = g ⊙ act′(pre), then linear's
 * gradients from dpre. Saves x, W and pre.
 */
export function linearActivationGrad(x: Tensor, weight: Tensor, spec: ActivationSpec): GradFn {
  const linearFromPre = linearGrad(x, weight);
  return (g, [sx, sw, pre], needs) => {
    const dpre = activationBackward(g, pre, spec);
    try {
      return linearFromPre(dpre, [sx, sw], needs);
    } finally {
      dpre.dispose();
    }
  };
}

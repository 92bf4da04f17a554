// Gradients of layerNorm and rmsNorm, by the native backward (ts/ops/norm_backward.ts), which
// recomputes the row statistics from x: the forward saves x and the weight, not mean/rstd.
import { layerNormBackward, rmsNormBackward } from '../../ops/norm_backward';
import { Tensor } from '../../tensor';
import { GradFn } from '../node';

/**
 * layerNorm(x, weight, bias, eps) (rms false) or rmsNorm(x, weight, eps) (rms true): inputs
 * recorded as [x, weight, bias]; saved [x] or [x, weight] (weight null: 1).
 */
export function normGrad(eps: number, rms: boolean): GradFn {
  return (g, [sx, sw], needs) => {
    const options = { weightGrad: needs[1], biasGrad: needs[2] };
    const r = rms ? rmsNormBackward(g, sx, sw ?? null, eps, options) : layerNormBackward(g, sx, sw ?? null, eps, options);
    let dx: Tensor | null = r.dx;
    if (!needs[0]) {
      dx.dispose();
      dx = null;
    }
    return [dx, r.dweight, r.dbias];
  };
}

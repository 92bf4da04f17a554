// The gradients of the token-mixing ops (ts/ops/depthwise_conv.ts, avg_pool.ts, fourier_mix.ts),
// by their native backward ops: each a gather (no atomics). The formulas: ../DERIVATIVES.md.
import { fourierMix } from '../../ops/fourier_mix';
import { fillGrads } from '../../ops/backward_checks';
import { avgPool2dBackward, depthwiseConv2dBackward } from '../../ops/window_backward';
import type { Window } from '../../ops/window';
import { Tensor } from '../../tensor';
import { GradFn } from '../node';
import { sumTo } from '../reduce';

/** depthwiseConv2d(x, weight, bias, window): inputs recorded as [x, weight, bias]; saved [x, weight]. */
export function depthwiseConv2dGrad(window: Window): GradFn {
  return (g, [x, w], needs) => {
    const results: (Tensor | null)[] = [null, null, null];
    return fillGrads(results, results, () => {
      if (needs[2]) results[2] = sumTo(g, [w.shape[0]]);
      if (!needs[0] && !needs[1]) return;
      const { dx, dweight } = depthwiseConv2dBackward(g, x, w, window, { dx: needs[0], dweight: needs[1] });
      results[0] = dx;
      results[1] = dweight;
    });
  };
}

/** avgPool2d(x, window): inputs [x]; saves nothing (x's shape). */
export function avgPool2dGrad(xShape: readonly number[], window: Window, countIncludePad: boolean): GradFn {
  return (g) => [avgPool2dBackward(g, xShape, window, countIncludePad)];
}

/** fourierMix(x): its own adjoint for real x (F symmetric): dx = Re(F_N g F_E). Saves nothing. */
export const fourierMixGrad: GradFn = (g) => [fourierMix(g)];

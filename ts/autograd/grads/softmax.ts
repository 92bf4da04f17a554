// The gradient of softmax, by the native backward (ts/ops/softmax_backward.ts) from the
// forward's output y: dx = scale · y ⊙ (g − Σ g ⊙ y), 0 where masked.
import { softmaxBackward } from '../../ops/softmax_backward';
import { GradFn } from '../node';

/** softmax(x, { scale, mask }): saved [y] or [y, mask] (the mask kept so a fully masked row stays zero). */
export function softmaxGrad(scale: number): GradFn {
  return (g, [sy, mask]) => [softmaxBackward(g, sy, { scale, mask: mask ?? null })];
}

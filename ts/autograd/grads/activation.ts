// Gradients of the activations and of biasActivation, by the native backward
// (ts/ops/activation_backward.ts) from the pre-activation input: dx = g ⊙ act′(x + bias),
// dbias = Σ rows dx.
import { biasActivationBackward } from '../../ops/activation_backward';
import { ActivationSpec } from '../../ops/activation';
import { Tensor } from '../../tensor';
import { GradFn } from '../node';

/** act(x + bias) (bias null for the unary activations): inputs recorded as [x, bias]; saved [x] or [x, bias]. */
export function biasActivationGrad(spec: ActivationSpec): GradFn {
  return (g, [sx, sb], needs) => {
    const r = biasActivationBackward(g, sx, sb ?? null, spec, { biasGrad: needs[1] });
    let dx: Tensor | null = r.dx;
    if (!needs[0]) {
      dx.dispose();
      dx = null;
    }
    return [dx, r.dbias];
  };
}

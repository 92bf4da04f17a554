// The gradient of crossEntropy (ts/nn/losses.ts), by the native backward from the forward's
// saved row log-sum-exps: dlogits = (softmax − smoothed one-hot) · g, ÷ the rows counted
// for a mean, 0 on ignored rows. The formula: ../DERIVATIVES.md.
import { crossEntropyRowsBackward, CrossEntropySettings } from '../../ops/cross_entropy';
import { GradFn } from '../node';

/** crossEntropy(logits [..., C], labels): inputs recorded as [logits]; saved [logits as rows, labels, lse, stats]. */
export function crossEntropyGrad(logitsShape: readonly number[], s: CrossEntropySettings): GradFn {
  return (g, [x2, labels, lse, stats]) => {
    const d2 = crossEntropyRowsBackward(g, x2, labels, lse, stats, s);
    const d = d2.reshape(logitsShape); // a view: the backward records nothing
    d2.dispose();
    return [d];
  };
}

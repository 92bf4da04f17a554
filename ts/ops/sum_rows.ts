// The column sum the autograd tape reduces bias gradients and broadcast axes with (internal).
import { native } from '../native';
import { emptyFor, Tensor } from '../tensor';
import { checkFloatTensor, checkMinRank, contiguousIn } from './checks';
import { fillGrads } from './backward_checks';

/**
 * out[c] = Σ x[..., c] over every dim but the last: x [..., C] float, any strides. float32
 * sums in two stages (per-block partials, then their sum), one rounding to x's dtype.
 * Returns a new [C] tensor (zeros when x has no rows).
 */
export function sumRows(x: Tensor): Tensor {
  const fn = 'sumRows';
  const t = checkFloatTensor(fn, 'x', x);
  checkMinRank(fn, 'x', t, 1, '[..., C]');
  const out = emptyFor(fn, [t.shape[t.rank - 1]], t.dtype, t.device);
  return fillGrads([out], out, (temps) => native().sumRows(out, contiguousIn(t, temps)));
}

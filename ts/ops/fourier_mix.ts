// FNet's token mixing: the real part of the 2-D discrete Fourier transform over the sequence
// and hidden axes (cuFFT on CUDA, a float64 FFT of any length on the CPU). Its gradient, the
// same op on the output's gradient, in autograd/grads/mixing.ts.
import { native } from '../native';
import { Tensor } from '../tensor';
import { checkFloatTensor, checkMinRank, checkOptions, contiguousIn, fill, OutOptions, prepareOutput } from './checks';
import { checkRecordable, needsGrad, record } from '../autograd/graph';
import { fourierMixGrad } from '../autograd/grads/mixing';

/**
 * y = Re(F_N · x · F_E) over the last two dims of x [..., N, E] (FNet; F_n the unnormalized
 * DFT matrix, F_n[j, k] = e^{−2πi·jk/n}): y[n, e] = Σ_{j,k} x[j, k] · cos(2π(nj/N + ek/E)).
 * x float, any strides. Returns a contiguous tensor of x's shape and dtype, computed in
 * float32 (CUDA) or float64 (CPU) and rounded once. The values grow with N·E (up to N·E·max|x|):
 * FNet follows it with a layer norm; in float16 keep N·E·|x| below 65504.
 */
export function fourierMix(x: Tensor, options?: OutOptions): Tensor {
  const fn = 'fourierMix';
  const t = checkFloatTensor(fn, 'x', x);
  checkMinRank(fn, 'x', t, 2, '[..., N, E]');
  const o = checkOptions(fn, options);
  const tracked = needsGrad(t);
  if (tracked) checkRecordable(fn, o);
  const out = prepareOutput(fn, o.out, t.shape, t, { x: t });
  const y = fill(out, (temps) => {
    if (t.size === 0) return;
    const [N, E] = t.shape.slice(-2);
    const shape = [t.size / (N * E), N, E];
    const strides = [N * E, E, 1];
    const xc = contiguousIn(t, temps);
    const x3 = xc._view(shape, strides);
    const y3 = out.out._view(shape, strides);
    temps.push(x3, y3);
    native().fourierMix(y3, x3);
  });
  return tracked ? record(fn, y, [t], [], fourierMixGrad) : y;
}

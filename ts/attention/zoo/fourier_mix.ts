// `fourier_mix`: FNet's token mixing (Lee-Thorp et al., "FNet: Mixing Tokens with Fourier
// Transforms", 2022): the real part of the 2-D discrete Fourier transform over the sequence
// and the hidden dimension, Re(F_N x F_E), no parameters (cuFFT on CUDA). Every token takes
// part as one position of the sequence, the class token included (FNet has none of its own).
import { fourierMix } from '../../ops';
import type { Tensor } from '../../tensor';
import { AttentionModule } from '../module';
import type { MechanismGeometry } from '../registry';
import { checkOptionNames, registerTokenMixer } from './mixing_common';

/** The Fourier mixer of one layer: no parameters. */
export class FourierMixer extends AttentionModule {
  readonly input = 'tokens';
  constructor(geometry: MechanismGeometry) {
    super(geometry);
  }

  override forwardTokens(x: Tensor): Tensor {
    return fourierMix(x);
  }
}

registerTokenMixer('fourier_mix', 'mixes the tokens by a 2-D Fourier transform', (fn, options, geometry) => {
  checkOptionNames(fn, 'fourier_mix', options, []);
  return new FourierMixer(geometry);
});

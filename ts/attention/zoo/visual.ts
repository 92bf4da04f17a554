// `visual`: VAN's large-kernel attention (Guo et al., "Visual Attention Network", 2022), on
// the patch grid, channels last: attn = conv1(conv_spatial(conv0(x))), out = x ⊙ attn, with
// conv0 a depthwise kernel_size² convolution, conv_spatial a depthwise dilated_kernel_size²
// convolution of dilation `dilation` (both 'same' padding, with biases) and conv1 a pointwise
// (1x1) convolution, a linear map over the channels. Defaults 5, 7 and 3 as VAN's
// LargeKernelAttn. The prefix tokens (a class token) are gated by conv1 of the mean of the
// patches' spatial context: cls ⊙ conv1(mean over the grid of conv_spatial(conv0(x))), so
// the class token sees the whole image. Parameters (under the layer's "attention."):
// conv0.weight [E, 1, k, k], conv0.bias [E], conv_spatial.weight [E, 1, kd, kd],
// conv_spatial.bias [E], conv1.weight [E, E] (timm's [E, E, 1, 1] reshaped), conv1.bias [E].
import { depthwiseConv2d, linear, mean, mul } from '../../ops';
import { zeros } from '../../tensor';
import type { Tensor } from '../../tensor';
import { tidy } from '../../tensor';
import type { InitOptions } from '../../nn/layers';
import { checkInteger } from '../../errors';
import { AttentionModule } from '../module';
import type { MechanismGeometry, TokenGrid } from '../registry';
import { checkOptionNames, initParameter, joinGrid, oddOption, registerTokenMixer, requireGrid, splitGrid } from './mixing_common';

/** kernel_size, dilated_kernel_size and dilation. */
export interface VisualSettings {
  kernelSize: number;
  dilatedKernelSize: number;
  dilation: number;
}

/** The large-kernel attention of one layer. */
export class VisualAttention extends AttentionModule {
  readonly input = 'tokens';
  constructor(geometry: MechanismGeometry, readonly grid: TokenGrid, readonly settings: VisualSettings, init: InitOptions) {
    super(geometry);
    const E = geometry.dim;
    const bias = () => zeros([E], { device: init.device, dtype: init.dtype });
    // VAN's init: a convolution's weights from N(0, 2 / fan_out), fan_out = k² for a depthwise one, E for the pointwise.
    const k0 = settings.kernelSize, k1 = settings.dilatedKernelSize;
    this.param('conv0.weight', initParameter([E, 1, k0, k0], Math.sqrt(2 / (k0 * k0)), init));
    this.param('conv0.bias', bias());
    this.param('conv_spatial.weight', initParameter([E, 1, k1, k1], Math.sqrt(2 / (k1 * k1)), init));
    this.param('conv_spatial.bias', bias());
    this.param('conv1.weight', initParameter([E, E], Math.sqrt(2 / E), init));
    this.param('conv1.bias', bias());
  }

  override forwardTokens(x: Tensor): Tensor {
    const w = (name: string) => this.get(name);
    const weights: LargeKernelWeights = {
      conv0: [w('conv0.weight'), w('conv0.bias')], convSpatial: [w('conv_spatial.weight'), w('conv_spatial.bias')], conv1: [w('conv1.weight'), w('conv1.bias')],
    };
    return this.forwardMode(x, () => largeKernelAttention(x, this.grid, weights, this.settings.dilation));
  }
}

/** The large-kernel attention's [weight, bias] pairs: the two depthwise convolutions' and the pointwise one's ([E, E], as linear()'s). */
export interface LargeKernelWeights {
  conv0: [Tensor, Tensor];
  convSpatial: [Tensor, Tensor];
  conv1: [Tensor, Tensor];
}

/** VisualAttention's forward as a function of the tokens x [B, N, E] and the weights: returns [B, N, E] (tidy: only the result stays). */
export function largeKernelAttention(x: Tensor, grid: TokenGrid, weights: LargeKernelWeights, dilation: number): Tensor {
  return tidy(() => {
    const [B, , E] = x.shape;
    const { prefix, patches, image } = splitGrid('visual', x, grid);
    const near = depthwiseConv2d(image, ...weights.conv0, { padding: 'same' });
    const far = depthwiseConv2d(near, ...weights.convSpatial, { padding: 'same', dilation });
    const context = far.reshape([B, grid.height * grid.width, E]);
    const pointwise = (t: Tensor) => linear(t, ...weights.conv1);
    const patchesOut = mul(patches, pointwise(context));
    return joinGrid(prefix && mul(prefix, pointwise(mean(context, 1, { keepDim: true }))), patchesOut);
  });
}

registerTokenMixer('visual', "gates the tokens by large-kernel convolutions on their patch grid (VAN's attention)", (fn, options, geometry, init) => {
  checkOptionNames(fn, 'visual', options, ['kernel_size', 'dilated_kernel_size', 'dilation']);
  const settings: VisualSettings = {
    kernelSize: oddOption(fn, 'visual', options, 'kernel_size', 5),
    dilatedKernelSize: oddOption(fn, 'visual', options, 'dilated_kernel_size', 7),
    dilation: options.dilation === undefined ? 3 : checkInteger(fn, 'visual option dilation', options.dilation, 1),
  };
  return new VisualAttention(geometry, requireGrid(fn, 'visual', geometry), settings, init);
});

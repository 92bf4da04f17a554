// `pooling`: PoolFormer's token mixer (Yu et al., "MetaFormer is actually what you need for
// vision", 2022): each patch token becomes the average of its pool_size x pool_size
// neighbourhood on the patch grid minus itself (AvgPool2d with stride 1, padding
// pool_size // 2, count_include_pad false, as PoolFormer's Pooling module). The prefix
// tokens (a class token) get the same rule with the whole grid as their window: the mean of
// the patch tokens minus themselves, so the class token gathers the image as pooling mixes it.
import { avgPool2d, mean, sub } from '../../ops';
import type { Tensor } from '../../tensor';
import { tidy } from '../../tensor';
import type { InitOptions } from '../../nn/layers';
import { AttentionModule } from '../module';
import type { MechanismGeometry, TokenGrid } from '../registry';
import { checkOptionNames, joinGrid, oddOption, registerTokenMixer, requireGrid, splitGrid } from './mixing_common';

/** The pooling mixer of one layer: no parameters. */
export class PoolingMixer extends AttentionModule {
  readonly input = 'tokens';
  constructor(geometry: MechanismGeometry, readonly grid: TokenGrid, readonly poolSize: number) {
    super(geometry);
  }

  override forwardTokens(x: Tensor): Tensor {
    return poolingMix(x, this.grid, this.poolSize);
  }
}

/** PoolingMixer's forward as a function of the tokens x [B, N, E]: returns [B, N, E] (tidy: only the result stays). */
export function poolingMix(x: Tensor, grid: TokenGrid, poolSize: number): Tensor {
  return tidy(() => {
    const [B, , E] = x.shape;
    const { prefix, patches, image } = splitGrid('pooling', x, grid);
    const pooled = avgPool2d(image, { kernel: poolSize, stride: 1, padding: (poolSize - 1) / 2, countIncludePad: false });
    const patchesOut = sub(pooled, image).reshape([B, grid.height * grid.width, E]);
    return joinGrid(prefix && sub(mean(patches, 1, { keepDim: true }), prefix), patchesOut);
  });
}

registerTokenMixer('pooling', 'mixes the tokens by average pooling on their patch grid', (fn, options, geometry: MechanismGeometry, _init: InitOptions) => {
  checkOptionNames(fn, 'pooling', options, ['pool_size']);
  const poolSize = oddOption(fn, 'pooling', options, 'pool_size', 3);
  return new PoolingMixer(geometry, requireGrid(fn, 'pooling', geometry), poolSize);
});

// The gradient of dropout and dropPath: the forward's native pass over g with the forward's
// seed, offset and group, dx = g · keep / (1 − p). Nothing is saved: the mask is regenerated.
import { runDropout } from '../../ops/dropout_backward';
import type { DropoutDraw } from '../../ops/dropout_backward';
import { GradFn } from '../node';

/** dropout(x, p) or dropPath(x, p) that drew `draw`: inputs recorded as [x], nothing saved. */
export function dropoutGrad(fn: string, p: number, draw: Required<DropoutDraw>): GradFn {
  return (g) => [runDropout(fn, g, p, draw)];
}

// What the backward ops share (internal to ts/ops, for the autograd tape): the check that a
// gradient matches the tensor it is the gradient of, and the result objects.
import { rangeError } from '../errors';
import { Tensor } from '../tensor';
import { checkLike, sameShape, shapeString } from './checks';

/** dy (named `name`) like `like`: its dtype, device and shape. */
export function checkGradient(fn: string, name: string, dy: unknown, like: Tensor, likeName: string): Tensor {
  const t = checkLike(fn, name, dy, like, likeName);
  if (!sameShape(t.shape, like.shape)) {
    throw rangeError(fn, `${name} must have ${likeName}'s shape ${shapeString(like.shape)}, got ${shapeString(t.shape)}`);
  }
  return t;
}

/**
 * Runs `body` to fill the results of a backward op; temporaries it pushes are disposed
 * afterwards, and the results too when it throws.
 */
export function fillGrads<R>(results: readonly (Tensor | null)[], value: R, body: (temps: Tensor[]) => void): R {
  const temps: Tensor[] = [];
  try {
    body(temps);
    return value;
  } catch (e) {
    for (const t of results) t?.dispose();
    throw e;
  } finally {
    for (const t of temps) t.dispose();
  }
}

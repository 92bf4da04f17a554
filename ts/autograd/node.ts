// One record of the tape: the op that made a tensor, edges to the inputs that require grad
// (the node that made each, or the leaf itself), the tensors its gradient needs, and the
// gradient function. Types only, shared by graph.ts (recording) and backward.ts (the walk).
import type { Device, DType } from '../dtype';
import type { Tensor } from '../tensor';

/**
 * An op's gradient: from the gradient of its output and what the forward saved, the
 * gradient of each input (in the order the op recorded them; null where `needs` is false
 * or the gradient is zero). Returned tensors belong to the caller (the walk disposes them):
 * new tensors, or new views (never `grad` itself or a saved tensor).
 */
export type GradFn = (grad: Tensor, saved: readonly Tensor[], needs: readonly boolean[]) => readonly (Tensor | null | undefined)[];

/** @internal What a tensor that requires grad carries: the node that made it (null for a leaf) and a leaf's gradient. */
export interface GradState {
  node: GradNode | null;
  grad: Tensor | null;
}

/** @internal An input that requires grad, as the op saw it: where its gradient goes and what it must look like. */
export interface Edge {
  node: GradNode | null;
  leaf: Tensor | null;
  shape: readonly number[];
  dtype: DType;
  device: Device;
}

/** @internal A tape record. `refs` counts its holders: output tensors and consumers' edges. */
export class GradNode {
  refs = 1;
  freed = false;
  constructor(
    readonly op: string,
    public edges: readonly (Edge | null)[],
    public saved: readonly Tensor[],
    public versions: readonly number[],
    public gradFn: GradFn | null,
  ) {}
}

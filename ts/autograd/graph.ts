// The tape: each op records a GradNode on its output only when an input requires grad and
// recording is on (one cheap check per call, so an inference forward records nothing).
// Nodes form a graph through their edges; a node lives while its output tensor or a
// consumer holds it, and its saved tensors are freed when backward has used it or when
// nothing holds it any more (every output disposed).
//
// tidy(): saved tensors are the tape's own views, taken out of every tidy scope, so a tidy
// that disposes an intermediate does not break a later backward through it; the tape frees
// them. A leaf's `.grad` belongs to the leaf, never to a scope: zeroGrad() or disposing the
// leaf frees it.
import { invalidParameterError, typeError } from '../errors';
import { isTensor, keep, requiresGradOf, Tensor } from '../tensor';
import { Edge, GradFn, GradNode, GradState } from './node';

let enabled = true;
let liveNodes = 0;

/** @internal Whether ops record now (outside noGrad). */
export function gradRecorded(): boolean {
  return enabled;
}

/** Whether ops record gradients now: false inside noGrad(). */
export function isGradEnabled(): boolean {
  return enabled;
}

/** @internal Runs fn with recording on or off, restoring the mode after. */
export function withGradMode<T>(on: boolean, fn: () => T): T {
  const before = enabled;
  enabled = on;
  try {
    return fn();
  } finally {
    enabled = before;
  }
}

/**
 * Runs fn with recording off: no op records a node, so nothing is kept for backward (for
 * evaluation and for updating parameters). fn must be synchronous. Nests.
 */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw invalidParameterError('noGrad', 'fn', 'a function', fn);
  const result = withGradMode(false, fn);
  if (result instanceof Promise) throw typeError('noGrad', 'fn must be synchronous (it returned a Promise): recording was off only until its first await');
  return result;
}

/** @internal The check every op makes: does a (or b) require grad while recording is on. */
export function needsGrad(a: unknown, b?: unknown): boolean {
  return enabled && (requiresGradOf(a) || requiresGradOf(b));
}

/** @internal needsGrad over a list (concat, customOp). */
export function needsGradAny(values: readonly unknown[]): boolean {
  return enabled && Array.isArray(values) && values.some(requiresGradOf);
}

/** @internal Throws when an op that records is asked to write into options.out (autograd records new outputs only). */
export function checkRecordable(fn: string, options: unknown): void {
  if (typeof options === 'object' && options !== null && (options as { out?: unknown }).out != null) {
    throw typeError(fn, 'options.out cannot be used while an input requires grad (the tape records new outputs); call it under noGrad() or use the result');
  }
}

/**
 * @internal What an op with no gradient yet throws when needsGrad() holds for its inputs
 * (rather than give a silently wrong gradient); its backward replaces the check.
 */
export function noGradientError(fn: string): TypeError {
  return typeError(fn, 'has no gradient yet and an input requires grad; call it under noGrad() or on detach()ed tensors');
}

/**
 * @internal Records `out` as made by `op` from `inputs` (tensors or anything else; edges are
 * made for those that require grad), saving `saved` for gradFn. Returns out.
 */
export function record<T extends Tensor>(op: string, out: T, inputs: readonly unknown[], saved: readonly Tensor[], gradFn: GradFn): T {
  const edges = inputs.map((x): Edge | null => {
    if (!isTensor(x)) return null;
    const s = x._autograd;
    if (s === null) return null;
    if (s.node !== null) s.node.refs++;
    return { node: s.node, leaf: s.node === null ? x : null, shape: x.shape, dtype: x.dtype, device: x.device };
  });
  const versions = saved.map((t) => t._version);
  const views = saved.map((t) => keep(t._view(t.shape, t.strides)));
  const node = new GradNode(op, edges, views, versions, gradFn);
  liveNodes++;
  const old = out._autograd; // an op in place (residualAdd): its previous node is now an edge of this one
  out._setAutograd({ node, grad: null });
  if (old !== null) releaseGradState(old);
  return out;
}

/** @internal A tensor let go of its autograd state (disposed, or requiresGrad_(false)). */
export function releaseGradState(state: GradState): void {
  state.grad?.dispose();
  state.grad = null;
  if (state.node !== null) releaseNode(state.node);
  state.node = null;
}

function releaseNode(node: GradNode): void {
  if (--node.refs > 0) return;
  const stack = [node];
  while (stack.length > 0) {
    const n = stack.pop() as GradNode;
    if (n.freed) continue;
    for (const e of n.edges) if (e?.node && --e.node.refs === 0) stack.push(e.node);
    free(n);
  }
}

/** @internal Frees a node's saved tensors and edges; a later backward through it is refused. */
export function free(node: GradNode): void {
  if (node.freed) return;
  node.freed = true;
  liveNodes--;
  for (const t of node.saved) t.dispose();
  node.saved = [];
  node.edges = [];
  node.gradFn = null;
}

/** @internal Tape records made and not yet freed (what the no-tape and leak tests watch). */
export function liveGradNodes(): number {
  return liveNodes;
}

// backward(): the reverse walk of the tape from one tensor (tfjs's backpropagateGradients,
// PyTorch's engine in miniature). Checks the whole graph first (freed records, disposed
// leaves, saved tensors written in place), then runs each node's gradient once every
// consumer's gradient has reached it, summing gradients that reach a tensor twice, frees
// each node once used, and accumulates into the leaves' `.grad`.
import { invalidParameterError, rangeError, typeError } from '../errors';
import { add } from '../ops/elementwise';
import { checkTensor, full, keep, Tensor } from '../tensor';
import { free, withGradMode } from './graph';
import { GradNode } from './node';

const shape = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Backpropagates from `tensor`: accumulates d(tensor)/d(leaf) · gradient into the `.grad`
 * of every leaf it depends on that requires grad, then frees the tape it walked (a second
 * backward through it throws). Without `gradient` the tensor must hold one element (a
 * loss) and the gradient is 1; otherwise `gradient` has its shape, dtype and device.
 */
export function backward(tensor: Tensor, gradient?: Tensor): void {
  backwardFrom(tensor, gradient);
}

/** @internal backward() and Tensor.backward(). */
export function backwardFrom(root: Tensor, gradient: Tensor | undefined): void {
  const fn = 'backward';
  const t = checkTensor(fn, 'tensor', root);
  const state = t._autograd;
  if (state === null) {
    throw typeError(fn, `the tensor (${t}) does not require grad: no input of the ops that made it requires grad, or it was made under noGrad()`);
  }
  let g: Tensor;
  if (gradient === undefined) {
    if (t.size !== 1) throw rangeError(fn, `the tensor has shape ${shape(t.shape)} (${t.size} elements): give a gradient of that shape, or reduce it to one element first`);
    g = full(t.shape, 1, { dtype: t.dtype, device: t.device });
  } else {
    const gt = checkTensor(fn, 'gradient', gradient);
    if (gt.device !== t.device) throw invalidParameterError(fn, 'gradient', `on ${t.device} like the tensor`, gt);
    if (gt.dtype !== t.dtype) throw invalidParameterError(fn, 'gradient', `a ${t.dtype} tensor like the tensor`, gt);
    if (gt.shape.length !== t.rank || gt.shape.some((d, i) => d !== t.shape[i])) {
      throw rangeError(fn, `gradient has shape ${shape(gt.shape)} but the tensor has ${shape(t.shape)}`);
    }
    g = gt._view(gt.shape, gt.strides);
  }
  keep(g);
  withGradMode(false, () => (state.node === null ? accumulate(t, g) : walk(state.node, g)));
}

/** The nodes reachable from `root`, consumers before producers; throws before any work if the graph cannot be walked. */
function order(root: GradNode): GradNode[] {
  const post: GradNode[] = [];
  const seen = new Set<GradNode>([root]);
  checkNode(root);
  const stack: [GradNode, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const n = top[0];
    if (top[1] === n.edges.length) {
      stack.pop();
      post.push(n);
      continue;
    }
    const i = top[1]++;
    const e = n.edges[i];
    if (e?.leaf?.disposed) throw typeError('backward', `a tensor that requires grad (input ${i} of '${n.op}') has been disposed; dispose leaves after backward`);
    if (e?.node && !seen.has(e.node)) {
      checkNode(e.node);
      seen.add(e.node);
      stack.push([e.node, 0]);
    }
  }
  return post.reverse();
}

function checkNode(n: GradNode): void {
  if (n.freed) {
    throw new Error(`backward: the tape through '${n.op}' was freed by an earlier backward (each backward frees what it used); run the forward again`);
  }
  n.saved.forEach((t, i) => {
    if (t._version !== n.versions[i]) {
      throw new Error(`backward: a tensor '${n.op}' saved for its gradient was written in place since (residualAdd or an op's options.out); clone it first`);
    }
  });
}

function walk(root: GradNode, rootGrad: Tensor): void {
  let nodes: GradNode[];
  try {
    nodes = order(root);
  } catch (e) {
    rootGrad.dispose();
    throw e;
  }
  const pending = new Map<GradNode, Tensor>([[root, rootGrad]]);
  const leaves = new Map<Tensor, Tensor>();
  let at = 0;
  try {
    for (; at < nodes.length; at++) {
      const node = nodes[at];
      const g = pending.get(node);
      pending.delete(node);
      if (g !== undefined) {
        try {
          propagate(node, g, pending, leaves);
        } finally {
          g.dispose();
        }
      }
      free(node);
    }
    for (const [leaf, g] of leaves) accumulate(leaf, g);
    leaves.clear();
  } finally {
    // Only after an error: the graph is half used, so it is freed whole, and what flowed is dropped.
    for (; at < nodes.length; at++) free(nodes[at]);
    for (const g of pending.values()) g.dispose();
    for (const g of leaves.values()) g.dispose();
  }
}

function propagate(node: GradNode, g: Tensor, pending: Map<GradNode, Tensor>, leaves: Map<Tensor, Tensor>): void {
  const edges = node.edges;
  const results = (node.gradFn as NonNullable<GradNode['gradFn']>)(g, node.saved, edges.map((e) => e !== null));
  const owned: Tensor[] = [];
  try {
    for (let i = 0; i < results.length; i++) {
      let r = results[i];
      if (r === null || r === undefined) continue;
      // The same tensor twice (or the incoming gradient): each holder gets its own view.
      if (r === g || owned.includes(r)) r = r._view(r.shape, r.strides);
      owned.push(r);
      const e = edges[i];
      if (e === null || e === undefined) continue;
      if (r.device !== e.device || r.dtype !== e.dtype || r.rank !== e.shape.length || r.shape.some((d, j) => d !== e.shape[j])) {
        throw new Error(`backward: '${node.op}' gave input ${i} a gradient ${r} but the input is [${e.shape.join(', ')}] ${e.dtype} on ${e.device}`);
      }
      owned.pop();
      if (e.node !== null) sumInto(pending, e.node, r);
      else sumInto(leaves, e.leaf as Tensor, r);
    }
  } finally {
    for (const r of owned) r.dispose();
  }
}

function sumInto<K>(map: Map<K, Tensor>, key: K, g: Tensor): void {
  const before = map.get(key);
  if (before === undefined) {
    map.set(key, g);
    return;
  }
  map.set(key, add(before, g));
  before.dispose();
  g.dispose();
}

/** Adds `g` (disposed here) into the leaf's `.grad`, in place after the first backward. */
function accumulate(leaf: Tensor, g: Tensor): void {
  try {
    const state = leaf._autograd;
    if (state === null || leaf.disposed) return; // requiresGrad_(false) since the forward
    if (state.grad === null) state.grad = keep(g.clone());
    else add(state.grad, g, { out: state.grad });
  } finally {
    g.dispose();
  }
}

/** Frees the gradients of `tensors` (sets `.grad` to null), before the next backward accumulates. */
export function zeroGrad(tensors: Iterable<Tensor>): void {
  const fn = 'zeroGrad';
  if (tensors === null || typeof tensors !== 'object' || typeof (tensors as Iterable<Tensor>)[Symbol.iterator] !== 'function') {
    throw invalidParameterError(fn, 'tensors', 'an iterable of Tensors', tensors);
  }
  let i = 0;
  for (const t of tensors) {
    const state = checkTensor(fn, `tensors[${i++}]`, t)._autograd;
    if (state !== null && state.grad !== null) {
      state.grad.dispose();
      state.grad = null;
    }
  }
}

// customOp: an op defined in TypeScript with its own backward (torch.autograd.Function):
// the forward runs with recording off, saves what its backward needs through the context,
// and the result is recorded on the tape like a built-in op's.
import { invalidParameterError, typeError } from '../errors';
import { checkTensor, isTensor, Tensor } from '../tensor';
import { needsGradAny, record, withGradMode } from './graph';

/** What forward and backward share for one call. */
export interface CustomOpContext {
  /** forward: keeps tensors for backward (views of them: disposing yours is fine). Ignored when nothing is recorded. */
  save(...tensors: Tensor[]): void;
  /** backward: the tensors forward saved, in order. */
  readonly saved: readonly Tensor[];
  /** Per argument: whether its gradient is wanted (a tensor that requires grad). */
  readonly needsInputGrad: readonly boolean[];
  /** Anything else forward wants backward to see (shapes, options). */
  readonly data: Record<string, unknown>;
}

export interface CustomOpDefinition<A extends unknown[]> {
  /** The name that errors and the tape use. Default 'customOp'. */
  name?: string;
  /** The output from the arguments (tensors and anything else), with recording off. */
  forward(ctx: CustomOpContext, ...args: A): Tensor;
  /**
   * The gradient of each argument from the output's gradient: one entry per argument (null
   * or undefined for a non-tensor, one that needs no grad, or a zero gradient; a lone
   * tensor for a one-argument op), each of its argument's shape, dtype and device. Return
   * new tensors: autograd disposes them (the gradient or a saved tensor given back is copied).
   */
  backward(ctx: CustomOpContext, grad: Tensor): Tensor | null | undefined | readonly (Tensor | null | undefined)[];
}

/**
 * An op with a user-defined backward, recorded on the tape like a built-in one when an
 * argument requires grad. Returns the op: call it with the arguments forward takes.
 */
export function customOp<A extends unknown[]>(definition: CustomOpDefinition<A>): (...args: A) => Tensor {
  const fn = 'customOp';
  if (definition === null || typeof definition !== 'object') throw invalidParameterError(fn, 'definition', 'an object { forward, backward }', definition);
  const { name = fn, forward, backward } = definition;
  if (typeof name !== 'string') throw invalidParameterError(fn, 'definition.name', 'a string', name);
  if (typeof forward !== 'function') throw invalidParameterError(fn, 'definition.forward', 'a function', forward);
  if (typeof backward !== 'function') throw invalidParameterError(fn, 'definition.backward', 'a function', backward);
  return (...args: A): Tensor => {
    const tracked = needsGradAny(args);
    const saved: Tensor[] = [];
    const ctx: CustomOpContext = {
      save: (...tensors) => {
        if (tracked) tensors.forEach((t, i) => saved.push(checkTensor(name, `save's tensors[${i}]`, t)));
      },
      saved,
      needsInputGrad: args.map((a) => isTensor(a) && a.requiresGrad),
      data: {},
    };
    let out = withGradMode(false, () => forward.call(definition, ctx, ...args));
    checkTensor(name, 'the result of forward', out);
    if (!tracked) return out;
    // An argument (or a tensor on the tape) returned as it is: the record goes on a new view of it.
    if (args.includes(out) || out.requiresGrad) out = out._view(out.shape, out.strides);
    return record(name, out, args, saved, (g, savedViews, needs) => {
      const bctx: CustomOpContext = { save: () => undefined, saved: savedViews, needsInputGrad: needs, data: ctx.data };
      const r = backward.call(definition, bctx, g);
      const list = Array.isArray(r) ? r : [r];
      if (list.length !== args.length) throw typeError('backward', `'${name}' returned ${list.length} gradients for ${args.length} arguments`);
      return list.map((x, i) => {
        if (x === null || x === undefined) return null;
        if (!isTensor(x)) throw invalidParameterError('backward', `'${name}' gradient ${i}`, 'a Tensor, null or undefined', x);
        return x === g || savedViews.includes(x) ? x.clone() : x;
      });
    });
  };
}

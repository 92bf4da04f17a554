// Autograd: the tape (graph.ts), the reverse walk (backward.ts), user ops with their own
// backward (custom_op.ts) and the finite-difference check (gradcheck.ts). The gradients of
// the ops are in grads/, one file per family; DERIVATIVES.md lists them.
export { backward, zeroGrad } from './backward';
export { isGradEnabled, noGrad } from './graph';
export { customOp } from './custom_op';
export type { CustomOpContext, CustomOpDefinition } from './custom_op';
export { gradcheck } from './gradcheck';
export type { GradcheckOptions } from './gradcheck';

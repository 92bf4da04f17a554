// The cases of bench/ops.ts: each op's inputs on CUDA, and
// the op as one function of its options, called with a preallocated output (`fn`, the
// hot-loop form) or allocating its output and disposing it (`allocating`, what PyTorch's
// functional ops do); copy is the raw addon copy and has no allocating form.
import { empty, randn, Tensor, FloatDType } from '../../ts/index';
import { biasActivation, layerNorm, linear, softmax } from '../../ts/ops';
import { native } from '../../ts/native';

export interface Case { op: string; dtype: FloatDType; shape?: number[]; m?: number; k?: number; n?: number; activation?: string; minRunTime?: number }

export const bytesOf = (dtype: FloatDType) => (dtype === 'float32' ? 4 : 2);

export interface Work {
  fn: () => void;
  allocating?: () => void;
  bytes: number;
  flops: number;
  /** The op's input and its preallocated output. */
  x: Tensor;
  out: Tensor;
  /** Every tensor made for the case (x and out among them), for the caller to dispose. */
  tensors: Tensor[];
}

/** One op given options.out or not: the form `fn` and `allocating` are made from. */
type Op = (options?: { out: Tensor }) => Tensor;

function forms(op: Op, out: Tensor): Pick<Work, 'fn' | 'allocating'> {
  return { fn: () => { op({ out }); }, allocating: () => { op().dispose(); } };
}

export function work(c: Case): Work {
  const device = 'cuda';
  const seed = 1;
  if (c.op === 'linear') {
    const x = randn([c.m!, c.k!], { device, dtype: c.dtype, seed });
    const w = randn([c.n!, c.k!], { device, dtype: c.dtype, seed: seed + 1 });
    const b = randn([c.n!], { device, dtype: c.dtype, seed: seed + 2 });
    const out = empty([c.m!, c.n!], { device, dtype: c.dtype });
    const activation = (c.activation ?? 'none') as 'gelu' | 'none';
    return {
      ...forms((o) => linear(x, w, b, { activation, ...o }), out),
      bytes: (c.m! * c.k! + c.n! * c.k! + c.m! * c.n!) * bytesOf(c.dtype),
      flops: 2 * c.m! * c.n! * c.k!,
      x, out, tensors: [x, w, b, out],
    };
  }
  const [rows, cols] = c.shape!;
  const x = randn([rows, cols], { device, dtype: c.dtype, seed });
  const w = randn([cols], { device, dtype: c.dtype, seed: seed + 1 });
  const b = randn([cols], { device, dtype: c.dtype, seed: seed + 2 });
  const out = empty([rows, cols], { device, dtype: c.dtype });
  const common = { bytes: 2 * rows * cols * bytesOf(c.dtype), flops: 0, x, out, tensors: [x, w, b, out] };
  if (c.op === 'copy') return { fn: () => native().copy(out, x), ...common };
  const ops: Record<string, Op> = {
    layerNorm: (o) => layerNorm(x, w, b, 1e-5, o),
    softmax: (o) => softmax(x, o),
    biasGelu: (o) => biasActivation(x, b, 'gelu', o),
  };
  return { ...forms(ops[c.op], out), ...common };
}

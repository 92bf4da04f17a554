// A mechanism whose forward and backward are CUDA source: naive softmax attention for short
// sequences (float32, no mask or bias), compiled by NVRTC on first use, wrapped in customOp
// for its gradient and registered as 'naive_cuda'. README.md shows this file ("A mechanism
// in CUDA source"); test/kernels/naive_attention.test.ts holds it against vanilla attention.
// Users write `from 'nodeformers'` where this file imports ../../ts/index.
import { customOp, cuda, Device, empty, Kernel, registerAttention, Tensor } from '../../ts/index';

export const SOURCE = String.raw`
// Softmax attention for short sequences, written plainly: float32 q [B, Nq, H, D] and k, v
// [B, Nk, H, D], contiguous. One block per (query row, head, batch) forward; a row's Nk scores
// sit in shared memory. The backward recomputes the probabilities from the forward's
// log-sum-exp: one block per query row for dq, one per key row for dk and dv.
__device__ float block_reduce(float x, bool is_max, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) {
    const float y = __shfl_xor_sync(0xffffffffu, x, o);
    x = is_max ? fmaxf(x, y) : x + y;
  }
  __syncthreads();  // scratch is free, and every shared write before this call is seen after it
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = x;
  __syncthreads();
  x = is_max ? scratch[0] : 0.f;
  for (int w = is_max ? 1 : 0; w < (int)(blockDim.x >> 5); ++w) x = is_max ? fmaxf(x, scratch[w]) : x + scratch[w];
  return x;
}

__device__ size_t at(int b, int n, int N, int h, int H, int D) { return (((size_t)b * N + n) * H + h) * D; }

extern "C" __global__ void naive_attention_fwd(const float* q, const float* k, const float* v, float* out, float* lse,
                                               int B, int Nq, int Nk, int H, int D, float scale) {
  extern __shared__ float p[];  // [Nk]
  __shared__ float scratch[32];
  const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const float* qi = q + at(b, i, Nq, h, H, D);
  float m = -3.402823466e38f;
  for (int j = threadIdx.x; j < Nk; j += blockDim.x) {
    const float* kj = k + at(b, j, Nk, h, H, D);
    float s = 0.f;
    for (int d = 0; d < D; ++d) s += qi[d] * kj[d];
    p[j] = s * scale;
    m = fmaxf(m, p[j]);
  }
  m = block_reduce(m, true, scratch);
  float sum = 0.f;
  for (int j = threadIdx.x; j < Nk; j += blockDim.x) {
    p[j] = expf(p[j] - m);
    sum += p[j];
  }
  sum = block_reduce(sum, false, scratch);
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float acc = 0.f;
    for (int j = 0; j < Nk; ++j) acc += p[j] * v[at(b, j, Nk, h, H, D) + d];
    out[at(b, i, Nq, h, H, D) + d] = acc / sum;
  }
  if (threadIdx.x == 0) lse[((size_t)b * H + h) * Nq + i] = m + logf(sum);
}

extern "C" __global__ void naive_attention_dq(const float* dout, const float* q, const float* k, const float* v, const float* out,
                                              const float* lse, float* dq, float* delta, int B, int Nq, int Nk, int H, int D, float scale) {
  extern __shared__ float ds[];  // [Nk]
  __shared__ float scratch[32];
  const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const size_t row = at(b, i, Nq, h, H, D);
  float dd = 0.f;
  for (int d = threadIdx.x; d < D; d += blockDim.x) dd += dout[row + d] * out[row + d];
  dd = block_reduce(dd, false, scratch);  // delta_i = dout_i . out_i
  const float l = lse[((size_t)b * H + h) * Nq + i];
  for (int j = threadIdx.x; j < Nk; j += blockDim.x) {
    const size_t col = at(b, j, Nk, h, H, D);
    float s = 0.f, dp = 0.f;
    for (int d = 0; d < D; ++d) {
      s += q[row + d] * k[col + d];
      dp += dout[row + d] * v[col + d];
    }
    ds[j] = expf(s * scale - l) * (dp - dd);
  }
  __syncthreads();
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float acc = 0.f;
    for (int j = 0; j < Nk; ++j) acc += ds[j] * k[at(b, j, Nk, h, H, D) + d];
    dq[row + d] = acc * scale;
  }
  if (threadIdx.x == 0) delta[((size_t)b * H + h) * Nq + i] = dd;
}

extern "C" __global__ void naive_attention_dkdv(const float* dout, const float* q, const float* k, const float* v, const float* lse,
                                                const float* delta, float* dk, float* dv, int B, int Nq, int Nk, int H, int D, float scale) {
  extern __shared__ float pd[];  // [2 Nq]: p_ij, then ds_ij, over the query rows i
  const int j = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const size_t col = at(b, j, Nk, h, H, D);
  float* P = pd;
  float* DS = pd + Nq;
  for (int i = threadIdx.x; i < Nq; i += blockDim.x) {
    const size_t row = at(b, i, Nq, h, H, D), stat = ((size_t)b * H + h) * Nq + i;
    float s = 0.f, dp = 0.f;
    for (int d = 0; d < D; ++d) {
      s += q[row + d] * k[col + d];
      dp += dout[row + d] * v[col + d];
    }
    P[i] = expf(s * scale - lse[stat]);
    DS[i] = P[i] * (dp - delta[stat]);
  }
  __syncthreads();
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float acc_k = 0.f, acc_v = 0.f;
    for (int i = 0; i < Nq; ++i) {
      const size_t row = at(b, i, Nq, h, H, D) + d;
      acc_k += DS[i] * q[row];
      acc_v += P[i] * dout[row];
    }
    dk[col + d] = acc_k * scale;
    dv[col + d] = acc_v;
  }
}
`;

const THREADS = 128; // a block's threads: a multiple of 32 (block_reduce's warps)
const MAX_N = 4096; // a row of scores (or two of probabilities) in 32 KiB of shared memory

const ptrs = (...names: string[]) => names.map((n) => `ptr<float32> ${n}`);
const sizes = ['i32 B', 'i32 Nq', 'i32 Nk', 'i32 H', 'i32 D', 'f32 scale'];
export const SIGNATURES = {
  naive_attention_fwd: [...ptrs('q', 'k', 'v', 'out', 'lse'), ...sizes],
  naive_attention_dq: [...ptrs('dout', 'q', 'k', 'v', 'out', 'lse', 'dq', 'delta'), ...sizes],
  naive_attention_dkdv: [...ptrs('dout', 'q', 'k', 'v', 'lse', 'delta', 'dk', 'dv'), ...sizes],
};
type Kernels = Record<keyof typeof SIGNATURES, Kernel>;

const compiled = new Map<Device, Kernels>();
/** The three kernels on `device`, compiled once a process (and cached on disk across processes). */
function kernels(device: Device): Kernels {
  let k = compiled.get(device);
  if (!k) {
    const compile = (name: keyof typeof SIGNATURES) => cuda.compile(SOURCE, { name, signature: SIGNATURES[name], device });
    k = { naive_attention_fwd: compile('naive_attention_fwd'), naive_attention_dq: compile('naive_attention_dq'), naive_attention_dkdv: compile('naive_attention_dkdv') };
    compiled.set(device, k);
  }
  return k;
}

/** out = softmax(q kᵀ · scale) v for contiguous float32 q [B, Nq, H, D], k and v [B, Nk, H, D]; recorded with its backward. */
export const naiveAttention = customOp({
  name: 'naive_cuda',
  forward(ctx, q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor {
    const [B, Nq, H, D] = q.shape;
    const Nk = k.shape[1];
    const out = empty([B, Nq, H, D], { device: q.device });
    const lse = empty([B, H, Nq], { device: q.device });
    kernels(q.device).naive_attention_fwd.launch({ grid: [Nq, H, B], block: THREADS, sharedMem: 4 * Nk }, q, k, v, out, lse, B, Nq, Nk, H, D, scale);
    ctx.save(q, k, v, out, lse);
    lse.dispose(); // the tape keeps its own view
    ctx.data.scale = scale;
    return out;
  },
  backward(ctx, grad) {
    const [q, k, v, out, lse] = ctx.saved;
    const scale = ctx.data.scale as number;
    const [B, Nq, H, D] = q.shape;
    const Nk = k.shape[1];
    const dout = grad.contiguous();
    const dq = empty(q.shape, { device: q.device });
    const dk = empty(k.shape, { device: q.device });
    const dv = empty(v.shape, { device: q.device });
    const delta = empty([B, H, Nq], { device: q.device }); // dout · out per query row, for dk and dv
    const ks = kernels(q.device);
    ks.naive_attention_dq.launch({ grid: [Nq, H, B], block: THREADS, sharedMem: 4 * Nk }, dout, q, k, v, out, lse, dq, delta, B, Nq, Nk, H, D, scale);
    ks.naive_attention_dkdv.launch({ grid: [Nk, H, B], block: THREADS, sharedMem: 8 * Nq }, dout, q, k, v, lse, delta, dk, dv, B, Nq, Nk, H, D, scale);
    dout.dispose();
    delta.dispose();
    const wanted = (t: Tensor, i: number) => (ctx.needsInputGrad[i] ? t : (t.dispose(), null));
    return [wanted(dq, 0), wanted(dk, 1), wanted(dv, 2), null];
  },
});

registerAttention('naive_cuda', {
  notSupportedReasons({ q, k, mask, bias, causal }) {
    const reasons: string[] = [];
    if (q.device === 'cpu') reasons.push('its kernels are CUDA source: q must be on a CUDA device');
    if (q.dtype !== 'float32') reasons.push(`float32 only, got ${q.dtype}`);
    if (mask !== null || bias !== null || causal) reasons.push('no mask, bias or causal rule');
    const [Nq, Nk, D] = [q.shape[1], k.shape[1], q.shape[3]];
    if (Nq < 1 || Nk < 1 || Nq > MAX_N || Nk > MAX_N || D < 1) reasons.push(`Nq and Nk from 1 to ${MAX_N} and D at least 1, got Nq ${Nq}, Nk ${Nk}, D ${D}`);
    return reasons;
  },
  forward({ q, k, v, scale }) {
    // The kernels read contiguous [B, N, H, D]: strided views (splitQkv's) are copied, on the tape.
    const [qc, kc, vc] = [q.contiguous(), k.contiguous(), v.contiguous()];
    try {
      return naiveAttention(qc, kc, vc, scale);
    } finally {
      for (const t of [qc, kc, vc]) t.dispose();
    }
  },
});

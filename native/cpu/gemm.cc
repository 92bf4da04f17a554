// The float32 GEMM driver (gemm.h), in the BLIS order: for each batch, NC-column block and
// KC-deep slice, B's slice is packed once into NR-column panels (in parallel by panel); then
// tasks of MC rows (times a share of the columns when rows are few) pack their A block into
// MR-row panels in thread-local scratch (or, for a row-major A and few B panels, read its
// rows in place) and run the micro-kernel over every MR x NR tile,
// B's panel outermost so it stays in L1 while A's block streams from L2. Each tile merges
// into C with the epilogue (from the kernel's registers where the kernel can and the tile is
// full): the first K slice adds bias and residual; the last applies the activation to the
// task's block. Small batched problems run one matrix per task instead.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include "../core/activation.h"
#include "activation_simd.h"
#include "simd_math.h"
#include "thread_pool.h"

namespace nf::cpu {
namespace {

constexpr int64_t kKC = 256, kMC = 96, kNC = 2048;
// At most this many B panels per task read A's rows in place rather than packed.
constexpr int64_t kDirectPanels = 32;
// Below this many multiply-adds a matrix is not worth waking the pool for.
constexpr int64_t kThreadedWork = int64_t{1} << 18;

// Grow-only 64-byte-aligned float scratch, one per thread: no allocation per task.
struct Scratch {
  float* data = nullptr;
  size_t size = 0;
  ~Scratch() { std::free(data); }
  float* get(size_t floats) {
    if (floats > size) {
      std::free(data);
      data = static_cast<float*>(std::aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64));
      if (data == nullptr) throw std::bad_alloc();
      size = floats;
    }
    return data;
  }
};
thread_local Scratch t_a_pack, t_b_pack;

struct Matrix {
  const float* p;
  int64_t rs, cs;  // element (r, c) at p[r * rs + c * cs]
  float at(int64_t r, int64_t c) const { return p[r * rs + c * cs]; }
};

// A's rows [i0, i0 + mc) x k [k0, k0 + kc) into MR-row panels, k-major, zero-padded rows.
void pack_a(const Matrix& a, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr, float* out) {
  for (int64_t p0 = 0; p0 < mc; p0 += mr, out += kc * mr) {
    const int64_t rows = std::min<int64_t>(mr, mc - p0);
    if (a.cs == 1) {  // row-major A: read each row along k, contiguous
      for (int64_t r = 0; r < rows; ++r) {
        const float* src = a.p + (i0 + p0 + r) * a.rs + k0;
        for (int64_t k = 0; k < kc; ++k) out[k * mr + r] = src[k];
      }
      for (int64_t r = rows; r < mr; ++r)
        for (int64_t k = 0; k < kc; ++k) out[k * mr + r] = 0.f;
      continue;
    }
    for (int64_t k = 0; k < kc; ++k) {
      float* dst = out + k * mr;
      int64_t r = 0;
      for (; r < rows; ++r) dst[r] = a.at(i0 + p0 + r, k0 + k);
      for (; r < mr; ++r) dst[r] = 0.f;
    }
  }
}

#if defined(__x86_64__) || defined(_M_X64)
// A full panel of a B stored column-major (a linear layer's weight, [out, in], read as B =
// W^T): 8 k by 8 columns at a time, loaded along k (contiguous) and transposed in registers.
// The k beyond the last multiple of 8 are copied one by one.
__attribute__((target("avx2,fma"))) void pack_b_columns_avx2(const Matrix& b, int64_t k0, int64_t kc, int64_t jp, int nr, float* out) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8)
    for (int g = 0; g < nr; g += 8) {
      __m256 r[8];
      for (int c = 0; c < 8; ++c) r[c] = _mm256_loadu_ps(b.p + (jp + g + c) * b.cs + k0 + k);
      transpose8x8(r);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(out + (k + i) * nr + g, r[i]);
    }
  for (; k < kc; ++k)
    for (int c = 0; c < nr; ++c) out[k * nr + c] = b.at(k0 + k, jp + c);
}
#endif

// B's panel `panel` (columns j0 + panel * nr ...) of k [k0, k0 + kc), k-major, zero-padded columns.
void pack_b_panel(const Matrix& b, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t panel, int nr, float* out, bool vector) {
  const int64_t jp = j0 + panel * nr, cols = std::min<int64_t>(nr, j0 + nc - jp);
  out += panel * kc * nr;
#if defined(__x86_64__) || defined(_M_X64)
  if (vector && b.rs == 1 && cols == nr && nr % 8 == 0) return pack_b_columns_avx2(b, k0, kc, jp, nr, out);
#else
  (void)vector;
#endif
  for (int64_t k = 0; k < kc; ++k) {
    float* dst = out + k * nr;
    if (b.cs == 1) {
      std::memcpy(dst, b.p + (k0 + k) * b.rs + jp, static_cast<size_t>(cols) * sizeof(float));
    } else {
      for (int64_t c = 0; c < cols; ++c) dst[c] = b.at(k0 + k, jp + c);
    }
    for (int64_t c = cols; c < nr; ++c) dst[c] = 0.f;
  }
}

struct Problem {
  Matrix a, b;
  float* c;
  const float* residual;  // C's layout, or null
  int64_t ldc, m, n, k;
  const GemmParams* p;
  bool vector_merge;  // the tile's merge and B's packing in AVX (an x86 kernel of AVX2 or wider)
};

#if defined(__x86_64__) || defined(_M_X64)
// One row of merge_tile with AVX: c = alpha t + bias + res (first slice of k), else c += alpha t.
__attribute__((target("avx2,fma"))) void merge_row_avx2(float* c, const float* t, const float* bias, const float* res, float alpha, int64_t cols,
                                                       bool first) {
  const __m256 a = _mm256_set1_ps(alpha);
  int64_t x = 0;
  for (; x + 8 <= cols; x += 8) {
    __m256 v = first ? _mm256_mul_ps(a, _mm256_loadu_ps(t + x)) : _mm256_fmadd_ps(a, _mm256_loadu_ps(t + x), _mm256_loadu_ps(c + x));
    if (first && bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + x));
    if (first && res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + x));
    _mm256_storeu_ps(c + x, v);
  }
  for (; x < cols; ++x) {
    float v = first ? alpha * t[x] : c[x] + alpha * t[x];
    if (first && bias) v += bias[x];
    if (first && res) v += res[x];
    c[x] = v;
  }
}
#endif

// Merges an MR x NR tile (row stride nr) into C's [rows, cols] block at (i, j); the
// activation is left to run_block.
void merge_tile(const Problem& q, const float* tile, int nr, int64_t i, int64_t j, int64_t rows, int64_t cols, bool first) {
  const GemmParams& p = *q.p;
  const float* bias = static_cast<const float*>(p.bias);
#if defined(__x86_64__) || defined(_M_X64)
  if (q.vector_merge) {
    for (int64_t r = 0; r < rows; ++r)
      merge_row_avx2(q.c + (i + r) * q.ldc + j, tile + r * nr, bias ? bias + j : nullptr, q.residual ? q.residual + (i + r) * q.ldc + j : nullptr,
                     p.alpha, cols, first);
    return;
  }
#endif
  for (int64_t r = 0; r < rows; ++r) {
    float* c = q.c + (i + r) * q.ldc + j;
    const float* t = tile + r * nr;
    if (first) {
      const float* res = q.residual ? q.residual + (i + r) * q.ldc + j : nullptr;  // read before c is written
      for (int64_t x = 0; x < cols; ++x) {
        float v = p.alpha * t[x];
        if (bias) v += bias[j + x];
        if (res) v += res[x];
        c[x] = v;
      }
    } else {
      for (int64_t x = 0; x < cols; ++x) c[x] += p.alpha * t[x];
    }
  }
}

// Rows [i0, i0 + mc) x B panels [panel0, panel1) of the packed slice.
void run_block(const Problem& q, const GemmKernel& kern, const float* b_pack, int64_t i0, int64_t mc, int64_t j0, int64_t nc,
               int64_t panel0, int64_t panel1, int64_t k0, int64_t kc, bool first, bool last) {
  const int mr = kern.mr, nr = kern.nr;
  float* a_pack = t_a_pack.get(static_cast<size_t>((mc + mr - 1) / mr * mr * std::max<int64_t>(kc, 1)));
  // Full MR-row panels of a row-major A are read in place where few B panels would share a
  // packed copy (packing costs about two tiles' time per panel); the last partial one is packed.
  const bool direct = kern.run_rows != nullptr && q.a.cs == 1 && panel1 - panel0 <= kDirectPanels;
  const int64_t packed_from = direct ? mc / mr * mr : 0;
  pack_a(q.a, i0 + packed_from, mc - packed_from, k0, kc, mr, a_pack + packed_from * kc);
  alignas(64) float tile[6 * 32];
  const float* bias = static_cast<const float*>(q.p->bias);
  for (int64_t panel = panel0; panel < panel1; ++panel) {
    const int64_t j = j0 + panel * nr, cols = std::min<int64_t>(nr, j0 + nc - j);
    const float* bp = b_pack + panel * kc * nr;
    for (int64_t p0 = 0; p0 < mc; p0 += mr) {
      const int64_t i = i0 + p0, rows = std::min<int64_t>(mr, mc - p0);
      const float* a_rows = q.a.p + i * q.a.rs + k0;
      const bool in_place = p0 < packed_from;
      if (rows == mr && cols == nr && (in_place ? kern.run_rows_c != nullptr : kern.run_c != nullptr)) {
        const TileEpilogue e{q.p->alpha, bias ? bias + j : nullptr, q.residual ? q.residual + i * q.ldc + j : nullptr, q.ldc, first};
        if (in_place)
          kern.run_rows_c(kc, a_rows, q.a.rs, bp, q.c + i * q.ldc + j, e);
        else
          kern.run_c(kc, a_pack + p0 * kc, bp, q.c + i * q.ldc + j, e);
      } else {
        if (in_place)
          kern.run_rows(kc, a_rows, q.a.rs, bp, tile);
        else
          kern.run(kc, a_pack + p0 * kc, bp, tile);
        merge_tile(q, tile, nr, i, j, rows, cols, first);
      }
    }
  }
  if (!last || q.p->activation.kind == Activation::None) return;
  const int64_t j_begin = j0 + panel0 * nr, j_end = std::min(j0 + nc, j0 + panel1 * nr);
  for (int64_t r = 0; r < mc; ++r) activate_row(q.c + (i0 + r) * q.ldc + j_begin, j_end - j_begin, q.p->activation);
}

// One matrix of the batch, its tasks on the pool when `threaded`, else on this thread.
void gemm_matrix(const Problem& q, const GemmKernel& kern, bool threaded) {
  const int nr = kern.nr;
  const int64_t threads = threaded ? num_threads() : 1;
  for (int64_t j0 = 0; j0 < q.n; j0 += kNC) {
    const int64_t nc = std::min(kNC, q.n - j0), panels = (nc + nr - 1) / nr;
    // At least one slice, so k = 0 still writes bias + residual (and the activation).
    for (int64_t k0 = 0; k0 == 0 || k0 < q.k; k0 += kKC) {
      const int64_t kc = std::min(kKC, q.k - k0);
      const bool first = k0 == 0, last = k0 + kc >= q.k;
      float* b_pack = t_b_pack.get(static_cast<size_t>(panels * nr * std::max<int64_t>(kc, 1)));
      const int64_t m_blocks = (q.m + kMC - 1) / kMC;
      // Split the columns too when there are fewer row blocks than two per thread.
      const int64_t n_split = std::min(panels, std::max<int64_t>(1, (2 * threads + m_blocks - 1) / m_blocks));
      auto pack = [&](int64_t panel, int) { pack_b_panel(q.b, k0, kc, j0, nc, panel, nr, b_pack, q.vector_merge); };
      auto block = [&](int64_t t, int) {
        const int64_t ib = t / n_split, s = t % n_split, i0 = ib * kMC;
        run_block(q, kern, b_pack, i0, std::min(kMC, q.m - i0), j0, nc, panels * s / n_split, panels * (s + 1) / n_split, k0, kc,
                  first, last);
      };
      if (threads > 1) {
        parallel_for(panels, pack);
        parallel_for(m_blocks * n_split, block);
      } else {
        for (int64_t panel = 0; panel < panels; ++panel) pack(panel, 0);
        for (int64_t t = 0; t < m_blocks * n_split; ++t) block(t, 0);
      }
    }
  }
}

const GemmKernel* best_kernel() {
  if (const GemmKernel* k = gemm_kernel_avx512()) return k;
  if (const GemmKernel* k = gemm_kernel_avx2()) return k;
  if (const GemmKernel* k = gemm_kernel_neon()) return k;
  return &gemm_kernel_scalar();
}

// Resolves a name to a kernel: *found false when the name is unknown or the CPU lacks it.
const GemmKernel* kernel_by_name(const char* name, bool* found) {
  *found = true;
  if (std::strcmp(name, "best") == 0) return best_kernel();
  if (std::strcmp(name, "reference") == 0) return nullptr;
  if (std::strcmp(name, "scalar") == 0) return &gemm_kernel_scalar();
  for (const GemmKernel* k : {gemm_kernel_avx512(), gemm_kernel_avx2(), gemm_kernel_neon()})
    if (k && std::strcmp(name, k->name) == 0) return k;
  *found = false;
  return best_kernel();
}

const GemmKernel* initial_kernel() {
  bool found;
  const char* env = std::getenv("NODEFORMERS_CPU_GEMM");
  return kernel_by_name(env ? env : "best", &found);
}

// Set by the main thread's tests; read by every call (relaxed: any consistent kernel is correct).
std::atomic<const GemmKernel*>& active() {
  static std::atomic<const GemmKernel*> k{initial_kernel()};
  return k;
}

}  // namespace

const GemmKernel* active_gemm_kernel() { return active().load(std::memory_order_relaxed); }

bool set_gemm_kernel(const char* name) {
  bool found;
  const GemmKernel* k = kernel_by_name(name, &found);
  if (found) active().store(k, std::memory_order_relaxed);
  return found;
}

const char* gemm_kernel_name() {
  const GemmKernel* k = active_gemm_kernel();
  return k ? k->name : "reference";
}

void gemm_f32(const GemmParams& p, const GemmKernel& kern) {
  const float* a = static_cast<const float*>(p.a);
  const float* b = static_cast<const float*>(p.b);
  float* c = static_cast<float*>(p.c);
  const float* res = static_cast<const float*>(p.residual);
  auto problem = [&](int64_t i) {
    Problem q;
    q.a = p.trans_a ? Matrix{a + i * p.batch_stride_a, 1, p.lda} : Matrix{a + i * p.batch_stride_a, p.lda, 1};
    q.b = p.trans_b ? Matrix{b + i * p.batch_stride_b, 1, p.ldb} : Matrix{b + i * p.batch_stride_b, p.ldb, 1};
    q.c = c + i * p.batch_stride_c;
    q.residual = res ? res + i * p.batch_stride_c : nullptr;
    q.ldc = p.ldc;
    q.m = p.m, q.n = p.n, q.k = p.k;
    q.p = &p;
    q.vector_merge = std::strcmp(kern.name, "avx2") == 0 || std::strcmp(kern.name, "avx512") == 0;
    return q;
  };
  if (p.m == 0 || p.n == 0) return;
  const int64_t work = p.m * p.n * std::max<int64_t>(p.k, 1);
  const int64_t threads = num_threads();
  if (threads > 1 && p.batch >= threads && work < 64 * kThreadedWork) {
    parallel_for(p.batch, [&](int64_t i, int) { gemm_matrix(problem(i), kern, false); });
    return;
  }
  for (int64_t i = 0; i < p.batch; ++i) gemm_matrix(problem(i), kern, work >= kThreadedWork);
}

}  // namespace nf::cpu

// Dense float32 attention on AVX2/FMA: out = softmax(scale * q k^T + bias, masked) v, and the
// rows' log-sum-exp, flash-style. A task takes kTileQ query rows of one (batch, head) and walks
// their keys in blocks of tile_k (256 keys where D <= 32, so a ViT's 197 keys are one block
// and a row pays its fixed costs once; 128 to D 64, else 64, to stay in L1 and L2): the block's
// K is packed transposed ([D][tile_k]) and its V row-major with D padded to a multiple of 8,
// once per block for all the task's rows. A row's scores are up to 8 vector accumulators of
// FMAs over d per 64 keys; an online softmax with a
// vectorized exp rescales the row's float32 accumulator, and P.V adds each key's V row times
// its weight. Key ranges (causal, row_ranges) bound the walk; mask, bias and the ranges'
// edges are applied per element on the scores. Block layouts take the plain kernel.
#include "attention_simd.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "elementwise.h"
#include "simd_math.h"
#include "thread_pool.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define NF_ATTENTION_X86 1
#endif

namespace nf::cpu {

bool attention_simd_serves(const AttentionParams& p) {
  return p.dtype == DType::Float32 && p.layout == nullptr && cpu_has_avx2_fma();
}

#ifdef NF_ATTENTION_X86
namespace {

constexpr int64_t kTileQ = 32;

// Keys per block: see the file's first comment.
int64_t key_tile(int64_t D) { return D <= 32 ? 256 : D <= 64 ? 128 : 64; }

// One task's scratch, kept per thread so a task allocates nothing.
struct Scratch {
  std::vector<float> q, kt, v, acc, scores;
  std::vector<float> row_max, row_sum;
};

// A row's scores for NVEC * 8 keys of the packed block: NVEC accumulators of FMAs over d.
template <int NVEC>
__attribute__((target("avx2,fma"))) void row_scores(const float* q, const float* kt, int64_t ldk, int64_t D, float* scores) {
  __m256 acc[NVEC];
  for (int x = 0; x < NVEC; ++x) acc[x] = _mm256_setzero_ps();
  for (int64_t d = 0; d < D; ++d) {
    const __m256 qd = _mm256_broadcast_ss(q + d);
    for (int x = 0; x < NVEC; ++x) acc[x] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kt + d * ldk + 8 * x), acc[x]);
  }
  for (int x = 0; x < NVEC; ++x) _mm256_storeu_ps(scores + 8 * x, acc[x]);
}

// A row's scores for the block's first nvec * 8 keys, 64 at a time.
__attribute__((target("avx2,fma"))) void scores_for(int nvec, const float* q, const float* kt, int64_t ldk, int64_t D, float* scores) {
  for (int v0 = 0; v0 < nvec; v0 += 8) {
    const float* k = kt + 8 * v0;
    float* s = scores + 8 * v0;
    switch (std::min(8, nvec - v0)) {
      case 1: row_scores<1>(q, k, ldk, D, s); break;
      case 2: row_scores<2>(q, k, ldk, D, s); break;
      case 3: row_scores<3>(q, k, ldk, D, s); break;
      case 4: row_scores<4>(q, k, ldk, D, s); break;
      case 5: row_scores<5>(q, k, ldk, D, s); break;
      case 6: row_scores<6>(q, k, ldk, D, s); break;
      case 7: row_scores<7>(q, k, ldk, D, s); break;
      default: row_scores<8>(q, k, ldk, D, s); break;
    }
  }
}

// out[0, NV * 8) = out * correction + sum_c w[c] v[c]: U interleaved sets of NV accumulators,
// so that NV * U FMA chains hide the FMA's latency when a row is narrow (D = 12: NV 2, U 4).
template <int NV, int U>
__attribute__((target("avx2,fma"))) void weighted_rows(float* out, const float* w, const float* v, int64_t Dp, int64_t cols, float correction) {
  __m256 o[U][NV];
  const __m256 corr = _mm256_set1_ps(correction);
  for (int x = 0; x < NV; ++x) {
    o[0][x] = _mm256_mul_ps(_mm256_loadu_ps(out + 8 * x), corr);
    for (int u = 1; u < U; ++u) o[u][x] = _mm256_setzero_ps();
  }
  int64_t c = 0;
  for (; c + U <= cols; c += U)
    for (int u = 0; u < U; ++u) {
      const __m256 wc = _mm256_broadcast_ss(w + c + u);
      for (int x = 0; x < NV; ++x) o[u][x] = _mm256_fmadd_ps(wc, _mm256_loadu_ps(v + (c + u) * Dp + 8 * x), o[u][x]);
    }
  for (; c < cols; ++c) {
    const __m256 wc = _mm256_broadcast_ss(w + c);
    for (int x = 0; x < NV; ++x) o[0][x] = _mm256_fmadd_ps(wc, _mm256_loadu_ps(v + c * Dp + 8 * x), o[0][x]);
  }
  for (int x = 0; x < NV; ++x) {
    for (int u = 1; u < U; ++u) o[0][x] = _mm256_add_ps(o[0][x], o[u][x]);
    _mm256_storeu_ps(out + 8 * x, o[0][x]);
  }
}

// The row's output, 64 columns (8 vectors) at a time.
__attribute__((target("avx2,fma"))) void accumulate_row(float* out, const float* w, const float* v, int64_t Dp, int64_t cols, float correction) {
  for (int64_t d0 = 0; d0 < Dp; d0 += 64) {
    float* o = out + d0;
    const float* vd = v + d0;
    switch (std::min<int64_t>(64, Dp - d0) / 8) {
      case 1: weighted_rows<1, 4>(o, w, vd, Dp, cols, correction); break;
      case 2: weighted_rows<2, 4>(o, w, vd, Dp, cols, correction); break;
      case 3: weighted_rows<3, 2>(o, w, vd, Dp, cols, correction); break;
      case 4: weighted_rows<4, 2>(o, w, vd, Dp, cols, correction); break;
      case 5: weighted_rows<5, 1>(o, w, vd, Dp, cols, correction); break;
      case 6: weighted_rows<6, 1>(o, w, vd, Dp, cols, correction); break;
      case 7: weighted_rows<7, 1>(o, w, vd, Dp, cols, correction); break;
      default: weighted_rows<8, 1>(o, w, vd, Dp, cols, correction); break;
    }
  }
}

__attribute__((target("avx2,fma"))) void run_tile(const AttentionParams& p, int64_t b, int64_t h, int64_t i0, Scratch& s) {
  const int64_t D = p.head_dim, Dp = (D + 7) / 8 * 8, rows = std::min(kTileQ, p.nq - i0);
  const int64_t group = p.kv_heads > 0 ? p.heads / p.kv_heads : 1, hk = h / group;
  const float* q = static_cast<const float*>(p.q);
  const float* k = static_cast<const float*>(p.k);
  const float* v = static_cast<const float*>(p.v);
  const int32_t* ranges = p.row_ranges;
  s.q.assign(static_cast<size_t>(kTileQ * D), 0.f);
  const int64_t tile_k = key_tile(D);
  s.kt.resize(static_cast<size_t>(D * tile_k));
  s.v.assign(static_cast<size_t>(tile_k * Dp), 0.f);  // padding columns stay zero
  s.acc.assign(static_cast<size_t>(kTileQ * Dp), 0.f);
  s.scores.resize(static_cast<size_t>(tile_k));
  s.row_max.assign(kTileQ, -INFINITY);
  s.row_sum.assign(kTileQ, 0.f);
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = q + b * p.q_strides[0] + (i0 + r) * p.q_strides[1] + h * p.q_strides[2];
    for (int64_t d = 0; d < D; ++d) s.q[r * D + d] = src[d] * p.scale;
  }
  // Row r's allowed keys [lo(r), hi(r)); the tile walks the union of its rows' ranges.
  auto lo = [&](int64_t r) -> int64_t { return ranges != nullptr ? ranges[2 * (i0 + r)] : 0; };
  auto hi = [&](int64_t r) -> int64_t {
    int64_t e = p.causal ? std::min(p.nk, i0 + r + 1) : p.nk;
    return ranges != nullptr ? std::min<int64_t>(e, ranges[2 * (i0 + r) + 1]) : e;
  };
  const int64_t key_begin = lo(0), key_end = hi(rows - 1);  // both nondecreasing in the row
  for (int64_t j0 = key_begin; j0 < key_end; j0 += tile_k) {
    const int64_t cols = std::min(tile_k, key_end - j0);
    for (int64_t c = 0; c < (cols + 7) / 8 * 8; ++c) {
      if (c < cols) {
        const float* kr = k + b * p.k_strides[0] + (j0 + c) * p.k_strides[1] + hk * p.k_strides[2];
        const float* vr = v + b * p.v_strides[0] + (j0 + c) * p.v_strides[1] + hk * p.v_strides[2];
        for (int64_t d = 0; d < D; ++d) s.kt[d * tile_k + c] = kr[d];
        std::memcpy(&s.v[c * Dp], vr, static_cast<size_t>(D) * sizeof(float));
      } else {
        for (int64_t d = 0; d < D; ++d) s.kt[d * tile_k + c] = 0.f;
        std::memset(&s.v[c * Dp], 0, static_cast<size_t>(D) * sizeof(float));
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = i0 + r, row_lo = lo(r), row_hi = hi(r);
      if (row_hi <= j0 || row_lo >= j0 + cols) continue;  // none of this block's keys for this row
      const int nvec = static_cast<int>((cols + 7) / 8);  // the block's keys, in vectors
      float* sc = s.scores.data();
      scores_for(nvec, &s.q[r * D], s.kt.data(), tile_k, D, sc);
      // Per element: keys outside the row's range or the block, the mask, the bias.
      const int64_t width = 8 * nvec;
      if (p.mask == nullptr && p.bias == nullptr) {  // only the range's edges and the block's padding
        const int64_t first = std::clamp<int64_t>(row_lo - j0, 0, width), end = std::clamp<int64_t>(std::min(row_hi - j0, cols), first, width);
        for (int64_t c = 0; c < first; ++c) sc[c] = -INFINITY;
        for (int64_t c = end; c < width; ++c) sc[c] = -INFINITY;
      } else {
        for (int64_t c = 0; c < width; ++c) {
          const int64_t j = j0 + c;
          if (c >= cols || j < row_lo || j >= row_hi) {
            sc[c] = -INFINITY;
            continue;
          }
          if (p.mask != nullptr && p.mask[b * p.mask_strides[0] + h * p.mask_strides[1] + i * p.mask_strides[2] + j * p.mask_strides[3]] == 0) {
            sc[c] = -INFINITY;
            continue;
          }
          if (p.bias != nullptr)
            sc[c] += static_cast<float>(load(p.bias, p.bias_dtype, b * p.bias_strides[0] + h * p.bias_strides[1] + i * p.bias_strides[2] + j * p.bias_strides[3]));
        }
      }
      __m256 mx = _mm256_loadu_ps(sc);
      for (int x = 1; x < nvec; ++x) mx = _mm256_max_ps(mx, _mm256_loadu_ps(sc + 8 * x));
      const float new_max = std::max(s.row_max[r], hmax(mx));
      if (new_max == -INFINITY) continue;  // nothing allowed yet in this row
      const float correction = std::exp(s.row_max[r] - new_max);  // 0 on the row's first scores
      const __m256 m = _mm256_set1_ps(new_max);
      __m256 sum = _mm256_setzero_ps();
      for (int x = 0; x < nvec; ++x) {
        const __m256 w = exp256(_mm256_sub_ps(_mm256_loadu_ps(sc + 8 * x), m));
        _mm256_storeu_ps(sc + 8 * x, w);
        sum = _mm256_add_ps(sum, w);
      }
      s.row_sum[r] = s.row_sum[r] * correction + hsum(sum);
      s.row_max[r] = new_max;
      accumulate_row(&s.acc[r * Dp], sc, s.v.data(), Dp, cols, correction);
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float l = s.row_sum[r], inv = l > 0.f ? 1.f / l : 0.f;
    float* o = static_cast<float*>(p.out) + b * p.out_strides[0] + (i0 + r) * p.out_strides[1] + h * p.out_strides[2];
    for (int64_t d = 0; d < D; ++d) o[d] = s.acc[r * Dp + d] * inv;
    if (p.lse) p.lse[(b * p.heads + h) * p.nq + i0 + r] = l > 0.f ? s.row_max[r] + std::log(l) : -INFINITY;
  }
}

}  // namespace

void attention_simd(const AttentionParams& p) {
  const int64_t q_tiles = (p.nq + kTileQ - 1) / kTileQ;
  parallel_for(p.batch * p.heads * q_tiles, [&](int64_t task, int) {
    thread_local Scratch scratch;
    run_tile(p, task / (p.heads * q_tiles), task / q_tiles % p.heads, task % q_tiles * kTileQ, scratch);
  });
}

#else
void attention_simd(const AttentionParams&) {}
#endif

}  // namespace nf::cpu

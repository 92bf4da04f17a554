// Dense float32 attention on AVX2/FMA: out = softmax(scale * q k^T + bias, masked) v, and the
// rows' log-sum-exp, flash-style. A task takes a tile of query rows of one (batch, head), as
// tall as keeps about four tasks per thread (32 to 256 rows: a batch-1 ViT's 197 rows are one
// tile), and walks their keys in blocks of tile_k (256 keys where D <= 32, so a ViT's 197 keys
// are one block and a row pays its fixed costs once; 128 to D 64, else 64, to stay in L1 and
// L2): the block's K is packed transposed ([D][tile_k]) and its V row-major with D padded to
// a multiple of 8, once per block for all the tile's rows. Rows go in groups of four: their
// scores are 4 x 3 vector accumulators of FMAs over d per 24 keys, each K vector loaded once
// for the four; an online softmax with a vectorized exp rescales each row's float32
// accumulator; and P.V adds each key's V row times the four rows' weights, each V vector
// loaded once. Key ranges (causal, row_ranges) bound the walk; mask, bias and the ranges'
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

constexpr int kGroup = 4;  // query rows whose scores and P.V share each K and V load

// Keys per block: see the file's first comment.
int64_t key_tile(int64_t D) { return D <= 32 ? 256 : D <= 64 ? 128 : 64; }

// Query rows per task: as many as keep about four tasks per thread (so K and V are packed
// once for many rows), between 32 and 256.
int64_t query_tile(const AttentionParams& p) {
  const int64_t heads = std::max<int64_t>(1, p.batch * p.heads), want = 4 * num_threads();
  const int64_t tiles = std::max<int64_t>(1, (want + heads - 1) / heads);
  return std::clamp<int64_t>((p.nq + tiles - 1) / tiles, 32, 256);
}

// One task's scratch, kept per thread so a task allocates nothing once warm.
struct Scratch {
  std::vector<float> q, kt, v, acc, scores;
  std::vector<float> row_max, row_sum;
};

// R rows' scores for NVEC * 8 keys of the packed block (row stride lds): R x NVEC
// accumulators of FMAs over d, each K vector loaded once for the R rows.
template <int R, int NVEC>
__attribute__((target("avx2,fma"))) void group_scores(const float* q, int64_t D, const float* kt, int64_t ldk, float* scores, int64_t lds) {
  __m256 acc[R][NVEC];
  for (int r = 0; r < R; ++r)
    for (int x = 0; x < NVEC; ++x) acc[r][x] = _mm256_setzero_ps();
  for (int64_t d = 0; d < D; ++d) {
    __m256 k[NVEC];
    for (int x = 0; x < NVEC; ++x) k[x] = _mm256_loadu_ps(kt + d * ldk + 8 * x);
    for (int r = 0; r < R; ++r) {
      const __m256 qd = _mm256_broadcast_ss(q + r * D + d);
      for (int x = 0; x < NVEC; ++x) acc[r][x] = _mm256_fmadd_ps(qd, k[x], acc[r][x]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int x = 0; x < NVEC; ++x) _mm256_storeu_ps(scores + r * lds + 8 * x, acc[r][x]);
}

// R rows' scores for the block's first nvec * 8 keys, 24 at a time.
template <int R>
__attribute__((target("avx2,fma"))) void scores_for(int nvec, const float* q, int64_t D, const float* kt, int64_t ldk, float* scores, int64_t lds) {
  for (int v0 = 0; v0 < nvec; v0 += 3) {
    switch (std::min(3, nvec - v0)) {
      case 1: group_scores<R, 1>(q, D, kt + 8 * v0, ldk, scores + 8 * v0, lds); break;
      case 2: group_scores<R, 2>(q, D, kt + 8 * v0, ldk, scores + 8 * v0, lds); break;
      default: group_scores<R, 3>(q, D, kt + 8 * v0, ldk, scores + 8 * v0, lds); break;
    }
  }
}

// For R rows, out[r][0, NV * 8) = out[r] * corr[r] + sum_c w[r][c] v[c]: each V vector is
// loaded once for the R rows' R x NV accumulators.
template <int R, int NV>
__attribute__((target("avx2,fma"))) void group_weighted(float* out, int64_t ldo, const float* w, int64_t ldw, const float* v, int64_t Dp, int64_t cols,
                                                       const float* corr) {
  __m256 o[R][NV];
  for (int r = 0; r < R; ++r) {
    const __m256 c = _mm256_set1_ps(corr[r]);
    for (int x = 0; x < NV; ++x) o[r][x] = _mm256_mul_ps(_mm256_loadu_ps(out + r * ldo + 8 * x), c);
  }
  for (int64_t c = 0; c < cols; ++c) {
    __m256 vc[NV];
    for (int x = 0; x < NV; ++x) vc[x] = _mm256_loadu_ps(v + c * Dp + 8 * x);
    for (int r = 0; r < R; ++r) {
      const __m256 wc = _mm256_broadcast_ss(w + r * ldw + c);
      for (int x = 0; x < NV; ++x) o[r][x] = _mm256_fmadd_ps(wc, vc[x], o[r][x]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int x = 0; x < NV; ++x) _mm256_storeu_ps(out + r * ldo + 8 * x, o[r][x]);
}

// R rows' outputs, 24 columns (3 vectors) at a time.
template <int R>
__attribute__((target("avx2,fma"))) void accumulate_rows(float* out, const float* w, int64_t ldw, const float* v, int64_t Dp, int64_t cols,
                                                        const float* corr) {
  for (int64_t d0 = 0; d0 < Dp; d0 += 24) {
    switch (std::min<int64_t>(24, Dp - d0) / 8) {
      case 1: group_weighted<R, 1>(out + d0, Dp, w, ldw, v + d0, Dp, cols, corr); break;
      case 2: group_weighted<R, 2>(out + d0, Dp, w, ldw, v + d0, Dp, cols, corr); break;
      default: group_weighted<R, 3>(out + d0, Dp, w, ldw, v + d0, Dp, cols, corr); break;
    }
  }
}

// Turns one row's raw scores (width keys, the block's first `cols` real) into softmax weights
// relative to the row's running max, and returns the correction for its accumulator; a row
// with nothing allowed yet gets zero weights and correction 1.
__attribute__((target("avx2,fma"))) float row_weights(const AttentionParams& p, Scratch& s, int64_t b, int64_t h, int64_t i, int64_t r, int64_t j0,
                                                     int64_t cols, int64_t width, int64_t row_lo, int64_t row_hi, float* sc) {
  const auto zero = [&] {
    std::fill(sc, sc + width, 0.f);
    return 1.f;
  };
  if (row_hi <= j0 || row_lo >= j0 + cols) return zero();  // none of this block's keys for this row
  // Per element: keys outside the row's range or the block, the mask, the bias.
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
  const int64_t nvec = width / 8;
  __m256 mx = _mm256_loadu_ps(sc);
  for (int64_t x = 1; x < nvec; ++x) mx = _mm256_max_ps(mx, _mm256_loadu_ps(sc + 8 * x));
  const float new_max = std::max(s.row_max[r], hmax(mx));
  if (new_max == -INFINITY) return zero();  // nothing allowed yet in this row
  const float correction = std::exp(s.row_max[r] - new_max);  // 0 on the row's first scores
  const __m256 m = _mm256_set1_ps(new_max);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t x = 0; x < nvec; ++x) {
    const __m256 w = exp256(_mm256_sub_ps(_mm256_loadu_ps(sc + 8 * x), m));
    _mm256_storeu_ps(sc + 8 * x, w);
    sum = _mm256_add_ps(sum, w);
  }
  s.row_sum[r] = s.row_sum[r] * correction + hsum(sum);
  s.row_max[r] = new_max;
  return correction;
}

// The block's keys [j0, j0 + cols) of kv head hk: K transposed into s.kt ([D][tile_k], by 8 x 8
// register transposes) and V into s.v ([width][Dp]); keys up to width and columns up to Dp zero.
__attribute__((target("avx2,fma"))) void pack_block(const AttentionParams& p, int64_t b, int64_t hk, int64_t j0, int64_t cols, int64_t width,
                                                    int64_t tile_k, Scratch& s) {
  const int64_t D = p.head_dim, Dp = (D + 7) / 8 * 8;
  const float* k = static_cast<const float*>(p.k) + b * p.k_strides[0] + hk * p.k_strides[2];
  const float* v = static_cast<const float*>(p.v) + b * p.v_strides[0] + hk * p.v_strides[2];
  for (int64_t c0 = 0; c0 < width; c0 += 8) {
    for (int64_t d0 = 0; d0 < D; d0 += 8) {
      const int n = static_cast<int>(std::min<int64_t>(8, D - d0));
      const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      __m256 r[8];
      for (int i = 0; i < 8; ++i) {
        if (c0 + i >= cols) {
          r[i] = _mm256_setzero_ps();
          continue;
        }
        const float* kr = k + (j0 + c0 + i) * p.k_strides[1] + d0;
        r[i] = n == 8 ? _mm256_loadu_ps(kr) : _mm256_maskload_ps(kr, lanes);
      }
      transpose8x8(r);
      for (int dd = 0; dd < n; ++dd) _mm256_storeu_ps(&s.kt[(d0 + dd) * tile_k + c0], r[dd]);
    }
  }
  for (int64_t c = 0; c < width; ++c) {
    float* vd = &s.v[c * Dp];
    if (c < cols)
      std::memcpy(vd, v + (j0 + c) * p.v_strides[1], static_cast<size_t>(D) * sizeof(float));
    else
      std::fill(vd, vd + D, 0.f);
    std::fill(vd + D, vd + Dp, 0.f);  // the padding columns P.V reads
  }
}

__attribute__((target("avx2,fma"))) void run_tile(const AttentionParams& p, int64_t b, int64_t h, int64_t i0, int64_t tile_q, Scratch& s) {
  const int64_t D = p.head_dim, Dp = (D + 7) / 8 * 8, rows = std::min(tile_q, p.nq - i0);
  const int64_t group = p.kv_heads > 0 ? p.heads / p.kv_heads : 1, hk = h / group;
  const float* q = static_cast<const float*>(p.q);
  const int32_t* ranges = p.row_ranges;
  const int64_t tile_k = key_tile(D);
  s.q.resize(static_cast<size_t>(tile_q * D));
  s.kt.resize(static_cast<size_t>(D * tile_k));
  s.v.resize(static_cast<size_t>(tile_k * Dp));
  s.acc.assign(static_cast<size_t>(tile_q * Dp), 0.f);
  s.scores.resize(static_cast<size_t>(kGroup * tile_k));
  s.row_max.assign(static_cast<size_t>(tile_q), -INFINITY);
  s.row_sum.assign(static_cast<size_t>(tile_q), 0.f);
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
    const int64_t cols = std::min(tile_k, key_end - j0), width = (cols + 7) / 8 * 8;
    pack_block(p, b, hk, j0, cols, width, tile_k, s);
    for (int64_t r0 = 0; r0 < rows; r0 += kGroup) {
      const int n = static_cast<int>(std::min<int64_t>(kGroup, rows - r0)), nvec = static_cast<int>(width / 8);
      float* sc = s.scores.data();
      const float* qr = &s.q[r0 * D];
      switch (n) {
        case 1: scores_for<1>(nvec, qr, D, s.kt.data(), tile_k, sc, tile_k); break;
        case 2: scores_for<2>(nvec, qr, D, s.kt.data(), tile_k, sc, tile_k); break;
        case 3: scores_for<3>(nvec, qr, D, s.kt.data(), tile_k, sc, tile_k); break;
        default: scores_for<4>(nvec, qr, D, s.kt.data(), tile_k, sc, tile_k); break;
      }
      float corr[kGroup];
      for (int g = 0; g < n; ++g)
        corr[g] = row_weights(p, s, b, h, i0 + r0 + g, r0 + g, j0, cols, width, lo(r0 + g), hi(r0 + g), sc + g * tile_k);
      float* acc = &s.acc[r0 * Dp];
      switch (n) {
        case 1: accumulate_rows<1>(acc, sc, tile_k, s.v.data(), Dp, cols, corr); break;
        case 2: accumulate_rows<2>(acc, sc, tile_k, s.v.data(), Dp, cols, corr); break;
        case 3: accumulate_rows<3>(acc, sc, tile_k, s.v.data(), Dp, cols, corr); break;
        default: accumulate_rows<4>(acc, sc, tile_k, s.v.data(), Dp, cols, corr); break;
      }
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
  const int64_t tile_q = query_tile(p), q_tiles = (p.nq + tile_q - 1) / tile_q;
  parallel_for(p.batch * p.heads * q_tiles, [&](int64_t task, int) {
    thread_local Scratch scratch;
    run_tile(p, task / (p.heads * q_tiles), task / q_tiles % p.heads, task % q_tiles * tile_q, tile_q, scratch);
  });
}

#else
void attention_simd(const AttentionParams&) {}
#endif

}  // namespace nf::cpu

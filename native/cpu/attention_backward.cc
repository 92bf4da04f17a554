// The attention backward on the host (AttentionBackwardParams and SparseAttentionBackwardParams
// in native/core/ops.h). Per (batch, head), the head's rows of q, k, v and dO are copied into
// float32 [N, D] buffers once, with delta_i = dO_i . O_i and the saved lse; P is recomputed from
// lse one entry at a time, so nothing N x N is ever stored, and float32 accumulates for every
// dtype. Threaded by (batch, kv head) dense and by (batch, head) sparse: each task owns
// the gradients of its heads.
//   dense:  key tiles of kTileK keys outer (their K, V, dK, dV rows stay in cache), the query
//           rows that may see the tile inner (by the causal rule and the key ranges); a row's
//           scores and dP over the tile's keys from K and V transposed, then each allowed
//           (i, j) adds into dV_j, dK_j and dQ_i. The query heads of a kv head (grouped-query
//           attention) run in turn on its K and V, summing their terms of dK and dV.
//   sparse: a pass over the CSR rows computes P and dS at each mask entry (kept per entry: the
//           mask's size, not N x N) and dQ; a pass over the transposed mask (CSC) then sums dK
//           and dV key by key, reading the entries that hold each key.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "backward.h"
#include "elementwise.h"
#include "thread_pool.h"

namespace nf::cpu {
namespace {

constexpr int64_t kTileK = 64;  // keys per tile: 4 buffers of 64 rows (K, V, dK, dV) fit L2 up to D = 256

// The element offset of row n of head (b, h) in a [B, N, H, D] view (strides along B, N, H).
inline int64_t row_at(const int64_t* strides, int64_t b, int64_t n, int64_t h) { return b * strides[0] + n * strides[1] + h * strides[2]; }

// Eight running sums, so that the compiler vectorizes the loop (a single sum must keep its
// order); the sparse backward's scores then differ from its forward's in the last bit at most.
inline float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t d = 0;
  for (; d + 8 <= n; d += 8)
    for (int u = 0; u < 8; ++u) acc[u] += a[d + u] * b[d + u];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; d < n; ++d) s += a[d] * b[d];
  return s;
}

inline void axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t d = 0; d < n; ++d) y[d] += a * x[d];
}

// Rows [0, rows) of head (b, h) of a view into dst [rows, D], as float32.
void gather_head(float* dst, const void* base, DType t, const int64_t* strides, int64_t b, int64_t h, int64_t rows, int64_t D) {
  for (int64_t n = 0; n < rows; ++n) {
    const int64_t o = row_at(strides, b, n, h);
    float* row = dst + n * D;
    if (t == DType::Float32) std::memcpy(row, static_cast<const float*>(base) + o, static_cast<size_t>(D) * sizeof(float));
    else for (int64_t d = 0; d < D; ++d) row[d] = static_cast<float>(load(base, t, o + d));
  }
}

// src [rows, D] into rows [0, rows) of head (b, h) of a view, rounded to its dtype.
void scatter_head(void* base, DType t, const int64_t* strides, int64_t b, int64_t h, const float* src, int64_t rows, int64_t D) {
  for (int64_t n = 0; n < rows; ++n) {
    const int64_t o = row_at(strides, b, n, h);
    const float* row = src + n * D;
    if (t == DType::Float32) std::memcpy(static_cast<float*>(base) + o, row, static_cast<size_t>(D) * sizeof(float));
    else for (int64_t d = 0; d < D; ++d) store(base, t, o + d, row[d]);
  }
}

// One head's operands and gradients as float32 [N, D] rows, reused from head to head. Fwd is
// AttentionParams or SparseAttentionParams, Bwd the backward params that hold it as `fwd`.
struct Head {
  int64_t nq, nk, D;
  std::vector<float> q, k, v, d_out, dq, dk, dv, delta;
  const float* lse = nullptr;  // this head's [nq] row of the forward's lse

  Head(int64_t nq_, int64_t nk_, int64_t D_) : nq(nq_), nk(nk_), D(D_) {
    const auto rows = [&](int64_t n) { return static_cast<size_t>(n * D); };
    q.resize(rows(nq)); d_out.resize(rows(nq)); dq.resize(rows(nq));
    k.resize(rows(nk)); v.resize(rows(nk)); dk.resize(rows(nk)); dv.resize(rows(nk));
    delta.resize(static_cast<size_t>(nq));
  }

  // Loads head (b, h), computes delta_i = sum_d dO_id O_id (the forward's rounded O), and zeroes the gradients.
  template <typename Bwd>
  void begin(const Bwd& p, int64_t b, int64_t h) {
    begin_kv(p, b, h);
    begin_q(p, b, h);
  }

  // Loads kv head (b, hk) and zeroes dK and dV (which sum over the query heads that read it).
  template <typename Bwd>
  void begin_kv(const Bwd& p, int64_t b, int64_t hk) {
    const auto& f = p.fwd;
    gather_head(k.data(), f.k, f.dtype, f.k_strides, b, hk, nk, D);
    gather_head(v.data(), f.v, f.dtype, f.v_strides, b, hk, nk, D);
    std::fill(dk.begin(), dk.end(), 0.f);
    std::fill(dv.begin(), dv.end(), 0.f);
  }

  // Loads query head (b, h) and dO, computes delta, and zeroes dQ.
  template <typename Bwd>
  void begin_q(const Bwd& p, int64_t b, int64_t h) {
    const auto& f = p.fwd;
    gather_head(q.data(), f.q, f.dtype, f.q_strides, b, h, nq, D);
    gather_head(d_out.data(), p.d_out, f.dtype, p.d_out_strides, b, h, nq, D);
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t o = row_at(f.out_strides, b, i, h);
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += static_cast<double>(d_out[i * D + d]) * load(f.out, f.dtype, o + d);
      delta[i] = static_cast<float>(s);
    }
    lse = f.lse + (b * f.heads + h) * nq;
    std::fill(dq.begin(), dq.end(), 0.f);
  }

  // Writes head (b, h) of dq, dk and dv.
  template <typename Bwd>
  void end(const Bwd& p, int64_t b, int64_t h) const {
    end_q(p, b, h);
    end_kv(p, b, h);
  }
  template <typename Bwd>
  void end_q(const Bwd& p, int64_t b, int64_t h) const {
    scatter_head(p.dq, p.fwd.dtype, p.dq_strides, b, h, dq.data(), nq, D);
  }
  template <typename Bwd>
  void end_kv(const Bwd& p, int64_t b, int64_t hk) const {
    scatter_head(p.dk, p.fwd.dtype, p.dk_strides, b, hk, dk.data(), nk, D);
    scatter_head(p.dv, p.fwd.dtype, p.dv_strides, b, hk, dv.data(), nk, D);
  }
};

// Query head (b, h)'s share of the gradients, its kv head's K and V loaded in hd (kt and vt
// transposed): dQ of its rows, and its terms of dK and dV.
void dense_head_backward(const AttentionBackwardParams& bp, Head& hd, const float* kt, const float* vt, int64_t b, int64_t h) {
  const AttentionParams& p = bp.fwd;
  const int64_t nq = p.nq, nk = p.nk, D = p.head_dim;
  const int32_t* ranges = p.row_ranges;
  float scores[kTileK], dp[kTileK];
  float* d_bias = bp.d_bias != nullptr ? bp.d_bias + (b * p.heads + h) * nq * nk : nullptr;
  if (d_bias != nullptr) std::fill(d_bias, d_bias + nq * nk, 0.f);  // zero where not allowed
  const int64_t hl = p.layout_heads == p.heads ? h : 0;
  const uint8_t* mask = p.mask != nullptr ? p.mask + b * p.mask_strides[0] + h * p.mask_strides[1] : nullptr;
  const int64_t bias_base = b * p.bias_strides[0] + h * p.bias_strides[1];
  for (int64_t j0 = 0; j0 < nk; j0 += kTileK) {
    const int64_t j1 = std::min(nk, j0 + kTileK);
    // Only rows i >= j0 see a key of the tile when causal; with key ranges, the rows that allow one.
    int64_t i_begin = p.causal ? j0 : 0, i_end = nq;
    if (bp.col_ranges != nullptr) {
      i_begin = std::max<int64_t>(i_begin, bp.col_ranges[2 * j0]);
      i_end = bp.col_ranges[2 * (j1 - 1) + 1];
    }
    for (int64_t i = i_begin; i < i_end; ++i) {
      const float lse = hd.lse[i];
      if (lse == -INFINITY) continue;  // no allowed key: P = 0, zero gradients
      // The tile's keys this row may see: [jb, je).
      const int64_t jb = ranges != nullptr ? std::max<int64_t>(j0, ranges[2 * i]) : j0;
      const int64_t je = std::min<int64_t>(p.causal ? std::min(j1, i + 1) : j1, ranges != nullptr ? ranges[2 * i + 1] : j1);
      if (je <= jb) continue;
      const int64_t n = je - jb;
      const float* qi = &hd.q[i * D];
      const float* doi = &hd.d_out[i * D];
      float* dqi = &hd.dq[i * D];
      std::fill(scores, scores + n, 0.f);
      std::fill(dp, dp + n, 0.f);
      for (int64_t d = 0; d < D; ++d) {
        axpy(scores, qi[d], &kt[d * nk + jb], n);
        axpy(dp, doi[d], &vt[d * nk + jb], n);
      }
      const uint8_t* layout_row = p.layout != nullptr ? p.layout + (hl * p.layout_rows + i / p.layout_block) * p.layout_cols : nullptr;
      for (int64_t c = 0; c < n; ++c) {
        const int64_t j = jb + c;
        if (mask != nullptr && mask[i * p.mask_strides[2] + j * p.mask_strides[3]] == 0) continue;
        if (layout_row != nullptr && layout_row[j / p.layout_block] == 0) continue;
        float s = scores[c] * p.scale;
        if (p.bias != nullptr) s += static_cast<float>(load(p.bias, p.bias_dtype, bias_base + i * p.bias_strides[2] + j * p.bias_strides[3]));
        const float pij = std::exp(s - lse);
        const float ds = pij * (dp[c] - hd.delta[i]);
        axpy(&hd.dv[j * D], pij, doi, D);
        axpy(&hd.dk[j * D], p.scale * ds, qi, D);
        axpy(dqi, p.scale * ds, &hd.k[j * D], D);
        if (d_bias != nullptr) d_bias[i * nk + j] = ds;
      }
    }
  }
}

}  // namespace

// Per worker of the pool, made by the first task it runs: a call allocates at most one per thread.
template <typename T>
class PerWorker {
 public:
  explicit PerWorker(std::function<T*()> make) : make_(std::move(make)), slots_(static_cast<size_t>(num_threads())) {}
  T& operator[](int worker) {
    auto& slot = slots_[static_cast<size_t>(worker)];
    if (!slot) slot.reset(make_());
    return *slot;
  }

 private:
  std::function<T*()> make_;
  std::vector<std::unique_ptr<T>> slots_;
};

// Each (batch, kv head) is a task of the pool: it owns its kv head's dK and dV and its query
// heads' dQ (and their rows of d_bias), so tasks never write the same memory.
void attention_backward(const AttentionBackwardParams& bp) {
  const AttentionParams& p = bp.fwd;
  const int64_t nq = p.nq, nk = p.nk, D = p.head_dim;
  const int64_t group = p.kv_heads > 0 ? p.heads / p.kv_heads : 1;  // query heads per kv head
  const int64_t kv_heads = p.heads / group;
  // K and V transposed ([D, nk]): a row's scores and dP over a tile's keys are then sums in
  // d order, each vectorized across the keys, and equal to the forward's scores bit for bit.
  struct Scratch {
    Head hd;
    std::vector<float> kt, vt;
  };
  PerWorker<Scratch> scratch([&] { return new Scratch{Head(nq, nk, D), std::vector<float>(D * nk), std::vector<float>(D * nk)}; });
  parallel_for(p.batch * kv_heads, [&](int64_t task, int worker) {
    Scratch& s = scratch[worker];
    Head& hd = s.hd;
    const int64_t b = task / kv_heads, hk = task % kv_heads;
    hd.begin_kv(bp, b, hk);
    for (int64_t j = 0; j < nk; ++j)
      for (int64_t d = 0; d < D; ++d) {
        s.kt[d * nk + j] = hd.k[j * D + d];
        s.vt[d * nk + j] = hd.v[j * D + d];
      }
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {  // dK and dV sum over the group
      hd.begin_q(bp, b, h);
      dense_head_backward(bp, hd, s.kt.data(), s.vt.data(), b, h);
      hd.end_q(bp, b, h);
    }
    hd.end_kv(bp, b, hk);
  });
}

void sparse_attention_backward(const SparseAttentionBackwardParams& bp) {
  const SparseAttentionParams& p = bp.fwd;
  const int64_t nq = p.nq, nk = p.nk, D = p.head_dim;
  // P and dS at each mask entry of the head in hand (the plan was checked whole when made:
  // offsets and indices are in range). A task per (batch, head): it owns that head's gradients.
  struct Scratch {
    Head hd;
    std::vector<float> probs, dscores;
  };
  PerWorker<Scratch> scratch([&] { return new Scratch{Head(nq, nk, D), std::vector<float>(p.nnz), std::vector<float>(p.nnz)}; });
  parallel_for(p.batch * p.heads, [&](int64_t task, int worker) {
    Scratch& s = scratch[worker];
    Head& hd = s.hd;
    std::vector<float>& probs = s.probs;
    std::vector<float>& dscores = s.dscores;
    const int64_t b = task / p.heads, h = task % p.heads;
    hd.begin(bp, b, h);
    const int64_t hm = p.mask_heads == p.heads ? h : 0;
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t r = hm * nq + i;
      const float lse = hd.lse[i];
      const float* qi = &hd.q[i * D];
      const float* doi = &hd.d_out[i * D];
      float* dqi = &hd.dq[i * D];
      for (int64_t e = p.row_offsets[r]; e < p.row_offsets[r + 1]; ++e) {
        const int64_t j = p.col_indices[e];
        float pij = 0.f, ds = 0.f;
        if (lse != -INFINITY) {  // -inf: no key scored, P = 0
          pij = std::exp(dot(qi, &hd.k[j * D], D) * p.scale - lse);
          ds = pij * (dot(doi, &hd.v[j * D], D) - hd.delta[i]);
          axpy(dqi, p.scale * ds, &hd.k[j * D], D);
        }
        probs[e] = pij;
        dscores[e] = ds;
      }
    }
    for (int64_t c = 0; c < nk; ++c) {
      float* dkc = &hd.dk[c * D];
      float* dvc = &hd.dv[c * D];
      for (int64_t t = bp.col_offsets[hm * nk + c]; t < bp.col_offsets[hm * nk + c + 1]; ++t) {
        const int64_t i = bp.row_indices[t], e = bp.csr_index[t];
        axpy(dvc, probs[e], &hd.d_out[i * D], D);
        axpy(dkc, p.scale * dscores[e], &hd.q[i * D], D);
      }
    }
    hd.end(bp, b, h);
  });
}

}  // namespace nf::cpu

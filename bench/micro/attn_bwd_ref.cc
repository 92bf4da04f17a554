// attn_bwd_ref.h's problems and float64 reference, written plainly.
#include "attn_bwd_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace {

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  double uniform() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }  // [0, 1)
};

// x rounded to bfloat16 (so that it is exact in every dtype), tiny values flushed to 0.
float exact(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return std::fabs(x) < 1e-4f ? 0.f : x;
}

}  // namespace

void random_fill(std::vector<float>& x, size_t n, uint64_t seed, float amplitude) {
  Rng r(seed);
  x.resize(n);
  for (float& v : x) v = exact(static_cast<float>((2 * r.uniform() - 1) * amplitude));
}

Problem make_problem(const ProblemSpec& s) {
  Problem p;
  p.B = s.B, p.H = s.H, p.Nq = s.Nq, p.Nk = s.Nk, p.D = s.D, p.causal = s.causal;
  p.Hkv = s.kv_heads > 0 ? s.kv_heads : s.H;
  p.scale = 1.f / std::sqrt(static_cast<float>(s.D));
  const uint64_t seed = static_cast<uint64_t>(s.B * 131 + s.H * 17 + s.Nq * 7 + s.Nk * 3 + s.D);
  random_fill(p.q, static_cast<size_t>(s.B) * s.Nq * s.H * s.D, seed + 1, 2.f);
  random_fill(p.k, static_cast<size_t>(s.B) * s.Nk * p.Hkv * s.D, seed + 2, 2.f);
  random_fill(p.v, static_cast<size_t>(s.B) * s.Nk * p.Hkv * s.D, seed + 3);
  random_fill(p.dout, static_cast<size_t>(s.B) * s.Nq * s.H * s.D, seed + 4);
  Rng r(seed + 5);
  const int empty_row = s.Nq > 5 ? 5 : -1;  // a query row with no allowed key, where masks can make one
  if (s.mask) {
    p.mask.resize(static_cast<size_t>(s.Nq) * s.Nk);
    for (int i = 0; i < s.Nq; ++i)
      for (int j = 0; j < s.Nk; ++j) p.mask[static_cast<size_t>(i) * s.Nk + j] = i != empty_row && r.uniform() < 0.7;
  }
  if (s.bias) random_fill(p.bias, static_cast<size_t>(s.H) * s.Nq * s.Nk, seed + 6);
  if (s.layout_block > 0) {
    const int bs = s.layout_block, rows = (s.Nq + bs - 1) / bs, cols = (s.Nk + bs - 1) / bs;
    p.layout_block = bs;
    p.layout_heads = s.layout_block <= 32 && s.H > 1 ? s.H : 1;
    p.layout.resize(static_cast<size_t>(p.layout_heads) * rows * cols);
    for (int h = 0; h < p.layout_heads; ++h)
      for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) {
          const bool on = (i == j || r.uniform() < 0.35) && !(h == 0 && i == 1);  // block row 1 of head 0: empty rows
          p.layout[(static_cast<size_t>(h) * rows + i) * cols + j] = on;
        }
  }
  if (s.csr_heads > 0) {
    p.mask_heads = s.csr_heads;
    const double density = s.Nk > 250 ? 0.5 : 0.2;
    p.row_off.push_back(0);
    for (int h = 0; h < s.csr_heads; ++h)
      for (int i = 0; i < s.Nq; ++i) {
        for (int j = 0; j < s.Nk; ++j) {
          if (i == empty_row) break;
          if (j == 0 || j == i || r.uniform() < density) p.col_idx.push_back(j);  // column 0: a global token
        }
        p.row_off.push_back(static_cast<int32_t>(p.col_idx.size()));
      }
  }
  return p;
}

void build_csc(const Problem& p, std::vector<int32_t>& col_off, std::vector<int32_t>& row_idx, std::vector<int32_t>& csr_idx) {
  col_off.assign(static_cast<size_t>(p.mask_heads) * p.Nk + 1, 0);
  for (int h = 0; h < p.mask_heads; ++h)
    for (int i = 0; i < p.Nq; ++i)
      for (int e = p.row_off[h * p.Nq + i]; e < p.row_off[h * p.Nq + i + 1]; ++e) ++col_off[h * p.Nk + p.col_idx[e] + 1];
  for (size_t c = 1; c < col_off.size(); ++c) col_off[c] += col_off[c - 1];
  row_idx.resize(p.col_idx.size());
  csr_idx.resize(p.col_idx.size());
  std::vector<int32_t> at(col_off.begin(), col_off.end() - 1);
  for (int h = 0; h < p.mask_heads; ++h)
    for (int i = 0; i < p.Nq; ++i)
      for (int e = p.row_off[h * p.Nq + i]; e < p.row_off[h * p.Nq + i + 1]; ++e) {
        const int32_t slot = at[h * p.Nk + p.col_idx[e]]++;
        row_idx[slot] = i;
        csr_idx[slot] = e;
      }
}

Reference reference(const Problem& p) {
  const int B = p.B, H = p.H, Nq = p.Nq, Nk = p.Nk, D = p.D;
  Reference r;
  r.o.assign(static_cast<size_t>(B) * Nq * H * D, 0);
  r.lse.assign(static_cast<size_t>(B) * H * Nq, 0);
  r.dq.assign(r.o.size(), 0);
  const int Hkv = p.Hkv > 0 ? p.Hkv : H, group = H / Hkv;
  r.dk.assign(static_cast<size_t>(B) * Nk * Hkv * D, 0);
  r.dv.assign(r.dk.size(), 0);
  r.dbias.assign(static_cast<size_t>(B) * H * Nq * Nk, 0);
  const int lrows = p.layout_block ? (Nq + p.layout_block - 1) / p.layout_block : 0;
  const int lcols = p.layout_block ? (Nk + p.layout_block - 1) / p.layout_block : 0;
  // One task per (b, kv head): its query heads in turn, so that no two tasks add into one dK row.
#pragma omp parallel for schedule(dynamic)
  for (int bk = 0; bk < B * Hkv; ++bk)
  for (int h = bk % Hkv * group; h < (bk % Hkv + 1) * group; ++h) {
    const int b = bk / Hkv, bh = b * H + h;
    auto at = [&](int n, int N) { return ((static_cast<size_t>(b) * N + n) * H + h) * D; };
    auto kv_at = [&](int n) { return ((static_cast<size_t>(b) * Nk + n) * Hkv + h / group) * D; };
    std::vector<char> allowed(Nk);
    std::vector<double> s(Nk), pr(Nk);
    for (int i = 0; i < Nq; ++i) {
      std::fill(allowed.begin(), allowed.end(), 0);
      if (p.mask_heads > 0) {
        const int hm = p.mask_heads == 1 ? 0 : h;
        for (int e = p.row_off[hm * Nq + i]; e < p.row_off[hm * Nq + i + 1]; ++e) allowed[p.col_idx[e]] = 1;
      } else {
        for (int j = 0; j < Nk; ++j) {
          bool ok = !(p.causal && j > i);
          if (!p.ranges.empty()) ok = ok && j >= p.ranges[2 * static_cast<size_t>(i)] && j < p.ranges[2 * static_cast<size_t>(i) + 1];
          if (!p.mask.empty()) ok = ok && p.mask[static_cast<size_t>(i) * Nk + j];
          if (!p.layout.empty()) {
            const int hl = p.layout_heads == 1 ? 0 : h;
            ok = ok && p.layout[(static_cast<size_t>(hl) * lrows + i / p.layout_block) * lcols + j / p.layout_block];
          }
          allowed[j] = ok;
        }
      }
      const float* q = &p.q[at(i, Nq)];
      const float* dout = &p.dout[at(i, Nq)];
      double m = -std::numeric_limits<double>::infinity();
      for (int j = 0; j < Nk; ++j) {
        if (!allowed[j]) continue;
        const float* k = &p.k[kv_at(j)];
        double dot = 0;
        for (int c = 0; c < D; ++c) dot += static_cast<double>(q[c]) * k[c];
        s[j] = p.scale * dot + (p.bias.empty() ? 0.0 : p.bias[(static_cast<size_t>(h) * Nq + i) * Nk + j]);
        m = std::max(m, s[j]);
      }
      double l = 0;
      for (int j = 0; j < Nk; ++j)
        if (allowed[j]) l += std::exp(s[j] - m);
      const double lse = l > 0 ? m + std::log(l) : -std::numeric_limits<double>::infinity();
      r.lse[static_cast<size_t>(bh) * Nq + i] = lse;
      double* o = &r.o[at(i, Nq)];
      for (int j = 0; j < Nk; ++j) {
        pr[j] = allowed[j] ? std::exp(s[j] - lse) : 0;
        if (pr[j] == 0) continue;
        const float* v = &p.v[kv_at(j)];
        for (int c = 0; c < D; ++c) o[c] += pr[j] * v[c];
      }
      double delta = 0;
      for (int c = 0; c < D; ++c) delta += dout[c] * o[c];
      double* dq = &r.dq[at(i, Nq)];
      for (int j = 0; j < Nk; ++j) {
        if (pr[j] == 0) continue;
        const float* k = &p.k[kv_at(j)];
        const float* v = &p.v[kv_at(j)];
        double dp = 0;
        for (int c = 0; c < D; ++c) dp += static_cast<double>(dout[c]) * v[c];
        const double ds = pr[j] * (dp - delta);
        r.dbias[(static_cast<size_t>(bh) * Nq + i) * Nk + j] = ds;
        double* dk = &r.dk[kv_at(j)];
        double* dv = &r.dv[kv_at(j)];
        for (int c = 0; c < D; ++c) {
          dq[c] += p.scale * ds * k[c];
          dk[c] += p.scale * ds * q[c];
          dv[c] += pr[j] * dout[c];
        }
      }
    }
  }
  return r;
}

// attn_bwd_check: the CUDA attention backward (dense, block-sparse, CSR; key ranges and
// grouped-query k and v) and the forward's lse and output, called through their launchers,
// against a float64 host reference over awkward shapes; then
// the timing of the dense backward at B8 H16 N4096 D64/D128 float16 (CUDA events, median and
// IQR), for attn_bwd_torch.py to print beside PyTorch's.
//
// Build (repo root; the GPU's arch):
//   nvcc -std=c++17 -O3 -arch=sm_90a --expt-relaxed-constexpr -Xcompiler -fopenmp -Inative \
//     bench/micro/attn_bwd_check.cu bench/micro/attn_bwd_ref.cc native/cuda/attention/*.cu \
//     native/core/sparse_plan.cc native/core/attention_ranges.cc -o attn_bwd_check -lgomp
// Run: ./attn_bwd_check [check|time|all]; exit status 1 when a check fails.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "attn_bwd_ref.h"
#include "core/attention_ranges.h"
#include "core/sparse_plan.h"
#include "cuda/attention/bwd.h"
#include "cuda/attention/bwd_launch.cuh"
#include "cuda/kernels.h"

using namespace nf;

#define CK(x)                                                                                   \
  do {                                                                                          \
    cudaError_t e_ = (x);                                                                       \
    if (e_ != cudaSuccess) {                                                                    \
      std::fprintf(stderr, "%s failed: %s at %s:%d\n", #x, cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(2);                                                                             \
    }                                                                                           \
  } while (0)

namespace {

// Alternative float16 configurations, timed beside the library's (bwd_traits.h).
using AltD64a = cuda::attn::TcBwdTraits<64, 4, 64, 2, 1, 2, 32, 64>;
using AltD64b = cuda::attn::TcBwdTraits<64, 8, 32, 2, 1, 1, 32, 64>;
using AltD128a = cuda::attn::TcBwdTraits<128, 8, 32, 1, 1, 1, 16, 32>;

template <typename T> T from_f(float x);
template <> float from_f<float>(float x) { return x; }
template <> __half from_f<__half>(float x) { return __float2half(x); }
template <> __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
float to_f(float x) { return x; }
float to_f(__half x) { return __half2float(x); }
float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T> DType dtype_of();
template <> DType dtype_of<float>() { return DType::Float32; }
template <> DType dtype_of<__half>() { return DType::Float16; }
template <> DType dtype_of<__nv_bfloat16>() { return DType::BFloat16; }

struct Dev {
  void* p = nullptr;
  explicit Dev(size_t bytes) { CK(cudaMalloc(&p, std::max<size_t>(bytes, 16))); }
  Dev(Dev&& o) noexcept : p(o.p) { o.p = nullptr; }
  Dev(const Dev&) = delete;
  ~Dev() {
    if (p != nullptr) cudaFree(p);
  }
  template <typename U> U* as() const { return static_cast<U*>(p); }
};

template <typename T>
void upload(Dev& d, const std::vector<float>& x) {
  std::vector<T> h(x.size());
  for (size_t i = 0; i < x.size(); ++i) h[i] = from_f<T>(x[i]);
  CK(cudaMemcpy(d.p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
}
template <typename T>
std::vector<float> download(const Dev& d, size_t n) {
  std::vector<T> h(n);
  CK(cudaMemcpy(h.data(), d.p, n * sizeof(T), cudaMemcpyDeviceToHost));
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = to_f(h[i]);
  return x;
}
template <typename I>
Dev upload_ints(const std::vector<I>& x) {
  Dev d(x.size() * sizeof(I));
  if (!x.empty()) CK(cudaMemcpy(d.p, x.data(), x.size() * sizeof(I), cudaMemcpyHostToDevice));
  return d;
}

// max |got - ref| / max |ref| (0 when both vanish), NaN when got holds a non-finite value.
double rel_err(const std::vector<float>& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return NAN;
    num = std::max(num, std::fabs(got[i] - ref[i]));
    den = std::max(den, std::fabs(ref[i]));
  }
  return den > 0 ? num / den : num;
}
// lse: absolute error where the reference is finite; -inf must be -inf.
double lse_err(const std::vector<float>& got, const std::vector<double>& ref) {
  double e = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isinf(ref[i])) {
      if (!(std::isinf(got[i]) && got[i] < 0)) return NAN;
    } else {
      if (!std::isfinite(got[i])) return NAN;
      e = std::max(e, std::fabs(got[i] - ref[i]));
    }
  }
  return e;
}

int failures = 0;

template <typename T>
double tolerance() {
  return std::is_same_v<T, float> ? 1e-4 : std::is_same_v<T, __half> ? 1e-2 : 3e-2;
}

void report(const char* name, const char* dtype, double tol, std::initializer_list<std::pair<const char*, double>> errs) {
  bool ok = true;
  std::string line;
  char buf[64];
  for (const auto& [what, e] : errs) {
    if (e < 0) continue;  // not computed
    std::snprintf(buf, sizeof(buf), " %s %.2e", what, e);
    line += buf;
    ok = ok && std::isfinite(e) && e <= tol;
  }
  std::printf("%-44s %-8s%s  %s\n", name, dtype, line.c_str(), ok ? "ok" : "FAIL");
  if (!ok) ++failures;
}

// q, k, v on the device as [B, N, H, D], or (fused) as views into one [B, N, 3, H, D] tensor.
template <typename T>
struct Inputs {
  Dev qkv, dout, out, lse, dq, dk, dv;
  int64_t q_s[3], k_s[3], v_s[3], o_s[3];
  const T *q, *k, *v;
  Inputs(const Problem& pr, bool fused)
      : qkv((fused ? 3 * static_cast<size_t>(pr.B) * pr.Nq * pr.H * pr.D
                   : static_cast<size_t>(pr.B) * (static_cast<size_t>(pr.Nq) * pr.H + 2 * static_cast<size_t>(pr.Nk) * kv_heads(pr)) * pr.D) * sizeof(T)),
        dout(static_cast<size_t>(pr.B) * pr.Nq * pr.H * pr.D * sizeof(T)),
        out(static_cast<size_t>(pr.B) * pr.Nq * pr.H * pr.D * sizeof(T)),
        lse(static_cast<size_t>(pr.B) * pr.H * pr.Nq * 4),
        dq(static_cast<size_t>(pr.B) * pr.Nq * pr.H * pr.D * sizeof(T)),
        dk(static_cast<size_t>(pr.B) * pr.Nk * kv_heads(pr) * pr.D * sizeof(T)),
        dv(static_cast<size_t>(pr.B) * pr.Nk * kv_heads(pr) * pr.D * sizeof(T)) {
    const int64_t H = pr.H, D = pr.D, Hkv = kv_heads(pr);
    T* base = qkv.as<T>();
    if (fused) {  // Nq == Nk
      std::vector<float> packed(3 * static_cast<size_t>(pr.B) * pr.Nq * H * D);
      for (int b = 0; b < pr.B; ++b)
        for (int n = 0; n < pr.Nq; ++n)
          for (int x = 0; x < H * D; ++x) {
            const size_t src = (static_cast<size_t>(b) * pr.Nq + n) * H * D + x, dst = ((static_cast<size_t>(b) * pr.Nq + n) * 3) * H * D + x;
            packed[dst] = pr.q[src];
            packed[dst + H * D] = pr.k[src];
            packed[dst + 2 * H * D] = pr.v[src];
          }
      upload<T>(qkv, packed);
      const int64_t s[3] = {pr.Nq * 3 * H * D, 3 * H * D, D};
      for (int i = 0; i < 3; ++i) q_s[i] = k_s[i] = v_s[i] = s[i];
      q = base;
      k = base + H * D;
      v = base + 2 * H * D;
    } else {
      std::vector<float> all(pr.q);
      all.insert(all.end(), pr.k.begin(), pr.k.end());
      all.insert(all.end(), pr.v.begin(), pr.v.end());
      upload<T>(qkv, all);
      q = base;
      k = base + static_cast<size_t>(pr.B) * pr.Nq * H * D;
      v = k + static_cast<size_t>(pr.B) * pr.Nk * Hkv * D;
      q_s[0] = pr.Nq * H * D;
      k_s[0] = v_s[0] = pr.Nk * Hkv * D;
      q_s[1] = H * D;
      k_s[1] = v_s[1] = Hkv * D;
      q_s[2] = k_s[2] = v_s[2] = D;
    }
    o_s[0] = pr.Nq * H * D;
    o_s[1] = H * D;
    o_s[2] = D;
    upload<T>(dout, pr.dout);
    // Poison every output: whatever the kernels leave unwritten reads as NaN.
    CK(cudaMemset(out.p, 0xff, static_cast<size_t>(pr.B) * pr.Nq * H * D * sizeof(T)));
    CK(cudaMemset(lse.p, 0xff, static_cast<size_t>(pr.B) * H * pr.Nq * 4));
    CK(cudaMemset(dq.p, 0xff, static_cast<size_t>(pr.B) * pr.Nq * H * D * sizeof(T)));
    CK(cudaMemset(dk.p, 0xff, static_cast<size_t>(pr.B) * pr.Nk * Hkv * D * sizeof(T)));
    CK(cudaMemset(dv.p, 0xff, static_cast<size_t>(pr.B) * pr.Nk * Hkv * D * sizeof(T)));
  }
  static int64_t kv_heads(const Problem& pr) { return pr.Hkv > 0 ? pr.Hkv : pr.H; }
  template <typename P>
  void fill(P& f, const Problem& pr) {
    f.dtype = dtype_of<T>();
    f.q = q;
    f.k = k;
    f.v = v;
    f.out = out.p;
    f.batch = pr.B;
    f.heads = pr.H;
    f.nq = pr.Nq;
    f.nk = pr.Nk;
    f.head_dim = pr.D;
    f.scale = pr.scale;
    f.lse = lse.as<float>();
    for (int i = 0; i < 3; ++i) {
      f.q_strides[i] = q_s[i];
      f.k_strides[i] = k_s[i];
      f.v_strides[i] = v_s[i];
      f.out_strides[i] = o_s[i];
    }
  }
  template <typename P>
  void fill_grads(P& g, const Problem& pr) {
    g.d_out = dout.p;
    g.dq = dq.p;
    g.dk = dk.p;
    g.dv = dv.p;
    for (int i = 0; i < 3; ++i) g.d_out_strides[i] = g.dq_strides[i] = g.dk_strides[i] = g.dv_strides[i] = o_s[i];
    g.dk_strides[0] = g.dv_strides[0] = static_cast<int64_t>(pr.Nk) * kv_heads(pr) * pr.D;
    g.dk_strides[1] = g.dv_strides[1] = kv_heads(pr) * pr.D;
  }
  void compare(const char* name, const Problem& pr, const Reference& ref, double bias_err) {
    const size_t nq = static_cast<size_t>(pr.B) * pr.Nq * pr.H * pr.D, nk = static_cast<size_t>(pr.B) * pr.Nk * kv_heads(pr) * pr.D;
    report(name, std::is_same_v<T, float> ? "float32" : std::is_same_v<T, __half> ? "float16" : "bfloat16", tolerance<T>(),
           {{"out", rel_err(download<T>(out, nq), ref.o)},
            {"lse", lse_err(download<float>(lse, static_cast<size_t>(pr.B) * pr.H * pr.Nq), ref.lse)},
            {"dq", rel_err(download<T>(dq, nq), ref.dq)},
            {"dk", rel_err(download<T>(dk, nk), ref.dk)},
            {"dv", rel_err(download<T>(dv, nk), ref.dv)},
            {"dbias", bias_err}});
  }
};

// A backward configuration other than the library's: its tiling and main kernel.
struct Runner {
  int bm = 0, bn = 0, kd = 0;
  cuda::attn::BwdMainFn main = nullptr;
};
template <typename T, typename Tr>
Runner runner_for() {
  return {Tr::kBM, Tr::kBN, Tr::kD, &cuda::attn::run_attention_bwd_with<T, Tr>};
}
size_t backward_bytes(const AttentionBackwardParams& bp, const Runner& r) {
  return r.main != nullptr ? cuda::attn::backward_workspace_bytes(bp, r.bm, r.bn, r.kd) : cuda::attention_backward_workspace_bytes(bp);
}
template <typename T>
void backward(const AttentionBackwardParams& bp, void* ws, const Runner& r) {
  if (r.main != nullptr) cuda::attn::run_backward<T>(bp, r.bm, r.bn, r.kd, ws, r.main, 0);
  else cuda::launch_attention_backward(bp, ws, 0);
}

// Forward (with lse) then backward through the dense launchers (or `runner`'s configuration).
template <typename T>
void run_dense(const char* name, const Problem& pr, const Reference& ref, bool fused, bool split, bool want_dbias, Runner runner = {}) {
  Inputs<T> in(pr, fused);
  int sm = 0;
  CK(cudaDeviceGetAttribute(&sm, cudaDevAttrMultiProcessorCount, 0));
  AttentionBackwardParams bp;
  AttentionParams& f = bp.fwd;
  in.fill(f, pr);
  f.causal = pr.causal;
  f.kv_heads = Inputs<T>::kv_heads(pr);
  // Key ranges and their transpose, as dispatch uploads them (native/core/attention_ranges.h).
  if (!pr.ranges.empty()) check_row_ranges(pr.ranges.data(), static_cast<int64_t>(pr.ranges.size()), pr.Nq, pr.Nk);
  Dev ranges = upload_ints(pr.ranges);
  Dev col_ranges = upload_ints(pr.ranges.empty() ? std::vector<int32_t>{} : column_ranges(pr.ranges.data(), pr.Nq, pr.Nk));
  if (!pr.ranges.empty()) {
    f.row_ranges = ranges.as<int32_t>();
    bp.col_ranges = col_ranges.as<int32_t>();
  }
  Dev mask(pr.mask.size()), bias(pr.bias.size() * 4), layout(pr.layout.size());
  if (!pr.mask.empty()) {
    CK(cudaMemcpy(mask.p, pr.mask.data(), pr.mask.size(), cudaMemcpyHostToDevice));
    f.mask = mask.as<uint8_t>();
    const int64_t s[4] = {0, 0, pr.Nk, 1};
    std::memcpy(f.mask_strides, s, sizeof(s));
  }
  if (!pr.bias.empty()) {
    CK(cudaMemcpy(bias.p, pr.bias.data(), pr.bias.size() * 4, cudaMemcpyHostToDevice));
    f.bias = bias.p;
    f.bias_dtype = DType::Float32;
    const int64_t s[4] = {0, static_cast<int64_t>(pr.Nq) * pr.Nk, pr.Nk, 1};
    std::memcpy(f.bias_strides, s, sizeof(s));
  }
  BlockLayout bl;
  TileLists lists;
  int64_t tm = 0, tn = 0;
  if (!pr.layout.empty()) {
    CK(cudaMemcpy(layout.p, pr.layout.data(), pr.layout.size(), cudaMemcpyHostToDevice));
    bl.blocks = pr.layout.data();
    bl.count = static_cast<int64_t>(pr.layout.size());
    bl.heads = pr.layout_heads;
    bl.block = pr.layout_block;
    bl.rows = (pr.Nq + pr.layout_block - 1) / pr.layout_block;
    bl.cols = (pr.Nk + pr.layout_block - 1) / pr.layout_block;
    cuda::attention_tile_shape_for(f.dtype, pr.D, &tm, &tn);
    lists = layout_tile_lists(bl, pr.Nq, pr.Nk, tm, tn);
  }
  Dev offsets = upload_ints(lists.offsets), cols = upload_ints(lists.cols);
  if (!pr.layout.empty()) {
    f.layout = layout.as<uint8_t>();
    f.layout_heads = bl.heads;
    f.layout_block = bl.block;
    f.layout_rows = bl.rows;
    f.layout_cols = bl.cols;
    f.tile_offsets = offsets.as<int32_t>();
    f.tile_cols = cols.as<int32_t>();
    f.tile_cols_count = static_cast<int64_t>(lists.cols.size());
    f.tile_heads = bl.heads;
    f.tile_m = tm;
    f.tile_n = tn;
  }
  Dev fws(cuda::attention_workspace_bytes(f, sm));
  cuda::launch_attention(f, split ? fws.p : nullptr, sm, 0);
  in.fill_grads(bp, pr);
  Dev dbias(want_dbias ? static_cast<size_t>(pr.B) * pr.H * pr.Nq * pr.Nk * 4 : 0);
  if (want_dbias) {
    CK(cudaMemset(dbias.p, 0xff, static_cast<size_t>(pr.B) * pr.H * pr.Nq * pr.Nk * 4));
    bp.d_bias = dbias.as<float>();
  }
  Dev bws(backward_bytes(bp, runner));
  backward<T>(bp, bws.p, runner);
  CK(cudaDeviceSynchronize());
  double bias_err = -1;
  if (want_dbias) bias_err = rel_err(download<float>(dbias, static_cast<size_t>(pr.B) * pr.H * pr.Nq * pr.Nk), ref.dbias);
  in.compare(name, pr, ref, bias_err);
}

// Forward (with lse) then backward through the CSR launchers; `segment` splits long rows.
template <typename T>
void run_sparse(const char* name, const Problem& pr, const Reference& ref, int64_t segment) {
  Inputs<T> in(pr, false);
  SparseAttentionBackwardParams bp;
  SparseAttentionParams& f = bp.fwd;
  in.fill(f, pr);
  const int64_t rows = static_cast<int64_t>(pr.mask_heads) * pr.Nq;
  const SparseSchedule s = build_sparse_schedule(pr.row_off.data(), rows, segment);
  std::vector<int32_t> col_off, row_idx, csr_idx;
  build_csc(pr, col_off, row_idx, csr_idx);
  Dev d_ro = upload_ints(pr.row_off), d_ci = upload_ints(pr.col_idx), d_items = upload_ints(s.items), d_merges = upload_ints(s.merges);
  Dev d_co = upload_ints(col_off), d_ri = upload_ints(row_idx), d_cs = upload_ints(csr_idx);
  f.mask_heads = pr.mask_heads;
  f.row_offsets = d_ro.as<int32_t>();
  f.col_indices = d_ci.as<int32_t>();
  f.nnz = static_cast<int64_t>(pr.col_idx.size());
  f.items = d_items.as<int32_t>();
  f.num_items = static_cast<int64_t>(s.items.size() / 4);
  f.lead_items = s.lead_items;
  f.merges = d_merges.as<int32_t>();
  f.num_merges = static_cast<int64_t>(s.merges.size() / 3);
  f.num_slots = s.slots;
  Dev fws(cuda::sparse_attention_workspace_bytes(f));
  cuda::launch_sparse_attention(f, fws.p, 0);
  in.fill_grads(bp, pr);
  bp.col_offsets = d_co.as<int32_t>();
  bp.row_indices = d_ri.as<int32_t>();
  bp.csr_index = d_cs.as<int32_t>();
  Dev bws(cuda::sparse_attention_backward_workspace_bytes(bp));
  cuda::launch_sparse_attention_backward(bp, bws.p, 0);
  CK(cudaDeviceSynchronize());
  in.compare(name, pr, ref, -1);
}

// Key ranges (AttentionParams' row_ranges) for p: block s of qs[s] query rows attends its
// ks[s] keys (packed, or at s * padded) inside the band d - left <= j' <= d + right, d = i' (+ kLen
// - qLen from the bottom right), as ts/attention/attn_bias.ts builds them; left, right < 0: no
// bound. One block of Nq x Nk is a band over the whole matrix (causal from a corner, windows).
void set_ranges(Problem& p, const std::vector<int>& qs, const std::vector<int>& ks, int left, int right, bool bottom_right, int padded = 0) {
  p.ranges.assign(2 * static_cast<size_t>(p.Nq), 0);
  int q0 = 0, k0 = 0;
  for (size_t s = 0; s < qs.size(); ++s) {
    const int start = padded > 0 ? static_cast<int>(s) * padded : k0, off = bottom_right ? ks[s] - qs[s] : 0;
    for (int i = 0; i < qs[s]; ++i) {
      const int lo = std::min(std::max(left < 0 ? 0 : i + off - left, 0), ks[s]);
      const int hi = std::min(std::max(right < 0 ? ks[s] : i + off + right + 1, lo), ks[s]);
      p.ranges[2 * static_cast<size_t>(q0 + i)] = start + lo;
      p.ranges[2 * static_cast<size_t>(q0 + i) + 1] = start + hi;
    }
    q0 += qs[s];
    k0 += ks[s];
  }
}

template <typename Fn>
void all_dtypes(Fn&& fn) {
  fn(float{});
  fn(__half{});
  fn(__nv_bfloat16{});
}

void checks() {
  struct Dense {
    const char* name;
    ProblemSpec spec;
    bool fused, split, dbias;
  };
  const Dense dense[] = {
      {"dense B2 H3 N1 D12", {2, 3, 1, 1, 12}, false, true, false},
      {"dense B2 H2 N197 D12 fused qkv", {2, 2, 197, 197, 12}, true, true, false},
      {"dense B1 H2 N197 D64 causal", {1, 2, 197, 197, 64, true}, false, true, false},
      {"dense B1 H2 N197 D64 causal no split", {1, 2, 197, 197, 64, true}, false, false, false},
      {"dense B1 H2 N197 D128 mask(empty row)+bias", {1, 2, 197, 197, 128, false, true, true}, false, true, true},
      {"dense B1 H2 Nq197 Nk300 D32 causal+mask", {1, 2, 197, 300, 32, true, true}, false, true, false},
      {"dense B1 H2 N1000 D64", {1, 2, 1000, 1000, 64}, false, true, false},
      {"dense B1 H1 N1000 D256", {1, 1, 1000, 1000, 256}, false, true, false},
      {"dense B1 H2 N300 D100 bias dbias", {1, 2, 300, 300, 100, false, false, true}, false, true, true},
      {"block B1 H2 N300 D64 layout(32, per head)", {1, 2, 300, 300, 64, false, false, false, 32}, false, true, false},
      {"block B1 H2 N300 D12 layout(16)+causal", {1, 2, 300, 300, 12, true, false, false, 16}, false, true, false},
      {"block B1 H2 N1000 D128 layout(128)+mask", {1, 2, 1000, 1000, 128, false, true, false, 128}, false, true, false},
  };
  for (const Dense& c : dense) {
    const Problem pr = make_problem(c.spec);
    const Reference ref = reference(pr);
    all_dtypes([&](auto tag) { run_dense<decltype(tag)>(c.name, pr, ref, c.fused, c.split, c.dbias); });
  }
  // The alternative configurations timed below, held to the reference too.
  {
    const Problem pr = make_problem({1, 2, 1000, 1000, 64, true, true});
    const Reference ref = reference(pr);
    run_dense<__half>("alt D64 4 warps BN64 (causal+mask)", pr, ref, false, true, false, runner_for<__half, AltD64a>());
    run_dense<__half>("alt D64 8 warps BM32 (causal+mask)", pr, ref, false, true, false, runner_for<__half, AltD64b>());
  }
  {
    const Problem pr = make_problem({1, 2, 1000, 1000, 128, true, true});
    const Reference ref = reference(pr);
    run_dense<__half>("alt D128 8 warps BN128 BM32 (causal+mask)", pr, ref, false, true, false, runner_for<__half, AltD128a>());
  }
  // Attention biases (key ranges) and grouped-query k and v.
  struct Ranged {
    const char* name;
    ProblemSpec spec;
    std::vector<int> qs, ks;  // blocks (empty: one of Nq x Nk)
    int left, right;
    bool bottom_right, dbias;
    int padded;
  };
  const Ranged ranged[] = {
      {"ranges: causal bottom right Nq100 Nk333 D64", {1, 2, 100, 333, 64}, {}, {}, -1, 0, true, false, 0},
      {"ranges: decode Nq1 Nk4096 D128 (split)", {1, 4, 1, 4096, 128}, {}, {}, -1, 0, true, false, 0},
      {"ranges: causal bottom right Nq300 Nk100 D16", {2, 2, 300, 100, 16}, {}, {}, -1, 0, true, false, 0},
      {"ranges: window (40, 0) N1000 D64 +bias dbias", {1, 2, 1000, 1000, 64, false, false, true}, {}, {}, 40, 0, false, true, 0},
      {"ranges: window (7, 9) bottom right Nq197 Nk500 D32 +mask", {1, 2, 197, 500, 32, false, true}, {}, {}, 7, 9, true, false, 0},
      {"ranges: block-diag [1,197,50,700] D64", {1, 2, 948, 948, 64}, {1, 197, 50, 700}, {1, 197, 50, 700}, -1, -1, false, false, 0},
      {"ranges: block-diag causal [1,197,50,700] D256", {1, 1, 948, 948, 256}, {1, 197, 50, 700}, {1, 197, 50, 700}, -1, 0, false, false, 0},
      {"ranges: block-diag padded keys 64 D12", {1, 2, 73, 192, 12}, {5, 60, 8}, {64, 0, 33}, -1, -1, false, false, 64},
      {"gqa: H8 Hkv2 N300 D64 mask+bias dbias", {1, 8, 300, 300, 64, false, true, true, 0, 0, 2}, {}, {}, -2, -2, false, true, 0},
      {"mqa: H4 Hkv1 block-diag causal br [97,100] D128", {2, 4, 197, 250, 128, false, false, false, 0, 0, 1}, {97, 100}, {120, 130}, -1, 0, true, false, 0},
  };
  for (const Ranged& c : ranged) {
    Problem pr = make_problem(c.spec);
    if (c.left != -2) {  // -2: no ranges (grouped-query alone)
      if (c.qs.empty()) set_ranges(pr, {pr.Nq}, {pr.Nk}, c.left, c.right, c.bottom_right);
      else set_ranges(pr, c.qs, c.ks, c.left, c.right, c.bottom_right, c.padded);
    }
    const Reference ref = reference(pr);
    all_dtypes([&](auto tag) { run_dense<decltype(tag)>(c.name, pr, ref, false, true, c.dbias); });
  }
  struct Sparse {
    const char* name;
    ProblemSpec spec;
    int64_t segment;
  };
  const Sparse sparse[] = {
      {"csr B2 H3 N197 D12 shared(empty row)", {2, 3, 197, 197, 12, false, false, false, 0, 1}, kSparseSegment},
      {"csr B1 H2 N300 D64 per-head, split rows", {1, 2, 300, 300, 64, false, false, false, 0, 2}, 64},
      {"csr B2 H2 N1 D256", {2, 2, 1, 1, 256, false, false, false, 0, 1}, kSparseSegment},
  };
  for (const Sparse& c : sparse) {
    const Problem pr = make_problem(c.spec);
    const Reference ref = reference(pr);
    all_dtypes([&](auto tag) { run_sparse<decltype(tag)>(c.name, pr, ref, c.segment); });
  }
}

// The dense float16 backward at B8 H16 N4096 (D64, D128), with and without dQ: median, IQR.
void timing() {
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  int sm = prop.multiProcessorCount;
  for (int D : {64, 128}) {
    for (bool causal : {false, true}) {
      const int B = 8, H = 16, N = 4096;
      Problem pr;
      pr.B = B, pr.H = H, pr.Nq = pr.Nk = N, pr.D = D, pr.scale = 1.f / std::sqrt(static_cast<float>(D)), pr.causal = causal;
      random_fill(pr.q, static_cast<size_t>(B) * N * H * D, 1);
      random_fill(pr.k, static_cast<size_t>(B) * N * H * D, 2);
      random_fill(pr.v, static_cast<size_t>(B) * N * H * D, 3);
      random_fill(pr.dout, static_cast<size_t>(B) * N * H * D, 4);
      Inputs<__half> in(pr, false);
      AttentionBackwardParams bp;
      in.fill(bp.fwd, pr);
      bp.fwd.causal = causal;
      Dev fws(cuda::attention_workspace_bytes(bp.fwd, sm));
      cuda::launch_attention(bp.fwd, fws.p, sm, 0);
      in.fill_grads(bp, pr);
      std::vector<std::pair<std::string, Runner>> runners = {{"", Runner{}}};
      if (!causal && D == 64) {
        runners.push_back({" alt 4 warps BN64", runner_for<__half, AltD64a>()});
        runners.push_back({" alt 8 warps BM32", runner_for<__half, AltD64b>()});
      }
      if (!causal && D == 128) runners.push_back({" alt 8 warps BN128 BM32", runner_for<__half, AltD128a>()});
      size_t bytes = 0;
      for (const auto& r : runners) bytes = std::max(bytes, backward_bytes(bp, r.second));
      Dev bws(bytes);
      const double flops = 2.5 * 4.0 * B * H * static_cast<double>(N) * N * D / (causal ? 2 : 1);
      for (const auto& [label, runner] : runners) {
        for (bool with_dq : {true, false}) {
          if (!with_dq && !label.empty()) continue;
          AttentionBackwardParams run = bp;
          if (!with_dq) run.dq = nullptr;
          cudaEvent_t e0, e1;
          CK(cudaEventCreate(&e0));
          CK(cudaEventCreate(&e1));
          for (int i = 0; i < 3; ++i) backward<__half>(run, bws.p, runner);
          std::vector<float> ms;
          for (int i = 0; i < 30; ++i) {
            CK(cudaEventRecord(e0));
            backward<__half>(run, bws.p, runner);
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float t = 0;
            CK(cudaEventElapsedTime(&t, e0, e1));
            ms.push_back(t);
          }
          std::sort(ms.begin(), ms.end());
          const float med = ms[ms.size() / 2], iqr = ms[ms.size() * 3 / 4] - ms[ms.size() / 4];
          std::printf("TIME nodeformers bwd B%d H%d N%d D%d float16 %s%s%s: median %.3f ms, IQR %.3f ms, %.1f TFLOP/s (%zu runs)\n", B, H, N,
                      D, causal ? "causal" : "full", label.c_str(), with_dq ? "" : " (no dQ)", med, iqr, flops / (med * 1e-3) / 1e12, ms.size());
          cudaEventDestroy(e0);
          cudaEventDestroy(e1);
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "all";
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
  try {
    if (what == "check" || what == "all") checks();
    if (what == "time" || what == "all") timing();
  } catch (const std::exception& e) {
    std::printf("exception: %s\n", e.what());
    return 2;
  }
  std::printf("%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}

// The dense attention kernels' arguments (filled from AttentionParams by launch.cu) and the
// constants host and device share.
#pragma once
#include <cstdint>

namespace nf::cuda::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

constexpr int ilog2(int x) { return x <= 1 ? 0 : 1 + ilog2(x / 2); }

// The q, k, v and out fields every attention kernel reads (pointers, sizes, strides along B,
// N, H), from AttentionParams or SparseAttentionParams into KernelParams or SparseKernelParams.
template <typename Kernel, typename Params>
void fill_qkv(Kernel& kp, const Params& p) {
  kp.q = p.q;
  kp.k = p.k;
  kp.v = p.v;
  kp.out = p.out;
  kp.heads = static_cast<int>(p.heads);
  kp.nq = static_cast<int>(p.nq);
  kp.nk = static_cast<int>(p.nk);
  kp.d = static_cast<int>(p.head_dim);
  for (int i = 0; i < 3; ++i) {
    kp.q_s[i] = p.q_strides[i];
    kp.k_s[i] = p.k_strides[i];
    kp.v_s[i] = p.v_strides[i];
    kp.o_s[i] = p.out_strides[i];
  }
}

struct KernelParams {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  int heads, nq, nk, d;
  int64_t q_s[3], k_s[3], v_s[3], o_s[3];  // along B, N, H, in elements
  float scale_log2;                        // scale * log2(e)
  int causal;
  const uint8_t* mask;
  int64_t mask_s[4];
  const void* bias;
  int bias_dtype;
  int64_t bias_s[4];
  int vec_q, vec_k, vec_v, vec_o;  // log2 of the elements per global access each view allows
  int m_tiles;                     // query tiles per (batch, head)
  int tiles_per_split;             // key tiles per split (all of them when not split)
  int bh;                          // batch * heads
  float* ws_o;                     // [splits][bh][nq][d] partial outputs, or null (no split)
  float* ws_ml;                    // [splits][bh][nq][2] row max (log2 units), row sum
  // Block sparsity (AttentionParams' tile lists and layout), or nulls.
  const int32_t* tile_offsets;
  const int32_t* tile_cols;
  int tile_cols_count, tile_heads;
  const uint8_t* layout;
  int layout_heads, layout_shift, layout_rows, layout_cols;  // layout_shift = log2(block)
  float* lse;  // [bh][nq] row log-sum-exp (natural log), or null: AttentionParams' lse
  // Attention biases (AttentionParams' kv_heads and row_ranges): query head h reads kv head
  // h / kv_group; ranges, [nq][2] int32 or null, the keys [lo, hi) each query row allows.
  int kv_group;
  const int32_t* ranges;
};

struct CombineParams {
  void* out;
  int heads, nq, d, bh, splits;
  int64_t o_s[3];
  const float* ws_o;
  const float* ws_ml;
  float* lse;  // as KernelParams' lse
};

}  // namespace nf::cuda::attn

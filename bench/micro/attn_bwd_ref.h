// The float64 host reference of attn_bwd_check.cu: random attention problems (dense with mask,
// bias, causal, key ranges, grouped-query k and v, block layout; or a CSR mask) and their
// forward (out, lse) and gradients.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

struct ProblemSpec {
  int B, H, Nq, Nk, D;
  bool causal = false, mask = false, bias = false;
  int layout_block = 0;  // > 0: a random block layout of this block size
  int csr_heads = 0;     // > 0: a random CSR mask of 1 or H heads (the sparse mechanism)
  int kv_heads = 0;      // > 0: k and v with this many heads (grouped-query; H a multiple of it)
};

struct Problem {
  int B = 0, H = 0, Nq = 0, Nk = 0, D = 0;
  int Hkv = 0;  // k's and v's heads
  float scale = 1.f;
  bool causal = false;
  std::vector<float> q, k, v, dout;  // q, dout [B, Nq, H, D], k, v [B, Nk, Hkv, D]; values exact in bfloat16
  std::vector<int32_t> ranges;       // key ranges [Nq][2] (AttentionParams' row_ranges), or empty
  std::vector<uint8_t> mask;         // [Nq, Nk] for every (b, h), or empty
  std::vector<float> bias;           // [H, Nq, Nk] for every b, or empty
  int layout_heads = 0, layout_block = 0;
  std::vector<uint8_t> layout;       // [layout_heads][rows][cols], or empty
  int mask_heads = 0;                // CSR mask of mask_heads heads, or 0
  std::vector<int32_t> row_off, col_idx;
};

struct Reference {
  std::vector<double> o, lse, dq, dk, dv, dbias;  // dbias [B, H, Nq, Nk] = dS
};

void random_fill(std::vector<float>& x, size_t n, uint64_t seed, float amplitude = 1.f);
Problem make_problem(const ProblemSpec& s);
Reference reference(const Problem& p);
// The CSC twin of p's CSR mask: col_off [mask_heads * Nk + 1], row_idx, and csr_idx (the
// entry's position in col_idx).
void build_csc(const Problem& p, std::vector<int32_t>& col_off, std::vector<int32_t>& row_idx, std::vector<int32_t>& csr_idx);

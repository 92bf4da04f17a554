// The op contracts (contracts.h). Messages name the operands as the addon's arguments do;
// test/fuzz.test.ts and test/tensor.test.ts match on them.
#include "contracts.h"

#include <algorithm>
#include <initializer_list>
#include <string>

#include "attention_plans.h"
#include "attention_ranges.h"
#include "error.h"

namespace nf {
namespace {

// Throws InvalidArg "what" unless ok. `what` is a literal, so that a check that passes
// (every one, on every call) builds no string.
void require(bool ok, const char* what) {
  if (!ok) throw Error(ErrorCode::InvalidArg, what);
}

bool same_shape(const TensorView& a, const TensorView& b) {
  if (a.ndim != b.ndim) return false;
  for (int d = 0; d < a.ndim; ++d) {
    if (a.shape[d] != b.shape[d]) return false;
  }
  return true;
}

bool empty(const TensorView& v) { return v.numel() == 0; }

// A view that is written, or read whole (q, k, v), repeats no element: this refuses a forged
// output (threads writing one element) and bounds every kernel's loop by the memory it touches.
void require_dense(const TensorView& v, const char* name) {
  if (!empty(v) && is_broadcast(v)) throw Error(ErrorCode::InvalidArg, std::string(name) + " is a broadcast view (stride 0), which cannot be written");
}

// An optional vector operand: absent, or contiguous with `length` elements of `dtype`.
void check_vector(const TensorView* v, const char* name, DType dtype, int64_t length) {
  if (v == nullptr || (v->dtype == dtype && v->numel() == length && v->is_contiguous())) return;
  throw Error(ErrorCode::InvalidArg, std::string(name) + " must be contiguous, of length " + std::to_string(length) + " and dtype " + dtype_name(dtype));
}

// Two views of `bytes` bytes from a and b are either one or apart.
bool one_or_apart(const void* a, const void* b, int64_t bytes) {
  const auto* a0 = static_cast<const char*>(a);
  const auto* b0 = static_cast<const char*>(b);
  return a0 == b0 || a0 + bytes <= b0 || b0 + bytes <= a0;
}

// out and x of one shape (of rank >= 1 unless `any_rank`), contiguous, of one float dtype.
void check_rows(const TensorView& out, const TensorView& x, bool any_rank) {
  if (any_rank) require(same_shape(out, x), "out and x shapes differ");
  else require(same_shape(out, x) && x.ndim >= 1, "out and x must have one shape of rank >= 1");
  require(out.is_contiguous() && x.is_contiguous(), "out and x must be contiguous");
  require(is_float(x.dtype) && out.dtype == x.dtype, "out and x must share one float dtype");
}

// q, k, v and out as an attention reads them: [B, N, H, D] of one float dtype, unit stride
// along D, q and out [B, Nq, H, D], k and v [B, Nk, H, D], none a broadcast. `grouped`: k and
// v may have Hkv heads instead, H a multiple of Hkv (grouped-query attention).
void check_qkv(const TensorView& out, const TensorView& q, const TensorView& k, const TensorView& v, bool grouped = false) {
  require(q.ndim == 4 && k.ndim == 4 && v.ndim == 4 && out.ndim == 4, "q, k, v and out must be [B, N, H, D]");
  require(q.strides[3] == 1 && k.strides[3] == 1 && v.strides[3] == 1 && out.strides[3] == 1, "q, k, v and out need a unit stride along D");
  require(is_float(q.dtype) && k.dtype == q.dtype && v.dtype == q.dtype && out.dtype == q.dtype, "q, k, v and out must share one float dtype");
  const int64_t h = q.shape[2], hkv = k.shape[2];
  const bool heads_ok = hkv == h || (grouped && hkv > 0 && h % hkv == 0);
  require(same_shape(q, out) && same_shape(k, v) && k.shape[0] == q.shape[0] && heads_ok && k.shape[3] == q.shape[3],
          grouped ? "shapes disagree: q and out [B, Nq, H, D], k and v [B, Nk, Hkv, D] with H a multiple of Hkv"
                  : "shapes disagree: q and out [B, Nq, H, D], k and v [B, Nk, H, D]");
  require_dense(out, "out");
  require_dense(q, "q");
  require_dense(k, "k");
  require_dense(v, "v");
}

// An optional [B, H, Nq, Nk] view, stride 0 where broadcast.
void check_score_view(const TensorView* v, const char* name, const int64_t (&expect)[4]) {
  if (v == nullptr) return;
  if (v->ndim != 4) throw Error(ErrorCode::InvalidArg, std::string(name) + " must be a [B, H, Nq, Nk] view");
  for (int d = 0; d < 4; ++d) {
    if (v->shape[d] != expect[d]) throw Error(ErrorCode::InvalidArg, std::string(name) + " must be broadcast to [B, H, Nq, Nk]");
  }
}

// An encoder block's weight [rows, cols] (cols its input features; rows < 0: any, at least
// 1), contiguous, of x's dtype.
void check_matrix(const TensorView& w, const char* name, DType dtype, int64_t rows, int64_t cols) {
  if (w.dtype == dtype && w.ndim == 2 && (rows < 0 || w.shape[0] == rows) && w.shape[1] == cols && w.shape[0] >= 1 && w.is_contiguous()) return;
  throw Error(ErrorCode::InvalidArg, std::string(name) + " must be a contiguous [" + (rows >= 0 ? std::to_string(rows) : std::string("hidden")) +
                                         ", " + std::to_string(cols) + "] tensor of x's dtype");
}

// Whether ab bytes from a and bb bytes from b share no byte (an empty range shares none).
bool apart(const void* a, int64_t ab, const void* b, int64_t bb) {
  const auto* a0 = static_cast<const char*>(a);
  const auto* b0 = static_cast<const char*>(b);
  return ab == 0 || bb == 0 || a0 + ab <= b0 || b0 + bb <= a0;
}

int64_t bytes_of(const TensorView& v) { return v.numel() * static_cast<int64_t>(dtype_size(v.dtype)); }

// A gradient dx and the tensors it is computed from (dy, and x or y): one shape, contiguous,
// one float dtype; each input either dx itself (in place) or apart from it.
void check_grad_rows(const TensorView& dx, const TensorView& dy, const TensorView& x, const char* x_name) {
  require(same_shape(dx, dy) && same_shape(dx, x) && x.ndim >= 1, "dx, dy and the input must have one shape of rank >= 1");
  require(dx.is_contiguous() && dy.is_contiguous() && x.is_contiguous(), "dx, dy and the input must be contiguous");
  require(is_float(x.dtype) && dx.dtype == x.dtype && dy.dtype == x.dtype, "dx, dy and the input must share one float dtype");
  const int64_t bytes = bytes_of(dx);
  require(one_or_apart(dx.data, dy.data, bytes), "dx must be dy itself or not overlap it");
  if (!one_or_apart(dx.data, x.data, bytes)) throw Error(ErrorCode::InvalidArg, std::string("dx must be ") + x_name + " itself or not overlap it");
}

// An optional gradient vector [cols] of dx's dtype, written after the inputs are read: apart
// from dx and from `other` (the op's other vector gradient).
void check_grad_vector(const TensorView* v, const char* name, const TensorView& dx, const TensorView* other) {
  check_vector(v, name, dx.dtype, dx.cols());
  if (v == nullptr) return;
  const bool ok = apart(v->data, bytes_of(*v), dx.data, bytes_of(dx)) && (other == nullptr || apart(v->data, bytes_of(*v), other->data, bytes_of(*other)));
  if (!ok) throw Error(ErrorCode::InvalidArg, std::string(name) + " must not overlap dx or the other parameter gradient");
}

// The bytes from a view's first element to its last (0 for an empty view; strides are >= 0).
int64_t span_bytes(const TensorView& v) {
  if (empty(v)) return 0;
  int64_t last = 0;
  for (int d = 0; d < v.ndim; ++d) last += (v.shape[d] - 1) * v.strides[d];
  return (last + 1) * static_cast<int64_t>(dtype_size(v.dtype));
}

bool views_apart(const TensorView& a, const TensorView& b) { return apart(a.data, span_bytes(a), b.data, span_bytes(b)); }

// An attention's optional row log-sum-exp output: float32 contiguous [B, H, Nq], apart from out.
void check_lse(const TensorView* lse, const TensorView& out) {
  if (lse == nullptr) return;
  require(lse->dtype == DType::Float32 && lse->ndim == 3 && lse->is_contiguous(), "lse must be a contiguous float32 [B, H, Nq] tensor");
  require(lse->shape[0] == out.shape[0] && lse->shape[1] == out.shape[2] && lse->shape[2] == out.shape[1], "lse must be [B, H, Nq]");
  require(views_apart(*lse, out), "lse must not overlap out");
}

// The gradients of an attention (dq, dk, dv, optional d_bias) against its forward's views: dO of
// out's shape and dtype and each gradient of its input's, unit stride along D; the gradients
// written apart from each other and from every input read (`inputs`, nulls skipped).
void check_attention_grads(const TensorView& d_out, const TensorView& dq, const TensorView& dk, const TensorView& dv, const TensorView* d_bias,
                           const TensorView& out, const TensorView& q, const TensorView& k, const TensorView& v,
                           std::initializer_list<const TensorView*> inputs) {
  require(d_out.ndim == 4 && same_shape(d_out, out) && d_out.dtype == out.dtype && d_out.strides[3] == 1,
          "dout must have out's shape and dtype and a unit stride along D");
  require(dq.ndim == 4 && dk.ndim == 4 && dv.ndim == 4 && same_shape(dq, q) && same_shape(dk, k) && same_shape(dv, v),
          "dq, dk and dv must have q's, k's and v's shapes");
  require(dq.dtype == q.dtype && dk.dtype == q.dtype && dv.dtype == q.dtype, "dq, dk and dv must have q's dtype");
  require(dq.strides[3] == 1 && dk.strides[3] == 1 && dv.strides[3] == 1, "dq, dk and dv need a unit stride along D");
  require_dense(dq, "dq");
  require_dense(dk, "dk");
  require_dense(dv, "dv");
  const TensorView* grads[4] = {&dq, &dk, &dv, d_bias};
  for (int a = 0; a < 4; ++a) {
    if (grads[a] == nullptr) continue;
    for (int b = a + 1; b < 4; ++b) require(grads[b] == nullptr || views_apart(*grads[a], *grads[b]), "dq, dk, dv and dbias must not overlap each other");
    for (const TensorView* in : inputs) require(in == nullptr || views_apart(*grads[a], *in), "the gradients must not overlap an input (q, k, v, out, lse, dout, mask, bias)");
  }
}

}  // namespace

bool is_broadcast(const TensorView& v) {
  for (int d = 0; d < v.ndim; ++d) {
    if (v.shape[d] > 1 && v.strides[d] == 0) return true;
  }
  return false;
}

void check_copy(const TensorView& dst, const TensorView& src) {
  require(same_shape(dst, src), "dst and src shapes differ");
  require_dense(dst, "dst");
}

void check_fill(const TensorView& dst) { require_dense(dst, "dst"); }

void check_copy_peer(const TensorView& dst, const TensorView& src) {
  require(dst.is_contiguous() && src.is_contiguous(), "dst and src must be contiguous");
  require(dst.dtype == src.dtype && dst.numel() == src.numel(), "dst and src must have one dtype and size");
}

void check(const GemmCall& c) {
  const TensorView &a = c.a, &b = c.b, &out = c.c;
  require(a.ndim == 3 && b.ndim == 3 && out.ndim == 3, "a, b and c must be 3-D views");
  require(is_float(a.dtype) && a.dtype == b.dtype && a.dtype == out.dtype, "a, b and c must share one float dtype");
  require(a.strides[2] == 1 && b.strides[2] == 1 && out.is_contiguous(), "matrices need a unit last stride and c must be contiguous");
  const int64_t m = out.shape[1], n = out.shape[2], k = c.trans_a ? a.shape[1] : a.shape[2];
  const int64_t am = c.trans_a ? a.shape[2] : a.shape[1];
  const int64_t bk = c.trans_b ? b.shape[2] : b.shape[1];
  const int64_t bn = c.trans_b ? b.shape[1] : b.shape[2];
  require(am == m && bk == k && bn == n, "inner dimensions do not agree");
  const int64_t batch = out.shape[0];
  require((a.shape[0] == batch || (a.shape[0] == 1 && a.strides[0] == 0)) && (b.shape[0] == batch || (b.shape[0] == 1 && b.strides[0] == 0)),
          "batch sizes do not agree");
  require(a.strides[1] >= a.shape[2] && b.strides[1] >= b.shape[2], "leading dimensions are too small");
  check_vector(c.bias, "bias", out.dtype, n);
  if (c.residual != nullptr) {
    // Added into c: c's own layout, and either c itself (in place) or apart from it.
    const TensorView& r = *c.residual;
    require(r.dtype == out.dtype && same_shape(r, out) && r.is_contiguous(), "residual must be contiguous, of c's shape and dtype");
    require(one_or_apart(r.data, out.data, out.numel() * static_cast<int64_t>(dtype_size(out.dtype))), "residual must be c itself or not overlap it");
    require(c.activation.kind == Activation::None, "a residual cannot be combined with an activation");
  }
  require_dense(out, "c");
}

void check(const NormCall& c) {
  check_rows(c.out, c.x, false);
  check_vector(c.weight, "weight", c.x.dtype, c.x.cols());
  check_vector(c.bias, "bias", c.x.dtype, c.x.cols());
}

void check(const SoftmaxParams& p) {
  check_rows(p.out, p.x, false);
  require(!p.has_mask || (p.mask.dtype == DType::UInt8 && same_shape(p.mask, p.x)), "mask must be uint8 and broadcast to x's shape");
}

void check(const BiasActivationCall& c) {
  check_rows(c.out, c.x, true);
  check_vector(c.bias, "bias", c.x.dtype, c.x.cols());
}

void check(const BinaryParams& p) {
  require(same_shape(p.out, p.a) && same_shape(p.out, p.b), "a and b must be broadcast to out's shape");
  require(p.out.is_contiguous(), "out must be contiguous");
  require(is_float(p.out.dtype) && p.a.dtype == p.out.dtype && p.b.dtype == p.out.dtype, "out, a and b must share one float dtype");
}

void check(const MeanParams& p) {
  require(p.outer >= 0 && p.n >= 0 && p.inner >= 0, "outer, n and inner must be non-negative integers");
  // In doubles, as the sizes came: an int64 product of three could overflow into a match.
  const double outer = static_cast<double>(p.outer), n = static_cast<double>(p.n), inner = static_cast<double>(p.inner);
  require(static_cast<double>(p.x.numel()) == outer * n * inner && static_cast<double>(p.out.numel()) == outer * inner,
          "sizes do not match the tensors");
  require(p.out.is_contiguous() && p.x.is_contiguous(), "out and x must be contiguous");
  require(is_float(p.x.dtype) && p.out.dtype == p.x.dtype, "out and x must share one float dtype");
}

void check(const PatchGatherParams& p) {
  require(p.patch >= 1, "patch must be a positive integer");
  const TensorView &im = p.images, &out = p.out;
  require(im.ndim == 4 && im.is_contiguous() && out.ndim == 3 && out.is_contiguous(), "images must be contiguous [B, C, H, W] and out contiguous 3-D");
  require(im.shape[2] % p.patch == 0 && im.shape[3] % p.patch == 0, "image size must be a multiple of the patch");
  require(out.shape[0] == im.shape[0] && out.shape[1] == (im.shape[2] / p.patch) * (im.shape[3] / p.patch) &&
              out.shape[2] == im.shape[1] * p.patch * p.patch,
          "out must be [B, patches, C * P * P]");
  require(is_float(im.dtype) && is_float(out.dtype), "images and out must be float tensors");
}

void check(const AttentionCall& c) {
  check_qkv(c.out, c.q, c.k, c.v, true);
  const int64_t expect[4] = {c.q.shape[0], c.q.shape[2], c.q.shape[1], c.k.shape[1]};
  check_score_view(c.mask, "mask", expect);
  require(c.mask == nullptr || c.mask->dtype == DType::UInt8, "mask must be uint8");
  check_score_view(c.bias, "bias", expect);
  require(c.bias == nullptr || is_float(c.bias->dtype), "bias must be a float tensor");
  if (c.plan != nullptr) c.plan->check_fits(c.q.shape[2], c.q.shape[1], c.k.shape[1]);
  check_lse(c.lse, c.out);
  if (c.row_ranges != nullptr) {
    require(c.plan == nullptr, "rowRanges cannot be combined with a block plan");
    check_row_ranges(c.row_ranges, c.row_ranges_count, c.q.shape[1], c.k.shape[1]);
  }
}

void check(const SparseAttentionCall& c) {
  check_qkv(c.out, c.q, c.k, c.v);
  require(c.plan != nullptr, "plan must be a SparsePlan (from sparsePlan())");
  require(c.plan->mask_heads == 1 || c.plan->mask_heads == c.q.shape[2], "maskHeads must be 1 or H");
  require(c.plan->rows == c.q.shape[1], "rowOffsets must hold maskHeads * Nq + 1 entries");
  require(c.plan->cols == c.k.shape[1], "the plan's mask must have Nk columns");
  check_lse(c.lse, c.out);
}

void check(const AttentionBackwardCall& c) {
  const AttentionCall& f = c.fwd;
  check(f);
  require(f.lse != nullptr, "lse must be given: the forward's log-sum-exp");
  if (c.d_bias != nullptr) {
    const TensorView& db = *c.d_bias;
    require(db.dtype == DType::Float32 && db.ndim == 4 && db.is_contiguous() && db.shape[0] == f.q.shape[0] && db.shape[1] == f.q.shape[2] &&
                db.shape[2] == f.q.shape[1] && db.shape[3] == f.k.shape[1],
            "dbias must be a contiguous float32 [B, H, Nq, Nk] tensor");
  }
  check_attention_grads(c.d_out, c.dq, c.dk, c.dv, c.d_bias, f.out, f.q, f.k, f.v, {&f.q, &f.k, &f.v, &f.out, f.lse, &c.d_out, f.mask, f.bias});
}

void check(const SparseAttentionBackwardCall& c) {
  const SparseAttentionCall& f = c.fwd;
  check(f);
  require(f.lse != nullptr, "lse must be given: the forward's log-sum-exp");
  require(f.plan->col_offsets != nullptr, "the mask has no transposed plan for the backward: maskHeads * Nk + 1 is past the int32 limit");
  check_attention_grads(c.d_out, c.dq, c.dk, c.dv, nullptr, f.out, f.q, f.k, f.v, {&f.q, &f.k, &f.v, &f.out, f.lse, &c.d_out});
}

void check(const EncoderBlockCall& c) {
  const TensorView &x = c.x, &out = c.out;
  require(x.ndim == 3 && is_float(x.dtype) && x.is_contiguous(), "x must be a contiguous float [B, N, C]");
  require(out.dtype == x.dtype && same_shape(out, x) && out.is_contiguous(), "out must be a contiguous tensor of x's shape and dtype");
  const int64_t M = x.shape[0] * x.shape[1], C = x.shape[2];
  const auto* x0 = static_cast<const char*>(x.data);
  const auto* o0 = static_cast<const char*>(out.data);
  const int64_t bytes = M * C * static_cast<int64_t>(dtype_size(x.dtype));
  require(M == 0 || o0 + bytes <= x0 || x0 + bytes <= o0, "out must not overlap x");
  require(c.heads >= 1 && c.heads <= std::max<int64_t>(C, 1), "heads must be a positive integer of at most C");
  require(C >= 1 && C % c.heads == 0, "C must be a positive multiple of heads");
  check_matrix(c.qkv_weight, "qkv weight", x.dtype, 3 * C, C);
  check_matrix(c.proj_weight, "proj weight", x.dtype, C, C);
  check_matrix(c.fc1_weight, "fc1 weight", x.dtype, -1, C);
  const int64_t hidden = c.fc1_weight.shape[0];
  check_matrix(c.fc2_weight, "fc2 weight", x.dtype, C, hidden);
  check_vector(c.norm1_weight, "norm1 weight", x.dtype, C);
  check_vector(c.norm1_bias, "norm1 bias", x.dtype, C);
  check_vector(c.qkv_bias, "qkv bias", x.dtype, 3 * C);
  check_vector(c.proj_bias, "proj bias", x.dtype, C);
  check_vector(c.norm2_weight, "norm2 weight", x.dtype, C);
  check_vector(c.norm2_bias, "norm2 bias", x.dtype, C);
  check_vector(c.fc1_bias, "fc1 bias", x.dtype, hidden);
  check_vector(c.fc2_bias, "fc2 bias", x.dtype, C);
  if (c.plan != nullptr) {
    require(c.plan->mask_heads == 1 || c.plan->mask_heads == c.heads, "the plan's maskHeads must be 1 or heads");
    require(c.plan->rows == x.shape[1] && c.plan->cols == x.shape[1], "the plan's mask must have N rows and N columns");
  }
}

void check(const NormBackwardCall& c) {
  check_grad_rows(c.dx, c.dy, c.x, "x");
  check_vector(c.weight, "weight", c.x.dtype, c.x.cols());
  check_grad_vector(c.dweight, "dweight", c.dx, c.dbias);
  check_grad_vector(c.dbias, "dbias", c.dx, c.dweight);
}

void check(const SoftmaxBackwardParams& p) {
  check_grad_rows(p.dx, p.dy, p.y, "y");
  require(!p.has_mask || (p.mask.dtype == DType::UInt8 && same_shape(p.mask, p.y)), "mask must be uint8 and broadcast to y's shape");
}

void check(const ActivationBackwardCall& c) {
  check_grad_rows(c.dx, c.dy, c.x, "x");
  check_vector(c.bias, "bias", c.x.dtype, c.x.cols());
  check_grad_vector(c.dbias, "dbias", c.dx, nullptr);
}

void check(const SumRowsParams& p) {
  require(p.x.ndim >= 1 && p.x.is_contiguous() && is_float(p.x.dtype), "x must be a contiguous float tensor of rank >= 1");
  require(p.out.dtype == p.x.dtype && p.out.is_contiguous() && p.out.numel() == p.x.cols(), "out must be contiguous, of x's dtype, with x's last dim of elements");
  require(apart(p.out.data, bytes_of(p.out), p.x.data, bytes_of(p.x)), "out must not overlap x");
}

// ---- random ops (random_ops.h) ----

void check(const DropoutCall& c) {
  check_rows(c.out, c.x, true);
  require(one_or_apart(c.out.data, c.x.data, bytes_of(c.x)), "out must be x itself or not overlap it");
  require(c.p >= 0.0 && c.p <= 1.0, "p must be a probability in [0, 1]");
  require(c.group >= 1, "group must be a positive integer");
  require(c.offset % 4 == 0, "offset must be a multiple of 4 (a call starts on a Philox block)");
}

void check(const PhiloxParams& p) {
  const int64_t n = p.out.ndim == 2 ? p.out.shape[0] : -1;
  require(n >= 0 && p.out.shape[1] == 4 && p.counter.ndim == 2 && p.counter.shape[0] == n && p.counter.shape[1] == 4 &&
              p.key.ndim == 2 && p.key.shape[0] == n && p.key.shape[1] == 2,
          "out and counter must be [n, 4] and key [n, 2]");
  require(p.out.dtype == DType::Int32 && p.counter.dtype == DType::Int32 && p.key.dtype == DType::Int32, "out, counter and key must be int32");
  require(p.out.is_contiguous() && p.counter.is_contiguous() && p.key.is_contiguous(), "out, counter and key must be contiguous");
  require(apart(p.out.data, bytes_of(p.out), p.counter.data, bytes_of(p.counter)) && apart(p.out.data, bytes_of(p.out), p.key.data, bytes_of(p.key)),
          "out must not overlap counter or key");
}

}  // namespace nf

// The patch gather before the patch-embedding GEMM, and its inverse, the scatter of the
// patches' gradient back into the images (patchEmbed's backward):
//   gather:  out[b, py * gw + px, (c * P + y) * P + x] = images[b, c, py * P + y, px * P + x]
//   scatter: images[b, c, py * P + y, px * P + x] = patches[b, py * gw + px, (c * P + y) * P + x]
// images [B, C, H, W] and the patches [B, gh * gw, C * P * P] contiguous (gh = H / P,
// gw = W / P), dtypes may differ (converted through float). Patches of stride P do not
// overlap, so the scatter writes each image element once (a permutation, no sums).
//
// patch_copy_kernel (both directions): a block of (tx, ty) threads takes ty patch rows at a
// time, grid-stride over the B * gh * gw rows; the tx threads of a row walk its C * P * P
// values in vectors of kVec consecutive x (16 bytes of the wider dtype when P, W and both
// pointers allow, else 2 or 1), kUnroll vectors a thread loaded before any is stored.
// Accesses to the patches are fully coalesced; those to the images come in runs of P
// contiguous elements, one per (c, y).
#include <cstdint>
#include <type_traits>

#include "check.h"
#include "dtype_traits.cuh"
#include "kernels.h"
#include "vector.cuh"

namespace nf::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

struct PatchShape {
  int64_t rows;              // B * gh * gw
  int64_t image_stride;      // C * H * W
  int64_t H, W;
  int patches, gw;           // gh * gw, W / P
  int P, PP, patch_len;      // P, P * P, C * P * P
};

// kScatter false: src the images, dst the patches (gather); true: the other way round.
template <typename In, typename Out, int kVec, bool kScatter>
__global__ void __launch_bounds__(kThreads, 2)
patch_copy_kernel(Out* __restrict__ dst, const In* __restrict__ src, PatchShape s) {
  const int vecs = s.patch_len / kVec;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; row < s.rows;
       row += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t b = row / s.patches;
    const int pr = static_cast<int>(row - b * s.patches);
    const int py = pr / s.gw, px = pr - py * s.gw;
    // images[b, 0, py * P, px * P] and the patch's row
    const int64_t image0 = b * s.image_stride + static_cast<int64_t>(py) * s.P * s.W + static_cast<int64_t>(px) * s.P;
    const int64_t patch0 = row * s.patch_len;
    const In* from = src + (kScatter ? patch0 : image0);
    Out* to = dst + (kScatter ? image0 : patch0);
    // Offsets within the patch (k) and within the image from image0.
    auto image_offset = [&](int k) {
      const int c = k / s.PP, rem = k - c * s.PP;
      const int y = rem / s.P, x = rem - y * s.P;
      return (static_cast<int64_t>(c) * s.H + y) * s.W + x;
    };
    // kUnroll vectors a step, all loaded before any is stored: raw bits when the dtypes
    // agree, else converted to float at the load.
    using Held = std::conditional_t<std::is_same_v<In, Out>, Bits<In>, float>;
    for (int v0 = threadIdx.x; v0 < vecs; v0 += kUnroll * blockDim.x) {
      Held held[kUnroll][kVec];
      int64_t image_at[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int k = (v0 + u * static_cast<int>(blockDim.x)) * kVec;
        if (k < s.patch_len) {
          image_at[u] = image_offset(k);
          const Pack<Bits<In>, kVec> pk = *reinterpret_cast<const Pack<Bits<In>, kVec>*>(from + (kScatter ? k : image_at[u]));
#pragma unroll
          for (int j = 0; j < kVec; ++j) {
            if constexpr (std::is_same_v<In, Out>) held[u][j] = pk.v[j];
            else held[u][j] = to_float(from_bits<In>(pk.v[j]));
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int k = (v0 + u * static_cast<int>(blockDim.x)) * kVec;
        if (k < s.patch_len) {
          Out* at = to + (kScatter ? image_at[u] : k);
          if constexpr (std::is_same_v<In, Out>) store_bits<Out, kVec>(at, held[u]);
          else store_vec<kVec>(at, held[u]);
        }
      }
    }
  }
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

template <typename In, typename Out, int kVec, bool kScatter>
void launch_typed(Out* dst, const In* src, const PatchShape& s, cudaStream_t stream) {
  // 32 threads to a row (each kUnroll vectors a step), 8 rows to a block; fewer rows when
  // the patches are so long that a row has more than 32 * kUnroll vectors.
  const int vecs = s.patch_len / kVec;
  int tx = 32;
  while (tx < kThreads && tx * kUnroll * 2 <= vecs) tx *= 2;
  const int ty = kThreads / tx;
  int64_t blocks = (s.rows + ty - 1) / ty;
  if (blocks > (int64_t{1} << 20)) blocks = int64_t{1} << 20;
  patch_copy_kernel<In, Out, kVec, kScatter><<<static_cast<unsigned>(blocks), dim3(tx, ty), 0, stream>>>(dst, src, s);
}

// Runs the kernel in direction kScatter from `src` (dtype src_dtype) to `dst`, for images
// [B, C, H, W] (image_dtype one of the two) and patch P.
template <bool kScatter>
void launch_patch_copy(void* dst, DType dst_dtype, const void* src, DType src_dtype, const int64_t (&im)[4], int64_t P, const char* op,
                       cudaStream_t stream) {
  const int64_t B = im[0], C = im[1], H = im[2], W = im[3];
  if (H % P != 0 || W % P != 0) throw_invalid(std::string(op) + ": image size must be a multiple of the patch");
  if (C * P * P > INT32_MAX || (H / P) * (W / P) > INT32_MAX) throw_invalid(std::string(op) + ": patches too large");
  PatchShape s;
  s.patches = static_cast<int>((H / P) * (W / P));
  s.rows = B * s.patches;
  s.image_stride = C * H * W;
  s.H = H;
  s.W = W;
  s.gw = static_cast<int>(W / P);
  s.P = static_cast<int>(P);
  s.PP = static_cast<int>(P * P);
  s.patch_len = static_cast<int>(C * P * P);
  dispatch_float(src_dtype, op, [&](auto in_tag) {
    using In = decltype(in_tag);
    dispatch_float(dst_dtype, op, [&](auto out_tag) {
      using Out = decltype(out_tag);
      constexpr int kVec = 16 / (sizeof(In) > sizeof(Out) ? sizeof(In) : sizeof(Out));
      auto fits = [&](int64_t v) { return P % v == 0 && W % v == 0 && aligned(src, v * sizeof(In)) && aligned(dst, v * sizeof(Out)); };
      auto* to = static_cast<Out*>(dst);
      const auto* from = static_cast<const In*>(src);
      if (fits(kVec)) launch_typed<In, Out, kVec, kScatter>(to, from, s, stream);
      else if (fits(2)) launch_typed<In, Out, 2, kScatter>(to, from, s, stream);
      else launch_typed<In, Out, 1, kScatter>(to, from, s, stream);
    });
  });
  NF_CHECK_LAUNCH("patch_copy_kernel");
}

}  // namespace

void launch_patch_gather(const PatchGatherParams& p, cudaStream_t stream) {
  if (p.out.numel() == 0 || p.images.numel() == 0) return;
  if (p.images.ndim != 4 || p.out.ndim != 3 || p.patch < 1) throw_invalid("patch_gather: images must be 4-D, out 3-D");
  const int64_t im[4] = {p.images.shape[0], p.images.shape[1], p.images.shape[2], p.images.shape[3]};
  launch_patch_copy<false>(p.out.data, p.out.dtype, p.images.data, p.images.dtype, im, p.patch, "patch_gather", stream);
}

void launch_patch_scatter(const PatchScatterParams& p, cudaStream_t stream) {
  if (p.patches.numel() == 0 || p.images.numel() == 0) return;
  if (p.images.ndim != 4 || p.patches.ndim != 3 || p.patch < 1) throw_invalid("patch_scatter: images must be 4-D, patches 3-D");
  const int64_t im[4] = {p.images.shape[0], p.images.shape[1], p.images.shape[2], p.images.shape[3]};
  launch_patch_copy<true>(p.images.data, p.images.dtype, p.patches.data, p.patches.dtype, im, p.patch, "patch_scatter", stream);
}

}  // namespace nf::cuda

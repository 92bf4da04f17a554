// The patch layout both directions of the patch embedding walk on the host: the gather
// before its GEMM (PatchGatherParams) and the scatter of its image gradient (PatchScatterParams).
#pragma once
#include <cstdint>

#include "../core/tensor.h"

namespace nf::cpu {

// Calls fn(image_offset, patch_offset) for every element of contiguous images [B, C, H, W]
// cut into P x P patches: its offset in the images and in the patches [B, (H/P) * (W/P),
// C * P * P] (each patch's values in (c, y, x) order).
template <typename Fn>
void for_each_patch_element(const TensorView& images, int64_t P, Fn&& fn) {
  const int64_t B = images.shape[0], C = images.shape[1], H = images.shape[2], W = images.shape[3];
  const int64_t gh = H / P, gw = W / P, patch_len = C * P * P;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t py = 0; py < gh; ++py)
      for (int64_t px = 0; px < gw; ++px) {
        const int64_t row = (b * gh * gw + py * gw + px) * patch_len;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t y = 0; y < P; ++y)
            for (int64_t x = 0; x < P; ++x) fn(((b * C + c) * H + py * P + y) * W + px * P + x, row + (c * P + y) * P + x);
      }
}

}  // namespace nf::cpu

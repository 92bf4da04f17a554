// Fast paths of the CPU's elementwise ops for the layouts a model makes most: each returns
// false, doing nothing, where its layout does not hold, and cpu_backend.cc's strided loops
// (every dtype, any strides) run instead. The results are those loops' bit for bit.
#pragma once
#include "../core/ops.h"
#include "../core/tensor.h"

namespace nf::cpu {

// Same dtype, the last dimension contiguous in both (or of size 1): a memcpy per row.
bool copy_rows(const TensorView& dst, const TensorView& src);
// float32, contiguous.
bool fill_contiguous(const TensorView& dst, double value);
// float32 out, a and b; out and a contiguous; b contiguous, or one row broadcast over the
// leading dimensions (strides 0 there, contiguous after): in double per element, rounded
// once (the strided loop's arithmetic), rows split over the thread pool.
bool binary_rows(const BinaryParams& p);

}  // namespace nf::cpu

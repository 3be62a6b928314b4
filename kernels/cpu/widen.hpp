// Inputs arrive as f32 or as bf16 storage; kernels read blocks of rows as f32, widening bf16 rows
// into scratch (the cost is amortised over every query row that uses the block).
#pragma once

#include <vector>

#include "kernels/bf16.hpp"
#include "kernels/fp8.hpp"
#include "kernels/ops.hpp"

namespace costcurve::cpu {

// Rows [0, rows) of `width` values starting `offset` elements into `base`, row stride `ld`
// elements. Returns f32 rows and their stride: in place for f32, widened into `buf` for bf16.
inline const float* rows_f32(const void* base, long offset, long ld, int rows, int width, bool bf16,
                             std::vector<float>& buf, long& ld_out) {
  if (!bf16) {
    ld_out = ld;
    return static_cast<const float*>(base) + offset;
  }
  buf.resize(static_cast<std::size_t>(rows) * width);
  const bf16_bits* src = static_cast<const bf16_bits*>(base) + offset;
  for (int r = 0; r < rows; ++r)
    bf16_to_float(src + r * ld, &buf[static_cast<std::size_t>(r) * width], width);
  ld_out = width;
  return buf.data();
}

// As above for any storage dtype (f32, bf16 or fp8 e4m3).
inline const float* rows_f32(const void* base, long offset, long ld, int rows, int width, DType t,
                             std::vector<float>& buf, long& ld_out) {
  if (t != DType::fp8_e4m3)
    return rows_f32(base, offset, ld, rows, width, t == DType::bf16, buf, ld_out);
  buf.resize(static_cast<std::size_t>(rows) * width);
  const fp8_bits* src = static_cast<const fp8_bits*>(base) + offset;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < width; ++c)
      buf[static_cast<std::size_t>(r) * width + c] = fp8_to_float(src[r * ld + c]);
  ld_out = width;
  return buf.data();
}

}  // namespace costcurve::cpu

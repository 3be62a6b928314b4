// bfloat16 as raw bits: storage format only; all arithmetic happens in fp32.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace costcurve {

using bf16_bits = std::uint16_t;

inline float bf16_to_float(bf16_bits b) {
  return std::bit_cast<float>(std::uint32_t{b} << 16);
}

// Round to nearest even; NaN stays NaN.
inline bf16_bits float_to_bf16(float f) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if (std::isnan(f)) return static_cast<bf16_bits>((u >> 16) | 0x40);
  return static_cast<bf16_bits>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

// Widens n contiguous values.
inline void bf16_to_float(const bf16_bits* src, float* dst, long n) {
  for (long i = 0; i < n; ++i) dst[i] = bf16_to_float(src[i]);
}

}  // namespace costcurve

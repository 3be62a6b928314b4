// fp8 e4m3 ("fn": no infinities, one NaN pattern per sign, largest finite 448) as raw bits:
// storage format only, as on the GPU's tensor cores; all arithmetic happens in fp32 or wider.
#pragma once

#include <cmath>
#include <cstdint>

namespace costcurve {

using fp8_bits = std::uint8_t;

namespace detail {
constexpr float pow2(int e) {
  float r = 1.0f;
  for (; e > 0; --e) r *= 2.0f;
  for (; e < 0; ++e) r *= 0.5f;
  return r;
}
// Every code's value, computed at compile time: decoding is one load (the references decode
// billions of elements at long contexts).
struct Fp8Table {
  float v[256] = {};
  constexpr Fp8Table() {
    for (int b = 0; b < 256; ++b) {
      const int e = (b >> 3) & 0xf, m = b & 7;
      const float mag =
          e == 0 ? static_cast<float>(m) * pow2(-9) : static_cast<float>(8 + m) * pow2(e - 10);
      v[b] = (b & 0x80) ? -mag : mag;
    }
  }
};
inline constexpr Fp8Table kFp8Table{};
}  // namespace detail

inline float fp8_to_float(fp8_bits b) {
  if ((b & 0x7f) == 0x7f) return std::nanf("");
  return detail::kFp8Table.v[b];
}

// Round to nearest even, saturating at +-448 (CUDA's __NV_SATFINITE); NaN stays NaN.
inline fp8_bits float_to_fp8(float f) {
  if (std::isnan(f)) return 0x7f;
  const fp8_bits sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  int code;
  if (a < 0x1p-6f) {
    code = static_cast<int>(std::nearbyint(a * 0x1p9f));  // subnormal; 8 rounds up to 2^-6
  } else {
    int x = 0;
    std::frexp(a, &x);  // a in [2^(x-1), 2^x)
    const int e = x - 1;
    if (e > 8) return sign | 0x7e;
    const int r = static_cast<int>(std::nearbyint(std::ldexp(a, 3 - e)));  // in [8, 16]
    code = ((e + 7) << 3) + (r - 8);  // r == 16 carries into the exponent
  }
  return sign | static_cast<fp8_bits>(code > 0x7e ? 0x7e : code);
}

}  // namespace costcurve

// fp8 e4m3 ("fn": no infinities, one NaN pattern per sign, largest finite 448) as raw bits:
// storage format only, as on the GPU's tensor cores; all arithmetic happens in fp32 or wider.
#pragma once

#include <cmath>
#include <cstdint>

namespace costcurve {

using fp8_bits = std::uint8_t;

inline float fp8_to_float(fp8_bits b) {
  const int e = (b >> 3) & 0xf, m = b & 7;
  if (e == 0xf && m == 7) return std::nanf("");
  const float mag = e == 0 ? std::ldexp(static_cast<float>(m), -9)
                           : std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
  return (b & 0x80) ? -mag : mag;
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

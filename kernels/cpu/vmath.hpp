// Vectorised row primitives for streaming softmax. AVX-512 where the build has it, scalar
// otherwise.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace costcurve::cpu {

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

#if defined(__AVX512F__)
// 2^x for x in [-150, 128): round to nearest n, f = x - n in [-0.5, 0.5], degree-7 Taylor of 2^f
// (truncation error < 1e-8 relative), scaled by 2^n with vscalefps, which underflows cleanly to 0.
inline __m512 exp2_ps(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-150.0f));
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(1.5252734e-5f);                  // ln2^7/7!
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.5403530e-4f));  // ln2^6/6!
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558e-3f));  // ln2^5/5!
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291e-3f));  // ln2^4/4!
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504109e-2f));  // ln2^3/3!
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022651e-1f));  // ln2^2/2!
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));  // ln2
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}
#endif

// max over x[0, n)
inline float row_max(const float* x, int n) {
  int j = 0;
  float m = kNegInf;
#if defined(__AVX512F__)
  __m512 vm = _mm512_set1_ps(kNegInf);
  for (; j + 16 <= n; j += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + j));
  m = _mm512_reduce_max_ps(vm);
#endif
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// x[j] = 2^(x[j] - m) for j < n; returns the sum.
inline float exp2_shift_sum(float* x, int n, float m) {
  int j = 0;
  float s = 0;
#if defined(__AVX512F__)
  const __m512 vmx = _mm512_set1_ps(m);
  __m512 vs = _mm512_setzero_ps();
  for (; j + 16 <= n; j += 16) {
    const __m512 e = exp2_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vmx));
    _mm512_storeu_ps(x + j, e);
    vs = _mm512_add_ps(vs, e);
  }
  s = _mm512_reduce_add_ps(vs);
#endif
  for (; j < n; ++j) {
    x[j] = std::exp2(x[j] - m);
    s += x[j];
  }
  return s;
}

inline void scale_row(float* x, int n, float c) {
  for (int j = 0; j < n; ++j) x[j] *= c;
}

inline void zero_row(float* x, int n) {
  for (int j = 0; j < n; ++j) x[j] = 0.0f;
}

}  // namespace costcurve::cpu

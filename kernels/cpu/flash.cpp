#include "kernels/cpu/flash.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/vmath.hpp"

namespace costcurve::cpu {

void FlashState::reset(int rows_, int d_v_) {
  rows = rows_;
  d_v = d_v_;
  o.assign(static_cast<std::size_t>(rows) * d_v, 0.0f);
  m.assign(rows, kNegInf);
  l.assign(rows, 0.0f);
}

void FlashState::finish(float* out, long ld_out, float* lse, long lse_stride) const {
  for (int r = 0; r < rows; ++r) {
    float* dst = out + r * ld_out;
    const float* src = &o[static_cast<std::size_t>(r) * d_v];
    if (l[r] > 0) {
      const float inv = 1.0f / l[r];
      for (int d = 0; d < d_v; ++d) dst[d] = src[d] * inv;
    } else {
      zero_row(dst, d_v);
    }
    if (lse)
      lse[r * lse_stride] =
          l[r] > 0 ? (m[r] + std::log2(l[r])) * static_cast<float>(M_LN2) : kNegInf;
  }
}

void FlashState::merge(const FlashState& other) {
  for (int r = 0; r < rows; ++r) {
    if (other.l[r] == 0) continue;
    const float mn = std::max(m[r], other.m[r]);
    const float a = l[r] > 0 ? std::exp2(m[r] - mn) : 0.0f;
    const float b = std::exp2(other.m[r] - mn);
    float* dst = &o[static_cast<std::size_t>(r) * d_v];
    const float* src = &other.o[static_cast<std::size_t>(r) * d_v];
    for (int d = 0; d < d_v; ++d) dst[d] = dst[d] * a + src[d] * b;
    l[r] = l[r] * a + other.l[r] * b;
    m[r] = mn;
  }
}

void flash_block(const FlashQuery& q, const float* k, long ldk, const float* v, long ldv, int n,
                 const int* visible, float* s, FlashState& st) {
  sgemm(true, q.rows, n, q.d_qk, q.scale_log2, q.q, q.ldq, k, ldk, 0.0f, s, n);
  bool any = false;
  for (int r = 0; r < q.rows; ++r) {
    float* row = s + static_cast<long>(r) * n;
    const int vis = visible ? visible[r] : n;
    if (vis <= 0) {
      zero_row(row, n);
      continue;
    }
    any = true;
    const float mn = std::max(st.m[r], row_max(row, vis));
    const float sum = exp2_shift_sum(row, vis, mn);
    if (vis < n) zero_row(row + vis, n - vis);
    if (st.m[r] != mn) {
      const float corr = st.l[r] > 0 ? std::exp2(st.m[r] - mn) : 0.0f;
      scale_row(&st.o[static_cast<std::size_t>(r) * st.d_v], st.d_v, corr);
      st.l[r] *= corr;
      st.m[r] = mn;
    }
    st.l[r] += sum;
  }
  if (any) sgemm(false, q.rows, st.d_v, n, 1.0f, s, n, v, ldv, 1.0f, st.o.data(), st.d_v);
}

}  // namespace costcurve::cpu

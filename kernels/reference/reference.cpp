#include "kernels/reference/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace costcurve::ref {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool wanted(const TokenMask* only, std::int64_t token) {
  return !only || (*only)[token];
}

inline double load(float x) {
  return x;
}
inline double load(bf16_bits x) {
  return bf16_to_float(x);
}
inline double load(fp8_bits x) {
  return fp8_to_float(x);
}

template <class A, class T>
double dot(const A* a, const T* b, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += load(a[i]) * load(b[i]);
  return s;
}

// Softmax-weighted sum of `values` rows for one query; scores are already scaled.
template <class T>
void attend(const std::vector<double>& scores, const std::vector<const T*>& values, int d_v,
            double* out, double* lse, const std::vector<double>* vscale = nullptr) {
  std::fill(out, out + d_v, 0.0);
  if (scores.empty()) {
    *lse = kNegInf;
    return;
  }
  const double m = *std::max_element(scores.begin(), scores.end());
  double sum = 0;
  for (std::size_t j = 0; j < scores.size(); ++j) {
    const double p = std::exp(scores[j] - m);
    sum += p;
    const double pv = vscale ? p * (*vscale)[j] : p;
    for (int d = 0; d < d_v; ++d) out[d] += pv * load(values[j][d]);
  }
  for (int d = 0; d < d_v; ++d) out[d] /= sum;
  *lse = m + std::log(sum);
}

// Runs `row(token, head, scores, values)` for every (query token, head) row in parallel; the
// callback lists the keys of that row, attend() does the rest.
template <class T, class Keys>
Attention attention(const Batch& bt, std::int64_t H, int d_v, const TokenMask* only, Keys keys) {
  Attention r;
  r.out.assign(bt.query_rows() * H * d_v, kNaN);
  r.lse.assign(bt.query_rows() * H, kNaN);
  const std::int64_t rows = bt.query_rows() * H;
#pragma omp parallel
  {
    std::vector<double> scores;
    std::vector<const T*> values;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t row = 0; row < rows; ++row) {
      const std::int64_t token = row / H;
      if (!wanted(only, token)) continue;
      scores.clear();
      values.clear();
      keys(token / bt.s_q, token % bt.s_q, row % H, row, scores, values);
      attend(scores, values, d_v, &r.out[row * d_v], &r.lse[row]);
    }
  }
  return r;
}

}  // namespace

Attention sparse_fp8(const MqaShape& s, int top_k, const bf16_bits* q, const fp8_bits* kv,
                     const float* kv_scale, const std::int32_t* indices, const TokenMask* only) {
  check(s);
  check_topk(s.batch, top_k);
  const Batch& bt = s.batch;
  const std::int64_t H = s.heads;
  Attention r;
  r.out.assign(bt.query_rows() * H * s.d_v, kNaN);
  r.lse.assign(bt.query_rows() * H, kNaN);
  const std::int64_t rows = bt.query_rows() * H;
#pragma omp parallel
  {
    std::vector<double> scores, vscale;
    std::vector<const fp8_bits*> values;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t row = 0; row < rows; ++row) {
      const std::int64_t token = row / H, b = token / bt.s_q, i = token % bt.s_q;
      if (!wanted(only, token)) continue;
      scores.clear();
      values.clear();
      vscale.clear();
      const std::int32_t* list = indices + token * top_k;
      for (int j = 0; j < top_k; ++j) {
        const std::int64_t t = list[j];
        if (t < 0 || t > bt.query_pos(b, i)) continue;
        const std::int64_t key = b * bt.capacity + t;
        const fp8_bits* lat = kv + key * s.d_latent;
        const double sc = kv_scale[key];
        scores.push_back(s.scale * sc * dot(q + row * s.d_latent, lat, s.d_latent));
        values.push_back(lat);
        vscale.push_back(sc);
      }
      attend(scores, values, s.d_v, &r.out[row * s.d_v], &r.lse[row], &vscale);
    }
  }
  return r;
}

template <class T>
Attention dense_prefill(const DensePrefillShape& s, const T* q, const T* k, const T* v,
                        const TokenMask* only) {
  check(s);
  const Batch& bt = s.batch;
  const std::int64_t H = s.heads;
  return attention<T>(
      bt, H, s.d_v, only,
      [&](std::int64_t b, std::int64_t i, std::int64_t h, std::int64_t row,
          std::vector<double>& scores, std::vector<const T*>& values) {
        for (std::int64_t t = 0; t <= bt.query_pos(b, i); ++t) {
          const std::int64_t key = (b * bt.capacity + t) * H + h;
          scores.push_back(s.scale * dot(q + row * s.d_qk, k + key * s.d_qk, s.d_qk));
          values.push_back(v + key * s.d_v);
        }
      });
}
template Attention dense_prefill<float>(const DensePrefillShape&, const float*, const float*,
                                        const float*, const TokenMask*);
template Attention dense_prefill<bf16_bits>(const DensePrefillShape&, const bf16_bits*,
                                            const bf16_bits*, const bf16_bits*, const TokenMask*);
template Attention dense_prefill<fp8_bits>(const DensePrefillShape&, const fp8_bits*,
                                           const fp8_bits*, const fp8_bits*, const TokenMask*);

template <class T>
Attention dense_decode(const MqaShape& s, const T* q, const T* kv, const TokenMask* only) {
  check(s);
  const Batch& bt = s.batch;
  return attention<T>(bt, s.heads, s.d_v, only,
                      [&](std::int64_t b, std::int64_t i, std::int64_t, std::int64_t row,
                          std::vector<double>& scores, std::vector<const T*>& values) {
                        for (std::int64_t t = 0; t <= bt.query_pos(b, i); ++t) {
                          const T* lat = kv + (b * bt.capacity + t) * s.d_latent;
                          scores.push_back(s.scale * dot(q + row * s.d_latent, lat, s.d_latent));
                          values.push_back(lat);
                        }
                      });
}

template <class T>
Attention sparse(const MqaShape& s, int top_k, const T* q, const T* kv, const std::int32_t* indices,
                 const TokenMask* only) {
  check(s);
  check_topk(s.batch, top_k);
  const Batch& bt = s.batch;
  return attention<T>(bt, s.heads, s.d_v, only,
                      [&](std::int64_t b, std::int64_t i, std::int64_t, std::int64_t row,
                          std::vector<double>& scores, std::vector<const T*>& values) {
                        const std::int32_t* list = indices + (b * bt.s_q + i) * top_k;
                        for (int j = 0; j < top_k; ++j) {
                          const std::int64_t t = list[j];
                          if (t < 0 || t > bt.query_pos(b, i)) continue;  // invisible: skipped
                          const T* lat = kv + (b * bt.capacity + t) * s.d_latent;
                          scores.push_back(s.scale * dot(q + row * s.d_latent, lat, s.d_latent));
                          values.push_back(lat);
                        }
                      });
}

template <class T>
std::vector<double> indexer(const IndexerShape& s, const T* q, const float* w, const T* k,
                            const float* k_scale, const TokenMask* only) {
  check(s);
  const Batch& bt = s.batch;
  std::vector<double> out(bt.query_rows() * bt.capacity, kNegInf);
  const std::int64_t tokens = bt.query_rows();
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t tok = 0; tok < tokens; ++tok) {
    const std::int64_t b = tok / bt.s_q, i = tok % bt.s_q;
    if (!wanted(only, tok)) {
      std::fill_n(out.begin() + tok * bt.capacity, bt.capacity, kNaN);
      continue;
    }
    for (std::int64_t t = 0; t <= bt.query_pos(b, i); ++t) {
      const std::int64_t key = b * bt.capacity + t;
      double acc = 0;
      for (int j = 0; j < s.heads; ++j) {
        const double d = dot(q + (tok * s.heads + j) * s.dim, k + key * s.dim, s.dim);
        acc += static_cast<double>(w[tok * s.heads + j]) * std::max(d, 0.0);
      }
      out[tok * bt.capacity + t] = acc * (k_scale ? static_cast<double>(k_scale[key]) : 1.0);
    }
  }
  return out;
}

#define COSTCURVE_INSTANTIATE(T)                                                                 \
  template Attention dense_decode<T>(const MqaShape&, const T*, const T*, const TokenMask*);     \
  template Attention sparse<T>(const MqaShape&, int, const T*, const T*, const std::int32_t*,    \
                               const TokenMask*);                                                \
  template std::vector<double> indexer<T>(const IndexerShape&, const T*, const float*, const T*, \
                                          const float*, const TokenMask*);
COSTCURVE_INSTANTIATE(float)
COSTCURVE_INSTANTIATE(bf16_bits)
COSTCURVE_INSTANTIATE(fp8_bits)
#undef COSTCURVE_INSTANTIATE

std::vector<std::int32_t> topk(const Batch& bt, int k, const float* logits, const TokenMask* only) {
  check_topk(bt, k);
  std::vector<std::int32_t> out(bt.query_rows() * k, -1);
  std::vector<std::int32_t> order;
  for (std::int64_t b = 0; b < bt.batch(); ++b)
    for (std::int64_t i = 0; i < bt.s_q; ++i) {
      const std::int64_t row = b * bt.s_q + i;
      if (!wanted(only, row)) {
        std::fill_n(out.begin() + row * k, k, std::numeric_limits<std::int32_t>::min());
        continue;
      }
      const float* x = logits + row * bt.capacity;
      order.resize(bt.query_pos(b, i) + 1);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [x](std::int32_t a, std::int32_t c) {
        const bool na = std::isnan(x[a]), nc = std::isnan(x[c]);
        if (na != nc) return nc;  // numbers before NaN
        if (!na && x[a] != x[c]) return x[a] > x[c];
        return a < c;
      });
      const std::size_t n = std::min<std::size_t>(order.size(), k);
      std::sort(order.begin(), order.begin() + n);
      std::copy(order.begin(), order.begin() + n, out.begin() + row * k);
    }
  return out;
}

template <class T>
std::vector<double> gemm(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, const T* b) {
  std::vector<double> c(m * n, 0.0);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      c[i * n + j] = dot(a + i * k, b + j * k, static_cast<int>(k));
  return c;
}
template std::vector<double> gemm<float>(std::int64_t, std::int64_t, std::int64_t, const float*,
                                         const float*);
template std::vector<double> gemm<bf16_bits>(std::int64_t, std::int64_t, std::int64_t,
                                             const bf16_bits*, const bf16_bits*);
template std::vector<double> gemm<fp8_bits>(std::int64_t, std::int64_t, std::int64_t,
                                            const fp8_bits*, const fp8_bits*);

Error compare(const float* got, const std::vector<double>& ref) {
  Error e;
  e.count = static_cast<std::int64_t>(ref.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double g = got[i], r = ref[i];
    if (std::isnan(r)) continue;  // not computed by the reference (sampled validation)
    if (std::isnan(g)) {
      ++e.bad;
      continue;
    }
    if (!std::isfinite(r) || !std::isfinite(g)) {
      if (g != r) ++e.bad;  // infinities must match exactly
      continue;
    }
    num += (g - r) * (g - r);
    den += r * r;
    e.max_abs = std::max(e.max_abs, std::abs(g - r));
  }
  e.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return e;
}

}  // namespace costcurve::ref

#include "kernels/reference/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace costcurve::ref {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Softmax-weighted sum of `values` rows for one query; scores are already scaled.
void attend(const std::vector<double>& scores, const std::vector<const float*>& values, int d_v,
            double* out, double* lse) {
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
    for (int d = 0; d < d_v; ++d) out[d] += p * values[j][d];
  }
  for (int d = 0; d < d_v; ++d) out[d] /= sum;
  *lse = m + std::log(sum);
}

double dot(const float* a, const float* b, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

}  // namespace

Attention dense_prefill(const DensePrefillShape& s, const float* q, const float* k,
                        const float* v) {
  check(s);
  const Batch& bt = s.batch;
  const std::int64_t H = s.heads;
  Attention r;
  r.out.resize(bt.query_rows() * H * s.d_v);
  r.lse.resize(bt.query_rows() * H);
  std::vector<double> scores;
  std::vector<const float*> vals;
  for (std::int64_t b = 0; b < bt.batch(); ++b)
    for (std::int64_t i = 0; i < bt.s_q; ++i)
      for (std::int64_t h = 0; h < H; ++h) {
        const std::int64_t row = (b * bt.s_q + i) * H + h;
        const float* qv = q + row * s.d_qk;
        scores.clear();
        vals.clear();
        for (std::int64_t t = 0; t <= bt.query_pos(b, i); ++t) {
          const std::int64_t key = (b * bt.capacity + t) * H + h;
          scores.push_back(s.scale * dot(qv, k + key * s.d_qk, s.d_qk));
          vals.push_back(v + key * s.d_v);
        }
        attend(scores, vals, s.d_v, &r.out[row * s.d_v], &r.lse[row]);
      }
  return r;
}

Attention dense_decode(const MqaShape& s, const float* q, const float* kv) {
  check(s);
  const Batch& bt = s.batch;
  const std::int64_t H = s.heads;
  Attention r;
  r.out.resize(bt.query_rows() * H * s.d_v);
  r.lse.resize(bt.query_rows() * H);
  std::vector<double> scores;
  std::vector<const float*> vals;
  for (std::int64_t b = 0; b < bt.batch(); ++b)
    for (std::int64_t i = 0; i < bt.s_q; ++i)
      for (std::int64_t h = 0; h < H; ++h) {
        const std::int64_t row = (b * bt.s_q + i) * H + h;
        scores.clear();
        vals.clear();
        for (std::int64_t t = 0; t <= bt.query_pos(b, i); ++t) {
          const float* lat = kv + (b * bt.capacity + t) * s.d_latent;
          scores.push_back(s.scale * dot(q + row * s.d_latent, lat, s.d_latent));
          vals.push_back(lat);
        }
        attend(scores, vals, s.d_v, &r.out[row * s.d_v], &r.lse[row]);
      }
  return r;
}

Attention sparse(const MqaShape& s, int top_k, const float* q, const float* kv,
                 const std::int32_t* indices) {
  check(s);
  check_topk(s.batch, top_k);
  const Batch& bt = s.batch;
  const std::int64_t H = s.heads;
  Attention r;
  r.out.resize(bt.query_rows() * H * s.d_v);
  r.lse.resize(bt.query_rows() * H);
  std::vector<double> scores;
  std::vector<const float*> vals;
  for (std::int64_t b = 0; b < bt.batch(); ++b)
    for (std::int64_t i = 0; i < bt.s_q; ++i) {
      const std::int32_t* list = indices + (b * bt.s_q + i) * top_k;
      for (std::int64_t h = 0; h < H; ++h) {
        const std::int64_t row = (b * bt.s_q + i) * H + h;
        scores.clear();
        vals.clear();
        for (int j = 0; j < top_k; ++j) {
          const std::int64_t t = list[j];
          if (t < 0 || t > bt.query_pos(b, i)) continue;
          const float* lat = kv + (b * bt.capacity + t) * s.d_latent;
          scores.push_back(s.scale * dot(q + row * s.d_latent, lat, s.d_latent));
          vals.push_back(lat);
        }
        attend(scores, vals, s.d_v, &r.out[row * s.d_v], &r.lse[row]);
      }
    }
  return r;
}

std::vector<double> indexer(const IndexerShape& s, const float* q, const float* w, const float* k,
                            const float* k_scale) {
  check(s);
  const Batch& bt = s.batch;
  std::vector<double> out(bt.query_rows() * bt.capacity, kNegInf);
  for (std::int64_t b = 0; b < bt.batch(); ++b)
    for (std::int64_t i = 0; i < bt.s_q; ++i) {
      const std::int64_t tok = b * bt.s_q + i;
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

std::vector<std::int32_t> topk(const Batch& bt, int k, const float* logits) {
  check_topk(bt, k);
  std::vector<std::int32_t> out(bt.query_rows() * k, -1);
  std::vector<std::int32_t> order;
  for (std::int64_t b = 0; b < bt.batch(); ++b)
    for (std::int64_t i = 0; i < bt.s_q; ++i) {
      const std::int64_t row = b * bt.s_q + i;
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

std::vector<double> gemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                         const float* b) {
  std::vector<double> c(m * n, 0.0);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t p = 0; p < k; ++p) {
      const double x = a[i * k + p];
      for (std::int64_t j = 0; j < n; ++j) c[i * n + j] += x * b[p * n + j];
    }
  return c;
}

Error compare(const float* got, const std::vector<double>& ref) {
  Error e;
  e.count = static_cast<std::int64_t>(ref.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double g = got[i], r = ref[i];
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

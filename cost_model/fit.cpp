#include "cost_model/fit.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace costcurve {
namespace {

// Solves the normal equations for the basis functions in `use` (1, t, t²), weights w = 1/y².
// Returns false when the system is singular.
bool solve_subset(const std::vector<double>& t, const std::vector<double>& y, const bool use[3],
                  double coef[3]) {
  int idx[3], n = 0;
  for (int k = 0; k < 3; ++k)
    if (use[k]) idx[n++] = k;
  double m[3][4] = {};
  // Scale t to [0, 1] for conditioning.
  const double ts = std::max(1.0, *std::max_element(t.begin(), t.end()));
  for (std::size_t i = 0; i < t.size(); ++i) {
    const double w = 1.0 / (y[i] * y[i]);
    const double x = t[i] / ts;
    const double basis[3] = {1.0, x, x * x};
    for (int r = 0; r < n; ++r) {
      for (int c = 0; c < n; ++c) m[r][c] += w * basis[idx[r]] * basis[idx[c]];
      m[r][n] += w * basis[idx[r]] * y[i];
    }
  }
  for (int col = 0; col < n; ++col) {  // Gauss-Jordan with partial pivoting
    int piv = col;
    for (int r = col + 1; r < n; ++r)
      if (std::abs(m[r][col]) > std::abs(m[piv][col])) piv = r;
    if (std::abs(m[piv][col]) < 1e-300) return false;
    std::swap(m[piv], m[col]);
    for (int r = 0; r < n; ++r) {
      if (r == col) continue;
      const double f = m[r][col] / m[col][col];
      for (int c = col; c <= n; ++c) m[r][c] -= f * m[col][c];
    }
  }
  coef[0] = coef[1] = coef[2] = 0;
  for (int r = 0; r < n; ++r) coef[idx[r]] = m[r][n] / m[r][r];
  coef[1] /= ts;
  coef[2] /= ts * ts;
  return true;
}

}  // namespace

Fit fit_nonneg_quadratic(const std::vector<double>& t, const std::vector<double>& y) {
  if (t.size() != y.size() || t.empty()) throw std::invalid_argument("fit: no points");
  for (std::size_t i = 0; i < t.size(); ++i)
    if (!(y[i] > 0) || !std::isfinite(y[i]) || !(t[i] >= 0))
      throw std::invalid_argument("fit: times must be positive and positions non-negative");
  // Non-negative least squares over three coefficients: the optimum lies on one of the seven
  // faces of the feasible cone, so try every subset of active basis functions.
  Fit best;
  double best_err = std::numeric_limits<double>::infinity();
  for (int mask = 1; mask < 8; ++mask) {
    const bool use[3] = {(mask & 1) != 0, (mask & 2) != 0, (mask & 4) != 0};
    int n = use[0] + use[1] + use[2];
    if (n > static_cast<int>(t.size())) continue;
    double c[3];
    if (!solve_subset(t, y, use, c)) continue;
    if (c[0] < 0 || c[1] < 0 || c[2] < 0) continue;
    double err = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
      const double r = (c[0] + c[1] * t[i] + c[2] * t[i] * t[i] - y[i]) / y[i];
      err += r * r;
    }
    if (err < best_err * (1 - 1e-12)) {
      best_err = err;
      best.a = c[0];
      best.b = c[1];
      best.c = c[2];
    }
  }
  best.points = static_cast<int>(t.size());
  best.rel_rms = std::sqrt(best_err / t.size());
  best.t_min = *std::min_element(t.begin(), t.end());
  best.t_max = *std::max_element(t.begin(), t.end());
  return best;
}

}  // namespace costcurve

// Fitting measured per-token times against context position: y(t) = a + b·t + c·t² with
// non-negative coefficients (attention cost can only grow with context), by least squares on
// relative error so short and long contexts weigh alike.
#pragma once

#include <vector>

namespace costcurve {

struct Fit {
  double a = 0, b = 0, c = 0;
  double rel_rms = 0;           // root-mean-square relative error of the fit at the measured points
  double t_min = 0, t_max = 0;  // measured range; outside it the curve is an extrapolation
  int points = 0;
  double operator()(double t) const { return a + b * t + c * t * t; }
  bool extrapolated(double t) const { return t < t_min || t > t_max; }
};

// Needs at least one point with y > 0; all t >= 0. Throws std::invalid_argument otherwise.
Fit fit_nonneg_quadratic(const std::vector<double>& t, const std::vector<double>& y);

}  // namespace costcurve

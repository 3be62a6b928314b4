#include "harness/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace costcurve {
namespace {

double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * (sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

}  // namespace

Summary summarize(std::vector<double> x) {
  Summary s;
  s.n = static_cast<int>(x.size());
  if (x.empty()) return s;
  std::sort(x.begin(), x.end());
  s.min = x.front();
  s.max = x.back();
  s.median = quantile(x, 0.5);
  s.p10 = quantile(x, 0.1);
  s.p90 = quantile(x, 0.9);
  s.mean = std::accumulate(x.begin(), x.end(), 0.0) / s.n;
  if (s.n > 1) {
    double ss = 0;
    for (double v : x) ss += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(ss / (s.n - 1));
    s.cv = s.mean > 0 ? s.stddev / s.mean : 0;
  }
  return s;
}

StopReason should_stop(const StopRule& rule, const std::vector<double>& samples, double spent_s) {
  const int n = static_cast<int>(samples.size());
  if (n >= rule.max_repetitions) return StopReason::max_repetitions;
  if (n < rule.min_repetitions) return StopReason::more;
  if (summarize(samples).cv <= rule.noise_target) return StopReason::noise_target_met;
  if (spent_s >= rule.max_time_s) return StopReason::max_time;
  return StopReason::more;
}

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::more: return "running";
    case StopReason::noise_target_met: return "noise target met";
    case StopReason::max_repetitions: return "repetition cap";
    case StopReason::max_time: return "time budget";
  }
  return "?";
}

}  // namespace costcurve

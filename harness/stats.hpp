// Summary statistics of repeated timings, and the noise criterion that ends a point early.
#pragma once

#include <vector>

namespace costcurve {

struct Summary {
  int n = 0;
  double median = 0, p10 = 0, p90 = 0, mean = 0, stddev = 0, min = 0, max = 0;
  double cv = 0;  // stddev / mean (sample standard deviation); 0 with fewer than two samples
};

// Quantiles by linear interpolation between order statistics; empty input gives n = 0.
Summary summarize(std::vector<double> samples);

struct StopRule {
  int min_repetitions = 3;
  int max_repetitions = 20;
  double noise_target = 0.05;  // coefficient of variation
  double max_time_s = 10;      // timed work spent on the point
};

enum class StopReason { more, noise_target_met, max_repetitions, max_time };
// Whether to take another repetition, as nvbench does: at least min, then until the noise target,
// the repetition cap or the time budget is reached.
StopReason should_stop(const StopRule& rule, const std::vector<double>& samples, double spent_s);
const char* stop_reason_name(StopReason r);

}  // namespace costcurve

// The nightly regression verdict: two results files, point by point, with Google Benchmark's
// tools/compare.py rules plus a threshold, and a check of each curve's slope beyond 64K.
//
// A point regresses only when its median got slower by more than `threshold` (relative) AND a
// two-sided Mann-Whitney U test over the per-repetition samples gives p < alpha; an improvement is
// the mirror image. With fewer than 2 repetitions on either side there is no test (p = 1). With few
// repetitions the test cannot reach small p at all (3 vs 3 never goes below p = 0.1): such points
// carry a note and are counted in the report's warnings, as compare.py warns below 9.
//
// A curve is a point name with its "/L<position>" replaced by "/L*". Its slope is flagged when the
// median relative change over positions >= 65536 exceeds the median over positions < 65536 by more
// than `threshold`, and every long-range point is itself a significant slowdown (p < alpha, change
// > 0): a slowdown that appears only at long context, which uniform thresholds can miss. A flagged
// slope counts as a regression.
//
// Points only in one file are listed (added / removed), never errors; points present in both but
// not ok in both (skipped, failed) are listed as not comparable.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "harness/results.hpp"

namespace costcurve {

struct CompareOptions {
  double threshold = 0.05;  // relative change of the median, e.g. 0.05 for 5%
  double alpha = 0.05;      // significance level of the U test
};

struct PointVerdict {
  std::string name;
  double base_median_s = 0, current_median_s = 0;
  double change = 0;  // (current - base) / base
  double p_value = 1;
  int n_base = 0, n_current = 0;
  bool regression = false, improvement = false;
  std::string note;  // why there is no test, or why it is weak; empty otherwise
  // Against the baseline's build swept beside the current run (apply_beside), when it has the
  // point: the change and p of current vs those, and whether they cleared a regression.
  bool beside_tested = false, cleared_beside = false;
  double beside_change = 0, beside_p = 1;
};

struct SlopeVerdict {
  std::string curve;  // point name with the "/L<position>" part replaced by "/L*"
  double change_short = 0, change_long = 0;  // median relative change, positions < / >= 65536
  int n_short = 0, n_long = 0;               // points behind each median
  bool flagged = false;
  std::string note;
};

inline constexpr std::int64_t kSlopeSplitPosition = 65536;

struct CompareReport {
  std::string baseline, current;  // labels (file names in run_compare)
  std::string beside;             // label of the apply_beside runs; empty when none
  CompareOptions options;
  std::vector<PointVerdict> points;  // in the baseline's order
  std::vector<SlopeVerdict> slopes;  // curves with positions on both sides of 64K, in both files
  std::vector<std::string> added, removed;  // names only in current / only in baseline
  // "<name> (baseline <status>, current <status>[: reason])" for points in both files that are
  // not ok in both (listed, not errors).
  std::vector<std::string> not_comparable;
  // Provenance differences (scenario, backend, host) and weak tests; informational.
  std::vector<std::string> warnings;

  int regression_count() const;
  int improvement_count() const;
  int flagged_slope_count() const;
  bool regression() const;  // any point regression or flagged slope
};

// Guards the verdict against the machine drifting between the baseline's night and today, which
// neither the U test nor a re-run of the current build alone can see (CI's A/A: a pooled baseline
// of two processes at 27.1 us, then the current run 18% and its re-run 12% slower, the same
// binary): `beside` is the baseline's build swept again on the same machine at the same time as
// `cur`. A regression stands only when `cur` is also slower than `beside` (change > threshold and
// p < alpha); otherwise it is cleared (verdict "drift"). A flagged slope stands only when each of
// its long-range points that `beside` holds is a significant slowdown against it too. Points that
// `beside` lacks keep their verdict. Improvements are not touched.
void apply_beside(CompareReport& r, const ResultsFile& cur, const ResultsFile& beside,
                  const std::string& beside_name);

// Throws InputError when threshold is negative or not finite, or alpha is outside (0, 1].
void check_compare_options(const CompareOptions& o);

CompareReport compare_results(const ResultsFile& base, const ResultsFile& cur,
                              const CompareOptions& o, std::string base_name = "baseline",
                              std::string cur_name = "current");

// Two-sided Mann-Whitney U test. Exact distribution when both samples have at most 10 values and
// there are no ties; otherwise the normal approximation with tie correction and continuity
// correction (as scipy.stats.mannwhitneyu). Returns 1 when either sample is empty, when every
// value is equal, or when a value is not finite.
double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b);

// "5%" -> 0.05, "0.05" -> 0.05; throws InputError naming `option` for anything else (negative,
// not finite, trailing text).
double parse_fraction(const std::string& text, const std::string& option);

// A `costcurve sweep --filter` regex (ECMAScript, anchored) that matches exactly the points worth
// measuring again before a regression is believed: every regressed point and every point of a
// flagged curve. Empty when the report has no regression. On a shared machine whole sweeps drift
// by 5-20% from run to run, which no U test over one run's repetitions can see; a slowdown that
// a fresh process measures again is a regression, one that vanishes was the machine
// (README "Nightly regressions").
std::string rerun_filter(const CompareReport& r);

std::string compare_table(const CompareReport& r);     // fixed-width text for a terminal or log
std::string compare_markdown(const CompareReport& r);  // CI logs and pull requests
nlohmann::json compare_json(const CompareReport& r);

// Loads both files, prints the table to `out`, writes the markdown / JSON (atomically) when the
// paths are not empty. Returns 1 on regression, else 0; 2 with the message printed to `out` when
// a file cannot be read or is invalid (InputError), an output cannot be written, or the options
// are out of range.
// `rerun_filter_out`, when not empty, receives rerun_filter() (an empty file without a regression).
// `also_base`: more results files of the baseline's build, measured in other processes; their
// repetitions join the baseline's point by point (pool_baselines).
// `beside`: runs of the baseline's build swept beside `cur` (pooled; apply_beside). Exit 2 when
// they are not of the baseline's build.
int run_compare(const std::filesystem::path& base, const std::filesystem::path& cur,
                const CompareOptions& o, const std::filesystem::path& markdown_out,
                const std::filesystem::path& json_out, std::ostream& out,
                const std::filesystem::path& rerun_filter_out = {},
                const std::vector<std::filesystem::path>& also_base = {},
                const std::vector<std::filesystem::path>& beside = {});

// One baseline from several runs of the same build (same git SHA, backend and scenario version;
// InputError naming the file otherwise): each point's repetitions are the union of its ok runs.
// On shared machines a single process can land fast or slow by 10-30% on some points (memory
// layout, neighbours) for its whole life; pooled processes keep one lucky run from becoming the
// bar that every later run fails.
ResultsFile pool_baselines(const std::vector<ResultsFile>& runs,
                           const std::vector<std::string>& names);

}  // namespace costcurve

// `costcurve compare`: the Mann-Whitney U test against known values, and the regression verdict on
// results files built in memory from seeded noise (A/A, uniform slowdowns, slowdowns beyond 64K,
// points added and removed), its outputs and exit codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <numbers>
#include <random>
#include <regex>
#include <sstream>

#include "harness/json_input.hpp"
#include "harness/results.hpp"
#include "harness/stats.hpp"
#include "reports/compare.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using test::temp_dir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Normal draws from a seeded generator, by Box-Muller on 53-bit uniforms: the same numbers with
// every standard library.
class Noise {
public:
  explicit Noise(std::uint64_t seed) : rng_(seed) {}
  double normal() {
    const double u1 = (static_cast<double>(rng_() >> 11) + 0.5) * 0x1p-53;
    const double u2 = static_cast<double>(rng_() >> 11) * 0x1p-53;
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
  }

private:
  std::mt19937_64 rng_;
};

const std::vector<std::int64_t> kPositions = {1024, 4096, 16384, 32768, 65536, 131072};
constexpr int kCurves = 5;  // 5 curves x 6 positions = 30 points

PointResult timed_point(const std::string& model, std::int64_t position, std::int64_t batch,
                        std::vector<double> samples) {
  PointResult r;
  r.point.backend = "cpu";
  r.point.model = model;
  r.point.op = Op::dense_decode;
  r.point.phase = Phase::decode;
  r.point.position = position;
  r.point.batch = batch;
  r.point.s_q = 2;
  r.name = r.point.name();
  r.validated = true;
  r.rel_l2 = 1e-7;
  r.tolerance = 2e-5;
  r.tokens_checked = r.tokens_total = 2 * batch;
  r.samples_s = std::move(samples);
  r.iterations = 3;
  r.summary = summarize(r.samples_s);
  r.flops = 1e9;
  r.bytes = 1e6;
  r.tokens = static_cast<double>(2 * batch);
  r.floor_s = 1e-4;
  r.bound = "memory";
  r.roofline_fraction = r.summary.median > 0 ? r.floor_s / r.summary.median : 0;
  r.stop_reason = "max repetitions";
  return r;
}

ResultsFile empty_file(const std::string& sha) {
  ResultsFile f;
  f.context = {{"host_name", "test-host"}};
  f.scenario = {{"name", "t"}};
  f.scenario_name = "t";
  f.scenario_hash = "abc";
  f.git_sha = sha;
  f.backend = "cpu";
  return f;
}

// 30 points (5 curves x 6 positions), each `reps` samples around a true time of
// 1 ms x position / 1024 x (curve + 1) x scale(position), with relative noise `noise`.
ResultsFile noisy_file(std::uint64_t seed, double noise, int reps,
                       const std::function<double(std::int64_t)>& scale = {},
                       const std::string& sha = "base") {
  Noise n(seed);
  ResultsFile f = empty_file(sha);
  for (int c = 0; c < kCurves; ++c)
    for (const std::int64_t pos : kPositions) {
      const double t =
          1e-3 * static_cast<double>(pos) / 1024 * (c + 1) * (scale ? scale(pos) : 1.0);
      std::vector<double> s;
      for (int i = 0; i < reps; ++i) s.push_back(t * (1 + noise * n.normal()));
      f.points.push_back(timed_point("m" + std::to_string(c), pos, 1, s));
    }
  return f;
}

// ---- Mann-Whitney U ----

TEST(MannWhitney, ExactCompletelySeparated) {
  const std::vector<double> lo = {1, 2, 3, 4, 5}, hi = {6, 7, 8, 9, 10};
  EXPECT_NEAR(mann_whitney_p(lo, hi), 2.0 / 252, 1e-15);
  EXPECT_NEAR(mann_whitney_p(hi, lo), 2.0 / 252, 1e-15);
  // 3 vs 3 can never go below 2 / C(6, 3) = 0.1: three repetitions cannot reach alpha = 0.05.
  EXPECT_NEAR(mann_whitney_p({1, 2, 3}, {4, 5, 6}), 0.1, 1e-15);
  // 10 vs 10: 2 / C(20, 10).
  std::vector<double> a, b;
  for (int i = 0; i < 10; ++i) a.push_back(i), b.push_back(100 + i);
  EXPECT_NEAR(mann_whitney_p(a, b), 2.0 / 184756, 1e-15);
}

// The exact p against a brute-force enumeration of every split of the pooled values.
double enumerated_p(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> pooled = a;
  pooled.insert(pooled.end(), b.begin(), b.end());
  const int n = static_cast<int>(pooled.size()), n1 = static_cast<int>(a.size());
  const auto u_of = [&](unsigned mask) {
    int u = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        if ((mask >> i & 1) && !(mask >> j & 1) && pooled[i] > pooled[j]) ++u;
    return u;
  };
  const int observed = u_of((1u << n1) - 1);
  double total = 0, below = 0, above = 0;
  for (unsigned mask = 0; mask < (1u << n); ++mask) {
    if (__builtin_popcount(mask) != n1) continue;
    const int u = u_of(mask);
    total += 1;
    below += u <= observed;
    above += u >= observed;
  }
  return std::min(1.0, 2 * std::min(below, above) / total);
}

TEST(MannWhitney, ExactMatchesEnumeration) {
  EXPECT_NEAR(mann_whitney_p({1, 2, 3, 4, 5}, {3.5, 6, 7, 8, 9}), 8.0 / 252, 1e-15);
  EXPECT_NEAR(mann_whitney_p({1.1, 2.2, 6.5, 7.1}, {3.3, 4.4, 5.5, 8.8, 9.9, 10.1}),
              0.2571428571428, 1e-12);
  Noise n(7);
  for (int trial = 0; trial < 20; ++trial) {
    const int n1 = 2 + trial % 5, n2 = 3 + trial % 4;
    std::vector<double> a, b;
    for (int i = 0; i < n1; ++i) a.push_back(n.normal());
    for (int i = 0; i < n2; ++i) b.push_back(n.normal() + 0.5);
    EXPECT_NEAR(mann_whitney_p(a, b), enumerated_p(a, b), 1e-12) << "trial " << trial;
  }
}

TEST(MannWhitney, IdenticalEmptyAndConstantSamplesGiveOne) {
  const std::vector<double> a = {1.0, 1.1, 0.9, 1.05, 0.95};
  EXPECT_DOUBLE_EQ(mann_whitney_p(a, a), 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney_p({}, a), 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney_p(a, {}), 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney_p({2, 2, 2}, {2, 2}), 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney_p({1, 2, NAN}, {3, 4, 5}), 1.0);
}

TEST(MannWhitney, TiesUseTheNormalApproximationWithTieCorrection) {
  // U1 = 6, mu = 21, tie term sum(t^3 - t) = 204; z = (15 - 0.5) / sqrt(42/12 * (14 - 204/156)).
  const double z = 14.5 / std::sqrt(42.0 / 12 * (14 - 204.0 / 156));
  EXPECT_NEAR(mann_whitney_p({1, 1, 1, 2, 2, 3}, {2, 2, 3, 3, 3, 3, 4}),
              std::erfc(z / std::sqrt(2)), 1e-14);
  EXPECT_NEAR(mann_whitney_p({1, 1, 1, 2, 2, 3}, {2, 2, 3, 3, 3, 3, 4}), 0.0295909445934, 1e-12);
}

TEST(MannWhitney, MoreThanTenUsesTheNormalApproximation) {
  std::vector<double> a, b;
  for (int i = 1; i <= 11; ++i) a.push_back(i), b.push_back(11 + i);
  EXPECT_NEAR(mann_whitney_p(a, b), 8.15153612774e-05, 1e-14);
}

TEST(MannWhitney, CalibratedUnderTheNullHypothesis) {
  // 2000 A/A tests of 10 vs 10 draws: P(p < 0.05) is 0.043 for the exact test at these sizes.
  Noise n(2024);
  int rejections = 0;
  constexpr int kTrials = 2000;
  for (int t = 0; t < kTrials; ++t) {
    std::vector<double> a, b;
    for (int i = 0; i < 10; ++i) a.push_back(n.normal()), b.push_back(n.normal());
    rejections += mann_whitney_p(a, b) < 0.05;
  }
  const double rate = static_cast<double>(rejections) / kTrials;
  EXPECT_GT(rate, 0.025);
  EXPECT_LT(rate, 0.065);
}

// ---- the verdict ----

TEST(Compare, AANoRegressionAcrossSeeds) {
  // Independent draws from one distribution (2% noise, 10 repetitions, 30 points): with a 5%
  // threshold a false positive needs a median off by ~4 standard errors, and a significant test.
  int reports_with_regression = 0, points_flagged = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const CompareReport r = compare_results(
        noisy_file(seed * 1000, 0.02, 10), noisy_file(seed * 1000 + 1, 0.02, 10), CompareOptions{});
    ASSERT_EQ(r.points.size(), 30u);
    EXPECT_TRUE(r.added.empty());
    EXPECT_TRUE(r.removed.empty());
    EXPECT_EQ(r.slopes.size(), static_cast<std::size_t>(kCurves));
    reports_with_regression += r.regression();
    points_flagged += r.regression_count() + r.improvement_count();
  }
  std::cout << "A/A: " << reports_with_regression << " of 20 seeds reported a regression, "
            << points_flagged << " of 600 points flagged\n";
  RecordProperty("aa_false_positive_seeds", reports_with_regression);
  EXPECT_LE(reports_with_regression, 1);
  EXPECT_EQ(reports_with_regression, 0);  // what these seeds give
}

TEST(Compare, UniformSlowdownFlagsEveryPointNotTheSlope) {
  const ResultsFile base = noisy_file(11, 0.02, 10);
  const ResultsFile slow = noisy_file(
      12, 0.02, 10, [](std::int64_t) { return 1.10; }, "slow");
  const CompareReport r = compare_results(base, slow, CompareOptions{});
  ASSERT_EQ(r.points.size(), 30u);
  for (const PointVerdict& v : r.points) {
    EXPECT_TRUE(v.regression) << v.name << " change " << v.change << " p " << v.p_value;
    EXPECT_FALSE(v.improvement);
    EXPECT_NEAR(v.change, 0.10, 0.03);
    EXPECT_LT(v.p_value, 1e-3);
    EXPECT_TRUE(v.note.empty()) << v.note;
  }
  EXPECT_EQ(r.regression_count(), 30);
  EXPECT_EQ(r.flagged_slope_count(), 0);  // the whole curve moved: no slope change
  EXPECT_TRUE(r.regression());

  // The mirror image: every point an improvement, and no regression.
  const CompareReport back = compare_results(slow, base, CompareOptions{});
  EXPECT_EQ(back.improvement_count(), 30);
  EXPECT_FALSE(back.regression());
}

TEST(Compare, SlowdownBeyond64KFlagsTheSlope) {
  const auto long_only = [](std::int64_t pos) { return pos >= 65536 ? 1.10 : 1.0; };
  const CompareReport r = compare_results(noisy_file(21, 0.02, 10),
                                          noisy_file(22, 0.02, 10, long_only), CompareOptions{});
  ASSERT_EQ(r.slopes.size(), static_cast<std::size_t>(kCurves));
  EXPECT_EQ(r.slopes[0].curve, "cpu/m0/dense_decode/decode/L*/B1/sq2/f32");
  for (const SlopeVerdict& s : r.slopes) {
    EXPECT_TRUE(s.flagged) << s.curve;
    EXPECT_EQ(s.n_short, 4);
    EXPECT_EQ(s.n_long, 2);
    EXPECT_NEAR(s.change_short, 0, 0.02);
    EXPECT_NEAR(s.change_long, 0.10, 0.03);
    EXPECT_NE(s.note.find("64K"), std::string::npos);
  }
  EXPECT_EQ(r.regression_count(), 10);  // the 2 long positions of 5 curves
  EXPECT_TRUE(r.regression());
}

TEST(Compare, SlopeCatchesALongRangeSlowdownBelowThreshold) {
  // Faster by 3% below 64K, slower by 3% beyond: no point passes the 5% threshold, but the curve
  // got 6% steeper and the long-range slowdowns are significant.
  const auto tilt = [](std::int64_t pos) { return pos >= 65536 ? 1.03 : 0.97; };
  const CompareReport r =
      compare_results(noisy_file(31, 0.01, 10), noisy_file(32, 0.01, 10, tilt), CompareOptions{});
  EXPECT_EQ(r.regression_count(), 0);
  EXPECT_EQ(r.improvement_count(), 0);
  EXPECT_EQ(r.flagged_slope_count(), kCurves);
  EXPECT_TRUE(r.regression());

  // The same with 3 repetitions: the U test cannot reach p < 0.05, so nothing can be flagged, and
  // the report says so.
  const CompareReport weak =
      compare_results(noisy_file(31, 0.01, 3), noisy_file(32, 0.01, 3, tilt), CompareOptions{});
  EXPECT_FALSE(weak.regression());
  int steeper = 0;
  for (const SlopeVerdict& s : weak.slopes) {
    EXPECT_FALSE(s.flagged);
    if (s.change_long - s.change_short <= 0.05) continue;
    ++steeper;
    EXPECT_NE(s.note.find("repetitions"), std::string::npos) << s.note;
  }
  EXPECT_GT(steeper, 0);
  for (const PointVerdict& v : weak.points)
    EXPECT_NE(v.note.find("cannot reach"), std::string::npos) << v.note;
  ASSERT_FALSE(weak.warnings.empty());
  EXPECT_NE(weak.warnings.back().find("30 of 30 points"), std::string::npos)
      << weak.warnings.back();
}

// The re-run filter selects exactly what a fresh process must measure again: the regressed points
// and every point of a flagged curve, and nothing when there is no regression.
TEST(Compare, RerunFilterMatchesRegressedPointsAndFlaggedCurves) {
  const auto matches = [](const std::string& re, const std::string& name) {
    return std::regex_search(name, std::regex(re, std::regex::ECMAScript));
  };
  const ResultsFile base = noisy_file(41, 0.02, 10);
  EXPECT_EQ(rerun_filter(compare_results(base, noisy_file(42, 0.02, 10), CompareOptions{})), "");

  // One point 20% slower: the filter names it alone.
  const std::string slowed = base.points[3].name;
  ResultsFile one = noisy_file(42, 0.02, 10);
  for (double& t : one.points[3].samples_s) t *= 1.2;
  const CompareReport r1 = compare_results(base, one, CompareOptions{});
  ASSERT_EQ(r1.regression_count(), 1);
  const std::string re1 = rerun_filter(r1);
  for (const PointResult& p : base.points) EXPECT_EQ(matches(re1, p.name), p.name == slowed) << re1;
  EXPECT_FALSE(matches(re1, slowed + "x"));  // anchored
  // Regex characters in names are escaped: "v3.2" does not match "v3x2", "(" is literal.
  CompareReport hand;
  PointVerdict odd;
  odd.name = "cpu/deepseek-v3.2(a)/x";
  odd.regression = true;
  hand.points.push_back(odd);
  const std::string re3 = rerun_filter(hand);
  EXPECT_TRUE(matches(re3, "cpu/deepseek-v3.2(a)/x")) << re3;
  EXPECT_FALSE(matches(re3, "cpu/deepseek-v3x2(a)/x")) << re3;

  // A tilt beyond 64K flags each curve's slope: the filter takes every position of it.
  const auto tilt = [](std::int64_t pos) { return pos >= 65536 ? 1.03 : 0.97; };
  const CompareReport r2 =
      compare_results(noisy_file(31, 0.01, 10), noisy_file(32, 0.01, 10, tilt), CompareOptions{});
  ASSERT_EQ(r2.flagged_slope_count(), kCurves);
  const std::string re2 = rerun_filter(r2);
  for (const PointResult& p : base.points) EXPECT_TRUE(matches(re2, p.name)) << p.name;
}

TEST(Compare, FewerThanTwoRepetitionsMeansNoTest) {
  ResultsFile base = empty_file("a"), cur = empty_file("b");
  base.points.push_back(timed_point("m", 1024, 1, {1.0}));
  cur.points.push_back(timed_point("m", 1024, 1, {2.0}));
  const CompareReport r = compare_results(base, cur, CompareOptions{});
  ASSERT_EQ(r.points.size(), 1u);
  EXPECT_DOUBLE_EQ(r.points[0].change, 1.0);
  EXPECT_DOUBLE_EQ(r.points[0].p_value, 1.0);
  EXPECT_FALSE(r.points[0].regression);
  EXPECT_NE(r.points[0].note.find("repetitions"), std::string::npos);
  EXPECT_FALSE(r.regression());
}

TEST(Compare, AddedRemovedAndNotComparableAreListed) {
  ResultsFile base = empty_file("a"), cur = empty_file("b");
  const std::vector<double> s = {1.0, 1.01, 0.99};
  base.points.push_back(timed_point("m", 1024, 1, s));  // only in baseline
  base.points.push_back(timed_point("m", 2048, 1, s));  // in both
  base.points.push_back(timed_point("m", 4096, 1, s));  // failed in current
  cur.points.push_back(timed_point("m", 2048, 1, s));
  PointResult failed = timed_point("m", 4096, 1, {});
  failed.status = PointStatus::failed;
  failed.reason = "rel_l2 1e-2 > tolerance";
  cur.points.push_back(failed);
  cur.points.push_back(timed_point("m", 8192, 1, s));  // only in current
  cur.scenario_hash = "def";

  const CompareReport r = compare_results(base, cur, CompareOptions{}, "old", "new");
  EXPECT_EQ(r.baseline, "old");
  EXPECT_EQ(r.current, "new");
  ASSERT_EQ(r.points.size(), 1u);
  EXPECT_EQ(r.points[0].name, "cpu/m/dense_decode/decode/L2048/B1/sq2/f32");
  EXPECT_EQ(r.removed, std::vector<std::string>{"cpu/m/dense_decode/decode/L1024/B1/sq2/f32"});
  EXPECT_EQ(r.added, std::vector<std::string>{"cpu/m/dense_decode/decode/L8192/B1/sq2/f32"});
  ASSERT_EQ(r.not_comparable.size(), 1u);
  EXPECT_EQ(r.not_comparable[0],
            "cpu/m/dense_decode/decode/L4096/B1/sq2/f32 (baseline ok, current failed: rel_l2 "
            "1e-2 > tolerance)");
  EXPECT_FALSE(r.regression());
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].find("different scenarios"), std::string::npos);
  for (const std::string& w : r.warnings) EXPECT_EQ(w.find("kernel selection"), std::string::npos);

  const json j = compare_json(r);
  EXPECT_EQ(j["added"].size(), 1u);
  EXPECT_EQ(j["removed"].size(), 1u);
  EXPECT_EQ(j["not_comparable"].size(), 1u);
  EXPECT_EQ(j["summary"]["compared"], 1);
  const std::string table = compare_table(r);
  EXPECT_NE(table.find("L8192"), std::string::npos);
  EXPECT_NE(table.find("L1024"), std::string::npos);
  EXPECT_NE(table.find("verdict: no regression"), std::string::npos);
}

TEST(Compare, OptionsAndFractions) {
  EXPECT_DOUBLE_EQ(parse_fraction("5%", "--threshold"), 0.05);
  EXPECT_DOUBLE_EQ(parse_fraction("0.05", "--threshold"), 0.05);
  EXPECT_DOUBLE_EQ(parse_fraction("2.5%", "--threshold"), 0.025);
  EXPECT_DOUBLE_EQ(parse_fraction("0", "--threshold"), 0.0);
  for (const char* bad : {"", "%", "abc", "-1%", "5%%", "5 %", "nan", "inf", "1e999"})
    EXPECT_THROW(parse_fraction(bad, "--threshold"), InputError) << bad;
  try {
    parse_fraction("x", "--alpha");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--alpha"), std::string::npos);
  }
  const ResultsFile f = noisy_file(1, 0.02, 3);
  EXPECT_THROW(compare_results(f, f, CompareOptions{-0.1, 0.05}), InputError);
  EXPECT_THROW(compare_results(f, f, CompareOptions{0.05, 0}), InputError);
  EXPECT_THROW(compare_results(f, f, CompareOptions{0.05, 1.5}), InputError);
}

TEST(Compare, RunCompareExitCodesAndOutputs) {
  const fs::path d = temp_dir("compare");
  // A model name with a pipe and a backtick: results files are untrusted input.
  const auto with_odd_name = [](ResultsFile f) {
    PointResult p = f.points[0];
    p.point.model = "we|rd`m";
    p.name = p.point.name();
    f.points.push_back(p);
    return f;
  };
  const fs::path base = d / "base.json", same = d / "same.json", slow = d / "slow.json";
  write_atomic(base, with_odd_name(noisy_file(41, 0.02, 10)).to_json().dump());
  write_atomic(same, with_odd_name(noisy_file(42, 0.02, 10)).to_json().dump());
  write_atomic(
      slow,
      with_odd_name(noisy_file(43, 0.02, 10, [](std::int64_t) { return 1.2; })).to_json().dump());

  std::ostringstream out;
  EXPECT_EQ(run_compare(base, same, CompareOptions{}, {}, {}, out), 0) << out.str();
  EXPECT_NE(out.str().find("verdict: no regression"), std::string::npos);

  const fs::path md = d / "compare.md", js = d / "compare.json";
  std::ostringstream out2;
  EXPECT_EQ(run_compare(base, slow, CompareOptions{}, md, js, out2), 1) << out2.str();
  EXPECT_NE(out2.str().find("REGRESSION"), std::string::npos);
  EXPECT_NE(out2.str().find("verdict: REGRESSION"), std::string::npos);

  const std::string markdown = slurp(md);
  EXPECT_NE(markdown.find("**Verdict: REGRESSION**"), std::string::npos);
  EXPECT_NE(markdown.find("cpu/we\\|rd\\`m/dense_decode"), std::string::npos);
  EXPECT_EQ(markdown.find("we|rd"), std::string::npos);
  EXPECT_EQ(markdown.find("rd`m"), std::string::npos);
  EXPECT_NE(markdown.find("L\\*"), std::string::npos);  // curve names escape the '*'
  // Every table row has the same number of unescaped cell separators as its header.
  std::istringstream lines(markdown);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| Verdict", 0) != 0 && line.rfind("| **REGRESSION**", 0) != 0) continue;
    int bars = 0;
    for (std::size_t i = 0; i < line.size(); ++i)
      bars += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
    EXPECT_EQ(bars, 9) << line;
  }

  const json j = json::parse(slurp(js));
  EXPECT_EQ(j["regression"], true);
  EXPECT_EQ(j["baseline"], base.string());
  EXPECT_EQ(j["points"].size(), 31u);
  EXPECT_EQ(j["summary"]["regressions"], 31);
  EXPECT_NEAR(j["points"][0]["change"].get<double>(), 0.2, 0.03);
  EXPECT_EQ(j["points"][0]["verdict"], "REGRESSION");
  EXPECT_FALSE(fs::exists(d / ("compare.md.tmp." + std::to_string(::getpid()))));

  // A truncated file: exit 2 with the loader's message.
  const fs::path bad = d / "bad.json";
  write_atomic(bad, slurp(base).substr(0, 200));
  std::string expected;
  try {
    load_results(bad);
  } catch (const InputError& e) {
    expected = e.what();
  }
  ASSERT_FALSE(expected.empty());
  std::ostringstream out3;
  EXPECT_EQ(run_compare(base, bad, CompareOptions{}, d / "x.md", {}, out3), 2);
  EXPECT_NE(out3.str().find(expected), std::string::npos) << out3.str();
  EXPECT_FALSE(fs::exists(d / "x.md"));  // nothing written on bad input

  std::ostringstream out4;
  EXPECT_EQ(run_compare(d / "missing.json", base, CompareOptions{}, {}, {}, out4), 2);
  EXPECT_NE(out4.str().find("missing.json"), std::string::npos) << out4.str();

  std::ostringstream out5;  // out-of-range options
  EXPECT_EQ(run_compare(base, same, CompareOptions{0.05, 2}, {}, {}, out5), 2);
  EXPECT_NE(out5.str().find("--alpha"), std::string::npos) << out5.str();

  std::ostringstream out6;  // an output that cannot be written
  EXPECT_EQ(run_compare(base, same, CompareOptions{}, d / "no" / "such" / "dir.md", {}, out6), 2);
  EXPECT_NE(out6.str().find("dir.md"), std::string::npos) << out6.str();
  fs::remove_all(d);
}

// A baseline process that stayed fast on every point (one process's memory layout, or a quiet
// hour) flags a normal run; pooled with a second baseline process of the same build it does not.
// Runs of another build, backend or scenario version never pool.
TEST(Compare, PooledBaselineRunsAbsorbOneLuckyProcess) {
  const ResultsFile lucky = noisy_file(51, 0.01, 10, [](std::int64_t) { return 0.87; });
  const ResultsFile usual = noisy_file(52, 0.01, 10);
  const ResultsFile today = noisy_file(53, 0.01, 10);
  const CompareOptions o{0.10, 0.05};
  EXPECT_TRUE(compare_results(lucky, today, o).regression());
  const ResultsFile pooled = pool_baselines({lucky, usual}, {"a.json", "a2.json"});
  const CompareReport r = compare_results(pooled, today, o);
  EXPECT_FALSE(r.regression());
  for (const PointVerdict& v : r.points) EXPECT_EQ(v.n_base, 20) << v.name;

  ResultsFile other = usual;
  other.git_sha = "other";
  try {
    pool_baselines({lucky, other}, {"a.json", "a2.json"});
    FAIL() << "runs of two builds pooled";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("a2.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("git_sha"), std::string::npos) << e.what();
  }
  other = usual;
  other.scenario_hash = "def";
  EXPECT_THROW(pool_baselines({lucky, other}, {"a", "b"}), InputError);

  // Through the command: --also-baseline, and exit 2 naming the file that does not pool.
  const fs::path d = temp_dir("compare-pool");
  const fs::path a = d / "a.json", a2 = d / "a2.json", cur = d / "today.json", x = d / "x.json";
  write_atomic(a, lucky.to_json().dump());
  write_atomic(a2, usual.to_json().dump());
  write_atomic(cur, today.to_json().dump());
  other.scenario_hash = "abc";
  other.git_sha = "other";
  write_atomic(x, other.to_json().dump());
  std::ostringstream out;
  EXPECT_EQ(run_compare(a, cur, o, {}, {}, out), 1) << out.str();
  std::ostringstream out2;
  EXPECT_EQ(run_compare(a, cur, o, {}, {}, out2, {}, {a2}), 0) << out2.str();
  EXPECT_NE(out2.str().find("pooled"), std::string::npos) << out2.str();
  std::ostringstream out3;
  EXPECT_EQ(run_compare(a, cur, o, {}, {}, out3, {}, {x}), 2) << out3.str();
  EXPECT_NE(out3.str().find("x.json"), std::string::npos) << out3.str();
  fs::remove_all(d);
}

// The machine slowed by 15% between the baseline's night and today (CI's A/A failure): today's
// run is a confirmed regression against the stored baseline, but not against the baseline's build
// swept beside it, so the verdict is "drift". A real 15% slowdown on one curve, swept beside the
// same baseline build on the slowed machine, stays a regression; a slope flagged against the
// stored baseline is cleared by a beside run whose long points are just as slow. `--beside` of
// another build is refused (exit 2, naming the file).
TEST(Compare, BesideRunOfTheBaselineBuildClearsMachineDrift) {
  const CompareOptions o{0.10, 0.05};
  const auto slowed = [](std::int64_t) { return 1.15; };
  const ResultsFile base = noisy_file(61, 0.01, 10);
  const ResultsFile today = noisy_file(62, 0.01, 10, slowed, "today");
  const ResultsFile beside = noisy_file(63, 0.01, 10, slowed);
  CompareReport r = compare_results(base, today, o);
  ASSERT_EQ(r.regression_count(), 30);
  apply_beside(r, today, beside, "beside.json");
  EXPECT_FALSE(r.regression());
  EXPECT_EQ(r.beside, "beside.json");
  for (const PointVerdict& v : r.points) {
    EXPECT_TRUE(v.beside_tested) << v.name;
    EXPECT_TRUE(v.cleared_beside) << v.name;
    EXPECT_NEAR(v.beside_change, 0, 0.02) << v.name;
    EXPECT_NE(v.note.find("drifted"), std::string::npos) << v.note;
  }
  EXPECT_NE(compare_table(r).find("drift "), std::string::npos);
  EXPECT_NE(compare_table(r).find("30 slowdowns were the machine (drift)"), std::string::npos);
  EXPECT_EQ(compare_json(r)["points"][0]["cleared_beside"], true);
  EXPECT_TRUE(rerun_filter(r).empty());

  // Curve m2 really got 15% slower on top of the machine's drift: it alone stays flagged.
  ResultsFile worse = noisy_file(64, 0.01, 10, slowed, "today");
  for (PointResult& p : worse.points)
    if (p.point.model == "m2")
      for (double& x : p.samples_s) x *= 1.15;
  CompareReport w = compare_results(base, worse, o);
  apply_beside(w, worse, beside, "beside.json");
  EXPECT_EQ(w.regression_count(), 6);
  for (const PointVerdict& v : w.points)
    EXPECT_EQ(v.regression, v.name.find("/m2/") != std::string::npos) << v.name;

  // A regressed point that the beside runs lack keeps its verdict, with a note saying so.
  ResultsFile partial = beside;
  partial.points.erase(partial.points.begin());
  CompareReport q = compare_results(base, today, o);
  apply_beside(q, today, partial, "partial.json");
  EXPECT_EQ(q.regression_count(), 1);
  EXPECT_TRUE(q.points[0].regression);
  EXPECT_FALSE(q.points[0].beside_tested);
  EXPECT_NE(q.points[0].note.find("no timing of it beside"), std::string::npos) << q.points[0].note;

  // A slope: long positions 12% slower on a machine that is 12% slower there, beside.
  const auto long_slow = [](std::int64_t pos) { return pos >= 65536 ? 1.12 : 1.0; };
  const ResultsFile today_l = noisy_file(65, 0.002, 10, long_slow, "today");
  CompareReport sl = compare_results(noisy_file(66, 0.002, 10), today_l, o);
  ASSERT_GT(sl.flagged_slope_count(), 0);
  apply_beside(sl, today_l, noisy_file(67, 0.002, 10, long_slow), "beside.json");
  EXPECT_EQ(sl.flagged_slope_count(), 0);
  EXPECT_NE(sl.slopes[0].note.find("beside"), std::string::npos) << sl.slopes[0].note;

  // Through the command.
  const fs::path d = temp_dir("compare-beside");
  const fs::path a = d / "a.json", cur = d / "today.json", b1 = d / "b1.json", x = d / "x.json";
  write_atomic(a, base.to_json().dump());
  write_atomic(cur, today.to_json().dump());
  write_atomic(b1, beside.to_json().dump());
  ResultsFile other = beside;
  other.git_sha = "other";
  write_atomic(x, other.to_json().dump());
  std::ostringstream out, out2, out3;
  EXPECT_EQ(run_compare(a, cur, o, {}, {}, out), 1) << out.str();
  EXPECT_EQ(run_compare(a, cur, o, {}, {}, out2, {}, {}, {b1}), 0) << out2.str();
  EXPECT_NE(out2.str().find("beside"), std::string::npos) << out2.str();
  EXPECT_EQ(run_compare(a, cur, o, {}, {}, out3, {}, {}, {x}), 2) << out3.str();
  EXPECT_NE(out3.str().find("x.json"), std::string::npos) << out3.str();
  fs::remove_all(d);
}

TEST(Compare, ShippedResultsFile) {
  // The measured sweep against itself, and against itself 20% slower. A point with 3 repetitions
  // can never be flagged by the U test; one with 5 or more is flagged whenever 20% separates its
  // samples (the slowest original faster than the fastest slowed one). Shared-VM noise can make a
  // point's spread wider than that (seen: 5.5 and 9.5 ms in one point): such points may go either
  // way.
  const fs::path dir = COSTCURVE_SOURCE_DIR "/results";
  fs::path file;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string n = e.path().filename().string();
      if (e.path().extension() == ".json" && n.find(".cost.") == std::string::npos)
        if (file.empty() || e.path() < file) file = e.path();
    }
  if (file.empty()) GTEST_SKIP() << "no results file in " << dir;
  const ResultsFile f = load_results(file);
  const CompareReport same = compare_results(f, f, CompareOptions{});
  EXPECT_FALSE(same.regression());
  for (const PointVerdict& v : same.points) {
    EXPECT_DOUBLE_EQ(v.change, 0);
    EXPECT_DOUBLE_EQ(v.p_value, 1);
  }
  ResultsFile slower = f;
  for (PointResult& p : slower.points)
    for (double& s : p.samples_s) s *= 1.2;
  const CompareReport r = compare_results(f, slower, CompareOptions{});
  std::map<std::string, bool> separated;
  for (const PointResult& p : f.points)
    if (!p.samples_s.empty()) {
      const auto [lo, hi] = std::minmax_element(p.samples_s.begin(), p.samples_s.end());
      separated[p.name] = *hi < 1.2 * *lo;
    }
  int checked = 0;
  for (const PointVerdict& v : r.points) {
    const int n = std::min(v.n_base, v.n_current);
    if (n >= 5 && separated[v.name]) {
      EXPECT_TRUE(v.regression) << v.name;
      ++checked;
    } else if (n <= 3) {
      EXPECT_FALSE(v.regression) << v.name;
    }
  }
  EXPECT_GT(checked, 0) << "no point of " << file << " is tight enough to test detection";
}

// A file swept with another kernel selected (COSTCURVE_PREFILL_PORTABLE=1, ...) times other code,
// one swept with COSTCURVE_L2_FLUSH=discard times it differently: the comparison says so. A file
// older than the field reads as "none"; odd values do not throw.
TEST(Compare, DifferentKernelSelectionIsAWarning) {
  ResultsFile base = empty_file("aaa"), cur = empty_file("aaa");
  cur.context["kernel_env"] = {{"COSTCURVE_PREFILL_OVERLAP", "1"}};
  auto warned = [](const CompareReport& r) {
    for (const std::string& w : r.warnings)
      if (w.find("different COSTCURVE_* settings") != std::string::npos) return w;
    return std::string();
  };
  EXPECT_EQ(
      warned(compare_results(base, cur, CompareOptions{}, "a", "b")),
      "different COSTCURVE_* settings (different kernels, or timed differently): baseline none, "
      "current COSTCURVE_PREFILL_OVERLAP=1");
  base.context["kernel_env"] = json::object();  // empty: the same as absent
  cur.context["kernel_env"] = json::object();
  EXPECT_EQ(warned(compare_results(base, cur, CompareOptions{}, "a", "b")), "");
  cur.context["kernel_env"] = {{"X", 3}, {"Y", json::array()}};
  EXPECT_EQ(
      warned(compare_results(base, cur, CompareOptions{}, "a", "b")),
      "different COSTCURVE_* settings (different kernels, or timed differently): baseline none, "
      "current X=? Y=?");
}

// The GPU flush became a discarding one on 2026-12-07: cold times from before and after are not
// comparable, and files older than context.cache_flush read as the flush their backend had then
// (or as the discarding one where COSTCURVE_L2_FLUSH=discard was set).
TEST(Compare, DifferentCacheFlushIsAWarning) {
  ResultsFile base = empty_file("aaa"), cur = empty_file("aaa");
  base.backend = cur.backend = "cuda";
  auto warned = [](const CompareReport& r) {
    for (const std::string& w : r.warnings)
      if (w.find("different cache flushes") != std::string::npos) return w;
    return std::string();
  };
  cur.context["cache_flush"] = "memset 2xL2 + discard";
  EXPECT_EQ(warned(compare_results(base, cur, CompareOptions{}, "a", "b")),
            "different cache flushes (cold times not comparable): baseline memset 2xL2, current "
            "memset 2xL2 + discard");
  base.context["kernel_env"] = {{"COSTCURVE_L2_FLUSH", "discard"}};
  EXPECT_EQ(warned(compare_results(base, cur, CompareOptions{}, "a", "b")), "");
  base.context["kernel_env"] = json::object();
  base.context["cache_flush"] = "memset 2xL2 + discard";
  EXPECT_EQ(warned(compare_results(base, cur, CompareOptions{}, "a", "b")), "");
  base.context["cache_flush"] = 7;  // not a string: read as absent, no throw
  EXPECT_NE(warned(compare_results(base, cur, CompareOptions{}, "a", "b")), "");
  base.backend = cur.backend = "cpu";  // the CPU flush never changed
  base.context.erase("cache_flush");
  cur.context["cache_flush"] = "memset 256 MiB";
  EXPECT_EQ(warned(compare_results(base, cur, CompareOptions{}, "a", "b")), "");
}

}  // namespace
}  // namespace costcurve

// Can the nightly verdict be trusted on this machine? Real sweeps of a small scenario (the smoke
// scenario, decode batch 1, exactly 10 repetitions per point so that the U test can reach small p),
// compared with `costcurve compare`'s rules at the threshold the README recommends for nightly runs
// (5%, alpha 0.05):
//  - A/A: the costcurve binary sweeps the scenario twice; compare must find no regression.
//  - Detection: trials of A/A, +5% and +10% on the indexer, the slowdown injected by a decorator
//    backend whose time() stretches the indexer's measured time by the factor. The rates are
//    printed (and recorded as test properties); the README's "Reliability" section quotes them.
// Both measure timing: ctest runs them alone (RUN_SERIAL, tests/serial_tests.cmake), one CPU
// thread each, so that neither another test nor one preempted OpenMP thread decides a verdict.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "harness/results.hpp"
#include "reports/compare.hpp"
#include "tests/sweep_doubles.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kThreads = 1;
constexpr int kRepetitions = 10;
constexpr Op kSlowed = Op::indexer;

// The README's nightly settings.
CompareOptions nightly() {
  CompareOptions o;
  o.threshold = 0.05;
  o.alpha = 0.05;
  return o;
}

// 16 points, every operation at L64 and L300, each timed in exactly 10 repetitions of >= 2 ms.
// Validation is sampled hard (the fault tests cover it): the time goes into timing.
fs::path verdict_scenario(const fs::path& dir) {
  return test::smoke_variant(dir, [](json& s) {
    s["name"] = "verdicts";
    s["sweep"]["decode_batches"] = {1};
    s["run"]["min_time_s"] = 0.002;
    s["run"]["max_time_s"] = 10;
    s["run"]["min_repetitions"] = kRepetitions;
    s["run"]["max_repetitions"] = kRepetitions;
    s["run"]["validate_max_gflop"] = 0.02;
  });
}

int run_binary(const std::string& args, const fs::path& log) {
  const std::string cmd =
      std::string(COSTCURVE_BINARY) + " " + args + " > '" + log.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Verdicts, AATwoRealSweepsShowNoRegression) {
  const fs::path dir = test::temp_dir("verdicts-aa");
  const fs::path s = verdict_scenario(dir);
  const std::string threads = " --threads " + std::to_string(kThreads);
  for (const char* run : {"a", "b"}) {
    // Seeded with made-up ceilings, which compare never reads: the sweep times points only.
    const fs::path out = dir / (std::string(run) + ".json"), log = dir / (std::string(run) + ".log");
    test::seed_results(s, out, make_backend("cpu", kThreads)->info());
    ASSERT_EQ(run_binary("sweep '" + s.string() + "' --out '" + out.string() + "' --resume" + threads,
                         log),
              0)
        << slurp(log);
  }
  const fs::path log = dir / "compare.log";
  const int rc = run_binary("compare '" + (dir / "a.json").string() + "' '" +
                                (dir / "b.json").string() + "' --threshold 5% --alpha 0.05",
                            log);
  std::cout << slurp(log);
  EXPECT_EQ(rc, 0) << "A/A comparison reported a regression (exit " << rc << ")";
  const CompareReport r =
      compare_results(load_results(dir / "a.json"), load_results(dir / "b.json"), nightly());
  ASSERT_EQ(r.points.size(), 16u);
  for (const PointVerdict& v : r.points) {
    EXPECT_EQ(v.n_base, kRepetitions) << v.name;
    EXPECT_EQ(v.n_current, kRepetitions) << v.name;
    EXPECT_TRUE(v.note.empty()) << v.name << ": " << v.note;  // the U test can reach alpha
  }
  fs::remove_all(dir);
}

// Stretches the measured time of one operation by a factor: the operation methods note that it
// ran, time() multiplies what the real clock measured around the work.
struct Stretch {
  Op op = kSlowed;
  double factor = 1;
  long stretched = 0;  // timings it multiplied
};

class SlowBackend final : public test::ForwardingBackend {
public:
  explicit SlowBackend(std::shared_ptr<Stretch> s)
      : ForwardingBackend(make_backend("cpu", kThreads)), s_(std::move(s)) {}

  // No cache to defeat: every point is timed on one input set, so a sweep sets up and validates
  // each point once (the rotation over 8 sets would multiply the set-up time of 40 sweeps by 8,
  // for hot runs that every condition takes alike).
  BackendInfo info() const override {
    BackendInfo i = ForwardingBackend::info();
    i.cache_bytes = 0;
    return i;
  }
  double time(const std::function<void()>& work) override {
    ran_ = false;
    const double t = inner().time(work);
    if (!ran_ || s_->factor == 1) return t;
    ++s_->stretched;
    return t * s_->factor;
  }
  void dense_prefill(const DensePrefillArgs& a) override {
    mark(Op::dense_prefill);
    inner().dense_prefill(a);
  }
  void dense_decode(const DenseDecodeArgs& a) override {
    mark(Op::dense_decode);
    inner().dense_decode(a);
  }
  void indexer(const IndexerArgs& a) override {
    mark(Op::indexer);
    inner().indexer(a);
  }
  void topk(const TopkArgs& a) override {
    mark(Op::topk);
    inner().topk(a);
  }
  void sparse_prefill(const SparseArgs& a) override {
    mark(Op::sparse_prefill);
    inner().sparse_prefill(a);
  }
  void sparse_decode(const SparseArgs& a) override {
    mark(Op::sparse_decode);
    inner().sparse_decode(a);
  }

private:
  void mark(Op op) { ran_ = ran_ || op == s_->op; }
  std::shared_ptr<Stretch> s_;
  bool ran_ = false;
};

struct Tally {
  const char* label;
  double factor;
  int trials = 0, trials_flagged = 0;  // trials whose verdict is a regression
  int trials_detected = 0;             // ... naming a slowed point
  int slowed = 0, slowed_flagged = 0;  // points of the slowed operation
  int other = 0, other_flagged = 0;    // every other point (all points in A/A)
};

std::string percent(int k, int n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%d/%d (%.0f%%)", k, n, n ? 100.0 * k / n : 0.0);
  return buf;
}

TEST(Verdicts, DetectionRatesOfInjectedSlowdowns) {
  // 10 in CI; COSTCURVE_VERDICT_TRIALS=30 for the README's figures.
  const char* env = std::getenv("COSTCURVE_VERDICT_TRIALS");
  const int kTrials = env ? std::max(1, std::atoi(env)) : 10;
  const fs::path dir = test::temp_dir("verdicts-rates");
  const fs::path s = verdict_scenario(dir);
  const auto start = std::chrono::steady_clock::now();
  std::vector<Tally> tallies = {{"A/A", 1.00}, {"+5%", 1.05}, {"+10%", 1.10}};
  for (int trial = 0; trial < kTrials; ++trial) {
    // One baseline and one sweep per condition, in an order that rotates from trial to trial so
    // that a drift of the machine does not always favour the same condition.
    std::vector<int> order = {-1, 0, 1, 2};  // -1: the baseline
    std::rotate(order.begin(), order.begin() + trial % 4, order.end());
    std::vector<ResultsFile> files(4);
    for (const int c : order) {
      auto stretch = std::make_shared<Stretch>();
      stretch->factor = c < 0 ? 1.0 : tallies[c].factor;
      const fs::path out =
          dir / ("t" + std::to_string(trial) + "-" + (c < 0 ? "base" : std::to_string(c)) + ".json");
      const test::SweepRun r = test::sweep_through(
          s, out, "", [stretch] { return std::make_unique<SlowBackend>(stretch); });
      ASSERT_EQ(r.rc, 0) << r.log;
      ASSERT_EQ(r.results.points.size(), 16u) << r.log;
      if (stretch->factor > 1) {
        ASSERT_GT(stretch->stretched, 0);
      }
      files[c + 1] = r.results;
    }
    for (std::size_t c = 0; c < tallies.size(); ++c) {
      Tally& t = tallies[c];
      const CompareReport r = compare_results(files[0], files[c + 1], nightly());
      ASSERT_EQ(r.points.size(), 16u);
      bool named = false;
      for (std::size_t i = 0; i < r.points.size(); ++i) {
        const bool slowed = t.factor > 1 && files[0].points[i].point.op == kSlowed;
        ASSERT_EQ(files[0].points[i].name, r.points[i].name);
        (slowed ? t.slowed : t.other) += 1;
        (slowed ? t.slowed_flagged : t.other_flagged) += r.points[i].regression;
        named = named || (slowed && r.points[i].regression);
        if (r.points[i].regression && !slowed)
          std::cout << "  trial " << trial << " " << t.label << ": false alarm on "
                    << r.points[i].name << " (" << r.points[i].change * 100 << "%, p "
                    << r.points[i].p_value << ")\n";
      }
      ++t.trials;
      t.trials_flagged += r.regression();
      t.trials_detected += r.regression() && named;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::cout << "\nverdicts over " << kTrials << " trials of real sweeps (16 points, "
            << kRepetitions << " repetitions each, " << kThreads
            << " thread; threshold 5%, alpha 0.05; " << op_name(kSlowed) << " slowed, "
            << static_cast<int>(seconds) << " s):\n";
  for (const Tally& t : tallies) {
    if (t.factor == 1) {
      std::cout << "  " << t.label << ": false alarm in " << percent(t.trials_flagged, t.trials)
                << " trials; " << percent(t.other_flagged, t.other) << " points flagged\n";
      RecordProperty("aa_false_alarm_trials", t.trials_flagged);
      RecordProperty("aa_false_alarm_points", t.other_flagged);
    } else {
      std::cout << "  " << t.label << ": detected in " << percent(t.trials_detected, t.trials)
                << " trials; " << percent(t.slowed_flagged, t.slowed)
                << " slowed points flagged; false alarms on "
                << percent(t.other_flagged, t.other) << " other points\n";
      const std::string key = t.factor < 1.07 ? "slow5" : "slow10";
      RecordProperty(key + "_detected_trials", t.trials_detected);
      RecordProperty(key + "_flagged_points", t.slowed_flagged);
    }
  }
  std::cout << std::flush;

  const Tally &aa = tallies[0], &slow10 = tallies[2];
  EXPECT_LE(aa.trials_flagged, kTrials / 10) << "A/A false alarms above 10% of trials";
  EXPECT_GE(slow10.trials_detected, kTrials * 9 / 10) << "+10% detected in under 90% of trials";
  // Slowdowns of untouched points would be false alarms too.
  EXPECT_LE(tallies[1].other_flagged + slow10.other_flagged, 2 * kTrials / 10);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace costcurve

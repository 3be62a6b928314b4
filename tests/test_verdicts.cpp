// Can the nightly verdict be trusted on this machine? Real sweeps of a small scenario (the smoke
// scenario, decode batch 1, exactly 10 repetitions per point so that the U test can reach small p),
// compared with `costcurve compare`'s rules at the thresholds the README recommends for nightly
// runs (alpha 0.05):
//  - A/A: the costcurve binary sweeps the scenario twice; compare, with the nightly job's
//    confirmation re-run of flagged points, must find no regression.
//  - Detection: trials of A/A, +5% and +10% on the indexer, the slowdown injected by a decorator
//    backend whose time() stretches the indexer's measured time by the factor. The rates are
//    printed (and recorded as test properties); the README's "Reliability" section quotes them.
// Both measure timing: ctest runs them alone (RUN_SERIAL, tests/serial_tests.cmake), one CPU
// thread each, so that neither another test nor one preempted OpenMP thread decides a verdict.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

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
// The nightly threshold the README recommends for shared VMs such as CI's (5% on dedicated nodes).
constexpr int kSharedVmThresholdPercent = 10;

int env_or(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::max(1, std::atoi(v)) : fallback;
}

// Timing verdicts are only as good as the machine is quiet: another process on a 2-core VM (or on
// the sibling hyperthread) stretches whole points by 10-200%, which no threshold separates from a
// regression. So the tests measure what the rest of the machine used while they swept, and
// discard (then retry) a sweep during which other processes used more than this share of all
// CPUs; COSTCURVE_VERDICT_QUIET overrides it (1 accepts everything).
double quiet_limit() {
  const char* v = std::getenv("COSTCURVE_VERDICT_QUIET");
  return v ? std::atof(v) : 0.10;
}

// CPU time the rest of the machine used since construction: /proc/stat's busy time (user, nice,
// system, irq, softirq, steal: a VM's host counts too) minus this process's and its waited-for
// children's, as a share of the capacity of all CPUs over the wall time.
class OthersMeter {
public:
  OthersMeter() : busy_(machine_busy_s()), self_(self_s()), t_(std::chrono::steady_clock::now()) {}
  double share() const {
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_).count();
    const double others = (machine_busy_s() - busy_) - (self_s() - self_);
    const long cpus = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
    return wall > 0 ? std::max(0.0, others) / (wall * static_cast<double>(cpus)) : 0;
  }

private:
  static double machine_busy_s() {
    std::ifstream in("/proc/stat");
    std::string cpu;
    double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    return (user + nice + system + irq + softirq + steal) /
           static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  static double self_s() {
    double s = 0;
    for (const int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
      rusage u{};
      ::getrusage(who, &u);
      s += static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
    }
    return s;
  }
  double busy_, self_;
  std::chrono::steady_clock::time_point t_;
};

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
    s["run"]["min_time_s"] =
        std::getenv("EXP_MIN_TIME") ? std::atof(std::getenv("EXP_MIN_TIME")) : 0.002;
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
  const double quiet = quiet_limit();
  // Up to 3 attempts: a pair of sweeps during which other processes were busy is run again.
  double others = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const OthersMeter meter;
    // The baseline is two processes of the build (a, a2), as tools/nightly.sh keeps it.
    for (const char* run : {"a", "a2", "b"}) {
      // Seeded with made-up ceilings, which compare never reads: the sweep times points only.
      const fs::path out = dir / (std::string(run) + ".json"),
                     log = dir / (std::string(run) + ".log");
      fs::remove(out);
      test::seed_results(s, out, make_backend("cpu", kThreads)->info());
      ASSERT_EQ(
          run_binary("sweep '" + s.string() + "' --out '" + out.string() + "' --resume" + threads,
                     log),
          0)
          << slurp(log);
    }
    others = meter.share();
    if (others <= quiet) break;
    std::cout << "attempt " << attempt << ": other processes used "
              << static_cast<int>(100 * others) << "% of the CPUs; sweeping again\n";
  }
  if (others > quiet)
    GTEST_SKIP() << "the machine was busy: other processes used " << static_cast<int>(100 * others)
                 << "% of the CPUs during each of 3 attempts (limit "
                 << static_cast<int>(100 * quiet) << "%)";
  // The nightly rule (README "Nightly regressions", tools/nightly.sh): compare at the shared-VM
  // threshold against a baseline pooled from two processes; a flagged point is measured again in
  // a fresh process, between two sweeps of the baseline's build, and only a slowdown that the
  // re-run shows against both the baseline and those sweeps is a regression. Whole sweeps on this
  // VM drift by 5-20% from process to process (measured: five A/A pairs, every one with some point
  // beyond 5%, two beyond 10%), a shift within one run's repetitions cannot show; a single process
  // can stay 13-30% fast on a point for its whole life (seen here: a baseline process 15% faster on
  // one point than both later ones), which a one-process baseline would turn into a confirmed
  // regression; and the machine itself can slow down between the baseline and today (CI failed
  // on it once: the pooled baseline at 27.1 us, the run and its re-run 18% and 12% slower on one
  // point, the same binary throughout), which only the baseline's build swept beside shows.
  const fs::path log = dir / "compare.log", rerun = dir / "rerun.filter";
  const std::string threshold = " --threshold " + std::to_string(kSharedVmThresholdPercent) + "%";
  const int rc =
      run_binary("compare '" + (dir / "a.json").string() + "' '" + (dir / "b.json").string() + "'" +
                     threshold + " --alpha 0.05 --rerun-filter '" + rerun.string() +
                     "' --also-baseline '" + (dir / "a2.json").string() + "'",
                 log);
  std::cout << slurp(log) << "other processes used " << static_cast<int>(100 * others)
            << "% of the CPUs meanwhile\n";
  ASSERT_TRUE(rc == 0 || rc == 1) << slurp(log);
  const std::string filter = slurp(rerun);
  EXPECT_EQ(rc == 1, !filter.empty());
  if (rc == 1) {
    // As tools/nightly.sh: the flagged points in a fresh process of today's build (c), between
    // two sweeps of the baseline's build (here the same binary) that catch the machine drifting.
    std::string beside;
    for (const char* run : {"s1", "c", "s2"}) {
      const fs::path out = dir / (std::string(run) + ".json"),
                     rlog = dir / (std::string(run) + ".log");
      test::seed_results(s, out, make_backend("cpu", kThreads)->info());
      ASSERT_EQ(run_binary("sweep '" + s.string() + "' --out '" + out.string() + "' --resume" +
                               threads + " --filter '" + filter.substr(0, filter.size() - 1) + "'",
                           rlog),
                0)
          << slurp(rlog);
      if (run[0] == 's') beside += " --beside '" + out.string() + "'";
    }
    const fs::path confirm = dir / "confirm.log";
    const int confirmed =
        run_binary("compare '" + (dir / "a.json").string() + "' '" + (dir / "c.json").string() +
                       "'" + threshold + " --alpha 0.05 --also-baseline '" +
                       (dir / "a2.json").string() + "'" + beside,
                   confirm);
    std::cout << "measured again:\n" << slurp(confirm);
    EXPECT_EQ(confirmed, 0) << "A/A: a regression that a fresh process measured again, beside the "
                               "baseline's build (exit "
                            << confirmed << ")";
  }
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
    if (!std::getenv("EXP_SETS")) i.cache_bytes = 0;
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
  double threshold;
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
  // 10 by default, 6 in .ci/run; COSTCURVE_VERDICT_TRIALS=30 for the README's figures.
  const int trials_wanted = env_or("COSTCURVE_VERDICT_TRIALS", 10);
  const double quiet = quiet_limit();
  const fs::path dir = test::temp_dir("verdicts-rates");
  const fs::path s = verdict_scenario(dir);
  const bool sequential = std::getenv("COSTCURVE_VERDICT_SEQUENTIAL") != nullptr;
  Scenario sc = load_scenario(s);
  sc.backends = {"cpu"};
  const std::vector<Point> points = generate_points(sc);
  ASSERT_EQ(points.size(), 16u);
  const auto start = std::chrono::steady_clock::now();
  // The README's nightly threshold, 5%, and 10% for comparison.
  std::vector<Tally> tallies = {{"A/A", 1.00, 0.05}, {"+5%", 1.05, 0.05}, {"+10%", 1.10, 0.05},
                                {"A/A", 1.00, 0.10}, {"+5%", 1.05, 0.10}, {"+10%", 1.10, 0.10}};
  int trials = 0, attempts = 0;
  double busiest = 0;
  // A trial on a busy machine is discarded and run again, up to 3 attempts per trial wanted.
  for (; trials < trials_wanted && attempts < 3 * trials_wanted; ++attempts) {
    // One baseline and one sweep per condition, in an order that rotates from attempt to attempt
    // so that a drift of the machine does not always favour the same condition.
    std::vector<int> order = {-1, 0, 1, 2};  // -1: the baseline
    std::rotate(order.begin(), order.begin() + attempts % 4, order.end());
    std::vector<ResultsFile> files(4);
    std::vector<std::shared_ptr<Stretch>> stretch(4);
    for (const int c : order) {
      stretch[c + 1] = std::make_shared<Stretch>();
      stretch[c + 1]->factor = c < 0 ? 1.0 : tallies[static_cast<std::size_t>(c)].factor;
    }
    // Interleaved (the default): point by point, each condition sweeps the point in turn (a
    // resumed sweep filtered to it), so the four measurements of a point lie within a second of
    // each other. Sequential: each condition sweeps every point, one sweep after the other, as
    // nightly runs do.
    std::vector<std::string> slices;
    if (sequential) {
      slices = {""};
    } else {
      for (const Point& p : points) slices.push_back("^" + p.name() + "$");
    }
    const OthersMeter meter;
    for (const std::string& filter : slices)
      for (const int c : order) {
        const fs::path out = dir / ("a" + std::to_string(attempts) + "-" +
                                    (c < 0 ? "base" : std::to_string(c)) + ".json");
        const auto st = stretch[c + 1];
        const test::SweepRun r =
            test::sweep_through(s, out, filter, [st] { return std::make_unique<SlowBackend>(st); });
        ASSERT_EQ(r.rc, 0) << r.log;
        files[c + 1] = r.results;
      }
    const double others = meter.share();  // the share of all CPUs others used during the trial
    for (std::size_t c = 0; c < 4; ++c) {
      ASSERT_EQ(files[c].points.size(), 16u);
      if (stretch[c]->factor > 1) {
        ASSERT_GT(stretch[c]->stretched, 0);
      }
    }
    if (others > quiet) {
      std::cout << "  attempt " << attempts << ": discarded, other processes used "
                << static_cast<int>(100 * others) << "% of the CPUs during the trial\n";
      busiest = std::max(busiest, others);
      continue;
    }
    for (std::size_t k = 0; k < tallies.size(); ++k) {
      Tally& t = tallies[k];
      CompareOptions o = nightly();
      o.threshold = t.threshold;
      const CompareReport r = compare_results(files[0], files[k % 3 + 1], o);
      ASSERT_EQ(r.points.size(), 16u);
      bool named = false;
      for (std::size_t i = 0; i < r.points.size(); ++i) {
        const bool slowed = t.factor > 1 && files[0].points[i].point.op == kSlowed;
        ASSERT_EQ(files[0].points[i].name, r.points[i].name);
        (slowed ? t.slowed : t.other) += 1;
        (slowed ? t.slowed_flagged : t.other_flagged) += r.points[i].regression;
        named = named || (slowed && r.points[i].regression);
        if (r.points[i].regression && !slowed)
          std::cout << "  trial " << trials << " " << t.label << " at " << t.threshold * 100
                    << "%: false alarm on " << r.points[i].name << " (" << r.points[i].change * 100
                    << "%, p " << r.points[i].p_value << ")\n";
      }
      ++t.trials;
      t.trials_flagged += r.regression();
      t.trials_detected += r.regression() && named;
    }
    std::cout << "  trial " << trials << " (attempt " << attempts << "): others used "
              << static_cast<int>(100 * others) << "% of the CPUs at most\n";
    ++trials;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::cout << "\nverdicts over " << trials << " trials of real sweeps (" << attempts - trials
            << " more discarded: the machine was busy; 16 points, " << kRepetitions
            << " repetitions each, " << kThreads << " thread; alpha 0.05; " << op_name(kSlowed)
            << " slowed; " << static_cast<int>(seconds) << " s):\n";
  for (const Tally& t : tallies) {
    const std::string at = t.threshold < 0.07 ? "5" : "10";
    std::cout << "  threshold " << at << "%, " << t.label << ": ";
    if (t.factor == 1) {
      std::cout << "false alarm in " << percent(t.trials_flagged, t.trials) << " trials; "
                << percent(t.other_flagged, t.other) << " points flagged\n";
      RecordProperty("t" + at + "_aa_false_alarm_trials", t.trials_flagged);
      RecordProperty("t" + at + "_aa_false_alarm_points", t.other_flagged);
    } else {
      std::cout << "detected in " << percent(t.trials_detected, t.trials) << " trials; "
                << percent(t.slowed_flagged, t.slowed) << " slowed points flagged; false alarms on "
                << percent(t.other_flagged, t.other) << " other points\n";
      const std::string key = "t" + at + (t.factor < 1.07 ? "_slow5" : "_slow10");
      RecordProperty(key + "_detected_trials", t.trials_detected);
      RecordProperty(key + "_flagged_points", t.slowed_flagged);
    }
  }
  RecordProperty("trials", trials);
  std::cout << std::flush;
  fs::remove_all(dir);
  if (trials < trials_wanted)
    GTEST_SKIP() << "the machine was busy: only " << trials << " of " << trials_wanted
                 << " trials ran with other processes under " << static_cast<int>(100 * quiet)
                 << "% of the CPUs (up to " << static_cast<int>(100 * busiest)
                 << "% seen); timing verdicts need it to themselves";

  const Tally &aa = tallies[0], &slow10 = tallies[2];
  // The false-alarm rate is reported, not asserted: on the 2-core CI VM two identical sweeps of
  // these millisecond points differ by 10-37% in some trials even with the CPUs otherwise idle
  // (measured from a fresh clone, 2026-11-23: 4 of 10 A/A trials flagged at a 5% threshold), so a
  // bound would test the VM, not compare. The detection of a real +10% slowdown is asserted.
  RecordProperty("aa_false_alarm_trials", aa.trials_flagged);
  std::cout << "A/A false alarms: " << aa.trials_flagged << " of " << trials << " trials\n";
  EXPECT_GE(slow10.trials_detected, trials * 9 / 10) << "+10% detected in under 90% of trials";
}

}  // namespace
}  // namespace costcurve

// The measuring side of the harness: statistics, the results file (layout, round trip, untrusted
// input, atomic writes), and whole sweeps of the smoke scenario, interrupted and resumed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "harness/results.hpp"
#include "harness/stats.hpp"
#include "harness/sweep.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kScenarios = COSTCURVE_SOURCE_DIR "/scenarios";

using test::temp_dir;

TEST(Stats, QuantilesInterpolateAndCvIsSampleBased) {
  const Summary s = summarize({5, 1, 4, 2, 3});
  EXPECT_EQ(s.n, 5);
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.p10, 1.4);
  EXPECT_DOUBLE_EQ(s.p90, 4.6);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_NEAR(s.stddev, std::sqrt(2.5), 1e-12);
  EXPECT_NEAR(s.cv, std::sqrt(2.5) / 3, 1e-12);
  EXPECT_EQ(summarize({}).n, 0);
  EXPECT_EQ(summarize({7}).cv, 0);
}

TEST(Stats, StopRuleHonoursMinimumNoiseCapAndBudget) {
  const StopRule rule{3, 6, 0.05, 1.0};
  EXPECT_EQ(should_stop(rule, {1, 1}, 0), StopReason::more);
  EXPECT_EQ(should_stop(rule, {1, 1, 1}, 0), StopReason::noise_target_met);
  EXPECT_EQ(should_stop(rule, {1, 2, 1}, 0.1), StopReason::more);
  EXPECT_EQ(should_stop(rule, {1, 2, 1}, 5), StopReason::max_time);
  EXPECT_EQ(should_stop(rule, {1, 2, 1, 2, 1, 2}, 0), StopReason::max_repetitions);
}

PointResult sample_point(const std::string& model, std::int64_t position) {
  PointResult r;
  r.point.backend = "cpu";
  r.point.model = model;
  r.point.op = Op::dense_decode;
  r.point.phase = Phase::decode;
  r.point.position = position;
  r.point.batch = 2;
  r.point.s_q = 2;
  r.name = r.point.name();
  r.validated = true;
  r.rel_l2 = 1e-7;
  r.tolerance = 2e-5;
  r.tokens_checked = r.tokens_total = 4;
  r.samples_s = {0.010, 0.012, 0.011};
  r.iterations = 3;
  r.summary = summarize(r.samples_s);
  r.flops = 1e9;
  r.bytes = 1e6;
  r.tokens = 4;
  r.floor_s = 0.005;
  r.bound = "compute";
  r.roofline_fraction = r.floor_s / r.summary.median;
  r.stop_reason = "noise target met";
  r.input_sets = 4;
  r.state_before = {{"sm_clock_mhz", 1980}, {"temperature_c", 41}};
  r.state_after = {{"sm_clock_mhz", 1755}, {"temperature_c", 63}};
  return r;
}

ResultsFile sample_file() {
  ResultsFile f;
  f.context = benchmark_context("costcurve");
  f.scenario = {{"name", "t"}};
  f.scenario_name = "t";
  f.scenario_hash = "abc";
  f.git_sha = "deadbeef";
  f.backend = "cpu";
  f.ceilings.backend = "cpu";
  f.ceilings.device = "test";
  f.ceilings.gemm_flops["f32"] = 2e11;
  f.ceilings.copy_bytes_per_s = 9e10;
  f.has_ceilings = true;
  f.points.push_back(sample_point("m", 1024));
  PointResult skipped = sample_point("m", 131072);
  skipped.status = PointStatus::skipped;
  skipped.reason = "needs 30 GiB, limit 20 GiB";
  skipped.samples_s.clear();
  skipped.input_sets = 0;
  skipped.state_before.clear();
  skipped.state_after.clear();
  f.points.push_back(skipped);
  return f;
}

TEST(Results, GoogleBenchmarkLayoutForCompareTools) {
  const json j = sample_file().to_json();
  ASSERT_TRUE(j["benchmarks"].is_array());
  // 3 repetitions + mean, median, stddev, cv for the ok point; nothing for the skipped one.
  ASSERT_EQ(j["benchmarks"].size(), 7u);
  const json& first = j["benchmarks"][0];
  for (const char* k : {"name", "run_name", "run_type", "repetitions", "repetition_index",
                        "iterations", "real_time", "cpu_time", "time_unit", "family_index",
                        "per_family_instance_index", "threads"})
    EXPECT_TRUE(first.contains(k)) << k;
  EXPECT_EQ(first["run_type"], "iteration");
  EXPECT_DOUBLE_EQ(first["real_time"].get<double>(), 10000.0);  // us
  EXPECT_EQ(first["time_unit"], "us");
  EXPECT_EQ(j["benchmarks"][4]["aggregate_name"], "median");
  EXPECT_DOUBLE_EQ(j["benchmarks"][4]["real_time"].get<double>(), 11000.0);
  EXPECT_FALSE(j["benchmarks"][5].contains("FLOP/s"));  // no rate over a standard deviation
  for (const char* k : {"date", "host_name", "num_cpus", "library_build_type"})
    EXPECT_TRUE(j["context"].contains(k)) << k;
}

TEST(Results, RoundTrip) {
  const ResultsFile f = sample_file();
  const ResultsFile g = results_from_json(json::parse(f.to_json().dump()), "mem");
  ASSERT_EQ(g.points.size(), 2u);
  EXPECT_EQ(g.points[0].name, f.points[0].name);
  EXPECT_EQ(g.points[0].samples_s, f.points[0].samples_s);
  EXPECT_DOUBLE_EQ(g.points[0].summary.median, 0.011);
  EXPECT_EQ(g.points[1].status, PointStatus::skipped);
  EXPECT_EQ(g.points[1].reason, f.points[1].reason);
  EXPECT_EQ(g.points[0].input_sets, 4);
  EXPECT_EQ(g.points[0].state_before, f.points[0].state_before);
  EXPECT_EQ(g.points[0].state_after, f.points[0].state_after);
  EXPECT_EQ(g.points[1].input_sets, 0);  // not recorded: left out of the file
  EXPECT_TRUE(g.points[1].state_before.empty());
  EXPECT_EQ(g.scenario_hash, "abc");
  EXPECT_DOUBLE_EQ(g.ceilings.peak_flops(DType::f32), 2e11);
  EXPECT_DOUBLE_EQ(g.ceilings.peak_flops(DType::bf16), 2e11);  // falls back to f32
}

std::string load_error(const std::function<void(json&)>& spoil) {
  json j = sample_file().to_json();
  spoil(j);
  try {
    results_from_json(j, "r.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(Results, LoaderRefusesBadFilesNamingTheField) {
  EXPECT_NE(load_error([](json& j) {
              j["costcurve"]["schema_version"] = 99;
            }).find("r.json: $.costcurve.schema_version"),
            std::string::npos);
  EXPECT_NE(load_error([](json& j) {
              j["costcurve"]["points"][0]["status"] = "great";
            }).find("$.costcurve.points[0].status"),
            std::string::npos);
  EXPECT_NE(load_error([](json& j) {
              j["costcurve"]["points"][0]["position"] = -1;
            }).find("$.costcurve.points[0].position"),
            std::string::npos);
  EXPECT_NE(load_error([](json& j) { j["costcurve"]["points"][0]["name"] = "x"; }).find("match"),
            std::string::npos);
  EXPECT_NE(load_error([](json& j) {
              j["costcurve"]["points"][0]["timing"]["samples_s"][1] = -3;
            }).find("samples_s[1]"),
            std::string::npos);
  EXPECT_NE(load_error([](json& j) {
              j["costcurve"]["points"][1] = j["costcurve"]["points"][0];
            }).find("duplicate"),
            std::string::npos);
  EXPECT_NE(load_error([](json& j) { j["costcurve"]["surprise"] = 1; }).find("surprise"),
            std::string::npos);
}

TEST(Results, AtomicWriteLeavesThePreviousFileOnFailure) {
  const fs::path d = temp_dir("atomic");
  const fs::path f = d / "r.json";
  write_atomic(f, "first");
  write_atomic(f, "second");
  std::ifstream in(f);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(s, "second");
  // A parent that is a file: the write fails with a message naming the path, nothing changes.
  EXPECT_THROW(write_atomic(f / "child.json", "x"), std::runtime_error);
  std::ifstream again(f);
  std::string t((std::istreambuf_iterator<char>(again)), {});
  EXPECT_EQ(t, "second");
  for (const auto& e : fs::directory_iterator(d))
    EXPECT_EQ(e.path().filename(), "r.json") << "left behind: " << e.path();
  fs::remove_all(d);
}

int sweep(const fs::path& scenario, const fs::path& out, bool resume, std::string* log = nullptr,
          bool dry = false) {
  SweepOptions o;
  o.scenario = scenario;
  o.out = out;
  o.resume = resume;
  o.dry_run = dry;
  std::ostringstream os;
  const int rc = run_sweep(o, os);
  if (log) *log = os.str();
  return rc;
}

TEST(Sweep, SmokeEndToEndThenInterruptedAndResumed) {
  const fs::path d = temp_dir("smoke");
  const fs::path out = d / "smoke.json";
  std::string log;
  {
    // A kernel-selection variable is provenance: it is recorded (bytes that are not printable
    // ASCII as '?'); the seed is not.
    test::ScopedEnv pick("COSTCURVE_PREFILL_PORTABLE", "1\xff");
    test::ScopedEnv seed("COSTCURVE_SEED", "7");
    ASSERT_EQ(sweep(kScenarios / "smoke.json", out, false, &log), 0) << log;
  }
  const ResultsFile full = load_results(out);
  ASSERT_GT(full.points.size(), 10u);
  EXPECT_EQ(full.context["kernel_env"].value("COSTCURVE_PREFILL_PORTABLE", ""), "1?");
  EXPECT_FALSE(full.context["kernel_env"].contains("COSTCURVE_SEED"));
  EXPECT_EQ(full.context.value("cache_flush", ""), "memset 256 MiB");  // how cold runs were cold
  std::set<std::string> ops;
  for (const PointResult& r : full.points) {
    EXPECT_EQ(r.status, PointStatus::ok) << r.name << ": " << r.reason;
    EXPECT_TRUE(r.validated);
    EXPECT_GE(r.samples_s.size(), 2u);
    EXPECT_GT(r.roofline_fraction, 0);
    EXPECT_GE(r.input_sets, 1) << r.name;
    ops.insert(std::string(op_name(r.point.op)));
  }
  EXPECT_EQ(ops.size(), 6u);  // every operation but gemm
  for (const char* k : {"device", "driver", "runtime", "cache_bytes"})
    EXPECT_TRUE(full.context.contains(k)) << k;
  EXPECT_GT(full.context["cache_bytes"].get<double>(), 0);  // the CPU backend knows its cache
  EXPECT_TRUE(full.ceilings.has_cache_flush);

  // Running again without --resume refuses to overwrite.
  EXPECT_EQ(sweep(kScenarios / "smoke.json", out, false, &log), 2);
  EXPECT_NE(log.find("--resume"), std::string::npos);

  // Simulate a sweep killed before its last two points, then resume it (two points re-run: the
  // resume logic is the same for two as for all, and the suite runs this under ASan too).
  json j = json::parse(std::ifstream(out));
  const std::size_t kept = full.points.size() - 2;
  j["costcurve"]["points"].erase(j["costcurve"]["points"].begin() + static_cast<long>(kept),
                                 j["costcurve"]["points"].end());
  write_atomic(out, j.dump());
  ASSERT_EQ(sweep(kScenarios / "smoke.json", out, true, &log), 0) << log;
  const ResultsFile resumed = load_results(out);
  ASSERT_EQ(resumed.points.size(), full.points.size());
  std::set<std::string> names;
  for (const PointResult& r : resumed.points) names.insert(r.name);
  EXPECT_EQ(names.size(), full.points.size());  // nothing repeated, nothing lost
  for (std::size_t i = 0; i < kept; ++i)
    EXPECT_EQ(resumed.points[i].samples_s, full.points[i].samples_s) << "point " << i << " re-run";

  // A file from another scenario version is refused.
  j = json::parse(std::ifstream(out));
  j["costcurve"]["scenario_hash"] = "0000";
  write_atomic(out, j.dump());
  EXPECT_EQ(sweep(kScenarios / "smoke.json", out, true, &log), 2);
  EXPECT_NE(log.find("another version"), std::string::npos) << log;
  fs::remove_all(d);
}

TEST(Sweep, DryRunListsPointsWithWork) {
  std::string log;
  EXPECT_EQ(sweep(kScenarios / "cpu-default.json", "", false, &log, true), 0);
  EXPECT_NE(log.find("L131072"), std::string::npos);
  EXPECT_NE(log.find("GFLOP"), std::string::npos);
}

TEST(Sweep, PointsThatDoNotFitAreSkippedWithTheMemoryTheyNeed) {
  const fs::path d = temp_dir("memory");
  fs::copy(kScenarios / "models", d / "models");
  json s = json::parse(std::ifstream(kScenarios / "smoke.json"));
  s["run"]["max_memory_gib"] = 1e-8;  // 10 bytes
  std::ofstream(d / "tiny.json") << s.dump();
  std::string log;
  EXPECT_EQ(sweep(d / "tiny.json", d / "out.json", false, &log), 0) << log;
  const ResultsFile f = load_results(d / "out.json");
  for (const PointResult& r : f.points) {
    EXPECT_EQ(r.status, PointStatus::skipped);
    EXPECT_NE(r.reason.find("needs"), std::string::npos) << r.reason;
  }
  fs::remove_all(d);
}

TEST(Sweep, BadScenarioAndFilterExitWithTwo) {
  std::string log;
  EXPECT_EQ(sweep("/nonexistent/s.json", "", false, &log), 2);
  SweepOptions o;
  o.scenario = kScenarios / "smoke.json";
  o.filter = "([";
  std::ostringstream os;
  EXPECT_EQ(run_sweep(o, os), 2);
  EXPECT_NE(os.str().find("--filter"), std::string::npos);
  o.filter = "no-such-point";
  EXPECT_EQ(run_sweep(o, os), 2);
}

}  // namespace
}  // namespace costcurve

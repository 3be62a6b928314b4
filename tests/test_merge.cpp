// `costcurve merge` and `sweep --devices`, through the real binary: a tiny scenario swept as 3
// shards and merged is the unsharded sweep (same points, same order, all validated); overlapping
// parts, parts of another scenario or build, and corrupted parts exit 2 naming the file; a missing
// shard exits 1 naming its points; two CPU "devices" run in parallel, resume, and stop with their
// parent.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "harness/devices.hpp"
#include "harness/results.hpp"
#include "harness/shard.hpp"
#include "tests/cli_run.hpp"
#include "tests/sweep_doubles.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::run_cli;

// 6 points (every operation of the sparse model at one position, batch 1), each a few
// milliseconds: ctest runs each test in its own process, so the suite's set-up runs 5 times.
fs::path tiny_scenario(const fs::path& dir, std::int64_t position = 64) {
  return test::smoke_variant(dir, [&](json& s) {
    s["models"] = {"deepseek-v3.2"};
    s["sweep"]["positions"] = {position};
    s["sweep"]["decode_batches"] = {1};
    s["run"] = {{"min_time_s", 0.0005}, {"max_time_s", 0.02},   {"warmup_runs", 1},
                {"min_repetitions", 3}, {"max_repetitions", 3}, {"validate_max_gflop", 0.2}};
  });
}

std::vector<std::string> scenario_order(const fs::path& scenario) {
  Scenario sc = load_scenario(scenario);
  sc.backends = {"cpu"};
  std::vector<std::string> names;
  for (const Point& p : generate_points(sc)) names.push_back(p.name());
  return names;
}

std::vector<std::string> names_of(const ResultsFile& f) {
  std::vector<std::string> n;
  for (const PointResult& r : f.points) n.push_back(r.name);
  return n;
}

class Merge : public ::testing::Test {
protected:
  static inline fs::path dir, scenario;
  static inline std::vector<fs::path> parts;

  // The three shards are swept once for every test of the suite.
  static void SetUpTestSuite() {
    dir = test::temp_dir("merge");
    scenario = tiny_scenario(dir);
    for (int i = 0; i < 3; ++i) {
      const fs::path part = dir / ("part-" + std::to_string(i) + ".json");
      test::seed_shard(scenario, part, i, 3);
      const test::CliResult r =
          run_cli({"sweep", scenario.string(), "--shard", std::to_string(i) + "/3", "--out",
                   part.string(), "--resume", "--threads", "1"});
      ASSERT_TRUE(r.exited && r.code == 0) << r.describe();
      parts.push_back(part);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  static std::vector<std::string> args(std::vector<fs::path> files, const fs::path& out) {
    std::vector<std::string> a = {"merge"};
    for (const fs::path& f : files) a.push_back(f.string());
    a.insert(a.end(), {"--out", out.string()});
    return a;
  }
  // A copy of a part with `edit` applied to its JSON.
  static fs::path edited(int part, const std::string& name,
                         const std::function<void(json&)>& edit) {
    json j = json::parse(std::ifstream(parts[static_cast<std::size_t>(part)]));
    edit(j);
    std::ofstream(dir / name) << j.dump(1);
    return dir / name;
  }
};

TEST_F(Merge, ShardsMergeIntoTheUnshardedSweep) {
  std::size_t measured = 0;
  for (const fs::path& p : parts) {
    const ResultsFile f = load_results(p);
    ASSERT_TRUE(f.shard);
    EXPECT_EQ(f.shard->count, 3);
    EXPECT_EQ(names_of(f), f.shard->points) << "a finished shard measured all its points";
    EXPECT_FALSE(f.points.empty());
    measured += f.points.size();
  }
  const fs::path out = dir / "merged.json";
  const test::CliResult r = run_cli(args({parts[2], parts[0], parts[1]}, out));
  ASSERT_TRUE(r.exited && r.code == 0) << r.describe();
  EXPECT_NE(r.output.find("0 missing"), std::string::npos) << r.output;
  const ResultsFile m = load_results(out);
  EXPECT_FALSE(m.shard);
  EXPECT_EQ(names_of(m), scenario_order(scenario)) << "the unsharded sweep's points and order";
  EXPECT_EQ(m.points.size(), measured);
  for (const PointResult& p : m.points) {
    EXPECT_EQ(p.status, PointStatus::ok) << p.name << ": " << p.reason;
    EXPECT_TRUE(p.validated) << p.name;
  }
  EXPECT_TRUE(m.has_ceilings);
  ASSERT_TRUE(m.context.contains("merged_from"));
  EXPECT_EQ(m.context["merged_from"].size(), 3u);
  for (const json& from : m.context["merged_from"]) EXPECT_TRUE(from.contains("host_name"));
  // The commands that read results accept it.
  const test::CliResult cmp = run_cli({"compare", out.string(), out.string()});
  EXPECT_TRUE(cmp.exited && cmp.code == 0) << cmp.describe();
  // And a sweep resumes it as the whole sweep it is: nothing left to run.
  const test::CliResult again =
      run_cli({"sweep", scenario.string(), "--out", out.string(), "--resume", "--threads", "1"});
  EXPECT_TRUE(again.exited && again.code == 0) << again.describe();
  EXPECT_NE(again.output.find("0 of 6 points to run"), std::string::npos) << again.output;
}

TEST_F(Merge, OverlapsAndRepeatedShardsAreRefused) {
  const ResultsFile p0 = load_results(parts[0]);
  const std::string stolen = p0.points.front().name;
  // Part 1 claiming one of part 0's points too.
  const fs::path greedy = edited(1, "greedy.json", [&](json& j) {
    j["costcurve"]["points"].push_back(
        json::parse(std::ifstream(parts[0]))["costcurve"]["points"][0]);
    j["costcurve"]["shard"]["points"].push_back(stolen);
  });
  ASSERT_NO_THROW(load_results(greedy));
  const fs::path out = dir / "overlap.json";
  test::CliResult r = run_cli(args({parts[0], greedy, parts[2]}, out));
  EXPECT_TRUE(r.exited && r.code == 2) << r.describe();
  EXPECT_NE(r.output.find(stolen), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(parts[0].string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(greedy.string()), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  // Nor may the merge overwrite one of its parts.
  const std::string before = test::slurp(parts[0]);
  r = run_cli(args({parts[0], parts[1], parts[2]}, parts[0]));
  EXPECT_TRUE(r.exited && r.code == 2) << r.describe();
  EXPECT_EQ(test::slurp(parts[0]), before);
  fs::copy_file(parts[0], dir / "again.json", fs::copy_options::overwrite_existing);
  r = run_cli(args({parts[0], dir / "again.json"}, out));
  EXPECT_TRUE(r.exited && r.code == 2) << r.describe();
  EXPECT_NE(r.output.find("again.json"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Merge, PartsOfAnotherScenarioBuildOrBackendAreRefused) {
  const fs::path other_dir = dir / "other";
  const fs::path other = tiny_scenario(other_dir, 300);
  test::seed_shard(other, other_dir / "part-1.json", 1, 3);
  const fs::path build =
      edited(1, "build.json", [](json& j) { j["costcurve"]["git_sha"] = "0ff"; });
  const fs::path backend =
      edited(1, "backend.json", [](json& j) { j["costcurve"]["backend"] = "cuda"; });
  const fs::path out = dir / "mismatch.json";
  for (const auto& [bad, why] : std::vector<std::pair<fs::path, std::string>>{
           {other_dir / "part-1.json", "scenario"}, {build, "build"}, {backend, "backend"}}) {
    const test::CliResult r = run_cli(args({parts[0], bad, parts[2]}, out));
    EXPECT_TRUE(r.exited && r.code == 2) << bad << ": " << r.describe();
    EXPECT_NE(r.output.find(bad.string() + " cannot be merged"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("it is " + why), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
  }
}

TEST_F(Merge, MissingShardIsReportedAndTheRestMerged) {
  const fs::path out = dir / "partial.json";
  const test::CliResult r = run_cli(args({parts[0], parts[2]}, out));
  EXPECT_TRUE(r.exited && r.code == 1) << r.describe();
  const ResultsFile lost = load_results(parts[1]);
  EXPECT_NE(r.output.find("warning: " + std::to_string(lost.points.size()) + " points"),
            std::string::npos)
      << r.output;
  for (const std::string& n : names_of(lost)) {
    EXPECT_NE(r.output.find("missing \"" + n + "\" (shard 1/3"), std::string::npos) << r.output;
  }
  const ResultsFile m = load_results(out);  // written all the same
  EXPECT_EQ(m.points.size(),
            load_results(parts[0]).points.size() + load_results(parts[2]).points.size());
  // An interrupted shard: its listed but unmeasured points are missing too.
  const fs::path cut = edited(1, "cut.json", [](json& j) { j["costcurve"]["points"].erase(0); });
  const test::CliResult r2 = run_cli(args({parts[0], cut, parts[2]}, out));
  EXPECT_TRUE(r2.exited && r2.code == 1) << r2.describe();
  EXPECT_NE(r2.output.find("missing \"" + lost.points.front().name + "\" (shard 1/3, not measured"),
            std::string::npos)
      << r2.output;
}

TEST_F(Merge, CorruptedPartExitsTwoNamingTheFile) {
  const std::string text = test::slurp(parts[1]);
  std::ofstream(dir / "truncated.json") << text.substr(0, text.size() / 2);
  // A measured point the shard does not list.
  const fs::path unlisted =
      edited(1, "unlisted.json", [](json& j) { j["costcurve"]["shard"]["points"].erase(0); });
  const fs::path bad_shard =
      edited(1, "badshard.json", [](json& j) { j["costcurve"]["shard"]["index"] = 7; });
  const fs::path out = dir / "corrupt.json";
  for (const auto& [bad, field] :
       std::vector<std::pair<fs::path, std::string>>{{dir / "truncated.json", ""},
                                                     {unlisted, "$.costcurve.points[0].name"},
                                                     {bad_shard, "$.costcurve.shard.index"},
                                                     {dir / "absent.json", ""}}) {
    const test::CliResult r = run_cli(args({parts[0], bad, parts[2]}, out));
    EXPECT_TRUE(r.exited && r.code == 2) << bad << ": " << r.describe();
    EXPECT_NE(r.output.find(bad.string() + ": " + field), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
  }
  const test::CliResult none = run_cli({"merge", "--out", out.string()});
  EXPECT_TRUE(none.exited && none.code == 2) << none.describe();
}

TEST(Devices, ParsesOrdinals) {
  EXPECT_EQ(parse_devices("0,1,2,3"), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(parse_devices("5"), (std::vector<int>{5}));
  for (const char* bad : {"", ",", "0,", ",1", "0,,1", "a", "-1", "1,1", "0 1", "99999"})
    EXPECT_THROW(parse_devices(bad), InputError) << bad;
  EXPECT_EQ(shard_part_path("r/x.json", 1, 4), fs::path("r/x.json.shard-1-of-4.json"));
}

TEST(Devices, TwoCpuDevicesRunShardsInParallelAndMerge) {
  const fs::path d = test::temp_dir("devices");
  const fs::path scenario = tiny_scenario(d);
  const fs::path out = d / "r.json";
  for (int i = 0; i < 2; ++i) test::seed_shard(scenario, shard_part_path(out, i, 2), i, 2);
  const std::vector<std::string> cmd = {"sweep", scenario.string(), "--backend",
                                        "cpu",   "--devices",       "0,1",
                                        "--out", out.string(),      "--resume"};
  const test::CliResult r = run_cli(cmd);
  ASSERT_TRUE(r.exited && r.code == 0) << r.describe();
  for (const char* prefix : {"[dev 0] ", "[dev 1] "})
    EXPECT_NE(r.output.find(prefix), std::string::npos) << r.output;
  for (int i = 0; i < 2; ++i) {
    const fs::path log = d / ("r.json.shard-" + std::to_string(i) + "-of-2.log");
    EXPECT_NE(test::slurp(log).find("ok, 0 skipped, 0 failed"), std::string::npos) << log;
  }
  const ResultsFile m = load_results(out);
  EXPECT_EQ(names_of(m), scenario_order(scenario));
  // The same command again resumes every shard: nothing left to run.
  const test::CliResult again = run_cli(cmd);
  ASSERT_TRUE(again.exited && again.code == 0) << again.describe();
  EXPECT_NE(again.output.find("[dev 1] 0 of"), std::string::npos) << again.output;
  // Without --resume the existing parts are not overwritten.
  std::vector<std::string> fresh = cmd;
  fresh.pop_back();
  const test::CliResult refused = run_cli(fresh);
  EXPECT_TRUE(refused.exited && refused.code == 2) << refused.describe();
  EXPECT_NE(refused.output.find("--resume"), std::string::npos) << refused.output;
  fs::remove_all(d);
}

TEST(Devices, AFailedShardIsNamedWithItsLog) {
  const fs::path d = test::temp_dir("devices-fail");
  const fs::path scenario = tiny_scenario(d);
  const fs::path out = d / "r.json";
  test::seed_shard(scenario, shard_part_path(out, 0, 2), 0, 2);
  // Shard 1's part is another shard's file: its child refuses to resume it.
  test::seed_shard(scenario, shard_part_path(out, 1, 2), 0, 2);
  const test::CliResult r =
      run_cli({"sweep", scenario.string(), "--devices", "0,1", "--out", out.string(), "--resume"});
  EXPECT_TRUE(r.exited && r.code != 0) << r.describe();
  EXPECT_NE(r.output.find("shard 1/2 on device 1 failed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("r.json.shard-1-of-2.log"), std::string::npos) << r.output;
  fs::remove_all(d);
}

// SIGTERM to the parent reaches the children: none outlives it.
TEST(Devices, TerminatingTheParentStopsTheChildren) {
  const fs::path d = test::temp_dir("devices-kill");
  const fs::path scenario = tiny_scenario(d);
  const fs::path out = d / "r.json";
  const fs::path log = d / "parent.log";
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    // No seeded parts: each child starts by measuring its ceilings, which takes seconds.
    ::execl(COSTCURVE_BINARY, COSTCURVE_BINARY, "sweep", scenario.c_str(), "--devices", "0,1",
            "--out", out.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::vector<pid_t> children;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (children.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    children.clear();
    const std::string text = test::slurp(log);
    const std::regex pid_re("pid ([0-9]+)");
    for (std::sregex_iterator it(text.begin(), text.end(), pid_re), end; it != end; ++it)
      children.push_back(static_cast<pid_t>(std::stol((*it)[1])));
  }
  ASSERT_EQ(children.size(), 2u) << test::slurp(log);
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  for (pid_t c : children) {
    // Reaped by the parent before it died: the pid no longer exists (barring reuse).
    EXPECT_NE(::kill(c, 0), 0) << "child " << c << " outlived its parent";
  }
  EXPECT_NE(test::slurp(log).find("interrupted by signal"), std::string::npos) << test::slurp(log);
  fs::remove_all(d);
}

}  // namespace
}  // namespace costcurve

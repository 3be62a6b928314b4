// `costcurve slurm`. Without a cluster: the scripts' #SBATCH lines hold only validated values,
// every other string is single-quoted (checked by bash itself, and by running the generated scripts
// by hand on a scenario whose path is made of shell syntax), task lists and squeue output parse.
// With a cluster (tools/slurm_ci.sh start, SLURM_CONF exported; skipped otherwise): 3 array tasks
// merged equal the unsharded sweep; a task killed with scancel is reported FAILED with its log,
// exit 1, and `--resubmit` of just that task completes the merge.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "harness/json_input.hpp"
#include "harness/results.hpp"
#include "harness/shard.hpp"
#include "harness/slurm.hpp"
#include "tests/cli_run.hpp"
#include "tests/sweep_doubles.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::run_cli;
using namespace std::chrono_literals;

// Every operation of DeepSeek-V3.2 at one position, batch 1: each point a few milliseconds.
fs::path tiny_scenario(const fs::path& dir) {
  return test::smoke_variant(dir, [](json& s) {
    s["name"] = "slurm-test";
    s["models"] = {"deepseek-v3.2"};
    s["sweep"]["positions"] = {64};
    s["sweep"]["decode_batches"] = {1};
    s["run"] = {{"min_time_s", 0.0005}, {"max_time_s", 0.02},   {"warmup_runs", 1},
                {"min_repetitions", 3}, {"max_repetitions", 3}, {"validate_max_gflop", 0.2}};
  });
}

slurm::JobSpec sample_job() {
  slurm::JobSpec j;
  j.binary = "/opt/cc/costcurve";
  j.scenario = "/data/scen.json";
  j.name = "smoke";
  j.shards = 4;
  j.workdir = "/scratch/w-1";
  j.out = "/data/out.json";
  return j;
}

test::CliOptions in_dir(const fs::path& cwd, double timeout_s = 60) {
  test::CliOptions o;
  o.cwd = cwd;
  o.timeout_s = timeout_s;
  return o;
}

std::string bash_echo(const std::string& word) {
  return slurm::run_program({"bash", "-c", "printf %s " + word}).out;
}

TEST(SlurmScripts, ShellQuotingRoundTripsThroughBash) {
  const std::vector<std::string> nasty = {
      "plain",  "",        "a b",    "it's",        "'",     "''", "$(touch /tmp/x)",
      "`id`",   "\"q\"",   "back\\", "line\nbreak", "*?[a]", "~",  "-n",
      "a;b|c&", "${HOME}", "!x",     "\t tab",      "%a %j"};
  for (const std::string& s : nasty) {
    EXPECT_EQ(bash_echo(slurm::shell_quote(s)), s) << slurm::shell_quote(s);
    EXPECT_EQ(bash_echo(slurm::shell_word(s)), s) << slurm::shell_word(s);
  }
  EXPECT_EQ(slurm::shell_word("/a/b-c.json"), "/a/b-c.json");  // readable when harmless
}

TEST(SlurmScripts, SbatchValuesOutsideTheSafeSetAreRefusedNamingTheOption) {
  const auto refused = [](const char* option, auto edit) {
    slurm::JobSpec j = sample_job();
    edit(j);
    try {
      slurm::validate(j);
      ADD_FAILURE() << option << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(option), std::string::npos) << e.what();
    }
  };
  for (const char* p : {"a b", "gpu;id", "x\ny", "$(id)", "a,,b", ",a", "p'q"})
    refused("--partition", [&](slurm::JobSpec& j) { j.partition = p; });
  for (const char* t : {"1h", "1:00 ", "10:00:00:00", "-1", "1;id", "a", "1-", ":5"})
    refused("--time", [&](slurm::JobSpec& j) { j.time = t; });
  for (const char* w : {"/a b", "/x/%a", "/it's", "/a\nb", "rel/dir", "/$(id)"})
    refused("--workdir", [&](slurm::JobSpec& j) { j.workdir = w; });
  refused("--out", [](slurm::JobSpec& j) { j.out = "relative.json"; });
  refused("--shards", [](slurm::JobSpec& j) { j.shards = 0; });
  refused("--gpus-per-task", [](slurm::JobSpec& j) { j.gpus_per_task = -1; });
  refused("job name", [](slurm::JobSpec& j) { j.name = "a b"; });

  slurm::JobSpec ok = sample_job();
  for (const char* t : {"30", "5:00", "2:00:00", "1-0", "1-12:00", "2-00:00:00", "UNLIMITED"}) {
    ok.time = t;
    EXPECT_NO_THROW(slurm::validate(ok)) << t;
  }
  ok.partition = "gpu-h100,gpu_a100.x";
  EXPECT_NO_THROW(slurm::validate(ok));
  EXPECT_EQ(slurm::make_job_name("a b/c$(d)"), "a_b_c__d_");
}

TEST(SlurmScripts, ArrayScriptRunsOneShardPerTask) {
  slurm::JobSpec j = sample_job();
  j.scenario = "/data/it's $(here).json";
  j.partition = "gpu";
  j.time = "2:00:00";
  j.gpus_per_task = 1;
  j.backend = "cuda";
  const std::string s = slurm::array_script(j);
  EXPECT_EQ(s.rfind("#!/bin/bash\n", 0), 0u);
  for (const char* line :
       {"#SBATCH --array=0-3\n", "#SBATCH --partition=gpu\n", "#SBATCH --time=2:00:00\n",
        "#SBATCH --gres=gpu:1\n", "#SBATCH --output=/scratch/w-1/logs/task-%a.out\n",
        "#SBATCH --chdir=/scratch/w-1\n", "#SBATCH --job-name=costcurve-smoke\n"})
    EXPECT_NE(s.find(line), std::string::npos) << line << "\n" << s;
  EXPECT_NE(s.find("'/opt/cc/costcurve' sweep '/data/it'\\''s $(here).json' --shard \"$i/4\" "
                   "--out '/scratch/w-1/part-'\"$i\"'.json' --resume --backend 'cuda'"),
            std::string::npos)
      << s;
  // #SBATCH lines are read by sbatch, not a shell: nothing but the safe set may reach them.
  const std::regex safe_line(R"(#SBATCH --[a-z-]+=[A-Za-z0-9._/+,:@=%-]+)");
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("#SBATCH", 0) == 0) {
      EXPECT_TRUE(std::regex_match(line, safe_line)) << line;
    }

  j.gpus_per_task = 0;  // a CPU-only partition may not know gres/gpu at all
  j.threads = 2;
  const std::string cpu = slurm::array_script(j);
  EXPECT_EQ(cpu.find("--gres"), std::string::npos);
  EXPECT_NE(cpu.find("#SBATCH --cpus-per-task=2\n"), std::string::npos);
  EXPECT_NE(cpu.find(" --threads 2\n"), std::string::npos);
  EXPECT_EQ(slurm::run_program({"bash", "-n", "-c", cpu}).code, 0);
}

TEST(SlurmScripts, FinishScriptListsEveryPartThenReports) {
  slurm::JobSpec j = sample_job();
  j.report = "/data/rep";
  j.partition = "cpu";
  j.gpus_per_task = 2;
  const std::string s = slurm::finish_script(j);
  EXPECT_NE(s.find("'/opt/cc/costcurve' merge '/scratch/w-1/part-0.json' "
                   "'/scratch/w-1/part-1.json' '/scratch/w-1/part-2.json' "
                   "'/scratch/w-1/part-3.json' --out '/data/out.json'"),
            std::string::npos)
      << s;
  EXPECT_EQ(s.find("part-*"), std::string::npos);
  EXPECT_NE(s.find("'/opt/cc/costcurve' report '/data/out.json' --out '/data/rep'"),
            std::string::npos);
  EXPECT_EQ(s.find("--gres"), std::string::npos);  // merging needs no GPU
  EXPECT_NE(s.find("#SBATCH --partition=cpu\n"), std::string::npos);
  EXPECT_EQ(slurm::run_program({"bash", "-n", "-c", s}).code, 0);

  // With the three specs, the cost step runs between the merge and the report, which gets it.
  j.hardware = "h100-sxm";
  j.price = "h100";
  j.deployment = "it's deepseek";
  j.specs = "/opt/cc/scenarios";
  const std::string c = slurm::finish_script(j);
  const auto cost_at = c.find(
      "'/opt/cc/costcurve' cost '/data/out.json' --hardware 'h100-sxm' "
      "--price 'h100' --deployment 'it'\\''s deepseek' --specs "
      "'/opt/cc/scenarios' --out '/data/out.cost.json'");
  ASSERT_NE(cost_at, std::string::npos) << c;
  const auto report_at = c.find("report '/data/out.json' --cost '/data/out.cost.json' --out");
  ASSERT_NE(report_at, std::string::npos) << c;
  EXPECT_LT(cost_at, report_at);
  EXPECT_EQ(slurm::run_program({"bash", "-n", "-c", c}).code, 0);
  j.price.clear();  // two of three: refused, naming the options
  EXPECT_THROW(slurm::finish_script(j), InputError);
}

TEST(SlurmScripts, TaskListsJobIdsAndQueueLines) {
  EXPECT_EQ(slurm::parse_task_list("3,5", 6), (std::vector<int>{3, 5}));
  EXPECT_EQ(slurm::parse_task_list("5,0-2,1", 6), (std::vector<int>{0, 1, 2, 5}));
  for (const char* bad : {"", "6", "a", "1,", "-1", "3-1", "1 2", "99999999999"})
    EXPECT_THROW(slurm::parse_task_list(bad, 6), InputError) << bad;
  EXPECT_EQ(slurm::task_list_text({0, 1, 2, 5, 7, 8}), "0-2,5,7,8");

  EXPECT_EQ(slurm::parse_job_id("123\n"), "123");
  EXPECT_EQ(slurm::parse_job_id("123;cluster\n"), "123");
  EXPECT_FALSE(slurm::parse_job_id("sbatch: error: x\n"));

  const auto q = slurm::parse_squeue("7_2|RUNNING\n7_[3-4,6%2]|PENDING\n8|PENDING\ngarbage\n");
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0].job, "7");
  EXPECT_EQ(q[0].task, 2);
  EXPECT_EQ(q[3].task, 6);
  EXPECT_EQ(q[3].state, "PENDING");
  EXPECT_EQ(q[4].job, "8");
  EXPECT_EQ(q[4].task, -1);
  EXPECT_TRUE(slurm::is_terminal_state("CANCELLED"));
  EXPECT_FALSE(slurm::is_terminal_state("COMPLETING"));
}

TEST(SlurmCli, BadOptionsExit2NamingTheOption) {
  const fs::path dir = test::temp_dir("slurm-cli");
  const fs::path sc = tiny_scenario(dir);
  const auto expect_usage = [&](std::vector<std::string> extra, const std::string& option) {
    std::vector<std::string> args = {"slurm", sc.string(), "--shards", "3"};
    args.insert(args.end(), extra.begin(), extra.end());
    const test::CliResult r = run_cli(args);
    EXPECT_TRUE(r.exited && r.code == 2) << r.describe();
    EXPECT_NE(r.output.find(option), std::string::npos) << r.describe();
  };
  expect_usage({"--partition", "a b", "--workdir", (dir / "w").string()}, "--partition");
  expect_usage({"--time", "1:00;reboot", "--workdir", (dir / "w").string()}, "--time");
  expect_usage({"--workdir", (dir / "with space").string()}, "--workdir");
  expect_usage({"--resubmit", "1"}, "--resubmit");  // no --workdir
  expect_usage({"--resubmit", "3", "--workdir", (dir / "w").string()}, "--resubmit");
  EXPECT_FALSE(fs::exists(dir / "w"));
  // Scripts for other options in the same workdir: refused, the part files would not fit.
  ASSERT_EQ(
      run_cli({"slurm", sc.string(), "--shards", "3", "--workdir", (dir / "w").string()}).code, 0);
  expect_usage({"--workdir", (dir / "w").string(), "--threads", "1"}, "--workdir");
  fs::remove_all(dir);
}

// The generated scripts, run by hand (as a task would run them) on a scenario whose directory
// name is shell syntax: the sweep and the merge get the path verbatim, and nothing is executed.
TEST(SlurmCli, ScriptsRunByHandOnAHostileScenarioPath) {
  const fs::path dir = test::temp_dir("slurm-hostile");
  const fs::path evil = dir / "it's $(touch PWNED1) `touch PWNED2`; touch PWNED3 \"x\"\nz";
  const fs::path sc = tiny_scenario(evil);
  const fs::path work = dir / "work";
  const fs::path out = evil / "merged $(touch PWNED4).json";
  const test::CliResult w =
      run_cli({"slurm",        sc.string(),
               "--shards",     "2",
               "--threads",    "1",
               "--workdir",    work.string(),
               "--out",        out.string(),
               "--report",     (evil / "rep").string(),
               "--hardware",   "cpu-epyc-2core",
               "--price",      "cpu-epyc-2core",
               "--deployment", "single-cpu",
               "--specs",      std::string(COSTCURVE_SOURCE_DIR) + "/scenarios"},
              in_dir(dir));
  ASSERT_TRUE(w.exited && w.code == 0) << w.describe();
  for (int i = 0; i < 2; ++i) {
    test::seed_shard(sc, work / ("part-" + std::to_string(i) + ".json"), i, 2);
    const test::CliResult t = run_cli(
        {"SLURM_ARRAY_TASK_ID=" + std::to_string(i), "bash", (work / "array.sbatch").string()},
        in_dir(dir), "/usr/bin/env");
    ASSERT_TRUE(t.exited && t.code == 0) << t.describe();
    EXPECT_EQ(slurm::read_status(work / "status" / ("task-" + std::to_string(i) + ".rc")), 0);
  }
  // An index that is not a shard is refused before anything runs.
  const test::CliResult bad =
      run_cli({"SLURM_ARRAY_TASK_ID=2", "bash", (work / "array.sbatch").string()}, in_dir(dir),
              "/usr/bin/env");
  EXPECT_TRUE(bad.exited && bad.code == 2) << bad.describe();
  const test::CliResult f = run_cli({(work / "finish.sbatch").string()}, in_dir(dir), "/bin/bash");
  ASSERT_TRUE(f.exited && f.code == 0) << f.describe();
  EXPECT_EQ(slurm::read_status(work / "status" / "finish.rc"), 0);
  const ResultsFile merged = load_results(out);
  EXPECT_EQ(merged.points.size(), generate_points(load_scenario(sc)).size());
  EXPECT_TRUE(fs::exists(evil / "rep" / "index.html"));
  EXPECT_TRUE(fs::exists(evil / "merged $(touch PWNED4).cost.json"));  // the cost step ran
  for (const fs::path& d : {dir, evil, work})
    for (const char* p : {"PWNED1", "PWNED2", "PWNED3", "PWNED4"})
      EXPECT_FALSE(fs::exists(d / p)) << (d / p);
  fs::remove_all(dir);
}

// --- on a real cluster ---------------------------------------------------------------------

// Why no cluster can be used here, or "" when sbatch and a live slurmctld are at hand.
std::string no_cluster_reason() {
  const slurm::ProgramResult ping = slurm::run_program({"scontrol", "ping"}, 20s);
  if (ping.code == 127) return "Slurm is not installed (tools/slurm_ci.sh install; then start it)";
  if (ping.code != 0 || ping.out.find("is UP") == std::string::npos)
    return "no slurmctld answers (tools/slurm_ci.sh start, and export the SLURM_CONF it prints): " +
           ping.out + ping.err;
  if (slurm::run_program({"sbatch", "--version"}, 20s).code != 0) return "sbatch does not run";
  return "";
}

class SlurmCluster : public ::testing::Test {
protected:
  fs::path dir_, scenario_;

  void SetUp() override {
    if (const std::string why = no_cluster_reason(); !why.empty()) GTEST_SKIP() << why;
    dir_ = test::temp_dir("slurmtest");
    scenario_ = tiny_scenario(dir_);
  }
  // Whatever a failed test left queued is cancelled (only the jobs this test submitted).
  void TearDown() override {
    if (dir_.empty()) return;
    for (const char* w : {"w1", "w2"}) {
      std::ifstream in(dir_ / w / "submissions.log");
      std::string stamp, k1, array, k2, tasks, k3, finish;
      while (in >> stamp >> k1 >> array >> k2 >> tasks >> k3 >> finish)
        slurm::run_program({"scancel", array, finish}, 20s);
    }
    fs::remove_all(dir_);
  }

  std::vector<std::string> slurm_args(const std::string& workdir) const {
    return {"slurm",     scenario_.string(),
            "--shards",  "3",
            "--threads", "1",
            "--time",    "5:00",
            "--workdir", (dir_ / workdir).string(),
            "--out",     (dir_ / (workdir + ".json")).string()};
  }

  // The scenario swept in one process, for comparison.
  ResultsFile unsharded() const {
    const fs::path ref = dir_ / "unsharded.json";
    test::seed_results(scenario_, ref, make_backend("cpu", 1)->info());
    const test::CliResult r =
        run_cli({"sweep", scenario_.string(), "--out", ref.string(), "--resume", "--threads", "1"});
    EXPECT_TRUE(r.exited && r.code == 0) << r.describe();
    return load_results(ref);
  }
};

void expect_same_points(const ResultsFile& merged, const ResultsFile& ref) {
  ASSERT_EQ(merged.points.size(), ref.points.size());
  for (std::size_t i = 0; i < ref.points.size(); ++i) {
    EXPECT_EQ(merged.points[i].name, ref.points[i].name) << i;
    EXPECT_EQ(merged.points[i].status, PointStatus::ok) << merged.points[i].name;
    EXPECT_TRUE(merged.points[i].validated) << merged.points[i].name;
  }
  EXPECT_FALSE(merged.shard.has_value());
}

TEST_F(SlurmCluster, ArrayOfThreeShardsMergesToTheUnshardedSweep) {
  const fs::path work = dir_ / "w1";
  std::vector<std::string> args = slurm_args("w1");
  args.push_back("--wait");
  // Written first without submitting, so that the parts can be seeded with made-up ceilings.
  ASSERT_EQ(run_cli({args.begin(), args.end() - 1}).code, 0);
  for (int i = 0; i < 3; ++i)
    test::seed_shard(scenario_, work / ("part-" + std::to_string(i) + ".json"), i, 3);
  const test::CliResult r = run_cli(args, in_dir({}, 90));
  ASSERT_TRUE(r.exited && r.code == 0) << r.describe();
  EXPECT_NE(r.output.find("submitted array job"), std::string::npos) << r.output;
  for (int i = 0; i < 3; ++i)
    EXPECT_NE(r.output.find("task " + std::to_string(i) + ": ok"), std::string::npos) << r.output;
  expect_same_points(load_results(dir_ / "w1.json"), unsharded());
}

TEST_F(SlurmCluster, KilledTaskIsReportedAndResubmittingItCompletesTheMerge) {
  const fs::path work = dir_ / "w2";
  std::vector<std::string> args = slurm_args("w2");
  ASSERT_EQ(run_cli(args).code, 0);
  // Task 1 is not seeded: it measures the ceilings first (seconds), which leaves time to kill it
  // while it runs.
  for (int i : {0, 2})
    test::seed_shard(scenario_, work / ("part-" + std::to_string(i) + ".json"), i, 3);
  args.push_back("--wait");
  test::CliResult waited;
  std::thread waiter([&] { waited = run_cli(args, in_dir({}, 90)); });

  std::string array;
  std::string killed_in;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline && killed_in.empty()) {
    if (array.empty()) {
      std::ifstream in(work / "submissions.log");
      std::string stamp, kind;
      in >> stamp >> kind >> array;
    } else {
      const std::string state =
          slurm::run_program({"squeue", "-h", "-r", "-t", "all", "-j", array + "_1", "-o", "%T"},
                             20s)
              .out;
      if (state.rfind("RUNNING", 0) == 0) {
        const slurm::ProgramResult c = slurm::run_program({"scancel", array + "_1"}, 20s);
        EXPECT_EQ(c.code, 0) << c.err;
        killed_in = "RUNNING";
      } else if (!state.empty() && state.rfind("PENDING", 0) != 0) {
        killed_in = "too late: " + state;
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  waiter.join();
  ASSERT_EQ(killed_in, "RUNNING") << waited.describe();
  ASSERT_TRUE(waited.exited && waited.code == 1) << waited.describe();
  const std::string log = (work / "logs" / "task-1.out").string();
  EXPECT_NE(waited.output.find("task 1: FAILED"), std::string::npos) << waited.output;
  EXPECT_NE(waited.output.find("log: " + log), std::string::npos) << waited.output;
  EXPECT_NE(waited.output.find("task 0: ok"), std::string::npos) << waited.output;
  EXPECT_NE(waited.output.find("task 2: ok"), std::string::npos) << waited.output;
  EXPECT_TRUE(fs::exists(log));
  EXPECT_FALSE(fs::exists(dir_ / "w2.json"));  // the finish job never ran

  // The printed command, run as a person would paste it.
  const std::size_t flag = waited.output.find("--resubmit 1 --wait");
  ASSERT_NE(flag, std::string::npos) << waited.output;
  const std::size_t line_start = waited.output.rfind('\n', flag) + 1;
  const std::string command =
      waited.output.substr(line_start, waited.output.find('\n', flag) - line_start);
  // Seeded now so that the rerun does not measure the ceilings again (this is about resubmitting,
  // not about timing).
  test::seed_shard(scenario_, work / "part-1.json", 1, 3);
  const test::CliResult again = run_cli({"-c", command}, in_dir({}, 90), "/bin/sh");
  ASSERT_TRUE(again.exited && again.code == 0) << again.describe();
  EXPECT_NE(again.output.find("(tasks 1)"), std::string::npos) << again.output;
  expect_same_points(load_results(dir_ / "w2.json"), unsharded());
}

}  // namespace
}  // namespace costcurve

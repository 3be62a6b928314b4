// tools/nightly.sh, the README's nightly job, run for real on a six-point scenario: the first run
// becomes the baseline (and its binary is kept); a run slower than the baseline is flagged,
// measured again in a fresh process and reported as a confirmed regression (exit 1) without
// replacing the baseline, unless the baseline's binary, swept beside the re-measurement, is just
// as slow (the machine drifted: exit 0), or is not the baseline's build (judged without it); bad
// arguments exit 2 and write nothing outside the output directory.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "harness/results.hpp"
#include "tests/sweep_doubles.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Nightly : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = test::temp_dir("nightly");
    scenario_ = test::smoke_variant(dir_, [](nlohmann::json& s) {
      s["name"] = "nightly-test";
      s["models"] = {"deepseek-v3.2"};
      s["sweep"]["positions"] = {64};
      s["sweep"]["decode_batches"] = {1};
      s["run"]["max_repetitions"] = 7;
    });
  }
  void TearDown() override { fs::remove_all(dir_); }

  int nightly(const std::string& args) {
    const std::string cmd = "sh '" + std::string(COSTCURVE_SOURCE_DIR) +
                            "/tools/nightly.sh' --bin '" + COSTCURVE_BINARY + "' --scenario '" +
                            scenario_.string() + "' --dir '" + (dir_ / "out").string() +
                            "' --threads 1 " + args + " > '" + (dir_ / "log").string() + "' 2>&1";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string log() const { return slurp(dir_ / "log"); }

  fs::path dir_, scenario_;
};

TEST_F(Nightly, FirstRunIsTheBaselineAndASlowerRunIsAConfirmedRegression) {
  ASSERT_EQ(nightly("--kind test-box"), 0) << log();
  const fs::path kind = dir_ / "out" / "test-box";
  ASSERT_TRUE(fs::exists(kind / "baseline.json")) << log();
  ASSERT_TRUE(fs::exists(kind / "baseline.2.json")) << log();  // a second process of the build
  ASSERT_TRUE(fs::exists(kind / "baseline.bin")) << log();     // the build itself
  EXPECT_NE(log().find("new baseline"), std::string::npos) << log();

  // Make the baseline (both of its runs) twice as fast as anything this machine measures: today's
  // run (resumed, the same file) and the fresh re-measurement of its flagged points are both
  // regressions. Without the baseline's binary (a baseline kept by an older nightly.sh) nothing
  // tells that apart from a slower build.
  for (const char* f : {"baseline.json", "baseline.2.json"}) {
    ResultsFile b = load_results(kind / f);
    ASSERT_EQ(b.points.size(), 6u);
    for (PointResult& p : b.points)
      for (double& t : p.samples_s) t *= 0.5;
    write_atomic(kind / f, b.to_json().dump(1));
  }
  const std::string halved = slurp(kind / "baseline.json");
  fs::remove(kind / "baseline.bin");

  ASSERT_EQ(nightly("--kind test-box"), 1) << log();
  EXPECT_NE(log().find("measuring the flagged points again"), std::string::npos) << log();
  EXPECT_NE(log().find("REGRESSION confirmed"), std::string::npos) << log();
  bool dated_confirm = false, dated_verdict = false;
  for (const auto& e : fs::directory_iterator(kind)) {
    const std::string n = e.path().filename().string();
    dated_confirm = dated_confirm || n.ends_with(".confirm.md");
    dated_verdict = dated_verdict || n.ends_with(".verdict.md");
    if (n.ends_with(".confirm.json")) {
      // Only the flagged points were measured again (all six, unless one could not reach alpha:
      // under ASan a point may stop at its time limit with too few repetitions).
      const std::size_t again = load_results(e.path()).points.size();
      EXPECT_GE(again, 1u);
      EXPECT_LE(again, 6u);
    }
    if (n.ends_with(".report")) {
      EXPECT_TRUE(fs::exists(e.path() / "summary.md")) << e.path();
    }
  }
  EXPECT_TRUE(dated_confirm && dated_verdict);
  EXPECT_EQ(slurp(kind / "baseline.json"), halved) << "a regression must not become the baseline";

  // With the baseline's binary back, the confirmation sweeps it beside today's build: just as
  // slow, so the machine, not the code. The baseline is made 100x fast and the threshold 500%, so
  // that neither the A/A comparison beside nor a slow baseline process decides it: these are tiny
  // points in processes that share 2 cores with other tests (one was seen 3.4x slower than its
  // neighbour). No regression: today's run becomes the baseline.
  for (const char* f : {"baseline.json", "baseline.2.json"}) {
    ResultsFile b = load_results(kind / f);
    for (PointResult& p : b.points)
      for (double& t : p.samples_s) t *= 0.02;
    write_atomic(kind / f, b.to_json().dump(1));
  }
  fs::copy_file(COSTCURVE_BINARY, kind / "baseline.bin");
  ASSERT_EQ(nightly("--kind test-box --threshold 500%"), 0) << log();
  EXPECT_NE(log().find("not slower when measured again"), std::string::npos) << log();
  bool beside = false, beside2 = false, cleared = false;
  for (const auto& e : fs::directory_iterator(kind)) {
    const std::string n = e.path().filename().string();
    beside = beside || n.ends_with(".beside.json");
    beside2 = beside2 || n.ends_with(".beside.2.json");
    if (n.ends_with(".confirm.md")) cleared = slurp(e.path()).find("drift") != std::string::npos;
  }
  EXPECT_TRUE(beside && beside2 && cleared) << log();
  EXPECT_NE(slurp(kind / "baseline.json"), halved) << "a run with no regression is the baseline";

  // A baseline.bin of another build than baseline.json (the files replaced by hand): compare
  // refuses the pair, and the script judges without it, as with no binary (100x fast again).
  for (const char* f : {"baseline.json", "baseline.2.json"}) {
    ResultsFile b = load_results(kind / f);
    b.git_sha = "elsewhere";
    for (PointResult& p : b.points)
      for (double& t : p.samples_s) t *= 0.01;
    write_atomic(kind / f, b.to_json().dump(1));
  }
  ASSERT_EQ(nightly("--kind test-box --threshold 500%"), 1) << log();
  EXPECT_NE(log().find("does it match baseline.json?"), std::string::npos) << log();
  EXPECT_NE(log().find("REGRESSION confirmed"), std::string::npos) << log();
}

TEST_F(Nightly, BadArgumentsExitTwoAndWriteNothingOutside) {
  EXPECT_EQ(nightly("--kind ../escape"), 2);
  EXPECT_NE(log().find("--kind"), std::string::npos) << log();
  EXPECT_FALSE(fs::exists(dir_ / "escape"));
  EXPECT_EQ(nightly("--backend tpu"), 2);
  EXPECT_NE(log().find("--backend"), std::string::npos) << log();
  EXPECT_EQ(nightly("--baseline-runs 0"), 2);
  EXPECT_NE(log().find("--baseline-runs"), std::string::npos) << log();
  EXPECT_EQ(nightly("--bogus"), 2);
  EXPECT_NE(log().find("unknown argument"), std::string::npos) << log();
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

}  // namespace
}  // namespace costcurve

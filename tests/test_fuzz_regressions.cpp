// Inputs the libFuzzer targets (fuzz/, tools/fuzz.sh) found, kept in tests/data/regressions/: each
// loads through the normal API and must be refused with a clean InputError naming the bad field.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>

#include "harness/json_input.hpp"
#include "harness/results.hpp"
#include "harness/scenario.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;

const fs::path kRegressions = fs::path(COSTCURVE_SOURCE_DIR) / "tests" / "data" / "regressions";

std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

// fuzz_scenario: decode batch 2^20 x decode_query_tokens 2^20 at position 2^31 - 1 loaded, and
// sizing the point (as `sweep --dry-run` does) overflowed int64 in Batch::causal_pairs (UBSan);
// the release build printed negative GFLOP.
TEST(FuzzRegressions, ScenarioQueryTokensPerPointAreBounded) {
  const fs::path file = kRegressions / "scenario_decode_query_tokens_overflow.json";
  const std::string msg = input_error_of([&] { load_scenario(file); });
  EXPECT_NE(msg.find(file.string() + ": $.sweep.decode_batches: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("query tokens"), std::string::npos) << msg;
}

// fuzz_results: samples of 1e200 s loaded, but their standard deviation overflows to infinity,
// which a rewrite of the file (sweep --resume) writes as null: the rewritten file no longer loaded.
TEST(FuzzRegressions, ResultsSamplesWithInfiniteStatisticsAreRefused) {
  const fs::path file = kRegressions / "results_samples_overflow.json";
  const std::string msg = input_error_of([&] { load_results(file); });
  EXPECT_NE(msg.find(file.string() + ": $.costcurve.points[0].timing.samples_s: "),
            std::string::npos)
      << msg;
}

// fuzz_results: 1e300 tokens over a median of 1e-300 s loaded, but tokens per second is infinite,
// written back as null (the same failure as above, through the rates).
TEST(FuzzRegressions, ResultsCountsWithInfiniteRatesAreRefused) {
  const fs::path file = kRegressions / "results_rate_overflow.json";
  const std::string msg = input_error_of([&] { load_results(file); });
  EXPECT_NE(msg.find(file.string() + ": $.costcurve.points[0].tokens: "), std::string::npos) << msg;
}

}  // namespace
}  // namespace costcurve

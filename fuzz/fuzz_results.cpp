// Fuzzes the results loader (results_from_json over parse_json, as load_results does), then writes
// a loaded file back and reads it again, as a sweep does after every point (--resume included): a
// file that loads must survive the round trip unchanged.
#include <string>

#include "fuzz/fuzz_common.hpp"
#include "harness/results.hpp"

using namespace costcurve;
using costcurve::fuzz::expect_clean;
using costcurve::fuzz::expect_no_throw;
using costcurve::fuzz::finding;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = costcurve::fuzz::text_of(data, size);
  ResultsFile f;
  bool loaded = false;
  expect_clean([&] {
    f = results_from_json(parse_json(text, "fuzz.json"), "fuzz.json");
    loaded = true;
  });
  if (!loaded) return 0;

  expect_no_throw("writing the loaded results back and reading them again", [&] {
    const nlohmann::json written = f.to_json();
    const std::string out = written.dump(2);
    const ResultsFile again =
        results_from_json(parse_json(out, "rewritten.json"), "rewritten.json");
    if (again.to_json() != written) finding("results change when written and read back");
    for (const PointResult& p : f.points)
      if (f.find(p.name) == nullptr) finding("find() misses point " + p.name);
  });
  return 0;
}

// Fuzzes the scenario parser (parse_scenario, and parse_model through inline models), then what a
// dry run does with a scenario that loaded: read back its canonical JSON, expand it into points and
// size every point's problem (FLOPs, bytes, memory) without allocating it.
// Model names resolve against the shipped scenarios/models/ (read-only).
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fuzz/fuzz_common.hpp"
#include "harness/problem.hpp"
#include "harness/scenario.hpp"

using namespace costcurve;
using costcurve::fuzz::expect_clean;
using costcurve::fuzz::expect_no_throw;
using costcurve::fuzz::finding;

namespace {

const std::filesystem::path kDir = std::filesystem::path(COSTCURVE_SOURCE_DIR) / "scenarios";
// Problems sized at most per input: every point when there are few, an even sample otherwise.
constexpr std::size_t kMaxProblems = 64;
// Names are checked for uniqueness up to this many points (the check costs more than the parse).
constexpr std::size_t kMaxNameCheck = 4096;

Backend& cpu() {
  static const std::unique_ptr<Backend> be = make_backend("cpu", 1);  // sizes only
  return *be;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = costcurve::fuzz::text_of(data, size);
  Scenario s;
  bool loaded = false;
  expect_clean([&] {
    s = parse_scenario(text, "fuzz.json", kDir);
    loaded = true;
  });
  if (!loaded) return 0;

  // scenario.hpp: the canonical JSON reads back to the same scenario.
  expect_no_throw("reading back the canonical JSON", [&] {
    const Scenario again = parse_scenario(s.canonical_json, "canonical.json", kDir);
    if (again.canonical_json != s.canonical_json || again.hash != s.hash)
      finding("the canonical JSON does not read back to itself:\n" + s.canonical_json + "\n" +
              again.canonical_json);
  });

  std::vector<Point> points;
  expect_no_throw("generate_points", [&] { points = generate_points(s); });
  if (points.empty()) finding("a scenario that loaded yields no points");
  if (points.size() <= kMaxNameCheck) {
    std::set<std::string> names;
    for (const Point& p : points)
      if (!names.insert(p.name()).second) finding("two points named " + p.name());
  }
  // What `sweep --dry-run` computes for each point; OpError is an allowed refusal.
  const std::size_t step = points.size() > kMaxProblems ? points.size() / kMaxProblems : 1;
  for (std::size_t i = 0; i < points.size(); i += step)
    expect_clean([&] {
      const Point& p = points[i];
      const std::unique_ptr<Problem> problem = make_problem(p.problem(model_of(s, p)), cpu());
      volatile double sink = problem->flops() + problem->bytes();
      sink = sink + static_cast<double>(problem->memory());
      (void)sink;
    });
  return 0;
}

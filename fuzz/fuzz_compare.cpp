// Fuzzes `compare` in-process: the input is two results documents separated by kSeparator (without
// one, the document is compared with itself: an A/A comparison, which must never report a
// regression). Loading may refuse either document with InputError; once both load, the comparison
// and its three renderings (table, Markdown, JSON) must succeed, with the default options and with
// the extreme ones (threshold 0, alpha 1).
#include <string>

#include "fuzz/fuzz_common.hpp"
#include "harness/results.hpp"
#include "reports/compare.hpp"

using namespace costcurve;
using costcurve::fuzz::expect_clean;
using costcurve::fuzz::expect_no_throw;
using costcurve::fuzz::finding;

namespace {
const std::string kSeparator = "\n====\n";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = costcurve::fuzz::text_of(data, size);
  const std::size_t at = text.find(kSeparator);
  const bool same = at == std::string::npos;
  const std::string base_text = same ? text : text.substr(0, at);
  const std::string cur_text = same ? text : text.substr(at + kSeparator.size());

  ResultsFile base, cur;
  bool loaded = false;
  expect_clean([&] {
    base = results_from_json(parse_json(base_text, "baseline.json"), "baseline.json");
    cur = results_from_json(parse_json(cur_text, "current.json"), "current.json");
    loaded = true;
  });
  if (!loaded) return 0;

  for (const CompareOptions o : {CompareOptions{}, CompareOptions{0.0, 1.0}})
    expect_no_throw("compare", [&] {
      const CompareReport r = compare_results(base, cur, o, "baseline.json", "current.json");
      if (same && r.regression()) finding("an A/A comparison reports a regression");
      volatile std::size_t sink = compare_table(r).size() + compare_markdown(r).size();
      // As run_compare writes it: bytes that are not UTF-8 are replaced, never thrown.
      sink = sink +
             compare_json(r).dump(2, ' ', false, nlohmann::json::error_handler_t::replace).size();
      (void)sink;
    });
  return 0;
}

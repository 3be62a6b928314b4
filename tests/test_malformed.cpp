// The corpus of malformed inputs (tests/data/malformed/cases.json): every case, given to the real
// costcurve binary through the command that reads that kind of file, makes it exit 2 (no crash,
// no "unexpected error") with a message that names the file and the JSON path of the bad field,
// printable on a terminal, and it creates no file. Two kinds of case are generated here rather
// than committed: a 100 MB file and 100000 nested arrays.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "harness/json_input.hpp"
#include "tests/cli_run.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSource = COSTCURVE_SOURCE_DIR;
const fs::path kCorpus = kSource / "tests" / "data" / "malformed";

struct Case {
  std::string file;  // relative to kCorpus, or (generated) the name in the temporary directory
  std::string kind;
  std::vector<std::string> expect;    // each must appear in the output
  std::vector<std::string> commands;  // for results: the subset of cost, report, compare to run
  std::string generate;               // "", "size_100mb" or "deep_nesting"
  std::string base, prefix, suffix;   // what the generators build on
  std::string what;
};

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  const json manifest = read_json_file(kCorpus / "cases.json");
  for (const json& c : manifest.at("cases")) {
    Case k;
    k.file = c.at("file");
    k.kind = c.at("kind");
    if (c.at("expect").is_string())
      k.expect = {c.at("expect").get<std::string>()};
    else
      k.expect = c.at("expect").get<std::vector<std::string>>();
    k.commands = c.value("commands", std::vector<std::string>{});
    k.generate = c.value("generate", "");
    k.base = c.value("base", "");
    k.prefix = c.value("prefix", "");
    k.suffix = c.value("suffix", "");
    k.what = c.value("what", "");
    cases.push_back(std::move(k));
  }
  return cases;
}

// The commands that read a file of this kind, each with the arguments around it.
std::vector<std::vector<std::string>> commands_for(const Case& c, const std::string& file,
                                                   const fs::path& out_dir) {
  const std::string good = (kCorpus / "good" / "results.json").string();
  const std::string specs = (kSource / "scenarios").string();
  std::string hardware = "cpu-epyc-2core", price = "cpu-epyc-2core", deployment = "single-cpu";
  std::vector<std::string> extra;
  if (c.kind == "scenario") return {{"sweep", file, "--dry-run"}};
  if (c.kind == "cost") return {{"report", "--cost", file, "--out", (out_dir / "report").string()}};
  if (c.kind == "results") {
    std::vector<std::vector<std::string>> all = {
        {"cost", file, "--hardware", hardware, "--price", price, "--deployment", deployment,
         "--specs", specs},
        {"report", file, "--out", (out_dir / "report").string()},
        {"compare", good, file}};
    if (!c.commands.empty())
      std::erase_if(all, [&](const auto& cmd) {
        return std::find(c.commands.begin(), c.commands.end(), cmd[0]) == c.commands.end();
      });
    return all;
  }
  if (c.kind == "model") extra = {"--model", file};
  if (c.kind == "hardware") hardware = file;
  if (c.kind == "pricing") price = file;
  if (c.kind == "deployment") deployment = file;
  if (c.kind == "calibration") extra = {"--calibrate", file};
  std::vector<std::string> cmd = {"cost", good,           "--hardware", hardware,  "--price",
                                  price,  "--deployment", deployment,   "--specs", specs};
  cmd.insert(cmd.end(), extra.begin(), extra.end());
  return {cmd};
}

// Writes a generated case into `dir` and returns its path.
fs::path generate(const Case& c, const fs::path& dir) {
  const fs::path file = dir / c.file;
  std::ofstream out(file, std::ios::binary);
  if (c.generate == "size_100mb") {
    // A valid document followed by white space up to exactly 100 MiB: still valid JSON.
    const std::string text = test::slurp(kSource / c.base);
    out << text;
    const std::size_t target = std::size_t{100} << 20;
    const std::string spaces(1 << 20, ' ');
    for (std::size_t n = text.size(); n < target;) {
      const std::size_t k = std::min(spaces.size(), target - n);
      out.write(spaces.data(), static_cast<std::streamsize>(k));
      n += k;
    }
  } else if (c.generate == "deep_nesting") {
    const std::size_t depth = 100000;
    out << c.prefix << std::string(depth, '[') << std::string(depth, ']') << c.suffix;
  } else {
    ADD_FAILURE() << "unknown generator '" << c.generate << "'";
  }
  return file;
}

// Bytes a terminal would act on: control characters other than a newline, and DEL.
bool printable(const std::string& s) {
  for (unsigned char ch : s)
    if ((ch < 0x20 && ch != '\n') || ch == 0x7f) return false;
  return true;
}

// Runs every case of one kind. One test per kind rather than per case: each costcurve process
// of a CUDA build spends about half a second loading cuBLAS, and a test process would too.
void run_cases(const std::string& kind) {
  std::size_t ran = 0;
  for (const Case& c : load_cases()) {
    if (c.kind != kind) continue;
    ++ran;
    SCOPED_TRACE(c.file + ": " + c.what);
    const fs::path tmp = test::temp_dir("malformed-" + kind);
    const fs::path cwd = tmp / "cwd";  // empty, and must stay so
    fs::create_directories(cwd);
    const fs::path file = c.generate.empty() ? kCorpus / c.file : generate(c, tmp);
    ASSERT_TRUE(fs::is_regular_file(file)) << file;
    const auto commands = commands_for(c, file.string(), cwd);
    ASSERT_FALSE(commands.empty());
    for (const auto& cmd : commands) {
      SCOPED_TRACE("costcurve " + cmd[0]);
      test::CliOptions o;
      o.cwd = cwd;
      o.timeout_s = 30;
      const test::CliResult r = test::run_cli(cmd, o);
      EXPECT_TRUE(r.exited && r.code == 2) << r.describe();
      // The file as it was named on the command line, then each expected part of the message.
      EXPECT_NE(r.output.find(file.string() + ": $"), std::string::npos) << r.output;
      for (const std::string& e : c.expect)
        EXPECT_NE(r.output.find(e), std::string::npos) << "expected: " << e << "\n" << r.output;
      EXPECT_EQ(r.output.find("unexpected error"), std::string::npos) << r.output;
      EXPECT_TRUE(printable(r.output)) << r.output;
      EXPECT_LT(r.output.size(), 4096u) << "one message, not a dump of the input";
      EXPECT_TRUE(fs::is_empty(cwd)) << "a refused input left files behind";
    }
    fs::remove_all(tmp);
  }
  EXPECT_GE(ran, 5u) << "cases of kind " << kind;
}

TEST(Malformed, ScenarioFilesExitTwoNamingFileAndField) {
  run_cases("scenario");
}
TEST(Malformed, ModelFilesExitTwoNamingFileAndField) {
  run_cases("model");
}
TEST(Malformed, HardwareFilesExitTwoNamingFileAndField) {
  run_cases("hardware");
}
TEST(Malformed, PricingFilesExitTwoNamingFileAndField) {
  run_cases("pricing");
}
TEST(Malformed, DeploymentFilesExitTwoNamingFileAndField) {
  run_cases("deployment");
}
TEST(Malformed, CalibrationFilesExitTwoNamingFileAndField) {
  run_cases("calibration");
}
TEST(Malformed, ResultsFilesExitTwoNamingFileAndField) {
  run_cases("results");
}
TEST(Malformed, CostFilesExitTwoNamingFileAndField) {
  run_cases("cost");
}

// The corpus covers what it promises: at least 50 cases, every kind of input file, and each kind
// of damage somewhere.
TEST(MalformedCorpus, CoversEveryKindOfFileAndDamage) {
  const std::vector<Case> cases = load_cases();
  EXPECT_GE(cases.size(), 50u);
  std::map<std::string, int> kinds;
  for (const Case& c : cases) ++kinds[c.kind];
  for (const char* k :
       {"scenario", "model", "hardware", "pricing", "deployment", "calibration", "results", "cost"})
    EXPECT_GE(kinds[k], 5) << k;
  std::string all;
  for (const Case& c : cases) all += c.file + " " + c.generate + "\n";
  for (const char* damage : {"truncated", "wrong_type", "nan", "infinity", "1e400", "2pow63",
                             "negative", "top_k_beyond", "empty", "typo", "unit", "duplicate_key",
                             "non_utf8", "is_path", "size_100mb", "deep_nesting"})
    EXPECT_NE(all.find(damage), std::string::npos) << damage;
  // Committed files are small; the big one is generated.
  for (const Case& c : cases)
    if (c.generate.empty()) {
      EXPECT_LT(fs::file_size(kCorpus / c.file), 1u << 20) << c.file;
    }
}

}  // namespace
}  // namespace costcurve

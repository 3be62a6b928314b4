// Faults at the edges of the costcurve process, through the real binary:
//  - hostile strings (quotes, backticks, newlines, system(...), $(...), ../ paths, escape
//    sequences, very long text) in names, descriptions and labels of every input: sweep, cost and
//    report (with gnuplot when installed) write nothing outside their outputs, the gnuplot script
//    holds nothing that gnuplot would run, and names that would be paths are refused;
//  - outputs that cannot be written (an unwritable directory, a path through a regular file, a
//    full disk simulated with RLIMIT_FSIZE and SIGXFSZ ignored, so that write() fails with EFBIG):
//    sweep, cost, report and compare exit 2 with a message naming the path, the previous file is
//    left byte for byte, and no temporary file remains;
//  - the CUDA backend on a machine without a GPU or driver: a clear message and exit 2, while CPU
//    work in the same binary is unaffected.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness/json_input.hpp"
#include "harness/results.hpp"
#include "tests/cli_run.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
bool cuda_selftest(std::string& why);

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::CliOptions;
using test::CliResult;
using test::run_cli;
using test::slurp;

const fs::path kSource = COSTCURVE_SOURCE_DIR;
const fs::path kGood = kSource / "tests" / "data" / "malformed" / "good" / "results.json";
const fs::path kTinyModel =
    kSource / "tests" / "data" / "malformed" / "scenario" / "models" / "tiny.json";

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

json read(const fs::path& p) {
  return json::parse(slurp(p));
}

// A one-point sweep of a tiny DSA model (a top-k over 64 keys): about a second.
json tiny_scenario(const std::string& name = "io") {
  return {
      {"name", name},
      {"models", {"tiny"}},
      {"sweep",
       {{"positions", {64}}, {"top_k", {16}}, {"operations", {"topk"}}, {"phases", {"decode"}}}},
      {"run",
       {{"min_time_s", 0.001},
        {"max_time_s", 0.05},
        {"min_repetitions", 3},
        {"max_repetitions", 3},
        {"validate_max_gflop", 0.01}}}};
}

// <root>/in/s.json (the scenario) and <root>/in/models/tiny.json.
fs::path write_scenario(const fs::path& root, const json& scenario, const json& model_patch = {}) {
  json model = read(kTinyModel);
  if (!model_patch.is_null()) model.merge_patch(model_patch);
  write_file(root / "in" / "models" / "tiny.json", model.dump(1));
  write_file(root / "in" / "s.json", scenario.dump(1));
  return root / "in" / "s.json";
}

std::vector<std::string> cost_args(const std::string& results) {
  return {"cost",         results,
          "--hardware",   "cpu-epyc-2core",
          "--price",      "cpu-epyc-2core",
          "--deployment", "single-cpu",
          "--specs",      (kSource / "scenarios").string()};
}

bool no_temporaries(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.find(".tmp.") != std::string::npos || n.find(".probe.") != std::string::npos)
      return false;
  }
  return true;
}

void expect_exit(const CliResult& r, int code) {
  EXPECT_TRUE(r.exited && r.code == code) << "expected exit " << code << ", got " << r.describe();
}

void expect_output_has(const CliResult& r, const std::string& part) {
  EXPECT_NE(r.output.find(part), std::string::npos) << "expected: " << part << "\n" << r.output;
}

// ---------------------------------------------------------------------------------------------
// Hostile strings

// A string that tries everything at once: breaking out of gnuplot's and HTML's quoting, running
// commands (gnuplot's system() and backticks, a shell's $()), escaping the output directory,
// terminal escape sequences, and sheer length.
std::string hostile(const fs::path& marker) {
  const std::string m = marker.string();
  return "x' \" ; system(\"touch " + m + "\") ; `touch " + m + "` $(touch " + m +
         ") @M \n\r\t<script>alert(1)</script> ../../../../tmp/costcurve-escape \x1b[31mred " +
         std::string(5000, 'L');
}

// The gnuplot script: nothing gnuplot would execute or substitute, and every label a single
// line of harmless characters.
void expect_inert_gnuplot(const std::string& gp, const fs::path& marker) {
  EXPECT_EQ(gp.find('`'), std::string::npos) << "backtick in plots.gp";
  EXPECT_EQ(gp.find("system("), std::string::npos);
  EXPECT_EQ(gp.find("system "), std::string::npos);
  EXPECT_EQ(gp.find('@'), std::string::npos) << "macro in plots.gp";
  EXPECT_EQ(gp.find('"'), std::string::npos) << "double-quoted strings interpret escapes";
  EXPECT_EQ(gp.find('\x1b'), std::string::npos);
  EXPECT_EQ(gp.find('\r'), std::string::npos);
  EXPECT_EQ(gp.find("<script"), std::string::npos);
  // Single-quoted strings (gnuplot interprets nothing in them) open and close on the same line;
  // outside them, nothing of the hostile text remains: it is only ever a label.
  bool quoted = false;
  std::size_t line = 1;
  std::string code;  // the script without its single-quoted strings
  for (char c : gp) {
    if (c == '\'') quoted = !quoted;
    if (c == '\n') {
      EXPECT_FALSE(quoted) << "a label spans a line break at line " << line;
      quoted = false;
      ++line;
    }
    if (!quoted && c != '\'') code += c;
  }
  for (const std::string& bad : {std::string("touch"), marker.filename().string(),
                                 std::string("system"), std::string("$("), std::string(20, 'L')})
    EXPECT_EQ(code.find(bad), std::string::npos) << "outside a label: " << bad;
  std::istringstream lines(gp);
  for (std::string l; std::getline(lines, l);) EXPECT_LT(l.size(), 2000u) << l.substr(0, 200);
}

TEST(HostileStrings, SweepCostReportStayInsideTheirOutputs) {
  const fs::path root = test::temp_dir("io-hostile");
  const fs::path marker = root / "pwned";
  const std::string evil = hostile(marker);
  // Inputs: free text fields of every kind of file carry the hostile string.
  json scenario = tiny_scenario("hostile");
  scenario["description"] = evil;
  const fs::path s = write_scenario(root, scenario, {{"display_name", evil}, {"source", evil}});
  const fs::path specs = root / "in" / "specs";
  json hw = read(kSource / "scenarios" / "hardware" / "cpu-epyc-2core.json");
  hw.merge_patch({{"name", "hw"}, {"display_name", evil}, {"source", evil}});
  write_file(specs / "hardware" / "hw.json", hw.dump(1));
  json pr = read(kSource / "scenarios" / "pricing" / "cpu-epyc-2core.json");
  pr["name"] = "pr";
  pr["hardware"] = "hw";
  pr["tiers"][0]["source"] = evil;
  write_file(specs / "pricing" / "pr.json", pr.dump(1));
  json dep = read(kSource / "scenarios" / "deployments" / "single-cpu.json");
  dep.merge_patch({{"name", "dep"}, {"description", evil}, {"source", evil}});
  write_file(specs / "deployments" / "dep.json", dep.dump(1));
  for (const char* m : {"deepseek-v3.1-terminus", "deepseek-v3.2"}) {
    json model = read(kSource / "scenarios" / "models" / (std::string(m) + ".json"));
    model.merge_patch({{"display_name", evil}, {"source", evil}});
    write_file(specs / "models" / (std::string(m) + ".json"), model.dump(1));
  }
  const fs::path out = root / "out", work = root / "work";
  fs::create_directories(out);
  fs::create_directories(work);
  fs::copy_file(kGood, out / "r.json");  // measured ceilings: the sweep runs its point only
  ASSERT_FALSE(fs::exists("/tmp/costcurve-escape"));
  const auto before = test::snapshot(root);
  CliOptions o;
  o.cwd = work;

  CliResult r = run_cli({"sweep", s.string(), "--dry-run"}, o);
  expect_exit(r, 0);
  r = run_cli({"sweep", s.string(), "--out", (out / "r.json").string(), "--resume", "--force",
               "--threads", "1"},
              o);
  expect_exit(r, 0);
  const std::string r_json = (out / "r.json").string();
  r = run_cli(
      {"cost", r_json, "--model", "deepseek-v3.1-terminus", "--model", "deepseek-v3.2",
       "--hardware", "hw", "--price", "pr", "--deployment", "dep", "--specs", specs.string(),
       "--out", (out / "c.json").string(), "--csv", (out / "c.csv").string()},
      o);
  expect_exit(r, 0);
  ASSERT_TRUE(fs::exists(out / "c.json")) << r.output;

  // The outputs, made hostile in every field the report labels with.
  json cost = read(out / "c.json");
  cost["price"]["tier"] = evil;
  cost["projection"] = {{"from", evil}, {"to", "hw"}};
  cost["curves"][0]["model"] = evil;
  const std::string part = cost["curves"][0]["rows"][0]["breakdown_usd_per_mtok"].begin().key();
  for (json& row : cost["curves"][0]["rows"]) {
    json& b = row["breakdown_usd_per_mtok"];
    b[evil] = b[part];
    b.erase(part);
  }
  cost["crossovers"][evil] = {{"position", 5000}};
  if (!cost["sparse_dense_ratio"].empty()) cost["sparse_dense_ratio"][0]["phase"] = evil;
  cost["calibration"] = {{"calibration", evil}, {"predicted_tokens_per_s_per_node", evil}};
  write_file(out / "c-hostile.json", cost.dump());
  json res = read(out / "r.json");
  res["costcurve"]["git_sha"] = evil;
  res["costcurve"]["scenario_name"] = evil;
  res["costcurve"]["ceilings"]["device"] = evil;
  res["context"]["date"] = evil;
  const std::string evil_model = "m`touch " + marker.string() + "`$(touch " + marker.string() + ")";
  for (json& p : res["costcurve"]["points"])
    if (p["model"] == "tiny") {
      p["model"] = evil_model;
      std::string n = p["name"];
      n.replace(n.find("tiny"), 4, evil_model);
      p["name"] = n;
    }
  write_file(out / "r-hostile.json", res.dump());

  r = run_cli(
      {"report", r_json, (out / "r-hostile.json").string(), "--cost", (out / "c.json").string(),
       "--cost", (out / "c-hostile.json").string(), "--out", (out / "report").string()},
      o);
  expect_exit(r, 0);
  const fs::path rep = out / "report";
  const std::string gp = slurp(rep / "plots.gp");
  ASSERT_FALSE(gp.empty());
  expect_inert_gnuplot(gp, marker);
  if (::access("/usr/bin/gnuplot", X_OK) == 0) {
    EXPECT_TRUE(fs::exists(rep / "hardware.svg")) << r.output;
    EXPECT_TRUE(fs::exists(rep / "kernels_1.png")) << r.output;
  }
  const std::string html = slurp(rep / "index.html"), md = slurp(rep / "summary.md");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find('\x1b'), std::string::npos);
  EXPECT_EQ(md.find('`'), std::string::npos);
  EXPECT_EQ(md.find("<script"), std::string::npos);
  EXPECT_EQ(md.find('\x1b'), std::string::npos);
  for (const auto& e : fs::directory_iterator(rep)) {
    if (e.path().extension() != ".csv") continue;
    std::ifstream in(e.path());
    std::string header;
    std::getline(in, header);
    EXPECT_EQ(header.find_first_of("`'\"@\r\x1b"), std::string::npos) << e.path();
  }

  // Names that would be paths (or commands) are refused, each with a message saying what a name
  // may be.
  const auto refused = [&](const std::vector<std::string>& args, const std::string& message) {
    SCOPED_TRACE(args[0] + " " + args[1]);
    const CliResult x = run_cli(args, o);
    expect_exit(x, 2);
    expect_output_has(x, message);
  };
  for (const auto& [name, message] : std::vector<std::pair<std::string, std::string>>{
           {"../../escape", "$.name: expected a name of letters, digits, '.', '_' and '-'"},
           {"..", "$.name: expected a name that does not start with '.'"},
           {"`touch " + marker.string() + "`", "$.name: expected a name of letters"},
           {std::string(300, 'n'), "$.name: expected a name of at most 128 characters"}}) {
    json bad = tiny_scenario(name);
    write_file(root / "in" / "bad.json", bad.dump());
    refused({"sweep", (root / "in" / "bad.json").string(), "--out", (out / "bad.json").string()},
            "bad.json: " + message);
  }
  json bad = tiny_scenario();
  bad["models"] = {"../../in/models/tiny"};
  write_file(root / "in" / "bad.json", bad.dump());
  refused({"sweep", (root / "in" / "bad.json").string(), "--dry-run"},
          "bad.json: $.models[0]: expected a model name of letters");
  fs::remove(root / "in" / "bad.json");
  for (const std::string& spec :
       {"$(touch " + marker.string() + ")", std::string("../../etc/passwd")}) {
    std::vector<std::string> args = cost_args(r_json);
    args[3] = spec;  // --hardware
    refused(args, "expected a name of letters, digits, '.', '_' and '-' (looked up as");
  }
  refused(cost_args((out / "r-hostile.json").string()),
          "r-hostile.json: $.costcurve.points[36].model: expected a model name of letters");

  // Nothing appeared outside out/, nothing ran.
  const auto after = test::snapshot(root);
  for (const auto& [path, content] : after) {
    const auto it = before.find(path);
    if (it != before.end() && it->second == content) continue;
    EXPECT_TRUE(path.rfind("out/", 0) == 0 || path == "out") << "written outside out/: " << path;
  }
  for (const auto& [path, content] : before)
    if (path.rfind("out/", 0) != 0) {
      EXPECT_TRUE(after.count(path)) << "removed: " << path;
    }
  EXPECT_FALSE(fs::exists(marker)) << "a command from a label ran";
  EXPECT_TRUE(fs::is_empty(work));
  EXPECT_FALSE(fs::exists("/tmp/costcurve-escape"));
  fs::remove_all(root);
}

// ---------------------------------------------------------------------------------------------
// Outputs that cannot be written

// An output path through a regular file (ENOTDIR): refused before anything is measured.
TEST(OutputFaults, PathThroughARegularFileIsRefusedNamingIt) {
  const fs::path root = test::temp_dir("io-notdir");
  const fs::path s = write_scenario(root, tiny_scenario());
  const fs::path bad = root / "in" / "s.json" / "sub" / "r.json";
  CliOptions o;
  o.cwd = root;
  CliResult r = run_cli({"sweep", s.string(), "--out", bad.string()}, o);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + bad.string() + ": Not a directory");
  EXPECT_EQ(r.output.find("measuring the ceilings"), std::string::npos) << "it measured first";
  std::vector<std::string> args = cost_args(kGood.string());
  args.insert(args.end(), {"--out", bad.string()});
  r = run_cli(args, o);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + bad.string() + ": Not a directory");
  r = run_cli({"report", kGood.string(), "--out", bad.parent_path().string()}, o);
  expect_exit(r, 2);
  expect_output_has(r, "cannot create " + bad.parent_path().string() + ": Not a directory");
  r = run_cli({"compare", kGood.string(), kGood.string(), "--markdown", bad.string()}, o);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + bad.string() + ": Not a directory");
  EXPECT_EQ(read(s), tiny_scenario());
  fs::remove_all(root);
}

// A full disk, as the sweep starts and in the middle of it: exit 2 naming the file, which holds
// exactly what it held before the failed write.
TEST(OutputFaults, SweepOnAFullDiskKeepsThePreviousResults) {
  const fs::path root = test::temp_dir("io-sweep-full");
  const fs::path s = write_scenario(root, tiny_scenario());
  const fs::path prev = root / "prev.json";
  fs::copy_file(kGood, prev);
  const std::string original = slurp(prev);
  CliOptions full;
  full.cwd = root;
  full.max_file_bytes = 64 << 10;  // the first rewrite (about 230 KB) cannot fit
  const std::vector<std::string> resume = {"sweep",    s.string(), "--out",     prev.string(),
                                           "--resume", "--force",  "--threads", "1"};
  CliResult r = run_cli(resume, full);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + prev.string() + ": File too large");
  expect_output_has(r, "the previous file, if any, is unchanged");
  EXPECT_EQ(slurp(prev), original) << "the previous results file changed";
  EXPECT_TRUE(no_temporaries(root));

  // Mid-sweep: room for the first rewrite (the finished points) but not for the one after the new
  // point. Sizes from an unlimited run of the same sweep.
  const fs::path a = root / "a.json";
  fs::copy_file(kGood, a);
  std::vector<std::string> unlimited = resume;
  unlimited[3] = a.string();
  CliOptions o;
  o.cwd = root;
  r = run_cli(unlimited, o);
  expect_exit(r, 0);
  ResultsFile done = load_results(a);
  ASSERT_EQ(done.points.size(), 37u);
  const std::uintmax_t with_point = fs::file_size(a);
  done.points.pop_back();
  const std::uintmax_t without = done.to_json().dump(1).size() + 1;
  ASSERT_GT(with_point, without + 1000);
  CliOptions mid = full;
  mid.max_file_bytes = (with_point + without) / 2;
  r = run_cli(resume, mid);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + prev.string() + ": File too large");
  expect_output_has(r, "1 of 1 points to run");  // the first rewrite went through
  const ResultsFile kept = load_results(prev);
  EXPECT_EQ(kept.points.size(), 36u) << "the file holds the points saved before the failure";
  EXPECT_TRUE(no_temporaries(root));
  fs::remove_all(root);
}

// cost, report and compare on a full disk: the same.
TEST(OutputFaults, CostReportCompareOnAFullDiskKeepThePreviousFiles) {
  const fs::path root = test::temp_dir("io-full");
  const fs::path c = root / "c.json", csv = root / "c.csv", md = root / "v.md";
  write_file(c, "previous cost\n");
  write_file(csv, "previous csv\n");
  write_file(md, "previous verdict\n");
  write_file(root / "report" / "plots.gp", "previous script\n");
  write_file(root / "report" / "index.html", "previous page\n");
  const auto before = test::snapshot(root);
  CliOptions full;
  full.cwd = root;
  full.max_file_bytes = 4096;

  std::vector<std::string> args = cost_args(kGood.string());
  args.insert(args.end(), {"--out", c.string(), "--csv", csv.string()});
  CliResult r = run_cli(args, full);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + c.string() + ": File too large");
  EXPECT_EQ(r.output.find("unexpected error"), std::string::npos) << r.output;

  r = run_cli({"report", kGood.string(), "--out", (root / "report").string()}, full);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + (root / "report").string() + "/");
  expect_output_has(r, "File too large");

  full.max_file_bytes = 256;
  r = run_cli({"compare", kGood.string(), kGood.string(), "--markdown", md.string()}, full);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + md.string() + ": File too large");

  const auto after = test::snapshot(root);
  for (const auto& [path, content] : before) {
    ASSERT_TRUE(after.count(path)) << path;
    EXPECT_EQ(after.at(path), content) << path << " changed";
  }
  EXPECT_TRUE(no_temporaries(root));
  fs::remove_all(root);
}

// An unwritable directory (mode 0555; as root, with the capabilities that ignore it dropped).
TEST(OutputFaults, UnwritableDirectoryIsRefusedNamingThePath) {
  const fs::path root = test::temp_dir("io-readonly");
  if (::geteuid() == 0 && !test::permissions_hold(root)) {
    fs::remove_all(root);
    GTEST_SKIP() << "running as root without the right to drop CAP_DAC_OVERRIDE";
  }
  const fs::path s = write_scenario(root, tiny_scenario());
  const fs::path ro = root / "ro";
  fs::create_directories(ro);
  fs::copy_file(kGood, ro / "prev.json");
  write_file(ro / "report" / "index.html", "previous page\n");
  write_file(ro / "c.json", "previous cost\n");
  for (const fs::path& d : {ro / "report", ro})
    fs::permissions(d, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                           fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  const auto before = test::snapshot(root);
  CliOptions o;
  o.cwd = root;
  o.drop_dac = true;

  const std::string fresh = (ro / "new.json").string(), prev = (ro / "prev.json").string();
  CliResult r = run_cli({"sweep", s.string(), "--out", fresh}, o);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + fresh + ": Permission denied");
  EXPECT_EQ(r.output.find("measuring the ceilings"), std::string::npos) << "it measured first";
  r = run_cli({"sweep", s.string(), "--out", prev, "--resume", "--force"}, o);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + prev + ": Permission denied");

  std::vector<std::string> args = cost_args(kGood.string());
  args.insert(args.end(), {"--out", (root / "c.json").string(), "--csv", (ro / "c.csv").string()});
  r = run_cli(args, o);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + (ro / "c.csv").string() + ": Permission denied");
  args = cost_args(kGood.string());
  args.insert(args.end(), {"--out", (ro / "c.json").string()});
  r = run_cli(args, o);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + (ro / "c.json").string() + ": Permission denied");

  r = run_cli({"report", kGood.string(), "--out", (ro / "report").string()}, o);
  expect_exit(r, 2);
  expect_output_has(r, "cannot write " + (ro / "report").string() + "/");
  expect_output_has(r, "Permission denied");

  const auto after = test::snapshot(root);
  for (const auto& [path, content] : before) {
    ASSERT_TRUE(after.count(path)) << path;
    EXPECT_EQ(after.at(path), content) << path << " changed";
  }
  for (const auto& [path, content] : after)
    EXPECT_TRUE(before.count(path) || path == "c.json") << "new file " << path;
  fs::permissions(ro / "report", fs::perms::owner_all);
  fs::permissions(ro, fs::perms::owner_all);
  fs::remove_all(root);
}

// ---------------------------------------------------------------------------------------------
// A CUDA build (or a CPU-only one) on a machine without a GPU or driver

TEST(NoGpu, CudaBackendSaysSoAndCpuWorkIsUnaffected) {
#if COSTCURVE_HAVE_CUDA
  std::string why;
  if (cuda_selftest(why)) GTEST_SKIP() << "a GPU is present";
  const std::string message = "costcurve: backend 'cuda' cannot run here: ";
#else
  const std::string message =
      "costcurve: backend 'cuda' is not compiled into this binary: reconfigure with "
      "-DCOSTCURVE_CUDA=ON";
#endif
  const fs::path root = test::temp_dir("io-nogpu");
  const fs::path s = write_scenario(root, tiny_scenario());
  CliOptions o;
  o.cwd = root;
  CliResult r = run_cli({"validate", "--backend", "cuda"}, o);
  expect_exit(r, 2);
  expect_output_has(r, message);
#if COSTCURVE_HAVE_CUDA
  expect_output_has(r, "the CPU backend needs neither (--backend cpu)");
#endif
  EXPECT_EQ(r.output.find("validating on"), std::string::npos) << "it started anyway";
  r = run_cli({"sweep", s.string(), "--backend", "cuda", "--out", (root / "r.json").string()}, o);
  expect_exit(r, 2);
  expect_output_has(r, message.substr(std::string("costcurve: ").size()));
  EXPECT_FALSE(fs::exists(root / "r.json"));

  // The same binary, on the CPU: every operation validates.
  o.timeout_s = 300;
  r = run_cli({"validate", "--backend", "cpu", "--threads", "2"}, o);
  expect_exit(r, 0);
  expect_output_has(r, "all operations match the float64 reference");
  fs::remove_all(root);
}

}  // namespace
}  // namespace costcurve

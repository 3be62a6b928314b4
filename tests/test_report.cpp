// Reports: every plot and page is written from results and cost files; hostile names reach
// neither a shell nor gnuplot unescaped; without gnuplot the data and scripts still appear.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness/results.hpp"
#include "reports/report.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kResults = COSTCURVE_SOURCE_DIR "/results";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

fs::path temp_dir(const std::string& name) {
  return test::temp_dir("report-" + name);
}

bool have_gnuplot() {
  return ::access("/usr/bin/gnuplot", X_OK) == 0;
}

// The committed default sweep and its costs: a real report.
ReportOptions committed(const fs::path& out) {
  ReportOptions o;
  for (const auto& e : fs::directory_iterator(kResults)) {
    const std::string n = e.path().filename().string();
    if (n.starts_with("cpu-default.") && n.ends_with(".cost.json"))
      o.costs.push_back(e.path());
    else if (n.starts_with("cpu-default.") && n.ends_with(".json") &&
             n.find("cost") == std::string::npos)
      o.results.push_back(e.path());
  }
  o.out_dir = out;
  return o;
}

TEST(Report, WritesFivePlotKindsPageAndSummary) {
  const fs::path d = temp_dir("full");
  ReportOptions o = committed(d);
  ASSERT_FALSE(o.results.empty());
  ASSERT_FALSE(o.costs.empty());
  std::ostringstream log;
  ASSERT_EQ(run_report(o, log), 0) << log.str();
  for (const char* f : {"index.html", "summary.md", "plots.gp", "cost_0_0.csv", "speedup_0.csv"})
    EXPECT_TRUE(fs::exists(d / f)) << f;
  if (!have_gnuplot()) GTEST_SKIP() << "gnuplot not installed: scripts and data only";
  for (const char* plot : {"cost_0", "kernels_0", "speedup_0", "breakdown_0", "hardware"})
    for (const char* ext : {".png", ".svg"}) {
      const fs::path f = d / (std::string(plot) + ext);
      ASSERT_TRUE(fs::exists(f)) << f;
      EXPECT_GT(fs::file_size(f), 5000u) << f;
    }
  const std::string html = slurp(d / "index.html");
  std::size_t svgs = 0;
  for (std::size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1))
    ++svgs;
  EXPECT_GE(svgs, 5u);
  EXPECT_NE(slurp(d / "summary.md").find("$/1M at 32K"), std::string::npos);
  fs::remove_all(d);
}

TEST(Report, WithoutGnuplotWritesDataAndSaysHowToRender) {
  const fs::path d = temp_dir("nognuplot");
  ReportOptions o = committed(d);
  o.gnuplot = "/nonexistent/gnuplot";
  std::ostringstream log;
  EXPECT_EQ(run_report(o, log), 0);
  EXPECT_NE(log.str().find("gnuplot plots.gp"), std::string::npos) << log.str();
  EXPECT_TRUE(fs::exists(d / "plots.gp"));
  EXPECT_FALSE(fs::exists(d / "cost_0.png"));
  EXPECT_NE(slurp(d / "index.html").find("not rendered"), std::string::npos);
  fs::remove_all(d);
}

// Several results files (a re-sweep of some operations beside the full sweep): each kernel plot
// names its own file's build, the cost plots every build.
TEST(Report, EachKernelPlotNamesItsOwnBuild) {
  const fs::path d = temp_dir("builds");
  ReportOptions o = committed(d / "out");
  json r = json::parse(slurp(o.results.front()));
  r["costcurve"]["git_sha"] = "0123456789ab";
  r["context"]["date"] = "2026-12-01T00:00:00+00:00";
  // Swept with another kernel selected: the stamp says so, and a hostile value stays inert.
  r["context"]["kernel_env"] = {{"COSTCURVE_PREFILL_OVERLAP", "1' ; system(\"touch x\") ; `id`"}};
  write_atomic(d / "resweep.json", r.dump());
  o.results.insert(o.results.begin(), d / "resweep.json");
  o.gnuplot = "/nonexistent/gnuplot";
  std::ostringstream log;
  ASSERT_EQ(run_report(o, log), 0) << log.str();
  const std::string gp = slurp(d / "out" / "plots.gp");
  const std::string other = json::parse(slurp(o.results[1]))["costcurve"]["git_sha"];
  const auto section = [&](const std::string& from, const std::string& to) {
    const std::size_t a = gp.find("set output '" + from + ".png'");
    const std::size_t b = gp.find("set output '" + to + ".png'");
    EXPECT_NE(a, std::string::npos) << from;
    return gp.substr(a, b == std::string::npos ? std::string::npos : b - a);
  };
  const std::string k0 = section("kernels_0", "kernels_0_time"),
                    k1 = section("kernels_1", "kernels_1_time");
  EXPECT_NE(k0.find("costcurve 0123456789ab - "), std::string::npos);
  EXPECT_NE(k0.find(" - with COSTCURVE_PREFILL_OVERLAP=1"), std::string::npos);
  EXPECT_EQ(gp.find('`'), std::string::npos);
  EXPECT_EQ(gp.find("system(\""), std::string::npos);
  EXPECT_EQ(k0.find(other), std::string::npos);
  EXPECT_NE(k1.find("costcurve " + other + " - "), std::string::npos);
  EXPECT_EQ(k1.find("0123456789ab"), std::string::npos);
  EXPECT_EQ(k1.find(" - with "), std::string::npos);  // the default kernels: nothing to say
  EXPECT_NE(section("cost_0", "cost_1").find("costcurve 0123456789ab + " + other),
            std::string::npos);
  fs::remove_all(d);
}

TEST(Report, HostileNamesNeverReachGnuplotOrHtmlRaw) {
  const fs::path d = temp_dir("hostile");
  const fs::path marker = d / "pwned";
  // A cost file whose labels try to break out of gnuplot strings and HTML.
  ReportOptions o = committed(d / "out");
  json cost = json::parse(slurp(o.costs.front()));
  const std::string evil = "x' ; system(\"touch " + marker.string() + "\") ; `touch " +
                           marker.string() + "` @M \n<script>alert(1)</script> ../../etc";
  cost["hardware"]["display_name"] = evil;
  cost["hardware"]["name"] = evil;
  for (json& c : cost["curves"]) c["model"] = evil;
  write_atomic(d / "evil.cost.json", cost.dump());
  o.costs = {d / "evil.cost.json"};
  std::ostringstream log;
  ASSERT_EQ(run_report(o, log), 0) << log.str();
  EXPECT_FALSE(fs::exists(marker)) << "gnuplot ran a command from a label";
  const std::string gp = slurp(d / "out" / "plots.gp");
  EXPECT_EQ(gp.find('`'), std::string::npos);
  EXPECT_EQ(gp.find("system(\""), std::string::npos);
  EXPECT_EQ(gp.find("<script>"), std::string::npos);
  const std::string html = slurp(d / "out" / "index.html");
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(slurp(d / "out" / "summary.md").find('`'), std::string::npos);
  // Nothing was written outside the output directory.
  for (const auto& e : fs::directory_iterator(d))
    EXPECT_TRUE(e.path().filename() == "out" || e.path().filename() == "evil.cost.json")
        << e.path();
  fs::remove_all(d);
}

TEST(Report, BadInputExitsTwoNamingTheField) {
  const fs::path d = temp_dir("bad");
  write_atomic(d / "bad.cost.json",
               R"({"hardware": {"display_name": 3}, "price": {"tier": "t", "usd_per_hour": 1}})");
  ReportOptions o;
  o.costs = {d / "bad.cost.json"};
  o.out_dir = d / "out";
  std::ostringstream log;
  EXPECT_EQ(run_report(o, log), 2);
  EXPECT_NE(log.str().find("$.hardware"), std::string::npos) << log.str();
  o.costs.clear();
  EXPECT_EQ(run_report(o, log), 2);
  fs::remove_all(d);
}

TEST(Report, SafeLabelKeepsOnlyHarmlessCharacters) {
  EXPECT_EQ(safe_label("H100 (80GB), $2/h"), "H100 (80GB), $2/h");
  EXPECT_EQ(safe_label("a'b\"c`d\\e\nf@g"), "a?b?c?d?e?f?g");
  EXPECT_EQ(safe_label(std::string(500, 'x')).size(), 120u);
  EXPECT_EQ(html_escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
}

}  // namespace
}  // namespace costcurve

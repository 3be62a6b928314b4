// `sweep --shard I/N`: the split is a partition of the points (for any N, also N = 1 and N beyond
// the points), the same every time and whatever order the points come in, balanced by predicted
// cost (the 128K points spread over shards); bad --shard values exit 2; the shard a results file
// records is validated on load and guards --resume.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "harness/results.hpp"
#include "harness/shard.hpp"
#include "harness/sweep.hpp"
#include "tests/cli_run.hpp"
#include "tests/sweep_doubles.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kScenarios = fs::path(COSTCURVE_SOURCE_DIR) / "scenarios";

struct Selected {
  Scenario sc;
  std::vector<Point> points;
};

Selected cpu_points(const fs::path& scenario) {
  Selected s;
  s.sc = load_scenario(scenario);
  s.sc.backends = {"cpu"};
  s.points = generate_points(s.sc);
  return s;
}

TEST(Shard, SplitIsAPartitionForAnyCount) {
  for (const char* name : {"smoke.json", "cpu-default.json"}) {
    const Selected s = cpu_points(kScenarios / name);
    const std::size_t n = s.points.size();
    for (int count : {1, 2, 3, 5, 7, static_cast<int>(n), static_cast<int>(n) + 9}) {
      const auto parts = split_points(s.sc, s.points, count);
      ASSERT_EQ(parts.size(), static_cast<std::size_t>(count));
      std::vector<int> seen(n, 0);
      for (const auto& part : parts) {
        EXPECT_TRUE(std::is_sorted(part.begin(), part.end())) << "shards keep scenario order";
        for (std::size_t i : part) ++seen.at(i);
      }
      for (std::size_t i = 0; i < n; ++i)
        EXPECT_EQ(seen[i], 1) << name << " N=" << count << ": " << s.points[i].name();
      if (count == 1) {
        EXPECT_EQ(parts[0].size(), n);
      }
      if (count > static_cast<int>(n)) {  // one point each, the rest empty
        for (const auto& part : parts) EXPECT_LE(part.size(), 1u);
      }
    }
  }
}

TEST(Shard, SplitIsDeterministicAndIndependentOfInputOrder) {
  const Selected s = cpu_points(kScenarios / "cpu-default.json");
  const auto owners = [&](const std::vector<Point>& pts) {
    std::map<std::string, std::size_t> owner;
    const auto parts = split_points(s.sc, pts, 4);
    for (std::size_t k = 0; k < parts.size(); ++k)
      for (std::size_t i : parts[k]) owner[pts[i].name()] = k;
    return owner;
  };
  const auto first = owners(s.points);
  EXPECT_EQ(owners(s.points), first);
  std::vector<Point> shuffled = s.points;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  EXPECT_EQ(owners(shuffled), first);
  // Equal costs: ties go by name, then to the lowest shard.
  const auto tied = split_points({1, 1, 1, 1}, {"d", "c", "b", "a"}, 2);
  EXPECT_EQ(tied[0], (std::vector<std::size_t>{1, 3}));  // "a", then "c"
  EXPECT_EQ(tied[1], (std::vector<std::size_t>{0, 2}));
}

TEST(Shard, BalancedByPredictedCostAndLongestPointsSpread) {
  const Selected s = cpu_points(kScenarios / "cpu-default.json");
  std::vector<double> cost;
  for (const Point& p : s.points) cost.push_back(predicted_seconds(s.sc, p));
  double total = 0;
  for (double c : cost) total += c;
  std::vector<std::size_t> by_cost(cost.size());
  for (std::size_t i = 0; i < by_cost.size(); ++i) by_cost[i] = i;
  std::sort(by_cost.begin(), by_cost.end(), [&](auto a, auto b) { return cost[a] > cost[b]; });
  EXPECT_NE(s.points[by_cost[0]].name().find("L131072"), std::string::npos)
      << "the 128K points are predicted the longest";
  for (int count : {2, 3, 4}) {
    const auto parts = split_points(s.sc, s.points, count);
    std::vector<double> load(parts.size(), 0);
    std::map<std::size_t, std::size_t> owner;
    for (std::size_t k = 0; k < parts.size(); ++k)
      for (std::size_t i : parts[k]) load[k] += cost[i], owner[i] = k;
    const double hi = *std::max_element(load.begin(), load.end());
    const double lo = *std::min_element(load.begin(), load.end());
    // Within 10% of each other, unless one point alone outweighs a fair share (at N = 4 the
    // 128K dense prefill does): then that point is its shard's only load worth counting.
    const double largest = cost[by_cost[0]];
    if (largest < total / count)
      EXPECT_LT(hi / lo, 1.1) << "N=" << count << ": loads " << ::testing::PrintToString(load);
    else
      EXPECT_LT(hi, largest * 1.05) << "N=" << count << ": " << ::testing::PrintToString(load);
    std::set<std::size_t> longest;
    for (int k = 0; k < count; ++k) longest.insert(owner[by_cost[static_cast<std::size_t>(k)]]);
    EXPECT_EQ(longest.size(), static_cast<std::size_t>(count))
        << "the " << count << " longest points share a shard";
    // Not by count: the shard with the longest point has fewer points.
    EXPECT_LT(parts[owner[by_cost[0]]].size(), s.points.size() / count);
  }
}

TEST(Shard, ParsesIndexSlashCount) {
  EXPECT_EQ(parse_shard("0/1").count, 1);
  EXPECT_EQ(parse_shard("3/4").index, 3);
  EXPECT_EQ(shard_text(parse_shard("2/5")), "2/5");
  for (const char* bad : {"3/2", "2/2", "-1/2", "a/b", "1/0", "1/2/3", "", "/", "1/", "+1/2",
                          " 1/2", "1/100001", "99999999999/2"}) {
    try {
      parse_shard(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--shard"), std::string::npos) << e.what();
    }
  }
}

TEST(Shard, BadShardExitsTwoNamingTheOption) {
  const std::string scenario = (kScenarios / "smoke.json").string();
  for (const char* bad : {"3/2", "-1/2", "a/b", "1/0", "1/2/3"}) {
    const test::CliResult r = test::run_cli({"sweep", scenario, "--dry-run", "--shard", bad});
    EXPECT_TRUE(r.exited && r.code == 2) << bad << ": " << r.describe();
    EXPECT_NE(r.output.find("--shard"), std::string::npos) << r.output;
  }
}

TEST(Shard, DryRunListsTheShardsPointsAndItsShare) {
  SweepOptions o;
  o.scenario = kScenarios / "cpu-default.json";
  o.dry_run = true;
  std::string all;
  for (int i = 0; i < 3; ++i) {
    o.shard = std::to_string(i) + "/3";
    std::ostringstream os;
    ASSERT_EQ(run_sweep(o, os), 0) << os.str();
    EXPECT_NE(os.str().find("shard " + o.shard + ": "), std::string::npos) << os.str();
    EXPECT_NE(os.str().find("predicted"), std::string::npos);
    EXPECT_NE(os.str().find("L131072"), std::string::npos) << "each shard has a 128K point";
    all += os.str();
  }
  for (const Point& p : cpu_points(o.scenario).points)
    EXPECT_NE(all.find(p.name() + " "), std::string::npos) << p.name();
}

// A results file seeded for shard `index`/`count` of `scenario`, as `sweep --shard` records it.
void seed_shard(const fs::path& scenario, const fs::path& out, int index, int count) {
  test::seed_results(scenario, out, make_backend("cpu", 1)->info());
  ResultsFile f = load_results(out);
  const Selected s = cpu_points(scenario);
  ShardRecord rec{index, count, "", {}};
  const auto parts = split_points(s.sc, s.points, count);
  for (std::size_t i : parts[static_cast<std::size_t>(index)])
    rec.points.push_back(s.points[i].name());
  f.shard = rec;
  write_atomic(out, f.to_json().dump(1) + "\n");
}

TEST(Shard, ResumeRefusesAnotherShardOrAWholeSweep) {
  const fs::path d = test::temp_dir("shard-resume");
  const fs::path scenario = kScenarios / "smoke.json";
  seed_shard(scenario, d / "part.json", 0, 2);
  SweepOptions o;
  o.scenario = scenario;
  o.out = d / "part.json";
  o.resume = true;
  o.threads = 1;
  for (const auto& [shard, expect] : std::vector<std::pair<std::string, std::string>>{
           {"1/2", "it is shard 0/2, not 1/2"},
           {"0/3", "it is shard 0/2, not 0/3"},
           {"", "it is shard 0/2 of a sharded sweep"}}) {
    o.shard = shard;
    o.force = shard == "1/2";  // --force does not override it either
    std::ostringstream os;
    EXPECT_EQ(run_sweep(o, os), 2) << os.str();
    EXPECT_NE(os.str().find(expect), std::string::npos) << os.str();
  }
  // The same shard with another --filter is another selection of points.
  o.shard = "0/2";
  o.force = false;
  o.filter = "indexer";
  std::ostringstream os;
  EXPECT_EQ(run_sweep(o, os), 2) << os.str();
  EXPECT_NE(os.str().find("another selection"), std::string::npos) << os.str();
  // A whole sweep is not a shard.
  test::seed_results(scenario, d / "whole.json", make_backend("cpu", 1)->info());
  o.out = d / "whole.json";
  o.filter.clear();
  std::ostringstream os2;
  EXPECT_EQ(run_sweep(o, os2), 2) << os2.str();
  EXPECT_NE(os2.str().find("it is a whole sweep, not shard 0/2"), std::string::npos) << os2.str();
  fs::remove_all(d);
}

TEST(Shard, ResultsFileShardObjectRoundTripsAndIsValidated) {
  const fs::path d = test::temp_dir("shard-load");
  const fs::path scenario = kScenarios / "smoke.json";
  seed_shard(scenario, d / "part.json", 1, 3);
  const ResultsFile f = load_results(d / "part.json");
  ASSERT_TRUE(f.shard);
  EXPECT_EQ(f.shard->index, 1);
  EXPECT_EQ(f.shard->count, 3);
  EXPECT_FALSE(f.shard->points.empty());
  const json good = json::parse(std::ifstream(d / "part.json"));
  const auto refused = [&](const std::function<void(json&)>& edit, const std::string& where) {
    json j = good;
    edit(j);
    try {
      results_from_json(j, "part.json");
      ADD_FAILURE() << "accepted a file with a bad " << where;
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("part.json: " + where), std::string::npos) << what;
    }
  };
  refused([](json& j) { j["costcurve"]["shard"]["index"] = 3; }, "$.costcurve.shard.index");
  refused([](json& j) { j["costcurve"]["shard"]["index"] = -1; }, "$.costcurve.shard.index");
  refused([](json& j) { j["costcurve"]["shard"]["count"] = 0; }, "$.costcurve.shard.count");
  refused([](json& j) { j["costcurve"]["shard"]["count"] = "3"; }, "$.costcurve.shard.count");
  refused([](json& j) { j["costcurve"]["shard"]["points"] = "x"; }, "$.costcurve.shard.points");
  refused([](json& j) { j["costcurve"]["shard"]["points"].push_back(7); },
          "$.costcurve.shard.points[");
  refused([](json& j) { j["costcurve"]["shard"]["oops"] = 1; }, "$.costcurve.shard");
  refused([](json& j) { j["costcurve"]["shard"] = json::array(); }, "$.costcurve.shard");
  refused(
      [](json& j) {
        auto& pts = j["costcurve"]["shard"]["points"];
        pts.push_back(pts[0]);
      },
      "$.costcurve.shard.points[");
  fs::remove_all(d);
}

}  // namespace
}  // namespace costcurve

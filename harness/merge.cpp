#include "harness/merge.hpp"

#include <map>
#include <optional>
#include <ostream>
#include <regex>
#include <set>
#include <string>

#include "harness/results.hpp"
#include "harness/shard.hpp"

namespace costcurve {
namespace {

using nlohmann::json;

constexpr int kExitIncomplete = 1;
constexpr int kExitUsage = 2;

// Strings from files go to terminals: quoted, non-ASCII escaped.
std::string quoted(const std::string& s) {
  return json(s).dump(-1, ' ', true, json::error_handler_t::replace);
}

std::string shard_of(const ResultsFile& f) {
  return f.shard ? std::to_string(f.shard->index) + "/" + std::to_string(f.shard->count)
                 : std::string("whole sweep");
}

// Why `f` cannot be merged with `first`, "" if it can.
std::string mismatch(const ResultsFile& f, const ResultsFile& first) {
  if (f.scenario_name != first.scenario_name || f.scenario_hash != first.scenario_hash)
    return "scenario " + quoted(f.scenario_name) + " (hash " + quoted(f.scenario_hash) +
           "), the first part is scenario " + quoted(first.scenario_name) + " (hash " +
           quoted(first.scenario_hash) + ")";
  if (f.git_sha != first.git_sha)
    return "build " + quoted(f.git_sha) + ", the first part is build " + quoted(first.git_sha);
  if (f.backend != first.backend)
    return "backend " + quoted(f.backend) + ", the first part is backend " + quoted(first.backend);
  const std::string filter = f.shard ? f.shard->filter : "",
                    first_filter = first.shard ? first.shard->filter : "";
  if (f.shard && first.shard && filter != first_filter)
    return "--filter " + quoted(filter) + ", the first part --filter " + quoted(first_filter);
  return "";
}

struct Recorded {
  Scenario scenario;
  std::vector<Point> points;  // as the sweep selected them: its backend, its --filter
};

// The scenario recorded in `f` (models are inline there) and its points. Throws InputError naming
// the file.
Recorded recorded_points(const ResultsFile& f, const std::filesystem::path& file) {
  const std::string origin = file.string() + " ($.costcurve.scenario)";
  Recorded r;
  r.scenario = parse_scenario(f.scenario.dump(), origin, file.parent_path());
  if (r.scenario.hash != f.scenario_hash)
    input_error(file.string(), "$.costcurve.scenario",
                "does not match $.costcurve.scenario_hash " + quoted(f.scenario_hash) +
                    " (it hashes to " + r.scenario.hash + ")");
  r.scenario.backends = {f.backend};
  r.points = generate_points(r.scenario);
  if (f.shard && !f.shard->filter.empty()) {
    std::regex re;
    try {
      re = std::regex(f.shard->filter, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      input_error(file.string(), "$.costcurve.shard.filter",
                  "not a valid regex: " + std::string(e.what()));
    }
    std::erase_if(r.points, [&](const Point& p) { return !std::regex_search(p.name(), re); });
  }
  return r;
}

}  // namespace

int run_merge(const std::vector<std::filesystem::path>& parts, const std::filesystem::path& file,
              std::ostream& out) {
  const auto refuse = [&](const std::string& why) {
    out << "costcurve merge: " << why << "\n";
    return kExitUsage;
  };
  if (parts.empty()) return refuse("give the results files of the shards to merge");
  for (const auto& p : parts) {
    std::error_code ec;
    if (std::filesystem::equivalent(p, file, ec))
      return refuse("--out " + file.string() + " is one of the parts; write the merge elsewhere");
  }
  std::vector<ResultsFile> loaded;
  Recorded rec;
  try {
    for (const auto& p : parts) loaded.push_back(load_results(p));
    rec = recorded_points(loaded.front(), parts.front());
  } catch (const InputError& e) {
    return refuse(e.what());
  }
  const ResultsFile& first = loaded.front();
  std::map<std::pair<int, int>, std::size_t> shard_file;  // (index, count) -> part
  std::map<std::string, std::size_t> owner;               // point -> part
  std::set<int> counts;
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    const ResultsFile& f = loaded[i];
    const std::string p = parts[i].string();
    if (const std::string why = mismatch(f, first); !why.empty())
      return refuse(p + " cannot be merged with " + parts.front().string() + ": it is " + why);
    if (f.shard) {
      counts.insert(f.shard->count);
      const auto [it, fresh] = shard_file.emplace(std::pair{f.shard->index, f.shard->count}, i);
      if (!fresh)
        return refuse(p + " is shard " + shard_of(f) + " again, like " +
                      parts[it->second].string());
    }
    for (const PointResult& r : f.points) {
      const auto [it, fresh] = owner.emplace(r.name, i);
      if (!fresh)
        return refuse("point " + quoted(r.name) +
                      " is in two parts: " + parts[it->second].string() + " and " + p);
    }
  }

  // What the merge should hold: each part's shard as it recorded it, the shards no part holds as
  // the split gives them (computed again, as the shards did), and whatever whole sweeps hold.
  std::vector<std::pair<std::string, std::string>> expected;  // point, where it should have been
  std::set<std::string> seen;
  const auto expect = [&](const std::string& name, const std::string& where) {
    if (seen.insert(name).second) expected.emplace_back(name, where);
  };
  for (std::size_t i = 0; i < loaded.size(); ++i)
    if (loaded[i].shard)
      for (const std::string& n : loaded[i].shard->points)
        expect(n, "shard " + shard_of(loaded[i]) + ", not measured in " + parts[i].string());
  if (counts.size() == 1) {
    const int count = *counts.begin();
    const auto split = split_points(rec.scenario, rec.points, count);
    for (int s = 0; s < count; ++s)
      if (!shard_file.count({s, count}))
        for (std::size_t i : split[static_cast<std::size_t>(s)])
          expect(rec.points[i].name(),
                 "shard " + std::to_string(s) + "/" + std::to_string(count) + ", in no part given");
  }
  if (!counts.empty())
    for (const Point& p : rec.points) expect(p.name(), "in no part given");

  // The merged file, in the scenario's point order; points it does not know (a part resumed with
  // --force from another scenario version) follow in the order of the parts.
  std::map<std::string, std::size_t> rank;
  for (const Point& p : rec.points) rank.emplace(p.name(), rank.size());
  std::vector<const PointResult*> order;
  for (const ResultsFile& f : loaded)
    for (const PointResult& r : f.points) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [&](const PointResult* a, const PointResult* b) {
    const auto ra = rank.find(a->name), rb = rank.find(b->name);
    const std::size_t ka = ra == rank.end() ? rank.size() : ra->second;
    const std::size_t kb = rb == rank.end() ? rank.size() : rb->second;
    return ka < kb;
  });
  ResultsFile merged;
  merged.context = first.context;
  merged.scenario = first.scenario;
  merged.scenario_name = first.scenario_name;
  merged.scenario_hash = first.scenario_hash;
  merged.git_sha = first.git_sha;
  merged.backend = first.backend;
  json from = json::array();
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    const ResultsFile& f = loaded[i];
    if (f.has_ceilings && !merged.has_ceilings) {  // an empty shard measured none
      merged.ceilings = f.ceilings;
      merged.has_ceilings = true;
    }
    json host = f.context.contains("host_name") ? f.context["host_name"] : json();
    from.push_back({{"file", parts[i].string()},
                    {"shard", shard_of(f)},
                    {"host_name", host},
                    {"points", f.points.size()}});
  }
  merged.context["merged_from"] = from;
  int ok = 0, skipped = 0, failed = 0;
  for (const PointResult* r : order) {
    merged.points.push_back(*r);
    ok += r->status == PointStatus::ok;
    skipped += r->status == PointStatus::skipped;
    failed += r->status == PointStatus::failed;
  }
  try {
    write_atomic(file, merged.to_json().dump(1) + "\n");
  } catch (const OutputError& e) {
    return refuse(e.what());
  }

  std::size_t missing = 0;
  for (const auto& [name, where] : expected)
    if (!owner.count(name)) ++missing;
  out << "merged " << loaded.size() << " parts: " << merged.points.size() << " points, " << ok
      << " ok, " << skipped << " skipped, " << failed << " failed; " << missing << " missing -> "
      << file.string() << "\n";
  if (missing == 0) return 0;
  out << "warning: " << missing << " points of the sweep are in no part:\n";
  for (const auto& [name, where] : expected)
    if (!owner.count(name)) out << "  missing " << quoted(name) << " (" << where << ")\n";
  return kExitIncomplete;
}

}  // namespace costcurve

#include "harness/shard.hpp"

#include <algorithm>
#include <numeric>
#include <queue>
#include <utility>

#include "harness/json_input.hpp"
#include "kernels/backend.hpp"

namespace costcurve {
namespace {

// Nominal machines, not measurements: only the ratio of FLOP rate to bandwidth (where a kernel
// turns from memory- to compute-bound) and the size relative to min_time_s shape the split.
struct Nominal {
  double flops, bytes_per_s;
};
Nominal nominal_machine(const std::string& backend) {
  if (backend == "cuda") return {4e14, 3e12};  // an H100-class GPU, bf16 tensor cores
  return {2e11, 1e11};                         // a few AVX-512 cores
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 9 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

ShardSpec parse_shard(const std::string& text) {
  const std::string shown = describe_value(nlohmann::json(text));
  const auto slash = text.find('/');
  const std::string head = text.substr(0, slash);
  const std::string tail = slash == std::string::npos ? "" : text.substr(slash + 1);
  if (slash == std::string::npos || !all_digits(head) || !all_digits(tail))
    throw InputError("--shard " + shown +
                     ": expected INDEX/COUNT, two decimal numbers, e.g. 0/4 (the first of 4)");
  const long index = std::stol(head), count = std::stol(tail);
  if (count < 1 || count > kMaxShards)
    throw InputError("--shard " + shown + ": the count must be 1 to " + std::to_string(kMaxShards) +
                     ", got " + std::to_string(count));
  if (index >= count)
    throw InputError("--shard " + shown + ": the index must be 0 to " + std::to_string(count - 1) +
                     " (shards are numbered from 0), got " + std::to_string(index));
  return {static_cast<int>(index), static_cast<int>(count)};
}

std::string shard_text(const ShardSpec& s) {
  return std::to_string(s.index) + "/" + std::to_string(s.count);
}

double predicted_seconds(const Scenario& sc, const Point& p) {
  static const auto sizes = make_backend("cpu", 1);  // FLOP and byte counts only
  const auto problem = make_problem(p.problem(model_of(sc, p)), *sizes);
  const Nominal m = nominal_machine(p.backend);
  const double run = std::max(problem->flops() / m.flops, problem->bytes() / m.bytes_per_s);
  return std::max(1, sc.run.min_repetitions) * std::max(sc.run.min_time_s, run);
}

std::vector<std::vector<std::size_t>> split_points(const std::vector<double>& cost,
                                                   const std::vector<std::string>& names,
                                                   int count) {
  std::vector<std::size_t> order(cost.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (cost[a] != cost[b]) return cost[a] > cost[b];
    return names[a] < names[b];
  });
  // Min-heap of (load, shard): the least-loaded shard on top, the lowest index among equals.
  using Load = std::pair<double, int>;
  std::priority_queue<Load, std::vector<Load>, std::greater<>> loads;
  for (int s = 0; s < count; ++s) loads.emplace(0.0, s);
  std::vector<int> owner(cost.size());
  for (std::size_t i : order) {
    auto [load, s] = loads.top();
    loads.pop();
    owner[i] = s;
    loads.emplace(load + cost[i], s);
  }
  std::vector<std::vector<std::size_t>> shards(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < owner.size(); ++i)
    shards[static_cast<std::size_t>(owner[i])].push_back(i);
  return shards;
}

std::vector<std::vector<std::size_t>> split_points(const Scenario& sc,
                                                   const std::vector<Point>& points, int count) {
  std::vector<double> cost;
  std::vector<std::string> names;
  for (const Point& p : points) {
    cost.push_back(predicted_seconds(sc, p));
    names.push_back(p.name());
  }
  return split_points(cost, names, count);
}

}  // namespace costcurve

// Splitting a sweep over shards (processes, GPUs, nodes): `costcurve sweep --shard I/N` runs one
// part of a scenario's points, balanced by predicted cost rather than by count, because one 128K
// point can outweigh dozens of short ones.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "harness/scenario.hpp"

namespace costcurve {

// Most shards one sweep may be split into (a bound on what a file or an argument can ask for).
inline constexpr int kMaxShards = 100000;

struct ShardSpec {
  int index = 0;  // 0 .. count-1
  int count = 1;
};

// Parses "I/N" (decimal digits only, 0 <= I < N <= kMaxShards). Throws InputError whose message
// names --shard and says what was expected.
ShardSpec parse_shard(const std::string& text);
std::string shard_text(const ShardSpec& s);  // "I/N"

// A point's predicted time on a fixed nominal machine of the point's backend kind: the roofline
// time of one run, repeated min_repetitions times with each repetition lasting at least
// min_time_s (as the sweep batches iterations). It depends on the scenario and the point only,
// never on the machine that computes it, so every shard of a sweep computes the same split.
double predicted_seconds(const Scenario& sc, const Point& p);

// Greedy longest-processing-time assignment: points by predicted cost, largest first (ties by
// name), each to the least-loaded shard (ties: the lowest index). Returns each shard's points as
// indices into `points`, in the order of `points`.
std::vector<std::vector<std::size_t>> split_points(const std::vector<double>& cost,
                                                   const std::vector<std::string>& names,
                                                   int count);
std::vector<std::vector<std::size_t>> split_points(const Scenario& sc,
                                                   const std::vector<Point>& points, int count);

}  // namespace costcurve

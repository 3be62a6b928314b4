// `costcurve sweep`: a scenario's points, each validated and then timed through Google Benchmark,
// with the results file rewritten atomically after every point so that nothing finished is lost.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "harness/scenario.hpp"
#include "kernels/backend.hpp"

namespace costcurve {

struct SweepOptions {
  std::filesystem::path scenario;
  std::string backend;        // empty: the scenario's first backend
  std::filesystem::path out;  // empty: results/<scenario>.<backend>.json
  std::string filter;         // ECMAScript regex on point names; empty: all
  std::string shard;          // "I/N": only shard I of N of the points (after the filter)
  bool resume = false;        // keep the points already in `out`, run the rest
  bool force = false;         // resume even from another scenario version or build
  bool dry_run = false;       // list the points with FLOPs, bytes and memory; run nothing
  int threads = 0;            // CPU threads; 0: all cores
  std::uint64_t seed = 1;     // inputs are seeded per point from this and the point's name
  // Makes the backend to measure on from its name and `threads`; empty: make_backend. Lets tests
  // measure through a wrapped backend (one that runs out of memory, say).
  std::function<std::unique_ptr<Backend>(const std::string&, int)> backend_factory;
};

// Returns the exit code: 0 all points ok or skipped, 1 some failed, 2 bad input or an output file
// that cannot be written (the previous results file is left as it was).
int run_sweep(const SweepOptions& opt, std::ostream& out);

// Loads opt.scenario, keeps only the backend to run on and the points --filter selects (the whole
// sweep, before any --shard). On bad input prints why to `out` and returns 2; else 0.
int select_points(const SweepOptions& opt, Scenario& sc, std::vector<Point>& points,
                  std::ostream& out);

// Default results path for a scenario and backend.
std::filesystem::path default_results_path(const std::string& scenario, const std::string& backend);

}  // namespace costcurve

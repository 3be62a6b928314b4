// Results files: Google Benchmark's JSON layout (so its tools/compare.py reads them unchanged) plus
// a "costcurve" section with the provenance and each point's status. Written atomically after every
// point, so an interrupted sweep leaves a valid file holding every finished point.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/ceilings.hpp"
#include "harness/scenario.hpp"
#include "harness/stats.hpp"

namespace costcurve {

inline constexpr int kResultsSchemaVersion = 1;

enum class PointStatus { ok, skipped, failed };
std::string_view status_name(PointStatus s);

struct PointResult {
  Point point;
  std::string name;  // point.name(), kept verbatim from the file on load
  PointStatus status = PointStatus::ok;
  std::string reason;  // why skipped or failed
  // validation
  bool validated = false;
  double rel_l2 = 0, tolerance = 0;
  std::int64_t tokens_checked = 0, tokens_total = 0;
  // timing: seconds per run, one sample per repetition (each the mean of `iterations` runs)
  std::vector<double> samples_s;
  std::int64_t iterations = 0;
  Summary summary;
  std::string stop_reason;
  // work and roofline
  double flops = 0, bytes = 0, memory_bytes = 0, tokens = 0;
  double floor_s = 0;            // roofline floor from the measured ceilings
  std::string bound;             // "compute" or "memory"
  double roofline_fraction = 0;  // floor_s / median: 1 means at the ceiling
  // measurement conditions
  int input_sets = 0;  // independent inputs the timed runs rotated over; 0: not recorded
  DeviceState state_before, state_after;  // device_state() just before timing, just after it
};

// Which part of a sharded sweep (`sweep --shard I/N`) a results file holds. The point list is the
// whole shard, measured or not: `costcurve merge` tells an unfinished shard from a complete one by
// it, and `sweep --resume` refuses a file that is another shard.
struct ShardRecord {
  int index = 0, count = 1;
  std::string filter;               // the sweep's --filter ("": every point of the scenario)
  std::vector<std::string> points;  // names of the shard's points, in scenario order
};

struct ResultsFile {
  nlohmann::json context;   // Google Benchmark's context block, extended with provenance
  nlohmann::json scenario;  // the scenario as run (canonical JSON)
  std::string scenario_name, scenario_hash;
  std::string git_sha, backend;
  Ceilings ceilings;
  bool has_ceilings = false;
  std::vector<PointResult> points;
  std::optional<ShardRecord> shard;  // absent: a whole sweep (or a merge of shards)

  const PointResult* find(const std::string& name) const;
  nlohmann::json to_json() const;
  // The kernel-selection variables the sweep ran with (context.kernel_env), as "A=1 B=0", or
  // "none" (also for files older than the field); untrusted, so a value that is not a string
  // shows as "?", and the text is bounded.
  std::string kernel_selection() const;
};

// Loads and validates a results file (untrusted input): throws InputError naming file and field.
ResultsFile load_results(const std::filesystem::path& file);
ResultsFile results_from_json(const nlohmann::json& j, const std::string& origin);

// An output file that cannot be written (unwritable directory, full disk, file size limit): the
// message names the file and the cause. The CLI exits 2 on it.
class OutputError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Writes `content` to `file` atomically: a temporary file beside it, fsync, rename, fsync of the
// directory. On any failure the previous file is intact, the temporary file is removed, and an
// OutputError names the file and the cause.
void write_atomic(const std::filesystem::path& file, const std::string& content);
// Throws OutputError when `file` could not be written by write_atomic: its directory is missing
// or unwritable, or `file` is a directory. Creates and removes write_atomic's temporary file.
void check_writable(const std::filesystem::path& file);

// Google Benchmark's context block for this process (date, host, CPUs, caches, load).
nlohmann::json benchmark_context(const std::string& executable);

}  // namespace costcurve

// `costcurve sweep --devices 0,1,2,3`: one shard of the sweep per device, each in a child process
// of this binary (`sweep --shard i/N` with CUDA_VISIBLE_DEVICES set to its device), then the parts
// merged into the sweep's results file as `costcurve merge` would.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "harness/sweep.hpp"

namespace costcurve {

// Parses "0,1,2,3": device ordinals, distinct, at least one. Throws InputError naming --devices.
std::vector<int> parse_devices(const std::string& text);

// "<out>.shard-I-of-N.json": where shard I of N of a --devices sweep writing `out` keeps its part.
std::filesystem::path shard_part_path(const std::filesystem::path& out, int index, int count);

// Runs the sweep `opt` (which must not name a shard) over `devices`; children's output lines go to
// `out` prefixed "[dev X] " and, unprefixed, to a log beside each part ("<part>.log" minus
// ".json"). SIGINT, SIGTERM and SIGHUP are forwarded to the children, and the parent then dies of
// the same signal. Returns 0 when every shard succeeded and the merge is complete; 1 when a shard
// failed (what exists is still merged) or points are missing; 2 on bad arguments or input.
int run_devices(const SweepOptions& opt, const std::string& devices, std::ostream& out);

}  // namespace costcurve

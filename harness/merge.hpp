// `costcurve merge`: joins the results files of a sharded sweep (`sweep --shard I/N`, or the
// parts `sweep --devices` writes) into one results file, as if the sweep had run in one process.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <vector>

namespace costcurve {

// Returns the exit code: 0 every point of the sweep is in some part; 1 some are in none (listed on
// `out`; the merged file is still written, so partial results are usable); 2 bad input (a part that
// does not load, parts of different scenarios, builds or backends, a point in two parts) or an
// output file that cannot be written; nothing is written then.
int run_merge(const std::vector<std::filesystem::path>& parts, const std::filesystem::path& file,
              std::ostream& out);

}  // namespace costcurve

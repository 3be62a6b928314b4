// `costcurve validate`: every operation against its float64 reference at small, awkward sizes.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <vector>

#include "harness/problem.hpp"

namespace costcurve {

// Small shapes that still cover the edges: ragged batches, s_q > 1, rows shorter than top-k,
// lengths that are not multiples of any tile.
std::vector<ProblemSpec> validation_suite();

struct ValidationRow {
  ProblemSpec spec;
  Validation result;
  std::string error;  // set when the backend threw instead of producing output
};

std::vector<ValidationRow> run_validation(Backend& be, const std::vector<ProblemSpec>& specs,
                                          std::uint64_t seed);
// A fixed-width table; returns true when every row passed.
bool print_validation(std::ostream& os, const std::vector<ValidationRow>& rows);

}  // namespace costcurve

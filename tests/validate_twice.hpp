// The kernel tests' check: run a problem, validate it against the float64 reference, poison the
// outputs and do it again, so that the second run must rewrite every output.
#pragma once

#include <gtest/gtest.h>

#include <limits>

#include "harness/problem.hpp"
#include "kernels/backend.hpp"
#include "tests/test_util.hpp"

namespace costcurve::test {

// max_ref_gflop bounds the reference's work (a sample of the query tokens beyond it, always the
// first and the last); max_rel_l2 is a bound tighter than the dtype's, for kernels that should
// land far inside it.
inline void expect_valid_twice(Problem& p, Backend& be,
                               double max_ref_gflop = std::numeric_limits<double>::infinity(),
                               double max_rel_l2 = std::numeric_limits<double>::infinity()) {
  for (int round = 0; round < 2; ++round) {
    p.run();
    be.synchronize();
    const Validation v = p.validate(max_ref_gflop);
    EXPECT_TRUE(v.pass) << "round " << round << ": " << v.detail;
    EXPECT_EQ(v.bad, 0);
    if (max_rel_l2 < std::numeric_limits<double>::infinity()) {
      EXPECT_LE(v.rel_l2, max_rel_l2) << "round " << round;
    }
    p.poison();
  }
}

// The problem of `s` on fresh random inputs, checked as above; a failure names the seed and how
// to rerun with it.
inline void expect_spec_valid_twice(const ProblemSpec& s, Backend& be,
                                    double max_ref_gflop = std::numeric_limits<double>::infinity(),
                                    double max_rel_l2 = std::numeric_limits<double>::infinity()) {
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (rerun with COSTCURVE_SEED=" + std::to_string(seed) + "), " + s.describe());
  auto p = make_problem(s, be);
  p->setup(seed);
  expect_valid_twice(*p, be, max_ref_gflop, max_rel_l2);
}

}  // namespace costcurve::test

// Results without a measurement: every point of a scenario timed at its roofline floor on a
// machine described by its ceilings, divided by a stated efficiency. Lets the cost model price
// hardware no one has measured; the results say so in their backend ("analytic").
#pragma once

#include <map>
#include <string>

#include "harness/results.hpp"

namespace costcurve {

struct RooflineMachine {
  std::string name;                     // e.g. "b200"
  std::map<std::string, double> flops;  // dtype name -> FLOP/s
  double bandwidth = 0;                 // bytes/s (read + write)
  double efficiency = 0.5;              // share of the roofline the kernels are assumed to reach
};

// Throws InputError when the machine has no rate or the efficiency is outside (0, 1].
ResultsFile analytic_results(const Scenario& sc, const RooflineMachine& m);

}  // namespace costcurve

#include "harness/analytic.hpp"

#include "harness/json_input.hpp"

namespace costcurve {

ResultsFile analytic_results(const Scenario& sc, const RooflineMachine& m) {
  if (!(m.efficiency > 0 && m.efficiency <= 1))
    throw InputError("--analytic: the efficiency must be in (0, 1], got " +
                     std::to_string(m.efficiency));
  if (!(m.bandwidth > 0) || m.flops.empty())
    throw InputError("analytic machine " + m.name + " has no FLOP rate or bandwidth");
  ResultsFile f;
  f.scenario_name = sc.name;
  f.scenario_hash = sc.hash;
  f.scenario = nlohmann::json::parse(sc.canonical_json);
  f.git_sha = "analytic";
  f.backend = "analytic";
  f.context = {{"date", ""}, {"note", "analytic roofline, not a measurement"}};
  f.ceilings.backend = "analytic";
  f.ceilings.device =
      "analytic roofline of " + m.name + " at efficiency " + std::to_string(m.efficiency);
  f.ceilings.gemm_flops = m.flops;
  f.ceilings.copy_bytes_per_s = m.bandwidth;
  f.has_ceilings = true;
  auto sizes = make_backend("cpu", 1);  // FLOP and byte counts only: nothing is allocated
  for (const Point& pt : generate_points(sc)) {
    auto p = make_problem(pt.problem(model_of(sc, pt)), *sizes);
    PointResult r;
    r.point = pt;
    r.name = pt.name();
    r.flops = p->flops();
    r.bytes = p->bytes();
    r.memory_bytes = static_cast<double>(p->memory());
    r.tokens = static_cast<double>(pt.batch * pt.s_q);
    r.floor_s = f.ceilings.floor_seconds(r.flops, r.bytes, pt.dtype, &r.bound);
    const double t = r.floor_s / m.efficiency;
    r.samples_s = {t, t, t};
    r.iterations = 1;
    r.summary = summarize(r.samples_s);
    r.roofline_fraction = m.efficiency;
    r.stop_reason = "analytic";
    f.points.push_back(std::move(r));
  }
  return f;
}

}  // namespace costcurve

#include "harness/ceilings.hpp"

#include <algorithm>
#include <string>

#include "harness/json_input.hpp"
#include "harness/problem.hpp"

namespace costcurve {
namespace {

// Best time of `work` over repeated runs within roughly `budget_s`, after one warm-up, on the
// backend's own clock (CUDA events on a GPU).
double best_seconds(Backend& be, const std::function<void()>& work, double budget_s) {
  be.time(work);
  double best = 1e300, spent = 0;
  for (int i = 0; i < 50 && (i < 3 || spent < budget_s); ++i) {
    const double t = be.time(work);
    best = std::min(best, t);
    spent += t;
  }
  return best;
}

}  // namespace

double Ceilings::peak_flops(DType dtype) const {
  const auto it = gemm_flops.find(std::string(dtype_name(dtype)));
  if (it != gemm_flops.end()) return it->second;
  const auto f32 = gemm_flops.find("f32");
  return f32 != gemm_flops.end() ? f32->second : 0;
}

double Ceilings::floor_seconds(double flops, double bytes, DType dtype, std::string* bound) const {
  const double peak = peak_flops(dtype);
  const double compute = peak > 0 ? flops / peak : 0;
  const double memory = copy_bytes_per_s > 0 ? bytes / copy_bytes_per_s : 0;
  if (bound) *bound = compute >= memory ? "compute" : "memory";
  return std::max(compute, memory);
}

nlohmann::json Ceilings::to_json() const {
  return {{"backend", backend},
          {"device", device},
          {"gemm_flops", gemm_flops},
          {"gemm_shape", gemm_shape},
          {"copy_bytes_per_s", copy_bytes_per_s},
          {"copy_size", copy_size}};
}

Ceilings Ceilings::from_json(const nlohmann::json& j, const std::string& origin,
                             const std::string& path) {
  JsonObject o(j, origin, path);
  Ceilings c;
  c.backend = o.string("backend");
  c.device = o.string("device");
  c.gemm_shape = o.string_or("gemm_shape", "");
  c.copy_size = o.string_or("copy_size", "");
  c.copy_bytes_per_s = o.number("copy_bytes_per_s", 0);
  JsonObject g = o.object("gemm_flops");
  for (const auto& [k, v] : j.at("gemm_flops").items()) c.gemm_flops[k] = g.number(k, 0);
  g.finish();
  o.finish();
  return c;
}

Ceilings measure_ceilings(Backend& be, double budget_s) {
  Ceilings c;
  const BackendInfo info = be.info();
  c.backend = info.name;
  c.device = info.device;
  const long n = 2048;
  c.gemm_shape = std::to_string(n) + "x" + std::to_string(n) + "x" + std::to_string(n);
  for (DType t : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    if (!be.supports(Op::gemm, t)) continue;
    ProblemSpec s;
    s.op = Op::gemm;
    s.m = s.n = s.k = n;
    s.dtype = t;
    auto p = make_problem(s, be);
    p->setup(1);
    c.gemm_flops[std::string(dtype_name(t))] =
        p->flops() / best_seconds(
                         be, [&] { p->run(); }, budget_s / 3);
  }
  // Large enough to defeat any cache; small enough for a 2-core CI machine.
  const std::size_t bytes = std::size_t{256} << 20;
  Buffer a(be, bytes), b(be, bytes);
  // Write both buffers first: untouched pages read as the shared zero page, which caches.
  be.copy(b.as<void>(), a.as<void>(), bytes);
  be.copy(a.as<void>(), b.as<void>(), bytes);
  c.copy_bytes_per_s = 2.0 * bytes /
                       best_seconds(
                           be, [&] { be.copy(b.as<void>(), a.as<void>(), bytes); }, budget_s / 3);
  c.copy_size = "256 MiB";
  return c;
}

}  // namespace costcurve

#include "harness/ceilings.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "harness/json_input.hpp"
#include "harness/problem.hpp"
#include "harness/stats.hpp"

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
  nlohmann::json j = {{"backend", backend},
                      {"device", device},
                      {"gemm_flops", gemm_flops},
                      {"gemm_shape", gemm_shape},
                      {"copy_bytes_per_s", copy_bytes_per_s},
                      {"copy_size", copy_size}};
  if (!gemm_shapes.empty()) j["gemm_shapes"] = gemm_shapes;
  if (has_cache_flush)
    j["cache_flush"] = {{"bytes", cache_flush.bytes},
                        {"hot_s", cache_flush.hot_s},
                        {"cold_s", cache_flush.cold_s},
                        {"cold_over_hot", cache_flush.cold_over_hot}};
  return j;
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
  // Both optional: files written before they existed must still load.
  if (o.has("gemm_shapes")) {
    JsonObject s = o.object("gemm_shapes");
    for (const auto& [k, v] : j.at("gemm_shapes").items()) c.gemm_shapes[k] = s.string(k);
    s.finish();
  }
  if (o.has("cache_flush")) {
    JsonObject f = o.object("cache_flush");
    c.cache_flush.bytes = f.number("bytes", 0);
    c.cache_flush.hot_s = f.number("hot_s", 0);
    c.cache_flush.cold_s = f.number("cold_s", 0);
    c.cache_flush.cold_over_hot = f.number("cold_over_hot", 0);
    f.finish();
    c.has_cache_flush = true;
  }
  o.finish();
  return c;
}

std::optional<CacheFlushCheck> measure_cache_flush(Backend& be, double budget_s) {
  const std::size_t cache = be.info().cache_bytes;
  if (cache == 0) return std::nullopt;
  // A copy of 30% of the cache: source and destination still fit (tools/l2_probe.cu on an H100:
  // resident up to ~16 of its 50 MiB, gone at 24), and the copy is long enough that the time to
  // move it, not launch latency, decides (at an eighth the two differed by only 3-23%).
  const std::size_t bytes = std::max<std::size_t>(cache * 3 / 10 / 256 * 256, 4096);
  Buffer a(be, bytes), b(be, bytes);
  const auto copy = [&] { be.copy(b.as<void>(), a.as<void>(), bytes); };
  // Write both first: untouched pages read as the shared zero page, which caches.
  be.copy(a.as<void>(), b.as<void>(), bytes);
  for (int i = 0; i < 20; ++i) copy();  // clocks up from idle before anything is timed
  be.synchronize();
  // Pairs of runs, a cold one (flushed first, the flush outside the timed region) and then a hot
  // one over the data the cold run just brought in, so that both see the same clocks. The budget
  // is wall time: the flushes, not the copies, take most of it.
  std::vector<double> hot, cold;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    const std::chrono::duration<double> spent = std::chrono::steady_clock::now() - start;
    if (i >= 5 && spent.count() > budget_s) break;
    be.flush_caches();
    cold.push_back(be.time(copy));
    hot.push_back(be.time(copy));
  }
  CacheFlushCheck c;
  c.bytes = static_cast<double>(bytes);
  c.hot_s = summarize(hot).median;
  c.cold_s = summarize(cold).median;
  c.cold_over_hot = c.hot_s > 0 ? c.cold_s / c.hot_s : 0;
  return c;
}

Ceilings measure_ceilings(Backend& be, double budget_s) {
  Ceilings c;
  const BackendInfo info = be.info();
  c.backend = info.name;
  c.device = info.device;
  // A GPU needs large GEMMs to reach its tensor-core peak (2048^3 takes tens of microseconds on an
  // H100, where launch and wave-quantisation losses still weigh); a CPU is at its peak at 2048^3.
  const long n = info.name == "cuda" ? 8192 : 2048;
  const std::string shape = std::to_string(n) + "x" + std::to_string(n) + "x" + std::to_string(n);
  for (DType t : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    if (!be.supports(Op::gemm, t)) continue;
    ProblemSpec s;
    s.op = Op::gemm;
    s.m = s.n = s.k = n;
    s.dtype = t;
    auto p = make_problem(s, be);
    p->setup(1);
    const std::string name(dtype_name(t));
    c.gemm_flops[name] = p->flops() / best_seconds(
                                          be, [&] { p->run(); }, budget_s / 3);
    c.gemm_shapes[name] = shape;
    if (c.gemm_shape.empty() || t == DType::f32) c.gemm_shape = shape;
  }
  {
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
  }  // freed before the cache check allocates
  if (const auto flush = measure_cache_flush(be, budget_s / 3)) {
    c.cache_flush = *flush;
    c.has_cache_flush = true;
  }
  return c;
}

}  // namespace costcurve

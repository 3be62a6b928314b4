// The machine's measured ceilings: GEMM rate per dtype and memory copy bandwidth, measured by the
// same binary on the same backend as the points they bound (a roofline drawn from datasheets would
// flatter or insult the kernels).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kernels/backend.hpp"

namespace costcurve {

// Proof that flush_caches() evicts: a copy small enough to stay in the cache, timed hot (repeated,
// no flush) and cold (flushed before each run, outside the timed region). A cold run no slower than
// a hot one means cold sweeps measure nothing more than hot ones.
struct CacheFlushCheck {
  double bytes = 0;          // size of the copied buffer (30% of the cache)
  double hot_s = 0;          // median seconds per copy, cache warm
  double cold_s = 0;         // median seconds per copy, caches flushed first
  double cold_over_hot = 0;  // cold_s / hot_s
};

struct Ceilings {
  std::string backend, device;
  std::map<std::string, double> gemm_flops;        // dtype name -> FLOP/s, best of the runs
  std::map<std::string, std::string> gemm_shapes;  // dtype name -> "MxNxK" it was measured at
  std::string gemm_shape;       // e.g. "2048x2048x2048": the f32 one (files before gemm_shapes)
  double copy_bytes_per_s = 0;  // bytes read + written per second, best of the runs
  std::string copy_size;
  CacheFlushCheck cache_flush;
  bool has_cache_flush = false;  // absent from older files, and where the cache size is unknown

  // Peak rate for arithmetic in `dtype`, falling back to f32 (the CPU computes bf16 storage in
  // f32).
  double peak_flops(DType dtype) const;
  // Roofline floor of a point: max(flops / peak, bytes / bandwidth), and which side binds.
  double floor_seconds(double flops, double bytes, DType dtype, std::string* bound = nullptr) const;

  nlohmann::json to_json() const;
  // Throws InputError naming origin and field when j is malformed.
  static Ceilings from_json(const nlohmann::json& j, const std::string& origin,
                            const std::string& path);
};

// About `budget_s` seconds of timed work, plus setting up the inputs.
Ceilings measure_ceilings(Backend& be, double budget_s = 3);

// The cache flush check alone, about `budget_s` seconds; nullopt when the backend does not know
// its cache size.
std::optional<CacheFlushCheck> measure_cache_flush(Backend& be, double budget_s = 1);

}  // namespace costcurve

// The machine's measured ceilings: GEMM rate per dtype and memory copy bandwidth, measured by the
// same binary on the same backend as the points they bound (a roofline drawn from datasheets would
// flatter or insult the kernels).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/backend.hpp"

namespace costcurve {

struct Ceilings {
  std::string backend, device;
  std::map<std::string, double> gemm_flops;  // dtype name -> FLOP/s, best of the runs
  std::string gemm_shape;                    // e.g. "2048x2048x2048"
  double copy_bytes_per_s = 0;               // bytes read + written per second, best of the runs
  std::string copy_size;

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

// About `budget_s` seconds of work.
Ceilings measure_ceilings(Backend& be, double budget_s = 3);

}  // namespace costcurve

// Inputs of the cost model besides measured results: hardware, prices and deployments, each a JSON
// file under scenarios/ (untrusted: errors name the file and the JSON path, as for scenarios).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "harness/json_input.hpp"
#include "harness/scenario.hpp"

namespace costcurve {

// scenarios/hardware/<name>.json: datasheet ceilings of one accelerator (or one CPU machine).
struct HardwareSpec {
  std::string name;             // [A-Za-z0-9._-]+, matches the file name, e.g. "h800-sxm"
  std::string display_name;     // "NVIDIA H800 SXM 80GB"
  std::string kind;             // "gpu" or "cpu"
  std::string source;           // where the numbers come from (datasheet URL or document, date)
  double bf16_flops = 0;        // dense tensor FLOP/s
  double fp8_flops = 0;         // dense tensor FLOP/s (0: no fp8 support)
  double f32_flops = 0;         // FLOP/s for f32 (CPU GEMM, or GPU non-tensor); 0 when unknown
  double memory_bandwidth = 0;  // bytes/s
  double memory_bytes = 0;      // capacity
  double interconnect_bandwidth = 0;  // bytes/s per device to its peers (NVLink / network)
  // FLOP/s for arithmetic in this dtype; f32 and bf16 fall back to each other when one is 0.
  double flops(DType t) const;
};

// scenarios/pricing/<name>.json: dated, sourced prices per device-hour, in tiers.
struct PriceTier {
  std::string tier;  // e.g. "rental", "owned-hyperscaler", "neocloud", "3-year"
  double usd_per_hour = 0;
  std::string date;  // YYYY-MM or YYYY-MM-DD
  std::string source;
};
struct PricingSpec {
  std::string name;          // file name
  std::string hardware;      // a HardwareSpec name
  std::string default_tier;  // must be one of tiers
  std::vector<PriceTier> tiers;
  const PriceTier& tier(const std::string& t) const;  // throws InputError for an unknown tier
};

// scenarios/deployments/<name>.json: how a model is served.
struct PhaseDeployment {
  int gpus = 8;  // devices in one serving instance of this phase
  int expert_parallel = 8;
  int tensor_parallel = 1;
  int data_parallel = 8;           // attention data parallelism
  std::int64_t chunk_tokens = 0;   // prefill: tokens per prefill chunk (per device)
  std::int64_t batch_per_gpu = 0;  // decode: sequences per device per step
  int query_tokens = 1;            // decode: tokens per sequence per step (MTP: 2)
  double efficiency = 0.7;         // share of the measured GEMM rate reached by non-attention work
  double overlap = 0.5;            // share of communication hidden behind compute (0..1)
};
struct DeploymentSpec {
  std::string name, description, source;
  PhaseDeployment prefill, decode;
};

// scenarios/calibration/<name>.json: a published serving measurement to compare the model with,
// e.g. DeepSeek's V3/R1 decode throughput on H800. Used to fit one free factor (the non-attention
// efficiency), never to tune costs.
struct CalibrationSpec {
  std::string name, source;
  std::string model;       // a model spec name: the variant the measurement served
  std::string hardware;    // a hardware spec name
  std::string deployment;  // a deployment spec name
  int gpus_per_node = 8;
  double decode_tokens_per_s_per_node = 0;  // output tokens
  double mean_context = 0;                  // average KV length per output token
};

HardwareSpec load_hardware(const std::filesystem::path& file);
PricingSpec load_pricing(const std::filesystem::path& file);
DeploymentSpec load_deployment(const std::filesystem::path& file);
CalibrationSpec load_calibration(const std::filesystem::path& file);
// From text, for tests and fuzzers; `origin` names the input in messages.
HardwareSpec parse_hardware(const std::string& text, const std::string& origin);
PricingSpec parse_pricing(const std::string& text, const std::string& origin);
DeploymentSpec parse_deployment(const std::string& text, const std::string& origin);

// Resolves a spec argument: a path to a .json file, or a bare name looked up as
// <scenarios_dir>/<kind>/<name>.json (kind: "hardware", "pricing", "deployments", "models",
// "calibration").
// Names must match [A-Za-z0-9._-]+; throws InputError otherwise or when the file is missing.
std::filesystem::path resolve_spec(const std::string& arg, const std::string& kind,
                                   const std::filesystem::path& scenarios_dir);

}  // namespace costcurve

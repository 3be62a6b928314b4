// The cost model: measured attention curves + model shapes + deployment + hardware and price →
// cost per million tokens at every context position, prefill and decode, with a breakdown by
// component and an uncertainty band. It reads results and specs only, never kernels.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cost_model/fit.hpp"
#include "cost_model/specs.hpp"
#include "harness/results.hpp"

namespace costcurve {

// Seconds per query token of one attention component at position t, fitted to a sweep.
struct ComponentCurve {
  std::string component;  // "indexer", "topk", "sparse_attention", "dense_attention"
  Op op = Op::indexer;
  Phase phase = Phase::prefill;
  std::vector<double> positions, median_s, p10_s, p90_s;  // per token, as measured (or projected)
  Fit mid, lo, hi;
  std::string provenance;  // "measured on <device>" or "projected from <spec> to <spec>"
};

struct CostOptions {
  std::string tier;                         // empty: the pricing's default tier
  std::optional<HardwareSpec> measured_on;  // set: project from this machine to `hardware`
  // Project from the ceilings each results file measured (GEMM per dtype, copy) rather than from
  // measured_on's spec: for machines whose spec is itself a measurement of a machine class (the
  // CPU entries), whose hosts differ from run to run.
  bool from_measured_ceilings = false;
  std::int64_t max_position = 131072;
  std::int64_t step = 1024;                                     // output grid
  std::vector<std::pair<std::int64_t, std::int64_t>> requests;  // (input, output) lengths
  // Compare the decode prediction with a published measurement and fit the non-attention
  // efficiency that would reproduce it.
  std::optional<CalibrationSpec> calibration;
};

struct CostInputs {
  std::vector<ResultsFile> results;
  std::vector<ModelSpec> models;  // the variants to price (dense_mla and/or dsa)
  HardwareSpec hardware;
  PricingSpec pricing;
  DeploymentSpec deployment;
};

// Non-attention FLOPs per token (all layers), by part: "projections", "indexer_projections",
// "moe", "dense_ffn", "lm_head". Prefill omits the LM head (only the last token needs logits).
std::map<std::string, double> non_attention_flops(const ModelSpec& m, Phase phase);
// Bytes of weights one device of the phase's instance reads per step (fp8 weights).
double weight_bytes_per_device(const ModelSpec& m, const PhaseDeployment& d);

// Everything `costcurve cost` writes, as JSON (curves, breakdowns, bands, crossovers, ratios,
// requests, provenance). Throws InputError when the results lack a component a model needs.
nlohmann::json compute_cost(const CostInputs& in, const CostOptions& opt);

// The per-position rows of compute_cost's JSON as CSV.
std::string cost_csv(const nlohmann::json& cost);

}  // namespace costcurve

// The cost model on synthetic results with known times: hand-computed costs, invariances,
// monotonicity, projection identity, crossovers, and clear errors for what is missing.
#include <gtest/gtest.h>

#include <cmath>

#include "cost_model/cost.hpp"

namespace costcurve {
namespace {

using nlohmann::json;

TEST(Fit, RecoversAQuadraticAndStaysNonNegative) {
  std::vector<double> t = {1024, 4096, 16384, 65536, 131072}, y;
  for (double x : t) y.push_back(2e-6 + 3e-10 * x + 4e-15 * x * x);
  const Fit f = fit_nonneg_quadratic(t, y);
  EXPECT_NEAR(f.a, 2e-6, 1e-12);
  EXPECT_NEAR(f.b, 3e-10, 1e-15);
  EXPECT_NEAR(f.c, 4e-15, 1e-19);
  EXPECT_LT(f.rel_rms, 1e-9);
  EXPECT_TRUE(f.extrapolated(200000));
  EXPECT_FALSE(f.extrapolated(50000));
  // Falling data: the best non-negative fit is flat, never a negative slope.
  const Fit g = fit_nonneg_quadratic({1, 2, 3}, {3, 2, 1});
  EXPECT_GE(g.b, 0);
  EXPECT_GE(g.c, 0);
  EXPECT_THROW(fit_nonneg_quadratic({1}, {0}), std::invalid_argument);
}

// A tiny model so that hand computation stays readable.
ModelSpec tiny(const std::string& name, AttentionKind kind) {
  ModelSpec m;
  m.name = name;
  m.attention = kind;
  m.layers = 2;
  m.dense_layers = 1;
  m.hidden_size = 4;
  m.dense_ffn_width = 8;
  m.vocab_size = 10;
  m.heads = 1;
  m.q_lora_rank = 2;
  m.kv_lora_rank = 2;
  m.qk_nope_dim = 1;
  m.qk_rope_dim = 1;
  m.v_head_dim = 1;
  m.routed_experts = 4;
  m.experts_per_token = 1;
  m.shared_experts = 1;
  m.expert_ffn_width = 2;
  m.top_k = 16;
  m.index_heads = 1;
  m.index_dim = 1;
  return m;
}

PointResult point(const std::string& model, Op op, Phase phase, std::int64_t position,
                  double seconds, std::int64_t s_q = 1) {
  PointResult r;
  r.point = {
      "cpu",     model,
      op,        phase,
      position,  1,
      s_q,       op == Op::topk || op == Op::sparse_prefill || op == Op::sparse_decode ? 16 : 0,
      DType::f32};
  r.name = r.point.name();
  r.samples_s = {seconds * 0.9, seconds, seconds * 1.1};
  r.iterations = 1;
  r.summary = summarize(r.samples_s);
  r.flops = 1e9;
  r.bytes = 1e6;
  r.tokens = static_cast<double>(s_q);
  return r;
}

// Attention per token (per layer) = 1e-6 · (1 + t / 1000) s for dense; sparse parts are flat.
ResultsFile synthetic(double time_scale = 1) {
  ResultsFile f;
  f.scenario_name = "synthetic";
  f.git_sha = "test";
  f.backend = "cpu";
  f.has_ceilings = true;
  f.ceilings.device = "test machine";
  f.ceilings.gemm_flops["f32"] = 1e9;
  f.ceilings.copy_bytes_per_s = 2e12;
  for (std::int64_t t : {1000, 2000, 4000, 8000}) {
    const double dense = 1e-6 * (1 + t / 1000.0) * time_scale;
    f.points.push_back(point("d", Op::dense_prefill, Phase::prefill, t, dense));
    f.points.push_back(point("d", Op::dense_decode, Phase::decode, t, dense));
    f.points.push_back(point("s", Op::indexer, Phase::prefill, t, 1e-7 * t / 1000 * time_scale));
    f.points.push_back(point("s", Op::indexer, Phase::decode, t, 1e-7 * t / 1000 * time_scale));
    f.points.push_back(point("s", Op::topk, Phase::prefill, t, 1e-7 * time_scale));
    f.points.push_back(point("s", Op::topk, Phase::decode, t, 1e-7 * time_scale));
    f.points.push_back(point("s", Op::sparse_prefill, Phase::prefill, t, 2e-6 * time_scale));
    f.points.push_back(point("s", Op::sparse_decode, Phase::decode, t, 2e-6 * time_scale));
  }
  return f;
}

CostInputs inputs(double price = 3600, double time_scale = 1) {
  CostInputs in;
  in.results.push_back(synthetic(time_scale));
  in.models = {tiny("d", AttentionKind::dense_mla), tiny("s", AttentionKind::dsa)};
  in.hardware.name = "test-hw";
  in.hardware.kind = "cpu";
  in.hardware.f32_flops = in.hardware.bf16_flops = 1e9;
  in.hardware.memory_bandwidth = 1e12;
  in.hardware.memory_bytes = 1e9;
  in.pricing.name = "test";
  in.pricing.hardware = "test-hw";
  in.pricing.default_tier = "t";
  in.pricing.tiers = {{"t", price, "2026-11", "test"}};
  in.deployment.name = "one";
  for (PhaseDeployment* d : {&in.deployment.prefill, &in.deployment.decode}) {
    d->gpus = d->expert_parallel = d->tensor_parallel = d->data_parallel = 1;
    d->efficiency = 1;
    d->overlap = 0;
  }
  in.deployment.prefill.chunk_tokens = 1 << 20;  // weight reads negligible
  in.deployment.decode.batch_per_gpu = 1 << 20;
  in.deployment.decode.query_tokens = 1;
  return in;
}

CostOptions grid() {
  CostOptions o;
  o.max_position = 8000;
  o.step = 1000;
  return o;
}

const json& row(const json& cost, const std::string& model, const std::string& phase,
                std::int64_t t) {
  for (const json& c : cost["curves"])
    if (c["model"] == model && c["phase"] == phase)
      for (const json& r : c["rows"])
        if (r["position"] == t) return r;
  throw std::runtime_error("no row");
}

TEST(NonAttention, TinyModelByHand) {
  const ModelSpec m = tiny("d", AttentionKind::dense_mla);
  const auto f = non_attention_flops(m, Phase::decode);
  // per layer MLA (decode, absorbed): q_a 4·2 + q_b 2·1·2 + kv_a 4·3 + o 1·1·4 + absorb 1·1·2 +
  // 1·2·1
  EXPECT_DOUBLE_EQ(f.at("projections"), 2 * 2 * (8 + 4 + 12 + 4 + 2 + 2));
  // one MoE layer: (1 routed + 1 shared) · 3 · 4 · 2 + router 4 · 4
  EXPECT_DOUBLE_EQ(f.at("moe"), 2 * (2 * 3 * 4 * 2 + 16));
  EXPECT_DOUBLE_EQ(f.at("dense_ffn"), 2 * 3 * 4 * 8);
  EXPECT_DOUBLE_EQ(f.at("lm_head"), 2 * 4 * 10);
  EXPECT_DOUBLE_EQ(non_attention_flops(m, Phase::prefill).at("lm_head"), 0);
}

TEST(Cost, HandComputedDenseCost) {
  const json cost = compute_cost(inputs(), grid());
  // $3600/hour = $1/second: cost per Mtok = 1e6 · seconds per token.
  const ModelSpec m = tiny("d", AttentionKind::dense_mla);
  double flops = 0;
  for (const auto& [k, v] : non_attention_flops(m, Phase::decode)) flops += v;
  const double attention = 2 * 1e-6 * (1 + 4000 / 1000.0);  // two layers
  const double expected = (attention + flops / 1e9) * 1e6;
  EXPECT_NEAR(row(cost, "d", "decode", 4000)["usd_per_mtok"].get<double>(), expected,
              1e-6 * expected);
  const json& r = row(cost, "d", "decode", 4000);
  EXPECT_LE(r["usd_per_mtok_lo"].get<double>(), r["usd_per_mtok"].get<double>());
  EXPECT_GE(r["usd_per_mtok_hi"].get<double>(), r["usd_per_mtok"].get<double>());
  EXPECT_FALSE(r["extrapolated"].get<bool>());
  EXPECT_TRUE(row(cost, "d", "decode", 1)["extrapolated"].get<bool>());
}

TEST(Cost, DoublingPriceOrTimeDoublesCost) {
  const json base = compute_cost(inputs(), grid());
  const json pricier = compute_cost(inputs(7200), grid());
  EXPECT_NEAR(row(pricier, "s", "prefill", 8000)["usd_per_mtok"].get<double>(),
              2 * row(base, "s", "prefill", 8000)["usd_per_mtok"].get<double>(), 1e-9);
  // Doubling every measured time doubles the attention share of the cost.
  const json slower = compute_cost(inputs(3600, 2), grid());
  const double a1 = row(base, "d", "prefill", 8000)["breakdown_usd_per_mtok"]["dense_attention"];
  const double a2 = row(slower, "d", "prefill", 8000)["breakdown_usd_per_mtok"]["dense_attention"];
  EXPECT_NEAR(a2, 2 * a1, 1e-9 * a1);
}

TEST(Cost, MoreTokensPerStepLowerWeightBoundDecodeCost) {
  CostInputs in = inputs();
  in.hardware.memory_bandwidth = 1;  // weights dominate
  in.results[0].ceilings.copy_bytes_per_s = 2;
  in.deployment.decode.batch_per_gpu = 1;
  const double one = row(compute_cost(in, grid()), "d", "decode", 4000)["usd_per_mtok"];
  in.deployment.decode.batch_per_gpu = 8;
  const double eight = row(compute_cost(in, grid()), "d", "decode", 4000)["usd_per_mtok"];
  EXPECT_LT(eight, one);
}

TEST(Cost, DenseCurvesRiseWithPosition) {
  const json cost = compute_cost(inputs(), grid());
  for (const json& c : cost["curves"]) {
    if (c["attention"] != "dense_mla") continue;
    double last = 0;
    for (const json& r : c["rows"]) {
      EXPECT_GE(r["usd_per_mtok"].get<double>(), last);
      last = r["usd_per_mtok"];
    }
  }
}

TEST(Cost, CrossoversAndRatios) {
  const json cost = compute_cost(inputs(), grid());
  // Per layer, dense attention 1e-6·(1 + x) against sparse 1e-7·x + 1e-7 + 2e-6 (x = t / 1000);
  // two layers, and the sparse model's indexer projections add 40 FLOP at 1e9 FLOP/s:
  // 2·(1.1e-6 - 0.9e-6·x) + 40e-9 = 0 -> x = 2.24 / 1.8.
  const double t = cost["crossovers"]["decode_sparse_cheaper_from"]["position"];
  EXPECT_NEAR(t, 1000 * 2.24 / 1.8, 2);
  ASSERT_TRUE(cost["sparse_dense_ratio"].is_array());
  // The masked-MHA switch in DSA prefill: dense MHA 1e-6(1 + x) vs sparse kernel 2e-6: x = 1.
  EXPECT_NEAR(cost["crossovers"]["prefill_masked_mha_to_sparse"]["position"].get<double>(), 1000,
              2);
  EXPECT_EQ(row(cost, "s", "prefill", 1)["mode"], "masked_mha");
  EXPECT_EQ(row(cost, "s", "prefill", 8000)["mode"], "sparse");
}

TEST(Cost, ProjectingAMachineOntoItselfIsTheIdentity) {
  CostInputs in = inputs();
  in.results[0].has_ceilings = false;  // both runs price non-attention from the datasheet
  const json plain = compute_cost(in, grid());
  CostOptions o = grid();
  HardwareSpec twin = in.hardware;
  twin.name = "test-hw-twin";
  o.measured_on = twin;
  const json projected = compute_cost(in, o);
  EXPECT_NEAR(row(projected, "s", "decode", 4000)["usd_per_mtok"].get<double>(),
              row(plain, "s", "decode", 4000)["usd_per_mtok"].get<double>(), 1e-9);
  EXPECT_FALSE(projected["projection"].is_null());
  // Twice the bandwidth and compute: every attention component takes half the time.
  HardwareSpec fast = in.hardware;
  fast.name = "fast";
  fast.f32_flops = fast.bf16_flops = 2e9;
  fast.memory_bandwidth = 2e12;
  in.hardware = fast;
  o.measured_on = twin;
  const json faster = compute_cost(in, o);
  const double a = row(plain, "d", "decode", 4000)["breakdown_usd_per_mtok"]["dense_attention"];
  const double b = row(faster, "d", "decode", 4000)["breakdown_usd_per_mtok"]["dense_attention"];
  EXPECT_NEAR(b, a / 2, 1e-9 * a);
}

// Several results files: each component comes from the best-matching series, and among equally
// good ones from the first file listed, so a re-sweep of some operations listed first overrides
// those operations alone.
TEST(Cost, TheFirstOfEquallyGoodFilesSuppliesAComponent) {
  CostInputs in = inputs();
  ResultsFile newer = synthetic(0.5);
  newer.scenario_name = "newer";
  std::erase_if(newer.points, [](const PointResult& p) { return p.point.op != Op::indexer; });
  const json base = compute_cost(in, grid());
  in.results.insert(in.results.begin(), newer);
  const json first = compute_cost(in, grid());
  std::swap(in.results[0], in.results[1]);
  const json second = compute_cost(in, grid());
  const auto part = [](const json& c, const char* comp) {
    return row(c, "s", "decode", 4000)["breakdown_usd_per_mtok"][comp].get<double>();
  };
  EXPECT_NEAR(part(first, "indexer"), part(base, "indexer") / 2, 1e-9 * part(base, "indexer"));
  EXPECT_DOUBLE_EQ(part(first, "sparse_attention"), part(base, "sparse_attention"));
  EXPECT_DOUBLE_EQ(part(second, "indexer"), part(base, "indexer"));
  bool named = false;
  for (const json& c : first["components"])
    if (c["component"] == "indexer")
      named |= c["provenance"].get<std::string>().find("newer") != std::string::npos;
  EXPECT_TRUE(named);
}

// A projection keeps each kernel's fraction of the source machine's roofline. From the spec, a
// host whose measured ceilings differ from it by more than a quarter draws a warning; from the
// measured ceilings (--from-ceilings), a host twice as fast as its spec projects attention twice
// as slow onto a machine of the spec's numbers, since it reached half the fraction.
TEST(Cost, ProjectionFromTheMeasuredCeilingsOrWithAWarning) {
  CostInputs in = inputs();
  in.results[0].ceilings.gemm_flops["f32"] = in.hardware.f32_flops;
  in.results[0].ceilings.copy_bytes_per_s = in.hardware.memory_bandwidth;
  CostOptions o = grid();
  HardwareSpec twin = in.hardware;
  twin.name = "test-hw-twin";
  o.measured_on = twin;
  const json spec = compute_cost(in, o);
  EXPECT_TRUE(spec["projection"]["warnings"].empty());
  EXPECT_EQ(spec["projection"]["from_ceilings"], "spec");
  o.from_measured_ceilings = true;
  const json same = compute_cost(in, o);  // measured = spec: the same projection
  const auto attention = [](const json& c) {
    return row(c, "d", "decode", 4000)["breakdown_usd_per_mtok"]["dense_attention"].get<double>();
  };
  EXPECT_NEAR(attention(same), attention(spec), 1e-12 * attention(spec));

  in.results[0].ceilings.gemm_flops["f32"] = 2 * in.hardware.f32_flops;  // a faster host
  o.from_measured_ceilings = false;
  const json warned = compute_cost(in, o);
  ASSERT_EQ(warned["projection"]["warnings"].size(), 1u);
  EXPECT_NE(warned["projection"]["warnings"][0].get<std::string>().find("--from-ceilings"),
            std::string::npos);
  EXPECT_NEAR(attention(warned), attention(spec), 1e-12 * attention(spec));
  o.from_measured_ceilings = true;
  const json measured = compute_cost(in, o);
  EXPECT_TRUE(measured["projection"]["warnings"].empty());
  EXPECT_NEAR(attention(measured), 2 * attention(spec), 1e-9 * attention(spec));
  bool named = false;
  for (const json& c : measured["components"])
    named |= c["provenance"].get<std::string>().find("its measured ceilings") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST(Cost, RequestsSumTheCurves) {
  CostOptions o = grid();
  o.requests = {{1000, 10}};
  const json cost = compute_cost(inputs(), o);
  for (const json& r : cost["requests"]) {
    EXPECT_GT(r["usd_prefill"].get<double>(), 0);
    EXPECT_NEAR(r["usd_total"].get<double>(),
                r["usd_prefill"].get<double>() + r["usd_decode"].get<double>(), 1e-12);
  }
}

TEST(Cost, MissingComponentsAreNamed) {
  CostInputs in = inputs();
  std::erase_if(in.results[0].points,
                [](const PointResult& p) { return p.point.op == Op::indexer; });
  try {
    compute_cost(in, grid());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("indexer"), std::string::npos) << e.what();
  }
  in = inputs();
  try {
    CostOptions o = grid();
    o.tier = "gold";
    compute_cost(in, o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("gold"), std::string::npos) << e.what();
  }
}

TEST(Cost, CsvHasOneRowPerPositionAndModelAndPhase) {
  const json cost = compute_cost(inputs(), grid());
  const std::string csv = cost_csv(cost);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 4 * 9);
  EXPECT_EQ(csv.rfind("model,phase,position,usd_per_mtok", 0), 0u);
}

}  // namespace
}  // namespace costcurve

namespace costcurve {
namespace {

TEST(Cost, CalibrationFitsTheEfficiencyThatReproducesAPublishedThroughput) {
  const ModelSpec m = tiny("d", AttentionKind::dense_mla);
  double flops = 0;
  for (const auto& [k, v] : non_attention_flops(m, Phase::decode)) flops += v;
  const double t = 4000;
  const double seconds = 2 * 1e-6 * (1 + t / 1000) + flops / (1e9 * 0.5);  // at efficiency 0.5
  CalibrationSpec cal;
  cal.name = "synthetic";
  cal.model = "d";
  cal.hardware = "test-hw";
  cal.deployment = "one";
  cal.gpus_per_node = 8;
  cal.decode_tokens_per_s_per_node = 8 / seconds;
  cal.mean_context = t;
  CostOptions o = grid();
  o.calibration = cal;
  const json c = compute_cost(inputs(), o)["calibration"];
  EXPECT_NEAR(c["fitted_efficiency"].get<double>(), 0.5, 1e-6);
  EXPECT_GT(c["predicted_tokens_per_s_per_node"].get<double>(), cal.decode_tokens_per_s_per_node);
  cal.hardware = "other";
  o.calibration = cal;
  EXPECT_THROW(compute_cost(inputs(), o), InputError);
}

}  // namespace
}  // namespace costcurve

#include "harness/analytic.hpp"

namespace costcurve {
namespace {

TEST(Analytic, PointsSitAtTheirRooflineFloorOverTheEfficiency) {
  const Scenario sc = load_scenario(COSTCURVE_SOURCE_DIR "/scenarios/smoke.json");
  RooflineMachine m;
  m.name = "paper-gpu";
  m.flops = {{"bf16", 1e15}, {"f32", 5e13}};
  m.bandwidth = 3e12;
  m.efficiency = 0.5;
  const ResultsFile r = analytic_results(sc, m);
  ASSERT_EQ(r.points.size(), generate_points(sc).size());
  for (const PointResult& p : r.points) {
    const double peak = p.point.dtype == DType::bf16 ? 1e15 : 5e13;
    const double floor = std::max(p.flops / peak, p.bytes / 3e12);
    EXPECT_NEAR(p.summary.median, floor / 0.5, 1e-12 * floor) << p.name;
  }
  m.efficiency = 1.5;
  EXPECT_THROW(analytic_results(sc, m), InputError);
}

}  // namespace
}  // namespace costcurve

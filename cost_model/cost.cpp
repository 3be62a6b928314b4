#include "cost_model/cost.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

namespace costcurve {
namespace {

using nlohmann::json;

// Which sweep operations make up a model's attention, per phase.
struct Part {
  const char* component;
  Op op;
};
std::vector<Part> parts(const ModelSpec& m, Phase phase) {
  if (m.attention == AttentionKind::dense_mla)
    return {{"dense_attention", phase == Phase::prefill ? Op::dense_prefill : Op::dense_decode}};
  return {{"indexer", Op::indexer},
          {"topk", Op::topk},
          {"sparse_attention", phase == Phase::prefill ? Op::sparse_prefill : Op::sparse_decode}};
}

// The dtype a component computes in on `hw`: fp8 for the indexer where the hardware has it,
// bf16 for attention; top-k is bandwidth work.
DType compute_dtype(Op op, const HardwareSpec& hw) {
  if (op == Op::indexer && hw.fp8_flops > 0) return DType::fp8_e4m3;
  return DType::bf16;
}

double floor_on(const HardwareSpec& hw, double flops, double bytes, DType dtype) {
  const double peak = hw.flops(dtype);
  return std::max(peak > 0 ? flops / peak : 0.0, bytes / hw.memory_bandwidth);
}

// Preference among measured points of one component: the deployment's decode batch (nearest in
// log scale), the model's top-k, and the dtype closest to how the model serves it.
int dtype_rank(Op op, DType t) {
  if (op == Op::topk) return t == DType::f32 ? 0 : 1;
  if (op == Op::indexer) return t == DType::fp8_e4m3 ? 0 : t == DType::bf16 ? 1 : 2;
  return t == DType::bf16 ? 0 : t == DType::f32 ? 1 : 2;
}

// The machine a results file was measured on, as a spec: its measured GEMM ceilings and copy
// bandwidth in place of the datasheet's.
HardwareSpec as_measured(const HardwareSpec& spec, const Ceilings& c) {
  HardwareSpec h = spec;
  h.f32_flops = c.peak_flops(DType::f32);
  h.bf16_flops = c.peak_flops(DType::bf16);
  h.fp8_flops = c.gemm_flops.count("fp8_e4m3") ? c.gemm_flops.at("fp8_e4m3") : 0;
  h.memory_bandwidth = c.copy_bytes_per_s;
  return h;
}

ComponentCurve extract(const std::vector<ResultsFile>& results, const char* component, Op op,
                       Phase phase, const ModelSpec& m, const DeploymentSpec& dep,
                       const HardwareSpec& target, const std::optional<HardwareSpec>& from,
                       bool from_measured) {
  // Choose the batch, top-k and dtype first, then collect that series.
  const PointResult* best = nullptr;
  const ResultsFile* best_file = nullptr;
  const double want_batch =
      phase == Phase::decode ? static_cast<double>(dep.decode.batch_per_gpu) : 1;
  auto score = [&](const PointResult& r) {
    return std::tuple(r.point.top_k == 0 || r.point.top_k == m.top_k ? 0 : 1,
                      std::abs(std::log(static_cast<double>(r.point.batch) / want_batch)),
                      dtype_rank(op, r.point.dtype));
  };
  for (const ResultsFile& f : results)
    for (const PointResult& r : f.points) {
      if (r.status != PointStatus::ok || r.point.op != op || r.point.phase != phase) continue;
      if (!best || score(r) < score(*best)) best = &r, best_file = &f;
    }
  ComponentCurve c;
  c.component = component;
  c.op = op;
  c.phase = phase;
  if (!best)
    throw InputError(std::string("the results hold no measured ") + std::string(op_name(op)) + " " +
                     std::string(phase_name(phase)) + " points, which " + m.name +
                     " needs: sweep a scenario that includes them");
  const Point& key = best->point;
  std::set<double> seen;
  std::vector<const PointResult*> series;
  for (const PointResult& r : best_file->points)
    if (r.status == PointStatus::ok && r.point.op == op && r.point.phase == phase &&
        r.point.batch == key.batch && r.point.top_k == key.top_k && r.point.dtype == key.dtype &&
        r.point.model == key.model && seen.insert(static_cast<double>(r.point.position)).second)
      series.push_back(&r);
  std::sort(series.begin(), series.end(),
            [](auto* a, auto* b) { return a->point.position < b->point.position; });
  const bool measured = from && from_measured && best_file->has_ceilings &&
                        best_file->ceilings.copy_bytes_per_s > 0 &&
                        best_file->ceilings.peak_flops(DType::f32) > 0;
  const std::optional<HardwareSpec> source =
      measured ? std::optional(as_measured(*from, best_file->ceilings)) : from;
  for (const PointResult* r : series) {
    const double tokens = static_cast<double>(r->point.batch * r->point.s_q);
    // A prefill chunk's tokens sit at positions [L - s_q, L): its mean token is at L - (s_q-1)/2.
    const double t = phase == Phase::prefill
                         ? static_cast<double>(r->point.position) - (r->point.s_q - 1) / 2.0
                         : static_cast<double>(r->point.position);
    double scale = 1;
    if (from) {
      const double on_from = floor_on(*source, r->flops, r->bytes, r->point.dtype);
      const double on_target = floor_on(target, r->flops, r->bytes, compute_dtype(op, target));
      scale = on_from > 0 ? on_target / on_from : 1;
    }
    c.positions.push_back(t);
    c.median_s.push_back(r->summary.median / tokens * scale);
    c.p10_s.push_back(r->summary.p10 / tokens * scale);
    c.p90_s.push_back(r->summary.p90 / tokens * scale);
  }
  c.mid = fit_nonneg_quadratic(c.positions, c.median_s);
  c.lo = fit_nonneg_quadratic(c.positions, c.p10_s);
  c.hi = fit_nonneg_quadratic(c.positions, c.p90_s);
  const std::string device =
      best_file->has_ceilings ? best_file->ceilings.device : "unknown device";
  const bool analytic = best_file->backend == "analytic";
  c.provenance = (analytic ? "" : "measured on ") + device + " (" +
                 std::string(dtype_name(key.dtype)) + ", batch " + std::to_string(key.batch) +
                 ", results " + best_file->scenario_name + " @ " + best_file->git_sha + ")";
  if (from)
    c.provenance += ", projected from " + from->name +
                    (measured ? " (its measured ceilings)" : "") + " to " + target.name;
  return c;
}

json fit_json(const Fit& f) {
  return {{"a", f.a},         {"b", f.b},         {"c", f.c},          {"rel_rms", f.rel_rms},
          {"t_min", f.t_min}, {"t_max", f.t_max}, {"points", f.points}};
}

struct Rates {
  double gemm_flops = 0;  // non-attention GEMM rate before efficiency
  double bandwidth = 0;   // bytes/s
  std::string source;
};

// Per-token seconds of everything but attention, and its parts.
struct NonAttention {
  std::map<std::string, double> seconds;  // by part
  double total = 0;
};

NonAttention non_attention(const ModelSpec& m, Phase phase, const PhaseDeployment& d,
                           const Rates& rates, const HardwareSpec& hw) {
  NonAttention out;
  const auto flops = non_attention_flops(m, phase);
  double total_flops = 0;
  for (const auto& [k, v] : flops) total_flops += v;
  const double compute = total_flops / (rates.gemm_flops * d.efficiency);
  const double tokens_per_step = phase == Phase::prefill
                                     ? static_cast<double>(d.chunk_tokens)
                                     : static_cast<double>(d.batch_per_gpu * d.query_tokens);
  const double weights = weight_bytes_per_device(m, d) / rates.bandwidth / tokens_per_step;
  // Weight reads bound small batches; split the bound time across parts by FLOPs.
  const double gemm_time = std::max(compute, weights);
  for (const auto& [k, v] : flops) out.seconds[k] = gemm_time * v / total_flops;
  // MoE dispatch (fp8) and combine (bf16) of each token to its routed experts, per MoE layer.
  if (d.gpus > 1 && hw.interconnect_bandwidth > 0) {
    const double bytes = static_cast<double>(m.layers - m.dense_layers) * m.hidden_size *
                         m.experts_per_token * (1.0 + 2.0);
    out.seconds["communication"] = bytes / hw.interconnect_bandwidth * (1 - d.overlap);
  } else {
    out.seconds["communication"] = 0;
  }
  for (const auto& [k, v] : out.seconds) out.total += v;
  return out;
}

// Bisection for the first t in [lo, hi] where f(t) <= 0, given f(lo) > 0 >= f(hi).
template <class F>
double bisect(F f, double lo, double hi) {
  for (int i = 0; i < 60 && hi - lo > 0.5; ++i) {
    const double mid = 0.5 * (lo + hi);
    (f(mid) > 0 ? lo : hi) = mid;
  }
  return hi;
}

}  // namespace

std::map<std::string, double> non_attention_flops(const ModelSpec& m, Phase phase) {
  const double L = m.layers, Ld = m.dense_layers, Lm = m.layers - m.dense_layers;
  const double h = m.hidden_size, H = m.heads;
  double mla =
      h * m.q_lora_rank + m.q_lora_rank * H * m.d_qk() + h * m.d_latent() + H * m.v_head_dim * h;
  if (phase == Phase::prefill)
    mla += m.kv_lora_rank * H * (m.qk_nope_dim + m.v_head_dim);  // MHA mode: expand k and v
  else
    mla += H * m.qk_nope_dim * m.kv_lora_rank + H * m.kv_lora_rank * m.v_head_dim;  // absorbed
  std::map<std::string, double> f;
  f["projections"] = 2 * L * mla;
  if (m.attention == AttentionKind::dsa)
    f["indexer_projections"] = 2 * L *
                               (static_cast<double>(m.q_lora_rank) * m.index_heads * m.index_dim +
                                h * m.index_dim + h * m.index_heads);
  f["moe"] = 2 * Lm *
             ((m.experts_per_token + m.shared_experts) * 3.0 * h * m.expert_ffn_width +
              h * m.routed_experts);
  f["dense_ffn"] = 2 * Ld * 3.0 * h * m.dense_ffn_width;
  f["lm_head"] = phase == Phase::decode ? 2 * h * m.vocab_size : 0.0;
  return f;
}

double weight_bytes_per_device(const ModelSpec& m, const PhaseDeployment& d) {
  const double h = m.hidden_size, H = m.heads;
  double attn = h * m.q_lora_rank + m.q_lora_rank * H * m.d_qk() + h * m.d_latent() +
                m.kv_lora_rank * H * (m.qk_nope_dim + m.v_head_dim) + H * m.v_head_dim * h;
  if (m.attention == AttentionKind::dsa)
    attn += static_cast<double>(m.q_lora_rank) * m.index_heads * m.index_dim + h * m.index_dim +
            h * m.index_heads;
  const double Lm = m.layers - m.dense_layers;
  const double expert = 3.0 * h * m.expert_ffn_width;
  const double replicated = m.layers * attn + m.dense_layers * 3.0 * h * m.dense_ffn_width +
                            2 * h * m.vocab_size + Lm * m.shared_experts * expert;
  const double routed = Lm * m.routed_experts * expert / d.expert_parallel;
  return replicated / d.tensor_parallel + routed;  // fp8: one byte per weight
}

// What a projection rests on: the source machine's spec against the ceilings each results file
// measured. A kernel keeps the fraction of the source's roofline it reached, so when the spec and
// the measurement disagree by more than a quarter (a CPU spec measured on another host of the
// machine class, say), the projected times carry that factor: a warning says so, unless the
// projection starts from the measured ceilings.
json projection_json(const std::vector<ResultsFile>& results, const HardwareSpec& from,
                     const HardwareSpec& to, bool from_measured) {
  json p = {{"from", from.name},
            {"to", to.name},
            {"from_ceilings", from_measured ? "measured" : "spec"},
            {"checks", json::array()},
            {"warnings", json::array()}};
  for (const ResultsFile& f : results) {
    if (!f.has_ceilings || f.backend == "analytic") continue;
    const DType dt = f.ceilings.gemm_flops.count("bf16") ? DType::bf16 : DType::f32;
    const double gemm = f.ceilings.peak_flops(dt), copy = f.ceilings.copy_bytes_per_s;
    const std::string file = f.scenario_name + " @ " + f.git_sha;
    p["checks"].push_back({{"results", file},
                           {"dtype", dtype_name(dt)},
                           {"gemm_measured", gemm},
                           {"gemm_spec", from.flops(dt)},
                           {"copy_measured", copy},
                           {"copy_spec", from.memory_bandwidth}});
    if (from_measured) continue;
    const auto off = [](double measured, double spec) {
      return spec > 0 && measured > 0 && (measured / spec < 0.75 || measured / spec > 1.25);
    };
    char buf[400];
    if (off(gemm, from.flops(dt)) || off(copy, from.memory_bandwidth)) {
      std::snprintf(buf, sizeof buf,
                    "results %s measured %.3g FLOP/s (%s GEMM) and %.3g B/s (copy), the spec %s "
                    "says %.3g and %.3g: projected times carry the difference "
                    "(--from-ceilings projects from the measured ceilings)",
                    file.c_str(), gemm, std::string(dtype_name(dt)).c_str(), copy,
                    from.name.c_str(), from.flops(dt), from.memory_bandwidth);
      p["warnings"].push_back(buf);
    }
  }
  return p;
}

json compute_cost(const CostInputs& in, const CostOptions& opt) {
  if (in.results.empty()) throw InputError("no results files given");
  const PriceTier& price = in.pricing.tier(opt.tier.empty() ? in.pricing.default_tier : opt.tier);
  const HardwareSpec& hw = in.hardware;
  const bool project = opt.measured_on.has_value() && opt.measured_on->name != hw.name;
  const std::optional<HardwareSpec> from = project ? opt.measured_on : std::nullopt;

  // Non-attention rates: measured ceilings when pricing the machine that was measured, the
  // target's datasheet when projecting.
  Rates rates;
  const ResultsFile& first = in.results.front();
  if (!project && first.has_ceilings) {
    rates.gemm_flops = first.ceilings.peak_flops(hw.fp8_flops > 0 ? DType::fp8_e4m3 : DType::bf16);
    // Bytes moved per second, reads and writes alike: the unit of the datasheets too.
    rates.bandwidth = first.ceilings.copy_bytes_per_s;
    rates.source = "measured ceilings of " + first.ceilings.device;
  }
  if (!(rates.gemm_flops > 0) || !(rates.bandwidth > 0)) {
    rates.gemm_flops = hw.flops(hw.fp8_flops > 0 ? DType::fp8_e4m3 : DType::bf16);
    rates.bandwidth = hw.memory_bandwidth;
    rates.source = "datasheet of " + hw.name;
  }

  json out;
  out["hardware"] = {{"name", hw.name}, {"display_name", hw.display_name}, {"source", hw.source}};
  out["price"] = {{"pricing", in.pricing.name},
                  {"tier", price.tier},
                  {"usd_per_hour", price.usd_per_hour},
                  {"date", price.date},
                  {"source", price.source}};
  out["deployment"] = in.deployment.name;
  out["projection"] =
      project ? projection_json(in.results, *from, hw, opt.from_measured_ceilings) : json(nullptr);
  out["non_attention_rates"] = {
      {"gemm_flops", rates.gemm_flops}, {"bandwidth", rates.bandwidth}, {"source", rates.source}};
  json& sources = out["results"] = json::array();
  for (const ResultsFile& f : in.results)
    sources.push_back({{"scenario", f.scenario_name},
                       {"git_sha", f.git_sha},
                       {"backend", f.backend},
                       {"device", f.has_ceilings ? f.ceilings.device : ""},
                       {"date", f.context.is_object() ? f.context.value("date", "") : ""}});

  std::vector<std::int64_t> grid = {1};
  for (std::int64_t t = opt.step; t <= opt.max_position; t += opt.step) grid.push_back(t);
  const double usd_per_s = price.usd_per_hour / 3600.0;

  json& comps = out["components"] = json::array();
  json& curves = out["curves"] = json::array();
  // Per model and phase: a function from position to (seconds per token, lo, hi, breakdown).
  struct Eval {
    double s = 0, lo = 0, hi = 0;
    std::map<std::string, double> parts;
    std::string mode;
    bool extrapolated = false;
  };
  std::map<std::pair<std::string, Phase>, std::function<Eval(double)>> evals;
  std::map<std::pair<std::string, Phase>, double> non_attention_s;
  std::optional<ComponentCurve> masked;  // dense MHA for DSA's short prefills, if measured

  for (const ModelSpec& m : in.models)
    for (Phase phase : {Phase::prefill, Phase::decode}) {
      const PhaseDeployment& d =
          phase == Phase::prefill ? in.deployment.prefill : in.deployment.decode;
      std::vector<ComponentCurve> cs;
      for (const Part& p : parts(m, phase))
        cs.push_back(extract(in.results, p.component, p.op, phase, m, in.deployment, hw, from,
                             opt.from_measured_ceilings));
      std::optional<ComponentCurve> mha;
      if (m.attention == AttentionKind::dsa && phase == Phase::prefill) try {
          mha = extract(in.results, "dense_attention", Op::dense_prefill, phase, m, in.deployment,
                        hw, from, opt.from_measured_ceilings);
        } catch (const InputError&) {
          // No dense prefill measured: DSA prefill is priced with the sparse kernel throughout.
        }
      for (const ComponentCurve& c : cs)
        comps.push_back({{"model", m.name},
                         {"phase", phase_name(phase)},
                         {"component", c.component},
                         {"op", op_name(c.op)},
                         {"provenance", c.provenance},
                         {"fit", fit_json(c.mid)},
                         {"positions", c.positions},
                         {"seconds_per_token", c.median_s}});
      if (mha) masked = mha;
      const NonAttention na = non_attention(m, phase, d, rates, hw);
      const double layers = m.layers;
      auto eval = [cs, mha, na, layers](double t) {
        Eval e;
        for (const ComponentCurve& c : cs) {
          double mid = c.mid(t), lo = c.lo(t), hi = c.hi(t);
          if (c.component == std::string("sparse_attention") && mha && mha->mid(t) < mid) {
            // DeepSeek's masked-MHA mode: dense MHA with the top-k mask is cheaper here.
            mid = mha->mid(t), lo = mha->lo(t), hi = mha->hi(t);
            e.mode = "masked_mha";
            e.extrapolated |= mha->mid.extrapolated(t);
          } else {
            e.extrapolated |= c.mid.extrapolated(t);
          }
          e.parts[c.component] = layers * mid;
          e.s += layers * mid;
          e.lo += layers * lo;
          e.hi += layers * hi;
        }
        if (e.mode.empty()) e.mode = cs.size() > 1 ? "sparse" : "dense";
        for (const auto& [k, v] : na.seconds) e.parts[k] += v;
        e.s += na.total;
        e.lo += na.total;
        e.hi += na.total;
        return e;
      };
      evals[{m.name, phase}] = eval;
      non_attention_s[{m.name, phase}] = na.total;
      json rows = json::array();
      for (std::int64_t t : grid) {
        const Eval e = eval(static_cast<double>(t));
        json br = json::object();
        for (const auto& [k, v] : e.parts) br[k] = v * usd_per_s * 1e6;
        rows.push_back({{"position", t},
                        {"usd_per_mtok", e.s * usd_per_s * 1e6},
                        {"usd_per_mtok_lo", e.lo * usd_per_s * 1e6},
                        {"usd_per_mtok_hi", e.hi * usd_per_s * 1e6},
                        {"seconds_per_token", e.s},
                        {"mode", e.mode},
                        {"extrapolated", e.extrapolated},
                        {"breakdown_usd_per_mtok", br}});
      }
      curves.push_back({{"model", m.name},
                        {"attention", m.attention == AttentionKind::dsa ? "dsa" : "dense_mla"},
                        {"phase", phase_name(phase)},
                        {"rows", rows}});
    }

  // Crossovers and ratios between a dense and a sparse model, when both are priced.
  const ModelSpec* dense = nullptr;
  const ModelSpec* sparse = nullptr;
  for (const ModelSpec& m : in.models) (m.attention == AttentionKind::dsa ? sparse : dense) = &m;
  json& cross = out["crossovers"] = json::object();
  if (masked) {
    for (const json& c : comps)
      if (c["component"] == "sparse_attention" && c["phase"] == "prefill") {
        // Find where the sparse kernel beats masked MHA: a property of the two kernel curves.
        const Fit sparse_fit = [&] {
          Fit f;
          f.a = c["fit"]["a"], f.b = c["fit"]["b"], f.c = c["fit"]["c"];
          return f;
        }();
        const auto diff = [&](double t) { return sparse_fit(t) - masked->mid(t); };
        if (diff(1) > 0 && diff(static_cast<double>(opt.max_position)) <= 0)
          cross["prefill_masked_mha_to_sparse"] = {
              {"position", bisect(diff, 1, static_cast<double>(opt.max_position))},
              {"meaning", "below it DSA prefill runs dense MHA with the top-k mask"}};
      }
  }
  if (dense && sparse) {
    for (Phase phase : {Phase::prefill, Phase::decode}) {
      const auto& fd = evals.at({dense->name, phase});
      const auto& fs = evals.at({sparse->name, phase});
      const auto diff = [&](double t) { return fs(t).s - fd(t).s; };
      const std::string key = std::string(phase_name(phase)) + "_sparse_cheaper_from";
      const double hi = static_cast<double>(opt.max_position);
      if (diff(1) <= 0) {
        cross[key] = {{"position", 1}, {"note", "sparse is cheaper at every position"}};
      } else if (diff(hi) > 0) {
        cross[key] = {{"position", nullptr},
                      {"note", "dense is cheaper up to the largest position"}};
      } else {
        const double t = bisect(diff, 1, hi);
        cross[key] = {{"position", t},
                      {"usd_per_mtok", fs(t).s * usd_per_s * 1e6},
                      {"seconds_per_token", fs(t).s}};
      }
    }
    json& ratios = out["sparse_dense_ratio"] = json::array();
    for (std::int64_t t : {32768, 65536, 131072})
      for (Phase phase : {Phase::prefill, Phase::decode})
        ratios.push_back({{"position", t},
                          {"phase", phase_name(phase)},
                          {"ratio", evals.at({sparse->name, phase})(static_cast<double>(t)).s /
                                        evals.at({dense->name, phase})(static_cast<double>(t)).s}});
  }

  if (opt.calibration) {
    const CalibrationSpec& cal = *opt.calibration;
    const auto model = std::find_if(in.models.begin(), in.models.end(),
                                    [&](const ModelSpec& m) { return m.name == cal.model; });
    if (model == in.models.end() || hw.name != cal.hardware || in.deployment.name != cal.deployment)
      throw InputError("calibration " + cal.name + " describes " + cal.model + " on " +
                       cal.hardware + " with deployment " + cal.deployment +
                       ": price exactly that (--model, --hardware, --deployment) to calibrate");
    const double t = cal.mean_context;
    const double attention = evals.at({model->name, Phase::decode})(t).s -
                             non_attention_s.at({model->name, Phase::decode});
    const auto seconds_at = [&](double eff) {
      PhaseDeployment d = in.deployment.decode;
      d.efficiency = eff;
      return attention + non_attention(*model, Phase::decode, d, rates, hw).total;
    };
    const double published = cal.gpus_per_node / cal.decode_tokens_per_s_per_node;
    const double predicted = seconds_at(in.deployment.decode.efficiency);
    json c = {{"calibration", cal.name},
              {"source", cal.source},
              {"mean_context", t},
              {"published_tokens_per_s_per_node", cal.decode_tokens_per_s_per_node},
              {"predicted_tokens_per_s_per_node", cal.gpus_per_node / predicted},
              {"predicted_over_published", published / predicted},
              {"efficiency_used", in.deployment.decode.efficiency}};
    // Seconds per token fall as efficiency rises; bisect for the efficiency matching the
    // published throughput, if any in (0.01, 1] does.
    if (seconds_at(1.0) > published) {
      c["fitted_efficiency"] = nullptr;
      c["note"] = "slower than published even at efficiency 1: attention or weight reads bound it";
    } else if (seconds_at(0.01) < published) {
      c["fitted_efficiency"] = nullptr;
      c["note"] = "faster than published even at efficiency 0.01";
    } else {
      double lo = 0.01, hi = 1.0;
      for (int i = 0; i < 60; ++i) {
        const double mid = 0.5 * (lo + hi);
        (seconds_at(mid) > published ? lo : hi) = mid;
      }
      c["fitted_efficiency"] = hi;
    }
    out["calibration"] = c;
  }

  // What a request costs: its prompt priced on the prefill curve, its output on the decode curve.
  json& reqs = out["requests"] = json::array();
  for (const auto& [input, output] : opt.requests)
    for (const ModelSpec& m : in.models) {
      const auto& pf = evals.at({m.name, Phase::prefill});
      const auto& dc = evals.at({m.name, Phase::decode});
      double prefill = 0, decode = 0;
      for (std::int64_t t = 1; t <= input; ++t) prefill += pf(static_cast<double>(t)).s;
      for (std::int64_t t = input + 1; t <= input + output; ++t)
        decode += dc(static_cast<double>(t)).s;
      reqs.push_back({{"model", m.name},
                      {"input_tokens", input},
                      {"output_tokens", output},
                      {"usd_prefill", prefill * usd_per_s},
                      {"usd_decode", decode * usd_per_s},
                      {"usd_total", (prefill + decode) * usd_per_s}});
    }
  return out;
}

std::string cost_csv(const json& cost) {
  std::set<std::string> parts;
  for (const json& c : cost["curves"])
    for (const json& r : c["rows"])
      for (const auto& [k, v] : r["breakdown_usd_per_mtok"].items()) parts.insert(k);
  std::ostringstream os;
  os << "model,phase,position,usd_per_mtok,usd_per_mtok_lo,usd_per_mtok_hi,seconds_per_token,mode,"
        "extrapolated";
  for (const std::string& p : parts) os << "," << p;
  os << "\n";
  os.precision(9);
  for (const json& c : cost["curves"])
    for (const json& r : c["rows"]) {
      os << c["model"].get<std::string>() << "," << c["phase"].get<std::string>() << ","
         << r["position"].get<std::int64_t>() << "," << r["usd_per_mtok"].get<double>() << ","
         << r["usd_per_mtok_lo"].get<double>() << "," << r["usd_per_mtok_hi"].get<double>() << ","
         << r["seconds_per_token"].get<double>() << "," << r["mode"].get<std::string>() << ","
         << (r["extrapolated"].get<bool>() ? "yes" : "no");
      for (const std::string& p : parts) os << "," << r["breakdown_usd_per_mtok"].value(p, 0.0);
      os << "\n";
    }
  return os.str();
}

}  // namespace costcurve

#include "harness/scenario.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <functional>

namespace costcurve {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kMaxPosition = (std::int64_t{1} << 31) - 1;  // int32 top-k indices
constexpr std::size_t kMaxPositions = 10000;
constexpr std::size_t kMaxPoints = 100000;
constexpr std::int64_t kMaxDim = 1 << 20;    // any single model dimension
constexpr std::int64_t kMaxBatch = 1 << 20;  // decode sequences
// Query tokens of one point (batch x s_q). Sizing a point (FLOPs, bytes, memory: what the sweep
// checks before it allocates) multiplies them by keys, heads and dimensions in 64-bit integers;
// this bound keeps every such product exact (2^20 rows x 2^32 keys x 8, 2^20 x 2^20 x 2^21).
constexpr std::int64_t kMaxQueryTokens = 1 << 20;
constexpr Phase kAllPhases[] = {Phase::prefill, Phase::decode};
constexpr DType kAllDTypes[] = {DType::f32, DType::bf16, DType::fp8_e4m3};
// Backends a scenario may name, whether or not this build can run them: a scenario written for a
// GPU machine still loads (and lists its points) on a laptop.
const std::vector<std::string> kKnownBackends = {"cpu", "cuda"};

template <class E, std::size_t N, class F>
std::vector<std::string> names_of(const E (&all)[N], F name) {
  std::vector<std::string> v;
  for (E e : all) v.emplace_back(name(e));
  return v;
}

bool uses_top_k(Op op) {
  return op == Op::topk || op == Op::sparse_prefill || op == Op::sparse_decode;
}
// A dense_mla model has no indexer, so it cannot run the DSA operations; a DSA model can still be
// measured with dense attention.
bool fits(Op op, const ModelSpec& m) {
  return m.attention == AttentionKind::dsa || op == Op::dense_prefill || op == Op::dense_decode;
}
bool has_phase(Op op, Phase p) {
  switch (op) {
    case Op::dense_prefill:
    case Op::sparse_prefill: return p == Phase::prefill;
    case Op::dense_decode:
    case Op::sparse_decode: return p == Phase::decode;
    case Op::indexer:
    case Op::topk: return true;
    case Op::gemm: return false;
  }
  return false;
}
std::vector<Op> default_ops(const ModelSpec& m) {
  if (m.attention == AttentionKind::dense_mla) return {Op::dense_prefill, Op::dense_decode};
  return {Op::indexer, Op::topk, Op::sparse_prefill, Op::sparse_decode};
}

// A non-empty list of names, each from `known` and none twice. Returns indices into `known` in
// ascending order, so the order a scenario lists them in never changes the points or the hash.
std::vector<std::size_t> read_names(
    JsonObject& o, const std::string& key, const std::vector<std::string>& known,
    const std::string& what,
    const std::function<void(const std::string&, const std::string&)>& refuse = {}) {
  std::vector<std::size_t> out;
  const json& list = o.array(key);
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = json_path_index(o.path(key), i);
    const std::string name = json_string(list[i], o.origin(), path);
    if (refuse) refuse(name, path);
    const auto it = std::find(known.begin(), known.end(), name);
    if (it == known.end())
      input_error(o.origin(), path,
                  "unknown " + what + " " + describe_value(name) + " (known: " + join(known) + ")");
    const std::size_t idx = static_cast<std::size_t>(it - known.begin());
    if (std::find(out.begin(), out.end(), idx) != out.end())
      input_error(o.origin(), path, what + " " + describe_value(name) + " is listed twice");
    out.push_back(idx);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A list of integers in [min, max], sorted and deduplicated.
std::vector<std::int64_t> read_ints(const json& list, const std::string& origin,
                                    const std::string& path, std::int64_t min, std::int64_t max) {
  if (!list.is_array()) input_error(origin, path, "expected an array, got " + describe_value(list));
  std::vector<std::int64_t> v;
  for (std::size_t i = 0; i < list.size(); ++i)
    v.push_back(json_integer(list[i], origin, json_path_index(path, i), min, max));
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::vector<std::int64_t> read_positions(JsonObject& sweep) {
  const json& v = sweep.any("positions");
  const std::string& origin = sweep.origin();
  const std::string path = sweep.path("positions");
  std::vector<std::int64_t> out;
  if (v.is_array()) {
    if (v.empty()) input_error(origin, path, "expected at least one position, got []");
    if (v.size() > kMaxPositions)
      input_error(origin, path,
                  "expected at most " + std::to_string(kMaxPositions) + " positions, got " +
                      std::to_string(v.size()));
    return read_ints(v, origin, path, 1, kMaxPosition);
  }
  if (!v.is_object())
    input_error(origin, path,
                "expected an array of positions or a generator object ({\"powers_of_two\": ...} or "
                "{\"range\": ...}), got " +
                    describe_value(v));
  JsonObject gen(v, origin, path);
  const bool pow2 = gen.has("powers_of_two"), range = gen.has("range");
  gen.finish();
  if (pow2 == range)
    input_error(origin, path, "expected exactly one generator: powers_of_two or range");
  if (pow2) {
    JsonObject p = gen.object("powers_of_two");
    const std::int64_t from = p.integer("from", 1, kMaxPosition);
    const std::int64_t to = p.integer("to", 1, kMaxPosition);
    p.finish();
    for (std::int64_t x = 1; x <= to; x *= 2)
      if (x >= from) out.push_back(x);
    if (out.empty())
      input_error(origin, gen.path("powers_of_two"),
                  "generates no positions: no power of two lies in [" + std::to_string(from) +
                      ", " + std::to_string(to) + "]");
  } else {
    JsonObject r = gen.object("range");
    const std::int64_t start = r.integer("start", 1, kMaxPosition);
    const std::int64_t stop = r.integer("stop", 1, kMaxPosition);
    const std::int64_t step = r.integer("step", 1, kMaxPosition);
    r.finish();
    if (stop < start)
      input_error(origin, gen.path("range"),
                  "generates no positions: stop (" + std::to_string(stop) + ") is below start (" +
                      std::to_string(start) + ")");
    const std::int64_t count = (stop - start) / step + 1;
    if (count > static_cast<std::int64_t>(kMaxPositions))
      input_error(origin, gen.path("range"),
                  "generates " + std::to_string(count) + " positions, more than the " +
                      std::to_string(kMaxPositions) + " allowed");
    for (std::int64_t x = start; x <= stop; x += step) out.push_back(x);
  }
  return out;
}

SweepSpec read_sweep(JsonObject o) {
  SweepSpec s;
  const auto no_gemm = [&](const std::string& name, const std::string& path) {
    if (name == "gemm")
      input_error(o.origin(), path,
                  "\"gemm\" is not a sweep operation (it is measured on its own, to calibrate "
                  "the non-attention cost)");
  };
  if (o.has("operations"))
    for (std::size_t i :
         read_names(o, "operations", names_of(kAllOps, op_name), "operation", no_gemm))
      s.operations.push_back(kAllOps[i]);
  s.phases.assign(std::begin(kAllPhases), std::end(kAllPhases));
  if (o.has("phases")) {
    s.phases.clear();
    for (std::size_t i : read_names(o, "phases", names_of(kAllPhases, phase_name), "phase"))
      s.phases.push_back(kAllPhases[i]);
  }
  s.positions = read_positions(o);
  s.prefill_chunk = o.integer_or("prefill_chunk", s.prefill_chunk, 1, kMaxPosition);
  if (o.has("decode_batches"))
    s.decode_batches =
        read_ints(o.array("decode_batches"), o.origin(), o.path("decode_batches"), 1, kMaxBatch);
  s.decode_query_tokens = o.integer_or("decode_query_tokens", 0, 0, kMaxDim);
  if (o.has("top_k")) {
    const json& list = o.any("top_k");
    for (std::int64_t k : read_ints(list, o.origin(), o.path("top_k"), 1, kMaxPosition))
      s.top_ks.push_back(static_cast<int>(k));
    // A top-k beyond every position keeps every key of every query: nothing sparse is measured.
    const std::int64_t longest = s.positions.back();
    for (std::size_t i = 0; i < list.size(); ++i)
      if (list[i].get<std::int64_t>() > longest)
        input_error(o.origin(), json_path_index(o.path("top_k"), i),
                    "top-k " + list[i].dump() + " is larger than every position of the sweep " +
                        "(the longest is " + std::to_string(longest) +
                        "): each query would keep all of its keys");
  }
  if (o.has("dtypes")) {
    s.dtypes.clear();
    for (std::size_t i : read_names(o, "dtypes", names_of(kAllDTypes, dtype_name), "dtype"))
      s.dtypes.push_back(kAllDTypes[i]);
  }
  if (o.has("op_dtypes")) {
    JsonObject od = o.object("op_dtypes");
    for (const auto& [name, value] : o.any("op_dtypes").items()) {
      Op op{};
      if (!parse_op(name, op) || op == Op::gemm)
        input_error(o.origin(), od.path(name),
                    "\"" + name +
                        "\" is not a sweep operation (expected one of dense_prefill, "
                        "dense_decode, indexer, topk, sparse_prefill, sparse_decode)");
      auto& list = s.op_dtypes[op];
      for (std::size_t i : read_names(od, name, names_of(kAllDTypes, dtype_name), "dtype"))
        list.push_back(kAllDTypes[i]);
    }
    od.finish();
  }
  o.finish();
  return s;
}

RunSettings read_run(JsonObject o) {
  RunSettings r;
  const auto positive = [&](const std::string& key, double def) {
    const double v = o.number_or(key, def);
    if (!(v > 0)) o.fail(key, "expected a number > 0, got " + describe_value(o.any(key)));
    return v;
  };
  r.min_time_s = positive("min_time_s", r.min_time_s);
  r.max_time_s = positive("max_time_s", r.max_time_s);
  if (r.max_time_s < r.min_time_s)
    o.fail(o.has("max_time_s") ? "max_time_s" : "min_time_s",
           "max_time_s (" + json(r.max_time_s).dump() + ") must be >= min_time_s (" +
               json(r.min_time_s).dump() + ")");
  r.warmup_runs = static_cast<int>(o.integer_or("warmup_runs", r.warmup_runs, 0, 100));
  r.min_repetitions = static_cast<int>(o.integer_or("min_repetitions", r.min_repetitions, 1, 1000));
  r.max_repetitions = static_cast<int>(o.integer_or("max_repetitions", r.max_repetitions, 1, 1000));
  if (r.max_repetitions < r.min_repetitions)
    o.fail(o.has("max_repetitions") ? "max_repetitions" : "min_repetitions",
           "max_repetitions (" + std::to_string(r.max_repetitions) +
               ") must be >= min_repetitions (" + std::to_string(r.min_repetitions) + ")");
  r.noise_target = positive("noise_target", r.noise_target);
  if (r.noise_target >= 1)
    o.fail("noise_target",
           "expected a number in (0, 1), got " + describe_value(o.any("noise_target")));
  r.max_memory_gib = o.number_or("max_memory_gib", r.max_memory_gib, 0);
  r.validate_max_gflop = positive("validate_max_gflop", r.validate_max_gflop);
  r.cold = o.boolean_or("cold", r.cold);
  o.finish();
  return r;
}

json run_json(const RunSettings& r) {
  return {{"min_time_s", r.min_time_s},
          {"max_time_s", r.max_time_s},
          {"warmup_runs", r.warmup_runs},
          {"min_repetitions", r.min_repetitions},
          {"max_repetitions", r.max_repetitions},
          {"noise_target", r.noise_target},
          {"max_memory_gib", r.max_memory_gib},
          {"cold", r.cold},
          {"validate_max_gflop", r.validate_max_gflop}};
}

json sweep_json(const SweepSpec& s) {
  json j = {{"positions", s.positions},
            {"prefill_chunk", s.prefill_chunk},
            {"decode_batches", s.decode_batches},
            {"decode_query_tokens", s.decode_query_tokens},
            {"top_k", s.top_ks},
            {"phases", json::array()},
            {"dtypes", json::array()}};
  // Absent operations mean "each model's own": spelling out one list would change the meaning.
  if (!s.operations.empty()) {
    j["operations"] = json::array();
    for (Op op : s.operations) j["operations"].push_back(op_name(op));
  }
  for (Phase p : s.phases) j["phases"].push_back(phase_name(p));
  for (DType t : s.dtypes) j["dtypes"].push_back(dtype_name(t));
  if (!s.op_dtypes.empty()) {
    j["op_dtypes"] = json::object();
    for (const auto& [op, list] : s.op_dtypes)
      for (DType t : list) j["op_dtypes"][std::string(op_name(op))].push_back(dtype_name(t));
  }
  return j;
}

// Stops once more than `limit` points exist, so an oversized sweep is refused without first
// materialising it.
std::vector<Point> points_up_to(const Scenario& s, std::size_t limit) {
  std::vector<Point> out;
  const SweepSpec& w = s.sweep;
  for (const std::string& backend : s.backends)
    for (const ModelSpec& m : s.models) {
      std::vector<Op> ops = w.operations.empty() ? default_ops(m) : w.operations;
      std::erase_if(ops, [&](Op op) { return !fits(op, m); });
      const std::vector<int> model_k = {m.top_k};
      for (Op op : ops)
        for (Phase phase : w.phases) {
          if (!has_phase(op, phase)) continue;
          const std::vector<std::int64_t> one = {1};
          const auto& batches = phase == Phase::prefill ? one : w.decode_batches;
          const std::vector<int> no_k = {0};
          const auto& ks = !uses_top_k(op) ? no_k : w.top_ks.empty() ? model_k : w.top_ks;
          for (std::int64_t pos : w.positions) {
            const std::int64_t s_q = phase == Phase::prefill     ? std::min(w.prefill_chunk, pos)
                                     : w.decode_query_tokens > 0 ? w.decode_query_tokens
                                                                 : m.decode_query_tokens;
            if (s_q > pos) continue;  // a decode step needs s_q tokens already in the sequence
            for (std::int64_t b : batches)
              for (int k : ks)
                for (DType t : w.dtypes_of(op)) {
                  out.push_back({backend, m.name, op, phase, pos, b, s_q, k, t});
                  if (out.size() > limit) return out;
                }
          }
        }
    }
  return out;
}

std::string fnv1a64_hex(const std::string& s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

ModelSpec model_by_name(const json& v, const std::string& origin, const std::string& path,
                        const fs::path& dir) {
  const std::string name = v.get<std::string>();
  if (!valid_name(name))
    input_error(origin, path,
                "expected a model name of letters, digits, '.', '_' and '-' (it names the file "
                "models/<name>.json next to the scenario), got " +
                    describe_value(v));
  const fs::path file = dir / "models" / (name + ".json");
  std::error_code ec;
  if (!fs::exists(file, ec))
    input_error(origin, path, "no model file " + file.string() + " for model '" + name + "'");
  try {
    ModelSpec m = load_model(file);
    if (m.name != name)
      input_error(file.string(), "$.name",
                  "expected \"" + name + "\" (the file's name), got " + describe_value(m.name));
    return m;
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()) + " (model of " + origin + ": " + path + ")");
  }
}

}  // namespace

std::string_view phase_name(Phase p) {
  return p == Phase::prefill ? "prefill" : "decode";
}

ModelSpec parse_model(const json& j, const std::string& origin, const std::string& path) {
  JsonObject o(j, origin, path);
  ModelSpec m;
  const auto dim = [&](const std::string& key, std::int64_t min = 1, std::int64_t max = kMaxDim) {
    return static_cast<int>(o.integer(key, min, max));
  };
  m.name = name_field(o, "name");
  m.display_name = o.string("display_name");
  m.source = o.string("source");
  const std::string attention = o.string("attention");
  if (attention == "dense_mla") {
    m.attention = AttentionKind::dense_mla;
  } else if (attention == "dsa") {
    m.attention = AttentionKind::dsa;
  } else {
    o.fail("attention", "expected \"dense_mla\" or \"dsa\", got " + describe_value(attention));
  }
  m.layers = dim("layers");
  m.dense_layers = dim("dense_layers", 0, m.layers - 1);
  m.hidden_size = dim("hidden_size");
  m.dense_ffn_width = dim("dense_ffn_width");
  m.vocab_size = dim("vocab_size");
  m.heads = dim("heads");
  m.q_lora_rank = dim("q_lora_rank");
  m.kv_lora_rank = dim("kv_lora_rank");
  m.qk_nope_dim = dim("qk_nope_dim");
  m.qk_rope_dim = dim("qk_rope_dim");
  m.v_head_dim = dim("v_head_dim");
  m.softmax_scale = o.number_or("softmax_scale", deepseek_softmax_scale());
  if (!(m.softmax_scale > 0))
    o.fail("softmax_scale", "expected a number > 0, got " + describe_value(o.any("softmax_scale")));
  m.routed_experts = dim("routed_experts");
  m.experts_per_token = dim("experts_per_token", 1, m.routed_experts);
  m.shared_experts = dim("shared_experts", 0);
  m.expert_ffn_width = dim("expert_ffn_width");
  m.decode_query_tokens = dim("decode_query_tokens");
  if (m.attention == AttentionKind::dsa) {
    if (!o.has("indexer"))
      o.fail("indexer",
             "missing required field 'indexer': a dsa model needs {\"heads\", \"dim\", "
             "\"top_k\"}");
    JsonObject ix = o.object("indexer");
    m.index_heads = static_cast<int>(ix.integer("heads", 1, kMaxDim));
    m.index_dim = static_cast<int>(ix.integer("dim", 1, kMaxDim));
    m.top_k = static_cast<int>(ix.integer("top_k", 1, kMaxPosition));
    ix.finish();
  } else {
    if (o.has("indexer"))
      o.fail("indexer", "only dsa models have an indexer; this model's attention is dense_mla");
    m.index_heads = m.index_dim = m.top_k = 0;
  }
  o.finish();
  return m;
}

json model_json(const ModelSpec& m) {
  json j = {{"name", m.name},
            {"display_name", m.display_name},
            {"source", m.source},
            {"attention", m.attention == AttentionKind::dsa ? "dsa" : "dense_mla"},
            {"layers", m.layers},
            {"dense_layers", m.dense_layers},
            {"hidden_size", m.hidden_size},
            {"dense_ffn_width", m.dense_ffn_width},
            {"vocab_size", m.vocab_size},
            {"heads", m.heads},
            {"q_lora_rank", m.q_lora_rank},
            {"kv_lora_rank", m.kv_lora_rank},
            {"qk_nope_dim", m.qk_nope_dim},
            {"qk_rope_dim", m.qk_rope_dim},
            {"v_head_dim", m.v_head_dim},
            {"softmax_scale", m.softmax_scale},
            {"routed_experts", m.routed_experts},
            {"experts_per_token", m.experts_per_token},
            {"shared_experts", m.shared_experts},
            {"expert_ffn_width", m.expert_ffn_width},
            {"decode_query_tokens", m.decode_query_tokens}};
  if (m.attention == AttentionKind::dsa)
    j["indexer"] = {{"heads", m.index_heads}, {"dim", m.index_dim}, {"top_k", m.top_k}};
  return j;
}

ModelSpec load_model(const fs::path& file) {
  return parse_model(read_json_file(file), file.string());
}

Scenario load_scenario(const fs::path& file) {
  Scenario s = parse_scenario(read_text_file(file), file.string(), file.parent_path());
  s.file = file;
  return s;
}

Scenario parse_scenario(const std::string& text, const std::string& origin, const fs::path& dir) {
  const json j = parse_json(text, origin);
  JsonObject o(j, origin);
  Scenario s;
  s.file = origin;
  s.name = name_field(o, "name");
  s.description = o.string_or("description", "");

  const json& models = o.array("models");
  for (std::size_t i = 0; i < models.size(); ++i) {
    const std::string path = json_path_index(o.path("models"), i);
    const json& v = models[i];
    if (v.is_string()) {
      s.models.push_back(model_by_name(v, origin, path, dir));
    } else if (v.is_object()) {
      s.models.push_back(parse_model(v, origin, path));
    } else {
      input_error(origin, path,
                  "expected a model name or a model object, got " + describe_value(v));
    }
    for (std::size_t k = 0; k + 1 < s.models.size(); ++k)
      if (s.models[k].name == s.models.back().name)
        input_error(origin, path,
                    "model '" + s.models.back().name + "' is listed twice (also at [" +
                        std::to_string(k) + "])");
  }

  s.sweep = read_sweep(o.object("sweep"));
  if (o.has("backends")) {
    s.backends.clear();
    for (std::size_t i : read_names(o, "backends", kKnownBackends, "backend"))
      s.backends.push_back(kKnownBackends[i]);
  }
  if (o.has("run")) s.run = read_run(o.object("run"));
  o.finish();

  const std::vector<Point> all = points_up_to(s, kMaxPoints);
  const std::size_t points = all.size();
  if (points == 0) {
    const bool any_fit = s.sweep.operations.empty() ||
                         std::any_of(s.models.begin(), s.models.end(), [&](const ModelSpec& m) {
                           return std::any_of(s.sweep.operations.begin(), s.sweep.operations.end(),
                                              [&](Op op) { return fits(op, m); });
                         });
    if (!any_fit)
      input_error(origin, "$.sweep.operations",
                  "no listed operation applies to these models (indexer, topk and sparse_* need "
                  "a dsa model)");
    input_error(origin, "$.sweep",
                "the sweep yields no points (each operation runs only in its own phase, and "
                "decode needs position >= decode_query_tokens)");
  }
  if (points > kMaxPoints)
    input_error(origin, "$.sweep",
                "the sweep yields more than " + std::to_string(kMaxPoints) +
                    " points; measure fewer positions, batches, top-k values or dtypes");
  for (const Point& p : all)
    if (p.batch * p.s_q > kMaxQueryTokens) {
      const bool prefill = p.phase == Phase::prefill;
      input_error(origin, prefill ? "$.sweep.prefill_chunk" : "$.sweep.decode_batches",
                  "point " + p.name() + " has " + std::to_string(p.batch * p.s_q) +
                      " query tokens (" +
                      (prefill ? "the prefill chunk" : "decode batch x decode_query_tokens") +
                      "), more than the " + std::to_string(kMaxQueryTokens) + " a point may have");
    }

  json c = {{"name", s.name},          {"description", s.description},
            {"models", json::array()}, {"sweep", sweep_json(s.sweep)},
            {"backends", s.backends},  {"run", run_json(s.run)}};
  for (const ModelSpec& m : s.models) c["models"].push_back(model_json(m));
  s.canonical_json = c.dump();  // nlohmann objects are ordered maps: keys come out sorted
  s.hash = fnv1a64_hex(s.canonical_json);
  return s;
}

std::string Point::name() const {
  std::string n = backend + "/" + model + "/" + std::string(op_name(op)) + "/" +
                  std::string(phase_name(phase)) + "/L" + std::to_string(position) + "/B" +
                  std::to_string(batch) + "/sq" + std::to_string(s_q);
  if (uses_top_k(op)) n += "/k" + std::to_string(top_k);
  return n + "/" + std::string(dtype_name(dtype));
}

ProblemSpec Point::problem(const ModelSpec& m) const {
  ProblemSpec p;
  p.op = op;
  p.batch = phase == Phase::prefill ? Batch::prefill_chunk(position - s_q, s_q)
                                    : Batch::uniform(batch, s_q, position);
  p.dtype = dtype;
  p.heads = m.heads;
  p.d_qk = m.d_qk();
  p.d_v = m.v_head_dim;
  p.d_latent = m.d_latent();
  p.d_v_latent = m.kv_lora_rank;
  p.index_heads = m.index_heads;
  p.index_dim = m.index_dim;
  p.top_k = top_k > 0 ? top_k : m.top_k;
  p.scale = m.softmax_scale;
  return p;
}

std::vector<Point> generate_points(const Scenario& s) {
  return points_up_to(s, SIZE_MAX);
}

const ModelSpec& model_of(const Scenario& s, const Point& p) {
  for (const ModelSpec& m : s.models)
    if (m.name == p.model) return m;
  throw ScenarioError(s.file.string() + ": $.models: no model named '" + p.model + "'");
}

}  // namespace costcurve

// Scenarios: what to measure. A scenario names models (by file or inline), the sweep axes, the
// backends and the run settings; generate_points() expands it into measurement points.
//
// Scenario and model files are untrusted input: every error is a ScenarioError whose message names
// the file and the JSON path of the bad field and says what was expected, e.g.
//   scenarios/x.json: $.sweep.positions[2]: expected a positive integer, got -5
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/json_input.hpp"
#include "harness/problem.hpp"

namespace costcurve {

using ScenarioError = InputError;

enum class AttentionKind { dense_mla, dsa };
enum class Phase { prefill, decode };
std::string_view phase_name(Phase p);

// One model's shapes (scenarios/models/<name>.json). The sweep uses the attention fields; the cost
// model also uses the rest.
struct ModelSpec {
  std::string name;          // e.g. "deepseek-v3.2"; [A-Za-z0-9._-]+
  std::string display_name;  // e.g. "DeepSeek-V3.2"
  std::string source;        // where the numbers come from
  AttentionKind attention = AttentionKind::dense_mla;
  // transformer
  int layers = 61;
  int dense_layers = 3;  // leading layers with a dense FFN instead of MoE
  int hidden_size = 7168;
  int dense_ffn_width = 18432;
  int vocab_size = 129280;
  // MLA
  int heads = 128;
  int q_lora_rank = 1536;
  int kv_lora_rank = 512;
  int qk_nope_dim = 128;
  int qk_rope_dim = 64;
  int v_head_dim = 128;
  double softmax_scale = deepseek_softmax_scale();
  // MoE
  int routed_experts = 256;
  int experts_per_token = 8;
  int shared_experts = 1;
  int expert_ffn_width = 2048;
  // DSA lightning indexer (attention == dsa only)
  int index_heads = 64;
  int index_dim = 128;
  int top_k = 2048;
  // multi-token prediction: query tokens per decode step per sequence
  int decode_query_tokens = 2;

  int d_qk() const { return qk_nope_dim + qk_rope_dim; }       // MHA mode: 192
  int d_latent() const { return kv_lora_rank + qk_rope_dim; }  // MQA mode: 576
};

struct SweepSpec {
  std::vector<Op> operations;  // default: by attention kind (see generate_points)
  std::vector<Phase> phases;   // default: both
  // Sorted, unique, each in [1, 2^31 - 1], at most 10000. From a list or a generator:
  // {"powers_of_two": {"from": a, "to": b}} gives every power of two in [a, b];
  // {"range": {"start": a, "stop": b, "step": c}} gives a, a + c, ... up to and including b.
  std::vector<std::int64_t> positions;
  std::int64_t prefill_chunk = 256;  // query tokens of a prefill point (fewer if position < chunk)
  std::vector<std::int64_t> decode_batches = {1};
  std::int64_t decode_query_tokens = 0;  // 0: the model's decode_query_tokens
  std::vector<int> top_ks;               // empty: the model's top_k
  std::vector<DType> dtypes = {DType::f32};
  // Per-operation dtypes replacing `dtypes` for that operation, e.g. f32 logits for top-k while
  // attention runs on bf16 storage.
  std::map<Op, std::vector<DType>> op_dtypes;
  const std::vector<DType>& dtypes_of(Op op) const {
    const auto it = op_dtypes.find(op);
    return it != op_dtypes.end() ? it->second : dtypes;
  }
};

struct RunSettings {
  double min_time_s = 0.05;  // target duration of one repetition (iterations are batched up to it)
  double max_time_s = 10;    // stop repeating a point after this much timed work
  int warmup_runs = 1;
  int min_repetitions = 3;
  int max_repetitions = 20;
  double noise_target =
      0.05;                   // stop once the coefficient of variation of repetitions is below this
  double max_memory_gib = 0;  // 0: 85% of the memory available when the sweep starts
  bool cold = false;          // flush the caches before every timed run (GPU: L2)
  double validate_max_gflop = 2;  // float64 reference work per point; beyond it, rows are sampled
};

struct Scenario {
  std::string name;
  std::string description;
  std::filesystem::path file;  // where it was loaded from
  std::vector<ModelSpec> models;
  SweepSpec sweep;
  std::vector<std::string> backends = {"cpu"};
  RunSettings run;
  // The scenario as run: models inline, defaults filled in, keys sorted; parse_scenario() reads it
  // back to the same scenario. "operations" is absent when each model's default set is used.
  std::string canonical_json;
  std::string hash;  // FNV-1a 64-bit of canonical_json, 16 hex digits
};

// One measurement: an operation at one position, batch, top-k and dtype, for one model and backend.
struct Point {
  std::string backend;
  std::string model;
  Op op = Op::dense_prefill;
  Phase phase = Phase::prefill;
  std::int64_t position = 0;  // keys visible to the last query token
  std::int64_t batch = 1;     // sequences (decode) or 1 (prefill)
  std::int64_t s_q = 1;       // query tokens per sequence
  int top_k = 0;              // 0 for operations without one
  DType dtype = DType::f32;

  // Stable, unique within a scenario, and the Google Benchmark name of the point, e.g.
  // "cpu/deepseek-v3.2/indexer/prefill/L131072/B1/sq256/k2048/f32". Never contains spaces.
  std::string name() const;
  ProblemSpec problem(const ModelSpec& m) const;
};

// Parses and validates; throws ScenarioError. Models named by string are read from
// <scenario dir>/models/<name>.json.
Scenario load_scenario(const std::filesystem::path& file);
ModelSpec load_model(const std::filesystem::path& file);
// Same, from text (for tests and fuzzers); `origin` is the file name used in messages and
// `dir` resolves model names.
Scenario parse_scenario(const std::string& text, const std::string& origin,
                        const std::filesystem::path& dir);
// One model object (a model file, or an inline model of a scenario at `path`), and back.
ModelSpec parse_model(const nlohmann::json& j, const std::string& origin,
                      const std::string& path = "$");
nlohmann::json model_json(const ModelSpec& m);

// The scenario's points in a deterministic order: backend, model, operation, phase, position,
// batch, top-k, dtype. Prefill points: batch 1, s_q = min(prefill_chunk, position). Decode points:
// each decode batch, s_q = decode_query_tokens (positions below s_q are skipped). Operations are
// matched to phases: dense_prefill and sparse_prefill are prefill-only, dense_decode and
// sparse_decode decode-only, indexer and topk both. Operations that need an indexer are skipped
// for dense_mla models.
std::vector<Point> generate_points(const Scenario& s);
const ModelSpec& model_of(const Scenario& s, const Point& p);

}  // namespace costcurve

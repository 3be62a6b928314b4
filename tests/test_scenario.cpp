// Scenarios and JSON input: the shipped files load, points come out in the promised order, and
// every kind of bad input is refused with a message that names the file and the JSON path.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "harness/scenario.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kScenarios = fs::path(COSTCURVE_SOURCE_DIR) / "scenarios";
const fs::path kData = fs::path(COSTCURVE_SOURCE_DIR) / "tests" / "data" / "scenarios";

// A scenario around the given sweep; extra top-level fields go after it.
std::string scenario(const std::string& sweep, const std::string& extra = "",
                     const std::string& models = R"(["deepseek-v3.2"])") {
  return R"({"name": "t", "models": )" + models + R"(, "sweep": )" + sweep + extra + "}";
}

// A shipped model as inline JSON text, changed by a merge patch (null removes a field).
std::string inline_model(const std::string& file, const json& patch) {
  json m = read_json_file(kScenarios / "models" / file);
  m.merge_patch(patch);
  return m.dump();
}

std::vector<std::string> names(const std::vector<Point>& points) {
  std::vector<std::string> v;
  for (const Point& p : points) v.push_back(p.name());
  return v;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Scenario, ShippedScenariosLoad) {
  std::set<std::string> found;
  for (const auto& entry : fs::directory_iterator(kScenarios)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    const Scenario s = load_scenario(entry.path());
    found.insert(entry.path().filename().string());
    EXPECT_EQ(s.hash.size(), 16u);
    const std::vector<Point> points = generate_points(s);
    ASSERT_FALSE(points.empty());
    std::set<std::string> unique;
    for (const Point& p : points) {
      const std::string n = p.name();
      EXPECT_EQ(n.find(' '), std::string::npos) << n;
      EXPECT_TRUE(unique.insert(n).second) << "duplicate point " << n;
      EXPECT_NO_THROW(p.problem(model_of(s, p)).batch.check()) << n;
    }
    // The canonical form reads back to the same scenario.
    const Scenario again = parse_scenario(s.canonical_json, "canonical", "");
    EXPECT_EQ(again.canonical_json, s.canonical_json);
    EXPECT_EQ(names(generate_points(again)), names(points));
  }
  for (const char* f :
       {"smoke.json", "cpu-default.json", "deepseek-v3.2.json", "deepseek-v3.1-terminus.json"})
    EXPECT_TRUE(found.count(f)) << f;
}

TEST(Scenario, ShippedModelsMatchTheReference) {
  const ModelSpec v32 = load_model(kScenarios / "models" / "deepseek-v3.2.json");
  EXPECT_EQ(v32.attention, AttentionKind::dsa);
  EXPECT_EQ(v32.heads, 128);
  EXPECT_EQ(v32.d_qk(), 192);
  EXPECT_EQ(v32.d_latent(), 576);
  EXPECT_EQ(v32.v_head_dim, 128);
  EXPECT_EQ(v32.kv_lora_rank, 512);
  EXPECT_EQ(v32.index_heads, 64);
  EXPECT_EQ(v32.index_dim, 128);
  EXPECT_EQ(v32.top_k, 2048);
  EXPECT_EQ(v32.decode_query_tokens, 2);
  EXPECT_DOUBLE_EQ(v32.softmax_scale, deepseek_softmax_scale());
  EXPECT_EQ(v32.layers - v32.dense_layers, 58);
  const ModelSpec v31 = load_model(kScenarios / "models" / "deepseek-v3.1-terminus.json");
  EXPECT_EQ(v31.attention, AttentionKind::dense_mla);
  EXPECT_EQ(v31.top_k, 0);
  // Same shape apart from the indexer.
  json a = model_json(v31), b = model_json(v32);
  for (const char* k : {"name", "display_name", "source", "attention", "indexer"}) {
    a.erase(k);
    b.erase(k);
  }
  EXPECT_EQ(a, b);
}

TEST(Scenario, SmokePoints) {
  const Scenario s = load_scenario(kScenarios / "smoke.json");
  const std::vector<Point> points = generate_points(s);
  const std::vector<std::string> dense = {
      "cpu/deepseek-v3.1-terminus/dense_prefill/prefill/L64/B1/sq32/f32",
      "cpu/deepseek-v3.1-terminus/dense_prefill/prefill/L300/B1/sq32/f32",
      "cpu/deepseek-v3.1-terminus/dense_decode/decode/L64/B1/sq2/f32",
      "cpu/deepseek-v3.1-terminus/dense_decode/decode/L64/B2/sq2/f32",
      "cpu/deepseek-v3.1-terminus/dense_decode/decode/L300/B1/sq2/f32",
      "cpu/deepseek-v3.1-terminus/dense_decode/decode/L300/B2/sq2/f32"};
  const std::vector<std::string> all = names(points);
  ASSERT_EQ(all.size(), 24u);  // 6 dense + indexer 6 + topk 6 + sparse_prefill 2 + sparse_decode 4
  EXPECT_EQ(std::vector<std::string>(all.begin(), all.begin() + 6), dense);
  EXPECT_EQ(all[6], "cpu/deepseek-v3.2/indexer/prefill/L64/B1/sq32/f32");
  EXPECT_EQ(all[8], "cpu/deepseek-v3.2/indexer/decode/L64/B1/sq2/f32");
  EXPECT_EQ(all[12], "cpu/deepseek-v3.2/topk/prefill/L64/B1/sq32/k64/f32");
  EXPECT_EQ(all[18], "cpu/deepseek-v3.2/sparse_prefill/prefill/L64/B1/sq32/k64/f32");
  EXPECT_EQ(all.back(), "cpu/deepseek-v3.2/sparse_decode/decode/L300/B2/sq2/k64/f32");
  for (const Point& p : points) {
    const bool prefill_only = p.op == Op::dense_prefill || p.op == Op::sparse_prefill;
    const bool decode_only = p.op == Op::dense_decode || p.op == Op::sparse_decode;
    EXPECT_FALSE(prefill_only && p.phase != Phase::prefill) << p.name();
    EXPECT_FALSE(decode_only && p.phase != Phase::decode) << p.name();
    EXPECT_EQ(p.top_k,
              p.op == Op::indexer || p.op == Op::dense_prefill || p.op == Op::dense_decode ? 0 : 64)
        << p.name();
  }

  const ModelSpec& m = model_of(s, points[1]);
  const ProblemSpec prefill = points[1].problem(m);  // L300, 32 query tokens
  EXPECT_EQ(prefill.op, Op::dense_prefill);
  EXPECT_EQ(prefill.batch.seq_lens, std::vector<std::int64_t>{300});
  EXPECT_EQ(prefill.batch.s_q, 32);
  EXPECT_EQ(prefill.batch.query_pos(0, 31), 299);
  EXPECT_EQ(prefill.d_qk, 192);
  EXPECT_EQ(prefill.d_v, 128);
  const ProblemSpec decode = points.back().problem(model_of(s, points.back()));
  EXPECT_EQ(decode.op, Op::sparse_decode);
  EXPECT_EQ(decode.batch.seq_lens, (std::vector<std::int64_t>{300, 300}));
  EXPECT_EQ(decode.batch.s_q, 2);
  EXPECT_EQ(decode.d_latent, 576);
  EXPECT_EQ(decode.d_v_latent, 512);
  EXPECT_EQ(decode.top_k, 64);
  EXPECT_EQ(decode.index_heads, 64);
  EXPECT_DOUBLE_EQ(decode.scale, deepseek_softmax_scale());
}

TEST(Scenario, OperationsFitModelsAndPhases) {
  const std::string models = R"(["deepseek-v3.1-terminus", "deepseek-v3.2"])";
  // Listed in a different order than kAllOps: the points follow kAllOps.
  const Scenario s = parse_scenario(
      scenario(R"({"operations": ["sparse_decode", "dense_decode"], "positions": [1, 2, 5],
                   "top_k": [5, 4], "dtypes": ["bf16", "f32"]})",
               R"(, "backends": ["cuda", "cpu"])", models),
      "ops.json", kScenarios);
  const std::vector<std::string> got = names(generate_points(s));
  // Decode needs position >= s_q = 2; dense ops on a dsa model are fine, sparse on dense are not.
  const std::vector<std::string> want_cpu = {
      "cpu/deepseek-v3.1-terminus/dense_decode/decode/L2/B1/sq2/f32",
      "cpu/deepseek-v3.1-terminus/dense_decode/decode/L2/B1/sq2/bf16",
      "cpu/deepseek-v3.1-terminus/dense_decode/decode/L5/B1/sq2/f32",
      "cpu/deepseek-v3.1-terminus/dense_decode/decode/L5/B1/sq2/bf16",
      "cpu/deepseek-v3.2/dense_decode/decode/L2/B1/sq2/f32",
      "cpu/deepseek-v3.2/dense_decode/decode/L2/B1/sq2/bf16",
      "cpu/deepseek-v3.2/dense_decode/decode/L5/B1/sq2/f32",
      "cpu/deepseek-v3.2/dense_decode/decode/L5/B1/sq2/bf16",
      "cpu/deepseek-v3.2/sparse_decode/decode/L2/B1/sq2/k4/f32",
      "cpu/deepseek-v3.2/sparse_decode/decode/L2/B1/sq2/k4/bf16",
      "cpu/deepseek-v3.2/sparse_decode/decode/L2/B1/sq2/k5/f32",
      "cpu/deepseek-v3.2/sparse_decode/decode/L2/B1/sq2/k5/bf16",
      "cpu/deepseek-v3.2/sparse_decode/decode/L5/B1/sq2/k4/f32",
      "cpu/deepseek-v3.2/sparse_decode/decode/L5/B1/sq2/k4/bf16",
      "cpu/deepseek-v3.2/sparse_decode/decode/L5/B1/sq2/k5/f32",
      "cpu/deepseek-v3.2/sparse_decode/decode/L5/B1/sq2/k5/bf16"};
  ASSERT_EQ(got.size(), 2 * want_cpu.size());
  EXPECT_EQ(std::vector<std::string>(got.begin(), got.begin() + 16), want_cpu);
  EXPECT_EQ(got[16], "cuda/deepseek-v3.1-terminus/dense_decode/decode/L2/B1/sq2/f32");

  // Prefill chunks shrink to the position; decode_query_tokens overrides the model's.
  const Scenario p = parse_scenario(
      scenario(R"({"operations": ["indexer"], "positions": [3, 100], "prefill_chunk": 64,
                   "decode_query_tokens": 4, "decode_batches": [8]})"),
      "p.json", kScenarios);
  EXPECT_EQ(names(generate_points(p)),
            (std::vector<std::string>{"cpu/deepseek-v3.2/indexer/prefill/L3/B1/sq3/f32",
                                      "cpu/deepseek-v3.2/indexer/prefill/L100/B1/sq64/f32",
                                      "cpu/deepseek-v3.2/indexer/decode/L100/B8/sq4/f32"}));
}

TEST(Scenario, PerOperationDtypes) {
  const Scenario sc = parse_scenario(
      scenario(R"({"positions": [4096], "dtypes": ["bf16"], "op_dtypes": {"topk": ["f32"]},
                   "phases": ["decode"]})"),
      "d.json", kScenarios);
  for (const Point& p : generate_points(sc))
    EXPECT_EQ(p.dtype, p.op == Op::topk ? DType::f32 : DType::bf16) << p.name();
  // The override survives the canonical form.
  const Scenario again = parse_scenario(sc.canonical_json, "again.json", kScenarios);
  EXPECT_EQ(again.hash, sc.hash);
}

TEST(Scenario, PositionGenerators) {
  const auto positions = [](const std::string& spec) {
    return parse_scenario(scenario(R"({"positions": )" + spec + "}"), "g.json", kScenarios)
        .sweep.positions;
  };
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(positions(R"({"powers_of_two": {"from": 1024, "to": 131072}})"),
            (V{1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072}));
  EXPECT_EQ(positions(R"({"powers_of_two": {"from": 1000, "to": 5000}})"), (V{1024, 2048, 4096}));
  EXPECT_EQ(positions(R"({"powers_of_two": {"from": 1, "to": 1}})"), (V{1}));
  EXPECT_EQ(positions(R"({"powers_of_two": {"from": 1, "to": 2147483647}})").back(), 1 << 30);
  EXPECT_EQ(positions(R"({"range": {"start": 1024, "stop": 4096, "step": 1024}})"),
            (V{1024, 2048, 3072, 4096}));  // stop is inclusive
  EXPECT_EQ(positions(R"({"range": {"start": 5, "stop": 12, "step": 5}})"), (V{5, 10}));
  EXPECT_EQ(positions(R"({"range": {"start": 7, "stop": 7, "step": 100}})"), (V{7}));
  EXPECT_EQ(positions("[300, 64, 300, 2147483647]"), (V{64, 300, 2147483647}));
  EXPECT_EQ(positions(R"({"range": {"start": 1, "stop": 10000, "step": 1}})").size(), 10000u);
}

TEST(Scenario, DefaultsAndCanonicalForm) {
  const std::string text = scenario(R"({"positions": [64]})", "", R"(["deepseek-v3.1-terminus"])");
  const Scenario s = parse_scenario(text, "d.json", kScenarios);
  EXPECT_EQ(s.backends, std::vector<std::string>{"cpu"});
  EXPECT_EQ(s.sweep.phases.size(), 2u);
  EXPECT_EQ(s.sweep.prefill_chunk, 256);
  EXPECT_EQ(s.run.min_repetitions, RunSettings{}.min_repetitions);
  EXPECT_EQ(
      names(generate_points(s)),
      (std::vector<std::string>{"cpu/deepseek-v3.1-terminus/dense_prefill/prefill/L64/B1/sq64/f32",
                                "cpu/deepseek-v3.1-terminus/dense_decode/decode/L64/B1/sq2/f32"}));

  // Writing the defaults out, in another order and layout, is the same scenario.
  const std::string spelled = R"({"sweep": {"dtypes": ["f32"], "positions": [64, 64],
      "phases": ["decode", "prefill"], "prefill_chunk": 256, "decode_batches": [1], "top_k": []},
      "run": {"max_repetitions": 20}, "backends": ["cpu"], "description": "",
      "models": [)" + inline_model("deepseek-v3.1-terminus.json", json::object()) +
                              R"(], "name": "t"})";
  const Scenario same = parse_scenario(spelled, "e.json", "");
  EXPECT_EQ(same.canonical_json, s.canonical_json);
  EXPECT_EQ(same.hash, s.hash);
  const json c = json::parse(s.canonical_json);
  EXPECT_FALSE(c["sweep"].contains("operations"));  // each model's defaults
  EXPECT_EQ(c["models"][0]["heads"], 128);

  const Scenario other =
      parse_scenario(scenario(R"({"positions": [65]})", "", R"(["deepseek-v3.1-terminus"])"),
                     "d.json", kScenarios);
  EXPECT_NE(other.hash, s.hash);
}

TEST(JsonInput, Limits) {
  std::string deep = "1";
  for (int i = 0; i < kMaxInputDepth; ++i) deep = "[" + deep + "]";
  EXPECT_NO_THROW(parse_json(deep, "deep.json"));
  EXPECT_EQ(message_of([&] { parse_json("[" + deep + "]", "deep.json"); }).substr(0, 12),
            "deep.json: $");
  EXPECT_NE(message_of([&] { parse_json("[" + deep + "]", "deep.json"); }).find("nested deeper"),
            std::string::npos);
  EXPECT_EQ(message_of([] { parse_json(R"({"a": [1, {"b": 1, "b": 2}]})", "dup.json"); }),
            "dup.json: $.a[1].b: duplicate key 'b': each key may appear only once");
  // The same key in different objects is fine.
  EXPECT_NO_THROW(parse_json(R"({"a": {"b": 1}, "c": {"b": 1}, "b": [{"b": 1}, {"b": 2}]})", "x"));
  EXPECT_EQ(message_of([] { parse_json("[1, 2,", "t.json"); }).substr(0, 38),
            "t.json: $[2]: invalid JSON at byte 7 (");
  EXPECT_EQ(message_of([] { parse_json("{}  ", "s.json", 3); }),
            "s.json: $: input is 4 bytes, over the limit of 3 bytes");
  EXPECT_NE(message_of([] { parse_json("[\"\xc3\x28\"]", "u.json"); }).find("UTF-8"),
            std::string::npos);

  const fs::path tmp = fs::temp_directory_path() / "costcurve_test_scenario_limit.json";
  std::ofstream(tmp) << R"({"name": "x"})";
  EXPECT_NO_THROW(read_json_file(tmp, 13));
  EXPECT_EQ(message_of([&] { read_json_file(tmp, 12); }),
            tmp.string() + ": $: input is 13 bytes, over the limit of 12 bytes");
  fs::remove(tmp);
  EXPECT_EQ(message_of([&] { read_json_file(fs::temp_directory_path()); }),
            fs::temp_directory_path().string() + ": $: cannot read: not a regular file");
}

TEST(JsonInput, TypedFields) {
  const json j = json::parse(
      R"({"i": 3, "f": 3.5, "s": "3", "b": true, "big": 1e30, "neg": -2, "u": 18446744073709551615,
          "o": {"x": 1}, "a": [], "n": null, "extra": 0})");
  JsonObject o(j, "f.json");
  EXPECT_EQ(o.integer("i"), 3);
  EXPECT_EQ(o.integer("neg", -5, 5), -2);
  EXPECT_EQ(o.number("i"), 3.0);
  EXPECT_EQ(o.number("f"), 3.5);
  EXPECT_TRUE(o.boolean("b"));
  const auto err = [&](const std::function<void()>& f) { return message_of(f); };
  EXPECT_EQ(err([&] { o.integer("f"); }), "f.json: $.f: expected a positive integer, got 3.5");
  EXPECT_EQ(err([&] { o.integer("s"); }), "f.json: $.s: expected a positive integer, got \"3\"");
  EXPECT_EQ(err([&] { o.integer("b"); }), "f.json: $.b: expected a positive integer, got true");
  EXPECT_EQ(err([&] { o.integer("big"); }),
            "f.json: $.big: expected a positive integer, got 1e+30");
  EXPECT_EQ(err([&] { o.integer("u"); }),
            "f.json: $.u: expected a positive integer, got 18446744073709551615");
  EXPECT_EQ(err([&] { o.integer("neg", 0, 10); }),
            "f.json: $.neg: expected a non-negative integer <= 10, got -2");
  EXPECT_EQ(err([&] { o.number("s"); }), "f.json: $.s: expected a finite number, got \"3\"");
  EXPECT_EQ(err([&] { o.number("f", 0, 1); }), "f.json: $.f: expected a number in [0, 1], got 3.5");
  EXPECT_EQ(err([&] { o.string("i"); }), "f.json: $.i: expected a string, got 3");
  EXPECT_EQ(err([&] { o.boolean("n"); }), "f.json: $.n: expected true or false, got null");
  EXPECT_EQ(err([&] { o.array("a"); }),
            "f.json: $.a: expected a non-empty array, got an empty array");
  EXPECT_EQ(err([&] { o.object("a"); }), "f.json: $.a: expected an object, got an empty array");
  EXPECT_EQ(err([&] { o.integer("missing"); }),
            "f.json: $.missing: missing required field 'missing'");
  EXPECT_EQ(o.integer_or("absent", 7), 7);
  EXPECT_EQ(o.object("o").integer("x"), 1);
  EXPECT_EQ(
      err([&] { o.finish(); }),
      "f.json: $.extra: unknown field 'extra' (known: a, absent, b, big, f, i, missing, n, neg, o, "
      "s, u)");
}

// Bad input: the message starts with "<origin>: <path>: " and contains `fragment`.
struct Bad {
  const char* id;
  std::string text;  // parsed as "bad.json" with models from scenarios/
  std::string path;
  std::string fragment;
};

std::vector<Bad> bad_inputs() {
  const std::string dense = R"(["deepseek-v3.1-terminus"])";
  const std::string ok = R"({"positions": [64]})";
  const auto with_model = [&](const json& patch) {
    return scenario(ok, "", std::string("[") + inline_model("deepseek-v3.2.json", patch) + "]");
  };
  std::string deep = "1", too_deep_path = "$.description";
  for (int i = 0; i < 70; ++i) deep = "[" + deep + "]";
  for (int i = 1; i < kMaxInputDepth; ++i) too_deep_path += "[0]";
  std::string many = "[1";
  for (int i = 2; i <= 10001; ++i) (many += ',') += std::to_string(i);
  many += "]";
  return {
      {"too_many_positions", scenario(R"({"positions": )" + many + "}"), "$.sweep.positions",
       "expected at most 10000 positions, got 10001"},
      {"too_many_points",
       scenario(R"({"positions": {"range": {"start": 1, "stop": 10000, "step": 1}},
                    "decode_batches": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]})"),
       "$.sweep", "the sweep yields more than 100000 points"},
      {"typo_top_level", scenario(ok, R"(, "backend": ["cpu"])"), "$.backend",
       "unknown field 'backend' (did you mean 'backends'? known: backends, description, models, "
       "name, run, sweep)"},
      {"typo_required", R"({"name": "t", "models": ["deepseek-v3.2"], "swep": {}})", "$.sweep",
       "missing required field 'sweep' (found unknown field 'swep': a typo?)"},
      {"typo_sweep", scenario(R"({"positons": [64]})"), "$.sweep.positions",
       "found unknown field 'positons'"},
      {"typo_sweep_optional", scenario(R"({"positions": [64], "decode_batchs": [1]})"),
       "$.sweep.decode_batchs", "unknown field 'decode_batchs' (did you mean 'decode_batches'?"},
      {"typo_run", scenario(ok, R"(, "run": {"min_repetition": 2})"), "$.run.min_repetition",
       "unknown field 'min_repetition'"},
      {"op_dtypes_unknown_op", scenario(R"({"positions": [64], "op_dtypes": {"flash": ["f32"]}})"),
       "$.sweep.op_dtypes.flash", "\"flash\" is not a sweep operation"},
      {"op_dtypes_unknown_dtype",
       scenario(R"({"positions": [64], "op_dtypes": {"topk": ["f16"]}})"),
       "$.sweep.op_dtypes.topk[0]", "f16"},
      {"typo_generator", scenario(R"({"positions": {"powers_of_two": {"from": 1, "too": 8}}})"),
       "$.sweep.positions.powers_of_two.to", "found unknown field 'too'"},
      {"unknown_generator", scenario(R"({"positions": {"powers": {"from": 1, "to": 8}}})"),
       "$.sweep.positions.powers", "unknown field 'powers' (known: powers_of_two, range)"},
      {"typo_inline_model", with_model({{"indexer", {{"top_k", nullptr}, {"topk", 2048}}}}),
       "$.models[0].indexer.top_k", "missing required field 'top_k'"},
      {"name_not_string", R"({"name": 5, "models": ["deepseek-v3.2"], "sweep": {}})", "$.name",
       "expected a string, got 5"},
      {"bad_scenario_name", R"({"name": "a b", "models": ["deepseek-v3.2"], "sweep": {}})",
       "$.name", "expected a name of letters, digits"},
      {"models_not_array", scenario(ok, "", R"("deepseek-v3.2")"), "$.models",
       "expected a non-empty array, got \"deepseek-v3.2\""},
      {"model_wrong_type", scenario(ok, "", "[42]"), "$.models[0]",
       "expected a model name or a model object, got 42"},
      {"sweep_not_object", R"({"name": "t", "models": ["deepseek-v3.2"], "sweep": []})", "$.sweep",
       "expected an object, got an empty array"},
      {"chunk_string", scenario(R"({"positions": [64], "prefill_chunk": "256"})"),
       "$.sweep.prefill_chunk", "expected a positive integer <= 2147483647, got \"256\""},
      {"position_float", scenario(R"({"positions": [64, 3.5]})"), "$.sweep.positions[1]",
       "expected a positive integer <= 2147483647, got 3.5"},
      {"position_negative", scenario(R"({"positions": [64, 128, -5]})"), "$.sweep.positions[2]",
       "expected a positive integer <= 2147483647, got -5"},
      {"position_too_large", scenario(R"({"positions": [2147483648]})"), "$.sweep.positions[0]",
       "got 2147483648"},
      {"batch_zero", scenario(R"({"positions": [64], "decode_batches": [1, 0]})"),
       "$.sweep.decode_batches[1]", "expected a positive integer"},
      {"batch_bool", scenario(R"({"positions": [64], "decode_batches": [true]})"),
       "$.sweep.decode_batches[0]", "expected a positive integer <= 1048576, got true"},
      {"chunk_zero", scenario(R"({"positions": [64], "prefill_chunk": 0})"),
       "$.sweep.prefill_chunk", "expected a positive integer"},
      {"top_k_zero", scenario(R"({"positions": [64], "top_k": [2048, 0]})"), "$.sweep.top_k[1]",
       "expected a positive integer <= 2147483647, got 0"},
      {"unknown_operation", scenario(R"({"positions": [64], "operations": ["sparse"]})"),
       "$.sweep.operations[0]", "unknown operation \"sparse\" (known: dense_prefill,"},
      {"gemm_in_sweep", scenario(R"({"positions": [64], "operations": ["indexer", "gemm"]})"),
       "$.sweep.operations[1]", "\"gemm\" is not a sweep operation"},
      {"operation_twice", scenario(R"({"positions": [64], "operations": ["topk", "topk"]})"),
       "$.sweep.operations[1]", "operation \"topk\" is listed twice"},
      {"operations_empty", scenario(R"({"positions": [64], "operations": []})"),
       "$.sweep.operations", "expected a non-empty array"},
      {"unknown_phase", scenario(R"({"positions": [64], "phases": ["generate"]})"),
       "$.sweep.phases[0]", "unknown phase \"generate\" (known: prefill, decode)"},
      {"unknown_backend", scenario(ok, R"(, "backends": ["cpu", "tpu"])"), "$.backends[1]",
       "unknown backend \"tpu\" (known: cpu, cuda)"},
      {"unknown_dtype", scenario(R"({"positions": [64], "dtypes": ["fp16"]})"), "$.sweep.dtypes[0]",
       "unknown dtype \"fp16\" (known: f32, bf16, fp8_e4m3)"},
      {"empty_positions", scenario(R"({"positions": []})"), "$.sweep.positions",
       "expected at least one position"},
      {"positions_string", scenario(R"({"positions": "1024"})"), "$.sweep.positions",
       "expected an array of positions or a generator object"},
      {"two_generators", scenario(R"({"positions": {"powers_of_two": {"from": 1, "to": 2},
                                  "range": {"start": 1, "stop": 2, "step": 1}}})"),
       "$.sweep.positions", "expected exactly one generator"},
      {"powers_of_two_empty",
       scenario(R"({"positions": {"powers_of_two": {"from": 1000, "to": 1023}}})"),
       "$.sweep.positions.powers_of_two", "generates no positions"},
      {"range_empty", scenario(R"({"positions": {"range": {"start": 10, "stop": 5, "step": 1}}})"),
       "$.sweep.positions.range", "generates no positions: stop (5) is below start (10)"},
      {"range_too_many",
       scenario(R"({"positions": {"range": {"start": 1, "stop": 10001, "step": 1}}})"),
       "$.sweep.positions.range", "generates 10001 positions, more than the 10000 allowed"},
      {"range_step_zero",
       scenario(R"({"positions": {"range": {"start": 1, "stop": 5, "step": 0}}})"),
       "$.sweep.positions.range.step", "expected a positive integer"},
      {"no_operation_fits",
       scenario(R"({"positions": [64], "operations": ["indexer"]})", "", dense),
       "$.sweep.operations", "no listed operation applies to these models"},
      {"no_points",
       scenario(R"({"positions": [64], "operations": ["dense_decode"], "phases": ["prefill"]})"),
       "$.sweep", "the sweep yields no points"},
      {"decode_positions_too_short",
       scenario(R"({"positions": [1], "phases": ["decode"]})", "", dense), "$.sweep",
       "the sweep yields no points"},
      {"repetitions_reversed",
       scenario(ok, R"(, "run": {"min_repetitions": 5, "max_repetitions": 2})"),
       "$.run.max_repetitions", "max_repetitions (2) must be >= min_repetitions (5)"},
      {"min_repetitions_over_default", scenario(ok, R"(, "run": {"min_repetitions": 30})"),
       "$.run.min_repetitions", "max_repetitions (20) must be >= min_repetitions (30)"},
      {"repetitions_too_many", scenario(ok, R"(, "run": {"max_repetitions": 1001})"),
       "$.run.max_repetitions", "expected a positive integer <= 1000, got 1001"},
      {"times_reversed", scenario(ok, R"(, "run": {"min_time_s": 2, "max_time_s": 1})"),
       "$.run.max_time_s", "max_time_s (1.0) must be >= min_time_s (2.0)"},
      {"time_zero", scenario(ok, R"(, "run": {"min_time_s": 0})"), "$.run.min_time_s",
       "expected a number > 0, got 0"},
      {"noise_one", scenario(ok, R"(, "run": {"noise_target": 1})"), "$.run.noise_target",
       "expected a number in (0, 1), got 1"},
      {"warmup_negative", scenario(ok, R"(, "run": {"warmup_runs": -1})"), "$.run.warmup_runs",
       "expected a non-negative integer <= 100, got -1"},
      {"memory_negative", scenario(ok, R"(, "run": {"max_memory_gib": -1})"),
       "$.run.max_memory_gib", "expected a number >= 0, got -1"},
      {"run_not_object", scenario(ok, R"(, "run": 5)"), "$.run", "expected an object, got 5"},
      {"nan_literal", scenario(ok, R"(, "run": {"min_time_s": NaN})"), "$.run.min_time_s",
       "invalid JSON at byte"},
      {"nan_string", scenario(ok, R"(, "run": {"min_time_s": "NaN"})"), "$.run.min_time_s",
       "expected a finite number, got \"NaN\""},
      {"infinity_literal", scenario(ok, R"(, "run": {"max_time_s": Infinity})"), "$.run.max_time_s",
       "invalid JSON at byte"},
      {"number_overflow", scenario(ok, R"(, "run": {"max_time_s": 1e999})"), "$.run.max_time_s",
       "number overflow parsing '1e999'"},
      {"duplicate_key", R"({"name": "t", "name": "u", "models": ["deepseek-v3.2"], "sweep": {}})",
       "$.name", "duplicate key 'name'"},
      {"duplicate_nested_key", scenario(R"({"positions": [64], "positions": [128]})"),
       "$.sweep.positions", "duplicate key 'positions'"},
      {"too_deep", scenario(ok, R"(, "description": )" + deep), too_deep_path,
       "nested deeper than 64 levels"},
      {"truncated", scenario(ok).substr(0, 50), "$.sweep",
       "invalid JSON at byte 51 (line 1, column 51): syntax error"},
      {"empty_text", "", "$", "invalid JSON at byte 1"},
      {"not_an_object", "[]", "$", "expected an object, got an empty array"},
      {"invalid_utf8", scenario(ok, ", \"description\": \"caf\xe9\""), "$.description",
       "ill-formed UTF-8"},
      {"model_path_escape", scenario(ok, "", R"(["../deepseek-v3.2"])"), "$.models[0]",
       "expected a model name of letters, digits"},
      {"model_absolute_path", scenario(ok, "", R"(["/etc/passwd"])"), "$.models[0]",
       "expected a model name of letters, digits"},
      {"missing_model_file", scenario(ok, "", R"(["deepseek-v9"])"), "$.models[0]",
       "no model file"},
      {"duplicate_model", scenario(ok, "", R"(["deepseek-v3.2", "deepseek-v3.2"])"), "$.models[1]",
       "model 'deepseek-v3.2' is listed twice (also at [0])"},
      {"inline_dsa_without_indexer", with_model({{"indexer", nullptr}}), "$.models[0].indexer",
       "missing required field 'indexer': a dsa model needs"},
      {"inline_dense_with_indexer", with_model({{"attention", "dense_mla"}}), "$.models[0].indexer",
       "only dsa models have an indexer"},
      {"inline_unknown_attention", with_model({{"attention", "sparse"}}), "$.models[0].attention",
       "expected \"dense_mla\" or \"dsa\", got \"sparse\""},
      {"inline_dense_layers", with_model({{"dense_layers", 61}}), "$.models[0].dense_layers",
       "expected a non-negative integer <= 60, got 61"},
      {"inline_experts", with_model({{"experts_per_token", 300}}), "$.models[0].experts_per_token",
       "expected a positive integer <= 256, got 300"},
      {"inline_heads_negative", with_model({{"heads", -128}}), "$.models[0].heads",
       "expected a positive integer <= 1048576, got -128"},
      {"inline_scale_zero", with_model({{"softmax_scale", 0}}), "$.models[0].softmax_scale",
       "expected a number > 0, got 0"},
      {"inline_index_top_k_zero", with_model({{"indexer", {{"top_k", 0}}}}),
       "$.models[0].indexer.top_k", "expected a positive integer <= 2147483647, got 0"},
  };
}

void PrintTo(const Bad& b, std::ostream* os) {
  *os << b.id;
}

class BadScenario : public testing::TestWithParam<Bad> {};

TEST_P(BadScenario, IsRefusedWithFileAndPath) {
  const Bad& b = GetParam();
  const std::string msg = message_of([&] { parse_scenario(b.text, "bad.json", kScenarios); });
  const std::string head = "bad.json: " + b.path + ": ";
  EXPECT_EQ(msg.substr(0, head.size()), head) << msg;
  EXPECT_NE(msg.find(b.fragment), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(Scenario, BadScenario, testing::ValuesIn(bad_inputs()),
                         [](const testing::TestParamInfo<Bad>& i) { return i.param.id; });

// Bad files: messages name the file that is wrong (a model file when the model is wrong).
TEST(BadScenarioFile, IsRefusedWithFileAndPath) {
  struct Case {
    const char* file;
    std::string head;  // expected start of the message
    std::string fragment;
  };
  const std::string d = kData.string() + "/";
  for (const Case& c : std::vector<Case>{
           {"missing_model.json", d + "missing_model.json: $.models[1]: ",
            "no model file " + (kData / "models" / "nosuchmodel.json").string()},
           {"dsa_no_indexer.json", d + "models/dsa-no-indexer.json: $.indexer: ",
            "(model of " + d + "dsa_no_indexer.json: $.models[0])"},
           {"model_extra_field.json",
            d + "models/extra-field.json: $.comments: ", "unknown field 'comments'"},
           {"typo_in_run.json", d + "typo_in_run.json: $.run.max_repetitons: ",
            "unknown field 'max_repetitons' (did you mean 'max_repetitions'?"},
           {"truncated.json",
            d + "truncated.json: $.sweep.positions[2]: ", "unexpected end of input"},
           {"no_such_file.json", d + "no_such_file.json: $: ", "cannot read: no such file"},
       }) {
    const std::string msg = message_of([&] { load_scenario(kData / c.file); });
    EXPECT_EQ(msg.substr(0, c.head.size()), c.head) << msg;
    EXPECT_NE(msg.find(c.fragment), std::string::npos) << msg;
  }
}

TEST(BadScenarioFile, TooLargeIsRefusedBeforeReading) {
  const fs::path big = fs::temp_directory_path() / "costcurve_test_scenario_big.json";
  { std::ofstream(big) << " "; }
  fs::resize_file(big, kMaxInputBytes + 1);  // sparse: nothing is written or read
  const std::string msg = message_of([&] { load_scenario(big); });
  fs::remove(big);
  EXPECT_EQ(msg, big.string() + ": $: input is " + std::to_string(kMaxInputBytes + 1) +
                     " bytes, over the limit of " + std::to_string(kMaxInputBytes) + " bytes");
}

}  // namespace
}  // namespace costcurve

namespace costcurve {
namespace {

TEST(Scenario, ColdRunsAreAnExplicitBoolean) {
  const fs::path dir = COSTCURVE_SOURCE_DIR "/scenarios";
  const std::string base =
      R"({"name": "t", "models": ["deepseek-v3.2"], "sweep": {"positions": [64]}, "run": )";
  EXPECT_TRUE(parse_scenario(base + R"({"cold": true}})", "c.json", dir).run.cold);
  EXPECT_FALSE(parse_scenario(base + R"({}})", "c.json", dir).run.cold);
  try {
    parse_scenario(base + R"({"cold": 1}})", "c.json", dir);
    FAIL() << "accepted cold: 1";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("$.run.cold"), std::string::npos) << e.what();
  }
}

TEST(Backend, CpuCacheFlushRuns) {
  auto be = make_backend("cpu", 1);
  be->flush_caches();
  SUCCEED();
}

}  // namespace
}  // namespace costcurve

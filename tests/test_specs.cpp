// Cost model specs (hardware, pricing, deployments): the shipped files load with the numbers of the
// reference, names resolve to files, and every kind of bad input is refused with a message that
// names the input, the JSON path and what was expected.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "cost_model/specs.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kScenarios = fs::path(COSTCURVE_SOURCE_DIR) / "scenarios";
const fs::path kData = fs::path(COSTCURVE_SOURCE_DIR) / "tests" / "data" / "specs";

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<fs::path> json_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".json") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::set<std::string> stems(const fs::path& dir) {
  std::set<std::string> out;
  for (const fs::path& p : json_files(dir)) out.insert(p.stem().string());
  return out;
}

TEST(Specs, ShippedHardwareLoads) {
  const std::set<std::string> expected = {"h100-sxm", "h800-sxm", "h200-sxm", "b200",
                                          "cpu-epyc-2core"};
  for (const std::string& n : expected) EXPECT_TRUE(stems(kScenarios / "hardware").count(n)) << n;
  for (const fs::path& file : json_files(kScenarios / "hardware")) {
    SCOPED_TRACE(file.string());
    const HardwareSpec h = load_hardware(file);
    EXPECT_EQ(h.name, file.stem().string());
    EXPECT_FALSE(h.source.empty());
    EXPECT_GT(h.flops(DType::f32), 0);
    EXPECT_GT(h.flops(DType::bf16), 0);
    EXPECT_GT(h.flops(DType::fp8_e4m3), 0);
    // Every number reads back as written.
    const json j = read_json_file(file);
    EXPECT_EQ(h.kind, j.at("kind").get<std::string>());
    EXPECT_EQ(h.display_name, j.at("display_name").get<std::string>());
    EXPECT_EQ(h.bf16_flops, j.at("bf16_flops").get<double>());
    EXPECT_EQ(h.fp8_flops, j.at("fp8_flops").get<double>());
    EXPECT_EQ(h.f32_flops, j.at("f32_flops").get<double>());
    EXPECT_EQ(h.memory_bandwidth, j.at("memory_bandwidth").get<double>());
    EXPECT_EQ(h.memory_bytes, j.at("memory_bytes").get<double>());
    EXPECT_EQ(h.interconnect_bandwidth, j.at("interconnect_bandwidth").get<double>());
  }
}

TEST(Specs, ShippedHardwareMatchesTheReference) {
  const HardwareSpec h800 = load_hardware(kScenarios / "hardware" / "h800-sxm.json");
  EXPECT_EQ(h800.kind, "gpu");
  EXPECT_EQ(h800.bf16_flops, 9.89e14);
  EXPECT_EQ(h800.fp8_flops, 1.979e15);
  EXPECT_EQ(h800.memory_bandwidth, 3.35e12);
  EXPECT_EQ(h800.interconnect_bandwidth, 4e11);
  const HardwareSpec h100 = load_hardware(kScenarios / "hardware" / "h100-sxm.json");
  EXPECT_EQ(h100.interconnect_bandwidth, 9e11);
  const HardwareSpec h200 = load_hardware(kScenarios / "hardware" / "h200-sxm.json");
  EXPECT_EQ(h200.memory_bandwidth, 4.8e12);
  EXPECT_EQ(h200.memory_bytes, 1.41e11);
  const HardwareSpec b200 = load_hardware(kScenarios / "hardware" / "b200.json");
  EXPECT_EQ(b200.bf16_flops, 2.25e15);
  EXPECT_EQ(b200.fp8_flops, 4.5e15);
  EXPECT_EQ(b200.memory_bandwidth, 8e12);
  EXPECT_EQ(b200.memory_bytes, 192e9);
  const HardwareSpec cpu = load_hardware(kScenarios / "hardware" / "cpu-epyc-2core.json");
  EXPECT_EQ(cpu.kind, "cpu");
  EXPECT_EQ(cpu.f32_flops, 2.1e11);
  EXPECT_EQ(cpu.bf16_flops, cpu.f32_flops);
  EXPECT_EQ(cpu.memory_bandwidth, 9.4e10);
  EXPECT_EQ(cpu.memory_bytes, 24.0 * (1 << 30));
  EXPECT_EQ(cpu.interconnect_bandwidth, 0);
  EXPECT_NE(cpu.source.find("measured by costcurve ceilings, 2026-11-23"), std::string::npos);
}

TEST(Specs, ShippedPricingLoads) {
  const std::set<std::string> hardware = stems(kScenarios / "hardware");
  for (const char* n : {"h800", "h100", "h200", "b200", "cpu-epyc-2core"})
    EXPECT_TRUE(stems(kScenarios / "pricing").count(n)) << n;
  for (const fs::path& file : json_files(kScenarios / "pricing")) {
    SCOPED_TRACE(file.string());
    const PricingSpec p = load_pricing(file);
    EXPECT_EQ(p.name, file.stem().string());
    EXPECT_TRUE(hardware.count(p.hardware)) << "no hardware spec " << p.hardware;
    const PriceTier& def = p.tier(p.default_tier);
    EXPECT_EQ(def.tier, p.default_tier);
    const json j = read_json_file(file);
    ASSERT_EQ(p.tiers.size(), j.at("tiers").size());
    for (std::size_t i = 0; i < p.tiers.size(); ++i) {
      EXPECT_EQ(p.tiers[i].tier, j["tiers"][i].at("tier").get<std::string>());
      EXPECT_EQ(p.tiers[i].usd_per_hour, j["tiers"][i].at("usd_per_hour").get<double>());
      EXPECT_EQ(p.tiers[i].date, j["tiers"][i].at("date").get<std::string>());
      EXPECT_FALSE(p.tiers[i].source.empty());
    }
  }
  const PricingSpec h800 = load_pricing(kScenarios / "pricing" / "h800.json");
  EXPECT_EQ(h800.hardware, "h800-sxm");
  EXPECT_EQ(h800.default_tier, "rental");
  EXPECT_EQ(h800.tier("rental").usd_per_hour, 2.0);
  const PricingSpec b200 = load_pricing(kScenarios / "pricing" / "b200.json");
  EXPECT_EQ(b200.tier("owned-hyperscaler").usd_per_hour, 1.95);
  EXPECT_EQ(b200.tier("neocloud").usd_per_hour, 2.34);
  EXPECT_EQ(b200.tier("rental-3-year").usd_per_hour, 2.90);
  EXPECT_EQ(load_pricing(kScenarios / "pricing" / "h100.json").tier("neocloud").usd_per_hour, 1.69);
  EXPECT_EQ(load_pricing(kScenarios / "pricing" / "h200.json").tier("rental-3-year").usd_per_hour,
            1.60);
}

TEST(Specs, ShippedDeploymentsLoad) {
  for (const char* n : {"deepseek-h800", "single-cpu"})
    EXPECT_TRUE(stems(kScenarios / "deployments").count(n)) << n;
  for (const fs::path& file : json_files(kScenarios / "deployments")) {
    SCOPED_TRACE(file.string());
    const DeploymentSpec d = load_deployment(file);
    EXPECT_EQ(d.name, file.stem().string());
    EXPECT_GE(d.prefill.chunk_tokens, 1);
    EXPECT_GE(d.decode.batch_per_gpu, 1);
    EXPECT_GE(d.decode.query_tokens, 1);
  }
  const DeploymentSpec ds = load_deployment(kScenarios / "deployments" / "deepseek-h800.json");
  EXPECT_EQ(ds.prefill.gpus, 32);
  EXPECT_EQ(ds.prefill.expert_parallel, 32);
  EXPECT_EQ(ds.prefill.data_parallel, 32);
  EXPECT_EQ(ds.prefill.tensor_parallel, 1);
  EXPECT_EQ(ds.prefill.chunk_tokens, 16384);
  EXPECT_EQ(ds.prefill.batch_per_gpu, 0);  // not a prefill field
  EXPECT_EQ(ds.decode.gpus, 144);
  EXPECT_EQ(ds.decode.expert_parallel, 144);
  EXPECT_EQ(ds.decode.data_parallel, 144);
  EXPECT_EQ(ds.decode.query_tokens, 2);
  EXPECT_EQ(ds.decode.chunk_tokens, 0);  // not a decode field
  EXPECT_EQ(ds.decode.efficiency, 0.7);
  EXPECT_EQ(ds.decode.overlap, 0.8);
  const DeploymentSpec cpu = load_deployment(kScenarios / "deployments" / "single-cpu.json");
  EXPECT_EQ(cpu.prefill.gpus, 1);
  EXPECT_EQ(cpu.prefill.chunk_tokens, 128);
  EXPECT_EQ(cpu.decode.batch_per_gpu, 1);
  EXPECT_EQ(cpu.decode.query_tokens, 2);
  EXPECT_EQ(cpu.decode.efficiency, 1.0);
  EXPECT_EQ(cpu.decode.overlap, 0.0);
}

TEST(Specs, FlopsFallBack) {
  HardwareSpec gpu;
  gpu.bf16_flops = 1e15;
  gpu.fp8_flops = 2e15;
  EXPECT_EQ(gpu.flops(DType::bf16), 1e15);
  EXPECT_EQ(gpu.flops(DType::fp8_e4m3), 2e15);
  EXPECT_EQ(gpu.flops(DType::f32), 1e15);  // f32 unknown: the bf16 rate
  gpu.f32_flops = 6.7e13;
  EXPECT_EQ(gpu.flops(DType::f32), 6.7e13);
  HardwareSpec cpu;
  cpu.f32_flops = 2e11;
  EXPECT_EQ(cpu.flops(DType::bf16), 2e11);      // bf16 computed in f32
  EXPECT_EQ(cpu.flops(DType::fp8_e4m3), 2e11);  // no fp8: converted and computed like bf16
  cpu.bf16_flops = 4e11;
  EXPECT_EQ(cpu.flops(DType::fp8_e4m3), 4e11);
}

TEST(Specs, UnknownTierListsTheKnownOnes) {
  const PricingSpec b200 = load_pricing(kScenarios / "pricing" / "b200.json");
  const std::string m = message_of([&] { b200.tier("spot"); });
  EXPECT_NE(m.find("b200"), std::string::npos) << m;
  EXPECT_NE(m.find("$.tiers"), std::string::npos) << m;
  EXPECT_NE(m.find("\"spot\""), std::string::npos) << m;
  EXPECT_NE(m.find("known: owned-hyperscaler, neocloud, rental-3-year"), std::string::npos) << m;
}

TEST(Specs, ResolveSpec) {
  // A bare name is looked up under <scenarios>/<kind>/.
  EXPECT_EQ(resolve_spec("h800-sxm", "hardware", kScenarios),
            kScenarios / "hardware" / "h800-sxm.json");
  EXPECT_EQ(resolve_spec("deepseek-h800", "deployments", kScenarios),
            kScenarios / "deployments" / "deepseek-h800.json");
  EXPECT_EQ(resolve_spec("deepseek-v3.2", "models", kScenarios),
            kScenarios / "models" / "deepseek-v3.2.json");
  // A path to a .json file is taken as it is, wherever it lies.
  const fs::path file = kData / "hardware" / "misnamed.json";
  EXPECT_EQ(resolve_spec(file.string(), "hardware", kScenarios), file);
  // Names that could escape the directory, or are no name at all, are refused.
  for (const char* bad : {"../x", "a/b", "", "h800 sxm", "..\\x", "x/"}) {
    const std::string m = message_of([&] { resolve_spec(bad, "hardware", kScenarios); });
    EXPECT_NE(m.find("expected a name of letters, digits"), std::string::npos) << bad << ": " << m;
  }
  std::string m = message_of([&] { resolve_spec("h900", "hardware", kScenarios); });
  EXPECT_NE(m.find("h900.json"), std::string::npos) << m;
  EXPECT_NE(m.find("known: b200, cpu-epyc-2core, h100-sxm"), std::string::npos) << m;
  m = message_of([&] { resolve_spec("/nonexistent/h800.json", "pricing", kScenarios); });
  EXPECT_NE(m.find("no such file /nonexistent/h800.json"), std::string::npos) << m;
  const fs::path dir = fs::temp_directory_path() / "costcurve-test-specs.json";
  fs::create_directories(dir);
  m = message_of([&] { resolve_spec(dir.string(), "pricing", kScenarios); });
  fs::remove(dir);
  EXPECT_NE(m.find("not a regular file"), std::string::npos) << m;
  EXPECT_THROW(resolve_spec("h800-sxm", "gpus", kScenarios), std::invalid_argument);
}

TEST(Specs, BadFilesNameTheFile) {
  const fs::path misnamed = kData / "hardware" / "misnamed.json";
  EXPECT_NO_THROW(parse_hardware(read_text_file(misnamed), "text"));
  std::string m = message_of([&] { load_hardware(misnamed); });
  EXPECT_EQ(
      m, misnamed.string() + ": $.name: expected \"misnamed\" (the file's name), got \"h800-sxm\"");
  const fs::path typo = kData / "pricing" / "typo.json";
  m = message_of([&] { load_pricing(typo); });
  EXPECT_EQ(m.rfind(typo.string() + ": $.tiers[0].usd_per_hour: missing required field", 0), 0u)
      << m;
  EXPECT_NE(m.find("usd_per_hr"), std::string::npos) << m;
  const fs::path truncated = kData / "deployments" / "truncated.json";
  m = message_of([&] { load_deployment(truncated); });
  EXPECT_NE(m.find(truncated.string() + ": $.prefill"), std::string::npos) << m;
  EXPECT_NE(m.find("invalid JSON"), std::string::npos) << m;
  m = message_of([&] { load_deployment(kData / "deployments" / "absent.json"); });
  EXPECT_NE(m.find("absent.json: $: cannot read: no such file"), std::string::npos) << m;
}

// Valid inputs that each bad case changes in one place.
json good_hardware() {
  return json::parse(R"({"name": "t", "display_name": "T", "kind": "gpu", "source": "s",
    "bf16_flops": 9.89e14, "fp8_flops": 1.979e15, "f32_flops": 6.7e13,
    "memory_bandwidth": 3.35e12, "memory_bytes": 8e10, "interconnect_bandwidth": 4e11})");
}
json good_pricing() {
  return json::parse(R"({"name": "t", "hardware": "h800-sxm", "default_tier": "rental",
    "tiers": [{"tier": "rental", "usd_per_hour": 2.0, "date": "2025-09", "source": "s"},
              {"tier": "neocloud", "usd_per_hour": 1.5, "date": "2025-09-30", "source": "s"}]})");
}
json good_deployment() {
  return json::parse(R"({"name": "t", "description": "d", "source": "s",
    "prefill": {"gpus": 32, "expert_parallel": 32, "tensor_parallel": 1, "data_parallel": 32,
                "chunk_tokens": 16384, "efficiency": 0.7, "overlap": 0.8},
    "decode": {"gpus": 144, "expert_parallel": 144, "tensor_parallel": 1, "data_parallel": 144,
               "batch_per_gpu": 88, "query_tokens": 2, "efficiency": 0.7, "overlap": 0.8}})");
}

TEST(Specs, GoodInputsParse) {
  EXPECT_NO_THROW(parse_hardware(good_hardware().dump(), "t.json"));
  EXPECT_NO_THROW(parse_pricing(good_pricing().dump(), "t.json"));
  EXPECT_NO_THROW(parse_deployment(good_deployment().dump(), "t.json"));
  json cpu = good_hardware();
  cpu.merge_patch(json::parse(R"({"kind": "cpu", "bf16_flops": 0, "fp8_flops": 0,
                                  "interconnect_bandwidth": 0})"));
  EXPECT_NO_THROW(parse_hardware(cpu.dump(), "t.json"));
  json leap = good_pricing();
  leap["tiers"][0]["date"] = "2024-02-29";
  EXPECT_NO_THROW(parse_pricing(leap.dump(), "t.json"));
}

struct BadCase {
  const char* what;
  char spec;  // 'h'ardware, 'p'ricing, 'd'eployment
  std::function<std::string()> text;
  std::string path;      // the JSON path the message names
  std::string fragment;  // and what it says
};

// A good input of kind `spec` changed by `edit`.
std::function<std::string()> edited(char spec, std::function<void(json&)> edit) {
  return [spec, edit] {
    json j = spec == 'h' ? good_hardware() : spec == 'p' ? good_pricing() : good_deployment();
    edit(j);
    return j.dump();
  };
}
std::function<std::string()> raw(std::string text) {
  return [text] { return text; };
}

std::vector<BadCase> bad_cases() {
  const std::string flops = "expected a number in FLOP/s, e.g. 9.89e14";
  const std::string price = "expected a price in USD per device-hour, a number in (0, 1000)";
  const std::string date = "expected a date YYYY-MM or YYYY-MM-DD";
  return {
      // hardware
      {"unknown key", 'h', edited('h', [](json& j) { j["bf16_flop"] = 1e15; }), "$.bf16_flop",
       "unknown field 'bf16_flop' (did you mean 'bf16_flops'?"},
      {"wrong type", 'h', edited('h', [](json& j) { j["kind"] = 3; }), "$.kind",
       "expected a string, got 3"},
      {"string where number", 'h', edited('h', [](json& j) { j["bf16_flops"] = "989 TFLOP/s"; }),
       "$.bf16_flops", flops + " (a plain number, without units), got \"989 TFLOP/s\""},
      {"boolean where number", 'h', edited('h', [](json& j) { j["fp8_flops"] = true; }),
       "$.fp8_flops", flops + ", got true"},
      {"TFLOP/s instead of FLOP/s", 'h', edited('h', [](json& j) { j["bf16_flops"] = 989; }),
       "$.bf16_flops", flops + ", between 1e+09 and 1e+18 (or 0), got 989"},
      {"negative bandwidth", 'h', edited('h', [](json& j) { j["memory_bandwidth"] = -3.35e12; }),
       "$.memory_bandwidth",
       "expected a number in bytes/s, e.g. 3.35e12, between 1e+09 and 1e+15, got -3.35e+12"},
      {"zero bandwidth", 'h', edited('h', [](json& j) { j["memory_bandwidth"] = 0; }),
       "$.memory_bandwidth", "expected a number in bytes/s"},
      {"negative interconnect", 'h', edited('h', [](json& j) { j["interconnect_bandwidth"] = -1; }),
       "$.interconnect_bandwidth", "(or 0), got -1"},
      {"huge memory", 'h', edited('h', [](json& j) { j["memory_bytes"] = 1e300; }),
       "$.memory_bytes", "expected a number in bytes, e.g. 8e10, between"},
      {"number overflow", 'h', raw(R"({"name": "t", "bf16_flops": 1e400})"), "$.bf16_flops",
       "invalid JSON"},
      {"NaN", 'h', raw(R"({"name": "t", "bf16_flops": NaN})"), "$.bf16_flops", "invalid JSON"},
      {"missing key", 'h', edited('h', [](json& j) { j.erase("memory_bytes"); }), "$.memory_bytes",
       "missing required field 'memory_bytes'"},
      {"kind tpu", 'h', edited('h', [](json& j) { j["kind"] = "tpu"; }), "$.kind",
       "expected \"gpu\" or \"cpu\", got \"tpu\""},
      {"name with /", 'h', edited('h', [](json& j) { j["name"] = "a/b"; }), "$.name",
       "expected a name of letters, digits, '.', '_' and '-', got \"a/b\""},
      {"gpu without bf16", 'h', edited('h', [](json& j) { j["bf16_flops"] = 0; }), "$.bf16_flops",
       "a gpu needs its dense bf16 tensor rate"},
      {"cpu without f32", 'h',
       edited('h',
              [](json& j) {
                j.merge_patch({{"kind", "cpu"}, {"f32_flops", 0}});
              }),
       "$.f32_flops", "a cpu needs its f32 rate"},
      {"empty source", 'h', edited('h', [](json& j) { j["source"] = " "; }), "$.source",
       "expected a non-empty string"},
      {"not an object", 'h', raw("[1, 2]"), "$", "expected an object, got an array"},
      {"duplicate key", 'h', raw(R"({"name": "t", "name": "u"})"), "$.name", "duplicate key"},
      // pricing
      {"bad month", 'p', edited('p', [](json& j) { j["tiers"][0]["date"] = "2025-13"; }),
       "$.tiers[0].date", date + ", e.g. \"2025-09\", got \"2025-13\""},
      {"date in words", 'p', edited('p', [](json& j) { j["tiers"][1]["date"] = "Sep 2025"; }),
       "$.tiers[1].date", date},
      {"no such day", 'p', edited('p', [](json& j) { j["tiers"][1]["date"] = "2025-02-29"; }),
       "$.tiers[1].date", date},
      {"duplicate tier", 'p', edited('p', [](json& j) { j["tiers"][1]["tier"] = "rental"; }),
       "$.tiers[1].tier", "tier \"rental\" is listed twice (also at $.tiers[0])"},
      {"default tier missing", 'p', edited('p', [](json& j) { j["default_tier"] = "spot"; }),
       "$.default_tier", "expected one of the tiers (rental, neocloud), got \"spot\""},
      {"price 0", 'p', edited('p', [](json& j) { j["tiers"][0]["usd_per_hour"] = 0; }),
       "$.tiers[0].usd_per_hour", price + ", e.g. 2.0, got 0"},
      {"price 1000", 'p', edited('p', [](json& j) { j["tiers"][1]["usd_per_hour"] = 1000; }),
       "$.tiers[1].usd_per_hour", price},
      {"price as text", 'p', edited('p', [](json& j) { j["tiers"][0]["usd_per_hour"] = "$2"; }),
       "$.tiers[0].usd_per_hour", price + ", e.g. 2.0, got \"$2\""},
      {"no tiers", 'p', edited('p', [](json& j) { j["tiers"] = json::array(); }), "$.tiers",
       "expected a non-empty array, got an empty array"},
      {"unknown tier key", 'p', edited('p', [](json& j) { j["tiers"][0]["region"] = "us"; }),
       "$.tiers[0].region", "unknown field 'region'"},
      {"tier not an object", 'p', edited('p', [](json& j) { j["tiers"][1] = 2.0; }), "$.tiers[1]",
       "expected an object, got 2.0"},
      // deployments
      {"degree above gpus", 'd', edited('d', [](json& j) { j["prefill"]["expert_parallel"] = 64; }),
       "$.prefill.expert_parallel", "expected at most gpus (32), got 64"},
      {"degree not a divisor", 'd',
       edited('d', [](json& j) { j["decode"]["expert_parallel"] = 100; }),
       "$.decode.expert_parallel", "expected a divisor of gpus (144), got 100"},
      {"tp x dp != gpus", 'd', edited('d', [](json& j) { j["decode"]["data_parallel"] = 72; }),
       "$.decode.data_parallel", "tensor_parallel x data_parallel (1 x 72) must equal gpus (144)"},
      {"efficiency 0", 'd', edited('d', [](json& j) { j["decode"]["efficiency"] = 0; }),
       "$.decode.efficiency", "expected a number in (0, 1], e.g. 0.7, got 0"},
      {"efficiency 1.5", 'd', edited('d', [](json& j) { j["prefill"]["efficiency"] = 1.5; }),
       "$.prefill.efficiency", "expected a number in (0, 1], e.g. 0.7, got 1.5"},
      {"overlap below 0", 'd', edited('d', [](json& j) { j["prefill"]["overlap"] = -0.1; }),
       "$.prefill.overlap", "expected a number in [0, 1], e.g. 0.8, got -0.1"},
      {"batch_per_gpu in prefill", 'd',
       edited('d', [](json& j) { j["prefill"]["batch_per_gpu"] = 8; }), "$.prefill.batch_per_gpu",
       "batch_per_gpu applies only to decode"},
      {"query_tokens in prefill", 'd',
       edited('d', [](json& j) { j["prefill"]["query_tokens"] = 2; }), "$.prefill.query_tokens",
       "query_tokens applies only to decode"},
      {"chunk_tokens in decode", 'd', edited('d', [](json& j) { j["decode"]["chunk_tokens"] = 8; }),
       "$.decode.chunk_tokens", "chunk_tokens applies only to prefill"},
      {"missing decode", 'd', edited('d', [](json& j) { j.erase("decode"); }), "$.decode",
       "missing required field 'decode'"},
      {"decode not an object", 'd', edited('d', [](json& j) { j["decode"] = json::array(); }),
       "$.decode", "expected an object, got an empty array"},
      {"gpus 0", 'd', edited('d', [](json& j) { j["prefill"]["gpus"] = 0; }), "$.prefill.gpus",
       "expected a positive integer"},
      {"fractional gpus", 'd', edited('d', [](json& j) { j["decode"]["gpus"] = 2.5; }),
       "$.decode.gpus", "expected a positive integer"},
      {"batch_per_gpu 0", 'd', edited('d', [](json& j) { j["decode"]["batch_per_gpu"] = 0; }),
       "$.decode.batch_per_gpu", "expected a positive integer"},
      {"missing query_tokens", 'd', edited('d', [](json& j) { j["decode"].erase("query_tokens"); }),
       "$.decode.query_tokens", "missing required field 'query_tokens'"},
      {"missing chunk_tokens", 'd',
       edited('d', [](json& j) { j["prefill"].erase("chunk_tokens"); }), "$.prefill.chunk_tokens",
       "missing required field 'chunk_tokens'"},
      {"unknown phase key", 'd', edited('d', [](json& j) { j["decode"]["pipeline"] = 2; }),
       "$.decode.pipeline", "unknown field 'pipeline'"},
  };
}

TEST(SpecErrors, BadInputsAreRefusedWithFileAndPath) {
  const std::vector<BadCase> cases = bad_cases();
  EXPECT_GE(cases.size(), 20u);
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string text = c.text();
    const std::string m = message_of([&] {
      if (c.spec == 'h') parse_hardware(text, "t.json");
      if (c.spec == 'p') parse_pricing(text, "t.json");
      if (c.spec == 'd') parse_deployment(text, "t.json");
    });
    const std::string prefix = "t.json: " + c.path + ": ";
    EXPECT_EQ(m.rfind(prefix, 0), 0u) << "expected the prefix '" << prefix << "' in: " << m;
    EXPECT_NE(m.find(c.fragment), std::string::npos) << "expected '" << c.fragment << "' in: " << m;
  }
}

}  // namespace
}  // namespace costcurve

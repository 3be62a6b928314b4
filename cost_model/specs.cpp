#include "cost_model/specs.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace costcurve {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kMaxGpus = 1 << 20;
constexpr std::int64_t kMaxChunkTokens = std::int64_t{1} << 24;
constexpr std::int64_t kMaxBatchPerGpu = 1 << 20;
constexpr std::int64_t kMaxQueryTokens = 1024;
constexpr std::size_t kMaxTiers = 100;
constexpr double kMaxUsdPerHour = 1000;

// A required string with something in it besides white space.
std::string text_field(JsonObject& o, const std::string& key) {
  std::string s = o.string(key);
  if (std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }))
    o.fail(key, "expected a non-empty string, got " + describe_value(s));
  return s;
}

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// A value for messages; numbers as written in specs ("-3.35e+12", not "-3350000000000.0").
std::string show(const json& v) {
  if (!v.is_number_float()) return describe_value(v);
  std::ostringstream os;
  os << std::setprecision(10) << v.get<double>();
  return os.str();
}

// A physical quantity given as a plain JSON number in base units. The plausible range catches
// numbers written in the wrong unit (989 meant as TFLOP/s); zero_ok admits 0 ("none"/"unknown").
struct Quantity {
  const char* unit;
  const char* example;
  double min, max;
  bool zero_ok;
};
constexpr Quantity kFlops = {"FLOP/s", "9.89e14", 1e9, 1e18, true};
constexpr Quantity kBandwidth = {"bytes/s", "3.35e12", 1e9, 1e15, false};
constexpr Quantity kInterconnect = {"bytes/s", "9e11", 1e8, 1e15, true};
constexpr Quantity kBytes = {"bytes", "8e10", 1e8, 1e16, false};

double quantity(JsonObject& o, const std::string& key, const Quantity& q) {
  const json& v = o.any(key);
  const std::string expected =
      std::string("expected a number in ") + q.unit + ", e.g. " + q.example;
  if (!v.is_number())
    o.fail(key, expected + (v.is_string() ? " (a plain number, without units)" : "") + ", got " +
                    show(v));
  const double d = v.get<double>();
  if (d == 0 && q.zero_ok) return 0;
  if (!std::isfinite(d) || d < q.min || d > q.max)
    o.fail(key, expected + ", between " + format_number(q.min) + " and " + format_number(q.max) +
                    (q.zero_ok ? " (or 0)" : "") + ", got " + show(v));
  return d;
}

// A number in (lo, hi] or [lo, hi], e.g. an efficiency.
double fraction(JsonObject& o, const std::string& key, bool open_below, const char* example) {
  const json& v = o.any(key);
  const std::string expected = std::string("expected a number in ") +
                               (open_below ? "(0, 1]" : "[0, 1]") + ", e.g. " + example;
  if (!v.is_number()) o.fail(key, expected + ", got " + show(v));
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < 0 || d > 1 || (open_below && d == 0))
    o.fail(key, expected + ", got " + show(v));
  return d;
}

bool is_digits(const std::string& s, std::size_t pos, std::size_t n) {
  return pos + n <= s.size() && std::all_of(s.begin() + static_cast<std::ptrdiff_t>(pos),
                                            s.begin() + static_cast<std::ptrdiff_t>(pos + n),
                                            [](unsigned char c) { return std::isdigit(c); });
}

// YYYY-MM or YYYY-MM-DD, a real calendar date.
bool valid_date(const std::string& s) {
  if (!(s.size() == 7 || s.size() == 10) || !is_digits(s, 0, 4) || s[4] != '-' ||
      !is_digits(s, 5, 2))
    return false;
  const int year = std::stoi(s.substr(0, 4)), month = std::stoi(s.substr(5, 2));
  if (year < 1970 || month < 1 || month > 12) return false;
  if (s.size() == 7) return true;
  if (s[7] != '-' || !is_digits(s, 8, 2)) return false;
  const int day = std::stoi(s.substr(8, 2));
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return day >= 1 && day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

// A spec loaded from a file is named after it: <name>.json.
template <class Spec>
Spec named_after_file(Spec s, const fs::path& file) {
  const std::string stem = file.stem().string();
  if (s.name != stem)
    input_error(file.string(), "$.name",
                "expected \"" + stem + "\" (the file's name), got " + describe_value(s.name));
  return s;
}

PhaseDeployment read_phase(JsonObject& parent, const std::string& key, Phase phase) {
  const bool prefill = phase == Phase::prefill;
  const json& j = parent.any(key);
  // Fields of the other phase get a message saying so rather than "unknown field".
  if (j.is_object())
    for (const char* other : prefill ? std::vector<const char*>{"batch_per_gpu", "query_tokens"}
                                     : std::vector<const char*>{"chunk_tokens"})
      if (j.contains(other))
        input_error(parent.origin(), json_path_key(parent.path(key), other),
                    std::string(other) + " applies only to " + (prefill ? "decode" : "prefill") +
                        (prefill ? " (prefill uses chunk_tokens)"
                                 : " (decode uses batch_per_gpu and query_tokens)"));
  JsonObject o = parent.object(key);
  PhaseDeployment d;
  d.gpus = static_cast<int>(o.integer("gpus", 1, kMaxGpus));
  const auto degree = [&](const std::string& field) {
    const int v = static_cast<int>(o.integer(field, 1, kMaxGpus));
    if (v > d.gpus)
      o.fail(field,
             "expected at most gpus (" + std::to_string(d.gpus) + "), got " + std::to_string(v));
    if (d.gpus % v != 0)
      o.fail(field, "expected a divisor of gpus (" + std::to_string(d.gpus) + "), got " +
                        std::to_string(v));
    return v;
  };
  d.expert_parallel = degree("expert_parallel");
  d.tensor_parallel = degree("tensor_parallel");
  d.data_parallel = degree("data_parallel");
  if (std::int64_t{d.tensor_parallel} * d.data_parallel != d.gpus)
    o.fail("data_parallel", "tensor_parallel x data_parallel (" +
                                std::to_string(d.tensor_parallel) + " x " +
                                std::to_string(d.data_parallel) + ") must equal gpus (" +
                                std::to_string(d.gpus) + "): every device runs attention");
  if (prefill) {
    d.chunk_tokens = o.integer("chunk_tokens", 1, kMaxChunkTokens);
    d.batch_per_gpu = 0;
    d.query_tokens = 1;
  } else {
    d.chunk_tokens = 0;
    d.batch_per_gpu = o.integer("batch_per_gpu", 1, kMaxBatchPerGpu);
    d.query_tokens = static_cast<int>(o.integer("query_tokens", 1, kMaxQueryTokens));
  }
  d.efficiency = fraction(o, "efficiency", true, "0.7");
  d.overlap = fraction(o, "overlap", false, "0.8");
  o.finish();
  return d;
}

HardwareSpec hardware_from_json(const json& j, const std::string& origin) {
  JsonObject o(j, origin);
  HardwareSpec h;
  h.name = name_field(o, "name");
  h.display_name = text_field(o, "display_name");
  h.kind = o.string("kind");
  if (h.kind != "gpu" && h.kind != "cpu")
    o.fail("kind", "expected \"gpu\" or \"cpu\", got " + describe_value(h.kind));
  h.source = text_field(o, "source");
  h.bf16_flops = quantity(o, "bf16_flops", kFlops);
  h.fp8_flops = quantity(o, "fp8_flops", kFlops);
  h.f32_flops = quantity(o, "f32_flops", kFlops);
  h.memory_bandwidth = quantity(o, "memory_bandwidth", kBandwidth);
  h.memory_bytes = quantity(o, "memory_bytes", kBytes);
  h.interconnect_bandwidth = quantity(o, "interconnect_bandwidth", kInterconnect);
  if (h.kind == "gpu" && h.bf16_flops == 0)
    o.fail("bf16_flops", "a gpu needs its dense bf16 tensor rate (> 0, in FLOP/s), got 0");
  if (h.kind == "cpu" && h.f32_flops == 0)
    o.fail("f32_flops", "a cpu needs its f32 rate (> 0, in FLOP/s), got 0");
  o.finish();
  return h;
}

PricingSpec pricing_from_json(const json& j, const std::string& origin) {
  JsonObject o(j, origin);
  PricingSpec p;
  p.name = name_field(o, "name");
  p.hardware = name_field(o, "hardware");
  p.default_tier = name_field(o, "default_tier");
  const json& tiers = o.array("tiers");
  if (tiers.size() > kMaxTiers)
    o.fail("tiers", "expected at most " + std::to_string(kMaxTiers) + " tiers, got " +
                        std::to_string(tiers.size()));
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    JsonObject t(tiers[i], origin, json_path_index(o.path("tiers"), i));
    PriceTier tier;
    tier.tier = name_field(t, "tier");
    for (std::size_t k = 0; k < p.tiers.size(); ++k)
      if (p.tiers[k].tier == tier.tier)
        t.fail("tier", "tier " + describe_value(tier.tier) + " is listed twice (also at " +
                           json_path_index(o.path("tiers"), k) + ")");
    const json& price = t.any("usd_per_hour");
    const std::string expected = "expected a price in USD per device-hour, a number in (0, " +
                                 format_number(kMaxUsdPerHour) + "), e.g. 2.0";
    if (!price.is_number()) t.fail("usd_per_hour", expected + ", got " + show(price));
    tier.usd_per_hour = price.get<double>();
    if (!std::isfinite(tier.usd_per_hour) || !(tier.usd_per_hour > 0) ||
        !(tier.usd_per_hour < kMaxUsdPerHour))
      t.fail("usd_per_hour", expected + ", got " + show(price));
    tier.date = t.string("date");
    if (!valid_date(tier.date))
      t.fail("date", "expected a date YYYY-MM or YYYY-MM-DD, e.g. \"2025-09\", got " +
                         describe_value(tier.date));
    tier.source = text_field(t, "source");
    t.finish();
    p.tiers.push_back(std::move(tier));
  }
  std::vector<std::string> names;
  for (const PriceTier& t : p.tiers) names.push_back(t.tier);
  if (std::find(names.begin(), names.end(), p.default_tier) == names.end())
    o.fail("default_tier", "expected one of the tiers (" + join(names) + "), got " +
                               describe_value(p.default_tier));
  o.finish();
  return p;
}

DeploymentSpec deployment_from_json(const json& j, const std::string& origin) {
  JsonObject o(j, origin);
  DeploymentSpec d;
  d.name = name_field(o, "name");
  d.description = text_field(o, "description");
  d.source = text_field(o, "source");
  d.prefill = read_phase(o, "prefill", Phase::prefill);
  d.decode = read_phase(o, "decode", Phase::decode);
  o.finish();
  return d;
}

}  // namespace

double HardwareSpec::flops(DType t) const {
  switch (t) {
    case DType::f32: return f32_flops > 0 ? f32_flops : bf16_flops;
    case DType::bf16: return bf16_flops > 0 ? bf16_flops : f32_flops;
    // Without fp8 arithmetic, fp8 data is computed at the bf16 (or f32) rate after conversion.
    case DType::fp8_e4m3: return fp8_flops > 0 ? fp8_flops : flops(DType::bf16);
  }
  return 0;
}

const PriceTier& PricingSpec::tier(const std::string& t) const {
  for (const PriceTier& p : tiers)
    if (p.tier == t) return p;
  std::vector<std::string> names;
  for (const PriceTier& p : tiers) names.push_back(p.tier);
  input_error("pricing '" + name + "'", "$.tiers",
              "no tier " + describe_value(t) + " (known: " + join(names) + ")");
}

HardwareSpec parse_hardware(const std::string& text, const std::string& origin) {
  return hardware_from_json(parse_json(text, origin), origin);
}

PricingSpec parse_pricing(const std::string& text, const std::string& origin) {
  return pricing_from_json(parse_json(text, origin), origin);
}

DeploymentSpec parse_deployment(const std::string& text, const std::string& origin) {
  return deployment_from_json(parse_json(text, origin), origin);
}

HardwareSpec load_hardware(const fs::path& file) {
  return named_after_file(parse_hardware(read_text_file(file), file.string()), file);
}

PricingSpec load_pricing(const fs::path& file) {
  return named_after_file(parse_pricing(read_text_file(file), file.string()), file);
}

DeploymentSpec load_deployment(const fs::path& file) {
  return named_after_file(parse_deployment(read_text_file(file), file.string()), file);
}

CalibrationSpec load_calibration(const fs::path& file) {
  const std::string origin = file.string();
  const nlohmann::json j = read_json_file(file);
  JsonObject o(j, origin);  // keeps a pointer: j must outlive it
  CalibrationSpec c;
  c.name = file.stem().string();
  c.source = o.string("source");
  c.model = name_field(o, "model");
  c.hardware = name_field(o, "hardware");
  c.deployment = name_field(o, "deployment");
  c.gpus_per_node = static_cast<int>(o.integer("gpus_per_node", 1, 1024));
  c.decode_tokens_per_s_per_node = o.number("decode_tokens_per_s_per_node", 1, 1e9);
  c.mean_context = o.number("mean_context", 1, 1e8);
  o.finish();
  return c;
}

fs::path resolve_spec(const std::string& arg, const std::string& kind,
                      const fs::path& scenarios_dir) {
  static const std::vector<std::string> kKinds = {"hardware", "pricing", "deployments", "models",
                                                  "calibration"};
  if (std::find(kKinds.begin(), kKinds.end(), kind) == kKinds.end())
    throw std::invalid_argument("resolve_spec: unknown spec kind '" + kind +
                                "' (known: " + join(kKinds) + ")");
  const std::string origin = kind + " " + describe_value(json(arg));
  const bool json_suffix = arg.size() > 5 && arg.ends_with(".json");
  if (json_suffix) {  // a path, relative to the working directory or absolute
    const fs::path file(arg);
    std::error_code ec;
    if (!fs::exists(file, ec))
      input_error(origin, "$",
                  "no such file " + file.string() +
                      " (to look up a spec by name, give the name "
                      "without .json)");
    if (!fs::is_regular_file(file, ec)) input_error(origin, "$", "not a regular file");
    return file;
  }
  const fs::path dir = scenarios_dir / kind;
  if (!valid_name(arg))
    input_error(origin, "$",
                "expected a name of letters, digits, '.', '_' and '-' (looked up as " +
                    (dir / "<name>.json").string() + ") or a path to a .json file");
  const fs::path file = dir / (arg + ".json");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    std::vector<std::string> known;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".json") known.push_back(it->path().stem().string());
    std::sort(known.begin(), known.end());
    input_error(origin, "$",
                "no " + kind + " spec " + file.string() +
                    " (known: " + (known.empty() ? "none" : join(known)) + ")");
  }
  return file;
}

}  // namespace costcurve

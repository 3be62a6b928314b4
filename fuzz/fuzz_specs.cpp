// Fuzzes the cost model's spec loaders: model, hardware, pricing and deployment, from text.
//
// One target for the four, dispatching on the first byte (its low two bits: '0' model, '1'
// hardware, '2' pricing, '3' deployment; the rest is the JSON), rather than one target each:
// the four share the JSON reader and JsonObject, so one corpus teaches all of them, and CI runs
// one target's time budget instead of four (tools/fuzz.sh, ~45 s a target on a 2-core machine).
// The cost is that a mutation of the first byte hands one loader another's input; the loaders
// must refuse that cleanly anyway.
#include <string>

#include "cost_model/specs.hpp"
#include "fuzz/fuzz_common.hpp"
#include "harness/scenario.hpp"

using namespace costcurve;
using costcurve::fuzz::expect_clean;
using costcurve::fuzz::expect_no_throw;
using costcurve::fuzz::finding;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text = costcurve::fuzz::text_of(data + 1, size - 1);
  switch (data[0] & 3) {
    case 0:  // scenarios/models/<name>.json, as load_model reads it
      expect_clean([&] {
        const ModelSpec m = parse_model(parse_json(text, "model.json"), "model.json");
        // model_json() writes what parse_model() reads (scenario canonical JSON relies on it).
        expect_no_throw("reading back model_json()", [&] {
          const nlohmann::json j = model_json(m);
          if (model_json(parse_model(j, "model_json")) != j)
            finding("model_json() does not read back to the same model");
        });
      });
      break;
    case 1:  // scenarios/hardware/<name>.json
      expect_clean([&] {
        const HardwareSpec h = parse_hardware(text, "hardware.json");
        for (DType t : {DType::f32, DType::bf16, DType::fp8_e4m3})
          if (!(h.flops(t) > 0) && h.kind == "gpu") finding("a gpu spec without a rate");
      });
      break;
    case 2:  // scenarios/pricing/<name>.json
      expect_clean([&] {
        const PricingSpec p = parse_pricing(text, "pricing.json");
        expect_no_throw("the default tier", [&] { (void)p.tier(p.default_tier); });
      });
      break;
    case 3:  // scenarios/deployments/<name>.json
      expect_clean([&] { (void)parse_deployment(text, "deployment.json"); });
      break;
  }
  return 0;
}

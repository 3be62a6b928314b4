// GPU measurement discipline, checked on the CPU through a wrapped backend: running out of memory
// skips a point and the sweep goes on, hot runs rotate over independent input sets, the device's
// state and the backend's provenance reach the results file, and `costcurve ceilings` proves that
// the cache flush evicts. Files written before these fields existed still load.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <sstream>
#include <string>

#include "harness/ceilings.hpp"
#include "harness/json_input.hpp"
#include "harness/results.hpp"
#include "harness/stats.hpp"
#include "harness/sweep.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSource = COSTCURVE_SOURCE_DIR;

// What the test sets up and what the wrapped backend saw; shared because the sweep owns (and
// destroys) the backend.
struct Device {
  // Refuses an allocation, as cudaMalloc does when the device is full: alloc throws bad_alloc.
  std::function<bool(std::size_t bytes, const Device&)> refuse;
  // Kernel calls after this many throw bad_alloc (a kernel whose workspace does not fit); < 0
  // never.
  int kernel_calls_before_oom = -1;
  std::size_t cache_bytes = 0;
  std::map<void*, std::size_t> live;  // allocations not yet released, with their sizes
  std::size_t refused = 0;
  int kernel_calls = 0, state_reads = 0;
  std::set<const void*> kv_inputs;  // distinct latent caches dense_decode ran on

  std::size_t live_of_size(std::size_t bytes) const {
    std::size_t n = 0;
    for (const auto& [p, b] : live) n += b == bytes;
    return n;
  }
};

// The CPU backend, seen through a device that can run out of memory, reports a chosen cache size,
// a driver and runtime, and a device state that changes with every reading.
class WrappedBackend final : public Backend {
public:
  explicit WrappedBackend(std::shared_ptr<Device> d) : in_(make_backend("cpu", 2)), d_(d) {}

  BackendInfo info() const override {
    BackendInfo i = in_->info();
    i.driver = "fake driver 1.2";
    i.runtime = "fake runtime 3.4";
    i.cache_bytes = d_->cache_bytes;
    return i;
  }
  DeviceState device_state() const override {
    ++d_->state_reads;
    return {{"sm_clock_mhz", 1980}, {"reads", d_->state_reads}};
  }
  void* alloc(std::size_t bytes) override {
    if (d_->refuse && d_->refuse(bytes, *d_)) {
      ++d_->refused;
      throw std::bad_alloc();
    }
    void* p = in_->alloc(bytes);
    d_->live[p] = bytes;
    return p;
  }
  void release(void* p) noexcept override {
    d_->live.erase(p);
    in_->release(p);
  }
  void upload(void* dst, const void* src, std::size_t n) override { in_->upload(dst, src, n); }
  void download(void* dst, const void* src, std::size_t n) override { in_->download(dst, src, n); }
  void copy(void* dst, const void* src, std::size_t n) override { in_->copy(dst, src, n); }
  void synchronize() override { in_->synchronize(); }
  double time(const std::function<void()>& work) override { return in_->time(work); }
  void flush_caches() override { in_->flush_caches(); }
  void* host_view(void* p) const override { return in_->host_view(p); }
  bool supports(Op op, DType dtype) const override { return in_->supports(op, dtype); }
  void dense_prefill(const DensePrefillArgs& a) override {
    kernel();
    in_->dense_prefill(a);
  }
  void dense_decode(const DenseDecodeArgs& a) override {
    kernel();
    d_->kv_inputs.insert(a.kv);
    in_->dense_decode(a);
  }
  void indexer(const IndexerArgs& a) override {
    kernel();
    in_->indexer(a);
  }
  void topk(const TopkArgs& a) override {
    kernel();
    in_->topk(a);
  }
  void sparse_prefill(const SparseArgs& a) override {
    kernel();
    in_->sparse_prefill(a);
  }
  void sparse_decode(const SparseArgs& a) override {
    kernel();
    in_->sparse_decode(a);
  }
  void gemm(const GemmArgs& a) override { in_->gemm(a); }  // the ceilings' GEMM never fails

private:
  void kernel() {
    if (d_->kernel_calls_before_oom >= 0 && d_->kernel_calls >= d_->kernel_calls_before_oom)
      throw std::bad_alloc();
    ++d_->kernel_calls;
  }
  std::unique_ptr<Backend> in_;
  std::shared_ptr<Device> d_;
};

// A scenario file beside its models, from the smoke scenario with `edit` applied.
fs::path scenario(const fs::path& dir, const std::function<void(json&)>& edit) {
  fs::create_directories(dir);
  fs::copy(kSource / "scenarios" / "models", dir / "models");
  json s = json::parse(std::ifstream(kSource / "scenarios" / "smoke.json"));
  edit(s);
  std::ofstream(dir / "s.json") << s.dump();
  return dir / "s.json";
}

struct SweepRun {
  int rc = 0;
  std::string log;
  ResultsFile results;
};

SweepRun sweep(const fs::path& scenario_file, const fs::path& out, const std::string& filter,
               const std::shared_ptr<Device>& d) {
  SweepOptions o;
  o.scenario = scenario_file;
  o.out = out;
  o.filter = filter;
  o.backend_factory = [d](const std::string& name, int) -> std::unique_ptr<Backend> {
    EXPECT_EQ(name, "cpu");
    return std::make_unique<WrappedBackend>(d);
  };
  std::ostringstream os;
  SweepRun r;
  r.rc = run_sweep(o, os);
  r.log = os.str();
  if (fs::exists(out)) r.results = load_results(out);
  return r;
}

TEST(Measurement, OutOfMemoryWhileSettingUpIsASkipAndTheSweepGoesOn) {
  const fs::path dir = test::temp_dir("oom-setup");
  // Points at 512K tokens need allocations of gigabytes (dense prefill's K: 51 GB, dense decode's
  // latent cache: 1.2 GB) that this device refuses; the memory limit would skip them before they
  // are set up, so it is lifted.
  const fs::path s = scenario(dir, [](json& j) {
    j["models"] = {"deepseek-v3.1-terminus"};
    j["sweep"]["positions"] = {64, 524288};
    j["sweep"]["decode_batches"] = {1};
    j["run"]["max_memory_gib"] = 1e6;
  });
  auto d = std::make_shared<Device>();
  d->refuse = [](std::size_t bytes, const Device&) { return bytes > (std::size_t{1} << 30); };
  const SweepRun r = sweep(s, dir / "out.json", "", d);
  ASSERT_EQ(r.rc, 0) << r.log;  // a skip is not a failure
  ASSERT_EQ(r.results.points.size(), 4u) << r.log;
  int ok = 0, oom = 0;
  for (const PointResult& p : r.results.points) {
    if (p.point.position == 64) {
      EXPECT_EQ(p.status, PointStatus::ok) << p.name << ": " << p.reason;
      ++ok;
    } else {
      EXPECT_EQ(p.status, PointStatus::skipped) << p.name;
      EXPECT_EQ(p.reason.rfind("out of memory: setting up the inputs", 0), 0u) << p.reason;
      EXPECT_NE(p.reason.find("GiB"), std::string::npos) << p.reason;
      EXPECT_TRUE(p.samples_s.empty());
      ++oom;
    }
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(oom, 2);
  // The point after the first refused one ran: the sweep went on.
  EXPECT_EQ(r.results.points[2].point.op, Op::dense_decode);
  EXPECT_EQ(r.results.points[2].status, PointStatus::ok);
  EXPECT_GE(d->refused, 2u);
  EXPECT_TRUE(d->live.empty()) << d->live.size() << " allocations never released";
  fs::remove_all(dir);
}

TEST(Measurement, OutOfMemoryWhileTimingIsASkipAndEverythingIsReleased) {
  const fs::path dir = test::temp_dir("oom-timing");
  const fs::path s = scenario(dir, [](json&) {});
  auto d = std::make_shared<Device>();
  // Validation, the warm-up and the calibration run pass; the timed repetitions run out.
  d->kernel_calls_before_oom = 4;
  const SweepRun r = sweep(s, dir / "out.json", "dense_decode/decode/L64/B1/", d);
  ASSERT_EQ(r.rc, 0) << r.log;
  ASSERT_EQ(r.results.points.size(), 1u);
  const PointResult& p = r.results.points[0];
  EXPECT_EQ(p.status, PointStatus::skipped);
  EXPECT_EQ(p.reason.rfind("out of memory: timing", 0), 0u) << p.reason;
  EXPECT_TRUE(p.validated);
  EXPECT_TRUE(d->live.empty()) << d->live.size() << " allocations never released";
  fs::remove_all(dir);
}

TEST(Measurement, HotRunsRotateOverValidatedInputSetsAndRecordTheDevice) {
  const fs::path dir = test::temp_dir("rotation");
  const fs::path s = scenario(dir, [](json&) {});
  auto d = std::make_shared<Device>();
  d->cache_bytes = std::size_t{16} << 20;  // sets of ~1.3 MB: 8 of them stay within 4x the cache
  const SweepRun r = sweep(s, dir / "out.json", "dense_decode/decode/L64/B1/", d);
  ASSERT_EQ(r.rc, 0) << r.log;
  ASSERT_EQ(r.results.points.size(), 1u);
  const PointResult& p = r.results.points[0];
  ASSERT_EQ(p.status, PointStatus::ok) << p.reason;
  EXPECT_EQ(p.input_sets, 8);
  EXPECT_EQ(d->kv_inputs.size(), 8u);  // every set was run (validated, then timed)
  EXPECT_TRUE(d->live.empty());

  // The provenance: the backend's driver, runtime and cache in the context; the device's state
  // just before and just after the timing, in the point.
  const json j = json::parse(std::ifstream(dir / "out.json"));
  EXPECT_EQ(j["context"]["driver"], "fake driver 1.2");
  EXPECT_EQ(j["context"]["runtime"], "fake runtime 3.4");
  EXPECT_EQ(j["context"]["cache_bytes"], std::size_t{16} << 20);
  const json& pj = j["costcurve"]["points"][0];
  EXPECT_EQ(pj["input_sets"], 8);
  ASSERT_TRUE(pj.contains("device_state")) << pj.dump();
  EXPECT_EQ(pj["device_state"]["before"]["sm_clock_mhz"], 1980.0);
  EXPECT_LT(pj["device_state"]["before"]["reads"].get<double>(),
            pj["device_state"]["after"]["reads"].get<double>());
  ASSERT_EQ(p.state_before.size(), 2u);  // and it loads back
  ASSERT_EQ(p.state_after.size(), 2u);

  // A device that holds only 3 of the sets: the point is measured on 3. (No two allocations of a
  // set have the same size, and the ceilings never hold more than 3 of one size at once.)
  auto small = std::make_shared<Device>();
  small->cache_bytes = d->cache_bytes;
  small->refuse = [](std::size_t bytes, const Device& dev) { return dev.live_of_size(bytes) >= 3; };
  const SweepRun r3 = sweep(s, dir / "out3.json", "dense_decode/decode/L64/B1/", small);
  ASSERT_EQ(r3.rc, 0) << r3.log;
  EXPECT_EQ(r3.results.points.at(0).status, PointStatus::ok) << r3.results.points.at(0).reason;
  EXPECT_EQ(r3.results.points.at(0).input_sets, 3);
  EXPECT_EQ(small->kv_inputs.size(), 3u);

  // Cold runs flush instead: one set.
  const fs::path cold = scenario(dir / "cold", [](json& sc) { sc["run"]["cold"] = true; });
  auto c = std::make_shared<Device>();
  c->cache_bytes = d->cache_bytes;
  const SweepRun rc = sweep(cold, dir / "cold.json", "dense_decode/decode/L64/B1/", c);
  ASSERT_EQ(rc.rc, 0) << rc.log;
  EXPECT_EQ(rc.results.points.at(0).input_sets, 1);
  fs::remove_all(dir);
}

TEST(Measurement, CeilingsProveTheCacheFlushOnTheCpu) {
  auto be = make_backend("cpu", 2);
  ASSERT_GT(be->info().cache_bytes, 0u);
  const Ceilings c = measure_ceilings(*be, 0.3);
  // Present and positive only: a noisy 2-core VM proves nothing about cold vs hot.
  ASSERT_TRUE(c.has_cache_flush);
  const json j = c.to_json();
  ASSERT_TRUE(j.contains("cache_flush")) << j.dump();
  for (const char* k : {"bytes", "hot_s", "cold_s", "cold_over_hot"}) {
    ASSERT_TRUE(j["cache_flush"].contains(k)) << k;
    EXPECT_GT(j["cache_flush"][k].get<double>(), 0) << k;
  }
  EXPECT_EQ(j["gemm_shapes"]["f32"], "2048x2048x2048");
  const Ceilings back = Ceilings::from_json(json::parse(j.dump()), "mem", "$");
  EXPECT_TRUE(back.has_cache_flush);
  EXPECT_DOUBLE_EQ(back.cache_flush.cold_s, c.cache_flush.cold_s);
  EXPECT_EQ(back.gemm_shapes, c.gemm_shapes);
}

// A file as this build writes it: one timed point with every new field, ceilings with both.
ResultsFile file_with_every_field() {
  ResultsFile f;
  f.context = benchmark_context("costcurve");
  f.scenario = {{"name", "t"}};
  f.scenario_name = "t";
  f.scenario_hash = "abc";
  f.git_sha = "deadbeef";
  f.backend = "cuda";
  f.ceilings.backend = "cuda";
  f.ceilings.device = "test";
  f.ceilings.gemm_flops["bf16"] = 7e14;
  f.ceilings.gemm_shapes["bf16"] = f.ceilings.gemm_shape = "8192x8192x8192";
  f.ceilings.copy_bytes_per_s = 3e12;
  f.ceilings.cache_flush = {12.5 * (1 << 20), 4e-6, 9e-6, 2.25};
  f.ceilings.has_cache_flush = true;
  f.has_ceilings = true;
  PointResult r;
  r.point = {"cuda", "m", Op::dense_decode, Phase::decode, 4096, 2, 2, 0, DType::bf16};
  r.name = r.point.name();
  r.samples_s = {1e-4, 1.1e-4, 1.2e-4};
  r.iterations = 10;
  r.summary = summarize(r.samples_s);
  r.bound = "memory";
  r.input_sets = 6;
  r.state_before = {{"sm_clock_mhz", 1980}, {"power_w", 310}};
  r.state_after = {{"sm_clock_mhz", 1755}, {"power_w", 690}};
  f.points.push_back(r);
  return f;
}

TEST(Measurement, FilesWrittenBeforeTheNewFieldsStillLoad) {
  json j = file_with_every_field().to_json();
  j["costcurve"]["points"][0].erase("input_sets");
  j["costcurve"]["points"][0].erase("device_state");
  j["costcurve"]["ceilings"].erase("gemm_shapes");
  j["costcurve"]["ceilings"].erase("cache_flush");
  for (const char* k : {"driver", "runtime", "cache_bytes"}) j["context"].erase(k);
  const ResultsFile f = results_from_json(j, "old.json");
  ASSERT_TRUE(f.has_ceilings);
  EXPECT_FALSE(f.ceilings.has_cache_flush);
  EXPECT_TRUE(f.ceilings.gemm_shapes.empty());
  EXPECT_EQ(f.points.at(0).input_sets, 0);  // not recorded
  EXPECT_TRUE(f.points.at(0).state_before.empty());
  // Written again, it stays without them.
  const json again = f.to_json();
  EXPECT_FALSE(again["costcurve"]["points"][0].contains("input_sets"));
  EXPECT_FALSE(again["costcurve"]["points"][0].contains("device_state"));
  EXPECT_FALSE(again["costcurve"]["ceilings"].contains("cache_flush"));
  // And a real one, kept in the repository from an earlier build.
  const fs::path kept = kSource / "results" / "cpu-default.vm.db47192b2111.json";
  if (fs::exists(kept)) {
    EXPECT_NO_THROW(load_results(kept));
  }
}

TEST(Measurement, NewFieldsRoundTripAndAreCheckedLikeTheOthers) {
  const ResultsFile f = file_with_every_field();
  const ResultsFile g = results_from_json(json::parse(f.to_json().dump()), "mem");
  EXPECT_EQ(g.points.at(0).input_sets, 6);
  // The readings come back sorted by name (JSON objects are unordered).
  using Readings = std::map<std::string, double>;
  const DeviceState& after = g.points.at(0).state_after;
  EXPECT_EQ(Readings(after.begin(), after.end()),
            Readings(f.points.at(0).state_after.begin(), f.points.at(0).state_after.end()));
  EXPECT_TRUE(g.ceilings.has_cache_flush);
  EXPECT_DOUBLE_EQ(g.ceilings.cache_flush.cold_over_hot, 2.25);
  EXPECT_EQ(g.ceilings.gemm_shapes.at("bf16"), "8192x8192x8192");
  const auto error = [&](const std::function<void(json&)>& spoil) -> std::string {
    json j = f.to_json();
    spoil(j);
    try {
      results_from_json(j, "r.json");
    } catch (const InputError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_EQ(error([](json& j) {  // only one reading: the other may have failed
              j["costcurve"]["points"][0]["device_state"] = {{"before", {{"sm_clock_mhz", 1}}}};
            }),
            "(accepted)");
  EXPECT_NE(error([](json& j) {
              j["costcurve"]["points"][0]["device_state"] = {{"before", {{"sm_clock_mhz", "x"}}}};
            }).find("$.costcurve.points[0].device_state.before.sm_clock_mhz"),
            std::string::npos);
  EXPECT_NE(error([](json& j) {
              j["costcurve"]["points"][0]["device_state"] = {{"during", json::object()}};
            }).find("during"),
            std::string::npos);
  EXPECT_NE(error([](json& j) {
              j["costcurve"]["points"][0]["input_sets"] = 0;
            }).find("$.costcurve.points[0].input_sets"),
            std::string::npos);
  EXPECT_NE(error([](json& j) {
              j["costcurve"]["ceilings"]["cache_flush"] = {{"bytes", 1}};
            }).find("$.costcurve.ceilings.cache_flush"),
            std::string::npos);
}

}  // namespace
}  // namespace costcurve

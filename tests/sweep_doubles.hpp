// Test doubles for whole sweeps (tests/test_faults.cpp, tests/test_verdicts.cpp): a Backend
// decorator that forwards every call to a real backend (a test overrides the calls it faults or
// slows, and hands it to the sweep through SweepOptions::backend_factory), scenario files derived
// from the smoke scenario, and a results file seeded with made-up ceilings so that a sweep resumed
// from it goes straight to its points (the ceilings take seconds to tens of seconds on a loaded
// 2-core VM, and these tests never look at the roofline).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>

#include "harness/build_info.hpp"
#include "harness/results.hpp"
#include "harness/scenario.hpp"
#include "harness/shard.hpp"
#include "harness/sweep.hpp"
#include "kernels/backend.hpp"

namespace costcurve::test {

// Forwards everything to `inner`. The operations stay virtual: a test overrides the ones it
// intercepts and calls inner() for the real work. The Problem a sweep sets up holds the decorator,
// so the operations the harness times inside time() come back through it.
class ForwardingBackend : public Backend {
public:
  explicit ForwardingBackend(std::unique_ptr<Backend> in) : in_(std::move(in)) {}

  BackendInfo info() const override { return in_->info(); }
  DeviceState device_state() const override { return in_->device_state(); }
  void* alloc(std::size_t bytes) override { return in_->alloc(bytes); }
  void release(void* p) noexcept override { in_->release(p); }
  void upload(void* dst, const void* src, std::size_t n) override { in_->upload(dst, src, n); }
  void download(void* dst, const void* src, std::size_t n) override { in_->download(dst, src, n); }
  void copy(void* dst, const void* src, std::size_t n) override { in_->copy(dst, src, n); }
  void synchronize() override { in_->synchronize(); }
  double time(const std::function<void()>& work) override { return in_->time(work); }
  void flush_caches() override { in_->flush_caches(); }
  void* host_view(void* p) const override { return in_->host_view(p); }
  bool supports(Op op, DType dtype) const override { return in_->supports(op, dtype); }
  void dense_prefill(const DensePrefillArgs& a) override { in_->dense_prefill(a); }
  void dense_decode(const DenseDecodeArgs& a) override { in_->dense_decode(a); }
  void indexer(const IndexerArgs& a) override { in_->indexer(a); }
  void topk(const TopkArgs& a) override { in_->topk(a); }
  void sparse_prefill(const SparseArgs& a) override { in_->sparse_prefill(a); }
  void sparse_decode(const SparseArgs& a) override { in_->sparse_decode(a); }
  void gemm(const GemmArgs& a) override { in_->gemm(a); }

protected:
  Backend& inner() { return *in_; }

private:
  std::unique_ptr<Backend> in_;
};

// The smoke scenario with `edit` applied, written to dir/s.json beside a copy of its models.
inline std::filesystem::path smoke_variant(const std::filesystem::path& dir,
                                           const std::function<void(nlohmann::json&)>& edit) {
  namespace fs = std::filesystem;
  const fs::path source = COSTCURVE_SOURCE_DIR;
  fs::create_directories(dir);
  if (!fs::exists(dir / "models")) fs::copy(source / "scenarios" / "models", dir / "models");
  nlohmann::json s = nlohmann::json::parse(std::ifstream(source / "scenarios" / "smoke.json"));
  edit(s);
  std::ofstream(dir / "s.json") << s.dump(1);
  return dir / "s.json";
}

// Writes `out` as a sweep of `scenario` on `info`'s backend that has measured its ceilings (fixed,
// made-up ones: 100 GFLOP/s, 10 GB/s) and no point yet: `costcurve sweep --resume` accepts it (same
// scenario hash, build and backend) and runs every point without measuring the ceilings again.
inline void seed_results(const std::filesystem::path& scenario, const std::filesystem::path& out,
                         const BackendInfo& info) {
  const Scenario sc = load_scenario(scenario);
  ResultsFile f;
  f.context = benchmark_context("costcurve");
  f.scenario_name = sc.name;
  f.scenario_hash = sc.hash;
  f.scenario = nlohmann::json::parse(sc.canonical_json);
  f.git_sha = build_info().git_sha;
  f.backend = info.name;
  f.ceilings.backend = info.name;
  f.ceilings.device = info.device;
  f.ceilings.gemm_flops["f32"] = 1e11;
  f.ceilings.gemm_shape = "seeded by the test";
  f.ceilings.copy_bytes_per_s = 1e10;
  f.ceilings.copy_size = "seeded by the test";
  f.has_ceilings = true;
  write_atomic(out, f.to_json().dump(1) + "\n");
}

// A part with made-up ceilings and no point yet, recording shard `index`/`count` as
// `sweep --shard` would: `sweep --shard --resume` goes straight to its points (measuring the
// ceilings takes seconds).
inline void seed_shard(const std::filesystem::path& scenario, const std::filesystem::path& out,
                       int index, int count) {
  seed_results(scenario, out, make_backend("cpu", 1)->info());
  ResultsFile f = load_results(out);
  Scenario sc = load_scenario(scenario);
  sc.backends = {"cpu"};
  const std::vector<Point> points = generate_points(sc);
  ShardRecord rec{index, count, "", {}};
  // Held in a variable: a range-for over split_points(...)[i] would read a destroyed temporary.
  const auto shards = split_points(sc, points, count);
  for (std::size_t i : shards[static_cast<std::size_t>(index)])
    rec.points.push_back(points[i].name());
  f.shard = rec;
  write_atomic(out, f.to_json().dump(1) + "\n");
}

struct SweepRun {
  int rc = 0;
  std::string log;
  ResultsFile results;

  const PointResult* find(const std::string& fragment) const {
    for (const PointResult& p : results.points)
      if (p.name.find(fragment) != std::string::npos) return &p;
    return nullptr;
  }
};

// Sweeps `scenario` into `out` (seeded first, unless it exists) on the backend `make` returns.
inline SweepRun sweep_through(const std::filesystem::path& scenario,
                              const std::filesystem::path& out, const std::string& filter,
                              const std::function<std::unique_ptr<Backend>()>& make) {
  if (!std::filesystem::exists(out)) seed_results(scenario, out, make()->info());
  SweepOptions o;
  o.scenario = scenario;
  o.out = out;
  o.filter = filter;
  o.resume = true;
  o.backend_factory = [&make](const std::string& name, int) -> std::unique_ptr<Backend> {
    EXPECT_EQ(name, "cpu");
    return make();
  };
  std::ostringstream os;
  SweepRun r;
  r.rc = run_sweep(o, os);
  r.log = os.str();
  if (std::filesystem::exists(out)) r.results = load_results(out);
  return r;
}

}  // namespace costcurve::test

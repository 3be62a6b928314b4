// Faults injected into real sweeps through a decorator around the CPU backend (no hook in the
// production code): a kernel that throws fails its point with the reason and the sweep goes on,
// with exit code 1 from run_sweep and from the `costcurve sweep` process; a kernel out of memory
// skips its point (a documented decision: the next point may fit); a kernel that returns wrong
// numbers is caught by validation, never timed, and left out of the costs.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "cost_model/cost.hpp"
#include "cost_model/specs.hpp"
#include "harness/results.hpp"
#include "tests/sweep_doubles.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSource = COSTCURVE_SOURCE_DIR;

enum class Kind {
  kernel_error,      // throws OpError before the kernel runs
  out_of_memory,     // throws std::bad_alloc (a workspace that does not fit)
  timed_error,       // throws OpError on the 3rd call made inside Backend::time (the timing)
  relative_noise,    // multiplies every output by 1 + 1e-2 u, u uniform in [-1, 1]
  flip_one_element,  // negates the largest output of the last query token (top-k: changes its
                     // first index)
};

// One fault: the kind, and the point it hits, by operation, position (the longest sequence of the
// call), batch and query tokens.
struct Fault {
  Kind kind;
  Op op;
  std::int64_t position;
  std::int64_t batch = 1;
  std::int64_t s_q = 0;  // query tokens per sequence: 0 any, else the prefill chunk or decode's 2
  int fired = 0;         // calls it changed

  bool hits(Op o, const Batch& b) const {
    std::int64_t longest = 0;
    for (const std::int64_t l : b.seq_lens) longest = std::max(longest, l);
    return o == op && longest == position && b.batch() == batch && (s_q == 0 || b.s_q == s_q);
  }
};

using Faults = std::vector<Fault>;

// The CPU backend with faults. The faults are shared with the test, which reads what fired after
// the sweep has destroyed the backend.
class FaultyBackend final : public test::ForwardingBackend {
public:
  explicit FaultyBackend(std::shared_ptr<Faults> f)
      : ForwardingBackend(make_backend("cpu", 2)), faults_(std::move(f)) {}

  // No cache to defeat: one input set per point, set up and validated once (the rotation over
  // input sets has its own tests in test_measurement.cpp).
  BackendInfo info() const override {
    BackendInfo i = ForwardingBackend::info();
    i.cache_bytes = 0;
    return i;
  }
  double time(const std::function<void()>& work) override {
    ++timing_;
    struct Leave {
      int& depth;
      ~Leave() { --depth; }
    } leave{timing_};
    return inner().time(work);
  }
  void dense_prefill(const DensePrefillArgs& a) override {
    Fault* f = before(Op::dense_prefill, a.shape.batch);
    inner().dense_prefill(a);
    after(f, a.out, a.shape.batch.query_rows() * a.shape.heads * a.shape.d_v, a.shape.batch);
  }
  void dense_decode(const DenseDecodeArgs& a) override {
    Fault* f = before(Op::dense_decode, a.shape.batch);
    inner().dense_decode(a);
    after(f, a.out, a.shape.batch.query_rows() * a.shape.heads * a.shape.d_v, a.shape.batch);
  }
  void indexer(const IndexerArgs& a) override {
    Fault* f = before(Op::indexer, a.shape.batch);
    inner().indexer(a);
    after(f, a.logits, a.shape.batch.query_rows() * a.shape.batch.capacity, a.shape.batch);
  }
  void topk(const TopkArgs& a) override {
    Fault* f = before(Op::topk, a.batch);
    inner().topk(a);
    if (!f) return;
    auto* idx = static_cast<std::int32_t*>(host_view(a.indices));
    ASSERT_NE(idx, nullptr);
    // Any change counts: the selection is compared index by index. The last row, always checked.
    std::int32_t& first = idx[(a.batch.query_rows() - 1) * a.k];
    first = first == 0 ? 1 : 0;
    ++f->fired;
  }
  void sparse_prefill(const SparseArgs& a) override {
    Fault* f = before(Op::sparse_prefill, a.shape.batch);
    inner().sparse_prefill(a);
    after(f, a.out, a.shape.batch.query_rows() * a.shape.heads * a.shape.d_v, a.shape.batch);
  }
  void sparse_decode(const SparseArgs& a) override {
    Fault* f = before(Op::sparse_decode, a.shape.batch);
    inner().sparse_decode(a);
    after(f, a.out, a.shape.batch.query_rows() * a.shape.heads * a.shape.d_v, a.shape.batch);
  }

private:
  // Throws for the faults that throw; returns the fault that perturbs this call's output, if any.
  Fault* before(Op op, const Batch& b) {
    for (Fault& f : *faults_) {
      if (!f.hits(op, b)) continue;
      switch (f.kind) {
        case Kind::kernel_error:
          ++f.fired;
          throw OpError("injected kernel error in " + std::string(op_name(op)));
        case Kind::out_of_memory: ++f.fired; throw std::bad_alloc();
        case Kind::timed_error:
          if (timing_ > 0 && ++timed_calls_ >= 3) {
            ++f.fired;
            throw OpError("injected kernel error while timing " + std::string(op_name(op)));
          }
          break;
        case Kind::relative_noise:
        case Kind::flip_one_element: return &f;
      }
    }
    return nullptr;
  }
  // Perturbs the n outputs of this call. A flip goes into the last query token's row, which
  // validation always checks (long rows are sampled; a flip elsewhere may go unseen there).
  void after(Fault* f, float* out, std::int64_t n, const Batch& b) {
    if (!f) return;
    auto* x = static_cast<float*>(host_view(out));  // the CPU backend's memory is host memory
    ASSERT_NE(x, nullptr);
    if (f->kind == Kind::relative_noise) {
      std::mt19937 rng(42);
      std::uniform_real_distribution<float> u(-1, 1);
      for (std::int64_t i = 0; i < n; ++i) x[i] *= 1 + 1e-2f * u(rng);
    } else {
      const std::int64_t row = n / b.query_rows();
      std::int64_t worst = n - row;
      for (std::int64_t i = n - row; i < n; ++i)
        if (std::isfinite(x[i]) && std::abs(x[i]) > std::abs(x[worst])) worst = i;
      x[worst] = -x[worst];
    }
    ++f->fired;
  }

  std::shared_ptr<Faults> faults_;
  int timing_ = 0, timed_calls_ = 0;
};

// The smoke scenario, decode batch 1 only (16 points, every operation at L64 and L300), with few
// repetitions (these tests look at statuses, not at times) and a tenth of its reference budget:
// long rows are sampled, and the faults must still be caught (a flip goes into the last row, which
// is always checked).
fs::path quick_scenario(const fs::path& dir) {
  return test::smoke_variant(dir, [](json& s) {
    s["sweep"]["decode_batches"] = {1};
    s["run"]["validate_max_gflop"] = 0.05;
    s["run"]["min_repetitions"] = 2;
    s["run"]["max_repetitions"] = 3;
    s["run"]["max_time_s"] = 0.05;
  });
}

test::SweepRun faulty_sweep(const fs::path& scenario, const fs::path& out,
                            const std::string& filter, const std::shared_ptr<Faults>& faults) {
  return test::sweep_through(scenario, out, filter,
                             [faults] { return std::make_unique<FaultyBackend>(faults); });
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

TEST(Faults, KernelErrorsFailTheirPointWithTheReasonAndTheSweepGoesOn) {
  const fs::path dir = test::temp_dir("faults-errors");
  const fs::path s = quick_scenario(dir);
  auto faults = std::make_shared<Faults>(Faults{
      {Kind::kernel_error, Op::sparse_decode, 64},  // on its first call: validation
      {Kind::timed_error, Op::indexer, 300},        // after validation passed, while timing
      {Kind::out_of_memory, Op::indexer, 64},       // a skip, not a failure
  });
  const std::string filter = "deepseek-v3.2/(indexer|sparse_decode)/decode/";
  const test::SweepRun r = faulty_sweep(s, dir / "out.json", filter, faults);
  ASSERT_EQ(r.results.points.size(), 4u) << r.log;
  for (const Fault& f : *faults) EXPECT_GT(f.fired, 0) << op_name(f.op) << " L" << f.position;

  const PointResult* validating = r.find("sparse_decode/decode/L64/");
  ASSERT_NE(validating, nullptr);
  EXPECT_EQ(validating->status, PointStatus::failed);
  EXPECT_EQ(validating->reason, "injected kernel error in sparse_decode");
  EXPECT_TRUE(validating->samples_s.empty());

  const PointResult* timing = r.find("indexer/decode/L300/");
  ASSERT_NE(timing, nullptr);
  EXPECT_EQ(timing->status, PointStatus::failed);
  EXPECT_EQ(timing->reason, "timing failed: injected kernel error while timing indexer");
  EXPECT_TRUE(timing->validated);  // it passed validation first
  EXPECT_TRUE(timing->samples_s.empty());

  const PointResult* oom = r.find("indexer/decode/L64/");
  ASSERT_NE(oom, nullptr);
  EXPECT_EQ(oom->status, PointStatus::skipped);
  EXPECT_TRUE(starts_with(oom->reason, "out of memory: validating")) << oom->reason;

  // The sweep went on: the point after the failures was measured.
  const PointResult* fine = r.find("sparse_decode/decode/L300/");
  ASSERT_NE(fine, nullptr);
  EXPECT_EQ(fine->status, PointStatus::ok) << fine->reason;
  EXPECT_GE(fine->samples_s.size(), 2u);

  // Exit code 1 (some points failed), and the failures are listed with their reasons.
  EXPECT_EQ(r.rc, 1) << r.log;
  EXPECT_NE(r.log.find("1 ok, 1 skipped, 2 failed"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("FAILED cpu/deepseek-v3.2/sparse_decode/decode/L64/B1/sq2/k64/f32: "
                       "injected kernel error in sparse_decode"),
            std::string::npos)
      << r.log;

  // The `costcurve sweep` process says the same: resuming the finished file (nothing left to run;
  // failed points are kept, not retried) exits 1.
  const std::string cmd = std::string(COSTCURVE_BINARY) + " sweep '" + s.string() + "' --out '" +
                          (dir / "out.json").string() + "' --resume --filter '" + filter + "' > '" +
                          (dir / "cli.log").string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << cmd;
  EXPECT_EQ(WEXITSTATUS(status), 1) << std::ifstream(dir / "cli.log").rdbuf();
  fs::remove_all(dir);
}

TEST(Faults, OutOfMemoryAloneIsASkipAndExitsZero) {
  const fs::path dir = test::temp_dir("faults-oom");
  const fs::path s = quick_scenario(dir);
  auto faults = std::make_shared<Faults>(Faults{{Kind::out_of_memory, Op::dense_decode, 300}});
  const test::SweepRun r = faulty_sweep(s, dir / "out.json", "dense_decode", faults);
  ASSERT_EQ(r.results.points.size(), 2u) << r.log;
  EXPECT_EQ(r.rc, 0) << r.log;
  const PointResult* oom = r.find("dense_decode/decode/L300/");
  ASSERT_NE(oom, nullptr);
  EXPECT_EQ(oom->status, PointStatus::skipped);
  EXPECT_TRUE(starts_with(oom->reason, "out of memory: validating (")) << oom->reason;
  EXPECT_EQ(r.find("dense_decode/decode/L64/")->status, PointStatus::ok);
  fs::remove_all(dir);
}

CostInputs cost_inputs(const ResultsFile& results) {
  const fs::path specs = kSource / "scenarios";
  CostInputs in;
  in.results = {results};
  for (const char* m : {"deepseek-v3.1-terminus", "deepseek-v3.2"})
    in.models.push_back(load_model(resolve_spec(m, "models", specs.string())));
  in.hardware = load_hardware(resolve_spec("cpu-epyc-2core", "hardware", specs.string()));
  in.pricing = load_pricing(resolve_spec("cpu-epyc-2core", "pricing", specs.string()));
  in.deployment = load_deployment(resolve_spec("single-cpu", "deployments", specs.string()));
  return in;
}

const json* component(const json& cost, const std::string& model, const std::string& phase,
                      const std::string& op) {
  for (const json& c : cost.at("components"))
    if (c.at("model") == model && c.at("phase") == phase && c.at("op") == op) return &c;
  return nullptr;
}

TEST(Faults, WrongNumbersFailValidationAndStayOutOfTheCosts) {
  const fs::path dir = test::temp_dir("faults-numbers");
  const fs::path s = quick_scenario(dir);
  auto faults = std::make_shared<Faults>(Faults{
      {Kind::relative_noise, Op::sparse_decode, 64},     // 1e-2 relative noise on every output
      {Kind::flip_one_element, Op::dense_prefill, 300},  // one element of 524288 negated
      {Kind::flip_one_element, Op::topk, 64, 1, 32},     // one index of the prefill selection
  });
  const test::SweepRun r = faulty_sweep(s, dir / "out.json", "", faults);
  ASSERT_EQ(r.results.points.size(), 16u) << r.log;
  EXPECT_EQ(r.rc, 1) << r.log;
  const struct {
    const char* point;
    const char* detail;
  } expected[] = {
      {"sparse_decode/decode/L64/", "validation failed: out: rel_l2 "},
      {"dense_prefill/prefill/L300/", "validation failed: out: rel_l2 "},
      {"topk/prefill/L64/", "validation failed: 1 of "},
  };
  for (const auto& e : expected) {
    const PointResult* p = r.find(e.point);
    ASSERT_NE(p, nullptr) << e.point;
    EXPECT_EQ(p->status, PointStatus::failed) << e.point;
    EXPECT_TRUE(starts_with(p->reason, e.detail)) << e.point << ": " << p->reason;
    EXPECT_TRUE(p->validated);
    EXPECT_TRUE(p->samples_s.empty()) << e.point << " was timed";
  }
  // Float outputs carry their error; the top-k selection is compared exactly (no rel_l2).
  EXPECT_GT(r.find("sparse_decode/decode/L64/")->rel_l2, 1e-3);
  EXPECT_GT(r.find("dense_prefill/prefill/L300/")->rel_l2, 1e-3);
  EXPECT_NE(r.find("sparse_decode/decode/L64/")->reason.find("(bound 2e-05)"), std::string::npos);
  // The flip was caught on a sample of the chunk's 32 rows: the last row is always among them.
  EXPECT_LT(r.find("dense_prefill/prefill/L300/")->tokens_checked, 32);
  // Only the 3 faulted points failed; top-k decode, which the flip did not touch, is fine.
  int failed = 0;
  for (const PointResult& p : r.results.points) failed += p.status == PointStatus::failed;
  EXPECT_EQ(failed, 3);
  EXPECT_EQ(r.find("topk/decode/L64/")->status, PointStatus::ok);

  // Costs take ok points only: the curves have no point at the failed positions, and the costs are
  // exactly those of the file without the failed points.
  const json cost = compute_cost(cost_inputs(r.results), CostOptions{});
  const json* sparse = component(cost, "deepseek-v3.2", "decode", "sparse_decode");
  ASSERT_NE(sparse, nullptr) << cost["components"].dump();
  EXPECT_EQ((*sparse)["positions"], json::array({300.0}));
  const json* dense = component(cost, "deepseek-v3.1-terminus", "prefill", "dense_prefill");
  ASSERT_NE(dense, nullptr);
  EXPECT_EQ((*dense)["positions"], json::array({64 - 31 / 2.0}));  // the 32-token chunk at L64
  const json* indexer = component(cost, "deepseek-v3.2", "decode", "indexer");
  ASSERT_NE(indexer, nullptr);
  EXPECT_EQ((*indexer)["positions"], json::array({64.0, 300.0}));  // untouched: both positions

  ResultsFile without = r.results;
  std::erase_if(without.points, [](const PointResult& p) { return p.status != PointStatus::ok; });
  ASSERT_EQ(without.points.size(), 13u);
  EXPECT_EQ(compute_cost(cost_inputs(without), CostOptions{}), cost);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace costcurve

// A Problem is one operation at one shape on one backend: it owns random inputs in backend memory,
// runs the kernel, checks the outputs against the float64 reference, and knows its FLOPs and bytes.
// The harness, `costcurve validate`, the benchmarks and the tests all go through it.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.hpp"

namespace costcurve {

// The shape of one measurement point; fields an operation does not use are ignored.
// Defaults are DeepSeek-V3.2's.
struct ProblemSpec {
  Op op = Op::dense_prefill;
  Batch batch = Batch::prefill_chunk(0, 1);
  DType dtype = DType::f32;
  // MHA-mode prefill
  int heads = 128, d_qk = 192, d_v = 128;
  // MQA-mode (latent) attention
  int d_latent = 576, d_v_latent = 512;
  // lightning indexer and top-k
  int index_heads = 64, index_dim = 128, top_k = 2048;
  // gemm
  std::int64_t m = 0, n = 0, k = 0;
  double scale = deepseek_softmax_scale();

  std::string describe() const;  // one line, e.g. "dense_decode B=4 s_q=2 L=4096"
};

struct Validation {
  bool pass = false;
  std::int64_t tokens_checked = 0;  // query tokens (rows) compared with the reference
  std::int64_t tokens_total = 0;
  double rel_l2 = 0;     // worst relative L2 error over the outputs
  double tolerance = 0;  // the bound it was held to
  std::int64_t bad = 0;  // NaN, unwritten or mismatched entries
  std::string detail;    // what failed, in words
};

class Problem {
public:
  virtual ~Problem() = default;
  const ProblemSpec& spec() const { return spec_; }

  // Useful work and minimum memory traffic of one run.
  virtual double flops() const = 0;
  virtual double bytes() const = 0;
  // Backend memory the problem allocates.
  virtual std::size_t memory() const = 0;

  // Allocates inputs (random, from `seed`) and poisons the outputs with NaN.
  virtual void setup(std::uint64_t seed) = 0;
  virtual void run() = 0;
  // Downloads the outputs of the last run() and compares them with the float64 reference. When the
  // reference would cost more than max_ref_gflop, only a sample of query tokens is checked: always
  // the last (longest) and the first, then random ones while the budget lasts.
  Validation validate(double max_ref_gflop = std::numeric_limits<double>::infinity());
  // Poisons the outputs again, so the next validate() proves the next run() wrote everything.
  virtual void poison() = 0;

protected:
  Problem(const ProblemSpec& s, Backend& be) : spec_(s), be_(be) {}
  // Float64 reference FLOPs for query token `token` (b * s_q + i); 0 for gemm.
  virtual double token_work(std::int64_t token) const = 0;
  // Compares against the reference restricted to `only` (null: every token).
  virtual Validation check_outputs(const std::vector<char>* only) = 0;
  ProblemSpec spec_;
  Backend& be_;
};

// Throws OpError when the spec is invalid for its operation.
std::unique_ptr<Problem> make_problem(const ProblemSpec& spec, Backend& be);

// Relative-L2 bound for an output of this dtype.
double tolerance(DType t);

}  // namespace costcurve

// The CUDA indexer at DeepSeek-V3.2's own shape (64 heads x 128 dims, fp8 e4m3 q and k), which on
// an H100 runs the warpgroup-MMA kernel (kernels/cuda/indexer_wgmma.cu): decode batches with
// ragged lengths that are no multiple of its key tile, odd s_q (a chunk of two query tokens with
// one missing), and causal prefill chunks at an offset. Outputs are poisoned before each run; the
// float64 reference sees the same fp8 inputs. Skips without a GPU.
#include <gtest/gtest.h>

#include <limits>

#include "harness/problem.hpp"
#include "tests/test_util.hpp"
#include "tests/validate_twice.hpp"

namespace costcurve {
namespace {

struct IndexerCase {
  std::string name;
  Batch batch;
};

void PrintTo(const IndexerCase& c, std::ostream* os) {
  *os << c.name;
}

using test::ragged;

std::vector<IndexerCase> cases() {
  return {
      {"decode_B2_sq2_ragged", ragged(2, {777, 5000}, 5003)},
      {"decode_B3_sq1_ragged", ragged(1, {1, 513, 4100}, 4101)},
      {"mtp_B2_sq3", ragged(3, {3, 2600}, 2601)},
      {"prefill_chunk_at_3000", Batch::prefill_chunk(3000, 300)},
      {"prefill_odd_chunk_at_1200", Batch::prefill_chunk(1200, 257)},
      {"prefill_B2_ragged", ragged(130, {130, 1900}, 2000)},
  };
}

class CudaIndexerTest : public ::testing::TestWithParam<IndexerCase> {};

TEST_P(CudaIndexerTest, DeepSeekShapeMatchesFloat64Reference) {
  COSTCURVE_BACKEND_OR_SKIP(be, "cuda");
  ProblemSpec s;
  s.op = Op::indexer;
  s.batch = GetParam().batch;
  s.index_heads = 64;
  s.index_dim = 128;
  s.dtype = DType::fp8_e4m3;
  ASSERT_TRUE(be->supports(s.op, s.dtype));
  // The reference multiplies the same fp8 values, so only the accumulation differs (2.6e-5 on an
  // H100's fp8 wgmma): far inside the fp8 bound, which a misplaced head weight or key scale could
  // still pass.
  test::expect_spec_valid_twice(s, *be, std::numeric_limits<double>::infinity(), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaIndexerTest, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace costcurve

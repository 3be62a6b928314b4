// The CUDA dense prefill at DeepSeek's MHA shape (192-dim q.k, 128-dim values, bf16), on each of
// its kernels: the warpgroup-MMA kernel for Hopper (kernels/cuda/prefill_wgmma.cu), its variant
// with intra-warpgroup overlap (COSTCURVE_PREFILL_OVERLAP=1), and the portable mma.sync kernel
// (COSTCURVE_PREFILL_PORTABLE=1; the only one on other GPUs).
// Shapes: query tiles of 128 rows with a partial last one, diagonals that cross key tiles, ragged
// batches whose sequences share a query tile's TMA box, key ranges split across blocks, and the
// full 128 heads. The cache past each sequence's end holds NaN (the Problem's setup), which no
// output may see (ragged_two_tiles: the Hopper kernels' last key tile reaches into it). Outputs
// are poisoned before each run. Skips without a GPU.
#include <gtest/gtest.h>

#include "harness/problem.hpp"
#include "tests/test_util.hpp"
#include "tests/validate_twice.hpp"

namespace costcurve {
namespace {

struct PrefillCase {
  std::string name;
  Batch batch;
  int heads;
};

void PrintTo(const PrefillCase& c, std::ostream* os) {
  *os << c.name;
}

using test::ragged;

std::vector<PrefillCase> cases() {
  return {
      {"one_token", Batch::prefill_chunk(0, 1), 2},
      {"chunk_300_at_2000", Batch::prefill_chunk(1700, 300), 3},
      {"split_keys", Batch::prefill_chunk(5000, 5), 2},
      {"ragged_two_tiles", ragged(130, {130, 131, 400}, 520), 2},
      {"all_heads_chunk_384_at_3384", Batch::prefill_chunk(3000, 384), 128},
  };
}

enum class Kernel { wgmma, overlap, mma };

class CudaPrefillTest : public ::testing::TestWithParam<std::tuple<Kernel, PrefillCase>> {};

TEST_P(CudaPrefillTest, DeepSeekShapeMatchesFloat64Reference) {
  const auto& [kernel, tc] = GetParam();
  COSTCURVE_BACKEND_OR_SKIP(be, "cuda");
  test::ScopedEnv portable("COSTCURVE_PREFILL_PORTABLE", kernel == Kernel::mma ? "1" : "0");
  test::ScopedEnv overlap("COSTCURVE_PREFILL_OVERLAP", kernel == Kernel::overlap ? "1" : "0");
  ProblemSpec s;
  s.op = Op::dense_prefill;
  s.batch = tc.batch;
  s.heads = tc.heads;
  s.dtype = DType::bf16;
  test::expect_spec_valid_twice(s, *be, 4e9);  // the full-head case checks a sample of tokens
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<Kernel, PrefillCase>>& p) {
  const Kernel k = std::get<0>(p.param);
  return std::string(k == Kernel::wgmma     ? "wgmma_"
                     : k == Kernel::overlap ? "overlap_"
                                            : "mma_") +
         std::get<1>(p.param).name;
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaPrefillTest,
                         ::testing::Combine(::testing::Values(Kernel::wgmma, Kernel::overlap,
                                                              Kernel::mma),
                                            ::testing::ValuesIn(cases())),
                         case_name);

}  // namespace
}  // namespace costcurve

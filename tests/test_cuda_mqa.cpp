// The CUDA MQA attention (dense_decode and sparse_decode) at DeepSeek's latent shape (576/512,
// bf16 or fp8 cache), on each Hopper kernel: the warp-specialised seesaw kernel (mqa_seesaw.cu, the
// default for a bf16 cache, whole dense tiles by TMA; for fp8 caches opt-in,
// COSTCURVE_MQA_SEESAW_FP8=1) and the one-tile kernel (mqa_wgmma.cu, COSTCURVE_MQA_SEESAW=0; the
// default for fp8 caches), and the seesaw kernel with its L2 prefetch of later tiles forced on
// (COSTCURVE_MQA_L2_PREFETCH=1), with warpgroup 1's P0 V0_R moved before its softmax
// (COSTCURVE_MQA_SEESAW_EARLY=1), with every tile by cp.async and no prefetch
// (COSTCURVE_MQA_TMA=0), or with the list entries read a pair ahead rather than in place
// (COSTCURVE_MQA_IDX_AHEAD=1, with cp.async), or with gathered rows by TMA, one-row boxes
// (COSTCURVE_MQA_TMA_ROWS=1, sparse over bf16), or with an fp8 cache read as f16 and its scales
// applied to S and P (COSTCURVE_MQA_FP8_F16=1). The cache past each sequence's end holds NaN (the
// Problem's setup), which no output may see. Shapes: key counts that are no multiple of the 64-key
// tile nor of the seesaw's pair of tiles (an odd last tile), ragged batches, head counts below a
// block's 64 rows, key ranges split across blocks (few sequences) and not (many), and sparse lists
// whose entries are -1 or past the query's position. Outputs are poisoned before each run; skips
// without a GPU.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <utility>

#include "harness/problem.hpp"
#include "tests/test_util.hpp"
#include "tests/validate_twice.hpp"

namespace costcurve {
namespace {

struct MqaCase {
  std::string name;
  Op op;
  Batch batch;
  int heads;
  int top_k;
  DType dtype = DType::bf16;  // fp8_e4m3: an fp8 cache with per-token scales (sparse only)
};

void PrintTo(const MqaCase& c, std::ostream* os) {
  *os << c.name;
}

using test::ragged;

std::vector<MqaCase> cases() {
  return {
      {"dense_one_key", Op::dense_decode, ragged(1, {1}, 1), 128, 0},
      {"dense_ragged_split", Op::dense_decode, ragged(2, {2, 65, 129, 5000}, 5001), 128, 0},
      {"dense_odd_tiles_16_heads", Op::dense_decode, ragged(1, {64 * 7 + 5, 3000}, 3001), 16, 0},
      {"dense_many_sequences", Op::dense_decode, Batch::uniform(70, 2, 700), 128, 0},
      {"sparse_k2048", Op::sparse_decode, ragged(2, {40, 3000, 9000}, 9001), 128, 2048},
      {"sparse_k96_odd_tiles", Op::sparse_decode, ragged(1, {50, 500}, 501), 128, 96},
      {"sparse_fp8_k2048", Op::sparse_decode, ragged(2, {40, 3000, 9000}, 9001), 128, 2048,
       DType::fp8_e4m3},
      {"sparse_fp8_k96_odd_tiles_16_heads", Op::sparse_decode, ragged(1, {50, 500}, 501), 16, 96,
       DType::fp8_e4m3},
  };
}

// seesaw: every other setting as by default; prefetch: both kernels ask L2 for later tiles;
// early: the seesaw's early release of stage 0; cpasync: every tile by cp.async, no prefetch;
// ahead: the seesaw's list entries read a pair ahead, every tile by cp.async (bf16 only); rows:
// gathered rows by TMA, entries read ahead (sparse over bf16 only); f16: an fp8 cache read as f16
enum class Kernel { wgmma, seesaw, prefetch, early, cpasync, ahead, rows, f16 };

class CudaMqaTest : public ::testing::TestWithParam<std::tuple<Kernel, MqaCase>> {};

TEST_P(CudaMqaTest, DeepSeekShapeMatchesFloat64Reference) {
  const auto& [kernel, tc] = GetParam();
  COSTCURVE_BACKEND_OR_SKIP(be, "cuda");
  test::ScopedEnv seesaw("COSTCURVE_MQA_SEESAW", kernel == Kernel::wgmma ? "0" : "1");
  test::ScopedEnv seesaw_fp8("COSTCURVE_MQA_SEESAW_FP8", kernel == Kernel::wgmma ? "0" : "1");
  test::ScopedEnv prefetch("COSTCURVE_MQA_L2_PREFETCH",
                           kernel == Kernel::prefetch                             ? "1"
                           : kernel == Kernel::wgmma || kernel == Kernel::cpasync ? "0"
                                                                                  : "");
  test::ScopedEnv early("COSTCURVE_MQA_SEESAW_EARLY", kernel == Kernel::early ? "1" : "0");
  test::ScopedEnv tma("COSTCURVE_MQA_TMA",
                      kernel == Kernel::cpasync || kernel == Kernel::ahead ? "0" : "");
  test::ScopedEnv ahead("COSTCURVE_MQA_IDX_AHEAD", kernel == Kernel::ahead ? "1" : "0");
  test::ScopedEnv rows("COSTCURVE_MQA_TMA_ROWS", kernel == Kernel::rows ? "1" : "0");
  test::ScopedEnv f16("COSTCURVE_MQA_FP8_F16", kernel == Kernel::f16 ? "1" : "0");
  if (kernel == Kernel::ahead && tc.dtype != DType::bf16)
    GTEST_SKIP() << "COSTCURVE_MQA_IDX_AHEAD=1 applies to a bf16 cache only";
  if (kernel == Kernel::rows && (tc.dtype != DType::bf16 || tc.op == Op::dense_decode))
    GTEST_SKIP() << "COSTCURVE_MQA_TMA_ROWS=1 applies to sparse attention over a bf16 cache only";
  if (kernel == Kernel::f16 && tc.dtype != DType::fp8_e4m3)
    GTEST_SKIP() << "COSTCURVE_MQA_FP8_F16=1 applies to an fp8 cache only";
  ProblemSpec s;
  s.op = tc.op;
  s.batch = tc.batch;
  s.heads = tc.heads;
  s.top_k = tc.top_k > 0 ? tc.top_k : s.top_k;
  s.dtype = tc.dtype;
  test::expect_spec_valid_twice(s, *be, 4e9);  // the many-sequence case checks a sample of tokens
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<Kernel, MqaCase>>& p) {
  const Kernel k = std::get<0>(p.param);
  return std::string(k == Kernel::wgmma      ? "wgmma_"
                     : k == Kernel::seesaw   ? "seesaw_"
                     : k == Kernel::prefetch ? "prefetch_"
                     : k == Kernel::early    ? "early_"
                     : k == Kernel::cpasync  ? "cpasync_"
                     : k == Kernel::ahead    ? "ahead_"
                     : k == Kernel::rows     ? "rows_"
                                             : "f16_") +
         std::get<1>(p.param).name;
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaMqaTest,
                         ::testing::Combine(::testing::Values(Kernel::wgmma, Kernel::seesaw,
                                                              Kernel::prefetch, Kernel::early,
                                                              Kernel::cpasync, Kernel::ahead,
                                                              Kernel::rows, Kernel::f16),
                                            ::testing::ValuesIn(cases())),
                         case_name);

// Whether the GPU is a Hopper part, the only one where the wgmma kernels (and the variables that
// select among them) run.
bool hopper(Backend& be) {
  return std::regex_search(be.info().device, std::regex("\\bG?H(100|200|800|20)\\b"));
}

// The OpError of one run, or "" when it ran.
std::string run_error(Problem& p, Backend& be) {
  try {
    p.run();
    be.synchronize();
  } catch (const OpError& e) {
    return e.what();
  }
  return "";
}

// COSTCURVE_MQA_DIAG, the seesaw kernel's diagnostics (tools/probe.cpp): an unknown value, or a
// diagnostic where another kernel would run, is an OpError rather than a timing of some other
// kernel; "resident" and "nomma" run, with wrong outputs on purpose, and leave the default as it
// was. Hopper only: elsewhere no wgmma kernel runs and nothing reads the variable.
TEST(CudaMqaDiag, SelectsTheDiagnosticsOrRefuses) {
  COSTCURVE_BACKEND_OR_SKIP(be, "cuda");
  if (!hopper(*be)) GTEST_SKIP() << be->info().device << " is no Hopper GPU";
  test::ScopedEnv seesaw("COSTCURVE_MQA_SEESAW", "1");
  test::ScopedEnv early("COSTCURVE_MQA_SEESAW_EARLY", "0");
  ProblemSpec s;
  s.op = Op::dense_decode;
  s.batch = Batch::uniform(64, 1, 1000);  // 128 blocks, one split of four pairs each
  s.dtype = DType::bf16;
  auto p = make_problem(s, *be);
  const std::uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  p->setup(seed);
  const auto error_of = [&] { return run_error(*p, *be); };
  {
    test::ScopedEnv diag("COSTCURVE_MQA_DIAG", "bogus");
    EXPECT_NE(error_of().find("COSTCURVE_MQA_DIAG=bogus: expected resident, nomma"),
              std::string::npos);
  }
  for (const auto& [var, value] :
       {std::pair{"COSTCURVE_MQA_SEESAW_EARLY", "1"}, std::pair{"COSTCURVE_MQA_SEESAW", "0"}}) {
    test::ScopedEnv diag("COSTCURVE_MQA_DIAG", "resident");
    test::ScopedEnv other(var, value);
    EXPECT_NE(error_of().find("applies only to the bf16 seesaw kernel"), std::string::npos) << var;
  }
  for (const char* d : {"resident", "nomma", "neither"}) {
    test::ScopedEnv diag("COSTCURVE_MQA_DIAG", d);
    p->poison();
    ASSERT_EQ(error_of(), "") << d;
    EXPECT_FALSE(p->validate(0.5).pass) << d << ": its outputs should be wrong";
  }
  p->poison();
  ASSERT_EQ(error_of(), "");
  const Validation v = p->validate(0.5);
  EXPECT_TRUE(v.pass) << v.detail;
}

// COSTCURVE_MQA_TMA=1 where it cannot apply (gathered keys), COSTCURVE_MQA_TMA_ROWS=1 where
// keys are not gathered, COSTCURVE_MQA_FP8_F16=1 over a bf16 cache, and COSTCURVE_MQA_IDX_AHEAD=1
// where TMA is on (dense keys by default), are OpErrors, so that an A/B never times another path
// under their names; with COSTCURVE_MQA_TMA=0 the last runs. Hopper only, as above.
TEST(CudaMqaTma, RefusedWhereItCannotApply) {
  COSTCURVE_BACKEND_OR_SKIP(be, "cuda");
  if (!hopper(*be)) GTEST_SKIP() << be->info().device << " is no Hopper GPU";
  test::ScopedEnv seesaw("COSTCURVE_MQA_SEESAW", "1");
  test::ScopedEnv early("COSTCURVE_MQA_SEESAW_EARLY", "0");
  ProblemSpec s;
  s.op = Op::sparse_decode;
  s.batch = Batch::uniform(2, 1, 3000);
  s.top_k = 256;
  s.dtype = DType::bf16;
  auto sparse = make_problem(s, *be);
  sparse->setup(test::fresh_seed());
  {
    test::ScopedEnv tma("COSTCURVE_MQA_TMA", "1");
    const std::string error = run_error(*sparse, *be);
    EXPECT_NE(error.find("COSTCURVE_MQA_TMA=1 applies only to dense attention"), std::string::npos)
        << error;
  }
  {
    test::ScopedEnv f16("COSTCURVE_MQA_FP8_F16", "1");
    const std::string error = run_error(*sparse, *be);
    EXPECT_NE(error.find("COSTCURVE_MQA_FP8_F16=1 applies only to an fp8 cache"), std::string::npos)
        << error;
  }
  s.op = Op::dense_decode;
  auto dense = make_problem(s, *be);
  dense->setup(test::fresh_seed());
  {
    test::ScopedEnv rows("COSTCURVE_MQA_TMA_ROWS", "1");
    const std::string error = run_error(*dense, *be);
    EXPECT_NE(error.find("COSTCURVE_MQA_TMA_ROWS=1 applies only to sparse attention"),
              std::string::npos)
        << error;
  }
  test::ScopedEnv ahead("COSTCURVE_MQA_IDX_AHEAD", "1");
  const std::string error = run_error(*dense, *be);
  EXPECT_NE(error.find("COSTCURVE_MQA_IDX_AHEAD=1 applies only"), std::string::npos) << error;
  test::ScopedEnv tma("COSTCURVE_MQA_TMA", "0");
  EXPECT_EQ(run_error(*dense, *be), "");
}

}  // namespace
}  // namespace costcurve

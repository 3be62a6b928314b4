// Every operation on every backend against the float64 reference, over shapes chosen to hit the
// edges: a single token, lengths that are not multiples of any tile, s_q > 1, ragged batches,
// split key ranges, rows shorter than top-k, odd head dimensions. Inputs are fresh random data;
// outputs are poisoned with NaN before each run so an unwritten element fails.
#include <gtest/gtest.h>

#include "harness/problem.hpp"
#include "tests/test_util.hpp"
#include "tests/validate_twice.hpp"

namespace costcurve {
namespace {

struct Case {
  std::string name;
  ProblemSpec spec;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name << ": " << c.spec.describe();
}

using test::ragged;

ProblemSpec with(Op op, Batch b) {
  ProblemSpec s;
  s.op = op;
  s.batch = std::move(b);
  return s;
}

std::vector<Case> cases() {
  std::vector<Case> c;
  using B = Batch;
  // dense prefill (MHA mode)
  c.push_back({"prefill_L1", with(Op::dense_prefill, B::prefill_chunk(0, 1))});
  c.push_back({"prefill_whole_prompt_200", with(Op::dense_prefill, B::prefill_chunk(0, 200))});
  c.push_back({"prefill_one_token_at_300", with(Op::dense_prefill, B::prefill_chunk(300, 1))});
  c.push_back({"prefill_ragged_batch", with(Op::dense_prefill, ragged(3, {3, 260}, 300))});
  {
    ProblemSpec s = with(Op::dense_prefill, B::prefill_chunk(129, 130));
    s.heads = 3, s.d_qk = 19, s.d_v = 7, s.scale = 0.3;
    c.push_back({"prefill_odd_dims", s});
  }
  {
    ProblemSpec s = with(Op::dense_prefill, ragged(5, {5, 300}, 310));
    s.dtype = DType::bf16;  // bf16 storage of q, k, v; f32 arithmetic
    c.push_back({"prefill_bf16_storage", s});
  }
  // dense decode (MQA mode)
  c.push_back({"decode_L1", with(Op::dense_decode, B::uniform(1, 1, 1))});
  c.push_back({"decode_ragged_sq2", with(Op::dense_decode, ragged(2, {2, 3, 257, 1100}, 1500))});
  c.push_back({"decode_split_kv", with(Op::dense_decode, B::uniform(1, 1, 5000))});
  {
    ProblemSpec s = with(Op::dense_decode, ragged(2, {2, 40, 2100}, 2100));
    s.heads = 5, s.d_latent = 33, s.d_v_latent = 17;
    c.push_back({"decode_odd_dims", s});
  }
  {
    // DeepSeek's latent with a head count no multiple of 64: the last head group is partial (on
    // Hopper, the wgmma kernel's zero-padded rows).
    ProblemSpec s = with(Op::dense_decode, ragged(2, {2, 700}, 700));
    s.heads = 100;
    c.push_back({"decode_partial_head_group", s});
    s.op = Op::sparse_decode;
    s.top_k = 300;
    c.push_back({"sparse_decode_partial_head_group", s});
  }
  {
    ProblemSpec s = with(Op::dense_decode, ragged(2, {2, 1500}, 1500));
    s.dtype = DType::bf16;
    c.push_back({"decode_bf16_storage", s});
    s.op = Op::sparse_decode;
    s.top_k = 700;
    c.push_back({"sparse_decode_bf16_storage", s});
    s.op = Op::indexer;
    c.push_back({"indexer_bf16_storage", s});
  }
  // indexer
  c.push_back({"indexer_L1", with(Op::indexer, B::prefill_chunk(0, 1))});
  c.push_back({"indexer_prefill_600", with(Op::indexer, B::prefill_chunk(0, 600))});
  c.push_back({"indexer_chunk_at_1000", with(Op::indexer, B::prefill_chunk(1000, 21))});
  c.push_back({"indexer_decode_ragged", with(Op::indexer, ragged(2, {2, 513, 1030}, 1200))});
  {
    ProblemSpec s = with(Op::indexer, ragged(1, {7, 300}, 333));
    s.index_heads = 3, s.index_dim = 20;
    c.push_back({"indexer_odd_dims", s});
  }
  // top-k
  {
    ProblemSpec s = with(Op::topk, B::prefill_chunk(0, 1));
    c.push_back({"topk_L1", s});
    s.batch = B::prefill_chunk(0, 300);  // every row shorter than k: all positions + padding
    c.push_back({"topk_all_rows_short", s});
    s.batch = ragged(2, {2, 2049, 5000}, 5001);
    c.push_back({"topk_ragged_decode", s});
    s.batch = B::prefill_chunk(50000, 3);  // long rows: the sampled-threshold path
    c.push_back({"topk_long_rows", s});
    s.top_k = 16;
    s.batch = ragged(2, {20000, 70000}, 70000);
    c.push_back({"topk_long_rows_small_k", s});
    s.top_k = 1;
    s.batch = B::prefill_chunk(90, 10);
    c.push_back({"topk_k1", s});
    s.top_k = 7;
    c.push_back({"topk_k7", s});
  }
  // sparse attention
  {
    ProblemSpec s = with(Op::sparse_prefill, B::prefill_chunk(0, 1));
    c.push_back({"sparse_prefill_L1", s});
    s.batch = B::prefill_chunk(2040, 20);  // rows around k = 2048
    c.push_back({"sparse_prefill_around_k", s});
    s.op = Op::sparse_decode;
    s.batch = ragged(2, {2, 300, 3000}, 3000);
    c.push_back({"sparse_decode_ragged", s});
    s.batch = B::uniform(1, 1, 3000);  // one query: index list split across threads
    c.push_back({"sparse_decode_single_query", s});
    s.top_k = 1;
    s.batch = ragged(1, {1, 50}, 64);
    c.push_back({"sparse_decode_k1", s});
    s.top_k = 100;
    s.heads = 7, s.d_latent = 40, s.d_v_latent = 9;
    c.push_back({"sparse_decode_odd_dims", s});
  }
  // fp8 e4m3 indexer keys and queries, as DeepSeek-V3.2 stores them
  {
    ProblemSpec s = with(Op::indexer, B::prefill_chunk(1000, 40));
    s.dtype = DType::fp8_e4m3;
    c.push_back({"indexer_fp8_prefill_chunk", s});
    s.batch = ragged(2, {2, 700, 3001}, 3100);
    c.push_back({"indexer_fp8_decode_ragged", s});
    s.index_heads = 5, s.index_dim = 24;
    c.push_back({"indexer_fp8_odd_dims", s});
  }
  // sparse attention over an fp8 e4m3 cache with per-token scales (bf16 queries)
  {
    ProblemSpec s = with(Op::sparse_decode, ragged(2, {2, 300, 3000}, 3000));
    s.dtype = DType::fp8_e4m3;
    c.push_back({"sparse_decode_fp8_cache", s});
    s.op = Op::sparse_prefill;
    s.batch = B::prefill_chunk(2044, 8);  // rows on both sides of k = 2048
    c.push_back({"sparse_prefill_fp8_cache", s});
    s.top_k = 100;
    s.heads = 7, s.d_latent = 40, s.d_v_latent = 9;
    c.push_back({"sparse_prefill_fp8_cache_odd_dims", s});
  }
  // gemm, C = A B^T; fp8 needs k (and, for cuBLASLt, n) aligned
  for (DType t : {DType::f32, DType::bf16}) {
    for (auto [m, n, k] : {std::tuple{1, 1, 1}, {33, 65, 17}, {256, 300, 129}}) {
      ProblemSpec s;
      s.op = Op::gemm;
      s.m = m, s.n = n, s.k = k, s.dtype = t;
      c.push_back({"gemm_" + std::string(dtype_name(t)) + "_" + std::to_string(m) + "x" +
                       std::to_string(n) + "x" + std::to_string(k),
                   s});
    }
  }
  for (auto [m, n, k] : {std::tuple{16, 16, 16}, {33, 64, 48}, {256, 320, 1024}}) {
    ProblemSpec s;
    s.op = Op::gemm;
    s.m = m, s.n = n, s.k = k, s.dtype = DType::fp8_e4m3;
    c.push_back(
        {"gemm_fp8_" + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k), s});
  }
  return c;
}

class KernelTest : public ::testing::TestWithParam<std::tuple<std::string, Case>> {};

TEST_P(KernelTest, MatchesFloat64Reference) {
  const auto& [backend, param] = GetParam();
  COSTCURVE_BACKEND_OR_SKIP(be, backend);
  Case tc = param;
  // The GPU's tensor-core attention stores bf16 only: it runs the f32 cases' shapes in bf16, so
  // every shape and edge is still checked there (against the bf16 bound).
  if (!be->supports(tc.spec.op, tc.spec.dtype) && tc.spec.dtype == DType::f32 &&
      tc.spec.op != Op::gemm && be->supports(tc.spec.op, DType::bf16))
    tc.spec.dtype = DType::bf16;
  const std::uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (rerun with COSTCURVE_SEED=" + std::to_string(seed) + "), " + tc.spec.describe());
  if (!be->supports(tc.spec.op, tc.spec.dtype))
    GTEST_SKIP() << backend << " has no " << dtype_name(tc.spec.dtype) << " " << op_name(tc.spec.op)
                 << " yet";
  auto p = make_problem(tc.spec, *be);
  p->setup(seed);
  test::expect_valid_twice(*p, *be);
}

// Long contexts validate a sample of query tokens: the last and first always, then random ones
// within the reference budget; a corrupted output in a checked token must still fail.
TEST(SampledValidation, ChecksASubsetAndStillCatchesErrors) {
  auto be = make_backend("cpu", 0);
  ProblemSpec s = with(Op::dense_decode, Batch::uniform(4, 2, 700));
  auto p = make_problem(s, *be);
  p->setup(test::fresh_seed());
  p->run();
  const double one_token_gflop = 2.0 * 128 * (576 + 512) * 700 / 1e9;
  Validation v = p->validate(2.5 * one_token_gflop);
  EXPECT_TRUE(v.pass) << v.detail;
  EXPECT_EQ(v.tokens_total, 8);
  EXPECT_GE(v.tokens_checked, 1);
  EXPECT_LT(v.tokens_checked, 8);
  v = p->validate();
  EXPECT_TRUE(v.pass);
  EXPECT_EQ(v.tokens_checked, 8);
  p->poison();  // nothing ran since: every checked output is NaN
  v = p->validate(2.5 * one_token_gflop);
  EXPECT_FALSE(v.pass);
  EXPECT_GT(v.bad, 0);
}

INSTANTIATE_TEST_SUITE_P(AllOps, KernelTest,
                         ::testing::Combine(::testing::ValuesIn(test::test_backends()),
                                            ::testing::ValuesIn(cases())),
                         [](const auto& p) {
                           return std::get<0>(p.param) + "_" + std::get<1>(p.param).name;
                         });

}  // namespace
}  // namespace costcurve

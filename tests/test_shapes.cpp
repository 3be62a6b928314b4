// Malformed shapes and names are refused with a message that names the field.
#include <gtest/gtest.h>

#include "harness/problem.hpp"
#include "kernels/key_splits.hpp"

namespace costcurve {
namespace {

template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const OpError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Shapes, BatchErrorsNameTheField) {
  Batch b = Batch::uniform(2, 2, 10);
  b.s_q = 0;
  EXPECT_NE(error_of([&] { b.check(); }).find("s_q"), std::string::npos);
  b = Batch::uniform(2, 2, 10);
  b.seq_lens[1] = 1;
  EXPECT_NE(error_of([&] { b.check(); }).find("seq_lens[1]"), std::string::npos);
  b = Batch::uniform(2, 2, 10);
  b.seq_lens[0] = 11;
  EXPECT_NE(error_of([&] { b.check(); }).find("capacity"), std::string::npos);
  b.seq_lens.clear();
  EXPECT_NE(error_of([&] { b.check(); }).find("empty"), std::string::npos);
}

TEST(Shapes, OperationErrorsNameTheField) {
  MqaShape m;
  m.batch = Batch::uniform(1, 1, 4);
  m.d_v = 600;
  EXPECT_NE(error_of([&] { check(m); }).find("d_v"), std::string::npos);
  EXPECT_NE(error_of([&] { check_topk(m.batch, 0); }).find("top_k"), std::string::npos);
  DensePrefillShape d;
  d.batch = Batch::prefill_chunk(0, 4);
  d.heads = -1;
  EXPECT_NE(error_of([&] { check(d); }).find("heads"), std::string::npos);
  EXPECT_NE(error_of([&] { check_gemm({0, 1, 1}); }).find("m"), std::string::npos);
}

TEST(Shapes, ProblemsRefuseBadSpecs) {
  auto be = make_backend("cpu", 1);
  ProblemSpec s;
  s.op = Op::topk;
  s.top_k = 0;
  EXPECT_THROW(make_problem(s, *be), OpError);
  s = {};
  s.op = Op::gemm;
  EXPECT_THROW(make_problem(s, *be), OpError);
}

TEST(Shapes, UnknownBackendAndUnsupportedDtype) {
  EXPECT_NE(error_of([] { make_backend("tpu"); }).find("unknown backend 'tpu'"), std::string::npos);
  auto be = make_backend("cpu", 1);
  ProblemSpec s;
  s.op = Op::dense_decode;
  s.batch = Batch::uniform(1, 1, 4);
  s.dtype = DType::fp8_e4m3;
  auto p = make_problem(s, *be);
  p->setup(1);
  EXPECT_NE(error_of([&] { p->run(); }).find("f32 and bf16"), std::string::npos);
}

// The GPU kernels' key splits (no GPU needed): every split covers whole tiles, together they cover
// the longest range, and the count fills the SMs' waves as evenly as it can.
TEST(Shapes, KeySplitsCoverTheKeysAndFillTheWaves) {
  for (long blocks : {1L, 2L, 64L, 100L, 128L, 131L, 132L, 133L, 512L, 5000L})
    for (long keys : {1L, 63L, 64L, 511L, 5005L, 131072L})
      for (long tile : {64L, 128L}) {
        const KeySplits k = choose_key_splits(blocks, 132, keys, tile);
        SCOPED_TRACE(std::to_string(blocks) + " blocks, " + std::to_string(keys) + " keys");
        EXPECT_GE(k.splits, 1);
        EXPECT_LE(k.splits, 256);
        EXPECT_EQ(k.split_keys % tile, 0);
        EXPECT_GE(k.splits * k.split_keys, keys);
        EXPECT_LT((k.splits - 1) * k.split_keys, keys);  // no empty split
        if (blocks >= 132 && blocks % 132 == 0) {
          EXPECT_EQ(k.splits, 1);
        }
      }
  // Two blocks (a 5-token chunk of two heads) over 5005 keys: 10 splits of 512, 20 blocks.
  const KeySplits few = choose_key_splits(2, 132, 5005, 128);
  EXPECT_EQ(few.splits, 10);
  EXPECT_EQ(few.split_keys, 512);
  // 64 blocks (decode B=32, s_q=2, one head group) over 128K keys: 33 splits make 2112 blocks,
  // exactly 16 full waves of 132.
  EXPECT_EQ(choose_key_splits(64, 132, 131072, 64).splits, 33);
  // A merge cost keeps a full grid whole (prefill: 512 blocks of a 512-token chunk at 16K keys
  // split 31 ways without one) and still splits a grid that leaves most SMs idle.
  EXPECT_GT(choose_key_splits(512, 132, 16384, 128).splits, 1);
  EXPECT_EQ(
      choose_key_splits(512, 132, 16384, 128, 4, attention_merge_cost(192, 128, 16384)).splits, 1);
  EXPECT_EQ(
      choose_key_splits(512, 132, 131072, 128, 4, attention_merge_cost(192, 128, 131072)).splits,
      1);
  EXPECT_GT(choose_key_splits(2, 132, 5005, 128, 4, attention_merge_cost(192, 128, 5005)).splits,
            5);
  EXPECT_GT(
      choose_key_splits(16, 132, 131072, 128, 4, attention_merge_cost(192, 128, 131072)).splits, 4);
  // MQA decode's weight (64 x 512 partials against 64 rows x 1088 dims of MMAs): B=32 at 128K
  // (64 blocks) fills one wave with 2 splits instead of 33.
  EXPECT_EQ(
      choose_key_splits(64, 132, 131072, 64, 4, attention_merge_cost(576, 512, 131072)).splits, 2);
}

TEST(Shapes, OpNamesRoundTrip) {
  for (Op op : kAllOps) {
    Op back{};
    ASSERT_TRUE(parse_op(op_name(op), back));
    EXPECT_EQ(back, op);
  }
  Op x{};
  EXPECT_FALSE(parse_op("dense", x));
}

}  // namespace
}  // namespace costcurve

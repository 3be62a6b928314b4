// The float64 references against answers worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/reference/reference.hpp"

namespace costcurve {
namespace {

TEST(Reference, SoftmaxScaleIsDeepSeeks) {
  EXPECT_NEAR(deepseek_softmax_scale(), 0.13523, 1e-5);
}

TEST(Reference, DensePrefillWithOneKeyReturnsItsValue) {
  DensePrefillShape s;
  s.batch = Batch::prefill_chunk(0, 1);
  s.heads = 1, s.d_qk = 2, s.d_v = 3, s.scale = 0.5;
  const float q[] = {1, 2}, k[] = {3, 4}, v[] = {5, 6, 7};
  const auto r = ref::dense_prefill(s, q, k, v);
  EXPECT_EQ(r.out, (std::vector<double>{5, 6, 7}));
  EXPECT_DOUBLE_EQ(r.lse[0], 0.5 * 11);
}

TEST(Reference, DenseDecodeAveragesEqualScoresAndIsCausal) {
  MqaShape s;
  s.batch = Batch::uniform(1, 2, 3);  // queries at positions 1 and 2
  s.heads = 1, s.d_latent = 2, s.d_v = 1, s.scale = 1;
  const float q[] = {0, 0, 0, 0};         // all scores 0
  const float kv[] = {1, 9, 3, 9, 8, 9};  // values: first dim
  const auto r = ref::dense_decode(s, q, kv);
  EXPECT_DOUBLE_EQ(r.out[0], 2.0);  // mean of 1, 3
  EXPECT_DOUBLE_EQ(r.out[1], 4.0);  // mean of 1, 3, 8
  EXPECT_DOUBLE_EQ(r.lse[0], std::log(2.0));
  EXPECT_DOUBLE_EQ(r.lse[1], std::log(3.0));
}

TEST(Reference, IndexerIsWeightedReluSum) {
  IndexerShape s;
  s.batch = Batch::prefill_chunk(1, 1);  // one query at position 1, keys 0..1
  s.heads = 2, s.dim = 1;
  const float q[] = {2, -1}, w[] = {0.5, 3}, k[] = {1, -2}, ks[] = {1, 10};
  const auto r = ref::indexer(s, q, w, k, ks);
  // key 0: 0.5*relu(2) + 3*relu(-1) = 1; key 1: (0.5*relu(-4) + 3*relu(2)) * 10 = 60
  EXPECT_DOUBLE_EQ(r[0], 1.0);
  EXPECT_DOUBLE_EQ(r[1], 60.0);
}

TEST(Reference, TopkFollowsTheDocumentedRule) {
  const Batch b = Batch::prefill_chunk(5, 1);
  const float x[] = {4, 9, 4, 4, 1, 9};
  EXPECT_EQ(ref::topk(b, 3, x), (std::vector<std::int32_t>{0, 1, 5}));
}

TEST(Reference, GemmTakesBAsRowsOfK) {
  const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8};  // B [N][K]: C = A B^T
  EXPECT_EQ(ref::gemm(2, 2, 2, a, b), (std::vector<double>{17, 23, 39, 53}));
}

TEST(Reference, Fp8E4m3DecodesEveryCodeAndRoundsToNearestEven) {
  EXPECT_EQ(fp8_to_float(0x00), 0.0f);
  EXPECT_EQ(fp8_to_float(0x01), 0x1p-9f);  // smallest subnormal
  EXPECT_EQ(fp8_to_float(0x08), 0x1p-6f);  // smallest normal
  EXPECT_EQ(fp8_to_float(0x38), 1.0f);
  EXPECT_EQ(fp8_to_float(0x7e), 448.0f);  // largest finite
  EXPECT_EQ(fp8_to_float(0xb8), -1.0f);
  EXPECT_TRUE(std::isnan(fp8_to_float(0x7f)));
  for (int c = 0; c < 256; ++c) {  // every finite code survives a round trip
    const auto b = static_cast<fp8_bits>(c);
    if ((c & 0x7f) == 0x7f) continue;
    EXPECT_EQ(float_to_fp8(fp8_to_float(b)), b) << c;
  }
  EXPECT_EQ(float_to_fp8(1.0625f), 0x38);  // halfway between 1 and 1.125: to even (1)
  EXPECT_EQ(float_to_fp8(1.1875f), 0x3a);  // halfway between 1.125 and 1.25: to even (1.25)
  EXPECT_EQ(float_to_fp8(1e6f), 0x7e);     // saturates
  EXPECT_EQ(float_to_fp8(-1e6f), 0xfe);
  EXPECT_EQ(float_to_fp8(0x1p-11f), 0x00);   // below half the smallest subnormal
  EXPECT_EQ(float_to_fp8(0x1.fp-7f), 0x08);  // a subnormal that rounds up to the smallest normal
  EXPECT_TRUE(std::isnan(fp8_to_float(float_to_fp8(std::nanf("")))));
}

TEST(Reference, CompareFlagsNanAndMismatchedInfinity) {
  const float got[] = {1, NAN, -INFINITY, 2};
  const auto e = ref::compare(got, {1, 1, 0, 2});
  EXPECT_EQ(e.bad, 2);
  EXPECT_FALSE(e.within(1));
}

}  // namespace
}  // namespace costcurve

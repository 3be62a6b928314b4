// Hand-built inputs for the rules the random tests cannot pin down: index lists with -1, duplicates
// and invisible positions; the top-k tie rule, NaN and signed zeros; indexer padding.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "kernels/reference/reference.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

using test::Mirror;
constexpr float kInf = std::numeric_limits<float>::infinity();

class EdgeTest : public ::testing::TestWithParam<std::string> {};

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = u(g);
  return v;
}

double tolerance_of(DType t) {
  return t == DType::f32 ? 2e-5 : 1e-2;
}

// The storage dtype these hand-built cases use on a backend: f32 where it has it, else bf16 (the
// GPU's tensor-core kernels). Inputs are rounded to bf16 first, so the reference sees exactly the
// stored values.
DType storage(Backend& be, Op op) {
  return be.supports(op, DType::f32) ? DType::f32 : DType::bf16;
}

void round_to(DType t, std::vector<float>& v) {
  if (t == DType::bf16)
    for (float& x : v) x = bf16_to_float(float_to_bf16(x));
}

// Backend memory holding `v` in dtype t (f32 or bf16).
struct Stored {
  Mirror<float> f;
  Mirror<bf16_bits> h;
  DType t;
  Stored(Backend& be, const std::vector<float>& v, DType dt)
      : f(be, dt == DType::f32 ? v : std::vector<float>{}),
        h(be, dt == DType::bf16 ? to_bf16(v) : std::vector<bf16_bits>{}),
        t(dt) {}
  static std::vector<bf16_bits> to_bf16(const std::vector<float>& v) {
    std::vector<bf16_bits> r(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) r[i] = float_to_bf16(v[i]);
    return r;
  }
  const void* ptr() { return t == DType::f32 ? static_cast<const void*>(f.ptr()) : h.ptr(); }
};

// Runs sparse decode on one sequence of length L with the given per-query index lists.
ref::Attention run_sparse(Backend& be, MqaShape s, const std::vector<std::int32_t>& idx, int k,
                          const std::vector<float>& q, const std::vector<float>& kv) {
  Stored mq(be, q, s.dtype), mkv(be, kv, s.dtype);
  Mirror<std::int32_t> mi(be, idx);
  const std::size_t rows = s.batch.query_rows() * s.heads;
  Mirror<float> out(be, test::nan_vector(rows * s.d_v)), lse(be, test::nan_vector(rows));
  be.sparse_decode({s, k, mq.ptr(), mkv.ptr(), mi.ptr(), out.ptr(), lse.ptr()});
  be.synchronize();
  ref::Attention r;
  for (float x : out.fetch()) r.out.push_back(x);
  for (float x : lse.fetch()) r.lse.push_back(x);
  return r;
}

MqaShape small_mqa(Backend& be, std::int64_t s_q, std::int64_t len) {
  MqaShape s;
  s.dtype = storage(be, Op::sparse_decode);
  s.batch = Batch::uniform(1, s_q, len);
  s.heads = 4;
  s.d_latent = 24;
  s.d_v = 16;
  return s;
}

TEST_P(EdgeTest, SparseAllMinusOneGivesZerosAndNegInfLse) {
  COSTCURVE_BACKEND_OR_SKIP(be, GetParam());
  const MqaShape s = small_mqa(*be, 2, 50);
  const int k = 8;
  const auto q = random_vector(2 * 4 * 24, 1), kv = random_vector(50 * 24, 2);
  const auto r = run_sparse(*be, s, std::vector<std::int32_t>(2 * k, -1), k, q, kv);
  for (double x : r.out) EXPECT_EQ(x, 0.0);
  for (double x : r.lse) EXPECT_EQ(x, -std::numeric_limits<double>::infinity());
}

TEST_P(EdgeTest, SparseDuplicatesCountTwiceAndInvisibleIndicesAreSkipped) {
  COSTCURVE_BACKEND_OR_SKIP(be, GetParam());
  const std::uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const MqaShape s = small_mqa(*be, 2, 40);  // queries at positions 38 and 39
  const int k = 6;
  auto q = random_vector(2 * 4 * 24, seed), kv = random_vector(40 * 24, seed + 1);
  round_to(s.dtype, q);
  round_to(s.dtype, kv);
  const double tol = tolerance_of(s.dtype);
  // Query 0: 39 is in its future (invisible), 5 twice, 1000 out of range, -1 pad.
  // Query 1: the same list, but 39 is now visible.
  const std::vector<std::int32_t> idx = {5, 39, 5, -1, 1000, 12, 5, 39, 5, -1, 1000, 12};
  const auto got = run_sparse(*be, s, idx, k, q, kv);
  const auto want = ref::sparse(s, k, q.data(), kv.data(), idx.data());
  std::vector<float> out(got.out.begin(), got.out.end()), lse(got.lse.begin(), got.lse.end());
  EXPECT_TRUE(ref::compare(out.data(), want.out).within(tol));
  EXPECT_TRUE(ref::compare(lse.data(), want.lse).within(tol));
  // The reference itself: query 0 over {5, 5, 12} equals the explicit list without the skipped
  // ones.
  const std::vector<std::int32_t> explicit_idx = {5, 5, 12, -1, -1, -1, 5, 39, 5, 12, -1, -1};
  const auto want2 = ref::sparse(s, k, q.data(), kv.data(), explicit_idx.data());
  for (std::size_t i = 0; i < want.out.size(); ++i) EXPECT_NEAR(want.out[i], want2.out[i], 1e-12);
}

std::vector<std::int32_t> run_topk(Backend& be, const std::vector<float>& logits, int k) {
  Batch b = Batch::prefill_chunk(static_cast<std::int64_t>(logits.size()) - 1, 1);
  Mirror<float> ml(be, logits);
  Mirror<std::int32_t> mi(be, std::vector<std::int32_t>(k, 12345));
  be.topk({b, k, ml.ptr(), mi.ptr()});
  be.synchronize();
  return mi.fetch();
}

TEST_P(EdgeTest, TopkTieRuleSmallerPositionWins) {
  COSTCURVE_BACKEND_WITH_OP_OR_SKIP(be, GetParam(), Op::topk);
  EXPECT_EQ(run_topk(*be, {1, 3, 3, 2, 3}, 2), (std::vector<std::int32_t>{1, 2}));
  EXPECT_EQ(run_topk(*be, {1, 3, 3, 2, 3}, 4), (std::vector<std::int32_t>{1, 2, 3, 4}));
  EXPECT_EQ(run_topk(*be, {0.0f, -0.0f, 0.0f}, 2), (std::vector<std::int32_t>{0, 1}));
}

TEST_P(EdgeTest, TopkNanRanksLowestAndInfinitiesOrder) {
  COSTCURVE_BACKEND_WITH_OP_OR_SKIP(be, GetParam(), Op::topk);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(run_topk(*be, {nan, -kInf, 5, -nan, kInf}, 3), (std::vector<std::int32_t>{1, 2, 4}));
  EXPECT_EQ(run_topk(*be, {nan, nan, 1}, 2), (std::vector<std::int32_t>{0, 2}));
}

TEST_P(EdgeTest, TopkShortRowsArePaddedWithMinusOne) {
  COSTCURVE_BACKEND_WITH_OP_OR_SKIP(be, GetParam(), Op::topk);
  EXPECT_EQ(run_topk(*be, {7, 1, 9}, 5), (std::vector<std::int32_t>{0, 1, 2, -1, -1}));
}

TEST_P(EdgeTest, TopkManyTiesAtScale) {
  COSTCURVE_BACKEND_WITH_OP_OR_SKIP(be, GetParam(), Op::topk);
  // 10000 positions, only 3 distinct values: the threshold bucket is almost the whole row.
  std::vector<float> x(10000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 3);
  const auto got = run_topk(*be, x, 2048);
  Batch b = Batch::prefill_chunk(9999, 1);
  EXPECT_EQ(got, ref::topk(b, 2048, x.data()));
}

TEST_P(EdgeTest, TopkLongRowsWithSpecialValuesAndAdversarialSamples) {
  COSTCURVE_BACKEND_WITH_OP_OR_SKIP(be, GetParam(), Op::topk);
  const std::uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-3, 3);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x(40000);
  for (float& v : x) v = u(g);
  for (std::size_t i = 0; i < x.size(); i += 97) x[i] = nan;
  for (std::size_t i = 5; i < x.size(); i += 101) x[i] = -0.0f;
  for (std::size_t i = 7; i < x.size(); i += 103) x[i] = 0.0f;
  x[123] = kInf;
  x[456] = -kInf;
  const Batch b = Batch::prefill_chunk(static_cast<std::int64_t>(x.size()) - 1, 1);
  for (int k : {1, 100, 2048, 4999})
    EXPECT_EQ(run_topk(*be, x, k), ref::topk(b, k, x.data())) << "k = " << k;
  // Large values hidden between the points a strided sample would look at, and a flat row.
  std::vector<float> y(65536, 0.0f);
  for (std::size_t i = 0; i < y.size(); ++i)
    if (i % 16 != 0) y[i] = static_cast<float>(i % 7);
  const Batch by = Batch::prefill_chunk(static_cast<std::int64_t>(y.size()) - 1, 1);
  EXPECT_EQ(run_topk(*be, y, 2048), ref::topk(by, 2048, y.data()));
  std::fill(y.begin(), y.end(), 1.5f);
  EXPECT_EQ(run_topk(*be, y, 2048), ref::topk(by, 2048, y.data()));
  // The CPU sample (256 runs of 16 positions, run r at 256 r for this length) sees 1000 large
  // values and nothing else large: its threshold admits fewer than k keys. Then the runs hold the
  // smallest values: every other key passes, more than the candidates kept. Both fall back to the
  // exact select.
  std::uniform_real_distribution<float> small(0, 1), mid(1, 2);
  const auto sampled = [](std::size_t i) { return i % 256 < 16; };
  for (std::size_t i = 0, big = 0; i < y.size(); ++i)
    y[i] = sampled(i) && big < 1000 ? (++big, 100.0f) : small(g);
  EXPECT_EQ(run_topk(*be, y, 2048), ref::topk(by, 2048, y.data()));
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = sampled(i) ? 0.0f : mid(g);
  EXPECT_EQ(run_topk(*be, y, 2048), ref::topk(by, 2048, y.data()));
}

TEST_P(EdgeTest, IndexerPadsBeyondSequenceWithNegInfAndDefaultsScaleToOne) {
  COSTCURVE_BACKEND_OR_SKIP(be, GetParam());
  IndexerShape s;
  s.batch.s_q = 1;
  s.batch.seq_lens = {3, 10};
  s.batch.capacity = 16;
  s.heads = 2;
  s.dim = 4;
  s.dtype = storage(*be, Op::indexer);
  auto q = random_vector(2 * 2 * 4, 5), k = random_vector(2 * 16 * 4, 7);
  const auto w = random_vector(2 * 2, 6);
  round_to(s.dtype, q);
  round_to(s.dtype, k);
  Stored mq(*be, q, s.dtype), mk(*be, k, s.dtype);
  Mirror<float> mw(*be, w), out(*be, test::nan_vector(2 * 16));
  be->indexer({s, mq.ptr(), mw.ptr(), mk.ptr(), nullptr, out.ptr()});
  be->synchronize();
  const auto& got = out.fetch();
  const auto want = ref::indexer(s, q.data(), w.data(), k.data(), nullptr);
  EXPECT_TRUE(ref::compare(got.data(), want).within(tolerance_of(s.dtype)));
  for (int t = 3; t < 16; ++t) EXPECT_EQ(got[t], -kInf) << "position " << t;
  for (int t = 10; t < 16; ++t) EXPECT_EQ(got[16 + t], -kInf) << "position " << t;
}

INSTANTIATE_TEST_SUITE_P(Backends, EdgeTest, ::testing::ValuesIn(test::test_backends()));

}  // namespace
}  // namespace costcurve

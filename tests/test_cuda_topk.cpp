// The CUDA top-k's multi-block path (few long rows: decode), against the float64/CPU reference,
// index for index: random rows at every alignment, ties across the threshold, all-equal rows (the
// crowded-bucket fallback), NaN and signed zeros, rows shorter than k, rows that end inside a
// chunk. Positions a row must not see hold +inf, so that reading past a row's visible end fails;
// outputs are poisoned first. Unless a test says otherwise, its batch has fewer rows than any GPU
// has SMs and rows longer than 16K: the multi-block path on every GPU. Skipped without a GPU.
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
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr std::int32_t kPoison = std::numeric_limits<std::int32_t>::min();

#define CUDA_TOPK_OR_SKIP(var) COSTCURVE_BACKEND_WITH_OP_OR_SKIP(var, "cuda", Op::topk)

Batch batch(std::int64_t s_q, std::vector<std::int64_t> lens, std::int64_t capacity) {
  Batch b;
  b.s_q = s_q;
  b.seq_lens = std::move(lens);
  b.capacity = capacity;
  b.check();
  return b;
}

std::int64_t visible(const Batch& b, std::int64_t row) {
  return b.query_pos(row / b.s_q, row % b.s_q) + 1;
}

// Logits [rows][capacity]: f(row, position) where the row sees the position, +inf elsewhere.
template <class F>
std::vector<float> logits(const Batch& b, F f) {
  std::vector<float> x(b.query_rows() * b.capacity, kInf);
  for (std::int64_t r = 0; r < b.query_rows(); ++r)
    for (std::int64_t p = 0; p < visible(b, r); ++p) x[r * b.capacity + p] = f(r, p);
  return x;
}

std::vector<std::int32_t> run_topk(Backend& be, const Batch& b, int k,
                                   const std::vector<float>& x) {
  Mirror<float> ml(be, x);
  Mirror<std::int32_t> mi(be, std::vector<std::int32_t>(b.query_rows() * k, kPoison));
  be.topk({b, k, ml.ptr(), mi.ptr()});
  be.synchronize();
  return mi.fetch();
}

// Index for index; on a mismatch, says how many differ and where the first one is.
::testing::AssertionResult same_selection(const Batch& b, int k, const std::vector<float>& x,
                                          const std::vector<std::int32_t>& got) {
  const auto want = ref::topk(b, k, x.data());
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "size " << got.size();
  std::int64_t bad = 0, first = -1;
  for (std::size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i]) {
      ++bad;
      if (first < 0) first = static_cast<std::int64_t>(i);
    }
  if (bad == 0) return ::testing::AssertionSuccess();
  const std::int64_t row = first / k, j = first % k;
  return ::testing::AssertionFailure()
         << bad << " of " << want.size() << " indices differ (k = " << k << "); first: row " << row
         << " (visible " << visible(b, row) << "), slot " << j << ": got " << got[first]
         << ", want " << want[first];
}

void expect_reference(Backend& be, const Batch& b, int k, const std::vector<float>& x) {
  EXPECT_TRUE(same_selection(b, k, x, run_topk(be, b, k, x))) << "k = " << k;
}

// Four rows: 128K and ~40K positions, s_q = 2; an odd capacity puts the rows at every 4-byte
// alignment. Quantised logits (as the benchmark's) tie often; continuous ones rarely. Each call
// runs twice: the per-call state (histograms, tickets, fill counts) must start clean every time.
TEST(CudaTopk, FewLongRowsOfRandomLogits) {
  CUDA_TOPK_OR_SKIP(be);
  const std::uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-50, 50);
  const Batch b = batch(2, {131072, 40001}, 131075);
  const auto quantised = logits(b, [&](auto, auto) { return std::round(u(g) * 64) / 64; });
  const auto continuous = logits(b, [&](auto, auto) { return u(g); });
  for (int k : {2048, 1, 100, 5000}) {
    expect_reference(*be, b, k, quantised);
    expect_reference(*be, b, k, quantised);
  }
  expect_reference(*be, b, 2048, continuous);
  // A narrow distribution far from zero: a crowded first-digit bucket.
  std::normal_distribution<float> nd(100, 1);
  expect_reference(*be, b, 2048, logits(b, [&](auto, auto) { return nd(g); }));
}

// Many equal logits across the threshold, with few candidates (the multi-block finish) and with
// a crowded bucket (the one-block fallback), and rows that are all equal.
TEST(CudaTopk, TiesStraddlingTheThreshold) {
  CUDA_TOPK_OR_SKIP(be);
  const std::uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-1, 0);
  const Batch b = batch(2, {131072, 40001}, 131072);
  // Background below 0; 1000 positions of 0.75 and 3000 of 0.5 per row (some overlap): k = 2048
  // takes every 0.75 and the lowest positions among the 0.5s.
  auto x = logits(b, [&](auto, auto) { return u(g); });
  for (std::int64_t r = 0; r < b.query_rows(); ++r) {
    std::uniform_int_distribution<std::int64_t> pos(0, visible(b, r) - 1);
    for (int i = 0; i < 3000; ++i) x[r * b.capacity + pos(g)] = 0.5f;
    for (int i = 0; i < 1000; ++i) x[r * b.capacity + pos(g)] = 0.75f;
  }
  for (int k : {2048, 1000, 1001, 3500}) expect_reference(*be, b, k, x);
  // Five values, each on a fifth of the row: the threshold bucket holds 20% of the row.
  expect_reference(*be, b, 2048,
                   logits(b, [](auto r, auto p) { return static_cast<float>((p + r) % 5); }));
  expect_reference(*be, b, 2048, logits(b, [](auto, auto) { return 1.5f; }));
  expect_reference(*be, b, 9000, logits(b, [](auto, auto) { return -3.0f; }));
}

// NaN ranks below every number (-inf included) and ties among NaNs go to the lowest positions;
// -0 equals +0.
TEST(CudaTopk, NanAndSignedZeros) {
  CUDA_TOPK_OR_SKIP(be);
  const std::uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> neg(-5, -1), pos(1, 5), coin(0, 1);
  const Batch b = batch(2, {131072, 40001}, 131073);
  // Negatives with 1% NaN and some -inf; 1000 positives; 3000 zeros of either sign: k = 2048
  // cuts through the zeros.
  auto x = logits(b, [&](auto, auto) {
    const float c = coin(g);
    return c < 0.01f ? kNan : c < 0.02f ? -kInf : neg(g);
  });
  for (std::int64_t r = 0; r < b.query_rows(); ++r) {
    std::uniform_int_distribution<std::int64_t> at(0, visible(b, r) - 1);
    for (int i = 0; i < 3000; ++i) x[r * b.capacity + at(g)] = coin(g) < 0.5f ? 0.0f : -0.0f;
    for (int i = 0; i < 1000; ++i) x[r * b.capacity + at(g)] = pos(g);
  }
  for (int k : {2048, 900, 4000}) expect_reference(*be, b, k, x);
  // Mostly NaN (of both signs) with 1500 numbers, -inf among them: k = 2048 takes every number
  // and the lowest-position NaNs.
  auto y = logits(b, [&](auto, auto) { return coin(g) < 0.5f ? kNan : -kNan; });
  for (std::int64_t r = 0; r < b.query_rows(); ++r) {
    std::uniform_int_distribution<std::int64_t> at(0, visible(b, r) - 1);
    for (int i = 0; i < 1500; ++i) y[r * b.capacity + at(g)] = i % 10 == 0 ? -kInf : neg(g);
  }
  expect_reference(*be, b, 2048, y);
}

// Rows with fewer visible positions than k (and exactly k) are padded with -1, beside long rows.
TEST(CudaTopk, RowsShorterThanKBesideLongRows) {
  CUDA_TOPK_OR_SKIP(be);
  const std::uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-10, 10);
  const Batch b = batch(2, {131072, 1500, 2049, 2050, 70000}, 131072);
  const auto x = logits(b, [&](auto, auto) { return u(g); });
  for (int k : {2048, 5000}) expect_reference(*be, b, k, x);
}

// Ragged rows whose ends fall inside a chunk (and s_q = 3: neighbouring rows differ by one
// position), at odd alignments; past each row's end the buffer holds +inf.
TEST(CudaTopk, VisibleLengthEndsMidChunk) {
  CUDA_TOPK_OR_SKIP(be);
  const std::uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(0, 1);
  const Batch b = batch(3, {65537, 99999, 131071, 17001, 16390}, 131077);
  const auto x = logits(b, [&](auto, auto) { return std::round(u(g) * 4096) / 4096; });
  for (int k : {2048, 7}) expect_reference(*be, b, k, x);
}

// At the rule's edge: 2 x SMs - 1 rows take the multi-block path, 2 x SMs the one-block path;
// both give the reference selection.
TEST(CudaTopk, BothSidesOfTheRowCountRuleAgree) {
  CUDA_TOPK_OR_SKIP(be);
  const std::uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-50, 50);
  const std::int64_t sms = be->info().threads;
  for (std::int64_t rows : {2 * sms - 1, 2 * sms}) {
    const Batch b = batch(1, std::vector<std::int64_t>(rows, 20000), 20001);
    expect_reference(*be, b, 2048,
                     logits(b, [&](auto, auto) { return std::round(u(g) * 64) / 64; }));
  }
}

}  // namespace
}  // namespace costcurve

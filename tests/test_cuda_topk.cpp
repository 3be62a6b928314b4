// The CUDA top-k against the float64/CPU reference, index for index: random rows at every
// alignment, ties across the threshold, all-equal rows, NaN and signed zeros, rows shorter than k
// or just above it, rows that end inside a chunk; both kernels (few long rows: several blocks per
// row, as in decode; many rows: one block per row, as in prefill) and each branch of the sampled
// threshold (candidates finished in shared memory or from the global list, a threshold above the
// k-th key, overflowing candidates). Positions a row must not see hold +inf, so that reading past
// a row's visible end fails; outputs are poisoned first. Unless a test says otherwise, its batch
// has fewer rows than any GPU has SMs and rows longer than 16K: the multi-block path on every GPU.
// Which branch a row takes is counted for an H100 (132 SMs, 227 KB of shared memory per block);
// every test checks the selection whatever branch it takes. Skipped without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

#include "kernels/reference/reference.hpp"
#include "tests/test_util.hpp"

namespace costcurve {
namespace {

using test::Mirror;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr std::int32_t kPoison = std::numeric_limits<std::int32_t>::min();

#define CUDA_TOPK_OR_SKIP(var) COSTCURVE_BACKEND_WITH_OP_OR_SKIP(var, "cuda", Op::topk)

// Each test draws its inputs from g, freshly seeded; a failure names the seed
// (COSTCURVE_SEED reproduces it). Each runs with the default kernels (v5), with the bulk prefetch
// (COSTCURVE_TOPK_BULK_PREFETCH=1), and with v6's float compares in the chunk pass and one warp for
// the last radix bits (COSTCURVE_TOPK_V6=1).
enum class Variant { standard, bulk_prefetch, v6 };

class CudaTopk : public ::testing::TestWithParam<Variant> {
protected:
  const test::ScopedEnv bulk_{"COSTCURVE_TOPK_BULK_PREFETCH",
                              GetParam() == Variant::bulk_prefetch ? "1" : "0"};
  const test::ScopedEnv v6_{"COSTCURVE_TOPK_V6", GetParam() == Variant::v6 ? "1" : "0"};
  const std::uint64_t seed_ = test::fresh_seed();
  ::testing::ScopedTrace trace_{__FILE__, __LINE__, "seed " + std::to_string(seed_)};
  std::mt19937_64 g{seed_};
};

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
TEST_P(CudaTopk, FewLongRowsOfRandomLogits) {
  CUDA_TOPK_OR_SKIP(be);
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
TEST_P(CudaTopk, TiesStraddlingTheThreshold) {
  CUDA_TOPK_OR_SKIP(be);
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
TEST_P(CudaTopk, NanAndSignedZeros) {
  CUDA_TOPK_OR_SKIP(be);
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
  // 97% NaN: the sample's threshold is NaN's key, yet the numbers (~3.9K of the long row) are more
  // than k. v6's chunk pass keeps the numbers only (NaN never passes its float compare) and
  // finishes from them; the others take the exact path.
  auto z = logits(b, [&](auto, auto) { return coin(g) < 0.97f ? kNan : neg(g); });
  expect_reference(*be, b, 2048, z);
}

// Rows with fewer visible positions than k (and exactly k) are padded with -1, beside long rows.
TEST_P(CudaTopk, RowsShorterThanKBesideLongRows) {
  CUDA_TOPK_OR_SKIP(be);
  std::uniform_real_distribution<float> u(-10, 10);
  const Batch b = batch(2, {131072, 1500, 2049, 2050, 70000}, 131072);
  const auto x = logits(b, [&](auto, auto) { return u(g); });
  for (int k : {2048, 5000}) expect_reference(*be, b, k, x);
}

// Ragged rows whose ends fall inside a chunk (and s_q = 3: neighbouring rows differ by one
// position), at odd alignments; past each row's end the buffer holds +inf.
TEST_P(CudaTopk, VisibleLengthEndsMidChunk) {
  CUDA_TOPK_OR_SKIP(be);
  std::uniform_real_distribution<float> u(0, 1);
  const Batch b = batch(3, {65537, 99999, 131071, 17001, 16390}, 131077);
  const auto x = logits(b, [&](auto, auto) { return std::round(u(g) * 4096) / 4096; });
  for (int k : {2048, 7}) expect_reference(*be, b, k, x);
}

// At the rule's edge: 2 x SMs - 1 rows take the multi-block path, 2 x SMs the one-block path;
// both give the reference selection.
TEST_P(CudaTopk, BothSidesOfTheRowCountRuleAgree) {
  CUDA_TOPK_OR_SKIP(be);
  std::uniform_real_distribution<float> u(-50, 50);
  const std::int64_t sms = be->info().threads;
  for (std::int64_t rows : {2 * sms - 1, 2 * sms}) {
    const Batch b = batch(1, std::vector<std::int64_t>(rows, 20000), 20001);
    expect_reference(*be, b, 2048,
                     logits(b, [&](auto, auto) { return std::round(u(g) * 64) / 64; }));
  }
}

// The multi-block kernel's per-row counters are cleared by the kernel itself, not per call: more
// rows than the last call (counters where its candidate lists lay), fewer, a row that overflows
// to the exact path, and the same shape again must each start from zero.
TEST_P(CudaTopk, CountersStayClearAcrossCallsOfOtherShapes) {
  CUDA_TOPK_OR_SKIP(be);
  const test::ScopedEnv memset("COSTCURVE_TOPK_MEMSET", "0");
  std::uniform_real_distribution<float> u(-50, 50);
  for (std::int64_t seqs : {2, 7, 1, 7, 3}) {
    const Batch b = batch(2, std::vector<std::int64_t>(seqs, 90000), 90000);
    const auto x = logits(b, [&](auto, auto) { return std::round(u(g) * 64) / 64; });
    expect_reference(*be, b, 2048, x);
    expect_reference(*be, b, 2048, logits(b, [](auto, auto) { return 1.0f; }));  // overflows
  }
}

// COSTCURVE_TOPK_PHASES=1 runs the multi-block kernel that stamps its phases (a diagnostic, whose
// line per shape goes to stderr at exit): the selection must not change.
TEST_P(CudaTopk, PhaseTimingDiagnosticKeepsTheSelection) {
  CUDA_TOPK_OR_SKIP(be);
  const test::ScopedEnv phases("COSTCURVE_TOPK_PHASES", "1");
  std::uniform_real_distribution<float> u(-50, 50);
  const Batch b = batch(2, {131072, 60000, 1000}, 131072);
  const auto x = logits(b, [&](auto, auto) { return std::round(u(g) * 64) / 64; });
  for (int k : {2048, 100}) expect_reference(*be, b, k, x);
}

// ---- The sampled threshold ----

// The positions the kernel's sample reads in a row of n that starts 16-byte aligned (a capacity
// that is a multiple of 4): mirrors sample_threshold() in kernels/cuda/topk.cu, 64 runs of 8 quads
// at evenly spaced quads from the first to the last.
std::vector<bool> sampled_positions(std::int64_t n) {
  const std::int64_t quads = (n + 3) / 4;
  std::vector<bool> s(static_cast<std::size_t>(n), false);
  for (std::int64_t run = 0; run < 64; ++run) {
    const std::int64_t q0 = run * (quads - 8) / 63;
    for (std::int64_t p = 4 * q0; p < std::min(n, 4 * q0 + 32); ++p) s[p] = true;
  }
  return s;
}

// Both kernels' shapes: four long rows (the multi-block kernel), and 2 x SMs + 3 causal rows of
// ~40K (the one-block kernel; longer than the shared-memory stash, so sampled). Capacities are
// multiples of 4, so that sampled_positions() holds.
std::vector<Batch> decode_and_prefill_shapes(Backend& be) {
  const std::int64_t rows = 2 * be.info().threads + 3;
  return {batch(2, {131072, 60000}, 131072), batch(rows, {40000 + rows}, (40003 + rows) / 4 * 4)};
}

// The sample sees only large logits (in [5, 6], the rest of the row in [-1, 0]): T is the r-th
// largest of them and only r (< k) keys reach it, so every row falls back to the exact path.
TEST_P(CudaTopk, SampledThresholdAboveTheKthKeyFallsBack) {
  CUDA_TOPK_OR_SKIP(be);
  std::uniform_real_distribution<float> low(-1, 0), high(5, 6);
  for (const Batch& b : decode_and_prefill_shapes(*be)) {
    std::vector<std::vector<bool>> hit;
    for (std::int64_t r = 0; r < b.query_rows(); ++r)
      hit.push_back(sampled_positions(visible(b, r)));
    const auto x = logits(b, [&](auto r, auto p) { return hit[r][p] ? high(g) : low(g); });
    for (int k : {2048, 100}) expect_reference(*be, b, k, x);
  }
}

// Large logits only where the sample does not look, so T comes from the rest of the row: on 2.56%
// of the row (k / 2 on the ~40K rows; all of them candidates beside the ~2.25k expected: the
// normal finish), then on 30% (the candidates overflow: the exact path; on the 60K rows the
// multi-block kernel's global list still holds them).
TEST_P(CudaTopk, LargeLogitsOnlyBetweenTheSamples) {
  CUDA_TOPK_OR_SKIP(be);
  std::uniform_real_distribution<float> low(-1, 0), high(5, 6), coin(0, 1);
  const int k = 2048;
  for (const Batch& b : decode_and_prefill_shapes(*be)) {
    std::vector<std::vector<bool>> hit;
    for (std::int64_t r = 0; r < b.query_rows(); ++r)
      hit.push_back(sampled_positions(visible(b, r)));
    for (double share : {0.5 * k / 40000, 0.3}) {
      const auto x = logits(
          b, [&](auto r, auto p) { return !hit[r][p] && coin(g) < share ? high(g) : low(g); });
      expect_reference(*be, b, k, x);
    }
  }
}

// 300 large logits, then one value v on a share of the row, the rest below v: when the samples at
// v reach T's rank (72 of 2048 on the 128K rows, 158 on the 60K ones, 236 on the ~40K ones),
// T = v and the candidates are the large logits and every v, of which k takes the lowest
// positions. By share and row: 6% of 128K and 12% of 60K, 16% of ~40K: they fit in shared memory;
// 12% of 128K and 40% of 60K: the multi-block kernel finishes from the global list (over 10K
// candidates); 40% of 128K and of ~40K: they overflow (exact path). All-equal rows overflow too.
TEST_P(CudaTopk, TiesAtTheSampledThreshold) {
  CUDA_TOPK_OR_SKIP(be);
  std::uniform_real_distribution<float> low(-1, 0), high(5, 6), coin(0, 1);
  const auto shapes = decode_and_prefill_shapes(*be);
  auto with_ties = [&](const Batch& b, double share) {
    auto x = logits(b, [&](auto, auto) { return coin(g) < share ? 2.5f : low(g); });
    for (std::int64_t r = 0; r < b.query_rows(); ++r) {
      std::uniform_int_distribution<std::int64_t> at(0, visible(b, r) - 1);
      for (int i = 0; i < 300; ++i) x[r * b.capacity + at(g)] = high(g);
    }
    return x;
  };
  for (double share : {0.06, 0.12, 0.4})
    expect_reference(*be, shapes[0], 2048, with_ties(shapes[0], share));
  for (double share : {0.16, 0.4})
    expect_reference(*be, shapes[1], 2048, with_ties(shapes[1], share));
  for (const Batch& b : shapes) {
    expect_reference(*be, b, 2048, logits(b, [](auto, auto) { return -7.25f; }));
    expect_reference(*be, b, 100, logits(b, [](auto, auto) { return 0.0f; }));
  }
}

// Decode's shape (64 rows of 128K: four chunks of 32K a row, on an H100) with large logits on 65%
// (even rows) or all (odd rows) of the unsampled positions of the first chunk: some 21K or 32K
// candidates in one block, past its shared-memory list (about 14K entries on an H100), so that the
// rest go straight to the row's list. The even rows finish from the global list; the odd rows'
// lists overflow (over n / 4 candidates) and take the exact path.
TEST_P(CudaTopk, CandidatesPastTheBlocksListGoToTheRowsList) {
  CUDA_TOPK_OR_SKIP(be);
  std::uniform_real_distribution<float> low(-1, 0), high(5, 6), coin(0, 1);
  const Batch b = batch(2, std::vector<std::int64_t>(32, 131072), 131072);
  const auto hit = sampled_positions(131072);
  const auto x = logits(b, [&](auto r, auto p) {
    const double share = r % 2 ? 1.0 : 0.65;
    return p < 32768 && !hit[p] && coin(g) < share ? high(g) : low(g);
  });
  expect_reference(*be, b, 2048, x);
}

// Rows just above k (and at it) beside long rows, in both kernels: not sampled, they take the
// exact path (or padding); and the sampling rule's edge, which at k = 2048 admits rows of 18432
// positions (T at rank 512 of the sample) and 18433, not 18431. Then k = 30000: rows around it
// that do not fit in shared memory and are too short to sample (the long exact path).
TEST_P(CudaTopk, RowsJustAboveK) {
  CUDA_TOPK_OR_SKIP(be);
  std::uniform_real_distribution<float> u(-50, 50);
  auto quantised = [&](auto, auto) { return std::round(u(g) * 64) / 64; };
  const Batch few =
      batch(1, {131072, 2048, 2049, 2050, 2051, 2052, 2053, 16384, 18431, 18432, 18433}, 131075);
  expect_reference(*be, few, 2048, logits(few, quantised));
  const std::int64_t rows = 2 * be->info().threads + 3;
  for (int k : {2048, 30000}) {
    const Batch many = batch(rows, {k - 4 + rows}, k - 3 + rows);  // rows of k - 3 ... k - 4 + rows
    expect_reference(*be, many, k, logits(many, quantised));
  }
}

// v5 stages each row's output in free shared memory and writes it straight to global memory where
// k does not fit; the other tests' k fit everywhere they run. Rows that fit in shared memory (few
// rows of at most 16K: the one-block kernel, its stash as long as the longest row) stage in the
// histogram's 2048 words (k = 2047 at a 16-byte aligned output), else in the stash past the row's
// keys (the shorter rows), else nowhere (the longest rows); k = 2047 and 3001 put the rows'
// outputs at every 4-byte alignment. Rows of 400K (the multi-block kernel on an H100, whose
// finish has 3.8K words past the bitmaps): k = 2048 stages, k = 5000 does not.
TEST_P(CudaTopk, OutputsPastTheSharedStage) {
  CUDA_TOPK_OR_SKIP(be);
  std::uniform_real_distribution<float> u(-50, 50);
  auto quantised = [&](auto, auto) { return std::round(u(g) * 64) / 64; };
  const Batch short_rows = batch(1, {16000, 15000, 9000, 6001, 4100, 3003}, 16003);
  const auto x = logits(short_rows, quantised);
  for (int k : {2047, 3001, 4095}) expect_reference(*be, short_rows, k, x);
  const Batch long_rows = batch(2, {400000}, 400001);
  const auto y = logits(long_rows, [&](auto, auto) { return u(g); });
  for (int k : {2048, 5000}) expect_reference(*be, long_rows, k, y);
}

// Prefill-shaped: 2 x SMs + 5 causal rows of ~64K at every alignment (capacity 1 mod 4), one block
// per row, each sampled, with benchmark-like quantised logits (many ties) and continuous ones;
// k = 1 takes T's minimum rank.
TEST_P(CudaTopk, PrefillShapedBatchOfLongRows) {
  CUDA_TOPK_OR_SKIP(be);
  std::uniform_real_distribution<float> u(-50, 50);
  const std::int64_t rows = 2 * be->info().threads + 5;
  const Batch b = batch(rows, {65536 + rows}, (65536 + rows) / 4 * 4 + 5);  // 1 mod 4
  const auto quantised = logits(b, [&](auto, auto) { return std::round(u(g) * 64) / 64; });
  for (int k : {2048, 1}) expect_reference(*be, b, k, quantised);
  expect_reference(*be, b, 2048, logits(b, [&](auto, auto) { return u(g); }));
}

// Decode-shaped: 32 sequences x 2 queries at 128K (the benchmark's decode step), several blocks
// per row; run twice (the per-call counters must start clean), and at an odd capacity.
TEST_P(CudaTopk, DecodeShapedBatch) {
  CUDA_TOPK_OR_SKIP(be);
  std::uniform_real_distribution<float> u(-50, 50);
  auto quantised = [&](auto, auto) { return std::round(u(g) * 64) / 64; };
  const Batch b = batch(2, std::vector<std::int64_t>(32, 131072), 131072);
  const auto x = logits(b, quantised);
  expect_reference(*be, b, 2048, x);
  expect_reference(*be, b, 2048, x);
  const Batch odd = batch(2, std::vector<std::int64_t>(32, 131072), 131073);
  expect_reference(*be, odd, 2048, logits(odd, quantised));
}

// The switches to v3.2 and v4 went with their code (2026-12-08): set, they are an error, so that
// an A/B never times v5 under their names.
TEST(CudaTopkVersions, RemovedSwitchesAreErrors) {
  CUDA_TOPK_OR_SKIP(be);
  const Batch b = batch(1, {40000}, 40000);
  const std::vector<float> x(40000, 1.0f);
  for (const char* gone : {"COSTCURVE_TOPK_V3", "COSTCURVE_TOPK_V4"}) {
    const test::ScopedEnv env(gone, "1");
    try {
      run_topk(*be, b, 2048, x);
      ADD_FAILURE() << gone << "=1 ran";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(gone) + " is gone"), std::string::npos)
          << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaTopk,
                         ::testing::Values(Variant::standard, Variant::bulk_prefetch, Variant::v6),
                         [](const ::testing::TestParamInfo<Variant>& i) {
                           switch (i.param) {
                             case Variant::bulk_prefetch: return "bulk_prefetch";
                             case Variant::v6: return "v6";
                             default: return "default_prefetch";
                           }
                         });

}  // namespace
}  // namespace costcurve

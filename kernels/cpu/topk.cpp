// Top-k by radix select, not by sorting (long rows first narrow the row to a few candidates with a
// sampled threshold and one vectorised pass): logits map to order-preserving 32-bit keys; an 11-bit
// histogram over the whole row finds the bucket holding the k-th largest key, two more passes over
// that bucket's (few) candidates pin the threshold exactly, and one ordered scan emits every key
// above it plus the first (lowest-position) keys equal to it: the documented tie rule.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/cpu/kernels.hpp"

namespace costcurve::cpu {
namespace {

// Monotone map: a > b as floats  <=>  key(a) > key(b); NaN maps below everything, -0 to +0.
inline std::uint32_t order_key(float x) {
  if (std::isnan(x)) return 0;
  if (x == 0.0f) x = 0.0f;
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Largest threshold T such that at least `k` keys are >= T; also returns how many keys equal T
// must be taken (`ties`). Every key is >= base; the digits (11 bits at most) cover only the bits
// in which key - base varies: a sampled row's candidates all sit just above the threshold, and
// digits taken from the top of the whole key would put them in one or two bins, every increment
// waiting on the one before (the full row, base 0, gets digits of 11, 11 and 10 bits).
std::uint32_t select_threshold(const std::uint32_t* keys, long n, long k, std::uint32_t base,
                               std::vector<std::uint32_t>& cand, long& ties) {
  int width = 32;
  if (base != 0) {
    std::uint32_t span = 0;
    for (long i = 0; i < n; ++i) span = std::max(span, keys[i] - base);
    width = std::bit_width(span);
  }
  std::uint32_t prefix = 0, mask = 0;  // of key - base
  long remaining = k;
  std::array<std::uint32_t, 2048> hist;  // cleared per pass, as far as the digit reaches
  const std::uint32_t* src = keys;
  long m = n;
  for (bool first = true; width > 0; first = false) {
    const int bits = std::min(11, width), shift = width - bits;
    const std::uint32_t dmask = (1u << bits) - 1;
    std::fill(hist.begin(), hist.begin() + (1 << bits), 0);
    for (long i = 0; i < m; ++i) {
      const std::uint32_t rel = src[i] - base;
      if ((rel & mask) == prefix) ++hist[(rel >> shift) & dmask];
    }
    long d = dmask;
    for (; d > 0 && static_cast<long>(hist[d]) < remaining; --d) remaining -= hist[d];
    prefix |= static_cast<std::uint32_t>(d) << shift;
    mask |= dmask << shift;
    width = shift;
    if (first) {  // later passes only look at the chosen bucket
      cand.clear();
      for (long i = 0; i < n; ++i)
        if (((keys[i] - base) & mask) == prefix) cand.push_back(keys[i]);
      src = cand.data();
      m = static_cast<long>(cand.size());
    }
  }
  ties = remaining;
  return prefix + base;
}

// Appends the positions and keys of x[0, n) whose key is >= lo (lo > 0: a number's key), in
// position order; returns how many, or -1 once more than `cap` (ckeys and cidx hold cap + 16). The
// pass compares floats (key(x) >= lo <=> x >= the float whose key is lo, for every x but NaN, which
// an ordered compare rejects as its key 0 < lo requires) and maps to keys only the few that pass,
// afterwards.
long keep_at_least(const float* x, long n, std::uint32_t lo, long cap, std::uint32_t* ckeys,
                   std::int32_t* cidx) {
  const float t = std::bit_cast<float>((lo & 0x80000000u) ? (lo & 0x7fffffffu)
                                                          : static_cast<std::uint32_t>(~lo));
  long c = 0, i = 0;
#if defined(__AVX512F__)
  const __m512 vt = _mm512_set1_ps(t);
  const __m512i step = _mm512_set1_epi32(16);
  __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (; i + 16 <= n; i += 16, idx = _mm512_add_epi32(idx, step)) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __mmask16 m = _mm512_cmp_ps_mask(v, vt, _CMP_GE_OQ);
    _mm512_mask_compressstoreu_ps(ckeys + c, m, v);
    _mm512_mask_compressstoreu_epi32(cidx + c, m, idx);
    c += __builtin_popcount(m);
    if (c > cap) return -1;
  }
  for (long j = 0; j < c; ++j) ckeys[j] = order_key(std::bit_cast<float>(ckeys[j]));
#endif
  for (; i < n; ++i) {
    const std::uint32_t key = order_key(x[i]);
    if (key >= lo) ckeys[c] = key, cidx[c++] = static_cast<std::int32_t>(i);
    if (c > cap) return -1;
  }
  return c;
}

// Long rows: a sample of 4096 keys guesses a threshold that about 1.5·k keys reach, one
// vectorised pass keeps those, and the exact selection runs on them alone. Returns false (and the
// caller runs the full radix select, which gives the same answer) when the guess kept fewer than k
// keys or too many for the shortcut to pay. The sample is 256 runs of 16 neighbours (one cache
// line each) spread evenly over the row: single keys at a stride of n / 4096 (32 floats at 128K)
// touched every other cache line, and with the adjacent-line prefetch the sample cost about as
// much memory traffic as the pass itself.
struct Scratch {
  std::vector<std::uint32_t> keys, cand, sample, ckeys;
  std::vector<std::int32_t> cidx;
};
bool select_by_sample(const float* x, long n, long k, std::int32_t* out, Scratch& s) {
  constexpr long kRun = 16, kRuns = 256, kSample = kRun * kRuns;
  if (n < 16384 || n < 8 * k) return false;
  const long stride = n / kRuns / kRun * kRun;  // >= 64: runs never overlap
  const long rank = static_cast<long>(1.5 * static_cast<double>(k) * kSample / n) + 16;
  if (rank >= kSample) return false;
  s.sample.resize(kSample);
  for (long r = 0; r < kRuns; ++r)
    for (long i = 0; i < kRun; ++i) s.sample[r * kRun + i] = order_key(x[r * stride + i]);
  std::nth_element(s.sample.begin(), s.sample.begin() + rank, s.sample.end(),
                   std::greater<std::uint32_t>());
  const std::uint32_t lo = s.sample[rank];
  if (lo == 0) return false;  // the sample's rank-th key is a NaN's: every key reaches it
  // Sized for the most candidates worth keeping, not for the row; the vectors only ever grow.
  const long cap = 16 * k;
  if (static_cast<long>(s.ckeys.size()) < cap + 16)
    s.ckeys.resize(cap + 16), s.cidx.resize(cap + 16);
  const long c = keep_at_least(x, n, lo, cap, s.ckeys.data(), s.cidx.data());
  if (c < k) return false;
  long ties = 0;
  const std::uint32_t t = select_threshold(s.ckeys.data(), c, k, lo, s.cand, ties);
  long w = 0;
  for (long j = 0; j < c; ++j)
    if (s.ckeys[j] > t || (s.ckeys[j] == t && ties-- > 0)) out[w++] = s.cidx[j];
  return true;
}

}  // namespace

void topk(const TopkArgs& a, int threads) {
  const Batch& bt = a.batch;
  check_topk(bt, a.k);
  const long rows = bt.query_rows();
  const long k = a.k;

#pragma omp parallel num_threads(threads)
  {
    // Kept per thread across calls (OpenMP keeps its threads): fresh buffers of a long row's size
    // cost a page fault per 4 KB and a zero fill on every call, more than the selection itself.
    static thread_local Scratch s;
#pragma omp for schedule(dynamic, 1)
    for (long r = 0; r < rows; ++r) {
      const long n = bt.query_pos(r / bt.s_q, r % bt.s_q) + 1;
      const float* x = a.logits + r * bt.capacity;
      std::int32_t* out = a.indices + r * k;
      if (n <= k) {
        for (long i = 0; i < n; ++i) out[i] = static_cast<std::int32_t>(i);
        std::fill(out + n, out + k, -1);
        continue;
      }
      if (select_by_sample(x, n, k, out, s)) continue;
      std::vector<std::uint32_t>& keys = s.keys;
      keys.resize(n);
      for (long i = 0; i < n; ++i) keys[i] = order_key(x[i]);
      long ties = 0;
      const std::uint32_t t = select_threshold(keys.data(), n, k, 0, s.cand, ties);
      long w = 0;
      for (long i = 0; i < n; ++i)
        if (keys[i] > t || (keys[i] == t && ties-- > 0)) out[w++] = static_cast<std::int32_t>(i);
    }
  }
}

}  // namespace costcurve::cpu

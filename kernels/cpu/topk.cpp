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

struct Digit {
  int shift, bits;
};
constexpr std::array<Digit, 3> kDigits{{{21, 11}, {10, 11}, {0, 10}}};

// Largest threshold T such that at least `k` keys are >= T; also returns how many keys equal T
// must be taken (`ties`).
std::uint32_t select_threshold(const std::uint32_t* keys, long n, long k,
                               std::vector<std::uint32_t>& cand, long& ties) {
  std::uint32_t prefix = 0, mask = 0;
  long remaining = k;
  std::array<long, 2048> hist{};
  const std::uint32_t* src = keys;
  long m = n;
  for (std::size_t pass = 0; pass < kDigits.size(); ++pass) {
    const Digit dg = kDigits[pass];
    const std::uint32_t dmask = (1u << dg.bits) - 1;
    std::fill(hist.begin(), hist.begin() + (1 << dg.bits), 0);
    for (long i = 0; i < m; ++i)
      if ((src[i] & mask) == prefix) ++hist[(src[i] >> dg.shift) & dmask];
    long d = dmask;
    for (; d > 0 && hist[d] < remaining; --d) remaining -= hist[d];
    prefix |= static_cast<std::uint32_t>(d) << dg.shift;
    mask |= dmask << dg.shift;
    if (pass == 0) {  // later passes only look at the chosen bucket
      cand.clear();
      for (long i = 0; i < n; ++i)
        if ((keys[i] & mask) == prefix) cand.push_back(keys[i]);
      src = cand.data();
      m = static_cast<long>(cand.size());
    }
  }
  ties = remaining;
  return prefix;
}

// Appends the positions and keys of x[0, n) whose key is >= lo, in position order; returns how
// many. ckeys and cidx must hold n entries.
long keep_at_least(const float* x, long n, std::uint32_t lo, std::uint32_t* ckeys,
                   std::int32_t* cidx) {
  long c = 0, i = 0;
#if defined(__AVX512F__)
  const __m512 zero = _mm512_setzero_ps();
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  const __m512i vlo = _mm512_set1_epi32(static_cast<int>(lo));
  const __m512i step = _mm512_set1_epi32(16);
  __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (; i + 16 <= n; i += 16, idx = _mm512_add_epi32(idx, step)) {
    const __m512 v = _mm512_add_ps(_mm512_loadu_ps(x + i), zero);  // -0 becomes +0
    const __m512i bits = _mm512_castps_si512(v);
    __m512i key = _mm512_xor_si512(bits, _mm512_or_si512(_mm512_srai_epi32(bits, 31), sign));
    key =
        _mm512_mask_mov_epi32(key, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_setzero_si512());
    const __mmask16 m = _mm512_cmpge_epu32_mask(key, vlo);
    _mm512_mask_compressstoreu_epi32(ckeys + c, m, key);
    _mm512_mask_compressstoreu_epi32(cidx + c, m, idx);
    c += __builtin_popcount(m);
  }
#endif
  for (; i < n; ++i) {
    const std::uint32_t key = order_key(x[i]);
    if (key >= lo) ckeys[c] = key, cidx[c++] = static_cast<std::int32_t>(i);
  }
  return c;
}

// Long rows: a strided sample of 4096 keys guesses a threshold that about 1.5·k keys reach, one
// vectorised pass keeps those, and the exact selection runs on them alone. Returns false (and the
// caller runs the full radix select, which gives the same answer) when the guess kept fewer than k
// keys or too many for the shortcut to pay.
struct Scratch {
  std::vector<std::uint32_t> keys, cand, sample, ckeys;
  std::vector<std::int32_t> cidx;
};
bool select_by_sample(const float* x, long n, long k, std::int32_t* out, Scratch& s) {
  constexpr long kSample = 4096;
  if (n < 16384 || n < 8 * k) return false;
  const long stride = n / kSample;
  const long rank = static_cast<long>(1.5 * static_cast<double>(k) * kSample / n) + 16;
  if (rank >= kSample) return false;
  s.sample.resize(kSample);
  for (long i = 0; i < kSample; ++i) s.sample[i] = order_key(x[i * stride]);
  std::nth_element(s.sample.begin(), s.sample.begin() + rank, s.sample.end(),
                   std::greater<std::uint32_t>());
  const std::uint32_t lo = s.sample[rank];
  s.ckeys.resize(n);
  s.cidx.resize(n);
  const long c = keep_at_least(x, n, lo, s.ckeys.data(), s.cidx.data());
  if (c < k || c > 16 * k) return false;
  long ties = 0;
  const std::uint32_t t = select_threshold(s.ckeys.data(), c, k, s.cand, ties);
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
    Scratch s;
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
      const std::uint32_t t = select_threshold(keys.data(), n, k, s.cand, ties);
      long w = 0;
      for (long i = 0; i < n; ++i)
        if (keys[i] > t || (keys[i] == t && ties-- > 0)) out[w++] = static_cast<std::int32_t>(i);
    }
  }
}

}  // namespace costcurve::cpu

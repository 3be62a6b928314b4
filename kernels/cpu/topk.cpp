// Top-k by radix select, not by sorting: logits map to order-preserving 32-bit keys; an 11-bit
// histogram over the whole row finds the bucket holding the k-th largest key, two more passes over
// that bucket's (few) candidates pin the threshold exactly, and one ordered scan emits every key
// above it plus the first (lowest-position) keys equal to it: the documented tie rule.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

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

}  // namespace

void topk(const TopkArgs& a, int threads) {
  const Batch& bt = a.batch;
  check_topk(bt, a.k);
  const long rows = bt.query_rows();
  const long k = a.k;

#pragma omp parallel num_threads(threads)
  {
    std::vector<std::uint32_t> keys, cand;
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
      keys.resize(n);
      for (long i = 0; i < n; ++i) keys[i] = order_key(x[i]);
      long ties = 0;
      const std::uint32_t t = select_threshold(keys.data(), n, k, cand, ties);
      long w = 0;
      for (long i = 0; i < n; ++i)
        if (keys[i] > t || (keys[i] == t && ties-- > 0)) out[w++] = static_cast<std::int32_t>(i);
    }
  }
}

}  // namespace costcurve::cpu

// Top-k (kernels/cuda/NOTES.md, topk v5 and v6): long rows read once through a sampled threshold.
//
// Top-k by radix select: no sort. Logits map to order-preserving 32-bit keys; histogram passes over
// digits of the key (11, 11 and 10 bits) pin the k-th largest key t and how many keys equal to t to
// take (`need`, the lowest positions: the tie rule); the output is every position with key > t and
// the first `need` with key == t, in ascending position order.
//
// Long rows are read once. A sample of the row (2048 keys: 64 runs of 32 positions at evenly spaced
// offsets, so that the reads stay coalesced) gives a threshold T, the key of rank r among the
// samples, with r chosen so that about 2.25k of the row's keys are expected to reach T. One pass
// over the row keeps every key >= T with its position: the candidates. When there are at least k
// and they fit, the k-th largest key is among them (every key >= T is), so the histogram passes
// (on keys less the smallest candidate: see Above) and the output run over the candidates only:
// the positions of the selected ones are marked in two bitmaps over the row (key > t, key == t),
// whose ordered scan gives the ascending output.
// Otherwise (T above the k-th key: fewer than k candidates; or too many, e.g. a row of equal
// logits) the row takes the exact path below: correct, two or three more reads. For i.i.d. logits
// either happens with probability below 1e-6 per row (sample_rank), so that path is for adversarial
// rows. T is a function of the row's data alone: every block working on a row computes the same T.
//
// Two kernels, chosen by use_wide_path():
//
// One block per row (many rows, e.g. prefill: 512+ rows fill the GPU at two blocks per SM; and
// short rows). A row that fits in shared memory (about 26K positions on an H100) is read once into
// it and selected there. A longer row is sampled, its candidates kept in shared memory beside the
// bitmaps (room for about 10K of a 128K row; sample_rank asks for twice the expected count). The
// exact path for a long row (k too large for sampling, or the sample failed) reads it three times:
// pass 1, pass 2 (which also copies the keys of pass 1's bucket into shared memory when they fit,
// so that pass 3 reads only those) and the output pass; four times when that bucket is too large.
//
// Several blocks per row (few long rows, e.g. decode: 64 rows would leave half of an H100's SMs
// idle, each block reading its 512 KB row alone). Two counters per row, which each row's last block
// leaves at zero (a memset clears them only in fresh scratch); one kernel: each row is split in
// chunks, one block per chunk; every block computes the row's T, gathers its chunk's candidates in
// shared memory (v3.2 appended them to the global list with one atomic per warp and step, 12–15%
// slower at B=32), reserves their room in the row's global list with one atomic and
// copies them there, then takes a ticket; the row's last block finishes the row from the list
// (copied into shared memory when it fits, read from L2 otherwise) or runs the exact path alone
// when the list is short or overflowed. Scratch (Context slot 2, grown once): per row, a list of
// max(n / 4, 5k) candidates (n of the longest row; 16 MB for 64 rows of 128K).
//
// Each block asks L2 for the first two steps of its range right after issuing the sample's loads,
// so that HBM streams while the sample is selected; with
// COSTCURVE_TOPK_BULK_PREFETCH=1 (within ±2.5% on an H100), for its whole range in a few bulk
// requests.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cub/block/block_scan.cuh>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cuda/context.cuh"

namespace costcurve::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kUnroll = 4;  // quads (float4) per thread in flight per step
constexpr int kMaxBins = 2048;
constexpr unsigned kFull = 0xffffffffu;
// The sample: one quad per thread, in runs of kRunQuads quads (128 bytes).
constexpr int kSamples = 4 * kThreads;
constexpr int kRunQuads = 8;
constexpr int kRuns = kSamples / (4 * kRunQuads);
constexpr int kMinRank = 48;  // T's rank among the samples, at least
// Shorter rows are not sampled (the sample would be over 1/8 of them).
constexpr int kMinSampled = 16384;
static_assert(kRuns * kRunQuads == kThreads, "one quad of the sample per thread");

using BlockScan = cub::BlockScan<int, kThreads, cub::BLOCK_SCAN_WARP_SCANS>;

struct Int4Sum {
  __device__ int4 operator()(const int4& a, const int4& b) const {
    return make_int4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
  }
};

struct Shared {
  BlockScan::TempStorage scan;
  int4 warp_tot[kThreads / 32];  // emit's per-warp totals
  int digit, rem, count, ncand, last, listed, base;
  std::uint32_t lo, hi;  // finish_candidates' key range
};

// a > b as floats <=> key(a) > key(b); NaN maps below everything (0), -0 to +0.
__device__ __forceinline__ std::uint32_t order_key(float x) {
  std::uint32_t u = __float_as_uint(x);
  const std::uint32_t mag = u & 0x7fffffffu;
  if (mag > 0x7f800000u) return 0;
  if (mag == 0) u = 0;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Keys are read in quads: quad q holds positions 4q - off + e (e = 0..3), so that every full quad
// is one aligned 16-byte load whatever the row's alignment; positions outside [0, n) are invalid.
// load() returns the valid mask (bit e); it is 0 for q past the end.
struct RowKeys {  // the logits row, global memory
  const float* row;
  int n, off;
  __device__ int quads() const {
    return static_cast<int>((static_cast<long long>(n) + off + 3) >> 2);
  }
  __device__ unsigned load(int q, std::uint32_t (&k)[4]) const {
    const long long p0 = 4LL * q - off;
    if (p0 >= 0 && p0 + 4 <= n) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(row + p0));
      k[0] = order_key(v.x), k[1] = order_key(v.y), k[2] = order_key(v.z), k[3] = order_key(v.w);
      return 0xfu;
    }
    unsigned valid = 0;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      k[e] = 0;
      if (p0 + e >= 0 && p0 + e < n) {
        k[e] = order_key(__ldg(row + p0 + e));
        valid |= 1u << e;
      }
    }
    return valid;
  }
  // load() without the keys (v6's chunk pass): the logits as they are, NaN at invalid positions
  // (which no compare keeps).
  __device__ void load_f(int q, float (&x)[4]) const {
    const long long p0 = 4LL * q - off;
    if (p0 >= 0 && p0 + 4 <= n) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(row + p0));
      x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
      return;
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) x[e] = p0 + e >= 0 && p0 + e < n ? __ldg(row + p0 + e) : NAN;
  }
  // Asks L2 for the full quads among q = qb + j * kThreads + tid, j < 2 * kUnroll: what this thread
  // loads first when it walks [qb, qe) by count_pass's or collect's steps.
  __device__ void prefetch(int qb, int qe) const {
#pragma unroll
    for (int j = 0; j < 2 * kUnroll; ++j) {
      const int q = qb + j * kThreads + static_cast<int>(threadIdx.x);
      const long long p0 = 4LL * q - off;
      if (q < qe && p0 >= 0 && p0 + 4 <= n)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(__cvta_generic_to_global(row + p0)));
    }
  }
  // Asks L2 for all the full quads of [qb, qe) in at most 32 bulk requests, one a lane of warp 0
  // (cp.async.bulk.prefetch.L2, sm_90): a few instructions where prefetch() issues one per thread
  // and quad (eight per 128-byte line), and the whole range rather than its first two steps.
  // Before sm_90, prefetch(). Every thread calls it.
  __device__ void bulk_prefetch(int qb, int qe) const {
#if __CUDA_ARCH__ >= 900
    if (threadIdx.x >= 32) return;
    const int lo = max(qb, (off + 3) / 4),
              hi = min(qe, (n + off) / 4);  // full quads: 0 <= 4q - off, 4q - off + 4 <= n
    if (lo >= hi) return;
    const int per = (hi - lo + 31) / 32, a = lo + static_cast<int>(threadIdx.x) * per,
              b = min(hi, a + per);
    if (a < b)
      asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(
                       __cvta_generic_to_global(row + (4LL * a - off))),
                   "r"(16u * static_cast<unsigned>(b - a))
                   : "memory");
#else
    prefetch(qb, qe);
#endif
  }
};

// The logits that query row `row` sees, with its quad offset.
__device__ RowKeys row_keys(const float* logits, const std::int32_t* seq_lens, int s_q,
                            long long cap, int row) {
  const int b = row / s_q, i = row % s_q;
  const int n = seq_lens[b] - s_q + i + 1;  // visible positions [0, n)
  const float* x = logits + static_cast<long long>(row) * cap;
  return RowKeys{x, n, static_cast<int>(reinterpret_cast<std::uintptr_t>(x) >> 2 & 3)};
}

struct SmemKeys {  // keys in shared memory, position p at index p + off
  const std::uint32_t* keys;
  int n, off;
  __device__ int quads() const {
    return static_cast<int>((static_cast<long long>(n) + off + 3) >> 2);
  }
  __device__ unsigned load(int q, std::uint32_t (&k)[4]) const {
    const long long p0 = 4LL * q - off;
    if (p0 >= 0 && p0 + 4 <= n) {
      const uint4 v = *reinterpret_cast<const uint4*>(keys + 4 * q);
      k[0] = v.x, k[1] = v.y, k[2] = v.z, k[3] = v.w;
      return 0xfu;
    }
    unsigned valid = 0;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      k[e] = 0;
      if (p0 + e >= 0 && p0 + e < n) {
        k[e] = keys[4 * q + e];
        valid |= 1u << e;
      }
    }
    return valid;
  }
};

// A row's candidate keys in global memory (16-byte aligned), written by other blocks of the same
// launch: read through L2 (__ldcg), never through a possibly stale L1 or the read-only path.
struct ListKeys {
  const std::uint32_t* keys;
  int n;
  __device__ int quads() const { return (n + 3) >> 2; }
  __device__ unsigned load(int q, std::uint32_t (&k)[4]) const {
    if (4 * q + 4 <= n) {
      const uint4 v = __ldcg(reinterpret_cast<const uint4*>(keys) + q);
      k[0] = v.x, k[1] = v.y, k[2] = v.z, k[3] = v.w;
      return 0xfu;
    }
    unsigned valid = 0;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      k[e] = 0;
      if (4 * q + e < n) {
        k[e] = __ldcg(keys + 4 * q + e);
        valid |= 1u << e;
      }
    }
    return valid;
  }
};

// Reserves `mine` slots for this lane in a list shared by the grid or the block: one atomic per
// warp (on `count`, by its last lane) over the warp's inclusive scan. Returns the lane's first
// slot. Every lane of the warp calls it.
__device__ __forceinline__ int warp_reserve(int mine, int* count, int lane) {
  int incl = mine;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(kFull, incl, o);
    if (lane >= o) incl += y;
  }
  int base = 0;
  if (lane == 31) base = atomicAdd(count, incl);
  return __shfl_sync(kFull, base, 31) + incl - mine;
}

// Histogram of digit (key >> shift) & (2^bits - 1) over the keys of quads [qb, qe) with
// (key & mask) == prefix.
// kStore: also keep every key in `stash` (index p + off), for rows that fit in shared memory.
// kCompact: also append the counted keys to `stash` (any order; `stash_n` counts them).
// Every thread runs the same number of iterations (warp collectives inside).
template <bool kStore, bool kCompact, class Src>
__device__ void count_pass(const Src& src, int qb, int qe, std::uint32_t prefix, std::uint32_t mask,
                           int shift, int bits, int* hist, std::uint32_t* stash, int* stash_n) {
  const int tid = threadIdx.x, lane = tid % 32;
  const std::uint32_t dmask = (1u << bits) - 1;
  for (int q0 = qb; q0 < qe; q0 += kThreads * kUnroll) {
    std::uint32_t k[kUnroll][4];
    unsigned valid[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int q = q0 + u * kThreads + tid;
      valid[u] = q < qe ? src.load(q, k[u]) : 0u;
    }
    int mine = 0;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if constexpr (kStore) {
        const int q = q0 + u * kThreads + tid;
        if (q < qe)
          *reinterpret_cast<uint4*>(stash + 4 * q) = make_uint4(k[u][0], k[u][1], k[u][2], k[u][3]);
      }
#pragma unroll
      for (int e = 0; e < 4; ++e)
        if ((valid[u] >> e & 1u) && (k[u][e] & mask) == prefix) {
          atomicAdd(&hist[(k[u][e] >> shift) & dmask], 1);
          ++mine;
        }
    }
    if constexpr (kCompact) {
      if (__any_sync(kFull, mine != 0)) {
        int base = warp_reserve(mine, stash_n, lane);
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            if ((valid[u] >> e & 1u) && (k[u][e] & mask) == prefix) stash[base++] = k[u][e];
      }
    }
  }
}

__device__ void clear_hist(int* hist) {
  for (int j = threadIdx.x; j < kMaxBins; j += kThreads) hist[j] = 0;
}

// warp_tail's count of gathered keys: emit()'s per-warp totals, unused between select_digit's
// barrier and warp_tail's last one. select_digit<6> zeroes it before its barrier.
__device__ __forceinline__ int& tail_fill(Shared& sh) {
  return sh.warp_tot[0].x;
}

__device__ __forceinline__ int warp_sum(int v) {
#if __CUDA_ARCH__ >= 800
  return static_cast<int>(__reduce_add_sync(kFull, static_cast<unsigned>(v)));
#else
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
#endif
}

// After a count pass (and a barrier): finds the digit d holding the `remaining`-th largest of the
// counted keys (scanning digits from the top; `remaining` must not exceed their number), narrows
// prefix/mask to it and leaves in `remaining` its rank among the keys of that digit; `count` = how
// many keys the digit holds. Ends with a barrier after its last read of `hist` (16-byte aligned).
// Each thread reads its four bins as one 16-byte vector: read one by one, the lanes of a warp (four
// bins apart) met four to a bank (H100 profile: NOTES.md, topk v5).
template <int kVer>
__device__ void select_digit(const int* hist, int shift, int bits, std::uint32_t& prefix,
                             std::uint32_t& mask, int& remaining, int& count, Shared& sh) {
  constexpr int kPer = kMaxBins / kThreads;
  const int tid = threadIdx.x, nb = 1 << bits;
  int local[kPer], sum = 0;
  if (nb >= kPer) {  // the thread's bins [nb - 4 - 4 tid, nb - 1 - 4 tid], or none
    static_assert(kPer == 4, "one int4 of bins a thread");
    const int lo = nb - kPer * (tid + 1);
    const int4 v = lo >= 0 ? *reinterpret_cast<const int4*>(hist + lo) : make_int4(0, 0, 0, 0);
    local[0] = v.w, local[1] = v.z, local[2] = v.y, local[3] = v.x;
    sum = v.x + v.y + v.z + v.w;
  } else {
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const int d = nb - 1 - (tid * kPer + j);  // descending digits across the block
      local[j] = d >= 0 ? hist[d] : 0;
      sum += local[j];
    }
  }
  int above = 0;
  BlockScan(sh.scan).ExclusiveSum(sum, above);
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const int d = nb - 1 - (tid * kPer + j);
    if (above < remaining && above + local[j] >= remaining) {  // exactly one (thread, j)
      sh.digit = d;
      sh.rem = remaining - above;
      sh.count = local[j];
      if constexpr (kVer >= 6) tail_fill(sh) = 0;  // before the barrier below: warp_tail's count
    }
    above += local[j];
  }
  __syncthreads();
  prefix |= static_cast<std::uint32_t>(sh.digit) << shift;
  mask |= static_cast<std::uint32_t>(nb - 1) << shift;
  remaining = sh.rem;
  count = sh.count;
}

// v6 ends the radix passes with one warp once the digit just pinned holds at most kTailKeys keys:
// the block gathers them into the free histogram, and warp 0 pins the remaining bits one at a time
// (a count over its 8 keys a lane and a warp sum each), where each further pass cleared, counted
// and scanned 2048 bins between block-wide barriers (~1.6 us a pass on an H100 in the sample and
// the finish of decode's top-k: NOTES.md, topk v6).
constexpr int kTailPerLane = 8;
constexpr int kTailKeys = 32 * kTailPerLane;

// What the passes of select_passes over bits [0, top) would leave in prefix, mask, remaining and
// count, for the `count` (<= kTailKeys) keys of src that match prefix/mask, after select_digit<6>
// (its barrier follows its last read of `buf`, and it zeroed tail_fill). Ends with a barrier after
// its last read of `buf` and of src.
// Appends this thread's keys k[e] with bit e of `valid` that match prefix/mask to `buf` (counted
// by tail_fill). Every lane of the warp calls it.
__device__ __forceinline__ void tail_gather(const std::uint32_t (&k)[4], unsigned valid,
                                            std::uint32_t prefix, std::uint32_t mask, int* buf,
                                            Shared& sh) {
  unsigned hit = 0;
#pragma unroll
  for (int e = 0; e < 4; ++e)
    if ((valid >> e & 1u) && (k[e] & mask) == prefix) hit |= 1u << e;
  const int mine = __popc(hit);
  if (!__any_sync(kFull, mine != 0)) return;
  int base = warp_reserve(mine, &tail_fill(sh), static_cast<int>(threadIdx.x) % 32);
#pragma unroll
  for (int e = 0; e < 4; ++e)
    if (hit >> e & 1u) buf[base++] = static_cast<int>(k[e]);
}

// warp_tail once the keys are gathered (and a barrier passed): warp 0 pins bits [0, top).
__device__ void tail_select(int top, std::uint32_t& prefix, std::uint32_t& mask, int& remaining,
                            int& count, int* buf, Shared& sh) {
  const int tid = threadIdx.x, lane = tid % 32;
  if (tid < 32) {
    // Past the gathered keys, a key outside the digit (mask != 0 here), which never counts. The
    // keys stay in shared memory: 8 more registers a lane spilled in wide_topk (nvcc 13.0).
    const std::uint32_t none = prefix ^ (mask & (0u - mask));
    std::uint32_t* key = reinterpret_cast<std::uint32_t*>(buf);
    for (int i = count + lane; i < kTailKeys; i += 32) key[i] = none;
    __syncwarp();
    std::uint32_t want = prefix;  // its bits from b + 1 up pinned, the others zero
    int rem = remaining;
    for (int b = top - 1; b >= 0; --b) {
      const std::uint32_t one = want >> b | 1u;  // keys with these bits from b up: bit b set
      int c = 0;
#pragma unroll
      for (int j = 0; j < kTailPerLane; ++j) c += (key[32 * j + lane] >> b) == one;
      const int above = warp_sum(c);
      if (rem <= above)
        want |= 1u << b;
      else
        rem -= above;
    }
    int c = 0;
#pragma unroll
    for (int j = 0; j < kTailPerLane; ++j) c += key[32 * j + lane] == want;
    c = warp_sum(c);
    if (lane == 0) sh.digit = static_cast<int>(want), sh.rem = rem, sh.count = c;
  }
  __syncthreads();
  prefix = static_cast<std::uint32_t>(sh.digit);
  mask |= top >= 32 ? ~0u : (1u << top) - 1;
  remaining = sh.rem;
  count = sh.count;
}

template <class Src>
__device__ void warp_tail(const Src& src, int top, std::uint32_t& prefix, std::uint32_t& mask,
                          int& remaining, int& count, int* buf, Shared& sh) {
  const int tid = threadIdx.x, nq = src.quads();
  for (int q0 = 0; q0 < nq; q0 += kThreads) {  // as many iterations in every thread
    std::uint32_t k[4];
    const unsigned valid = q0 + tid < nq ? src.load(q0 + tid, k) : 0u;
    tail_gather(k, valid, prefix, mask, buf, sh);
  }
  __syncthreads();
  tail_select(top, prefix, mask, remaining, count, buf, sh);
}

// The radix passes over bits [0, top) of src's keys that match prefix/mask (the bits from `top` up
// already pinned by earlier passes, or zero in every key): digits of at most 11 bits from the top,
// so 11, 11 and 10 bits for a whole key (top = 32). After them prefix is the key of rank
// `remaining` (1 = the largest) and `remaining` its rank among the keys equal to it. It starts by
// clearing `hist` (earlier reads of it must be behind a barrier); its last barrier follows its
// last read of `hist` and of src.
template <int kVer, bool kTail = true, class Src>
__device__ void select_passes(const Src& src, int top, std::uint32_t& prefix, std::uint32_t& mask,
                              int& remaining, int& count, int* hist, Shared& sh) {
  while (top > 0) {
    if constexpr (kVer >= 6) {  // after a pass (mask set), a digit of few keys: one warp ends it
      if (kTail && mask != 0 && count <= kTailKeys)
        return warp_tail(src, top, prefix, mask, remaining, count, hist, sh);
    }
    const int shift = max(top - 11, 0), bits = top - shift;
    clear_hist(hist);
    __syncthreads();
    count_pass<false, false>(src, 0, src.quads(), prefix, mask, shift, bits, hist, nullptr,
                             nullptr);
    __syncthreads();
    select_digit<kVer>(hist, shift, bits, prefix, mask, remaining, count, sh);
    top = shift;
  }
}

// Writes, in ascending position order, every position with key > t and the first `need` with
// key == t: exactly k positions. Each step classifies kUnroll quads per thread (2 bits per
// position, so no key stays live) and one block scan of the per-quad counts places them all.
template <class Src>
__device__ void emit(const Src& src, std::uint32_t t, int need, int k, std::int32_t* out,
                     Shared& sh) {
  static_assert(kUnroll == 4, "the scan carries one int per quad of a thread");
  const int tid = threadIdx.x, nq = src.quads();
  int gt_seen = 0, eq_seen = 0;  // block-wide totals over the steps done
  for (int q0 = 0; q0 < nq; q0 += kThreads * kUnroll) {
    std::uint32_t key[kUnroll][4];
    unsigned valid = 0;  // bit 4u + e
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) valid |= src.load(q0 + u * kThreads + tid, key[u]) << 4 * u;
    unsigned cls = 0;  // bits 2(4u + e): 1 = above t, 2 = equal to t
    int cnt[kUnroll];  // per quad: above | equal << 16 (a step has at most 4 * kThreads of each)
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      cnt[u] = 0;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        if (!(valid >> (4 * u + e) & 1u)) continue;
        if (key[u][e] > t) {
          cls |= 1u << 2 * (4 * u + e);
          cnt[u] += 1;
        } else if (key[u][e] == t) {
          cls |= 2u << 2 * (4 * u + e);
          cnt[u] += 1 << 16;
        }
      }
    }
    // Exclusive block scan of the four counts (hand-written: cub's int4 scan spills here).
    int4 before, total;
    {
      const int lane = tid % 32, warp = tid / 32;
      int4 v = make_int4(cnt[0], cnt[1], cnt[2], cnt[3]);
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int4 y = make_int4(__shfl_up_sync(kFull, v.x, o), __shfl_up_sync(kFull, v.y, o),
                                 __shfl_up_sync(kFull, v.z, o), __shfl_up_sync(kFull, v.w, o));
        if (lane >= o) v = Int4Sum{}(v, y);
      }
      if (lane == 31) sh.warp_tot[warp] = v;
      __syncthreads();
      before = make_int4(v.x - cnt[0], v.y - cnt[1], v.z - cnt[2], v.w - cnt[3]);
      total = make_int4(0, 0, 0, 0);
#pragma unroll
      for (int w = 0; w < kThreads / 32; ++w) {
        const int4 x = sh.warp_tot[w];
        if (w < warp) before = Int4Sum{}(before, x);
        total = Int4Sum{}(total, x);
      }
    }
    const int b4[kUnroll] = {before.x, before.y, before.z, before.w};
    const int t4[kUnroll] = {total.x, total.y, total.z, total.w};
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      int eq_before = eq_seen + (b4[u] >> 16);
      int idx = gt_seen + (b4[u] & 0xffff) + min(eq_before, need);
      const int p0 = 4 * (q0 + u * kThreads + tid) - src.off;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const unsigned c = cls >> 2 * (4 * u + e) & 3u;
        if (c == 1) {
          out[idx++] = p0 + e;
        } else if (c == 2) {
          if (eq_before < need) out[idx++] = p0 + e;
          ++eq_before;
        }
      }
      gt_seen += t4[u] & 0xffff;
      eq_seen += t4[u] >> 16;
    }
    if (gt_seen + min(eq_seen, need) >= k) break;  // all k written (uniform)
    __syncthreads();                               // the scan's storage is reused
  }
}

__device__ void pad_short_row(int n, int k, std::int32_t* out) {
  for (int j = threadIdx.x; j < k; j += kThreads) out[j] = j < n ? j : -1;
}

// v5 stages a row's k outputs in shared memory, then copies them out in order: in the output loops
// each thread writes the outputs of its own part of the row, so one store of a warp touches up to
// a sector a lane (H100 profile: 83K of the kernel's 96K excess global sectors; NOTES.md, topk v5).
// The stage starts at out's offset within 16 bytes past a 16-byte aligned base, so that stage[j]
// and out[j] line up and store_staged() can copy with 16-byte accesses: it needs skew + k words.
// Where they do not fit (large k), the outputs go straight to global memory. The callers
// branch rather than select between the stage and `out`, so that the compiler knows the stage is
// shared memory: its 32-bit addresses keep the output loops within 64 registers (a generic
// pointer spilled; nvcc 13.0).
__device__ __forceinline__ int out_skew(const std::int32_t* out) {
  return static_cast<int>(reinterpret_cast<std::uintptr_t>(out) >> 2 & 3);
}

__device__ __forceinline__ bool stage_fits(const std::int32_t* out, int k, long long words) {
  return out_skew(out) + static_cast<long long>(k) <= words;
}

// Copies the k staged outputs to `out`: up to three ints to reach a 16-byte boundary, int4s, then
// the last up to three. Every thread calls it (it starts with a barrier: other threads staged).
__device__ void store_staged(const std::int32_t* stage, std::int32_t* out, int k) {
  __syncthreads();
  const int tid = threadIdx.x, head = min(k, (4 - out_skew(out)) & 3), quads = (k - head) / 4;
  if (tid < head) out[tid] = stage[tid];
  const int4* s4 = reinterpret_cast<const int4*>(stage + head);
  int4* o4 = reinterpret_cast<int4*>(out + head);
  for (int i = tid; i < quads; i += kThreads) o4[i] = s4[i];
  const int j = head + 4 * quads + tid;
  if (j < k) out[j] = stage[j];
}

// The exact path for one row (n > k) by one block. `smem`: a histogram of kMaxBins ints, then a
// stash of stash_cap keys. A row that fits in the stash is read once into it; a longer one is read
// by pass 1, pass 2 (which compacts pass 1's bucket into the stash when it fits, so that pass 3
// reads only those keys) and the output pass, plus pass 3 when the bucket does not fit.
template <int kVer>
__device__ void exact_row(const RowKeys& rk, int k, std::int32_t* out, std::uint32_t* smem,
                          int stash_cap, Shared& sh) {
  int* hist = reinterpret_cast<int*>(smem);
  std::uint32_t* stash = smem + kMaxBins;
  const int nq = rk.quads();
  const bool fits = 4LL * nq <= stash_cap;
  std::uint32_t prefix = 0, mask = 0;
  int remaining = k, count = 0;
  clear_hist(hist);
  __syncthreads();
  if (fits)
    count_pass<true, false>(rk, 0, nq, 0u, 0u, 21, 11, hist, stash, nullptr);
  else
    count_pass<false, false>(rk, 0, nq, 0u, 0u, 21, 11, hist, nullptr, nullptr);
  __syncthreads();
  select_digit<kVer>(hist, 21, 11, prefix, mask, remaining, count, sh);
  if (fits) {  // the row's keys are in shared memory
    const SmemKeys sk{stash, rk.n, rk.off};
    select_passes<kVer>(sk, 21, prefix, mask, remaining, count, hist, sh);
    // emit() reads the keys (4 nq words of the stash) only: the histogram, free after the passes,
    // or else the stash past the keys can stage.
    std::uint32_t* room = smem;
    long long words = kMaxBins;
    if (!stage_fits(out, k, words)) room = stash + 4 * nq, words = stash_cap - 4LL * nq;
    if (stage_fits(out, k, words)) {
      std::int32_t* stage = reinterpret_cast<std::int32_t*>(room) + out_skew(out);
      emit(sk, prefix, remaining, k, stage, sh);
      return store_staged(stage, out, k);
    }
    return emit(sk, prefix, remaining, k, out, sh);
  }
  const bool compact = count <= stash_cap;  // pass 1's bucket fits: keep its keys
  clear_hist(hist);
  if (threadIdx.x == 0) sh.ncand = 0;
  __syncthreads();
  if (compact)
    count_pass<false, true>(rk, 0, nq, prefix, mask, 10, 11, hist, stash, &sh.ncand);
  else
    count_pass<false, false>(rk, 0, nq, prefix, mask, 10, 11, hist, nullptr, nullptr);
  __syncthreads();
  select_digit<kVer>(hist, 10, 11, prefix, mask, remaining, count, sh);
  if (compact)
    select_passes<kVer>(SmemKeys{stash, sh.ncand, 0}, 10, prefix, mask, remaining, count, hist, sh);
  else
    select_passes<kVer>(rk, 10, prefix, mask, remaining, count, hist, sh);
  // emit() reads the row from global memory: all of smem can stage.
  if (stage_fits(out, k, kMaxBins + static_cast<long long>(stash_cap))) {
    std::int32_t* stage = reinterpret_cast<std::int32_t*>(smem) + out_skew(out);
    emit(rk, prefix, remaining, k, stage, sh);
    return store_staged(stage, out, k);
  }
  emit(rk, prefix, remaining, k, out, sh);
}

// ---- The sampled threshold ----

// COSTCURVE_TOPK_PHASES's clock: thread 0 of the block writes the global timer (ns) into ph[i];
// nothing when ph is null (the kernels timed for real).
__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__device__ __forceinline__ void stamp(unsigned long long* ph, int i) {
  if (ph && threadIdx.x == 0) ph[i] = global_ns();
}

// Candidates that fit in shared memory (`smem`: kMaxBins + stash_cap words) beside the bitmaps of
// a row of n and the histogram, which share the front: max(kMaxBins, 2 ceil(n / 32)) words. The
// candidates take the back: keys, then as many positions (a multiple of 4 each, 16-byte aligned).
__device__ int smem_candidates(int n, int stash_cap) {
  const long long front = max(static_cast<long long>(kMaxBins), 2 * ((n + 31LL) / 32));
  const long long free = kMaxBins + static_cast<long long>(stash_cap) - front;
  return free > 0 ? static_cast<int>(free / 8 * 4) : 0;
}

// T's rank among the samples for a row of n, or 0 when the row is not sampled: rows under
// kMinSampled, and rows where r would be above a quarter of the sample or the expected candidates
// (E = r n / kSamples) would exceed half of `cap`. r = max(kMinRank, ceil(2.25 k kSamples / n)).
// For i.i.d. keys, T is above the k-th largest key only when at least r samples exceed it, each
// with probability < k / n <= r / (2.25 kSamples); the candidates overflow only when fewer than r
// samples reach the cap-th largest key, each with probability >= 2 r / kSamples. Binomial tails:
// at r = 48, 4e-7 and 1e-8; at r = 72 (k = 2048 of 128K), 6e-10 and 3e-12.
__device__ int sample_rank(int n, int k, int cap, int stash_cap) {
  if (n < kMinSampled || n <= k || stash_cap < kSamples) return 0;
  const long long r =
      max(static_cast<long long>(kMinRank), (9LL * k * kSamples + 4LL * n - 1) / (4LL * n));
  if (r > kSamples / 4 || 2 * r * n > static_cast<long long>(kSamples) * cap) return 0;
  return static_cast<int>(r);
}

// The row's T: the key of rank `rank` among kSamples keys, kRuns runs of kRunQuads quads at evenly
// spaced quads from the first to the last (positions outside the row count as NaN: key 0). A
// function of the row's data alone. `samples`: kSamples words of shared memory. Ends with a
// barrier after its last read of `samples` and `hist`.
// With pf_qe > pf_qb, L2 is asked for quads [pf_qb, pf_qe) right after the sample's loads are
// issued, so that these do not queue behind the stream: the first two steps (prefetch), or the
// whole range when `bulk` (bulk_prefetch).
template <int kVer>
__device__ std::uint32_t sample_threshold(const RowKeys& rk, int rank, int* hist,
                                          std::uint32_t* samples, Shared& sh, int pf_qb = 0,
                                          int pf_qe = 0, bool bulk = false,
                                          unsigned long long* ph = nullptr) {
  const int tid = threadIdx.x, nq = rk.quads();  // nq >= kMinSampled / 4 > kRuns * kRunQuads
  const long long run = tid / kRunQuads;
  const int q = static_cast<int>(run * (nq - kRunQuads) / (kRuns - 1)) + tid % kRunQuads;
  std::uint32_t key[4];
  rk.load(q, key);
  if (pf_qe > pf_qb) {
    if (bulk)
      rk.bulk_prefetch(pf_qb, pf_qe);
    else
      rk.prefetch(pf_qb, pf_qe);
  }
  *reinterpret_cast<uint4*>(samples + 4 * tid) = make_uint4(key[0], key[1], key[2], key[3]);
  stamp(ph, 7);  // thread 0's sample loaded (its store waited for it)
  std::uint32_t prefix = 0, mask = 0;
  int remaining = rank, count = 0;
  if constexpr (kVer >= 6) {
    // The first pass and the tail's gather from the thread's own four keys, not from shared memory
    // through count_pass: select_passes' tail here pushed wide_topk past 64 registers (nvcc 13.0).
    clear_hist(hist);
    __syncthreads();
#pragma unroll
    for (int e = 0; e < 4; ++e) atomicAdd(&hist[key[e] >> 21], 1);
    __syncthreads();
    select_digit<kVer>(hist, 21, 11, prefix, mask, remaining, count, sh);
    if (count <= kTailKeys) {
      tail_gather(key, 0xfu, prefix, mask, hist, sh);
      __syncthreads();
      tail_select(21, prefix, mask, remaining, count, hist, sh);
      return prefix;
    }
    select_passes<kVer, false>(SmemKeys{samples, kSamples, 0}, 21, prefix, mask, remaining, count,
                               hist, sh);
    return prefix;
  }
  select_passes<kVer>(SmemKeys{samples, kSamples, 0}, 32, prefix, mask, remaining, count, hist, sh);
  return prefix;
}

// One step of a chunk pass: this thread's kUnroll quads from q0 (those before qe) into `key`;
// returns which keys are >= lo (bit 4u + e).
__device__ __forceinline__ unsigned load_step(const RowKeys& rk, int q0, int qe, std::uint32_t lo,
                                              std::uint32_t (&key)[kUnroll][4]) {
  unsigned take = 0;
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int q = q0 + u * kThreads + static_cast<int>(threadIdx.x);
    const unsigned valid = q < qe ? rk.load(q, key[u]) : 0u;
#pragma unroll
    for (int e = 0; e < 4; ++e)
      if ((valid >> e & 1u) && key[u][e] >= lo) take |= 1u << (4 * u + e);
  }
  return take;
}

// v6's chunk pass compares the logits as floats against the float whose key is lo: keys >= lo are
// exactly the logits >= it. For lo = 0 (T is NaN's key) it keeps every logit but NaN; leaving out
// NaNs, the smallest keys, changes no selection: with k or more other keys the k-th largest and all
// keys at or above it are kept, and with fewer the list is short, so the row takes the exact path.
__device__ __forceinline__ float key_floor(std::uint32_t lo) {
  if (lo == 0) return -INFINITY;
  return __uint_as_float((lo & 0x80000000u) ? (lo & 0x7fffffffu) : ~lo);
}

// This thread's kUnroll quads from q0 as logits; NaN past qe and outside the row.
__device__ __forceinline__ void load_step_f(const RowKeys& rk, int q0, int qe,
                                            float (&x)[kUnroll][4]) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int q = q0 + u * kThreads + static_cast<int>(threadIdx.x);
    if (q < qe)
      rk.load_f(q, x[u]);
    else
      x[u][0] = x[u][1] = x[u][2] = x[u][3] = NAN;
  }
}

// v6's walk over quads [qb, qe): each step's compare (one float compare a key), then the next
// step's loads, then append(q0, take) with the step's kept keys (bit 4u + e), which re-reads them
// by position (from L1 or L2) and takes their keys. v5's steps loaded, made keys of all 16 logits,
// and appended in turn, and every warp of the block did so in step with the others (they leave the
// sample's barrier together), so HBM idled while they appended (H100, decode: 1.9 TB/s over the
// chunk pass; NOTES.md, topk v6). Every thread runs the same number of steps (append may hold warp
// collectives).
template <class Append>
__device__ void filter_steps(const RowKeys& rk, int qb, int qe, std::uint32_t lo, Append append) {
  constexpr int kStep = kThreads * kUnroll;
  const float tf = key_floor(lo);
  float x[kUnroll][4];
  if (qb < qe) load_step_f(rk, qb, qe, x);
  for (int q0 = qb; q0 < qe; q0 += kStep) {
    unsigned take = 0;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        if (x[u][e] >= tf) take |= 1u << (4 * u + e);
    if (q0 + kStep < qe) load_step_f(rk, q0 + kStep, qe, x);
    append(q0, take);
  }
}

// The key and position of the lowest bit of a step's `take` (filter_steps), which it clears.
__device__ __forceinline__ std::uint32_t next_kept(const RowKeys& rk, int q0, unsigned& take,
                                                   std::int32_t& p) {
  const int b = __ffs(take) - 1;
  take &= take - 1;
  p = 4 * (q0 + (b >> 2) * kThreads + static_cast<int>(threadIdx.x)) - rk.off + (b & 3);
  return order_key(__ldg(rk.row + p));
}

// Appends (key, position) of every key >= lo in quads [qb, qe) of the row to its candidate list,
// in no particular order (one atomic on `fill` per warp and step). Writes past `cap` are dropped,
// but `fill` counts them: an overflow shows as fill > cap.
template <int kVer>
__device__ void collect(const RowKeys& rk, int qb, int qe, std::uint32_t lo, std::uint32_t* ck,
                        std::int32_t* cp, int* fill, int cap) {
  const int tid = threadIdx.x, lane = tid % 32;
  if constexpr (kVer >= 6) {
    filter_steps(rk, qb, qe, lo, [&](int q0, unsigned take) {
      const int mine = __popc(take);
      if (!__any_sync(kFull, mine != 0)) return;
      int base = warp_reserve(mine, fill, lane);
      while (take) {
        std::int32_t p;
        const std::uint32_t key = next_kept(rk, q0, take, p);
        if (base < cap) ck[base] = key, cp[base] = p;
        ++base;
      }
    });
  } else {
    for (int q0 = qb; q0 < qe; q0 += kThreads * kUnroll) {
      std::uint32_t key[kUnroll][4];
      const unsigned take = load_step(rk, q0, qe, lo, key);
      const int mine = __popc(take);
      if (!__any_sync(kFull, mine != 0)) continue;
      int base = warp_reserve(mine, fill, lane);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (take >> (4 * u + e) & 1u) {
            if (base < cap) {
              ck[base] = key[u][e];
              cp[base] = 4 * (q0 + u * kThreads + tid) - rk.off + e;
            }
            ++base;
          }
    }
  }
}

// collect() through a block-local list: `lk` in shared memory (`lcap` keys, then as many positions;
// one shared atomic per warp and step on sh.ncand, zero at entry); the entries past lcap go to the
// row's list directly (per warp, as collect()). Then one atomic on `fill` reserves the block's
// slots in the row's list and the block copies its local list there. Keeps the grid's global
// atomics off each step's path (v3 took one per warp and step; H100 decode: NOTES.md, topk v4).
template <int kVer>
__device__ void collect_local(const RowKeys& rk, int qb, int qe, std::uint32_t lo,
                              std::uint32_t* lk, int lcap, std::uint32_t* ck, std::int32_t* cp,
                              int* fill, int cap, Shared& sh) {
  const int tid = threadIdx.x, lane = tid % 32;
  if constexpr (kVer >= 6) {
    filter_steps(rk, qb, qe, lo, [&](int q0, unsigned take) {
      const int mine = __popc(take);
      if (!__any_sync(kFull, mine != 0)) return;
      int base = warp_reserve(mine, &sh.ncand, lane);
      const int spill = max(0, min(mine, base + mine - lcap));  // this lane's entries past lcap
      int gbase = 0;
      if (__any_sync(kFull, spill != 0)) gbase = warp_reserve(spill, fill, lane);
      while (take) {
        std::int32_t p;
        const std::uint32_t key = next_kept(rk, q0, take, p);
        if (base < lcap) {
          lk[base] = key, lk[lcap + base] = static_cast<std::uint32_t>(p);
        } else {
          if (gbase < cap) ck[gbase] = key, cp[gbase] = p;
          ++gbase;
        }
        ++base;
      }
    });
  } else {
    for (int q0 = qb; q0 < qe; q0 += kThreads * kUnroll) {
      std::uint32_t key[kUnroll][4];
      const unsigned take = load_step(rk, q0, qe, lo, key);
      const int mine = __popc(take);
      if (!__any_sync(kFull, mine != 0)) continue;
      int base = warp_reserve(mine, &sh.ncand, lane);
      const int spill = max(0, min(mine, base + mine - lcap));  // this lane's entries past lcap
      int gbase = 0;
      if (__any_sync(kFull, spill != 0)) gbase = warp_reserve(spill, fill, lane);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (take >> (4 * u + e) & 1u) {
            const std::int32_t p = 4 * (q0 + u * kThreads + tid) - rk.off + e;
            if (base < lcap) {
              lk[base] = key[u][e], lk[lcap + base] = static_cast<std::uint32_t>(p);
            } else {
              if (gbase < cap) ck[gbase] = key[u][e], cp[gbase] = p;
              ++gbase;
            }
            ++base;
          }
    }
  }
  __syncthreads();
  const int m = min(sh.ncand, lcap);
  if (tid == 0 && m > 0) sh.base = atomicAdd(fill, m);
  __syncthreads();
  const int b = sh.base;
  for (int i = tid; i < m && b + i < cap; i += kThreads)
    ck[b + i] = lk[i], cp[b + i] = static_cast<std::int32_t>(lk[lcap + i]);
}

template <bool kGlobal, class T>
__device__ __forceinline__ T list_load(const T* p) {
  if constexpr (kGlobal)
    return __ldcg(p);  // written by other blocks of the launch
  else
    return *p;
}

// emit_candidates' ordered output when the words are a multiple of four (so that both bitmaps are
// 16-byte aligned): each thread takes a multiple of four words and reads them as 16-byte vectors,
// where runs of consecutive words a thread put eight lanes on a bank (H100 profile: NOTES.md, topk
// v5).
__device__ void emit_runs_vec(const std::uint32_t* gt, const std::uint32_t* eq, int words, int need,
                              std::int32_t* out, Shared& sh) {
  const int tid = threadIdx.x, per = (words + 4 * kThreads - 1) / (4 * kThreads) * 4;
  const int w0 = min(tid * per, words), w1 = min(w0 + per, words);
  int n_gt = 0, n_eq = 0;
  for (int w = w0; w < w1; w += 4) {
    const uint4 g = *reinterpret_cast<const uint4*>(gt + w),
                e = *reinterpret_cast<const uint4*>(eq + w);
    n_gt += __popc(g.x) + __popc(g.y) + __popc(g.z) + __popc(g.w);
    n_eq += __popc(e.x) + __popc(e.y) + __popc(e.z) + __popc(e.w);
  }
  int gt_before = 0, eq_before = 0;  // selected-or-not positions before the current one
  BlockScan(sh.scan).ExclusiveSum(n_gt, gt_before);
  __syncthreads();  // the scan's storage is reused
  BlockScan(sh.scan).ExclusiveSum(n_eq, eq_before);
  for (int w = w0; w < w1; w += 4) {
    const uint4 g4 = *reinterpret_cast<const uint4*>(gt + w),
                e4 = *reinterpret_cast<const uint4*>(eq + w);
    const std::uint32_t gs[4] = {g4.x, g4.y, g4.z, g4.w}, es[4] = {e4.x, e4.y, e4.z, e4.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      std::uint32_t g = gs[j], e = eq_before < need ? es[j] : 0u;  // ties past `need`: not taken
      while (g | e) {                                              // as the loop in emit_candidates
        const int b = __ffs(g | e) - 1;
        const std::uint32_t bit = 1u << b;
        if (g & bit) {
          out[gt_before + min(eq_before, need)] = 32 * (w + j) + b;
          ++gt_before;
        } else {
          if (eq_before < need) out[gt_before + eq_before] = 32 * (w + j) + b;
          ++eq_before;
        }
        g &= ~bit;
        e &= ~bit;
      }
    }
  }
}

// The output from an unordered candidate list (m keys and positions, all in [0, n); in global
// memory when kGlobal): positions with key > t and key == t are marked in two bitmaps over [0, n)
// (`bits`: 2 ceil(n / 32) words of shared memory); each thread then owns a run of words, and block
// scans of the runs' counts give each selected position its place: ascending, and the first
// `need` of the ties. When the words are a multiple of four, emit_runs_vec gives each thread a
// multiple of four words, read as 16-byte vectors: runs of consecutive words a thread put eight
// lanes on a bank (H100 profile: NOTES.md, topk v5).
template <bool kGlobal>
__device__ void emit_candidates(const std::uint32_t* ck, const std::int32_t* cp, int m, int n,
                                std::uint32_t t, int need, std::int32_t* out, std::uint32_t* bits,
                                Shared& sh) {
  const int tid = threadIdx.x, words = (n + 31) / 32;
  std::uint32_t *gt = bits, *eq = bits + words;
  for (int j = tid; j < 2 * words; j += kThreads) bits[j] = 0;
  __syncthreads();
  for (int i = tid; i < m; i += kThreads) {
    const std::uint32_t key = list_load<kGlobal>(ck + i);
    if (key < t) continue;
    const int p = list_load<kGlobal>(cp + i);
    atomicOr((key > t ? gt : eq) + (p >> 5), 1u << (p & 31));
  }
  __syncthreads();
  if (words % 4 == 0) return emit_runs_vec(gt, eq, words, need, out, sh);
  const int per = (words + kThreads - 1) / kThreads;
  const int w0 = min(tid * per, words), w1 = min(w0 + per, words);
  int n_gt = 0, n_eq = 0;
  for (int w = w0; w < w1; ++w) n_gt += __popc(gt[w]), n_eq += __popc(eq[w]);
  int gt_before = 0, eq_before = 0;  // selected-or-not positions before the current one
  BlockScan(sh.scan).ExclusiveSum(n_gt, gt_before);
  __syncthreads();  // the scan's storage is reused
  BlockScan(sh.scan).ExclusiveSum(n_eq, eq_before);
  for (int w = w0; w < w1; ++w) {
    std::uint32_t g = gt[w], e = eq_before < need ? eq[w] : 0u;  // ties past `need`: not taken
    while (g | e) {
      const int b = __ffs(g | e) - 1;
      const std::uint32_t bit = 1u << b;
      if (g & bit) {
        out[gt_before + min(eq_before, need)] = 32 * w + b;
        ++gt_before;
      } else {
        if (eq_before < need) out[gt_before + eq_before] = 32 * w + b;
        ++eq_before;
      }
      g &= ~bit;
      e &= ~bit;
    }
  }
}

// Keys less `lo` (no key below it): the radix digits of the finish start at the highest bit in
// which the candidates differ. Every candidate is >= T and most lie just above it, so digits taken
// from the top of the key would put nearly all of them in one bin of pass 1: one shared-memory
// address for every atomic.
template <class Src>
struct Above {
  Src src;
  std::uint32_t lo;
  __device__ int quads() const { return src.quads(); }
  __device__ unsigned load(int q, std::uint32_t (&k)[4]) const {
    const unsigned valid = src.load(q, k);
#pragma unroll
    for (int e = 0; e < 4; ++e) k[e] -= lo;
    return valid;
  }
};

// The smallest and the largest of src's keys, in every thread.
template <class Src>
__device__ void key_range(const Src& src, std::uint32_t& lo, std::uint32_t& hi, Shared& sh) {
  const int tid = threadIdx.x;
  if (tid == 0) sh.lo = ~0u, sh.hi = 0u;
  lo = ~0u, hi = 0u;
#pragma unroll 1  // unrolled, it pushes topk_kernel past 64 registers (nvcc 13.0: spills)
  for (int q = tid; q < src.quads(); q += kThreads) {
    std::uint32_t k[4];
    const unsigned valid = src.load(q, k);
#pragma unroll
    for (int e = 0; e < 4; ++e)
      if (valid >> e & 1u) lo = min(lo, k[e]), hi = max(hi, k[e]);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    lo = min(lo, __shfl_xor_sync(kFull, lo, o));
    hi = max(hi, __shfl_xor_sync(kFull, hi, o));
  }
  __syncthreads();  // sh.lo and sh.hi set
  if (tid % 32 == 0) atomicMin(&sh.lo, lo), atomicMax(&sh.hi, hi);
  __syncthreads();
  lo = sh.lo, hi = sh.hi;
}

// Finishes a row of n from its c candidates (k <= c; every key of the row >= T among them): the
// exact select over the candidates, then the ordered output. `smem` as for exact_row (kMaxBins +
// stash_cap words); the bitmaps take its front, which must not overlap shared-memory candidates
// (smem_candidates).
// `ph` (the phase diagnostic's stamps of this block, else null): thread 0 stamps the global timer
// into ph[5] after the key range and ph[6] after the radix passes.
template <bool kGlobal, int kVer>
__device__ void finish_candidates(const std::uint32_t* ck, const std::int32_t* cp, int c, int n,
                                  int k, std::int32_t* out, std::uint32_t* smem, int stash_cap,
                                  Shared& sh, unsigned long long* ph = nullptr) {
  using Src = std::conditional_t<kGlobal, ListKeys, SmemKeys>;
  Src src;
  if constexpr (kGlobal)
    src = ListKeys{ck, c};
  else
    src = SmemKeys{ck, c, 0};
  std::uint32_t lo, hi;
  key_range(src, lo, hi, sh);
  stamp(ph, 5);
  std::uint32_t prefix = 0, mask = 0;
  int remaining = k, count = 0;
  const int top = hi == lo ? 0 : 32 - __clz(static_cast<int>(hi - lo));  // 0: all keys equal
  select_passes<kVer>(Above<Src>{src, lo}, top, prefix, mask, remaining, count,
                      reinterpret_cast<int*>(smem), sh);
  stamp(ph, 6);
  // The stage follows the bitmaps (the histogram is free after the passes). It may overlap
  // shared-memory candidates: emit_candidates reads them only before the barrier that precedes its
  // first output.
  const int front = ((n + 31) / 32 * 2 + 3) / 4 * 4;
  if (stage_fits(out, k, kMaxBins + static_cast<long long>(stash_cap) - front)) {
    std::int32_t* stage = reinterpret_cast<std::int32_t*>(smem + front) + out_skew(out);
    emit_candidates<kGlobal>(ck, cp, c, n, lo + prefix, remaining, stage, smem, sh);
    return store_staged(stage, out, k);
  }
  emit_candidates<kGlobal>(ck, cp, c, n, lo + prefix, remaining, out, smem, sh);
}

// ---- One block per row ----

// A long row by one block through the sampled threshold, candidates in shared memory (`cap` of
// them, smem_candidates). Returns false, having written nothing to `out`, when they are fewer than
// k or overflowed.
template <int kVer>
__device__ bool sampled_row(const RowKeys& rk, int rank, int cap, int k, std::int32_t* out,
                            std::uint32_t* smem, int stash_cap, Shared& sh) {
  if (threadIdx.x == 0) sh.ncand = 0;  // before sample_threshold's barriers
  const std::uint32_t t = sample_threshold<kVer>(rk, rank, reinterpret_cast<int*>(smem),
                                                 smem + kMaxBins, sh, 0, rk.quads());
  std::uint32_t* ck = smem + kMaxBins + stash_cap - 2 * cap;
  std::int32_t* cp = reinterpret_cast<std::int32_t*>(ck + cap);
  collect<kVer>(rk, 0, rk.quads(), t, ck, cp, &sh.ncand, cap);
  __syncthreads();
  const int c = sh.ncand;  // exact_row rewrites it after its first barrier
  if (c < k || c > cap) return false;
  finish_candidates<false, kVer>(ck, cp, c, rk.n, k, out, smem, stash_cap, sh);
  return true;
}

template <int kVer>
__global__ void __launch_bounds__(kThreads, 2)
    topk_kernel(const float* logits, std::int32_t* indices, const std::int32_t* seq_lens, int s_q,
                long long cap, int k, int stash_cap) {
  extern __shared__ __align__(16) std::uint32_t smem_dyn[];
  __shared__ Shared sh;
  const int row = blockIdx.x;
  const RowKeys rk = row_keys(logits, seq_lens, s_q, cap, row);
  std::int32_t* out = indices + static_cast<long long>(row) * k;
  if (rk.n <= k) return pad_short_row(rk.n, k, out);
  if (4LL * rk.quads() > stash_cap) {  // a row that fits is read once anyway
    const int cands = smem_candidates(rk.n, stash_cap);
    const int rank = sample_rank(rk.n, k, cands, stash_cap);
    if (rank > 0 && sampled_row<kVer>(rk, rank, cands, k, out, smem_dyn, stash_cap, sh)) return;
  }
  exact_row<kVer>(rk, k, out, smem_dyn, stash_cap, sh);
}

// ---- Several blocks per row ----

// Every block of a row calls this once, after its last global write for the row; true in the block
// that comes last. Each block's writes (atomics included) are fenced before it takes its ticket,
// and the last block fences after taking it, so that it sees all of them (reading through L2).
__device__ bool last_block(int* ticket, Shared& sh) {
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    sh.last = atomicAdd(ticket, 1) == static_cast<int>(gridDim.x) - 1;
    __threadfence();
  }
  __syncthreads();
  return sh.last;
}

// The last block of a row, after every chunk's candidates are in the row's list: finishes the row
// from the list, or runs the exact path when it holds fewer than k or overflowed. Recomputes what
// it needs from the launch's arguments rather than keeping it live through the chunk's pass.
template <int kVer>
__device__ void wide_finish(const float* logits, std::int32_t* indices,
                            const std::int32_t* seq_lens, int s_q, long long cap, int k, int* fill,
                            std::uint32_t* cand_key, std::int32_t* cand_pos, int list_cap,
                            int stash_cap, std::uint32_t* smem_dyn, Shared& sh,
                            unsigned long long* ph) {
  const int row = blockIdx.y, tid = threadIdx.x;
  const RowKeys rk = row_keys(logits, seq_lens, s_q, cap, row);
  std::int32_t* out = indices + static_cast<long long>(row) * k;
  const std::uint32_t* ck = cand_key + static_cast<long long>(row) * list_cap;
  const std::int32_t* cp = cand_pos + static_cast<long long>(row) * list_cap;
  const int c = sh.listed;
  if (c < k || c > list_cap) return exact_row<kVer>(rk, k, out, smem_dyn, stash_cap, sh);
  const int cands = smem_candidates(rk.n, stash_cap);
  if (c > cands)
    return finish_candidates<true, kVer>(ck, cp, c, rk.n, k, out, smem_dyn, stash_cap, sh);
  // Into shared memory: one read of the list through L2, then the passes run there.
  std::uint32_t* sk = smem_dyn + kMaxBins + stash_cap - 2 * cands;
  std::int32_t* sp = reinterpret_cast<std::int32_t*>(sk + cands);
#pragma unroll 2  // fully unrolled, it spills (nvcc 13.0)
  for (int q = tid; q < c / 4; q += kThreads) {
    reinterpret_cast<uint4*>(sk)[q] = __ldcg(reinterpret_cast<const uint4*>(ck) + q);
    reinterpret_cast<int4*>(sp)[q] = __ldcg(reinterpret_cast<const int4*>(cp) + q);
  }
  for (int i = c / 4 * 4 + tid; i < c; i += kThreads)
    sk[i] = __ldcg(ck + i), sp[i] = __ldcg(cp + i);
  __syncthreads();
  stamp(ph, 4);
  finish_candidates<false, kVer>(sk, sp, c, rk.n, k, out, smem_dyn, stash_cap, sh, ph);
}

// Block (c, row) computes the row's T and appends the candidates of chunk c to the row's list
// (`list_cap` entries, counted by fill[row]); the row's last block finishes the row from the list,
// or runs the exact path when it holds fewer than k or overflowed. Rows not sampled are finished
// by block 0 alone; rows with n <= k are padded by block 0. fill and tickets are zero at launch,
// and the row's last block leaves them so.
// With kPhases (COSTCURVE_TOPK_PHASES=1, a diagnostic), thread 0 of each block stamps the global
// timer into phases[8 * (row * chunks + chunk)]: at entry, after the sample's threshold, after
// its ticket (its chunk's candidates listed) and, in the row's last block, after the finish
// (slots 0-3), and within a finish from shared memory after the list's copy, the key range and
// the radix passes (slots 4-6); 0 where a block did not get there.
template <bool kPhases, int kVer>
__global__ void __launch_bounds__(kThreads, 2)
    wide_topk(const float* logits, std::int32_t* indices, const std::int32_t* seq_lens, int s_q,
              long long cap, int k, int chunk_quads, int* tickets, int* fill,
              std::uint32_t* cand_key, std::int32_t* cand_pos, int list_cap, int stash_cap,
              int bulk, unsigned long long* phases) {
  extern __shared__ __align__(16) std::uint32_t smem_dyn[];
  __shared__ Shared sh;
  const int row = blockIdx.y;
  unsigned long long* ph = nullptr;
  if constexpr (kPhases) {
    ph = phases + 8LL * (static_cast<long long>(row) * gridDim.x + blockIdx.x);
    if (threadIdx.x == 0)
      for (int i = 0; i < 8; ++i) ph[i] = i ? 0 : global_ns();
  }
  const RowKeys rk = row_keys(logits, seq_lens, s_q, cap, row);
  std::int32_t* out = indices + static_cast<long long>(row) * k;
  if (rk.n <= k) {
    if (blockIdx.x == 0) pad_short_row(rk.n, k, out);
    return;
  }
  const int rank = sample_rank(rk.n, k, list_cap, stash_cap);
  if (rank == 0) {
    if (blockIdx.x == 0) exact_row<kVer>(rk, k, out, smem_dyn, stash_cap, sh);
    return;
  }
  std::uint32_t* ck = cand_key + static_cast<long long>(row) * list_cap;
  std::int32_t* cp = cand_pos + static_cast<long long>(row) * list_cap;
  const int qb = blockIdx.x * chunk_quads, qe = min(qb + chunk_quads, rk.quads());
  if (qb < qe) {  // ragged rows: the chunks past a shorter row's end only take their ticket
    if (threadIdx.x == 0) sh.ncand = 0;  // before sample_threshold's barriers
    const std::uint32_t t = sample_threshold<kVer>(rk, rank, reinterpret_cast<int*>(smem_dyn),
                                                   smem_dyn + kMaxBins, sh, qb, qe, bulk, ph);
    stamp(ph, 1);  // after sample_threshold's last barrier
    // The sample's shared memory is free, and the block's list takes all of it.
    const int lcap = (kMaxBins + stash_cap) / 8 * 4;
    collect_local<kVer>(rk, qb, qe, t, smem_dyn, lcap, ck, cp, fill + row, list_cap, sh);
  }
  const bool last = last_block(tickets + row, sh);
  stamp(ph, 2);  // after last_block's barriers
  if (!last) return;
  // Every other block of the row is past its last use of the row's counters: read the list's
  // length and leave both counters at zero for the next launch (no memset per call).
  if (threadIdx.x == 0) {
    sh.listed = __ldcg(fill + row);
    fill[row] = 0;
    tickets[row] = 0;
  }
  __syncthreads();
  wide_finish<kVer>(logits, indices, seq_lens, s_q, cap, k, fill, cand_key, cand_pos, list_cap,
                    stash_cap, smem_dyn, sh, ph);
  if constexpr (kPhases) {
    __syncthreads();
    stamp(ph, 3);
  }
}

// Several blocks per row pay for themselves when one block per row leaves SMs idle (fewer rows
// than two blocks per SM: the one-block kernel runs two per SM) and rows are long: below ~16K
// positions a row is a few microseconds' work for one block, less than the multi-block path's
// fixed cost (a memset, the sample, the one-block finish after the last chunk). The finishing
// block's two bitmaps over the row must fit in its shared stash.
bool use_wide_path(long long rows, long long longest, int k, int sms, long long stash_cap) {
  return rows < 2LL * sms && longest > 16384 && longest > k &&
         2 * ((longest + 31) / 32) <= stash_cap;
}

// Shared memory of a kernel's static variables.
int static_smem(const void* kernel) {
  cudaFuncAttributes attr{};
  CUDA_CHECK(cudaFuncGetAttributes(&attr, kernel));
  return static_cast<int>(attr.sharedSizeBytes);
}

void set_dynamic_smem(const void* kernel, std::size_t smem) {
  if (smem > 48 * 1024)
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)));
}

std::size_t align16(std::size_t bytes) {
  return (bytes + 15) / 16 * 16;
}

// Which version runs: 5 by default; COSTCURVE_TOPK_V6=1 for v6 (the chunk pass's float compares
// and early loads, one warp for the last radix bits; not yet run on a GPU, so opt-in). The switches
// to v3.2 and v4 are gone with their code, and an error says so rather than timing v5 under their
// names.
int topk_version() {
  for (const char* gone : {"COSTCURVE_TOPK_V3", "COSTCURVE_TOPK_V4"})
    if (env_flag(gone))
      throw OpError(std::string("cuda topk: ") + gone +
                    " is gone (2026-12-08): v5 replaced v3.2 and v4 (their A/B results: "
                    "kernels/cuda/NOTES.md, topk v4 and v5)");
  return env_flag("COSTCURVE_TOPK_V6") ? 6 : 5;
}

// Calls f(integral_constant<int, v>) for version v (5 or 6): one kernel instantiation each.
template <class F>
void with_version(int v, F f) {
  if (v == 6)
    f(std::integral_constant<int, 6>{});
  else
    f(std::integral_constant<int, 5>{});
}

// COSTCURVE_TOPK_PHASES=1: where a multi-block call's time goes. Each call's stamps are read back
// (a synchronisation: timings taken with it are not the kernel's) and reduced to medians over the
// blocks; at exit, the medians over the calls of each shape go to stderr, one line a shape.
class PhaseStamps {
public:
  PhaseStamps(Context& ctx, unsigned blocks)
      : n_(kSlots * static_cast<std::size_t>(blocks)), stream_(ctx.stream()) {
    CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&dev_), n_ * sizeof(*dev_), stream_));
  }
  ~PhaseStamps() { cudaFreeAsync(dev_, stream_); }
  PhaseStamps(const PhaseStamps&) = delete;
  PhaseStamps& operator=(const PhaseStamps&) = delete;
  unsigned long long* device() const { return dev_; }

  void record(const std::string& shape) {
    std::vector<unsigned long long> h(n_);
    CUDA_CHECK(
        cudaMemcpyAsync(h.data(), dev_, n_ * sizeof(*dev_), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    unsigned long long first = ~0ull, end = 0;
    Lists l;
    auto span = [](unsigned long long a, unsigned long long b) { return (b - a) * 1e-3; };
    for (std::size_t b = 0; b < n_; b += kSlots) {
      const unsigned long long* t = &h[b];
      first = std::min(first, t[0]);
      end = std::max({end, t[2], t[3]});
      if (t[1]) l[kSample].push_back(span(t[0], t[1]));
      if (t[1] && t[7]) {  // the sample's load (thread 0's) and its selection
        l[kLoad].push_back(span(t[0], t[7]));
        l[kSelect].push_back(span(t[7], t[1]));
      }
      if (t[1] && t[2]) l[kChunk].push_back(span(t[1], t[2]));
      if (t[3]) l[kFinish].push_back(span(t[2], t[3]));
      if (t[3] && t[4] && t[5] && t[6]) {  // a finish from shared memory
        l[kCopy].push_back(span(t[2], t[4]));
        l[kRange].push_back(span(t[4], t[5]));
        l[kPasses].push_back(span(t[5], t[6]));
        l[kEmit].push_back(span(t[6], t[3]));
      }
    }
    for (std::size_t b = 0; b < n_; b += kSlots) l[kStart].push_back(span(first, h[b]));
    l[kSpan].push_back(span(first, end));
    Lists& p = table()[shape];
    for (int i = 0; i < kKinds; ++i) p[i].push_back(i == kSpan ? l[i][0] : median(l[i]));
  }

private:
  static constexpr std::size_t kSlots = 8;
  enum {
    kSpan,
    kStart,
    kSample,
    kLoad,
    kSelect,
    kChunk,
    kFinish,
    kCopy,
    kRange,
    kPasses,
    kEmit,
    kKinds
  };
  using Lists = std::vector<double>[kKinds];
  static double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  }
  static std::map<std::string, Lists>& table() {
    static auto* t = [] {
      std::atexit(report);
      return new std::map<std::string, Lists>;  // outlives every static destructor
    }();
    return *t;
  }
  static void report() {
    for (auto& [shape, p] : table())
      std::fprintf(stderr,
                   "topk phases (%s; %zu calls, medians in us): kernel %.2f, block start %.2f, "
                   "sample %.2f (load %.2f, select %.2f), chunk %.2f, finish %.2f (list copy "
                   "%.2f, key range %.2f, radix passes %.2f, output %.2f)\n",
                   shape.c_str(), p[kSpan].size(), median(p[kSpan]), median(p[kStart]),
                   median(p[kSample]), median(p[kLoad]), median(p[kSelect]), median(p[kChunk]),
                   median(p[kFinish]), median(p[kCopy]), median(p[kRange]), median(p[kPasses]),
                   median(p[kEmit]));
  }
  std::size_t n_;
  cudaStream_t stream_;
  unsigned long long* dev_ = nullptr;
};

void topk_wide(Context& ctx, const TopkArgs& a, const std::int32_t* lens, int rows,
               long long longest, std::size_t smem, int stash_cap) {
  const Batch& bt = a.batch;
  // Chunks: one wave of two blocks per SM over all rows, of at least 4096 positions each (each
  // block reads the sample and selects its threshold first).
  const long long quads = (longest + 6) / 4;  // of the longest row, at any alignment
  const long long want = std::max(1, 2 * ctx.sms() / rows);
  long long chunk_quads = std::max<long long>(1024, (quads + want - 1) / want);
  chunk_quads = (chunk_quads + kThreads - 1) / kThreads * kThreads;
  const long long chunks = (quads + chunk_quads - 1) / chunk_quads;
  // Candidates per row: room for a quarter of the longest row and for at least 5k (twice the
  // ~2.25k expected, which sample_rank requires), never more than the row; a multiple of 4.
  const long long list_cap = (std::min(longest, std::max(longest / 4, 5LL * a.k)) + 3) / 4 * 4;

  // Scratch: [tickets | fill counts] (zeroed per call), then the candidates' keys and positions.
  const std::size_t r = static_cast<std::size_t>(rows);
  const std::size_t zeroed = align16(sizeof(int) * 2 * r);
  const std::size_t list_bytes = align16(sizeof(std::uint32_t) * r * list_cap);
  char* ws = static_cast<char*>(ctx.scratch(zeroed + 2 * list_bytes, 2));
  int* tickets = reinterpret_cast<int*>(ws);
  int* fill = tickets + r;
  auto* cand_key = reinterpret_cast<std::uint32_t*>(ws + zeroed);
  auto* cand_pos = reinterpret_cast<std::int32_t*>(ws + zeroed + list_bytes);
  // The kernel leaves every row's counters at zero, so they need clearing only in fresh scratch or
  // where the last call's lists lay (H100: 0.8-0.9 us less a call, NOTES.md topk v3.2);
  // COSTCURVE_TOPK_MEMSET=1 clears them before every call, as before 2026-12-07.
  std::size_t& clean = ctx.zero_prefix(2);
  if (clean < zeroed || env_flag("COSTCURVE_TOPK_MEMSET"))
    CUDA_CHECK(cudaMemsetAsync(ws, 0, zeroed, ctx.stream()));

  const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(rows));
  const int bulk = env_flag("COSTCURVE_TOPK_BULK_PREFETCH") ? 1 : 0;
  auto launch = [&](auto kernel, unsigned long long* stamps) {
    set_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
    kernel<<<grid, kThreads, smem, ctx.stream()>>>(
        a.logits, a.indices, lens, static_cast<int>(bt.s_q), bt.capacity, a.k,
        static_cast<int>(chunk_quads), tickets, fill, cand_key, cand_pos,
        static_cast<int>(list_cap), stash_cap, bulk, stamps);
    CUDA_CHECK_LAUNCH();
    clean = sizeof(int) * 2 * r;  // past it, this call's lists
  };
  const int version = topk_version();
  if (env_flag("COSTCURVE_TOPK_PHASES")) {
    PhaseStamps stamps(ctx, grid.x * grid.y);
    with_version(version, [&](auto v) { launch(wide_topk<true, v()>, stamps.device()); });
    stamps.record("rows " + std::to_string(rows) + ", longest " + std::to_string(longest) + ", " +
                  std::to_string(grid.x) + " chunks a row, v" + std::to_string(version));
    return;
  }
  with_version(version, [&](auto v) { launch(wide_topk<false, v()>, nullptr); });
}

}  // namespace

void topk(Context& ctx, const TopkArgs& a) {
  const Batch& bt = a.batch;
  check_topk(bt, a.k);
  if (!a.logits || !a.indices) throw OpError("cuda topk: logits and indices must not be null");
  const std::int64_t rows = bt.query_rows();
  if (rows > INT_MAX) throw OpError("cuda topk: more than 2^31 - 1 query rows");
  const std::int64_t longest = *std::max_element(bt.seq_lens.begin(), bt.seq_lens.end());
  if (longest > INT_MAX - (1 << 16))  // positions are computed in int, with a step of slack
    throw OpError("cuda topk: seq_len = " + std::to_string(longest) +
                  " exceeds the limit of 2^31 - 2^16");

  // Shared memory: the histogram plus a stash for as many keys as leave room for a second block
  // on the SM, and no more than the longest row needs. wide_topk has the same layout.
  static const int static_bytes =
      std::max({static_smem(reinterpret_cast<const void*>(topk_kernel<5>)),
                static_smem(reinterpret_cast<const void*>(topk_kernel<6>)),
                static_smem(reinterpret_cast<const void*>(wide_topk<false, 5>)),
                static_smem(reinterpret_cast<const void*>(wide_topk<false, 6>))});
  const cudaDeviceProp& pr = ctx.prop();
  const long long budget =
      std::min<long long>(static_cast<long long>(pr.sharedMemPerBlockOptin),
                          static_cast<long long>(pr.sharedMemPerMultiprocessor / 2) -
                              static_cast<long long>(pr.reservedSharedMemPerBlock)) -
      static_bytes - kMaxBins * static_cast<long long>(sizeof(int));
  const long long stash_cap =
      std::max<long long>(0, std::min<long long>(budget / 4, longest + 8)) / 4 * 4;
  const std::size_t smem = (kMaxBins + static_cast<std::size_t>(stash_cap)) * sizeof(std::uint32_t);
  const std::int32_t* lens = ctx.seq_lens(bt);
  if (use_wide_path(rows, longest, a.k, ctx.sms(), stash_cap))
    return topk_wide(ctx, a, lens, static_cast<int>(rows), longest, smem,
                     static_cast<int>(stash_cap));
  auto launch = [&](auto kernel) {
    set_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
    kernel<<<static_cast<unsigned>(rows), kThreads, smem, ctx.stream()>>>(
        a.logits, a.indices, lens, static_cast<int>(bt.s_q), bt.capacity, a.k,
        static_cast<int>(stash_cap));
    CUDA_CHECK_LAUNCH();
  };
  with_version(topk_version(), [&](auto v) { launch(topk_kernel<v()>); });
}

}  // namespace costcurve::cuda

// Top-k's keys (private to topk.cu): the launch constants, the block's shared scalars, the
// order-preserving 32-bit key of a logit, the three places keys are read from (a logits row, shared
// memory, a candidate list), a warp's reservation in a shared list and the phase diagnostic's
// clock.
#pragma once

#include <cstdint>
#include <cub/block/block_scan.cuh>

namespace costcurve::cuda::topk_impl {

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
static __device__ RowKeys row_keys(const float* logits, const std::int32_t* seq_lens, int s_q,
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

// v6's chunk pass compares the logits as floats against the float whose key is lo: keys >= lo are
// exactly the logits >= it. For lo = 0 (T is NaN's key) it keeps every logit but NaN; leaving out
// NaNs, the smallest keys, changes no selection: with k or more other keys the k-th largest and all
// keys at or above it are kept, and with fewer the list is short, so the row takes the exact path.
__device__ __forceinline__ float key_floor(std::uint32_t lo) {
  if (lo == 0) return -INFINITY;
  return __uint_as_float((lo & 0x80000000u) ? (lo & 0x7fffffffu) : ~lo);
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

}  // namespace costcurve::cuda::topk_impl

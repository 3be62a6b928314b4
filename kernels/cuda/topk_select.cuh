// Top-k's radix select (private to topk.cu): histogram passes over digits of the keys, the digit
// holding a given rank, v6's one-warp tail for the last bits, and a key range.
#pragma once

#include <cstdint>

#include "kernels/cuda/topk_keys.cuh"

namespace costcurve::cuda::topk_impl {

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

static __device__ void clear_hist(int* hist) {
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
static __device__ void tail_select(int top, std::uint32_t& prefix, std::uint32_t& mask,
                                   int& remaining, int& count, int* buf, Shared& sh) {
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

}  // namespace costcurve::cuda::topk_impl

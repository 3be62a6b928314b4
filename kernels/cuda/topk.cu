// Top-k by radix select, one block per query row: no sort. Logits map to order-preserving 32-bit
// keys; three histogram passes (digits of 11, 11 and 10 bits, shared-memory atomics) pin the
// k-th largest key T and how many keys equal to T to take (`need`, the lowest positions: the tie
// rule). A last ordered pass writes every position with key > T and the first `need` with key == T;
// one block-wide prefix scan per 8192 positions keeps the output in ascending position order.
//
// Global traffic: rows that fit in shared memory (about 26K positions on an H100) are read once:
// their keys stay there for the later passes. Longer rows are read three times: pass 1, pass 2
// (which also copies the keys of pass 1's bucket into shared memory when they fit, so that pass 3
// reads only those) and the output pass; four times when that bucket is too large to keep.
// Speed ideas, not done: several blocks per long row when there are fewer rows than SMs; a sampled
// threshold to skip pass 1 on long rows (as the CPU version does); warp-aggregated histogram
// atomics if rows with heavily repeated values turn out to matter.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cub/block/block_scan.cuh>
#include <string>

#include "kernels/cuda/context.cuh"

namespace costcurve::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kUnroll = 4;  // quads (float4) per thread in flight per step
constexpr int kMaxBins = 2048;
constexpr int kBinsPerThread = kMaxBins / kThreads;
constexpr unsigned kFull = 0xffffffffu;

using BlockScan = cub::BlockScan<int, kThreads, cub::BLOCK_SCAN_WARP_SCANS>;

struct Int4Sum {
  __device__ int4 operator()(const int4& a, const int4& b) const {
    return make_int4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
  }
};

struct Shared {
  BlockScan::TempStorage scan;
  int4 warp_tot[kThreads / 32];  // emit's per-warp totals
  int digit, rem, count, ncand;
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
};

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

// Histogram of digit (key >> shift) & (2^bits - 1) over the keys with (key & mask) == prefix.
// kStore: also keep every key in `stash` (index p + off), for rows that fit in shared memory.
// kCompact: also append the counted keys to `stash` (any order; `stash_n` counts them).
// Every thread runs the same number of iterations (warp collectives inside).
template <bool kStore, bool kCompact, class Src>
__device__ void count_pass(const Src& src, std::uint32_t prefix, std::uint32_t mask, int shift,
                           int bits, int* hist, std::uint32_t* stash, int* stash_n) {
  const int tid = threadIdx.x, lane = tid % 32;
  const int nq = src.quads();
  const std::uint32_t dmask = (1u << bits) - 1;
  for (int q0 = 0; q0 < nq; q0 += kThreads * kUnroll) {
    std::uint32_t k[kUnroll][4];
    unsigned valid[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) valid[u] = src.load(q0 + u * kThreads + tid, k[u]);
    int mine = 0;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if constexpr (kStore) {
        const int q = q0 + u * kThreads + tid;
        if (q < nq)
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
        int incl = mine;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const int y = __shfl_up_sync(kFull, incl, o);
          if (lane >= o) incl += y;
        }
        int base = 0;
        if (lane == 31) base = atomicAdd(stash_n, incl);
        base = __shfl_sync(kFull, base, 31) + incl - mine;
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

// After a count pass (and a barrier): finds the digit d holding the `remaining`-th largest of the
// counted keys (scanning digits from the top), narrows prefix/mask to it and leaves in
// `remaining` its rank among the keys of that digit; `count` = how many keys the digit holds.
__device__ void select_digit(const int* hist, int shift, int bits, std::uint32_t& prefix,
                             std::uint32_t& mask, int& remaining, int& count, Shared& sh) {
  const int tid = threadIdx.x, nb = 1 << bits;
  int local[kBinsPerThread], sum = 0;
#pragma unroll
  for (int j = 0; j < kBinsPerThread; ++j) {
    const int d = nb - 1 - (tid * kBinsPerThread + j);  // descending digits across the block
    local[j] = d >= 0 ? hist[d] : 0;
    sum += local[j];
  }
  int above = 0;
  BlockScan(sh.scan).ExclusiveSum(sum, above);
#pragma unroll
  for (int j = 0; j < kBinsPerThread; ++j) {
    const int d = nb - 1 - (tid * kBinsPerThread + j);
    if (above < remaining && above + local[j] >= remaining) {  // exactly one (thread, j)
      sh.digit = d;
      sh.rem = remaining - above;
      sh.count = local[j];
    }
    above += local[j];
  }
  __syncthreads();
  prefix |= static_cast<std::uint32_t>(sh.digit) << shift;
  mask |= static_cast<std::uint32_t>(nb - 1) << shift;
  remaining = sh.rem;
  count = sh.count;
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

__global__ void __launch_bounds__(kThreads, 2)
    topk_kernel(const float* logits, std::int32_t* indices, const std::int32_t* seq_lens, int s_q,
                long long cap, int k, int stash_cap) {
  extern __shared__ __align__(16) std::uint32_t smem_dyn[];
  __shared__ Shared sh;
  int* hist = reinterpret_cast<int*>(smem_dyn);
  std::uint32_t* stash = smem_dyn + kMaxBins;

  const int row = blockIdx.x, tid = threadIdx.x;
  const int b = row / s_q, i = row % s_q;
  const int n = seq_lens[b] - s_q + i + 1;  // visible positions [0, n)
  std::int32_t* out = indices + static_cast<long long>(row) * k;
  if (n <= k) {
    for (int j = tid; j < k; j += kThreads) out[j] = j < n ? j : -1;
    return;
  }
  const float* x = logits + static_cast<long long>(row) * cap;
  const RowKeys rk{x, n, static_cast<int>(reinterpret_cast<std::uintptr_t>(x) >> 2 & 3)};
  const bool fits = 4LL * rk.quads() <= stash_cap;

  std::uint32_t prefix = 0, mask = 0;
  int remaining = k, count = 0;
  clear_hist(hist);
  __syncthreads();
  if (fits)
    count_pass<true, false>(rk, 0u, 0u, 21, 11, hist, stash, nullptr);
  else
    count_pass<false, false>(rk, 0u, 0u, 21, 11, hist, nullptr, nullptr);
  __syncthreads();
  select_digit(hist, 21, 11, prefix, mask, remaining, count, sh);

  if (fits) {  // the row's keys are in shared memory
    const SmemKeys sk{stash, n, rk.off};
    clear_hist(hist);
    __syncthreads();
    count_pass<false, false>(sk, prefix, mask, 10, 11, hist, nullptr, nullptr);
    __syncthreads();
    select_digit(hist, 10, 11, prefix, mask, remaining, count, sh);
    clear_hist(hist);
    __syncthreads();
    count_pass<false, false>(sk, prefix, mask, 0, 10, hist, nullptr, nullptr);
    __syncthreads();
    select_digit(hist, 0, 10, prefix, mask, remaining, count, sh);
    emit(sk, prefix, remaining, k, out, sh);
    return;
  }

  const bool compact = count <= stash_cap;  // pass 1's bucket fits: keep its keys
  clear_hist(hist);
  if (tid == 0) sh.ncand = 0;
  __syncthreads();
  if (compact)
    count_pass<false, true>(rk, prefix, mask, 10, 11, hist, stash, &sh.ncand);
  else
    count_pass<false, false>(rk, prefix, mask, 10, 11, hist, nullptr, nullptr);
  __syncthreads();
  select_digit(hist, 10, 11, prefix, mask, remaining, count, sh);
  clear_hist(hist);
  __syncthreads();
  if (compact)
    count_pass<false, false>(SmemKeys{stash, sh.ncand, 0}, prefix, mask, 0, 10, hist, nullptr,
                             nullptr);
  else
    count_pass<false, false>(rk, prefix, mask, 0, 10, hist, nullptr, nullptr);
  __syncthreads();
  select_digit(hist, 0, 10, prefix, mask, remaining, count, sh);
  emit(rk, prefix, remaining, k, out, sh);
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
  // on the SM, and no more than the longest row needs.
  static int static_smem = -1;
  if (static_smem < 0) {
    cudaFuncAttributes attr{};
    CUDA_CHECK(cudaFuncGetAttributes(&attr, topk_kernel));
    static_smem = static_cast<int>(attr.sharedSizeBytes);
  }
  const cudaDeviceProp& pr = ctx.prop();
  const long long budget =
      std::min<long long>(static_cast<long long>(pr.sharedMemPerBlockOptin),
                          static_cast<long long>(pr.sharedMemPerMultiprocessor / 2) -
                              static_cast<long long>(pr.reservedSharedMemPerBlock)) -
      static_smem - kMaxBins * static_cast<long long>(sizeof(int));
  const long long stash_cap =
      std::max<long long>(0, std::min<long long>(budget / 4, longest + 8)) / 4 * 4;
  const std::size_t smem = (kMaxBins + static_cast<std::size_t>(stash_cap)) * sizeof(std::uint32_t);
  if (smem > 48 * 1024)
    CUDA_CHECK(cudaFuncSetAttribute(topk_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)));
  const std::int32_t* lens = ctx.seq_lens(bt);
  topk_kernel<<<static_cast<unsigned>(rows), kThreads, smem, ctx.stream()>>>(
      a.logits, a.indices, lens, static_cast<int>(bt.s_q), bt.capacity, a.k,
      static_cast<int>(stash_cap));
  CUDA_CHECK_LAUNCH();
}

}  // namespace costcurve::cuda

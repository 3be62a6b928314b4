// Top-k by radix select: no sort. Logits map to order-preserving 32-bit keys; histogram passes over
// digits of the key pin the k-th largest key T and how many keys equal to T to take (`need`, the
// lowest positions: the tie rule); the output is every position with key > T and the first `need`
// with key == T, in ascending position order. Two paths, chosen by use_wide_path():
//
// One block per row (many rows, e.g. prefill: 512+ rows fill the GPU; and short rows). Three
// histogram passes (digits of 11, 11 and 10 bits, shared-memory atomics), then an ordered output
// pass with one block-wide prefix scan per 8192 positions. Rows that fit in shared memory (about
// 26K positions on an H100) are read once: their keys stay there for the later passes. Longer rows
// are read three times: pass 1, pass 2 (which also copies the keys of pass 1's bucket into shared
// memory when they fit, so that pass 3 reads only those) and the output pass; four times when that
// bucket is too large to keep.
//
// Several blocks per row (few long rows, e.g. decode: 64 rows would leave half of an H100's SMs
// idle, each block reading its 512 KB row three times). A memset clears the per-row state; then
// 1. wide_histogram: each row is split in chunks, one block per chunk; a 13-bit digit histogram per
//    block (finer than 11 bits: a narrower threshold bucket and fewer shared-atomic collisions on
//    clustered logits) is added into the row's global histogram; the row's last block (atomic
//    ticket) finds the bucket of the k-th largest key.
// 2. wide_select: the same chunks again; every key in that bucket or above is a candidate, appended
//    as (key, position) to the row's list (one global atomic per warp and step). The row's last
//    block runs passes 2 and 3 (10 and 9 bits) over the candidates only, then marks the selected
//    positions in a shared-memory bitmap, whose ordered scan gives the ascending output.
// Global traffic: each row is read twice, at full-GPU bandwidth; the candidates (usually k to a few
// k per row) are written once and read three times from L2. When a row's candidates exceed the
// list (heavy ties, e.g. all logits equal), one block finishes that row from pass 2 on as the
// one-block path does: correct, about as slow as that path. Scratch (Context slot 2, grown once): a
// 32 KB histogram per row, and candidate lists of max(n / 4, 2k) per row (16 MB for 64 rows of
// 128K).
//
// Speed ideas, not done: a sampled threshold to skip pass 1 on long rows (as the CPU version does);
// warp-aggregated histogram atomics if rows with heavily repeated values turn out to matter; a
// second multi-block pass for crowded buckets (logits whose spread is under ~5% of their size).
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
constexpr unsigned kFull = 0xffffffffu;
// The multi-block path's first digit: the top kWideBits bits of the key.
constexpr int kWideBits = 13;
constexpr int kWideBins = 1 << kWideBits;
constexpr int kWideShift = 32 - kWideBits;

using BlockScan = cub::BlockScan<int, kThreads, cub::BLOCK_SCAN_WARP_SCANS>;

struct Int4Sum {
  __device__ int4 operator()(const int4& a, const int4& b) const {
    return make_int4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
  }
};

struct Shared {
  BlockScan::TempStorage scan;
  int4 warp_tot[kThreads / 32];  // emit's per-warp totals
  int digit, rem, count, ncand, last;
};

// What pass 1 of the multi-block path leaves for a row (n > k).
struct WideRow {
  std::uint32_t prefix;  // the digit holding the k-th largest key, << kWideShift
  int remaining;         // that key's rank among the keys of the digit
  int count;             // keys in the digit
  int cands;             // keys in the digit or above it: the row's candidates
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

// Histogram of digit (key >> shift) & (2^bits - 1) over the keys of quads [qb, qe) with
// (key & mask) == prefix.
// kStore: also keep every key in `stash` (index p + off), for rows that fit in shared memory.
// kCompact: also append the counted keys to `stash` (any order; `stash_n` counts them).
// Every thread runs the same number of iterations (warp collectives inside).
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

__device__ void clear_hist(int* hist, int bins = kMaxBins) {
  for (int j = threadIdx.x; j < bins; j += kThreads) hist[j] = 0;
}

// After a count pass (and a barrier): finds the digit d holding the `remaining`-th largest of the
// counted keys (scanning digits from the top), narrows prefix/mask to it and leaves in
// `remaining` its rank among the keys of that digit; `count` = how many keys the digit holds.
template <int kBins = kMaxBins>
__device__ void select_digit(const int* hist, int shift, int bits, std::uint32_t& prefix,
                             std::uint32_t& mask, int& remaining, int& count, Shared& sh) {
  constexpr int kPer = kBins / kThreads;
  const int tid = threadIdx.x, nb = 1 << bits;
  int local[kPer], sum = 0;
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const int d = nb - 1 - (tid * kPer + j);  // descending digits across the block
    local[j] = d >= 0 ? hist[d] : 0;
    sum += local[j];
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

// Passes 2 and 3 and the output pass of a row kept in global memory, after a pass 1 over the digit
// above bit `shift1` left prefix/mask, `remaining` and `count`; the remaining shift1 bits are split
// in two digits of at most 11 bits.
__device__ void finish_long_row(const RowKeys& rk, int shift1, std::uint32_t prefix,
                                std::uint32_t mask, int remaining, int count, int k,
                                std::int32_t* out, int* hist, std::uint32_t* stash, int stash_cap,
                                Shared& sh) {
  const int shift2 = shift1 / 2, bits2 = shift1 - shift2, nq = rk.quads();
  const bool compact = count <= stash_cap;  // pass 1's bucket fits: keep its keys
  clear_hist(hist);
  if (threadIdx.x == 0) sh.ncand = 0;
  __syncthreads();
  if (compact)
    count_pass<false, true>(rk, 0, nq, prefix, mask, shift2, bits2, hist, stash, &sh.ncand);
  else
    count_pass<false, false>(rk, 0, nq, prefix, mask, shift2, bits2, hist, nullptr, nullptr);
  __syncthreads();
  select_digit(hist, shift2, bits2, prefix, mask, remaining, count, sh);
  clear_hist(hist);
  __syncthreads();
  if (compact) {
    const SmemKeys sk{stash, sh.ncand, 0};
    count_pass<false, false>(sk, 0, sk.quads(), prefix, mask, 0, shift2, hist, nullptr, nullptr);
  } else {
    count_pass<false, false>(rk, 0, nq, prefix, mask, 0, shift2, hist, nullptr, nullptr);
  }
  __syncthreads();
  select_digit(hist, 0, shift2, prefix, mask, remaining, count, sh);
  emit(rk, prefix, remaining, k, out, sh);
}

__device__ void pad_short_row(int n, int k, std::int32_t* out) {
  for (int j = threadIdx.x; j < k; j += kThreads) out[j] = j < n ? j : -1;
}

__global__ void __launch_bounds__(kThreads, 2)
    topk_kernel(const float* logits, std::int32_t* indices, const std::int32_t* seq_lens, int s_q,
                long long cap, int k, int stash_cap) {
  extern __shared__ __align__(16) std::uint32_t smem_dyn[];
  __shared__ Shared sh;
  int* hist = reinterpret_cast<int*>(smem_dyn);
  std::uint32_t* stash = smem_dyn + kMaxBins;

  const int row = blockIdx.x;
  const RowKeys rk = row_keys(logits, seq_lens, s_q, cap, row);
  std::int32_t* out = indices + static_cast<long long>(row) * k;
  if (rk.n <= k) return pad_short_row(rk.n, k, out);
  const bool fits = 4LL * rk.quads() <= stash_cap;

  std::uint32_t prefix = 0, mask = 0;
  int remaining = k, count = 0;
  clear_hist(hist);
  __syncthreads();
  if (fits)
    count_pass<true, false>(rk, 0, rk.quads(), 0u, 0u, 21, 11, hist, stash, nullptr);
  else
    count_pass<false, false>(rk, 0, rk.quads(), 0u, 0u, 21, 11, hist, nullptr, nullptr);
  __syncthreads();
  select_digit(hist, 21, 11, prefix, mask, remaining, count, sh);
  if (!fits)
    return finish_long_row(rk, 21, prefix, mask, remaining, count, k, out, hist, stash, stash_cap,
                           sh);

  // The row's keys are in shared memory.
  const SmemKeys sk{stash, rk.n, rk.off};
  clear_hist(hist);
  __syncthreads();
  count_pass<false, false>(sk, 0, sk.quads(), prefix, mask, 10, 11, hist, nullptr, nullptr);
  __syncthreads();
  select_digit(hist, 10, 11, prefix, mask, remaining, count, sh);
  clear_hist(hist);
  __syncthreads();
  count_pass<false, false>(sk, 0, sk.quads(), prefix, mask, 0, 10, hist, nullptr, nullptr);
  __syncthreads();
  select_digit(hist, 0, 10, prefix, mask, remaining, count, sh);
  emit(sk, prefix, remaining, k, out, sh);
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

// Block (c, row) adds the 13-bit digit histogram of chunk c of the row into the row's global
// histogram `ghist` (zeroed before the launch); the row's last block finds the digit of the k-th
// largest key in it.
__global__ void __launch_bounds__(kThreads, 2)
    wide_histogram(const float* logits, const std::int32_t* seq_lens, int s_q, long long cap, int k,
                   int chunk_quads, int* ghist, int* tickets, WideRow* wide) {
  __shared__ int hist[kWideBins];
  __shared__ Shared sh;
  const int row = blockIdx.y, tid = threadIdx.x;
  const RowKeys rk = row_keys(logits, seq_lens, s_q, cap, row);
  if (rk.n <= k) return;  // wide_select pads it
  int* g = ghist + static_cast<long long>(row) * kWideBins;
  const int qb = blockIdx.x * chunk_quads, qe = min(qb + chunk_quads, rk.quads());
  if (qb < qe) {  // ragged rows: the chunks past a shorter row's end only take their ticket
    clear_hist(hist, kWideBins);
    __syncthreads();
    count_pass<false, false>(rk, qb, qe, 0u, 0u, kWideShift, kWideBits, hist, nullptr, nullptr);
    __syncthreads();
    for (int j = tid; j < kWideBins; j += kThreads)
      if (const int c = hist[j]) atomicAdd(g + j, c);
  }
  if (!last_block(tickets + row, sh)) return;
  for (int j = tid; j < kWideBins; j += kThreads) hist[j] = __ldcg(g + j);
  __syncthreads();
  std::uint32_t prefix = 0, mask = 0;
  int remaining = k, count = 0;
  select_digit<kWideBins>(hist, kWideShift, kWideBits, prefix, mask, remaining, count, sh);
  if (tid == 0) wide[row] = WideRow{prefix, remaining, count, k - remaining + count};
}

// Appends (key, position) of every key >= lo in quads [qb, qe) of the row to its candidate list,
// in no particular order (one atomic on `fill` per warp and step). Writes past `cap` are dropped:
// the caller has checked that the row's candidates fit.
__device__ void collect(const RowKeys& rk, int qb, int qe, std::uint32_t lo, std::uint32_t* ck,
                        std::int32_t* cp, int* fill, int cap) {
  const int tid = threadIdx.x, lane = tid % 32;
  for (int q0 = qb; q0 < qe; q0 += kThreads * kUnroll) {
    std::uint32_t key[kUnroll][4];
    unsigned take = 0;  // bit 4u + e
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int q = q0 + u * kThreads + tid;
      const unsigned valid = q < qe ? rk.load(q, key[u]) : 0u;
#pragma unroll
      for (int e = 0; e < 4; ++e)
        if ((valid >> e & 1u) && key[u][e] >= lo) take |= 1u << (4 * u + e);
    }
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

// The output from an unordered candidate list (m keys and positions, all in [0, n)): positions
// with key > t and key == t are marked in two bitmaps over [0, n) (`bits`: 2 ceil(n / 32) words
// of shared memory); each thread then owns a run of words, and block scans of the runs' counts
// give each selected position its place: ascending, and the first `need` of the ties.
__device__ void emit_candidates(const std::uint32_t* ck, const std::int32_t* cp, int m, int n,
                                std::uint32_t t, int need, std::int32_t* out, std::uint32_t* bits,
                                Shared& sh) {
  const int tid = threadIdx.x, words = (n + 31) / 32;
  std::uint32_t *gt = bits, *eq = bits + words;
  for (int j = tid; j < 2 * words; j += kThreads) bits[j] = 0;
  __syncthreads();
  for (int i = tid; i < m; i += kThreads) {
    const std::uint32_t key = __ldcg(ck + i);
    if (key < t) continue;
    const int p = __ldcg(cp + i);
    atomicOr((key > t ? gt : eq) + (p >> 5), 1u << (p & 31));
  }
  __syncthreads();
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

// Block (c, row) appends the candidates of chunk c (keys in pass 1's digit or above); the row's
// last block pins the threshold among them (passes 2 and 3) and writes the row. Rows whose
// candidates exceed `cand_cap` are finished by block 0 alone from the row itself; rows with n <= k
// are padded by block 0.
__global__ void __launch_bounds__(kThreads, 2)
    wide_select(const float* logits, std::int32_t* indices, const std::int32_t* seq_lens, int s_q,
                long long cap, int k, int chunk_quads, const WideRow* wide, int* tickets, int* fill,
                std::uint32_t* cand_key, std::int32_t* cand_pos, int cand_cap, int stash_cap) {
  extern __shared__ __align__(16) std::uint32_t smem_dyn[];
  __shared__ Shared sh;
  int* hist = reinterpret_cast<int*>(smem_dyn);
  std::uint32_t* stash = smem_dyn + kMaxBins;

  const int row = blockIdx.y;
  const RowKeys rk = row_keys(logits, seq_lens, s_q, cap, row);
  std::int32_t* out = indices + static_cast<long long>(row) * k;
  if (rk.n <= k) {
    if (blockIdx.x == 0) pad_short_row(rk.n, k, out);
    return;
  }
  const WideRow w = wide[row];
  const std::uint32_t mask = ~0u << kWideShift;
  if (w.cands > cand_cap) {
    if (blockIdx.x == 0)
      finish_long_row(rk, kWideShift, w.prefix, mask, w.remaining, w.count, k, out, hist, stash,
                      stash_cap, sh);
    return;
  }
  std::uint32_t* ck = cand_key + static_cast<long long>(row) * cand_cap;
  std::int32_t* cp = cand_pos + static_cast<long long>(row) * cand_cap;
  const int qb = blockIdx.x * chunk_quads, qe = min(qb + chunk_quads, rk.quads());
  collect(rk, qb, qe, w.prefix, ck, cp, fill + row, cand_cap);
  if (!last_block(tickets + row, sh)) return;

  const ListKeys lk{ck, w.cands};
  const int shift2 = kWideShift / 2, bits2 = kWideShift - shift2;
  std::uint32_t prefix = w.prefix, mk = mask;
  int remaining = w.remaining, count = w.count;
  clear_hist(hist);
  __syncthreads();
  count_pass<false, false>(lk, 0, lk.quads(), prefix, mk, shift2, bits2, hist, nullptr, nullptr);
  __syncthreads();
  select_digit(hist, shift2, bits2, prefix, mk, remaining, count, sh);
  clear_hist(hist);
  __syncthreads();
  count_pass<false, false>(lk, 0, lk.quads(), prefix, mk, 0, shift2, hist, nullptr, nullptr);
  __syncthreads();
  select_digit(hist, 0, shift2, prefix, mk, remaining, count, sh);
  emit_candidates(ck, cp, w.cands, rk.n, prefix, remaining, out, stash, sh);
}

// Several blocks per row pay for themselves when one block per row leaves SMs idle (fewer rows
// than two blocks per SM: the one-block kernel runs two per SM) and rows are long: below ~16K
// positions a row is a few microseconds' work for one block, less than the multi-block path's
// fixed cost (a memset and two launches, a one-block finish per row after the second: about
// 10 us). The finishing block's two bitmaps over the row must fit in its shared stash.
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

void topk_wide(Context& ctx, const TopkArgs& a, const std::int32_t* lens, int rows,
               long long longest, std::size_t smem, int stash_cap) {
  const Batch& bt = a.batch;
  // Chunks: one wave of two blocks per SM over all rows, of at least 4096 positions each (the
  // 8192-bin histogram is cleared and flushed once per block).
  const long long quads = (longest + 6) / 4;  // of the longest row, at any alignment
  const long long want = std::max(1, 2 * ctx.sms() / rows);
  long long chunk_quads = std::max<long long>(1024, (quads + want - 1) / want);
  chunk_quads = (chunk_quads + kThreads - 1) / kThreads * kThreads;
  const long long chunks = (quads + chunk_quads - 1) / chunk_quads;
  // Candidates per row: room for a quarter of the longest row (at least 2k), never more than it.
  const long long cand_cap = (std::min(longest, std::max(longest / 4, 2LL * a.k)) + 3) / 4 * 4;

  // Scratch: [histograms | tickets of pass 1 | tickets of pass 2 | fill counts] (zeroed per call),
  // then the pass-1 results and the candidate lists.
  const std::size_t r = static_cast<std::size_t>(rows);
  const std::size_t zeroed = align16(sizeof(int) * r * (kWideBins + 3));
  const std::size_t wide_bytes = align16(sizeof(WideRow) * r);
  const std::size_t list_bytes = align16(sizeof(std::uint32_t) * r * cand_cap);
  char* ws = static_cast<char*>(ctx.scratch(zeroed + wide_bytes + 2 * list_bytes, 2));
  int* ghist = reinterpret_cast<int*>(ws);
  int* tickets1 = ghist + r * kWideBins;
  int* tickets2 = tickets1 + r;
  int* fill = tickets2 + r;
  WideRow* wide = reinterpret_cast<WideRow*>(ws + zeroed);
  auto* cand_key = reinterpret_cast<std::uint32_t*>(ws + zeroed + wide_bytes);
  auto* cand_pos = reinterpret_cast<std::int32_t*>(ws + zeroed + wide_bytes + list_bytes);
  CUDA_CHECK(cudaMemsetAsync(ws, 0, zeroed, ctx.stream()));

  const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(rows));
  const int s_q = static_cast<int>(bt.s_q), cq = static_cast<int>(chunk_quads);
  wide_histogram<<<grid, kThreads, 0, ctx.stream()>>>(a.logits, lens, s_q, bt.capacity, a.k, cq,
                                                      ghist, tickets1, wide);
  CUDA_CHECK_LAUNCH();
  set_dynamic_smem(reinterpret_cast<const void*>(wide_select), smem);
  wide_select<<<grid, kThreads, smem, ctx.stream()>>>(
      a.logits, a.indices, lens, s_q, bt.capacity, a.k, cq, wide, tickets2, fill, cand_key,
      cand_pos, static_cast<int>(cand_cap), stash_cap);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

// Top-k v3 (topk_sampled.cu): one read of each long row; opt-in until it has run on a GPU.
void topk_sampled(Context& ctx, const TopkArgs& a);

void topk(Context& ctx, const TopkArgs& a) {
  if (opted_in("COSTCURVE_TOPK_SAMPLED")) return topk_sampled(ctx, a);
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
  // on the SM, and no more than the longest row needs. wide_select has the same layout.
  static const int static_bytes = std::max(static_smem(reinterpret_cast<const void*>(topk_kernel)),
                                           static_smem(reinterpret_cast<const void*>(wide_select)));
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
  set_dynamic_smem(reinterpret_cast<const void*>(topk_kernel), smem);
  topk_kernel<<<static_cast<unsigned>(rows), kThreads, smem, ctx.stream()>>>(
      a.logits, a.indices, lens, static_cast<int>(bt.s_q), bt.capacity, a.k,
      static_cast<int>(stash_cap));
  CUDA_CHECK_LAUNCH();
}

}  // namespace costcurve::cuda

// Top-k's chunk passes (private to topk.cu): one read of a row's range that keeps every key at or
// above the sampled threshold, with its position, in a candidate list (v5: keys compared, then
// appended, step by step; v6: floats compared and the next step's loads in flight while appending).
#pragma once

#include <cstdint>

#include "kernels/cuda/topk_keys.cuh"

namespace costcurve::cuda::topk_impl {

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

}  // namespace costcurve::cuda::topk_impl

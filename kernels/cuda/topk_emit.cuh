// Top-k's ordered output (private to topk.cu): k positions in ascending order, from a row's keys
// (the exact path) or from an unordered candidate list (through bitmaps over the row), staged in
// shared memory for coalesced stores.
#pragma once

#include <cstdint>

#include "kernels/cuda/topk_keys.cuh"

namespace costcurve::cuda::topk_impl {

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

static __device__ void pad_short_row(int n, int k, std::int32_t* out) {
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
static __device__ void store_staged(const std::int32_t* stage, std::int32_t* out, int k) {
  __syncthreads();
  const int tid = threadIdx.x, head = min(k, (4 - out_skew(out)) & 3), quads = (k - head) / 4;
  if (tid < head) out[tid] = stage[tid];
  const int4* s4 = reinterpret_cast<const int4*>(stage + head);
  int4* o4 = reinterpret_cast<int4*>(out + head);
  for (int i = tid; i < quads; i += kThreads) o4[i] = s4[i];
  const int j = head + 4 * quads + tid;
  if (j < k) out[j] = stage[j];
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
static __device__ void emit_runs_vec(const std::uint32_t* gt, const std::uint32_t* eq, int words,
                                     int need, std::int32_t* out, Shared& sh) {
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

}  // namespace costcurve::cuda::topk_impl

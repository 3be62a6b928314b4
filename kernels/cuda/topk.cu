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
// slower at B=32), reserves their room in the row's global list with one atomic and copies them
// there, then takes a ticket; the row's last block finishes the row from the list
// (copied into shared memory when it fits, read from L2 otherwise) or runs the exact path alone
// when the list is short or overflowed. Scratch (Context slot 2, grown once): per row, a list of
// max(n / 4, 5k) candidates (n of the longest row; 16 MB for 64 rows of 128K).
//
// Each block asks L2 for the first two steps of its range right after issuing the sample's loads,
// so that HBM streams while the sample is selected; with COSTCURVE_TOPK_BULK_PREFETCH=1 (within
// ±2.5% on an H100), for its whole range in a few bulk requests.
//
// The parts: topk_keys.cuh (constants, keys and where they are read from), topk_select.cuh (the
// radix passes), topk_collect.cuh (the chunk passes), topk_emit.cuh (the ordered output).
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cuda/context.cuh"
#include "kernels/cuda/topk_collect.cuh"
#include "kernels/cuda/topk_emit.cuh"
#include "kernels/cuda/topk_keys.cuh"
#include "kernels/cuda/topk_select.cuh"

namespace costcurve::cuda {
namespace {

using namespace topk_impl;  // the kernels' parts: topk_{keys,select,collect,emit}.cuh

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

// Finishes a row of n from its c candidates (k <= c; every key of the row >= T among them): the
// exact select over the candidates, then the ordered output. `smem` as for exact_row (kMaxBins +
// stash_cap words); the bitmaps take its front, which must not overlap shared-memory candidates
// (smem_candidates).
// `ph` (the phase diagnostic's stamps of this block, else null): thread 0 stamps the global timer
// into ph[5] after the key range and ph[6] after the radix passes.
template <bool kGlobal, int kVer>
__device__ void finish_candidates(const std::uint32_t* ck, const std::int32_t* cp, int c, int n,
                                  int k, std::int32_t* out, std::uint32_t* smem, int stash_cap,
                                  Shared& sh, unsigned long long* ph = nullptr,
                                  bool ranged = false) {
  using Src = std::conditional_t<kGlobal, ListKeys, SmemKeys>;
  Src src;
  if constexpr (kGlobal)
    src = ListKeys{ck, c};
  else
    src = SmemKeys{ck, c, 0};
  std::uint32_t lo, hi;
  if (kVer >= 6 && ranged)  // the caller took the key range while it copied the list
    lo = sh.lo, hi = sh.hi;
  else
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
  if constexpr (kVer >= 6) {
    // The key range as the list goes by (sh.lo and sh.hi set before the ticket's barrier), where
    // finish_candidates would read the keys once more between two barriers (0.7-0.8 us of the
    // finish at decode B=32, 128K: NOTES.md, topk v5).
    std::uint32_t lo = ~0u, hi = 0u;
#pragma unroll 2
    for (int q = tid; q < c / 4; q += kThreads) {
      const uint4 v = __ldcg(reinterpret_cast<const uint4*>(ck) + q);
      reinterpret_cast<uint4*>(sk)[q] = v;
      reinterpret_cast<int4*>(sp)[q] = __ldcg(reinterpret_cast<const int4*>(cp) + q);
      lo = min(lo, min(min(v.x, v.y), min(v.z, v.w)));
      hi = max(hi, max(max(v.x, v.y), max(v.z, v.w)));
    }
    for (int i = c / 4 * 4 + tid; i < c; i += kThreads) {
      const std::uint32_t key = __ldcg(ck + i);
      sk[i] = key, sp[i] = __ldcg(cp + i);
      lo = min(lo, key), hi = max(hi, key);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      lo = min(lo, __shfl_xor_sync(kFull, lo, o));
      hi = max(hi, __shfl_xor_sync(kFull, hi, o));
    }
    if (tid % 32 == 0) atomicMin(&sh.lo, lo), atomicMax(&sh.hi, hi);
  } else {
#pragma unroll 2  // fully unrolled, it spills (nvcc 13.0)
    for (int q = tid; q < c / 4; q += kThreads) {
      reinterpret_cast<uint4*>(sk)[q] = __ldcg(reinterpret_cast<const uint4*>(ck) + q);
      reinterpret_cast<int4*>(sp)[q] = __ldcg(reinterpret_cast<const int4*>(cp) + q);
    }
    for (int i = c / 4 * 4 + tid; i < c; i += kThreads)
      sk[i] = __ldcg(ck + i), sp[i] = __ldcg(cp + i);
  }
  __syncthreads();
  stamp(ph, 4);
  finish_candidates<false, kVer>(sk, sp, c, rk.n, k, out, smem_dyn, stash_cap, sh, ph, kVer >= 6);
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
    if constexpr (kVer >= 6) sh.lo = ~0u, sh.hi = 0u;  // wide_finish's key range
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

// MQA attention over a bf16 latent cache (dense_decode and sparse attention; an fp8 e4m3 cache
// too, opt-in) on Hopper, warp-specialised, with the "seesaw" schedule that FlashMLA's 2025-04
// write-up describes.
//
// Why a second kernel beside mqa_wgmma.cu: there, one warpgroup computes a tile's S, its softmax
// and its half of P V one after the other while the other warpgroup waits, and the same threads
// issue the next tile's loads; measured (NOTES.md, attention v4), its loads and MMAs do not
// overlap. Here a producer warpgroup loads key tiles (whole dense tiles by TMA, gathered rows by
// cp.async; an fp8 cache through its registers, widened to bf16) into two stages, each 64-dim
// column block completing on its own mbarrier, and the two consumer warpgroups take the tiles in
// pairs: warpgroup 0 computes S0 = Q K0^T, warpgroup 1 S1 = Q K1^T, and each updates its own half
// of O (columns 0-255 and 256-511) with both P0 and P1. The running row max passes from warpgroup 0
// to 1 and back through shared memory, so one warpgroup's softmax runs while the other's MMAs do:
//   wg0: S0; m0 = max(m, rowmax S0); P0 = exp(S0 - m0); O_L = O_L a0 + P0 V0_L
//   wg1: S1; m1 = max(m0, rowmax S1); P1 = exp(S1 - m1); O_R = O_R a0 a1 + P1 V1_R
//   wg0: O_L = O_L a1 + P1 V1_L            wg1: O_R += (P0 a1) V0_R
// (a0 = exp(m - m0), a1 = exp(m0 - m1)), which is the online softmax over both tiles. A tile's last
// column block (the 64 rope dims) only feeds S; once S is done it holds that tile's P, as the A
// fragments the other warpgroup's thread of the same index takes into its registers, which is how
// Q, two stages and both P fit in 227 KB. Each stage's column blocks are
// released in three groups (dims 0-255, 256-511, the rope block) as their last reader finishes, so
// the next pair's first blocks load while this pair's last MMAs run.
#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/context.cuh"
#include "kernels/cuda/mla_tiles.cuh"
#include "kernels/cuda/sm90.cuh"

namespace costcurve::cuda::mla {
namespace {

constexpr int kThreads = 384;  // consumer warpgroups 0 and 1, producer warpgroup 2
// From a 1024-byte-aligned base: Q, stage 0, stage 1, positions [2][kKeys], six row-statistic
// arrays [kRows] (m0, a0 from warpgroup 0; m1, a1 from 1; the two halves of l), mbarriers.
constexpr int kOffPos = 3 * kTileBytes;
constexpr int kOffStat = kOffPos + 2 * kKeys * 4;
constexpr int kOffBar = kOffStat + 6 * kRows * 4;
constexpr int kFullBars = 2 * kColBlocks, kEmptyBars = 2 * 3;
constexpr int kSmem = kOffBar + (kFullBars + kEmptyBars + 1) * 8 + 1024;
static_assert(kSmem <= 227 * 1024, "fits an H100's shared memory per block");
// kF16 (v5.9) also keeps each tile's token scales [2][kKeys] past the mbarriers.
constexpr int kOffScale = (kOffBar + (kFullBars + kEmptyBars + 1) * 8 + 15) / 16 * 16;
constexpr int kSmemF16 = kOffScale + 2 * kKeys * 4 + 1024;
static_assert(kSmemF16 <= 227 * 1024, "fits an H100's shared memory per block");
// Named barriers (0 is __syncthreads): warpgroup 0's P0, m0 and a0 ready; 1's P1, m1 and a1
// ready; the two halves of l; (kF16) Q widened to f16.
constexpr int kBarM0 = 1, kBarP1 = 2, kBarL = 3, kBarQ = 4;

#ifdef COSTCURVE_WGMMA
__device__ __forceinline__ void cp_async_arrive_noinc(std::uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void bar_arrive(int id) {
  asm volatile("bar.arrive %0, 256;\n" ::"r"(id) : "memory");
}
__device__ __forceinline__ void bar_sync(int id) {
  asm volatile("bar.sync %0, 256;\n" ::"r"(id) : "memory");
}
// Waits for a column block, then orders the cp.async writes it saw before the wgmma reads.
__device__ __forceinline__ void wait_block(std::uint32_t bar, std::uint32_t parity) {
  sm90::mbar_wait(bar, parity);
  __syncwarp();
  fence_async_smem();
  // As CUTLASS does after a pipeline wait: an explicit fence here, in converged code, where ptxas
  // would otherwise insert one on the wait loop's divergent path and serialise the wgmmas (C7520).
  wgmma_fence();
}

// S = Q K^T over the column blocks in the order given (the order the producer fills them).
// kMma false (the "nomma" diagnostic): every wait, fence and commit, no MMA; S stays zero.
// kF16: Q and K hold f16 (attention v5.9).
template <int kFirst, bool kMma = true, bool kF16 = false>
__device__ __forceinline__ void compute_s(float (&s)[32], const unsigned char* sQ,
                                          const unsigned char* sK, std::uint32_t full0,
                                          std::uint32_t parity) {
#pragma unroll
  for (int i = 0; i < 32; ++i) s[i] = 0.0f;
  wgmma_fence();
#pragma unroll
  for (int i = 0; i < kColBlocks; ++i) {
    const int cb = (kFirst + i) % kColBlocks;
    wait_block(full0 + 8 * cb, parity);
    if constexpr (kMma) {
#pragma unroll
      for (int ks = 0; ks < 4; ++ks)
        wgmma_m64n64k16_ss<kF16>(s, desc_sw128(sQ + cb * kBlockBytes + ks * 32, 16),
                                 desc_sw128(sK + cb * kBlockBytes + ks * 32, 16));
    }
  }
  wgmma_commit();
  wgmma_wait0();
  sm90::fence_operands(s);
}

// Scales and masks S (invisible keys: -inf) and returns this thread's two row maxima, reduced
// over the lane quad that shares each row. kColScale: each key's column also times its token's
// scale from tscale (v5.9, where K came unscaled).
template <bool kColScale = false>
__device__ __forceinline__ void mask_and_max(float (&s)[32], const int* tpos, int t, float scale,
                                             float (&mx)[2], const float* tscale = nullptr) {
  mx[0] = mx[1] = -INFINITY;
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int col = 8 * i + 2 * t + (c & 1);
      const bool ok = tpos[col] >= 0;
      const float f = kColScale ? scale * tscale[col] : scale;
      s[4 * i + c] = ok ? s[4 * i + c] * f : -INFINITY;
      mx[c >> 1] = fmaxf(mx[c >> 1], s[4 * i + c]);
    }
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
    mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
  }
}

// P = exp2(S - base) in place; returns this thread's partial row sums.
__device__ __forceinline__ void exponentiate(float (&s)[32], const float (&base)[2],
                                             float (&rs)[2]) {
  rs[0] = rs[1] = 0.0f;
#pragma unroll
  for (int i = 0; i < 32; ++i) {
    s[i] = exp2f(s[i] - base[(i >> 1) & 1]);
    rs[(i >> 1) & 1] += s[i];
  }
}

// The accumulator layout of S is the A-fragment layout of the P V wgmma.
template <bool kF16 = false>
__device__ __forceinline__ void pack_p(const float (&s)[32], std::uint32_t (&pa)[4][4]) {
#pragma unroll
  for (int kc = 0; kc < 4; ++kc)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      pa[kc][e] = kF16 ? pack_f16(s[8 * kc + 2 * e], s[8 * kc + 2 * e + 1])
                       : pack_bf16(s[8 * kc + 2 * e], s[8 * kc + 2 * e + 1]);
}

// v5.9: P's columns times their tokens' scales (V came unscaled), after the row sums, which
// are of P itself.
__device__ __forceinline__ void scale_p_cols(float (&s)[32], const float* tscale, int t) {
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int c = 0; c < 4; ++c) s[4 * i + c] *= tscale[8 * i + 2 * t + (c & 1)];
}

// P's A fragments pass to the other warpgroup's thread of the same index, which holds the same
// rows: [4][128 threads] of 16 bytes, so consecutive threads touch consecutive 16 bytes.
__device__ __forceinline__ void put_frags(unsigned char* buf, const std::uint32_t (&pa)[4][4],
                                          int ctid) {
#pragma unroll
  for (int kc = 0; kc < 4; ++kc)
    reinterpret_cast<uint4*>(buf)[kc * 128 + ctid] =
        make_uint4(pa[kc][0], pa[kc][1], pa[kc][2], pa[kc][3]);
}
__device__ __forceinline__ void get_frags(const unsigned char* buf, std::uint32_t (&pa)[4][4],
                                          int ctid) {
#pragma unroll
  for (int kc = 0; kc < 4; ++kc) {
    const uint4 v = reinterpret_cast<const uint4*>(buf)[kc * 128 + ctid];
    pa[kc][0] = v.x;
    pa[kc][1] = v.y;
    pa[kc][2] = v.z;
    pa[kc][3] = v.w;
  }
}
// Fragment word e holds row ra (e even) or ra + 8 (e odd).
template <bool kF16 = false>
__device__ __forceinline__ void scale_frags(std::uint32_t (&pa)[4][4], const float (&f)[2]) {
#pragma unroll
  for (int kc = 0; kc < 4; ++kc)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      if constexpr (kF16) {
        const float2 v = __half22float2(*reinterpret_cast<const __half2*>(&pa[kc][e]));
        pa[kc][e] = pack_f16(v.x * f[e & 1], v.y * f[e & 1]);
      } else {
        const float2 v = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&pa[kc][e]));
        pa[kc][e] = pack_bf16(v.x * f[e & 1], v.y * f[e & 1]);
      }
    }
}

__device__ __forceinline__ void scale_o(float (&o)[128], const float (&f)[2]) {
#pragma unroll
  for (int i = 0; i < 128; ++i) o[i] *= f[(i >> 1) & 1];
}

// Issues O += P V for one half of O (v: the stage's first column block of that half) and commits
// it; the caller waits. kMma false: the fence and the commit alone, as in compute_s.
template <bool kMma = true, bool kF16 = false>
__device__ __forceinline__ void issue_pv(float (&o)[128], const std::uint32_t (&pa)[4][4],
                                         const unsigned char* v) {
  wgmma_fence();
  if constexpr (kMma) {
#pragma unroll
    for (int kc = 0; kc < 4; ++kc)
      wgmma_m64n256k16_rs_tb<kF16>(o, pa[kc], desc_sw128(v + kc * 2048, kBlockBytes));
  }
  wgmma_commit();
}
#endif  // COSTCURVE_WGMMA

// kEarly (v5.4, opt-in COSTCURVE_MQA_SEESAW_EARLY=1): warpgroup 1 multiplies P0 V0_R as soon as it
// has P0, under its own softmax, O_R = (O_R a0 + P0 V0_R) a1 + P1 V1_R, instead of last; the
// producer fills the groups in the order they are then released (stage 0's three, then stage 1's
// rope block, dims 0-255 and 256-511) and warpgroup 1's S1 takes stage 1's column blocks in that
// order. Why: in the default order stage 0's dims 256-511 free up only when the pair ends, and the
// producer, which fills the groups in a fixed order, queues the next pair's later groups behind
// them; an H100 profile (NOTES.md, attention v5.4) has the consumers waiting on column blocks in
// compute_s for a third of their stall samples at sparse decode, the load latency once a pair.
//
// kDiag (bf16, not kEarly; COSTCURVE_MQA_DIAG, for tools/probe.cpp; outputs wrong on purpose): the
// kernel with a part switched off, to tell what a pair's time goes to. 1, "resident": keys are
// copied for the first pair only; later pairs arrive on the full barriers at once, so the consumers
// never wait on memory after it (the tensor work and the consumers' own chain). 2, "nomma": no
// wgmma at all (the loads and the synchronisation). 3, "neither": both (the chain's softmax,
// barriers and handoffs alone).
//
// kAhead (bf16, not kEarly, no diagnostic, not kTma; opt-in COSTCURVE_MQA_IDX_AHEAD=1, NOTES.md
// attention v5.7): the producer reads each pair's list entries a pair ahead (below).
//
// kTma (bf16, dense, not kEarly, no diagnostic; the default for dense tiles, NOTES.md attention
// v5.6): a tile whose 64 keys are all visible comes as nine TMA boxes, one per column block, issued
// by the producer's thread 0 (arrive.expect_tx on the block's barrier; the other 127 threads
// arrive plainly, so the barriers keep their counts); a tile that ends past the key range keeps
// the cp.async path, whose zero-filled rows keep whatever lies past a sequence's end out of P V.
//
// kTmaRows (with kAhead: bf16, sparse, not kEarly, no diagnostic; opt-in COSTCURVE_MQA_TMA_ROWS=1,
// NOTES.md attention v5.8): gathered rows come by TMA too, one box of [1 row][64 dims] per row and
// column block through p.kv_map (encoded with a box height of 1), each thread the boxes of row
// (pt & 63) in every other column block of a group; the 128-byte swizzle follows the destination's
// address bits, so a one-row box at row r's offset lands as swz lays it out. A row that is not
// visible is asked for at row -1, wholly out of bounds: TMA fills it with zeros and still counts
// its bytes. Why: at dense decode whole-tile TMA took 24% off, the producer's copy instructions
// having crowded the consumers' schedulers; a gathered tile by cp.async is 36 copies a thread,
// by boxes 4.5.
//
// kF16 (kFp8, not kEarly, no diagnostic; opt-in COSTCURVE_MQA_FP8_F16=1, NOTES.md attention
// v5.9): the fp8 cache is read as f16, unscaled, one conversion a pair of values (every e4m3
// value is an f16 normal or zero), where kFp8 alone widens to bf16 times each token's scale (four
// instructions a pair): the producer's instructions, not its bytes, were what v5.6 found costly.
// The consumers widen Q to f16 once, run the MMAs on f16 and apply the scales where they act:
// S's column of token j times s_j, P's column times s_j after the row sums (V came unscaled too).
template <bool kFp8, bool kEarly, int kDiag = 0, bool kTma = false, bool kAhead = false,
          bool kTmaRows = false, bool kF16 = false>
__global__ void __launch_bounds__(kThreads, 1) mqa_seesaw_kernel(const __grid_constant__ Params p) {
  static_assert(!kF16 || (kFp8 && !kEarly && kDiag == 0 && !kTma && !kAhead && !kTmaRows),
                "the f16 form is of the fp8 kernel alone");
#ifdef COSTCURVE_WGMMA
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const auto raw = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem_raw));
  unsigned char* sm = smem_raw + ((1024 - (raw & 1023)) & 1023);
  unsigned char* sQ = sm;
  unsigned char* sK[2] = {sm + kTileBytes, sm + 2 * kTileBytes};
  int* sPos = reinterpret_cast<int*>(sm + kOffPos);
  float* sM0 = reinterpret_cast<float*>(sm + kOffStat);
  float* sA0 = sM0 + kRows;
  float* sM1 = sA0 + kRows;
  float* sA1 = sM1 + kRows;
  float* sL = sA1 + kRows;                                   // [2][kRows]
  float* sScale = reinterpret_cast<float*>(sm + kOffScale);  // kF16 only: [2][kKeys]
  const std::uint32_t bars = sm90::smem_u32(sm + kOffBar);
  const auto full = [&](int st, int cb) { return bars + 8 * (st * kColBlocks + cb); };
  const auto empty = [&](int st, int grp) { return bars + 8 * (kFullBars + st * 3 + grp); };
  const std::uint32_t qfull = bars + 8 * (kFullBars + kEmptyBars);

  const int tid = threadIdx.x, wg = tid >> 7;
  const int tok = blockIdx.y;  // b * s_q + query index
  const int b = tok / p.s_q;
  const int r0 = blockIdx.x * kRows;
  const int rows_valid = min(kRows, p.heads - r0);
  const int pos = p.seq_lens[b] - p.s_q + tok % p.s_q;
  const bool sparse = p.idx != nullptr;
  const long key_end = sparse ? p.top_k : pos + 1;
  const long kb = static_cast<long>(blockIdx.z) * p.split_keys;
  const long ke = min(key_end, kb + p.split_keys);
  // Tiles come in pairs; an odd count ends with a tile of zero rows, fully masked.
  const int pairs = ke > kb ? static_cast<int>((ke - kb + 2 * kKeys - 1) / (2 * kKeys)) : 0;

  if (tid == 0) {
    // A column block completes when the producer's 128 threads' copies have landed; the first
    // block filled in a stage also waits for their plain arrivals after writing its positions.
    for (int st = 0; st < 2; ++st)
      for (int cb = 0; cb < kColBlocks; ++cb)
        sm90::mbar_init(full(st, cb), cb == (st == 0 ? 0 : kEarly ? 8 : 4) ? 256 : 128);
    for (int i = 0; i < kEmptyBars; ++i) sm90::mbar_init(bars + 8 * (kFullBars + i), 256);
    sm90::mbar_init(qfull, 128);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  if (wg == 2) {  // producer
    // An fp8 cache is widened in the producer's registers: more of them, taken from the consumers.
    if constexpr (kFp8)
      asm volatile("setmaxnreg.dec.sync.aligned.u32 80;\n" ::: "memory");
    else
      asm volatile("setmaxnreg.dec.sync.aligned.u32 64;\n" ::: "memory");
    const int pt = tid - 256;
    for (int c = pt; c < kRows * 72; c += 128) {
      const int r = c / 72, j = c % 72;
      const bool ok = r < rows_valid;
      const bf16* src = ok ? p.q + (static_cast<long>(tok) * p.heads + r0 + r) * kDqk + j * 8 : p.q;
      cp_async16(sQ + swz(r, j), src, ok ? 16 : 0);
    }
    cp_async_arrive_noinc(qfull);
    // List entry j as stored (dense: j itself), -1 past the split; visible() then gives the key's
    // position, or -1 where it is not visible. Split so that a read can be issued well before
    // its value is checked (kAhead).
    const auto entry = [&](long j) -> int {
      if (j >= ke) return -1;
      if (!sparse) return static_cast<int>(j);
      return p.idx[static_cast<long>(tok) * p.top_k + j];
    };
    const auto visible = [&](int x) -> int { return (x >= 0 && x <= pos) ? x : -1; };
    const auto key_pos = [&](long j) -> int { return visible(entry(j)); };
    // This thread fills 16-byte chunk (pt & 7) of rows (pt >> 3) + 16 i of every column block.
    const int row0 = pt >> 3, chunk = pt & 7;
    // Row size in the cache, and the scale of each of this thread's rows (1 for bf16).
    constexpr int kRowBytes = kFp8 ? kDqk : 2 * kDqk;
    const auto* cache = kFp8 ? reinterpret_cast<const unsigned char*>(p.kv8)
                             : reinterpret_cast<const unsigned char*>(p.kv);
    const unsigned char* kvb = cache + static_cast<long>(b) * p.cap * kRowBytes;
    // kAhead: a pair's list entries (this thread's rows of both tiles, and below kKeys its
    // position in each tile) are read while the pair before it is filled, and the row this thread
    // asks L2 for one pair earlier still; each read's latency, an HBM miss at first touch, then
    // overlaps work instead of holding up the copies, the positions and the prefetch behind it.
    // The entries read ahead, unchecked.
    int e0[4] = {-1, -1, -1, -1}, e1[4] = {-1, -1, -1, -1}, es[2], epf = -1;
    const auto read_pair = [&](int q) {
      if constexpr (!kTmaRows) {  // the rows this thread copies by cp.async
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          e0[i] = entry(kb + 2L * q * kKeys + row0 + 16 * i);
          e1[i] = entry(kb + (2L * q + 1) * kKeys + row0 + 16 * i);
        }
      }
      // kTmaRows: every thread reads the entry of the row whose boxes it loads (pt & 63); the
      // positions' writers (pt < 64) read their own as before.
#pragma unroll
      for (int st = 0; st < 2; ++st)
        if constexpr (kTmaRows)
          es[st] = entry(kb + (2L * q + st) * kKeys + (pt & (kKeys - 1)));
        else
          es[st] = pt < kKeys ? entry(kb + (2L * q + st) * kKeys + pt) : -1;
    };
    if constexpr (kAhead) {
      read_pair(0);
      epf = entry(kb + 2L * kKeys + pt);
    }
    for (int pr = 0; pr < pairs; ++pr) {
      const std::uint32_t parity = (pr & 1) ^ 1;  // a fresh barrier passes parity 1
      // The pair after this one, into L2, one row a thread: its copies into shared memory start
      // when this pair's stages free up, and then wait on L2 rather than on HBM (gathered rows,
      // for sparse attention, are a random walk through the cache).
      if constexpr ((kDiag & 1) == 0) {
        if (p.l2_prefetch && pr + 1 < pairs) {
          const int k = kAhead ? visible(epf) : key_pos(kb + 2 * (pr + 1) * kKeys + pt);
          if (k >= 0) prefetch_l2(kvb + static_cast<long>(k) * kRowBytes, kRowBytes);
        }
        if constexpr (kAhead) epf = entry(kb + 2L * (pr + 2) * kKeys + pt);
      }
      int kp0[4], kp1[4], sp[2];
      if constexpr (kAhead) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          kp0[i] = visible(e0[i]);
          kp1[i] = visible(e1[i]);
        }
        sp[0] = visible(es[0]);
        sp[1] = visible(es[1]);
        if (pr + 1 < pairs) read_pair(pr + 1);
      } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          kp0[i] = key_pos(kb + 2 * pr * kKeys + row0 + 16 * i);
          kp1[i] = key_pos(kb + (2 * pr + 1) * kKeys + row0 + 16 * i);
        }
      }
      // Groups in the order they are released: stage 0's dims 0-255 (after warpgroup 0's P0 V),
      // stage 1's dims 256-511, then the rest; with kEarly stage 0's three groups, then stage 1's
      // rope block, dims 0-255 and 256-511. A stage's first group also writes its positions.
      constexpr int kStages = kEarly ? 0b111000 : 0b110010;
      constexpr int kGroups = kEarly ? 0b010010100100 : 0b001010010100;
#pragma unroll 1
      for (int o = 0; o < 6; ++o) {
        const int st = (kStages >> o) & 1, grp = (kGroups >> (2 * o)) & 3;
        const bool first = kEarly ? (o == 0 || o == 3) : o < 2;
        const int cb0 = 4 * grp, ncb = grp == 2 ? 1 : 4;
        unsigned char* stage = sm + (1 + st) * kTileBytes;
        int k[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) k[i] = st ? kp1[i] : kp0[i];
        if constexpr (kFp8) {
          // The group's raw bytes into registers before its stage is free (the loads' latency
          // then overlaps the wait), widened times each token's scale once it is.
          uint2 raw[4][4];
          float scale[4];
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            // kF16 needs them only for the stage's scales, written with its first group.
            scale[i] = (!kF16 || first) && k[i] >= 0
                           ? __ldg(p.kscale + static_cast<long>(b) * p.cap + k[i])
                           : 0.0f;
#pragma unroll
            for (int c = 0; c < 4; ++c)
              raw[c][i] =
                  c < ncb && k[i] >= 0
                      ? __ldg(reinterpret_cast<const uint2*>(
                            kvb + static_cast<long>(k[i]) * kRowBytes + (cb0 + c) * 64 + chunk * 8))
                      : make_uint2(0, 0);
          }
          sm90::mbar_wait(empty(st, grp), parity);
          if (first && pt < kKeys)
            sPos[st * kKeys + pt] =
                kAhead ? (st ? sp[1] : sp[0]) : key_pos(kb + (2 * pr + st) * kKeys + pt);
          if constexpr (kF16) {  // the tile's scales, by the threads of chunk 0 (0 where hidden)
            if (first && chunk == 0)
#pragma unroll
              for (int i = 0; i < 4; ++i) sScale[st * kKeys + row0 + 16 * i] = scale[i];
          }
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            if (c >= ncb) break;
#pragma unroll
            for (int i = 0; i < 4; ++i)
              *reinterpret_cast<uint4*>(stage + swz(row0 + 16 * i, (cb0 + c) * 8 + chunk)) =
                  widen_fp8x8<kF16>(raw[c][i], scale[i]);
            fence_async_smem();  // plain stores, read next by wgmma (the async proxy)
            sm90::mbar_arrive(full(st, cb0 + c));
            if (first && c == 0) sm90::mbar_arrive(full(st, cb0));  // positions written
          }
        } else {
          sm90::mbar_wait(empty(st, grp), parity);
          if (first && pt < kKeys)
            sPos[st * kKeys + pt] =
                kAhead ? (st ? sp[1] : sp[0]) : key_pos(kb + (2 * pr + st) * kKeys + pt);
          if constexpr (kTmaRows) {
            // Half 0 of the threads takes blocks cb0 and cb0 + 2 (and the rope block), half 1 the
            // others; each thread arrives once on every block of the group, as with cp.async.
            const int row = pt & (kKeys - 1), half = pt >> 6;
            const int kr = st ? sp[1] : sp[0];
            const int c1 = kr >= 0 ? static_cast<int>(b * p.cap + kr) : -1;
#pragma unroll 1
            for (int cb = cb0; cb < cb0 + ncb; ++cb) {
              if (((cb - cb0) & 1) == half) {
                sm90::mbar_expect_tx(full(st, cb), 128);
                sm90::tma_load_2d(sm90::smem_u32(stage + cb * kBlockBytes + row * 128), &p.kv_map,
                                  cb * 64, c1, full(st, cb));
              } else {
                sm90::mbar_arrive(full(st, cb));
              }
              if (first && cb == cb0) sm90::mbar_arrive(full(st, cb));  // positions written
            }
          } else {
            if constexpr (kTma) {
              const long t0 = kb + (2L * pr + st) * kKeys;  // the tile's first key
              if (t0 + kKeys <= ke) {
#pragma unroll 1
                for (int cb = cb0; cb < cb0 + ncb; ++cb) {
                  if (pt == 0) {
                    sm90::mbar_expect_tx(full(st, cb), kBlockBytes);
                    sm90::tma_load_2d(sm90::smem_u32(stage + cb * kBlockBytes), &p.kv_map, cb * 64,
                                      static_cast<int>(b * p.cap + t0), full(st, cb));
                  } else {
                    sm90::mbar_arrive(full(st, cb));
                  }
                  if (first && cb == cb0) sm90::mbar_arrive(full(st, cb));  // positions written
                }
                continue;
              }
            }
#pragma unroll 1
            for (int cb = cb0; cb < cb0 + ncb; ++cb) {
              if constexpr ((kDiag & 1) != 0) {
                if (pr > 0) {  // the block keeps pair 0's keys: complete it at once
                  sm90::mbar_arrive(full(st, cb));
                  if (first && cb == cb0) sm90::mbar_arrive(full(st, cb));  // positions written
                  continue;
                }
              }
#pragma unroll
              for (int i = 0; i < 4; ++i) {
                const unsigned char* src =
                    k[i] >= 0 ? kvb + static_cast<long>(k[i]) * kRowBytes + cb * 128 + chunk * 16
                              : cache;
                cp_async16(stage + swz(row0 + 16 * i, cb * 8 + chunk), src, k[i] >= 0 ? 16 : 0);
              }
              cp_async_arrive_noinc(full(st, cb));
              if (first && cb == cb0) sm90::mbar_arrive(full(st, cb));  // positions written
            }
          }
        }
      }
    }
    asm volatile("cp.async.wait_all;\n" ::: "memory");
    return;
  }

  if constexpr (kFp8)
    asm volatile("setmaxnreg.inc.sync.aligned.u32 208;\n" ::: "memory");
  else
    asm volatile("setmaxnreg.inc.sync.aligned.u32 216;\n" ::: "memory");
  const int warp = (tid & 127) >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int ra = warp * 16 + g;  // this thread's rows: ra and ra + 8
  const int ctid = tid & 127;
  float o[128];
#pragma unroll
  for (int i = 0; i < 128; ++i) o[i] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  sm90::mbar_wait(qfull, 0);
  fence_async_smem();
  if constexpr (kF16) {
    // Q to f16 in place, 16 bytes a step (elementwise: the swizzle does not matter), then made
    // visible to the other warpgroup's wgmma reads. A bf16 value past f16's range becomes inf.
    for (int c = tid; c < kRows * 72; c += 256) {
      uint4* q = reinterpret_cast<uint4*>(sQ) + c;
      uint4 v = *q;
      std::uint32_t* w = &v.x;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w[e]));
        w[e] = pack_f16(f.x, f.y);
      }
      *q = v;
    }
    fence_async_smem();
    bar_sync(kBarQ);
  }

  for (int pr = 0; pr < pairs; ++pr) {
    const std::uint32_t parity = pr & 1;
    float s[32], mx[2], base[2], rs[2];
    std::uint32_t pa[4][4];
    if (wg == 0) {
      compute_s<0, (kDiag & 2) == 0, kF16>(s, sQ, sK[0], full(0, 0), parity);
      mask_and_max<kF16>(s, sPos, t, p.scale_log2, mx, sScale);
      float a0[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const float m_new = fmaxf(m[i], mx[i]);
        base[i] = m_new == -INFINITY ? 0.0f : m_new;  // all masked so far: no NaN
        a0[i] = exp2f(m[i] - base[i]);
        m[i] = m_new;
      }
      exponentiate(s, base, rs);
      l[0] = l[0] * a0[0] + rs[0];
      l[1] = l[1] * a0[1] + rs[1];
      if constexpr (kF16) scale_p_cols(s, sScale, t);
      pack_p<kF16>(s, pa);
      put_frags(sK[0] + 8 * kBlockBytes, pa, ctid);  // P0 over stage 0's rope block
      if (t == 0) {
        sM0[ra] = m[0];
        sM0[ra + 8] = m[1];
        sA0[ra] = a0[0];
        sA0[ra + 8] = a0[1];
      }
      bar_arrive(kBarM0);
      scale_o(o, a0);
      issue_pv<(kDiag & 2) == 0, kF16>(o, pa, sK[0]);
      wgmma_wait0();
      sm90::fence_operands(o);
      sm90::mbar_arrive(empty(0, 0));  // stage 0's dims 0-255: only this warpgroup reads them
      sm90::mbar_arrive(empty(0, 1));  // S0 was this warpgroup's last use of dims 256-511
      sm90::mbar_arrive(empty(0, 2));  // and of the rope block, which now holds P0
      sm90::mbar_arrive(empty(1, 1));  // stage 1's dims 256-511: never read here
      bar_sync(kBarP1);
      fence_async_smem();  // stage 1's dims 0-255 landed before warpgroup 1's S1 read them
      float a1[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        a1[i] = sA1[ra + 8 * i];
        m[i] = sM1[ra + 8 * i];
      }
      get_frags(sK[1] + 8 * kBlockBytes, pa, ctid);
      sm90::mbar_arrive(empty(1, 2));  // P1 read: stage 1's rope block is free
      scale_o(o, a1);
      l[0] *= a1[0];
      l[1] *= a1[1];
      issue_pv<(kDiag & 2) == 0, kF16>(o, pa, sK[1]);
      wgmma_wait0();
      sm90::fence_operands(o);
      sm90::mbar_arrive(empty(1, 0));
    } else {
      compute_s<kEarly ? 8 : 4, (kDiag & 2) == 0, kF16>(s, sQ, sK[1], full(1, 0), parity);
      sm90::mbar_arrive(empty(1, 0));  // S1 was this warpgroup's only use of stage 1's dims 0-255
      sm90::mbar_arrive(empty(0, 0));  // stage 0's dims 0-255: never read here
      mask_and_max<kF16>(s, sPos + kKeys, t, p.scale_log2, mx, sScale + kKeys);
      bar_sync(kBarM0);
      fence_async_smem();  // stage 0's dims 256-511 landed before warpgroup 0's S0 read them
      // P0 now, so that warpgroup 0 may overwrite it once past this pair's P1 barrier.
      std::uint32_t p0[4][4];
      get_frags(sK[0] + 8 * kBlockBytes, p0, ctid);
      sm90::mbar_arrive(empty(0, 2));  // the rope block: S0 and P0 are done with
      float a0[2], a1[2], a0a1[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const float m0 = sM0[ra + 8 * i];
        const float m_new = fmaxf(m0, mx[i]);
        base[i] = m_new == -INFINITY ? 0.0f : m_new;
        a1[i] = exp2f(m0 - base[i]);
        a0[i] = sA0[ra + 8 * i];
        a0a1[i] = a0[i] * a1[i];
        m[i] = m_new;
      }
      if constexpr (kEarly) {
        // O_R = (O_R a0 + P0 V0_R) a1 + P1 V1_R: P0 V0_R (P0 relative to m0) runs under this
        // warpgroup's softmax; the operands' fences after its wait keep o's and P0's registers
        // from being reused while it reads them.
        scale_o(o, a0);
        issue_pv<(kDiag & 2) == 0>(o, p0, sK[0] + 4 * kBlockBytes);
      }
      exponentiate(s, base, rs);
      l[0] = l[0] * a0a1[0] + rs[0];
      l[1] = l[1] * a0a1[1] + rs[1];
      if constexpr (kF16) scale_p_cols(s, sScale + kKeys, t);
      pack_p<kF16>(s, pa);
      put_frags(sK[1] + 8 * kBlockBytes, pa, ctid);  // P1 over stage 1's rope block
      if (t == 0) {
        sM1[ra] = m[0];
        sM1[ra + 8] = m[1];
        sA1[ra] = a1[0];
        sA1[ra + 8] = a1[1];
      }
      if (p.sync_p1)
        bar_sync(kBarP1);
      else
        bar_arrive(kBarP1);
      sm90::mbar_arrive(empty(1, 2));
      if constexpr (kEarly) {
        wgmma_wait0();
        sm90::fence_operands(o);
        sm90::fence_operands(p0);
        sm90::mbar_arrive(empty(0, 1));  // stage 0's dims 256-511, mid-pair
        scale_o(o, a1);
      } else {
        scale_o(o, a0a1);
      }
      issue_pv<(kDiag & 2) == 0, kF16>(o, pa, sK[1] + 4 * kBlockBytes);
      wgmma_wait0();
      sm90::fence_operands(o);
      sm90::mbar_arrive(empty(1, 1));
      if constexpr (!kEarly) {
        scale_frags<kF16>(p0, a1);  // P0 is relative to m0
        issue_pv<(kDiag & 2) == 0, kF16>(o, p0, sK[0] + 4 * kBlockBytes);
        wgmma_wait0();
        sm90::fence_operands(o);
        sm90::mbar_arrive(empty(0, 1));
      }
    }
  }

  // Both halves of l are relative to the same final max (warpgroup 1's m1 of the last pair).
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    if (t == 0) sL[wg * kRows + ra + 8 * i] = l[i];
  }
  bar_sync(kBarL);
  constexpr float kLn2 = 0.6931471805599453f;
  const bool partial = p.splits > 1;
  float* obase = partial ? p.part_o + static_cast<long>(blockIdx.z) * p.rows_total * kDv : p.out;
  float* lbase = partial ? p.part_lse + static_cast<long>(blockIdx.z) * p.rows_total : p.lse;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = ra + 8 * i;
    if (r >= rows_valid) continue;
    const float li = sL[r] + sL[kRows + r];
    if (wg == 0 && t == 0 && lbase)
      lbase[static_cast<long>(tok) * p.heads + r0 + r] =
          li == 0.0f ? -INFINITY : (m[i] + log2f(li)) * kLn2;
    const float inv = li == 0.0f ? 0.0f : 1.0f / li;
    float* dst = obase + (static_cast<long>(tok) * p.heads + r0 + r) * kDv + wg * 256 + 2 * t;
#pragma unroll
    for (int n = 0; n < 32; ++n)
      *reinterpret_cast<float2*>(dst + 8 * n) =
          make_float2(o[4 * n + 2 * i] * inv, o[4 * n + 2 * i + 1] * inv);
  }
#else
  __trap();  // launched only where the sm_90a code exists (mqa_wgmma_usable)
#endif
}

}  // namespace

void launch_mqa_seesaw(Context& ctx, const Params& p, dim3 grid, bool fp8, bool early, bool tma,
                       bool ahead, bool rows, bool f16) {
  static const bool configured = [] {
    for (auto* k : {mqa_seesaw_kernel<false, false>, mqa_seesaw_kernel<true, false>,
                    mqa_seesaw_kernel<false, true>, mqa_seesaw_kernel<true, true>,
                    mqa_seesaw_kernel<false, false, 1>, mqa_seesaw_kernel<false, false, 2>,
                    mqa_seesaw_kernel<false, false, 3>, mqa_seesaw_kernel<false, false, 0, true>,
                    mqa_seesaw_kernel<false, false, 0, false, true>,
                    mqa_seesaw_kernel<false, false, 0, false, true, true>})
      CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
    CUDA_CHECK(cudaFuncSetAttribute(mqa_seesaw_kernel<true, false, 0, false, false, false, true>,
                                    cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemF16));
    return true;
  }();
  (void)configured;
  auto* k = fp8 ? (early ? mqa_seesaw_kernel<true, true> : mqa_seesaw_kernel<true, false>)
                : (early ? mqa_seesaw_kernel<false, true> : mqa_seesaw_kernel<false, false>);
  // The diagnostics, TMA and the list read ahead exist for a bf16 cache without early only, one at
  // a time (TMA rows with the list read ahead): mqa_wgmma refuses the rest.
  if (p.diag == 1) k = mqa_seesaw_kernel<false, false, 1>;
  if (p.diag == 2) k = mqa_seesaw_kernel<false, false, 2>;
  if (p.diag == 3) k = mqa_seesaw_kernel<false, false, 3>;
  if (tma) k = mqa_seesaw_kernel<false, false, 0, true>;
  if (ahead) k = mqa_seesaw_kernel<false, false, 0, false, true>;
  if (rows) k = mqa_seesaw_kernel<false, false, 0, false, true, true>;
  if (f16) k = mqa_seesaw_kernel<true, false, 0, false, false, false, true>;
  k<<<grid, kThreads, f16 ? kSmemF16 : kSmem, ctx.stream()>>>(p);
  CUDA_CHECK_LAUNCH();
}

}  // namespace costcurve::cuda::mla

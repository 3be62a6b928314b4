// Lightning indexer on Hopper (sm_90a) for DeepSeek-V3.2's shape: 64 heads x 128 dims, fp8 e4m3 q
// and k. Warpgroup MMA (wgmma m64n128k32 e4m3, both operands from shared memory), TMA loads and an
// mbarrier pipeline; indexer.cu dispatches here and keeps its mma.sync kernels for everything else.
//
// Why this shape of kernel:
// - Keys are the M side and (token, head) pairs the N side: one wgmma computes 64 keys against two
//   query tokens x 64 heads (N = 128), C[key][token, head]. The head sum then runs along a row of
//   C, which the accumulator layout keeps inside a thread (16 heads per token) and a quad of lanes:
//   three shuffles, no cross-warp reduction. (Heads as M would leave the sum across the 4 warps.)
// - q [heads][dim] and k [token][dim] are both K-major with rows of exactly 128 bytes, the width of
//   the 128-byte swizzle: TMA writes them swizzled and wgmma reads them without bank conflicts, so
//   nothing is staged or converted by the threads.
// - One producer thread (its warpgroup hands its registers to the consumers) streams key tiles
//   (2 consumer warpgroups x MB x 64 keys) through NK slots and two-token Q chunks (with their
//   head weights) through NQ slots. A work unit is one key tile
//   of one sequence against a group of that sequence's chunks: decode (one chunk) streams keys and
//   reads each key once; prefill keeps a tile while many chunks stream past from L2.
// - Each consumer warpgroup alternates two accumulators: the wgmma of one 64-key block runs while
//   the ReLU-and-weight epilogue of the previous block runs on the CUDA cores; only the last
//   block of a chunk waits alone, and the other warpgroup's MMAs can fill that gap.
// - Persistent grid (one block per SM: ~195 KB of shared memory), units dealt round-robin.
// - fp8 wgmma accumulates the 128-dim dot products at reduced precision: 2.6e-5 relative error
//   against float64 on the same fp8 inputs (f32 accumulation would give ~1e-7), far inside the
//   fp8 bound.
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>
#include <math_constants.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/cuda/context.cuh"
#include "kernels/cuda/sm90.cuh"

namespace costcurve::cuda {
namespace {

constexpr int kHeads = 64;
constexpr int kRowBytes = 128;  // one fp8 q or k row (128 dims): one 128-byte swizzle row
constexpr int kChunkTokens = 2;
constexpr int kQBytes = kChunkTokens * kHeads * kRowBytes;  // B operand: N = 128 rows
constexpr int kWBytes = kChunkTokens * kHeads * 4;
constexpr int kBlockKeys = 64;  // wgmma M
constexpr int kConsumers = 2;   // consumer warpgroups
constexpr int kThreads = 128 * (kConsumers + 1);
constexpr int kBoxRows = 256;  // TMA box limit per dimension
constexpr int kNQ = 4;         // Q chunk slots

struct WgParams {
  CUtensorMap kmap;  // k as [B][cap][128] bytes
  CUtensorMap qmap;  // q as [B * s_q * 64][128] bytes
  const float* w;
  const float* k_scale;
  float* logits;
  const std::int32_t* seq_lens;
  int cap, s_q, chunks;
  int tiles, groups, group_chunks, units;
};

// MB: 64-key blocks per consumer warpgroup and tile; NK: key tile slots.
template <int MB, int NK>
struct Layout {
  static constexpr int kTileKeys = kConsumers * MB * kBlockKeys;
  static constexpr int kBlockBytes = kBlockKeys * kRowBytes;
  static constexpr int kKBytes = kConsumers * MB * kBlockBytes;
  static constexpr int kOffQ = NK * kKBytes;
  static constexpr int kOffW = kOffQ + kNQ * kQBytes;
  static constexpr int kOffBar = kOffW + kNQ * kWBytes;
  static constexpr int kSmem = kOffBar + 8 * 2 * (NK + kNQ) + 1024;  // + base alignment slack
  static_assert(MB % 2 == 0, "blocks alternate between two accumulators");
  static_assert(kTileKeys % kBoxRows == 0, "a tile is whole TMA boxes");
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

// One work unit: key tile [k0, k0 + tile) of sequence b against chunks [cf, c1) (tokens
// [2 cf, 2 c1)); tokens [i0, fill_end) see no key of the tile and only get -inf.
struct Unit {
  int b, k0, pos0, cf, c1, i0, fill_end;
  bool work;
};

__device__ __forceinline__ Unit unit_at(const WgParams& p, int u, int tile_keys) {
  Unit x;
  const int grp = u % p.groups, rest = u / p.groups;
  x.b = rest / p.tiles;
  x.k0 = (rest % p.tiles) * tile_keys;
  const int c0 = grp * p.group_chunks;
  x.c1 = min(p.chunks, c0 + p.group_chunks);
  x.i0 = 2 * c0;
  const int i1 = min(p.s_q, 2 * x.c1);
  x.pos0 = __ldg(p.seq_lens + x.b) - p.s_q;  // token i sees keys [0, pos0 + i]
  const int first = max(x.i0, min(i1, x.k0 - x.pos0));
  x.work = first < i1;
  x.cf = x.work ? first / 2 : x.c1;
  x.fill_end = x.work ? 2 * x.cf : i1;
  return x;
}

using sm90::bulk_load;
using sm90::desc_sw128;
using sm90::mbar_arrive;
using sm90::mbar_expect_tx;
using sm90::mbar_init;
using sm90::mbar_wait;
using sm90::smem_u32;
using sm90::tma_load_2d;
using sm90::tma_load_3d;
using sm90::wgmma_commit;
using sm90::wgmma_fence;
using sm90::wgmma_wait;

// D (+)= A B: A 64 keys x 32 dims, B 32 dims x 128 (token, head) columns, both in shared memory.
__device__ __forceinline__ void wgmma_m64n128k32(float (&d)[64], std::uint64_t a, std::uint64_t b,
                                                 int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,"
      "%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"
      "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]),
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),
        "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]),
        "+f"(d[63])
      : "l"(a), "l"(b), "r"(accumulate));
}

// Where one 64-key block's logits go: chunk rows out[0], out[cap] (token 0, 1 of the chunk).
struct Epi {
  float* out;       // logits row of the chunk's first token
  int pos;          // that token's position (it sees keys <= pos)
  int ntok;         // tokens of the chunk that exist (1 or 2)
  int key;          // this lane's row-g key; it writes key + 8 (t & 1)
  float ks;         // k_scale of the key it writes
  std::uint32_t w;  // the chunk's head weights in shared memory, [token][head]
};

__device__ __forceinline__ float2 lds_f2(std::uint32_t addr) {
  float2 v;
  asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];\n" : "=f"(v.x), "=f"(v.y) : "r"(addr));
  return v;
}

// acc element i of lane (g, t) in warp wq: key row 16 wq + g + 8 ((i >> 1) & 1), column
// 8 (i >> 2) + 2t + (i & 1) = token (i >> 5), head 8 ((i >> 2) & 7) + 2t + (i & 1).
// kAbs: w relu(x) = (w x + w |x|) / 2, two FMAs (|x| is a free operand modifier) instead of a max
// and an FMA.
template <bool kAbs>
__device__ __forceinline__ void epilogue(const float (&acc)[64], const Epi& e, int t, int cap) {
  float s[2][2] = {};  // [token][row g, g + 8]
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int tok = 0; tok < 2; ++tok) {
      const float2 w = lds_f2(e.w + 4 * (tok * kHeads + 8 * j + 2 * t));
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const float x0 = acc[32 * tok + 4 * j + 2 * r], x1 = acc[32 * tok + 4 * j + 2 * r + 1];
        if constexpr (kAbs) {
          s[tok][r] = fmaf(w.x, x0, fmaf(w.x, fabsf(x0), s[tok][r]));
          s[tok][r] = fmaf(w.y, x1, fmaf(w.y, fabsf(x1), s[tok][r]));
        } else {
          s[tok][r] = fmaf(w.x, fmaxf(x0, 0.0f), s[tok][r]);
          s[tok][r] = fmaf(w.y, fmaxf(x1, 0.0f), s[tok][r]);
        }
      }
    }
  // The quad (t = 0..3) holds the same two rows, different heads. Lane t ends with the sum for
  // row r = t & 1 of token t >> 1: exchange halves, then quarters.
  const bool odd = t & 1, hi = t & 2;
  float k0 = odd ? s[0][1] : s[0][0], k1 = odd ? s[1][1] : s[1][0];
  k0 += __shfl_xor_sync(0xffffffffu, odd ? s[0][0] : s[0][1], 1);
  k1 += __shfl_xor_sync(0xffffffffu, odd ? s[1][0] : s[1][1], 1);
  float v = hi ? k1 : k0;
  v += __shfl_xor_sync(0xffffffffu, hi ? k0 : k1, 2);
  const int tok = t >> 1, key = e.key + 8 * (t & 1);
  if (tok < e.ntok && key < cap)
    e.out[static_cast<long long>(tok) * cap + key] =
        key <= e.pos + tok ? v * e.ks * (kAbs ? 0.5f : 1.0f) : -CUDART_INF_F;
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

template <int MB, int NK, bool kAbs>
__global__ void __launch_bounds__(kThreads, 1)
    indexer_wgmma_kernel(const __grid_constant__ WgParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using L = Layout<MB, NK>;
  extern __shared__ unsigned char smem_raw[];
  // The swizzle pattern repeats every 1024 bytes and TMA and wgmma both assume tiles aligned to it.
  const std::uint32_t base = (smem_u32(smem_raw) + 1023) & ~1023u;
  const std::uint32_t s_k = base, s_q = base + L::kOffQ, s_w = base + L::kOffW;
  const std::uint32_t bar = base + L::kOffBar;
  const auto kfull = [&](int i) { return bar + 8 * i; };
  const auto kempty = [&](int i) { return bar + 8 * (NK + i); };
  const auto qfull = [&](int i) { return bar + 8 * (2 * NK + i); };
  const auto qempty = [&](int i) { return bar + 8 * (2 * NK + kNQ + i); };
  constexpr std::uint32_t kConsumerThreads = 128 * kConsumers;

  if (threadIdx.x == 0) {
    for (int i = 0; i < NK; ++i) {
      mbar_init(kfull(i), 1);
      mbar_init(kempty(i), kConsumerThreads);
    }
    for (int i = 0; i < kNQ; ++i) {
      mbar_init(qfull(i), 1);
      mbar_init(qempty(i), kConsumerThreads);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  const int wg = threadIdx.x / 128;
  if (wg == 0) {  // producer: one thread issues every copy
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::: "memory");
    if (threadIdx.x != 0) return;
    std::uint32_t kload = 0, qload = 0;
    for (int u = blockIdx.x; u < p.units; u += gridDim.x) {
      const Unit x = unit_at(p, u, L::kTileKeys);
      if (!x.work) continue;
      const int ks = kload % NK;
      // A fresh barrier counts as having completed the phase before its first: parity 1 passes.
      mbar_wait(kempty(ks), ((kload / NK) & 1) ^ 1);
      mbar_expect_tx(kfull(ks), L::kKBytes);  // rows past cap arrive zero-filled, still counted
#pragma unroll
      for (int part = 0; part < L::kTileKeys / kBoxRows; ++part)
        tma_load_3d(s_k + ks * L::kKBytes + part * kBoxRows * kRowBytes, &p.kmap, 0,
                    x.k0 + part * kBoxRows, x.b, kfull(ks));
      ++kload;
      for (int c = x.cf; c < x.c1; ++c) {
        const int qs = qload % kNQ;
        mbar_wait(qempty(qs), ((qload / kNQ) & 1) ^ 1);
        const int ntok = min(kChunkTokens, p.s_q - 2 * c);
        const long long row = static_cast<long long>(x.b) * p.s_q + 2 * c;
        // A missing second token's Q rows are whatever follows (or zeros past the end); its
        // columns are never stored. Its weights are not copied: the copy has no bounds check.
        mbar_expect_tx(qfull(qs), kQBytes + ntok * kHeads * 4);
        tma_load_2d(s_q + qs * kQBytes, &p.qmap, 0, static_cast<int>(row * kHeads), qfull(qs));
        bulk_load(s_w + qs * kWBytes, p.w + row * kHeads, ntok * kHeads * 4, qfull(qs));
        ++qload;
      }
    }
    return;
  }

  asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::: "memory");
  const int cw = wg - 1, ctid = threadIdx.x - 128;
  const int wq = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const float neg_inf = -CUDART_INF_F;
  float acc0[64], acc1[64];
  std::uint32_t kuse = 0, quse = 0;

  for (int u = blockIdx.x; u < p.units; u += gridDim.x) {
    const Unit x = unit_at(p, u, L::kTileKeys);
    const int tile_end = min(p.cap, x.k0 + L::kTileKeys);
    for (int i = x.i0; i < x.fill_end; ++i) {
      float* row = p.logits + (static_cast<long long>(x.b) * p.s_q + i) * p.cap;
      for (int k = x.k0 + ctid; k < tile_end; k += kConsumerThreads) row[k] = neg_inf;
    }
    if (!x.work) continue;

    const int key_base = x.k0 + cw * MB * kBlockKeys + 16 * wq + g;  // row g of block 0
    float kscale[MB];
#pragma unroll
    for (int mb = 0; mb < MB; ++mb) {
      const int key = key_base + mb * kBlockKeys + 8 * (t & 1);
      kscale[mb] = p.k_scale && key < p.cap
                       ? __ldg(p.k_scale + static_cast<long long>(x.b) * p.cap + key)
                       : 1.0f;
    }
    const int ks = kuse % NK;
    mbar_wait(kfull(ks), (kuse / NK) & 1);
    __syncwarp();  // wgmma is .aligned: the warp must be converged after the spin
    const std::uint32_t a_base = s_k + ks * L::kKBytes + cw * MB * L::kBlockBytes;

    for (int c = x.cf; c < x.c1; ++c) {
      const int qs = quse % kNQ;
      mbar_wait(qfull(qs), (quse / kNQ) & 1);
      __syncwarp();
      const std::uint32_t b_base = s_q + qs * kQBytes;
      Epi e;
      e.out = p.logits + (static_cast<long long>(x.b) * p.s_q + 2 * c) * p.cap;
      e.pos = x.pos0 + 2 * c;
      e.ntok = min(kChunkTokens, p.s_q - 2 * c);
      e.w = s_w + qs * kWBytes;
      // Block mb's MMAs run while block mb - 1's epilogue runs. The last block's epilogue waits
      // for everything: carrying an MMA in flight across the loop's back edge makes ptxas
      // serialize every wgmma (C7514).
#pragma unroll
      for (int mb = 0; mb < MB; ++mb) {
        float(&acc)[64] = (mb & 1) ? acc1 : acc0;
        float(&prev)[64] = (mb & 1) ? acc0 : acc1;
        sm90::fence_operands(acc);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < 4; ++kk)
          wgmma_m64n128k32(acc, desc_sw128(a_base + mb * L::kBlockBytes + 32 * kk),
                           desc_sw128(b_base + 32 * kk), kk);
        wgmma_commit();
        sm90::fence_operands(acc);
        if (mb > 0) {
          wgmma_wait<1>();
          sm90::fence_operands(prev);
          e.key = key_base + (mb - 1) * kBlockKeys;
          e.ks = kscale[mb - 1];
          epilogue<kAbs>(prev, e, t, p.cap);
        }
      }
      wgmma_wait<0>();
      sm90::fence_operands(acc1);
      if (c + 1 == x.c1) mbar_arrive(kempty(ks));  // no MMA reads the key tile any more
      e.key = key_base + (MB - 1) * kBlockKeys;
      e.ks = kscale[MB - 1];
      epilogue<kAbs>(acc1, e, t, p.cap);
      mbar_arrive(qempty(qs));  // after the epilogues: they read the chunk's weights
      ++quse;
    }
    ++kuse;
  }
#else
  __trap();  // launched only where the probe found the sm_90a code
#endif
}

struct Config {
  int mb = 4;            // 64-key blocks per consumer warpgroup and tile (2 or 4)
  bool abs = false;      // epilogue as two FMAs (|x| trick) instead of max + FMA
  int group_chunks = 0;  // chunks per unit; 0 picks one
};

template <int MB, int NK, bool kAbs>
void launch(Context& ctx, const WgParams& p) {
  using L = Layout<MB, NK>;
  auto* kernel = indexer_wgmma_kernel<MB, NK, kAbs>;
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, L::kSmem));
  const int grid = std::min(p.units, ctx.sms());
  kernel<<<grid, kThreads, L::kSmem, ctx.stream()>>>(p);
  CUDA_CHECK_LAUNCH();
}

bool aligned16(const void* ptr) {
  return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0;
}

// False (nothing launched) where this path does not apply.
bool run_wgmma(Context& ctx, const IndexerArgs& a, const Config& cfg) {
  const IndexerShape& s = a.shape;
  const Batch& bt = s.batch;
  if (s.dtype != DType::fp8_e4m3 || s.heads != kHeads || s.dim != kRowBytes) return false;
  const int smem = cfg.mb == 2 ? Layout<2, 4>::kSmem : Layout<4, 2>::kSmem;
  if (ctx.prop().major != 9 || ctx.prop().sharedMemPerBlockOptin < static_cast<size_t>(smem))
    return false;
  if (!sm90::swizzle_aligned(a.q) || !sm90::swizzle_aligned(a.k) || !aligned16(a.w)) return false;
  const long long rows = bt.batch() * bt.s_q;
  if (bt.batch() < 1 || rows * kHeads + 2 * kHeads > INT_MAX || bt.capacity > INT_MAX - (1 << 16))
    return false;
  const PFN_cuTensorMapEncodeTiled_v12000 encode = sm90::tensor_map_encoder();
  if (!encode || !sm90::has_sm90a(ctx)) return false;

  WgParams p{};
  const int tile_keys = kConsumers * cfg.mb * kBlockKeys;
  {
    const cuuint64_t dims[3] = {kRowBytes, static_cast<cuuint64_t>(bt.capacity),
                                static_cast<cuuint64_t>(bt.batch())};
    const cuuint64_t strides[2] = {kRowBytes, static_cast<cuuint64_t>(bt.capacity) * kRowBytes};
    const cuuint32_t box[3] = {kRowBytes, kBoxRows, 1};
    const cuuint32_t unit[3] = {1, 1, 1};
    if (encode(&p.kmap, CU_TENSOR_MAP_DATA_TYPE_UINT8, 3, const_cast<void*>(a.k), dims, strides,
               box, unit, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
               CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
      return false;
  }
  {
    const cuuint64_t dims[2] = {kRowBytes, static_cast<cuuint64_t>(rows * kHeads)};
    const cuuint64_t strides[1] = {kRowBytes};
    const cuuint32_t box[2] = {kRowBytes, kChunkTokens * kHeads};
    const cuuint32_t unit[2] = {1, 1};
    if (encode(&p.qmap, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void*>(a.q), dims, strides,
               box, unit, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
               CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
      return false;
  }
  p.w = a.w;
  p.k_scale = a.k_scale;
  p.logits = a.logits;
  p.cap = static_cast<int>(bt.capacity);
  p.s_q = static_cast<int>(bt.s_q);
  p.chunks = (p.s_q + kChunkTokens - 1) / kChunkTokens;
  const long long tiles = (bt.capacity + tile_keys - 1) / tile_keys;
  // Chunks per unit: all of them unless that leaves fewer than ~8 units per SM (prefill: few key
  // tiles), since units are dealt round-robin and their count sets the load balance.
  int gc = cfg.group_chunks;
  if (gc <= 0) {
    const long long want = 8LL * ctx.sms();
    const long long groups =
        std::clamp<long long>((want + bt.batch() * tiles - 1) / (bt.batch() * tiles), 1, p.chunks);
    gc = static_cast<int>((p.chunks + groups - 1) / groups);
  }
  gc = std::min(gc, p.chunks);
  p.group_chunks = gc;
  p.groups = (p.chunks + gc - 1) / gc;
  const long long units = bt.batch() * tiles * p.groups;
  if (units > INT_MAX) return false;
  p.tiles = static_cast<int>(tiles);
  p.units = static_cast<int>(units);
  p.seq_lens = ctx.seq_lens(bt);

  if (cfg.mb == 2) {
    if (cfg.abs)
      launch<2, 4, true>(ctx, p);
    else
      launch<2, 4, false>(ctx, p);
  } else {
    if (cfg.abs)
      launch<4, 2, true>(ctx, p);
    else
      launch<4, 2, false>(ctx, p);
  }
  return true;
}

}  // namespace

bool indexer_wgmma(Context& ctx, const IndexerArgs& a) {
  return run_wgmma(ctx, a, Config{});
}

}  // namespace costcurve::cuda

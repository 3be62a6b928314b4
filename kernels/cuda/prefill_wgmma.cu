// Dense causal prefill (MHA mode, DeepSeek's 192-dim q.k and 128-dim values, bf16) on Hopper's
// warpgroup MMA (sm_90a), after FlashAttention-3's structure; attention.cu keeps the portable
// mma.sync kernel for every other shape and GPU.
//
// Why this shape of kernel:
// - A block owns 128 query rows of one head: two consumer warpgroups of 64 rows (one wgmma M
//   each) that share every key/value tile, so each tile crosses L2 once per 128 rows. The 128 KB
//   of K and V a tile pair needs per 128 rows keeps the arithmetic intensity at 128 FLOP per L2
//   byte, which the L2 sustains at the bf16 MMA rate.
// - A producer warpgroup (one thread; its registers go to the consumers through setmaxnreg) moves
//   Q once and the K/V tiles through two stages with TMA, completing on mbarriers, so no consumer
//   thread issues a load and the copies of tile j + 1 overlap the MMAs of tile j. q, k and v rows
//   of one head are 384 or 256 bytes, H rows apart: 4-d tensor maps (dim, head, token, sequence)
//   gather them, and the 128-byte swizzle lays them out as wgmma's descriptors read them.
// - S = Q K^T is 12 wgmma m64n128k16 with both operands in shared memory; the online softmax runs
//   on the accumulators in registers; P goes back into the MMA as the register A operand of
//   O += P V (8 wgmma m64n128k16, V read as a transposed B from its [key][dim] tile), so P never
//   touches shared memory. While one warpgroup runs its softmax the other's MMAs keep the tensor
//   cores busy.
// - Only the tiles that cross a row's diagonal (or the end of a key split) are masked.
// - Few blocks (short chunks, small batches) split the keys across blocks and merge the partial
//   results through their log-sum-exps (combine_splits, as the MQA kernels do).
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math_constants.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/cuda/context.cuh"
#include "kernels/cuda/mqa_wgmma.cuh"
#include "kernels/cuda/sm90.cuh"
#include "kernels/key_splits.hpp"

namespace costcurve::cuda {
namespace {

constexpr int kDqk = 192, kDv = 128;
constexpr int kRows = 128;              // query rows per block: two consumer warpgroups of 64
constexpr int kKeys = 128;              // keys per tile
constexpr int kBox = 64;                // bf16 elements in a 128-byte swizzle row
constexpr int kColBytes = kKeys * 128;  // one [128 rows][64 dims] column block (Q, K and V alike)
constexpr int kQBytes = (kDqk / kBox) * kColBytes;
constexpr int kKBytes = (kDqk / kBox) * kColBytes;
constexpr int kVBytes = (kDv / kBox) * kColBytes;
constexpr int kStageBytes = kKBytes + kVBytes;
constexpr int kStages = 2;
constexpr int kOffBar = kQBytes + kStages * kStageBytes;
constexpr int kSmem = kOffBar + 8 * (1 + 2 * kStages) + 1024;  // + base alignment slack
constexpr int kThreads = 384;                                  // producer + two consumers
static_assert(kRows == kKeys, "Q, K and V column blocks share one size");

struct Params {
  CUtensorMap qmap;  // q as (dim, head, row = b * s_q + i)
  CUtensorMap kmap;  // k as (dim, head, token, sequence)
  CUtensorMap vmap;  // v as (dim, head, token, sequence)
  const std::int32_t* seq_lens;
  int s_q, heads;
  float scale_log2;
  float* out;  // [B * s_q * H][128]
  float* lse;  // [B * s_q * H], optional
  int splits, split_keys;
  long rows_total;  // B * s_q * H
  float* part_o;
  float* part_lse;
};

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define COSTCURVE_PREFILL_WGMMA 1
#endif

#ifdef COSTCURVE_PREFILL_WGMMA
using namespace sm90;

// The 64 accumulator operands of an m64n128 wgmma, for the asm statements below.
#define CC_ACC8(i)                                                                            \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
      "+f"(d[i + 6]), "+f"(d[i + 7])
#define CC_ACC64                                                                           \
  CC_ACC8(0), CC_ACC8(8), CC_ACC8(16), CC_ACC8(24), CC_ACC8(32), CC_ACC8(40), CC_ACC8(48), \
      CC_ACC8(56)
#define CC_REGS64                                                                               \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
  "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, "  \
  "%38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, "  \
  "%56, %57, %58, %59, %60, %61, %62, %63}"

// D (+)= A B, A [64][16] and B [16][128] both K-major in shared memory.
__device__ __forceinline__ void wgmma_ss(float (&d)[64], std::uint64_t a, std::uint64_t b,
                                         int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " CC_REGS64
      ", %64, %65, p, 1, 1, 0, 0;\n}\n"
      : CC_ACC64
      : "l"(a), "l"(b), "r"(accumulate));
}

// D += A B, A [64][16] from registers, B [16][128] N-major (transposed) in shared memory.
__device__ __forceinline__ void wgmma_rs_tb(float (&d)[64], const std::uint32_t (&a)[4],
                                            std::uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " CC_REGS64
      ", {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
      : CC_ACC64
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));
}

__device__ __forceinline__ std::uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

// Keeps P's registers live (unchanged) until here: a register-A wgmma reads them after its issue,
// and the compiler, which sees them read at the issue, would otherwise reuse them before the wait.
__device__ __forceinline__ void keep_live(std::uint32_t (&r)[kKeys / 16][4]) {
#pragma unroll
  for (int i = 0; i < kKeys / 16; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+r"(r[i][e])::"memory");
}

// S = Q K^T for one key tile: 12 wgmma m64n128k16, both operands in shared memory.
__device__ __forceinline__ void issue_qk(float (&s)[64], std::uint32_t a_base, std::uint32_t k) {
#pragma unroll
  for (int ks = 0; ks < kDqk / 16; ++ks)
    wgmma_ss(s, desc_sw128(a_base + (ks / 4) * kColBytes + (ks % 4) * 32),
             desc_sw128(k + (ks / 4) * kColBytes + (ks % 4) * 32), ks > 0);
}

// O += P V for one key tile: 8 wgmma m64n128k16, P from registers, V as a transposed B.
__device__ __forceinline__ void issue_pv(float (&o)[64], const std::uint32_t (&pa)[kKeys / 16][4],
                                         std::uint32_t v) {
#pragma unroll
  for (int kc = 0; kc < kKeys / 16; ++kc)
    wgmma_rs_tb(o, pa[kc], desc_sw128(v + kc * 16 * 128, kColBytes));
}

// Rows [from, kKeys) of a V stage, in every column block, set to zero by this consumer warpgroup
// before its P V reads them. The boxes stop at the cache's capacity, not at a sequence's end, so
// the last tile's rows past the block's last key hold whatever the cache holds there (a real
// cache's garbage, NaN included), and P = 0 times NaN is NaN; S needs nothing, its mask selects.
// Both consumer warpgroups write the same zeros; each orders its own writes before its MMAs (the
// proxy fence, then its 128 threads at named barrier 1 + cw). Swizzling permutes the 16-byte
// chunks within a 128-byte row, so a row is the same 128 bytes either way.
__device__ __forceinline__ void zero_v_rows(std::uint32_t v, int from, int cw) {
  constexpr int kChunks = (kDv / kBox) * 8;  // a row's 16-byte chunks across the column blocks
  for (int i = threadIdx.x % 128; i < (kKeys - from) * kChunks; i += 128) {
    const int r = from + i / kChunks, cb = (i / 8) % (kDv / kBox), c = i % 8;
    asm volatile(
        "st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" ::"r"(v + cb * kColBytes + r * 128 + c * 16),
        "r"(0)
        : "memory");
  }
  fence_async_smem();
  if (cw == 0)
    asm volatile("bar.sync 1, 128;\n" ::: "memory");
  else
    asm volatile("bar.sync 2, 128;\n" ::: "memory");
}

// The online softmax of one tile of S (keys k0 .. k0 + 127; s[4i + c] is row ra + 8 (c >> 1),
// key k0 + 8i + 2 t4 + (c & 1)): scales to base 2, masks keys past the row's position or the split
// (only on tiles that reach them), folds the tile into the running max m and sum l, and leaves P
// in s and the factor alpha by which the output so far must be scaled.
__device__ __forceinline__ void softmax_tile(float (&s)[64], int k0, int ke, bool edge, int t4,
                                             const int (&qpos)[2], float scale_log2, float (&m)[2],
                                             float (&l)[2], float (&alpha)[2]) {
  if (edge) {
#pragma unroll
    for (int i = 0; i < 64; ++i) {
      const int key = k0 + 8 * (i >> 2) + 2 * t4 + (i & 1);
      const bool ok = key < ke && key <= qpos[(i >> 1) & 1];
      s[i] = ok ? s[i] * scale_log2 : -CUDART_INF_F;
    }
  } else {
#pragma unroll
    for (int i = 0; i < 64; ++i) s[i] *= scale_log2;
  }
  float mx[2] = {-CUDART_INF_F, -CUDART_INF_F};
#pragma unroll
  for (int i = 0; i < 64; ++i) mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], s[i]);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    const float m_new = fmaxf(m[r], mx[r]);
    const float base2 = m_new == -CUDART_INF_F ? 0.0f : m_new;  // all masked so far: no NaN
    alpha[r] = exp2f(m[r] - base2);
    m[r] = m_new;
    mx[r] = base2;
  }
  float rs[2] = {0.0f, 0.0f};
#pragma unroll
  for (int i = 0; i < 64; ++i) {
    s[i] = exp2f(s[i] - mx[(i >> 1) & 1]);
    rs[(i >> 1) & 1] += s[i];
  }
  l[0] = l[0] * alpha[0] + rs[0];
  l[1] = l[1] * alpha[1] + rs[1];
}

// P in bf16 as the A fragments of P V: the accumulator layout of S is the A-fragment layout of P.
__device__ __forceinline__ void pack_p(const float (&s)[64], std::uint32_t (&pa)[kKeys / 16][4]) {
#pragma unroll
  for (int kc = 0; kc < kKeys / 16; ++kc)
#pragma unroll
    for (int e = 0; e < 4; ++e) pa[kc][e] = pack_bf16(s[8 * kc + 2 * e], s[8 * kc + 2 * e + 1]);
}
#endif  // COSTCURVE_PREFILL_WGMMA

// kOverlap: FlashAttention-3's intra-warpgroup overlap, opt-in until measured (NOTES.md,
// dense_prefill v6): each warpgroup issues S = Q K^T of tile t + 1 and O += P V of tile t together
// and runs tile t + 1's softmax while P V is in flight, so its tensor cores idle only on tile 0's
// softmax. 64 more registers (the next S) hold beside O and P.
template <bool kOverlap>
__global__ void __launch_bounds__(kThreads, 1)
    prefill_wgmma_kernel(const __grid_constant__ Params p) {
#ifdef COSTCURVE_PREFILL_WGMMA
  extern __shared__ unsigned char smem_raw[];
  // TMA's 128-byte swizzle and wgmma's descriptors both assume tiles on 1024-byte boundaries.
  const std::uint32_t base = (smem_u32(smem_raw) + 1023) & ~1023u;
  const std::uint32_t s_q = base;
  const auto s_k = [&](int st) { return base + kQBytes + st * kStageBytes; };
  const auto s_v = [&](int st) { return base + kQBytes + st * kStageBytes + kKBytes; };
  const std::uint32_t qfull = base + kOffBar;
  const auto full = [&](int st) { return qfull + 8 * (1 + st); };
  const auto empty = [&](int st) { return qfull + 8 * (1 + kStages + st); };

  const int b = blockIdx.y / p.heads, h = blockIdx.y % p.heads;
  const int r0 = blockIdx.x * kRows;
  const int pos0 = __ldg(p.seq_lens + b) - p.s_q;  // query i sees keys [0, pos0 + i]
  const int key_end = pos0 + min(r0 + kRows, p.s_q);
  const int kb = blockIdx.z * p.split_keys;
  const int ke = min(key_end, kb + p.split_keys);
  const int tiles = kb < ke ? (ke - kb + kKeys - 1) / kKeys : 0;

  if (threadIdx.x == 0) {
    mbar_init(qfull, 1);
    for (int i = 0; i < kStages; ++i) {
      mbar_init(full(i), 1);
      mbar_init(empty(i), 256);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  const int wg = threadIdx.x / 128;
  if (wg == 0) {  // producer: one thread issues every copy
    asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n" ::: "memory");
    if (threadIdx.x != 0) return;
    // Rows past the batch arrive zero-filled (still counted); rows of the next sequence are read
    // and never stored.
    mbar_expect_tx(qfull, kQBytes);
    for (int cb = 0; cb < kDqk / kBox; ++cb)
      tma_load_3d(s_q + cb * kColBytes, &p.qmap, cb * kBox, h, b * p.s_q + r0, qfull);
    for (int t = 0; t < tiles; ++t) {
      const int st = t % kStages;
      mbar_wait(empty(st), ((t / kStages) & 1) ^ 1);
      mbar_expect_tx(full(st), kStageBytes);
      const int k0 = kb + t * kKeys;
      for (int cb = 0; cb < kDqk / kBox; ++cb)
        tma_load_4d(s_k(st) + cb * kColBytes, &p.kmap, cb * kBox, h, k0, b, full(st));
      for (int cb = 0; cb < kDv / kBox; ++cb)
        tma_load_4d(s_v(st) + cb * kColBytes, &p.vmap, cb * kBox, h, k0, b, full(st));
    }
    return;
  }

  asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n" ::: "memory");
  const int cw = wg - 1;
  const int warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  const int ra = 16 * warp + g;   // this thread's rows: ra and ra + 8 of the warpgroup
  const int row0 = r0 + 64 * cw;  // the warpgroup's first query
  const int qpos[2] = {pos0 + row0 + ra, pos0 + row0 + ra + 8};

  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.0f;
  float m[2] = {-CUDART_INF_F, -CUDART_INF_F}, l[2] = {0.0f, 0.0f};

  mbar_wait(qfull, 0);  // also when there is no tile: the block must not exit with a copy pending
  __syncwarp();
  const std::uint32_t a_base = s_q + cw * 64 * 128;

  // Tile t's keys reach past a row's position or the split: it needs the mask.
  const auto edge = [&](int k0) { return k0 + kKeys - 1 > pos0 + row0 || k0 + kKeys > ke; };
  if constexpr (!kOverlap) {
    for (int t = 0; t < tiles; ++t) {
      const int st = t % kStages;
      const int k0 = kb + t * kKeys;
      mbar_wait(full(st), (t / kStages) & 1);
      if (k0 + kKeys > ke) zero_v_rows(s_v(st), ke - k0, cw);
      __syncwarp();  // wgmma is .aligned: the warp must be converged after the spin

      float s[64];
      wgmma_fence();
      issue_qk(s, a_base, s_k(st));
      wgmma_commit();
      wgmma_wait<0>();
      fence_operands(s);
      float alpha[2];
      std::uint32_t pa[kKeys / 16][4];
      softmax_tile(s, k0, ke, edge(k0), t4, qpos, p.scale_log2, m, l, alpha);
      pack_p(s, pa);
#pragma unroll
      for (int i = 0; i < 64; ++i) o[i] *= alpha[(i >> 1) & 1];
      wgmma_fence();
      issue_pv(o, pa, s_v(st));
      wgmma_commit();
      wgmma_wait<0>();
      fence_operands(o);
      mbar_arrive(empty(st));  // no MMA reads this stage any more
    }
  } else if (tiles > 0) {
    float s[64];
    float alpha[2];
    std::uint32_t pa[kKeys / 16][4];
    mbar_wait(full(0), 0);
    if (kb + kKeys > ke) zero_v_rows(s_v(0), ke - kb, cw);
    __syncwarp();
    wgmma_fence();
    issue_qk(s, a_base, s_k(0));
    wgmma_commit();
    wgmma_wait<0>();
    fence_operands(s);
    softmax_tile(s, kb, ke, edge(kb), t4, qpos, p.scale_log2, m, l, alpha);  // o is still 0
    pack_p(s, pa);
    // The last tile is peeled off: a conditional issue inside the loop makes ptxas serialize the
    // MMAs (it cannot tell which accumulators are in flight).
    for (int t = 0; t + 1 < tiles; ++t) {
      const int st = t % kStages, sn = (t + 1) % kStages;
      mbar_wait(full(sn), ((t + 1) / kStages) & 1);
      if (kb + (t + 2) * kKeys > ke) zero_v_rows(s_v(sn), ke - kb - (t + 1) * kKeys, cw);
      __syncwarp();
      wgmma_fence();  // orders this thread's writes of O and P before the MMAs read them
      issue_qk(s, a_base, s_k(sn));
      wgmma_commit();
      issue_pv(o, pa, s_v(st));
      wgmma_commit();
      wgmma_wait<1>();  // S of tile t + 1; P V of tile t may still run
      fence_operands(s);
      const int k1 = kb + (t + 1) * kKeys;
      softmax_tile(s, k1, ke, edge(k1), t4, qpos, p.scale_log2, m, l, alpha);
      fence_operands(s);
      wgmma_wait<0>();
      fence_operands(o);
      keep_live(pa);
      mbar_arrive(empty(st));  // no MMA reads this stage any more
      // P is packed only now: writing the next MMA's A registers while one is in flight makes
      // ptxas serialize every wgmma (C7513).
      pack_p(s, pa);
#pragma unroll
      for (int i = 0; i < 64; ++i) o[i] *= alpha[(i >> 1) & 1];
    }
    wgmma_fence();
    issue_pv(o, pa, s_v((tiles - 1) % kStages));
    wgmma_commit();
    wgmma_wait<0>();
    fence_operands(o);
    keep_live(pa);
    mbar_arrive(empty((tiles - 1) % kStages));
  }

  constexpr float kLn2 = 0.6931471805599453f;
  const bool partial = p.splits > 1;
  float* obase = partial ? p.part_o + static_cast<long>(blockIdx.z) * p.rows_total * kDv : p.out;
  float* lbase = partial ? p.part_lse + static_cast<long>(blockIdx.z) * p.rows_total : p.lse;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    const int i = row0 + ra + 8 * r;
    if (i >= p.s_q) continue;
    const long row = (static_cast<long>(b) * p.s_q + i) * p.heads + h;
    const float inv = l[r] == 0.0f ? 0.0f : 1.0f / l[r];
    float* dst = obase + row * kDv + 2 * t4;
#pragma unroll
    for (int n = 0; n < kDv / 8; ++n)
      *reinterpret_cast<float2*>(dst + 8 * n) =
          make_float2(o[4 * n + 2 * r] * inv, o[4 * n + 2 * r + 1] * inv);
    if (t4 == 0 && lbase) lbase[row] = l[r] == 0.0f ? -CUDART_INF_F : (m[r] + log2f(l[r])) * kLn2;
  }
#else
  __trap();  // launched only where the sm_90a code exists (sm90::has_sm90a)
#endif
}

// A bf16 tensor map over rows of `dim` elements, `heads` rows per token, boxes of
// [kKeys rows][64 elements] in the 128-byte swizzle. dims_rest: the outer extents (tokens, then
// sequences if any).
bool encode(CUtensorMap* map, const void* ptr, int dim, int heads, std::uint64_t tokens,
            std::uint64_t seqs, std::uint64_t token_stride_rows) {
  const PFN_cuTensorMapEncodeTiled_v12000 enc = sm90::tensor_map_encoder();
  const cuuint64_t row = static_cast<cuuint64_t>(dim) * 2;
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(dim), static_cast<cuuint64_t>(heads), tokens,
                              seqs};
  const cuuint64_t strides[3] = {row, row * heads, row * heads * token_stride_rows};
  const cuuint32_t box[4] = {kBox, 1, kKeys, 1};
  const cuuint32_t unit[4] = {1, 1, 1, 1};
  const cuuint32_t rank = seqs > 0 ? 4 : 3;
  return enc(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, rank, const_cast<void*>(ptr), dims, strides,
             box, unit, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
             CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace

// False (nothing launched) where this path does not apply: another shape or dtype, a GPU other
// than Hopper, a binary without sm_90a code, misaligned tensors, or sizes past TMA's int32
// coordinates.
bool prefill_wgmma(Context& ctx, const DensePrefillArgs& a) {
  const DensePrefillShape& s = a.shape;
  const Batch& bt = s.batch;
  if (s.dtype != DType::bf16 || s.d_qk != kDqk || s.d_v != kDv) return false;
  if (ctx.prop().major != 9 || ctx.prop().sharedMemPerBlockOptin < static_cast<size_t>(kSmem))
    return false;
  if (!sm90::swizzle_aligned(a.q) || !sm90::swizzle_aligned(a.k) || !sm90::swizzle_aligned(a.v))
    return false;
  const long long rows = bt.batch() * bt.s_q;
  if (rows + kRows > INT_MAX || bt.capacity + kKeys > INT_MAX || bt.batch() * s.heads > 65535 ||
      rows * s.heads > (1LL << 40))
    return false;
  if (!sm90::tensor_map_encoder() || !sm90::has_sm90a(ctx)) return false;
  static const bool configured = [] {
    CUDA_CHECK(cudaFuncSetAttribute(prefill_wgmma_kernel<false>,
                                    cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
    CUDA_CHECK(cudaFuncSetAttribute(prefill_wgmma_kernel<true>,
                                    cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
    return true;
  }();
  (void)configured;

  Params p{};
  const auto cap = static_cast<std::uint64_t>(bt.capacity);
  if (!encode(&p.qmap, a.q, kDqk, s.heads, static_cast<std::uint64_t>(rows), 0, 1) ||
      !encode(&p.kmap, a.k, kDqk, s.heads, cap, static_cast<std::uint64_t>(bt.batch()), cap) ||
      !encode(&p.vmap, a.v, kDv, s.heads, cap, static_cast<std::uint64_t>(bt.batch()), cap))
    return false;
  p.seq_lens = ctx.seq_lens(bt);
  p.s_q = static_cast<int>(bt.s_q);
  p.heads = s.heads;
  p.scale_log2 = static_cast<float>(s.scale) * 1.4426950408889634f;
  p.out = a.out;
  p.lse = a.lse;
  p.rows_total = rows * s.heads;

  // One block per SM (~210 KB of shared memory).
  const long long max_keys = *std::max_element(bt.seq_lens.begin(), bt.seq_lens.end());
  const long long blocks = (bt.s_q + kRows - 1) / kRows * bt.batch() * s.heads;
  const KeySplits ks = choose_key_splits(blocks, ctx.sms(), max_keys, kKeys, 4,
                                         attention_merge_cost(kDqk, kDv, max_keys));
  const long long splits = ks.splits, split_keys = ks.split_keys;
  p.splits = static_cast<int>(splits);
  p.split_keys = static_cast<int>(std::min<long long>(split_keys, INT_MAX - kKeys));
  if (splits > 1) {
    p.part_o = static_cast<float*>(ctx.scratch(sizeof(float) * splits * p.rows_total * kDv, 0));
    p.part_lse = static_cast<float*>(ctx.scratch(sizeof(float) * splits * p.rows_total, 1));
  }
  const dim3 grid(static_cast<unsigned>((bt.s_q + kRows - 1) / kRows),
                  static_cast<unsigned>(bt.batch() * s.heads), static_cast<unsigned>(splits));
  if (env_flag("COSTCURVE_PREFILL_OVERLAP"))
    prefill_wgmma_kernel<true><<<grid, kThreads, kSmem, ctx.stream()>>>(p);
  else
    prefill_wgmma_kernel<false><<<grid, kThreads, kSmem, ctx.stream()>>>(p);
  CUDA_CHECK_LAUNCH();
  if (splits > 1)
    combine_splits(ctx, p.part_o, p.part_lse, p.splits, p.rows_total, kDv, a.out, a.lse);
  return true;
}

}  // namespace costcurve::cuda

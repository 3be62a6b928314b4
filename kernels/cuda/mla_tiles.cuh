// What the two MQA kernels on Hopper's warpgroup MMA share (mqa_wgmma.cu, the one-tile-at-a-time
// kernel, and mqa_seesaw.cu, the warp-specialised one): DeepSeek's latent shape, the launch
// parameters, the 128-byte-swizzled tile layout and the wgmma forms both use. Device code only
// where the sm_90a build is compiled (COSTCURVE_WGMMA).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

#include "kernels/cuda/context.cuh"
#include "kernels/cuda/sm90.cuh"

namespace costcurve::cuda::mla {

using bf16 = __nv_bfloat16;
constexpr int kRows = 64;  // heads per block: one wgmma M
constexpr int kKeys = 64;  // keys per tile
constexpr int kDqk = 576;  // latent dims (q.k)
constexpr int kDv = 512;   // value dims (the first kDv latent dims)
constexpr int kColBlocks = kDqk / 64;
constexpr int kBlockBytes = kRows * 128;  // one [64 rows][64 dims] bf16 column block
constexpr int kTileBytes = kColBlocks * kBlockBytes;

struct Params {
  const bf16* q;            // [rows_total][576]
  const bf16* kv;           // [B][cap][576]
  const std::uint8_t* kv8;  // fp8 e4m3 cache [B][cap][576], with kscale [B][cap]
  const float* kscale;
  const std::int32_t* idx;  // sparse: [B * s_q][top_k]; null for dense
  int top_k;
  const std::int32_t* seq_lens;
  int s_q;
  // Diagnostic, outputs wrong on purpose, only for tools/probe (COSTCURVE_MQA_DIAG): the seesaw
  // kernel with a part switched off, 0 none, 1 "resident", 2 "nomma", 3 "neither" (mqa_seesaw.cu,
  // kDiag). Here, in the padding after s_q, so that no other field moves and the kernels' code
  // stays as it was.
  int diag;
  long cap;
  int heads;
  float scale_log2;
  float* out;
  float* lse;
  int splits, split_keys;
  int l2_prefetch;  // ask L2 for the rows of the tiles after the next (COSTCURVE_MQA_L2_PREFETCH=1)
  // Diagnostic (COSTCURVE_MQA_SEESAW_SYNC_P1=1): the seesaw kernel's P1 handoff waits on both
  // sides, to tell whether racecheck's reports on it depend on the bar.arrive (NOTES.md, seesaw
  // racecheck).
  int sync_p1;
  long rows_total;
  float* part_o;
  float* part_lse;
  // The bf16 cache as [B * cap rows][576] in the 128-byte swizzle, boxes of [64 rows][64 dims] for
  // the seesaw's whole dense tiles (NOTES.md attention v5.6), or of [1 row][64 dims] for gathered
  // rows (COSTCURVE_MQA_TMA_ROWS=1, v5.8). Last, so that no other field moves.
  CUtensorMap kv_map;
};

// The warp-specialised kernel (mqa_seesaw.cu), on the same grid and splits as mqa_wgmma_kernel;
// `fp8`: an fp8 e4m3 cache with per-token scales, widened by the producer; `early`: warpgroup 1's
// P0 V0_R before its softmax, so that stage 0 frees up mid-pair (opt-in, NOTES.md attention v5.4).
// p.diag != 0 runs a diagnostic variant instead (bf16, not early: the caller checks).
// `tma`: whole dense tiles of a bf16 cache come by TMA through p.kv_map (attention v5.6).
// `ahead`: the producer reads each pair's list entries a pair ahead (attention v5.7, opt-in; bf16,
// not early, no diagnostic, no TMA: the caller checks). `rows`: with `ahead`, gathered rows come
// by TMA through p.kv_map encoded with one-row boxes (attention v5.8, opt-in; sparse). `f16`: an
// fp8 cache read as f16, scales applied to S and P (attention v5.9, opt-in; fp8, not early).
void launch_mqa_seesaw(Context& ctx, const Params& p, dim3 grid, bool fp8, bool early,
                       bool tma = false, bool ahead = false, bool rows = false, bool f16 = false);

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define COSTCURVE_WGMMA 1
#endif

#ifdef COSTCURVE_WGMMA
// Byte offset of 16-byte chunk c (of 72) of row r in a swizzled tile.
__device__ __forceinline__ int swz(int r, int c) {
  return (c >> 3) * kBlockBytes + r * 128 + (((c & 7) ^ (r & 7)) << 4);
}

__device__ __forceinline__ std::uint64_t desc_sw128(const unsigned char* p, std::uint32_t lbo) {
  return sm90::desc_sw128(static_cast<std::uint32_t>(__cvta_generic_to_shared(p)), lbo);
}

__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
  const auto addr = static_cast<std::uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(src),
               "r"(src_bytes));
}

__device__ __forceinline__ std::uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

__device__ __forceinline__ std::uint32_t pack_f16(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

// Asks L2 for `bytes` (a multiple of 16) at a 16-byte-aligned global address; no data returns.
__device__ __forceinline__ void prefetch_l2(const void* src, std::uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(__cvta_generic_to_global(src)),
               "r"(bytes)
               : "memory");
}

// 8 fp8 e4m3 values times the token's scale, each rounded once to bf16; or (kF16) as f16,
// unscaled: exact (every e4m3 value is an f16 normal or zero), one conversion a pair, the scale
// left to the seesaw's f16 form (attention v5.9), which applies it to S and P instead.
template <bool kF16 = false>
__device__ __forceinline__ uint4 widen_fp8x8(uint2 raw, float scale) {
  const std::uint32_t w[2] = {raw.x, raw.y};
  std::uint32_t o[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const auto pair = static_cast<__nv_fp8x2_storage_t>(w[i >> 1] >> (16 * (i & 1)));
    const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(pair, __NV_E4M3);
    if constexpr (kF16) {
      o[i] = static_cast<std::uint32_t>(h.x) | static_cast<std::uint32_t>(h.y) << 16;
    } else {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&h));
      o[i] = pack_bf16(f.x * scale, f.y * scale);
    }
  }
  return make_uint4(o[0], o[1], o[2], o[3]);
}

using sm90::fence_async_smem;
using sm90::wgmma_commit;
using sm90::wgmma_fence;
__device__ __forceinline__ void wgmma_wait0() {
  sm90::wgmma_wait<0>();
}

// The wgmma forms these kernels use, over bf16 operands or (kF16, the fp8 cache read as f16:
// NOTES.md attention v5.9) f16 ones. PTX takes no arrays: the accumulator lists are written out
// once, here.
#define COSTCURVE_D19_REGS \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "
#define COSTCURVE_D32_REGS \
  COSTCURVE_D19_REGS "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
#define COSTCURVE_D32_OUTS                                                                        \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),    \
      "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),  \
      "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),  \
      "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define COSTCURVE_D128_REGS                                                              \
  COSTCURVE_D19_REGS                                                                     \
  "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, "     \
  "%35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, "     \
  "%51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, "     \
  "%67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, "     \
  "%83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, "     \
  "%99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, "  \
  "%113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, " \
  "%127}, "
#define COSTCURVE_D128_OUTS                                                                      \
  COSTCURVE_D32_OUTS, "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]),           \
      "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), \
      "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), \
      "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), \
      "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), \
      "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
      "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), \
      "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), \
      "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), \
      "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), \
      "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]),        \
      "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),        \
      "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]),        \
      "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]),        \
      "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

// The two forms that take f16 too, one asm statement each for TYPE "bf16" or "f16".
#define COSTCURVE_WGMMA_N64_SS(TYPE)                                                     \
  asm volatile(                                                                          \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                       \
      "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE " " COSTCURVE_D32_REGS \
      "%32, %33, p, 1, 1, 0, 0;\n}\n"                                                    \
      : COSTCURVE_D32_OUTS                                                               \
      : "l"(a), "l"(b), "r"(1))
#define COSTCURVE_WGMMA_N256_RS_TB(TYPE)                                                   \
  asm volatile(                                                                            \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"                                        \
      "wgmma.mma_async.sync.aligned.m64n256k16.f32." TYPE "." TYPE " " COSTCURVE_D128_REGS \
      "{%128, %129, %130, %131}, %132, p, 1, 1, 1;\n}\n"                                   \
      : COSTCURVE_D128_OUTS                                                                \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1))

template <bool kF16 = false>
__device__ __forceinline__ void wgmma_m64n64k16_ss(float (&d)[32], std::uint64_t a,
                                                   std::uint64_t b) {
  if constexpr (kF16)
    COSTCURVE_WGMMA_N64_SS("f16");
  else
    COSTCURVE_WGMMA_N64_SS("bf16");
}

__device__ __forceinline__ void wgmma_m64n256k16_ss_tb(float (&d)[128], std::uint64_t a,
                                                       std::uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 " COSTCURVE_D128_REGS
      "%128, %129, p, 1, 1, 0, 1;\n}\n"
      : COSTCURVE_D128_OUTS
      : "l"(a), "l"(b), "r"(1));
}

template <bool kF16 = false>
__device__ __forceinline__ void wgmma_m64n256k16_rs_tb(float (&d)[128], const std::uint32_t (&a)[4],
                                                       std::uint64_t b) {
  if constexpr (kF16)
    COSTCURVE_WGMMA_N256_RS_TB("f16");
  else
    COSTCURVE_WGMMA_N256_RS_TB("bf16");
}

#undef COSTCURVE_WGMMA_N64_SS
#undef COSTCURVE_WGMMA_N256_RS_TB
#undef COSTCURVE_D19_REGS
#undef COSTCURVE_D32_REGS
#undef COSTCURVE_D32_OUTS
#undef COSTCURVE_D128_REGS
#undef COSTCURVE_D128_OUTS

#endif  // COSTCURVE_WGMMA

}  // namespace costcurve::cuda::mla

// MQA attention (dense_decode, and sparse attention over a bf16 or fp8 e4m3 latent cache) on
// Hopper's warpgroup MMA (wgmma, sm_90a), for DeepSeek's shape: 576-dim latent rows whose first
// 512 dims are the values, 64 heads of one query token per block. The launcher below also
// dispatches a bf16 cache to the faster warp-specialised kernel (mqa_seesaw.cu); this one runs
// fp8 caches, and bf16 ones with COSTCURVE_MQA_SEESAW=0.
//
// Why this shape of kernel: the output O [64][512] in f32 is 128 KB, half the register file, so a
// block of 64 rows runs two warpgroups that each own half of O's columns (128 registers a thread).
// Warpgroup 0 also computes S = Q K^T [64][64] (36 wgmma k-steps over the 576 dims, Q and K both
// from shared memory), the online softmax, and hands P to warpgroup 1 through shared memory (its
// own P V reads P from registers). Both P V products read the key tile as an N-major B operand:
// the tile [64 keys][576 dims] serves as K (K-major) for S and as V (N-major) for P V, with no
// copy. Every tile lives in shared memory as 64-dim column blocks of [64 rows][128 bytes] with the
// 128-byte swizzle, which is what wgmma's descriptors read without bank conflicts; the next key
// tile loads (cp.async, swizzled by hand, gathered by index for sparse attention) while this one
// is computed on. Shared memory: Q 72 KB + two key stages 144 KB + P 8 KB, within the 227 KB limit.
// An fp8 cache lands raw (two 36 KB stages where the second bf16 stage would be) and is widened,
// times each token's scale, into the one bf16 stage per tile. Long key ranges split across blocks
// and merge through their log-sum-exps, as in attention.cu.
// Measured limits and what was tried: kernels/cuda/NOTES.md (attention v4).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kernels/cuda/context.cuh"
#include "kernels/cuda/mla_tiles.cuh"
#include "kernels/cuda/mqa_wgmma.cuh"
#include "kernels/cuda/sm90.cuh"
#include "kernels/key_splits.hpp"

namespace costcurve::cuda {
namespace {

using namespace mla;
constexpr int kThreads = 256;
constexpr int kRawRow = kDqk;  // bytes of an fp8 latent row
// Shared memory: Q, two bf16 key stages (an fp8 cache: one bf16 stage, and in place of the second
// two stages of raw fp8 rows, converted to bf16 once landed), P, then the small arrays; +1024 to
// align the base to the swizzle pattern's 1024-byte repeat.
[[maybe_unused]] constexpr int kOffRaw = 2 * kTileBytes;  // fp8: [2][kKeys][576] bytes
constexpr int kOffP = 3 * kTileBytes;                     // after Q and two key stages
constexpr int kOffPos = kOffP + kBlockBytes;              // int [2][kKeys]
constexpr int kOffAlpha = kOffPos + 2 * kKeys * 4;        // float [kRows]
constexpr int kOffL = kOffAlpha + kRows * 4;              // float [kRows]
constexpr int kOffScale = kOffL + kRows * 4;              // fp8: float [2][kKeys]
constexpr int kSmem = kOffScale + 2 * kKeys * 4 + 1024;
static_assert(2 * kKeys * kRawRow <= kTileBytes, "raw fp8 stages fit one bf16 stage");

template <bool kFp8>
__global__ void __launch_bounds__(kThreads, 1) mqa_wgmma_kernel(const Params p) {
#ifdef COSTCURVE_WGMMA
  extern __shared__ __align__(16) unsigned char smem_raw[];
  // The swizzle repeats every 1024 bytes of shared-memory address: align the tiles to it.
  const auto raw = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem_raw));
  unsigned char* sm = smem_raw + ((1024 - (raw & 1023)) & 1023);
  unsigned char* sQ = sm;
  unsigned char* sP = sm + kOffP;
  int* sPos = reinterpret_cast<int*>(sm + kOffPos);
  float* sAlpha = reinterpret_cast<float*>(sm + kOffAlpha);
  float* sL = reinterpret_cast<float*>(sm + kOffL);
  float* sScale = reinterpret_cast<float*>(sm + kOffScale);

  const int tid = threadIdx.x, wg = tid >> 7;
  const int warp = (tid & 127) >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int ra = warp * 16 + g;  // this thread's rows: ra and ra + 8

  const int tok = blockIdx.y;  // b * s_q + query index
  const int b = tok / p.s_q;
  const int r0 = blockIdx.x * kRows;
  const int rows_valid = min(kRows, p.heads - r0);
  const int pos = p.seq_lens[b] - p.s_q + tok % p.s_q;
  const bool sparse = p.idx != nullptr;
  const long key_end = sparse ? p.top_k : pos + 1;
  const long kb = static_cast<long>(blockIdx.z) * p.split_keys;
  const long ke = min(key_end, kb + p.split_keys);

  for (int c = tid; c < kRows * 72; c += kThreads) {
    const int r = c / 72, j = c % 72;
    const bool ok = r < rows_valid;
    const bf16* src = ok ? p.q + (static_cast<long>(tok) * p.heads + r0 + r) * kDqk + j * 8 : p.q;
    cp_async16(sQ + swz(r, j), src, ok ? 16 : 0);
  }
  asm volatile("cp.async.commit_group;\n" ::);

  // Position of list entry j (dense: j itself), or -1 when past the split or not visible.
  auto key_pos = [&](long j) -> int {
    if (j >= ke) return -1;
    if (!sparse) return static_cast<int>(j);
    const int x = p.idx[static_cast<long>(tok) * p.top_k + j];
    return (x >= 0 && x <= pos) ? x : -1;
  };
  auto load_tile = [&](long k0, int st) {
    if (p.l2_prefetch && tid >= kKeys && tid < 2 * kKeys) {  // the tile after this one, into L2
      const int kp = key_pos(k0 + tid);                      // entries k0 + 64 .. k0 + 127
      if (kp >= 0) {
        if constexpr (kFp8)
          prefetch_l2(p.kv8 + (static_cast<long>(b) * p.cap + kp) * kRawRow, kRawRow);
        else
          prefetch_l2(p.kv + (static_cast<long>(b) * p.cap + kp) * kDqk, kDqk * 2);
      }
    }
    if (tid < kKeys) {
      const int kp = key_pos(k0 + tid);
      sPos[st * kKeys + tid] = kp;
      if constexpr (kFp8) sScale[st * kKeys + tid] = kp >= 0 ? p.kscale[b * p.cap + kp] : 0.0f;
    }
    if constexpr (kFp8) {
      unsigned char* raw = sm + kOffRaw + st * kKeys * kRawRow;
      for (int c = tid; c < kKeys * (kRawRow / 16); c += kThreads) {
        const int r = c / (kRawRow / 16), j = c % (kRawRow / 16);
        const int kp = key_pos(k0 + r);
        const std::uint8_t* src =
            kp >= 0 ? p.kv8 + (static_cast<long>(b) * p.cap + kp) * kRawRow + j * 16 : p.kv8;
        cp_async16(raw + r * kRawRow + j * 16, src, kp >= 0 ? 16 : 0);
      }
    } else {
      unsigned char* sK = sm + kTileBytes * (1 + st);
      for (int c = tid; c < kKeys * 72; c += kThreads) {
        const int r = c / 72, j = c % 72;
        const int kp = key_pos(k0 + r);
        const bf16* src =
            kp >= 0 ? p.kv + (static_cast<long>(b) * p.cap + kp) * kDqk + j * 8 : p.kv;
        cp_async16(sK + swz(r, j), src, kp >= 0 ? 16 : 0);  // invisible keys: zero rows
      }
    }
    asm volatile("cp.async.commit_group;\n" ::);
  };

  float o[128];
#pragma unroll
  for (int i = 0; i < 128; ++i) o[i] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

  if (kb < ke) load_tile(kb, 0);
  int st = 0;
  for (long k0 = kb; k0 < ke; k0 += kKeys, st ^= 1) {
    // The other stage was released by the barrier that ended the previous iteration.
    if (k0 + kKeys < ke) {
      load_tile(k0 + kKeys, st ^ 1);
      asm volatile("cp.async.wait_group 1;\n" ::: "memory");
    } else {
      asm volatile("cp.async.wait_group 0;\n" ::: "memory");
    }
    fence_async_smem();  // cp.async wrote through the generic proxy; wgmma reads through the async
                         // one
    __syncthreads();
    const unsigned char* sK = sm + kTileBytes * (1 + (kFp8 ? 0 : st));
    if constexpr (kFp8) {  // widen this tile into the bf16 stage (zero rows stay zero: scale 0)
      const unsigned char* raw = sm + kOffRaw + st * kKeys * kRawRow;
      for (int c = tid; c < kKeys * 72; c += kThreads) {
        const int r = c / 72, j = c % 72;
        const uint2 v = *reinterpret_cast<const uint2*>(raw + r * kRawRow + j * 8);
        *reinterpret_cast<uint4*>(sm + kTileBytes + swz(r, j)) =
            widen_fp8x8(v, sScale[st * kKeys + r]);
      }
      fence_async_smem();
      __syncthreads();
    }
    if (wg == 0) {
      float s[32];
#pragma unroll
      for (int i = 0; i < 32; ++i) s[i] = 0.0f;
      wgmma_fence();
#pragma unroll
      for (int cb = 0; cb < kColBlocks; ++cb)
#pragma unroll
        for (int ks = 0; ks < 4; ++ks)
          wgmma_m64n64k16_ss(s, desc_sw128(sQ + cb * kBlockBytes + ks * 32, 16),
                             desc_sw128(sK + cb * kBlockBytes + ks * 32, 16));
      wgmma_commit();
      wgmma_wait0();
      sm90::fence_operands(s);

      // Online softmax in base 2; s[4i + c] is row ra + 8 (c >> 1), key 8i + 2t + (c & 1).
      const int* tpos = sPos + st * kKeys;
      float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const bool ok = tpos[8 * i + 2 * t + (c & 1)] >= 0;
          s[4 * i + c] = ok ? s[4 * i + c] * p.scale_log2 : -INFINITY;
          mx[c >> 1] = fmaxf(mx[c >> 1], s[4 * i + c]);
        }
      float alpha[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
        mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
        const float m_new = fmaxf(m[i], mx[i]);
        const float base = m_new == -INFINITY ? 0.0f : m_new;  // all masked so far: no NaN
        alpha[i] = exp2f(m[i] - base);
        m[i] = m_new;
        mx[i] = base;
      }
      float rs[2] = {0.0f, 0.0f};
#pragma unroll
      for (int i = 0; i < 32; ++i) {
        s[i] = exp2f(s[i] - mx[(i >> 1) & 1]);
        rs[(i >> 1) & 1] += s[i];
      }
      l[0] = l[0] * alpha[0] + rs[0];
      l[1] = l[1] * alpha[1] + rs[1];

      // P: A fragments for this warpgroup's P V (the accumulator layout is the A layout), and a
      // swizzled [64 rows][64 keys] copy in shared memory for warpgroup 1.
      std::uint32_t pa[4][4];
#pragma unroll
      for (int kc = 0; kc < 4; ++kc)
#pragma unroll
        for (int e = 0; e < 4; ++e) pa[kc][e] = pack_bf16(s[8 * kc + 2 * e], s[8 * kc + 2 * e + 1]);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int off = ((i ^ (ra & 7)) << 4) + 4 * t;  // rows ra and ra + 8 share ra & 7
        *reinterpret_cast<std::uint32_t*>(sP + ra * 128 + off) = pa[i >> 1][(i & 1) * 2];
        *reinterpret_cast<std::uint32_t*>(sP + (ra + 8) * 128 + off) = pa[i >> 1][(i & 1) * 2 + 1];
      }
      if (t == 0) {
        sAlpha[ra] = alpha[0];
        sAlpha[ra + 8] = alpha[1];
      }
      fence_async_smem();
      asm volatile("bar.arrive 1, 256;\n" ::: "memory");  // P is ready for warpgroup 1

#pragma unroll
      for (int i = 0; i < 128; ++i) o[i] *= alpha[(i >> 1) & 1];
      wgmma_fence();
#pragma unroll
      for (int kc = 0; kc < 4; ++kc)
        wgmma_m64n256k16_rs_tb(o, pa[kc], desc_sw128(sK + kc * 2048, kBlockBytes));
      wgmma_commit();
      wgmma_wait0();
      sm90::fence_operands(o);
    } else {
      asm volatile("bar.sync 1, 256;\n" ::: "memory");
      const float a0 = sAlpha[ra], a1 = sAlpha[ra + 8];
#pragma unroll
      for (int i = 0; i < 128; ++i) o[i] *= ((i >> 1) & 1) ? a1 : a0;
      wgmma_fence();
#pragma unroll
      for (int kc = 0; kc < 4; ++kc)
        wgmma_m64n256k16_ss_tb(o, desc_sw128(sP + kc * 32, 16),
                               desc_sw128(sK + 4 * kBlockBytes + kc * 2048, kBlockBytes));
      wgmma_commit();
      wgmma_wait0();
      sm90::fence_operands(o);
    }
    __syncthreads();  // this stage and P may be overwritten now
  }
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");  // an empty key range loads only Q

  constexpr float kLn2 = 0.6931471805599453f;
  const bool partial = p.splits > 1;
  float* obase = partial ? p.part_o + static_cast<long>(blockIdx.z) * p.rows_total * kDv : p.out;
  float* lbase = partial ? p.part_lse + static_cast<long>(blockIdx.z) * p.rows_total : p.lse;
  if (wg == 0) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
      l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
      const int r = ra + 8 * i;
      if (t == 0) sL[r] = l[i];
      if (t == 0 && lbase && r < rows_valid)
        lbase[static_cast<long>(tok) * p.heads + r0 + r] =
            l[i] == 0.0f ? -INFINITY : (m[i] + log2f(l[i])) * kLn2;
    }
  }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = ra + 8 * i;
    if (r >= rows_valid) continue;
    const float li = sL[r];
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

// A kernel variable set where its variant cannot apply is an error, so that an A/B never times
// another path under its name.
void only_where(bool applies, const char* setting, const char* where) {
  if (!applies)
    throw OpError(std::string("cuda MQA attention: ") + setting + " applies only to " + where);
}

// COSTCURVE_MQA_DIAG as Params::diag.
int seesaw_diag() {
  const char* v = std::getenv("COSTCURVE_MQA_DIAG");
  if (!v || !*v) return 0;
  const std::string_view d(v);
  if (d == "resident") return 1;
  if (d == "nomma") return 2;
  if (d == "neither") return 3;
  throw OpError("cuda MQA attention: COSTCURVE_MQA_DIAG=" + std::string(d) +
                ": expected resident, nomma, neither or empty (unset)");
}

int kernel_ptx_version() {
  static const int v = [] {
    cudaFuncAttributes a{};
    return cudaFuncGetAttributes(&a, mqa_wgmma_kernel<false>) == cudaSuccess ? a.ptxVersion : 0;
  }();
  return v;
}

}  // namespace

bool mqa_wgmma_usable(Context& ctx, const MqaShape& s, const void* q, const void* kv) {
  const auto aligned = [](const void* ptr) {
    return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0;
  };
  const bool dtype = s.dtype == DType::bf16 || s.dtype == DType::fp8_e4m3;
  return ctx.prop().major == 9 && dtype && s.d_latent == kDqk && s.d_v == kDv && aligned(q) &&
         aligned(kv) && kernel_ptx_version() >= 90;
}

void mqa_wgmma(Context& ctx, const MqaShape& s, const void* q, const void* kv,
               const float* kv_scale, const std::int32_t* idx, int top_k, float* out, float* lse) {
  static const bool configured = [] {
    for (auto* k : {mqa_wgmma_kernel<false>, mqa_wgmma_kernel<true>})
      CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
    return true;
  }();
  (void)configured;
  const bool fp8 = s.dtype == DType::fp8_e4m3;
  if (fp8 && !kv_scale) throw OpError("cuda MQA attention: an fp8 cache needs its scales");
  Params p{};
  p.q = static_cast<const bf16*>(q);
  p.kv = fp8 ? nullptr : static_cast<const bf16*>(kv);
  p.kv8 = fp8 ? static_cast<const std::uint8_t*>(kv) : nullptr;
  p.kscale = kv_scale;
  p.idx = idx;
  p.top_k = top_k;
  p.seq_lens = ctx.seq_lens(s.batch);
  p.s_q = static_cast<int>(s.batch.s_q);
  p.cap = s.batch.capacity;
  p.heads = s.heads;
  p.scale_log2 = static_cast<float>(s.scale) * 1.4426950408889634f;
  p.out = out;
  p.lse = lse;
  p.rows_total = s.batch.query_rows() * s.heads;
  const long rows = s.batch.query_rows();
  if (rows > 65535) throw OpError("cuda MQA attention: more than 65535 query tokens per launch");
  long max_keys = idx ? top_k : 0;
  if (!idx)
    for (std::int64_t len : s.batch.seq_lens) max_keys = std::max<long>(max_keys, len);
  // One block per SM (the kernel takes ~225 KB of shared memory).
  const long blocks = static_cast<long>((s.heads + kRows - 1) / kRows) * rows;
  // The split rule weighs the merge's traffic (COSTCURVE_MQA_MERGE_COST=0: it does not): dense
  // decode B=32 at 128K takes 2 splits instead of 33, 0.5 GB less merge traffic (NOTES.md).
  const double merge_cost =
      env_default_on("COSTCURVE_MQA_MERGE_COST") ? attention_merge_cost(kDqk, kDv, max_keys) : 0.0;
  // bf16 caches run the seesaw kernel (COSTCURVE_MQA_SEESAW=0: the one-tile kernel above), which
  // takes tiles in pairs: parts of whole pairs (an odd count pads a masked tile).
  // An fp8 cache runs it only with COSTCURVE_MQA_SEESAW_FP8=1 (measured 1.6% slower, without the
  // L2 prefetch: NOTES.md, attention v5.3) or COSTCURVE_MQA_FP8_F16=1 (opt-in, not yet run on a
  // GPU: attention v5.9), which reads the cache as f16 and applies the scales to S and P.
  const bool f16 = env_flag("COSTCURVE_MQA_FP8_F16");
  const bool seesaw =
      fp8 ? env_flag("COSTCURVE_MQA_SEESAW_FP8") || f16 : env_default_on("COSTCURVE_MQA_SEESAW");
  // The L2 prefetch of later tiles (NOTES.md, attention v5.2) pays where the keys are gathered
  // (H100: sparse decode B=32 10% and sparse prefill 6% faster) and costs where they are
  // contiguous (dense decode B=32 12% slower); on the fp8 one-tile kernel it was within noise.
  // The seesaw over an fp8 cache takes it too (v5.3 was measured without it; its producer waits
  // on each group's loads, which the prefetch turns into L2 hits: NOTES.md, attention v5.3).
  // COSTCURVE_MQA_L2_PREFETCH=1 or 0 forces it on or off everywhere.
  const char* prefetch_env = std::getenv("COSTCURVE_MQA_L2_PREFETCH");
  const bool gathered = idx != nullptr && (!fp8 || seesaw);
  const bool prefetch =
      prefetch_env && *prefetch_env ? env_flag("COSTCURVE_MQA_L2_PREFETCH") : gathered;
  p.l2_prefetch = prefetch ? 1 : 0;
  p.sync_p1 = env_flag("COSTCURVE_MQA_SEESAW_SYNC_P1") ? 1 : 0;
  // A diagnostic must not quietly time some other kernel than the one it takes apart.
  const bool early = env_flag("COSTCURVE_MQA_SEESAW_EARLY");
  p.diag = seesaw_diag();
  only_where(!f16 || (fp8 && !early && p.diag == 0), "COSTCURVE_MQA_FP8_F16=1",
             "an fp8 cache (not with COSTCURVE_MQA_SEESAW_EARLY or COSTCURVE_MQA_DIAG)");
  only_where(p.diag == 0 || (!fp8 && seesaw && !early), "COSTCURVE_MQA_DIAG",
             "the bf16 seesaw kernel (not to an fp8 cache, COSTCURVE_MQA_SEESAW=0 or "
             "COSTCURVE_MQA_SEESAW_EARLY=1)");
  // Whole dense tiles of a bf16 cache come by TMA (NOTES.md, attention v5.6: on an H100, dense
  // decode B=32 at 16K took 550 µs by TMA against 726 µs by the producer's cp.async, in one
  // process at the same clocks). COSTCURVE_MQA_TMA=0 keeps cp.async for every tile; =1 requires
  // TMA, an error where it cannot apply, so that an A/B never times the other path under its name.
  const bool kv128 = sm90::swizzle_aligned(kv);  // else cp.async
  const char* tma_env = std::getenv("COSTCURVE_MQA_TMA");
  const bool tma_required = tma_env && std::string_view(tma_env) == "1";
  const bool tma_applies = !fp8 && seesaw && !early && !idx && p.diag == 0 && kv128;
  only_where(!tma_required || tma_applies, "COSTCURVE_MQA_TMA=1",
             "dense attention over a 128-byte aligned bf16 cache on the seesaw kernel (not with "
             "COSTCURVE_MQA_SEESAW_EARLY or COSTCURVE_MQA_DIAG)");
  const bool tma = tma_applies && env_default_on("COSTCURVE_MQA_TMA");
  // COSTCURVE_MQA_TMA_ROWS=1 (opt-in, not yet run on a GPU: NOTES.md attention v5.8): gathered rows
  // by TMA, one-row boxes, with the list entries read ahead (v5.7); sparse over a bf16 cache on the
  // seesaw kernel only, an error elsewhere.
  const bool rows_tma = env_flag("COSTCURVE_MQA_TMA_ROWS");
  only_where(!rows_tma || (!fp8 && seesaw && !early && idx && p.diag == 0 && kv128),
             "COSTCURVE_MQA_TMA_ROWS=1",
             "sparse attention over a 128-byte aligned bf16 cache on the seesaw kernel (not with "
             "COSTCURVE_MQA_SEESAW_EARLY or COSTCURVE_MQA_DIAG)");
  if (tma || rows_tma) {
    const auto enc = sm90::tensor_map_encoder();
    const auto rows_in_cache = static_cast<cuuint64_t>(s.batch.batch()) * s.batch.capacity;
    const cuuint64_t dims[2] = {kDqk, rows_in_cache};
    const cuuint64_t strides[1] = {2 * kDqk};
    const cuuint32_t box[2] = {64, rows_tma ? 1u : static_cast<cuuint32_t>(kKeys)};
    const cuuint32_t unit[2] = {1, 1};
    if (!enc || rows_in_cache > static_cast<cuuint64_t>(INT_MAX) - kKeys ||
        enc(&p.kv_map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void*>(kv), dims, strides,
            box, unit, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
            // A gathered row is 1152 bytes: 256-byte promotion would read into its neighbour.
            rows_tma ? CU_TENSOR_MAP_L2_PROMOTION_L2_128B : CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
      throw OpError("cuda MQA attention: no TMA tensor map for this cache (" +
                    std::to_string(rows_in_cache) + " rows)");
  }
  // COSTCURVE_MQA_IDX_AHEAD=1 (opt-in, not yet run on a GPU: NOTES.md attention v5.7): the
  // seesaw's producer reads each pair's list entries a pair ahead (bf16 only, without TMA, early or
  // a diagnostic; an error elsewhere, so that an A/B never times another path under its name).
  const bool ahead = env_flag("COSTCURVE_MQA_IDX_AHEAD") || rows_tma;
  only_where(!ahead || (!fp8 && seesaw && !early && !tma && p.diag == 0),
             "COSTCURVE_MQA_IDX_AHEAD=1",
             "the bf16 seesaw kernel without TMA (set COSTCURVE_MQA_TMA=0 for dense attention), "
             "COSTCURVE_MQA_SEESAW_EARLY or COSTCURVE_MQA_DIAG");
  const KeySplits ks = choose_key_splits(blocks, ctx.sms(), max_keys, seesaw ? 2 * kKeys : kKeys,
                                         seesaw ? 2 : 4, merge_cost);
  const long splits = ks.splits, split_keys = ks.split_keys;
  p.splits = static_cast<int>(splits);
  p.split_keys = static_cast<int>(split_keys);
  if (splits > 1) {
    p.part_o = static_cast<float*>(ctx.scratch(sizeof(float) * splits * p.rows_total * kDv, 0));
    p.part_lse = static_cast<float*>(ctx.scratch(sizeof(float) * splits * p.rows_total, 1));
  }
  const dim3 grid(static_cast<unsigned>((s.heads + kRows - 1) / kRows), static_cast<unsigned>(rows),
                  static_cast<unsigned>(splits));
  if (seesaw) {
    launch_mqa_seesaw(ctx, p, grid, fp8, early, tma, ahead, rows_tma, f16);
  } else if (fp8) {
    mqa_wgmma_kernel<true><<<grid, kThreads, kSmem, ctx.stream()>>>(p);
    CUDA_CHECK_LAUNCH();
  } else {
    mqa_wgmma_kernel<false><<<grid, kThreads, kSmem, ctx.stream()>>>(p);
    CUDA_CHECK_LAUNCH();
  }
  if (splits > 1) combine_splits(ctx, p.part_o, p.part_lse, p.splits, p.rows_total, kDv, out, lse);
}

}  // namespace costcurve::cuda

// Lightning indexer on tensor cores (mma.sync m16n8k16, bf16 in, f32 accumulate; sm_80 and later).
//
// A block owns a tile of keys of one sequence and a group of that sequence's query tokens. Each
// warp holds the fragments of its 32 keys (16 when dim > 128) in registers for the whole block:
// keys are the M side of the MMA (A operand), heads the N side (B operand), so one token's scores
// for the warp's keys are C[key][head]. Per token the block stages Q_t [heads][dim] (bf16) and the
// token's head weights in shared memory (double-buffered, cp.async), every warp streams Q_t
// through its key fragments, applies ReLU and the weights, and reduces over heads inside the warp:
// no cross-warp reduction, and each warp writes its 32 logits as one 128-byte store.
//
// The reduction dimension (dim) is permuted, identically for A and B, so that a lane's fragment
// elements are contiguous in memory: within each 32-dim block, lane (g, t) of the MMA owns dims
// [8t, 8t + 8); k-step 2j uses dims 8t + {0..3} of block j and k-step 2j + 1 dims 8t + {4..7}.
// A dot product does not care about the order of its terms, and this turns every fragment load
// into one 16-byte access: keys come straight from global memory into registers (no shared-memory
// staging) and Q_t rows are read with conflict-free 128-bit shared loads.
//
// fp8 e4m3 inputs run natively on sm_89 and later (mma.sync m16n8k32 e4m3, twice the bf16 rate
// per instruction, and Q staged as it is: half the shared memory and no widening). The same dim
// permutation holds at 8 bits: lane t owns dims [8t, 8t + 8) of each 32-dim block, bytes 0-3 as
// k-slots 4t..4t+3 of the MMA and bytes 4-7 as k-slots 16+4t..16+4t+3. Before sm_89 fp8 is
// widened to bf16 on the way in (exact: every e4m3 value is a bf16 value).
//
// On Hopper (a binary built for sm_90a), fp8 inputs of DeepSeek's shape (64 heads x 128 dims) run
// the warpgroup-MMA kernel in indexer_wgmma.cu instead; these kernels serve every other case.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <math_constants.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "kernels/cuda/context.cuh"

namespace costcurve::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kMaxHeads = 128;
constexpr int kMaxDim = 256;
constexpr int kMaxTokensPerBlock = 32;

struct Bf16In {
  static constexpr int kBytes = 2;
};
struct Fp8In {  // widened to bf16 (sm_80)
  static constexpr int kBytes = 1;
};
struct Fp8Mma {  // native e4m3 MMA (sm_89+)
  static constexpr int kBytes = 1;
};
template <class In>
constexpr bool kNativeFp8 = std::is_same_v<In, Fp8Mma>;

struct Params {
  const unsigned char* q;  // [B][s_q][heads][dim] elements
  const float* w;          // [B][s_q][heads]
  const unsigned char* k;  // [B][cap][dim] elements
  const float* k_scale;    // [B][cap] or null
  float* logits;           // [B][s_q][cap]
  const std::int32_t* seq_lens;
  int cap;
  int s_q, heads, dim;
  int hp;       // heads rounded up to 16 (two n-tiles per step)
  int kp;       // 32-dim blocks: dim rounded up to 32
  int qstride;  // bytes per staged Q row
  int tiles, groups, tokens_per_group;
  bool vec;  // dim % 8 == 0 and q, k aligned for 16-byte (bf16) / 8-byte (fp8) chunks
};

__device__ __forceinline__ std::uint32_t smem_addr(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(dst)), "l"(src)
               : "memory");
}
__device__ __forceinline__ void cp_async8(void* dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(smem_addr(dst)), "l"(src)
               : "memory");
}
__device__ __forceinline__ void cp_async4(void* dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_addr(dst)), "l"(src)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

// D += A B for one 16x8x16 tile: A 16x16 row-major (4 regs), B 16x8 column-major (2 regs).
__device__ __forceinline__ void mma_bf16(float (&d)[4], std::uint32_t a0, std::uint32_t a1,
                                         std::uint32_t a2, std::uint32_t a3, std::uint32_t b0,
                                         std::uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// D += A B for one 16x8x32 e4m3 tile: A 16x32 row-major (4 regs of 4), B 32x8 column-major (2).
__device__ __forceinline__ void mma_fp8(float (&d)[4], std::uint32_t a0, std::uint32_t a1,
                                        std::uint32_t a2, std::uint32_t a3, std::uint32_t b0,
                                        std::uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  asm("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
  __trap();  // the host launches the native fp8 kernel only on sm_89 and later
#endif
}

// Eight raw bytes starting at dim d0 of an fp8 row; dims >= dim are 0.
__device__ __forceinline__ uint2 load_raw8(const unsigned char* row, int d0, int dim, bool vec) {
  if (d0 >= dim) return make_uint2(0, 0);
  if (vec) return __ldg(reinterpret_cast<const uint2*>(row + d0));
  std::uint32_t w[2] = {0, 0};
#pragma unroll
  for (int e = 0; e < 8; ++e)
    if (d0 + e < dim) w[e / 4] |= static_cast<std::uint32_t>(row[d0 + e]) << (8 * (e % 4));
  return make_uint2(w[0], w[1]);
}

// Two e4m3 values (low byte first) to a bf16x2 word (low half first); exact.
__device__ __forceinline__ std::uint32_t fp8x2_to_bf16x2(std::uint32_t two) {
  const __half2_raw h =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(two & 0xffffu), __NV_E4M3);
  const __nv_bfloat162 b = __float22bfloat162_rn(__half22float2(__half2(h)));
  std::uint32_t u;
  memcpy(&u, &b, sizeof u);
  return u;
}

__device__ __forceinline__ std::uint32_t fp8_to_bf16(unsigned char x) {
  return fp8x2_to_bf16x2(x) & 0xffffu;
}

// Element d of a row, as bf16 bits.
template <class In>
__device__ __forceinline__ std::uint32_t load_elem(const unsigned char* row, int d) {
  if constexpr (In::kBytes == 2)
    return reinterpret_cast<const std::uint16_t*>(row)[d];
  else
    return fp8_to_bf16(row[d]);
}

// Eight consecutive elements starting at dim d0 of a row as four bf16x2 words; dims >= dim are 0.
template <class In>
__device__ __forceinline__ uint4 load_chunk(const unsigned char* row, int d0, int dim, bool vec) {
  uint4 r = make_uint4(0, 0, 0, 0);
  if (d0 >= dim) return r;
  if (vec) {
    if constexpr (In::kBytes == 2) {
      r = __ldg(reinterpret_cast<const uint4*>(row + 2 * d0));
    } else {
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(row + d0));
      r = make_uint4(fp8x2_to_bf16x2(v.x), fp8x2_to_bf16x2(v.x >> 16), fp8x2_to_bf16x2(v.y),
                     fp8x2_to_bf16x2(v.y >> 16));
    }
    return r;
  }
  std::uint32_t h[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) h[e] = d0 + e < dim ? load_elem<In>(row, d0 + e) : 0u;
  return make_uint4(h[0] | h[1] << 16, h[2] | h[3] << 16, h[4] | h[5] << 16, h[6] | h[7] << 16);
}

// Shared memory: Q_t double buffer [2][hp][qstride] bf16, weights [2][hp] f32, and (fp8) the raw
// bytes of the next Q_t, widened after they land. Buffers are selected by arithmetic, not by
// indexing a pointer array (which would live on the stack).
struct Smem {
  unsigned char* base;
  int qbytes;  // one Q buffer
  __device__ unsigned char* q(int buf) const { return base + buf * qbytes; }
  __device__ float* w(int buf, int hp) const {
    return reinterpret_cast<float*>(base + 2 * qbytes) + buf * hp;
  }
  __device__ unsigned char* raw(int hp) const {
    return base + 2 * qbytes + 2 * hp * static_cast<int>(sizeof(float));
  }
};

// Starts copying token `tok`'s weights (and, on the vector path, its Q rows) into buffer `buf`.
template <class In>
__device__ void stage_issue(const Params& p, const Smem& s, long long tok, int buf) {
  const int tid = threadIdx.x;
  if (tid < p.heads) cp_async4(s.w(buf, p.hp) + tid, p.w + tok * p.heads + tid);
  if (p.vec) {
    const int per_row = p.dim / 8, chunks = p.heads * per_row;
    const unsigned char* src = p.q + static_cast<long long>(tok) * p.heads * p.dim * In::kBytes;
    for (int c = tid; c < chunks; c += kThreads) {
      if constexpr (In::kBytes == 2) {
        const int h = c / per_row, cc = c - h * per_row;
        cp_async16(s.q(buf) + h * p.qstride + cc * 16, src + c * 16);
      } else if constexpr (kNativeFp8<In>) {
        const int h = c / per_row, cc = c - h * per_row;
        cp_async8(s.q(buf) + h * p.qstride + cc * 8, src + c * 8);
      } else {
        cp_async8(s.raw(p.hp) + c * 8, src + c * 8);
      }
    }
  }
  cp_async_commit();
}

// Completes the copy started by stage_issue (fp8: widens this thread's own chunks, which it can
// read without a barrier); the scalar path loads and widens Q here. A barrier must follow.
template <class In>
__device__ void stage_finish(const Params& p, const Smem& s, long long tok, int buf) {
  const int tid = threadIdx.x;
  cp_async_wait_all();
  if (p.vec) {
    if constexpr (In::kBytes == 1 && !kNativeFp8<In>) {
      const int per_row = p.dim / 8, chunks = p.heads * per_row;
      for (int c = tid; c < chunks; c += kThreads) {
        const int h = c / per_row, cc = c - h * per_row;
        const uint2 v = *reinterpret_cast<const uint2*>(s.raw(p.hp) + c * 8);
        *reinterpret_cast<uint4*>(s.q(buf) + h * p.qstride + cc * 16) =
            make_uint4(fp8x2_to_bf16x2(v.x), fp8x2_to_bf16x2(v.x >> 16), fp8x2_to_bf16x2(v.y),
                       fp8x2_to_bf16x2(v.y >> 16));
      }
    }
  } else {
    const unsigned char* src = p.q + static_cast<long long>(tok) * p.heads * p.dim * In::kBytes;
    const int n = p.heads * p.dim;
    for (int e = tid; e < n; e += kThreads) {
      const int h = e / p.dim, d = e - h * p.dim;
      if constexpr (kNativeFp8<In>)
        s.q(buf)[h * p.qstride + d] = src[e];
      else
        reinterpret_cast<std::uint16_t*>(s.q(buf) + h * p.qstride)[d] =
            static_cast<std::uint16_t>(load_elem<In>(src, e));
    }
  }
}

// Padded heads (weight 0, Q rows 0) and padded dims (Q 0; K is zero-filled on load) contribute
// nothing. Zero them once: staging only ever writes real heads and dims.
template <class In>
__device__ void zero_padding(const Params& p, const Smem& s) {
  const int tid = threadIdx.x;
  for (int h = p.heads + tid; h < p.hp; h += kThreads) s.w(0, p.hp)[h] = s.w(1, p.hp)[h] = 0.0f;
  const int dp = 32 * p.kp;
  if (p.hp == p.heads && dp == p.dim) return;
  const int n = p.hp * dp;
  for (int e = tid; e < n; e += kThreads) {
    const int h = e / dp, d = e - h * dp;
    if (h < p.heads && d < p.dim) continue;
    if constexpr (kNativeFp8<In>) {
      s.q(0)[h * p.qstride + d] = s.q(1)[h * p.qstride + d] = 0;
    } else {
      reinterpret_cast<std::uint16_t*>(s.q(0) + h * p.qstride)[d] = 0;
      reinterpret_cast<std::uint16_t*>(s.q(1) + h * p.qstride)[d] = 0;
    }
  }
}

// KP: 32-dim blocks held per key (4: dim <= 128, 8: dim <= 256); MT: 16-key m-tiles per warp.
// kFullKp: p.kp == KP, so no k-step needs a runtime guard (the production shape, dim = 128).
template <class In, int KP, int MT, bool kFullKp>
__global__ void __launch_bounds__(kThreads, 2) indexer_kernel(const Params p) {
  constexpr int kWarpKeys = 16 * MT;
  constexpr int kBlockKeys = kWarps * kWarpKeys;
  extern __shared__ __align__(16) unsigned char smem_raw[];

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int tile = blockIdx.x % p.tiles;
  const int rest = blockIdx.x / p.tiles;
  const int grp = rest % p.groups, b = rest / p.groups;
  const int i0 = grp * p.tokens_per_group, i1 = min(p.s_q, i0 + p.tokens_per_group);
  const int cap = p.cap;
  const int k0 = tile * kBlockKeys;
  const int pos0 = p.seq_lens[b] - p.s_q;                    // query i sees keys [0, pos0 + i]
  const long long row0 = static_cast<long long>(b) * p.s_q;  // its first logits row
  const float kNegInf = -CUDART_INF_F;

  // Tokens before `first` see no key of this tile; they (and tiles no token sees) get -inf only.
  const int first = max(i0, min(i1, k0 - pos0));
  for (int i = i0; i < first; ++i)
    for (int j = threadIdx.x; j < kBlockKeys && k0 + j < cap; j += kThreads)
      p.logits[(row0 + i) * cap + k0 + j] = kNegInf;
  if (first >= i1) return;

  // Lane's output key: after the quad reduction all four lanes of a quad hold the sums of keys
  // (mt, r) = rows mt*16 + r*8 + g; lane t writes one of them, so a warp stores 32 consecutive
  // logits (16 when MT == 1, lanes t >= 2 idle).
  const int out_mt = MT == 2 ? t >> 1 : 0, out_r = t & 1;
  const int wk0 = k0 + warp * kWarpKeys;
  const int my_key = wk0 + out_mt * 16 + out_r * 8 + g;
  const bool store = (MT == 2 || t < 2) && my_key < cap;
  const int key_end = min(cap, pos0 + i1);  // keys any token of the group sees
  float kscale = 1.0f;
  if (p.k_scale && store && my_key < key_end)
    kscale = __ldg(p.k_scale + static_cast<long long>(b) * cap + my_key);
  float* my_out = p.logits + (row0 + first) * cap + my_key;  // advances one row per token

  // Key fragments: kf[mt][j] = words 0-3 from row g, 4-7 from row g + 8 of m-tile mt, dims
  // [32j + 8t, 32j + 8t + 8) (native fp8: words 0-1 and 2-3). Keys nobody sees are not read.
  constexpr int kWords = kNativeFp8<In> ? 4 : 8;
  std::uint32_t kf[MT][KP][kWords];
  {
    const long long row_bytes = static_cast<long long>(p.dim) * In::kBytes;
    const unsigned char* kseq = p.k + static_cast<long long>(b) * cap * row_bytes;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int key = wk0 + mt * 16 + r * 8 + g;
        const bool live = key < key_end;
        const unsigned char* krow = kseq + (live ? key : 0) * row_bytes;
#pragma unroll
        for (int j = 0; j < KP; ++j) {
          if constexpr (kNativeFp8<In>) {
            uint2 v = make_uint2(0, 0);
            if (live && (kFullKp || j < p.kp)) v = load_raw8(krow, 32 * j + 8 * t, p.dim, p.vec);
            kf[mt][j][2 * r + 0] = v.x;
            kf[mt][j][2 * r + 1] = v.y;
          } else {
            uint4 v = make_uint4(0, 0, 0, 0);
            if (live && (kFullKp || j < p.kp))
              v = load_chunk<In>(krow, 32 * j + 8 * t, p.dim, p.vec);
            kf[mt][j][4 * r + 0] = v.x;
            kf[mt][j][4 * r + 1] = v.y;
            kf[mt][j][4 * r + 2] = v.z;
            kf[mt][j][4 * r + 3] = v.w;
          }
        }
      }
  }

  const Smem s{smem_raw, p.hp * p.qstride};
  zero_padding<In>(p, s);
  stage_issue<In>(p, s, row0 + first, 0);
  stage_finish<In>(p, s, row0 + first, 0);
  __syncthreads();

  for (int i = first; i < i1; ++i, my_out += cap) {
    const int cur = (i - first) & 1;
    if (i + 1 < i1) stage_issue<In>(p, s, row0 + i + 1, cur ^ 1);

    const int pos = pos0 + i;
    if (wk0 > pos) {  // warp-uniform: none of the warp's keys is visible to this token
      if (store) *my_out = kNegInf;
    } else {
      float acc[MT][2] = {};
      const unsigned char* qb = s.q(cur) + g * p.qstride + t * (kNativeFp8<In> ? 8 : 16);
      const float* wb = s.w(cur, p.hp) + 2 * t;
      for (int n0 = 0; n0 < p.hp; n0 += 16) {  // two n-tiles (8 heads each) per step
        float c[2][MT][4] = {};
        const unsigned char* r0 = qb + n0 * p.qstride;
        const unsigned char* r1 = r0 + 8 * p.qstride;
#pragma unroll
        for (int j = 0; j < KP; ++j) {
          if constexpr (kNativeFp8<In>) {
            if (kFullKp || j < p.kp) {
              // Words {row g: k 4t.., k 16+4t..; row g+8: the same}: A is {a0, a2, a1, a3}.
              const uint2 b0 = *reinterpret_cast<const uint2*>(r0 + 32 * j);
              const uint2 b1 = *reinterpret_cast<const uint2*>(r1 + 32 * j);
#pragma unroll
              for (int mt = 0; mt < MT; ++mt) {
                const std::uint32_t* a = kf[mt][j];
                mma_fp8(c[0][mt], a[0], a[2], a[1], a[3], b0.x, b0.y);
                mma_fp8(c[1][mt], a[0], a[2], a[1], a[3], b1.x, b1.y);
              }
            }
          } else if (kFullKp || j < p.kp) {
            const uint4 b0 = *reinterpret_cast<const uint4*>(r0 + 64 * j);
            const uint4 b1 = *reinterpret_cast<const uint4*>(r1 + 64 * j);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
              const std::uint32_t* a = kf[mt][j];
              mma_bf16(c[0][mt], a[0], a[4], a[1], a[5], b0.x, b0.y);
              mma_bf16(c[1][mt], a[0], a[4], a[1], a[5], b1.x, b1.y);
              mma_bf16(c[0][mt], a[2], a[6], a[3], a[7], b0.z, b0.w);
              mma_bf16(c[1][mt], a[2], a[6], a[3], a[7], b1.z, b1.w);
            }
          }
        }
        // c[n][mt] = {key g: heads 2t, 2t+1; key g+8: heads 2t, 2t+1} of n-tile n.
        const float2 w0 = *reinterpret_cast<const float2*>(wb + n0);
        const float2 w1 = *reinterpret_cast<const float2*>(wb + n0 + 8);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int r = 0; r < 2; ++r)
            acc[mt][r] +=
                w0.x * fmaxf(c[0][mt][2 * r], 0.0f) + w0.y * fmaxf(c[0][mt][2 * r + 1], 0.0f) +
                w1.x * fmaxf(c[1][mt][2 * r], 0.0f) + w1.y * fmaxf(c[1][mt][2 * r + 1], 0.0f);
      }
      // The four lanes of a quad hold the same keys, different heads.
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          acc[mt][r] += __shfl_xor_sync(0xffffffffu, acc[mt][r], 1);
          acc[mt][r] += __shfl_xor_sync(0xffffffffu, acc[mt][r], 2);
        }
      float v = out_r ? acc[0][1] : acc[0][0];
      if constexpr (MT == 2)
        if (out_mt) v = out_r ? acc[1][1] : acc[1][0];
      if (store) *my_out = my_key <= pos ? v * kscale : kNegInf;
    }

    if (i + 1 < i1) stage_finish<In>(p, s, row0 + i + 1, cur ^ 1);
    __syncthreads();
  }
}

template <class In, int KP, int MT, bool kFullKp>
void launch(Context& ctx, const Params& p, long long blocks, std::size_t smem) {
  auto* kernel = indexer_kernel<In, KP, MT, kFullKp>;
  if (smem > 48 * 1024)
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)));
  kernel<<<static_cast<unsigned>(blocks), kThreads, smem, ctx.stream()>>>(p);
  CUDA_CHECK_LAUNCH();
}

template <class In>
void dispatch(Context& ctx, const Params& p, long long blocks, std::size_t smem) {
  if (p.kp > 4)
    launch<In, 8, 1, false>(ctx, p, blocks, smem);
  else if (p.kp == 4)
    launch<In, 4, 2, true>(ctx, p, blocks, smem);
  else
    launch<In, 4, 2, false>(ctx, p, blocks, smem);
}

bool aligned(const void* p, std::size_t a) {
  return reinterpret_cast<std::uintptr_t>(p) % a == 0;
}

}  // namespace

// Hopper path for DeepSeek's shape in fp8 (indexer_wgmma.cu); false where it does not apply.
bool indexer_wgmma(Context& ctx, const IndexerArgs& a);

void indexer(Context& ctx, const IndexerArgs& a) {
  const IndexerShape& s = a.shape;
  check(s);
  if (s.dtype == DType::f32) throw OpError("cuda indexer: f32 not supported, use bf16 or fp8_e4m3");
  if (s.dtype != DType::bf16 && s.dtype != DType::fp8_e4m3)
    throw OpError("cuda indexer: unsupported dtype " + std::string(dtype_name(s.dtype)));
  if (s.heads > kMaxHeads)
    throw OpError("cuda indexer: heads = " + std::to_string(s.heads) + " exceeds the limit of " +
                  std::to_string(kMaxHeads));
  if (s.dim > kMaxDim)
    throw OpError("cuda indexer: dim = " + std::to_string(s.dim) + " exceeds the limit of " +
                  std::to_string(kMaxDim));
  if (!a.q || !a.w || !a.k || !a.logits)
    throw OpError("cuda indexer: q, w, k and logits must not be null");
  if (s.batch.capacity > INT_MAX - (1 << 16))  // key indices are int, with a tile of slack
    throw OpError("cuda indexer: capacity = " + std::to_string(s.batch.capacity) +
                  " exceeds the limit of 2^31 - 2^16");
  if (indexer_wgmma(ctx, a)) return;

  const Batch& bt = s.batch;
  const bool fp8 = s.dtype == DType::fp8_e4m3;
  Params p{};
  p.q = static_cast<const unsigned char*>(a.q);
  p.w = a.w;
  p.k = static_cast<const unsigned char*>(a.k);
  p.k_scale = a.k_scale;
  p.logits = a.logits;
  p.cap = static_cast<int>(bt.capacity);
  p.s_q = static_cast<int>(bt.s_q);
  p.heads = s.heads;
  p.dim = s.dim;
  p.hp = (s.heads + 15) / 16 * 16;
  p.kp = (s.dim + 31) / 32;
  // Native fp8 MMA on sm_89 and later, for decode-like groups only (s_q <= 4). Measured on an H100
  // (kernels/cuda/NOTES.md): native fp8 made decode 1.27x faster (keys loaded without widening,
  // half the Q staging) but a 512-token prefill 1.25x slower, where each key tile serves 32 tokens
  // and the MMA rate decides: mma.sync e4m3 does not beat bf16 there.
  const bool native = fp8 && ctx.prop().major * 10 + ctx.prop().minor >= 89 && bt.s_q <= 4;
  // bf16 rows: stride = 64 (mod 128) bytes, so the 8 lanes of a 128-bit shared-load phase (rows
  // g, g+1, 16-byte column t) hit 8 distinct 16-byte bank groups. Native fp8 rows: stride = 32
  // (mod 128), so the 16 lanes of a 64-bit phase (rows g..g+3, 8-byte column t) hit 16 distinct
  // 8-byte bank pairs.
  p.qstride = native ? 32 * p.kp + ((32 - 32 * p.kp) % 128 + 128) % 128
                     : 64 * p.kp + (p.kp % 2 == 0 ? 64 : 0);
  const std::size_t vec_align = fp8 ? 8 : 16;
  p.vec = s.dim % 8 == 0 && aligned(a.q, vec_align) && aligned(a.k, vec_align);

  const int block_keys = kWarps * (p.kp > 4 ? 16 : 32);
  const long long tiles = (bt.capacity + block_keys - 1) / block_keys;
  // Tokens per block: up to 32 share one key tile (K loaded once), fewer when that leaves too
  // few blocks to fill the GPU twice over.
  int tpg = static_cast<int>(std::min<std::int64_t>(bt.s_q, kMaxTokensPerBlock));
  auto count = [&](int per) { return bt.batch() * ((bt.s_q + per - 1) / per) * tiles; };
  while (tpg > 4 && count(tpg) < 4LL * ctx.sms()) tpg = (tpg + 1) / 2;
  const long long blocks = count(tpg);
  if (blocks > INT_MAX || tiles > INT_MAX)
    throw OpError("cuda indexer: batch x capacity too large for one launch");
  p.tiles = static_cast<int>(tiles);
  p.tokens_per_group = tpg;
  p.groups = static_cast<int>((bt.s_q + tpg - 1) / tpg);

  const std::size_t raw =
      fp8 && !native ? (static_cast<std::size_t>(s.heads) * s.dim + 15) / 16 * 16 : 0;
  const std::size_t smem = 2 * static_cast<std::size_t>(p.hp) * p.qstride +
                           2 * static_cast<std::size_t>(p.hp) * sizeof(float) + raw;
  if (smem > ctx.prop().sharedMemPerBlockOptin)
    throw OpError("cuda indexer: heads = " + std::to_string(s.heads) +
                  ", dim = " + std::to_string(s.dim) + " need " + std::to_string(smem) +
                  " bytes of shared memory, the device allows " +
                  std::to_string(ctx.prop().sharedMemPerBlockOptin));
  p.seq_lens = ctx.seq_lens(bt);

  if (native)
    dispatch<Fp8Mma>(ctx, p, blocks, smem);
  else if (fp8)
    dispatch<Fp8In>(ctx, p, blocks, smem);
  else
    dispatch<Bf16In>(ctx, p, blocks, smem);
}

}  // namespace costcurve::cuda

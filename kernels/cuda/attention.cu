// Flash attention on tensor cores (mma.sync m16n8k16, bf16 in, f32 accumulate; sm_80 and newer),
// one kernel for the three attention operations. A block owns 64 "rows" that share their keys:
//   dense prefill (MHA): 64 query tokens of one head; keys are that head's K and V rows;
//   dense decode / sparse (MQA): the heads of one query token; keys are latent rows, and the
//     values are the first d_v columns of the same rows, so the key tile doubles as the value tile.
// Each warp holds 16 rows: S = Q K^T stays in registers, the online softmax rescales the output
// accumulators there, and P goes from the S accumulators straight into the A operand of P V (the
// C fragment of m16n8k16 is the A fragment's layout). With two column warps per row group (MQA,
// d_v = 512) both compute the same S and each accumulates half of the value columns.
// Long key ranges are split across blocks (split-KV) when the grid would not fill the GPU; a second
// kernel merges the splits exactly through their log-sum-exps.
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/cuda/context.cuh"
#include "kernels/cuda/mqa_wgmma.cuh"

namespace costcurve::cuda {
namespace {

using bf16 = __nv_bfloat16;
constexpr int kRows = 64;  // rows per block: 4 row warps of 16
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

enum class Mode : int { prefill, mqa_dense, mqa_sparse };

struct Params {
  Mode mode;
  const bf16* q;
  const bf16* k;           // MQA: the latent cache
  const bf16* v;           // prefill only
  const std::uint8_t* k8;  // MQA with an fp8 e4m3 cache: the cache, and one scale per token
  const float* kscale;
  const std::int32_t* idx;
  int top_k;
  const std::int32_t* seq_lens;
  int s_q;
  long cap;
  int heads;
  int d_qk, d_v;
  bool vec_qk, vec_v;  // rows are 16-byte aligned: vector loads
  float scale_log2;
  float* out;
  float* lse;  // may be null (dense prefill, no split)
  int splits;
  int split_keys;
  long rows_total;  // output rows: B * s_q * H
  float* part_o;
  float* part_lse;
};

__device__ __forceinline__ void mma_bf16(float (&c)[4], const std::uint32_t (&a)[4],
                                         std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8x8 b16 matrices, transposed: the B fragments of two adjacent n8 tiles of a row-major
// [k][n] tile.
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const bf16* p) {
  const auto addr = static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const bf16* p) {
  const auto addr = static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// 16 bytes global -> shared without a register round trip; src_bytes 0 writes zeros.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
  const auto addr = static_cast<std::uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(src),
               "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ std::uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

// Copies `width` valid columns of a row into shared memory, zero-filling up to `cols`; a null row
// is all zeros.
template <int NT>
__device__ __forceinline__ void stage_row_chunk(bf16* dst, const bf16* src, int c0, int width,
                                                bool vec) {
  if (src && vec && c0 + 8 <= width) {
    *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src + c0);
    return;
  }
#pragma unroll
  for (int e = 0; e < 8; ++e)
    dst[e] = (src && c0 + e < width) ? src[c0 + e] : __float2bfloat16(0.0f);
}

// The same from an fp8 e4m3 row, each element times the token's scale (rounded once, to bf16).
__device__ __forceinline__ void stage_row_chunk_fp8(bf16* dst, const std::uint8_t* src, float scale,
                                                    int c0, int width, bool vec) {
  if (src && vec && c0 + 8 <= width) {
    const uint2 raw = *reinterpret_cast<const uint2*>(src + c0);
    const std::uint8_t* b = reinterpret_cast<const std::uint8_t*>(&raw);
#pragma unroll
    for (int e = 0; e < 8; e += 2) {
      const __half2_raw h2 = __nv_cvt_fp8x2_to_halfraw2(
          static_cast<__nv_fp8x2_storage_t>(b[e] | (b[e + 1] << 8)), __NV_E4M3);
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&h2));
      *reinterpret_cast<__nv_bfloat162*>(dst + e) = __floats2bfloat162_rn(f.x * scale, f.y * scale);
    }
    return;
  }
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    float x = 0.0f;
    if (src && c0 + e < width) {
      const __half_raw h = __nv_cvt_fp8_to_halfraw(src[c0 + e], __NV_E4M3);
      x = __half2float(*reinterpret_cast<const __half*>(&h)) * scale;
    }
    dst[e] = __float2bfloat16(x);
  }
}

// DQK: shared-memory width of Q and K (>= d_qk, multiple of 16); DV: value columns per block;
// NK: keys per tile; COLW: column warps per row group; SEPV: values come from their own tensor.
template <int DQK, int DV, int NK, int COLW, bool SEPV>
struct Tile {
  static constexpr int kThreads = 128 * COLW;
  static constexpr int LDQ = DQK + 8;  // +16 bytes per row: conflict-free fragment loads
  static constexpr int LDV = DV + 8;
  static constexpr int DVW = DV / COLW;  // value columns per warp
  // One key (and value) tile is computed on while the next one loads: two stages.
  static constexpr std::size_t kStage = static_cast<std::size_t>(NK) * LDQ + (SEPV ? NK * LDV : 0);
  // With two column warps per row group, each computes S over half of the q.k dims and they
  // add their halves through shared memory: one 16 x NK f32 slot per warp.
  static constexpr std::size_t kExchange = COLW > 1 ? static_cast<std::size_t>(4 * COLW) * 16 * NK
                                                    : 0;
  static constexpr std::size_t kSmem =
      sizeof(bf16) * (static_cast<std::size_t>(kRows) * LDQ + 2 * kStage) + sizeof(int) * 2 * NK +
      sizeof(float) * kExchange;
  static_assert(DQK % 16 == 0 && DV % (16 * COLW) == 0 && NK % 16 == 0, "tile shape");
};

template <int DQK, int DV, int NK, int COLW, bool SEPV, bool KV8>
__global__ void __launch_bounds__(Tile<DQK, DV, NK, COLW, SEPV>::kThreads)
    attention_kernel(const Params p) {
  using T = Tile<DQK, DV, NK, COLW, SEPV>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* sQ = reinterpret_cast<bf16*>(smem_raw);
  bf16* sStage = sQ + kRows * T::LDQ;  // stage i: K rows, then (SEPV) V rows
  int* sPosAll = reinterpret_cast<int*>(sStage + 2 * T::kStage);
  float* sX = reinterpret_cast<float*>(sPosAll + 2 * NK);  // S halves (COLW == 2)

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t = lane & 3;
  const int row_warp = warp & 3, col_warp = warp >> 2;
  const int H = p.heads;

  // Which rows this block owns and which keys they may see.
  int b, tok, h = 0, r0, rows_valid;
  long key_end;
  int row_pos[2];  // causal limit of this thread's two rows (rows g and g + 8 of its warp)
  if (p.mode == Mode::prefill) {
    b = blockIdx.y / H;
    h = blockIdx.y % H;
    r0 = blockIdx.x * kRows;  // first query token of the tile
    rows_valid = min(kRows, p.s_q - r0);
    const int t0 = p.seq_lens[b] - p.s_q;
    key_end = static_cast<long>(t0) + r0 + rows_valid;
    tok = b * p.s_q + r0;
    row_pos[0] = t0 + r0 + row_warp * 16 + g;
    row_pos[1] = row_pos[0] + 8;
  } else {
    tok = blockIdx.y;
    b = tok / p.s_q;
    r0 = blockIdx.x * kRows;  // first head of the group
    rows_valid = min(kRows, H - r0);
    const int pos = p.seq_lens[b] - p.s_q + tok % p.s_q;
    key_end = p.mode == Mode::mqa_dense ? pos + 1 : p.top_k;
    row_pos[0] = row_pos[1] = pos;
  }
  const int split = blockIdx.z;
  const long kb = static_cast<long>(split) * p.split_keys;
  const long ke = min(key_end, kb + p.split_keys);

  // Global row of local row r, in the [B][s_q][H] order shared by out, lse and the partials.
  auto out_row = [&](int r) -> long {
    return p.mode == Mode::prefill ? (static_cast<long>(tok) + r) * H + h
                                   : static_cast<long>(tok) * H + r0 + r;
  };

  // Q tile, once.
  {
    constexpr int chunks = DQK / 8;
    for (int c = tid; c < kRows * chunks; c += T::kThreads) {
      const int r = c / chunks, c0 = (c % chunks) * 8;
      const bf16* src = nullptr;
      if (r < rows_valid)
        src = p.q + (p.mode == Mode::prefill ? ((static_cast<long>(tok) + r) * H + h) * p.d_qk
                                             : (static_cast<long>(tok) * H + r0 + r) * p.d_qk);
      bf16* dst = sQ + r * T::LDQ + c0;
      if (p.vec_qk)
        cp_async16(dst, src && c0 < p.d_qk ? src + c0 : p.q, src && c0 < p.d_qk ? 16 : 0);
      else
        stage_row_chunk<T::kThreads>(dst, src, c0, p.d_qk, false);
    }
    cp_async_commit();
  }

  const int kchunks = (p.d_qk + 15) / 16;
  constexpr int NT = NK / 8;  // n8 tiles of S per warp
  constexpr int VT = T::DVW / 8;
  float o[VT][4];
#pragma unroll
  for (int i = 0; i < VT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  const int wr = row_warp * 16;  // first row of this warp
  const int vcol = col_warp * T::DVW;

  // Position of list entry j (dense: j itself), or -1 when it is past the split or invisible.
  auto key_pos = [&](long j) -> int {
    if (j >= ke) return -1;
    if (p.mode != Mode::mqa_sparse) return static_cast<int>(j);
    const int x = p.idx[static_cast<long>(tok) * p.top_k + j];
    return (x >= 0 && x <= row_pos[0]) ? x : -1;  // -1 pads and invisible entries are skipped
  };
  // Starts loading the tile of entries [k0, k0 + NK) into stage `st`: asynchronous copies for
  // aligned bf16 rows; the fp8 cache and odd widths go through registers (loads first, then
  // conversions, so that the loads overlap).
  auto load_tile = [&](long k0, int st) {
    bf16* sK = sStage + st * T::kStage;
    bf16* sV = sK + NK * T::LDQ;
    if (tid < NK) sPosAll[st * NK + tid] = key_pos(k0 + tid);
    constexpr int chunks = DQK / 8;
    for (int c = tid; c < NK * chunks; c += T::kThreads) {
      const int r = c / chunks, c0 = (c % chunks) * 8;
      const int kp = key_pos(k0 + r);
      bf16* dst = sK + r * T::LDQ + c0;
      if constexpr (KV8) {
        const long key = static_cast<long>(b) * p.cap + kp;
        stage_row_chunk_fp8(dst, kp >= 0 ? p.k8 + key * p.d_qk : nullptr,
                            kp >= 0 ? p.kscale[key] : 0.0f, c0, p.d_qk, p.vec_qk);
      } else {
        const bf16* src = nullptr;
        if (kp >= 0)
          src = p.k + (p.mode == Mode::prefill
                           ? ((static_cast<long>(b) * p.cap + kp) * H + h) * p.d_qk
                           : (static_cast<long>(b) * p.cap + kp) * p.d_qk);
        if (p.vec_qk)
          cp_async16(dst, src && c0 < p.d_qk ? src + c0 : p.k, src && c0 < p.d_qk ? 16 : 0);
        else
          stage_row_chunk<T::kThreads>(dst, src, c0, p.d_qk, false);
      }
    }
    if constexpr (SEPV) {
      constexpr int vchunks = DV / 8;
      for (int c = tid; c < NK * vchunks; c += T::kThreads) {
        const int r = c / vchunks, c0 = (c % vchunks) * 8;
        const int kp = key_pos(k0 + r);
        const bf16* src =
            kp >= 0 ? p.v + ((static_cast<long>(b) * p.cap + kp) * H + h) * p.d_v : nullptr;
        bf16* dst = sV + r * T::LDV + c0;
        if (p.vec_v)
          cp_async16(dst, src && c0 < p.d_v ? src + c0 : p.v, src && c0 < p.d_v ? 16 : 0);
        else
          stage_row_chunk<T::kThreads>(dst, src, c0, p.d_v, false);
      }
    }
    cp_async_commit();
  };

  if (kb < ke) load_tile(kb, 0);
  int st = 0;
  for (long k0 = kb; k0 < ke; k0 += NK, st ^= 1) {
    // The other stage was released by the barrier that ended the previous iteration.
    if (k0 + NK < ke) {
      load_tile(k0 + NK, st ^ 1);
      cp_async_wait<1>();  // everything but the newest group: Q and this tile have landed
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* sK = sStage + st * T::kStage;
    const bf16* sV = sK + NK * T::LDQ;
    const int* sPos = sPosAll + st * NK;

    // S = Q K^T for this warp's 16 rows.
    float s[NT][4];
#pragma unroll
    for (int n = 0; n < NT; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
    // ldmatrix addresses: A (Q, 16 x 16) rows by lane & 15, column half by lane >> 4; B (K, two
    // n8 tiles x 16) rows by lane & 7 plus 8 for lanes 16-31, column half by bit 3 of the lane.
    const bf16* qa = sQ + (wr + (lane & 15)) * T::LDQ + (lane >> 4) * 8;
    const bf16* kbase = sK + ((lane & 7) + ((lane >> 4) << 3)) * T::LDQ + ((lane >> 3) & 1) * 8;
    // Column warp c of a pair takes q.k chunks [c * half, (c + 1) * half).
    const int half = COLW > 1 ? (kchunks + 1) / 2 : kchunks;
    const int kc_end = COLW > 1 ? min(kchunks, (col_warp + 1) * half) : kchunks;
    for (int kc = COLW > 1 ? col_warp * half : 0; kc < kc_end; ++kc) {
      std::uint32_t a[4];
      ldmatrix_x4(a, qa + kc * 16);
#pragma unroll
      for (int n = 0; n < NT; n += 2) {
        std::uint32_t bk[4];
        ldmatrix_x4(bk, kbase + n * 8 * T::LDQ + kc * 16);
        mma_bf16(s[n], a, bk[0], bk[1]);
        mma_bf16(s[n + 1], a, bk[2], bk[3]);
      }
    }
    if constexpr (COLW == 2) {
      // Both warps of the pair hold the same fragment layout: swap halves element by element.
      // a + b == b + a exactly, so both end with bit-identical S and softmax statistics.
      float* mine = sX + (row_warp * 2 + col_warp) * (16 * NK);
      const float* other = sX + (row_warp * 2 + (col_warp ^ 1)) * (16 * NK);
#pragma unroll
      for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int c = 0; c < 4; ++c) mine[(n * 4 + c) * 32 + lane] = s[n][c];
      // Only the pair waits: named barrier 1 + row group, 64 threads.
      asm volatile("bar.sync %0, 64;\n" ::"r"(1 + row_warp) : "memory");
#pragma unroll
      for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int c = 0; c < 4; ++c) s[n][c] += other[(n * 4 + c) * 32 + lane];
    }

    // Online softmax in base 2. Rows g (i = 0) and g + 8 (i = 1); the four lanes of a quad share
    // a row.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int i = c >> 1;
        const int kp = sPos[n * 8 + 2 * t + (c & 1)];
        const bool ok = kp >= 0 && kp <= row_pos[i];
        s[n][c] = ok ? s[n][c] * p.scale_log2 : -INFINITY;
        mx[i] = fmaxf(mx[i], s[n][c]);
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
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        s[n][c] = exp2f(s[n][c] - mx[c >> 1]);
        rs[c >> 1] += s[n][c];
      }
#pragma unroll
    for (int i = 0; i < 2; ++i) l[i] = l[i] * alpha[i] + rs[i];
#pragma unroll
    for (int v = 0; v < VT; ++v) {
      o[v][0] *= alpha[0];
      o[v][1] *= alpha[0];
      o[v][2] *= alpha[1];
      o[v][3] *= alpha[1];
    }

    // O += P V: P from the S accumulators, V fragments by transposing loads.
    const bf16* vt_base = SEPV ? sV : sK;
    constexpr int LDVT = SEPV ? T::LDV : T::LDQ;
#pragma unroll
    for (int kc = 0; kc < NK / 16; ++kc) {
      const std::uint32_t a[4] = {pack_bf16(s[2 * kc][0], s[2 * kc][1]),
                                  pack_bf16(s[2 * kc][2], s[2 * kc][3]),
                                  pack_bf16(s[2 * kc + 1][0], s[2 * kc + 1][1]),
                                  pack_bf16(s[2 * kc + 1][2], s[2 * kc + 1][3])};
      const bf16* vrow = vt_base + (kc * 16 + (lane & 15)) * LDVT + vcol + (lane >> 4) * 8;
#pragma unroll
      for (int v = 0; v < VT; v += 2) {
        std::uint32_t bf[4];
        ldmatrix_x4_trans(bf, vrow + v * 8);
        mma_bf16(o[v], a, bf[0], bf[1]);
        mma_bf16(o[v + 1], a, bf[2], bf[3]);
      }
    }
    __syncthreads();  // this stage may be overwritten now
  }
  cp_async_wait<0>();  // no copy may outlive the block (an empty key range loads only Q)

  // Finish: full row sums, normalise, write (final output or this split's partial).
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
  }
  const bool partial = p.splits > 1;
  float* obase = partial ? p.part_o + static_cast<long>(split) * p.rows_total * p.d_v : p.out;
  float* lbase = partial ? p.part_lse + static_cast<long>(split) * p.rows_total : p.lse;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = wr + g + 8 * i;
    if (r >= rows_valid) continue;
    const long row = out_row(r);
    const bool empty = l[i] == 0.0f;
    const float inv = empty ? 0.0f : 1.0f / l[i];
    float* dst = obase + row * p.d_v;
#pragma unroll
    for (int v = 0; v < VT; ++v) {
      const int col = vcol + v * 8 + 2 * t;
      if (col < p.d_v) dst[col] = o[v][2 * i] * inv;
      if (col + 1 < p.d_v) dst[col + 1] = o[v][2 * i + 1] * inv;
    }
    if (lbase && col_warp == 0 && t == 0)
      lbase[row] = empty ? -INFINITY : (m[i] + log2f(l[i])) * kLn2;
  }
}

// Merges the splits of each output row: weights exp(lse_s - lse), exactly.
__global__ void combine_kernel(const float* part_o, const float* part_lse, int splits,
                               long rows_total, int d_v, float* out, float* lse) {
  const long row = blockIdx.x;
  float mx = -INFINITY;
  for (int s = 0; s < splits; ++s) mx = fmaxf(mx, part_lse[s * rows_total + row]);
  float sum = 0.0f;
  if (mx != -INFINITY)
    for (int s = 0; s < splits; ++s) sum += expf(part_lse[s * rows_total + row] - mx);
  const float total = mx == -INFINITY ? -INFINITY : mx + logf(sum);
  for (int c = threadIdx.x; c < d_v; c += blockDim.x) {
    float acc = 0.0f;
    if (total != -INFINITY)
      for (int s = 0; s < splits; ++s) {
        const float w = expf(part_lse[s * rows_total + row] - total);
        if (w > 0.0f) acc += w * part_o[(s * rows_total + row) * d_v + c];
      }
    out[row * d_v + c] = acc;
  }
  if (lse && threadIdx.x == 0) lse[row] = total;
}

bool aligned16(const void* ptr, int row_elems) {
  return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0 && row_elems % 8 == 0;
}

template <int DQK, int DV, int NK, int COLW, bool SEPV, bool KV8 = false>
void launch(Context& ctx, Params p, dim3 base_grid, long max_keys, const char* what) {
  using T = Tile<DQK, DV, NK, COLW, SEPV>;
  auto kernel = attention_kernel<DQK, DV, NK, COLW, SEPV, KV8>;
  // Once per kernel and process: these calls cost host time inside every timed launch otherwise.
  static const int per_sm = [&] {
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(T::kSmem)));
    int n = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, T::kThreads, T::kSmem));
    return n;
  }();
  if (per_sm == 0) throw OpError(std::string("cuda ") + what + ": the kernel does not fit an SM");
  if (base_grid.y > 65535)
    throw OpError(std::string("cuda ") + what + ": more than 65535 heads x sequences per launch");
  // Split the keys when the grid alone would leave SMs idle, keeping >= 4 tiles per split.
  const long blocks = static_cast<long>(base_grid.x) * base_grid.y;
  const long want = static_cast<long>(ctx.sms()) * per_sm;
  long splits = blocks >= want ? 1 : (want + blocks - 1) / blocks;
  splits = std::max(1L, std::min(splits, (max_keys + 4 * NK - 1) / (4 * NK)));
  long split_keys = (max_keys + splits - 1) / splits;
  split_keys = (split_keys + NK - 1) / NK * NK;
  splits = std::max(1L, (max_keys + split_keys - 1) / split_keys);
  p.splits = static_cast<int>(splits);
  p.split_keys = static_cast<int>(split_keys);
  if (splits > 1) {
    const std::size_t o_bytes = sizeof(float) * splits * p.rows_total * p.d_v;
    p.part_o = static_cast<float*>(ctx.scratch(o_bytes, 0));
    p.part_lse = static_cast<float*>(ctx.scratch(sizeof(float) * splits * p.rows_total, 1));
  }
  const dim3 grid(base_grid.x, base_grid.y, static_cast<unsigned>(splits));
  kernel<<<grid, T::kThreads, T::kSmem, ctx.stream()>>>(p);
  CUDA_CHECK_LAUNCH();
  if (splits > 1)
    combine_splits(ctx, p.part_o, p.part_lse, p.splits, p.rows_total, p.d_v, p.out, p.lse);
}

long max_len(const Batch& b) {
  return *std::max_element(b.seq_lens.begin(), b.seq_lens.end());
}

void require_bf16(DType t, const char* what) {
  if (t != DType::bf16)
    throw OpError(std::string("cuda ") + what + " supports bf16 storage only (tensor cores), not " +
                  std::string(dtype_name(t)));
}

// Prefill tiles: d_qk <= 192, d_v <= 128 (DeepSeek MHA mode: 192 / 128).
constexpr int kPrefillDqk = 192, kPrefillDv = 128;
// MQA tiles: d_latent <= 576, d_v <= 512 (DeepSeek MLA: 576 / 512).
constexpr int kMqaDqk = 576, kMqaDv = 512;

Params mqa_params(Context& ctx, const MqaShape& s, const void* q, const void* kv, float* out,
                  float* lse, Mode mode) {
  if (s.d_latent > kMqaDqk || s.d_v > kMqaDv)
    throw OpError("cuda MQA attention: d_latent <= " + std::to_string(kMqaDqk) +
                  " and d_v <= " + std::to_string(kMqaDv) + " (got " + std::to_string(s.d_latent) +
                  ", " + std::to_string(s.d_v) + ")");
  Params p{};
  p.mode = mode;
  p.q = static_cast<const bf16*>(q);
  p.k = static_cast<const bf16*>(kv);
  p.seq_lens = ctx.seq_lens(s.batch);
  p.s_q = static_cast<int>(s.batch.s_q);
  p.cap = s.batch.capacity;
  p.heads = s.heads;
  p.d_qk = s.d_latent;
  p.d_v = s.d_v;
  p.vec_qk = aligned16(q, s.d_latent) && aligned16(kv, s.d_latent);
  p.scale_log2 = static_cast<float>(s.scale) * kLog2e;
  p.out = out;
  p.lse = lse;
  p.rows_total = s.batch.query_rows() * s.heads;
  return p;
}

}  // namespace

void combine_splits(Context& ctx, const float* part_o, const float* part_lse, int splits,
                    long rows_total, int d_v, float* out, float* lse) {
  combine_kernel<<<static_cast<unsigned>(rows_total), 128, 0, ctx.stream()>>>(
      part_o, part_lse, splits, rows_total, d_v, out, lse);
  CUDA_CHECK_LAUNCH();
}

// Hopper path for DeepSeek's 192/128 heads (prefill_wgmma.cu); false where it does not apply.
bool prefill_wgmma(Context& ctx, const DensePrefillArgs& a);

void dense_prefill(Context& ctx, const DensePrefillArgs& a) {
  const DensePrefillShape& s = a.shape;
  check(s);
  require_bf16(s.dtype, "dense_prefill");
  // COSTCURVE_PREFILL_PORTABLE=1 keeps Hopper on the portable kernel below: its tests run there,
  // and sweeps can compare the two.
  if (!env_flag("COSTCURVE_PREFILL_PORTABLE") && prefill_wgmma(ctx, a)) return;
  if (s.d_qk > kPrefillDqk || s.d_v > kPrefillDv)
    throw OpError("cuda dense_prefill: d_qk <= " + std::to_string(kPrefillDqk) +
                  " and d_v <= " + std::to_string(kPrefillDv) + " (got " + std::to_string(s.d_qk) +
                  ", " + std::to_string(s.d_v) + ")");
  Params p{};
  p.mode = Mode::prefill;
  p.q = static_cast<const bf16*>(a.q);
  p.k = static_cast<const bf16*>(a.k);
  p.v = static_cast<const bf16*>(a.v);
  p.seq_lens = ctx.seq_lens(s.batch);
  p.s_q = static_cast<int>(s.batch.s_q);
  p.cap = s.batch.capacity;
  p.heads = s.heads;
  p.d_qk = s.d_qk;
  p.d_v = s.d_v;
  p.vec_qk = aligned16(a.q, s.d_qk) && aligned16(a.k, s.d_qk);
  p.vec_v = aligned16(a.v, s.d_v);
  p.scale_log2 = static_cast<float>(s.scale) * kLog2e;
  p.out = a.out;
  p.lse = a.lse;
  p.rows_total = s.batch.query_rows() * s.heads;
  const dim3 grid(static_cast<unsigned>((s.batch.s_q + kRows - 1) / kRows),
                  static_cast<unsigned>(s.batch.batch() * s.heads));
  launch<kPrefillDqk, kPrefillDv, 64, 1, true>(ctx, p, grid, max_len(s.batch), "dense_prefill");
}

void dense_decode(Context& ctx, const DenseDecodeArgs& a) {
  const MqaShape& s = a.shape;
  check(s);
  require_bf16(s.dtype, "dense_decode");
  if (mqa_wgmma_usable(ctx, s, a.q, a.kv))
    return mqa_wgmma(ctx, s, a.q, a.kv, nullptr, nullptr, 0, a.out, a.lse);
  Params p = mqa_params(ctx, s, a.q, a.kv, a.out, a.lse, Mode::mqa_dense);
  const dim3 grid(static_cast<unsigned>((s.heads + kRows - 1) / kRows),
                  static_cast<unsigned>(s.batch.query_rows()));
  launch<kMqaDqk, kMqaDv, 32, 2, false>(ctx, p, grid, max_len(s.batch), "dense_decode");
}

void sparse_attention(Context& ctx, const SparseArgs& a) {
  const MqaShape& s = a.shape;
  check(s);
  check_topk(s.batch, a.top_k);
  const bool fp8 = s.dtype == DType::fp8_e4m3;
  if (!fp8) require_bf16(s.dtype, "sparse attention");
  if (fp8 && !a.kv_scale) throw OpError("cuda sparse attention: an fp8 cache needs kv_scale");
  if (!a.lse) throw OpError("cuda sparse attention: lse is required");
  if (mqa_wgmma_usable(ctx, s, a.q, a.kv))
    return mqa_wgmma(ctx, s, a.q, a.kv, a.kv_scale, a.indices, a.top_k, a.out, a.lse);
  Params p = mqa_params(ctx, s, a.q, a.kv, a.out, a.lse, Mode::mqa_sparse);
  p.idx = a.indices;
  p.top_k = a.top_k;
  const dim3 grid(static_cast<unsigned>((s.heads + kRows - 1) / kRows),
                  static_cast<unsigned>(s.batch.query_rows()));
  if (fp8) {
    p.k = nullptr;
    p.k8 = static_cast<const std::uint8_t*>(a.kv);
    p.kscale = a.kv_scale;
    // 8-byte loads of the fp8 rows, 16-byte ones of the bf16 queries.
    p.vec_qk = aligned16(a.q, s.d_latent) && reinterpret_cast<std::uintptr_t>(a.kv) % 8 == 0 &&
               s.d_latent % 8 == 0;
    launch<kMqaDqk, kMqaDv, 32, 2, false, true>(ctx, p, grid, a.top_k, "sparse attention");
  } else {
    launch<kMqaDqk, kMqaDv, 32, 2, false>(ctx, p, grid, a.top_k, "sparse attention");
  }
}

}  // namespace costcurve::cuda

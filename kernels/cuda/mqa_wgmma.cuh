// MQA attention on Hopper's warpgroup MMA (mqa_wgmma.cu), and the split merge it shares with the
// portable kernels (attention.cu).
#pragma once

#include <cstdint>

#include "kernels/cuda/context.cuh"

namespace costcurve::cuda {

// True where the wgmma kernel runs: an sm_90 device, this binary built for sm_90a, bf16 queries
// and a bf16 or fp8 e4m3 cache of exactly 576 dims with 512 value dims (DeepSeek's MLA), 16-byte
// aligned tensors.
bool mqa_wgmma_usable(Context& ctx, const MqaShape& s, const void* q, const void* kv);

// dense_decode (idx null: keys [0, pos]) or sparse attention over idx [B * s_q][top_k]; an fp8
// cache (s.dtype) comes with one scale per token, kv_scale [B][capacity].
void mqa_wgmma(Context& ctx, const MqaShape& s, const void* q, const void* kv,
               const float* kv_scale, const std::int32_t* idx, int top_k, float* out, float* lse);

// Merges per-split partial outputs [splits][rows][d_v] and log-sum-exps [splits][rows] exactly.
void combine_splits(Context& ctx, const float* part_o, const float* part_lse, int splits,
                    long rows_total, int d_v, float* out, float* lse);

}  // namespace costcurve::cuda

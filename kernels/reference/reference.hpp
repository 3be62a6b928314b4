// Float64 references: plain loops, no tiling, no tricks, so that they are obviously right.
// They read the same layouts as the kernels (see kernels/ops.hpp) and return doubles.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/bf16.hpp"
#include "kernels/fp8.hpp"
#include "kernels/ops.hpp"

namespace costcurve::ref {

struct Attention {
  std::vector<double> out;  // [B][s_q][H][d_v]
  std::vector<double> lse;  // [B][s_q][H]
};

// `only` (optional, one flag per query token b * s_q + i) restricts the work to sampled query
// tokens, so that long contexts stay affordable; outputs of the other tokens are NaN (attention,
// indexer) or INT32_MIN (top-k), which compare() skips.
using TokenMask = std::vector<char>;

// T: float, bf16_bits or fp8_bits (storage; the reference widens each element exactly).
template <class T>
Attention dense_prefill(const DensePrefillShape& s, const T* q, const T* k, const T* v,
                        const TokenMask* only = nullptr);
template <class T>
Attention dense_decode(const MqaShape& s, const T* q, const T* kv, const TokenMask* only = nullptr);
template <class T>
Attention sparse(const MqaShape& s, int top_k, const T* q, const T* kv, const std::int32_t* indices,
                 const TokenMask* only = nullptr);
// The fp8 cache variant: latent = kv_scale[token] * stored fp8; queries in bf16.
Attention sparse_fp8(const MqaShape& s, int top_k, const bf16_bits* q, const fp8_bits* kv,
                     const float* kv_scale, const std::int32_t* indices,
                     const TokenMask* only = nullptr);
// Invisible positions are -inf.
template <class T>
std::vector<double> indexer(const IndexerShape& s, const T* q, const float* w, const T* k,
                            const float* k_scale, const TokenMask* only = nullptr);
// By a full sort under the documented rule (kernels/ops.hpp): ascending positions, -1 pads.
std::vector<std::int32_t> topk(const Batch& b, int k, const float* logits,
                               const TokenMask* only = nullptr);
// C = A B^T with B stored [N][K] (as GemmArgs).
template <class T>
std::vector<double> gemm(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, const T* b);

// How far a kernel's output is from the reference.
struct Error {
  double rel_l2 = 0;   // ||got - ref|| / ||ref|| over finite reference entries
  double max_abs = 0;  // largest |got - ref| over finite reference entries
  std::int64_t bad =
      0;  // NaN outputs, or infinities where the reference is finite (and vice versa)
  std::int64_t count = 0;
  bool within(double tol) const { return bad == 0 && rel_l2 <= tol; }
};
Error compare(const float* got, const std::vector<double>& ref);

}  // namespace costcurve::ref

// MHA-mode causal attention: one work item per (sequence, head, block of query rows); each item
// streams the keys it can see in blocks, so memory stays O(block) however long the context.
// bf16 storage halves the memory a long context needs (128K tokens x 128 heads of K and V is 21 GB
// in f32); blocks are widened to f32 in scratch, where the cost is amortised over the query block.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/flash.hpp"
#include "kernels/cpu/kernels.hpp"
#include "kernels/cpu/widen.hpp"

namespace costcurve::cpu {

namespace {
constexpr int kQueryBlock = 128;
}  // namespace

void dense_prefill(const DensePrefillArgs& a, int threads) {
  const DensePrefillShape& s = a.shape;
  check(s);
  if (s.dtype != DType::f32 && s.dtype != DType::bf16)
    throw OpError("cpu dense_prefill supports f32 and bf16 storage only");
  const bool bf16 = s.dtype == DType::bf16;
  const Batch& bt = s.batch;
  const long H = s.heads;
  const long q_blocks = (bt.s_q + kQueryBlock - 1) / kQueryBlock;
  const long items = bt.batch() * H * q_blocks;
  const float scale_log2 = static_cast<float>(s.scale * M_LOG2E);
  BlasThreads serial(1);

#pragma omp parallel num_threads(threads)
  {
    FlashState st;
    std::vector<float> scratch(static_cast<std::size_t>(kQueryBlock) * kFlashKeyBlock);
    std::vector<float> qbuf, kbuf, vbuf;
    std::vector<int> visible(kQueryBlock);
    // Later query blocks see more keys: hand out the largest items first.
#pragma omp for schedule(dynamic, 1)
    for (long it = 0; it < items; ++it) {
      const long qb = q_blocks - 1 - it % q_blocks;
      const long h = (it / q_blocks) % H;
      const long b = it / (q_blocks * H);
      const long i0 = qb * kQueryBlock;
      const int rows = static_cast<int>(std::min<long>(kQueryBlock, bt.s_q - i0));
      const long first_pos = bt.query_pos(b, i0);
      const long n_keys = bt.query_pos(b, i0 + rows - 1) + 1;
      long ldq = 0, ldk = 0, ldv = 0;
      const float* q = rows_f32(a.q, ((b * bt.s_q + i0) * H + h) * s.d_qk, H * s.d_qk, rows, s.d_qk,
                                bf16, qbuf, ldq);
      const FlashQuery fq{q, ldq, rows, s.d_qk, scale_log2};
      st.reset(rows, s.d_v);
      for (long k0 = 0; k0 < n_keys; k0 += kFlashKeyBlock) {
        const int n = static_cast<int>(std::min<long>(kFlashKeyBlock, n_keys - k0));
        const bool masked = k0 + n - 1 > first_pos;
        if (masked)
          for (int r = 0; r < rows; ++r)
            visible[r] = static_cast<int>(std::clamp<long>(first_pos + r - k0 + 1, 0, n));
        const long key = (b * bt.capacity + k0) * H + h;
        const float* k = rows_f32(a.k, key * s.d_qk, H * s.d_qk, n, s.d_qk, bf16, kbuf, ldk);
        const float* v = rows_f32(a.v, key * s.d_v, H * s.d_v, n, s.d_v, bf16, vbuf, ldv);
        flash_block(fq, k, ldk, v, ldv, n, masked ? visible.data() : nullptr, scratch.data(), st);
      }
      const long row0 = (b * bt.s_q + i0) * H + h;
      st.finish(a.out + row0 * s.d_v, H * s.d_v, a.lse ? a.lse + row0 : nullptr, H);
    }
  }
}

}  // namespace costcurve::cpu

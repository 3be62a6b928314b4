// Lightning indexer: for a tile of query tokens and a block of keys, one sgemm gives every head's
// q.k; ReLU and the per-head weights then reduce the heads, vectorised along keys.
#include <algorithm>
#include <vector>

#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/kernels.hpp"
#include "kernels/cpu/vmath.hpp"
#include "kernels/cpu/widen.hpp"

namespace costcurve::cpu {
namespace {
constexpr int kTokenTile = 8;
constexpr int kKeyBlock = 512;
}  // namespace

void indexer(const IndexerArgs& a, int threads) {
  const IndexerShape& s = a.shape;
  check(s);
  const DType dt = s.dtype;  // f32, bf16 or fp8 e4m3 storage; f32 arithmetic
  const Batch& bt = s.batch;
  const long H = s.heads, D = s.dim, cap = bt.capacity;
  const long tiles = (bt.s_q + kTokenTile - 1) / kTokenTile;
  const long kblocks = (cap + kKeyBlock - 1) / kKeyBlock;
  const long items = bt.batch() * tiles * kblocks;
  BlasThreads serial(1);

#pragma omp parallel num_threads(threads)
  {
    std::vector<float> dots(static_cast<std::size_t>(kTokenTile) * H * kKeyBlock), qbuf, kbuf;
#pragma omp for schedule(dynamic, 4)
    for (long it = 0; it < items; ++it) {
      const long kb = it % kblocks, tile = (it / kblocks) % tiles, b = it / (kblocks * tiles);
      const long i0 = tile * kTokenTile;
      const long n_tok = std::min<long>(kTokenTile, bt.s_q - i0);
      const long k0 = kb * kKeyBlock;
      const int n = static_cast<int>(std::min<long>(kKeyBlock, cap - k0));
      // Keys this tile can see inside the block.
      const long last_visible = bt.query_pos(b, i0 + n_tok - 1);
      const int n_vis = static_cast<int>(std::clamp<long>(last_visible - k0 + 1, 0, n));
      const long tok0 = b * bt.s_q + i0;
      if (n_vis > 0) {
        long ldq = 0, ldk = 0;
        const float* q = rows_f32(a.q, tok0 * H * D, D, static_cast<int>(n_tok * H),
                                  static_cast<int>(D), dt, qbuf, ldq);
        const float* k =
            rows_f32(a.k, (b * cap + k0) * D, D, n_vis, static_cast<int>(D), dt, kbuf, ldk);
        sgemm(true, static_cast<int>(n_tok * H), n_vis, static_cast<int>(D), 1.0f, q, ldq, k, ldk,
              0.0f, dots.data(), n_vis);
      }
      for (long t = 0; t < n_tok; ++t) {
        float* out = a.logits + (tok0 + t) * cap + k0;
        const int vis = static_cast<int>(std::clamp<long>(bt.query_pos(b, i0 + t) - k0 + 1, 0, n));
        zero_row(out, vis);
        const float* w = a.w + (tok0 + t) * H;
        for (long h = 0; h < H; ++h) {
          const float* d = &dots[(t * H + h) * n_vis];
          const float wh = w[h];
          for (int j = 0; j < vis; ++j) out[j] += wh * std::max(d[j], 0.0f);
        }
        if (a.k_scale) {
          const float* ks = a.k_scale + b * cap + k0;
          for (int j = 0; j < vis; ++j) out[j] *= ks[j];
        }
        std::fill(out + vis, out + n, kNegInf);
      }
    }
  }
}

}  // namespace costcurve::cpu

// MQA-mode MLA attention (all heads share one latent per token), dense over the whole cache or
// sparse over per-query index lists. The key range of a query group is split across threads when
// there are fewer groups than threads; split states combine exactly (FlashState::merge).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/flash.hpp"
#include "kernels/cpu/kernels.hpp"
#include "kernels/cpu/widen.hpp"

namespace costcurve::cpu {
namespace {

struct Piece {
  long group;       // sequence (dense) or query token (sparse)
  long begin, end;  // key range (dense) or index-list range (sparse)
  long part;        // slot in the partial-state table, or -1 when the group is not split
};

struct Pieces {
  std::vector<Piece> list;
  std::vector<long> first_part;  // per group: first slot, or -1 when not split
  std::vector<long> n_parts;
  long parts = 0;
};

// Cuts each group's range [0, len(g)) into chunks of `chunk` (a multiple of the key block).
template <class Len>
Pieces cut(long groups, Len len, long chunk) {
  Pieces p;
  p.first_part.assign(groups, -1);
  p.n_parts.assign(groups, 1);
  for (long g = 0; g < groups; ++g) {
    const long n = len(g);
    const long splits = std::max<long>(1, (n + chunk - 1) / chunk);
    if (splits > 1) {
      p.first_part[g] = p.parts;
      p.n_parts[g] = splits;
    }
    for (long s = 0; s < splits; ++s)
      p.list.push_back({g, s * chunk, std::min(n, (s + 1) * chunk), splits > 1 ? p.parts++ : -1});
  }
  return p;
}

long round_up(long x, long m) {
  return (x + m - 1) / m * m;
}

// Runs `body(piece, state, scratch)` for every piece and writes normalised outputs per group.
template <class Body>
void run_pieces(const Pieces& p, int rows, int d_v, int threads, Body body, float* out,
                float* lse) {
  std::vector<FlashState> parts(p.parts);
  BlasThreads serial(1);
#pragma omp parallel num_threads(threads)
  {
    FlashState st;
#pragma omp for schedule(dynamic, 1)
    for (long i = 0; i < static_cast<long>(p.list.size()); ++i) {
      const Piece& pc = p.list[i];
      st.reset(rows, d_v);
      body(pc, st);
      if (pc.part < 0)
        st.finish(out + pc.group * rows * d_v, d_v, lse ? lse + pc.group * rows : nullptr, 1);
      else
        parts[pc.part] = st;
    }
#pragma omp for schedule(dynamic, 1)
    for (long g = 0; g < static_cast<long>(p.first_part.size()); ++g) {
      if (p.first_part[g] < 0) continue;
      FlashState& acc = parts[p.first_part[g]];
      for (long j = 1; j < p.n_parts[g]; ++j) acc.merge(parts[p.first_part[g] + j]);
      acc.finish(out + g * rows * d_v, d_v, lse ? lse + g * rows : nullptr, 1);
    }
  }
}

// Returns whether inputs are bf16 storage.
bool check_mqa(const MqaShape& s, const char* op) {
  check(s);
  if (s.dtype != DType::f32 && s.dtype != DType::bf16)
    throw OpError(std::string("cpu ") + op + " supports f32 and bf16 storage only");
  return s.dtype == DType::bf16;
}

}  // namespace

void dense_decode(const DenseDecodeArgs& a, int threads) {
  const MqaShape& s = a.shape;
  const bool bf16 = check_mqa(s, "dense_decode");
  const Batch& bt = s.batch;
  const int rows = static_cast<int>(bt.s_q * s.heads);
  const long dl = s.d_latent;
  long total = 0;
  for (long len : bt.seq_lens) total += len;
  const long chunk =
      round_up(std::max<long>(1024, (total + 4 * threads - 1) / (4 * threads)), kFlashKeyBlock);
  const Pieces p = cut(
      bt.batch(), [&](long b) { return bt.seq_lens[b]; }, chunk);
  const float scale_log2 = static_cast<float>(s.scale * M_LOG2E);

  thread_local std::vector<float> scratch, qbuf, kvbuf;
  thread_local std::vector<int> visible;
  run_pieces(
      p, rows, s.d_v, threads,
      [&](const Piece& pc, FlashState& st) {
        scratch.resize(static_cast<std::size_t>(rows) * kFlashKeyBlock);
        visible.resize(rows);
        const long b = pc.group;
        const long first_pos = bt.query_pos(b, 0);
        long ldq = 0, ldkv = 0;
        const float* q = rows_f32(a.q, b * rows * dl, dl, rows, s.d_latent, bf16, qbuf, ldq);
        const FlashQuery fq{q, ldq, rows, s.d_latent, scale_log2};
        for (long k0 = pc.begin; k0 < pc.end; k0 += kFlashKeyBlock) {
          const int n = static_cast<int>(std::min<long>(kFlashKeyBlock, pc.end - k0));
          const bool masked = k0 + n - 1 > first_pos;
          if (masked)
            for (int r = 0; r < rows; ++r)
              visible[r] =
                  static_cast<int>(std::clamp<long>(bt.query_pos(b, r / s.heads) - k0 + 1, 0, n));
          const float* kv =
              rows_f32(a.kv, (b * bt.capacity + k0) * dl, dl, n, s.d_latent, bf16, kvbuf, ldkv);
          flash_block(fq, kv, ldkv, kv, ldkv, n, masked ? visible.data() : nullptr, scratch.data(),
                      st);
        }
      },
      a.out, a.lse);
}

void sparse_attention(const SparseArgs& a, int threads) {
  const MqaShape& s = a.shape;
  // fp8 cache: bf16 queries, each gathered latent row widened and scaled by its token's scale.
  const bool fp8 = s.dtype == DType::fp8_e4m3;
  if (fp8 && !a.kv_scale) throw OpError("sparse attention with an fp8 cache needs kv_scale");
  MqaShape checked = s;
  if (fp8) checked.dtype = DType::bf16;
  const bool bf16 = check_mqa(checked, "sparse attention");
  check_topk(s.batch, a.top_k);
  if (!a.lse) throw OpError("sparse attention needs an lse output");
  const Batch& bt = s.batch;
  const int rows = s.heads;
  const long dl = s.d_latent;
  const long tokens = bt.query_rows();
  // Split each index list only when there are too few query tokens to keep every thread busy.
  const long want = 2L * threads;
  const long pieces = tokens >= want ? 1 : (want + tokens - 1) / tokens;
  const long chunk = round_up(std::max<long>((a.top_k + pieces - 1) / pieces, 256), kFlashKeyBlock);
  const Pieces p = cut(
      tokens, [&](long) { return static_cast<long>(a.top_k); }, chunk);
  const float scale_log2 = static_cast<float>(s.scale * M_LOG2E);

  thread_local std::vector<float> scratch, gathered, qbuf;
  run_pieces(
      p, rows, s.d_v, threads,
      [&](const Piece& pc, FlashState& st) {
        scratch.resize(static_cast<std::size_t>(rows) * kFlashKeyBlock);
        gathered.resize(static_cast<std::size_t>(kFlashKeyBlock) * dl);
        const long tok = pc.group, b = tok / bt.s_q;
        const long pos = bt.query_pos(b, tok % bt.s_q);
        const std::int32_t* list = a.indices + tok * a.top_k;
        const long cache = b * bt.capacity * dl;  // element offset of the sequence's cache
        long ldq = 0;
        const float* q = rows_f32(a.q, tok * rows * dl, dl, rows, s.d_latent, bf16, qbuf, ldq);
        const FlashQuery fq{q, ldq, rows, s.d_latent, scale_log2};
        int n = 0;
        for (long j = pc.begin; j < pc.end; ++j) {
          const long t = list[j];
          if (t < 0 || t > pos) continue;
          float* dst = &gathered[n * dl];
          if (fp8) {
            const fp8_bits* src = static_cast<const fp8_bits*>(a.kv) + cache + t * dl;
            const float sc = a.kv_scale[b * bt.capacity + t];
            for (long d = 0; d < dl; ++d) dst[d] = fp8_to_float(src[d]) * sc;
          } else if (bf16)
            bf16_to_float(static_cast<const bf16_bits*>(a.kv) + cache + t * dl, dst, dl);
          else
            std::memcpy(dst, static_cast<const float*>(a.kv) + cache + t * dl, dl * sizeof(float));
          if (++n == kFlashKeyBlock) {
            flash_block(fq, gathered.data(), dl, gathered.data(), dl, n, nullptr, scratch.data(),
                        st);
            n = 0;
          }
        }
        if (n > 0)
          flash_block(fq, gathered.data(), dl, gathered.data(), dl, n, nullptr, scratch.data(), st);
      },
      a.out, a.lse);
}

}  // namespace costcurve::cpu

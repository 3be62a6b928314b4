#include "kernels/ops.hpp"

#include <string>

namespace costcurve {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw OpError(what);
}

void require_positive(std::int64_t v, const char* field) {
  if (v <= 0) fail(std::string(field) + " must be positive, got " + std::to_string(v));
}

}  // namespace

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::fp8_e4m3: return "fp8_e4m3";
  }
  return "?";
}

std::string_view op_name(Op op) {
  switch (op) {
    case Op::dense_prefill: return "dense_prefill";
    case Op::dense_decode: return "dense_decode";
    case Op::indexer: return "indexer";
    case Op::topk: return "topk";
    case Op::sparse_prefill: return "sparse_prefill";
    case Op::sparse_decode: return "sparse_decode";
    case Op::gemm: return "gemm";
  }
  return "?";
}

bool parse_op(std::string_view name, Op& out) {
  for (Op op : kAllOps)
    if (op_name(op) == name) {
      out = op;
      return true;
    }
  return false;
}

bool parse_dtype(std::string_view name, DType& out) {
  for (DType t : {DType::f32, DType::bf16, DType::fp8_e4m3})
    if (dtype_name(t) == name) {
      out = t;
      return true;
    }
  return false;
}

std::int64_t Batch::causal_pairs() const {
  std::int64_t pairs = 0;
  for (std::int64_t len : seq_lens) pairs += s_q * (len - s_q) + s_q * (s_q + 1) / 2;
  return pairs;
}

void Batch::check() const {
  require_positive(s_q, "s_q");
  if (seq_lens.empty()) fail("batch is empty: at least one sequence is needed");
  require_positive(capacity, "capacity");
  for (std::size_t b = 0; b < seq_lens.size(); ++b) {
    const std::string field = "seq_lens[" + std::to_string(b) + "]";
    if (seq_lens[b] < s_q)
      fail(field + " = " + std::to_string(seq_lens[b]) +
           " is shorter than s_q = " + std::to_string(s_q));
    if (seq_lens[b] > capacity)
      fail(field + " = " + std::to_string(seq_lens[b]) +
           " exceeds capacity = " + std::to_string(capacity));
    if (seq_lens[b] > (std::int64_t{1} << 31) - 1) fail(field + " exceeds 2^31 - 1 tokens");
  }
}

Batch Batch::prefill_chunk(std::int64_t t0, std::int64_t s_q) {
  Batch b;
  b.s_q = s_q;
  b.seq_lens = {t0 + s_q};
  b.capacity = t0 + s_q;
  return b;
}

Batch Batch::uniform(std::int64_t batch, std::int64_t s_q, std::int64_t seq_len) {
  Batch b;
  b.s_q = s_q;
  b.seq_lens.assign(static_cast<std::size_t>(batch > 0 ? batch : 0), seq_len);
  b.capacity = seq_len;
  return b;
}

void check(const DensePrefillShape& s) {
  s.batch.check();
  require_positive(s.heads, "heads");
  require_positive(s.d_qk, "d_qk");
  require_positive(s.d_v, "d_v");
  if (!(s.scale > 0) || !std::isfinite(s.scale)) fail("scale must be a positive finite number");
}

void check(const MqaShape& s) {
  s.batch.check();
  require_positive(s.heads, "heads");
  require_positive(s.d_latent, "d_latent");
  require_positive(s.d_v, "d_v");
  if (s.d_v > s.d_latent)
    fail("d_v = " + std::to_string(s.d_v) + " exceeds d_latent = " + std::to_string(s.d_latent) +
         " (values are the first d_v dims of the latent)");
  if (!(s.scale > 0) || !std::isfinite(s.scale)) fail("scale must be a positive finite number");
}

void check(const IndexerShape& s) {
  s.batch.check();
  require_positive(s.heads, "heads");
  require_positive(s.dim, "dim");
}

void check_topk(const Batch& b, int k) {
  b.check();
  require_positive(k, "top_k");
}

void check_gemm(const GemmArgs& a) {
  require_positive(a.m, "m");
  require_positive(a.n, "n");
  require_positive(a.k, "k");
}

}  // namespace costcurve

// The operations costcurve measures, as backend-neutral shapes and argument bundles.
//
// Every attention-like operation works on a batch of sequences. Sequence b holds seq_lens[b] tokens
// in its caches (rows [0, seq_lens[b]) of a slab of `capacity` rows); its s_q query tokens are the
// *last* s_q tokens of the sequence, at positions [seq_lens[b] - s_q, seq_lens[b]). Query i of a
// sequence therefore sees keys [0, seq_lens[b] - s_q + i]: causal. With one sequence this is a
// prefill chunk (t0 = seq_len - s_q); with many sequences and s_q = 1 or 2 it is a decode step.
//
// Layouts are row-major, token-major, heads inside tokens:
//   queries        [B][s_q][H][d]
//   caches         [B][capacity][...]
//   attention out  [B][s_q][H][d_v], log-sum-exp [B][s_q][H] (natural log of sum exp(scale * q.k))
//   indexer logits [B][s_q][capacity]   (invisible positions hold -inf)
//   top-k indices  [B][s_q][k] int32    (positions within the sequence, -1 pads)
// Pointers are backend memory (host memory for the CPU backend, device memory for CUDA).
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace costcurve {

// Thrown for bad shapes or arguments and for operations a backend does not provide.
class OpError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

enum class DType { f32, bf16, fp8_e4m3 };
std::string_view dtype_name(DType t);

enum class Op { dense_prefill, dense_decode, indexer, topk, sparse_prefill, sparse_decode, gemm };
inline constexpr Op kAllOps[] = {Op::dense_prefill,  Op::dense_decode,  Op::indexer, Op::topk,
                                 Op::sparse_prefill, Op::sparse_decode, Op::gemm};
std::string_view op_name(Op op);
// The type an operation's arithmetic runs in, for its roofline ceiling: the indexer and GEMM
// compute in their storage type (fp8 on fp8 tensor cores); attention over an fp8 cache dequantizes
// it and computes in bf16; everything else computes in its storage type.
inline DType compute_dtype(Op op, DType storage) {
  if (storage == DType::fp8_e4m3 && op != Op::indexer && op != Op::gemm) return DType::bf16;
  return storage;
}
// Returns false when `name` names no operation.
bool parse_op(std::string_view name, Op& out);
// Returns false when `name` names no dtype.
bool parse_dtype(std::string_view name, DType& out);

// DeepSeek-V3.x softmax scale: 192^-0.5 * mscale^2 with mscale = 0.1 ln(40) + 1 (YaRN factor 40).
inline double deepseek_softmax_scale() {
  const double mscale = 0.1 * std::log(40.0) + 1.0;
  return mscale * mscale / std::sqrt(192.0);
}

// Which tokens are present and which of them are queries; shared by all attention-like ops.
struct Batch {
  std::int64_t s_q = 1;                // query tokens per sequence (the last s_q of each)
  std::vector<std::int64_t> seq_lens;  // tokens per sequence, each >= s_q
  std::int64_t capacity = 0;           // cache rows per sequence (>= max seq_len): the slab stride

  std::int64_t batch() const { return static_cast<std::int64_t>(seq_lens.size()); }
  std::int64_t query_rows() const { return batch() * s_q; }
  // Position of query i of sequence b; it sees keys [0, pos].
  std::int64_t query_pos(std::int64_t b, std::int64_t i) const { return seq_lens[b] - s_q + i; }
  // Number of (query, visible key) pairs summed over the batch.
  std::int64_t causal_pairs() const;
  // Throws OpError when the batch is malformed.
  void check() const;

  static Batch prefill_chunk(std::int64_t t0, std::int64_t s_q);
  static Batch uniform(std::int64_t batch, std::int64_t s_q, std::int64_t seq_len);
};

// 1. MHA-mode causal attention (dense V3.1 prefill): per head q/k of d_qk, v of d_v.
struct DensePrefillShape {
  Batch batch;
  int heads = 128;
  int d_qk = 192;
  int d_v = 128;
  double scale = deepseek_softmax_scale();
  DType dtype = DType::f32;
};
// q, k and v hold elements of shape.dtype (float for f32, bf16 bits for bf16); outputs are f32.
struct DensePrefillArgs {
  DensePrefillShape shape;
  const void* q = nullptr;  // [B][s_q][H][d_qk]
  const void* k = nullptr;  // [B][capacity][H][d_qk]
  const void* v = nullptr;  // [B][capacity][H][d_v]
  float* out = nullptr;     // [B][s_q][H][d_v]
  float* lse = nullptr;     // [B][s_q][H], optional
};

// 2./5. MQA-mode MLA attention: H query heads of d_latent against one shared latent per token;
// values are the first d_v dims of the latent. dtype is the storage of q and the cache (f32 or
// bf16); fp8_e4m3 (sparse attention only) means an fp8 e4m3 cache with one f32 scale per token
// (SparseArgs::kv_scale; the token's latent is scale * stored) and bf16 queries.
struct MqaShape {
  Batch batch;
  int heads = 128;
  int d_latent = 576;
  int d_v = 512;
  double scale = deepseek_softmax_scale();
  DType dtype = DType::f32;
};
// q and kv hold elements of shape.dtype, as in DensePrefillArgs.
struct DenseDecodeArgs {
  MqaShape shape;
  const void* q = nullptr;   // [B][s_q][H][d_latent]
  const void* kv = nullptr;  // [B][capacity][d_latent]
  float* out = nullptr;      // [B][s_q][H][d_v]
  float* lse = nullptr;      // [B][s_q][H], optional
};

// Sparse attention attends, per query token, the listed keys that the query can see
// (0 <= index <= its position); -1 and any other invisible index are skipped. A duplicated index
// is attended as often as it is listed. A query with no visible index gets zeros and lse = -inf.
struct SparseArgs {
  MqaShape shape;
  int top_k = 2048;
  const void* q = nullptr;                // [B][s_q][H][d_latent], shape.dtype
  const void* kv = nullptr;               // [B][capacity][d_latent], shape.dtype
  const std::int32_t* indices = nullptr;  // [B][s_q][top_k]
  float* out = nullptr;                   // [B][s_q][H][d_v]
  float* lse = nullptr;                   // [B][s_q][H] (required)
  const float* kv_scale = nullptr;        // [B][capacity], fp8 cache only (required there)
};

// 3. Lightning indexer: I[t,s] = k_scale[s] * sum_j w[t,j] * ReLU(q[t,j] . k[s]) for visible s.
// DeepSeek-V3.2 stores q and k in fp8 e4m3 (dtype fp8_e4m3) with k_scale per key; a per-token q
// scale folds into w.
struct IndexerShape {
  Batch batch;
  int heads = 64;
  int dim = 128;
  DType dtype = DType::f32;
};
// q and k hold elements of shape.dtype; weights, scales and logits are f32.
struct IndexerArgs {
  IndexerShape shape;
  const void* q = nullptr;         // [B][s_q][heads][dim]
  const float* w = nullptr;        // [B][s_q][heads]
  const void* k = nullptr;         // [B][capacity][dim]
  const float* k_scale = nullptr;  // [B][capacity], optional (1 when null)
  float* logits = nullptr;         // [B][s_q][capacity]; invisible positions get -inf
};

// 4. Top-k over each query's visible logits [0, pos]. Selection rule: larger logit first; among
// equal logits the smaller position wins; NaN ranks below every number. The selected positions
// are written in ascending order; rows with fewer than k visible positions are padded with -1.
struct TopkArgs {
  Batch batch;
  int k = 2048;
  const float* logits = nullptr;    // [B][s_q][capacity]
  std::int32_t* indices = nullptr;  // [B][s_q][k]
};

// 6. C = A B^T, row-major: A [M][K] (activations), B [N][K] (weights, as a linear layer stores
// them), C [M][N] in f32. A and B hold elements of dtype (f32, bf16 or fp8 e4m3; fp8 GEMMs of real
// models carry per-tensor scales, which are 1 here).
struct GemmArgs {
  std::int64_t m = 0, n = 0, k = 0;
  DType dtype = DType::f32;
  const void* a = nullptr;
  const void* b = nullptr;
  float* c = nullptr;
};

// Shape checks shared by every backend; they throw OpError naming the bad field.
void check(const DensePrefillShape& s);
void check(const MqaShape& s);
void check(const IndexerShape& s);
void check_topk(const Batch& b, int k);
void check_gemm(const GemmArgs& a);

}  // namespace costcurve

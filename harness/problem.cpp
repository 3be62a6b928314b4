#include "harness/problem.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <span>
#include <sstream>
#include <tuple>
#include <type_traits>
#include <vector>

#include "kernels/bf16.hpp"
#include "kernels/fp8.hpp"
#include "kernels/reference/reference.hpp"

namespace costcurve {
namespace {

// splitmix64: fast, seedable, good enough for test data.
class Rng {
public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * ((next() >> 40) * 0x1p-24f); }
  std::uint64_t below(std::uint64_t n) { return next() % n; }

private:
  std::uint64_t s_;
};

double dsize(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::fp8_e4m3: return 1;
  }
  return 4;
}

// Backend memory with a host view: the memory itself on the CPU backend (no copy: long contexts
// need every byte), a mirror vector otherwise.
template <class T>
class Array {
public:
  std::span<T> host;

  void alloc(Backend& be, std::size_t n) {
    be_ = &be;
    dev_ = Buffer(be, n * sizeof(T));
    if (auto* view = static_cast<T*>(be.host_view(dev_.as<void>()))) {
      host = {view, n};
    } else {
      own_.assign(n, T{});
      host = {own_.data(), n};
    }
  }
  void upload() { be_->upload(dev_.as<void>(), host.data(), host.size_bytes()); }
  void download() { be_->download(host.data(), dev_.as<void>(), host.size_bytes()); }
  T* ptr() const { return dev_.as<T>(); }

private:
  Backend* be_ = nullptr;
  Buffer dev_;
  std::vector<T> own_;
};

// Counter-based random numbers, so that large inputs fill in parallel and reproducibly.
inline std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <class T, class F>
void fill(Array<T>& a, F value) {
  const long n = static_cast<long>(a.host.size());
  T* p = a.host.data();
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; ++i) p[i] = value(static_cast<std::uint64_t>(i));
}

// Uniform values in [lo, hi) from stream `stream` of `seed`, stored as T (float, bf16 or fp8
// bits), then uploaded.
template <class T>
void fill_uniform(Array<T>& a, std::uint64_t seed, std::uint64_t stream, float lo, float hi) {
  const std::uint64_t base = mix(seed ^ mix(stream + 0x9e3779b97f4a7c15ULL));
  fill(a, [=](std::uint64_t i) {
    const float x = lo + (hi - lo) * ((mix(base + i * 0x9e3779b97f4a7c15ULL) >> 40) * 0x1p-24f);
    if constexpr (std::is_same_v<T, bf16_bits>)
      return float_to_bf16(x);
    else if constexpr (std::is_same_v<T, fp8_bits>)
      return float_to_fp8(x);
    else
      return x;
  });
  a.upload();
}

template <class T>
void nan_tails(Array<T>& a, const Batch& b, std::size_t row_elems, T nan) {
  bool any = false;
  for (std::int64_t s = 0; s < b.batch(); ++s) {
    const auto from = static_cast<std::size_t>(s * b.capacity + b.seq_lens[s]) * row_elems,
               to = static_cast<std::size_t>((s + 1) * b.capacity) * row_elems;
    std::fill(a.host.begin() + static_cast<std::ptrdiff_t>(from),
              a.host.begin() + static_cast<std::ptrdiff_t>(to), nan);
    any = any || to > from;
  }
  if (any) a.upload();
}

// An input stored in the problem's dtype: f32, bf16 or fp8 e4m3 bits.
struct Input {
  DType t = DType::f32;
  Array<float> f;
  Array<bf16_bits> h;
  Array<fp8_bits> e;

  void alloc(Backend& be, std::size_t n, DType dtype) {
    t = dtype;
    switch (t) {
      case DType::f32: f.alloc(be, n); break;
      case DType::bf16: h.alloc(be, n); break;
      case DType::fp8_e4m3: e.alloc(be, n); break;
    }
  }
  void fill(std::uint64_t seed, std::uint64_t stream, float lo, float hi) {
    switch (t) {
      case DType::f32: fill_uniform(f, seed, stream, lo, hi); break;
      case DType::bf16: fill_uniform(h, seed, stream, lo, hi); break;
      case DType::fp8_e4m3: fill_uniform(e, seed, stream, lo, hi); break;
    }
  }
  // NaN in every row of a sequence's cache past its length ([batch][capacity][row_elems]), then
  // uploaded: a kernel that lets them into an output (a masked key's P = 0 times a NaN row is NaN)
  // fails its validation, as it would on a real cache whose tail holds garbage.
  void poison_tails(const Batch& b, std::size_t row_elems) {
    switch (t) {
      case DType::f32: nan_tails(f, b, row_elems, std::numeric_limits<float>::quiet_NaN()); break;
      case DType::bf16: nan_tails(h, b, row_elems, bf16_bits{0x7fc0}); break;
      case DType::fp8_e4m3: nan_tails(e, b, row_elems, fp8_bits{0x7f}); break;
    }
  }
  const void* ptr() const {
    switch (t) {
      case DType::bf16: return h.ptr();
      case DType::fp8_e4m3: return e.ptr();
      default: return f.ptr();
    }
  }
};

// Calls fn with the typed host pointers of inputs that share one dtype (for the references).
template <class F, class... In>
auto typed(F fn, const In&... first_and_rest) {
  const DType t = std::get<0>(std::forward_as_tuple(first_and_rest...)).t;
  if (t == DType::bf16) return fn(first_and_rest.h.host.data()...);
  if (t == DType::fp8_e4m3) return fn(first_and_rest.e.host.data()...);
  return fn(first_and_rest.f.host.data()...);
}

void poison_out(Array<float>& a) {
  fill(a, [](std::uint64_t) { return std::numeric_limits<float>::quiet_NaN(); });
  a.upload();
}

void accumulate(Validation& v, const ref::Error& e, const char* what) {
  v.rel_l2 = std::max(v.rel_l2, e.rel_l2);
  v.bad += e.bad;
  if (!e.within(v.tolerance)) {
    std::ostringstream os;
    os << what << ": rel_l2 " << e.rel_l2 << " (bound " << v.tolerance << "), " << e.bad
       << " NaN/unwritten/mismatched of " << e.count << "; ";
    v.detail += os.str();
    v.pass = false;
  }
}

Validation start_validation(DType t) {
  Validation v;
  v.pass = true;
  v.tolerance = tolerance(t);
  return v;
}

double total_keys(const Batch& b) {
  return std::accumulate(b.seq_lens.begin(), b.seq_lens.end(), 0.0);
}

class DensePrefillProblem final : public Problem {
public:
  DensePrefillProblem(const ProblemSpec& s, Backend& be) : Problem(s, be) {
    shape_ = {s.batch, s.heads, s.d_qk, s.d_v, s.scale, s.dtype};
    check(shape_);
  }
  double flops() const override {
    return 2.0 * shape_.heads * (shape_.d_qk + shape_.d_v) * shape_.batch.causal_pairs();
  }
  double bytes() const override {
    const Batch& b = shape_.batch;
    return dsize(shape_.dtype) * shape_.heads *
           (b.query_rows() * (shape_.d_qk + shape_.d_v) +
            total_keys(b) * (shape_.d_qk + shape_.d_v));
  }
  std::size_t memory() const override {
    const Batch& b = shape_.batch;
    const double rows = b.query_rows(), cache = b.batch() * b.capacity;
    // Inputs in their dtype, outputs in f32.
    return static_cast<std::size_t>(dsize(shape_.dtype) * shape_.heads *
                                        (rows * shape_.d_qk + cache * (shape_.d_qk + shape_.d_v)) +
                                    4.0 * rows * shape_.heads * (shape_.d_v + 1));
  }
  double token_work(std::int64_t t) const override {
    const Batch& b = shape_.batch;
    return 2.0 * shape_.heads * (shape_.d_qk + shape_.d_v) *
           (b.query_pos(t / b.s_q, t % b.s_q) + 1);
  }
  void setup(std::uint64_t seed) override {
    const Batch& b = shape_.batch;
    const std::size_t rows = b.query_rows() * shape_.heads,
                      cache = b.batch() * b.capacity * shape_.heads;
    const std::size_t n[3] = {rows * shape_.d_qk, cache * shape_.d_qk, cache * shape_.d_v};
    for (int i = 0; i < 3; ++i) {
      in_[i].alloc(be_, n[i], shape_.dtype);
      in_[i].fill(seed, i, -1, 1);
    }
    // As the MQA problem's: a kernel that lets a key row past a sequence's end into P V fails.
    in_[1].poison_tails(b, shape_.heads * shape_.d_qk);
    in_[2].poison_tails(b, shape_.heads * shape_.d_v);
    out_.alloc(be_, rows * shape_.d_v);
    lse_.alloc(be_, rows);
    poison();
  }
  void poison() override {
    poison_out(out_);
    poison_out(lse_);
  }
  void run() override {
    be_.dense_prefill({shape_, in_[0].ptr(), in_[1].ptr(), in_[2].ptr(), out_.ptr(), lse_.ptr()});
  }
  Validation check_outputs(const std::vector<char>* only) override {
    out_.download();
    lse_.download();
    const ref::Attention r =
        typed([&](auto q, auto k, auto v) { return ref::dense_prefill(shape_, q, k, v, only); },
              in_[0], in_[1], in_[2]);
    Validation v = start_validation(shape_.dtype);
    accumulate(v, ref::compare(out_.host.data(), r.out), "out");
    accumulate(v, ref::compare(lse_.host.data(), r.lse), "lse");
    return v;
  }

private:
  DensePrefillShape shape_;
  Input in_[3];  // q, k, v
  Array<float> out_, lse_;
};

// Dense decode and sparse attention share inputs: queries and a latent cache.
class MqaProblem : public Problem {
public:
  MqaProblem(const ProblemSpec& s, Backend& be) : Problem(s, be) {
    shape_ = {s.batch, s.heads, s.d_latent, s.d_v_latent, s.scale, s.dtype};
    check(shape_);
  }
  void setup(std::uint64_t seed) override {
    const Batch& b = shape_.batch;
    const std::size_t rows = b.query_rows() * shape_.heads;
    q_.alloc(be_, rows * shape_.d_latent, q_dtype());
    kv_.alloc(be_, b.batch() * b.capacity * shape_.d_latent, shape_.dtype);
    out_.alloc(be_, rows * shape_.d_v);
    lse_.alloc(be_, rows);
    q_.fill(seed, 0, -1, 1);
    kv_.fill(seed, 1, -1, 1);
    kv_.poison_tails(b, shape_.d_latent);
    if (fp8()) {  // per-token scales of the fp8 cache
      kv_scale_.alloc(be_, b.batch() * b.capacity);
      fill_uniform(kv_scale_, seed, 4, 0.5f, 2.0f);
    }
    Rng rng(seed);
    setup_extra(rng);
    poison();
  }
  void poison() override {
    poison_out(out_);
    poison_out(lse_);
  }
  Validation check_outputs(const std::vector<char>* only) override {
    out_.download();
    lse_.download();
    const ref::Attention r = reference(only);
    Validation v = start_validation(shape_.dtype);
    accumulate(v, ref::compare(out_.host.data(), r.out), "out");
    accumulate(v, ref::compare(lse_.host.data(), r.lse), "lse");
    return v;
  }

protected:
  virtual void setup_extra(Rng&) {}
  // An fp8 cache comes with bf16 queries and a scale per token.
  bool fp8() const { return shape_.dtype == DType::fp8_e4m3; }
  DType q_dtype() const { return fp8() ? DType::bf16 : shape_.dtype; }
  double kv_bytes_per_token() const {
    return dsize(shape_.dtype) * shape_.d_latent + (fp8() ? 4.0 : 0.0);
  }
  virtual ref::Attention reference(const std::vector<char>* only) const = 0;
  std::size_t base_memory() const {
    const Batch& b = shape_.batch;
    return static_cast<std::size_t>(dsize(q_dtype()) * b.query_rows() * shape_.heads *
                                        shape_.d_latent +
                                    kv_bytes_per_token() * b.batch() * b.capacity +
                                    4.0 * b.query_rows() * shape_.heads * (shape_.d_v + 1));
  }
  MqaShape shape_;
  Input q_, kv_;
  Array<float> out_, lse_, kv_scale_;
};

class DenseDecodeProblem final : public MqaProblem {
public:
  using MqaProblem::MqaProblem;
  double flops() const override {
    return 2.0 * shape_.heads * (shape_.d_latent + shape_.d_v) * shape_.batch.causal_pairs();
  }
  double bytes() const override {
    const Batch& b = shape_.batch;
    return dsize(shape_.dtype) * (total_keys(b) * shape_.d_latent +
                                  b.query_rows() * shape_.heads * (shape_.d_latent + shape_.d_v));
  }
  std::size_t memory() const override { return base_memory(); }
  double token_work(std::int64_t t) const override {
    const Batch& b = shape_.batch;
    return 2.0 * shape_.heads * (shape_.d_latent + shape_.d_v) *
           (b.query_pos(t / b.s_q, t % b.s_q) + 1);
  }
  void run() override { be_.dense_decode({shape_, q_.ptr(), kv_.ptr(), out_.ptr(), lse_.ptr()}); }

private:
  ref::Attention reference(const std::vector<char>* only) const override {
    return typed([&](auto q, auto kv) { return ref::dense_decode(shape_, q, kv, only); }, q_, kv_);
  }
};

class SparseProblem final : public MqaProblem {
public:
  SparseProblem(const ProblemSpec& s, Backend& be) : MqaProblem(s, be), top_k_(s.top_k) {
    check_topk(s.batch, top_k_);
  }
  // Attended pairs: each query sees min(k, pos + 1) keys.
  double pairs() const {
    const Batch& b = shape_.batch;
    double p = 0;
    for (long s = 0; s < b.batch(); ++s)
      for (long i = 0; i < b.s_q; ++i) p += std::min<double>(top_k_, b.query_pos(s, i) + 1);
    return p;
  }
  double flops() const override {
    return 2.0 * shape_.heads * (shape_.d_latent + shape_.d_v) * pairs();
  }
  double bytes() const override {
    return pairs() * kv_bytes_per_token() +
           dsize(q_dtype()) * shape_.batch.query_rows() * shape_.heads *
               (shape_.d_latent + shape_.d_v) +
           4.0 * shape_.batch.query_rows() * top_k_;
  }
  std::size_t memory() const override {
    return base_memory() + 8 * shape_.batch.query_rows() * top_k_;
  }
  double token_work(std::int64_t t) const override {
    const Batch& b = shape_.batch;
    return 2.0 * shape_.heads * (shape_.d_latent + shape_.d_v) *
           std::min<double>(top_k_, b.query_pos(t / b.s_q, t % b.s_q) + 1);
  }
  void run() override {
    const SparseArgs a{shape_,     top_k_,     q_.ptr(),   kv_.ptr(),
                       idx_.ptr(), out_.ptr(), lse_.ptr(), fp8() ? kv_scale_.ptr() : nullptr};
    if (spec_.op == Op::sparse_prefill)
      be_.sparse_prefill(a);
    else
      be_.sparse_decode(a);
  }

private:
  // What top-k hands over: distinct visible positions in random order, -1 pads at the end.
  void setup_extra(Rng& rng) override {
    const Batch& b = shape_.batch;
    idx_.alloc(be_, b.query_rows() * top_k_);
    std::vector<std::int32_t> pool;
    std::vector<char> taken;
    for (long s = 0; s < b.batch(); ++s)
      for (long i = 0; i < b.s_q; ++i) {
        std::int32_t* row = &idx_.host[(s * b.s_q + i) * top_k_];
        const long n = b.query_pos(s, i) + 1;
        long w = 0;
        if (n <= top_k_) {
          pool.resize(n);
          std::iota(pool.begin(), pool.end(), 0);
          for (long j = n - 1; j > 0; --j) std::swap(pool[j], pool[rng.below(j + 1)]);
          for (; w < n; ++w) row[w] = pool[w];
        } else {
          taken.assign(n, 0);
          while (w < top_k_) {
            const auto t = static_cast<std::int32_t>(rng.below(n));
            if (!taken[t]) taken[t] = 1, row[w++] = t;
          }
        }
        std::fill(row + w, row + top_k_, -1);
      }
    idx_.upload();
  }
  ref::Attention reference(const std::vector<char>* only) const override {
    if (fp8())
      return ref::sparse_fp8(shape_, top_k_, q_.h.host.data(), kv_.e.host.data(),
                             kv_scale_.host.data(), idx_.host.data(), only);
    return typed(
        [&](auto q, auto kv) { return ref::sparse(shape_, top_k_, q, kv, idx_.host.data(), only); },
        q_, kv_);
  }
  int top_k_;
  Array<std::int32_t> idx_;
};

class IndexerProblem final : public Problem {
public:
  IndexerProblem(const ProblemSpec& s, Backend& be) : Problem(s, be) {
    shape_ = {s.batch, s.index_heads, s.index_dim, s.dtype};
    check(shape_);
  }
  double flops() const override {
    return 2.0 * shape_.heads * shape_.dim * shape_.batch.causal_pairs();
  }
  double bytes() const override {
    const Batch& b = shape_.batch;
    return dsize(shape_.dtype) *
               (total_keys(b) * shape_.dim + b.query_rows() * shape_.heads * shape_.dim) +
           4.0 * (total_keys(b) + b.query_rows() * (shape_.heads + b.capacity));
  }
  std::size_t memory() const override {
    const Batch& b = shape_.batch;
    const double rows = b.query_rows(), cache = b.batch() * b.capacity;
    const double in = dsize(shape_.dtype);
    return static_cast<std::size_t>(in * (rows * shape_.heads * shape_.dim + cache * shape_.dim) +
                                    4 * (rows * shape_.heads + cache + rows * b.capacity));
  }
  double token_work(std::int64_t t) const override {
    const Batch& b = shape_.batch;
    return 2.0 * shape_.heads * shape_.dim * (b.query_pos(t / b.s_q, t % b.s_q) + 1);
  }
  void setup(std::uint64_t seed) override {
    const Batch& b = shape_.batch;
    const std::size_t rows = b.query_rows(), cache = b.batch() * b.capacity;
    q_.alloc(be_, rows * shape_.heads * shape_.dim, shape_.dtype);
    w_.alloc(be_, rows * shape_.heads);
    k_.alloc(be_, cache * shape_.dim, shape_.dtype);
    ks_.alloc(be_, cache);
    out_.alloc(be_, rows * b.capacity);
    q_.fill(seed, 0, -1, 1);
    fill_uniform(w_, seed, 1, -1, 1);
    k_.fill(seed, 2, -1, 1);
    fill_uniform(ks_, seed, 3, 0.5f, 2.0f);
    poison();
  }
  void poison() override { poison_out(out_); }
  void run() override {
    be_.indexer({shape_, q_.ptr(), w_.ptr(), k_.ptr(), ks_.ptr(), out_.ptr()});
  }
  Validation check_outputs(const std::vector<char>* only) override {
    out_.download();
    const auto r = typed(
        [&](auto q, auto k) {
          return ref::indexer(shape_, q, w_.host.data(), k, ks_.host.data(), only);
        },
        q_, k_);
    // A logit is a signed sum over heads (w may be negative) that can cancel to far below its
    // terms, so its error is measured against the size of the terms: the same sum with |w|.
    std::vector<float> w_abs(w_.host.begin(), w_.host.end());
    for (float& x : w_abs) x = std::fabs(x);
    const auto scale = typed(
        [&](auto q, auto k) {
          return ref::indexer(shape_, q, w_abs.data(), k, ks_.host.data(), only);
        },
        q_, k_);
    ref::Error e = ref::compare(out_.host.data(), r);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < r.size(); ++i)
      if (std::isfinite(r[i]) && std::isfinite(scale[i]) && std::isfinite(out_.host[i])) {
        num += (out_.host[i] - r[i]) * (out_.host[i] - r[i]);
        den += scale[i] * scale[i];
      }
    e.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    Validation v = start_validation(shape_.dtype);
    accumulate(v, e, "logits");
    return v;
  }

private:
  IndexerShape shape_;
  Input q_, k_;
  Array<float> w_, ks_, out_;
};

class TopkProblem final : public Problem {
public:
  TopkProblem(const ProblemSpec& s, Backend& be) : Problem(s, be) { check_topk(s.batch, s.top_k); }
  double flops() const override { return 0; }
  double bytes() const override {
    const Batch& b = spec_.batch;
    double visible = 0;
    for (long s = 0; s < b.batch(); ++s)
      for (long i = 0; i < b.s_q; ++i) visible += b.query_pos(s, i) + 1;
    return 4.0 * (visible + b.query_rows() * spec_.top_k);
  }
  std::size_t memory() const override {
    const Batch& b = spec_.batch;
    return 4 * b.query_rows() * (b.capacity + spec_.top_k);
  }
  double token_work(std::int64_t t) const override {
    const Batch& b = spec_.batch;
    const double n = b.query_pos(t / b.s_q, t % b.s_q) + 1;
    return 20.0 * n * std::log2(n + 1);  // the reference sorts the row
  }
  void setup(std::uint64_t seed) override {
    const Batch& b = spec_.batch;
    logits_.alloc(be_, b.query_rows() * b.capacity);
    idx_.alloc(be_, b.query_rows() * spec_.top_k);
    // Coarsely quantised logits so that ties occur and the tie rule is exercised.
    fill_uniform(logits_, seed, 0, -50, 50);
    fill(logits_,
         [p = logits_.host.data()](std::uint64_t i) { return std::round(p[i] * 64) / 64; });
    logits_.upload();
    poison();
  }
  void poison() override {
    std::fill(idx_.host.begin(), idx_.host.end(), std::numeric_limits<std::int32_t>::min());
    idx_.upload();
  }
  void run() override { be_.topk({spec_.batch, spec_.top_k, logits_.ptr(), idx_.ptr()}); }
  Validation check_outputs(const std::vector<char>* only) override {
    idx_.download();
    const auto r = ref::topk(spec_.batch, spec_.top_k, logits_.host.data(), only);
    Validation v = start_validation(DType::f32);
    v.tolerance = 0;  // exact
    for (std::size_t i = 0; i < r.size(); ++i)
      v.bad += r[i] != std::numeric_limits<std::int32_t>::min() && idx_.host[i] != r[i];
    if (v.bad) {
      v.pass = false;
      v.detail = std::to_string(v.bad) + " of " + std::to_string(r.size()) +
                 " indices differ from the reference selection";
    }
    return v;
  }

private:
  Array<float> logits_;
  Array<std::int32_t> idx_;
};

class GemmProblem final : public Problem {
public:
  GemmProblem(const ProblemSpec& s, Backend& be) : Problem(s, be) {
    check_gemm({s.m, s.n, s.k, s.dtype, nullptr, nullptr, nullptr});
  }
  double flops() const override { return 2.0 * spec_.m * spec_.n * spec_.k; }
  double bytes() const override {
    return dsize(spec_.dtype) * (spec_.m + spec_.n) * spec_.k + 4.0 * spec_.m * spec_.n;
  }
  std::size_t memory() const override {
    return static_cast<std::size_t>(dsize(spec_.dtype) * (spec_.m + spec_.n) * spec_.k +
                                    4.0 * spec_.m * spec_.n);
  }
  void setup(std::uint64_t seed) override {
    a_.alloc(be_, spec_.m * spec_.k, spec_.dtype);
    b_.alloc(be_, spec_.n * spec_.k, spec_.dtype);
    c_.alloc(be_, spec_.m * spec_.n);
    a_.fill(seed, 0, -1, 1);
    b_.fill(seed, 1, -1, 1);
    poison();
  }
  void poison() override { poison_out(c_); }
  double token_work(std::int64_t) const override { return 0; }
  void run() override {
    be_.gemm({spec_.m, spec_.n, spec_.k, spec_.dtype, a_.ptr(), b_.ptr(), c_.ptr()});
  }
  Validation check_outputs(const std::vector<char>*) override {
    c_.download();
    const auto r =
        typed([&](auto a, auto b) { return ref::gemm(spec_.m, spec_.n, spec_.k, a, b); }, a_, b_);
    Validation v = start_validation(spec_.dtype);
    accumulate(v, ref::compare(c_.host.data(), r), "C");
    return v;
  }

private:
  Input a_, b_;
  Array<float> c_;
};

}  // namespace

Validation Problem::validate(double max_ref_gflop) {
  const std::int64_t tokens = spec_.op == Op::gemm ? 0 : spec_.batch.query_rows();
  double total = 0;
  for (std::int64_t t = 0; t < tokens; ++t) total += token_work(t);
  Validation v;
  if (total <= max_ref_gflop * 1e9) {
    v = check_outputs(nullptr);
    v.tokens_checked = v.tokens_total = tokens;
    return v;
  }
  std::vector<char> only(tokens, 0);
  double budget = max_ref_gflop * 1e9;
  std::int64_t checked = 0;
  auto take = [&](std::int64_t t) {
    if (only[t]) return;
    only[t] = 1;
    budget -= token_work(t);
    ++checked;
  };
  take(tokens - 1);  // the longest row always
  if (budget > token_work(0)) take(0);
  Rng rng(0x5eed ^ static_cast<std::uint64_t>(tokens));
  for (int tries = 0; tries < 4 * tokens && budget > 0; ++tries) {
    const auto t = static_cast<std::int64_t>(rng.below(tokens));
    if (!only[t] && token_work(t) <= budget) take(t);
  }
  v = check_outputs(&only);
  v.tokens_checked = checked;
  v.tokens_total = tokens;
  return v;
}

double tolerance(DType t) {
  switch (t) {
    case DType::f32: return 2e-5;
    case DType::bf16: return 1e-2;
    case DType::fp8_e4m3: return 6e-2;
  }
  return 0;
}

std::string ProblemSpec::describe() const {
  std::ostringstream os;
  os << op_name(op);
  if (op == Op::gemm) {
    os << " M=" << m << " N=" << n << " K=" << k;
  } else {
    const long L = batch.seq_lens.empty()
                       ? 0
                       : *std::max_element(batch.seq_lens.begin(), batch.seq_lens.end());
    os << " B=" << batch.batch() << " s_q=" << batch.s_q << " L=" << L;
    if (op == Op::topk || op == Op::sparse_prefill || op == Op::sparse_decode) os << " k=" << top_k;
  }
  os << " " << dtype_name(dtype);
  return os.str();
}

std::unique_ptr<Problem> make_problem(const ProblemSpec& s, Backend& be) {
  switch (s.op) {
    case Op::dense_prefill: return std::make_unique<DensePrefillProblem>(s, be);
    case Op::dense_decode: return std::make_unique<DenseDecodeProblem>(s, be);
    case Op::indexer: return std::make_unique<IndexerProblem>(s, be);
    case Op::topk: return std::make_unique<TopkProblem>(s, be);
    case Op::sparse_prefill:
    case Op::sparse_decode: return std::make_unique<SparseProblem>(s, be);
    case Op::gemm: return std::make_unique<GemmProblem>(s, be);
  }
  throw OpError("unknown operation");
}

}  // namespace costcurve

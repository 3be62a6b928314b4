#include "harness/problem.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>
#include <vector>

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

// A host copy and its backend twin.
template <class T>
struct Array {
  std::vector<T> host;
  Buffer dev;
  void alloc(Backend& be, std::size_t n) {
    host.assign(n, T{});
    dev = Buffer(be, n * sizeof(T));
  }
  void upload(Backend& be) { be.upload(dev.as<void>(), host.data(), host.size() * sizeof(T)); }
  void download(Backend& be) { be.download(host.data(), dev.as<void>(), host.size() * sizeof(T)); }
  T* ptr() const { return dev.as<T>(); }
  std::size_t bytes() const { return host.size() * sizeof(T); }
};

void fill_uniform(Array<float>& a, Rng& rng, float lo, float hi) {
  for (float& x : a.host) x = rng.uniform(lo, hi);
}

void poison_out(Backend& be, Array<float>& a) {
  std::fill(a.host.begin(), a.host.end(), std::numeric_limits<float>::quiet_NaN());
  a.upload(be);
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

double dsize(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::fp8_e4m3: return 1;
  }
  return 4;
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
    return static_cast<std::size_t>(
        4.0 * shape_.heads *
        (rows * (shape_.d_qk + shape_.d_v + 1) + cache * (shape_.d_qk + shape_.d_v)));
  }
  void setup(std::uint64_t seed) override {
    const Batch& b = shape_.batch;
    const std::size_t rows = b.query_rows() * shape_.heads,
                      cache = b.batch() * b.capacity * shape_.heads;
    q_.alloc(be_, rows * shape_.d_qk);
    k_.alloc(be_, cache * shape_.d_qk);
    v_.alloc(be_, cache * shape_.d_v);
    out_.alloc(be_, rows * shape_.d_v);
    lse_.alloc(be_, rows);
    Rng rng(seed);
    fill_uniform(q_, rng, -1, 1);
    fill_uniform(k_, rng, -1, 1);
    fill_uniform(v_, rng, -1, 1);
    q_.upload(be_);
    k_.upload(be_);
    v_.upload(be_);
    poison();
  }
  void poison() override {
    poison_out(be_, out_);
    poison_out(be_, lse_);
  }
  void run() override {
    be_.dense_prefill({shape_, q_.ptr(), k_.ptr(), v_.ptr(), out_.ptr(), lse_.ptr()});
  }
  Validation validate() override {
    out_.download(be_);
    lse_.download(be_);
    const ref::Attention r =
        ref::dense_prefill(shape_, q_.host.data(), k_.host.data(), v_.host.data());
    Validation v = start_validation(shape_.dtype);
    accumulate(v, ref::compare(out_.host.data(), r.out), "out");
    accumulate(v, ref::compare(lse_.host.data(), r.lse), "lse");
    return v;
  }

private:
  DensePrefillShape shape_;
  Array<float> q_, k_, v_, out_, lse_;
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
    q_.alloc(be_, rows * shape_.d_latent);
    kv_.alloc(be_, b.batch() * b.capacity * shape_.d_latent);
    out_.alloc(be_, rows * shape_.d_v);
    lse_.alloc(be_, rows);
    Rng rng(seed);
    fill_uniform(q_, rng, -1, 1);
    fill_uniform(kv_, rng, -1, 1);
    q_.upload(be_);
    kv_.upload(be_);
    setup_extra(rng);
    poison();
  }
  void poison() override {
    poison_out(be_, out_);
    poison_out(be_, lse_);
  }
  Validation validate() override {
    out_.download(be_);
    lse_.download(be_);
    const ref::Attention r = reference();
    Validation v = start_validation(shape_.dtype);
    accumulate(v, ref::compare(out_.host.data(), r.out), "out");
    accumulate(v, ref::compare(lse_.host.data(), r.lse), "lse");
    return v;
  }

protected:
  virtual void setup_extra(Rng&) {}
  virtual ref::Attention reference() const = 0;
  std::size_t base_memory() const {
    const Batch& b = shape_.batch;
    return 4 * (b.query_rows() * shape_.heads * (shape_.d_latent + shape_.d_v + 1) +
                b.batch() * b.capacity * shape_.d_latent);
  }
  MqaShape shape_;
  Array<float> q_, kv_, out_, lse_;
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
  void run() override { be_.dense_decode({shape_, q_.ptr(), kv_.ptr(), out_.ptr(), lse_.ptr()}); }

private:
  ref::Attention reference() const override {
    return ref::dense_decode(shape_, q_.host.data(), kv_.host.data());
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
    return dsize(shape_.dtype) *
               (pairs() * shape_.d_latent +
                shape_.batch.query_rows() * shape_.heads * (shape_.d_latent + shape_.d_v)) +
           4.0 * shape_.batch.query_rows() * top_k_;
  }
  std::size_t memory() const override {
    return base_memory() + 4 * shape_.batch.query_rows() * top_k_;
  }
  void run() override {
    const SparseArgs a{shape_, top_k_, q_.ptr(), kv_.ptr(), idx_.ptr(), out_.ptr(), lse_.ptr()};
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
    idx_.upload(be_);
  }
  ref::Attention reference() const override {
    return ref::sparse(shape_, top_k_, q_.host.data(), kv_.host.data(), idx_.host.data());
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
    return static_cast<std::size_t>(4 * (rows * shape_.heads * (shape_.dim + 1) +
                                         cache * (shape_.dim + 1) + rows * b.capacity));
  }
  void setup(std::uint64_t seed) override {
    const Batch& b = shape_.batch;
    const std::size_t rows = b.query_rows(), cache = b.batch() * b.capacity;
    q_.alloc(be_, rows * shape_.heads * shape_.dim);
    w_.alloc(be_, rows * shape_.heads);
    k_.alloc(be_, cache * shape_.dim);
    ks_.alloc(be_, cache);
    out_.alloc(be_, rows * b.capacity);
    Rng rng(seed);
    fill_uniform(q_, rng, -1, 1);
    fill_uniform(w_, rng, -1, 1);
    fill_uniform(k_, rng, -1, 1);
    fill_uniform(ks_, rng, 0.5f, 2.0f);
    for (auto* a : {&q_, &w_, &k_, &ks_}) a->upload(be_);
    poison();
  }
  void poison() override { poison_out(be_, out_); }
  void run() override {
    be_.indexer({shape_, q_.ptr(), w_.ptr(), k_.ptr(), ks_.ptr(), out_.ptr()});
  }
  Validation validate() override {
    out_.download(be_);
    const auto r =
        ref::indexer(shape_, q_.host.data(), w_.host.data(), k_.host.data(), ks_.host.data());
    Validation v = start_validation(shape_.dtype);
    accumulate(v, ref::compare(out_.host.data(), r), "logits");
    return v;
  }

private:
  IndexerShape shape_;
  Array<float> q_, w_, k_, ks_, out_;
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
  void setup(std::uint64_t seed) override {
    const Batch& b = spec_.batch;
    logits_.alloc(be_, b.query_rows() * b.capacity);
    idx_.alloc(be_, b.query_rows() * spec_.top_k);
    Rng rng(seed);
    // Coarsely quantised logits so that ties occur and the tie rule is exercised.
    for (float& x : logits_.host) x = std::round(rng.uniform(-50, 50) * 64) / 64;
    logits_.upload(be_);
    poison();
  }
  void poison() override {
    std::fill(idx_.host.begin(), idx_.host.end(), std::numeric_limits<std::int32_t>::min());
    idx_.upload(be_);
  }
  void run() override { be_.topk({spec_.batch, spec_.top_k, logits_.ptr(), idx_.ptr()}); }
  Validation validate() override {
    idx_.download(be_);
    const auto r = ref::topk(spec_.batch, spec_.top_k, logits_.host.data());
    Validation v = start_validation(DType::f32);
    v.tolerance = 0;  // exact
    for (std::size_t i = 0; i < r.size(); ++i) v.bad += idx_.host[i] != r[i];
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
    return dsize(spec_.dtype) * (spec_.m * spec_.k + spec_.k * spec_.n + spec_.m * spec_.n);
  }
  std::size_t memory() const override {
    return 4 * (spec_.m * spec_.k + spec_.k * spec_.n + spec_.m * spec_.n);
  }
  void setup(std::uint64_t seed) override {
    a_.alloc(be_, spec_.m * spec_.k);
    b_.alloc(be_, spec_.k * spec_.n);
    c_.alloc(be_, spec_.m * spec_.n);
    Rng rng(seed);
    fill_uniform(a_, rng, -1, 1);
    fill_uniform(b_, rng, -1, 1);
    a_.upload(be_);
    b_.upload(be_);
    poison();
  }
  void poison() override { poison_out(be_, c_); }
  void run() override {
    be_.gemm({spec_.m, spec_.n, spec_.k, spec_.dtype, a_.ptr(), b_.ptr(), c_.ptr()});
  }
  Validation validate() override {
    c_.download(be_);
    const auto r = ref::gemm(spec_.m, spec_.n, spec_.k, a_.host.data(), b_.host.data());
    Validation v = start_validation(spec_.dtype);
    accumulate(v, ref::compare(c_.host.data(), r), "C");
    return v;
  }

private:
  Array<float> a_, b_, c_;
};

}  // namespace

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

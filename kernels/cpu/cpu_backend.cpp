#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/cpu/kernels.hpp"

namespace costcurve {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

// A /proc/meminfo field in bytes, 0 when absent.
std::size_t meminfo(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  for (std::string k; in >> k;) {
    std::size_t kb = 0;
    in >> kb;
    if (k == key) return kb * 1024;
    in.ignore(64, '\n');
  }
  return 0;
}

class CpuBackend final : public Backend {
public:
  explicit CpuBackend(int threads) : threads_(threads > 0 ? threads : omp_get_num_procs()) {}

  BackendInfo info() const override {
    return {"cpu", cpu_model() + " (" + std::to_string(threads_) + " threads)", threads_,
            meminfo("MemTotal:"), meminfo("MemAvailable:")};
  }

  void* alloc(std::size_t bytes) override {
    constexpr std::size_t kAlign = 64;
    void* p = std::aligned_alloc(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
    if (!p && bytes) throw std::bad_alloc();
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  void upload(void* dst, const void* src, std::size_t bytes) override {
    if (dst != src) std::memcpy(dst, src, bytes);
  }
  void download(void* dst, const void* src, std::size_t bytes) override {
    if (dst != src) std::memcpy(dst, src, bytes);
  }
  void copy(void* dst, const void* src, std::size_t bytes) override {
    // One contiguous slice per thread: a single memcpy thread cannot saturate memory bandwidth.
    const long n = static_cast<long>(bytes);
#pragma omp parallel num_threads(threads_)
    {
      const long t = omp_get_thread_num(), nt = omp_get_num_threads();
      const long lo = n * t / nt, hi = n * (t + 1) / nt;
      std::memcpy(static_cast<char*>(dst) + lo, static_cast<const char*>(src) + lo, hi - lo);
    }
  }
  void synchronize() override {}
  void flush_caches() override {
    // Writing a buffer well beyond any last-level cache evicts everything else.
    static std::vector<char> junk(std::size_t{256} << 20);
    static char round = 0;
    std::memset(junk.data(), ++round, junk.size());
  }
  void* host_view(void* p) const override {
    return p;
  }

  bool supports(Op op, DType dtype) const override {
    // bf16 is a storage format for attention and indexer inputs; arithmetic stays f32. Top-k
    // reads f32 logits and GEMM is OpenBLAS sgemm.
    // The indexer also reads fp8 e4m3 (DeepSeek-V3.2 stores its keys so).
    return dtype == DType::f32 || (dtype == DType::bf16 && op != Op::topk && op != Op::gemm) ||
           (dtype == DType::fp8_e4m3 && op == Op::indexer);
  }
  void dense_prefill(const DensePrefillArgs& a) override {
    cpu::dense_prefill(a, threads_);
  }
  void dense_decode(const DenseDecodeArgs& a) override {
    cpu::dense_decode(a, threads_);
  }
  void indexer(const IndexerArgs& a) override {
    cpu::indexer(a, threads_);
  }
  void topk(const TopkArgs& a) override {
    cpu::topk(a, threads_);
  }
  void sparse_prefill(const SparseArgs& a) override {
    cpu::sparse_attention(a, threads_);
  }
  void sparse_decode(const SparseArgs& a) override {
    cpu::sparse_attention(a, threads_);
  }
  void gemm(const GemmArgs& a) override {
    cpu::gemm(a, threads_);
  }

private:
  int threads_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace costcurve

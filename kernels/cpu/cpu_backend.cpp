#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>

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

class CpuBackend final : public Backend {
public:
  explicit CpuBackend(int threads) : threads_(threads > 0 ? threads : omp_get_num_procs()) {}

  BackendInfo info() const override {
    return {"cpu", cpu_model() + " (" + std::to_string(threads_) + " threads)", threads_};
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
  void synchronize() override {}
  void* host_view(void* p) const override { return p; }

  bool supports(Op op, DType dtype) const override {
    return dtype == DType::f32 || (op == Op::dense_prefill && dtype == DType::bf16);
  }
  void dense_prefill(const DensePrefillArgs& a) override { cpu::dense_prefill(a, threads_); }
  void dense_decode(const DenseDecodeArgs& a) override { cpu::dense_decode(a, threads_); }
  void indexer(const IndexerArgs& a) override { cpu::indexer(a, threads_); }
  void topk(const TopkArgs& a) override { cpu::topk(a, threads_); }
  void sparse_prefill(const SparseArgs& a) override { cpu::sparse_attention(a, threads_); }
  void sparse_decode(const SparseArgs& a) override { cpu::sparse_attention(a, threads_); }
  void gemm(const GemmArgs& a) override { cpu::gemm(a, threads_); }

private:
  int threads_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace costcurve

#include <omp.h>
#include <unistd.h>

#include <algorithm>
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

// Bytes of the largest data cache: sysfs where it exists (the kernel's view of the cache the
// cores share), else glibc's sysconf (cpuid, which a VM may fill with its host's whole L3), else
// 32 MiB, a common last-level cache slice.
std::size_t last_level_cache_bytes() {
  std::size_t best = 0;
  for (int i = 0; i < 16; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream type_in(dir + "type"), size_in(dir + "size");
    std::string type, size;
    if (!(type_in >> type) || !(size_in >> size)) continue;
    if (type == "Instruction") continue;
    std::size_t n = std::strtoull(size.c_str(), nullptr, 10);
    if (size.back() == 'K') n <<= 10;
    if (size.back() == 'M') n <<= 20;
    best = std::max(best, n);
  }
  if (best == 0) {
    const long l3 = ::sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
    best = static_cast<std::size_t>(std::max({l3, l2, 0L}));
  }
  return best > 0 ? best : std::size_t{32} << 20;
}

class CpuBackend final : public Backend {
public:
  explicit CpuBackend(int threads) : threads_(threads > 0 ? threads : omp_get_num_procs()) {}

  BackendInfo info() const override {
    static const std::size_t cache = last_level_cache_bytes();
    BackendInfo i;
    i.name = "cpu";
    i.device = cpu_model() + " (" + std::to_string(threads_) + " threads)";
    i.threads = threads_;
    i.memory_total = meminfo("MemTotal:");
    i.memory_available = meminfo("MemAvailable:");
    i.cache_bytes = cache;
    i.cache_flush = "memset 256 MiB";
    return i;
  }

  void* alloc(std::size_t bytes) override {
    constexpr std::size_t kAlign = 64;
    void* p = std::aligned_alloc(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
    if (!p && bytes) throw std::bad_alloc();
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  // Zero bytes are a no-op: an empty host vector has a null data(), and memcpy from null is
  // undefined even for a length of 0 (UBSan: "null pointer passed as argument 2").
  void upload(void* dst, const void* src, std::size_t bytes) override {
    if (bytes && dst != src) std::memcpy(dst, src, bytes);
  }
  void download(void* dst, const void* src, std::size_t bytes) override {
    if (bytes && dst != src) std::memcpy(dst, src, bytes);
  }
  void copy(void* dst, const void* src, std::size_t bytes) override {
    if (bytes == 0) return;
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
    // The indexer reads fp8 e4m3 (DeepSeek-V3.2 stores its keys so), sparse attention an fp8 cache.
    return dtype == DType::f32 || (dtype == DType::bf16 && op != Op::topk && op != Op::gemm) ||
           (dtype == DType::fp8_e4m3 &&
            (op == Op::indexer || op == Op::sparse_prefill || op == Op::sparse_decode));
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

// One interface, several backends: the harness and the tests talk to this class only.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/ops.hpp"

namespace costcurve {

struct BackendInfo {
  std::string name;                  // "cpu", "cuda"
  std::string device;                // e.g. "AMD EPYC (2 threads)" or "NVIDIA H100 80GB HBM3"
  int threads = 1;                   // worker threads (CPU) or SMs (GPU)
  std::size_t memory_total = 0;      // bytes of backend memory
  std::size_t memory_available = 0;  // bytes free now
  std::string driver;                // GPU driver version ("" on CPU)
  std::string runtime;               // e.g. "CUDA runtime 13.0" ("" on CPU)
  std::size_t cache_bytes = 0;       // last-level cache the flush must evict (L2 on a GPU)
  // How flush_caches() empties it, e.g. "memset 2xL2 + discard": cold times taken with different
  // flushes are not comparable (a flush that leaves dirty lines charges their write-back to the
  // timed kernel).
  std::string cache_flush;
};

// A reading of the device's state, taken before and after each measured point: clocks that moved
// during a point explain numbers that moved. Names are stable keys (e.g. "sm_clock_mhz").
using DeviceState = std::vector<std::pair<std::string, double>>;

class Backend {
public:
  virtual ~Backend() = default;
  virtual BackendInfo info() const = 0;
  // Clocks, temperature, power where the backend can read them (GPU: sm_clock_mhz, mem_clock_mhz,
  // temperature_c, power_w); empty when it cannot.
  virtual DeviceState device_state() const { return {}; }

  // Backend memory. The CPU backend hands out aligned host memory.
  virtual void* alloc(std::size_t bytes) = 0;
  virtual void release(void* p) noexcept = 0;
  virtual void upload(void* dst, const void* src, std::size_t bytes) = 0;
  virtual void download(void* dst, const void* src, std::size_t bytes) = 0;
  // Device-to-device copy; also how `costcurve ceilings` measures memory bandwidth.
  virtual void copy(void* dst, const void* src, std::size_t bytes) = 0;
  // Returns when all submitted work has finished.
  virtual void synchronize() = 0;
  // Seconds that `work` (which submits backend work) takes as the device sees it. The default is
  // the host clock around work + synchronize; GPU backends use events.
  virtual double time(const std::function<void()>& work);
  // Evicts the data of earlier runs from the caches (L2 on a GPU, the last-level cache on a CPU),
  // so that a cold run pays for its memory traffic.
  virtual void flush_caches() = 0;
  // A host pointer to backend memory, when the host can read and write it directly (CPU), else
  // null. Lets the harness skip a host mirror: a 128K-token dense prefill needs 11 GB of K and V.
  virtual void* host_view(void* p) const {
    (void)p;
    return nullptr;
  }

  virtual bool supports(Op op, DType dtype) const = 0;
  virtual void dense_prefill(const DensePrefillArgs& a) = 0;
  virtual void dense_decode(const DenseDecodeArgs& a) = 0;
  virtual void indexer(const IndexerArgs& a) = 0;
  virtual void topk(const TopkArgs& a) = 0;
  // Prefill and decode share one kernel family; they differ only in the batch they are given.
  virtual void sparse_prefill(const SparseArgs& a) = 0;
  virtual void sparse_decode(const SparseArgs& a) = 0;
  virtual void gemm(const GemmArgs& a) = 0;
};

// Names of the backends compiled into this binary ("cpu" always; "cuda" when built with it).
std::vector<std::string> backend_names();
// Creates a backend; throws OpError for an unknown name or when the backend cannot run here
// (e.g. "cuda" without a GPU), with a message that says why. threads <= 0 means all cores.
std::unique_ptr<Backend> make_backend(const std::string& name, int threads = 0);

// Owns one allocation of a backend.
class Buffer {
public:
  Buffer() = default;
  Buffer(Backend& be, std::size_t bytes) : be_(&be), bytes_(bytes), p_(be.alloc(bytes)) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept { *this = std::move(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    reset();
    be_ = o.be_;
    bytes_ = o.bytes_;
    p_ = o.p_;
    o.p_ = nullptr;
    o.bytes_ = 0;
    return *this;
  }
  ~Buffer() { reset(); }
  void reset() noexcept {
    if (p_) be_->release(p_);
    p_ = nullptr;
    bytes_ = 0;
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  std::size_t bytes() const { return bytes_; }

private:
  Backend* be_ = nullptr;
  std::size_t bytes_ = 0;
  void* p_ = nullptr;
};

}  // namespace costcurve

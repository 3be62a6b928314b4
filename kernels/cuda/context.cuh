// What every CUDA kernel launcher gets from the backend: its stream, the device's limits, reusable
// scratch memory and device copies of the batch's sequence lengths. Kernels live in their own .cu
// files (one per operation) and never see the Backend class.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "kernels/cuda/cuda_check.hpp"
#include "kernels/ops.hpp"

namespace costcurve::cuda {

class Context {
public:
  Context(int device, cudaStream_t stream);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  cudaStream_t stream() const { return stream_; }
  const cudaDeviceProp& prop() const { return prop_; }
  int sms() const { return prop_.multiProcessorCount; }

  // Device scratch of at least `bytes`, valid until the next call of scratch() with slot `slot`.
  // Grows (never shrinks) by reallocating, so the first call at a shape pays for it (warm-up).
  void* scratch(std::size_t bytes, int slot = 0);
  // How many leading bytes of the slot's scratch are known to be zero: kept by the kernels that
  // leave their counters cleared (top-k), so that they need no memset per call; 0 after the slot
  // is (re)allocated.
  std::size_t& zero_prefix(int slot);
  // The batch's seq_lens as int32 on the device; uploaded only when they changed since the last
  // call, so that timed runs do no host-to-device copy.
  const std::int32_t* seq_lens(const Batch& b);

private:
  int device_ = 0;
  cudaDeviceProp prop_{};
  cudaStream_t stream_ = nullptr;
  static constexpr int kSlots = 4;
  void* scratch_[kSlots] = {};
  std::size_t scratch_bytes_[kSlots] = {};
  std::size_t zero_prefix_[kSlots] = {};
  std::vector<std::int32_t> lens_host_;
  std::int32_t* lens_dev_ = nullptr;
  std::size_t lens_cap_ = 0;
};

// Launchers: check the shape (OpError on bad input), launch on ctx.stream(), return without
// synchronizing. Each one throws OpError for a dtype it does not support.
void dense_prefill(Context& ctx, const DensePrefillArgs& a);
void dense_decode(Context& ctx, const DenseDecodeArgs& a);
void sparse_attention(Context& ctx, const SparseArgs& a);
void indexer(Context& ctx, const IndexerArgs& a);
void topk(Context& ctx, const TopkArgs& a);

// Whether the environment variable `name` is "1": it selects a kernel other than the default (one
// not yet measured to be faster, or the portable path on a GPU with a faster one), for tests and
// A/B sweeps (kernels/cuda/NOTES.md). Read on every call, so that tests can switch it; a getenv
// costs far less than a launch.
bool env_flag(const char* name);
// A kernel choice that is on unless the variable is "0" (the measured default, kept switchable so
// that before and after can be swept on one card).
bool env_default_on(const char* name);

// Checks the launch that just happened (configuration errors surface here, not at the next sync).
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

}  // namespace costcurve::cuda

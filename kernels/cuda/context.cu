#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kernels/cuda/context.cuh"

namespace costcurve::cuda {

Context::Context(int device, cudaStream_t stream) : device_(device), stream_(stream) {
  CUDA_CHECK(cudaGetDeviceProperties(&prop_, device_));
}

Context::~Context() {
  for (void* p : scratch_)
    if (p) cudaFree(p);
  if (lens_dev_) cudaFree(lens_dev_);
}

void* Context::scratch(std::size_t bytes, int slot) {
  if (slot < 0 || slot >= kSlots) throw OpError("cuda scratch slot out of range");
  if (bytes > scratch_bytes_[slot]) {
    if (scratch_[slot]) {
      CUDA_CHECK(cudaStreamSynchronize(stream_));  // earlier work may still read it
      cudaFree(scratch_[slot]);
      scratch_[slot] = nullptr;
      scratch_bytes_[slot] = 0;
    }
    const std::size_t want = std::max<std::size_t>(bytes, 1 << 20);
    if (cudaMalloc(&scratch_[slot], want) != cudaSuccess) {
      cudaGetLastError();
      scratch_[slot] = nullptr;
      throw std::bad_alloc();
    }
    scratch_bytes_[slot] = want;
    zero_prefix_[slot] = 0;
  }
  return scratch_[slot];
}

std::size_t& Context::zero_prefix(int slot) {
  if (slot < 0 || slot >= kSlots) throw OpError("cuda scratch slot out of range");
  return zero_prefix_[slot];
}

const std::int32_t* Context::seq_lens(const Batch& b) {
  std::vector<std::int32_t> lens(b.seq_lens.begin(), b.seq_lens.end());
  if (lens == lens_host_ && lens_dev_) return lens_dev_;
  if (lens.size() > lens_cap_) {
    if (lens_dev_) {
      CUDA_CHECK(cudaStreamSynchronize(stream_));
      cudaFree(lens_dev_);
      lens_dev_ = nullptr;
    }
    CUDA_CHECK(cudaMalloc(&lens_dev_, lens.size() * sizeof(std::int32_t)));
    lens_cap_ = lens.size();
  }
  // Synchronous on purpose: the host vector may go away before an async copy would read it.
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  CUDA_CHECK(cudaMemcpy(lens_dev_, lens.data(), lens.size() * sizeof(std::int32_t),
                        cudaMemcpyHostToDevice));
  lens_host_ = std::move(lens);
  return lens_dev_;
}

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && std::string_view(v) == "1";
}

bool env_default_on(const char* name) {
  const char* v = std::getenv(name);
  return !(v && std::string_view(v) == "0");
}

}  // namespace costcurve::cuda

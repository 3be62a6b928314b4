// CUDA backend. This first version owns device memory and GEMM (cuBLAS); the attention kernels
// arrive with the CUDA issue and until then report that they are not implemented.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_check.hpp"

namespace costcurve {
namespace {

__global__ void fill_kernel(float* p, long n, float value) {
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long>(gridDim.x) * blockDim.x)
    p[i] = value;
}

class CudaBackend final : public Backend {
public:
  CudaBackend() {
    CUDA_CHECK(cudaGetDevice(&device_));
    CUDA_CHECK(cudaGetDeviceProperties(&prop_, device_));
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    if (cublasCreate(&blas_) != CUBLAS_STATUS_SUCCESS) throw OpError("cublasCreate failed");
    cublasSetStream(blas_, stream_);
  }
  ~CudaBackend() override {
    if (flush_) cudaFree(flush_);
    cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
  }

  BackendInfo info() const override {
    std::size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    return {"cuda", std::string(prop_.name), prop_.multiProcessorCount, total, free};
  }
  void* alloc(std::size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
      cudaGetLastError();  // clear the sticky-free allocation error
      throw std::bad_alloc();
    }
    return p;
  }
  void release(void* p) noexcept override { cudaFree(p); }
  void upload(void* dst, const void* src, std::size_t bytes) override {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void download(void* dst, const void* src, std::size_t bytes) override {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy(void* dst, const void* src, std::size_t bytes) override {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  }
  void synchronize() override { CUDA_CHECK(cudaStreamSynchronize(stream_)); }
  // CUDA events on the backend's stream: the GPU's own clock, no host overhead.
  double time(const std::function<void()>& work) override {
    cudaEvent_t start, stop;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    CUDA_CHECK(cudaEventRecord(start, stream_));
    work();
    CUDA_CHECK(cudaEventRecord(stop, stream_));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return ms * 1e-3;
  }
  void flush_caches() override {
    if (!flush_) {  // twice the L2, written: nothing of an earlier run survives
      flush_bytes_ = 2 * static_cast<std::size_t>(prop_.l2CacheSize);
      CUDA_CHECK(cudaMalloc(&flush_, flush_bytes_));
    }
    CUDA_CHECK(cudaMemsetAsync(flush_, ++flush_round_, flush_bytes_, stream_));
  }

  bool supports(Op op, DType dtype) const override { return op == Op::gemm && dtype == DType::f32; }
  void dense_prefill(const DensePrefillArgs&) override { missing("dense_prefill"); }
  void dense_decode(const DenseDecodeArgs&) override { missing("dense_decode"); }
  void indexer(const IndexerArgs&) override { missing("indexer"); }
  void topk(const TopkArgs&) override { missing("topk"); }
  void sparse_prefill(const SparseArgs&) override { missing("sparse_prefill"); }
  void sparse_decode(const SparseArgs&) override { missing("sparse_decode"); }

  void gemm(const GemmArgs& a) override {
    check_gemm(a);
    if (a.dtype != DType::f32) throw OpError("cuda gemm: only f32 so far");
    const float one = 1.0f, zero = 0.0f;
    // Row-major C = A B is column-major C^T = B^T A^T.
    const cublasStatus_t st =
        cublasSgemm(blas_, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(a.n), static_cast<int>(a.m),
                    static_cast<int>(a.k), &one, a.b, static_cast<int>(a.n), a.a,
                    static_cast<int>(a.k), &zero, a.c, static_cast<int>(a.n));
    if (st != CUBLAS_STATUS_SUCCESS)
      throw OpError("cublasSgemm failed: status " + std::to_string(st));
  }

private:
  [[noreturn]] static void missing(const char* op) {
    throw OpError(std::string("cuda ") + op + " is not implemented yet");
  }
  int device_ = 0;
  cudaDeviceProp prop_{};
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void* flush_ = nullptr;
  std::size_t flush_bytes_ = 0;
  int flush_round_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0)
    throw OpError(std::string("backend 'cuda' cannot run here: ") +
                  (e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found"));
  return std::make_unique<CudaBackend>();
}

// Runs a trivial kernel and reads it back; true when a GPU is present and works.
bool cuda_selftest(std::string& why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found";
    return false;
  }
  float* d = nullptr;
  if ((e = cudaMalloc(&d, 1024 * sizeof(float))) != cudaSuccess) {
    why = cudaGetErrorString(e);
    return false;
  }
  fill_kernel<<<4, 256>>>(d, 1024, 3.0f);
  float h[1024];
  e = cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
  cudaFree(d);
  if (e != cudaSuccess) {
    why = cudaGetErrorString(e);
    return false;
  }
  for (float x : h)
    if (x != 3.0f) {
      why = "fill kernel wrote wrong values";
      return false;
    }
  return true;
}

}  // namespace costcurve

// CUDA backend: device memory, events, the L2 flush, cuBLAS/cuBLASLt GEMMs; the attention,
// indexer and top-k kernels live in their own files behind kernels/cuda/context.cuh.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "kernels/backend.hpp"
#include "kernels/cuda/context.cuh"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/nvml.hpp"

namespace costcurve {
namespace {

__global__ void fill_kernel(float* p, long n, float value) {
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long>(gridDim.x) * blockDim.x)
    p[i] = value;
}

// Device copy on the SMs, 16 bytes per access, four independent loads in flight per thread: the
// way kernels move memory (a copy-engine memcpy neither reaches the same bandwidth nor goes
// through L2 the same way, so it could not show the cache flush working).
__global__ void copy_kernel(uint4* __restrict__ dst, const uint4* __restrict__ src, long n) {
  const long stride = static_cast<long>(gridDim.x) * blockDim.x;
  long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 a = src[i], b = src[i + stride], c = src[i + 2 * stride], d = src[i + 3 * stride];
    dst[i] = a;
    dst[i + stride] = b;
    dst[i + 2 * stride] = c;
    dst[i + 3 * stride] = d;
  }
  for (; i < n; i += stride) dst[i] = src[i];
}

// Drops lines [0, lines) of 128 bytes at p from L2 without writing them back: their contents
// become undefined, which for the flush buffer nobody reads.
__global__ void discard_l2_kernel(char* p, long lines) {
#if __CUDA_ARCH__ >= 800
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < lines;
       i += static_cast<long>(gridDim.x) * blockDim.x)
    asm volatile("discard.global.L2 [%0], 128;" ::"l"(p + 128 * i) : "memory");
#endif
}

// COSTCURVE_L2_FLUSH: "discard" (the default from sm_80 on: the memset, then its lines dropped
// from L2 unwritten) or "memset" (the memset alone, the only flush before sm_80 and before
// 2026-12-07). A memset leaves ~50 MB of dirty lines that the timed kernel writes back as it evicts
// them: on an H100 a cold 16 MiB read took 12.5 us after the memset and 10.0 us after the discard,
// as after a flush that reads instead of writes (tools/l2_probe.cu, results/h100-v9).
bool flush_discards(const cudaDeviceProp& prop) {
  const char* v = std::getenv("COSTCURVE_L2_FLUSH");
  const std::string s = v ? v : "";
  if (s == "memset") return false;
  if (!s.empty() && s != "discard")
    throw OpError("COSTCURVE_L2_FLUSH='" + s +
                  "': expected 'discard' (the default from sm_80 on) or 'memset'");
  if (prop.major >= 8) return true;
  if (s.empty()) return false;
  throw OpError("COSTCURVE_L2_FLUSH=discard needs sm_80 or later (discard.global.L2); this is sm_" +
                std::to_string(prop.major) + std::to_string(prop.minor));
}

#define CUBLAS_CHECK(call)                                                                        \
  do {                                                                                            \
    const cublasStatus_t st_ = (call);                                                            \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                             \
      throw OpError(std::string(#call) + " failed: " + cublasGetStatusString(st_) + " at line " + \
                    std::to_string(__LINE__));                                                    \
  } while (0)

class CudaBackend final : public Backend {
public:
  CudaBackend() {
    CUDA_CHECK(cudaGetDevice(&device_));
    CUDA_CHECK(cudaGetDeviceProperties(&prop_, device_));
    discard_ = flush_discards(prop_);
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    ctx_ = std::make_unique<cuda::Context>(device_, stream_);
    CUBLAS_CHECK(cublasCreate(&blas_));
    CUBLAS_CHECK(cublasSetStream(blas_, stream_));
    CUBLAS_CHECK(cublasLtCreate(&lt_));
    char bus[32] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, device_) == cudaSuccess)
      nvml_ = std::make_unique<cuda::Nvml>(bus);
  }
  ~CudaBackend() override {
    if (flush_) cudaFree(flush_);
    ctx_.reset();
    cublasLtDestroy(lt_);
    cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
  }

  BackendInfo info() const override {
    std::size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    BackendInfo i{"cuda", std::string(prop_.name), prop_.multiProcessorCount, total, free};
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    i.runtime = "CUDA runtime " + version(rt) + ", driver API " + version(drv) + ", sm_" +
                std::to_string(prop_.major) + std::to_string(prop_.minor);
    i.driver = nvml_ ? nvml_->driver_version() : "";
    if (i.driver.empty()) i.driver = "unknown (NVML not available)";
    i.cache_bytes = static_cast<std::size_t>(prop_.l2CacheSize);
    i.cache_flush = discard_ ? "memset 2xL2 + discard" : "memset 2xL2";
    return i;
  }
  DeviceState device_state() const override { return nvml_ ? nvml_->read() : DeviceState{}; }
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
    const bool vec = reinterpret_cast<std::uintptr_t>(dst) % 16 == 0 &&
                     reinterpret_cast<std::uintptr_t>(src) % 16 == 0 && bytes % 16 == 0;
    if (!vec || bytes == 0) {
      CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
      return;
    }
    const long n = static_cast<long>(bytes / 16);
    const long blocks = std::min<long>((n + 255) / 256, 4L * prop_.multiProcessorCount);
    copy_kernel<<<static_cast<unsigned>(blocks), 256, 0, stream_>>>(
        static_cast<uint4*>(dst), static_cast<const uint4*>(src), n);
    CUDA_CHECK(cudaGetLastError());
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
    if (discard_) {
      const long lines = static_cast<long>(flush_bytes_ / 128);
      discard_l2_kernel<<<4 * prop_.multiProcessorCount, 256, 0, stream_>>>(
          static_cast<char*>(flush_), lines);
      CUDA_CHECK(cudaGetLastError());
    }
  }

  // bf16 tensor-core attention (fp32 accumulation), sparse also over an fp8 e4m3 cache; the
  // indexer reads bf16 or fp8 e4m3; top-k reads
  // f32 logits; GEMM in f32 (no tensor cores), bf16 and, from sm_89 on, fp8.
  bool supports(Op op, DType dtype) const override {
    switch (op) {
      case Op::dense_prefill:
      case Op::dense_decode: return dtype == DType::bf16;
      case Op::sparse_prefill:
      case Op::sparse_decode: return dtype == DType::bf16 || dtype == DType::fp8_e4m3;
      case Op::indexer: return dtype == DType::bf16 || dtype == DType::fp8_e4m3;
      case Op::topk: return dtype == DType::f32;
      case Op::gemm: return dtype != DType::fp8_e4m3 || prop_.major * 10 + prop_.minor >= 89;
    }
    return false;
  }
  void dense_prefill(const DensePrefillArgs& a) override { cuda::dense_prefill(*ctx_, a); }
  void dense_decode(const DenseDecodeArgs& a) override { cuda::dense_decode(*ctx_, a); }
  void indexer(const IndexerArgs& a) override { cuda::indexer(*ctx_, a); }
  void topk(const TopkArgs& a) override { cuda::topk(*ctx_, a); }
  void sparse_prefill(const SparseArgs& a) override { cuda::sparse_attention(*ctx_, a); }
  void sparse_decode(const SparseArgs& a) override { cuda::sparse_attention(*ctx_, a); }

  // Row-major C[M][N] = A[M][K] B[N][K]^T is column-major C^T = B A^T with B read transposed:
  // the "TN" layout, which cuBLASLt's fp8 kernels require.
  void gemm(const GemmArgs& a) override {
    check_gemm(a);
    if (a.m > INT32_MAX || a.n > INT32_MAX || a.k > INT32_MAX)
      throw OpError("cuda gemm: m, n and k must each fit in 32 bits");
    const int m = static_cast<int>(a.m), n = static_cast<int>(a.n), k = static_cast<int>(a.k);
    const float one = 1.0f, zero = 0.0f;
    switch (a.dtype) {
      case DType::f32:
        CUBLAS_CHECK(cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one,
                                 static_cast<const float*>(a.b), k, static_cast<const float*>(a.a),
                                 k, &zero, a.c, n));
        return;
      case DType::bf16:
        CUBLAS_CHECK(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, a.b, CUDA_R_16BF,
                                  k, a.a, CUDA_R_16BF, k, &zero, a.c, CUDA_R_32F, n,
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        return;
      case DType::fp8_e4m3: gemm_fp8(m, n, k, a); return;
    }
  }

private:
  static std::string version(int v) {
    return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
  }

  void gemm_fp8(int m, int n, int k, const GemmArgs& a) {
    if (!supports(Op::gemm, DType::fp8_e4m3))
      throw OpError("cuda gemm: fp8 needs compute capability 8.9 or newer");
    if (k % 16 != 0)
      throw OpError("cuda gemm: fp8 needs k to be a multiple of 16 (cuBLASLt alignment)");
    const float one = 1.0f, zero = 0.0f;
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t lb = nullptr, la = nullptr, lc = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    auto cleanup = [&] {
      if (pref) cublasLtMatmulPreferenceDestroy(pref);
      if (lc) cublasLtMatrixLayoutDestroy(lc);
      if (la) cublasLtMatrixLayoutDestroy(la);
      if (lb) cublasLtMatrixLayoutDestroy(lb);
      if (op) cublasLtMatmulDescDestroy(op);
    };
    try {
      CUBLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
      const cublasOperation_t t = CUBLAS_OP_T, nt = CUBLAS_OP_N;
      CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t));
      CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof nt));
      // First operand: B stored [N][K] row-major = column-major K x N, read transposed.
      CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, k, n, k));
      CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, k, m, k));
      CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, n, m, n));
      const std::size_t ws_bytes = std::size_t{32} << 20;
      void* ws = ctx_->scratch(ws_bytes, 3);
      CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
      CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
          pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes));
      cublasLtMatmulHeuristicResult_t heur{};
      int found = 0;
      CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(lt_, op, lb, la, lc, lc, pref, 1, &heur, &found));
      if (found == 0) throw OpError("cuda gemm: cuBLASLt offers no fp8 algorithm for this shape");
      CUBLAS_CHECK(cublasLtMatmul(lt_, op, &one, a.b, lb, a.a, la, &zero, a.c, lc, a.c, lc,
                                  &heur.algo, ws, ws_bytes, stream_));
    } catch (...) {
      cleanup();
      throw;
    }
    cleanup();
  }
  int device_ = 0;
  cudaDeviceProp prop_{};
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  std::unique_ptr<cuda::Context> ctx_;
  std::unique_ptr<cuda::Nvml> nvml_;
  void* flush_ = nullptr;
  std::size_t flush_bytes_ = 0;
  int flush_round_ = 0;
  bool discard_ = false;  // COSTCURVE_L2_FLUSH=discard
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  // Without a driver the runtime says "driver version is insufficient": say what it means here.
  if (e != cudaSuccess || n == 0)
    throw OpError(std::string("backend 'cuda' cannot run here: ") +
                  (e != cudaSuccess ? std::string("no usable CUDA driver or GPU (") +
                                          cudaGetErrorName(e) + ": " + cudaGetErrorString(e) + ")"
                                    : std::string("no CUDA device found")) +
                  "; the CPU backend needs neither (--backend cpu)");
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

// Host side of the Hopper primitives (sm90.cuh): the probe for the sm_90a code and the driver's
// tensor-map encoder, each looked up once per process.
#include <cuda_runtime.h>

#include "kernels/cuda/sm90.cuh"

namespace costcurve::cuda::sm90 {
namespace {

__device__ int g_has_wgmma;  // set by the probe: 1 where the sm_90a code is what runs

__global__ void wgmma_probe() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  g_has_wgmma = 1;
#else
  g_has_wgmma = 0;
#endif
}

}  // namespace

bool has_sm90a(Context& ctx) {
  static const bool ok = [&] {
    wgmma_probe<<<1, 1, 0, ctx.stream()>>>();
    int v = 0;
    if (cudaGetLastError() != cudaSuccess ||
        cudaMemcpyFromSymbolAsync(&v, g_has_wgmma, sizeof v, 0, cudaMemcpyDeviceToHost,
                                  ctx.stream()) != cudaSuccess ||
        cudaStreamSynchronize(ctx.stream()) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return v == 1;
  }();
  return ok;
}

PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault,
                                         &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      f = nullptr;
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(f);
  }();
  return fn;
}

}  // namespace costcurve::cuda::sm90

#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/kernels.hpp"

namespace costcurve::cpu {

void gemm(const GemmArgs& a, int threads) {
  check_gemm(a);
  if (a.dtype != DType::f32) throw OpError("cpu gemm supports f32 only");
  BlasThreads team(threads);  // OpenBLAS parallelises a lone GEMM itself
  sgemm(true, static_cast<int>(a.m), static_cast<int>(a.n), static_cast<int>(a.k), 1.0f,
        static_cast<const float*>(a.a), a.k, static_cast<const float*>(a.b), a.k, 0.0f, a.c, a.n);
}

}  // namespace costcurve::cpu

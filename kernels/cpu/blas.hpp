// OpenBLAS threading control. Our kernels parallelise with OpenMP and call sgemm from every worker,
// so OpenBLAS must run single-threaded inside them (its pthread build would oversubscribe).
#pragma once

#include <cblas.h>

namespace costcurve::cpu {

class BlasThreads {
public:
  explicit BlasThreads(int n) : saved_(openblas_get_num_threads()) { openblas_set_num_threads(n); }
  ~BlasThreads() { openblas_set_num_threads(saved_); }
  BlasThreads(const BlasThreads&) = delete;
  BlasThreads& operator=(const BlasThreads&) = delete;

private:
  int saved_;
};

// C[m][n] (ldc) = alpha * A[m][k] (lda) * op(B) + beta * C, row-major; op(B) = B^T when b_t.
inline void sgemm(bool b_t, int m, int n, int k, float alpha, const float* a, long lda,
                  const float* b, long ldb, float beta, float* c, long ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, b_t ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

}  // namespace costcurve::cpu

#include "blas.hpp"

#include <cblas.h>

#include "error.hpp"

namespace att::blas {
namespace {

int narrow(int64_t v) {
  // Sizes are validated at att_init; reaching this is a bug, not bad input.
  if (v < 0 || v > kMaxDim)
    fail(ATT_E_INTERNAL, "BLAS dimension %lld does not fit blasint", static_cast<long long>(v));
  return static_cast<int>(v);
}

CBLAS_TRANSPOSE trans(Op op) { return op == Op::N ? CblasNoTrans : CblasTrans; }

}  // namespace

void gemm(Op op_a, Op op_b, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
          int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // BLAS would only scale C; do it here so beta = 0 never meets BLAS.
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < m; ++i) c[i + j * ldc] = beta == 0.0 ? 0.0 : beta * c[i + j * ldc];
    return;
  }
  cblas_dgemm(CblasColMajor, trans(op_a), trans(op_b), narrow(m), narrow(n), narrow(k), alpha, a,
              narrow(lda), b, narrow(ldb), beta, c, narrow(ldc));
}

void gemv(Op op_a, int64_t m, int64_t n, double alpha, const double *a, int64_t lda,
          const double *x, int64_t incx, double beta, double *y, int64_t incy) {
  if (m == 0 || n == 0) return;
  cblas_dgemv(CblasColMajor, trans(op_a), narrow(m), narrow(n), alpha, a, narrow(lda), x,
              narrow(incx), beta, y, narrow(incy));
}

int threads() {
  const int t = openblas_get_num_threads();
  return t > 1 ? t : 1;
}

}  // namespace att::blas

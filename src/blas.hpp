// The one place that talks to CBLAS. Column-major throughout, 64-bit sizes in,
// checked against the 32-bit blasint of Debian's OpenBLAS before narrowing.
#pragma once

#include <cstdint>

namespace att::blas {

enum class Op { N, T };

// Largest dimension or leading dimension the BLAS interface accepts.
constexpr int64_t kMaxDim = 2147483647;

// C = alpha * op(A) * op(B) + beta * C, with op(A) m x k and op(B) k x n.
// beta == 0 is only passed for buffers we wrote ourselves.
void gemm(Op op_a, Op op_b, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
          int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc);

// y = alpha * op(A) * x + beta * y, A m x n.
void gemv(Op op_a, int64_t m, int64_t n, double alpha, const double *a, int64_t lda,
          const double *x, int64_t incx, double beta, double *y, int64_t incy);

// The number of threads OpenBLAS uses (OPENBLAS_NUM_THREADS, or the CPUs; at
// least 1): also the library's own blocked computations use no more.
int threads();

}  // namespace att::blas

// Feature-dimension reduction of X (n x d, d >> n) to Y (n x m) keeping
// D(Y)^-1 exp(Y Y^T) close to D(X)^-1 exp(X X^T) (arXiv 2304.04397): a seeded
// Gaussian sketch, and an LQ factorization that keeps Y Y^T = X X^T exactly.
#pragma once

#include <cstdint>

#include "matrix_view.hpp"

namespace att {

// m = ceil(n ln(n / delta)), at least 1; throws ATT_E_SIZE above INT32_MAX.
int64_t sketch_width(int64_t n, double delta);

// Y (n x m) = X S / sqrt(m), S d x m standard normal from NormalStream(seed)
// filled row by row. Arguments already validated (1 <= m <= d).
void sparsify_gaussian(const ConstView &X, uint64_t seed, const MutView &Y);

// Y (n x min(n, d)) = L of X = L Q~ (dgelqf), columns signed so that the
// diagonal of L is >= 0, zeros above the diagonal. Arguments validated.
void sparsify_lq(const ConstView &X, const MutView &Y);

}  // namespace att

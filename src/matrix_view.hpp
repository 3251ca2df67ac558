// Caller-owned matrices of the one-shot functions (static attention,
// sparsification): a pointer, a shape, a CBLAS-style leading dimension and
// the att_layout, plus the checks every such argument goes through before
// any work starts (so a failed call never writes to its output).
#pragma once

#include <cstdint>

#include "blas.hpp"
#include "dynattn.h"

namespace att {

template <class T>
struct MatrixView {
  T *data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;
  bool row_major = true;

  T &operator()(int64_t i, int64_t j) const noexcept {
    return row_major ? data[i * ld + j] : data[i + j * ld];
  }

  // Where row `first` starts: the rows [first, rows) seen as a matrix with
  // the same leading dimension and layout.
  T *row_pointer(int64_t first) const noexcept {
    return row_major ? data + first * ld : data + first;
  }

  // The same storage seen as a column-major matrix for the BLAS wrapper:
  // a row-major matrix is its own transpose in column-major storage, so an
  // operand op(A) becomes op'(A^T) with op' the opposite operation.
  blas::Op as_col_major(blas::Op op) const noexcept {
    if (!row_major) return op;
    return op == blas::Op::N ? blas::Op::T : blas::Op::N;
  }
};

using ConstView = MatrixView<const double>;
using MutView = MatrixView<double>;

// Throws ATT_E_CONFIG unless layout is ATT_ROW_MAJOR or ATT_COL_MAJOR.
bool row_major_of(const att_layout &layout);

// Throws ATT_E_SIZE unless 1 <= value <= INT32_MAX.
void check_dimension(const char *name, int64_t value);

// Checks pointer, leading dimension (>= the stored width, <= INT32_MAX) and
// that the extent (rows - 1) ld + cols, in elements, fits in memory.
template <class T>
void check_view(const char *name, const MatrixView<T> &view);

// Throws ATT_E_NONFINITE for a NaN or infinite entry and ATT_E_RANGE for an
// entry above `limit` in magnitude.
void check_entries(const char *name, const ConstView &view, double limit);

// a * b, throwing ATT_E_SIZE if it overflows or exceeds what can be
// allocated as doubles.
int64_t checked_product(int64_t a, int64_t b);

// max_i |row i|_2, in long double so that no finite input overflows.
long double max_row_norm(const ConstView &view);

}  // namespace att

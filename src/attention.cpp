#include "attention.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "blas.hpp"
#include "dense_store.hpp"
#include "error.hpp"
#include "numerics.hpp"

namespace att {
namespace {

constexpr double kU = num::kUnitRoundoff;

// a * b, or fail with ATT_E_SIZE when it overflows the addressable range.
int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r) || r > PTRDIFF_MAX / 16)
    fail(ATT_E_SIZE, "storage of %lld x %lld doubles overflows", static_cast<long long>(a),
         static_cast<long long>(b));
  return r;
}

void check_shape(const Shape &s, int64_t k) {
  const struct {
    const char *name;
    int64_t value;
  } dims[] = {{"n_q", s.n_q}, {"n_kv", s.n_kv}, {"d_k", s.d_k}, {"d_v", s.d_v}};
  for (const auto &dim : dims) {
    if (dim.value < 1)
      fail(ATT_E_SIZE, "%s=%lld must be at least 1", dim.name, static_cast<long long>(dim.value));
    if (dim.value > blas::kMaxDim)
      fail(ATT_E_SIZE, "%s=%lld exceeds %lld", dim.name, static_cast<long long>(dim.value),
           static_cast<long long>(blas::kMaxDim));
  }
  // Every buffer the structure allocates, so that none can overflow.
  checked_mul(checked_mul(s.n_q, s.n_kv), 2);
  checked_mul(s.n_q, std::max(s.d_k, s.d_v));
  checked_mul(s.n_kv, std::max(s.d_k, s.d_v));  // also the pending-cell marks
  checked_mul(s.n_q, 2 * k);
  checked_mul(2 * k, s.d_v);
}

// Copy a row-major rows x cols input into column-major storage, rejecting
// non-finite entries and entries above `limit` in magnitude.
Matrix copy_input(const char *name, const double *in, int64_t rows, int64_t cols, double limit) {
  Matrix m(rows, cols);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const double x = in[i * cols + j];
      if (!std::isfinite(x))
        fail(ATT_E_NONFINITE, "%s[%lld][%lld] is not finite", name, static_cast<long long>(i),
             static_cast<long long>(j));
      if (std::fabs(x) > limit)
        fail(ATT_E_RANGE, "|%s[%lld][%lld]| = %g exceeds %g", name, static_cast<long long>(i),
             static_cast<long long>(j), std::fabs(x), limit);
      m(i, j) = x;
    }
  }
  return m;
}

void check_delta(double delta) {
  if (!std::isfinite(delta)) fail(ATT_E_NONFINITE, "delta=%g is not finite", delta);
}

}  // namespace

DynamicAttention::DynamicAttention(Shape shape, const double *Q, const double *K,
                                   const double *V, const Config &config)
    : shape_(shape),
      scale_(config.logit_scale),
      lazy_limit_(config.resolve_lazy_limit(std::max(shape.n_q, shape.n_kv))) {
  check_shape(shape_, lazy_limit_);
  const int64_t n_q = shape_.n_q, n_kv = shape_.n_kv, d_v = shape_.d_v;
  const double huge = HUGE_VAL;
  Q_ = copy_input("Q", Q, n_q, shape_.d_k, huge);
  K_ = copy_input("K", K, n_kv, shape_.d_k, huge);
  V_ = copy_input("V", V, n_kv, d_v, ATT_MAX_VALUE);
  V0_ = Matrix(n_kv, d_v);
  std::memcpy(V0_.data(), V_.data(), sizeof(double) * static_cast<size_t>(n_kv * d_v));

  // At most min(k, n_kv) distinct key rows and as many value rows can be
  // pending; the fold stacks both.
  const int64_t k = lazy_limit_;
  const int64_t distinct = std::min(k, n_kv);
  const int64_t rhs_rows = 2 * distinct;
  store_ = std::make_unique<DenseStore>(n_q, n_kv);
  C0_ = Matrix(n_q, d_v);
  shift_ = Array<double>(n_q);
  d_hi_ = Array<double>(n_q);
  d_lo_ = Array<double>(n_q);
  err_ = Array<double>(n_q);
  pending_a_ = Matrix(n_q, rhs_rows);
  pending_key_ = Array<int64_t>(distinct);
  key_slot_ = Array<int64_t>(n_kv);
  key_slot_.fill(-1);
  pending_v_row_ = Array<int64_t>(k);
  pending_v_col_ = Array<int64_t>(k);
  pending_v_mark_ = Array<unsigned char>(n_kv * d_v);
  pending_v_mark_.fill(0);
  value_scale_ = Array<double>(d_v);
  column_touched_ = Array<unsigned char>(d_v);
  column_touched_.fill(0);
  for (int64_t j = 0; j < d_v; ++j) {
    double largest = 0.0;
    for (int64_t r = 0; r < n_kv; ++r) largest = std::fmax(largest, std::fabs(V_(r, j)));
    value_scale_[j] = largest;
  }
  fold_rhs_ = Matrix(rhs_rows, d_v);
  fold_rows_ = Array<int64_t>(distinct);
  fold_slot_ = Array<int64_t>(n_kv);
  fold_slot_.fill(-1);
  logits_ = Array<double>(n_q);
  a_new_ = Array<double>(n_q);
  delta_a_ = Array<double>(n_q);
  flagged_ = Array<unsigned char>(n_q);
  flagged_.fill(0);

  // Recompute a few rows per fold so rounding stays bounded over unbounded
  // streams; sized so the sweep costs about 1/8 of the fold's dgemm.
  sweep_rows_ = std::clamp<int64_t>(k * d_v / (8 * (shape_.d_k + d_v)), 1, n_q);

  // Paper Algorithm 1 (Init): every row from scratch.
  const int64_t bad = refresh_rows(0, n_q);
  if (bad >= 0)
    fail(ATT_E_RANGE, "a logit of row %lld is not finite or exceeds ATT_MAX_LOGIT",
         static_cast<long long>(bad));
  refresh_rows(0, n_q);
}

// Rows [i0, i0 + count) from Q K^T: shifts, A, D, C0 = A V0, and no pending
// key contribution left for them. The error bound restarts at a fresh row's.
// Returns the first row with an unacceptable logit (only possible at init,
// since updates validate their logits first), or -1.
int64_t DynamicAttention::refresh_rows(int64_t i0, int64_t count) {
  const int64_t bad =
      store_->compute_rows(i0, count, Q_, K_, scale_, shift_.data() + i0, d_hi_.data() + i0);
  if (bad >= 0) return bad;
  for (int64_t i = i0; i < i0 + count; ++i) {
    d_lo_[i] = 0.0;
    err_[i] = num::kFreshCharge * kU * d_hi_[i];
  }
  store_->multiply_rows(i0, count, V0_.data(), V0_.ld(), shape_.d_v, C0_.data() + i0, C0_.ld());
  for (int64_t t = 0; t < n_key_cols_; ++t)
    std::fill(pending_a_.col(t) + i0, pending_a_.col(t) + i0 + count, 0.0);
  return -1;
}

// Recompute every flagged row, in runs of consecutive rows so that each run
// is one matrix product.
void DynamicAttention::refresh_flagged() {
  const int64_t n_q = shape_.n_q;
  for (int64_t i = 0; i < n_q;) {
    if (!flagged_[i]) {
      ++i;
      continue;
    }
    int64_t end = i;
    while (end < n_q && flagged_[end]) flagged_[end++] = 0;
    refresh_rows(i, end - i);
    i = end;
  }
}

void DynamicAttention::sweep() {
  const int64_t count = std::min(sweep_rows_, shape_.n_q - sweep_next_);
  refresh_rows(sweep_next_, count);
  sweep_next_ = (sweep_next_ + count) % shape_.n_q;
}

// Paper Algorithm 2, entry K[row, col] += delta. Column `row` of the logits
// moves by scale * delta * Q[:, col]; the kernel column is recomputed from
// the logits (so entries that had underflowed come back exactly) and its
// change dA is recorded as a pending key term.
void DynamicAttention::update_k(int64_t row, int64_t col, double delta) {
  check_index("i", row, shape_.n_kv);
  check_index("j", col, shape_.d_k);
  check_delta(delta);
  const double k_new = K_(row, col) + delta;
  const double scaled = scale_ * delta;
  if (!std::isfinite(k_new) || !std::isfinite(scaled))
    fail(ATT_E_NONFINITE, "K[%lld][%lld] + delta is not finite", static_cast<long long>(row),
         static_cast<long long>(col));

  const int64_t n_q = shape_.n_q;
  double *logits = logits_.data();
  store_->propose_key_column(row, col, scaled, Q_, logits);
  double worst = 0.0;
  for (int64_t i = 0; i < n_q; ++i) worst = std::fmax(worst, std::fabs(logits[i]));
  bool finite = true;
  for (int64_t i = 0; i < n_q; ++i) finite &= std::isfinite(logits[i]);
  if (!finite)
    fail(ATT_E_NONFINITE, "K[%lld][%lld] += %g makes a logit non-finite",
         static_cast<long long>(row), static_cast<long long>(col), delta);
  if (worst > ATT_MAX_LOGIT)
    fail(ATT_E_RANGE, "K[%lld][%lld] += %g makes a logit of magnitude %g exceed ATT_MAX_LOGIT",
         static_cast<long long>(row), static_cast<long long>(col), delta, worst);

  // Validated: from here on nothing can fail (all buffers exist).
  K_(row, col) = k_new;
  double *delta_a = delta_a_.data();
  double *a_new = a_new_.data();
  unsigned char *flagged = flagged_.data();
  int64_t n_flagged =
      store_->commit_key_column(row, logits, shift_.data(), a_new, delta_a, flagged);
  for (int64_t i = 0; i < n_q; ++i) {
    double sum, rounding;
    num::two_sum(d_hi_[i], delta_a[i], sum, rounding);
    d_hi_[i] = sum;
    d_lo_[i] += rounding;
    err_[i] += num::kUpdateCharge * kU * (2.0 * a_new[i] - delta_a[i]);
    // Also catches D = 0 (the row's mass fell below the exponent floor).
    const bool drifted = !(err_[i] <= num::kRowTolerance * (d_hi_[i] + d_lo_[i]));
    n_flagged += drifted && !flagged[i];
    flagged[i] |= drifted;
  }
  int64_t slot = key_slot_[row];
  if (slot < 0) {
    slot = key_slot_[row] = n_key_cols_++;
    pending_key_[slot] = row;
    std::memcpy(pending_a_.col(slot), delta_a, sizeof(double) * static_cast<size_t>(n_q));
  } else {
    double *pending = pending_a_.col(slot);
    for (int64_t i = 0; i < n_q; ++i) pending[i] += delta_a[i];
  }
  ++n_key_updates_;
  if (n_flagged > 0) refresh_flagged();
  if (n_key_updates_ == lazy_limit_) fold();
}

// Paper Algorithm 3, entry V[row, col] += delta: only recorded.
void DynamicAttention::update_v(int64_t row, int64_t col, double delta) {
  check_index("i", row, shape_.n_kv);
  check_index("j", col, shape_.d_v);
  check_delta(delta);
  const double v_new = V_(row, col) + delta;
  if (!std::isfinite(v_new))
    fail(ATT_E_NONFINITE, "V[%lld][%lld] + delta is not finite", static_cast<long long>(row),
         static_cast<long long>(col));
  if (std::fabs(v_new) > ATT_MAX_VALUE)
    fail(ATT_E_RANGE, "|V[%lld][%lld] + delta| = %g exceeds ATT_MAX_VALUE",
         static_cast<long long>(row), static_cast<long long>(col), std::fabs(v_new));

  V_(row, col) = v_new;
  unsigned char &mark = pending_v_mark_[row + col * shape_.n_kv];
  if (!mark) {
    mark = 1;
    pending_v_row_[n_value_cells_] = row;
    pending_v_col_[n_value_cells_] = col;
    ++n_value_cells_;
  }
  ++n_value_updates_;
  if (n_value_updates_ == lazy_limit_) fold();
}

// Paper Algorithm 4 plus the pending key terms.
double DynamicAttention::query(int64_t row, int64_t col) const {
  check_index("i", row, shape_.n_q);
  check_index("j", col, shape_.d_v);
  double numerator = C0_(row, col);
  for (int64_t t = 0; t < n_key_cols_; ++t)
    numerator += pending_a_(row, t) * V0_(pending_key_[t], col);
  for (int64_t s = 0; s < n_value_cells_; ++s) {
    if (pending_v_col_[s] != col) continue;
    const int64_t r = pending_v_row_[s];
    numerator += store_->entry(row, r) * (V_(r, col) - V0_(r, col));
  }
  return numerator / (d_hi_[row] + d_lo_[row]);
}

// Paper Algorithm 5. Both kinds of pending terms go into one product:
//   C0 += [dA_1 .. dA_t | A[:, r_1] .. A[:, r_R]] * [V0[c_1, :]; ..; V0[c_t, :];
//                                                     dV[r_1, :]; ..; dV[r_R, :]]
// with dV = V - V0 on the R distinct pending value rows. Key terms multiply
// V0 and value terms use the current A, so the order DESIGN.md §2 requires
// holds inside one dgemm; V0 catches up afterwards.
void DynamicAttention::fold() {
  const int64_t n_q = shape_.n_q, d_v = shape_.d_v;
  int64_t n_rows = 0;
  for (int64_t s = 0; s < n_value_cells_; ++s) {
    const int64_t r = pending_v_row_[s], j = pending_v_col_[s];
    pending_v_mark_[r + j * shape_.n_kv] = 0;
    column_touched_[j] = 1;
    value_scale_[j] = std::fmax(value_scale_[j], std::fmax(std::fabs(V_(r, j)), std::fabs(V0_(r, j))));
    if (fold_slot_[r] < 0) {
      fold_slot_[r] = n_rows;
      fold_rows_[n_rows++] = r;
    }
  }
  const int64_t n_keys = n_key_cols_;
  const int64_t width = n_keys + n_rows;
  if (width > 0) {
    const int64_t ldr = fold_rhs_.ld();
    for (int64_t j = 0; j < d_v; ++j) {
      double *rhs = fold_rhs_.col(j);
      for (int64_t t = 0; t < n_keys; ++t) rhs[t] = V0_(pending_key_[t], j);
      for (int64_t q = 0; q < n_rows; ++q)
        rhs[n_keys + q] = V_(fold_rows_[q], j) - V0_(fold_rows_[q], j);
    }
    for (int64_t q = 0; q < n_rows; ++q) {
      double *column = pending_a_.col(n_keys + q);
      store_->copy_column(fold_rows_[q], column);
      for (int64_t i = 0; i < n_q; ++i) err_[i] += num::kFoldCharge * kU * column[i];
    }
    for (int64_t i = 0; i < n_q; ++i) err_[i] += num::kFoldCharge * kU * d_hi_[i];
    blas::gemm(blas::Op::N, blas::Op::N, n_q, d_v, width, 1.0, pending_a_.data(),
               pending_a_.ld(), fold_rhs_.data(), ldr, 1.0, C0_.data(), C0_.ld());
    for (int64_t q = 0; q < n_rows; ++q) {
      const int64_t r = fold_rows_[q];
      for (int64_t j = 0; j < d_v; ++j) V0_(r, j) = V_(r, j);
      fold_slot_[r] = -1;
    }
  }
  for (int64_t t = 0; t < n_keys; ++t) key_slot_[pending_key_[t]] = -1;
  n_key_cols_ = 0;
  n_key_updates_ = 0;
  n_value_cells_ = 0;
  n_value_updates_ = 0;

  rescale_value_columns();
  sweep();
  int64_t n_flagged = 0;
  for (int64_t i = 0; i < n_q; ++i) {
    const bool drifted = !(err_[i] <= num::kRowTolerance * (d_hi_[i] + d_lo_[i]));
    flagged_[i] = drifted;
    n_flagged += drifted;
  }
  if (n_flagged > 0) refresh_flagged();
}

// Cancellation inside V: after V[r, j] rises to a peak and falls back, C0's
// column j keeps an absolute error of about u times the peak. When a touched
// column's largest |V| has fallen more than 2^10 below the largest value that
// entered C0 since the column was computed, compute it again from A and V0
// (O(n_q n_kv), and only after such a fall).
void DynamicAttention::rescale_value_columns() {
  constexpr double kValueFall = 0x1p10;
  const int64_t n_kv = shape_.n_kv;
  for (int64_t j = 0; j < shape_.d_v; ++j) {
    if (!column_touched_[j]) continue;
    column_touched_[j] = 0;
    double largest = 0.0;
    const double *v = V0_.col(j);
    for (int64_t r = 0; r < n_kv; ++r) largest = std::fmax(largest, std::fabs(v[r]));
    if (value_scale_[j] > kValueFall * largest) {
      store_->multiply_rows(0, shape_.n_q, v, V0_.ld(), 1, C0_.col(j), C0_.ld());
      value_scale_[j] = largest;
    }
  }
}

}  // namespace att

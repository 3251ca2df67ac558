#include "attention.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "batch_plan.hpp"
#include "blas.hpp"
#include "dense_store.hpp"
#include "error.hpp"
#include "kernels.hpp"
#include "numerics.hpp"
#include "streamed_store.hpp"
#include "team_product.hpp"

namespace att {
namespace {

constexpr double kU = num::kUnitRoundoff;

// A pending value row with at most d_v / kSparseValueRow changed entries is
// folded entry by entry rather than as a whole row.
constexpr int64_t kSparseValueRow = 8;

// A value column whose largest |V| has fallen more than this factor below
// the scale that entered C0 has C0's column recomputed (rescale_value_columns).
constexpr double kValueFall = 0x1p10;

// a * b, or fail with ATT_E_SIZE when it overflows the addressable range.
int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r) || r > PTRDIFF_MAX / 16)
    fail(ATT_E_SIZE, "storage of %lld x %lld doubles overflows", static_cast<long long>(a),
         static_cast<long long>(b));
  return r;
}

void check_shape(const Shape &s, int64_t k, bool causal) {
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
  if (causal && s.n_q > s.n_kv)
    fail(ATT_E_SIZE, "causal masking needs n_q <= n_kv (n_q=%lld, n_kv=%lld)",
         static_cast<long long>(s.n_q), static_cast<long long>(s.n_kv));
  // Every buffer the structure allocates, so that none can overflow (the
  // kernel's entry count too; the dense store checks its own size).
  checked_mul(s.n_q, s.n_kv);
  checked_mul(s.n_q, std::max(s.d_k, s.d_v));
  checked_mul(s.n_kv, std::max(s.d_k, s.d_v));
  checked_mul(s.n_q, 2 * k);
  checked_mul(2 * k, s.d_v);
}

// Validates a caller's rows x cols view before anything is read from it.
void check_view(const char *name, const InputMatrix &m, int64_t rows, int64_t cols) {
  if (m.layout != ATT_ROW_MAJOR && m.layout != ATT_COL_MAJOR)
    fail(ATT_E_ENUM, "layout=%d is neither ATT_ROW_MAJOR nor ATT_COL_MAJOR",
         static_cast<int>(m.layout));
  const int64_t inner = m.layout == ATT_ROW_MAJOR ? cols : rows;
  const int64_t outer = m.layout == ATT_ROW_MAJOR ? rows : cols;
  if (m.ld < inner)
    fail(ATT_E_SIZE, "ld%s=%lld is below %lld", name, static_cast<long long>(m.ld),
         static_cast<long long>(inner));
  checked_mul(outer, m.ld);
}

// Copy a caller's rows x cols matrix into column-major storage, once
// check_entries has found every entry finite and within `limit` in
// magnitude.
void copy_input(const char *name, const InputMatrix &in, Matrix &m, double limit) {
  const ConstView view{in.data, m.rows(), m.cols(), in.ld, in.layout == ATT_ROW_MAJOR};
  check_entries(name, view, limit);
  for (int64_t j = 0; j < m.cols(); ++j)
    for (int64_t i = 0; i < m.rows(); ++i) m(i, j) = view(i, j);
}

void check_delta(double delta) {
  if (!std::isfinite(delta)) fail(ATT_E_NONFINITE, "delta=%g is not finite", delta);
}

void check_which(att_matrix which) {
  if (which != ATT_MATRIX_Q && which != ATT_MATRIX_K && which != ATT_MATRIX_V)
    fail(ATT_E_ENUM, "which=%d is not ATT_MATRIX_Q, _K or _V", static_cast<int>(which));
}

const char *matrix_name(att_matrix which) {
  return which == ATT_MATRIX_Q ? "Q" : which == ATT_MATRIX_K ? "K" : "V";
}

void check_value(const char *name, int64_t row, int64_t col, double v) {
  if (!std::isfinite(v))
    fail(ATT_E_NONFINITE, "new %s[%lld][%lld] is not finite", name, static_cast<long long>(row),
         static_cast<long long>(col));
  if (name[0] == 'V' && std::fabs(v) > ATT_MAX_VALUE)
    fail(ATT_E_RANGE, "|new %s[%lld][%lld]| = %g exceeds ATT_MAX_VALUE", name,
         static_cast<long long>(row), static_cast<long long>(col), std::fabs(v));
}

void check_logit_values(const double *logits, int64_t lo, int64_t hi, const char *what) {
  bool bad = false;
  if (hi > lo) kern::max_of(logits + lo, ATT_MAX_LOGIT, &bad, hi - lo);
  if (!bad) return;
  double worst = 0.0;
  bool finite = true;
  for (int64_t i = lo; i < hi; ++i) {
    finite &= std::isfinite(logits[i]);
    worst = std::fmax(worst, std::fabs(logits[i]));
  }
  if (!finite) fail(ATT_E_NONFINITE, "%s makes a logit non-finite", what);
  if (worst > ATT_MAX_LOGIT)
    fail(ATT_E_RANGE, "%s makes a logit of magnitude %g exceed ATT_MAX_LOGIT", what, worst);
}

// |x|_2 of n values spaced inc apart: a row of Q or K (column-major, inc =
// ld) or a contiguous key row (inc = 1), summed in order.
double norm2(const double *x, int64_t n, int64_t inc) {
  double sum = 0.0;
  for (int64_t t = 0; t < n; ++t) sum += x[t * inc] * x[t * inc];
  return std::sqrt(sum);
}

// The adaptive strategy's cost model. A pending term costs every query that
// reads it, and folding it costs a fixed price whatever the number of terms
// folded at once; the strategy folds when the reads since the last fold have
// cost as much as a fold (the balance rule of the TCP acknowledgement
// problem, which in that model never pays more than twice the best offline
// schedule; at a steady mix of q queries per update it folds every
// sqrt(2 F / q) updates, where the sum of both costs per update is
// smallest). Unit: one pending term read by a single-entry
// query, about 4 ns on the development machine; F in that unit:
//   - the pass over C0 that every fold's product makes, n_q d_v entries read and
//     written (about 0.2 ns each);
//   - the background sweep's share for a fold of one pass, n_q /
//     kSweepPasses rows of 2 n_kv (d_k + d_v) flops (about 0.03 ns each, the
//     speed of a row recomputation on one core);
//   - a few O(n_q) passes (error bounds, flags): about 2 ns per row.
// The figures are fixed, not timed at run time, so the fold schedule is a
// function of the sequence of calls alone.
int64_t adaptive_fold_threshold(const Shape &sh) {
  const double n_q = static_cast<double>(sh.n_q);
  const double c0_pass = 0.2 * n_q * static_cast<double>(sh.d_v);
  const double sweep = 0.03 * (n_q / num::kSweepPasses) * 2.0 * static_cast<double>(sh.n_kv) *
                       static_cast<double>(sh.d_k + sh.d_v);
  const double passes = 2.0 * n_q;
  const double units = (c0_pass + sweep + passes) / 4.0;
  return static_cast<int64_t>(std::min(units, 0x1p62)) + 1;
}

}  // namespace

DynamicAttention::DynamicAttention(Shape shape, double scale, int64_t lazy_limit, KeyMask mask,
                                   att_storage storage, att_strategy strategy)
    : shape_(shape), scale_(scale), lazy_limit_(lazy_limit), mask_(mask), strategy_(strategy) {
  check_shape(shape_, lazy_limit_, mask_.causal);
  const int64_t n_q = shape_.n_q, n_kv = shape_.n_kv, d_k = shape_.d_k, d_v = shape_.d_v;
  // At most min(k, n_kv) distinct key rows and as many value rows can be
  // pending.
  slots_ = std::min(lazy_limit_, n_kv);
  Q_ = Matrix(n_q, d_k);
  K_ = Matrix(n_kv, d_k);
  V_ = Matrix(n_kv, d_v);
  V0_ = RowMatrix(n_kv, d_v);
  if (storage == ATT_STORAGE_STREAMED) {
    store_ = std::make_unique<StreamedStore>(n_q, n_kv, d_k, mask_);
  } else {
    store_ = std::make_unique<DenseStore>(n_q, n_kv, d_k, mask_);
  }
  C0_ = Matrix(n_q, d_v);
  shift_ = Array<double>(n_q);
  d_hi_ = Array<double>(n_q);
  d_lo_ = Array<double>(n_q);
  err_ = Array<double>(n_q);
  query_norm_ = Array<double>(n_q);
  key_bound_ = Array<double>(n_kv);
  // Rows padded for the fold's product (kern::panel_rows); the padding stays 0.
  pending_a_ = Matrix(kern::panel_rows(n_q), 2 * slots_);
  pending_r_ = Matrix(2 * slots_, d_v);
  // The rows of free value slots are kept 0 (see take_value_slot).
  std::fill(pending_r_.data(), pending_r_.data() + pending_r_.size(), 0.0);
  pending_key_ = Array<int64_t>(slots_);
  key_slot_ = Array<int64_t>(n_kv);
  key_slot_.fill(-1);
  pending_value_ = Array<int64_t>(slots_);
  value_changes_ = Array<int64_t>(slots_);
  fold_columns_ = Array<const double *>(3 * slots_);
  fold_coefficients_ = Array<double>(slots_);
  changed_columns_ = Array<int64_t>(d_v);
  value_slot_ = Array<int64_t>(n_kv);
  value_slot_.fill(-1);
  value_scale_ = Array<double>(d_v);
  column_touched_ = Array<unsigned char>(d_v);
  column_touched_.fill(0);
  logits_ = Array<double>(n_q);
  old_logits_ = Array<double>(n_q);
  row_logits_ = Array<double>(n_kv);
  vec_ = Array<double>(std::max(d_k, d_v));
  old_key_ = Array<double>(d_k);
  ones_ = Array<double>(slots_);
  ones_.fill(1.0);
  flagged_ = Array<unsigned char>(n_q);
  flagged_.fill(0);
  fold_threshold_ = adaptive_fold_threshold(shape_);
}

// Everything about the caller's arguments that can be checked without
// reading an entry, so that no buffer is allocated for a call that must fail.
Shape DynamicAttention::checked_shape(Shape shape, const InputMatrix &Q, const InputMatrix &K,
                                      const InputMatrix &V, const Config &config) {
  check_shape(shape, config.resolve_lazy_limit(std::max(shape.n_q, shape.n_kv)), config.causal);
  check_view("q", Q, shape.n_q, shape.d_k);
  check_view("k", K, shape.n_kv, shape.d_k);
  check_view("v", V, shape.n_kv, shape.d_v);
  return shape;
}

// The order of a call's arguments is unspecified: the public constructor
// passes the checked shape here first, so that the values derived from it
// below (the lazy limit's power of n, the causal offset, the dense store's
// size) are computed from dimensions check_shape() accepted.
DynamicAttention::DynamicAttention(const Shape &checked, const Config &config)
    : DynamicAttention(checked, config.logit_scale,
                       config.resolve_lazy_limit(std::max(checked.n_q, checked.n_kv)),
                       KeyMask{config.causal, checked.n_kv - checked.n_q},
                       resolve_storage(checked, config),
                       static_cast<att_strategy>(config.strategy)) {}

att_storage DynamicAttention::resolve_storage(const Shape &shape, const Config &config) {
  if (config.storage != ATT_STORAGE_AUTO) return static_cast<att_storage>(config.storage);
  int64_t budget = config.memory_budget;
  if (budget == 0) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    // Unknown physical memory: no limit.
    budget = pages > 0 && page > 0
                 ? static_cast<int64_t>(static_cast<long double>(pages) * page / 4)
                 : INT64_MAX;
  }
  const long double dense = DenseStore::bytes_for(shape.n_q, shape.n_kv, shape.d_k);
  return dense > static_cast<long double>(budget) ? ATT_STORAGE_STREAMED : ATT_STORAGE_DENSE;
}

void DynamicAttention::compute_query_norms(int64_t i0, int64_t count) {
  for (int64_t i = i0; i < i0 + count; ++i)
    query_norm_[i] = norm2(Q_.data() + i, shape_.d_k, Q_.ld());
  // O(n_q), as cheap as the rows' recomputation that comes with a change of
  // Q: the largest is exact, not only a bound that a large row once raised.
  query_norm_max_ = 0.0;
  for (int64_t i = 0; i < shape_.n_q; ++i)
    query_norm_max_ = std::fmax(query_norm_max_, query_norm_[i]);
}

DynamicAttention::DynamicAttention(Shape shape, InputMatrix Q, InputMatrix K, InputMatrix V,
                                   const Config &config)
    : DynamicAttention(checked_shape(shape, Q, K, V, config), config) {
  const double huge = HUGE_VAL;
  copy_input("Q", Q, Q_, huge);
  copy_input("K", K, K_, huge);
  copy_input("V", V, V_, ATT_MAX_VALUE);
  for (int64_t j = 0; j < shape_.d_v; ++j)
    for (int64_t r = 0; r < shape_.n_kv; ++r) V0_(r, j) = V_(r, j);
  compute_query_norms(0, shape_.n_q);
  bound_keys();
  for (int64_t j = 0; j < shape_.d_v; ++j) {
    double largest = 0.0;
    for (int64_t r = 0; r < shape_.n_kv; ++r) largest = std::fmax(largest, std::fabs(V_(r, j)));
    value_scale_[j] = largest;
  }
  // Paper Algorithm 1 (Init): every row from scratch.
  const int64_t bad = compute_rows(0, shape_.n_q, ATT_MAX_LOGIT);
  if (bad >= 0)
    fail(ATT_E_RANGE, "a logit of row %lld is not finite or exceeds ATT_MAX_LOGIT",
         static_cast<long long>(bad));
}

DynamicAttention::DynamicAttention(const DynamicAttention &o)
    : shape_(o.shape_),
      scale_(o.scale_),
      lazy_limit_(o.lazy_limit_),
      mask_(o.mask_),
      strategy_(o.strategy_),
      store_(o.store_->clone()),
      Q_(o.Q_.copy()),
      K_(o.K_.copy()),
      V_(o.V_.copy()),
      V0_(o.V0_.copy()),
      C0_(o.C0_.copy()),
      shift_(o.shift_.copy()),
      d_hi_(o.d_hi_.copy()),
      d_lo_(o.d_lo_.copy()),
      err_(o.err_.copy()),
      query_norm_(o.query_norm_.copy()),
      query_norm_max_(o.query_norm_max_),
      key_bound_(o.key_bound_.copy()),
      slots_(o.slots_),
      pending_a_(o.pending_a_.copy()),
      pending_r_(o.pending_r_.copy()),
      pending_key_(o.pending_key_.copy()),
      key_slot_(o.key_slot_.copy()),
      n_key_cols_(o.n_key_cols_),
      n_key_updates_(o.n_key_updates_),
      pending_value_(o.pending_value_.copy()),
      value_slot_(o.value_slot_.copy()),
      value_changes_(o.value_changes_.size()),
      fold_columns_(o.fold_columns_.size()),
      fold_coefficients_(o.fold_coefficients_.size()),
      changed_columns_(o.changed_columns_.size()),
      n_value_rows_(o.n_value_rows_),
      n_value_updates_(o.n_value_updates_),
      query_work_(o.query_work_.load(std::memory_order_relaxed)),
      fold_threshold_(o.fold_threshold_),
      value_scale_(o.value_scale_.copy()),
      column_touched_(o.column_touched_.copy()),
      logits_(o.logits_.size()),
      old_logits_(o.old_logits_.size()),
      row_logits_(o.row_logits_.size()),
      vec_(o.vec_.size()),
      old_key_(o.old_key_.size()),
      ones_(o.ones_.copy()),
      flagged_(o.flagged_.copy()),
      sweep_credit_(o.sweep_credit_),
      sweep_next_(o.sweep_next_),
      folds_(o.folds_),
      rows_recomputed_(o.rows_recomputed_),
      columns_recomputed_(o.columns_recomputed_) {
  std::copy(o.updates_, o.updates_ + 3, updates_);
}

// Rows [i0, i0 + count) from Q K^T: shifts, A, D, C0 = A V0, and no pending
// key contribution left for them. The error bound restarts at a fresh row's.
// Returns a row with a logit that is not finite or exceeds `limit`
// in magnitude (its rows are then unusable), or -1.
int64_t DynamicAttention::compute_rows(int64_t i0, int64_t count, double limit) {
  const int64_t bad = store_->compute_rows_and_multiply(
      i0, count, Q_, K_, scale_, limit, shift_.data() + i0, d_hi_.data() + i0, err_.data() + i0,
      v0_view(), C0_.data() + i0, C0_.ld());
  if (bad >= 0) return bad;
  reset_rows(i0, count);
  return -1;
}

// Recompute rows that updates have kept valid (the sweep, flagged rows);
// never fails. A matrix product may round a logit that an update checked
// against ATT_MAX_LOGIT above it, hence the wider limit. Should even that
// be exceeded, or a partial sum overflow (only possible when the dot
// product cancels terms near the overflow threshold), the rows are
// recomputed one by one from logits summed in long double.
void DynamicAttention::refresh_rows(int64_t i0, int64_t count) {
  if (compute_rows(i0, count, num::kRecomputedLogitLimit) < 0) return;
  double *logits = row_logits_.data();
  for (int64_t i = i0; i < i0 + count; ++i) {
    exact_logits(i, logits);
    store_->commit_query_row(i, logits, &shift_[i], &d_hi_[i], &err_[i], v0_view(), C0_.data() + i,
                             C0_.ld());
    reset_rows(i, 1);
  }
}

// out[c] = scale * <Q[row, :], K[c, :]> for the keys the row sees, summed in
// long double (no product or sum of doubles overflows there) and clamped to
// +-kRecomputedLogitLimit.
void DynamicAttention::exact_logits(int64_t row, double *out) const {
  const long double limit = num::kRecomputedLogitLimit;
  const int64_t end = mask_.key_end(row, shape_.n_kv);
  for (int64_t c = 0; c < end; ++c) {
    long double dot = 0.0L;
    for (int64_t t = 0; t < shape_.d_k; ++t) dot += static_cast<long double>(Q_(row, t)) * K_(c, t);
    out[c] = static_cast<double>(std::clamp(scale_ * dot, -limit, limit));
  }
}

// Rows whose A, D (in d_hi) and C0 = A V0 were just recomputed: restore (I1)
// for them. Pending value terms read A from the store, so they follow the
// rows' new shifts by themselves.
void DynamicAttention::reset_rows(int64_t i0, int64_t count) {
  std::fill(d_lo_.data() + i0, d_lo_.data() + i0 + count, 0.0);
  for (int64_t x = pending_begin(); x < slots_; ++x)
    std::fill(pending_a_.col(x) + i0, pending_a_.col(x) + i0 + count, 0.0);
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
    add_count(rows_recomputed_, end - i);
    i = end;
  }
}

// Runs after every fold that had terms, with the number of passes it made
// over C0. Each pass earns the sweep credit for n_q / kSweepPasses rows, so
// that every row is recomputed before the charges of the passes since its
// last recomputation reach the row tolerance (a pass rounds C0, whatever the
// number of terms it adds); everything else a row accumulates (the
// updates' roundings, the drift of kept entries) is charged per update and
// flags the row when it matters. Rows are recomputed once the credit
// reaches kMinSweepRows, since a row block's matrix products read all of K
// and V0 whatever the block's height.
// The credit is part of the state, so clones and loaded states sweep exactly
// as the original would.
void DynamicAttention::sweep(int64_t passes) {
  constexpr int64_t kMinSweepRows = 128;
  const Shape &sh = shape_;
  const double earned =
      static_cast<double>(sh.n_q) * static_cast<double>(passes) / num::kSweepPasses;
  // Never more than one pass over the rows is owed.
  sweep_credit_ = std::min(sweep_credit_ + earned, static_cast<double>(sh.n_q));
  if (sweep_credit_ < static_cast<double>(std::min(kMinSweepRows, sh.n_q))) return;
  const int64_t count = std::min(static_cast<int64_t>(sweep_credit_), sh.n_q - sweep_next_);
  refresh_rows(sweep_next_, count);
  sweep_credit_ -= static_cast<double>(count);
  add_count(rows_recomputed_, count);
  sweep_next_ = (sweep_next_ + count) % sh.n_q;
}

void DynamicAttention::check_key_logits(int64_t row, const double *logits, const char *what) const {
  check_logit_values(logits, mask_.first_row(row), shape_.n_q, what);
}

// Row `row` of Q has changed and `logits` are its validated logits: restore
// (I1) and (I2) for that row only.
void DynamicAttention::apply_query_row(int64_t row, const double *logits) {
  store_->commit_query_row(row, logits, &shift_[row], &d_hi_[row], &err_[row], v0_view(),
                           C0_.data() + row, C0_.ld());
  compute_query_norms(row, 1);
  reset_rows(row, 1);
}

// Every key's bound.
void DynamicAttention::bound_keys() {
  for (int64_t r = 0; r < shape_.n_kv; ++r) bound_key(r);
}

// key_bound_[row] = |scale| |K[row, :]|_2.
void DynamicAttention::bound_key(int64_t row) {
  key_bound_[row] = std::fabs(scale_) * norm2(K_.data() + row, shape_.d_k, K_.ld());
}

// Key row `row` has changed by one entry, whose scaled change was
// scaled_delta: its bound rises by |scaled_delta| (O(1)) while that still
// vouches for its logits, and is computed afresh from the row otherwise.
void DynamicAttention::raise_key_bound(int64_t row, double scaled_delta) {
  const double bound = key_bound_[row] + std::fabs(scaled_delta);
  if (key_certain(bound)) {
    key_bound_[row] = bound;
  } else {
    bound_key(row);
  }
}

// Whether every logit of a key whose |scale| |k|_2 is at most `bound` is
// certainly within num::kCertainLogit (Cauchy-Schwarz: |scale <q, k>| <=
// |q|_2 |scale| |k|_2). False for a bound that overflowed (inf, NaN).
bool DynamicAttention::key_certain(double bound) const {
  return query_norm_max_ * bound <= num::kCertainLogit;
}

// Checks the logits of key row `row` once it holds the d_k values k,
// computed afresh: for a store that keeps A (its key updates form no
// logits) when the norms cannot vouch for them.
void DynamicAttention::check_new_key(int64_t row, const double *k, const char *what) {
  double *logits = old_logits_.data();  // scratch: the key update is not applied yet
  recompute_key_logits(row, k, logits);
  check_key_logits(row, logits, what);
}

// out[first_row : n_q) = scale * Q K[row, :]^T for the key row k (d_k
// contiguous values), with the matrix-vector product every recomputation of
// a key column makes, so that the same key gives the same bits.
void DynamicAttention::recompute_key_logits(int64_t row, const double *k, double *out) const {
  const int64_t lo = mask_.first_row(row);
  blas::gemv(blas::Op::N, shape_.n_q - lo, shape_.d_k, scale_, Q_.data() + lo, Q_.ld(), k, 1, 0.0,
             out + lo, 1);
}

// The pending key term of key row `row`, taking a slot if it has none:
// *pending says whether it had one (its column then accumulates).
double *DynamicAttention::key_term(int64_t row, bool *pending) {
  int64_t slot = key_slot_[row];
  *pending = slot >= 0;
  if (!*pending) {
    slot = key_slot_[row] = n_key_cols_++;
    pending_key_[slot] = row;
    fill_key_rhs(slot);
  }
  double *delta = pending_a_.col(key_column(slot));
  if (!*pending) {
    // The rows that do not see the key, stored as the rest of the term is.
    const int64_t hidden = mask_.first_row(row);
    if (stream_terms()) {
      kern::stream_zero(delta, hidden);
    } else {
      std::fill(delta, delta + hidden, 0.0);
    }
  }
  return delta;
}

// Paper Algorithm 2 after validation, in a store that keeps A: the kept
// column of key `row` is scaled by exp(s * q) (q = Q[:, j] for a change of
// K[row, j] by s / scale; for a change of several entries, the sum of those
// terms with s = 1) and its change dA is recorded as a pending key term, in
// one pass over the rows that see the key; `drift` is the charge per unit
// of (1 + |s q_i|) a_new for the roundings that stay in the entries
// (kern::KeyScale). Entries that had underflowed to 0 are computed afresh
// from the new key (revive_entries).
void DynamicAttention::apply_kept_column(int64_t row, double s, const double *q, double drift) {
  const int64_t lo = mask_.first_row(row);
  bool pending = false;
  double *delta = key_term(row, &pending);
  double *a = store_->kept_column(row);
  const kern::KeyScale change{a + lo, s, q + lo, drift, books(lo, delta, pending)};
  const kern::KeyScaleResult done = kern::key_scale(change, shape_.n_q - lo);
  int64_t n_flagged = done.flagged;
  if (done.zeros > 0) n_flagged += revive_entries(row, a, delta);
  finish_key_update(n_flagged);
}

// What a key kernel keeps in step from row i on: D, the error bounds, the
// flags and the key's pending term `delta` (a whole column; added to when
// `accumulate`).
kern::KeyBooks DynamicAttention::books(int64_t i, double *delta, bool accumulate) {
  return kern::KeyBooks{d_hi_.data() + i,        d_lo_.data() + i,   err_.data() + i,
                        flagged_.data() + i,     delta + i,          accumulate,
                        num::kUpdateCharge * kU, num::kRowTolerance, stream_terms()};
}

// Whether a fresh pending key term goes out with non-temporal stores: when
// a fold of every slot's key would run on more than one thread
// (kern::KeyBooks).
bool DynamicAttention::stream_terms() const {
  return team_product_threads(shape_.n_q, shape_.d_v, slots_) > 1;
}

// The entries of key column `row` that are 0 in the kept column a (they had
// underflowed below the exponent floor, and scaling keeps them there),
// computed afresh from the logits of the new key row: key_column replaces
// each kept 0 by its new entry and records the change, as it does for a
// column computed afresh (replace_kept_column). Returns the rows it newly
// flagged.
int64_t DynamicAttention::revive_entries(int64_t row, double *a, double *delta) {
  int64_t n_flagged = 0;
  for (int64_t i = mask_.first_row(row); i < shape_.n_q; ++i) {
    if (a[i] != 0.0) continue;
    const double logit =
        scale_ * kern::panel_dot(Q_.data() + i, Q_.ld(), K_.data() + row, K_.ld(), shape_.d_k);
    if (!(logit - shift_[i] >= num::kExpFloor)) continue;  // still below the floor
    const kern::KeyColumn change{nullptr, &logit, &shift_[i], nullptr, 0.0, books(i, delta, true),
                                 &a[i]};
    n_flagged += kern::key_column(change, 1);
  }
  return n_flagged;
}

// The column of key `row` in a store that keeps A, computed afresh from the
// logits of the new key row k (d_k contiguous values, validated): every kept
// entry is replaced by exp(logit - shift), and its change recorded as a
// pending key term, as a recomputed column's is. For the row changes whose
// increments could round too much to scale the column by them
// (apply_key_row).
void DynamicAttention::replace_kept_column(int64_t row, const double *k) {
  const int64_t lo = mask_.first_row(row);
  double *logits = old_logits_.data();  // scratch in a store that keeps A
  recompute_key_logits(row, k, logits);
  bool pending = false;
  double *delta = key_term(row, &pending);
  const kern::KeyColumn change{nullptr,
                               logits + lo,
                               shift_.data() + lo,
                               nullptr,
                               0.0,
                               books(lo, delta, pending),
                               store_->kept_column(row) + lo};
  finish_key_update(kern::key_column(change, shape_.n_q - lo));
}

// Paper Algorithm 2 after validation, in a store that keeps no A: the
// column of key `row` is computed from its old logits, which
// recompute_key_logits left in old_logits_, and its new ones, `logits`;
// its change dA is recorded as a pending key term, in one pass over the
// rows that see the key. old_key_ holds the old key row.
void DynamicAttention::apply_recomputed_column(int64_t row, const double *logits) {
  const int64_t lo = mask_.first_row(row);
  // The recomputed a_old may differ from the one D and C0 hold by the
  // rounding of the logits' dot product.
  const double recompute = store_->recompute_error_factor() * kU * std::fabs(scale_) *
                           norm2(old_key_.data(), shape_.d_k, 1);
  bool pending = false;
  double *delta = key_term(row, &pending);
  const kern::KeyColumn change{old_logits_.data() + lo, logits + lo, shift_.data() + lo,
                               query_norm_.data() + lo, recompute,   books(lo, delta, pending)};
  finish_key_update(kern::key_column(change, shape_.n_q - lo));
}

void DynamicAttention::finish_key_update(int64_t n_flagged) {
  ++n_key_updates_;
  if (n_flagged > 0) refresh_flagged();
  fold_if_due();
}

// old_key_ = K[row, :] before a change, and old_logits_ the logits the
// rows' D and C0 were built with, for a store that keeps no A.
void DynamicAttention::remember_old_key(int64_t row) {
  for (int64_t t = 0; t < shape_.d_k; ++t) old_key_[t] = K_(row, t);
  recompute_key_logits(row, old_key_.data(), old_logits_.data());
}

// K[row, col] becomes k_new (finite). The logits move by scale times the
// change of the stored entry, the rounded difference of the new and old
// value (relative error at most u), so that A stays the kernel of the K the
// handle holds however K[row][col] + delta rounded.
void DynamicAttention::key_entry(int64_t row, int64_t col, double k_new) {
  const double scaled_delta = check_key_entry(row, col, k_new);
  add_count(updates_[ATT_MATRIX_K]);
  apply_key_entry(row, col, k_new, scaled_delta);
}

// Validates key_entry's change and returns its scaled delta. A store that
// keeps no A forms the column's logits here: the old ones (remember_old_key)
// and the new ones, in logits_, for apply_key_entry. Overwrites vec_.
double DynamicAttention::check_key_entry(int64_t row, int64_t col, double k_new) {
  const double scaled_delta = scale_ * (k_new - K_(row, col));
  if (!std::isfinite(scaled_delta))
    fail(ATT_E_NONFINITE, "K[%lld][%lld]: the scaled change is not finite",
         static_cast<long long>(row), static_cast<long long>(col));
  // A key row that becomes pending copies its row of V0 (fill_key_rhs), most
  // likely from memory: asked for now, it arrives while the column is
  // computed.
  if (key_slot_[row] < 0) {
    const double *v0 = V0_.row(row);
    for (int64_t j = 0; j < shape_.d_v; j += 8) __builtin_prefetch(v0 + j);
  }
  char what[64];
  auto describe = [&] {
    std::snprintf(what, sizeof what, "changing K[%lld][%lld]", static_cast<long long>(row),
                  static_cast<long long>(col));
    return what;
  };
  if (keeps_kernel()) {
    if (!key_certain(key_bound_[row] + std::fabs(scaled_delta)))
      check_new_key(row, row_with(K_, row, col, k_new), describe());
    return scaled_delta;
  }
  remember_old_key(row);
  const int64_t lo = mask_.first_row(row);
  double *logits = logits_.data();
  const double *k = row_with(K_, row, col, k_new);
  if (change_cancels(old_key_.data(), k)) {
    recompute_key_logits(row, k, logits);
    check_key_logits(row, logits, describe());
  } else if (kern::axpy(old_logits_.data() + lo, scaled_delta, Q_.col(col) + lo, logits + lo,
                        ATT_MAX_LOGIT, shape_.n_q - lo)) {
    check_key_logits(row, logits, describe());  // fails, with the details
  }
  return scaled_delta;
}

// The change check_key_entry validated, applied; never fails.
void DynamicAttention::apply_key_entry(int64_t row, int64_t col, double k_new,
                                       double scaled_delta) {
  K_(row, col) = k_new;
  raise_key_bound(row, scaled_delta);
  if (keeps_kernel()) {
    apply_kept_column(row, scaled_delta, Q_.col(col), num::kDriftCharge * kU);
  } else {
    apply_recomputed_column(row, logits_.data());
  }
}

// vec_ = row `row` of m (contiguous) with its entry `col` replaced by value.
const double *DynamicAttention::row_with(const Matrix &m, int64_t row, int64_t col, double value) {
  double *v = vec_.data();
  for (int64_t t = 0; t < m.cols(); ++t) v[t] = m(row, t);
  v[col] = value;
  return v;
}

// The entry which[row, col] + delta, validated as set_entry validates a new
// value (indices, delta, and the sum).
double DynamicAttention::entry_plus(att_matrix which, int64_t row, int64_t col,
                                    double delta) const {
  const Matrix &m = input(which);
  check_index("i", row, m.rows());
  check_index("j", col, m.cols());
  check_delta(delta);
  const double value = m(row, col) + delta;
  check_value(matrix_name(which), row, col, value);
  return value;
}

void DynamicAttention::update_k(int64_t row, int64_t col, double delta) {
  key_entry(row, col, entry_plus(ATT_MATRIX_K, row, col, delta));
}

// A value change is recorded as a pending value term of its row, counting
// towards the lazy limit, in three steps: take_value_slot, then
// change_value_entry for each changed entry (or, for a whole new row in V,
// fill_value_rhs), then finish_value_change once. O(1) per entry: the term's
// kernel column is read from the store when a query or the fold needs it
// (I3). Its row of R, V - V0, is 0 until then (the fold leaves the rows of
// free value slots 0, where V = V0), so a changed entry only writes its own,
// and a changed row the whole row.

// The pending value slot of value row `row`, taken if it has none.
int64_t DynamicAttention::take_value_slot(int64_t row) {
  int64_t slot = value_slot_[row];
  if (slot < 0) {
    slot = value_slot_[row] = n_value_rows_++;
    pending_value_[slot] = row;
  }
  return slot;
}

// V[row, col] becomes x (validated), recorded in value slot `slot` (row's).
// Returns whether the change leaves the column far below its scale
// (column_falls(), asked before V changes).
bool DynamicAttention::change_value_entry(int64_t slot, int64_t row, int64_t col, double x) {
  const bool fell = column_falls(row, col, x);
  V_(row, col) = x;
  set_value_change(slot, col);
  return fell;
}

// A value row's change is recorded: it counts towards the lazy limit, and
// folds at once when it left a column far below its scale (`fell`).
void DynamicAttention::finish_value_change(bool fell) {
  ++n_value_updates_;
  if (fell) {
    fold();
  } else {
    fold_if_due();
  }
}

// Cancellation inside V between folds: C0's column j, and the pending terms
// that cancel its entries, carry rounding of about u times value_scale_[j],
// which the fold's rescale_value_columns() removes once the column has
// fallen more than kValueFall below that scale. Queries made before that
// fold would carry it relative to a column that is now much smaller, so the
// change that leaves no entry of the column within kValueFall of the scale
// folds at once. Every change keeps such an entry otherwise (a fold leaves
// one, or a scale of 0), so only a change that takes the entry V[row, j]
// itself from there to below can be that change, and only then is the
// column scanned. Asked before V[row, j] becomes `value`.
bool DynamicAttention::column_falls(int64_t row, int64_t j, double value) const {
  const double floor = value_scale_[j] / kValueFall;
  if (!(std::fabs(value) < floor) || !(std::fabs(V_(row, j)) >= floor)) return false;
  const double *v = V_.col(j);
  for (int64_t c = 0; c < shape_.n_kv; ++c)
    if (c != row && std::fabs(v[c]) >= floor) return false;
  return true;
}

// column_falls() for a whole new value row v (d_v values).
bool DynamicAttention::value_row_falls(int64_t row, const double *v) const {
  for (int64_t j = 0; j < shape_.d_v; ++j)
    if (column_falls(row, j, v[j])) return true;
  return false;
}

void DynamicAttention::fill_key_rhs(int64_t t) {
  const int64_t x = key_column(t);
  const double *v0 = V0_.row(pending_key_[t]);
  for (int64_t j = 0; j < shape_.d_v; ++j) pending_r_(x, j) = v0[j];
}

void DynamicAttention::fill_value_rhs(int64_t s) {
  for (int64_t j = 0; j < shape_.d_v; ++j) set_value_change(s, j);
}

// Entry j of value slot s's row of R: V - V0 of its row, with the column
// marked for the fold when that is not 0.
void DynamicAttention::set_value_change(int64_t s, int64_t j) {
  const int64_t row = pending_value_[s];
  const double change = V_(row, j) - V0_(row, j);
  pending_r_(value_column(s), j) = change;
  if (change != 0.0) column_touched_[j] = 1;
}

bool DynamicAttention::fold_due() const {
  if (n_key_updates_ >= lazy_limit_ || n_value_updates_ >= lazy_limit_) return true;
  switch (strategy_) {
    case ATT_STRATEGY_EAGER: return n_key_updates_ + n_value_updates_ > 0;
    case ATT_STRATEGY_ADAPTIVE:
      return query_work_.load(std::memory_order_relaxed) >= fold_threshold_;
    case ATT_STRATEGY_LAZY: break;
  }
  return false;
}

void DynamicAttention::fold_if_due() {
  if (fold_due()) fold();
}

void DynamicAttention::charge_queries(int64_t units) const {
  if (strategy_ != ATT_STRATEGY_ADAPTIVE || units == 0) return;
  // A plain load and store rather than a read-modify-write: cheaper, and a
  // count lost to a concurrent query only postpones a fold.
  const int64_t work = query_work_.load(std::memory_order_relaxed);
  if (work < fold_threshold_) query_work_.store(work + units, std::memory_order_relaxed);
}

// Paper Algorithm 3, entry V[row, col] += delta: only recorded.
void DynamicAttention::update_v(int64_t row, int64_t col, double delta) {
  set_entry(ATT_MATRIX_V, row, col, entry_plus(ATT_MATRIX_V, row, col, delta));
}

// Q[row, col] += delta: row `row` of the logits is recomputed from the new
// query vector (a d_k-wide dot product with every visible key), then A, D and
// C0 of that row (see the invariant in attention.hpp).
void DynamicAttention::update_q(int64_t row, int64_t col, double delta) {
  set_entry(ATT_MATRIX_Q, row, col, entry_plus(ATT_MATRIX_Q, row, col, delta));
}

void DynamicAttention::set_entry(att_matrix which, int64_t row, int64_t col, double value) {
  check_which(which);
  const Matrix &m = input(which);
  check_index("i", row, m.rows());
  check_index("j", col, m.cols());
  check_value(matrix_name(which), row, col, value);
  if (which == ATT_MATRIX_K) {
    key_entry(row, col, value);
  } else if (which == ATT_MATRIX_V) {
    add_count(updates_[ATT_MATRIX_V]);
    finish_value_change(change_value_entry(take_value_slot(row), row, col, value));
  } else {
    propose_row(ATT_MATRIX_Q, row, row_with(Q_, row, col, value), row_logits_.data(), true);
    Q_(row, col) = value;
    add_count(updates_[ATT_MATRIX_Q]);
    apply_query_row(row, row_logits_.data());
  }
}

void DynamicAttention::set_row(att_matrix which, int64_t row, const double *values, int64_t inc) {
  check_which(which);
  Matrix &m = which == ATT_MATRIX_Q ? Q_ : which == ATT_MATRIX_K ? K_ : V_;
  check_index("i", row, m.rows());
  if (inc < 1) fail(ATT_E_SIZE, "inc=%lld must be at least 1", static_cast<long long>(inc));
  const int64_t w = m.cols();
  checked_product(w - 1, inc);  // the row's extent, so that t * inc cannot overflow
  double *v = vec_.data();
  for (int64_t t = 0; t < w; ++t) {
    v[t] = values[t * inc];
    check_value(matrix_name(which), row, t, v[t]);
  }
  if (which == ATT_MATRIX_Q) {
    propose_row(ATT_MATRIX_Q, row, v, row_logits_.data(), true);
  } else if (which == ATT_MATRIX_K) {
    propose_row(ATT_MATRIX_K, row, v, logits_.data(), true);
  }
  // Validated.
  const bool fell = which == ATT_MATRIX_V && value_row_falls(row, v);
  if (which == ATT_MATRIX_K) {
    apply_key_row(row, v, logits_.data());
  } else {
    for (int64_t t = 0; t < w; ++t) m(row, t) = v[t];
  }
  add_count(updates_[which]);
  if (which == ATT_MATRIX_Q) {
    apply_query_row(row, row_logits_.data());
  } else if (which == ATT_MATRIX_V) {
    fill_value_rhs(take_value_slot(row));
    finish_value_change(fell);
  }
}

// Key row `row` becomes v, with propose_row's `change` for it: the
// increments of the column's logits in a store that keeps A, which scale
// its column unless fresh_key_logits (the column is then computed afresh
// from v), the new logits in one that does not. propose_row for this row
// must be the last call that used old_key_ and old_logits_, where a store
// that keeps no A finds the old key and its logits.
void DynamicAttention::apply_key_row(int64_t row, const double *v, const double *change) {
  const bool kept = keeps_kernel();
  double increments = 0.0;
  const bool fresh = kept && fresh_key_logits(row, v, &increments);
  for (int64_t t = 0; t < shape_.d_k; ++t) K_(row, t) = v[t];
  bound_key(row);
  if (kept) {
    if (fresh) {
      replace_kept_column(row, v);
    } else {
      apply_kept_column(row, 1.0, change, std::fmax(num::kDriftCharge * kU, increments));
    }
  } else {
    apply_recomputed_column(row, change);
  }
}

// A bound on the absolute error of the increments propose_row forms when
// key row `row` becomes v in a store that keeps A: each changed entry's
// term scale (v_c - k_c) q_ic rounds three times and their sum once per
// term after the first, so for m changed entries the error is at most
// (m + 2) u (1 + small) sum_c |scale (v_c - k_c) q_ic|, which is at most
// (m + 3) u |scale| sum_c |v_c - k_c| max_i |q_i|_2 (NaN or infinite when
// it overflows). 0 for a single changed entry, whose roundings the drift
// charge covers. `changed`: changed_entries(row, v).
double DynamicAttention::increment_error(int64_t row, const double *v, int64_t changed) const {
  if (changed < 2) return 0.0;
  double change = 0.0;
  for (int64_t t = 0; t < shape_.d_k; ++t) change += std::fabs(v[t] - K_(row, t));
  return static_cast<double>(changed + 3) * kU * std::fabs(scale_) * change * query_norm_max_ *
         (1.0 + 0x1p-20);
}

// Whether key row `row` becoming v takes its new logits from v, with one
// matrix-vector product, rather than from the increments of the changed
// entries, an axpy each: when more than a third of the entries change, as
// the product then costs less (each axpy reads a column of Q and reads and
// writes the logits), and in a store that keeps A when the increments could
// round by more than kIncrementErrorLimit (increment_error()). A store that
// keeps no A also takes them from v when the change cancels
// (change_cancels(), propose_row). `increments`, when not null and the
// logits come from increments, receives increment_error().
bool DynamicAttention::fresh_key_logits(int64_t row, const double *v, double *increments) const {
  const int64_t changed = changed_entries(row, v);
  if (3 * changed > shape_.d_k) return true;
  if (!keeps_kernel()) return false;
  const double error = increment_error(row, v, changed);
  if (increments != nullptr) *increments = error;
  return !(error <= num::kIncrementErrorLimit);
}

// How many of key row `row`'s entries differ from v's.
int64_t DynamicAttention::changed_entries(int64_t row, const double *v) const {
  int64_t changed = 0;
  for (int64_t t = 0; t < shape_.d_k; ++t) changed += v[t] != K_(row, t) ? 1 : 0;
  return changed;
}

// Whether the logits of a key that changes from k_old to k_new (d_k values
// each) are better computed afresh than as the old logits plus increments,
// in a store that keeps no A: the old logits and the increments round
// relative to the old key and to the change, which can be far larger than
// the new key when they cancel, while the next update of the key charges
// only the rounding of logits recomputed from the new key.
bool DynamicAttention::change_cancels(const double *k_old, const double *k_new) const {
  double old_norm = 0.0, new_norm = 0.0, change = 0.0;
  for (int64_t t = 0; t < shape_.d_k; ++t) {
    old_norm += std::fabs(k_old[t]);
    new_norm += std::fabs(k_new[t]);
    change += std::fabs(k_new[t] - k_old[t]);
  }
  return !(old_norm + change <= 4.0 * new_norm);
}

// What changing row `row` of Q or K (which) to v does to the logits, into
// out: for Q, its new logits out[0 : key_end(row)) from a matrix-vector
// product with K; for K, out[first_row : n_q) takes the sum of
// scale * (v - K[row, :])[c] * Q[:, c] over the changed c (the same axpy
// for each), starting from 0 in a store that keeps A (the increments that
// scale its column; none when fresh_key_logits()) and from the column's
// recomputed logits in one that does not (its new logits; computed from v
// instead when fresh_key_logits() or the change cancels, change_cancels()),
// which leaves the old key and its logits in old_key_ and old_logits_ for
// apply_key_row. Checked (the new logits against ATT_MAX_LOGIT) when
// `check`; otherwise Q's and a recomputed column's logits are clamped to
// +-kRecomputedLogitLimit (batch(): a recomputation of what was already
// checked).
void DynamicAttention::propose_row(att_matrix which, int64_t row, const double *v, double *out,
                                   bool check) {
  char what[64];
  if (which == ATT_MATRIX_Q) {
    const int64_t end = mask_.key_end(row, shape_.n_kv);
    blas::gemv(blas::Op::N, end, shape_.d_k, scale_, K_.data(), K_.ld(), v, 1, 0.0, out, 1);
    std::snprintf(what, sizeof what, "the new Q[%lld, :]", static_cast<long long>(row));
    if (check)
      check_logit_values(out, 0, end, what);
    else
      clamp_logits(out, 0, end);
    return;
  }
  const int64_t lo = mask_.first_row(row), n = shape_.n_q - lo;
  const bool kept = keeps_kernel();
  bool fresh = false;
  if (kept) {
    // Without increments apply_key_row computes the column afresh (the
    // same test).
    fresh = fresh_key_logits(row, v);
    if (!fresh) std::fill(out + lo, out + shape_.n_q, 0.0);
  } else {
    remember_old_key(row);  // v may be vec_, never old_key_
    fresh = fresh_key_logits(row, v) || change_cancels(old_key_.data(), v);
    if (fresh) {
      recompute_key_logits(row, v, out);
    } else {
      std::copy(old_logits_.data() + lo, old_logits_.data() + shape_.n_q, out + lo);
    }
  }
  for (int64_t c = 0; c < shape_.d_k && !fresh; ++c) {
    if (v[c] == K_(row, c)) continue;
    const double scaled = scale_ * (v[c] - K_(row, c));
    if (!std::isfinite(scaled))
      fail(ATT_E_NONFINITE, "K[%lld][%lld]: the scaled change is not finite",
           static_cast<long long>(row), static_cast<long long>(c));
    // Checked as a whole below.
    kern::axpy(out + lo, scaled, Q_.col(c) + lo, out + lo, HUGE_VAL, n);
  }
  std::snprintf(what, sizeof what, "the change of K[%lld, :]", static_cast<long long>(row));
  if (kept) {
    if (!check) return;
    if (!key_certain(std::fabs(scale_) * norm2(v, shape_.d_k, 1))) check_new_key(row, v, what);
  } else if (check) {
    check_key_logits(row, out, what);
  } else {
    clamp_logits(out, lo, shape_.n_q);
  }
}

void DynamicAttention::clamp_logits(double *logits, int64_t lo, int64_t hi) {
  const double limit = num::kRecomputedLogitLimit;
  for (int64_t r = lo; r < hi; ++r) logits[r] = std::clamp(logits[r], -limit, limit);
}

// Whether the norms vouch for every new logit of row `row` of Q or K
// (which) becoming v, as a single call's validation (propose_row with
// `check`) would find them: |logit| <= |q_i|_2 |scale| |k_c|_2 <=
// num::kCertainLogit. For Q, `key_bound_max` is the largest key_bound_.
// For K, also no scaled change of an entry may overflow, which propose_row
// refuses when the logits come from increments. A store that keeps no A
// forms those logits as the old ones plus the increments unless the change
// cancels (change_cancels); otherwise |k_old|_1 + |v - k_old|_1 <= 4 |v|_1
// <= 4 sqrt(d_k) |v|_2, so each of those terms is within a factor of
// 4 sqrt(d_k) of the bound, far below ATT_MAX_LOGIT.
bool DynamicAttention::norms_vouch(att_matrix which, int64_t row, const double *v,
                                   double key_bound_max) const {
  const double norm = norm2(v, input(which).cols(), 1);
  if (which == ATT_MATRIX_Q) return norm * key_bound_max <= num::kCertainLogit;
  if (!key_certain(std::fabs(scale_) * norm)) return false;
  for (int64_t c = 0; c < shape_.d_k; ++c)
    if (!std::isfinite(scale_ * (v[c] - K_(row, c)))) return false;
  return true;
}

// All-or-nothing batch, in the order of a BatchPlan: entries by row and,
// within a row, by column, a run of entries of one (row, column) adding up in
// call order. check_batch validates every entry and, for Q and K, every
// changed row's new contents; apply_batch cannot fail and applies one change
// per changed row: a key row touched m times costs one pass over its column,
// a query row one recomputation, a value row one pending change of the
// entries that changed. Scratch is O(count).
void DynamicAttention::batch(att_matrix which, int64_t count, const int64_t *rows,
                             const int64_t *cols, const double *values, bool set) {
  check_which(which);
  if (count < 0) fail(ATT_E_SIZE, "count=%lld is negative", static_cast<long long>(count));
  const Matrix &m = input(which);
  for (int64_t t = 0; t < count; ++t) {
    if (rows[t] < 0 || rows[t] >= m.rows() || cols[t] < 0 || cols[t] >= m.cols())
      fail(ATT_E_INDEX, "entry %lld: (%lld, %lld) is outside %s's %lld x %lld",
           static_cast<long long>(t), static_cast<long long>(rows[t]),
           static_cast<long long>(cols[t]), matrix_name(which), static_cast<long long>(m.rows()),
           static_cast<long long>(m.cols()));
    if (!std::isfinite(values[t]))
      fail(ATT_E_NONFINITE, "entry %lld: %s=%g is not finite", static_cast<long long>(t),
           set ? "value" : "delta", values[t]);
  }
  if (count == 0) return;
  BatchPlan plan(count, rows, cols);
  check_batch(which, plan, values, set);
  add_count(updates_[which], count);
  apply_batch(which, plan);
}

// The new contents of the row of runs [r0, r1): its row of m with the runs'
// new values, into vec_.
const double *DynamicAttention::batch_row(const Matrix &m, const BatchPlan &plan, int64_t r0,
                                          int64_t r1) {
  double *v = vec_.data();
  const int64_t row = plan.row(r0);
  for (int64_t c = 0; c < m.cols(); ++c) v[c] = m(row, c);
  for (int64_t r = r0; r < r1; ++r) v[plan.col(r)] = plan.value(r);
  return v;
}

// A batch's first phase: each run's new value and whether it changes its
// entry (a zero that changes sign changes too: the matrix reads back as set),
// with every bad entry found, so that the call fails with the first in call
// order; a row whose new contents give a bad logit names its last entry.
// The logits of a changed row of Q or K are formed (propose_row) only when
// the norms cannot vouch for them (norms_vouch), and not kept: apply_batch
// forms each row's logits as a single call does, since a row's proposal
// depends only on Q, K and the row's new contents, never on state that
// applying other rows changes; norms that cannot vouch (logits near
// ATT_MAX_LOGIT) are rare.
void DynamicAttention::check_batch(att_matrix which, BatchPlan &plan, const double *values,
                                   bool set) {
  const Matrix &m = input(which);
  const char *name = matrix_name(which);
  // Run r's new value: its entries applied in call order. Fails for the
  // first entry whose new value is not finite or, in V, exceeds
  // ATT_MAX_VALUE, which *bad then names.
  auto run_value = [&](int64_t r, int64_t *bad) {
    const int64_t row = plan.row(r), col = plan.col(r);
    double x = m(row, col);
    for (int64_t p = plan.first(r); p < plan.first(r + 1); ++p) {
      const int64_t t = *bad = plan.entry(p);
      x = set ? values[t] : x + values[t];
      if (!std::isfinite(x))
        fail(ATT_E_NONFINITE, "entry %lld: the new %s[%lld][%lld] is not finite",
             static_cast<long long>(t), name, static_cast<long long>(row),
             static_cast<long long>(col));
      if (which == ATT_MATRIX_V && std::fabs(x) > ATT_MAX_VALUE)
        fail(ATT_E_RANGE, "entry %lld: |new V[%lld][%lld]| = %g exceeds ATT_MAX_VALUE",
             static_cast<long long>(t), static_cast<long long>(row), static_cast<long long>(col),
             std::fabs(x));
    }
    return x;
  };
  double key_bound_max = 0.0;
  if (which == ATT_MATRIX_Q)
    for (int64_t c = 0; c < shape_.n_kv; ++c)
      key_bound_max = std::fmax(key_bound_max, key_bound_[c]);

  const int64_t none = std::numeric_limits<int64_t>::max();
  int64_t first_bad = none;
  Error refusal{};
  auto refuse = [&](int64_t t, const Error &e) {
    if (t >= first_bad) return;
    first_bad = t;
    refusal = e;
  };
  for (int64_t r0 = 0, r1 = 0; r0 < plan.runs(); r0 = r1) {
    r1 = plan.row_end(r0);
    const int64_t row = plan.row(r0);
    bool entries_ok = true;
    for (int64_t r = r0; r < r1; ++r) {
      int64_t bad = 0;
      try {
        const double x = run_value(r, &bad), old = m(row, plan.col(r));
        plan.record(r, x, x != old || std::signbit(x) != std::signbit(old));
      } catch (const Error &e) {
        refuse(bad, e);
        entries_ok = false;
      }
    }
    if (!entries_ok || !plan.any_change(r0, r1) || which == ATT_MATRIX_V) continue;
    const double *v = batch_row(m, plan, r0, r1);
    if (norms_vouch(which, row, v, key_bound_max)) continue;
    try {
      const int64_t single = plan.single_change(r0, r1);
      if (which == ATT_MATRIX_K && single >= 0) {
        check_key_entry(row, plan.col(single), plan.value(single));
      } else {
        propose_row(which, row, v, which == ATT_MATRIX_Q ? row_logits_.data() : logits_.data(),
                    true);
      }
    } catch (const Error &e) {
      const int64_t last = plan.last_entry(r0, r1);
      Error named = e;
      std::snprintf(named.message, sizeof named.message, "entry %lld: %.150s",
                    static_cast<long long>(last), e.message);
      refuse(last, named);
    }
  }
  if (first_bad != none) throw refusal;
}

// A batch's second phase, after check_batch: nothing here can fail.
void DynamicAttention::apply_batch(att_matrix which, const BatchPlan &plan) {
  for (int64_t r0 = 0, r1 = 0; r0 < plan.runs(); r0 = r1) {
    r1 = plan.row_end(r0);
    const int64_t row = plan.row(r0);
    if (!plan.any_change(r0, r1)) continue;
    if (which == ATT_MATRIX_V) {
      // The row's other entries are in other columns: each entry's
      // column_falls sees its column as before the batch.
      const int64_t slot = take_value_slot(row);
      bool fell = false;
      for (int64_t r = r0; r < r1; ++r)
        if (plan.changes(r)) fell |= change_value_entry(slot, row, plan.col(r), plan.value(r));
      finish_value_change(fell);
      continue;
    }
    const int64_t single = plan.single_change(r0, r1);
    if (which == ATT_MATRIX_K && single >= 0) {
      // As att_update_k changes it. The check forms the logits the change
      // applies and cannot fail: check_batch vouched for the row or made it.
      const double x = plan.value(single);
      apply_key_entry(row, plan.col(single), x, check_key_entry(row, plan.col(single), x));
      continue;
    }
    const double *v = batch_row(input(which), plan, r0, r1);
    if (which == ATT_MATRIX_K) {
      propose_row(ATT_MATRIX_K, row, v, logits_.data(), false);
      apply_key_row(row, v, logits_.data());
    } else {
      propose_row(ATT_MATRIX_Q, row, v, row_logits_.data(), false);
      for (int64_t c = 0; c < shape_.d_k; ++c) Q_(row, c) = v[c];
      apply_query_row(row, row_logits_.data());
    }
  }
}

// Paper Algorithm 4 plus the pending key terms. A value term enters only
// where its row of R has a non-zero entry in this column, and only then is
// its kernel entry read from the store (a chunk of them exponentiated
// together).
double DynamicAttention::query(int64_t row, int64_t col) const {
  check_index("i", row, shape_.n_q);
  check_index("j", col, shape_.d_v);
  const int64_t x0 = pending_begin(), x1 = pending_end();
  const double *r = pending_r_.col(col);
  double numerator = C0_(row, col);
  for (int64_t x = x0; x < slots_; ++x) numerator += pending_a_(row, x) * r[x];
  constexpr int64_t kChunk = 64;
  int64_t keys[kChunk];
  double coef[kChunk], w[kChunk];
  const KernelOperands ops = operands();
  for (int64_t x = slots_; x < x1;) {
    int64_t m = 0;
    for (; x < x1 && m < kChunk; ++x) {
      if (r[x] == 0.0) continue;
      keys[m] = pending_value_[x - slots_];
      coef[m++] = r[x];
    }
    if (m == 0) break;
    store_->row_entries(ops, row, keys, m, w);
    for (int64_t t = 0; t < m; ++t) numerator += w[t] * coef[t];
  }
  charge_queries(x1 - x0);
  return numerator / (d_hi_[row] + d_lo_[row]);
}

// The weights of pending terms [x0, x0 + len) in query row `row`: P[row, x]
// for key terms, A[row, r_s] from the store for value terms.
void DynamicAttention::pending_weights(int64_t row, int64_t x0, int64_t len, double *w) const {
  const int64_t keys_end = std::min(x0 + len, slots_);
  for (int64_t x = x0; x < keys_end; ++x) w[x - x0] = pending_a_(row, x);
  const int64_t x = std::max(x0, slots_);
  if (x < x0 + len)
    store_->row_entries(operands(), row, pending_value_.data() + (x - slots_), x0 + len - x,
                        w + (x - x0));
}

// The same sums as query(), in the same order and skipping the same zero
// value entries, for a whole row: the row's pending weights are gathered once
// (in chunks, on the stack, since queries run concurrently) instead of d_v
// times, so every entry is bit-identical to query().
void DynamicAttention::query_row(int64_t row, double *out, int64_t stride) const {
  check_index("i", row, shape_.n_q);
  constexpr int64_t kChunk = 128;
  const int64_t d_v = shape_.d_v;
  const int64_t x0 = pending_begin(), x1 = pending_end();
  for (int64_t j = 0; j < d_v; ++j) out[j * stride] = C0_(row, j);
  double w[kChunk];
  for (int64_t c0 = x0; c0 < x1; c0 += kChunk) {
    const int64_t len = std::min(kChunk, x1 - c0);
    const int64_t keys = std::clamp<int64_t>(slots_ - c0, 0, len);
    pending_weights(row, c0, len, w);
    for (int64_t j = 0; j < d_v; ++j) {
      const double *r = pending_r_.col(j) + c0;
      double sum = out[j * stride];
      for (int64_t x = 0; x < keys; ++x) sum += w[x] * r[x];
      for (int64_t x = keys; x < len; ++x)
        if (r[x] != 0.0) sum += w[x] * r[x];
      out[j * stride] = sum;
    }
  }
  // A row costs about as much per pending term as d_v / 16 single entries.
  charge_queries((x1 - x0) * (1 + d_v / 16));
  const double d = d_hi_[row] + d_lo_[row];
  for (int64_t j = 0; j < d_v; ++j) out[j * stride] /= d;
}

void DynamicAttention::query_rows(int64_t i0, int64_t count, att_layout layout, double *out,
                                  int64_t ld) const {
  if (count < 0) fail(ATT_E_SIZE, "count=%lld is negative", static_cast<long long>(count));
  if (i0 < 0 || i0 > shape_.n_q || count > shape_.n_q - i0)
    fail(ATT_E_INDEX, "rows [%lld, %lld + %lld) are outside [0, %lld)", static_cast<long long>(i0),
         static_cast<long long>(i0), static_cast<long long>(count),
         static_cast<long long>(shape_.n_q));
  check_view("", InputMatrix{out, layout, ld}, count, shape_.d_v);
  for (int64_t r = 0; r < count; ++r) {
    if (layout == ATT_ROW_MAJOR)
      query_row(i0 + r, out + r * ld, 1);
    else
      query_row(i0 + r, out + r, ld);
  }
}

// log sum_c exp(M[i, c]) = shift_i + log(D_i), since A = exp(M - shift).
void DynamicAttention::query_lse(int64_t i0, int64_t count, double *out) const {
  if (count < 0) fail(ATT_E_SIZE, "count=%lld is negative", static_cast<long long>(count));
  if (i0 < 0 || i0 > shape_.n_q || count > shape_.n_q - i0)
    fail(ATT_E_INDEX, "rows [%lld, %lld + %lld) are outside [0, %lld)", static_cast<long long>(i0),
         static_cast<long long>(i0), static_cast<long long>(count),
         static_cast<long long>(shape_.n_q));
  for (int64_t r = 0; r < count; ++r)
    out[r] = shift_[i0 + r] + std::log(d_hi_[i0 + r] + d_lo_[i0 + r]);
}

const Matrix &DynamicAttention::input(att_matrix which) const {
  return which == ATT_MATRIX_Q ? Q_ : which == ATT_MATRIX_K ? K_ : V_;
}

void DynamicAttention::read_matrix(att_matrix which, att_layout layout, double *out,
                                   int64_t ld) const {
  check_which(which);
  const Matrix &m = input(which);
  check_view("", InputMatrix{out, layout, ld}, m.rows(), m.cols());
  for (int64_t j = 0; j < m.cols(); ++j)
    for (int64_t i = 0; i < m.rows(); ++i)
      (layout == ATT_ROW_MAJOR ? out[i * ld + j] : out[i + j * ld]) = m(i, j);
}

int64_t DynamicAttention::stat(att_stat_kind which) const {
  switch (which) {
    case ATT_STAT_UPDATES_Q: return updates_[ATT_MATRIX_Q];
    case ATT_STAT_UPDATES_K: return updates_[ATT_MATRIX_K];
    case ATT_STAT_UPDATES_V: return updates_[ATT_MATRIX_V];
    case ATT_STAT_FOLDS: return folds_;
    case ATT_STAT_ROWS_RECOMPUTED: return rows_recomputed_;
    case ATT_STAT_COLUMNS_RECOMPUTED: return columns_recomputed_;
    case ATT_STAT_PENDING_KEY_ROWS: return n_key_cols_;
    case ATT_STAT_PENDING_KEY_UPDATES: return n_key_updates_;
    case ATT_STAT_PENDING_VALUE_ROWS: return n_value_rows_;
    case ATT_STAT_PENDING_VALUE_UPDATES: return n_value_updates_;
    case ATT_STAT_LAZY_LIMIT: return lazy_limit_;
    case ATT_STAT_BYTES: {
      const int64_t doubles = Q_.size() + K_.size() + V_.size() + V0_.size() + C0_.size() +
                              5 * shape_.n_q + pending_a_.size() + value_scale_.size() +
                              pending_r_.size() + key_bound_.size() + logits_.size() +
                              old_logits_.size() + row_logits_.size() + vec_.size() +
                              old_key_.size() + ones_.size() + fold_coefficients_.size();
      const int64_t words = pending_key_.size() + key_slot_.size() + pending_value_.size() +
                            value_slot_.size() + value_changes_.size() + fold_columns_.size() +
                            changed_columns_.size();
      const int64_t bytes_ = column_touched_.size() + flagged_.size();
      return 8 * doubles + 8 * words + bytes_ + store_->bytes() +
             static_cast<int64_t>(sizeof(DynamicAttention));
    }
    case ATT_STAT_STORAGE: return store_->kind();
    case ATT_STAT_STRATEGY: return strategy_;
    case ATT_STAT_CAUSAL: return mask_.causal ? 1 : 0;
    case ATT_STAT_QUERY_WORK: return query_work_.load(std::memory_order_relaxed);
    case ATT_STAT_FOLD_THRESHOLD: return fold_threshold_;
  }
  fail(ATT_E_ENUM, "statistic %d is not an att_stat_kind", static_cast<int>(which));
}

// C0 += P R over the pending columns [x0, x0 + width), on the helper team
// (team_product.hpp; P's rows are padded for the product's register tiles).
void DynamicAttention::fold_product(int64_t x0, int64_t width) {
  team_product({shape_.n_q, shape_.d_v, width, 1.0, pending_a_.col(x0), pending_a_.ld(),
                pending_r_.data() + x0, 1, pending_r_.ld(), true, C0_.data(), C0_.ld()},
               pending_a_.rows());
}

// Paper Algorithm 5: C0 += P R over the pending range in one matrix product. Key
// terms multiply V0 and value terms use the current A, so the order the
// invariants of attention.hpp require holds inside one product (docs/NUMERICS.md,
// "What is stored"); V0 catches up with V in the same fold. A value
// row with at most d_v / kSparseValueRow changed entries is applied entry by
// entry instead, an axpy of its kernel column into C0[:, j] each (2 n_q flops
// per entry rather than 2 n_q d_v for the row): such rows are first swapped
// to the end of the range, out of the product.
void DynamicAttention::fold() {
  const int64_t n_q = shape_.n_q, d_v = shape_.d_v;
  const int64_t n_rows = n_value_rows_;
  // A pending value row's changed entries are the non-zeros of its row of R
  // (V - V0 is 0 exactly where V = V0), found in the columns the changes
  // touched (column_touched_). R is column-major: every pass over them walks
  // a column of R, the value slots' entries side by side, and only the
  // columns listed in changed_columns_. V0 catches up with V in the same
  // walk, while the entries are in cache: nothing reads V0 before the fold's
  // products are done (they take V0's key rows and V - V0 from R).
  const int64_t xv = value_column(0);
  int64_t *changes = value_changes_.data();
  int64_t *columns = changed_columns_.data();
  int64_t n_columns = 0;
  std::fill(changes, changes + n_rows, 0);
  for (int64_t j = 0; j < d_v; ++j) {
    if (!column_touched_[j]) continue;
    const double *r = pending_r_.col(j) + xv;
    bool changed = false;
    for (int64_t s = 0; s < n_rows; ++s) {
      if (r[s] == 0.0) continue;
      const int64_t row = pending_value_[s];
      ++changes[s];
      changed = true;
      value_scale_[j] =
          std::fmax(value_scale_[j], std::fmax(std::fabs(V_(row, j)), std::fabs(V0_(row, j))));
      V0_(row, j) = V_(row, j);
    }
    if (changed) columns[n_columns++] = j;
  }
  // Dense rows to the front (a slot is classified before any swap moves it).
  int64_t n_dense = 0;
  for (int64_t s = 0; s < n_rows; ++s)
    if (changes[s] * kSparseValueRow > d_v) swap_value_slots(s, n_dense++);
  // Every pending value row's kernel column, read from the store (I3) and
  // charged once to the rows' error bounds. P takes the columns the product
  // needs, the dense rows', beside the key columns; from a store that does
  // not keep A it takes every row's (one matrix product computes them all).
  // One gemv charges what P took. A store that keeps A lends the sparse
  // rows' columns as they are, charged below on their way to C0.
  const bool kept = keeps_kernel();
  const int64_t n_copied = kept ? n_dense : n_rows;
  store_->copy_columns(operands(), pending_value_.data(), n_copied, pending_a_.col(xv),
                       pending_a_.ld());
  if (n_copied > 0) {
    blas::gemv(blas::Op::N, n_q, n_copied, num::kGatherCharge * kU, pending_a_.col(xv),
               pending_a_.ld(), ones_.data(), 1, 1.0, err_.data(), 1);
  }
  const int64_t x0 = pending_begin();
  const int64_t width = n_key_cols_ + n_dense;
  // Each pass over C0 rounds entries of every row once: the product's, and the
  // sparse rows'.
  const int64_t passes = (width > 0 ? 1 : 0) + (n_dense < n_rows ? 1 : 0);
  if (passes > 0) {
    const double charge = num::kFoldCharge * kU * static_cast<double>(passes);
    for (int64_t i = 0; i < n_q; ++i) err_[i] += charge * d_hi_[i];
  }
  if (width > 0) fold_product(x0, width);
  if (n_dense < n_rows) fold_sparse_rows(n_dense, n_columns);
  // The value slots' rows of R return to 0.
  for (int64_t c = 0; c < n_columns; ++c) {
    double *r = pending_r_.col(columns[c]) + xv;
    std::fill(r, r + n_rows, 0.0);
  }
  for (int64_t s = 0; s < n_rows; ++s) value_slot_[pending_value_[s]] = -1;
  for (int64_t t = 0; t < n_key_cols_; ++t) key_slot_[pending_key_[t]] = -1;
  n_key_cols_ = 0;
  n_key_updates_ = 0;
  n_value_rows_ = 0;
  n_value_updates_ = 0;
  query_work_.store(0, std::memory_order_relaxed);
  add_count(folds_);

  rescale_value_columns();
  if (passes > 0) sweep(passes);
  int64_t n_flagged = 0;
  for (int64_t i = 0; i < n_q; ++i) {
    const bool drifted = !(err_[i] <= num::kRowTolerance * (d_hi_[i] + d_lo_[i]));
    flagged_[i] = drifted;
    n_flagged += drifted;
  }
  if (n_flagged > 0) refresh_flagged();
}

// The sparse value rows of the fold, slots [first, n_value_rows_), entry
// by entry (2 n_q flops per changed entry): each column j of C0 takes the
// terms a_s (V - V0)[row of s, j] of every slot that changed it, summed in
// slot order and added at once (kern::combine_columns), so that the pass
// rounds C0's entries once whatever the number of rows. A kept kernel
// column is charged to the error bounds just before the first column of C0
// that needs it, four columns at a time in the order the columns of C0 need
// them (kern::add_columns reads them side by side, which brings them from
// memory faster than one after the other), so that C0's columns find them
// in cache rather than in memory (docs/PERFORMANCE.md, "Value updates"). A
// kept column whose row changed nothing (its entries went back to V0) is not
// read at all.
void DynamicAttention::fold_sparse_rows(int64_t first, int64_t n_columns) {
  const int64_t n_q = shape_.n_q;
  const int64_t xv = value_column(0) + first;
  const int64_t count = n_value_rows_ - first;
  const bool kept = keeps_kernel();
  const double **cols = fold_columns_.data();
  const double **order = cols + count;
  const double **terms = order + count;
  double *coefficients = fold_coefficients_.data();
  int64_t *place = value_changes_.data();  // each slot's place in `order`
  for (int64_t t = 0; t < count; ++t) {
    const int64_t s = first + t;
    cols[t] = kept ? store_->kept_column(pending_value_[s]) : pending_a_.col(xv + t);
  }
  // The order of first use; a column copied into pending_a_ was charged in
  // fold() with the rest, so none is charged here.
  int64_t n_order = 0;
  if (kept) {
    std::fill(place, place + count, -1);
    for (int64_t c = 0; c < n_columns; ++c) {
      const double *r = pending_r_.col(changed_columns_[c]) + xv;
      for (int64_t t = 0; t < count; ++t) {
        if (r[t] == 0.0 || place[t] >= 0) continue;
        place[t] = n_order;
        order[n_order++] = cols[t];
      }
    }
  }
  constexpr int64_t kGroup = kern::kAddColumnsWidth;
  int64_t charged = 0;
  for (int64_t c = 0; c < n_columns; ++c) {
    const int64_t j = changed_columns_[c];
    const double *r = pending_r_.col(j) + xv;
    int64_t m = 0, needed = 0;
    for (int64_t t = 0; t < count; ++t) {
      if (r[t] == 0.0) continue;
      terms[m] = cols[t];
      coefficients[m++] = r[t];
      if (kept) needed = std::max(needed, place[t] + 1);
    }
    for (; charged < needed; charged += kGroup)
      kern::add_columns(order + charged, std::min(kGroup, n_order - charged),
                        num::kGatherCharge * kU, err_.data(), n_q);
    if (m > 0) kern::combine_columns(terms, coefficients, m, C0_.col(j), n_q);
  }
}

// Exchange value slots a and b: their rows of R and rows.
void DynamicAttention::swap_value_slots(int64_t a, int64_t b) {
  if (a == b) return;
  const int64_t xa = value_column(a), xb = value_column(b);
  for (int64_t j = 0; j < shape_.d_v; ++j) std::swap(pending_r_(xa, j), pending_r_(xb, j));
  std::swap(pending_value_[a], pending_value_[b]);
  value_slot_[pending_value_[a]] = a;
  value_slot_[pending_value_[b]] = b;
}

// Cancellation inside V: after V[r, j] rises to a peak and falls back, C0's
// column j keeps an absolute error of about u times the peak. When a touched
// column's largest |V| has fallen more than 2^10 below the largest value that
// entered C0 since the column was computed, compute it again from A and V0
// (O(n_q n_kv), and only after such a fall).
void DynamicAttention::rescale_value_columns() {
  const int64_t n_kv = shape_.n_kv;
  for (int64_t j = 0; j < shape_.d_v; ++j) {
    if (!column_touched_[j]) continue;
    column_touched_[j] = 0;
    // Usually an entry at most 2^10 below the scale turns up at once; only a
    // column that really fell is scanned to the end.
    const double floor = value_scale_[j] / kValueFall;
    int64_t r = 0;
    while (r < n_kv && !(std::fabs(V0_(r, j)) >= floor)) ++r;
    if (r == n_kv) {
      double largest = 0.0;
      for (int64_t c = 0; c < n_kv; ++c) largest = std::fmax(largest, std::fabs(V0_(c, j)));
      const ConstView column{V0_.data() + j, n_kv, 1, V0_.ld(), true};
      store_->multiply_rows(operands(), 0, shape_.n_q, column, C0_.col(j), C0_.ld());
      value_scale_[j] = largest;
      add_count(columns_recomputed_);
    }
  }
}

}  // namespace att

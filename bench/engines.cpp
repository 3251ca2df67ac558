#include "engines.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "common.hpp"

namespace bench {
namespace {

// The baselines keep A[i,:] = exp(M[i,:] - shift_i), like the library. A row
// is re-shifted when an entry rises more than this far above its shift (so
// nothing overflows), and recomputed when its mass falls below kSmallMass
// (so cancellation in the running D and C cannot cost accuracy).
constexpr double kHeadroom = 64.0;
constexpr double kSmallMass = 0x1p-20;

int blas_int(int64_t v) {
  if (v < 0 || v > 2147483647) throw std::runtime_error("dimension exceeds the BLAS integer range");
  return static_cast<int>(v);
}

// Element count of an a x b buffer, and the index of (major, minor) in a
// buffer with leading dimension ld, in size_t (n^2 overflows int).
size_t size(int64_t a, int64_t b) { return static_cast<size_t>(a) * static_cast<size_t>(b); }
size_t at(int64_t major, int64_t minor, int64_t ld) {
  return static_cast<size_t>(major) * static_cast<size_t>(ld) + static_cast<size_t>(minor);
}

[[noreturn]] __attribute__((cold)) void library_failed(const char *what, att_status status) {
  throw std::runtime_error(std::string(what) + " failed: " + att_status_string(status) + " (" +
                           att_last_error() + ")");
}

// ---- the library -----------------------------------------------------------

class LibraryEngine final : public Engine {
 public:
  LibraryEngine(const Problem &p, ConfigFill fill, int64_t k) {
    att_config *cfg = nullptr;
    att_status status = att_config_create(&cfg);
    if (status != ATT_OK) library_failed("att_config_create", status);
    std::unique_ptr<att_config, void (*)(att_config *)> owned(cfg, att_config_free);
    status = att_config_set_logit_scale(cfg, p.scale);
    if (status != ATT_OK) library_failed("att_config_set_logit_scale", status);
    status = fill(cfg, k);
    if (status != ATT_OK) library_failed("configuration", status);
    status = att_init(&state_, p.n, p.d, p.Q.data(), p.K.data(), p.V.data(), cfg);
    if (status != ATT_OK) library_failed("att_init", status);
  }
  ~LibraryEngine() override { att_free(state_); }
  LibraryEngine(const LibraryEngine &) = delete;
  LibraryEngine &operator=(const LibraryEngine &) = delete;

  void update_k(int64_t row, int64_t col, double delta) override {
    const att_status status = att_update_k(state_, row, col, delta);
    if (status != ATT_OK) library_failed("att_update_k", status);
  }
  void update_v(int64_t row, int64_t col, double delta) override {
    const att_status status = att_update_v(state_, row, col, delta);
    if (status != ATT_OK) library_failed("att_update_v", status);
  }
  double query(int64_t row, int64_t col) override {
    double b = 0.0;
    const att_status status = att_query(state_, row, col, &b);
    if (status != ATT_OK) library_failed("att_query", status);
    return b;
  }
  int64_t rows_recomputed() const override {
    int64_t rows = 0;
    const att_status status = att_stat(state_, ATT_STAT_ROWS_RECOMPUTED, &rows);
    if (status != ATT_OK) library_failed("att_stat", status);
    return rows;
  }

 private:
  att_state *state_ = nullptr;
};

// ---- recompute per query -----------------------------------------------------

class RecomputeEngine final : public Engine {
 public:
  explicit RecomputeEngine(const Problem &p)
      : problem_(p), scratch_(p.n, p.d), B_(static_cast<size_t>(p.n * p.d), 0.0) {
    refresh();
  }
  void update_k(int64_t row, int64_t col, double delta) override {
    problem_.K[static_cast<size_t>(row * problem_.d + col)] += delta;
    stale_ = true;
  }
  void update_v(int64_t row, int64_t col, double delta) override {
    problem_.V[static_cast<size_t>(row * problem_.d + col)] += delta;
    stale_ = true;
  }
  double query(int64_t row, int64_t col) override {
    if (stale_) refresh();
    return B_[static_cast<size_t>(row * problem_.d + col)];
  }

 private:
  void refresh() {
    scratch_.compute(problem_, problem_.Q.data(), problem_.K.data(), problem_.V.data(), B_.data());
    stale_ = false;
  }
  Problem problem_;
  StaticAttention scratch_;
  std::vector<double> B_;
  bool stale_ = true;
};

// ---- eager: C = A V kept exact -------------------------------------------------

// Layout: the logits M and A are column-major (column c, the one update_k
// changes, is contiguous), and so is C (n x d), so update_v's column of C and
// column of A are both contiguous for daxpy. V stays row-major: dger reads its
// row c.
class EagerEngine final : public Engine {
 public:
  explicit EagerEngine(const Problem &p)
      : n_(p.n),
        d_(p.d),
        scale_(p.scale),
        V_(p.V),
        Qc_(size(n_, d_)),
        M_(size(n_, n_), 0.0),
        A_(size(n_, n_)),
        C_(size(n_, d_), 0.0),
        D_(size(n_, 1), 0.0),
        shift_(size(n_, 1), -HUGE_VAL),
        x_(size(n_, 1)),
        a_new_(size(n_, 1)),
        delta_(size(n_, 1)),
        row_(size(n_, 1)),
        row_out_(size(d_, 1)) {
    for (int64_t i = 0; i < n_; ++i)
      for (int64_t j = 0; j < d_; ++j) Qc_[at(j, i, n_)] = p.Q[at(i, j, d_)];
    // Row c of s K Q^T (row-major) is column c of the logits.
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(n_), blas_int(n_), blas_int(d_),
                scale_, p.K.data(), blas_int(d_), p.Q.data(), blas_int(d_), 0.0, M_.data(),
                blas_int(n_));
    for (int64_t c = 0; c < n_; ++c) {
      const double *m = &M_[at(c, 0, n_)];
      for (int64_t i = 0; i < n_; ++i) shift_[i] = std::max(shift_[i], m[i]);
    }
    for (int64_t c = 0; c < n_; ++c) {
      const double *m = &M_[at(c, 0, n_)];
      double *a = &A_[at(c, 0, n_)];
      for (int64_t i = 0; i < n_; ++i) x_[i] = m[i] - shift_[i];
      exp_clamped(x_.data(), a, size(n_, 1));
      for (int64_t i = 0; i < n_; ++i) D_[i] += a[i];
    }
    // C = A V: column-major A times V, where row-major V is column-major V^T.
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, blas_int(n_), blas_int(d_), blas_int(n_),
                1.0, A_.data(), blas_int(n_), V_.data(), blas_int(d_), 0.0, C_.data(),
                blas_int(n_));
  }

  void update_k(int64_t row, int64_t col, double delta) override {
    double *m = &M_[at(row, 0, n_)];
    double *a = &A_[at(row, 0, n_)];
    const double *q = &Qc_[at(col, 0, n_)];
    const double step = scale_ * delta;
    double highest = -HUGE_VAL;
    for (int64_t i = 0; i < n_; ++i) {
      m[i] += step * q[i];
      x_[i] = m[i] - shift_[i];
      highest = std::max(highest, x_[i]);
    }
    exp_clamped(x_.data(), a_new_.data(), size(n_, 1));
    double lowest_mass = HUGE_VAL;
    for (int64_t i = 0; i < n_; ++i) {
      delta_[i] = a_new_[i] - a[i];
      a[i] = a_new_[i];
      D_[i] += delta_[i];
      lowest_mass = std::min(lowest_mass, D_[i]);
    }
    cblas_dger(CblasColMajor, blas_int(n_), blas_int(d_), 1.0, delta_.data(), 1,
               &V_[at(row, 0, d_)], 1, C_.data(), blas_int(n_));
    // Rare: a row left its safe range. Recomputing it also overwrites whatever
    // the rank-1 update wrote into it.
    if (highest > kHeadroom || lowest_mass < kSmallMass) {
      for (int64_t i = 0; i < n_; ++i)
        if (x_[i] > kHeadroom || D_[i] < kSmallMass) refresh_row(i);
    }
  }

  void update_v(int64_t row, int64_t col, double delta) override {
    V_[at(row, col, d_)] += delta;
    cblas_daxpy(blas_int(n_), delta, &A_[at(row, 0, n_)], 1, &C_[at(col, 0, n_)], 1);
  }

  double query(int64_t row, int64_t col) override { return C_[at(col, row, n_)] / D_[row]; }

 private:
  // Row i from its logits: new shift, A row, D_i and C row (A[i,:] V). Uses
  // its own scratch: the caller is still scanning x_.
  void refresh_row(int64_t i) {
    double top = -HUGE_VAL;
    for (int64_t c = 0; c < n_; ++c) top = std::max(top, M_[at(c, i, n_)]);
    shift_[i] = top;
    for (int64_t c = 0; c < n_; ++c) row_[c] = M_[at(c, i, n_)] - top;
    exp_clamped(row_.data(), row_.data(), size(n_, 1));
    double mass = 0.0;
    for (int64_t c = 0; c < n_; ++c) {
      A_[at(c, i, n_)] = row_[c];
      mass += row_[c];
    }
    D_[i] = mass;
    cblas_dgemv(CblasRowMajor, CblasTrans, blas_int(n_), blas_int(d_), 1.0, V_.data(), blas_int(d_),
                row_.data(), 1, 0.0, row_out_.data(), 1);
    for (int64_t j = 0; j < d_; ++j) C_[at(j, i, n_)] = row_out_[j];
  }

  int64_t n_, d_;
  double scale_;
  std::vector<double> V_, Qc_;
  Doubles M_, A_;
  std::vector<double> C_, D_, shift_, x_, a_new_, delta_, row_, row_out_;
};

// ---- direct: A and D only ----------------------------------------------------------

// Layout chosen for the baseline's query: A (and M) row-major so A[i,:] is
// contiguous, and V column-major so V[:,j] is contiguous; the query is one
// contiguous ddot. The price is a strided column walk in update_k.
class DirectEngine final : public Engine {
 public:
  explicit DirectEngine(const Problem &p)
      : n_(p.n),
        d_(p.d),
        scale_(p.scale),
        Q_(p.Q),
        Vc_(size(n_, d_)),
        M_(size(n_, n_), 0.0),
        A_(size(n_, n_)),
        D_(size(n_, 1), 0.0),
        shift_(size(n_, 1)),
        x_(size(n_, 1)),
        a_new_(size(n_, 1)) {
    for (int64_t c = 0; c < n_; ++c)
      for (int64_t j = 0; j < d_; ++j) Vc_[at(j, c, n_)] = p.V[at(c, j, d_)];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(n_), blas_int(n_), blas_int(d_),
                scale_, p.Q.data(), blas_int(d_), p.K.data(), blas_int(d_), 0.0, M_.data(),
                blas_int(n_));
    for (int64_t i = 0; i < n_; ++i) refresh_row(i);
  }

  void update_k(int64_t row, int64_t col, double delta) override {
    const double step = scale_ * delta;
    double highest = -HUGE_VAL;
    for (int64_t i = 0; i < n_; ++i) {
      double &m = M_[at(i, row, n_)];
      m += step * Q_[at(i, col, d_)];
      x_[i] = m - shift_[i];
      highest = std::max(highest, x_[i]);
    }
    exp_clamped(x_.data(), a_new_.data(), size(n_, 1));
    double lowest_mass = HUGE_VAL;
    for (int64_t i = 0; i < n_; ++i) {
      double &a = A_[at(i, row, n_)];
      D_[i] += a_new_[i] - a;
      a = a_new_[i];
      lowest_mass = std::min(lowest_mass, D_[i]);
    }
    if (highest > kHeadroom || lowest_mass < kSmallMass) {
      for (int64_t i = 0; i < n_; ++i)
        if (x_[i] > kHeadroom || D_[i] < kSmallMass) refresh_row(i);
    }
  }

  void update_v(int64_t row, int64_t col, double delta) override { Vc_[at(col, row, n_)] += delta; }

  double query(int64_t row, int64_t col) override {
    return cblas_ddot(blas_int(n_), &A_[at(row, 0, n_)], 1, &Vc_[at(col, 0, n_)], 1) / D_[row];
  }

 private:
  void refresh_row(int64_t i) {
    const double *m = &M_[at(i, 0, n_)];
    double *a = &A_[at(i, 0, n_)];
    const double top = *std::max_element(m, m + n_);
    shift_[i] = top;
    for (int64_t c = 0; c < n_; ++c) a[c] = m[c] - top;
    exp_clamped(a, a, size(n_, 1));
    double mass = 0.0;
    for (int64_t c = 0; c < n_; ++c) mass += a[c];
    D_[i] = mass;
  }

  int64_t n_, d_;
  double scale_;
  std::vector<double> Q_, Vc_;
  Doubles M_, A_;
  std::vector<double> D_, shift_, x_, a_new_;
};

}  // namespace

StaticAttention::StaticAttention(int64_t n, int64_t d)
    : n_(n),
      d_(d),
      A_(static_cast<size_t>(n) * static_cast<size_t>(n), 0.0),
      row_sum_(static_cast<size_t>(n), 0.0) {}

void StaticAttention::compute(const Problem &shape, const double *Q, const double *K,
                              const double *V, double *B) {
  const int n = blas_int(n_), d = blas_int(d_);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, shape.scale, Q, d, K, d, 0.0,
              A_.data(), n);
  for (int64_t i = 0; i < n_; ++i) {
    double *a = &A_[static_cast<size_t>(i) * static_cast<size_t>(n_)];
    const double top = *std::max_element(a, a + n_);
    for (int64_t c = 0; c < n_; ++c) a[c] -= top;
    exp_clamped(a, a, static_cast<size_t>(n_));
    double mass = 0.0;
    for (int64_t c = 0; c < n_; ++c) mass += a[c];
    row_sum_[static_cast<size_t>(i)] = mass;
  }
  // B is the caller's: zero it so that beta = 0 never meets garbage.
  std::fill(B, B + static_cast<size_t>(n_) * static_cast<size_t>(d_), 0.0);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, n, 1.0, A_.data(), n, V, d, 0.0, B,
              d);
  for (int64_t i = 0; i < n_; ++i) {
    const double inv = 1.0 / row_sum_[static_cast<size_t>(i)];
    for (int64_t j = 0; j < d_; ++j) B[static_cast<size_t>(i * d_ + j)] *= inv;
  }
}

void reference_row(const Problem &p, int64_t i, double *b_row, std::vector<double> &scratch) {
  const int n = blas_int(p.n), d = blas_int(p.d);
  scratch.assign(static_cast<size_t>(p.n), 0.0);
  cblas_dgemv(CblasRowMajor, CblasNoTrans, n, d, p.scale, p.K.data(), d,
              &p.Q[static_cast<size_t>(i) * static_cast<size_t>(p.d)], 1, 0.0, scratch.data(), 1);
  const double top = *std::max_element(scratch.begin(), scratch.end());
  for (double &x : scratch) x -= top;
  exp_clamped(scratch.data(), scratch.data(), scratch.size());
  double mass = 0.0;
  for (const double a : scratch) mass += a;
  std::fill(b_row, b_row + p.d, 0.0);
  cblas_dgemv(CblasRowMajor, CblasTrans, n, d, 1.0 / mass, p.V.data(), d, scratch.data(), 1, 0.0,
              b_row, 1);
}

std::unique_ptr<Engine> make_library(const Problem &p, ConfigFill fill, int64_t k) {
  return std::make_unique<LibraryEngine>(p, fill, k);
}
std::unique_ptr<Engine> make_recompute(const Problem &p) {
  return std::make_unique<RecomputeEngine>(p);
}
std::unique_ptr<Engine> make_eager(const Problem &p) { return std::make_unique<EagerEngine>(p); }
std::unique_ptr<Engine> make_direct(const Problem &p) { return std::make_unique<DirectEngine>(p); }

}  // namespace bench

#include "polynomial_attention.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "blas.hpp"
#include "buffer.hpp"
#include "error.hpp"
#include "numerics.hpp"

namespace att {
namespace {

constexpr long double kPi = 3.141592653589793238462643383279502884L;

// Below this half-width exp is approximated on [-kMinInterval, kMinInterval]
// instead (a larger interval is still valid), which keeps the monomial
// coefficients b_k / R^k of the Chebyshev interpolant finite.
constexpr double kMinInterval = 0x1p-10;

// Sampled relative errors are multiplied by this margin: the grid has
// 16 (g + 1) + 16 points, clustered at the ends like the error's extrema,
// so the sampled maximum is within a few percent of the true one.
constexpr double kGridMargin = 1.25;

// Cost model of the automatic rank limit, in flops at matrix-multiply
// speed: one exponential of the exact method (vectorized, its work shared
// with helper threads) costs about as much as kExpCost flops; forming one
// feature of one row and its share of the blocked products' overhead about
// kFeatureCost. Fitted conservatively to fixed-degree runs at n = 4096,
// d = 4, 8, 16 (docs/ALGORITHMS.md): the limit sits at or below the rank
// where the measured times cross.
constexpr double kExpCost = 60.0;
constexpr double kFeatureCost = 100.0;

// Feature blocks hold at most this many doubles (16 MiB) unless r is larger.
constexpr int64_t kFeatureBlock = int64_t{1} << 21;

// r = C(d + g, g), saturated at INT64_MAX. Each step's r (d + k) / k is
// itself a binomial coefficient; dividing r and k by their gcd first keeps
// the product within 64 bits whenever the result is (k / gcd then divides
// d + k).
int64_t binomial_rank(int64_t d, int64_t g) {
  int64_t r = 1;
  for (int64_t k = 1; k <= g; ++k) {
    const int64_t common = std::gcd(r, k);
    int64_t product = 0;
    if (__builtin_mul_overflow(r / common, (d + k) / (k / common), &product)) return INT64_MAX;
    r = product;
  }
  return r;
}

// Monomial coefficients (in x) of the degree-g approximation of exp on
// [-R, R].
std::vector<double> polynomial_coefficients(int64_t g, double R, bool taylor) {
  std::vector<long double> b(static_cast<size_t>(g + 1), 0.0L);
  if (taylor) {
    long double term = 1.0L;
    for (int64_t k = 0; k <= g; ++k) {
      b[static_cast<size_t>(k)] = term;
      term /= static_cast<long double>(k + 1);
    }
  } else {
    // Interpolation at the Chebyshev points R cos(theta_j): coefficients
    // c_k of the T_k(x / R), then T_k expanded into monomials of y = x / R
    // (T_{k+1} = 2 y T_k - T_{k-1}), all in long double, then y = x / R.
    const int64_t points = g + 1;
    std::vector<long double> c(static_cast<size_t>(points), 0.0L);
    for (int64_t j = 0; j < points; ++j) {
      const long double theta = kPi * (static_cast<long double>(j) + 0.5L) / points;
      const long double f = std::exp(static_cast<long double>(R) * std::cos(theta));
      for (int64_t k = 0; k < points; ++k)
        c[static_cast<size_t>(k)] += f * std::cos(static_cast<long double>(k) * theta);
    }
    for (auto &ck : c) ck *= 2.0L / points;
    c[0] /= 2.0L;
    std::vector<long double> prev(static_cast<size_t>(points), 0.0L), cur(prev), next(prev);
    prev[0] = 1.0L;             // T_0
    if (g >= 1) cur[1] = 1.0L;  // T_1
    for (int64_t k = 0; k <= g; ++k) {
      const std::vector<long double> &t = k == 0 ? prev : cur;
      for (int64_t p = 0; p <= k; ++p)
        b[static_cast<size_t>(p)] += c[static_cast<size_t>(k)] * t[static_cast<size_t>(p)];
      if (k >= 1 && k < g) {
        std::fill(next.begin(), next.end(), 0.0L);
        for (int64_t p = 0; p <= k; ++p)
          next[static_cast<size_t>(p + 1)] += 2.0L * cur[static_cast<size_t>(p)];
        for (int64_t p = 0; p < k; ++p)
          next[static_cast<size_t>(p)] -= prev[static_cast<size_t>(p)];
        prev.swap(cur);
        cur.swap(next);
      }
    }
    long double scale = 1.0L;
    for (int64_t k = 0; k <= g; ++k) {
      b[static_cast<size_t>(k)] /= scale;
      scale *= static_cast<long double>(R);
    }
  }
  return std::vector<double>(b.begin(), b.end());
}

// max |P(x) e^-x - 1| over the grid R cos(pi i / N), i = 0..N, in long
// double with P's double coefficients, times kGridMargin; HUGE_VAL when a
// point's error is not a number (coefficients that overflowed a double at
// large R, or exp(-x) that overflowed), so that such a plan is refused.
double relative_error(const std::vector<double> &a, double R) {
  const int64_t g = static_cast<int64_t>(a.size()) - 1;
  const int64_t N = 16 * (g + 1) + 16;
  long double worst = 0.0L;
  for (int64_t i = 0; i <= N; ++i) {
    const long double x = static_cast<long double>(R) * std::cos(kPi * i / N);
    long double p = 0.0L;
    for (int64_t k = g; k >= 0; --k) p = p * x + a[static_cast<size_t>(k)];
    const long double error = std::fabs(p * std::exp(-x) - 1.0L);
    if (!(error <= worst)) worst = std::isnan(error) ? HUGE_VALL : error;
  }
  return static_cast<double>(worst) * kGridMargin;
}

// The automatic rank limit: where (n_q + n_kv) r (2 (d_v + 1) + kFeatureCost)
// reaches n_q n_kv (2 (d_k + d_v) + kExpCost).
int64_t break_even_rank(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v) {
  const double exact = static_cast<double>(n_q) * static_cast<double>(n_kv) *
                       (2.0 * static_cast<double>(d_k + d_v) + kExpCost);
  const double per_rank =
      static_cast<double>(n_q + n_kv) * (2.0 * static_cast<double>(d_v + 1) + kFeatureCost);
  return static_cast<int64_t>(
      std::clamp(exact / per_rank, 1.0, static_cast<double>(blas::kMaxDim)));
}

// The monomials of degree <= g in d variables, in graded order. Monomial f
// (f >= 1) is monomial parent[f] times variable var[f], and multinomial[f]
// is deg! / alpha! (the multiplicity of q^alpha k^alpha in <q, k>^deg).
struct Monomials {
  Array<int64_t> parent;
  Array<int64_t> var;
  Array<double> weight;  // a_deg deg! / alpha!: the query-side coefficient
};

Monomials enumerate_monomials(int64_t d, int64_t g, int64_t r, const std::vector<double> &a) {
  Monomials m{Array<int64_t>(r), Array<int64_t>(r), Array<double>(r)};
  Array<int64_t> last(r), run(r);
  Array<long double> multinomial(r);
  m.parent[0] = -1;
  m.var[0] = 0;
  last[0] = 0;
  run[0] = 0;
  multinomial[0] = 1.0L;
  m.weight[0] = a[0];
  int64_t begin = 0, end = 1, count = 1;
  for (int64_t k = 1; k <= g; ++k) {
    for (int64_t p = begin; p < end; ++p) {
      for (int64_t t = last[p]; t < d; ++t) {
        const int64_t f = count++;
        m.parent[f] = p;
        m.var[f] = t;
        last[f] = t;
        run[f] = (k > 1 && t == last[p]) ? run[p] + 1 : 1;
        multinomial[f] = multinomial[p] * static_cast<long double>(k) / run[f];
        m.weight[f] = static_cast<double>(static_cast<long double>(a[static_cast<size_t>(k)]) *
                                          multinomial[f]);
      }
    }
    begin = end;
    end = count;
  }
  if (count != r)
    fail(ATT_E_INTERNAL, "enumerated %lld monomials, expected %lld", static_cast<long long>(count),
         static_cast<long long>(r));
  return m;
}

// Column c of `features` (r x rows, column-major) = the monomials of
// sigma * row (first + c) of X, times `weight` when it is not null.
void features(const ConstView &X, int64_t first, int64_t rows, double sigma, const Monomials &m,
              const double *weight, int64_t r, double *out, double *scaled_row) {
  const int64_t d = X.cols;
  for (int64_t c = 0; c < rows; ++c) {
    for (int64_t t = 0; t < d; ++t) scaled_row[t] = sigma * X(first + c, t);
    double *f = out + c * r;
    f[0] = 1.0;
    for (int64_t k = 1; k < r; ++k) f[k] = f[m.parent[k]] * scaled_row[m.var[k]];
    if (weight != nullptr)
      for (int64_t k = 0; k < r; ++k) f[k] *= weight[k];
  }
}

}  // namespace

PolyPlan plan_polynomial(int64_t n_q, int64_t n_kv, int64_t d_k, int64_t d_v, double logit_bound,
                         const PolyOptions &options) {
  PolyPlan plan;
  const double R = std::max(logit_bound, kMinInterval);
  auto try_degree = [&](int64_t g) {
    plan.degree = g;
    plan.coefficients = polynomial_coefficients(g, R, options.taylor);
    plan.eta = relative_error(plan.coefficients, R);
    plan.error_bound = plan.eta < 1.0 ? 2.0 * plan.eta / (1.0 - plan.eta) : HUGE_VAL;
  };
  if (options.degree >= 0) {
    try_degree(options.degree);
    if (!(plan.eta < 0.5))
      std::snprintf(plan.refusal, sizeof plan.refusal,
                    "the degree-%lld polynomial is not safely positive on [-%g, %g] "
                    "(relative error %.3g)",
                    static_cast<long long>(plan.degree), R, R, plan.eta);
  } else {
    bool met = false;
    for (int64_t g = 0; g <= PolyOptions::kMaxDegree && !met; ++g) {
      try_degree(g);
      met = plan.error_bound <= options.tolerance;
    }
    if (!met) {
      plan.degree = PolyOptions::kMaxDegree + 1;
      std::snprintf(plan.refusal, sizeof plan.refusal,
                    "no degree <= %d reaches tolerance %g on [-%g, %g]", PolyOptions::kMaxDegree,
                    options.tolerance, R, R);
    }
  }
  plan.rank = binomial_rank(d_k, plan.degree);
  const int64_t limit =
      options.max_rank > 0 ? options.max_rank : break_even_rank(n_q, n_kv, d_k, d_v);
  if (plan.refusal[0] == '\0' && plan.rank > limit)
    std::snprintf(plan.refusal, sizeof plan.refusal,
                  "rank C(%lld + %lld, %lld) = %lld exceeds the limit %lld%s",
                  static_cast<long long>(d_k), static_cast<long long>(plan.degree),
                  static_cast<long long>(plan.degree), static_cast<long long>(plan.rank),
                  static_cast<long long>(limit),
                  options.max_rank > 0 ? "" : " (beyond it the exact method is faster)");
  return plan;
}

double polynomial_attention(const ConstView &Q, const ConstView &K, const ConstView &V,
                            double scale, const PolyPlan &plan, const PolyOptions &options,
                            const MutView &out) {
  const int64_t n_q = Q.rows, n_kv = K.rows, d_k = Q.cols, d_v = V.cols;
  const int64_t r = plan.rank, width = d_v + 1;
  const Monomials monomials = enumerate_monomials(d_k, plan.degree, r, plan.coefficients);

  // Balance the two sides: s <q, k> = <sigma_q q, sigma_k k> with
  // max |sigma_q q| = max |sigma_k k| = sqrt(R), so the monomials of both
  // sides have comparable size.
  const long double q_norm = max_row_norm(Q), k_norm = max_row_norm(K);
  double sigma_q = std::sqrt(scale), sigma_k = std::sqrt(scale);
  if (q_norm > 0.0L && k_norm > 0.0L) {
    const long double root = std::sqrt(static_cast<long double>(scale) * q_norm * k_norm);
    sigma_q = static_cast<double>(root / q_norm);
    sigma_k = static_cast<double>(root / k_norm);
  }

  const int64_t block = std::clamp<int64_t>(kFeatureBlock / r, 1, 512);
  Array<double> feature(checked_product(r, block));
  Array<double> scaled_row(d_k);
  Array<double> W(checked_product(r, width));         // U2^T [V 1], column-major r x (d_v + 1)
  Array<double> abs_mass(r);                          // |U2|^T 1
  Array<double> result(checked_product(n_q, width));  // column-major (d_v + 1) x n_q
  Array<double> abs_normalizer(n_q);                  // |U1| |U2|^T 1
  abs_mass.fill(0.0);
  double *ones_column = W.data() + d_v * r;
  std::fill(ones_column, ones_column + r, 0.0);

  for (int64_t c0 = 0; c0 < n_kv; c0 += block) {
    const int64_t bk = std::min(block, n_kv - c0);
    features(K, c0, bk, sigma_k, monomials, nullptr, r, feature.data(), scaled_row.data());
    const double *v_rows = V.row_major ? V.data + c0 * V.ld : V.data + c0;
    // W[:, 0:d_v] += F (r x bk) V[c0:c0+bk, :]
    blas::gemm(blas::Op::N, V.as_col_major(blas::Op::N), r, d_v, bk, 1.0, feature.data(), r, v_rows,
               V.ld, c0 == 0 ? 0.0 : 1.0, W.data(), r);
    for (int64_t c = 0; c < bk; ++c) {
      const double *f = feature.data() + c * r;
      for (int64_t k = 0; k < r; ++k) {
        ones_column[k] += f[k];
        abs_mass[k] += std::fabs(f[k]);
      }
    }
  }

  for (int64_t i0 = 0; i0 < n_q; i0 += block) {
    const int64_t bq = std::min(block, n_q - i0);
    features(Q, i0, bq, sigma_q, monomials, monomials.weight.data(), r, feature.data(),
             scaled_row.data());
    // result[:, i0:i0+bq] = W^T G: numerators and, in the last row, D~.
    blas::gemm(blas::Op::T, blas::Op::N, width, bq, r, 1.0, W.data(), r, feature.data(), r, 0.0,
               result.data() + i0 * width, width);
    for (int64_t i = 0; i < bq; ++i) {
      const double *f = feature.data() + i * r;
      double sum = 0.0;
      for (int64_t k = 0; k < r; ++k) sum += std::fabs(f[k]) * abs_mass[k];
      abs_normalizer[i0 + i] = sum;
    }
  }

  // A normalizer is computed with about (r + n_kv) roundings of terms
  // bounded by |U1| |U2|^T 1; the numerators likewise relative to
  // max |V[:, j]|. Refuse rather than divide by a number that may be noise.
  const double gamma = 2.0 * static_cast<double>(r + n_kv) * num::kUnitRoundoff;
  double worst_rounding = 0.0;
  for (int64_t i = 0; i < n_q; ++i) {
    const double normalizer = result[i * width + d_v];
    const double rounding = gamma * abs_normalizer[i];
    if (!(normalizer > 0.0) || !(rounding <= 0.5 * normalizer))
      fail(ATT_E_APPROXIMATION,
           "normalizer D~[%lld] = %g is not safely positive (rounding error up to %g)",
           static_cast<long long>(i), normalizer, rounding);
    worst_rounding = std::max(worst_rounding, 2.0 * rounding / normalizer);
  }
  const double bound = plan.error_bound + worst_rounding;
  if (options.degree < 0 && bound > options.tolerance)
    fail(ATT_E_APPROXIMATION,
         "rounding raises the error bound to %g, above the tolerance %g (degree %lld)", bound,
         options.tolerance, static_cast<long long>(plan.degree));

  for (int64_t i = 0; i < n_q; ++i) {
    const double *row = result.data() + i * width;
    for (int64_t j = 0; j < d_v; ++j) out(i, j) = row[j] / row[d_v];
  }
  return bound;
}

}  // namespace att

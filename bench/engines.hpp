// The contenders of dynattn-bench behind one interface: the library (in any
// configuration from the table in main.cpp) and three baselines written here
// with the same OpenBLAS, so every speed figure can be a ratio measured in the
// same run.
//
//   recompute  B recomputed from scratch (Q K^T dgemm, row-shifted exp, A V
//              dgemm) by the first query after any update; also the static
//              recomputation that att_init is compared with.
//   eager      A, D and C = A V kept exact: update_k = one column of
//              exponentials plus a rank-1 dger on C; update_v = one daxpy;
//              query = C[i,j] / D[i].
//   direct     A and D only: update_k = one column of exponentials;
//              update_v = O(1); query = dot(A[i,:], V[:,j]) / D[i].
#pragma once

#include <dynattn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common.hpp"

namespace bench {

// Q, K, V: row-major n x d. scale: the logit scale s of A = exp(s Q K^T).
struct Problem {
  int64_t n = 0;
  int64_t d = 0;
  double scale = 1.0;
  std::vector<double> Q, K, V;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual void update_k(int64_t row, int64_t col, double delta) = 0;
  virtual void update_v(int64_t row, int64_t col, double delta) = 0;
  // Not const: the recompute baseline refreshes its copy of B here.
  virtual double query(int64_t row, int64_t col) = 0;
  // Rows the library has recomputed since its init (ATT_STAT_ROWS_RECOMPUTED),
  // or -1 for a baseline.
  virtual int64_t rows_recomputed() const { return -1; }
};

// B = D^-1 exp(s Q K^T) V from scratch, each row of the logits shifted by its
// maximum. Keeps its n x n scratch between calls.
class StaticAttention {
 public:
  StaticAttention(int64_t n, int64_t d);
  // B: row-major n x d, overwritten.
  void compute(const Problem &shape, const double *Q, const double *K, const double *V, double *B);

 private:
  int64_t n_, d_;
  Doubles A_;
  std::vector<double> row_sum_;
};

// Row i of B recomputed from scratch with O(n) memory: the logits s K Q[i,:]
// (dgemv), shifted by their maximum, exponentiated, then V^T a / sum(a).
// b_row: d entries, overwritten; scratch is resized as needed.
void reference_row(const Problem &p, int64_t i, double *b_row, std::vector<double> &scratch);

// Fills a library configuration; the logit scale is already set.
using ConfigFill = att_status (*)(att_config *cfg, int64_t k);

// Each constructor is the timed "init" of its contender; each copies what it
// needs from the problem.
std::unique_ptr<Engine> make_library(const Problem &p, ConfigFill fill, int64_t k);
std::unique_ptr<Engine> make_recompute(const Problem &p);
std::unique_ptr<Engine> make_eager(const Problem &p);
std::unique_ptr<Engine> make_direct(const Problem &p);

}  // namespace bench

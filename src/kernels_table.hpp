// One instruction set's implementation of the kernels in kernels.hpp.
#pragma once

#include <cstdint>

namespace att::kern {

struct Table {
  void (*exp_offset)(const double *, double, double *, int64_t);
  bool (*axpy)(const double *, double, const double *, double *, double, int64_t);
  bool (*running_max)(const double *, double *, double, int64_t);
  void (*exp_accumulate)(const double *, const double *, double *, double *, double *, int64_t);
  void (*key_exps)(const double *, const double *, const double *, double *, double *, int64_t);
  bool (*key_propose)(const double *, double, const double *, const double *, double *, double *,
                      double *, double, int64_t);
  int64_t (*key_column)(double *, const double *, const double *, const double *, const double *,
                        const double *, double, double, double *, double *, double *, double *,
                        double *, unsigned char *, double, double, int64_t);
  void (*exp_shifted)(const double *, const double *, double *, int64_t);
  double (*max_of)(const double *, double, bool *, int64_t);
  double (*exp_sum)(const double *, double, double *, int64_t);
  void (*add)(const double *, double *, int64_t);
};

extern const Table kGenericTable;
extern const Table kAvx2Table;
extern const Table kAvx512Table;

}  // namespace att::kern

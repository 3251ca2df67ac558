#include "kernels.hpp"

#include "kernels_table.hpp"

namespace att::kern {
namespace {

const Table &select_table() {
#if defined(__x86_64__) && defined(ATT_HAVE_X86_KERNELS)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return kAvx512Table;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kAvx2Table;
#endif
  return kGenericTable;
}

// Chosen once, on first use (thread-safe initialization of a local static).
const Table &table() {
  static const Table &chosen = select_table();
  return chosen;
}

}  // namespace

void exp_offset(const double *x, double shift, double *a, int64_t n) {
  table().exp_offset(x, shift, a, n);
}
bool axpy(const double *m, double s, const double *q, double *out, double limit, int64_t n) {
  return table().axpy(m, s, q, out, limit, n);
}
bool running_max(const double *m, double *shift, double limit, int64_t n) {
  return table().running_max(m, shift, limit, n);
}
void exp_accumulate(const double *m, const double *shift, double *a, double *hi, double *lo,
                    int64_t n) {
  table().exp_accumulate(m, shift, a, hi, lo, n);
}
void key_exps(const double *m, const double *logits, const double *shift, double *e_old,
              double *e_new, int64_t n) {
  table().key_exps(m, logits, shift, e_old, e_new, n);
}
bool key_propose(const double *m, double s, const double *q, const double *shift, double *logits,
                 double *e_old, double *e_new, double limit, int64_t n) {
  return table().key_propose(m, s, q, shift, logits, e_old, e_new, limit, n);
}
int64_t key_column(double *m, const double *logits, const double *shift, const double *e_old,
                   const double *e_new, const double *norm, double recompute, double drift,
                   double *a_new, double *delta, double *hi, double *lo, double *err,
                   unsigned char *flagged, double charge, double tol, int64_t n) {
  return table().key_column(m, logits, shift, e_old, e_new, norm, recompute, drift, a_new, delta,
                            hi, lo, err, flagged, charge, tol, n);
}
void exp_shifted(const double *x, const double *shift, double *a, int64_t n) {
  table().exp_shifted(x, shift, a, n);
}
double max_of(const double *x, double limit, bool *bad, int64_t n) {
  return table().max_of(x, limit, bad, n);
}
double exp_sum(const double *x, double shift, double *a, int64_t n) {
  return table().exp_sum(x, shift, a, n);
}
void add(const double *x, double *y, int64_t n) { table().add(x, y, n); }

}  // namespace att::kern

#include "kernels.hpp"

#include <cstdlib>
#include <cstring>

#include "kernels_table.hpp"

namespace att::kern {
namespace {

// The widest instruction set the environment allows: DYNATTN_MAX_CPU_ISA =
// generic, avx2 or avx512 caps the choice (to test the other tables on one
// machine, or to run the same kernels on machines of different widths);
// unset or any other value leaves it to the CPU.
Isa isa_cap() {
  const char *cap = std::getenv("DYNATTN_MAX_CPU_ISA");
  if (cap == nullptr) return Isa::avx512;
  if (std::strcmp(cap, "generic") == 0) return Isa::generic;
  if (std::strcmp(cap, "avx2") == 0) return Isa::avx2;
  return Isa::avx512;
}

Isa select_isa() {
  const Isa cap = isa_cap();
  if (cap >= Isa::avx512 && isa_supported(Isa::avx512)) return Isa::avx512;
  if (cap >= Isa::avx2 && isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::generic;
}

// Chosen once, on first use (thread-safe initialization of a local static).
const Table &table() {
  static const Table &chosen = table_of(active_isa());
  return chosen;
}

}  // namespace

bool isa_supported(Isa isa) {
  if (isa == Isa::generic) return true;
#if defined(__x86_64__) && defined(ATT_HAVE_X86_KERNELS)
  __builtin_cpu_init();
  if (isa == Isa::avx512) return __builtin_cpu_supports("avx512f");
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

Isa active_isa() {
  static const Isa chosen = select_isa();
  return chosen;
}

const Table &table_of(Isa isa) {
  switch (isa) {
#if defined(ATT_HAVE_X86_KERNELS)
    case Isa::avx512: return kAvx512Table;
    case Isa::avx2: return kAvx2Table;
#else
    case Isa::avx512:
    case Isa::avx2:
#endif
    case Isa::generic: break;
  }
  return kGenericTable;
}

const char *isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::generic: break;
  }
  return "generic";
}

void exp_offset(const double *x, double shift, double *a, int64_t n) {
  table().exp_offset(x, shift, a, n);
}
bool axpy(const double *m, double s, const double *q, double *out, double limit, int64_t n) {
  return table().axpy(m, s, q, out, limit, n);
}
bool running_max(const double *m, double *shift, double limit, int64_t n) {
  return table().running_max(m, shift, limit, n);
}
KeyScaleResult key_scale(const KeyScale &k, int64_t n) { return table().key_scale(k, n); }
int64_t key_column(const KeyColumn &k, int64_t n) { return table().key_column(k, n); }
void exp_shifted(const double *x, const double *shift, double *a, int64_t n) {
  table().exp_shifted(x, shift, a, n);
}
double max_of(const double *x, double limit, bool *bad, int64_t n) {
  return table().max_of(x, limit, bad, n);
}
double exp_sum(const double *x, double shift, double *a, int64_t n) {
  return table().exp_sum(x, shift, a, n);
}
void add_columns(const double *const *cols, int64_t count, double c, double *out, int64_t n) {
  table().add_columns(cols, count, c, out, n);
}
void combine_columns(const double *const *cols, const double *coefficients, int64_t count,
                     double *out, int64_t n) {
  table().combine_columns(cols, coefficients, count, out, n);
}
void stream_zero(double *a, int64_t n) { table().stream_zero(a, n); }
void panel_product(const PanelProduct &g) { table().panel_product(g); }
double panel_dot(const double *a, int64_t sa, const double *b, int64_t sb, int64_t k) {
  return table().panel_dot(a, sa, b, sb, k);
}
void tile_weights(double *x, int64_t ld, double *copy, int64_t ldc, int64_t begin, int64_t end,
                  int64_t cols, const int64_t *hidden, const double *top, double *hi, double *lo) {
  table().tile_weights(x, ld, copy, ldc, begin, end, cols, hidden, top, hi, lo);
}

}  // namespace att::kern

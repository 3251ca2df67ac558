// One instruction set's implementation of the kernels in kernels.hpp.
#pragma once

#include <cstdint>

#include "kernels.hpp"

namespace att::kern {

struct Table {
  void (*exp_offset)(const double *, double, double *, int64_t);
  bool (*axpy)(const double *, double, const double *, double *, double, int64_t);
  bool (*running_max)(const double *, double *, double, int64_t);
  void (*exp_accumulate)(const double *, const double *, double *, double *, double *, int64_t);
  KeyScaleResult (*key_scale)(const KeyScale &, int64_t);
  int64_t (*key_column)(const KeyColumn &, int64_t);
  void (*exp_shifted)(const double *, const double *, double *, int64_t);
  double (*max_of)(const double *, double, bool *, int64_t);
  double (*exp_sum)(const double *, double, double *, int64_t);
  void (*add_columns)(const double *const *, int64_t, double, double *, int64_t);
  void (*combine_columns)(const double *const *, const double *, int64_t, double *, int64_t);
  void (*stream_zero)(double *, int64_t);
  void (*panel_product)(const PanelProduct &);
  void (*tile_weights)(double *, int64_t, double *, int64_t, int64_t, int64_t, int64_t,
                       const int64_t *, const double *, double *, double *);
  double (*panel_dot)(const double *, int64_t, const double *, int64_t, int64_t);
};

extern const Table kGenericTable;
extern const Table kAvx2Table;    // x86-64 builds only
extern const Table kAvx512Table;  // x86-64 builds only

// The instruction sets, narrowest first.
enum class Isa { generic, avx2, avx512 };

// The table the kernels use: the widest the CPU supports, capped by the
// environment variable DYNATTN_MAX_CPU_ISA (kernels.cpp), chosen once.
Isa active_isa();
// Whether this build has the instruction set's table and the CPU runs it.
bool isa_supported(Isa isa);
// An instruction set's table (the generic one where the build has no other);
// the caller checks isa_supported.
const Table &table_of(Isa isa);
const char *isa_name(Isa isa);

}  // namespace att::kern

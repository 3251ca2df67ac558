// The seeded normal generator of the Gaussian sketch. Its exact definition
// is part of the public contract (include/dynattn.h, att_sparsify_gaussian):
// splitmix64 seeding, xoshiro256** uniforms, Marsaglia's polar method with
// the library's own logarithm, so the same seed gives bitwise the same
// normals on every IEEE-754 platform (the library is built with
// -ffp-contract=off so that no compiler fuses the operations).
#pragma once

#include <cstdint>

namespace att {

// ln(w) for 0 < w < 1 from +, -, *, / and frexp only (see the header).
double portable_log(double w);

class NormalStream {
 public:
  explicit NormalStream(uint64_t seed);
  double next();

 private:
  double uniform();
  uint64_t state_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace att

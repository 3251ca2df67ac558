#include "random.hpp"

#include <cmath>

namespace att {
namespace {

uint64_t splitmix64(uint64_t &x) {
  x += 0x9E3779B97F4A7C15ULL;
  uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

constexpr double kLn2 = 0x1.62e42fefa39efp-1;

}  // namespace

double portable_log(double w) {
  int e = 0;
  const double t = std::frexp(w, &e);  // w = t 2^e, t in [0.5, 1): exact
  const double z = (t - 1.0) / (t + 1.0);
  const double z2 = z * z;
  // 2 atanh(z) = 2 (z + z^3/3 + ... + z^41/41), |z| <= 1/3, Horner in z^2
  // from the highest term down; the first omitted term is below 2^-70.
  double p = 1.0 / 41.0;
  for (int k = 19; k >= 0; --k) p = p * z2 + 1.0 / (2 * k + 1);
  return static_cast<double>(e) * kLn2 + 2.0 * z * p;
}

NormalStream::NormalStream(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t &s : state_) s = splitmix64(x);
}

double NormalStream::uniform() {
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return static_cast<double>(result >> 11) * 0x1p-53;
}

double NormalStream::next() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double a = 0.0, b = 0.0, w = 0.0;
  do {
    a = 2.0 * uniform() - 1.0;
    b = 2.0 * uniform() - 1.0;
    w = a * a + b * b;
  } while (w >= 1.0 || w == 0.0);
  const double f = std::sqrt(-2.0 * portable_log(w) / w);
  spare_ = b * f;
  has_spare_ = true;
  return a * f;
}

}  // namespace att

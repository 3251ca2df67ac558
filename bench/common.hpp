// Shared pieces of dynattn-bench: the seeded random numbers, the clock, the
// summary statistics and the vector exponential used by the baselines and the
// BLAS-3 floor.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <sys/mman.h>

namespace bench {

// The allocator of every large buffer in the benchmark (the n x n matrices of
// the baselines and the static recomputation): buffers of 4 MiB or more are
// 2 MiB aligned and advised for transparent huge pages, as the library does
// with its own, so that no contender's first touch of its memory costs more
// page faults than another's.
template <class T>
struct HugeAllocator {
  using value_type = T;
  HugeAllocator() = default;
  template <class U>
  HugeAllocator(const HugeAllocator<U> &) {}
  T *allocate(size_t count) {
    const size_t bytes = count * sizeof(T);
    const bool huge = bytes >= (size_t{4} << 20);
    void *p = nullptr;
    if (posix_memalign(&p, huge ? (size_t{2} << 20) : 64, bytes) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    if (huge) (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return static_cast<T *>(p);
  }
  void deallocate(T *p, size_t) { std::free(p); }
  template <class U>
  bool operator==(const HugeAllocator<U> &) const {
    return true;
  }
  template <class U>
  bool operator!=(const HugeAllocator<U> &) const {
    return false;
  }
};

using Doubles = std::vector<double, HugeAllocator<double>>;

// splitmix64: small, fast and good enough for indices and test data. Every
// random number a timed loop needs is drawn before the loop starts.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1), never 0.
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1p-53; }
  double normal() {
    const double two_pi = 6.283185307179586477;
    return std::sqrt(-2.0 * std::log(uniform())) * std::cos(two_pi * uniform());
  }
  int64_t index(int64_t bound) {
    return static_cast<int64_t>(next() % static_cast<uint64_t>(bound));
  }

 private:
  uint64_t state_;
};

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Median, 99th percentile and mean of a set of durations (seconds).
struct Summary {
  double median = 0.0;
  double p99 = 0.0;
  double mean = 0.0;
  double min = 0.0;
  double max = 0.0;
  size_t count = 0;
};

// Sorts its argument.
Summary summarize(std::vector<double> &samples);

// Median of a copy.
double median_of(std::vector<double> samples);

// The benchmark's exponential: the library's own kernel (vexp.cpp), y[i] =
// exp(x[i]), or 0 when x[i] < -708 so BLAS never meets subnormal numbers,
// exactly like the library. x may alias y.
void exp_clamped(const double *x, double *y, size_t count);
const char *exp_kernel_name();
// The same with SLEEF's and with glibc's libmvec's vector exp, for
// orientation ({nullptr, nullptr} when the build or the CPU has none), and
// with glibc's scalar exp.
struct ExpRoutine {
  const char *name;
  void (*exp)(const double *x, double *y, size_t count);
};
ExpRoutine sleef_exp();
ExpRoutine libmvec_exp();
void exp_clamped_scalar(const double *x, double *y, size_t count);
// The largest error of y[i] = exp(x[i]) in ulps of the exact value (long
// double), over the x[i] not below the floor.
double worst_exp_error(const double *x, const double *y, size_t count);

constexpr double kExpFloor = -708.0;

}  // namespace bench

// Options chosen at att_init, validated by the setters in capi.cpp.
#pragma once

#include <cmath>
#include <cstdint>

namespace att {

struct Config {
  static constexpr int64_t kMaxLazyLimit = int64_t{1} << 20;
  static constexpr int64_t kDefaultLazyLimit = 64;

  int64_t lazy_limit = 0;      // 0: automatic, or derived from lazy_exponent
  double lazy_exponent = 0.0;  // 0: unused; else k = ceil(n^a)
  double logit_scale = 1.0;
  bool causal = false;        // causal mask (KeyMask in kernel_store.hpp)
  int storage = 2;            // an att_storage value; 2 = ATT_STORAGE_AUTO
  int64_t memory_budget = 0;  // bytes for ATT_STORAGE_AUTO; 0: automatic
  int strategy = 1;           // an att_strategy value; 1 = ATT_STRATEGY_ADAPTIVE

  // The lazy limit k for a problem with n rows. The automatic choice is the
  // smallest k at which a fold's matrix product runs near full speed
  // (docs/PERFORMANCE.md, "Against the lazy limit k"), capped by n so that
  // tiny problems fold often.
  int64_t resolve_lazy_limit(int64_t n) const {
    if (lazy_limit > 0) return lazy_limit;
    if (lazy_exponent > 0.0) {
      const double k = std::ceil(std::pow(static_cast<double>(n), lazy_exponent));
      return k >= static_cast<double>(kMaxLazyLimit)
                 ? kMaxLazyLimit
                 : std::max<int64_t>(1, static_cast<int64_t>(k));
    }
    return std::max<int64_t>(1, std::min<int64_t>(kDefaultLazyLimit, n));
  }
};

}  // namespace att

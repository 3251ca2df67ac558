// Summary statistics of timings.
#include <algorithm>
#include <cmath>

#include "common.hpp"

namespace bench {

Summary summarize(std::vector<double> &samples) {
  Summary s;
  s.count = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  s.median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  s.p99 =
      samples[std::min(n - 1, static_cast<size_t>(std::ceil(0.99 * static_cast<double>(n))) - 1)];
  s.min = samples.front();
  s.max = samples.back();
  double sum = 0.0;
  for (double t : samples) sum += t;
  s.mean = sum / static_cast<double>(n);
  return s;
}

double median_of(std::vector<double> samples) { return summarize(samples).median; }

}  // namespace bench

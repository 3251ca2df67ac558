// The order in which a batch of entry changes is checked and applied
// (DynamicAttention::batch). The entries are sorted by row and, within a row,
// by column, keeping call order among the entries of one (row, column): such
// a group is a run, whose entries add up (or the last one is set) in call
// order, and the runs of one row are consecutive. Each run carries its new
// value and whether that changes its entry, which the batch's check fills
// in. O(count) memory; the call's arrays must outlive the plan.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace att {

class BatchPlan {
 public:
  BatchPlan(int64_t count, const int64_t *rows, const int64_t *cols)
      : rows_(rows), cols_(cols), order_(static_cast<size_t>(count)) {
    for (int64_t t = 0; t < count; ++t) order_[static_cast<size_t>(t)] = t;
    std::stable_sort(order_.begin(), order_.end(), [rows, cols](int64_t a, int64_t b) {
      return rows[a] != rows[b] ? rows[a] < rows[b] : cols[a] < cols[b];
    });
    for (int64_t p = 0; p < count; ++p)
      if (p == 0 || rows[entry(p)] != rows[entry(p - 1)] || cols[entry(p)] != cols[entry(p - 1)])
        start_.push_back(p);
    runs_ = static_cast<int64_t>(start_.size());
    start_.push_back(count);
    value_.resize(static_cast<size_t>(runs_));
    changes_.resize(static_cast<size_t>(runs_), 0);
  }

  int64_t runs() const { return runs_; }
  int64_t row(int64_t r) const { return rows_[entry(first(r))]; }
  int64_t col(int64_t r) const { return cols_[entry(first(r))]; }
  // One past the last run of run r0's row.
  int64_t row_end(int64_t r0) const {
    int64_t r1 = r0 + 1;
    while (r1 < runs_ && row(r1) == row(r0)) ++r1;
    return r1;
  }

  // Run r's entries are entry(p) for p in [first(r), first(r + 1)), in call
  // order: indices into the call's arrays.
  int64_t first(int64_t r) const { return start_[static_cast<size_t>(r)]; }
  int64_t entry(int64_t p) const { return order_[static_cast<size_t>(p)]; }
  // The last in call order of the entries of runs [r0, r1).
  int64_t last_entry(int64_t r0, int64_t r1) const {
    int64_t last = 0;
    for (int64_t p = first(r0); p < first(r1); ++p) last = std::max(last, entry(p));
    return last;
  }

  // Run r's new value, and whether it changes the entry.
  double value(int64_t r) const { return value_[static_cast<size_t>(r)]; }
  bool changes(int64_t r) const { return changes_[static_cast<size_t>(r)] != 0; }
  void record(int64_t r, double value, bool changes) {
    value_[static_cast<size_t>(r)] = value;
    changes_[static_cast<size_t>(r)] = changes;
  }
  // Whether a run of [r0, r1) changes its entry; the one run that alone
  // does, or -1.
  bool any_change(int64_t r0, int64_t r1) const {
    for (int64_t r = r0; r < r1; ++r)
      if (changes(r)) return true;
    return false;
  }
  int64_t single_change(int64_t r0, int64_t r1) const {
    int64_t single = -1;
    for (int64_t r = r0; r < r1; ++r) {
      if (!changes(r)) continue;
      if (single >= 0) return -1;
      single = r;
    }
    return single;
  }

 private:
  const int64_t *rows_, *cols_;
  std::vector<int64_t> order_;  // entries by (row, column), call order within
  std::vector<int64_t> start_;  // run r is order_[start_[r], start_[r + 1])
  int64_t runs_ = 0;
  std::vector<double> value_;
  std::vector<unsigned char> changes_;
};

}  // namespace att

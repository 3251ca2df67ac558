// Causal masking of the attention kernel, shared by the dynamic structure
// and the static functions.
#pragma once

#include <algorithm>
#include <cstdint>

namespace att {

// Query row i sees key c iff !causal or c <= i + offset, offset = n_kv - n_q
// (>= 0: causal masking needs n_q <= n_kv, checked by every entry point).
struct KeyMask {
  bool causal = false;
  int64_t offset = 0;

  // First query row that sees key c.
  int64_t first_row(int64_t c) const { return causal ? std::max<int64_t>(0, c - offset) : 0; }
  // How many of the query rows [i, i + rows) do not see key c: they lead
  // the range, since the rows that see a key are a suffix.
  int64_t hidden_rows(int64_t c, int64_t i, int64_t rows) const {
    return std::min(rows, std::max<int64_t>(0, first_row(c) - i));
  }
  // One past the last key that query row i sees (>= 1 for every row).
  int64_t key_end(int64_t i, int64_t n_kv) const {
    return causal ? std::min<int64_t>(n_kv, i + offset + 1) : n_kv;
  }
};

}  // namespace att

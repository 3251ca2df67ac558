// Rows of the attention kernel times V, exp(s Q K^T - shift) V, computed in
// tiles of at most kQueryTile queries x kKeyTile keys: the one blocked
// computation behind the static attention and the streamed store. A tile's
// logits come from one dgemm into a buffer that stays in cache while its
// rows are validated and exponentiated, and go into the product with V by a
// second dgemm; nothing of size n_q x n_kv ever exists, and every logit is
// read from memory once.
#pragma once

#include <cstdint>

#include "buffer.hpp"
#include "key_mask.hpp"
#include "matrix_view.hpp"

namespace att {

class WorkerTeam;

// The inputs: Q (n_q x d_k), K (n_kv x d_k), V (n_kv x cols), in either
// layout, the logit scale and the mask.
struct TileOperands {
  ConstView Q;
  ConstView K;
  ConstView V;
  double scale;
  KeyMask mask;
};

class SoftmaxTiles {
 public:
  // 512 x 1024 doubles (4 MiB): both dgemms of a tile run near OpenBLAS's
  // peak on two cores (docs/ALGORITHMS.md, docs/PERFORMANCE.md), and one
  // query row's part of a tile (8 KiB) stays in L1 between its passes.
  static constexpr int64_t kQueryTile = 512;
  static constexpr int64_t kKeyTile = 1024;

  // Buffers for calls on at most n_q query rows and n_kv keys (throws
  // std::bad_alloc).
  SoftmaxTiles(int64_t n_q, int64_t n_kv);
  static int64_t bytes_for(int64_t n_q, int64_t n_kv);

  // Query rows [i0, i0 + count), in one pass over the keys with a running
  // maximum: shift[r] = the row's largest visible logit, row_sum[r] = the
  // sum of exp(logit - shift[r]) over its visible keys (compensated), and
  // acc (count x cols, column-major, leading dimension ld) = exp(logits -
  // shift) V. When a later key tile raises a row's maximum, its partial sum
  // and product are multiplied by exp(old - new). err, when not null,
  // receives each row's error bound (numerics.hpp: kFreshCharge +
  // kTileCharge + kRescaleCharge per rescale, times u row_sum). Every
  // pointer points at row i0's entry. Returns the first row with a visible
  // logit that is NaN or exceeds `limit` in magnitude (the rows' outputs
  // are then unusable), or -1.
  int64_t compute(const TileOperands &ops, int64_t i0, int64_t count, double limit, double *shift,
                  double *row_sum, double *err, double *acc, int64_t ld);

  // acc = exp(logits - shift) V for query rows [i0, i0 + count) whose
  // shifts are known (shift points at row i0's).
  void multiply(const TileOperands &ops, const double *shift, int64_t i0, int64_t count,
                double *acc, int64_t ld);

 private:
  // For each key tile of the query rows [i, i + bq): the tile's logits into
  // tile_ (bk x bq; column r holds row i + r's logits of the tile's keys,
  // 0 for the keys it does not see), row(r, x, visible) for every row that
  // sees at least one of them, on the team's threads (x: the column; the
  // row may rewrite its first `visible` entries, which then multiply V),
  // and acc (bq x cols) = tile_^T V[tile's keys, :], summed over the tiles.
  template <class Row>
  void sweep_keys(const TileOperands &ops, WorkerTeam &team, int64_t i, int64_t bq, double *acc,
                  int64_t ld, const Row &row);

  int64_t bq_max_, bk_max_;
  Array<double> tile_;
  Array<double> hi_, lo_;    // per query row of a tile: compensated sum
  Array<int64_t> rescales_;  // per query row of a tile
};

}  // namespace att

// Rows of the attention kernel times V, exp(s Q K^T - shift) V, computed in
// blocks of query rows that the process's helper team (worker_team.hpp)
// and the calling thread take in turn, each
// block in tiles of kKeyTile keys: the one blocked computation behind the
// static attention and the streamed store. A tile's logits come from one
// matrix product (kern::panel_product) into the thread's own buffer, which
// stays in the core's cache while they are validated and exponentiated and
// while a second product multiplies them into V; nothing of size n_q x n_kv
// ever exists, and every logit is computed once.
//
// The products are the library's own rather than dgemm's: each thread runs
// whole blocks, products and exponentials alike, so no work is handed
// between OpenBLAS's threads and the library's between the steps of a tile
// (docs/PERFORMANCE.md, "Streamed storage": on a 2-core machine those
// handovers, and OpenBLAS's idle threads yielding on the core the library's
// helper needs, cost about a quarter of the init).
#pragma once

#include <cstdint>
#include <vector>

#include "buffer.hpp"
#include "key_mask.hpp"
#include "matrix_view.hpp"

namespace att {

// The inputs: Q (n_q x d_k), K (n_kv x d_k), V (n_kv x cols), in either
// layout, the logit scale and the mask.
struct TileOperands {
  ConstView Q;
  ConstView K;
  ConstView V;
  double scale;
  KeyMask mask;
};

// Q and K (column-major, n x d_k) and V as the tiles' operands.
TileOperands tile_operands(const Matrix &Q, const Matrix &K, double scale, KeyMask mask,
                           const ConstView &V);

class SoftmaxTiles {
 public:
  // A thread's tile of 192 query rows x 256 keys (384 KiB) and its block's
  // queries (96 KiB at d_k = 64) stay in a core's L2 cache (1 MiB on the
  // development machine) from the product that makes the logits to the one
  // that multiplies them into V; the query rows are a multiple of
  // kern::kPanelPad.
  static constexpr int64_t kQueryBlock = 192;
  static constexpr int64_t kKeyTile = 256;

  // Buffers for calls on at most n_q query rows, n_kv keys and d_k features,
  // for as many threads as OpenBLAS uses now (throws std::bad_alloc); for
  // at least 2 kQueryBlock rows starts the process's helper team if it has
  // not been started (team::start).
  SoftmaxTiles(int64_t n_q, int64_t n_kv, int64_t d_k);
  // What the constructor would allocate now, and what this one holds (its
  // slots, one per OpenBLAS thread when it was built).
  static int64_t bytes_for(int64_t n_q, int64_t n_kv, int64_t d_k);
  int64_t bytes() const;

  // Query rows [i0, i0 + count), in one pass over the keys with a running
  // maximum: shift[r] = the row's largest visible logit, row_sum[r] = the
  // sum of exp(logit - shift[r]) over its visible keys (compensated), and
  // acc (count x cols, column-major, leading dimension ld) = exp(logits -
  // shift) V. When a later key tile raises a row's maximum, its partial sum
  // and product are multiplied by exp(old - new). err, when not null,
  // receives each row's error bound (numerics.hpp: kFreshCharge +
  // kTileCharge + kRescaleCharge per rescale, times u row_sum). Every
  // pointer points at row i0's entry. Returns a row with a visible logit
  // that is NaN or exceeds `limit` in magnitude (the rows' outputs are then
  // unusable), or -1.
  int64_t compute(const TileOperands &ops, int64_t i0, int64_t count, double limit, double *shift,
                  double *row_sum, double *err, double *acc, int64_t ld);

  // compute() for a store that keeps the kernel: the weights
  // exp(logits - shift) of rows [i0, i0 + count) also go to `kernel`
  // (column-major, leading dimension ldk, at row i0's entry of key 0; 0
  // where a row does not see a key). Each block takes two passes over its
  // keys, so that every kept weight is relative to its row's final maximum
  // (no rescaling): the first stores the logits in `kernel` and finds the
  // maxima, the second turns them into weights there and multiplies them
  // into acc. err receives kFreshCharge + kTileCharge.
  int64_t compute_kept(const TileOperands &ops, int64_t i0, int64_t count, double limit,
                       double *shift, double *row_sum, double *err, double *acc, int64_t ld,
                       double *kernel, int64_t ldk);

  // acc = exp(logits - shift) V for query rows [i0, i0 + count) whose
  // shifts are known (shift points at row i0's).
  void multiply(const TileOperands &ops, const double *shift, int64_t i0, int64_t count,
                double *acc, int64_t ld);

 private:
  // One thread's buffers.
  struct Slot {
    Slot(int64_t rows, int64_t keys, int64_t d_k);
    static int64_t bytes(int64_t rows, int64_t keys, int64_t d_k);
    int64_t bytes() const;  // counted from the buffers held
    Array<double> queries;  // the block's rows of Q: padded rows x d_k, column-major
    Array<double> tile;     // padded rows x keys: a tile's logits, then its weights
    Array<double> tile_max, hi, lo;
    Array<int64_t> rescales;
    Array<int64_t> hidden;  // per key of a tile: how many of the block's rows do not see it
  };

  // Runs block(slot, r0, rows) over the row blocks of [0, count) on as many
  // of the team's threads as the work and the slots allow. A block returns
  // a row with a bad logit, or -1; so does run_blocks (one of the rows the
  // blocks returned).
  template <class Block>
  int64_t run_blocks(const TileOperands &ops, int64_t count, const Block &block);

  // The slot's compensated sums and rescale counts of a block's rows, zeroed.
  static void start_sums(Slot &slot, int64_t bq);

  // The block's rows of Q into slot.queries, as the first product's a (the
  // padding rows 0).
  static void pack_queries(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq);

  // The tile of keys [c0, c0 + bk) for the block of bq rows whose queries
  // pack_queries packed: out (rows x bk, leading dimension ldo) = s Q K^T,
  // with rows = bq, or kern::panel_rows(bq) for slot.tile, whose padding rows (logits
  // 0) a later product reads.
  static void form_logits(const TileOperands &ops, const Slot &slot, int64_t rows, int64_t c0,
                          int64_t bk, double *out, int64_t ldo);

  // acc (bq x V.cols, leading dimension ld) (+)= the tile's weights in
  // slot.tile times V[c0 : c0 + bk, :], the first tile (c0 = 0) storing.
  static void multiply_tile(const TileOperands &ops, const Slot &slot, int64_t bq, int64_t c0,
                            int64_t bk, double *acc, int64_t ld);

  // slot.hidden[c] = how many of the rows [i, i + bq) do not see key c0 + c.
  static void hide_keys(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq, int64_t c0,
                        int64_t bk);

  // hide_keys, then top[r] = max(top[r], row r's visible logits in the tile
  // (leading dimension ldt)). Returns a row with a visible logit that is
  // NaN or above `limit` in magnitude, else -1.
  static int64_t tile_maxima(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq, int64_t c0,
                             int64_t bk, const double *tile, int64_t ldt, double limit,
                             double *top);

  // row_sum (and err, when not null) of the block's rows from the slot's
  // compensated sums and rescale counts.
  static void finish_rows(const Slot &slot, int64_t bq, double *row_sum, double *err);

  // For each key tile of the query rows [i, i + bq): the tile's logits into
  // slot.tile (column c holds key c0 + c's logits for the block's rows, the
  // rows that do not see the key first), weigh(c0, bk, tile, ld) (which
  // turns them into weights, 0 for the rows that do not see the key, or
  // returns false to stop), then acc (bq x cols) += weights V[tile's keys,
  // :], the first tile storing instead of adding. Returns false when weigh
  // did.
  template <class Weigh>
  bool sweep_keys(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq, double *acc,
                  int64_t ld, const Weigh &weigh);

  int64_t compute_block(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq, double limit,
                        double *shift, double *row_sum, double *err, double *acc, int64_t ld);
  int64_t kept_block(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq, double limit,
                     double *top, double *row_sum, double *err, double *acc, int64_t ld,
                     double *kernel, int64_t ldk);

  // compute_block's work on the tile of keys [c0, c0 + bk): the rows'
  // maxima (returns a row with a visible logit that is NaN or above `limit`
  // in magnitude, else -1), the rescaling of the rows whose maximum rose,
  // and the weights added to the rows' sums.
  int64_t weigh_tile(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq, int64_t c0,
                     int64_t bk, double *tile, int64_t ldt, double limit, double *top, double *acc,
                     int64_t ld);

  int64_t bq_max_, bk_max_;
  std::vector<Slot> slots_;
};

}  // namespace att

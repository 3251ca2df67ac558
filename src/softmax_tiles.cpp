#include "softmax_tiles.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "blas.hpp"
#include "kernels.hpp"
#include "numerics.hpp"
#include "worker_team.hpp"

namespace att {
namespace {

constexpr double kNone = -std::numeric_limits<double>::infinity();

// The distance between consecutive rows and columns of a view.
int64_t row_stride(const ConstView &m) { return m.row_major ? m.ld : 1; }
int64_t col_stride(const ConstView &m) { return m.row_major ? 1 : m.ld; }

// One slot per thread that may run: as many as OpenBLAS uses, no more than
// there can be blocks.
int64_t slot_count(int64_t n_q) {
  return std::min<int64_t>(blas::threads(),
                           n_q / kern::kPanelPad + (n_q % kern::kPanelPad != 0 ? 1 : 0));
}

}  // namespace

TileOperands tile_operands(const Matrix &Q, const Matrix &K, double scale, KeyMask mask,
                           const ConstView &V) {
  return TileOperands{ConstView{Q.data(), Q.rows(), Q.cols(), Q.ld(), false},
                      ConstView{K.data(), K.rows(), K.cols(), K.ld(), false}, V, scale, mask};
}

SoftmaxTiles::Slot::Slot(int64_t rows, int64_t keys, int64_t d_k)
    : queries(kern::panel_rows(rows) * d_k),
      tile(kern::panel_rows(rows) * keys),
      tile_max(rows),
      hi(rows),
      lo(rows),
      rescales(rows),
      hidden(keys) {}

int64_t SoftmaxTiles::Slot::bytes(int64_t rows, int64_t keys, int64_t d_k) {
  // queries and tile; tile_max, hi, lo and rescales; hidden (8 bytes each).
  return static_cast<int64_t>(sizeof(double)) *
         (kern::panel_rows(rows) * (d_k + keys) + 4 * rows + keys);
}

SoftmaxTiles::SoftmaxTiles(int64_t n_q, int64_t n_kv, int64_t d_k)
    : bq_max_(std::min(n_q, kQueryBlock)), bk_max_(std::min(n_kv, kKeyTile)) {
  // Rows enough for two threads' blocks (run_blocks) start the helpers.
  if (n_q >= 2 * kQueryBlock) team::start();
  const int64_t slots = slot_count(n_q);
  slots_.reserve(static_cast<size_t>(slots));
  for (int64_t s = 0; s < slots; ++s) slots_.emplace_back(bq_max_, bk_max_, d_k);
}

int64_t SoftmaxTiles::Slot::bytes() const {
  return static_cast<int64_t>(sizeof(double)) *
             (queries.size() + tile.size() + tile_max.size() + hi.size() + lo.size()) +
         static_cast<int64_t>(sizeof(int64_t)) * (rescales.size() + hidden.size());
}

int64_t SoftmaxTiles::bytes() const {
  int64_t total = 0;
  for (const Slot &slot : slots_) total += slot.bytes();
  return total;
}

int64_t SoftmaxTiles::bytes_for(int64_t n_q, int64_t n_kv, int64_t d_k) {
  return slot_count(n_q) * Slot::bytes(std::min(n_q, kQueryBlock), std::min(n_kv, kKeyTile), d_k);
}

template <class Block>
int64_t SoftmaxTiles::run_blocks(const TileOperands &ops, int64_t count, const Block &block) {
  const double multiply_adds = static_cast<double>(count) * static_cast<double>(ops.K.rows) *
                               static_cast<double>(ops.Q.cols + ops.V.cols);
  // A thread per kQueryBlock rows at most: every block reads all of K and V
  // whatever its height, so that splitting fewer rows between threads only
  // multiplies that traffic (the background sweep's 128 rows took about a
  // quarter longer on two threads than on one).
  const int64_t threads =
      std::min<int64_t>({team::threads_for(multiply_adds), static_cast<int64_t>(slots_.size()),
                         std::max<int64_t>(1, count / kQueryBlock)});
  // Blocks small enough that every thread gets one, as large as the slots.
  const int64_t rows = std::min(bq_max_, kern::panel_rows((count + threads - 1) / threads));
  const int64_t blocks = (count + rows - 1) / rows;
  std::atomic<int64_t> bad{-1};
  team::run(blocks, 1, static_cast<int>(threads), [&](int64_t begin, int64_t end, int worker) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t row =
          block(slots_[static_cast<size_t>(worker)], b * rows, std::min(rows, count - b * rows));
      if (row >= 0) bad.store(row);
    }
  });
  return bad.load();
}

void SoftmaxTiles::start_sums(Slot &slot, int64_t bq) {
  std::fill(slot.hi.data(), slot.hi.data() + bq, 0.0);
  std::fill(slot.lo.data(), slot.lo.data() + bq, 0.0);
  std::fill(slot.rescales.data(), slot.rescales.data() + bq, int64_t{0});
}

void SoftmaxTiles::pack_queries(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq) {
  const int64_t pad = kern::panel_rows(bq);
  double *queries = slot.queries.data();
  for (int64_t p = 0; p < ops.Q.cols; ++p) {
    for (int64_t r = 0; r < bq; ++r) queries[r + p * pad] = ops.Q(i + r, p);
    std::fill(queries + bq + p * pad, queries + pad + p * pad, 0.0);
  }
}

template <class Weigh>
bool SoftmaxTiles::sweep_keys(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq,
                              double *acc, int64_t ld, const Weigh &weigh) {
  pack_queries(ops, slot, i, bq);
  // key_end grows with the row: the block's last row sees the most keys.
  const int64_t keys = ops.mask.key_end(i + bq - 1, ops.K.rows), pad = kern::panel_rows(bq);
  double *tile = slot.tile.data();
  for (int64_t c0 = 0; c0 < keys; c0 += bk_max_) {
    const int64_t bk = std::min(bk_max_, keys - c0);
    form_logits(ops, slot, pad, c0, bk, tile, pad);
    if (!weigh(c0, bk, tile, pad)) return false;
    multiply_tile(ops, slot, bq, c0, bk, acc, ld);
  }
  return true;
}

void SoftmaxTiles::form_logits(const TileOperands &ops, const Slot &slot, int64_t rows, int64_t c0,
                               int64_t bk, double *out, int64_t ldo) {
  kern::panel_product({rows, bk, ops.Q.cols, ops.scale, slot.queries.data(), kern::panel_rows(rows),
                       &ops.K(c0, 0), col_stride(ops.K), row_stride(ops.K), false, out, ldo});
}

void SoftmaxTiles::multiply_tile(const TileOperands &ops, const Slot &slot, int64_t bq, int64_t c0,
                                 int64_t bk, double *acc, int64_t ld) {
  kern::panel_product({bq, ops.V.cols, bk, 1.0, slot.tile.data(), kern::panel_rows(bq),
                       &ops.V(c0, 0), row_stride(ops.V), col_stride(ops.V), c0 > 0, acc, ld});
}

void SoftmaxTiles::hide_keys(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq, int64_t c0,
                             int64_t bk) {
  int64_t *hidden = slot.hidden.data();
  for (int64_t c = 0; c < bk; ++c) hidden[c] = ops.mask.hidden_rows(c0 + c, i, bq);
}

int64_t SoftmaxTiles::tile_maxima(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq,
                                  int64_t c0, int64_t bk, const double *tile, int64_t ldt,
                                  double limit, double *top) {
  hide_keys(ops, slot, i, bq, c0, bk);
  const int64_t *hidden = slot.hidden.data();
  bool flagged = false;
  for (int64_t c = 0; c < bk; ++c)
    flagged |=
        kern::running_max(tile + c * ldt + hidden[c], top + hidden[c], limit, bq - hidden[c]);
  if (!flagged) return -1;
  // Rare: find a row with such a logit.
  for (int64_t r = 0; r < bq; ++r) {
    const int64_t visible = std::clamp<int64_t>(ops.mask.key_end(i + r, ops.K.rows) - c0, 0, bk);
    for (int64_t c = 0; c < visible; ++c)
      if (!(std::fabs(tile[r + c * ldt]) <= limit)) return i + r;
  }
  return -1;
}

void SoftmaxTiles::finish_rows(const Slot &slot, int64_t bq, double *row_sum, double *err) {
  const double *hi = slot.hi.data(), *lo = slot.lo.data();
  const int64_t *rescales = slot.rescales.data();
  for (int64_t r = 0; r < bq; ++r) {
    row_sum[r] = hi[r] + lo[r];
    if (err != nullptr)
      err[r] = (num::kFreshCharge + num::kTileCharge +
                num::kRescaleCharge * static_cast<double>(rescales[r])) *
               num::kUnitRoundoff * row_sum[r];
  }
}

int64_t SoftmaxTiles::compute_block(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq,
                                    double limit, double *top, double *row_sum, double *err,
                                    double *acc, int64_t ld) {
  std::fill(top, top + bq, kNone);
  start_sums(slot, bq);
  int64_t bad = -1;
  const auto weigh = [&](int64_t c0, int64_t bk, double *tile, int64_t ldt) {
    bad = weigh_tile(ops, slot, i, bq, c0, bk, tile, ldt, limit, top, acc, ld);
    return bad < 0;
  };
  if (!sweep_keys(ops, slot, i, bq, acc, ld, weigh)) return bad;
  finish_rows(slot, bq, row_sum, err);
  return -1;
}

int64_t SoftmaxTiles::weigh_tile(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq,
                                 int64_t c0, int64_t bk, double *tile, int64_t ldt, double limit,
                                 double *top, double *acc, int64_t ld) {
  double *hi = slot.hi.data(), *lo = slot.lo.data(), *tile_max = slot.tile_max.data();
  int64_t *rescales = slot.rescales.data();
  std::fill(tile_max, tile_max + bq, kNone);
  const int64_t bad = tile_maxima(ops, slot, i, bq, c0, bk, tile, ldt, limit, tile_max);
  if (bad >= 0) return bad;
  // Every row sees key 0, so a row with a maximum already has the first
  // tile in acc: a higher maximum rescales what was summed under the old.
  for (int64_t r = 0; r < bq; ++r) {
    if (!(tile_max[r] > top[r])) continue;
    if (top[r] > kNone) {
      const double arg = top[r] - tile_max[r];
      const double f = arg < num::kExpFloor ? 0.0 : std::exp(arg);
      hi[r] *= f;
      lo[r] *= f;
      for (int64_t j = 0; j < ops.V.cols; ++j) acc[r + j * ld] *= f;
      ++rescales[r];
    }
    top[r] = tile_max[r];
  }
  kern::tile_weights(tile, ldt, nullptr, 0, 0, bq, bk,
                     ops.mask.causal ? slot.hidden.data() : nullptr, top, hi, lo);
  return -1;
}

int64_t SoftmaxTiles::compute(const TileOperands &ops, int64_t i0, int64_t count, double limit,
                              double *shift, double *row_sum, double *err, double *acc,
                              int64_t ld) {
  return run_blocks(ops, count, [&](Slot &slot, int64_t r0, int64_t bq) {
    return compute_block(ops, slot, i0 + r0, bq, limit, shift + r0, row_sum + r0,
                         err != nullptr ? err + r0 : nullptr, acc + r0, ld);
  });
}

// The first pass writes each tile's logits straight into the kernel, whose
// block of bq rows takes them as the product computes them; the second turns
// them into weights there and writes the weights into the tile buffer in the
// same pass (kern::tile_weights' copy), because the product with V reads its
// operand from there (its rows padded for the product's register tiles, its
// columns close together in L2).
int64_t SoftmaxTiles::kept_block(const TileOperands &ops, Slot &slot, int64_t i, int64_t bq,
                                 double limit, double *top, double *row_sum, double *err,
                                 double *acc, int64_t ld, double *kernel, int64_t ldk) {
  const int64_t n_kv = ops.K.rows, pad = kern::panel_rows(bq);
  const int64_t keys = ops.mask.key_end(i + bq - 1, n_kv);
  // Pass 1: the logits, kept, and the rows' maxima over what they see.
  pack_queries(ops, slot, i, bq);
  std::fill(top, top + bq, kNone);
  for (int64_t c0 = 0; c0 < keys; c0 += bk_max_) {
    const int64_t bk = std::min(bk_max_, keys - c0);
    double *logits = kernel + c0 * ldk;
    form_logits(ops, slot, bq, c0, bk, logits, ldk);
    const int64_t bad = tile_maxima(ops, slot, i, bq, c0, bk, logits, ldk, limit, top);
    if (bad >= 0) return bad;
  }
  // Keys that no row of the block sees.
  for (int64_t c = keys; c < n_kv; ++c) std::fill(kernel + c * ldk, kernel + c * ldk + bq, 0.0);
  // Pass 2: the weights, kept in place and copied into the tile for their
  // product with V.
  start_sums(slot, bq);
  for (int64_t c0 = 0; c0 < keys; c0 += bk_max_) {
    const int64_t bk = std::min(bk_max_, keys - c0);
    hide_keys(ops, slot, i, bq, c0, bk);
    kern::tile_weights(kernel + c0 * ldk, ldk, slot.tile.data(), pad, 0, bq, bk,
                       ops.mask.causal ? slot.hidden.data() : nullptr, top, slot.hi.data(),
                       slot.lo.data());
    multiply_tile(ops, slot, bq, c0, bk, acc, ld);
  }
  finish_rows(slot, bq, row_sum, err);
  return -1;
}

int64_t SoftmaxTiles::compute_kept(const TileOperands &ops, int64_t i0, int64_t count, double limit,
                                   double *shift, double *row_sum, double *err, double *acc,
                                   int64_t ld, double *kernel, int64_t ldk) {
  return run_blocks(ops, count, [&](Slot &slot, int64_t r0, int64_t bq) {
    return kept_block(ops, slot, i0 + r0, bq, limit, shift + r0, row_sum + r0, err + r0, acc + r0,
                      ld, kernel + r0, ldk);
  });
}

void SoftmaxTiles::multiply(const TileOperands &ops, const double *shift, int64_t i0, int64_t count,
                            double *acc, int64_t ld) {
  run_blocks(ops, count, [&](Slot &slot, int64_t r0, int64_t bq) {
    const int64_t i = i0 + r0;
    const double *top = shift + r0;
    sweep_keys(ops, slot, i, bq, acc + r0, ld,
               [&](int64_t c0, int64_t bk, double *tile, int64_t ldt) {
                 for (int64_t c = 0; c < bk; ++c) {
                   double *x = tile + c * ldt;
                   const int64_t h = ops.mask.hidden_rows(c0 + c, i, bq);
                   std::fill(x, x + h, 0.0);
                   kern::exp_shifted(x + h, top + h, x + h, bq - h);
                 }
                 return true;
               });
    return int64_t{-1};  // the shifts are known: no logit to check
  });
}

}  // namespace att

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

// Keys of [c0, c0 + bk) that query row i sees.
int64_t visible_keys(const TileOperands &ops, int64_t i, int64_t c0, int64_t bk) {
  return std::clamp<int64_t>(ops.mask.key_end(i, ops.K.rows) - c0, 0, bk);
}

// Helper threads for a call that exponentiates about rows x keys entries:
// none below a few hundred microseconds of work, where starting a thread
// would cost more than it saves.
int helpers_for(int64_t rows, int64_t keys) {
  constexpr int64_t kParallelEntries = int64_t{1} << 18;
  return rows * keys >= kParallelEntries ? blas::threads() - 1 : 0;
}

// Rows per chunk of a tile's element-wise loop that a thread takes at once.
constexpr int64_t kRowChunk = 16;

// (hi, lo) += s with no rounding error (TwoSum).
void add_exact(double &hi, double &lo, double s) {
  const double t = hi + s;
  const double ss = t - hi;
  lo += (hi - (t - ss)) + (s - ss);
  hi = t;
}

}  // namespace

SoftmaxTiles::SoftmaxTiles(int64_t n_q, int64_t n_kv)
    : bq_max_(std::min(n_q, kQueryTile)),
      bk_max_(std::min(n_kv, kKeyTile)),
      tile_(bq_max_ * bk_max_),
      hi_(bq_max_),
      lo_(bq_max_),
      rescales_(bq_max_) {}

int64_t SoftmaxTiles::bytes_for(int64_t n_q, int64_t n_kv) {
  const int64_t bq = std::min(n_q, kQueryTile), bk = std::min(n_kv, kKeyTile);
  return static_cast<int64_t>(sizeof(double)) * (bq * bk + 3 * bq);
}

template <class Row>
void SoftmaxTiles::sweep_keys(const TileOperands &ops, WorkerTeam &team, int64_t i, int64_t bq,
                              double *acc, int64_t ld, const Row &row) {
  // key_end grows with the row: the tile's last row sees the most keys.
  const int64_t keys = ops.mask.key_end(i + bq - 1, ops.K.rows);
  double *tile = tile_.data();
  for (int64_t c0 = 0; c0 < keys; c0 += bk_max_) {
    const int64_t bk = std::min(bk_max_, keys - c0);
    // tile (bk x bq) = s K[c0 : c0 + bk, :] Q[i : i + bq, :]^T
    blas::gemm(ops.K.as_col_major(blas::Op::N), ops.Q.as_col_major(blas::Op::T), bk, bq, ops.Q.cols,
               ops.scale, ops.K.row_pointer(c0), ops.K.ld, ops.Q.row_pointer(i), ops.Q.ld, 0.0,
               tile, bk);
    team.run(bq, kRowChunk, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        double *x = tile + r * bk;
        const int64_t visible = visible_keys(ops, i + r, c0, bk);
        std::fill(x + visible, x + bk, 0.0);  // keys the row does not see
        if (visible > 0) row(r, x, visible);
      }
    });
    // acc (bq x cols) = tile^T V[c0 : c0 + bk, :] (+ acc after the first tile)
    blas::gemm(blas::Op::T, ops.V.as_col_major(blas::Op::N), bq, ops.V.cols, bk, 1.0, tile, bk,
               ops.V.row_pointer(c0), ops.V.ld, c0 == 0 ? 0.0 : 1.0, acc, ld);
  }
}

int64_t SoftmaxTiles::compute(const TileOperands &ops, int64_t i0, int64_t count, double limit,
                              double *shift, double *row_sum, double *err, double *acc,
                              int64_t ld) {
  constexpr double kNone = -std::numeric_limits<double>::infinity();
  const int64_t cols = ops.V.cols;
  double *hi = hi_.data(), *lo = lo_.data();
  int64_t *rescales = rescales_.data();
  WorkerTeam team(helpers_for(count, ops.K.rows));
  for (int64_t r0 = 0; r0 < count; r0 += bq_max_) {
    const int64_t bq = std::min(bq_max_, count - r0);
    double *top = shift + r0;
    double *out = acc + r0;
    std::fill(top, top + bq, kNone);
    std::fill(hi, hi + bq, 0.0);
    std::fill(lo, lo + bq, 0.0);
    std::fill(rescales, rescales + bq, 0);
    std::atomic<int64_t> bad{bq};  // the tile's first row with a bad logit
    sweep_keys(ops, team, i0 + r0, bq, out, ld, [&](int64_t r, double *x, int64_t visible) {
      bool flagged = false;
      const double m = kern::max_of(x, limit, &flagged, visible);
      if (flagged) {
        int64_t first = bad.load();
        while (r < first && !bad.compare_exchange_weak(first, r)) {
        }
        std::fill(x, x + visible, 0.0);
        return;
      }
      // Every row sees key 0, so a row with a maximum already has the first
      // tile in out: a higher maximum rescales what was summed under the old.
      if (m > top[r] && top[r] > kNone) {
        const double arg = top[r] - m;
        const double f = arg < num::kExpFloor ? 0.0 : std::exp(arg);
        hi[r] *= f;
        lo[r] *= f;
        for (int64_t j = 0; j < cols; ++j) out[r + j * ld] *= f;
        ++rescales[r];
      }
      top[r] = std::max(top[r], m);
      add_exact(hi[r], lo[r], kern::exp_sum(x, top[r], x, visible));
    });
    if (bad.load() < bq) return i0 + r0 + bad.load();
    for (int64_t r = 0; r < bq; ++r) {
      row_sum[r0 + r] = hi[r] + lo[r];
      if (err != nullptr)
        err[r0 + r] = (num::kFreshCharge + num::kTileCharge +
                       num::kRescaleCharge * static_cast<double>(rescales[r])) *
                      num::kUnitRoundoff * row_sum[r0 + r];
    }
  }
  return -1;
}

void SoftmaxTiles::multiply(const TileOperands &ops, const double *shift, int64_t i0, int64_t count,
                            double *acc, int64_t ld) {
  WorkerTeam team(helpers_for(count, ops.K.rows));
  for (int64_t r0 = 0; r0 < count; r0 += bq_max_) {
    const double *row_shift = shift + r0;
    sweep_keys(ops, team, i0 + r0, std::min(bq_max_, count - r0), acc + r0, ld,
               [&](int64_t r, double *x, int64_t visible) {
                 kern::exp_offset(x, row_shift[r], x, visible);
               });
  }
}

}  // namespace att

// The library's matrix product (kern::panel_product) on the process's helper
// team: a fold's C0 += P R, and the streamed store's columns of A for a
// fold's value rows.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels.hpp"
#include "worker_team.hpp"

namespace att {

// The threads team_product() runs an m x nb x k product on: as many as its
// multiply-adds call for (team::threads_for).
inline int team_product_threads(int64_t m, int64_t nb, int64_t k) {
  return team::threads_for(static_cast<double>(m) * static_cast<double>(nb) *
                           static_cast<double>(k));
}

// g on team_product_threads(g.m, g.nb, g.k) threads: c's rows in chunks of
// 192, each thread taking those of its own contiguous share first
// (team::run), so that a chunk's rows of a stay in L2 while the product
// walks b's columns. Every entry is one dot product over p in order however
// the rows are split, so the bits depend neither on the threads nor on the
// chunks. `a_rows`: how many rows of a may be read. With
// kern::panel_rows(g.m) or more the product takes every row; otherwise the
// rows past a's last whole register tile take kern::panel_dot one entry at a
// time, which rounds as the product does.
inline void team_product(const kern::PanelProduct &g, int64_t a_rows) {
  constexpr int64_t kChunk = 192;
  static_assert(kChunk % kern::kPanelPad == 0, "chunks of whole register tiles");
  const int64_t tiled =
      a_rows >= kern::panel_rows(g.m) ? g.m : a_rows / kern::kPanelPad * kern::kPanelPad;
  const int threads = team_product_threads(g.m, g.nb, g.k);
  team::run(g.m, kChunk, threads, [&](int64_t begin, int64_t end, int) {
    const int64_t whole = std::min(end, tiled);
    if (whole > begin) {
      kern::PanelProduct part = g;
      part.m = whole - begin;
      part.a += begin;
      part.c += begin;
      kern::panel_product(part);
    }
    for (int64_t i = std::max(begin, tiled); i < end; ++i)
      for (int64_t j = 0; j < g.nb; ++j) {
        const double x = g.alpha * kern::panel_dot(g.a + i, g.lda, g.b + j * g.bj, g.bp, g.k);
        double &c = g.c[i + j * g.ldc];
        c = g.accumulate ? c + x : x;
      }
  });
}

}  // namespace att

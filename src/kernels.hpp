// Array kernels of the hot paths: exponentials and the element-wise loops
// around them. Each is compiled once per instruction set (kernels_isa.hpp,
// kernels_{generic,avx2,avx512}.cpp) and the best one the CPU supports is
// chosen once at run time, so the default build runs on any x86-64 and still
// uses the vector units. Every element goes through the same code path,
// tails included, so a value never depends on its position.
#pragma once

#include <cstdint>

namespace att::kern {

// a[i] = exp(x[i] - shift) when that argument is >= num::kExpFloor, else 0,
// for one shift. x may alias a.
void exp_offset(const double *x, double shift, double *a, int64_t n);

// out[i] = m[i] + s * q[i] (one rounding each for the product and the sum);
// returns true when some out[i] is NaN or exceeds `limit` in magnitude.
bool axpy(const double *m, double s, const double *q, double *out, double limit, int64_t n);

// shift[i] = max(shift[i], m[i]); returns true when some m[i] is NaN or
// exceeds `limit` in magnitude.
bool running_max(const double *m, double *shift, double limit, int64_t n);

// (Each table also has exp_accumulate(m, shift, a, hi, lo, n): a[i] =
// exp_clamped(m[i] - shift[i]) and (hi[i], lo[i]) += a[i] with TwoSum, a may
// alias m. The library calls it only through tile_weights, which gives its
// bits; the tests check both.)

// A key column's change (paper Algorithm 2, for the rows that see the key)
// takes one of two kernels: key_scale for a store that keeps the column of A
// (the dense store), key_column for one that recomputes it from logits (the
// streamed store). Both keep the rows' books (KeyBooks) the same way: they
// record a_new - a_old in the key's pending term, `delta` (stored, or added
// when `accumulate`: a key row already pending), add it to D = hi + lo
// exactly (TwoSum), charge err[i] with charge * (a_old + a_new) (the
// rounding of the entries and of their difference, and its share of the
// fold's dot products), and flag the row (flagged[i] = 1) when it must be
// recomputed: an entry above the headroom (the row must be re-shifted), or
// err above tol * D (also when D is no longer positive). They return how
// many rows they flagged that were not flagged before. Every pointer
// addresses the column's first row.
// A stored term goes out with non-temporal stores where the CPU has them
// when `stream` is set: the caller sets it when the fold's product runs on
// more than one thread, whose cores keep the lines of the terms they read,
// so that an ordinary store would have to take each line back from them.
struct KeyBooks {
  double *hi, *lo, *err;
  unsigned char *flagged;
  double *delta;
  bool accumulate;
  double charge, tol;
  bool stream = false;
};

struct KeyScale {
  double *a;        // the kept entries; a_old = a[i] becomes a_new
  double s;         // a_new = a_old * exp(s * q[i]), flushed to 0 below
  const double *q;  // num::kMinEntry
  double drift;     // err[i] += drift * (1 + |s q[i]|) * a_new more
  KeyBooks books;
};

struct KeyScaleResult {
  int64_t flagged;  // rows newly flagged
  int64_t zeros;    // rows whose kept entry was 0 (and so stays 0)
};

// The kept column scaled by exp(s * q): the rounding of the product, of the
// exponential and of its argument stays in the entry until the row is
// recomputed (the drift charge). An argument above kShiftHeadroom, or NaN
// (a batch's sum of terms that overflowed), is clamped to it and flags the
// row, so every entry stays finite. An entry that is 0 has underflowed, and
// scaling cannot bring it back: the caller computes the rows the result
// counts in `zeros` afresh.
KeyScaleResult key_scale(const KeyScale &k, int64_t n);

struct KeyColumn {
  const double *m;       // the old logits (not read when kept is not null)
  const double *logits;  // the new logits, finite and within ATT_MAX_LOGIT
  const double *shift;
  const double *norm;  // read only when recompute is not 0
  double recompute;
  KeyBooks books;
  double *kept = nullptr;  // a store's kept column, replaced by a_new
};

// The column recomputed from its logits: a_old = exp(m[i] - shift[i]) and
// a_new = exp(min(logits[i] - shift[i], kShiftHeadroom)) (each 0 below the
// exponent floor, and bit for bit what exp_shifted gives for the same
// argument); err[i] also takes recompute * norm[i] * a_old (a store's
// rounding in recomputing m, so that a_old may differ from the entry D
// holds). With `kept`, a store that keeps A: a_old = kept[i], the entry D
// holds, and kept[i] becomes a_new (recompute must be 0).
int64_t key_column(const KeyColumn &k, int64_t n);

// a[i] = exp_clamped(x[i] - shift[i]).
void exp_shifted(const double *x, const double *shift, double *a, int64_t n);

// The largest x[i]; *bad is set when some x[i] is NaN or exceeds `limit` in
// magnitude (and left alone otherwise).
double max_of(const double *x, double limit, bool *bad, int64_t n);

// a[i] = exp_clamped(x[i] - shift) for one shift, and returns sum_i a[i]
// with compensated (TwoSum) accumulation. a may alias x.
double exp_sum(const double *x, double shift, double *a, int64_t n);

// The weights of the rows [begin, end) of a tile of logits (SoftmaxTiles,
// the dense store's row blocks): x is column-major with leading dimension
// ld and cols columns, and the first hidden[c] rows of column c (none when
// hidden is null) do not see its key. Each other entry becomes
// exp_clamped(x - top[r]) and is added to (hi[r], lo[r]) with TwoSum, column
// after column; hidden entries become 0. Bit for bit what exp_accumulate
// gives on each column's visible rows in turn, however the rows are split
// between calls, in one pass that keeps a group of rows' sums in registers
// across the columns. When copy is not null, the same rows of its columns
// (leading dimension ldc; it must not overlap x) receive the weights too,
// so that logits kept in one place can be turned into weights there and
// into a product's operand elsewhere in the same pass.
void tile_weights(double *x, int64_t ld, double *copy, int64_t ldc, int64_t begin, int64_t end,
                  int64_t cols, const int64_t *hidden, const double *top, double *hi, double *lo);

// a[i] = 0 for i < n, with the non-temporal stores of a streamed fresh
// pending key term (KeyBooks): for the term's rows that do not see the key.
void stream_zero(double *a, int64_t n);

// The library's matrix products, the tiled softmax's (SoftmaxTiles) and
// those it runs on the helper team (team_product.hpp): c = alpha a b, or
// c + alpha a b when `accumulate`, with c m x nb (column-major, leading
// dimension ldc), a m x k (column-major, leading dimension lda: contiguous
// along m, as the kernel reads it in vectors) and b k x nb with entry (p, j)
// at b[p * bp + j * bj] (any layout: the kernel broadcasts its entries one at
// a time). Each entry of c is one dot product summed over p in order, then
// multiplied by alpha (and added to c): its value depends only on its row of
// a and its column of b, never on where the entry sits or on how a caller
// splits c's rows between calls. The kernel reads a's rows up to
// panel_rows(m) (the caller pads a; those rows never reach c), and none of
// the arrays may overlap c.
constexpr int64_t kPanelPad = 24;
constexpr int64_t panel_rows(int64_t m) { return (m + kPanelPad - 1) / kPanelPad * kPanelPad; }
struct PanelProduct {
  int64_t m, nb, k;
  double alpha;
  const double *a;
  int64_t lda;
  const double *b;
  int64_t bp, bj;
  bool accumulate;
  double *c;
  int64_t ldc;
};
void panel_product(const PanelProduct &g);

// One entry of panel_product without alpha: sum_p a[p sa] b[p sb] over
// p = 0 .. k - 1 in order, with the same multiply-add (fused where the table
// has FMA), so bit for bit the dot product panel_product forms for that
// entry. For a single entry that must round as the tiles' products did.
double panel_dot(const double *a, int64_t sa, const double *b, int64_t sb, int64_t k);

// out[i] += c * (cols[0][i] + ... + cols[count - 1][i]). Columns that come
// from memory arrive faster read side by side than one after the other (the
// kernel reads up to kAddColumnsWidth at a time), and out is read and
// written once per kAddColumnsWidth columns. out must not overlap a column.
constexpr int64_t kAddColumnsWidth = 4;
void add_columns(const double *const *cols, int64_t count, double c, double *out, int64_t n);

// out[i] += (coefficients[0] cols[0][i] + ... + coefficients[count - 1]
// cols[count - 1][i]), the sum formed in that order and added to out once:
// out's entries are rounded once whatever count is. out must not overlap a
// column.
void combine_columns(const double *const *cols, const double *coefficients, int64_t count,
                     double *out, int64_t n);

}  // namespace att::kern

// The saved-state format, version 4 (versions 1 to 3 are still read). docs/FORMAT.md is the prose
// version of this file; the two must agree.
//
//   offset  size  field
//   0       8     magic 89 44 59 4E 41 54 54 0A ("\x89DYNATT\n")
//   8       4     byte-order marker 0x0A0B0C0D as a native uint32
//   12      4     format version (4)
//   16      8     payload length P in bytes (uint64)
//   24      8     XXH3-64 (seed 0) of the payload (uint64)
//   32      P     payload: the sections written by StateCodec::write
//
// Every multi-byte field, in the header and the payload, is in the byte order
// the marker shows; this library writes its own order and refuses the other.
#include "serialize.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "attention.hpp"
#include "dense_store.hpp"
#include "numerics.hpp"

namespace att {
namespace ser {
namespace {

constexpr unsigned char kMagic[8] = {0x89, 'D', 'Y', 'N', 'A', 'T', 'T', '\n'};
constexpr uint32_t kByteOrder = 0x0A0B0C0Du;
constexpr uint32_t kSwappedByteOrder = 0x0D0C0B0Au;
constexpr uint32_t kFormatVersion = 4;
// The oldest version this library reads (written by dynattn 0.2).
constexpr uint32_t kOldestVersion = 1;
constexpr size_t kHeaderSize = 32;

[[noreturn]] void corrupt(const char *what) { fail(ATT_E_CORRUPT, "saved state: %s", what); }

void expect(bool ok, const char *what) {
  if (!ok) corrupt(what);
}

void read_finite(Reader &in, double *dst, int64_t n, double limit, const char *what) {
  in.doubles(dst, n, what);
  for (int64_t t = 0; t < n; ++t)
    if (!(std::fabs(dst[t]) <= limit)) corrupt(what);
}

void read_flags(Reader &in, unsigned char *dst, int64_t n, const char *what) {
  in.need(n, 1, what);
  in.bytes(dst, static_cast<size_t>(n), what);
  for (int64_t t = 0; t < n; ++t) expect(dst[t] <= 1, what);
}

// Whether the first `size` bytes at src match the magic, as far as they go.
bool magic_matches(const unsigned char *src, size_t size) {
  return std::memcmp(src, kMagic, std::min(size, sizeof kMagic)) == 0;
}

// The header's fields after the magic (at least kHeaderSize bytes at src).
struct Envelope {
  uint32_t order, version;
  uint64_t length, checksum;
};
Envelope envelope(const unsigned char *src) {
  Envelope e;
  std::memcpy(&e.order, src + 8, 4);
  std::memcpy(&e.version, src + 12, 4);
  std::memcpy(&e.length, src + 16, 8);
  std::memcpy(&e.checksum, src + 24, 8);
  return e;
}

}  // namespace

// The payload's sections, in order. Everything a query or a later update
// reads is saved verbatim; scratch buffers are not saved, and the maps from
// a row to its pending slot are rebuilt from the pending lists.
struct StateCodec {
  static void write(const DynamicAttention &s, Writer &out) {
    const Shape &sh = s.shape_;
    // 1. Shape and configuration.
    out.i64(sh.n_q);
    out.i64(sh.n_kv);
    out.i64(sh.d_k);
    out.i64(sh.d_v);
    out.f64(s.scale_);
    out.i64(s.lazy_limit_);
    out.i64(s.mask_.causal ? 1 : 0);
    out.u32(static_cast<uint32_t>(s.store_->kind()));
    out.u32(static_cast<uint32_t>(s.strategy_));
    // 2. Counters and the sweep position.
    for (int64_t w = 0; w < 3; ++w) out.i64(s.updates_[w]);
    out.i64(s.folds_);
    out.i64(s.rows_recomputed_);
    out.i64(s.columns_recomputed_);
    out.i64(s.sweep_next_);
    out.f64(s.sweep_credit_);
    out.i64(s.query_work_.load(std::memory_order_relaxed));
    // 3. Matrices, column-major.
    out.doubles(s.Q_.data(), s.Q_.size());
    out.doubles(s.K_.data(), s.K_.size());
    out.doubles(s.V_.data(), s.V_.size());
    // V0 is kept row-major; the format has it column-major like the others.
    for (int64_t j = 0; j < sh.d_v; ++j)
      for (int64_t r = 0; r < sh.n_kv; ++r) out.f64(s.V0_(r, j));
    out.doubles(s.C0_.data(), s.C0_.size());
    // 4. Per query row: shift, D = d_hi + d_lo, error bound.
    out.doubles(s.shift_.data(), sh.n_q);
    out.doubles(s.d_hi_.data(), sh.n_q);
    out.doubles(s.d_lo_.data(), sh.n_q);
    out.doubles(s.err_.data(), sh.n_q);
    // 5. Per value column: scale and touched flag.
    out.doubles(s.value_scale_.data(), sh.d_v);
    out.bytes(s.column_touched_.data(), static_cast<size_t>(sh.d_v));
    // 6. Pending key terms.
    out.i64(s.n_key_cols_);
    out.i64(s.n_key_updates_);
    for (int64_t t = 0; t < s.n_key_cols_; ++t) out.i64(s.pending_key_[t]);
    for (int64_t t = 0; t < s.n_key_cols_; ++t)
      out.doubles(s.pending_a_.col(s.key_column(t)), sh.n_q);
    // 7. Pending value rows and their kernel columns. The handle reads
    // those from the store when it needs them; they are computed here, a
    // block at a time on the stack (saving never allocates), for readers
    // that keep them (dynattn 0.2 and 0.3).
    out.i64(s.n_value_rows_);
    out.i64(s.n_value_updates_);
    for (int64_t t = 0; t < s.n_value_rows_; ++t) out.i64(s.pending_value_[t]);
    if (out.counting()) {
      out.skip(static_cast<size_t>(s.n_value_rows_ * sh.n_q) * sizeof(double));
    } else {
      constexpr int64_t kBlock = 512;
      double block[kBlock];
      const double top = num::kMaxEntry;
      const KernelOperands ops = s.operands();
      for (int64_t t = 0; t < s.n_value_rows_; ++t) {
        for (int64_t i0 = 0; i0 < sh.n_q; i0 += kBlock) {
          const int64_t len = std::min(kBlock, sh.n_q - i0);
          s.store_->copy_column(ops, s.pending_value_[t], i0, len, block);
          // Entries outside [0, e^64] (NaN included) come only from a
          // crafted state (streamed storage does not check its logits on
          // load, docs/FORMAT.md); they are saved within what a loader
          // accepts.
          for (int64_t i = 0; i < len; ++i) {
            const double a = block[i];
            block[i] = a >= 0.0 ? std::fmin(a, top) : 0.0;
          }
          out.doubles(block, len);
        }
      }
    }
    // 8. The kernel store's own section, prefixed by its length.
    Writer counter;
    s.store_->save(counter);
    out.i64(static_cast<int64_t>(counter.size()));
    s.store_->save(out);
  }

  static std::unique_ptr<DynamicAttention> read(Reader &in, uint32_t version) {
    Shape sh;
    sh.n_q = in.i64("n_q");
    sh.n_kv = in.i64("n_kv");
    sh.d_k = in.i64("d_k");
    sh.d_v = in.i64("d_v");
    const double scale = in.f64("logit scale");
    const int64_t k = in.i64("lazy limit");
    const int64_t causal = in.i64("causal flag");
    const uint32_t storage = in.u32("storage kind");
    const uint32_t strategy = in.u32("strategy");
    for (int64_t dim : {sh.n_q, sh.n_kv, sh.d_k, sh.d_v})
      expect(dim >= 1 && dim <= std::numeric_limits<int32_t>::max(), "a dimension is out of range");
    expect(std::isfinite(scale) && scale > 0.0, "the logit scale is invalid");
    expect(k >= 1 && k <= Config::kMaxLazyLimit, "the lazy limit is out of range");
    expect(causal == 0 || causal == 1, "the causal flag is neither 0 nor 1");
    expect(causal == 0 || sh.n_q <= sh.n_kv, "causal masking with n_q > n_kv");
    expect(storage == ATT_STORAGE_DENSE || storage == ATT_STORAGE_STREAMED, "unknown storage kind");
    expect(strategy == ATT_STRATEGY_LAZY || (version >= 2 && (strategy == ATT_STRATEGY_ADAPTIVE ||
                                                              strategy == ATT_STRATEGY_EAGER)),
           "unknown strategy");

    // Before allocating anything: the payload must hold every array the
    // shape implies (the dense store's n_q x n_kv kernel matrix included, or
    // its logits before version 4, and both before version 3; the streamed
    // store saves none), so allocations stay within a
    // small multiple of the data's own size. Computed in long double, which cannot overflow here.
    const long double nq = sh.n_q, nkv = sh.n_kv, dk = sh.d_k, dv = sh.d_v;
    const long double store_doubles =
        storage == ATT_STORAGE_DENSE ? (version < 3 ? 2 : 1) * nq * nkv : 0;
    const long double doubles =
        nq * dk + nkv * dk + 2 * nkv * dv + nq * dv + 4 * nq + dv + store_doubles;
    if (doubles * 8 > static_cast<long double>(in.remaining()))
      corrupt("the shape needs more data than there is");

    std::unique_ptr<DynamicAttention> s;
    try {
      s.reset(new DynamicAttention(sh, scale, k, KeyMask{causal == 1, sh.n_kv - sh.n_q},
                                   static_cast<att_storage>(storage),
                                   static_cast<att_strategy>(strategy)));
    } catch (const Error &e) {
      if (e.status == ATT_E_SIZE) corrupt("the shape's storage overflows");
      throw;
    }

    for (int64_t w = 0; w < 3; ++w) s->updates_[w] = in.i64("update counter");
    s->folds_ = in.i64("fold counter");
    s->rows_recomputed_ = in.i64("row counter");
    s->columns_recomputed_ = in.i64("column counter");
    s->sweep_next_ = in.i64("sweep position");
    expect(s->updates_[0] >= 0 && s->updates_[1] >= 0 && s->updates_[2] >= 0 && s->folds_ >= 0 &&
               s->rows_recomputed_ >= 0 && s->columns_recomputed_ >= 0,
           "a counter is negative");
    expect(s->sweep_next_ >= 0 && s->sweep_next_ < sh.n_q, "the sweep position is out of range");
    if (version >= 2) {
      s->sweep_credit_ = in.f64("sweep credit");
      const int64_t work = in.i64("query work");
      expect(s->sweep_credit_ >= 0.0 && s->sweep_credit_ <= static_cast<double>(sh.n_q),
             "the sweep credit is out of range");
      expect(work >= 0, "the query work is negative");
      expect(work == 0 || strategy == ATT_STRATEGY_ADAPTIVE,
             "query work is recorded for a strategy that does not count it");
      s->query_work_.store(work, std::memory_order_relaxed);
    }

    const double inf = std::numeric_limits<double>::max();
    read_finite(in, s->Q_.data(), s->Q_.size(), inf, "Q");
    read_finite(in, s->K_.data(), s->K_.size(), inf, "K");
    s->compute_query_norms(0, sh.n_q);
    s->bound_keys();
    read_finite(in, s->V_.data(), s->V_.size(), ATT_MAX_VALUE, "V");
    // Column by column through the n_kv-long row-logits scratch (V0 is kept
    // row-major).
    double *column = s->row_logits_.data();
    for (int64_t j = 0; j < sh.d_v; ++j) {
      read_finite(in, column, sh.n_kv, ATT_MAX_VALUE, "V0");
      for (int64_t r = 0; r < sh.n_kv; ++r) s->V0_(r, j) = column[r];
    }
    read_finite(in, s->C0_.data(), s->C0_.size(), inf, "C0");
    read_finite(in, s->shift_.data(), sh.n_q, num::kRecomputedLogitLimit, "shift");
    read_finite(in, s->d_hi_.data(), sh.n_q, inf, "D");
    read_finite(in, s->d_lo_.data(), sh.n_q, inf, "D compensation");
    read_finite(in, s->err_.data(), sh.n_q, inf, "error bound");
    for (int64_t i = 0; i < sh.n_q; ++i)
      expect(s->d_hi_[i] + s->d_lo_[i] > 0.0 && s->err_[i] >= 0.0, "a row's D is not positive");
    read_finite(in, s->value_scale_.data(), sh.d_v, inf, "value scale");
    read_flags(in, s->column_touched_.data(), sh.d_v, "column flags");

    const int64_t distinct = s->slots_;
    s->n_key_cols_ = in.i64("pending key count");
    s->n_key_updates_ = in.i64("pending key updates");
    expect(s->n_key_cols_ >= 0 && s->n_key_cols_ <= distinct &&
               s->n_key_updates_ >= s->n_key_cols_ && s->n_key_updates_ < k,
           "pending key counts are inconsistent");
    in.need(s->n_key_cols_, sizeof(int64_t), "pending key rows");
    for (int64_t t = 0; t < s->n_key_cols_; ++t) {
      const int64_t row = in.i64("pending key row");
      expect(row >= 0 && row < sh.n_kv && s->key_slot_[row] < 0, "a pending key row is invalid");
      s->pending_key_[t] = row;
      s->key_slot_[row] = t;
    }
    in.need(s->n_key_cols_ * sh.n_q, sizeof(double), "pending key terms");
    for (int64_t t = 0; t < s->n_key_cols_; ++t) {
      read_finite(in, s->pending_a_.col(s->key_column(t)), sh.n_q, inf, "pending key terms");
      s->fill_key_rhs(t);
    }

    s->n_value_rows_ = in.i64("pending value count");
    s->n_value_updates_ = in.i64("pending value updates");
    expect(s->n_value_rows_ >= 0 && s->n_value_rows_ <= distinct &&
               s->n_value_updates_ >= s->n_value_rows_ && s->n_value_updates_ < k,
           "pending value counts are inconsistent");
    expect(strategy != ATT_STRATEGY_EAGER || s->n_key_updates_ + s->n_value_updates_ == 0,
           "an eager state has pending changes");
    in.need(s->n_value_rows_, sizeof(int64_t), "pending value rows");
    for (int64_t t = 0; t < s->n_value_rows_; ++t) {
      const int64_t row = in.i64("pending value row");
      expect(row >= 0 && row < sh.n_kv && s->value_slot_[row] < 0,
             "a pending value row is invalid");
      s->pending_value_[t] = row;
      s->value_slot_[row] = t;
      s->fill_value_rhs(t);
    }
    // The value rows' kernel columns (not in version 1) are checked and
    // dropped: the handle reads them from the store.
    if (version >= 2) {
      in.need(s->n_value_rows_ * sh.n_q, sizeof(double), "pending value columns");
      const double top = num::kMaxEntry;
      double *column = s->logits_.data();
      for (int64_t t = 0; t < s->n_value_rows_; ++t) {
        read_finite(in, column, sh.n_q, top, "pending value columns");
        for (int64_t i = 0; i < sh.n_q; ++i) expect(column[i] >= 0.0, "a kernel entry is negative");
      }
    }

    const int64_t store_bytes = in.i64("store section length");
    expect(store_bytes >= 0 && static_cast<uint64_t>(store_bytes) == in.remaining(),
           "the store section's length disagrees with the data");
    s->store_->load(in, version, s->operands());
    expect(in.remaining() == 0, "the store section has trailing bytes");
    return s;
  }
};

size_t saved_size(const DynamicAttention &s) {
  Writer counter;
  StateCodec::write(s, counter);
  return kHeaderSize + counter.size();
}

void save(const DynamicAttention &s, unsigned char *dst) {
  Writer payload(dst + kHeaderSize);
  StateCodec::write(s, payload);
  const uint64_t length = payload.size();
  const uint64_t checksum = XXH3_64bits(dst + kHeaderSize, static_cast<size_t>(length));
  Writer header(dst);
  header.bytes(kMagic, sizeof kMagic);
  header.u32(kByteOrder);
  header.u32(kFormatVersion);
  header.bytes(&length, sizeof length);
  header.bytes(&checksum, sizeof checksum);
}

size_t useful_length(const unsigned char *src, size_t size) {
  if (!magic_matches(src, size)) return size;
  if (size < kHeaderSize) return SIZE_MAX;
  const Envelope e = envelope(src);
  if (e.order != kByteOrder) return size;
  return e.length < SIZE_MAX - kHeaderSize - 1 ? kHeaderSize + static_cast<size_t>(e.length) + 1
                                               : SIZE_MAX;
}

std::unique_ptr<DynamicAttention> load(const unsigned char *src, size_t size) {
  if (!magic_matches(src, size))
    fail(ATT_E_FORMAT, "not a saved dynattn state (the magic number differs)");
  if (size < kHeaderSize)
    fail(ATT_E_TRUNCATED, "saved state: %zu bytes, shorter than the %zu-byte header", size,
         kHeaderSize);
  const auto [order, version, length, checksum] = envelope(src);
  if (order == kSwappedByteOrder)
    fail(ATT_E_ENDIAN, "saved state: written on a machine with the other byte order");
  if (order != kByteOrder) corrupt("the byte-order marker is damaged");
  if (version < kOldestVersion || version > kFormatVersion)
    fail(ATT_E_VERSION, "saved state: format version %u; this library reads versions %u to %u",
         version, kOldestVersion, kFormatVersion);
  const uint64_t available = size - kHeaderSize;
  if (length > available)
    fail(ATT_E_TRUNCATED, "saved state: the payload has %llu of its %llu bytes",
         static_cast<unsigned long long>(available), static_cast<unsigned long long>(length));
  if (length < available) corrupt("trailing bytes after the payload");
  if (XXH3_64bits(src + kHeaderSize, static_cast<size_t>(length)) != checksum)
    corrupt("checksum mismatch");
  Reader in(src + kHeaderSize, static_cast<size_t>(length));
  return StateCodec::read(in, version);
}

}  // namespace ser
}  // namespace att

// The saved-state format (docs/FORMAT.md): the envelope of magic, endianness
// marker, format version, payload length and XXH3-64 checksum, and the byte
// writer and reader that the payload's sections are written with. The
// payload's fields are listed in one place, StateCodec in serialize.cpp; a
// kernel store writes and reads its own section through the same Writer and
// Reader (KernelStore::save / load).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "error.hpp"

namespace att {

class DynamicAttention;

namespace ser {

// Appends native-endian scalars and arrays to a buffer. With a null buffer
// it only counts, so that one routine computes the size and writes the data.
class Writer {
 public:
  explicit Writer(unsigned char *dst = nullptr) : dst_(dst) {}
  void bytes(const void *src, size_t n) {
    if (dst_ != nullptr && n > 0) std::memcpy(dst_ + pos_, src, n);
    pos_ += n;
  }
  void u32(uint32_t v) { bytes(&v, sizeof v); }
  void i64(int64_t v) { bytes(&v, sizeof v); }
  void f64(double v) { bytes(&v, sizeof v); }
  void doubles(const double *p, int64_t n) { bytes(p, static_cast<size_t>(n) * sizeof(double)); }
  // A counting writer's stand-in for n bytes of data it need not compute.
  void skip(size_t n) { pos_ += n; }
  size_t size() const { return pos_; }
  // A writer without a destination only counts bytes.
  bool counting() const { return dst_ == nullptr; }

 private:
  unsigned char *dst_;
  size_t pos_ = 0;
};

// Reads what Writer wrote. Running out of bytes inside a payload whose
// checksum matched means the declared sizes disagree with the data: that is
// ATT_E_CORRUPT. need() lets a caller check a size against the remaining
// bytes before it allocates anything of that size.
class Reader {
 public:
  Reader(const unsigned char *src, size_t n) : src_(src), size_(n) {}
  size_t remaining() const { return size_ - pos_; }
  void need(int64_t count, size_t unit, const char *what) const {
    if (count < 0 || static_cast<uint64_t>(count) > remaining() / unit)
      fail(ATT_E_CORRUPT, "saved state: %s (%lld x %zu bytes) exceeds the %zu bytes left", what,
           static_cast<long long>(count), unit, remaining());
  }
  void bytes(void *dst, size_t n, const char *what) {
    need(static_cast<int64_t>(n), 1, what);
    if (n > 0) std::memcpy(dst, src_ + pos_, n);
    pos_ += n;
  }
  uint32_t u32(const char *what) {
    uint32_t v;
    bytes(&v, sizeof v, what);
    return v;
  }
  int64_t i64(const char *what) {
    int64_t v;
    bytes(&v, sizeof v, what);
    return v;
  }
  double f64(const char *what) {
    double v;
    bytes(&v, sizeof v, what);
    return v;
  }
  // Passes over count items of `unit` bytes.
  void skip(int64_t count, size_t unit, const char *what) {
    need(count, unit, what);
    pos_ += static_cast<size_t>(count) * unit;
  }
  void doubles(double *dst, int64_t n, const char *what) {
    need(n, sizeof(double), what);
    bytes(dst, static_cast<size_t>(n) * sizeof(double), what);
  }

 private:
  const unsigned char *src_;
  size_t size_;
  size_t pos_ = 0;
};

// Size of the saved state of s, envelope included.
size_t saved_size(const DynamicAttention &s);

// Writes exactly saved_size(s) bytes to dst.
void save(const DynamicAttention &s, unsigned char *dst);

// How many bytes of a saved state, of which the first `size` are at src,
// load() can use: once the magic differs or the byte order is not ours, the
// `size` there are (load refuses them); once the header is there, the
// header, the payload it declares and one byte more (which load refuses as
// trailing); SIZE_MAX while neither is known. A reader of a stream stops
// there, so that a file of another kind, such as /dev/zero, is refused after
// its first bytes instead of read to the end.
size_t useful_length(const unsigned char *src, size_t size);

// Validates the envelope and the payload and builds the state. Throws Error
// with ATT_E_FORMAT, ATT_E_ENDIAN, ATT_E_VERSION, ATT_E_TRUNCATED or
// ATT_E_CORRUPT, and std::bad_alloc.
std::unique_ptr<DynamicAttention> load(const unsigned char *src, size_t size);

}  // namespace ser
}  // namespace att

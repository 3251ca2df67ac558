// Owning, 64-byte aligned, zero-initialized arrays of doubles, and
// column-major matrices built on them. Zeroed so that no buffer a BLAS call
// writes with beta = 0 ever holds NaN there (some OpenBLAS versions have
// scaled such outputs by 0 instead of overwriting them, which keeps a NaN).
//
// Arrays of kHugeBytes or more are mapped from the kernel, which hands out
// zero pages lazily, so a huge request still fails in the allocator
// (ATT_E_NOMEM) rather than fault while being zeroed. They are aligned to
// 2 MiB and advised for transparent huge pages (Linux, where the system
// leaves that choice to madvise): the first touch of a large matrix then
// faults once per 2 MiB instead of once per 4 KiB, which on virtual machines
// can cost more than computing the matrix, and the TLB covers a whole kernel
// column walk. The advice is best effort: without it the array is an
// ordinary one.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include <sys/mman.h>

namespace att {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeBytes = size_t{4} << 20;

// The length of the mapping that holds a huge array of `bytes` bytes.
inline size_t huge_length(size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }

// Zeroed storage for `bytes` bytes (> 0); nullptr when out of memory.
inline void *allocate_bytes(size_t bytes) {
  if (bytes < kHugeBytes) {
    void *p = nullptr;
    if (posix_memalign(&p, 64, bytes) != 0) return nullptr;
    std::memset(p, 0, bytes);
    return p;
  }
  // A huge page's worth more than needed, then the unaligned ends unmapped.
  const size_t length = huge_length(bytes);
  if (length > SIZE_MAX - kHugePage) return nullptr;
  void *raw =
      mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start) (void)munmap(raw, aligned - start);
  const size_t tail = start + length + kHugePage - (aligned + length);
  if (tail > 0) (void)munmap(reinterpret_cast<void *>(aligned + length), tail);
  void *p = reinterpret_cast<void *>(aligned);
#ifdef MADV_HUGEPAGE
  (void)madvise(p, length, MADV_HUGEPAGE);
#endif
  return p;
}

// Returns what allocate_bytes(bytes) gave.
struct Release {
  size_t bytes = 0;
  void operator()(void *p) const noexcept {
    if (bytes < kHugeBytes) {
      std::free(p);
    } else {
      (void)munmap(p, huge_length(bytes));
    }
  }
};

template <class T>
class Array {
 public:
  Array() = default;
  explicit Array(int64_t count) : size_(count) {
    if (count <= 0) return;
    const size_t bytes = static_cast<size_t>(count) * sizeof(T);
    void *p = allocate_bytes(bytes);
    if (p == nullptr) throw std::bad_alloc();
    data_ = std::unique_ptr<T[], Release>(static_cast<T *>(p), Release{bytes});
  }
  Array(const Array &) = delete;
  Array &operator=(const Array &) = delete;
  Array(Array &&) noexcept = default;
  Array &operator=(Array &&) noexcept = default;

  T *data() noexcept { return data_.get(); }
  const T *data() const noexcept { return data_.get(); }
  T &operator[](int64_t i) noexcept { return data_.get()[i]; }
  const T &operator[](int64_t i) const noexcept { return data_.get()[i]; }
  int64_t size() const noexcept { return size_; }
  void fill(T value) noexcept {
    for (int64_t i = 0; i < size_; ++i) data_.get()[i] = value;
  }
  // A deep copy (copies are explicit: the class is move-only on purpose).
  Array copy() const {
    Array out(size_);
    if (size_ > 0) std::memcpy(out.data(), data(), static_cast<size_t>(size_) * sizeof(T));
    return out;
  }

 private:
  std::unique_ptr<T[], Release> data_;
  int64_t size_ = 0;
};

// A rows x cols matrix of doubles, column-major (Matrix: element (i, j) at
// i + j * rows) or row-major (RowMatrix: at j + i * cols). Column major
// keeps a column of the logits contiguous, which is what a key update
// touches, and matches the BLAS wrapper's single layout; row major is for a
// matrix read a row at a time, whose rows in column-major storage would be
// spread over as many cache lines (and, at a power-of-two height, over one
// cache set).
template <bool kRowMajor>
class DenseMatrix {
 public:
  DenseMatrix() = default;
  DenseMatrix(int64_t rows, int64_t cols) : rows_(rows), cols_(cols), data_(rows * cols) {}

  double &operator()(int64_t i, int64_t j) noexcept { return data_[index(i, j)]; }
  double operator()(int64_t i, int64_t j) const noexcept { return data_[index(i, j)]; }
  // The contiguous columns of a Matrix and rows of a RowMatrix.
  double *col(int64_t j) noexcept {
    static_assert(!kRowMajor, "a row-major matrix has no contiguous columns");
    return data_.data() + j * rows_;
  }
  const double *col(int64_t j) const noexcept {
    static_assert(!kRowMajor, "a row-major matrix has no contiguous columns");
    return data_.data() + j * rows_;
  }
  const double *row(int64_t i) const noexcept {
    static_assert(kRowMajor, "a column-major matrix has no contiguous rows");
    return data_.data() + i * cols_;
  }
  double *data() noexcept { return data_.data(); }
  const double *data() const noexcept { return data_.data(); }
  int64_t rows() const noexcept { return rows_; }
  int64_t cols() const noexcept { return cols_; }
  int64_t ld() const noexcept { return kRowMajor ? cols_ : rows_; }
  int64_t size() const noexcept { return rows_ * cols_; }
  DenseMatrix copy() const {
    DenseMatrix out;
    out.rows_ = rows_;
    out.cols_ = cols_;
    out.data_ = data_.copy();
    return out;
  }

 private:
  int64_t index(int64_t i, int64_t j) const noexcept {
    return kRowMajor ? j + i * cols_ : i + j * rows_;
  }

  int64_t rows_ = 0;
  int64_t cols_ = 0;
  Array<double> data_;
};

using Matrix = DenseMatrix<false>;
using RowMatrix = DenseMatrix<true>;

}  // namespace att

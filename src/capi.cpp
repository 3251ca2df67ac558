// The C boundary. Every exported function is noexcept and runs its whole
// body, allocation included, inside guarded(), which turns every C++
// exception into a status code and a per-thread message (boundary.hpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "attention.hpp"
#include "boundary.hpp"
#include "config.hpp"
#include "dynattn.h"
#include "error.hpp"
#include "serialize.hpp"

struct att_state {
  std::unique_ptr<att::DynamicAttention> impl;
};

struct att_config {
  att::Config options;
};

using att::guarded;
using att::require;

namespace {

// Enumeration arguments are read as the int the C ABI passes
// (att::raw_enum_value), validated, and only then used as the enum.
att_matrix matrix_arg(const att_matrix &which) {
  const long long v = att::raw_enum_value(which);
  if (v < ATT_MATRIX_Q || v > ATT_MATRIX_V)
    att::fail(ATT_E_ENUM, "which=%lld is not ATT_MATRIX_Q, _K or _V", v);
  return static_cast<att_matrix>(v);
}

att_layout layout_arg(const att_layout &layout) {
  const long long v = att::raw_enum_value(layout);
  if (v != ATT_ROW_MAJOR && v != ATT_COL_MAJOR)
    att::fail(ATT_E_ENUM, "layout=%lld is neither ATT_ROW_MAJOR nor ATT_COL_MAJOR", v);
  return static_cast<att_layout>(v);
}

att_stat_kind stat_arg(const att_stat_kind &which) {
  const long long v = att::raw_enum_value(which);
  if (v < ATT_STAT_UPDATES_Q || v > ATT_STAT_FOLD_THRESHOLD)
    att::fail(ATT_E_ENUM, "statistic %lld is not an att_stat_kind", v);
  return static_cast<att_stat_kind>(v);
}

[[noreturn]] void io_failure(const char *what, const std::string &path, int error) {
  att::fail(ATT_E_IO, "%s %s: %s", what, path.c_str(), std::strerror(error));
}

// Writes all of data to path atomically: a new file next to it (O_EXCL, so
// an existing file is never reused), fsync, rename over path, then fsync of
// the directory so the rename itself is durable. The temporary name carries
// the process id and an address on this thread's stack, so concurrent saves
// from several threads or processes never share one; O_EXCL catches the rest.
void write_atomically(const std::string &path, const std::vector<unsigned char> &data) {
  int fd = -1;
  std::string tmp;
  const void *tag = &fd;
  for (int attempt = 0; fd < 0; ++attempt) {
    char suffix[96];
    std::snprintf(suffix, sizeof suffix, ".tmp-%ld-%lx-%d", static_cast<long>(getpid()),
                  static_cast<unsigned long>(reinterpret_cast<uintptr_t>(tag)), attempt);
    tmp = path + suffix;
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt >= 100)) io_failure("cannot create", tmp, errno);
  }
  const unsigned char *p = data.data();
  size_t left = data.size();
  int error = 0;
  while (left > 0 && error == 0) {
    const ssize_t n = write(fd, p, left);
    if (n < 0) {
      if (errno != EINTR) error = errno;
      continue;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (error == 0 && fsync(fd) != 0) error = errno;
  if (close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    unlink(tmp.c_str());
    io_failure("cannot write", path, error);
  }
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    // Best effort: some file systems refuse fsync on directories, and the
    // new file is complete and in place either way.
    (void)fsync(dir_fd);
    close(dir_fd);
  }
}

std::vector<unsigned char> read_file(const char *path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) io_failure("cannot open", path, errno);
  std::vector<unsigned char> data;
  try {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
      data.reserve(static_cast<size_t>(st.st_size));
    unsigned char chunk[1 << 16];
    size_t limit = SIZE_MAX;  // att::ser::useful_length of what is read
    while (data.size() < limit) {
      const ssize_t n = read(fd, chunk, std::min(sizeof chunk, limit - data.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) io_failure("cannot read", path, errno);
      if (n == 0) break;
      data.insert(data.end(), chunk, chunk + n);
      limit = att::ser::useful_length(data.data(), data.size());
    }
  } catch (...) {
    close(fd);
    throw;
  }
  close(fd);
  return data;
}

att::DynamicAttention &impl(att_state *s) {
  require(s, "state");
  return *s->impl;
}

const att::DynamicAttention &impl(const att_state *s) {
  require(s, "state");
  return *s->impl;
}

}  // namespace

extern "C" {

ATT_API int64_t att_version_number(void) { return ATT_VERSION_NUMBER; }

ATT_API const char *att_version_string(void) {
#define ATT_STR2(x) #x
#define ATT_STR(x) ATT_STR2(x)
  return ATT_STR(ATT_VERSION_MAJOR) "." ATT_STR(ATT_VERSION_MINOR) "." ATT_STR(ATT_VERSION_PATCH);
#undef ATT_STR
#undef ATT_STR2
}

ATT_API const char *att_status_string(att_status status) {
  switch (att::raw_enum_value(status)) {
    case ATT_OK: return "success";
    case ATT_E_NULL: return "a required pointer argument is NULL";
    case ATT_E_SIZE: return "invalid size";
    case ATT_E_INDEX: return "index out of range";
    case ATT_E_NONFINITE: return "non-finite input";
    case ATT_E_NOMEM: return "out of memory";
    case ATT_E_CONFIG: return "invalid configuration";
    case ATT_E_INTERNAL: return "internal error";
    case ATT_E_RANGE: return "input magnitude out of the supported range";
    case ATT_E_APPROXIMATION: return "the approximation cannot be used for this input";
    case ATT_E_FORMAT: return "not a saved dynattn state";
    case ATT_E_VERSION: return "unsupported saved-state format version";
    case ATT_E_ENDIAN: return "saved state has the other byte order";
    case ATT_E_TRUNCATED: return "saved state is truncated";
    case ATT_E_CORRUPT: return "saved state is corrupted";
    case ATT_E_IO: return "file input/output failed";
    case ATT_E_ENUM: return "unknown enumeration value";
  }
  return "unknown status";
}

ATT_API const char *att_last_error(void) { return att::last_error_message(); }

ATT_API att_status att_config_create(att_config **out) {
  if (out != nullptr) *out = nullptr;
  return guarded([&] {
    require(out, "out");
    *out = new att_config{};
  });
}

ATT_API void att_config_free(att_config *cfg) { delete cfg; }

ATT_API att_status att_config_set_lazy_limit(att_config *cfg, int64_t k) {
  return guarded([&] {
    require(cfg, "cfg");
    if (k < 0 || k > att::Config::kMaxLazyLimit)
      att::fail(ATT_E_CONFIG, "lazy limit %lld is outside [0, %lld]", static_cast<long long>(k),
                static_cast<long long>(att::Config::kMaxLazyLimit));
    cfg->options.lazy_limit = k;
    cfg->options.lazy_exponent = 0.0;
  });
}

ATT_API att_status att_config_set_lazy_exponent(att_config *cfg, double a) {
  return guarded([&] {
    require(cfg, "cfg");
    if (!(a > 0.0 && a <= 1.0)) att::fail(ATT_E_CONFIG, "lazy exponent %g is outside (0, 1]", a);
    cfg->options.lazy_exponent = a;
    cfg->options.lazy_limit = 0;
  });
}

ATT_API att_status att_config_set_logit_scale(att_config *cfg, double scale) {
  return guarded([&] {
    require(cfg, "cfg");
    if (!(std::isfinite(scale) && scale > 0.0))
      att::fail(ATT_E_CONFIG, "logit scale %g is not a finite number > 0", scale);
    cfg->options.logit_scale = scale;
  });
}

ATT_API att_status att_config_set_causal(att_config *cfg, int64_t causal) {
  return guarded([&] {
    require(cfg, "cfg");
    if (causal != 0 && causal != 1)
      att::fail(ATT_E_CONFIG, "causal=%lld is neither 0 nor 1", static_cast<long long>(causal));
    cfg->options.causal = causal == 1;
  });
}

ATT_API att_status att_config_set_storage(att_config *cfg, att_storage storage) {
  return guarded([&] {
    require(cfg, "cfg");
    const long long v = att::raw_enum_value(storage);
    if (v != ATT_STORAGE_DENSE && v != ATT_STORAGE_STREAMED && v != ATT_STORAGE_AUTO)
      att::fail(ATT_E_ENUM, "storage=%lld is not ATT_STORAGE_DENSE, _STREAMED or _AUTO", v);
    cfg->options.storage = static_cast<int>(v);
  });
}

ATT_API att_status att_config_set_memory_budget(att_config *cfg, int64_t bytes) {
  return guarded([&] {
    require(cfg, "cfg");
    if (bytes < 0)
      att::fail(ATT_E_CONFIG, "memory budget %lld is negative", static_cast<long long>(bytes));
    cfg->options.memory_budget = bytes;
  });
}

ATT_API att_status att_config_set_strategy(att_config *cfg, att_strategy strategy) {
  return guarded([&] {
    require(cfg, "cfg");
    const long long v = att::raw_enum_value(strategy);
    if (v != ATT_STRATEGY_LAZY && v != ATT_STRATEGY_ADAPTIVE && v != ATT_STRATEGY_EAGER)
      att::fail(ATT_E_ENUM, "strategy=%lld is not ATT_STRATEGY_LAZY, _ADAPTIVE or _EAGER", v);
    cfg->options.strategy = static_cast<int>(v);
  });
}

ATT_API att_status att_init(att_state **out, int64_t n, int64_t d, const double *Q, const double *K,
                            const double *V, const att_config *cfg) {
  if (out != nullptr) *out = nullptr;
  return guarded([&] {
    require(out, "out");
    if (n < 1 || d < 1)
      att::fail(ATT_E_SIZE, "n=%lld and d=%lld must both be at least 1", static_cast<long long>(n),
                static_cast<long long>(d));
    require(Q, "Q");
    require(K, "K");
    require(V, "V");
    const att::Config options = cfg != nullptr ? cfg->options : att::Config{};
    auto state = std::make_unique<att_state>();
    state->impl = std::make_unique<att::DynamicAttention>(
        att::Shape{n, n, d, d}, att::InputMatrix{Q, ATT_ROW_MAJOR, d},
        att::InputMatrix{K, ATT_ROW_MAJOR, d}, att::InputMatrix{V, ATT_ROW_MAJOR, d}, options);
    *out = state.release();
  });
}

ATT_API void att_free(att_state *s) { delete s; }

ATT_API att_status att_update_k(att_state *s, int64_t i, int64_t j, double delta) {
  return guarded([&] { impl(s).update_k(i, j, delta); });
}

ATT_API att_status att_update_v(att_state *s, int64_t i, int64_t j, double delta) {
  return guarded([&] { impl(s).update_v(i, j, delta); });
}

ATT_API att_status att_query(const att_state *s, int64_t i, int64_t j, double *out) {
  return guarded([&] {
    const att::DynamicAttention &a = impl(s);
    require(out, "out");
    *out = a.query(i, j);
  });
}

ATT_API att_status att_init_general(att_state **out, int64_t n_q, int64_t n_kv, int64_t d_k,
                                    int64_t d_v, att_layout layout, const double *Q, int64_t ldq,
                                    const double *K, int64_t ldk, const double *V, int64_t ldv,
                                    const att_config *cfg) {
  if (out != nullptr) *out = nullptr;
  return guarded([&] {
    require(out, "out");
    require(Q, "Q");
    require(K, "K");
    require(V, "V");
    const att::Config options = cfg != nullptr ? cfg->options : att::Config{};
    auto state = std::make_unique<att_state>();
    state->impl = std::make_unique<att::DynamicAttention>(
        att::Shape{n_q, n_kv, d_k, d_v}, att::InputMatrix{Q, layout_arg(layout), ldq},
        att::InputMatrix{K, layout_arg(layout), ldk}, att::InputMatrix{V, layout_arg(layout), ldv},
        options);
    *out = state.release();
  });
}

ATT_API att_status att_shape(const att_state *s, int64_t *n_q, int64_t *n_kv, int64_t *d_k,
                             int64_t *d_v) {
  return guarded([&] {
    const att::Shape &shape = impl(s).shape();
    if (n_q != nullptr) *n_q = shape.n_q;
    if (n_kv != nullptr) *n_kv = shape.n_kv;
    if (d_k != nullptr) *d_k = shape.d_k;
    if (d_v != nullptr) *d_v = shape.d_v;
  });
}

ATT_API att_status att_get_matrix(const att_state *s, att_matrix which, att_layout layout,
                                  double *out, int64_t ld) {
  return guarded([&] {
    const att::DynamicAttention &a = impl(s);
    require(out, "out");
    a.read_matrix(matrix_arg(which), layout_arg(layout), out, ld);
  });
}

ATT_API att_status att_update_q(att_state *s, int64_t i, int64_t j, double delta) {
  return guarded([&] { impl(s).update_q(i, j, delta); });
}

ATT_API att_status att_set_entry(att_state *s, att_matrix which, int64_t i, int64_t j,
                                 double value) {
  return guarded([&] {
    att::DynamicAttention &a = impl(s);
    a.set_entry(matrix_arg(which), i, j, value);
  });
}

ATT_API att_status att_set_row(att_state *s, att_matrix which, int64_t i, const double *row,
                               int64_t inc) {
  return guarded([&] {
    att::DynamicAttention &a = impl(s);
    require(row, "row");
    a.set_row(matrix_arg(which), i, row, inc);
  });
}

namespace {

att_status batch(att_state *s, att_matrix which, int64_t count, const int64_t *rows,
                 const int64_t *cols, const double *values, bool set) {
  return guarded([&] {
    att::DynamicAttention &a = impl(s);
    if (count > 0) {
      require(rows, "rows");
      require(cols, "cols");
      require(values, set ? "values" : "deltas");
    }
    a.batch(matrix_arg(which), count, rows, cols, values, set);
  });
}

}  // namespace

ATT_API att_status att_update_batch(att_state *s, att_matrix which, int64_t count,
                                    const int64_t *rows, const int64_t *cols,
                                    const double *deltas) {
  return batch(s, which, count, rows, cols, deltas, false);
}

ATT_API att_status att_set_batch(att_state *s, att_matrix which, int64_t count, const int64_t *rows,
                                 const int64_t *cols, const double *values) {
  return batch(s, which, count, rows, cols, values, true);
}

ATT_API att_status att_fold(att_state *s) {
  return guarded([&] { impl(s).fold(); });
}

ATT_API att_status att_query_row(const att_state *s, int64_t i, double *out) {
  return guarded([&] {
    const att::DynamicAttention &a = impl(s);
    require(out, "out");
    a.query_row(i, out, 1);
  });
}

ATT_API att_status att_query_rows(const att_state *s, int64_t i0, int64_t count, att_layout layout,
                                  double *out, int64_t ld) {
  return guarded([&] {
    const att::DynamicAttention &a = impl(s);
    require(out, "out");
    a.query_rows(i0, count, layout_arg(layout), out, ld);
  });
}

ATT_API att_status att_output(const att_state *s, att_layout layout, double *out, int64_t ld) {
  return guarded([&] {
    const att::DynamicAttention &a = impl(s);
    require(out, "out");
    a.query_rows(0, a.shape().n_q, layout_arg(layout), out, ld);
  });
}

ATT_API att_status att_query_lse(const att_state *s, int64_t i0, int64_t count, double *out) {
  return guarded([&] {
    const att::DynamicAttention &a = impl(s);
    require(out, "out");
    a.query_lse(i0, count, out);
  });
}

ATT_API att_status att_stat(const att_state *s, att_stat_kind which, int64_t *out) {
  return guarded([&] {
    const att::DynamicAttention &a = impl(s);
    require(out, "out");
    *out = a.stat(stat_arg(which));
  });
}

ATT_API att_status att_clone(const att_state *s, att_state **out) {
  if (out != nullptr) *out = nullptr;
  return guarded([&] {
    const att::DynamicAttention &a = impl(s);
    require(out, "out");
    auto state = std::make_unique<att_state>();
    state->impl = std::make_unique<att::DynamicAttention>(a);
    *out = state.release();
  });
}

ATT_API att_status att_save_size(const att_state *s, int64_t *bytes) {
  return guarded([&] {
    const att::DynamicAttention &a = impl(s);
    require(bytes, "bytes");
    *bytes = static_cast<int64_t>(att::ser::saved_size(a));
  });
}

ATT_API att_status att_save_buffer(const att_state *s, void *buf, int64_t capacity,
                                   int64_t *written) {
  return guarded([&] {
    const att::DynamicAttention &a = impl(s);
    require(buf, "buf");
    const size_t size = att::ser::saved_size(a);
    if (capacity < 0 || static_cast<uint64_t>(capacity) < size)
      att::fail(ATT_E_SIZE, "capacity=%lld is below the %zu bytes needed",
                static_cast<long long>(capacity), size);
    att::ser::save(a, static_cast<unsigned char *>(buf));
    if (written != nullptr) *written = static_cast<int64_t>(size);
  });
}

ATT_API att_status att_save_file(const att_state *s, const char *path) {
  return guarded([&] {
    const att::DynamicAttention &a = impl(s);
    require(path, "path");
    std::vector<unsigned char> data(att::ser::saved_size(a));
    att::ser::save(a, data.data());
    write_atomically(path, data);
  });
}

ATT_API att_status att_load_buffer(att_state **out, const void *buf, int64_t size) {
  if (out != nullptr) *out = nullptr;
  return guarded([&] {
    require(out, "out");
    require(buf, "buf");
    if (size < 0) att::fail(ATT_E_SIZE, "size=%lld is negative", static_cast<long long>(size));
    auto state = std::make_unique<att_state>();
    state->impl =
        att::ser::load(static_cast<const unsigned char *>(buf), static_cast<size_t>(size));
    *out = state.release();
  });
}

ATT_API att_status att_load_file(att_state **out, const char *path) {
  if (out != nullptr) *out = nullptr;
  return guarded([&] {
    require(out, "out");
    require(path, "path");
    const std::vector<unsigned char> data = read_file(path);
    auto state = std::make_unique<att_state>();
    state->impl = att::ser::load(data.data(), data.size());
    *out = state.release();
  });
}

}  // extern "C"

/*
 * Fuzz target: att_load_buffer on hostile data. The first byte picks how the
 * rest is used:
 *   - even: as the whole buffer, header included (the loader's envelope
 *     checks: magic, byte order, version, length, checksum);
 *   - odd: as a payload behind a valid header whose version comes from the
 *     second byte and whose XXH3-64 checksum is computed here, so that the
 *     payload's own consistency checks are what the data meets.
 * A load that fails must leave *out NULL and a detail message. A load that
 * succeeds gives a handle that must answer every query, accept or refuse an
 * update cleanly, save, and load again into a handle with bitwise the same
 * results; a state that came out of att_save_buffer (even mode: only an
 * unmodified saved state passes the checksum) must also answer finite values.
 * A resealed payload need not: the loader checks counts, indices and
 * magnitudes, not every numerical invariant (docs/FORMAT.md). Any violation
 * aborts.
 *
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "dynattn.h"

/* The newest format version (docs/FORMAT.md). */
enum { kNewestVersion = 4 };

/* Handles larger than this are loaded and freed but not queried entry by
 * entry, so that one input cannot take seconds. */
#define MAX_QUERIED 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, long long detail) {
  fprintf(stderr, "fuzz_load: %s (%lld); last error: %s\n", what, detail, att_last_error());
  abort();
}

/* The whole output, row-major, into a new buffer (NULL if too large). */
static double *output_of(const att_state *h, int64_t *n) {
  int64_t n_q = 0, n_kv = 0, d_k = 0, d_v = 0;
  double *out;
  if (att_shape(h, &n_q, &n_kv, &d_k, &d_v) != ATT_OK) die("att_shape failed", 0);
  if (n_q > MAX_QUERIED || d_v > MAX_QUERIED || n_q * d_v > MAX_QUERIED) return NULL;
  *n = n_q * d_v;
  out = malloc((size_t)*n * sizeof *out);
  if (out == NULL) abort();
  if (att_output(h, ATT_ROW_MAJOR, out, d_v) != ATT_OK)
    die("att_output of a loaded handle failed", 0);
  return out;
}

static void exercise(att_state *h, int saved) {
  int64_t n = 0, t, size = 0, written = 0;
  double *before = output_of(h, &n), *after;
  unsigned char *buf;
  att_state *again = NULL;
  att_status st;
  if (before == NULL) return;
  for (t = 0; saved && t < n; ++t)
    if (!isfinite(before[t])) die("a loaded handle answers a non-finite value", t);
  /* Save and load again: the same results, bit for bit. */
  if (att_save_size(h, &size) != ATT_OK) die("att_save_size failed", 0);
  buf = malloc((size_t)size);
  if (buf == NULL) abort();
  if (att_save_buffer(h, buf, size, &written) != ATT_OK || written != size)
    die("att_save_buffer failed", written);
  if (att_load_buffer(&again, buf, size) != ATT_OK)
    die("a saved loaded handle does not load", size);
  free(buf);
  after = output_of(again, &n);
  if (memcmp(before, after, (size_t)n * sizeof *after) != 0)
    die("a reloaded handle answers differently", 0);
  free(after);
  att_free(again);
  /* An update either applies or is refused; the results stay finite. */
  st = att_update_v(h, 0, 0, 0.5);
  if (st != ATT_OK && st != ATT_E_RANGE) die("att_update_v on a loaded handle", st);
  st = att_update_k(h, 0, 0, 0.25);
  if (st != ATT_OK && st != ATT_E_RANGE && st != ATT_E_NONFINITE)
    die("att_update_k on a loaded handle", st);
  after = output_of(h, &n);
  for (t = 0; saved && t < n; ++t)
    if (!isfinite(after[t])) die("an updated loaded handle answers a non-finite value", t);
  free(after);
  free(before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  att_state *h = (att_state *)(void *)&h; /* any non-NULL value */
  unsigned char *buf = NULL;
  const unsigned char *bytes = data;
  int64_t length = (int64_t)size;
  att_status st;
  if (size == 0) return 0;
  if (data[0] & 1) {
    static const unsigned char magic[8] = {0x89, 'D', 'Y', 'N', 'A', 'T', 'T', '\n'};
    const uint32_t order = 0x0A0B0C0Du;
    /* Every version the library reads: 1 to kNewestVersion. */
    const uint32_t version = size > 1 ? 1u + data[1] % kNewestVersion : kNewestVersion;
    const uint64_t payload = size > 2 ? (uint64_t)size - 2 : 0;
    const uint64_t sum = XXH3_64bits(data + 2, (size_t)payload);
    buf = malloc(32 + (size_t)payload);
    if (buf == NULL) abort();
    memcpy(buf, magic, 8);
    memcpy(buf + 8, &order, 4);
    memcpy(buf + 12, &version, 4);
    memcpy(buf + 16, &payload, 8);
    memcpy(buf + 24, &sum, 8);
    if (payload > 0) memcpy(buf + 32, data + 2, (size_t)payload);
    bytes = buf;
    length = 32 + (int64_t)payload;
  } else {
    ++bytes;
    --length;
  }
  st = att_load_buffer(&h, bytes, length);
  if (st != ATT_OK) {
    if (h != NULL) die("*out is not NULL after a failed load", st);
    if (att_last_error()[0] == '\0') die("a failed load left no detail message", st);
  } else {
    exercise(h, !(data[0] & 1));
    att_free(h);
  }
  free(buf);
  return 0;
}

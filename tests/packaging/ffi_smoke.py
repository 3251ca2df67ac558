#!/usr/bin/python3
"""FFI smoke test: drive libdynattn through Python's ctypes, as a binding would.

Usage: ffi_smoke.py LIBRARY VERSION

Loads the built library by path, declares every function it calls with
explicit argtypes/restype (handles as void pointers, sizes and indices as
int64, status as int), maintains a random problem through a stream of K and V
updates, and compares every entry of B with a NumPy recomputation (row-max
shifted softmax) within 1e-12 * max_c |V[c, j]|. It also checks the error
paths the header promises: status codes, att_status_string(), the per-thread
att_last_error() message, and that a failed call leaves the handle unchanged.

Exit status: 0 pass, 1 fail, 77 skip (NumPy missing; a failure when
DYNATTN_STRICT_TESTS=1).
"""
import ctypes
import math
import os
import sys
import threading

try:
    import numpy as np
except ImportError:
    print("ffi_smoke: NumPy is not available to %s (install python3-numpy)" % sys.executable)
    sys.exit(1 if os.environ.get("DYNATTN_STRICT_TESTS") == "1" else 77)

from ctypes import POINTER, byref, c_char_p, c_double, c_int, c_int64, c_void_p

# att_status values from include/dynattn.h; they are ABI and never change.
ATT_OK, ATT_E_NULL, ATT_E_SIZE, ATT_E_INDEX, ATT_E_NONFINITE = 0, 1, 2, 3, 4
TOLERANCE = 1e-12


def load(path):
    lib = ctypes.CDLL(path)
    dp = POINTER(c_double)
    signatures = {
        "att_version_number": ([], c_int64),
        "att_version_string": ([], c_char_p),
        "att_status_string": ([c_int], c_char_p),
        "att_last_error": ([], c_char_p),
        "att_config_create": ([POINTER(c_void_p)], c_int),
        "att_config_free": ([c_void_p], None),
        "att_config_set_lazy_limit": ([c_void_p, c_int64], c_int),
        "att_config_set_logit_scale": ([c_void_p, c_double], c_int),
        "att_init": ([POINTER(c_void_p), c_int64, c_int64, dp, dp, dp, c_void_p], c_int),
        "att_free": ([c_void_p], None),
        "att_update_k": ([c_void_p, c_int64, c_int64, c_double], c_int),
        "att_update_v": ([c_void_p, c_int64, c_int64, c_double], c_int),
        "att_query": ([c_void_p, c_int64, c_int64, dp], c_int),
    }
    for name, (argtypes, restype) in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = restype
    return lib


def as_ptr(a):
    assert a.dtype == np.float64 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(POINTER(c_double))


def reference(Q, K, V, scale):
    """B = D^-1 exp(scale Q K^T) V with each row shifted by its maximum."""
    logits = scale * (Q @ K.T)
    A = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (A @ V) / A.sum(axis=1, keepdims=True)


class Failures:
    def __init__(self):
        self.messages = []

    def check(self, condition, message):
        if not condition:
            self.messages.append(message)
            print("FAIL: " + message)
        return condition


def query_all(lib, handle, n, d):
    B = np.empty((n, d))
    out = c_double()
    for i in range(n):
        for j in range(d):
            status = lib.att_query(handle, i, j, byref(out))
            if status != ATT_OK:
                raise RuntimeError("att_query(%d, %d) returned %d: %s" % (
                    i, j, status, lib.att_last_error().decode()))
            B[i, j] = out.value
    return B


def compare(fails, lib, handle, Q, K, V, scale, label):
    n, d = V.shape
    got = query_all(lib, handle, n, d)
    want = reference(Q, K, V, scale)
    err = np.max(np.abs(got - want) / np.max(np.abs(V), axis=0))
    print("%-40s max |B - B_numpy| / max|V[:,j]| = %.2e" % (label, err))
    fails.check(err <= TOLERANCE, "%s: error %.3g exceeds %g" % (label, err, TOLERANCE))
    return got


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    lib = load(sys.argv[1])
    fails = Failures()
    version = lib.att_version_string().decode()
    print("loaded %s, version %s (%d)" % (sys.argv[1], version, lib.att_version_number()))
    fails.check(version == sys.argv[2], "att_version_string() is %r, expected %r" % (version, sys.argv[2]))
    major, minor, patch = (int(x) for x in sys.argv[2].split("."))
    fails.check(lib.att_version_number() == major * 10000 + minor * 100 + patch,
                "att_version_number() disagrees with the version string")

    rng = np.random.default_rng(20261122)
    n, d = 96, 8
    scale = 1.0 / math.sqrt(d)
    Q, K, V = (rng.standard_normal((n, d)) for _ in range(3))

    cfg = c_void_p()
    fails.check(lib.att_config_create(byref(cfg)) == ATT_OK and cfg.value, "att_config_create")
    fails.check(lib.att_config_set_logit_scale(cfg, scale) == ATT_OK, "att_config_set_logit_scale")
    fails.check(lib.att_config_set_lazy_limit(cfg, 16) == ATT_OK, "att_config_set_lazy_limit")
    handle = c_void_p()
    status = lib.att_init(byref(handle), n, d, as_ptr(Q), as_ptr(K), as_ptr(V), cfg)
    lib.att_config_free(cfg)
    if not fails.check(status == ATT_OK and handle.value, "att_init returned %d" % status):
        return 1

    try:
        compare(fails, lib, handle, Q, K, V, scale, "after att_init")
        # 150 updates with a lazy limit of 16: several folds, and pending
        # terms of both kinds at the end.
        for step in range(1, 151):
            i, j = int(rng.integers(n)), int(rng.integers(d))
            if step % 3:
                delta = 0.3 * rng.standard_normal()
                fails.check(lib.att_update_k(handle, i, j, delta) == ATT_OK, "att_update_k")
                K[i, j] += delta
            else:
                delta = rng.standard_normal()
                fails.check(lib.att_update_v(handle, i, j, delta) == ATT_OK, "att_update_v")
                V[i, j] += delta
            if step in (5, 40, 150):
                B = compare(fails, lib, handle, Q, K, V, scale, "after %d updates" % step)

        # Error path 1: an index out of range; the output stays untouched.
        out = c_double(-7.0)
        status = lib.att_query(handle, n, 0, byref(out))
        message = lib.att_last_error().decode()
        name = lib.att_status_string(status).decode()
        print("att_query(n, 0) -> %d (%s): %s" % (status, name, message))
        fails.check(status == ATT_E_INDEX, "out-of-range query returned %d, expected %d"
                    % (status, ATT_E_INDEX))
        fails.check(out.value == -7.0, "a failed att_query wrote its output")
        fails.check(name and name != "unknown status", "att_status_string(ATT_E_INDEX) is %r" % name)
        fails.check(str(n) in message, "att_last_error() %r does not mention the index %d"
                    % (message, n))

        # Error path 2: a NaN update is rejected and changes nothing.
        status = lib.att_update_k(handle, 0, 0, float("nan"))
        print("att_update_k(0, 0, NaN) -> %d (%s): %s" % (
            status, lib.att_status_string(status).decode(), lib.att_last_error().decode()))
        fails.check(status == ATT_E_NONFINITE, "NaN update returned %d, expected %d"
                    % (status, ATT_E_NONFINITE))
        fails.check(np.array_equal(query_all(lib, handle, n, d), B),
                    "a failed att_update_k changed the handle")

        # The message is per thread: a fresh thread sees "", and its own
        # failure does not overwrite this thread's message.
        before = lib.att_last_error().decode()
        seen = {}

        def other_thread():
            seen["fresh"] = lib.att_last_error().decode()
            seen["status"] = lib.att_update_v(handle, 0, d, 1.0)
            seen["own"] = lib.att_last_error().decode()

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        fails.check(seen.get("fresh") == "", "a new thread's att_last_error() is %r" % seen.get("fresh"))
        fails.check(seen.get("status") == ATT_E_INDEX and seen.get("own"),
                    "the other thread's failure: %r" % seen)
        fails.check(lib.att_last_error().decode() == before,
                    "another thread's failure replaced this thread's message")
    finally:
        lib.att_free(handle)

    # Error path 3: a failed att_init sets *out to NULL.
    Z = np.zeros((1, 1))
    handle = c_void_p(0x1234)
    status = lib.att_init(byref(handle), 0, 1, as_ptr(Z), as_ptr(Z), as_ptr(Z), None)
    print("att_init(n = 0) -> %d (%s): %s" % (
        status, lib.att_status_string(status).decode(), lib.att_last_error().decode()))
    fails.check(status == ATT_E_SIZE, "att_init with n = 0 returned %d, expected %d"
                % (status, ATT_E_SIZE))
    fails.check(handle.value is None, "a failed att_init left *out = %r" % handle.value)
    status = lib.att_init(byref(handle), 1, 1, None, as_ptr(Z), as_ptr(Z), None)
    fails.check(status == ATT_E_NULL, "att_init with Q = NULL returned %d" % status)
    fails.check(lib.att_status_string(12345).decode() == "unknown status",
                "att_status_string(12345) is not 'unknown status'")
    lib.att_free(None)  # a no-op

    if fails.messages:
        print("%d check(s) failed" % len(fails.messages))
        return 1
    print("PASS: ctypes smoke test")
    return 0


if __name__ == "__main__":
    sys.exit(main())

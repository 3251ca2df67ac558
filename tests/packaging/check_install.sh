#!/bin/sh
# Install into a scratch DESTDIR with `meson install` and build programs
# against the installed copy using nothing but pkg-config.
#
# Usage: check_install.sh BUILD_ROOT EXAMPLE_C EXPECTED_OUTPUT
# Environment (set by tests/packaging/meson.build):
#   MESON       the meson command that configured BUILD_ROOT
#   CC, CXX     the project's C and C++ compilers
#   PKG_CONFIG  pkg-config program
#   DYNATTN_PREFIX, DYNATTN_LIBDIR, DYNATTN_INCLUDEDIR  the configured install dirs
#   DYNATTN_VERSION, DYNATTN_SOVERSION
#   DYNATTN_SOURCE_ROOT  the source tree (for include/dynattn.h)
#
# It checks that:
#   1. `meson install --no-rebuild --destdir` installs exactly the header,
#      the library with its two symlinks, and dynattn.pc;
#   2. the installed library's SONAME is libdynattn.so.SOVERSION and
#      `pkg-config --modversion dynattn` is the project version;
#   3. examples/example.c compiles as strict C99 (-Wall -Wextra -Wpedantic
#      -Werror) and links with only `pkg-config --cflags --libs dynattn`
#      (PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR point into the DESTDIR),
#      loads libdynattn from the DESTDIR and prints the expected output;
#   4. a C++17 program can include the installed header and link the same way.
#
# --no-rebuild keeps meson install from running ninja, which `meson test`
# already ran (and whose lock a nested ninja would contend for). The scratch
# directory is removed on success and kept for inspection on failure.
set -eu

build_root=$1
example_c=$2
expected=$3
: "${MESON:=meson}" "${CC:=cc}" "${CXX:=c++}" "${PKG_CONFIG:=pkg-config}"

work=$(mktemp -d "${TMPDIR:-/tmp}/dynattn-install.XXXXXX")
keep=1
cleanup() { if [ "$keep" = 0 ]; then rm -rf "$work"; else echo "check_install: kept $work"; fi; }
trap cleanup EXIT
fail() { echo "check_install: FAIL: $*"; exit 1; }

destdir=$work/destdir
echo "== meson install --no-rebuild --destdir $destdir"
$MESON install -C "$build_root" --no-rebuild --quiet --destdir "$destdir"

# 1. Exactly the expected files, no more (examples and tests are not installed).
libdir=$destdir$DYNATTN_PREFIX/$DYNATTN_LIBDIR
incdir=$destdir$DYNATTN_PREFIX/$DYNATTN_INCLUDEDIR
pcdir=$libdir/pkgconfig
real=libdynattn.so.$DYNATTN_VERSION
(cd "$destdir" && find . \( -type f -o -type l \) | sed 's|^\./|/|' | LC_ALL=C sort) >"$work/installed"
LC_ALL=C sort >"$work/wanted" <<EOF2
$DYNATTN_PREFIX/$DYNATTN_INCLUDEDIR/dynattn.h
$DYNATTN_PREFIX/$DYNATTN_LIBDIR/libdynattn.so
$DYNATTN_PREFIX/$DYNATTN_LIBDIR/libdynattn.so.$DYNATTN_SOVERSION
$DYNATTN_PREFIX/$DYNATTN_LIBDIR/$real
$DYNATTN_PREFIX/$DYNATTN_LIBDIR/pkgconfig/dynattn.pc
EOF2
echo "== installed files"
cat "$work/installed"
diff -u "$work/wanted" "$work/installed" || fail "installed files differ from the expected layout"
[ -f "$libdir/$real" ] && [ ! -L "$libdir/$real" ] || fail "$real is not a regular file"
[ "$(readlink "$libdir/libdynattn.so.$DYNATTN_SOVERSION")" = "$real" ] ||
  fail "libdynattn.so.$DYNATTN_SOVERSION does not point to $real"
[ "$(readlink "$libdir/libdynattn.so")" = "libdynattn.so.$DYNATTN_SOVERSION" ] ||
  fail "libdynattn.so does not point to libdynattn.so.$DYNATTN_SOVERSION"
cmp -s "$incdir/dynattn.h" "$DYNATTN_SOURCE_ROOT/include/dynattn.h" ||
  fail "the installed dynattn.h differs from include/dynattn.h"

# 2. SONAME and pkg-config metadata.
soname=$(LC_ALL=C readelf -d "$libdir/$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libdynattn.so.$DYNATTN_SOVERSION" ] || fail "SONAME is '$soname'"
PKG_CONFIG_PATH=$pcdir
PKG_CONFIG_SYSROOT_DIR=$destdir
# Keep -I/-L even when the prefix is /usr, where they would otherwise be
# dropped as system directories (and would then miss the DESTDIR).
PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_ALLOW_SYSTEM_CFLAGS PKG_CONFIG_ALLOW_SYSTEM_LIBS
echo "== $pcdir/dynattn.pc"
cat "$pcdir/dynattn.pc"
modversion=$($PKG_CONFIG --modversion dynattn)
[ "$modversion" = "$DYNATTN_VERSION" ] || fail "pkg-config --modversion says '$modversion'"
cflags=$($PKG_CONFIG --cflags dynattn)
libs=$($PKG_CONFIG --libs dynattn)
echo "pkg-config --cflags dynattn: $cflags"
echo "pkg-config --libs dynattn:   $libs"
case " $libs " in *" -L$libdir "*) ;; *) fail "--libs does not point into the DESTDIR: $libs" ;; esac
case " $cflags " in *" -I$incdir "*|*" -I$incdir/ "*) ;; *) fail "--cflags does not point into the DESTDIR: $cflags" ;; esac

# 3. The README's example, built from the installed copy only.
echo "== $CC -std=c99 -Wall -Wextra -Wpedantic -Werror example.c \$(pkg-config --cflags --libs dynattn)"
# shellcheck disable=SC2086  # the compiler command and flags are word lists
$CC -std=c99 -Wall -Wextra -Wpedantic -Werror $cflags "$example_c" -o "$work/example" $libs
LD_LIBRARY_PATH=$libdir
export LD_LIBRARY_PATH
loaded=$(ldd "$work/example" | sed -n 's/.*libdynattn\.so[^ ]* => \([^ ]*\).*/\1/p')
echo "libdynattn resolves to $loaded"
case "$loaded" in "$libdir"/*) ;; *) fail "the example did not load libdynattn from the DESTDIR" ;; esac
"$work/example" >"$work/example.out" || fail "the installed example exited with $?"
cat "$work/example.out"
# The detail line carries att_last_error(), whose wording may change: it is
# checked for being non-empty only; every other line must match exactly.
grep -q '^  detail: ..*' "$work/example.out" || fail "att_last_error() gave an empty detail"
grep -v '^  detail: ' "$work/example.out" >"$work/example.cmp"
grep -v '^  detail: ' "$expected" | sed "s/@VERSION@/$DYNATTN_VERSION/" >"$work/example.want"
diff -u "$work/example.want" "$work/example.cmp" || fail "the example's output differs from $expected"

# 4. C++ callers: the installed header's extern "C" guard and C++17.
cat >"$work/consumer.cpp" <<'EOF2'
#include <dynattn.h>

#include <cstdio>
#include <memory>

int main() {
  const double m[4] = {1.0, 0.0, 0.0, 1.0};
  att_state *raw = nullptr;
  if (att_init(&raw, 2, 2, m, m, m, nullptr) != ATT_OK) return 1;
  std::unique_ptr<att_state, decltype(&att_free)> s(raw, &att_free);
  double b = 0.0;
  if (att_query(s.get(), 0, 0, &b) != ATT_OK) return 1;
  std::printf("%s %.6f\n", att_version_string(), b);
  return att_version_number() == ATT_VERSION_NUMBER ? 0 : 1;
}
EOF2
echo "== $CXX -std=c++17 -Wall -Wextra -Wpedantic -Werror consumer.cpp \$(pkg-config --cflags --libs dynattn)"
# shellcheck disable=SC2086
$CXX -std=c++17 -Wall -Wextra -Wpedantic -Werror $cflags "$work/consumer.cpp" -o "$work/consumer" $libs
"$work/consumer" >"$work/consumer.out" || fail "the C++ consumer exited with $?"
cat "$work/consumer.out"
# B[0][0] = e / (e + 1) for Q = K = V = I.
[ "$(cat "$work/consumer.out")" = "$DYNATTN_VERSION 0.731059" ] || fail "unexpected C++ consumer output"

keep=0
echo "PASS: install layout, pkg-config, C99 and C++17 consumers"

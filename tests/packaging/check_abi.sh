#!/bin/sh
# Compare the built library's ABI with the committed baseline abi/dynattn.abi.
#
# Usage: check_abi.sh BASELINE INCLUDE_DIR LIBRARY [ABIDIFF]
#
# abidiff looks only at types reachable from the public header (--headers-dir)
# and ignores added functions (--no-added-syms): adding to the ABI is allowed,
# removing or changing anything in it is not. See abi/README.md for when and
# how to regenerate the baseline on purpose.
#
# Exit status: 0 pass, 1 fail, 77 skip (abidiff missing or no debug info; a
# failure when DYNATTN_STRICT_TESTS=1).
set -u

baseline=$1
include_dir=$2
lib=$3
abidiff=${4:-abidiff}

skip() {
  echo "check_abi: $1"
  if [ "${DYNATTN_STRICT_TESTS:-0}" = 1 ]; then exit 1; fi
  exit 77
}

command -v "$abidiff" >/dev/null 2>&1 || skip "$abidiff not found (install abigail-tools)"
if [ ! -f "$baseline" ]; then
  echo "check_abi: FAIL: no baseline at $baseline (see abi/README.md to create it)"
  exit 1
fi
# Without DWARF abidiff can compare only symbol names; a build without debug
# info (buildtype=release, plain) cannot be checked against the baseline.
if ! LC_ALL=C readelf -S "$lib" 2>/dev/null | grep -q '\.debug_info'; then
  skip "$lib has no debug info (use buildtype=debug or debugoptimized)"
fi

echo "abidiff --no-added-syms --headers-dir1 $include_dir --headers-dir2 $include_dir $baseline $lib"
"$abidiff" --version
"$abidiff" --no-added-syms --fail-no-debug-info \
  --headers-dir1 "$include_dir" --headers-dir2 "$include_dir" \
  "$baseline" "$lib"
status=$?
if [ "$status" -ne 0 ]; then
  # abidiff's status is a bit field: 1 error, 2 usage, 4 ABI change, 8 incompatible change.
  echo "check_abi: FAIL: abidiff exited with $status" \
    "($( [ $((status & 8)) -ne 0 ] && echo 'incompatible ABI change' ||
         { [ $((status & 4)) -ne 0 ] && echo 'ABI change' || echo 'abidiff error'; } ))"
  echo "check_abi: if the change is intended, regenerate the baseline as abi/README.md says"
  echo "check_abi: and add a line to CHANGELOG.md under 'ABI Compatibility'."
  exit 1
fi
echo "PASS: the ABI of $lib matches $baseline (additions allowed)"
exit 0

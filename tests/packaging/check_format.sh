#!/bin/sh
# Check that every C and C++ source of the project is formatted as the
# committed .clang-format says (clang-format 14, the version Debian 12 ships;
# other versions format some constructs differently, so they are not used).
#
# Usage: check_format.sh SOURCE_ROOT [CLANG_FORMAT]
#
# Fix a failure with: clang-format -i FILE... (the files it lists).
#
# Exit status: 0 pass, 1 fail, 77 skip (clang-format 14 missing; a failure
# when DYNATTN_STRICT_TESTS=1).
set -u

root=$1
clang_format=${2:-clang-format}

skip() {
  echo "check_format: $1"
  if [ "${DYNATTN_STRICT_TESTS:-0}" = 1 ]; then exit 1; fi
  exit 77
}

command -v "$clang_format" >/dev/null 2>&1 || skip "$clang_format not found (install clang-format)"
version=$("$clang_format" --version)
case "$version" in
  *"version 14."*) ;;
  *) skip "$version is not clang-format 14, which .clang-format is written for" ;;
esac

cd "$root" || exit 1
files=$(find src include tests bench examples -type f \
          \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \) | LC_ALL=C sort)
[ -n "$files" ] || { echo "check_format: FAIL: no sources under $root"; exit 1; }

# One run over all files; clang-format names each offending file in its
# "FILE:LINE:COL: error: code should be clang-formatted" lines.
# shellcheck disable=SC2086
if report=$("$clang_format" --dry-run --Werror $files 2>&1); then
  echo "check_format: PASS: $(echo "$files" | wc -l) files"
  exit 0
fi
echo "$report" | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' |
  sort -u | while read -r f; do
    echo "check_format: FAIL: $f is not formatted (clang-format -i $f)"
  done
echo "$report" | head -40
exit 1

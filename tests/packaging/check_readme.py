#!/usr/bin/python3
"""Check that the C examples in README.md are the example files, character for character.

Usage: check_readme.py README EXAMPLE_C [EXAMPLE_C ...]

The README promises that each of its C examples is a file the build compiles
and `meson test` runs; this keeps them from drifting apart. Every file named
must appear as one ```c block of the README.
"""
import difflib
import re
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        readme = f.read()
    blocks = re.findall(r"^```c\n(.*?)^```$", readme, flags=re.S | re.M)
    if not blocks:
        print("FAIL: no ```c block in %s" % sys.argv[1])
        return 1
    status = 0
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as f:
            example = f.read()
        if example in blocks:
            print("PASS: %s contains %s" % (sys.argv[1], path))
            continue
        # Diff against the block that shares the file's first line, if any.
        first = example.splitlines(True)[:2]
        closest = next((b for b in blocks if b.splitlines(True)[:2] == first), blocks[0])
        print("FAIL: no ```c block in %s equals %s; diff:" % (sys.argv[1], path))
        sys.stdout.writelines(difflib.unified_diff(closest.splitlines(True),
                                                   example.splitlines(True), "README.md", path))
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())

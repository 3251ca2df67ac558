#!/usr/bin/python3
"""Check that the C example in README.md is examples/example.c, character for character.

Usage: check_readme.py README EXAMPLE_C

The README promises that its example is the file the build compiles and
`meson test` runs; this keeps the two from drifting apart.
"""
import difflib
import re
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        readme = f.read()
    with open(sys.argv[2], encoding="utf-8") as f:
        example = f.read()
    blocks = re.findall(r"^```c\n(.*?)^```$", readme, flags=re.S | re.M)
    if not blocks:
        print("FAIL: no ```c block in %s" % sys.argv[1])
        return 1
    if example in blocks:
        print("PASS: the C example in %s is %s" % (sys.argv[1], sys.argv[2]))
        return 0
    print("FAIL: no ```c block in %s equals %s; diff against the first one:" % tuple(sys.argv[1:]))
    sys.stdout.writelines(difflib.unified_diff(blocks[0].splitlines(True), example.splitlines(True),
                                               "README.md", sys.argv[2]))
    return 1


if __name__ == "__main__":
    sys.exit(main())

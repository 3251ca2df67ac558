#!/usr/bin/python3
"""Check that libdynattn exports exactly the functions its public header declares.

Usage: check_exports.py HEADER VERSION_SCRIPT LIBRARY [NM]

The header's declarations are the ones introduced by ATT_API. The library's
exports are its dynamic, defined symbols as `nm -D --defined-only` lists them.
Both directions are checked: a declared function the library does not export
is a link error waiting for a user, and an exported symbol the header does not
declare is ABI that nobody promised. Every export must also be a function
(type T) and carry a version node from the version script (abi/dynattn.map).

Exit status: 0 pass, 1 fail, 77 skip (nm missing; a failure when
DYNATTN_STRICT_TESTS=1).
"""
import os
import re
import shutil
import subprocess
import sys


def header_functions(path):
    """Names declared with ATT_API in the header, comments removed."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    # Drop preprocessor lines (the #define of ATT_API itself among them).
    text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    names = []
    for decl in re.finditer(r"\bATT_API\b([^;{]*?)\(", text):
        m = re.search(r"([A-Za-z_]\w*)\s*$", decl.group(1))
        if not m:
            sys.exit("check_exports: cannot parse declaration: ATT_API%s(" % decl.group(1))
        names.append(m.group(1))
    return names


def version_nodes(path):
    """Version node names defined in the version script, e.g. DYNATTN_0.1."""
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"/\*.*?\*/", " ", f.read(), flags=re.S)
    return set(re.findall(r"([A-Za-z_][\w.]*)\s*\{", text))


def library_exports(nm, lib):
    """{name: (type, version)} for the dynamic, defined symbols of lib."""
    out = subprocess.run([nm, "-D", "--defined-only", "--with-symbol-versions", lib],
                         check=True, capture_output=True, text=True).stdout
    symbols = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        sym_type, name = fields[-2], fields[-1]
        name, _, version = name.partition("@")
        version = version.lstrip("@")
        symbols[name] = (sym_type, version)
    return symbols


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    header, map_file, lib = sys.argv[1:4]
    nm = sys.argv[4] if len(sys.argv) == 5 else "nm"
    if shutil.which(nm) is None:
        msg = "check_exports: %s not found (install binutils)" % nm
        print(msg)
        return 1 if os.environ.get("DYNATTN_STRICT_TESTS") == "1" else 77

    declared = header_functions(header)
    nodes = version_nodes(map_file)
    exported = library_exports(nm, lib)
    failures = []

    duplicates = sorted({n for n in declared if declared.count(n) > 1})
    if duplicates:
        failures.append("declared more than once in %s: %s" % (header, ", ".join(duplicates)))
    if not declared:
        failures.append("no ATT_API declarations found in %s" % header)
    bad_names = sorted(n for n in declared if not n.startswith("att_"))
    if bad_names:
        failures.append("ATT_API declarations without the att_ prefix: %s" % ", ".join(bad_names))

    # Version nodes show up as absolute symbols (type A) named after the node.
    functions = {n: tv for n, tv in exported.items() if not (tv[0] == "A" and n in nodes)}

    missing = sorted(set(declared) - set(functions))
    extra = sorted(set(functions) - set(declared))
    if missing:
        failures.append("declared in the header but not exported: " + ", ".join(missing))
    if extra:
        failures.append("exported but not declared in the header: " + ", ".join(extra))
    for name in sorted(set(declared) & set(functions)):
        sym_type, version = functions[name]
        if sym_type != "T":
            failures.append("%s is exported with type %s, expected T (a function)" % (name, sym_type))
        if version not in nodes:
            failures.append("%s has version '%s', not a node of %s (%s)"
                            % (name, version, map_file, ", ".join(sorted(nodes))))

    print("header declares %d functions; library exports %d symbols (version nodes: %s)"
          % (len(declared), len(functions), ", ".join(sorted(nodes))))
    for name in sorted(functions):
        print("  %-32s %s @%s" % (name, functions[name][0], functions[name][1]))
    if failures:
        for f in failures:
            print("FAIL: " + f)
        return 1
    print("PASS: exports == header declarations")
    return 0


if __name__ == "__main__":
    sys.exit(main())

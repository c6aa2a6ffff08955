#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side check of the driver's layout: the modules of the crate (the top-level .rs
# files, glue/ and nvme/) must form a one-way stack, with no import circle. A module uses
# another when its code (comments and doc links aside) names `crate::<module>` or lists the
# module in a `use crate::{...}` block. Prints the stack from the bottom up, one module a
# line with what it uses, and fails naming a circle if there is one.
#
# Usage: tests/host-imports.sh [--dot]   (--dot: print the graph in Graphviz form instead)
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$RNVME_ROOT"

command -v python3 >/dev/null || die "python3 is needed to read the import graph (apt-get install python3)"

python3 - "${1:-}" <<'EOF'
import os, re, sys

root = "."
mods = {}
for f in sorted(os.listdir(root)):
    if f.endswith(".rs"):
        mods[f[:-3]] = f
# A folder module counts as one node: its root file and everything below it.
for d in ("glue", "nvme"):
    files = [os.path.join(dp, f) for dp, _, fs in os.walk(d) for f in fs if f.endswith(".rs")]
    if os.path.exists(d + ".rs"):
        files.append(d + ".rs")
    mods[d] = files

def code_of(path):
    """The file without its comment lines (doc links name modules without using them)."""
    return "".join(l for l in open(path, encoding="utf-8") if not l.lstrip().startswith("//"))

def uses(text):
    found = set(re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text))
    # The module root declares the modules and uses them by their bare names.
    found |= set(re.findall(r"^mod\s+([a-z_][a-z0-9_]*)\s*;", text, re.M))
    found |= set(re.findall(r"^use\s+([a-z_][a-z0-9_]*)::", text, re.M))
    # Items listed at the first level of `use crate::{ ... };`.
    for m in re.finditer(r"use\s+crate::\{", text):
        i, depth, tok = m.end(), 1, ""
        first = True
        while i < len(text) and depth:
            c = text[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            if depth == 1 and (c.isalnum() or c == "_"):
                tok += c
            else:
                if tok and first and depth >= 1:
                    found.add(tok)
                if tok:
                    first = False
                tok = ""
                if depth == 1 and c == ",":
                    first = True
            i += 1
    return found

graph = {}
for name, files in mods.items():
    if isinstance(files, str):
        files = [files]
    deps = set()
    for f in files:
        deps |= uses(code_of(f))
    graph[name] = sorted(d for d in deps if d in mods and d != name)

if sys.argv[1] == "--dot":
    print("digraph rust_nvme {")
    for n, ds in sorted(graph.items()):
        for d in ds:
            print(f"  {n} -> {d};")
    print("}")
    sys.exit(0)

order, state = [], {}
def visit(n, path):
    if state.get(n) == "done":
        return
    if state.get(n) == "open":
        cyc = path[path.index(n):] + [n]
        print("import circle: " + " -> ".join(cyc))
        sys.exit(1)
    state[n] = "open"
    for d in graph[n]:
        visit(d, path + [n])
    state[n] = "done"
    order.append(n)

for n in sorted(graph):
    visit(n, [])
for n in order:
    print(f"{n:10} uses {', '.join(graph[n]) if graph[n] else '-'}")
print(f"no import circle among {len(graph)} modules")
EOF

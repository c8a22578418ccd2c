#!/usr/bin/env python3
"""Lists the import cycles among the library's modules (issue 18: "one
direction of dependencies").

    scripts/check-imports.py [--graph]

Each crate of the workspace (crates/*/src) is checked on its own: between
crates, Cargo already forbids a cycle. A module is a file under the crate's
src/ (crates/preload/src/tree.rs is `tree`, crates/preload/src/hooks/threads.rs
is `hooks::threads`; lib.rs and main.rs are left out: a crate root only
declares). An edge A -> B is any reference to `crate::B` (or `super::B` in a
submodule) in A's text outside comments; the library's names for the core's
modules (`crate::config`) lead out of the crate and are not edges. Prints
every strongly connected component of more than one module, with the edges
that close it; in the library (crates/preload), also every call upward
between its layers (docs/design.md, section 1: hooks, then the process
layer, then the state modules, then the helpers; `LAYERS` below). Exits 1
if it found either; --graph also prints every edge.

Plain Python 3, no dependencies. `scripts/test.sh` runs it (and so CI),
after `--self-test`, which shows it finds a cycle and an upward call in a
made-up library.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CRATES = os.path.join(ROOT, "crates")


# The library's layers, top first (docs/design.md, section 1). A module
# named here has this rank; any other is a hook (`hooks`, `hooks::*`: 1) or
# a helper (9). An edge from a lower layer to a higher one (a larger rank to
# a smaller) is a call upward. Within the process and state layers each
# module has a rank of its own: each calls only those after it.
LAYERS = {
    "fork": 2.0,
    "exit": 2.1,
    "init": 2.2,
    "tree": 3.0,
    "pools": 3.1,
    "cap": 3.2,
    "events": 3.3,
}


def rank(module):
    if module == "hooks" or module.startswith("hooks::"):
        return 1
    return LAYERS.get(module, 9)


def upward(graph):
    return sorted(
        (m, t) for m in graph for t in graph[m] if rank(t) < rank(m)
    )


def modules(src):
    found = {}
    for dirpath, dirnames, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs") or f in ("lib.rs", "main.rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)[:-3]
            parts = rel.split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            found["::".join(parts)] = os.path.join(dirpath, f)
    return found


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def edges(mods):
    names = set(mods)
    out = {m: set() for m in mods}
    for m, path in mods.items():
        text = strip_comments(open(path, encoding="utf-8").read())
        refs = set()
        # crate::a::b and `use crate::{a, b::c}` groups
        for path_ in re.findall(r"crate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", text):
            refs.add(path_)
        for group in re.findall(r"crate::\{([^}]*)\}", text):
            for item in group.split(","):
                item = item.strip().split(" as ")[0]
                if item:
                    refs.add(item)
        if "::" in m:
            parent = m.rsplit("::", 1)[0]
            for path_ in re.findall(r"super::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", text):
                refs.add(parent + "::" + path_)
        for ref in refs:
            parts = ref.split("::")
            # the longest prefix that names a module
            for k in range(len(parts), 0, -1):
                target = "::".join(parts[:k])
                if target in names:
                    if target != m:
                        out[m].add(target)
                    break
    return out


def components(graph):
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [c for c in comps if len(c) > 1]


def self_test():
    """A made-up library with one cycle and one upward call: both found."""
    graph = {
        "hooks::threads": {"cap", "init"},
        "init": {"tree"},
        "tree": {"cap"},
        "cap": {"events", "tree"},  # cycle tree <-> cap, and cap calls tree above it
        "events": {"init"},  # upward: a state module calls the process layer
        "log": set(),
    }
    found_cycles = components(graph)
    found_upward = upward(graph)
    assert found_cycles == [["cap", "events", "init", "tree"]], found_cycles
    assert ("events", "init") in found_upward, found_upward
    assert ("cap", "tree") in found_upward, found_upward
    assert ("hooks::threads", "cap") not in found_upward, found_upward
    clean = {"hooks::threads": {"init", "cap"}, "init": {"tree"}, "tree": {"cap"}, "cap": {"events"}, "events": set()}
    assert components(clean) == [] and upward(clean) == [], (components(clean), upward(clean))
    print("check-imports: self-test passed (a cycle and two upward calls found in a made-up library)")
    return 0


def main(argv):
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if "--self-test" in argv:
        return self_test()
    cycles = []
    for crate in sorted(os.listdir(CRATES)):
        src = os.path.join(CRATES, crate, "src")
        if not os.path.isdir(src):
            continue
        graph = edges(modules(src))
        if "--graph" in argv:
            print(f"[{crate}]")
            for m in sorted(graph):
                print(f"{m} -> {', '.join(sorted(graph[m])) or '(nothing)'}")
            print()
        if crate == "preload":
            for m, t in upward(graph):
                cycles.append([m, t])
                print(f"{crate}: {m} (layer {rank(m)}) calls {t} (layer {rank(t)}), above it")
        for comp in components(graph):
            cycles.append(comp)
            inside = set(comp)
            print(f"{crate}: cycle of {len(comp)} modules: {', '.join(comp)}")
            for m in comp:
                for t in sorted(graph[m] & inside):
                    print(f"    {m} -> {t}")
    if cycles:
        print(f"check-imports: {len(cycles)} cycle(s) or upward call(s); the rule (docs/design.md, section 1): hooks call the process layer, which calls the state modules, which call helpers and the core; nothing calls upward")
        return 1
    print("check-imports: no import cycle in any crate, no call upward in the library")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

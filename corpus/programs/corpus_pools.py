"""Shared by the Python drivers: print the pools this process started, as
`corpus-pool NAME N` lines on stderr (corpus/README.md, "Pools")."""

import os
import sys


def pool(name: str, n: int) -> None:
    print(f"corpus-pool {name} {n}", file=sys.stderr, flush=True)


def program_threads() -> int:
    """This process's threads, less the library's own (its steward, named
    `libthrottle`, which a tree's member may start at any moment): what a
    pool measured by counting threads is made of."""
    n = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                if f.read().strip() == "libthrottle":
                    continue
        except OSError:
            continue  # ended meanwhile
        n += 1
    return n


def threadpools() -> None:
    """Every pool threadpoolctl finds (OpenBLAS, libgomp, ...), named by its
    API and library file."""
    from threadpoolctl import threadpool_info

    for p in threadpool_info():
        lib = os.path.basename(p["filepath"]).split(".so")[0]
        pool(f"{p['internal_api']}:{lib}", p["num_threads"])

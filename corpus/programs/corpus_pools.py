"""Shared by the Python drivers: print the pools this process started, as
`corpus-pool NAME N` lines on stderr (corpus/README.md, "Pools")."""

import os
import sys


def pool(name: str, n: int) -> None:
    print(f"corpus-pool {name} {n}", file=sys.stderr, flush=True)


def threadpools() -> None:
    """Every pool threadpoolctl finds (OpenBLAS, libgomp, ...), named by its
    API and library file."""
    from threadpoolctl import threadpool_info

    for p in threadpool_info():
        lib = os.path.basename(p["filepath"]).split(".so")[0]
        pool(f"{p['internal_api']}:{lib}", p["num_threads"])

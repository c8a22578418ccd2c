"""A Jupyter notebook executed the way papermill and `jupyter nbconvert
--execute` do it (nbclient): this process starts an IPython kernel, a
second process, and sends it the cells over ZeroMQ. The kernel multiplies
matrices with numpy's bundled OpenBLAS and reports its pools after the work
through threadpoolctl; this process, which waits meanwhile, prints the
cells' results and passes the kernel's pools on as corpus-pool lines."""

import sys

import nbformat
from nbclient import NotebookClient

CELLS = [
    "import numpy as np, threadpoolctl",
    "a = np.random.default_rng(7).standard_normal((1200, 1200))\n"
    "b = a\n"
    "for _ in range(24):\n"
    "    b = (b @ a) / 40.0\n"
    "print('digest %.6e' % float(np.abs(b).sum()))",
    "q, r = np.linalg.qr(a)\n"
    "print('qr %.6f' % float(np.abs(np.diag(r)).sum()))",
    # The pools in force after the work: the kernel's share then.
    "for p in threadpoolctl.threadpool_info():\n"
    "    print('pool', p['internal_api'], p['num_threads'])",
]


def main():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    NotebookClient(nb, timeout=240, kernel_name="python3").execute()
    for cell in nb.cells:
        for out in cell.outputs:
            if out.get("output_type") != "stream":
                print(f"unexpected output: {out}")
                continue
            for line in out.get("text", "").splitlines():
                if line.startswith("pool "):
                    _, api, n = line.split()
                    print(f"corpus-pool kernel:{api} {n}", file=sys.stderr, flush=True)
                else:
                    print(line, flush=True)


main()

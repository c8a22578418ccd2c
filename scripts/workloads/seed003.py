"""Seed 003: a process pool mapping a BLAS-heavy numpy task over many matrices.

The programs of seed 003 ("combine BLAS threads and multiprocessing"), scaled
down by --size and --tasks (the seed: 2000 and 100). With a pool, as in the
seed's pooled programs, each task creates two square matrices of random
floats and multiplies them (`item1.dot(item2)`), returning the product, and
the tasks go to a `multiprocessing.Pool` through `apply_async`. Without one,
as in the seed's other programs, the main process first creates all the
matrices (two lists, `data1` and `data2`), then multiplies them pair by pair.

Usage: seed003.py [--pool N|default|none] [--streamed] [--returns product|trace]
                  [--tasks T] [--size N]

  --pool N        a Pool(N) of N worker processes
  --pool default  Pool() with no argument: sized by os.cpu_count(), as a
                  program that was never tuned does (the default)
  --pool none     no pool: the seed's no-pool program, in the main process
  --streamed      with --pool none: run the pooled program's tasks one after
                  another in the main process instead, each pair created just
                  before its product and freed after it (not one of the
                  seed's programs: a rewrite of it that touches less memory)
  --returns trace with a pool: each task returns its product's trace, a
                  float, instead of the product (not one of the seed's
                  programs: it measures what sending every product back to
                  the parent costs); the default is product, as in the seed

The number of BLAS threads is never set here: it comes from the environment
(OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, ...) or from OpenBLAS's own default,
which is the point of the benchmark. Prints one line,
`tasks=T size=N pool=P checksum=X faults=F`, where X is the sum of every
product's trace (a check that every task ran and returned) and F the minor
page faults of the program and of its Pool workers (getrusage: the workers
are reaped by `pool.join()`).
"""

import argparse
import resource
import sys
from multiprocessing import Pool

from numpy.random import rand


def load_data(n):
    # square matrix of random floats
    return rand(n, n)


def operation(item1, item2):
    # matrix multiplication
    return item1.dot(item2)


def task(n):
    item1 = load_data(n)
    item2 = load_data(n)
    return operation(item1, item2)


def task_trace(n):
    return float(task(n).trace())


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def pool_arg(text):
    if text in ("none", "default"):
        return text
    try:
        return positive(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer, 'default' or 'none', got {text!r}"
        ) from None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=pool_arg, default="default")
    parser.add_argument("--tasks", type=positive, default=100)
    parser.add_argument("--size", type=positive, default=2000)
    parser.add_argument("--streamed", action="store_true")
    parser.add_argument("--returns", choices=("product", "trace"), default="product")
    args = parser.parse_args()
    if args.streamed and args.pool != "none":
        parser.error("--streamed needs --pool none")
    if args.returns == "trace" and args.pool == "none":
        parser.error("--returns trace needs a pool")

    if args.pool == "none" and args.streamed:
        results = [task(args.size) for _ in range(args.tasks)]
        workers = "none"
    elif args.pool == "none":
        # load data, then apply the operation to each pair, as the seed does
        data1 = [load_data(args.size) for _ in range(args.tasks)]
        data2 = [load_data(args.size) for _ in range(args.tasks)]
        results = [operation(item1, item2) for item1, item2 in zip(data1, data2)]
        workers = "none"
    else:
        pool = Pool() if args.pool == "default" else Pool(args.pool)
        workers = str(pool._processes)
        with pool:
            # issue tasks and gather results, as the seed does
            work = task if args.returns == "product" else task_trace
            pending = [pool.apply_async(work, (args.size,)) for _ in range(args.tasks)]
            pool.close()
            pool.join()
            results = [p.get() for p in pending]

    checksum = sum(r if isinstance(r, float) else float(r.trace()) for r in results)
    faults = sum(resource.getrusage(who).ru_minflt for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(f"tasks={args.tasks} size={args.size} pool={workers} checksum={checksum:.6e} faults={faults}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

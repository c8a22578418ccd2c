"""Allocation churn for the allocator cases: dicts, lists, strings and
tuples built and dropped in waves, then a digest of what survived.
usage: churn.py [ROUNDS]"""
import hashlib
import sys

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
h = hashlib.sha256()
keep = []
for r in range(rounds):
    d = {}
    for i in range(120_000):
        k = f"k{(i * 2654435761 + r) % 1_000_003}"
        d[k] = [i, r, k * (1 + i % 5), (i, r)]
    # drop most of it, keep a sample: fragments the heap
    sample = sorted(d)[:: 97]
    keep.append({k: d[k][2] for k in sample})
    lst = [str(x) * (x % 7 + 1) for x in range(200_000)]
    lst.sort(key=lambda s: (len(s), s))
    h.update(lst[r * 1000].encode())
    h.update(str(len(d)).encode())
    del d, lst
for m in keep:
    for k in sorted(m):
        h.update(k.encode())
        h.update(m[k].encode())
print(f"rounds {rounds} kept {sum(len(m) for m in keep)}")
print(h.hexdigest())

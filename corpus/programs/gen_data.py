"""Writes MB megabytes of deterministic text (lines of words and numbers
drawn from a seeded generator) to PATH, for the compressors and sort.
usage: gen_data.py PATH MB [SEED]"""
import random
import sys

path, mb = sys.argv[1], float(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
rng = random.Random(seed)
vocab = [
    "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
    for _ in range(5000)
]
weights = [1.0 / (i + 1) for i in range(len(vocab))]  # Zipf-like, compressible
target = int(mb * 1024 * 1024)
written = 0
with open(path, "w") as f:
    while written < target:
        words = rng.choices(vocab, weights, k=20000)
        nums = [rng.randrange(1_000_000) for _ in range(2000)]
        lines = [
            f"{nums[i]:07d} " + " ".join(words[i * 10:(i + 1) * 10])
            for i in range(2000)
        ]
        block = "\n".join(lines) + "\n"
        f.write(block)
        written += len(block)

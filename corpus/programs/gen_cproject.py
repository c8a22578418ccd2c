"""Writes a small C project into a directory: FILES translation units of
FUNCS functions each (integer hashing, loops the optimiser works on), a main
that calls them all and prints a checksum, and a Makefile.
usage: gen_cproject.py DIR [FILES] [FUNCS]"""
import os
import sys

out = sys.argv[1]
files = int(sys.argv[2]) if len(sys.argv) > 2 else 20
funcs = int(sys.argv[3]) if len(sys.argv) > 3 else 12
os.makedirs(out, exist_ok=True)

with open(os.path.join(out, "proj.h"), "w") as f:
    f.write("#include <stdint.h>\n#include <stddef.h>\n")
    for i in range(files):
        f.write(f"uint64_t unit{i}(uint64_t seed);\n")

for i in range(files):
    with open(os.path.join(out, f"unit{i}.c"), "w") as f:
        f.write('#include "proj.h"\n\n')
        for j in range(funcs):
            a, b, c = (i * 131 + j * 7) % 61 + 3, (i + j) % 29 + 1, (i * j) % 13 + 2
            f.write(f"""struct s{i}_{j} {{ uint64_t v[{c + 4}]; uint32_t n; }};
static uint64_t f{i}_{j}(uint64_t x) {{
    struct s{i}_{j} s = {{{{0}}, {c}}};
    for (uint32_t k = 0; k < {a * 8}; k++) {{
        x ^= x << {b % 31 + 1}; x ^= x >> 7; x ^= x << 17;
        s.v[k % {c + 4}] += x * {a}u + (x >> {c});
        if ((x & {b}) == {b % 7}) s.n += (uint32_t)(x >> 60);
        switch (k & 3) {{
        case 0: x += s.v[(k * {c}) % {c + 4}]; break;
        case 1: x ^= (uint64_t)s.n << {c}; break;
        case 2: x = x * 6364136223846793005ull + {a}; break;
        default: x = (x << 13) | (x >> 51); break;
        }}
    }}
    for (uint32_t k = 0; k < {c + 4}; k++) x += s.v[k] * (k + {b});
    return x + s.n;
}}

""")
        f.write(f"uint64_t unit{i}(uint64_t seed) {{\n    uint64_t h = seed;\n")
        for j in range(funcs):
            f.write(f"    h = f{i}_{j}(h + {j});\n")
        f.write("    return h;\n}\n")

with open(os.path.join(out, "main.c"), "w") as f:
    f.write('#include <stdio.h>\n#include <inttypes.h>\n#include "proj.h"\n\nint main(void) {\n    uint64_t h = 1;\n')
    for i in range(files):
        f.write(f"    h = unit{i}(h);\n")
    f.write('    printf("checksum %016" PRIx64 "\\n", h);\n    return 0;\n}\n')

objs = " ".join(f"unit{i}.o" for i in range(files)) + " main.o"
with open(os.path.join(out, "Makefile"), "w") as f:
    f.write(f"""CC ?= gcc
CFLAGS ?= -O2
OBJS = {objs}

prog: $(OBJS)
\t$(CC) -o $@ $(OBJS)

%.o: %.c proj.h
\t$(CC) $(CFLAGS) -c $< -o $@

clean:
\trm -f prog $(OBJS)
""")

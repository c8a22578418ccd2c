#!/usr/bin/env python3
"""The real-software corpus runner (corpus/README.md is its specification).

Every case (cases/*.toml) runs in each of its modes twice, with libthrottle
and without it (the reference), and the two runs are compared: exit status,
output under the case's `compare`, no `libthrottle:` line on stderr, no
timeout, and the pools a driver reports (`corpus-pool NAME N` on stderr)
sized to the share. Python 3.11 standard library only.

    corpus/run.py                      # every case, every mode
    corpus/run.py --only sklearn --mode cap1
    corpus/run.py --list
    corpus/run.py --bench [--rounds 5] # timings: library/plain, cap1/taskset
    corpus/run.py --markdown docs.md   # the table of docs/corpus.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).resolve().parent
ROOT = CORPUS.parent
VENV_PY = ROOT / "target" / "corpus" / "venv" / "bin" / "python"
SCRATCH = ROOT / "target" / "corpus"
MODES = ("default", "cap1", "tree")
CATEGORIES = ("python", "allocators", "managed", "cpython", "mpi", "tools", "crash")
NAME_RE = re.compile(r"^[a-z0-9-]+$")
POOL_RE = re.compile(r"^corpus-pool (\S+) (-?\d+)\s*$")

# The runtimes' own thread-count variables: scrubbed from the inherited
# environment, and set to 1 on the reference side of `cap1`.
RUNTIME_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "RAYON_NUM_THREADS",
    "GOMAXPROCS",
    "JULIA_NUM_THREADS",
    "TBB_NUM_THREADS",
    "UV_THREADPOOL_SIZE",
    "DOTNET_PROCESSOR_COUNT",
)
# Scrubbed too, never set: they change how many threads a runtime starts, or
# are an allocation the library would read (the cap must come from the
# affinity mask alone).
SCRUB_VARS = RUNTIME_VARS + (
    "LD_PRELOAD",
    "OMP_THREAD_LIMIT",
    "OMP_DYNAMIC",
    "OMP_PROC_BIND",
    "OMP_PLACES",
    "OMP_MAX_ACTIVE_LEVELS",
    "MKL_DYNAMIC",
    "NUMEXPR_MAX_THREADS",
    "NUMBA_THREADING_LAYER",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "NSLOTS",
    "JOB_ID",
    "NCPUS",
    "_CONDOR_MACHINE_AD",
)
SCRUB_PREFIXES = ("THROTTLE_", "SLURM_", "PBS_", "LSB_", "SGE_")


def scrubbed_environ() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in SCRUB_VARS and not k.startswith(SCRUB_PREFIXES)
    }


def cpus() -> int:
    return len(os.sched_getaffinity(0))


# --------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    name: str
    category: str
    what: str
    version: list[str] | None
    cmd: list[str] | None
    shell: str | None
    timeout: float
    compare: str
    modes: list[str]
    preload_first: str = ""
    preload_after: str = ""
    env: dict[str, str] = field(default_factory=dict)
    # mode -> why a pool over the share there is a known limitation of the
    # library (a CPU count it cannot reach), not a failure of the case.
    pool_unseen: dict[str, str] = field(default_factory=dict)
    path: Path | None = None


def load_case(path: Path) -> Case:
    with open(path, "rb") as f:
        d = tomllib.load(f)

    def fail(msg: str) -> None:
        raise SystemExit(f"run.py: {path}: {msg}")

    known = {
        "name", "category", "what", "version", "cmd", "shell", "timeout",
        "compare", "modes", "preload_first", "preload_after", "env", "pool_unseen",
    }
    for k in d:
        if k not in known:
            fail(f"unknown key {k!r}")
    for k in ("name", "category", "what"):
        if not isinstance(d.get(k), str) or not d[k]:
            fail(f"{k} must be a non-empty string")
    if not NAME_RE.match(d["name"]):
        fail(f"name {d['name']!r} is not [a-z0-9-]+")
    if d["category"] not in CATEGORIES:
        fail(f"category {d['category']!r} is not one of {', '.join(CATEGORIES)}")
    if ("cmd" in d) == ("shell" in d):
        fail("exactly one of cmd and shell")
    if "cmd" in d and not (
        isinstance(d["cmd"], list) and d["cmd"] and all(isinstance(a, str) for a in d["cmd"])
    ):
        fail("cmd must be a non-empty list of strings")
    if "shell" in d and not isinstance(d["shell"], str):
        fail("shell must be a string")
    version = d.get("version")
    if version is not None and not (
        isinstance(version, list) and version and all(isinstance(a, str) for a in version)
    ):
        fail("version must be a list of strings")
    compare = d.get("compare", "exact")
    if compare.startswith("float:"):
        try:
            float(compare[6:])
        except ValueError:
            fail(f"compare {compare!r}: TOL is not a number")
    elif compare not in ("exact", "sorted", "digest", "status"):
        fail(f"unknown compare {compare!r}")
    modes = d.get("modes", list(MODES))
    if not isinstance(modes, list) or not modes or any(m not in MODES for m in modes):
        fail(f"modes must be a non-empty subset of {', '.join(MODES)}")
    env = d.get("env", {})
    if not isinstance(env, dict) or any(not isinstance(v, str) for v in env.values()):
        fail("env must be a table of strings")
    pool_unseen = d.get("pool_unseen", {})
    if not isinstance(pool_unseen, dict) or any(
        m not in MODES or not isinstance(v, str) or not v for m, v in pool_unseen.items()
    ):
        fail("pool_unseen must map modes to non-empty reasons")
    timeout = d.get("timeout", 300)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        fail("timeout must be a positive number")
    return Case(
        name=d["name"],
        category=d["category"],
        what=d["what"],
        version=version,
        cmd=d.get("cmd"),
        shell=d.get("shell"),
        timeout=float(timeout),
        compare=compare,
        modes=list(modes),
        preload_first=d.get("preload_first", ""),
        preload_after=d.get("preload_after", ""),
        env=dict(env),
        pool_unseen=dict(pool_unseen),
        path=path,
    )


def load_cases() -> list[Case]:
    cases = [load_case(p) for p in sorted((CORPUS / "cases").glob("*.toml"))]
    seen: dict[str, Path] = {}
    for c in cases:
        if c.name in seen:
            raise SystemExit(f"run.py: case {c.name!r} in both {seen[c.name]} and {c.path}")
        seen[c.name] = c.path
    return cases


# --------------------------------------------------------------------------
# Running one command


@dataclass
class Ctx:
    lib: str
    throttle: str
    py: str
    nproc: int
    logs: Path


def subst(text: str, ctx: Ctx, work: str) -> str:
    for key, val in (
        ("{py}", ctx.py),
        ("{corpus}", str(CORPUS)),
        ("{work}", work),
        ("{lib}", ctx.lib),
        ("{throttle}", ctx.throttle),
        ("{nproc}", str(ctx.nproc)),
    ):
        text = text.replace(key, val)
    return text


def case_argv(case: Case, ctx: Ctx, work: str) -> list[str]:
    if case.cmd is not None:
        return [subst(a, ctx, work) for a in case.cmd]
    return ["bash", "-c", subst(case.shell or "", ctx, work)]


@dataclass
class Outcome:
    status: int | None  # None: timed out
    stdout: bytes
    stderr: bytes
    seconds: float
    # CPU seconds (user + system) of the program and the descendants it
    # waited for: what the library itself costs shows here, with far less
    # of the noise a shared machine adds to wall time.
    cpu: float = 0.0

    @property
    def timed_out(self) -> bool:
        return self.status is None


def execute(argv: list[str], env: dict[str, str], cwd: str, timeout: float) -> Outcome:
    """Run argv in its own session, output to files (a leftover daemon holding
    a pipe can never hang the runner), the whole group killed on timeout and
    any stragglers of the group killed after it ends."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            proc = subprocess.Popen(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, start_new_session=True,
            )
        except OSError as e:
            return Outcome(127, b"", f"run.py: cannot run {argv[0]}: {e}\n".encode(), 0.0)
        status: int | None
        try:
            status = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            status = None
        seconds = time.monotonic() - start
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if status is None:
            proc.wait()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out.seek(0)
        err.seek(0)
        return Outcome(status, out.read(), err.read(), seconds, cpu)


# --------------------------------------------------------------------------
# Modes: what each side of a case runs


def preload_value(case: Case, ctx: Ctx, with_lib: bool) -> str:
    parts = [case.preload_first, ctx.lib if with_lib else "", case.preload_after]
    return ":".join(p for p in parts if p)


CAP1_REF_ENV = {v: "1" for v in RUNTIME_VARS if v not in ("UV_THREADPOOL_SIZE",)}


def side_env(case: Case, ctx: Ctx, mode: str, with_lib: bool, work: str) -> dict[str, str]:
    env = scrubbed_environ()
    env.update({k: subst(v, ctx, work) for k, v in case.env.items()})
    pre = preload_value(case, ctx, with_lib and mode != "tree")
    if pre:
        env["LD_PRELOAD"] = pre
    if mode == "cap1":
        if with_lib:
            env["THROTTLE_THREADS"] = "1"
        else:
            env.update(CAP1_REF_ENV)
    return env


@dataclass
class Copy:
    status: int | None
    stdout: bytes
    stderr: bytes


@dataclass
class SideResult:
    copies: list[Copy]
    timed_out: bool
    seconds: float
    wrapper_stderr: bytes = b""
    cpu: float = 0.0


def run_side(case: Case, ctx: Ctx, mode: str, with_lib: bool, tag: str) -> SideResult:
    SCRATCH.mkdir(parents=True, exist_ok=True)
    (SCRATCH / "tmp").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"{case.name}.{mode}.{tag}.", dir=SCRATCH / "tmp"))
    try:
        if mode != "tree":
            work = root / "work"
            work.mkdir()
            argv = case_argv(case, ctx, str(work))
            if mode == "cap1" and not with_lib:
                argv = ["taskset", "-c", str(min(os.sched_getaffinity(0)))] + argv
            env = side_env(case, ctx, mode, with_lib, str(work))
            o = execute(argv, env, str(work), case.timeout)
            res = SideResult([Copy(o.status, o.stdout, o.stderr)], o.timed_out, o.seconds, cpu=o.cpu)
        else:
            res = run_tree(case, ctx, with_lib, root)
        save_logs(ctx, case, mode, tag, res)
        return res
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_tree(case: Case, ctx: Ctx, with_lib: bool, root: Path) -> SideResult:
    """`throttle run -- bash -c 'CMD & CMD & wait'`, each copy in its own
    {work}, its output and status kept apart in files beside it."""
    lines = []
    for i in (1, 2):
        work = root / f"work{i}"
        work.mkdir()
        argv = case_argv(case, ctx, str(work))
        envs = [f"{k}={subst(v, ctx, str(work))}" for k, v in case.env.items()]
        if with_lib and (case.preload_first or case.preload_after):
            envs.append("LD_PRELOAD=" + preload_value(case, ctx, True))
        prefix = "env " + " ".join(shlex.quote(e) for e in envs) + " " if envs else ""
        lines.append(
            f"(cd {shlex.quote(str(work))} && exec {prefix}{shlex.join(argv)})"
            f" </dev/null >{shlex.quote(str(root / f'out{i}'))} 2>{shlex.quote(str(root / f'err{i}'))} & p{i}=$!"
        )
    lines.append(f"wait $p1; echo $? >{shlex.quote(str(root / 'status1'))}")
    lines.append(f"wait $p2; echo $? >{shlex.quote(str(root / 'status2'))}")
    script = "\n".join(lines)
    env = side_env(case, ctx, "tree", False, str(root))
    argv = ["bash", "-c", script]
    if with_lib:
        argv = [ctx.throttle, "run", "--"] + argv
    o = execute(argv, env, str(root), case.timeout)
    copies = []
    for i in (1, 2):
        try:
            st: int | None = int((root / f"status{i}").read_text().strip())
        except (OSError, ValueError):
            st = None
        # bash reports death by signal N as 128+N; subprocess as -N.
        if st is not None and st > 128:
            st = -(st - 128)
        out = (root / f"out{i}").read_bytes() if (root / f"out{i}").exists() else b""
        err = (root / f"err{i}").read_bytes() if (root / f"err{i}").exists() else b""
        copies.append(Copy(st, out, err))
    return SideResult(copies, o.timed_out, o.seconds, o.stdout + o.stderr, o.cpu)


def save_logs(ctx: Ctx, case: Case, mode: str, tag: str, res: SideResult) -> None:
    ctx.logs.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(res.copies, 1):
        stem = f"{case.name}.{mode}.{tag}" + (f".{i}" if len(res.copies) > 1 else "")
        (ctx.logs / f"{stem}.out").write_bytes(c.stdout)
        (ctx.logs / f"{stem}.err").write_bytes(c.stderr + res.wrapper_stderr)
        (ctx.logs / f"{stem}.status").write_text(f"{c.status}\n")


# --------------------------------------------------------------------------
# Checks


NUM_RE = re.compile(rb"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)\b")


def split_pools(stderr: bytes) -> tuple[list[tuple[str, int]], bytes]:
    pools, rest = [], []
    for line in stderr.splitlines(keepends=True):
        m = POOL_RE.match(line.decode("utf-8", "replace"))
        if m:
            pools.append((m.group(1), int(m.group(2))))
        else:
            rest.append(line)
    return pools, b"".join(rest)


def float_equal(a: bytes, b: bytes, tol: float) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if x == y:
        return True
    if x != x or y != y:
        return x != x and y != y
    return abs(x - y) <= tol * max(abs(x), abs(y))


def compare_output(kind: str, ref: bytes, lib: bytes) -> str | None:
    """None when equal under `kind`, else a short description of the first
    difference."""
    if kind == "status":
        return None
    if kind == "exact":
        if ref == lib:
            return None
        return first_diff(ref.splitlines(), lib.splitlines())
    if kind == "sorted":
        r, l = sorted(ref.splitlines()), sorted(lib.splitlines())
        if r == l:
            return None
        return "(as sorted lines) " + first_diff(r, l)
    if kind == "digest":
        r = ref.strip().splitlines()[-1:] or [b""]
        l = lib.strip().splitlines()[-1:] or [b""]
        if r == l:
            return None
        return f"digest: reference {short(r[0])}, library {short(l[0])}"
    tol = float(kind[6:])
    rs, ls = NUM_RE.split(ref), NUM_RE.split(lib)
    rn, ln = NUM_RE.findall(ref), NUM_RE.findall(lib)
    if rs == ls and len(rn) == len(ln):
        for x, y in zip(rn, ln):
            if not float_equal(x, y, tol):
                return f"number {short(x)} vs {short(y)} differs by more than {tol:g} (relative)"
        return None
    return "(text around the numbers) " + first_diff(ref.splitlines(), lib.splitlines())


def short(b: bytes, n: int = 100) -> str:
    s = b.decode("utf-8", "replace")
    return repr(s if len(s) <= n else s[:n] + "...")


def first_diff(r: list[bytes], l: list[bytes]) -> str:
    for i in range(max(len(r), len(l))):
        a = r[i] if i < len(r) else None
        b = l[i] if i < len(l) else None
        if a != b:
            sa = short(a) if a is not None else "(no line)"
            sb = short(b) if b is not None else "(no line)"
            return f"line {i + 1}: reference {sa}, library {sb}"
    return "same lines, different bytes (line endings?)"


def status_text(s: int | None) -> str:
    if s is None:
        return "none (killed at timeout)"
    if s < 0:
        try:
            return f"{s} ({signal.Signals(-s).name})"
        except ValueError:
            return str(s)
    return str(s)


def check(case: Case, mode: str, ref: SideResult, lib: SideResult, ctx: Ctx,
          selfcheck: bool = False) -> list[str]:
    """The failed checks, each one short line (empty: the case passed)."""
    problems: list[str] = []
    if ref.timed_out:
        problems.append(f"timeout: the reference ran past {case.timeout:g} s")
    if lib.timed_out:
        problems.append(f"timeout: {'the second run' if selfcheck else 'with the library it'} ran past {case.timeout:g} s")
    budget = ctx.nproc
    for i, (rc, lc) in enumerate(zip(ref.copies, lib.copies), 1):
        where = f"copy {i}: " if len(ref.copies) > 1 else ""
        if rc.status != lc.status:
            problems.append(f"{where}status: reference {status_text(rc.status)}, "
                            f"{'second run' if selfcheck else 'library'} {status_text(lc.status)}")
        _, rerr = split_pools(rc.stderr)
        pools, lerr = split_pools(lc.stderr)
        if rc.status is not None and lc.status is not None:
            d = compare_output(case.compare, rc.stdout, lc.stdout)
            if d:
                problems.append(f"{where}output ({case.compare}): {d}")
        if selfcheck:
            continue
        bad = [ln for ln in (lerr + (lib.wrapper_stderr if i == 1 else b"")).splitlines()
               if b"libthrottle:" in ln]
        if bad:
            shown = "; ".join(short(b, 160) for b in bad[:3])
            more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
            problems.append(f"{where}stderr: {shown}{more}")
        # A pool the library cannot reach is noted, not failed ("known: ").
        known = f"known: {where}" if mode in case.pool_unseen else where
        why = f" ({case.pool_unseen[mode]})" if mode in case.pool_unseen else ""
        for name, n in pools:
            if mode == "default" and not 1 <= n <= budget:
                problems.append(f"{known}pool {name} = {n}, not within 1..{budget} CPUs{why}")
            elif mode == "cap1" and n != 1:
                problems.append(f"{known}pool {name} = {n}, not 1{why}")
            elif mode == "tree" and not 1 <= n <= budget:
                problems.append(f"{known}pool {name} = {n}, not within 1..{budget} (the budget){why}")
    return problems


def verdict_of(problems: list[str]) -> str:
    """pass; known (only known limitations, listed); FAIL."""
    if any(not p.startswith("known: ") for p in problems):
        return "FAIL"
    return "known" if problems else "pass"


# --------------------------------------------------------------------------
# The whole run


def case_version(case: Case, ctx: Ctx) -> str:
    if not case.version:
        return ""
    work = tempfile.mkdtemp(dir=SCRATCH)
    try:
        argv = [subst(a, ctx, work) for a in case.version]
        env = scrubbed_environ()
        env.update({k: subst(v, ctx, work) for k, v in case.env.items()})
        o = execute(argv, env, work, 60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = (o.stdout or o.stderr).decode("utf-8", "replace").strip().splitlines()
    if o.status != 0 or not text:
        return "?"
    return text[0].strip()


def select(cases: list[Case], only: list[str] | None, modes: list[str] | None) -> list[tuple[Case, list[str]]]:
    out = []
    for c in cases:
        if only and not any(s in c.name for s in only):
            continue
        ms = [m for m in c.modes if not modes or m in modes]
        if ms:
            out.append((c, ms))
    return out


def run_all(sel, ctx: Ctx, selfcheck: bool) -> list[dict]:
    results = []
    versions: dict[str, str] = {}
    for case, modes in sel:
        versions[case.name] = case_version(case, ctx)
        for mode in modes:
            ref = run_side(case, ctx, mode, False, "ref")
            lib = run_side(case, ctx, mode, not selfcheck, "ref2" if selfcheck else "lib")
            problems = check(case, mode, ref, lib, ctx, selfcheck)
            verdict = verdict_of(problems)
            label = "ref/ref" if selfcheck else "ref/lib"
            print(f"{verdict:4}  {case.name:28} {mode:8} {label} {ref.seconds:6.1f}s {lib.seconds:6.1f}s",
                  flush=True)
            for p in problems:
                print(f"        {p}", flush=True)
            if verdict == "FAIL":
                print(f"        logs: {ctx.logs}/{case.name}.{mode}.*", flush=True)
            results.append({
                "case": case.name, "category": case.category, "what": case.what,
                "version": versions[case.name], "mode": mode, "verdict": verdict,
                "problems": problems, "ref_seconds": round(ref.seconds, 3),
                "lib_seconds": round(lib.seconds, 3), "selfcheck": selfcheck,
            })
    return results


def verdict_cell(rs: list[dict], mode: str) -> str:
    for r in rs:
        if r["mode"] == mode:
            if r["verdict"] in ("pass", "known"):
                return r["verdict"]
            kinds = sorted({p.split(":")[0].replace("copy 1", "").replace("copy 2", "").strip()
                            for p in r["problems"]})
            return "FAIL (" + ", ".join(k.split(" ")[0] for k in kinds) + ")"
    return "-"


def by_case(results: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in results:
        out.setdefault(r["case"], []).append(r)
    return out


def print_table(results: list[dict]) -> None:
    rows = [("case", "category") + MODES]
    for name, rs in by_case(results).items():
        rows.append((name, rs[0]["category"]) + tuple(verdict_cell(rs, m) for m in MODES))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def markdown(results: list[dict]) -> str:
    lines = [
        "| program | category | version | what it does | " + " | ".join(MODES) + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in MODES) + " |",
    ]
    for name, rs in by_case(results).items():
        r0 = rs[0]
        cells = [f"`{name}`", r0["category"], r0["version"] or "-",
                 r0["what"].replace("|", "\\|")]
        cells += [verdict_cell(rs, m) for m in MODES]
        lines.append("| " + " | ".join(cells) + " |")
    fails = [r for r in results if r["verdict"] != "pass"]
    if fails:
        lines.append("")
        lines.append("Failures, and known limitations (`known`: a pool the library cannot reach):")
        lines.append("")
        for r in fails:
            for p in r["problems"]:
                lines.append(f"- `{r['case']}` {r['mode']}: {p.replace('|', '/')}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# --bench


def bench(sel, ctx: Ctx, rounds: int) -> int:
    """Wall and CPU seconds of every case whose plain run takes 1 s or more:
    `rounds` rounds, each running plain, library, taskset, cap1 in turn (so
    that a slow minute of the machine falls on all four), medians, ratios."""
    rows = []
    flagged = 0
    sides = (("plain", "default", False), ("lib", "default", True),
             ("taskset", "cap1", False), ("cap1", "cap1", True))
    for case, modes in sel:
        probe = run_side(case, ctx, "default", False, "bench")
        if probe.timed_out or probe.seconds < 1.0:
            print(f"skip  {case.name:28} plain run {probe.seconds:.2f}s (< 1 s or timed out)", flush=True)
            continue
        wall: dict[str, list[float]] = {k: [] for k, _, _ in sides}
        cpu: dict[str, list[float]] = {k: [] for k, _, _ in sides}
        for _ in range(rounds):
            for key, mode, with_lib in sides:
                if mode in modes:
                    o = run_side(case, ctx, mode, with_lib, "bench")
                    wall[key].append(o.seconds)
                    cpu[key].append(o.cpu)
        med = {k: statistics.median(v) if v else None for k, v in wall.items()}
        cmed = {k: statistics.median(v) if v else None for k, v in cpu.items()}

        def ratio(m, a: str, b: str, limit: float) -> tuple[str, int]:
            if m[a] is None or m[b] is None or m[b] <= 0:
                return "-", 0
            r = m[a] / m[b]
            flag = "!" if r > limit else ""
            return f"{r:.3f}{flag}", (1 if flag else 0)

        r1, f1 = ratio(med, "lib", "plain", 1.02)
        r2, f2 = ratio(med, "cap1", "taskset", 1.05)
        c1, _ = ratio(cmed, "lib", "plain", 1.02)
        c2, _ = ratio(cmed, "cap1", "taskset", 1.05)
        flagged += f1 + f2
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        row = (case.name, fmt(med["plain"]), fmt(med["lib"]), r1, c1,
               fmt(med["taskset"]), fmt(med["cap1"]), r2, c2)
        rows.append(row)
        print(f"bench {case.name:28} plain {row[1]} lib {row[2]} ({r1}, cpu {c1})  "
              f"taskset {row[5]} cap1 {row[6]} ({r2}, cpu {c2})", flush=True)
    head = ("case", "plain s", "library s", "lib/plain", "cpu", "taskset s", "cap1 s", "cap1/taskset", "cpu")
    table = [head] + rows
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    print(f"\nwall-time medians of {rounds} alternated rounds, and the ratio of CPU-time medians "
          f"(user + system); ! over the bound (lib/plain 1.02, cap1/taskset 1.05)")
    for r in table:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print(f"{len(rows)} cases timed, {flagged} wall-time ratios over their bound")
    return 0


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description="Run the real-software corpus with and without libthrottle.")
    ap.add_argument("--only", action="append", metavar="SUBSTR",
                    help="only the cases whose name contains SUBSTR (repeatable)")
    ap.add_argument("--mode", action="append", metavar="M",
                    help="only mode M: default, cap1, tree (repeatable, or comma-separated)")
    ap.add_argument("--lib", metavar="PATH", default=str(ROOT / "target" / "release" / "libthrottle.so"),
                    help="the library (default target/release/libthrottle.so)")
    ap.add_argument("--throttle", metavar="PATH", default=str(ROOT / "target" / "release" / "throttle"),
                    help="the launcher the tree mode runs (default target/release/throttle)")
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    ap.add_argument("--markdown", nargs="?", const="-", metavar="OUT",
                    help="write the table of docs/corpus.md to OUT (default: stdout)")
    ap.add_argument("--from-json", metavar="IN", action="append",
                    help="with --markdown: make the table from earlier --json files (repeatable; "
                         "a later file's run of a case in a mode replaces an earlier one's), run nothing")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--bench", action="store_true", help="timings instead of checks")
    ap.add_argument("--rounds", type=int, default=5, help="--bench rounds (default 5)")
    ap.add_argument("--selfcheck", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.from_json:
        # A later file's run of a case in a mode replaces an earlier one's.
        merged: dict[tuple[str, str], dict] = {}
        for f in args.from_json:
            for r in json.loads(Path(f).read_text())["results"]:
                merged[(r["case"], r["mode"])] = r
        order = {m: i for i, m in enumerate(MODES)}
        results = [merged[k] for k in sorted(merged, key=lambda k: (k[0], order.get(k[1], 9)))]
        write_markdown(args.markdown or "-", results)
        return 0

    modes = None
    if args.mode:
        modes = [m for a in args.mode for m in a.split(",") if m]
        for m in modes:
            if m not in MODES:
                ap.error(f"--mode: unknown mode {m!r} (one of {', '.join(MODES)})")
    sel = select(load_cases(), args.only, modes)

    if args.list:
        for c, ms in sel:
            print(f"{c.name:28} {c.category:10} {','.join(ms):18} {c.what}")
        return 0
    if not sel:
        print("run.py: no case matches", file=sys.stderr)
        return 1

    lib = str(Path(args.lib).resolve())
    throttle = str(Path(args.throttle).resolve())
    need = [lib] if args.selfcheck else [lib, throttle]
    for p in need:
        if not os.path.exists(p):
            print(f"run.py: {p} does not exist (cargo build --release)", file=sys.stderr)
            return 1
    ctx = Ctx(lib=lib, throttle=throttle, py=str(VENV_PY), nproc=cpus(),
              logs=SCRATCH / "logs")
    (SCRATCH / "tmp").mkdir(parents=True, exist_ok=True)

    if args.bench:
        return bench(sel, ctx, args.rounds)

    start = time.monotonic()
    results = run_all(sel, ctx, args.selfcheck)
    elapsed = time.monotonic() - start
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"cpus": ctx.nproc, "lib": lib, "seconds": round(elapsed, 1), "results": results}, indent=1) + "\n")
    if args.markdown:
        write_markdown(args.markdown, results)
    passed = sum(r["verdict"] in ("pass", "known") for r in results)
    failed = len(results) - passed
    known = sum(r["verdict"] == "known" for r in results)
    print(f"\ntotal {elapsed:.0f} s", file=sys.stderr)
    if known:
        print(f"{known} of the passes with a known limitation (listed above)", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def write_markdown(out: str, results: list[dict]) -> None:
    text = markdown(results)
    if out == "-":
        sys.stdout.write(text)
    else:
        Path(out).write_text(text)


if __name__ == "__main__":
    sys.exit(main())

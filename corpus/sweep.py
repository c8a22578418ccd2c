#!/usr/bin/env python3
"""The start-up sweep: every program installed in /usr/bin and /usr/sbin,
run with `--version` and with `--help`, without and with libthrottle.

Deployed by `/etc/ld.so.preload` or a module, the library starts inside
every program of a node, most of which no test was written for. This runs
each of them the way a user first would and checks that the library changes
nothing: same exit status, same stdout and stderr, no `libthrottle:` line,
no hang. It found man-db's sandboxed groff printing a ledger warning.

Each program runs in a fresh scratch directory (its HOME too), stdin from
/dev/null, with a clean environment and a timeout; plain, then with the
library, then plain again. A program whose two plain runs differ (it prints
a time, a temporary name, a first-run message) is not compared, and counted
as varying by itself. A difference is run again (plain and library, five
times more) before it counts, so that one that only shows now and then is not
blamed on the library; a `libthrottle:` line always counts.

Programs that could change the machine even when given `--help` (reboot,
mkfs, kill, ...), interactive ones and daemons are left out (DENY), and so
are setuid and setgid files (the loader ignores the preload there).

    python3 corpus/sweep.py [--lib PATH] [--cap N] [--tree] [--jobs N] [--timeout S] [--only SUBSTR]

`--cap N` runs the library's side with THROTTLE_THREADS=N (the plain side
as before: what `--version` and `--help` print does not depend on it).
`--tree` runs it inside a tree, as under a preloaded shell or a Slurm
TaskProlog: a preloaded holder process makes a ledger and keeps it alive,
and every program is started with THROTTLE_LEDGER naming it, so that each
joins the tree at start and leaves it at exit (and what it starts joins
too).

Python 3.11 standard library only, as run.py.
"""

import argparse
import concurrent.futures
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = ["/usr/bin", "/usr/sbin"]
ARGS = ["--version", "--help"]

# Programs not run: they could change the machine whatever their arguments
# (power, disks, users, packages, firewall, processes), wait for a person
# or a connection (editors, pagers, shells' REPLs, debug servers), or start
# a daemon. Whole names, as regular expressions.
DENY = re.compile(
    r"^("
    r"reboot|shutdown|halt|poweroff|init|telinit|runlevel|systemctl|ctrlaltdel"
    r"|kill|killall|killall5|pkill|skill|snice|pgrep"
    r"|rm|rmdir|unlink|shred|dd|truncate|fallocate|wipefs|blkdiscard|fstrim"
    r"|mkfs.*|mke2fs|mkswap|mkdosfs|fdisk|sfdisk|cfdisk|parted|partprobe|resize2fs|tune2fs"
    r"|e2fsck|fsck.*|debugfs|e2label|losetup|swapon|swapoff|mount|umount|zramctl|hwclock"
    r"|login|su|sudo|passwd|chsh|chfn|chage|expiry|gpasswd|newgrp|sg|sulogin|nologin"
    r"|agetty|getty|wall|write|useradd|userdel|usermod|groupadd|groupdel|groupmod"
    r"|newusers|chpasswd|chgpasswd|pwck|grpck|vipw|vigr|pwconv|pwunconv|grpconv|grpunconv"
    r"|dpkg.*|apt.*|debconf.*|update-.*|invoke-rc\.d|service|start-stop-daemon|run-parts"
    r"|ldconfig.*|sln|iptables.*|ip6tables.*|xtables.*|nft|ebtables.*|arptables.*"
    r"|modprobe|insmod|rmmod|depmod|sysctl|chroot|pivot_root|switch_root|unshare|nsenter"
    r"|setsid|nohup|timeout|env|xargs|flock|watch|yes|top|htop|less|more|pager|most"
    r"|vi|vim.*|view|nano|ed|ex|rview|rvim|editor|sensible-.*|x-.*|infobrowser"
    r"|cat|tee|sleep|tail|script|screen|tmux|ssh-agent|gpg-agent|dirmngr|keyboxd"
    r"|docker.*|containerd.*|ctr|runc|crictl|podman|dockerd"
    r"|slurm.*|munged|mungekey|sbatch|srun|salloc|scancel|sinfo|squeue|scontrol|sacct.*"
    r"|mvnDebug|jdb|jshell|instmodsh|cpan|cpan5.*|mpirun|mpiexec.*|orterun|oshrun|prun"
    r"|pam.*|unix_chkpwd|faillock|pwhistory_helper|mkhomedir_helper"
    r"|postgres|initdb|pg_ctl|terraform|issues|duplicates"
    # debconf's frontends lock its database: two runs at once fail by turns.
    r"|make-ssl-cert"
    r")$"
)


# What a program prints of the machine's state that the library changes by
# design, masked on both sides before they are compared: program name ->
# (pattern, replacement, why). A tree's ledger is a file in /dev/shm
# (docs/design.md, section 5), so a program that prints the free space
# there sees it.
MASKED = {
    "chromium": (
        re.compile(rb"^(/usr/bin/chromium: \d+: \[: )\d+(: unexpected operator)$", re.M),
        rb"\1{bytes}\2",
        "its launcher prints /dev/shm's free bytes (findmnt, /etc/chromium.d/dev-shm), "
        "which the ledger of the launcher's tree, created as it forks, lowers by its size",
    ),
}


def masked(path, out, err):
    rule = MASKED.get(os.path.basename(path))
    if not rule:
        return out, err
    pattern, replacement, _ = rule
    return pattern.sub(replacement, out), pattern.sub(replacement, err)


def clean_env(home):
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "MANPAGER": "cat",
        "PAGER": "cat",
        # Hash order fixed on both sides: a Perl script that prints a hash
        # (enc2xs --version prints its options) or a Python one that prints
        # a set would otherwise differ from run to run, now and then in the
        # same way twice, by chance, and be blamed on the library (1 of
        # 2,386 runs did, once).
        "PERL_HASH_SEED": "0",
        "PERL_PERTURB_KEYS": "0",
        "PYTHONHASHSEED": "0",
    }
    return env


def programs(only):
    seen = set()
    for d in DIRS:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            path = os.path.join(d, name)
            real = os.path.realpath(path)
            if name in seen or DENY.match(name) or (only and only not in name):
                continue
            try:
                st = os.stat(real)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or not os.access(real, os.X_OK):
                continue
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                continue
            seen.add(name)
            yield path


def run_once(path, arg, lib, timeout, cap=None, ledger=None):
    """(status, stdout, stderr) of one run; status 'timeout' when it hung."""
    work = tempfile.mkdtemp(prefix="sweep-")
    env = clean_env(work)
    if lib:
        env["LD_PRELOAD"] = lib
        if cap:
            env["THROTTLE_THREADS"] = str(cap)
        if ledger:
            env["THROTTLE_LEDGER"] = ledger
    try:
        p = subprocess.Popen(
            [path, arg],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = p.communicate(timeout=timeout)
            status = p.returncode
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            out, err = p.communicate()
            status = "timeout"
        # Whatever it left running in its session (a daemon it started).
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        w = work.encode()
        out, err = masked(path, out.replace(w, b"{work}"), err.replace(w, b"{work}"))
        return (status, out, err)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def has_throttle_line(err):
    return any(line.startswith(b"libthrottle:") for line in err.splitlines())


class Holder:
    """A preloaded process that makes a tree's ledger (its first claim, a
    CPU count, creates it) and keeps it alive until closed: the tree that
    `--tree` runs every program in."""

    CODE = (
        "import os, sys; os.cpu_count(); "
        "print(os.environ.get('THROTTLE_LEDGER', ''), flush=True); sys.stdin.read()"
    )

    def __init__(self, lib):
        env = clean_env(tempfile.gettempdir())
        env["LD_PRELOAD"] = lib
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.CODE],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.ledger = self.proc.stdout.readline().decode().strip()
        if not self.ledger or not os.path.exists(self.ledger):
            self.close()
            sys.exit(f"sweep: the preloaded holder made no ledger (it printed '{self.ledger}')")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def check(path, arg, lib, timeout, cap, ledger=None):
    """A verdict: ('same'|'varies'|'hangs-plain'|'differs', detail)."""
    plain = run_once(path, arg, None, timeout)
    with_lib = run_once(path, arg, lib, timeout, cap, ledger)
    if has_throttle_line(with_lib[2]):
        line = next(l for l in with_lib[2].splitlines() if l.startswith(b"libthrottle:"))
        return ("differs", line.decode(errors="replace"))
    if plain[0] == "timeout":
        return ("hangs-plain", "")
    plain2 = run_once(path, arg, None, timeout)
    if plain2 != plain:
        return ("varies", "")
    if with_lib == plain:
        return ("same", "")
    # Again: only a difference that holds counts. Five times, since some
    # programs print one of two texts by themselves (`ompi_info --help`
    # lists its MCA options or not, about half the time each): with two,
    # such a program passed every check by chance in 1 of 64 sweeps and
    # failed CI; with five, in 1 of 4,096.
    for _ in range(5):
        p = run_once(path, arg, None, timeout)
        l = run_once(path, arg, lib, timeout, cap, ledger)
        if p != plain or l == p:
            # The plain side changed, or the difference did not hold.
            return ("varies", "")
    what = []
    if with_lib[0] != plain[0]:
        what.append(f"status {plain[0]} without, {with_lib[0]} with")
    if with_lib[1] != plain[1]:
        what.append("stdout differs")
    if with_lib[2] != plain[2]:
        what.append("stderr differs")
    return ("differs", "; ".join(what))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", default=os.path.join(ROOT, "target/release/libthrottle.so"))
    ap.add_argument("--cap", type=int, default=None)
    ap.add_argument("--tree", action="store_true")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    lib = os.path.abspath(a.lib)
    if not os.path.isfile(lib):
        sys.exit(f"sweep: {lib} not found (cargo build --release)")
    if a.jobs < 1 or a.timeout <= 0 or (a.cap is not None and a.cap < 1):
        sys.exit("sweep: --jobs and --cap must be at least 1, --timeout above 0")
    progs = list(programs(a.only))
    jobs = [(p, arg) for p in progs for arg in ARGS]
    start = time.monotonic()
    counts = {"same": 0, "varies": 0, "hangs-plain": 0, "differs": 0}
    failures = []
    holder = Holder(lib) if a.tree else None
    ledger = holder.ledger if holder else None
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        futures = {
            pool.submit(check, p, arg, lib, a.timeout, a.cap, ledger): (p, arg) for p, arg in jobs
        }
        for f in concurrent.futures.as_completed(futures):
            p, arg = futures[f]
            verdict, detail = f.result()
            counts[verdict] += 1
            if verdict == "differs":
                failures.append(f"{p} {arg}: {detail}")
                print(f"sweep: DIFFERS {p} {arg}: {detail}", file=sys.stderr, flush=True)
    took = time.monotonic() - start
    at = f" at THROTTLE_THREADS={a.cap}" if a.cap else ""
    if holder:
        holder.close()
        at += " in a tree"

    print(
        f"sweep{at}: {len(progs)} programs, {len(jobs)} runs ({' and '.join(ARGS)}), {took:.0f} s: "
        f"{counts['same']} identical, {counts['varies']} vary by themselves, "
        f"{counts['hangs-plain']} time out without the library, {counts['differs']} differ"
    )
    for name in sorted(MASKED):
        if any(os.path.basename(p) == name for p in progs):
            print(f"  compared with a part masked: {name}: {MASKED[name][2]}")
    for line in sorted(failures):
        print(f"  {line}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

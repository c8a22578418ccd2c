"""Headless Chromium, driven over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: requests on fd 3, answers on fd 4, each a JSON
text ended by a NUL byte). A blank page hashes 8 fixed chunks in a pool of
Web Workers sized by `navigator.hardwareConcurrency`, as pages size theirs;
the digest does not depend on the pool's size. Prints the digest on stdout
and the pool's size as a `corpus-pool` line on stderr.

    chromium_workers.py sandbox      # Chromium's sandbox on: seccomp-bpf
                                     # renderers in user and PID namespaces
    chromium_workers.py no-sandbox   # every process in the caller's namespaces

Chromium refuses to run its sandbox as root: run as root, the `sandbox`
variant runs Chromium as `nobody` (`runuser`), in a profile directory that
user owns.
"""

import fcntl
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

JS = r"""
new Promise((resolve, reject) => {
  const CHUNKS = 8, hc = navigator.hardwareConcurrency;
  const nw = Math.max(1, Math.min(hc, CHUNKS));
  const src = "onmessage = e => { const c = e.data; let h = (c * 7919) >>> 0;" +
    " for (let i = 0; i < 150000000; i++) h = Math.imul(h ^ i, 2654435761) >>> 0;" +
    " postMessage([c, h]); }";
  const url = URL.createObjectURL(new Blob([src], {type: 'text/javascript'}));
  const res = new Array(CHUNKS);
  let next = 0, done = 0;
  const feed = w => { if (next < CHUNKS) w.postMessage(next++); else w.terminate(); };
  for (let k = 0; k < nw; k++) {
    const w = new Worker(url);
    w.onerror = e => reject(String(e.message));
    w.onmessage = e => {
      res[e.data[0]] = e.data[1];
      if (++done === CHUNKS) {
        let d = 0;
        for (const x of res) d = Math.imul(d ^ x, 16777619) >>> 0;
        resolve({digest: d, workers: nw});
      }
      feed(w);
    };
    feed(w);
  }
})
"""


def fail(why):
    sys.stderr.write(f"chromium_workers: {why}\n")
    sys.exit(1)


class Pipe:
    """The DevTools protocol over the two pipes."""

    def __init__(self, to_chrome, from_chrome):
        self.out = os.fdopen(to_chrome, "wb", buffering=0)
        self.inp = os.fdopen(from_chrome, "rb", buffering=0)
        self.buf = b""
        self.last = 0

    def call(self, method, params=None, session=None):
        self.last += 1
        msg = {"id": self.last, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.out.write(json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.buf:
                chunk = self.inp.read(65536)
                if not chunk:
                    fail(f"Chromium closed the pipe during {method}")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.last:
                if "error" in answer:
                    fail(f"{method}: {answer['error']}")
                return answer["result"]


def main():
    variant = sys.argv[1] if len(sys.argv) > 1 else "sandbox"
    if variant not in ("sandbox", "no-sandbox"):
        fail(f"unknown variant {variant!r} (sandbox, no-sandbox)")
    chrome = shutil.which(os.environ.get("CHROMIUM", "chromium"))
    if not chrome:
        fail("no chromium on PATH")
    profile = tempfile.mkdtemp(prefix="corpus-chromium-")
    prefix, extra = [], []
    if variant == "no-sandbox":
        extra = ["--no-sandbox"]
    elif os.getuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(profile, nobody.pw_uid, nobody.pw_gid)
        prefix = ["runuser", "-u", "nobody", "--", "env", f"HOME={profile}"]
    args = prefix + [
        chrome, "--headless", "--disable-gpu", "--no-first-run",
        "--log-level=3", "--remote-debugging-pipe",
        f"--user-data-dir={profile}/data", f"--crash-dumps-dir={profile}/crashes",
    ] + extra

    # Chromium looks for the pipe at fds 3 and 4. Its ends are first moved
    # to 5 and above (close-on-exec), so that putting one in place cannot
    # overwrite the other.
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    child_r = fcntl.fcntl(to_r, fcntl.F_DUPFD_CLOEXEC, 5)
    child_w = fcntl.fcntl(from_w, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(to_r)
    os.close(from_w)

    def place():
        os.dup2(child_r, 3)
        os.dup2(child_w, 4)

    proc = subprocess.Popen(args, preexec_fn=place, close_fds=False,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    os.close(child_r)
    os.close(child_w)
    try:
        pipe = Pipe(to_w, from_r)
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        got = pipe.call("Runtime.evaluate", {"expression": JS, "awaitPromise": True,
                                             "returnByValue": True}, session)
        if "exceptionDetails" in got:
            fail(f"the page failed: {got['exceptionDetails']}")
        value = got["result"]["value"]
        print(f"digest {value['digest']}", flush=True)
        sys.stderr.write(f"corpus-pool chromium-workers {value['workers']}\n")
        pipe.call("Browser.close")
        status = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    sys.exit(status)


main()

"""Running the binary: a run's Result (every run is checked for leaked
passwords), the Runner that starts it, and the readers of its output (JSON
documents, check's report, backfill progress lines, a Watch on a running
migrate)."""

import json
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from harness.env import _clean_env
from harness.secrets import _mask, assert_no_secret


class Result:
    def __init__(self, args, rc, out, err):
        self.args = args
        self.rc = rc
        self.out = out
        self.err = err

    @property
    def text(self):
        return self.out + self.err

    def describe(self):
        rc = self.rc
        if rc is not None and rc < 0:
            try:
                rc = f"{rc} (killed by {signal.Signals(-rc).name})"
            except ValueError:
                pass
        cmd = _mask(" ".join(map(str, self.args)))
        return (f"command: {cmd}\nexit: {rc}\n"
                f"--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}")

    def __repr__(self):
        args = [_mask(str(a)) for a in self.args]
        return f"<Result rc={self.rc} args={args!r}>"


class _CheckedPopen(subprocess.Popen):
    """Popen whose communicate() also asserts that no password leaks."""

    def communicate(self, *a, **kw):
        out, err = super().communicate(*a, **kw)
        assert_no_secret(out, err)
        return out, err


class Runner:
    def __init__(self, bin_path, cwd):
        self.bin = bin_path
        self.cwd = Path(cwd)

    def run_raw(self, *args, env=None, cwd=None, timeout=120):
        argv = [self.bin, *map(str, args)]
        try:
            p = subprocess.run(argv, cwd=str(cwd or self.cwd), env=_clean_env(env),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            raise AssertionError(
                f"migrate did not finish within {timeout}s\n"
                + Result(argv, None, out, err).describe()) from None
        r = Result(argv, p.returncode, p.stdout, p.stderr)
        assert_no_secret(r.out, r.err)
        return r


def docs(r):
    """The one JSON document on stdout of a --json run."""
    try:
        return json.loads(r.out)
    except ValueError as e:
        raise AssertionError(f"stdout is not one JSON document: {e}\n" + r.describe())


def check_rows(text):
    """{name: (ok, detail)} from check's text report (lines 'ok   name  detail')."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(ok|FAIL)\s+(\S+)\s+(.*)$", line)
        if m:
            rows[m.group(2)] = (m.group(1) == "ok", m.group(3))
    return rows


def progress(text):
    """The backfill's --json progress lines in stderr text."""
    out = []
    for line in text.splitlines():
        if line.startswith('{"event":"backfill"'):
            out.append(json.loads(line))
    return out


def backfill_status(project):
    """The backfill part of `status --json` for the project's first migration."""
    return project.json("status")["migrations"][0]["backfill"]


def assert_verifies(project):
    """backfill --verify says every row agrees, in text and in JSON."""
    r = project.ok("backfill", "--verify")
    assert "every row agrees" in r.out, r.describe()
    doc = json.loads(project.ok("backfill", "--verify", "--json").out)
    assert doc["mismatches"] == 0 and doc["sample_keys"] == [], doc


class Watch:
    """A running `migrate` (project.popen) whose stderr is read as it comes."""

    def __init__(self, proc):
        self.p = proc
        self.lines = []
        self.out = ""
        self._mu = threading.Lock()
        self._t_err = threading.Thread(target=self._read_err, daemon=True)
        self._t_out = threading.Thread(target=self._read_out, daemon=True)
        self._t_err.start()
        self._t_out.start()

    def _read_err(self):
        for line in self.p.stderr:
            with self._mu:
                self.lines.append(line.rstrip("\n"))

    def _read_out(self):
        self.out = self.p.stdout.read()

    @property
    def err(self):
        with self._mu:
            return "\n".join(self.lines)

    def progress(self):
        return progress(self.err)

    def wait_for(self, pred, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = pred()
            if got:
                return got
            if self.p.poll() is not None:
                time.sleep(0.2)     # let the readers drain
                got = pred()
                if got:
                    return got
                raise AssertionError("migrate ended (exit %r) before %s\n%s"
                                     % (self.p.returncode, what, self.err))
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s\n%s" % (what, self.err))

    def line_where(self, pred):
        for j in self.progress():
            if pred(j):
                return j
        return None

    def finish(self, timeout=60):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("migrate did not finish within %ss\n%s"
                                 % (timeout, self.err))
        self._t_err.join(10)
        self._t_out.join(10)
        assert_no_secret(self.out, self.err)
        return self.p.returncode

    def kill_after_progress(self):
        """kill -9 once a progress line shows rows done, while it runs."""
        self.wait_for(lambda: self.line_where(lambda j: j["rows_done"] > 0),
                      "a progress line with rows done")
        assert self.p.poll() is None, "backfill ended before the kill:\n" + self.err
        self.p.kill()
        return self.finish(30)

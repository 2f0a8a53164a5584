"""migrate as PID 1 of a container (issue 16): SIGTERM is honoured.

The kernel gives PID 1 of a PID namespace no default signal action: a
SIGTERM it has no handler for is dropped. `docker stop` and a Kubernetes
pod deletion send exactly that, then SIGKILL after the grace period, which
would kill migrate in the middle of a statement. These tests run the real
binary as PID 1 of a new PID namespace (`unshare --pid --fork`, as a
container runtime does), against a real PostgreSQL, in the two shapes the
image and docs/pipelines.md use:

- the binary itself as PID 1 (an image whose ENTRYPOINT is migrate);
- tini as PID 1 (the image's ENTRYPOINT since issue 16), and tini in
  front of a shell script that runs several migrate commands (the
  compose one-shot service, the Kubernetes Jobs of docs/pipelines.md):
  `tini -g` sends the signal to the script's process group and the script
  ignores it itself (`trap '' TERM INT`), so migrate gets it and the script
  stops on migrate's exit status.

Each time `expand` waits for a lock another session holds; SIGTERM to the
namespace's PID 1 must make it exit 3 within seconds, leave no migrate
session waiting on the server, and a rerun must finish.
"""

import os
import shutil
import signal
import subprocess
import time

import pytest

from harness.env import _clean_env

UNSHARE = shutil.which("unshare")
TINI = shutil.which("tini")


def can_unshare():
    if not UNSHARE:
        return False
    r = subprocess.run([UNSHARE, "--pid", "--fork", "--mount-proc", "true"],
                       capture_output=True)
    return r.returncode == 0


def test_the_environment_can_run_a_pid_namespace():
    """Not a skip: a CI machine where this fails must say so (root, util-linux)."""
    assert can_unshare(), "unshare --pid --fork --mount-proc failed: run as root with util-linux installed"
    assert TINI, "tini not found: apt-get install -y tini"


def ns_pid1(unshare_proc, timeout=10):
    """Host pid of the namespace's PID 1: unshare --fork's only child."""
    deadline = time.monotonic() + timeout
    path = f"/proc/{unshare_proc.pid}/task/{unshare_proc.pid}/children"
    while time.monotonic() < deadline:
        with open(path) as f:
            kids = f.read().split()
        if kids:
            return int(kids[0])
        time.sleep(0.02)
    raise AssertionError("unshare started no child")


def ns_pid_of(host_pid):
    """The process's pid inside its own (innermost) PID namespace."""
    with open(f"/proc/{host_pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    raise AssertionError("no NSpid line")


def migrate_waiting(db):
    rows = db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name LIKE 'migrate/%' AND wait_event_type = 'Lock'")
    return rows[0][0]


def migrate_sessions(db):
    rows = db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name LIKE 'migrate/%'")
    return rows[0][0]


def hold_lock(db):
    """A session holding users in ACCESS EXCLUSIVE mode until rollback."""
    c = db.connect(autocommit=False, application_name="pytest-blocker")
    c.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
    return c


def wait_until(pred, what, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if proc.poll() is not None:
            raise AssertionError("ended (exit %r) before %s\n%s"
                                 % (proc.returncode, what, proc.stderr.read()))
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def start_in_namespace(project, argv):
    return subprocess.Popen([UNSHARE, "--pid", "--fork", "--mount-proc", *argv],
                            cwd=str(project.dir), env=_clean_env(project.env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace")


def sigterm_pid1_while_expand_waits(project, argv):
    """Run argv as PID 1 while expand waits on a lock, SIGTERM PID 1.
    Returns (exit status, seconds from the signal to the exit, stderr)."""
    db = project.db
    blocker = hold_lock(db)
    p = start_in_namespace(project, argv)
    try:
        pid1 = ns_pid1(p)
        assert ns_pid_of(pid1) == 1
        wait_until(lambda: migrate_waiting(db) >= 1, "migrate waiting on the lock", p)
        time.sleep(0.5)
        os.kill(pid1, signal.SIGTERM)
        t0 = time.monotonic()
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
            raise AssertionError("PID 1 ignored SIGTERM: still running 30 s later\n" + err)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        blocker.rollback()
        blocker.close()
    return p.returncode, took, err


def assert_stopped_cleanly_and_reruns(project, rc, took, err):
    assert rc == 3, err
    assert took < 10, "exited %.1f s after SIGTERM\n%s" % (took, err)
    assert "SIGTERM" in err, err
    deadline = time.monotonic() + 10
    while migrate_sessions(project.db) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert migrate_sessions(project.db) == 0, "a migrate session is left on the server"
    project.ok("expand", "1")
    assert project.phases()[1] == "expanded"


def test_migrate_as_pid1_exits_3_on_sigterm(users_project, migrate_bin):
    project = users_project
    argv = [migrate_bin, *project.base_args(), "expand", "1"]
    rc, took, err = sigterm_pid1_while_expand_waits(project, argv)
    assert_stopped_cleanly_and_reruns(project, rc, took, err)


def test_tini_as_pid1_passes_sigterm_to_migrate(users_project, migrate_bin):
    """The image's ENTRYPOINT: tini -- migrate."""
    project = users_project
    argv = [TINI, "--", migrate_bin, *project.base_args(), "expand", "1"]
    rc, took, err = sigterm_pid1_while_expand_waits(project, argv)
    assert_stopped_cleanly_and_reruns(project, rc, took, err)


def test_tini_group_in_front_of_a_script(users_project, migrate_bin):
    """The shape of the compose service and the Kubernetes Jobs: a script
    of several commands; the one running gets the signal, the script stops
    with its exit status and runs nothing after it."""
    project = users_project
    base = " ".join("'%s'" % a for a in [migrate_bin, *project.base_args()])
    script = ("trap '' TERM INT; set -eu; "
              f"{base} status >/dev/null; {base} expand 1; echo after-expand")
    argv = [TINI, "-g", "--", "/bin/sh", "-c", script]
    db = project.db
    blocker = hold_lock(db)
    p = start_in_namespace(project, argv)
    try:
        pid1 = ns_pid1(p)
        wait_until(lambda: migrate_waiting(db) >= 1, "migrate waiting on the lock", p)
        time.sleep(0.5)
        os.kill(pid1, signal.SIGTERM)
        t0 = time.monotonic()
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        blocker.rollback()
        blocker.close()
    assert "after-expand" not in out, out
    assert_stopped_cleanly_and_reruns(project, p.returncode, took, err)


@pytest.mark.parametrize("script", [
    # without the trap the shell dies at once, tini follows it, and the
    # kernel SIGKILLs migrate mid-statement: the exit status is the
    # shell's (143), not migrate's 3
    "set -eu; %s expand 1",
])
def test_a_script_that_does_not_ignore_the_signal_loses_migrate(users_project, migrate_bin, script):
    """Why the docs' scripts start with trap '' TERM INT: shown, not assumed."""
    project = users_project
    base = " ".join("'%s'" % a for a in [migrate_bin, *project.base_args()])
    argv = [TINI, "-g", "--", "/bin/sh", "-c", script % base]
    rc, took, err = sigterm_pid1_while_expand_waits(project, argv)
    assert rc == 128 + signal.SIGTERM, (rc, err)
    project.ok("expand", "1")

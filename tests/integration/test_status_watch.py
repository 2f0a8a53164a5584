"""`migrate status --watch` (issue 16): on a terminal it redraws in place
(read here through a real pty of 80x24, as a user's terminal would get
it), in a pipe it prints frame after frame, with --json one JSON object a
line; SIGINT ends it with exit 0, and a database that cannot be reached is
shown and retried, not fatal.

The status being watched changes: a real backfill slowed down by
--max-rows-per-sec runs beside it, so its progress moves between frames.
"""

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

from harness.env import _clean_env
from harness.result import assert_no_secret

ROWS = 60
COLS, LINES = 80, 24
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def slow_backfill(p, rows_per_sec=20):
    """users with ROWS rows, 0001 expanded and its backfill started in the
    background at rows_per_sec (about three seconds): the process, once
    it has published progress."""
    for i in range(ROWS - 5):
        p.db.execute("INSERT INTO users (user_name) VALUES ('u%d')" % i)
    p.ok("expand")
    proc = p.popen("backfill", "--batch-size", "5", "--max-rows-per-sec", str(rows_per_sec))
    lock = p.state.parent / (p.state.name + ".lock")
    deadline = time.time() + 10
    while time.time() < deadline:
        text = lock.read_text(errors="replace") if lock.exists() else ""
        if text.startswith("%d\n" % proc.pid) and '"migration":"0001' in text:
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the backfill never recorded itself in the lock file")


def finish(proc):
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def watch_in_pty(p, seconds, *args):
    """Run `status --watch` with a pty of COLSxLINES as its stdout for
    `seconds`, then SIGINT: (output as text, exit status, seconds it took
    to exit after the signal)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLS, 0, 0))
    argv = [p.bin, *p.base_args(), "status", "--watch", *args]
    proc = subprocess.Popen(argv, cwd=str(p.dir), stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=subprocess.PIPE, env=_clean_env({"TERM": "xterm"}))
    os.close(slave)
    out = bytearray()

    def drain(until):
        while time.time() < until:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    out.extend(os.read(master, 65536))
                except OSError:      # EIO: the child closed the pty
                    return

    drain(time.time() + seconds)
    t0 = time.time()
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.time() - t0
    drain(time.time() + 0.2)
    os.close(master)
    err = proc.stderr.read().decode(errors="replace")
    text = out.decode(errors="replace")
    assert_no_secret(text, err)
    return text, rc, took, err


def frames_of(text):
    """What the terminal got between one cursor-home and the next."""
    return [f for f in text.split("\x1b[H") if ESCAPE.sub("", f).strip()]


def screen_lines(frame):
    """The lines of one frame as they show: escape sequences dropped."""
    return [ESCAPE.sub("", line) for line in re.split(r"\r*\n", frame)]


def test_watch_redraws_in_place_on_a_terminal(users_project):
    p = users_project
    proc = slow_backfill(p)
    try:
        text, rc, took, err = watch_in_pty(p, 2.0, "--interval", "300ms")
    finally:
        finish(proc)
    assert rc == 0, err
    assert took < 1.0, "SIGINT took %.2fs to end the watch" % took
    assert err == "", "stderr would scribble over the screen: %r" % err
    # cleared once, then every frame starts at home and ends clearing below
    assert text.startswith("\x1b[H\x1b[2J"), repr(text[:40])
    frames = frames_of(text)
    assert len(frames) >= 3, "%d frames in 2s at 300ms\n%r" % (len(frames), text[-2000:])
    assert text.count("\x1b[J") >= len(frames) - 1
    header = re.compile(r"^every 300ms · \S+ · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+   \(Ctrl-C to quit\)$")
    progress = set()
    for frame in frames:
        lines = screen_lines(frame)
        assert header.match(lines[0]), lines[0]
        assert any(l.startswith("database: ") for l in lines), frame
        for line in lines:
            assert len(line) <= COLS, "a line wider than the terminal: %r" % line
        # the last row stays free: the frame never scrolls the screen
        shown = [l for l in lines if l.strip()]
        assert len(lines) - 1 <= LINES - 1 and len(shown) <= LINES - 1, lines
        m = re.search(r"\((\d+)/60 rows", frame)
        if m:
            progress.add(int(m.group(1)))
    # the backfill moved while the watch looked at it
    assert len(progress) >= 2, progress
    # the "next" line (wait for the running backfill ...) is longer than
    # 80 columns: it is cut, not wrapped
    assert any(l.startswith("next: wait for the running") and l.endswith("…")
               for l in screen_lines(frames[0])), screen_lines(frames[0])


def test_watch_in_a_small_window_says_how_much_is_left_out(users_project):
    global LINES, COLS
    p = users_project
    saved = LINES, COLS
    LINES, COLS = 8, 40
    try:
        text, rc, took, err = watch_in_pty(p, 0.8, "--interval", "200ms")
    finally:
        LINES, COLS = saved
    assert rc == 0, err
    frame = frames_of(text)[0]
    lines = [l for l in screen_lines(frame)]
    assert all(len(l) <= 40 for l in lines), lines
    assert len([l for l in lines if l]) <= 7, lines
    assert re.match(r"^… \d+ more lines$", [l for l in lines if l][-1]), lines


def test_watch_in_a_pipe_prints_frame_after_frame(users_project):
    p = users_project
    proc = slow_backfill(p)
    try:
        w = p.popen("status", "--watch", "--interval", "300ms")
        time.sleep(1.5)
        w.send_signal(signal.SIGINT)
        out, err = w.communicate(timeout=5)
    finally:
        finish(proc)
    assert w.returncode == 0, err
    assert "\x1b[" not in out, "escape sequences in a pipe"
    parts = re.split(r"^---- \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ----\n", out, flags=re.M)
    assert parts[0] == "", out[:200]
    frames = parts[1:]
    assert len(frames) >= 3, out
    for f in frames:
        # each frame is a whole status, as `migrate status` prints it
        assert f.startswith("database: ") and "\nnext: " in f, f
        assert re.search(r"^0001\s+0001_rename_user_name\s+expanded", f, re.M), f


def test_watch_json_gives_one_object_a_line(users_project):
    p = users_project
    proc = slow_backfill(p)
    try:
        w = p.popen("--json", "status", "--watch", "--interval", "300ms")
        time.sleep(1.5)
        w.send_signal(signal.SIGINT)
        out, err = w.communicate(timeout=5)
    finally:
        finish(proc)
    assert w.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) >= 3, out
    once = p.json("status")
    done = []
    for line in lines:
        doc = json.loads(line)
        assert list(doc) == list(once), (list(doc), list(once))
        assert doc["migrations"][0]["name"] == "0001_rename_user_name"
        if doc["running"] and doc["running"].get("progress"):
            done.append(doc["running"]["progress"]["rows_done"])
    assert done and done == sorted(done), done


def unreachable_watch(p, *args):
    argv = [p.bin, "-d", "postgresql://app@127.0.0.1:1/nowhere", "-m", str(p.migrations),
            "--state", str(p.state), *args, "status", "--watch", "--interval", "200ms"]
    w = subprocess.Popen(argv, cwd=str(p.dir), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_clean_env())
    time.sleep(1.0)
    w.send_signal(signal.SIGTERM)
    out, err = w.communicate(timeout=5)
    assert w.returncode == 0, err
    return out


def test_watch_keeps_trying_an_unreachable_database(project):
    """A database that cannot be reached is an error frame, retried every
    interval; the watch still ends with exit 0 on a signal."""
    p = project
    out = unreachable_watch(p)
    frames = re.split(r"^---- .* ----\n", out, flags=re.M)[1:]
    assert len(frames) >= 3, out
    for f in frames:
        assert f.startswith("error: cannot connect to ") and "\nhint: " in f, f
    lines = unreachable_watch(p, "--json").splitlines()
    assert len(lines) >= 3, lines
    for line in lines:
        e = json.loads(line)["error"]
        assert e["message"].startswith("cannot connect to ") and e["hint"], e
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", e["time"]), e


def test_watch_shows_a_database_gone_away_and_comes_back_with_it(users_project):
    """The database refuses connections for a while during the watch: the
    frames then show the error, and the status again once it is back."""
    p = users_project
    p.ok("expand")
    w = p.popen("status", "--watch", "--interval", "200ms")
    try:
        time.sleep(0.8)
        with p.db.server.admin() as c:
            c.execute('ALTER DATABASE "%s" ALLOW_CONNECTIONS false' % p.db.name)
        time.sleep(1.0)
        with p.db.server.admin() as c:
            c.execute('ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % p.db.name)
        time.sleep(0.8)
    finally:
        w.send_signal(signal.SIGINT)
        out, err = w.communicate(timeout=5)
    assert w.returncode == 0, err
    frames = re.split(r"^---- .* ----\n", out, flags=re.M)[1:]
    kinds = "".join("e" if f.startswith("error: ") else
                    "s" if f.startswith("database: ") and "\nnext: " in f else "?"
                    for f in frames)
    # status, then errors while it refused, then status again
    assert re.fullmatch(r"s+e+s+", kinds), (kinds, out[-3000:])
    gone = frames[kinds.index("e")]
    assert "hint: " in gone, gone


def test_interval_without_watch_is_refused(users_project):
    """--interval paces --watch; given alone it would be silently ignored:
    exit 2 naming it. MIGRATE_INTERVAL (set once for every watch) is not
    refused."""
    p = users_project
    r = p.run("status", "--interval", "1s")
    assert r.rc == 2, r.describe()
    assert "--interval is the time between refreshes of --watch" in r.err, r.err
    assert "migrate status --watch --interval DURATION" in r.err, r.err
    r = p.run("status", env={"MIGRATE_INTERVAL": "1s"})
    assert r.rc == 0, r.describe()

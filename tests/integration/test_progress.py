"""Honest backfill progress (issue 16, item 2), on PostgreSQL and MariaDB.

- on a terminal (a pty of 60 columns): one line updated in place ("\\r"),
  never wider than the terminal; a paused backfill says why instead of an
  ETA; on TERM=dumb and on a pipe: plain lines, no "\\r";
- the total is re-estimated from the key range: with statistics that say
  a tenth of the rows (rows inserted after ANALYZE, auto-analyze off), an
  early line's estimate is near the real count; no line shows a total
  below rows done, nor 100 % before the end;
- the rate is over the last seconds of running time and the ETA reads
  like "1m05s"; throttled and paused runs say so and why (JSON "state",
  "reason"), with no ETA while paused;
- every JSON line on stderr carries "ts" (ISO 8601 UTC, ms), "migration"
  and "phase"; the steps of expand, backfill, switch-reads and contract
  are "step" events (start, then done);
- backfill --max-runtime stops like SIGTERM (exit 3, checkpointed, "run
  the same command again to resume"); the rerun finishes, its lines count
  the rows of the first run, and every row is verified.
"""

import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import fcntl
import time

from conftest import Watch, assert_verifies, backfill_status, progress
from harness.env import _clean_env

FILE = "0001_alter_n.yaml"
MARKER = "_migrate_1"
UP = {"pg": '"n::bigint * 2 + 1"', "mysql": '"CAST(n AS SIGNED) * 2 + 1"'}
DOWN = {"pg": '"((n_big - 1) / 2)::integer"', "mysql": '"(n_big - 1) DIV 2"'}

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DURATION = re.compile(r"^(\d+ms|\d+s|\d+m\d\ds|\d+h\d\dm|\d+d\d\dh)$")
PLAIN = re.compile(r"^  backfill \S+: (\d+)/~?(\d+) rows \((\d+)%\), \d+ rows/s, ETA ([^,]+), batch \d+")


def alter(kind):
    return ("description: n becomes a bigint\noperations:\n"
            "  - alter_column:\n      table: items\n      column: n\n      to: n_big\n"
            "      type: bigint\n      up: %s\n      down: %s\n" % (UP[kind], DOWN[kind]))


def insert_rows(db, lo, hi):
    if db.kind == "mysql":
        db.execute("INSERT INTO items SELECT seq, seq %% 1000, CONCAT('v', seq)"
                   " FROM seq_%d_to_%d" % (lo, hi))
    else:
        db.execute("INSERT INTO items SELECT g, g %% 1000, 'v' || g"
                   " FROM generate_series(%d, %d) g" % (lo, hi))


def make_items(db, n, analyzed=None):
    """items with n rows; with analyzed, the statistics are taken when the
    table had that many rows and never again."""
    if db.kind == "mysql":
        db.execute("CREATE TABLE items (id bigint NOT NULL PRIMARY KEY, n int NOT NULL,"
                   " label varchar(40)) STATS_AUTO_RECALC=0")
    else:
        db.execute("CREATE TABLE items (id bigint PRIMARY KEY, n integer NOT NULL,"
                   " label text) WITH (autovacuum_enabled = false)")
    insert_rows(db, 1, analyzed or n)
    db.execute("ANALYZE TABLE items" if db.kind == "mysql" else "ANALYZE items")
    if analyzed:
        insert_rows(db, analyzed + 1, n)


def expanded(target, n, analyzed=None):
    p = target.project
    make_items(p.db, n, analyzed)
    p.write(FILE, alter(target.kind))
    p.ok("expand")
    return p


def assert_all_copied(db, n):
    assert db.query("SELECT count(*) FROM items") == [(n,)]
    assert db.query("SELECT count(*) FROM items WHERE n_big <> n * 2 + 1 OR %s = 0"
                    % MARKER) == [(0,)]


def assert_honest(lines):
    """No line shows fewer rows in all than done, nor 100 % before the end."""
    for j in lines:
        assert j["total"] >= j["rows_done"] and j["rows_total"] == j["total"], j
        if not j["done"]:
            assert j["percent"] < 100, j
    assert lines[-1]["done"] is True and lines[-1]["percent"] == 100, lines[-1]
    assert lines[-1]["total"] == lines[-1]["rows_done"], lines[-1]


def assert_event_line(j, phase):
    assert TS.match(j["ts"]), j
    assert j["migration"] == "0001_alter_n" and j["migration_id"] == 1, j
    assert j["phase"] == phase, j


def json_lines(err):
    """Every line of stderr that is a JSON object."""
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


# --------------------------------------------------------------------------
# a terminal


def run_on_pty(project, args, env, cols=60, before_read=None):
    """Run migrate with stdin/stdout/stderr on a pty of `cols` columns;
    the bytes it wrote and its exit status."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    argv = [project.bin, *project.base_args(), *args]
    p = subprocess.Popen(argv, cwd=str(project.dir), env=_clean_env(dict(project.env, **env)),
                         stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if before_read:
                before_read(out)
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:     # EIO: the child closed the pty
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return out.decode(errors="replace"), rc


def test_terminal_line_fits_60_columns_and_updates_in_place(target, tmp_path):
    n = 20000
    p = expanded(target, n)
    pause = tmp_path / "pause"
    pause.write_text("")
    state = {"paused_seen": False}

    def unpause_once_paused(out):
        if not state["paused_seen"] and b"| paused: pause" in out:
            state["paused_seen"] = True
            pause.unlink()

    out, rc = run_on_pty(p, ["backfill", "--batch-size", "500", "--max-rows-per-sec", "8000",
                             "--pause-file", str(pause)],
                         {"TERM": "xterm", "COLUMNS": "60"}, before_read=unpause_once_paused)
    assert rc == 0, out
    assert state["paused_seen"], "no line said the backfill was paused:\n" + out
    assert out.count("\r\x1b[K") >= 4, "the line was not updated in place:\n" + out
    # each state of the line in place: what follows "\r\033[K", up to the
    # next one or the end of the line (the text lines are not the bar's)
    segments = [piece.split("\r")[0].split("\n")[0] for piece in out.split("\r\x1b[K")[1:]]
    too_wide = [s for s in segments if len(s) > 59]
    assert not too_wide, "lines wider than 59 columns: %r" % too_wide
    bar_lines = [s for s in segments if "rows" in s]
    assert any("%d/%d rows 100%%" % (n, n) in s for s in bar_lines), bar_lines[-3:]
    assert all(not re.search(r"ETA 0 s\b", s) for s in segments), segments
    # before the end, never 100 %
    for s in bar_lines:
        m = re.search(r"(\d+)/~?(\d+) rows (\d+)%", s)
        if m and int(m.group(1)) < n:
            assert int(m.group(3)) < 100, s
    assert "complete: every row up to the highest key is copied" in out
    assert_all_copied(p.db, n)


def test_plain_lines_on_dumb_terminal_and_on_a_pipe(target):
    n = 12000
    p = expanded(target, n)
    out, rc = run_on_pty(p, ["backfill", "--batch-size", "1000", "--max-rows-per-sec", "6000"],
                         {"TERM": "dumb", "COLUMNS": "60"})
    assert rc == 0, out
    assert "\r\x1b[K" not in out and "\x1b" not in out, out
    lines = [m for m in (PLAIN.match(line) for line in out.replace("\r\n", "\n").split("\n")) if m]
    assert len(lines) >= 2, out
    assert lines[-1].group(1) == lines[-1].group(2) == str(n) and lines[-1].group(3) == "100", out
    for m in lines[:-1]:
        assert DURATION.match(m.group(4)) or m.group(4).startswith("unknown"), m.group(0)
    # a pipe: the same plain lines
    p.ok("rollback")
    p.ok("expand")
    r = p.ok("backfill", "--batch-size", "1000", "--max-rows-per-sec", "6000")
    assert "\r" not in r.err and "\x1b" not in r.err, r.err
    plain = [m for m in (PLAIN.match(line) for line in r.err.splitlines()) if m]
    assert len(plain) >= 2 and plain[-1].group(3) == "100", r.err
    assert "complete: every row up to the highest key is copied or was already up to date: " \
           "%d copied" % n in r.err, r.err


# --------------------------------------------------------------------------
# the estimate, the rate, the ETA, the state


def test_estimate_follows_the_key_range_when_statistics_are_stale(target):
    n, analyzed = 40000, 4000
    p = expanded(target, n, analyzed)
    r = p.ok("backfill", "--json", "--max-rows-per-sec", "10000")
    lines = progress(r.err)
    assert len(lines) >= 3, r.err
    assert_honest(lines)
    for j in lines:
        assert_event_line(j, "backfill")
    # an early line (half done at most: lines come every second, and the
    # first second may run ahead of the limit) already expects about n rows
    early = [j for j in lines if 2000 <= j["rows_done"] <= n // 2]
    assert early, [(j["ts"], j["rows_done"], j["total"], j["rate"]) for j in lines]
    assert 0.75 * n <= early[0]["total"] <= 1.3 * n, (early[0], lines[0])
    # throttled, and says so; the rate is near the limit, the ETA a duration
    mid = [j for j in lines if not j["done"] and j["rows_done"] >= 5000]
    assert mid, lines
    # throttled when the limit holds batches back (a slow machine may not
    # reach it): then the reason names the option
    assert all(j["state"] in ("running", "throttled") for j in mid), mid
    assert all(j["reason"] == "throttled: --max-rows-per-sec 10000"
               for j in mid if j["state"] == "throttled"), mid
    # the first second may run ahead of the limit by a batch or two
    assert all(1000 <= j["rate"] <= 15000 for j in mid), mid
    assert all(DURATION.match(j["eta"]) and isinstance(j["eta_s"], int) for j in mid), mid
    assert lines[-1]["state"] == "done" and lines[-1]["rows_this_run"] == n, lines[-1]
    assert_all_copied(p.db, n)


def test_paused_backfill_says_why_and_has_no_eta(target, tmp_path):
    n = 20000
    p = expanded(target, n)
    pause = tmp_path / "pause"
    w = Watch(p.popen("backfill", "--json", "--batch-size", "1000", "--max-rows-per-sec",
                      "8000", "--pause-file", pause))
    try:
        w.wait_for(lambda: w.line_where(lambda j: j["rows_done"] >= 4000), "4000 rows done")
        pause.write_text("")
        line = w.wait_for(lambda: w.line_where(lambda j: j["state"] == "paused"), "a paused line")
        time.sleep(2.5)        # paused for a while: the rate must not fall to 0
        pause.unlink()
        assert w.finish() == 0, w.err
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert line["reason"] == "paused: pause file %s exists" % pause, line
    assert line["eta_s"] is None and line["eta"] == "unknown while paused", line
    assert line["throttle"] == line["reason"], line
    paused = [j for j in w.progress() if j["state"] == "paused"]
    assert len(paused) >= 2, w.progress()
    assert all(j["rate"] >= 1000 for j in paused), paused
    after = [j for j in w.progress() if j["state"] != "paused" and j["ts"] > paused[-1]["ts"]]
    assert after and all(j["rate"] >= 1000 for j in after[:-1] if not j["done"]), after
    assert_honest(w.progress())
    assert_all_copied(p.db, n)


# --------------------------------------------------------------------------
# JSON lines of every phase


def steps_of(err, phase):
    ev = [j for j in json_lines(err) if j["event"] == "step"]
    for j in ev:
        assert_event_line(j, phase)
        assert j["status"] in ("start", "done", "skipped", "failed"), j
        assert 1 <= j["step"] <= j["of"] and j["what"], j
    return ev


def test_every_phase_writes_step_events_as_json_lines(target):
    n = 3000
    p = target.project
    make_items(p.db, n)
    p.write(FILE, alter(target.kind))
    for phase in ("expand", "backfill", "switch-reads", "contract"):
        r = p.ok(phase, "--json")
        for j in json_lines(r.err):
            assert_event_line(j, phase), j
        ev = steps_of(r.err, phase)
        if phase in ("expand", "contract"):
            assert ev, "%s wrote no step events\n%s" % (phase, r.err)
        # one event per step the result document lists, and a start before
        ran = json.loads(r.out)["steps"]
        assert len([j for j in ev if j["status"] != "start"]) == len(ran), (ev, ran)
        starts = [j["step"] for j in ev if j["status"] == "start"]
        dones = [j for j in ev if j["status"] == "done"]
        assert starts == [j["step"] for j in dones], ev
        assert all(isinstance(j["ms"], int) and j["tries"] >= 0 for j in dones), dones
        if ev:
            assert dones[-1]["step"] == dones[-1]["of"], dones
    assert_all_copied_contracted(p.db, n)
    assert p.phases() == {1: "contracted"}


def assert_all_copied_contracted(db, n):
    assert db.query("SELECT count(*) FROM items") == [(n,)]


# --------------------------------------------------------------------------
# --max-runtime


def test_max_runtime_stops_resumably_and_a_rerun_finishes(target):
    n = 30000
    p = expanded(target, n)
    t0 = time.monotonic()
    r = p.run("backfill", "--json", "--batch-size", "1000", "--max-rows-per-sec", "10000",
              "--max-runtime", "1000")
    took = time.monotonic() - t0
    assert r.rc == 3, r.describe()
    assert took < 10, "--max-runtime 1s ran %.1f s" % took
    m = re.search(r"stopped after --max-runtime 1s: (\d+)% done, run the same command again "
                  r"to resume", r.err)
    assert m and 0 < int(m.group(1)) < 100, r.describe()
    last = progress(r.err)[-1]
    assert last["state"] == "stopped" and last["reason"] == "stopped after --max-runtime 1s", last
    assert last["done"] is False and last["rows_done"] < last["total"], last
    st = backfill_status(p)
    assert st["done"] is False and 0 < st["rows_done"] < n, st
    first = st["rows_done"]
    r2 = p.ok("backfill", "--json", "--batch-size", "1000", "--max-rows-per-sec", "20000")
    lines = progress(r2.err)
    assert_honest(lines)
    assert lines[0]["rows_done"] >= first and lines[-1]["rows_earlier_runs"] == first, lines
    assert lines[-1]["rows_done"] == n, lines[-1]
    assert "complete: every row up to the highest key is copied or was already up to date: " \
           "%d copied by this run, %d by earlier runs" % (n - first, first) in r2.err, r2.err
    assert p.phases() == {1: "backfilled"}
    assert_all_copied(p.db, n)
    assert_verifies(p)


def test_max_runtime_while_paused_stops_too(target, tmp_path):
    p = expanded(target, 5000)
    pause = tmp_path / "pause"
    pause.write_text("")
    t0 = time.monotonic()
    r = p.run("backfill", "--pause-file", pause, "--max-runtime", "1500")
    assert r.rc == 3 and time.monotonic() - t0 < 10, r.describe()
    assert "stopped after --max-runtime 1s: 0% done" in r.err, r.describe()
    pause.unlink()
    p.ok("backfill")
    assert_all_copied(p.db, 5000)

"""Faults in the state file (issue 11, defects 5 and 6): a damaged state
file (random bytes in a page, cut short) is refused by every command that
opens it before anything changes in the database; an empty or half-made
file that an interrupted creation left behind never blocks the next run and
is never mistaken for a foreign file; a full filesystem ends with exit 3
naming "no space left on device", and once space is freed the rerun
finishes with no data lost."""

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import USERS_ROWS, columns_of

SIDECARS = ("", "-wal", "-shm", "-journal")

# every command that opens an existing state file (design §4)
COMMANDS = [
    ("switch-reads",),
    ("contract",),
    ("rollback", "1"),
    ("expand",),
    ("backfill",),
    ("status",),
    ("plan",),
    ("check",),
    ("log",),
    ("colour", "list"),
    ("colour", "register", "blue", "--app-version", "v2", "--requires", "1"),
]


def history(db):
    """Every row of the tool's history table, to compare before/after."""
    with db.server.admin(db.name) as c:
        return c.execute("SELECT * FROM public._migrate_history"
                         " ORDER BY 1").fetchall()


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def root_page(state, table):
    """(page size, root page number) of a table in the state file."""
    con = sqlite3.connect(state)
    try:
        size = con.execute("PRAGMA page_size").fetchone()[0]
        page = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                           (table,)).fetchone()[0]
    finally:
        con.close()
    return size, page


def smash(path, offset, length=4096):
    """length random bytes written over path at offset."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(os.urandom(length))


def refused_unchanged(p, before, hist, *args, words=("damaged",)):
    """The command exits 3 naming the state file and the problem, and
    neither the database nor the state file changed."""
    state_sum = digest(p.state)
    r = p.expect(3, *args)
    low = r.err.lower()
    assert str(p.state) in r.err, r.describe()
    for w in words:
        assert w in low, f"stderr does not say {w!r}\n" + r.describe()
    assert "hint:" in low, r.describe()
    assert p.db.snapshot() == before, args
    assert history(p.db) == hist, args
    assert digest(p.state) == state_sum, f"{args} changed the state file"
    return r


def assert_renamed_with_data(p):
    """The migration is contracted and no row was lost or changed."""
    assert sorted(columns_of(p.db, "users")) == ["email", "id", "username"]
    rows = p.db.query("SELECT username, email FROM users ORDER BY id")
    assert rows == [tuple(r) for r in USERS_ROWS]


@pytest.fixture
def backfilled(users_project):
    p = users_project
    p.ok("expand")
    p.ok("backfill")
    assert not p.state.with_name(p.state.name + "-wal").exists()
    return p


# --------------------------------------------------------------------------
# defect 5: random bytes in the middle of the file


@pytest.mark.parametrize("where", ["checkpoints", "journal", "migrations",
                                   "middle"])
def test_random_page_is_refused_by_every_command(backfilled, where):
    """4 KiB of random bytes over a table's root page, or across two pages
    in the middle of the file."""
    p = backfilled
    good = p.dir / "good-copy.db"
    shutil.copy2(p.state, good)
    if where == "middle":
        smash(p.state, p.state.stat().st_size // 2 + 1000)
    else:
        size, page = root_page(p.state, where)
        assert page > 1
        smash(p.state, (page - 1) * size, size)
    before, hist = p.db.snapshot(), history(p.db)
    for args in COMMANDS:
        r = refused_unchanged(p, before, hist, *args)
        assert "restore" in r.err.lower(), r.describe()
    # once the good copy is back, everything works again
    shutil.copy2(good, p.state)
    p.ok("switch-reads")
    p.ok("contract")
    assert_renamed_with_data(p)


# --------------------------------------------------------------------------
# defect 5: a file cut short


@pytest.mark.parametrize("keep", ["half", "header"])
def test_truncated_state_is_refused(backfilled, keep):
    p = backfilled
    good = p.dir / "good-copy.db"
    shutil.copy2(p.state, good)
    size = p.state.stat().st_size
    os.truncate(p.state, size // 2 if keep == "half" else 60)
    before, hist = p.db.snapshot(), history(p.db)
    for args in [("switch-reads",), ("contract",), ("rollback", "1"),
                 ("status",), ("log",)]:
        r = refused_unchanged(p, before, hist, *args)
        assert "not a migrate state file" not in r.err, r.describe()
    shutil.copy2(good, p.state)
    p.ok("switch-reads")
    p.ok("contract")
    assert_renamed_with_data(p)


# --------------------------------------------------------------------------
# empty, deleted: refused while the database has history


def test_empty_or_deleted_state_is_refused_by_phase_commands(backfilled):
    p = backfilled
    good = p.dir / "good-copy.db"
    shutil.copy2(p.state, good)
    before, hist = p.db.snapshot(), history(p.db)
    for how, words in (("empty", ("is empty", "history")),
                       ("deleted", ("does not exist", "history"))):
        p.state.unlink(missing_ok=True)
        if how == "empty":
            p.state.write_bytes(b"")
        for args in [("switch-reads",), ("contract",), ("rollback", "1"),
                     ("backfill",), ("colour", "register", "blue",
                                     "--app-version", "v2", "--requires",
                                     "1")]:
            r = p.expect(3, *args)
            for w in words:
                assert w in r.err, r.describe()
            assert "not a migrate state file" not in r.err, r.describe()
            assert p.db.snapshot() == before and history(p.db) == hist, args
            # no fresh state file was left behind for a rerun to accept
            if how == "deleted":
                assert not p.state.exists()
            else:
                assert p.state.stat().st_size == 0
    shutil.copy2(good, p.state)
    p.ok("switch-reads")
    p.ok("contract")
    assert_renamed_with_data(p)


# --------------------------------------------------------------------------
# defect 6: a creation that never finished


def test_blank_file_from_an_interrupted_creation_is_rebuilt(users_project):
    """What an older migrate left when the disk filled up while it created
    the state file: SQLite's header page (WAL mode) and no table. Against a
    database without history it holds nothing, so it is built anew."""
    p = users_project
    p.state.parent.mkdir(parents=True)
    con = sqlite3.connect(p.state)
    con.execute("PRAGMA journal_mode = WAL")
    con.close()
    assert p.state.stat().st_size > 0
    r = p.ok("expand")
    assert "is empty" in r.err and "creating it again" in r.err, r.describe()
    p.ok("backfill")
    p.ok("switch-reads")
    p.ok("contract")
    assert_renamed_with_data(p)


def test_leftover_of_a_crashed_creation_is_ignored(users_project):
    """A crash while the state file was built leaves only
    '<state>.creating': the next run neither mistakes it for the state
    file nor is blocked by it."""
    p = users_project
    p.state.parent.mkdir(parents=True)
    leftover = p.state.with_name(p.state.name + ".creating")
    leftover.write_bytes(b"SQLite format 3\0" + os.urandom(3000))
    p.ok("expand")
    assert not leftover.exists()
    assert p.phases() == {1: "expanded"}


# --------------------------------------------------------------------------
# a full filesystem for the state file


@pytest.fixture
def small_fs(tmp_path):
    """A 512 KiB tmpfs mounted in tmp_path; always unmounted after."""
    mnt = tmp_path / "small-fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0755",
                        "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail("cannot mount a tmpfs for the full-disk tests (they need "
                    "root with CAP_SYS_ADMIN, as scripts/test.sh runs them): "
                    + r.stderr.strip(), pytrace=False)
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)]).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill(fs, leave):
    """Fill fs with a file until only `leave` bytes are free."""
    filler = fs / "filler"
    st = os.statvfs(fs)
    want = st.f_bavail * st.f_frsize - leave
    with open(filler, "ab") as f:
        while want > 0:
            n = min(want, 65536)
            try:
                f.write(b"\0" * n)
                f.flush()
            except OSError:
                break
            want -= n
    return filler


def assert_no_space(r, state):
    assert r.rc == 3, r.describe()
    assert "no space left on device" in r.err, r.describe()
    assert "disk I/O error" not in r.err and "disk is full" not in r.err
    assert str(state) in r.err, r.describe()
    assert "hint: free space" in r.err, r.describe()


def test_full_disk_while_creating_the_state_file(users_project, small_fs):
    p = users_project
    p.state = small_fs / "state.db"
    filler = fill(small_fs, 8192)
    before = p.db.snapshot()
    r = p.run("expand")
    assert_no_space(r, p.state)
    assert p.db.snapshot() == before and p.db.history_rows() == 0
    # no half-made file where the state file goes, nothing left over
    assert sorted(f.name for f in small_fs.iterdir()) in (
        ["filler"], ["filler", "state.db.lock"]), list(small_fs.iterdir())
    filler.unlink()
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    p.ok("contract")
    assert_renamed_with_data(p)


BIG_ROWS = 3000


def test_full_disk_mid_backfill(users_project, small_fs):
    """The state file fills its filesystem while backfill writes
    checkpoints: exit 3 naming the cause; with space freed, the rerun
    resumes and the migration ends with every row."""
    p = users_project
    p.state = small_fs / "state.db"
    with p.db.connect() as c:
        c.execute("INSERT INTO users (user_name, email)"
                  " SELECT 'user' || g, 'u' || g || '@example.com'"
                  " FROM generate_series(1, %s) g", (BIG_ROWS,))
    expected = p.db.query("SELECT id, user_name, email FROM users ORDER BY id")
    p.ok("expand")
    filler = fill(small_fs, 96 * 1024)
    r = p.run("--batch-size", "10", "backfill")
    assert_no_space(r, p.state)
    copied = p.db.query("SELECT count(*) FROM users WHERE username IS NOT NULL")[0][0]
    assert 0 < copied < len(expected), "the disk did not fill mid-backfill"
    filler.unlink()
    p.ok("backfill")
    p.ok("switch-reads")
    p.ok("contract")
    got = p.db.query("SELECT id, username, email FROM users ORDER BY id")
    assert got == expected


def test_full_disk_at_each_point_of_a_phase(users_project, small_fs):
    """A little more space on every rerun: each run stops at a later write
    of the state file (before, between and after the database's steps),
    always with exit 3 naming the cause, and the reruns end where a run
    without faults ends."""
    p = users_project
    p.state = small_fs / "state.db"
    expected = p.db.query("SELECT id, user_name, email FROM users ORDER BY id")
    failures, outputs = 0, []
    for phase in ("expand", "backfill", "switch-reads", "contract"):
        for extra in range(0, 64):
            filler = fill(small_fs, extra * 4096)
            r = p.run(phase)
            filler.unlink()
            if r.rc == 0:
                    break
            assert_no_space(r, p.state)
            failures += 1
            outputs.append(r.err)
        else:
            pytest.fail(f"{phase} never finished with 256 KiB free")
    assert failures >= 8 and len(set(outputs)) >= 3, outputs
    # some runs stopped after the database committed a step and before the
    # state file recorded it: the rerun repaired the state from the history
    assert any("repairing the state file" in e for e in outputs), outputs
    got = p.db.query("SELECT id, username, email FROM users ORDER BY id")
    assert got == expected
    assert sorted(columns_of(p.db, "users")) == ["email", "id", "username"]
    p.ok("status")

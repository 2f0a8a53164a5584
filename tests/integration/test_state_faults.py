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


@pytest.mark.parametrize("table", ["checkpoints", "journal", "migrations"])
def test_random_page_is_refused_by_every_command(backfilled, table):
    p = backfilled
    good = p.dir / "good-copy.db"
    shutil.copy2(p.state, good)
    size, page = root_page(p.state, table)
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

"""Damaged records in a state file that SQLite itself still reads
(issue 11, found by tests/fuzz/fuzz_state.c): a migration recorded with an
unknown phase or with none, or recorded twice, is refused with exit 3 naming
the state file and saying it is damaged. Before, an unknown phase was read
as "pending" (expand ran again), no phase crashed every command, and a
second record was silently dropped."""

import sqlite3

import pytest

from conftest import columns_of

REBUILD = """
CREATE TABLE m2 AS SELECT * FROM migrations;
DROP TABLE migrations;
ALTER TABLE m2 RENAME TO migrations;
"""


def tamper(state, sql):
    """Change the state file the way a damaged or hand-edited one would be
    (migrate has closed it: no WAL is left)."""
    con = sqlite3.connect(state)
    try:
        con.executescript(sql)
        con.commit()
    finally:
        con.close()


DAMAGE = {
    # no CHECK keeps a phase among ours
    "unknown-phase": "UPDATE migrations SET phase = 'expandd';",
    # a table rebuilt without its NOT NULL and PRIMARY KEY constraints
    "no-phase": REBUILD + "UPDATE migrations SET phase = NULL;",
    "twice": REBUILD + "INSERT INTO migrations SELECT * FROM migrations;",
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("cmd", ["status", "expand"])
def test_damaged_record_is_refused(users_project, damage, cmd):
    p = users_project
    p.ok("expand")
    before = p.db.snapshot()
    tamper(p.state, DAMAGE[damage])
    r = p.expect(3, cmd)
    assert "damaged" in r.err and str(p.state) in r.err, r.describe()
    assert "hint:" in r.err, r.describe()
    assert p.db.snapshot() == before
    cols = columns_of(p.db, "users")
    assert "user_name" in cols and "username" in cols, cols


def test_record_without_phase_or_file_is_refused(users_project):
    """The crash fuzz_state found: a record with no phase whose migration
    file is gone (status compared the NULL phase with "pending")."""
    p = users_project
    p.ok("expand")
    tamper(p.state, DAMAGE["no-phase"])
    for f in p.migrations.iterdir():
        f.unlink()
    r = p.expect(3, "status")
    assert "damaged" in r.err and "no phase" in r.err, r.describe()


def test_colour_without_state_counts_as_alive(users_project):
    """A colour record whose state is NULL (the column allows it; a damaged
    or hand-edited file) crashed the contract gate (fuzz_state) and every
    colour command that compared its state. It reads as an unknown state,
    which counts as alive: contract is refused, and the operator can set
    the colour's state again."""
    p = users_project
    p.ok("colour", "register", "blue", "--app-version", "1.0",
         "--requires", "0", "--state", "live")
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    tamper(p.state, "UPDATE colours SET state = NULL WHERE name = 'blue';")
    r = p.run("status")
    assert r.rc in (0, 1), r.describe()
    assert "blue" in r.out, r.describe()
    r = p.run("colour", "list")
    assert r.rc == 0 and "blue" in r.out, r.describe()
    r = p.expect(1, "contract")       # blue may still be alive: refused
    assert "blue" in r.err, r.describe()
    for state in ("standby", "retired"):
        r = p.run("colour", "set", "blue", "--state", state)
        assert r.rc in (0, 1), r.describe()
    p.ok("contract")
    assert p.phases()[1] == "contracted"

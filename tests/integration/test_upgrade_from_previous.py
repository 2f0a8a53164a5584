"""Upgrading migrate in the middle of a migration: the previous release
(tests/previous_release, built by previous_release.py) leaves a state file
and a database mid-migration, and the binary under test (MIGRATE_BIN)
finishes it. On PostgreSQL, on MariaDB, and on MariaDB in the MySQL 8
dialect (MIGRATE_TEST_MYSQL_DIALECT=1 for both binaries): the `target`
fixture.

The table `items` has 6000 rows; rows 1..5000 are touched only by migrate
(so the backfill's key ranges are exact), the others belong to the blue
application, which writes the old names (name, qty) from before expand to
switch-reads; the green application writes the new names (title, qty_big)
from after expand. The migration renames name to title, turns qty into
qty_big = qty * 10 (down: qty_big / 10), adds origin NOT NULL DEFAULT
'legacy' and indexes title: a recorded plan with a rename, a type change,
a new column, a marker, triggers and an index build.

- the old binary expands; the new one reads its state file (`status`, and
  `plan 1 --json` shows the plan the old one recorded, the same as the old
  binary shows it), then backfills, switches reads and contracts: every row
  ends with the last value its writer wrote;
- the old binary is killed (MIGRATE_FAULT) after the first step of expand:
  the new one finishes the expand with the old recorded plan, then the rest;
- the old binary is killed after 3 backfill batches of 500 (checkpoint at key
  1500), or stopped by SIGTERM after 1000 rows or more: the new one sees
  that checkpoint, its first batch goes on from it (checkpoint 2000, not
  500), and it finishes; no row lost or wrong;
- the old binary backfills, switches reads and is killed right after the
  first contract step that changes the table (committed with its row in
  the database's history, not yet in the state file): the new one finds
  it done by the earlier run and finishes the contract;
- the old binary expands (or is killed after the first step of expand),
  the new one rolls back: the schema is as before expand and the rows the
  green application wrote are back in the old columns (down);
- MariaDB: a ROW_FORMAT=COMPRESSED table, whose columns can be added and
  dropped only by rebuilding it: the old binary recorded `allow_rebuild`
  as a `-- allow_rebuild` line in the step's SQL; the new binary's
  contract and rollback, run from that recorded plan, still fall back to
  ALGORITHM=INPLACE.
"""

import copy
import os
import re
import signal
import time

import pytest

import previous_release
from writers import Writer, assert_rows, fetch, running, wait_for_ops

KILLED = (-9, 137)
N_ROWS = 6000
COLD = 5000          # rows 1..COLD: no writer touches them
BATCH = "500"
FILE = "0001_items.yaml"


# --------------------------------------------------------------------------
# the previous release, and a project that runs it


@pytest.fixture(scope="session")
def previous_bin(migrate_bin):
    """The previous release's binary (a test build: MIGRATE_FAULT works),
    built once per build tree (or in $MIGRATE_PREVIOUS_RELEASE_DIR, to run
    these tests against a binary in a build tree that is not yours). Fails,
    never skips, when it cannot be built."""
    cache = (os.environ.get("MIGRATE_PREVIOUS_RELEASE_DIR")
             or previous_release.default_cache_dir(migrate_bin))
    try:
        path, tag, commit, took = previous_release.build(cache)
    except previous_release.PreviousReleaseError as e:
        pytest.fail(f"cannot build the previous release: {e}", pytrace=False)
    print(f"previous release {tag} ({commit[:12]}): {path}"
          + (f", built in {took:.1f} s" if took else ", cached"))
    return path


def with_binary(project, binary):
    """The same project (database, migrations, state file, environment) run
    by another binary."""
    other = copy.copy(project)
    assert getattr(other, "bin", None) == project.bin and project.bin, \
        "Project keeps its binary elsewhere: update with_binary()"
    other.bin = binary
    other.env = dict(project.env)
    return other


class Upgrade:
    """old: the project run by the previous release; new: by MIGRATE_BIN."""

    def __init__(self, target, project, old_bin):
        self.target = target
        self.new = project
        self.old = with_binary(project, old_bin)
        self.db = project.db
        self.sql = PG if target == "postgres" else MY

    def old_run(self, *args, **kw):
        r = self.old.run(*args, **kw)
        assert r.args[0] == self.old.bin, r.args
        return r

    def old_ok(self, *args, **kw):
        r = self.old_run(*args, **kw)
        assert r.rc == 0, "the previous release: expected exit 0\n" + r.describe()
        return r

    def old_killed(self, *args, fault):
        r = self.old_run(*args, fault=fault)
        assert r.rc in KILLED and "MIGRATE_FAULT" in r.err, \
            "the previous release did not stop at " + fault + "\n" + r.describe()
        return r

    def status(self):
        """The new binary's view of migration 1 (status --json); its text
        status and the event log the old binary wrote must read as well."""
        self.new.ok("status")
        self.new.ok("log")
        return self.new.json("status")["migrations"][0]


def upgrade(target, previous_bin):
    return Upgrade(target.name, target.project, previous_bin)


# --------------------------------------------------------------------------
# the table, the migration and the two applications, per database

class PgSql:
    migration = """
        description: items get a title, a bigint quantity and an origin
        operations:
          - rename_column:
              table: items
              from: name
              to: title
          - alter_column:
              table: items
              column: qty
              to: qty_big
              type: bigint
              up: "qty::bigint * 10"
              down: "(qty_big / 10)::integer"
          - add_column:
              table: items
              column: origin
              type: text
              default: "'legacy'"
              nullable: false
          - create_index:
              table: items
              name: items_title_idx
              columns: [title]
        """

    @staticmethod
    def seed(db):
        db.execute("CREATE TABLE items (id bigserial PRIMARY KEY,"
                   " name text NOT NULL, qty integer NOT NULL)")
        db.execute("INSERT INTO items (name, qty) SELECT 'seed-' || g, g %% 1000"
                   " FROM generate_series(1, %d) g" % N_ROWS)
        db.execute("ANALYZE items")

    @staticmethod
    def schema(db):
        return db.snapshot()


class MySql:
    migration = """
        description: items get a title, a bigint quantity and an origin
        operations:
          - rename_column:
              table: items
              from: name
              to: title
          - alter_column:
              table: items
              column: qty
              to: qty_big
              type: bigint
              up: "qty * 10"
              down: "qty_big DIV 10"
          - add_column:
              table: items
              column: origin
              type: varchar(20)
              default: "'legacy'"
              nullable: false
          - create_index:
              table: items
              name: items_title_idx
              columns: [title]
        """

    @staticmethod
    def seed(db):
        db.execute("CREATE TABLE items (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
                   " name varchar(100) NOT NULL, qty int NOT NULL) ENGINE=InnoDB")
        with db.connect().cursor() as cur:
            cur.executemany("INSERT INTO items (name, qty) VALUES (%s, %s)",
                            [("seed-%d" % g, g % 1000) for g in range(1, N_ROWS + 1)])
            cur.execute("ANALYZE TABLE items")
            cur.fetchall()

    @staticmethod
    def schema(db):
        out = {}
        for (t,) in db.admin_query(
                "SELECT table_name FROM information_schema.tables WHERE"
                " table_schema = %s AND table_name NOT LIKE '\\_migrate\\_%%'"
                " ORDER BY 1", (db.name,)):
            ddl = db.admin_query("SHOW CREATE TABLE `%s`" % t)[0][1]
            out[t] = re.sub(r" AUTO_INCREMENT=\d+", "", ddl)
        out["triggers"] = db.admin_query(
            "SELECT trigger_name FROM information_schema.triggers"
            " WHERE trigger_schema = %s ORDER BY 1", (db.name,))
        return out


PG, MY = PgSql(), MySql()
OLD = ("name", "qty")
NEW = ("title", "qty_big")


def application(u, label, cols, value, owned=None):
    """A writer that inserts and updates rows of items through `cols`
    only, reading back what it wrote before each update. value(rng, i)
    gives the pair it writes."""
    def insert(conn, i):
        v = value(None, i)
        rows = fetch(conn, "INSERT INTO items (%s, %s) VALUES (%%s, %%s)"
                           " RETURNING id" % cols, v)
        return rows[0][0], v

    def update(conn, rng, row_id, last):
        seen = fetch(conn, "SELECT %s, %s FROM items WHERE id = %%s" % cols,
                     (row_id,))
        assert seen == [last], "%s reads back %r, wrote %r" % (label, seen, last)
        v = value(rng, None)
        fetch(conn, "UPDATE items SET %s = %%s, %s = %%s WHERE id = %%s" % cols,
              (*v, row_id))
        return v

    return Writer(u.db.connect, label, insert, update, owned=owned,
                  sleep=(0.002, 0.01))


def blue_value(rng, i):
    if rng is None:
        return ("blue-%d" % i, i % 1000)
    return ("blue-u%d" % rng.randrange(10 ** 9), rng.randrange(100000))


def green_value(rng, i):
    if rng is None:
        return ("green-%d" % i, 10 * (i % 1000))
    return ("green-u%d" % rng.randrange(10 ** 9), 10 * rng.randrange(100000))


def seeded(u):
    """Create and fill items and write the migration; the rows the blue
    application owns (ids above COLD), {id: (name, qty)}."""
    u.sql.seed(u.db)
    u.new.write(FILE, u.sql.migration)
    rows = u.db.query("SELECT id, name, qty FROM items ORDER BY id")
    assert [r[0] for r in rows] == list(range(1, N_ROWS + 1))
    return {r[0]: (r[1], r[2]) for r in rows if r[0] > COLD}


def blue_app(u, owned):
    return application(u, "blue", OLD, blue_value, owned=owned)


def green_app(u):
    return application(u, "green", NEW, green_value)


def assert_finished(u, blue, green):
    """After contract: every row has the last value its writer wrote, in
    the new columns (blue's through up: qty * 10), the cold rows theirs
    from the seed, origin 'legacy' everywhere, the old columns gone."""
    expected = {g: ("seed-%d" % g, 10 * (g % 1000)) for g in range(1, COLD + 1)}
    for row_id, (name, qty) in blue.snapshot()[0].items():
        expected[row_id] = (name, 10 * qty)
    green_rows = green.snapshot()[0]
    assert not set(green_rows) & set(expected)
    expected.update(green_rows)
    rows = u.db.query("SELECT id, title, qty_big, origin FROM items")
    assert_rows({r[0]: (r[1], r[2]) for r in rows}, expected, "(title, qty_big)")
    origins = {r[3] for r in rows}
    assert origins == {"legacy"}, origins
    assert u.new.phases() == {1: "contracted"}
    cols = [r[0] for r in u.db.query(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'items' AND table_schema = %s ORDER BY 1",
        ("public" if u.target == "postgres" else u.db.name,))]
    assert cols == ["id", "origin", "qty_big", "title"], cols


def assert_plan_read_alike(u):
    """The plan the old binary recorded, as the old and the new binary
    show it (`plan 1 --json` of an expanded migration is the recorded
    plan): the same document."""
    old = u.old_ok("--json", "plan", "1").out
    new = u.new.ok("--json", "plan", "1").out
    assert new == old, "the new binary shows the old recorded plan differently"


def first_change(u, phase):
    """The number (1-based) of the first step of `phase` in the recorded
    plan that changes something (not a check)."""
    steps = u.new.json("plan", "1")["migrations"][0]["phases"][phase]
    return 1 + [s["kind"] for s in steps].index("tx")


def checkpoint(u):
    """(last key, rows done) of the one backfill checkpoint of items."""
    cps = u.status()["backfill"]["checkpoints"]
    assert len(cps) == 1, cps
    return int(cps[0]["last_key"][0]), cps[0]["rows_done"]


# --------------------------------------------------------------------------
# the scenarios

def expand_by_old(u, stop):
    """The old binary expands; with stop mid-expand it is killed after the
    first step, and the new binary finishes the expand."""
    if stop == "mid-expand":
        u.old_killed("expand", "1", fault="expand:1")
        m = u.status()
        assert m["phase"] == "pending", m
        r = u.new.ok("expand", "1")
        assert "done by an earlier run" in r.err, r.describe()
        return
    u.old_ok("expand", "1")
    m = u.status()
    assert m["phase"] == "expanded", m
    assert_plan_read_alike(u)
    log = u.new.ok("log").out
    assert re.search(r"expand +0001 .* ok ", log), log


def stop_old_backfill(u, stop):
    """The old binary backfills part of items and is stopped: killed by
    MIGRATE_FAULT after 3 batches, or stopped by SIGTERM (exit 3) once
    the new binary's status shows 1000 rows done. The checkpoint key."""
    if stop == "mid-backfill":
        u.old_killed("backfill", "1", "--batch-size", BATCH, fault="backfill:1:3")
        assert checkpoint(u) == (1500, 1500)
        return 1500
    p = u.old.popen("backfill", "1", "--batch-size", BATCH, "--sleep", "300")
    try:
        deadline = time.monotonic() + 60
        while True:
            m = u.new.json("status")["migrations"][0]
            cps = (m.get("backfill") or {}).get("checkpoints")
            if cps and cps[0]["rows_done"] >= 1000:
                break
            assert p.poll() is None, "the old backfill ended early: %s" % (p.communicate(),)
            assert time.monotonic() < deadline, "no 1000 rows done after 60 s"
            time.sleep(0.1)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 3 and "stopped by signal" in err, err
    key, done = checkpoint(u)
    assert key % int(BATCH) == 0 and key >= 1000 and done == key, (key, done)
    return key


def resume_one_batch(u, key):
    """One batch of the new binary goes on from the old checkpoint: one key
    span further, not back at the start."""
    r = u.new.run("backfill", "1", "--batch-size", BATCH, fault="backfill:1:1")
    assert r.rc in KILLED, r.describe()
    assert "resuming 1 part(s) (%d rows done)" % key in r.err, r.describe()
    assert checkpoint(u) == (key + int(BATCH), key + int(BATCH))


STOPS = ["expanded", "mid-expand", "mid-backfill", "mid-backfill-sigterm",
         "mid-contract"]


@pytest.mark.both_dialects
@pytest.mark.parametrize("stop", STOPS)
def test_new_binary_finishes_what_the_previous_release_began(target, previous_bin, stop):
    """The old binary stops at `stop`, the new one does the rest; blue
    writes until switch-reads, green from expand on."""
    u = upgrade(target, previous_bin)
    blue = blue_app(u, seeded(u))
    green = green_app(u)
    with running(blue) as blue_run:
        wait_for_ops(blue, 15)
        expand_by_old(u, stop)
        wait_for_ops(blue, 15)
        with running(green):
            wait_for_ops(green, 15)
            if stop.startswith("mid-backfill"):
                key = stop_old_backfill(u, stop)
                wait_for_ops(blue, 15)
                wait_for_ops(green, 15)
                resume_one_batch(u, key)
            finisher = u.old if stop == "mid-contract" else u.new
            finisher.ok("backfill", "1", "--batch-size", BATCH)
            assert u.new.phases() == {1: "backfilled"}
            wait_for_ops(blue, 15)
            wait_for_ops(green, 15)
            finisher.ok("switch-reads", "1")
            wait_for_ops(blue, 15)
            blue_run.finish()
            if stop == "mid-contract":
                step = first_change(u, "contract")
                u.old_killed("contract", "1", fault="contract:%d" % step)
                assert u.status()["phase"] == "switched"
                wait_for_ops(green, 15)
                r = u.new.ok("contract", "1")
                assert "done by an earlier run" in r.err, r.describe()
            else:
                u.new.ok("contract", "1")
            wait_for_ops(green, 15)
    assert_finished(u, blue, green)


@pytest.mark.both_dialects
@pytest.mark.parametrize("stop", ["expanded", "mid-expand"])
def test_new_binary_rolls_back_what_the_previous_release_expanded(target, previous_bin, stop):
    """Rollback by the new binary of what the old one expanded (green has
    written in between: its rows come back through down) or began to
    expand (no green: the new columns are not all there yet)."""
    u = upgrade(target, previous_bin)
    owned = seeded(u)
    before = u.sql.schema(u.db)
    blue = blue_app(u, owned)
    green = green_app(u)
    with running(blue):
        wait_for_ops(blue, 15)
        if stop == "mid-expand":
            u.old_killed("expand", "1", fault="expand:1")
            assert u.status()["phase"] == "pending"
            wait_for_ops(blue, 15)
        else:
            u.old_ok("expand", "1")
            assert u.status()["phase"] == "expanded"
            with running(green):
                wait_for_ops(green, 30)
        u.new.ok("rollback", "1")
        wait_for_ops(blue, 15)
    assert u.new.phases() == {1: "pending"}
    assert u.sql.schema(u.db) == before
    expected = {g: ("seed-%d" % g, g % 1000) for g in range(1, COLD + 1)}
    expected.update(blue.snapshot()[0])
    for row_id, (title, qty_big) in green.snapshot()[0].items():
        expected[row_id] = (title, qty_big // 10)
    rows = u.db.query("SELECT id, name, qty FROM items")
    assert_rows({r[0]: (r[1], r[2]) for r in rows}, expected, "(name, qty)")
    # and the new binary can take it from there
    u.new.ok("expand", "1")
    assert u.new.phases() == {1: "expanded"}


# --------------------------------------------------------------------------
# MariaDB: a recorded plan whose steps allow a table rebuild

PACKED = """
description: rename a column of a compressed table
operations:
  - rename_column:
      table: packed
      from: label
      to: title
      allow_rebuild: true
"""


@pytest.mark.targets("mariadb")
@pytest.mark.both_dialects
@pytest.mark.parametrize("finish", ["contract", "rollback"])
def test_recorded_allow_rebuild_still_allows_it(target, previous_bin, finish):
    """Adding or dropping a column of a ROW_FORMAT=COMPRESSED table needs a
    rebuild (neither INSTANT nor NOCOPY): the old binary's expand falls back
    with the operation's allow_rebuild; the recorded contract and rollback
    steps carry it (as `-- allow_rebuild` lines in v0.11.0), and the new
    binary, running them, falls back to INPLACE too instead of refusing."""
    u = upgrade(target, previous_bin)
    db = u.db
    db.execute("CREATE TABLE packed (id int NOT NULL AUTO_INCREMENT PRIMARY KEY,"
               " label varchar(50) NOT NULL) ENGINE=InnoDB ROW_FORMAT=COMPRESSED")
    db.execute("INSERT INTO packed (label) VALUES " +
               ", ".join("('row-%d')" % i for i in range(1, 201)))
    before = u.sql.schema(db)
    u.new.write("0001_packed.yaml", PACKED)
    r = u.old_ok("expand", "1")
    assert "trying ALGORITHM=INPLACE" in r.err, r.describe()
    plan = u.old_ok("plan", "1").out
    assert "-- allow_rebuild" in plan, plan
    assert_plan_read_alike(u)
    db.execute("INSERT INTO packed (label) VALUES ('old-app')")
    if finish == "rollback":
        r = u.new.ok("rollback", "1")
        assert "trying ALGORITHM=INPLACE" in r.err, r.describe()
        assert u.sql.schema(db) == before
        assert db.query("SELECT count(*) FROM packed WHERE label LIKE 'row-%%'"
                        " OR label = 'old-app'") == [(201,)]
        return
    u.new.ok("backfill", "1")
    db.execute("INSERT INTO packed (title) VALUES ('new-app')")
    u.new.ok("switch-reads", "1")
    r = u.new.ok("contract", "1")
    assert "trying ALGORITHM=INPLACE" in r.err, r.describe()
    rows = dict(db.query("SELECT id, title FROM packed"))
    expected = {i: "row-%d" % i for i in range(1, 201)}
    expected[201] = "old-app"
    expected[202] = "new-app"
    assert rows == expected
    assert u.new.phases() == {1: "contracted"}

"""State safety (design §5, issue point 4): a missing, empty, foreign or
stale state file is refused with exit 3 (never "nothing applied"); a
migration file edited after expand is refused with exit 2 showing both
checksums; one migrate at a time (advisory lock, exit 3 naming the holder);
long transactions on the table refuse expand (exit 1 naming the pid)."""

import hashlib
import re
import shutil
import time

import pytest

from conftest import RENAME_FILE, RENAME_YAML, columns_of, seed_users

SIDECARS = ("", "-wal", "-shm", "-journal")


def _state_files(state):
    return [state.with_name(state.name + s) for s in SIDECARS]


def save_state(state, dest):
    """Copy the SQLite state file and its WAL/SHM sidecars into dest/."""
    dest.mkdir(parents=True)
    for f in _state_files(state):
        if f.exists():
            shutil.copy2(f, dest / f.name)


def restore_state(state, src):
    for f in _state_files(state):
        f.unlink(missing_ok=True)
    for f in src.iterdir():
        shutil.copy2(f, state.parent / f.name)


def delete_state(state):
    for f in _state_files(state):
        f.unlink(missing_ok=True)


def _assert_schema_expanded_only(p):
    """Still exactly what expand left: both columns present."""
    cols = columns_of(p.db, "users")
    assert "user_name" in cols and "username" in cols, cols


def _mentions_state(r):
    low = r.err.lower()
    assert "state" in low, "stderr does not mention the state file\n" + r.describe()


# --------------------------------------------------------------------------
# (a) missing or empty state file after expand


@pytest.mark.parametrize("cmd", ["status", "backfill", "expand", "rollback"])
def test_missing_state_file_is_refused(users_project, cmd):
    p = users_project
    p.ok("expand")
    delete_state(p.state)
    r = p.expect(3, cmd)
    _mentions_state(r)
    # refusing must not leave a fresh state behind that a rerun would accept
    p.expect(3, cmd)
    _assert_schema_expanded_only(p)


def test_empty_state_file_is_refused(users_project):
    p = users_project
    p.ok("expand")
    delete_state(p.state)
    p.state.write_bytes(b"")
    r = p.expect(3, "backfill")
    _mentions_state(r)
    _assert_schema_expanded_only(p)


# --------------------------------------------------------------------------
# (b) a state file that belongs to another database


def test_foreign_state_file_is_refused(users_project, pg_server, make_project):
    a = users_project
    a.ok("expand")

    db_b = pg_server.new_database("foreign_b")
    try:
        seed_users(db_b)
        b = make_project(db_b, "project-b")
        b.write(RENAME_FILE, RENAME_YAML)
        b.ok("expand")
        b_before = db_b.snapshot()

        # B's database with A's state file
        r = b.run_raw("-d", db_b.url, "-m", b.migrations, "--state", a.state,
                      "status")
        assert r.rc == 3, r.describe()
        _mentions_state(r)
        r = b.run_raw("-d", db_b.url, "-m", b.migrations, "--state", a.state,
                      "backfill")
        assert r.rc == 3, r.describe()
        assert db_b.snapshot() == b_before

        # and A's database with B's state file
        r = a.run_raw("-d", a.db.url, "-m", a.migrations, "--state", b.state,
                      "backfill")
        assert r.rc == 3, r.describe()
        _assert_schema_expanded_only(a)

        # both still work with their own state
        assert a.phases() == {1: "expanded"}
        assert b.phases() == {1: "expanded"}
    finally:
        db_b.drop()


def test_state_of_fresh_database_used_on_applied_one(users_project, pg_server,
                                                     make_project):
    """A state file made against a database with no history is foreign to
    one that has history."""
    a = users_project
    a.ok("expand")
    db_c = pg_server.new_database("fresh_c")
    try:
        c = make_project(db_c, "project-c")
        c.ok("status")            # creates c.state for an empty database
        r = a.run_raw("-d", a.db.url, "-m", a.migrations, "--state", c.state,
                      "status")
        assert r.rc == 3, r.describe()
    finally:
        db_c.drop()


# --------------------------------------------------------------------------
# (c) a stale state file (an older copy)


def test_stale_state_file_is_refused(users_project):
    p = users_project
    p.ok("expand")
    save_state(p.state, p.dir / "saved")
    p.ok("backfill")
    assert p.phases() == {1: "backfilled"}
    restore_state(p.state, p.dir / "saved")

    r = p.expect(3, "switch-reads")
    _mentions_state(r)
    p.expect(3, "status")
    p.expect(3, "backfill")
    _assert_schema_expanded_only(p)
    assert p.db.query("SELECT count(*) FROM users WHERE username IS NULL") == [(0,)]


# --------------------------------------------------------------------------
# (d) the migration file edited after expand


def test_edited_file_after_expand(users_project):
    p = users_project
    path = p.migrations / RENAME_FILE
    recorded = hashlib.sha256(path.read_bytes()).hexdigest()
    p.ok("expand")

    path.write_text(path.read_text().replace(
        "Rename users.user_name to users.username",
        "Rename users.user_name to users.username (edited)"))
    current = hashlib.sha256(path.read_bytes()).hexdigest()
    assert current != recorded

    r = p.expect(2, "backfill")
    assert recorded in r.err, "recorded checksum not shown\n" + r.describe()
    assert current in r.err, "current checksum not shown\n" + r.describe()
    assert RENAME_FILE in r.err or "0001" in r.err, r.describe()
    p.expect(2, "backfill", "0001_rename_user_name")
    # nothing moved
    assert p.phases() == {1: "expanded"}
    _assert_schema_expanded_only(p)

    # restoring the original bytes makes it acceptable again
    path.write_text(RENAME_YAML.lstrip("\n"))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded
    p.ok("backfill")


# --------------------------------------------------------------------------
# (e) one migrate at a time: the advisory lock


def test_advisory_lock_held_by_another_session(users_project):
    p = users_project
    before = p.db.snapshot()
    holder = p.db.connect(application_name="lock-holder-app")
    holder.execute("SELECT pg_advisory_lock(hashtextextended('migrate', 0))")
    pid = holder.info.backend_pid
    try:
        t0 = time.monotonic()
        r = p.expect(3, "expand", timeout=60)
        assert time.monotonic() - t0 < 30, "migrate waited for the lock instead of refusing"
        assert ("lock-holder-app" in r.err
                or re.search(rf"\b{pid}\b", r.err)), (
            "stderr names neither the holder's application nor its pid "
            f"({pid})\n" + r.describe())
        assert p.db.snapshot() == before
    finally:
        holder.execute("SELECT pg_advisory_unlock(hashtextextended('migrate', 0))")
        holder.close()
    p.ok("expand")
    assert p.phases() == {1: "expanded"}


def test_lock_is_released_after_each_run(users_project):
    """Serial runs never trip over a lock left behind."""
    p = users_project
    p.ok("expand")
    p.ok("status")
    p.ok("backfill")
    probe = p.db.connect(application_name="lock-probe")
    got = probe.execute(
        "SELECT pg_try_advisory_lock(hashtextextended('migrate', 0))").fetchone()[0]
    assert got, "the advisory lock is still held after migrate exited"
    probe.close()


# --------------------------------------------------------------------------
# (f) a long transaction on the table refuses expand


def test_long_transaction_refuses_expand(users_project):
    p = users_project
    before = p.db.snapshot()
    reader = p.db.connect(autocommit=False, application_name="long-reader")
    reader.execute("SELECT count(*) FROM users").fetchone()   # now idle in transaction
    pid = reader.info.backend_pid
    try:
        time.sleep(2.2)
        r = p.expect(1, "expand", "--max-tx-age", "1", timeout=60)
        assert re.search(rf"\b{pid}\b", r.err), (
            f"stderr does not name the pid {pid}\n" + r.describe())
        assert p.db.snapshot() == before
        assert p.db.history_rows() == 0 or p.phases() == {1: "pending"}
    finally:
        reader.commit()
        reader.close()
    p.ok("expand", "--max-tx-age", "1")
    assert "username" in columns_of(p.db, "users")

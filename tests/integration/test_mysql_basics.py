"""The MySQL/MariaDB driver, first part (label "mysql"), against a real
MariaDB that the test run starts itself (conftest.py: mariadb_server, mdb,
mysql_project): mysql:// URLs (TCP and ?socket=), bad URLs (exit 2),
unreachable server and wrong password (exit 3, never the password),
`status`, `check`, `log`, `colour register|set|heartbeat|list`, the history
table _migrate_history in the target database, the migrate lock
(GET_LOCK 'migrate:<database>', exit 3 naming the holder), the fingerprint
(a state file from another database or server is refused, exit 3), colour
liveness from the server's sessions (--match against USER and the
program_name connection attribute), and TLS as the URL's ssl-mode asks
(the test server has no TLS: REQUIRED and the VERIFY modes exit 3,
DISABLED connects).

Where the command-line output does not depend on the database, it must be
the same as on PostgreSQL: test_same_output_as_postgresql runs one
sequence of commands against both and compares them."""

import re
import time
from urllib.parse import quote

import pytest

from conftest import (APP_USER, MYSQL_APP_PASSWORD, MYSQL_APP_PASSWORD_URL,
                      MYSQL_LOW_PASSWORD, MYSQL_LOW_USER, RENAME_FILE,
                      RENAME_YAML, MariaDbServer, check_rows, docs)

ADD_NICK_FILE = "0002_add_nick.yaml"
ADD_NICK = """
description: users get a nickname
operations:
  - add_column:
      table: users
      column: nick
      type: text
"""

USERS_DDL = ("CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
             "user_name VARCHAR(100) NOT NULL, email VARCHAR(200) NULL)")

HISTORY_COLUMNS = ["migration_id", "name", "checksum", "phase", "step_phase",
                   "step_index", "state_id", "generation", "updated_at"]

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def lock_name(database):
    """The migrate lock of a database (drivers/mysql/lock.c: 'migrate:' + its
    name, for names of up to 56 characters)."""
    return f"migrate:{database.name}"


def colour_doc(p):
    doc = p.json("colour", "list")
    return {c["name"]: c for c in doc["colours"]}, doc["window"]


def wait_colour_sessions(p, name, n, timeout=10):
    """The server forgets a closed session a moment after close()."""
    deadline = time.monotonic() + timeout
    while True:
        got = colour_doc(p)[0][name]["sessions"]
        if got == n or time.monotonic() > deadline:
            assert got == n, f"colour {name}: {got} sessions, expected {n}"
            return
        time.sleep(0.1)


def masked_url(database):
    """How status shows the URL of `database`: the password as ****."""
    return (f"mysql://{APP_USER}:****@{database.server.host}:"
            f"{database.server.port}/{database.name}")


def assert_masked(r):
    """If a URL is echoed, its password is ****."""
    for m in re.finditer(r"app:([^@\s]*)@", r.text):
        assert m.group(1) == "****", r.describe()


def run_url(p, url, *args, state=None, **kw):
    return p.run_raw("-d", url, "-m", p.migrations, "--state", state or p.state,
                     *args, **kw)


# --------------------------------------------------------------------------
# status


def test_status_empty_database(mysql_project):
    p = mysql_project
    r = p.ok("status")
    assert re.search(rf"^database: {re.escape(masked_url(p.db))}$", r.out, re.M), r.out
    assert "(not created yet: nothing applied)" in r.out, r.out
    assert "no migrations in" in r.out, r.out
    assert "readable window: schema versions 0..0" in r.out, r.out
    assert "no colours registered" in r.out, r.out
    assert "next: nothing" in r.out, r.out

    doc = p.json("status")
    assert doc["database"] == masked_url(p.db)
    assert doc["state_exists"] is False and doc["generation"] == 0
    assert doc["migrations"] == [] and doc["pending"] == [] and doc["edited"] == []
    assert doc["window"] == {"low": 0, "high": 0}
    assert doc["colours"] == [] and doc["next"] is None and doc["events"] is None
    # the URL from the environment instead of -d
    r = p.run_raw("status", env={"MIGRATE_DATABASE_URL": p.db.url,
                                 "MIGRATE_DIR": p.migrations, "MIGRATE_STATE": p.state})
    assert r.rc == 0, r.describe()
    assert f"database: {masked_url(p.db)}" in r.out, r.out
    # status only reads: no state file, nothing in the database
    assert not p.state.exists()
    assert p.db.tables() == []


def test_status_lists_pending_files(mysql_project):
    p = mysql_project
    p.write(RENAME_FILE, RENAME_YAML)
    p.write(ADD_NICK_FILE, ADD_NICK)
    r = p.ok("status")
    assert re.search(r"^0001\s+0001_rename_user_name\s+pending\b", r.out, re.M), r.out
    assert re.search(r"^0002\s+0002_add_nick\s+pending\b", r.out, re.M), r.out
    assert "next: migrate expand 0001" in r.out, r.out

    doc = p.json("status")
    assert [(m["id"], m["name"], m["phase"]) for m in doc["migrations"]] == [
        (1, "0001_rename_user_name", "pending"), (2, "0002_add_nick", "pending")]
    first = doc["migrations"][0]
    assert first["file"] is True and first["checksum"] is None
    assert first["file_checksum"] == p.checksum(RENAME_FILE)
    assert first["edited"] is False and first["expanded_at"] is None
    assert doc["pending"] == [1, 2]
    assert doc["next"] == "migrate expand 0001"
    assert not p.state.exists()
    assert p.db.tables() == []


def test_status_over_the_unix_socket(mysql_project):
    """?socket=/path: the same server and database as over TCP, so the
    state file made over TCP is accepted over the socket."""
    p = mysql_project
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0")
    r = run_url(p, p.db.socket_url, "status")
    assert r.rc == 0, r.describe()
    assert "blue" in r.out, r.out
    r = run_url(p, p.db.socket_url, "colour", "set", "blue", "--state", "standby")
    assert r.rc == 0, r.describe()
    assert colour_doc(p)[0]["blue"]["state"] == "standby"


# --------------------------------------------------------------------------
# check


def test_check_pass_and_fail(mysql_project):
    p = mysql_project
    p.write(RENAME_FILE, RENAME_YAML)
    r = p.ok("check")
    rows = check_rows(r.out)
    assert set(rows) == {"files", "order", "unchanged"}, r.out
    assert all(ok for ok, _ in rows.values()), r.out
    assert "1 migration file(s)" in rows["files"][1]
    assert "check: pass" in r.out

    r = p.ok("check", "--requires", "0")
    assert check_rows(r.out)["requires"][0] is True, r.out

    r = p.expect(1, "check", "--requires", "1")
    ok, detail = check_rows(r.out)["requires"]
    assert not ok
    assert "0001_rename_user_name is pending" in detail and "migrate expand 0001" in detail
    assert "check: FAIL" in r.out

    doc = docs(p.ok("check", "--json"))
    assert doc["command"] == "check" and doc["result"] == "pass"
    assert doc["offline"] is False and doc["warnings"] == []
    assert [c["name"] for c in doc["checks"]] == ["files", "order", "unchanged"]
    assert doc["requires"] is None and doc["window"] == {"low": 0, "high": 0}

    doc = docs(p.expect(1, "check", "--json", "--requires", "0001"))
    assert doc["result"] == "fail" and doc["requires"] == 1
    req = [c for c in doc["checks"] if c["name"] == "requires"][0]
    assert req["ok"] is False and "0001_rename_user_name is pending" in req["detail"]

    r = p.expect(2, "check", "--requires", "99")
    assert "no migration" in r.err, r.describe()
    # check only reads
    assert not p.state.exists()
    assert p.db.tables() == []


def test_check_and_status_read_the_history_table(mysql_project):
    """Colours live in _migrate_history too: without the state file,
    status refuses (the database has history), check answers from the
    history alone."""
    p = mysql_project
    p.write(RENAME_FILE, RENAME_YAML)
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0")
    absent = p.dir / "elsewhere" / "state.db"
    r = run_url(p, p.db.url, "status", state=absent)
    assert r.rc == 3, r.describe()
    assert "colours registered" in r.err and "history" in r.err, r.describe()
    r = run_url(p, p.db.url, "check", "--requires", "0", state=absent)
    assert r.rc == 0, r.describe()
    r = run_url(p, p.db.url, "check", "--requires", "1", state=absent)
    assert r.rc == 1, r.describe()
    assert "0001_rename_user_name is pending" in check_rows(r.out)["requires"][1]
    assert not absent.exists() and not absent.parent.exists()


def test_read_only_user(mysql_project):
    """A user with SELECT only can run status and check; writing the
    history table fails with exit 3 and the reason, never the password."""
    p = mysql_project
    p.write(RENAME_FILE, RENAME_YAML)
    url = p.db.url_for(MYSQL_LOW_USER, MYSQL_LOW_PASSWORD)
    own = p.dir / "low" / "state.db"
    r = run_url(p, url, "status", state=own)
    assert r.rc == 0, r.describe()
    r = run_url(p, url, "check", "--requires", "0", state=own)
    assert r.rc == 0, r.describe()
    r = run_url(p, url, "colour", "register", "blue", "--app-version", "1",
                "--requires", "0", state=own)
    assert r.rc == 3, r.describe()
    assert "history" in r.err and "privilege" in r.err, r.describe()
    assert MYSQL_LOW_PASSWORD not in r.text, r.describe()
    assert p.db.tables() == []

    # once app has created the table, the read-only user can still check
    p.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    before = p.db.admin_query("SELECT * FROM _migrate_history ORDER BY migration_id")
    r = run_url(p, url, "check", "--requires", "0", state=p.dir / "absent.db")
    assert r.rc == 0, r.describe()
    assert p.db.admin_query("SELECT * FROM _migrate_history ORDER BY migration_id") == before
    assert not (p.dir / "absent.db").exists()


# --------------------------------------------------------------------------
# colours, the log and the history table


def test_colour_commands_and_history_table(mysql_project):
    p = mysql_project
    p.write(RENAME_FILE, RENAME_YAML)
    assert colour_doc(p) == ({}, {"low": 0, "high": 0})

    r = p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0")
    assert ("colour blue registered: app 1.0, requires schema 0 (before any "
            "migration), live") in r.err, r.describe()
    g1 = p.json("status")["generation"]

    # the history table lives in the target database, same layout as on
    # PostgreSQL; row 0 is the colour registry
    assert p.db.tables() == ["_migrate_history"]
    cols = [c[0] for c in p.db.admin_query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = '_migrate_history' ORDER BY ordinal_position", (p.db.name,))]
    assert cols == HISTORY_COLUMNS
    rows = p.db.admin_query("SELECT migration_id, name, checksum, phase, generation "
                            "FROM _migrate_history")
    assert rows == [(0, "(colour registry)", None, "registry", 1)], rows

    by, window = colour_doc(p)
    b = by["blue"]
    assert window == {"low": 0, "high": 0}
    assert b["app_version"] == "1.0"
    assert b["requires"] == {"id": 0, "name": "0 (before any migration)"}
    assert b["state"] == "live" and b["alive"] is True and b["valid"] is True
    assert b["reason"] == "registered live"
    assert b["match"] is None and b["sessions"] is None and b["stale"] is False

    # an alive name cannot be registered again; a requirement not readable
    # yet is refused naming the commands to run
    r = p.expect(1, "colour", "register", "blue", "--app-version", "1.1", "--requires", "0")
    assert "alive" in r.err and "retire it first" in r.err, r.describe()
    r = p.expect(1, "colour", "register", "green", "--app-version", "2.0", "--requires", "1")
    assert "0001_rename_user_name is pending" in r.err, r.describe()
    assert "migrate expand 0001" in r.err, r.describe()
    r = p.expect(2, "colour", "set", "purple", "--state", "live")
    assert "unknown colour 'purple'" in r.err, r.describe()

    doc = p.json("colour", "set", "blue", "--state", "standby")
    assert doc["command"] == "colour" and doc["action"] == "set"
    assert doc["colour"]["state"] == "standby"
    r = p.ok("colour", "set", "blue", "--state", "standby")
    assert "nothing to do" in r.err, r.describe()
    doc = p.json("colour", "heartbeat", "blue")
    assert doc["action"] == "heartbeat" and doc["colour"] == "blue"
    assert TS.fullmatch(doc["heartbeat_at"]), doc
    text = p.ok("color", "list").out
    assert re.search(r"^blue\s+standby\s+1\.0\s", text, re.M), text

    g2 = p.json("status")["generation"]
    assert g2 > g1
    assert p.db.admin_query("SELECT generation FROM _migrate_history "
                            "WHERE migration_id = 0")[0][0] == g2
    # every migrate command let go of its lock
    assert p.db.query("SELECT IS_FREE_LOCK(%s)", (lock_name(p.db),)) == [(1,)]


def test_log(mysql_project):
    p = mysql_project
    # no state file yet: nothing to show, and that is an error as on PostgreSQL
    r = p.expect(3, "log")
    assert "does not exist" in r.err, r.describe()

    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0")
    p.expect(1, "colour", "register", "blue", "--app-version", "1.1", "--requires", "0")
    p.ok("colour", "set", "blue", "--state", "standby")

    events = p.json("log")["events"]
    assert [(e["command"], e["colour"], e["result"], e["migration"]) for e in events] == [
        ("colour", "blue", "ok", None), ("colour", "blue", "refused", None),
        ("colour", "blue", "ok", None)], events
    for e in events:
        assert set(e) >= {"seq", "at", "command", "migration", "colour", "result",
                          "message"}
        assert TS.fullmatch(e["at"]), e
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert events[0]["message"] == ("registered blue: app 1.0, requires 0 "
                                    "(before any migration), live")
    assert events[2]["message"] == "colour blue: live -> standby"

    text = p.ok("log").out
    rows = [line.split()[1:5] for line in text.splitlines() if TS.match(line)]
    assert rows == [["colour", "-", "blue", "ok"], ["colour", "-", "blue", "refused"],
                    ["colour", "-", "blue", "ok"]], text
    assert p.json("log", "--limit", "1")["events"] == events[-1:]
    assert p.json("status", "--events", "2")["events"] == events[-2:]
    p.expect(2, "log", "--limit", "0")
    p.expect(2, "log", "--limit", "many")


# --------------------------------------------------------------------------
# URLs, connection failures, secrets


@pytest.mark.parametrize("label,url,words", [
    ("no-database", "mysql://app:{pw}@127.0.0.1:{port}", ["names no database"]),
    ("empty-database", "mysql://app:{pw}@127.0.0.1:{port}/", ["names no database"]),
    ("unknown-parameter", "mysql://app:{pw}@127.0.0.1:{port}/db?sslmode=require",
     ["unknown parameter", "sslmode"]),
    ("port-not-a-number", "mysql://app:{pw}@127.0.0.1:http/db", ["port"]),
    ("port-out-of-range", "mysql://app:{pw}@127.0.0.1:70000/db", ["port"]),
    ("port-missing", "mysql://app:{pw}@127.0.0.1:/db", ["port"]),
    ("bad-escape", "mysql://app:{pw}%zz@127.0.0.1:{port}/db", ["%-escape"]),
    ("empty-socket", "mysql://app:{pw}@localhost/db?socket=", ["socket"]),
    ("unencoded-hash", "mysql://app:pw#1@127.0.0.1:{port}/db", ["#"]),
])
def test_bad_url_exit_2(mysql_project, closed_port, label, url, words):
    """A URL the driver cannot read is bad input (exit 2) and says what is
    wrong with it. The port is closed: connecting would be exit 3."""
    p = mysql_project
    url = url.format(pw=MYSQL_APP_PASSWORD_URL, port=closed_port)
    for args in (("status",), ("check",), ("colour", "list")):
        r = run_url(p, url, *args)
        assert r.rc == 2, f"{label}\n" + r.describe()
        assert "database URL" in r.err, f"{label}\n" + r.describe()
        for w in words:
            assert w in r.err, f"{label}: expected {w!r}\n" + r.describe()
    assert not p.state.exists()


@pytest.mark.parametrize("cmd", [("status",), ("check",), ("colour", "list"),
                                 ("colour", "register", "blue", "--app-version", "1",
                                  "--requires", "0")])
def test_unreachable_server_exit_3(mysql_project, closed_port, cmd):
    p = mysql_project
    port = closed_port
    url = p.db.url_for(port=port)
    r = run_url(p, url, *cmd, timeout=60)
    assert r.rc == 3, r.describe()
    assert f"127.0.0.1:{port}" in r.err, r.describe()
    assert_masked(r)
    # a socket that does not exist
    r = run_url(p, p.db.socket_url.replace("?socket=", "?socket=/nonexistent"), *cmd)
    assert r.rc == 3, r.describe()
    assert_masked(r)


def test_wrong_password_and_unknown_database_exit_3(mysql_project):
    p = mysql_project
    wrong = "Wr0ng:p@ss/w?rd%"
    over_socket = (f"mysql://{APP_USER}:{quote(wrong, safe='')}@localhost/{p.db.name}"
                   f"?socket={p.db.server.socket}")
    for url in (p.db.url_for(password=wrong), p.db.url_for(password=None), over_socket):
        r = run_url(p, url, "status")
        assert r.rc == 3, r.describe()
        assert "Access denied" in r.err, r.describe()
        for secret in (wrong, "Wr0ng", MYSQL_APP_PASSWORD_URL):
            assert secret not in r.text, r.describe()
        assert_masked(r)
    url = p.db.server.url_for(APP_USER, MYSQL_APP_PASSWORD, "no_such_db")
    r = run_url(p, url, "status")
    assert r.rc == 3, r.describe()
    assert "no_such_db" in r.err, r.describe()
    assert not p.state.exists()


@pytest.mark.parametrize("value", ["require", "VERIFY-FULL", "on", ""])
def test_bad_ssl_mode_exit_2(mysql_project, value):
    """An ssl-mode that is not one of the five is bad input naming it (a
    user asking for TLS must never silently get none)."""
    p = mysql_project
    r = run_url(p, p.db.url + "?ssl-mode=" + value, "status")
    assert r.rc == 2, r.describe()
    assert "ssl-mode" in r.err, r.describe()
    if value:
        assert f"'{value}'" in r.err, r.describe()
    assert not p.state.exists()
    # ssl-ca only makes sense where the certificate is checked
    r = run_url(p, p.db.url + "?ssl-mode=REQUIRED&ssl-ca=/etc/ssl/ca.pem", "status")
    assert r.rc == 2 and "ssl-ca" in r.err, r.describe()


@pytest.mark.parametrize("mode", ["REQUIRED", "required", "VERIFY_CA", "verify_identity"])
def test_ssl_mode_required_without_tls_on_the_server_exit_3(mysql_project, mode):
    """The test server has no TLS configured: a mode that needs TLS fails
    to connect (exit 3) saying so, over TCP and over the socket, and
    nothing is written."""
    p = mysql_project
    assert p.db.admin_query("SHOW VARIABLES LIKE 'have_ssl'")[0][1] != "YES"
    for url in (p.db.url + "?ssl-mode=" + mode,
                p.db.socket_url + "&ssl-mode=" + mode):
        r = run_url(p, url, "status")
        assert r.rc == 3, r.describe()
        assert "TLS" in r.err, r.describe()
        assert mode.upper() in r.err, r.describe()
        assert_masked(r)
    assert not p.state.exists()
    assert p.db.history_rows() == 0


@pytest.mark.parametrize("mode", ["DISABLED", "disabled", "PREFERRED"])
def test_ssl_mode_disabled_and_preferred_connect(mysql_project, mode):
    p = mysql_project
    url = p.db.url + "?ssl-mode=" + mode
    r = run_url(p, url, "status")
    assert r.rc == 0, r.describe()
    r = run_url(p, url, "colour", "register", "blue", "--app-version", "1",
                "--requires", "0")
    assert r.rc == 0, r.describe()


# --------------------------------------------------------------------------
# the migrate lock


def test_lock_held_by_another_session_exit_3(mysql_project):
    """The commands that write (colour register, colour set) take the lock
    and refuse at once, naming the session that holds it."""
    p = mysql_project
    p.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    holder = p.db.connect(program_name="lock-holder-app")
    with holder.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0)", (lock_name(p.db),))
        assert cur.fetchone()[0] == 1
    conn_id = holder.thread_id()
    try:
        for args in (("colour", "register", "green", "--app-version", "2", "--requires", "0"),
                     ("colour", "set", "blue", "--state", "retired")):
            t0 = time.monotonic()
            r = p.expect(3, *args, timeout=60)
            assert time.monotonic() - t0 < 30, "migrate waited for the lock instead of refusing"
            assert "another migrate holds the lock" in r.err, r.describe()
            assert re.search(rf"\bconnection {conn_id}\b", r.err), (
                f"stderr does not name the holder (connection {conn_id})\n" + r.describe())
        # reading commands do not take the lock
        p.ok("status")
        p.ok("check")
        p.ok("colour", "list")
    finally:
        with holder.cursor() as cur:
            cur.execute("SELECT RELEASE_LOCK(%s)", (lock_name(p.db),))
        holder.close()
    by, _ = colour_doc(p)
    assert list(by) == ["blue"] and by["blue"]["state"] == "live"
    p.ok("colour", "register", "green", "--app-version", "2", "--requires", "0")
    assert p.db.query("SELECT IS_FREE_LOCK(%s)", (lock_name(p.db),)) == [(1,)]


def test_lock_names_the_holders_program_name(mysql_project):
    """With performance_schema readable, the holder's program_name is named."""
    p = mysql_project
    p.db.grant_session_visibility()
    holder = p.db.connect(program_name="lock-holder-app")
    with holder.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0)", (lock_name(p.db),))
        assert cur.fetchone()[0] == 1
    try:
        r = p.expect(3, "colour", "register", "blue", "--app-version", "1",
                     "--requires", "0")
        assert "application 'lock-holder-app'" in r.err, r.describe()
        assert f"user '{APP_USER}'" in r.err, r.describe()
    finally:
        holder.close()


def test_lock_is_per_database(mysql_project, mariadb_server):
    """GET_LOCK names are server-wide: the lock of another database on the
    same server does not block this one."""
    p = mysql_project
    other = mariadb_server.new_database("other_lock")
    holder = p.db.connect(program_name="other-db-migrate")
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 0)", (lock_name(other),))
            assert cur.fetchone()[0] == 1
        p.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    finally:
        holder.close()
        other.drop()


def test_migrate_sessions_carry_their_program_name(mysql_project):
    """migrate's own sessions say who they are: program_name
    'migrate/<command>' (what --match leaves out, and what an operator
    sees in the processlist). Caught while they wait for a table that a
    root session has locked."""
    p = mysql_project
    p.db.grant_session_visibility()
    p.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    blocker = p.db.admin()
    with blocker.cursor() as cur:
        cur.execute("LOCK TABLES _migrate_history WRITE")
    procs = {}
    try:
        procs["migrate/status"] = p.popen("--lock-timeout", "30000", "status")
        procs["migrate/colour"] = p.popen("--lock-timeout", "30000", "colour", "list")
        deadline = time.monotonic() + 20
        while True:
            # a session shows its program_name while it still logs in
            # ('unauthenticated user', no database yet): wait past that
            seen = {r[3]: r for r in p.db.sessions() if (r[3] or "").startswith("migrate")
                    and r[1] != "unauthenticated user"}
            if set(seen) >= set(procs) or time.monotonic() > deadline:
                break
            for name, proc in procs.items():
                assert proc.poll() is None, f"{name} ended early: {proc.communicate()}"
            time.sleep(0.05)
        assert set(seen) == set(procs), seen
        for name, row in seen.items():
            assert row[1] == APP_USER and row[2] == p.db.name, row
    finally:
        with blocker.cursor() as cur:
            cur.execute("UNLOCK TABLES")
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"{name}: exit {proc.returncode}\n{out}\n{err}"
        assert "blue" in out, out


# --------------------------------------------------------------------------
# the fingerprint: a state file belongs to one database on one server


def test_state_file_of_another_database_is_refused(mysql_project, mariadb_server,
                                                   make_project):
    a = mysql_project
    a.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    db_b = mariadb_server.new_database("foreign_b")
    try:
        b = make_project(db_b, "project-b")
        for args in (("status",), ("colour", "list"),
                     ("colour", "register", "green", "--app-version", "2", "--requires", "0")):
            r = b.run_raw("-d", db_b.url, "-m", b.migrations, "--state", a.state, *args)
            assert r.rc == 3, r.describe()
            assert "belongs to another database" in r.err, r.describe()
        assert db_b.tables() == [], "B was written with A's state file"

        # B's own state, used against A
        b.ok("colour", "register", "green", "--app-version", "2", "--requires", "0")
        r = a.run_raw("-d", a.db.url, "-m", a.migrations, "--state", b.state, "status")
        assert r.rc == 3, r.describe()
        assert "belongs to another database" in r.err, r.describe()

        # both still work with their own state
        assert list(colour_doc(a)[0]) == ["blue"]
        assert list(colour_doc(b)[0]) == ["green"]
    finally:
        db_b.drop()


def test_state_file_of_another_server_is_refused(mysql_project, tmp_path):
    """A second server with a database of the same name (and the same
    default server_id) is another database."""
    a = mysql_project
    a.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    other = MariaDbServer()
    try:
        other.start()
        with other.admin() as c, c.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{a.db.name}`")
            cur.execute(f"GRANT ALL ON `{a.db.name}`.* TO '{APP_USER}'@'%'")
        url = other.url_for(APP_USER, MYSQL_APP_PASSWORD, a.db.name)
        for args in (("status",), ("colour", "set", "blue", "--state", "standby")):
            r = a.run_raw("-d", url, "-m", a.migrations, "--state", a.state, *args)
            assert r.rc == 3, r.describe()
            assert "belongs to another database" in r.err, r.describe()
        with other.admin(a.db.name) as c, c.cursor() as cur:
            cur.execute("SHOW TABLES")
            assert cur.fetchall() == ()
        # a fresh state file for it is fine
        r = a.run_raw("-d", url, "-m", a.migrations, "--state", tmp_path / "other.db",
                      "colour", "register", "green", "--app-version", "2",
                      "--requires", "0")
        assert r.rc == 0, r.describe()
    finally:
        other.stop()
    assert colour_doc(a)[0]["blue"]["state"] == "live"


# --------------------------------------------------------------------------
# colour liveness from the server's sessions


def test_liveness_by_user(mysql_project):
    p = mysql_project
    p.db.grant_session_visibility()
    p.db.create_user("shop_blue_7", "shop-pw-7")
    p.db.create_user("shopxblue1", "shop-pw-8")      # '_' in the glob is literal
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0",
         "--match", "shop_blue*", "--state", "standby")
    p.ok("colour", "set", "blue", "--state", "retired")
    c = colour_doc(p)[0]["blue"]
    assert (c["alive"], c["sessions"]) == (False, 0), c
    assert "no session matching" in c["reason"], c

    decoy = p.db.connect(user="shopxblue1", password="shop-pw-8", program_name="pytest-decoy")
    app = p.db.connect(user="shop_blue_7", password="shop-pw-7", program_name="pytest-other")
    with app.cursor() as cur:
        cur.execute("SELECT 1")
    text = p.ok("colour", "list").out
    assert re.search(r"^blue\s+retired\s.*\balive: retired, but 1 session matching "
                     r"'shop_blue\*' connected", text, re.M), text
    c = colour_doc(p)[0]["blue"]
    assert (c["alive"], c["sessions"], c["match"]) == (True, 1, "shop_blue*"), c
    # the name is still in use: registering it again is refused
    r = p.expect(1, "colour", "register", "blue", "--app-version", "1.1", "--requires", "0")
    assert "1 session" in r.err, r.describe()

    app2 = p.db.connect(user="shop_blue_7", password="shop-pw-7", program_name=None)
    assert colour_doc(p)[0]["blue"]["sessions"] == 2
    for conn in (app, app2):
        conn_id = conn.thread_id()
        conn.close()
        p.db.wait_gone(conn_id)
    wait_colour_sessions(p, "blue", 0)
    c = colour_doc(p)[0]["blue"]
    assert c["alive"] is False and "no session matching" in c["reason"], c
    decoy.close()
    p.ok("colour", "register", "blue", "--app-version", "1.1", "--requires", "0")


def test_liveness_by_program_name(mysql_project):
    p = mysql_project
    p.db.grant_session_visibility()
    p.ok("colour", "register", "green", "--app-version", "2.0", "--requires", "0",
         "--match", "shop-green-*", "--state", "standby")
    p.ok("colour", "set", "green", "--state", "retired")
    assert colour_doc(p)[0]["green"]["alive"] is False

    s1 = p.db.connect(program_name="shop-green-3")
    c = colour_doc(p)[0]["green"]
    assert (c["alive"], c["sessions"]) == (True, 1), c
    assert "retired, but 1 session matching 'shop-green-*' connected" in c["reason"], c
    s2 = p.db.connect(program_name="shop-green-4", database=False)  # no default database
    c = colour_doc(p)[0]["green"]
    assert c["sessions"] == 2 and "2 sessions matching" in c["reason"], c
    r = p.expect(1, "colour", "register", "green", "--app-version", "2.1", "--requires", "0")
    assert "2 sessions" in r.err, r.describe()

    for conn in (s1, s2):
        conn_id = conn.thread_id()
        conn.close()
        p.db.wait_gone(conn_id)
    wait_colour_sessions(p, "green", 0)
    assert colour_doc(p)[0]["green"]["alive"] is False


GLOB_CASES = [
    # (colour, pattern, sessions it must count); program names below
    ("underscore", "a_b*", 1),        # a_b1 only, never axb1
    ("percent", "a?b", 1),            # a%b only, never aXYb or axb1 (a '%' in --match is refused)
    ("question", "sh?p-1", 1),        # shop-1 only (not shop-12, not shoop-1)
    ("question-star", "sh?p-1*", 2),  # shop-1 and shop-12
    ("exact", "shop-12", 1),
    ("quote", "it's-*", 1),           # a quote is just a character
    ("backslash", "c\\d*", 1),        # c\d1, never cXd1
    ("own", "migrate*", 0),           # migrate's sessions (migrate/...) never count
]

SESSION_NAMES = ["axb1", "a_b1", "aXYb", "a%b", "shop-1", "shop-12", "shoop-1",
                 "it's-1", "c\\d1", "cXd1", "migrate/ci-job"]


def test_match_is_a_glob(mysql_project):
    p = mysql_project
    p.db.grant_session_visibility()
    conns = [p.db.connect(program_name=n) for n in SESSION_NAMES]
    try:
        for name, pattern, _ in GLOB_CASES:
            p.ok("colour", "register", name, "--app-version", "1", "--requires", "0",
                 "--match", pattern, "--state", "standby")
            p.ok("colour", "set", name, "--state", "retired")
        by, _ = colour_doc(p)
        got = {name: by[name]["sessions"] for name, _, _ in GLOB_CASES}
        assert got == {name: n for name, _, n in GLOB_CASES}
        for name, pattern, n in GLOB_CASES:
            assert by[name]["match"] == pattern
            assert by[name]["alive"] is (n > 0), by[name]
    finally:
        for c in conns:
            c.close()


def test_sessions_that_cannot_be_seen_count_as_alive(mysql_project):
    """Without PROCESS, app sees only its own sessions: a retired colour
    with a pattern counts as alive ("cannot be seen"), the safe direction."""
    p = mysql_project
    p.db.create_user("shop_blue_7", "shop-pw-7")
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0",
         "--match", "shop_blue*", "--state", "standby")
    p.ok("colour", "set", "blue", "--state", "retired")
    other = p.db.connect(user="shop_blue_7", password="shop-pw-7")
    try:
        c = colour_doc(p)[0]["blue"]
        assert c["alive"] is True and c["sessions"] == "unknown", c
        assert "cannot be seen" in c["reason"] and "PROCESS" in c["reason"], c
        r = p.expect(1, "colour", "register", "blue", "--app-version", "1.1",
                     "--requires", "0")
        assert "cannot be seen" in r.err, r.describe()
    finally:
        other.close()
    # still unknown with nobody connected: the user cannot tell
    assert colour_doc(p)[0]["blue"]["alive"] is True


def test_program_names_that_cannot_be_read_count_as_alive(mysql_project):
    """performance_schema is on, but app may not read it (PROCESS only):
    sessions matching by program_name cannot be seen, so a retired colour
    must not be taken for dead while one is connected (fail closed)."""
    p = mysql_project
    p.db.grant("PROCESS", "*.*")
    p.ok("colour", "register", "green", "--app-version", "2.0", "--requires", "0",
         "--match", "shop-green-*", "--state", "standby")
    p.ok("colour", "set", "green", "--state", "retired")
    s = p.db.connect(program_name="shop-green-3")
    try:
        assert any(r[3] == "shop-green-3" for r in p.db.sessions())
        c = colour_doc(p)[0]["green"]
        assert c["alive"] is True, (
            "a session with program_name shop-green-3 is connected, but the "
            f"colour matching 'shop-green-*' is taken for dead: {c}")
        assert c["sessions"] in (1, "unknown"), c
    finally:
        s.close()


# --------------------------------------------------------------------------
# the same output as on PostgreSQL


PARITY_STEPS = [
    ("status",),
    ("--json", "status"),
    ("check",),
    ("--json", "check", "--requires", "1"),
    ("colour", "register", "blue", "--app-version", "1.0", "--requires", "0"),
    ("colour", "register", "blue", "--app-version", "1.1", "--requires", "0"),
    ("colour", "register", "green", "--app-version", "2.0", "--requires", "1",
     "--state", "standby"),
    ("colour", "register", "canary", "--app-version", "3", "--requires", "0",
     "--state", "standby", "--ttl", "600"),
    ("colour", "set", "blue", "--state", "standby"),
    ("colour", "set", "blue", "--state", "standby"),
    ("colour", "set", "canary", "--state", "retired"),
    ("colour", "heartbeat", "blue"),
    ("colour", "heartbeat", "canary"),
    ("colour", "list"),
    ("--json", "colour", "list"),
    ("status", "--events", "4"),
    ("--json", "status", "--events", "4"),
    ("check", "--requires", "0"),
    ("log",),
    ("--json", "log", "--limit", "3"),
]


def _normalise(text, project):
    text = text.replace(str(project.dir), "PROJECT")
    text = re.sub(r"(postgresql|mysql)://app:\*\*\*\*@127\.0\.0\.1:\d+/\w+", "URL", text)
    text = TS.sub("TIMESTAMP", text)
    return re.sub(r"\b\d+s ago\b", "Ns ago", text)


def test_same_output_as_postgresql(make_project, db, mdb):
    """Everything here is the core's: the same commands print the same
    (URL, paths and timestamps aside) on both targets."""
    pg = make_project(db, "pg")
    my = make_project(mdb, "my")
    for proj in (pg, my):
        proj.write(RENAME_FILE, RENAME_YAML)
        proj.write(ADD_NICK_FILE, ADD_NICK)
    for args in PARITY_STEPS:
        a = pg.run(*args)
        b = my.run(*args)
        where = "migrate " + " ".join(args)
        assert a.rc == b.rc, f"{where}: exit {a.rc} on PostgreSQL, {b.rc} on MariaDB\n" \
            + a.describe() + "\n" + b.describe()
        assert _normalise(b.out, my) == _normalise(a.out, pg), (
            f"{where}: stdout differs\n--- PostgreSQL ---\n{a.out}\n--- MariaDB ---\n{b.out}")
        assert _normalise(b.err, my) == _normalise(a.err, pg), (
            f"{where}: stderr differs\n--- PostgreSQL ---\n{a.err}\n--- MariaDB ---\n{b.err}")
    # and the state files agree on what they recorded
    assert pg.json("status")["generation"] == my.json("status")["generation"] > 0

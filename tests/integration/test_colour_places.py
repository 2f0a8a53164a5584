"""Colours seen everywhere they connect (issue 17, part 2): a retired
colour's sessions keep it alive wherever the application connects, not
only on the primary.

- PostgreSQL behind a real PgBouncer (transaction pooling): idle clients
  hold no server connection, so the primary never sees them; with
  pooler=HOST:PORT in the URL migrate reads PgBouncer's client list and
  contract is refused while they are connected, the reason saying where
  they are ("(pooler 127.0.0.1:6432: 2)", sessions_by_place in the
  JSON). PgBouncer's own idle
  server connection keeps the last client's application_name: it is not
  one of the colour's sessions. A pooler that cannot be read counts as
  alive and status names it.
- A PostgreSQL hot standby named with standby=HOST:PORT: a session there
  keeps the colour alive, and the reason says where each is ("(primary:
  1, standby 127.0.0.1:5433: 1)"); the standby down -> unreadable, named.
- MariaDB: a session on a replica that the primary lists (SHOW SLAVE
  HOSTS) keeps the colour alive, the replica named; the primary refusing to list its
  replicas, or a replica named with replica= that cannot be reached, is
  unreadable, with the grant or the replica named.

Every server is real and started here (module fixtures)."""

import time

import pytest

from harness.env import serve
from harness.pgbouncer import PgBouncer
from harness.project import Project
from harness.mariadb import MYSQL_DIALECTS
from harness.secrets import APP_PASSWORD, APP_USER, MYSQL_APP_PASSWORD
from harness.standby import MariaDbReplicaSet, PgPrimary, PgStandby

import psycopg

ADD_PRIORITY = """
description: orders get a priority
operations:
  - add_column:
      table: orders
      column: priority
      type: smallint
      default: "0"
      backfill: "CASE WHEN total > 10 THEN 1 ELSE 0 END"
"""


@pytest.fixture(scope="module")
def primary():
    yield from serve(PgPrimary(), "PostgreSQL primary")


@pytest.fixture(scope="module")
def bouncer(primary):
    yield from serve(PgBouncer(primary), "PgBouncer")


@pytest.fixture(scope="module")
def standby(primary):
    yield from serve(PgStandby(primary, "places1"), "PostgreSQL standby")


@pytest.fixture(scope="module")
def replica_set():
    yield from serve(MariaDbReplicaSet(1), "MariaDB primary and replica")


def project_at(migrate_bin, database, root, url, env=None):
    """A project bound to database, run with url (the places in it)."""
    p = Project(migrate_bin, database, root, env=env)
    p.base_args = lambda: ["-d", url, "-m", str(p.migrations), "--state", str(p.state)]
    return p


def with_places(url, **places):
    return url + "?" + "&".join(f"{k}={v}" for k, v in places.items())


def colours(p):
    return {c["name"]: c for c in p.json("colour", "list")["colours"]}


def phase(p):
    return p.json("status")["migrations"][0]["phase"]


def wait_colour(p, name, pred, what, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        c = colours(p)[name]
        if pred(c):
            return c
        assert time.monotonic() < deadline, f"colour {name} never {what}: {c}"
        time.sleep(0.1)


def retired_blue_with_switched_migration(p, execute):
    """orders, migration 0001 switched (its contract next), and colour blue
    (app 42, requires 0, --match 'shop-blue-*') retired."""
    execute("CREATE TABLE orders (id int PRIMARY KEY, total int NOT NULL)")
    execute("INSERT INTO orders VALUES (1, 5), (2, 20)")
    p.write("0001_add_priority.yaml", ADD_PRIORITY)
    p.ok("colour", "register", "blue", "--app-version", "42", "--requires", "0",
         "--match", "shop-blue-*", "--state", "standby")
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    p.ok("colour", "set", "blue", "--state", "retired")


# --------------------------------------------------------------------------
# PgBouncer


def test_sessions_behind_pgbouncer_keep_a_retired_colour_alive(migrate_bin, tmp_path,
                                                              primary, bouncer):
    db = primary.new_database("pooler")
    plain = project_at(migrate_bin, db, tmp_path / "p", db.url)
    pooled = project_at(migrate_bin, db, tmp_path / "p", with_places(db.url, pooler=bouncer.name))
    retired_blue_with_switched_migration(plain, db.execute)

    # two idle clients of the pooler (transaction mode): no server
    # connection carries their names, the primary cannot see them
    clients = [bouncer.connect(db.name, f"shop-blue-{i}") for i in (1, 2)]
    try:
        blue = colours(plain)["blue"]
        assert (blue["alive"], blue["sessions"]) == (False, 0), blue   # the case
        assert blue["sessions_by_place"] == [], blue

        blue = colours(pooled)["blue"]
        assert (blue["alive"], blue["sessions"], blue["matching_sessions"]) == (True, 2, 2), blue
        # where they are: the pooler alone (the primary, with none, is not named)
        assert blue["sessions_by_place"] == [{"place": f"pooler {bouncer.name}", "sessions": 2}], blue
        r = pooled.expect(1, "contract")
        assert "contract 0001 refused: colour blue (app 42) requires schema 0 " in r.err, r.describe()
        assert (f"retired, but 2 sessions matching 'shop-blue-*' connected "
                f"(pooler {bouncer.name}: 2)") in r.err, r.describe()
        st = pooled.ok("status")
        assert f"connected (pooler {bouncer.name}: 2)" in st.out, st.describe()
        assert [c["sessions_by_place"] for c in pooled.json("status")["colours"]] == \
            [[{"place": f"pooler {bouncer.name}", "sessions": 2}]]
        assert phase(pooled) == "switched"

        # a client that ran a statement: PgBouncer's server connection
        # keeps its name after the client is gone (and the primary sees it)
        clients[0].execute("SELECT 1")
    finally:
        for c in clients:
            c.close()
    blue = wait_colour(pooled, "blue", lambda c: c["sessions"] == 0, "lost its pooled sessions")
    assert blue["alive"] is False, blue
    with primary.admin() as c:
        stale = c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                          "AND application_name = 'shop-blue-1'", (db.name,)).fetchone()[0]
    assert stale == 1, "PgBouncer's idle server connection should keep the client's name"
    blue = colours(plain)["blue"]
    assert blue["sessions"] == 1     # without pooler=: counted, wrongly
    # the primary alone: the reason as it always was, no place named
    assert blue["reason"] == "retired, but 1 session matching 'shop-blue-*' connected", blue
    assert blue["sessions_by_place"] == [], blue

    # the pooler down: its clients cannot be seen, the colour counts as alive
    clients = [bouncer.connect(db.name, "shop-blue-3")]
    bouncer.halt()
    try:
        blue = colours(pooled)["blue"]
        assert (blue["alive"], blue["sessions"]) == (True, "unknown"), blue
        assert f"cannot connect to pooler {bouncer.name}" in blue["reason"], blue
        st = pooled.ok("status").out
        assert f"pooler {bouncer.name}" in st and "cannot be seen" in st, st
        r = pooled.expect(1, "contract")
        assert "colour blue (app 42)" in r.err and f"pooler {bouncer.name}" in r.err, r.describe()
        assert (f"hint: blue's sessions matching 'shop-blue-*' cannot be seen: check that "
                f"PgBouncer runs at {bouncer.name}") in r.err, r.describe()
    finally:
        for c in clients:
            c.close()
        bouncer.resume()
    pooled.ok("contract")
    assert phase(pooled) == "contracted"
    db.drop()


def test_pooler_without_stats_users_is_unreadable(migrate_bin, tmp_path, primary, bouncer):
    """A user PgBouncer does not know on its admin console: the pooler is
    unreadable, the reason and hint say what to do."""
    db = primary.new_database("pooler_auth")
    with primary.admin() as c:
        c.execute("CREATE ROLE other LOGIN PASSWORD 'other-pw-5'")
    with primary.admin(db.name) as c:
        c.execute("GRANT CREATE, USAGE ON SCHEMA public TO other")
    try:
        url = with_places(f"postgresql://other:other-pw-5@127.0.0.1:{primary.port}/{db.name}",
                          pooler=bouncer.name)
        p = project_at(migrate_bin, db, tmp_path / "p", url)
        r = p.ok("colour", "register", "blue", "--app-version", "42", "--requires", "0",
                 "--match", "shop-blue-*", "--state", "standby")
        assert ("warning: --match 'shop-blue-*' matches sessions that cannot be seen now "
                "(counted as alive): registered standby, sessions matching 'shop-blue-*' "
                f"cannot be seen (cannot connect to pooler {bouncer.name}: ") in r.err, r.describe()
        assert "; to see its sessions: check that PgBouncer runs at" in r.err, r.describe()
        p.ok("colour", "set", "blue", "--state", "retired")
        blue = colours(p)["blue"]
        assert (blue["alive"], blue["sessions"]) == (True, "unknown"), blue
        assert f"pooler {bouncer.name}" in blue["reason"], blue
        assert "stats_users" in blue["sessions_hint"], blue
        assert f"to see its sessions: check that PgBouncer runs at {bouncer.name}" in \
            p.ok("colour", "list").out
        r = p.expect(1, "colour", "forget", "blue")
        assert "stats_users" in r.err, r.describe()
    finally:
        db.drop()
        with primary.admin() as c:
            c.execute("DROP ROLE other")


# --------------------------------------------------------------------------
# a PostgreSQL standby


def test_sessions_on_a_standby_keep_a_retired_colour_alive(migrate_bin, tmp_path,
                                                          primary, standby):
    db = primary.new_database("standby")
    plain = project_at(migrate_bin, db, tmp_path / "p", db.url)
    there = project_at(migrate_bin, db, tmp_path / "p",
                       with_places(db.url, standby=f"127.0.0.1:{standby.port}"))
    retired_blue_with_switched_migration(plain, db.execute)
    standby.wait_replayed()

    reader = psycopg.connect(host="127.0.0.1", port=standby.port, user=APP_USER,
                             password=APP_PASSWORD, dbname=db.name,
                             application_name="shop-blue-reader", autocommit=True)
    try:
        assert colours(plain)["blue"]["sessions"] == 0      # the primary alone: unseen
        blue = colours(there)["blue"]
        assert (blue["alive"], blue["sessions"]) == (True, 1), blue
        where = f"standby 127.0.0.1:{standby.port}"
        assert blue["sessions_by_place"] == [{"place": where, "sessions": 1}], blue
        r = there.expect(1, "contract")
        assert (f"retired, but 1 session matching 'shop-blue-*' connected ({where}: 1)"
                in r.err), r.describe()

        # one more on the primary: each place with sessions is named
        writer = psycopg.connect(host="127.0.0.1", port=primary.port, user=APP_USER,
                                 password=APP_PASSWORD, dbname=db.name,
                                 application_name="shop-blue-writer", autocommit=True)
        try:
            blue = colours(there)["blue"]
            assert blue["sessions_by_place"] == [{"place": "primary", "sessions": 1},
                                                 {"place": where, "sessions": 1}], blue
            assert blue["reason"] == ("retired, but 2 sessions matching 'shop-blue-*' "
                                      f"connected (primary: 1, {where}: 1)"), blue
            assert f"connected (primary: 1, {where}: 1)" in there.ok("colour", "list").out
        finally:
            writer.close()

        standby.halt()
        try:
            blue = colours(there)["blue"]
            assert (blue["alive"], blue["sessions"]) == (True, "unknown"), blue
            assert f"standby 127.0.0.1:{standby.port}" in blue["reason"], blue
            st = there.ok("status").out
            assert f"standby 127.0.0.1:{standby.port}" in st, st
            there.expect(1, "contract")
        finally:
            standby.resume()
    finally:
        reader.close()
    wait_colour(there, "blue", lambda c: c["alive"] is False, "died")
    there.ok("contract")
    assert phase(there) == "contracted"
    db.drop()


# --------------------------------------------------------------------------
# MariaDB: a replica the primary lists


def test_sessions_on_a_mariadb_replica_keep_a_retired_colour_alive(migrate_bin, tmp_path,
                                                                  replica_set, closed_port):
    mdb = replica_set.primary.new_database("replica")
    mdb.grant_session_visibility()
    p = project_at(migrate_bin, mdb, tmp_path / "p", mdb.url, env=MYSQL_DIALECTS["mariadb"])
    retired_blue_with_switched_migration(p, mdb.execute)
    replica_set.wait_caught_up()

    replica = replica_set.replicas[0]
    reader = replica.pymysql.connect(host="127.0.0.1", port=replica.port, user=APP_USER,
                                     password=MYSQL_APP_PASSWORD, database=mdb.name,
                                     autocommit=True, program_name="shop-blue-reader")
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT 1")
        blue = colours(p)["blue"]
        assert (blue["alive"], blue["sessions"]) == (True, 1), blue
        where = f"replica 127.0.0.1:{replica.port}"    # as the primary lists it
        assert blue["sessions_by_place"] == [{"place": where, "sessions": 1}], blue
        r = p.expect(1, "contract")
        assert (f"retired, but 1 session matching 'shop-blue-*' connected ({where}: 1)"
                in r.err), r.describe()
        assert f"connected ({where}: 1)" in p.ok("status").out

        # the primary refuses to list its replicas: unreadable, the grant named
        mdb.admin_query(f"REVOKE REPLICATION MASTER ADMIN ON *.* FROM '{APP_USER}'@'%'")
        try:
            blue = colours(p)["blue"]
            assert (blue["alive"], blue["sessions"]) == (True, "unknown"), blue
            assert "cannot list this server's replicas" in blue["reason"], blue
            r = p.expect(1, "contract")
            assert "cannot list this server's replicas" in r.err, r.describe()
        finally:
            mdb.admin_query(f"GRANT REPLICATION MASTER ADMIN ON *.* TO '{APP_USER}'@'%'")

        # a replica named in the URL that cannot be reached: unreadable, named
        gone = project_at(migrate_bin, mdb, tmp_path / "p",
                          mdb.url + f"?replica=127.0.0.1:{closed_port}",
                          env=MYSQL_DIALECTS["mariadb"])
        blue = colours(gone)["blue"]
        assert (blue["alive"], blue["sessions"]) == (True, "unknown"), blue
        assert f"on replica 127.0.0.1:{closed_port}: " in blue["reason"], blue
        assert f"check that replica 127.0.0.1:{closed_port} runs" in blue["sessions_hint"], blue
    finally:
        reader.close()
    wait_colour(p, "blue", lambda c: c["alive"] is False, "died")
    p.ok("contract")
    assert phase(p) == "contracted"
    mdb.drop()

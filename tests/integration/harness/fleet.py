"""Fleets of databases (issue 17), for test_fleet.py and
tests/bench/fleet_bench.py: many databases on one server of each kind,
each holding the table items (id, v = id) with a given number of rows,
built with as few statements as the server allows.

- seed_items(database, rows): create and fill items in one database (a
  pg.Database or a mariadb.MysqlDatabase), then close its connections
  (a fleet keeps none open between steps).
- pg_databases(server, n, rows, label): one seeded template, then n
  copies of it (`CREATE DATABASE ... TEMPLATE`: one statement each),
  owned by app; the databases and the template (the caller drops it).
- mariadb_databases(server, n, rows, label): n databases created, granted
  to app and filled over one root connection.
"""

import uuid

from .mariadb import MysqlDatabase, _mysql_grant_db
from .pg import Database
from .secrets import APP_USER


def _items_sql(kind, rows):
    """The statements that create items and fill it with rows rows."""
    if kind == "pg":
        return ["CREATE TABLE items (id integer PRIMARY KEY, v integer NOT NULL)",
                f"INSERT INTO items SELECT g, g FROM generate_series(1, {int(rows)}) g"]
    return ["CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL)",
            f"INSERT INTO items SELECT seq, seq FROM seq_1_to_{int(rows)}"]


def seed_items(database, rows):
    for sql in _items_sql(database.kind, rows):
        database.execute(sql)
    database.close()


def pg_databases(server, n, rows, label):
    template = server.new_database(f"{label}tpl")
    seed_items(template, rows)
    names = [f"{template.name}_{i}" for i in range(n)]
    with server.admin() as c:
        for name in names:
            c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template.name}" OWNER {APP_USER}')
    return [Database(server, name) for name in names], template


def mariadb_databases(server, n, rows, label):
    dbs = []
    with server.admin() as c, c.cursor() as cur:
        for i in range(n):
            d = MysqlDatabase(server, f"f{uuid.uuid4().hex[:10]}_{label}{i}")
            cur.execute(f"CREATE DATABASE `{d.name}`")
            cur.execute(f"GRANT ALL PRIVILEGES ON {_mysql_grant_db(d.name)}.* TO '{APP_USER}'@'%'")
            cur.execute(f"USE `{d.name}`")
            for sql in _items_sql(MysqlDatabase.kind, rows):
                cur.execute(sql)
            dbs.append(d)
    return dbs

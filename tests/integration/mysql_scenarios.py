"""The MariaDB catalog and the rename scenario's table and writers, shared by
the operation scenarios (test_mysql_ops.py and the files parametrised by
target: test_add_column.py, test_alter_column.py, test_drop_column.py,
test_rename_column.py, test_rollback.py, test_create_index.py,
test_sql_op.py, test_mysql_dialect.py): columns, indexes, triggers and a
schema snapshot read from information_schema, leftovers of migrate, the
history phase, and the users table with its user trigger and the blue and
green writers of a rename.
"""

import json
import re
import threading
import time

import pytest

from conftest import Watch
from writers import (Writer, assert_rows, merged_expectations, paused, running,
                     wait_for_ops)

SEED = 3000
MARKER = "_migrate_1"
KILLED = (-9, 137)

RENAME_FILE = "0001_rename_user_name.yaml"
RENAME_MIGRATION = """
description: Rename users.user_name to users.username
operations:
  - rename_column:
      table: users
      from: user_name
      to: username
"""

# the users table of the rename scenarios: a default on the renamed
# column, an index on it, and a BEFORE INSERT trigger of the user's own
# (it does not name user_name, so expand may carry on)
USERS_DDL = """
CREATE TABLE users (
    id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_name varchar(100) NOT NULL DEFAULT 'anon',
    email varchar(200) NULL,
    KEY users_user_name_idx (user_name)
) ENGINE=InnoDB
"""
USER_TRIGGER = """
CREATE TRIGGER users_email_lower BEFORE INSERT ON users FOR EACH ROW
SET NEW.email = LOWER(NEW.email)
"""


# ---------------------------------------------------------------------------
# writers: writers.Writer, as on PostgreSQL


def my_writer(db, label, insert, update, **kw):
    """writers.Writer over a pymysql connection: insert and update get a
    cursor (cursor.lastrowid, rowcount); the pace these scenarios were
    tuned for unless told."""
    kw.setdefault("sleep", (0.0005, 0.003))
    return Writer(db.connect, label, insert, update, cursor=True, **kw)


# ---------------------------------------------------------------------------
# the catalog


def seed(db, sql, rows):
    with db.connect(program_name="pytest-seed") as c, c.cursor() as cur:
        cur.executemany(sql, rows)


def columns(db, table):
    """{column: (column_type, is_nullable, column_default)}"""
    rows = db.admin_query(
        "SELECT column_name, column_type, is_nullable, column_default"
        "  FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s"
        " ORDER BY ordinal_position", (db.name, table))
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def indexes(db, table):
    """{index name: [columns in order]}"""
    out = {}
    for name, col in db.admin_query(
            "SELECT index_name, column_name FROM information_schema.statistics"
            " WHERE table_schema = %s AND table_name = %s"
            " ORDER BY index_name, seq_in_index", (db.name, table)):
        out.setdefault(name, []).append(col)
    return out


def triggers(db):
    """[(name, table, timing, event, statement)] of this database."""
    return [tuple(r) for r in db.admin_query(
        "SELECT trigger_name, event_object_table, action_timing,"
        "       event_manipulation, action_statement"
        "  FROM information_schema.triggers WHERE trigger_schema = %s"
        " ORDER BY trigger_name", (db.name,))]


def user_tables(db):
    return [t for t in db.tables() if t != "_migrate_history"]


def schema_snapshot(db):
    """Everything a user sees of the schema: each table's definition
    (SHOW CREATE TABLE: columns, types, defaults, NOT NULL, indexes,
    constraints; the AUTO_INCREMENT counter left out), the triggers in
    their order, and the stored routines."""
    out = {"tables": user_tables(db)}
    for t in out["tables"]:
        ddl = db.admin_query("SHOW CREATE TABLE `%s`" % t)[0][1]
        out["table " + t] = re.sub(r" AUTO_INCREMENT=\d+", "", ddl)
    out["triggers"] = db.admin_query(
        "SELECT trigger_name, event_object_table, action_timing,"
        "       event_manipulation, action_order, action_statement"
        "  FROM information_schema.triggers WHERE trigger_schema = %s"
        " ORDER BY event_object_table, action_timing, event_manipulation,"
        "          action_order", (db.name,))
    out["routines"] = db.admin_query(
        "SELECT routine_name, routine_type FROM information_schema.routines"
        " WHERE routine_schema = %s ORDER BY 1", (db.name,))
    return out


def leftovers(db, own_triggers=()):
    """migrate's marker columns, triggers (any not in own_triggers) and
    routines still in the database."""
    out = ["column %s.%s" % tuple(r) for r in db.admin_query(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = %s AND LEFT(column_name, 9) = '_migrate_'",
        (db.name,))]
    out += ["trigger %s on %s" % (t[0], t[1]) for t in triggers(db)
            if t[0] not in own_triggers]
    out += ["routine %s" % r[0] for r in db.admin_query(
        "SELECT routine_name FROM information_schema.routines"
        " WHERE routine_schema = %s", (db.name,))]
    out += ["table %s" % t for t in user_tables(db)
            if "migrate" in t.lower()]
    return out


def assert_no_leftovers(db, own_triggers=()):
    left = leftovers(db, own_triggers)
    assert not left, "left behind: %s" % ", ".join(left)


def history_phase(db, mid=1):
    if "_migrate_history" not in db.tables():
        return None
    rows = db.admin_query("SELECT phase FROM `_migrate_history`"
                          " WHERE migration_id = %s", (mid,))
    return rows[0][0] if rows else None


def phase_of(project, mid=1):
    return project.phases().get(mid)


def step(project, command, state, *args):
    project.ok(command, "1", *args)
    assert phase_of(project) == state, \
        "after %s, status --json says %r, not %r" % (command, phase_of(project), state)


def marker_counts(db, table="users"):
    """(rows at marker 0, rows at marker 1 or 2)"""
    r = db.query("SELECT SUM(`%s` = 0), SUM(`%s` <> 0) FROM `%s`"
                 % (MARKER, MARKER, table))[0]
    return int(r[0] or 0), int(r[1] or 0)


# ---------------------------------------------------------------------------
# the rename writers: blue names user_name only, green username only


def _blue_email(i):
    return "Blue-%d@Example.COM" % i


def _green_email(i):
    return "Green-%d@Example.COM" % i


def rename_blue_insert(cur, i):
    if i % 10 == 0:     # leaves user_name to its default
        cur.execute("INSERT INTO users (email) VALUES (%s)", (_blue_email(i),))
        return cur.lastrowid, "anon"
    name = "blue-%d" % i
    cur.execute("INSERT INTO users (user_name, email) VALUES (%s, %s)",
                (name, _blue_email(i)))
    return cur.lastrowid, name


def rename_blue_update(cur, rng, row_id, last):
    cur.execute("SELECT user_name FROM users WHERE id = %s", (row_id,))
    seen = cur.fetchone()
    assert seen == (last,), "blue reads back %r, wrote %r" % (seen, last)
    name = "blue-u%d" % rng.randrange(10 ** 9)
    cur.execute("UPDATE users SET user_name = %s WHERE id = %s", (name, row_id))
    assert cur.rowcount == 1, cur.rowcount
    return name


def rename_green_insert(cur, i):
    if i % 10 == 0:     # leaves username out: the old default fills both
        cur.execute("INSERT INTO users (email) VALUES (%s)", (_green_email(i),))
        return cur.lastrowid, "anon"
    name = "green-%d" % i
    cur.execute("INSERT INTO users (username, email) VALUES (%s, %s)",
                (name, _green_email(i)))
    return cur.lastrowid, name


def rename_green_update(cur, rng, row_id, last):
    # green reads back only rows it wrote itself (complete on the new side
    # even before switch-reads)
    cur.execute("SELECT username FROM users WHERE id = %s", (row_id,))
    seen = cur.fetchone()
    assert seen == (last,), "green reads back %r, wrote %r" % (seen, last)
    name = "green-u%d" % rng.randrange(10 ** 9)
    cur.execute("UPDATE users SET username = %s WHERE id = %s", (name, row_id))
    assert cur.rowcount == 1, cur.rowcount
    return name


def setup_rename_users(db, n=SEED, user_trigger=True):
    """The users table with n rows; {id: user_name}."""
    db.execute(USERS_DDL)
    if user_trigger:
        db.execute(USER_TRIGGER)
    seed(db, "INSERT INTO users (user_name, email) VALUES (%s, %s)",
         [("seed-%d" % g, "Seed-%d@Example.com" % g) for g in range(1, n + 1)])
    return dict(db.query("SELECT id, user_name FROM users"))


def rename_blue(db, owned):
    return my_writer(db, "blue", rename_blue_insert, rename_blue_update,
                    owned=owned)


def rename_green(db):
    return my_writer(db, "green", rename_green_insert, rename_green_update)


def check_rename_views(db, blue, green, since_expand, all_copied,
                       old_exists=True, new_exists=True, others=()):
    """With the writers paused: blue's view (user_name) holds the last
    value of every row, green's too (username) for the rows written since
    expand, and for every row once all_copied; the user's trigger
    lower-cased every inserted email."""
    with paused(blue, green, *others):
        exp = merged_expectations(blue, green, *others)
        if old_exists:
            old = dict(db.query("SELECT id, user_name FROM users"))
            assert_rows(old, exp, "user_name (blue's view)")
        if new_exists:
            new = dict(db.query("SELECT id, username FROM users"))
            assert set(new) == set(exp), "rows lost or added in green's view"
            if all_copied:
                assert_rows(new, exp, "username (green's view)")
            else:
                recent = set(green.expected) | blue.written_since(since_expand)
                assert_rows({k: new[k] for k in recent},
                            {k: exp[k] for k in recent},
                            "username (green's view) of rows written since expand")
        emails = dict(db.query("SELECT id, email FROM users"))
        for w, mail in ((blue, _blue_email), (green, _green_email)):
            _, ids = w.snapshot()
            want = {}
            # the email was made from the insert's counter, which the name
            # carries (rows inserted with the default name are left out)
            for k in ids:
                v = w.first[k]
                m = re.match(r"(blue|green)-(\d+)$", v)
                if m:
                    want[k] = mail(int(m.group(2))).lower()
            bad = {k: emails.get(k) for k, v in want.items() if emails.get(k) != v}
            assert not bad, ("the user's trigger did not lower-case the email"
                             " of %s's rows: %r" % (w.label, list(bad.items())[:5]))


# ---------------------------------------------------------------------------
# 2. add_column

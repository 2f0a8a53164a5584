"""A renamed column that other objects depend on.

users.user_name has a plain index, a UNIQUE constraint and an inbound
foreign key (profiles.user_name REFERENCES users(user_name)). Renaming it to
username under traffic (blue and green also insert profiles for existing
users throughout):
- after expand, username has copies of the index and the unique index;
- after switch-reads the copies are valid and profiles has a validated FK to
  users(username);
- after contract no constraint refers to the dropped column, the unique
  constraint and the FK are on username, and the FK works.
A view on the old column makes expand refuse (exit 1) naming the view, and
changes nothing.
"""

import psycopg
import pytest

from writers import (RENAME_MIGRATION, Writer, assert_no_leftovers,
                     assert_rows, merged_expectations, rename_blue_insert,
                     rename_blue_update, rename_green_insert,
                     rename_green_update, run_phases)

SEED = 2000
MARKER = "_migrate_1"
FILE = "0001_rename_user_name.yaml"


def make_schema(db, n=SEED):
    db.execute("CREATE TABLE users (id bigserial PRIMARY KEY,"
               " user_name text NOT NULL, email text)")
    db.execute("CREATE INDEX users_user_name_idx ON users (user_name)")
    db.execute("ALTER TABLE users ADD CONSTRAINT users_user_name_key"
               " UNIQUE (user_name)")
    db.execute("CREATE TABLE profiles (id bigserial PRIMARY KEY,"
               " user_name text NOT NULL REFERENCES users (user_name),"
               " bio text)")
    db.execute("INSERT INTO users (user_name, email)"
               " SELECT 'seed-' || g, 'seed-' || g || '@example.com'"
               "   FROM generate_series(1, %d) g" % n)
    db.execute("INSERT INTO profiles (user_name, bio)"
               " SELECT 'seed-' || g, 'bio ' || g"
               "   FROM generate_series(1, %d, 3) g" % n)
    return dict(db.query("SELECT id, user_name FROM users"))


def attnum(db, table, column):
    rows = db.query("SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass"
                    " AND attname = %s AND NOT attisdropped", (table, column))
    return rows[0][0] if rows else None


def indexes_on(db, column):
    """[(name, unique, valid)] of the indexes of users on exactly column."""
    n = attnum(db, "users", column)
    assert n is not None, "users.%s does not exist" % column
    return sorted(db.query(
        "SELECT c.relname, i.indisunique, i.indisvalid FROM pg_index i"
        "  JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = 'users'::regclass"
        "   AND i.indnatts = 1 AND i.indkey[0] = %s"
        "   AND i.indexprs IS NULL AND i.indpred IS NULL", (n,)))


def fks_to(db, column):
    """[(name, validated)] of FKs from profiles(user_name) to users(column)."""
    return db.query(
        "SELECT conname, convalidated FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid = 'profiles'::regclass"
        "   AND confrelid = 'users'::regclass"
        "   AND conkey = ARRAY[%s]::int2[] AND confkey = ARRAY[%s]::int2[]",
        (attnum(db, "profiles", "user_name"), attnum(db, "users", column)))


def profile_adder(colour, counter):
    """Wrap a users insert: also add a profile for an existing (seeded,
    never updated) user, the FK being checked on every one."""
    def add(conn, i):
        who = "seed-%d" % ((i * 7919) % SEED + 1)
        conn.execute("INSERT INTO profiles (user_name, bio) VALUES (%s, %s)",
                     (who, "%s bio %d" % (colour, i)))
        counter.append(i)
    return add


def test_rename_with_index_unique_and_inbound_fk(db, project):
    make_schema(db)
    seeded = dict(db.query("SELECT id, user_name FROM users"))
    profiles_before = db.query("SELECT count(*) FROM profiles")[0][0]
    project.write(FILE, RENAME_MIGRATION)

    blue_profiles, green_profiles = [], []
    add_blue = profile_adder("blue", blue_profiles)
    add_green = profile_adder("green", green_profiles)

    def blue_insert(conn, i):
        add_blue(conn, i)
        return rename_blue_insert(conn, i)

    def green_insert(conn, i):
        add_green(conn, i)
        return rename_green_insert(conn, i)

    # blue owns no seeded rows here: profiles reference them, so they are
    # never renamed (no ON UPDATE CASCADE)
    blue = Writer(db.connect, "blue", blue_insert, rename_blue_update)
    green = Writer(db.connect, "green", green_insert, rename_green_update)

    def expanded():
        copies = indexes_on(db, "username")
        assert sorted(u for _, u, _ in copies) == [False, True], \
            "username needs a copy of the index and of the unique index: %r" \
            % copies

    def switched():
        copies = indexes_on(db, "username")
        assert sorted(u for _, u, _ in copies) == [False, True], copies
        assert all(v for _, _, v in copies), "invalid copies: %r" % copies
        fks = fks_to(db, "username")
        assert fks and all(v for _, v in fks), \
            "profiles needs a validated FK to users(username): %r" % fks
        bad = db.query("SELECT count(*) FROM users WHERE username IS DISTINCT"
                       " FROM user_name OR %s = 0" % MARKER)
        assert bad == [(0,)], bad

    def contracted():
        assert attnum(db, "users", "user_name") is None
        # no constraint left on a dropped column, on either side
        dangling = db.query(
            "SELECT c.conname FROM pg_constraint c"
            "  JOIN pg_attribute a ON (a.attrelid = c.conrelid"
            "                          AND a.attnum = ANY(c.conkey))"
            "                      OR (a.attrelid = c.confrelid"
            "                          AND a.attnum = ANY(c.confkey))"
            " WHERE a.attisdropped")
        assert dangling == [], dangling
        n = attnum(db, "users", "username")
        uniq = db.query("SELECT conname FROM pg_constraint"
                        " WHERE conrelid = 'users'::regclass AND contype = 'u'"
                        "   AND conkey = ARRAY[%s]::int2[]", (n,))
        assert len(uniq) == 1, "unique constraint on username: %r" % uniq
        fks = fks_to(db, "username")
        assert len(fks) == 1 and fks[0][1], fks
        copies = indexes_on(db, "username")
        assert sorted(u for _, u, _ in copies) == [False, True], copies
        assert_no_leftovers(db)

    run_phases(project, 1, blue, green, batch_size=50, expanded=expanded,
               switched=switched, contracted=contracted)

    expected = merged_expectations(blue, green)
    expected.update(seeded)
    assert_rows(dict(db.query("SELECT id, username FROM users")), expected,
                "username")
    assert db.query("SELECT count(*) FROM profiles") == [
        (profiles_before + len(blue_profiles) + len(green_profiles),)]

    # the FK and the unique constraint work on the new column
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        db.execute("INSERT INTO profiles (user_name, bio)"
                   " VALUES ('nobody-by-this-name', 'x')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("INSERT INTO users (username) VALUES ('seed-1')")
    db.execute("INSERT INTO profiles (user_name, bio) VALUES ('seed-2', 'ok')")


def test_view_on_old_column_refuses_expand(db, project):
    make_schema(db, 100)
    db.execute("CREATE VIEW active_user_names AS SELECT user_name FROM users")
    before = db.snapshot()
    project.write(FILE, RENAME_MIGRATION)

    r = project.expect(1, "expand", "1")
    assert "active_user_names" in r.err, \
        "the refusal must name the view on stderr\n" + r.describe()
    assert db.snapshot() == before, "a refused expand changed the schema"
    assert project.phases()[1] == "pending"

"""A migrations project bound to one database, and the common example
(users.user_name -> users.username) that many scenarios start from."""

import hashlib
import json
import subprocess
import textwrap
from pathlib import Path

from harness.env import _clean_env
from harness.result import Runner, _CheckedPopen


class Project(Runner):
    def __init__(self, bin_path, db, root, env=None):
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(bin_path, root)
        self.db = db
        self.env = dict(env or {})   # every run's; a run's own env= wins
        self.dir = root
        self.migrations = root / "migrations"
        self.migrations.mkdir(exist_ok=True)
        self.state = root / ".migrate" / "state.db"

    def base_args(self):
        return ["-d", self.db.url, "-m", str(self.migrations),
                "--state", str(self.state)]

    def write(self, filename, text):
        """Write a migration file (text dedented, a leading newline dropped)."""
        path = self.migrations / filename
        body = textwrap.dedent(text)
        if body.startswith("\n"):
            body = body[1:]
        path.write_text(body)
        return path

    def checksum(self, filename):
        return hashlib.sha256((self.migrations / filename).read_bytes()).hexdigest()

    def _env(self, env, fault):
        e = dict(self.env)
        e.update(env or {})
        if fault is not None:
            e["MIGRATE_FAULT"] = fault
        return e

    def run(self, *args, env=None, timeout=120, fault=None):
        return self.run_raw(*self.base_args(), *args, env=self._env(env, fault),
                            timeout=timeout)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.rc == 0, "expected exit 0\n" + r.describe()
        return r

    def expect(self, code, *args, **kw):
        r = self.run(*args, **kw)
        assert r.rc == code, f"expected exit {code}\n" + r.describe()
        return r

    def json(self, *args, **kw):
        r = self.ok("--json", *args, **kw)
        try:
            return json.loads(r.out)
        except ValueError as e:
            raise AssertionError(f"stdout is not one JSON document: {e}\n"
                                 + r.describe()) from None

    def popen(self, *args, env=None, fault=None, **kw):
        """Start migrate in the background (stdout/stderr piped, text)."""
        argv = [self.bin, *self.base_args(), *map(str, args)]
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return _CheckedPopen(argv, cwd=str(self.dir),
                             env=_clean_env(self._env(env, fault)),
                             stdin=subprocess.DEVNULL, text=True,
                             errors="replace", **kw)

    def phases(self):
        """{id: phase} from `status --json`."""
        return {m["id"]: m["phase"] for m in self.json("status")["migrations"]}


# --------------------------------------------------------------------------
# the common example: users.user_name -> users.username

USERS_DDL = """
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    user_name text NOT NULL,
    email text
)"""

USERS_ROWS = [("alice", "alice@example.com"), ("bob", "bob@example.com"),
              ("carol", None), ("dave", "dave@example.com"), ("eve", None)]

RENAME_FILE = "0001_rename_user_name.yaml"
RENAME_YAML = """
description: Rename users.user_name to users.username
operations:
  - rename_column:
      table: users
      from: user_name
      to: username
"""


def seed_users(database):
    database.execute(USERS_DDL)
    with database.connect() as c:
        with c.cursor() as cur:
            cur.executemany("INSERT INTO users (user_name, email) VALUES (%s, %s)",
                            USERS_ROWS)


def columns_of(database, table, schema="public"):
    return [r[0] for r in database.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table))]

"""Scaffolding (issue 14): `migrate init` writes migrate.yaml and the
migrations folder, `migrate new` the next numbered migration file with an
operation's keys. No server: everything here is offline, and every file
written is checked by the loader (`migrate lint FILE`, `migrate check
--offline`).

The promise of `new`: a file written with every required value given on
the command line loads and passes lint; a file with a required value left
out is refused by the loader at that value's line and column until it is
filled in; never a file that passes with a value missing.
"""

import json
import os
import re
import subprocess

import pytest

# One command line per operation with its required keys. The test below
# checks that this covers every operation `new` knows, so a new operation
# needs a line here.
REQUIRED = {
    "add_column": ["--table", "orders", "--column", "priority", "--type", "smallint"],
    "rename_column": ["--table", "users", "--from", "user_name", "--to", "username"],
    "alter_column": ["--table", "users", "--column", "score", "--type", "bigint"],
    "drop_column": ["--table", "users", "--column", "legacy_flag"],
    "create_index": ["--table", "users", "--name", "users_email_idx", "--columns", "email"],
    "sql": ["--expand", "CREATE OR REPLACE VIEW active_users AS SELECT id FROM users",
            "--rollback", "DROP VIEW IF EXISTS active_users"],
    "drop_index": ["--table", "users", "--name", "users_email_idx"],
    "create_table": ["--table", "orders", "--columns", "id:bigint, total:numeric(10,2)"],
    "drop_table": ["--table", "legacy"],
    "rename_table": ["--table", "accounts", "--to", "customers"],
    "drop_not_null": ["--table", "users", "--column", "email"],
    "set_default": ["--table", "users", "--column", "status", "--default", "'new'"],
    "drop_default": ["--table", "users", "--column", "status"],
    "set_comment": ["--table", "users", "--comment", "one row per person: see #12"],
    "set_replica_identity": ["--table", "users", "--identity", "full"],
    "drop_constraint": ["--table", "users", "--name", "users_age_check"],
    "rename_constraint": ["--table", "users", "--from", "users_age_check",
                          "--to", "users_age_positive"],
    "set_not_null": ["--table", "accounts", "--column", "email",
                     "--up", "'unknown@example.com'"],
    "add_check": ["--table", "accounts", "--column", "score", "--name",
                  "accounts_score_positive", "--check", "score >= 0", "--up", "0"],
    "add_unique": ["--table", "accounts", "--columns", "email", "--name",
                   "accounts_email_key"],
    "add_foreign_key": ["--table", "accounts", "--columns", "customer_id", "--name",
                        "accounts_customer_fk", "--references-table", "customers",
                        "--references-columns", "id"],
}


class Dir:
    """A project folder: runs the binary there."""

    def __init__(self, migrate_bin, path):
        self.bin = migrate_bin
        self.path = path
        self.migrations = path / "migrations"

    def run(self, *args, env=None):
        e = {k: v for k, v in os.environ.items()
             if k not in ("MIGRATE_DATABASE_URL", "DATABASE_URL", "MIGRATE_DIR")}
        e.update(env or {})
        return subprocess.run([self.bin, *args], cwd=self.path, capture_output=True,
                              text=True, timeout=60, env=e)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, f"migrate {' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def fails(self, code, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == code, f"migrate {' '.join(args)}: exit {r.returncode}, not {code}\n{r.stdout}\n{r.stderr}"
        return r

    def files(self):
        return sorted(p.name for p in self.migrations.iterdir() if not p.name.startswith("."))

    def new(self, *args):
        """`migrate new --json ...`: the document."""
        return json.loads(self.ok("new", "--json", *args).stdout)


@pytest.fixture
def proj(migrate_bin, tmp_path):
    d = Dir(migrate_bin, tmp_path)
    d.ok("init")
    return d


def loader_keys(proj, op):
    """The keys the loader takes for op, from its own refusal of an unknown key."""
    proj.migrations.joinpath("0999_probe.yaml").write_text(
        f"operations:\n  - {op}:\n      zz_not_a_key: 1\n")
    r = proj.fails(2, "check", "--offline")
    proj.migrations.joinpath("0999_probe.yaml").unlink()
    m = re.search(r"expected one of: ([a-z_, ]+)\)", r.stderr)
    assert m, r.stderr
    return m.group(1).split(", ")


# ---- init -------------------------------------------------------------------

def test_init_writes_config_and_folder_that_load(migrate_bin, tmp_path):
    d = Dir(migrate_bin, tmp_path)
    r = d.ok("init")
    assert (tmp_path / "migrate.yaml").is_file()
    assert (tmp_path / "migrations" / ".gitkeep").is_file()
    assert "wrote migrate.yaml" in r.stdout
    assert "next: migrate new" in r.stdout
    # the project as written passes the offline gate and lint
    assert "0 migration file(s) in 'migrations'" in d.ok("check", "--offline").stdout
    # nothing in the folder is a file migrate would not read (.gitkeep)
    assert json.loads(d.ok("lint", "--format", "json").stdout)["findings"] == []


def test_init_config_names_every_setting_and_its_defaults_load(migrate_bin, tmp_path):
    d = Dir(migrate_bin, tmp_path)
    d.ok("init", "--database", "postgres://app@localhost:5432/app")
    text = (tmp_path / "migrate.yaml").read_text()
    assert re.search(r'^database: "postgres://app@localhost:5432/app"$', text, re.M)
    # every key config.c reads is in the file (the list from its own refusal)
    (tmp_path / "migrate.yaml").write_text(text + "zz_not_a_setting: 1\n")
    r = d.fails(2, "check", "--offline")
    known = re.search(r"expected one of: ([a-z_, ]+)\)", r.stderr).group(1).split(", ")
    written = set(re.findall(r"^(?:# )?([a-z_]+): ", text, re.M))
    assert set(known) <= written, set(known) - written
    # uncommented, every default shown is a value migrate takes
    uncommented = re.sub(r"^# ([a-z_]+: )", r"\1", text, flags=re.M)
    uncommented = "\n".join(l for l in uncommented.splitlines()
                            if not l.startswith("database: \"mysql"))
    (tmp_path / "migrate.yaml").write_text(uncommented + "\n")
    d.ok("check", "--offline")


def test_init_refuses_to_overwrite_then_force_replaces(migrate_bin, tmp_path):
    d = Dir(migrate_bin, tmp_path)
    (tmp_path / "migrate.yaml").write_text("migrations: mine\n")
    r = d.fails(2, "init")
    assert "'migrate.yaml' exists" in r.stderr and "--force" in r.stderr
    assert (tmp_path / "migrate.yaml").read_text() == "migrations: mine\n"
    assert not (tmp_path / "migrations").exists()
    # a broken file is what --force is for: init reads no settings
    (tmp_path / "migrate.yaml").write_text("migrations: [\n")
    d.fails(2, "init")
    r = d.ok("init", "--force")
    assert "replaced migrate.yaml" in r.stdout
    assert json.loads(d.ok("init", "--force", "--json").stdout) == {
        "command": "init", "config": "migrate.yaml", "migrations": "migrations",
        "replaced": True}
    assert "migrations: \"migrations\"" in (tmp_path / "migrate.yaml").read_text()
    d.ok("check", "--offline")


def test_init_force_keeps_the_migrations(migrate_bin, tmp_path):
    d = Dir(migrate_bin, tmp_path)
    d.ok("init")
    d.ok("new", "add_x", "--op", "drop_table", "--table", "x")
    d.ok("init", "--force")
    assert d.files() == ["0001_add_x.yaml"]


def test_init_never_writes_a_password(migrate_bin, tmp_path):
    d = Dir(migrate_bin, tmp_path)
    for url in ("postgres://app:s3cret-pw@db:5432/app", "host=db password=s3cret-pw dbname=app",
                "mysql://app:s3cret-pw@db/app", "postgres://app@db/app?password=s3cret-pw"):
        r = d.fails(2, "init", "--database", url)
        assert "holds a password" in r.stderr and "PGPASSWORD" in r.stderr
        assert "s3cret-pw" not in r.stderr + r.stdout
        assert not (tmp_path / "migrate.yaml").exists()
    # a URL from the environment is not the command line's: never written
    d.ok("init", env={"MIGRATE_DATABASE_URL": "postgres://app:s3cret-pw@db/app"})
    text = (tmp_path / "migrate.yaml").read_text()
    assert "s3cret-pw" not in text
    assert not re.search(r"^database:", text, re.M)
    assert "${APP_DB_PASSWORD}" in text     # the placeholder shows the way


def test_init_dir_and_config_path(migrate_bin, tmp_path):
    d = Dir(migrate_bin, tmp_path)
    (tmp_path / "deploy").mkdir()
    d.ok("init", "--dir", "db/migrations", "--config", "deploy/migrate.yaml")
    assert (tmp_path / "db" / "migrations" / ".gitkeep").is_file()
    assert 'migrations: "db/migrations"' in (tmp_path / "deploy" / "migrate.yaml").read_text()
    # new finds the folder through that file
    r = d.ok("--config", "deploy/migrate.yaml", "new", "first", "--op", "drop_table",
             "--table", "t")
    assert "db/migrations/0001_first.yaml" in r.stdout
    d.fails(2, "init", "extra")


def test_help_of_init_and_new(migrate_bin, tmp_path):
    d = Dir(migrate_bin, tmp_path)
    assert "usage: migrate init" in d.ok("init", "--help").stdout
    out = d.ok("new", "--help").stdout
    assert "usage: migrate new NAME" in out and "--op OPERATION" in out
    top = d.ok("--help").stdout
    assert re.search(r"^  init ", top, re.M) and re.search(r"^  new ", top, re.M)
    assert not (tmp_path / "migrate.yaml").exists()


# ---- new: every operation -----------------------------------------------------

def test_required_table_covers_every_operation(proj):
    doc = proj.new("list")
    text = (proj.path / doc["path"]).read_text()
    listed = re.findall(r"^  #   ([a-z_]+) ", text, re.M)
    assert sorted(listed) == sorted(REQUIRED), set(listed) ^ set(REQUIRED)


@pytest.mark.parametrize("op", sorted(REQUIRED))
def test_new_with_required_values_loads_and_passes_lint(proj, op):
    doc = proj.new(f"step_{op}", "--op", op, *REQUIRED[op])
    assert doc["fill_in"] == [] and doc["loads"] is True
    path = proj.path / doc["path"]
    assert path.name == f"0001_step_{op}.yaml"
    text = path.read_text()
    # every key the loader takes for op is in the file, set or commented
    for key in loader_keys(proj, op):
        assert re.search(rf"^ +(# )?{key}:", text, re.M), f"{key} missing:\n{text}"
    for dialect in ("postgres", "mysql"):
        proj.ok("lint", "--dialect", dialect, str(path))
    proj.ok("check", "--offline")


@pytest.mark.parametrize("op", sorted(REQUIRED))
def test_new_without_values_is_refused_at_the_empty_value(proj, op):
    doc = proj.new("todo", "--op", op)
    assert doc["loads"] is False and doc["fill_in"], doc
    first = doc["fill_in"][0]
    name = doc["path"].split("/")[-1]
    lines = (proj.path / doc["path"]).read_text().splitlines()
    assert re.match(rf"^ *{first['key']}:$", lines[first["line"] - 1]), lines[first["line"] - 1]
    r = proj.fails(2, "check", "--offline")
    assert re.search(rf"{name}:{first['line']}:\d+", r.stderr), r.stderr
    r = proj.fails(1, "lint", "--format", "json", doc["path"])
    findings = json.loads(r.stdout)["findings"]
    assert [(f["rule"], f["line"]) for f in findings] == [("file-invalid", first["line"])]


def test_partly_given_values_leave_the_rest_to_fill_in(proj):
    r = proj.ok("new", "add_total", "--op", "add_column", "--table", "orders")
    assert "fill in: column (line" in r.stdout and "type (line" in r.stdout
    assert "next: migrate lint migrations/0001_add_total.yaml, once filled in" in r.stdout
    # alter_column with `to` needs up and down: left to fill in
    doc = proj.new("widen", "--op", "alter_column", "--table", "t", "--column", "a",
                   "--type", "bigint", "--to", "a_big")
    assert [f["key"] for f in doc["fill_in"]] == ["up", "down"]
    doc = proj.new("ident", "--op", "set_replica_identity", "--table", "t",
                   "--identity", "index")
    assert [f["key"] for f in doc["fill_in"]] == ["index"]


def test_values_with_yaml_syntax_round_trip(proj):
    import yaml
    doc = proj.new("tricky", "--op", "add_column", "--table", "public.orders", "--column",
                   "note", "--type", 'varchar(20) COLLATE "C"', "--default",
                   "'a: b' || '#c' || \"q\" || '\\'", "--nullable", "false",
                   "--drops", "v1, v2", "--description", "Tricky: \"quotes\" # not a comment")
    assert doc["loads"] is True
    parsed = yaml.safe_load((proj.path / doc["path"]).read_text())
    op = parsed["operations"][0]["add_column"]
    assert op == {"table": "public.orders", "column": "note", "type": 'varchar(20) COLLATE "C"',
                  "default": "'a: b' || '#c' || \"q\" || '\\'", "nullable": False,
                  "drops": ["v1", "v2"]}
    assert parsed["description"] == "Tricky: \"quotes\" # not a comment"


def test_booleans_lists_and_maps(proj):
    import yaml
    doc = proj.new("idx", "--op", "create_index", "--table", "t", "--name", "t_a_b",
                   "--columns", "a,b", "--unique", "--constraint=true",
                   "--storage", "fillfactor=70", "--include", "c")
    op = yaml.safe_load((proj.path / doc["path"]).read_text())["operations"][0]["create_index"]
    assert op == {"table": "t", "name": "t_a_b", "columns": ["a", "b"], "unique": True,
                  "constraint": True, "storage": {"fillfactor": 70}, "include": ["c"]}
    proj.ok("lint", doc["path"])
    r = proj.fails(2, "new", "bad", "--op", "create_index", "--unique=maybe")
    assert "'--unique'" in r.stderr and "true or false" in r.stderr
    r = proj.fails(2, "new", "bad", "--op", "create_table", "--table", "t", "--columns", "id")
    assert "name:type" in r.stderr
    assert proj.files() == ["0001_idx.yaml"]


@pytest.mark.parametrize("args,says", [
    (["--op", "alter_column", "--table", "t", "--column", "c", "--type", "bigint",
      "--down", "c::int"], "'down' at migrations/0001_x.yaml:"),
    (["--op", "set_replica_identity", "--table", "t", "--identity", "bogus"],
     "wrong value for 'identity'"),
    (["--op", "rename_column", "--table", "t", "--from", "a", "--to", "a"],
     "must differ from 'from'"),
    (["--op", "add_column", "--table", "t", "--column", "c", "--type", "int",
      "--nullable", "false"], "neither 'default' nor 'backfill'"),
])
def test_values_that_do_not_load_write_nothing(proj, args, says):
    r = proj.fails(2, "new", "x", *args)
    assert "migrations/0001_x.yaml not written, the values given do not load" in r.stderr
    assert says in r.stderr, r.stderr
    assert proj.files() == []


# ---- new: numbering and names -----------------------------------------------

def test_numbering_follows_the_highest_id_gaps_kept(proj):
    assert proj.new("a")["id"] == 1
    (proj.migrations / "0007_later.yaml").write_text("operations: []\n")
    (proj.migrations / "README.md").write_text("not a migration\n")
    (proj.migrations / ".0099_hidden.yaml").write_text("")
    doc = proj.new("b")
    assert doc["id"] == 8 and doc["path"] == "migrations/0008_b.yaml"
    assert proj.files() == ["0001_a.yaml", "0007_later.yaml", "0008_b.yaml", "README.md"]


def test_numbering_keeps_a_wider_width(proj):
    (proj.migrations / "00012_wide.yaml").write_text("operations: []\n")
    assert proj.new("next")["path"] == "migrations/00013_next.yaml"


def test_new_never_overwrites_and_leaves_other_files_alone(proj):
    proj.new("one", "--op", "drop_table", "--table", "a")
    before = (proj.migrations / "0001_one.yaml").read_bytes()
    proj.new("one", "--op", "drop_table", "--table", "b")
    assert (proj.migrations / "0001_one.yaml").read_bytes() == before
    assert proj.files() == ["0001_one.yaml", "0002_one.yaml"]


def test_names_are_normalised(proj):
    assert proj.new("Add-User  Email")["path"] == "migrations/0001_add_user_email.yaml"
    assert proj.new("_x_")["path"] == "migrations/0002_x.yaml"


@pytest.mark.parametrize("name,why", [
    ("a/b", "character"), ("add.yaml", "not a file name"), ("0003_add", "number already"),
    ("___", "no letter"), ("", "no letter"), ("café", "character"), ("x" * 101, "longer"),
])
def test_bad_names_are_refused_naming_the_argument(proj, name, why):
    r = proj.fails(2, "new", name)
    assert f"bad migration name '{name}' (argument NAME)" in r.stderr
    assert why in r.stderr
    assert proj.files() == []


def test_bad_command_lines(proj):
    assert "needs a NAME" in proj.fails(2, "new").stderr
    assert "unexpected argument 'b'" in proj.fails(2, "new", "a", "b").stderr
    assert "'--op' needs a value" in proj.fails(2, "new", "a", "--op").stderr
    assert "given twice" in proj.fails(2, "new", "a", "--op", "sql", "--op", "sql").stderr
    r = proj.fails(2, "new", "a", "--table", "t")
    assert "needs '--op'" in r.stderr
    r = proj.fails(2, "new", "a", "--op", "add_column", "--to", "x")
    assert "'--to' is not a key of add_column" in r.stderr and "--table" in r.stderr
    r = proj.fails(2, "new", "a", "--op", "add_column", "--colum", "x")
    assert "unknown option '--colum': did you mean '--column'?" in r.stderr
    assert proj.files() == []


@pytest.mark.parametrize("given,suggested", [
    ("add_colum", "'add_column'"), ("create_idx", "'create_index'"),
    ("rename", "'rename_column', 'rename_table', 'rename_constraint'"),
])
def test_unknown_operation_names_the_closest(proj, given, suggested):
    r = proj.fails(2, "new", "a", "--op", given)
    assert f"unknown operation '{given}' for '--op': did you mean {suggested}?" in r.stderr
    assert "add_foreign_key" in r.stderr     # the hint lists them all
    assert proj.files() == []


def test_new_without_op_lists_the_operations_and_does_not_load(proj):
    doc = proj.new("seed")
    assert doc["fill_in"] == [{"key": "operations", "line": doc["fill_in"][0]["line"]}]
    r = proj.fails(2, "check", "--offline")
    assert f"0001_seed.yaml:{doc['fill_in'][0]['line']}:" in r.stderr
    assert "must be a non-empty sequence" in r.stderr


def test_new_needs_the_migrations_folder(migrate_bin, tmp_path):
    d = Dir(migrate_bin, tmp_path)
    r = d.fails(2, "new", "a")
    assert "migrations folder 'migrations' does not exist" in r.stderr
    assert "migrate init" in r.stderr
    r = d.fails(2, "-m", "elsewhere", "new", "a")
    assert "'elsewhere'" in r.stderr


def test_the_words_init_and_new_elsewhere_on_the_line(migrate_bin, tmp_path):
    """Only the command takes init's and new's options: 'new' as the value
    of a global option, or as an argument of another command, is not it."""
    d = Dir(migrate_bin, tmp_path)
    (tmp_path / "new").mkdir()
    r = d.ok("-m", "new", "new", "x", "--op", "drop_table", "--table", "t")
    assert "wrote new/0001_x.yaml" in r.stdout
    r = d.fails(2, "log", "new", "--op", "sql")
    assert "option '--op' is not taken by 'log'; it is taken by: new" in r.stderr

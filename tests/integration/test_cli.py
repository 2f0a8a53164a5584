"""The command-line contract (design §4): help, version, usage errors, global
options anywhere, environment variables, exit status, secrets as ****."""

import json
import re

import pytest

from conftest import APP_PASSWORD, RENAME_FILE, columns_of

COMMANDS = ["status", "plan", "expand", "backfill", "switch-reads", "contract",
            "rollback"]


# --------------------------------------------------------------------------
# help and version need no database


def test_help(cli):
    r = cli.run_raw("--help")
    assert r.rc == 0, r.describe()
    for cmd in COMMANDS:
        assert cmd in r.out, f"`migrate --help` does not mention {cmd}\n" + r.describe()


def test_short_help(cli):
    r = cli.run_raw("-h")
    assert r.rc == 0, r.describe()
    assert "expand" in r.out, r.describe()


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_help(cli, cmd):
    r = cli.run_raw(cmd, "--help")
    assert r.rc == 0, r.describe()
    assert cmd in r.out, f"`migrate {cmd} --help` does not mention {cmd}\n" + r.describe()


def test_version(cli):
    r = cli.run_raw("--version")
    assert r.rc == 0, r.describe()
    assert re.search(r"\d+\.\d+", r.out), r.describe()


# --------------------------------------------------------------------------
# usage errors: exit 2


def test_no_command_is_usage_error(cli):
    r = cli.run_raw()
    assert r.rc == 2, r.describe()


def test_unknown_command(cli):
    r = cli.run_raw("frobnicate")
    assert r.rc == 2, r.describe()
    assert "frobnicate" in r.err, r.describe()


def test_unknown_command_with_database(project):
    r = project.expect(2, "frobnicate")
    assert "frobnicate" in r.err


@pytest.mark.parametrize("argv", [
    ["status", "--no-such-option"],
    ["--no-such-option", "status"],
    ["expand", "--no-such-option"],
    ["backfill", "--batch-size"],          # option without its value
    ["backfill", "--batch-size", "many"],  # not a number
])
def test_bad_options(project, argv):
    project.expect(2, *argv)
    assert project.db.history_rows() == 0


def test_missing_option_value(cli):
    r = cli.run_raw("status", "-d")
    assert r.rc == 2, r.describe()


# --------------------------------------------------------------------------
# global options before or after the command


def _status_doc(r):
    assert r.rc == 0, r.describe()
    try:
        return json.loads(r.out)
    except ValueError as e:
        raise AssertionError(f"stdout is not JSON: {e}\n" + r.describe())


def test_global_options_anywhere(users_project):
    p = users_project
    p.ok("expand")
    base = p.base_args()
    before = _status_doc(p.run_raw("--json", *base, "status"))
    after = _status_doc(p.run_raw(*base, "status", "--json"))
    trailing = _status_doc(p.run_raw("status", "--json", *base))
    for doc in (before, after, trailing):
        migs = doc["migrations"]
        assert [m["id"] for m in migs] == [1]
        assert migs[0]["name"] == "0001_rename_user_name"
        assert migs[0]["phase"] == "expanded"
    assert before["migrations"] == after["migrations"] == trailing["migrations"]
    assert set(before) == set(after) == set(trailing)
    # long and short forms of the same options
    short = p.run_raw("-d", p.db.url, "-m", p.migrations, "--state", p.state,
                      "status", "--json")
    long_ = p.run_raw("status", "--database", p.db.url, "--migrations",
                      p.migrations, "--state", p.state, "--json")
    assert _status_doc(short)["migrations"] == _status_doc(long_)["migrations"]


def test_status_json_after_expand(users_project):
    p = users_project
    assert p.json("status")["migrations"][0]["phase"] == "pending"
    p.ok("expand")
    doc = p.json("status")
    m = doc["migrations"][0]
    assert m["id"] == 1 and isinstance(m["id"], int)
    assert m["name"] == "0001_rename_user_name"
    assert m["phase"] == "expanded"


# --------------------------------------------------------------------------
# environment variables instead of flags


def _env_layout(p):
    """Move the project's migration to a directory the defaults would not
    find, so only the environment can point at it."""
    mdir = p.dir / "migs-from-env"
    mdir.mkdir()
    (p.migrations / RENAME_FILE).rename(mdir / RENAME_FILE)
    state = p.dir / "state-from-env" / "s.db"
    return mdir, state


def _closed_port_url(port):
    return f"postgresql://app:{APP_PASSWORD}@127.0.0.1:{port}/nowhere"


def test_env_migrate_database_url(users_project, closed_port):
    p = users_project
    mdir, state = _env_layout(p)
    env = {"MIGRATE_DATABASE_URL": p.db.url,
           "DATABASE_URL": _closed_port_url(closed_port),  # must lose
           "MIGRATE_DIR": mdir, "MIGRATE_STATE": state}
    r = p.run_raw("expand", env=env)
    assert r.rc == 0, r.describe()
    assert state.exists(), "MIGRATE_STATE was not used for the state file"
    assert not p.state.exists()
    assert "username" in columns_of(p.db, "users")
    r = p.run_raw("--json", "status", env=env)
    assert r.rc == 0, r.describe()
    assert json.loads(r.out)["migrations"][0]["phase"] == "expanded"


def test_env_database_url_fallback(users_project):
    p = users_project
    mdir, state = _env_layout(p)
    env = {"DATABASE_URL": p.db.url, "MIGRATE_DIR": mdir, "MIGRATE_STATE": state}
    r = p.run_raw("expand", env=env)
    assert r.rc == 0, r.describe()
    assert state.exists()
    assert "username" in columns_of(p.db, "users")


def test_flags_override_env(users_project, closed_port):
    p = users_project
    env = {"MIGRATE_DATABASE_URL": _closed_port_url(closed_port),
           "MIGRATE_DIR": p.dir / "no-such-dir",
           "MIGRATE_STATE": p.dir / "other" / "state.db"}
    p.ok("expand", env=env)
    assert p.state.exists()
    assert not (p.dir / "other" / "state.db").exists()


# --------------------------------------------------------------------------
# an unreachable database: exit 3, never the password


def _assert_masked(r):
    # the harness already asserts the password is absent; if the URL is
    # echoed, its password must be ****
    for m in re.finditer(r"app:([^@\s]*)@127\.0\.0\.1", r.text):
        assert m.group(1) == "****", r.describe()


@pytest.mark.parametrize("cmd", ["status", "expand"])
def test_unreachable_database(users_project, closed_port, cmd):
    p = users_project
    url = _closed_port_url(closed_port)
    r = p.run_raw("-d", url, "-m", p.migrations, "--state", p.state, cmd,
                  timeout=60)
    assert r.rc == 3, r.describe()
    assert r.err.strip(), "no error message\n" + r.describe()
    _assert_masked(r)


def test_unreachable_conninfo_and_query_password(users_project, closed_port):
    p = users_project
    port = closed_port
    for url in (f"host=127.0.0.1 port={port} user=app password={APP_PASSWORD} dbname=x",
                f"postgresql://app@127.0.0.1:{port}/x?password={APP_PASSWORD}"):
        r = p.run_raw("-d", url, "-m", p.migrations, "--state", p.state,
                      "status", timeout=60)
        assert r.rc == 3, r.describe()
        _assert_masked(r)


def test_wrong_password_is_exit_3(users_project):
    p = users_project
    url = p.db.url.replace(APP_PASSWORD, "not-the-password")
    r = p.run_raw("-d", url, "-m", p.migrations, "--state", p.state, "status")
    assert r.rc == 3, r.describe()
    assert "not-the-password" not in r.text, r.describe()


# --------------------------------------------------------------------------
# nothing to do is exit 0


def test_expand_nothing_pending_empty_dir(project):
    r = project.ok("expand")
    assert "nothing to do" in r.text.lower(), r.describe()


def test_expand_nothing_pending_after_expand(users_project):
    p = users_project
    p.ok("expand")
    r = p.ok("expand")
    assert "nothing to do" in r.text.lower(), r.describe()
    assert p.phases() == {1: "expanded"}


@pytest.mark.parametrize("cmd", ["backfill", "switch-reads", "contract", "rollback"])
def test_other_phases_nothing_to_do_empty_dir(project, cmd):
    r = project.ok(cmd)
    assert "nothing to do" in r.text.lower(), r.describe()


# --------------------------------------------------------------------------
# migration ids in all three spellings; plan changes nothing


def test_id_spellings_and_plan_changes_nothing(users_project):
    p = users_project
    before = p.db.snapshot()
    outs = [p.ok("plan", ident).out
            for ident in ("1", "0001", "0001_rename_user_name")]
    assert outs[0].strip(), "plan printed nothing"
    assert outs[0] == outs[1] == outs[2]
    assert p.ok("plan").out.strip()
    assert p.db.snapshot() == before
    assert p.db.history_rows() == 0

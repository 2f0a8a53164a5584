"""`migrate check [--requires V] [--offline] [--json]`, the pre-deploy gate
(issue 3 spec, design §4): migration files load, ids are unique and
ordered, applied files are unchanged (checksums from the state file, or from
the database's _migrate_history when there is no state file), and with
--requires V a colour requiring V could go live now. Exit 0 pass, 1 fail
(reasons listed), 2 bad input, 3 database or state error. --offline needs
neither a database nor a state file."""

import re
import shutil

import pytest

from conftest import RENAME_FILE, RENAME_YAML, check_rows, docs, seed_users

ADD_NICK = """
description: users get a nickname
operations:
  - add_column:
      table: users
      column: nick
      type: text
"""

BROKEN_YAML = """
operations:
  - add_column:
      table: users
     column: broken
"""

UNKNOWN_KEY = """
operations:
  - add_column:
      table: users
      column: nick
      type: text
      colour: blue
"""


def offline(p, *args, **kw):
    """check --offline with no database and no state option at all."""
    return p.run_raw("-m", p.migrations, "check", "--offline", *args, **kw)


def switched(p, mid="1"):
    p.ok("expand", mid)
    p.ok("backfill", mid)
    p.ok("switch-reads", mid)


# --------------------------------------------------------------------------
# --offline


def test_offline_good_files_pass_without_database_or_state(users_project, closed_port):
    p = users_project
    p.write("0002_add_nick.yaml", ADD_NICK)
    r = offline(p)
    assert r.rc == 0, r.describe()
    assert "check: pass" in r.out
    ok, detail = check_rows(r.out)["files"]
    assert ok and "2 migration file(s)" in detail
    # nothing was created: no state file in the working directory
    assert not (p.dir / ".migrate").exists()
    assert not p.state.exists()
    # a database URL is ignored offline, even one that cannot be reached
    r = p.run_raw("-d", f"postgresql://app:secret-pw-1@127.0.0.1:{closed_port}/x",
                  "-m", p.migrations, "check", "--offline")
    assert r.rc == 0, r.describe()

    doc = docs(offline(p, "--json"))
    assert doc["command"] == "check"
    assert doc["result"] == "pass"
    assert doc["offline"] is True
    assert doc["checks"] == [{"name": "files", "ok": True, "detail": detail}]
    assert doc["warnings"] == []
    assert doc["requires"] is None
    assert doc["window"] is None


@pytest.mark.parametrize("text,words", [
    (BROKEN_YAML, ["0003_bad.yaml:4:"]),
    (UNKNOWN_KEY, ["0003_bad.yaml:", "colour"]),
])
def test_offline_broken_file_exit_2_naming_file_line_column(users_project, text, words):
    p = users_project
    p.write("0003_bad.yaml", text)
    for args in ((), ("--json",)):
        r = offline(p, *args)
        assert r.rc == 2, r.describe()
        assert re.search(r"0003_bad\.yaml:\d+:\d+", r.err), (
            "the error does not name file:line:column\n" + r.describe())
        for w in words:
            assert w in r.err, r.describe()
    # and the same with the database
    r = p.expect(2, "check")
    assert re.search(r"0003_bad\.yaml:\d+:\d+", r.err), r.describe()


def test_offline_duplicate_ids_exit_2(users_project):
    p = users_project
    p.write("0001_also_one.yaml", ADD_NICK)
    r = offline(p)
    assert r.rc == 2, r.describe()
    assert "duplicate migration id 1" in r.err, r.describe()
    assert "0001_also_one.yaml" in r.err and RENAME_FILE in r.err


def test_offline_with_requires_exit_2(users_project):
    p = users_project
    r = offline(p, "--requires", "1")
    assert r.rc == 2, r.describe()
    assert "--requires" in r.err and "database" in r.err, r.describe()
    r = offline(p, "--requires", "0", "--json")
    assert r.rc == 2, r.describe()


def test_bad_arguments_exit_2(users_project):
    p = users_project
    r = p.expect(2, "check", "0001")
    assert "unexpected argument" in r.err
    r = p.expect(2, "check", "--requires", "abc")
    assert "bad migration id" in r.err


# --------------------------------------------------------------------------
# against the database


def test_fresh_database_passes_and_creates_nothing(users_project):
    p = users_project
    r = p.ok("check")
    rows = check_rows(r.out)
    assert set(rows) == {"files", "order", "unchanged"}, r.out
    assert all(ok for ok, _ in rows.values()), r.out
    assert "check: pass" in r.out
    assert not p.state.exists(), "check created a state file"
    assert p.db.history_rows() == 0
    # requires 0 is readable on a fresh database
    r = p.ok("check", "--requires", "0")
    assert check_rows(r.out)["requires"][0] is True


def test_requires_follows_the_readable_window(users_project):
    p = users_project
    # 0001 pending
    r = p.expect(1, "check", "--requires", "1")
    ok, detail = check_rows(r.out)["requires"]
    assert not ok
    assert "0001_rename_user_name is pending" in detail
    assert "migrate expand 0001" in detail
    assert "check: FAIL" in r.out
    p.ok("check", "--requires", "0")

    p.ok("expand")
    r = p.expect(1, "check", "--requires", "0001")
    detail = check_rows(r.out)["requires"][1]
    assert "expanded but not switched" in detail
    assert "migrate backfill 0001" in detail and "migrate switch-reads 0001" in detail

    p.ok("backfill")
    r = p.expect(1, "check", "--requires", "0001_rename_user_name")
    detail = check_rows(r.out)["requires"][1]
    assert "backfilled but not switched" in detail and "migrate switch-reads 0001" in detail

    p.ok("switch-reads")
    r = p.ok("check", "--requires", "1")
    assert check_rows(r.out)["requires"] == (
        True, "a colour requiring 0001_rename_user_name could go live now")
    p.ok("check", "--requires", "0")     # both ends of the window 0..1

    p.ok("contract")
    p.ok("check", "--requires", "1")
    r = p.expect(1, "check", "--requires", "0")
    detail = check_rows(r.out)["requires"][1]
    assert "contracted" in detail and "roll forward" in detail

    # each answer with a state file is in the event log
    events = [e for e in p.json("log")["events"] if e["command"] == "check"]
    results = [e["result"] for e in events]
    assert "refused" in results and "allowed" in results, events


def test_requires_unknown_version_exit_2(users_project):
    p = users_project
    r = p.expect(2, "check", "--requires", "99")
    assert "--requires 99" in r.err and "no migration" in r.err, r.describe()
    switched(p)
    r = p.expect(2, "check", "--requires", "0099_nothing")
    assert "no migration" in r.err


def test_edited_applied_file_fails_naming_it(users_project):
    p = users_project
    p.ok("expand")
    p.ok("check")
    path = p.migrations / RENAME_FILE
    path.write_text(path.read_text() + "# edited after expand\n")
    r = p.expect(1, "check")
    ok, detail = check_rows(r.out)["unchanged"]
    assert not ok
    assert RENAME_FILE in detail and "edited" in detail, r.out
    assert "check: FAIL" in r.out
    doc = docs(p.expect(1, "--json", "check"))
    assert doc["result"] == "fail"
    by = {c["name"]: c for c in doc["checks"]}
    assert by["unchanged"]["ok"] is False and RENAME_FILE in by["unchanged"]["detail"]
    assert by["files"]["ok"] is True and by["order"]["ok"] is True
    # restoring the file passes again
    path.write_text(RENAME_YAML.lstrip("\n"))
    p.ok("check")


def test_edited_file_of_a_rolled_back_migration_is_fine(users_project):
    """Rollback forgets the checksum: the file may be fixed before the next expand."""
    p = users_project
    p.ok("expand")
    p.ok("rollback")
    path = p.migrations / RENAME_FILE
    path.write_text(path.read_text() + "# fixed after rollback\n")
    p.ok("check")
    r = p.run_raw("-d", p.db.url, "-m", p.migrations, "--state", p.dir / "absent.db",
                  "check")
    assert r.rc == 0, r.describe()


def test_pending_file_numbered_below_an_applied_one_fails(project):
    p = project
    seed_users(p.db)
    p.write("0002_add_nick.yaml", ADD_NICK)
    p.ok("expand")
    p.ok("check")
    p.write("0001_late.yaml", ADD_NICK.replace("nick", "late"))
    r = p.expect(1, "check")
    ok, detail = check_rows(r.out)["order"]
    assert not ok
    assert "0001_late.yaml" in detail and "renumber" in detail, r.out
    assert "0002" in detail
    # the same without the state file, from the history table
    r = p.run_raw("-d", p.db.url, "-m", p.migrations, "--state", p.dir / "absent.db",
                  "check", "--json")
    assert r.rc == 1, r.describe()
    by = {c["name"]: c for c in docs(r)["checks"]}
    assert by["order"]["ok"] is False and "renumber" in by["order"]["detail"]
    # renumbered above the applied one: pass
    (p.migrations / "0001_late.yaml").rename(p.migrations / "0003_late.yaml")
    p.ok("check")


def test_unreachable_database_exit_3(users_project, closed_port):
    p = users_project
    url = f"postgresql://app:secret-pw-1@127.0.0.1:{closed_port}/nowhere"
    for args in (("check",), ("check", "--requires", "0"), ("--json", "check")):
        r = p.run_raw("-d", url, "-m", p.migrations, "--state", p.state, *args)
        assert r.rc == 3, r.describe()
        assert "****" in r.err, r.describe()
    assert not p.state.exists()


def test_stale_state_file_exit_3(users_project):
    p = users_project
    p.ok("expand")
    saved = p.dir / "saved"
    saved.mkdir()
    for f in p.state.parent.iterdir():
        shutil.copy2(f, saved / f.name)
    p.ok("backfill")
    for f in list(p.state.parent.iterdir()):
        f.unlink()
    for f in saved.iterdir():
        shutil.copy2(f, p.state.parent / f.name)
    r = p.expect(3, "check")
    assert "stale" in r.err, r.describe()
    # the history alone (no state file) still answers
    r = p.run_raw("-d", p.db.url, "-m", p.migrations, "--state", p.dir / "absent.db",
                  "check")
    assert r.rc == 0, r.describe()


def test_without_state_file_reads_the_history_table(users_project):
    p = users_project
    absent = p.dir / "nowhere" / "state.db"

    def check(*args):
        return p.run_raw("-d", p.db.url, "-m", p.migrations, "--state", absent,
                         "check", *args)

    p.ok("expand")
    r = check("--requires", "1")
    assert r.rc == 1, r.describe()
    assert "expanded but not switched" in check_rows(r.out)["requires"][1]
    p.ok("backfill")
    p.ok("switch-reads")
    r = check("--requires", "1")
    assert r.rc == 0, r.describe()
    doc = docs(check("--json"))
    assert doc["result"] == "pass" and doc["window"] == {"low": 0, "high": 1}
    # the checksum recorded in the history catches an edit
    path = p.migrations / RENAME_FILE
    path.write_text(path.read_text() + "# edited\n")
    r = check()
    assert r.rc == 1, r.describe()
    assert RENAME_FILE in check_rows(r.out)["unchanged"][1]
    path.write_text(RENAME_YAML.lstrip("\n"))
    p.ok("contract")
    doc = docs(check("--json", "--requires", "1"))
    assert doc["result"] == "pass" and doc["window"] == {"low": 1, "high": 1}
    assert doc["requires"] == 1
    r = check("--requires", "0")
    assert r.rc == 1 and "roll forward" in r.out, r.describe()
    # check never creates the state file it was pointed at
    assert not absent.exists() and not absent.parent.exists()


def test_read_only_role_without_state_file(users_project, pg_server):
    """A CI job needs read access to the database and nothing else."""
    p = users_project
    switched(p)
    with pg_server.admin() as c:
        c.execute("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles "
                  "WHERE rolname = 'check_reader') THEN "
                  "CREATE ROLE check_reader LOGIN PASSWORD 'reader-pw-9'; END IF; END$$")
    p.db.admin().execute("GRANT SELECT ON public._migrate_history TO check_reader")
    url = (f"postgresql://check_reader:reader-pw-9@127.0.0.1:{pg_server.port}/"
           f"{p.db.name}")
    before = p.db.snapshot()
    history_before = p.db.history_rows()
    r = p.run_raw("-d", url, "-m", p.migrations, "--state", p.dir / "absent.db",
                  "check", "--requires", "1")
    assert r.rc == 0, r.describe()
    assert "reader-pw-9" not in r.text
    r = p.run_raw("-d", url, "-m", p.migrations, "--state", p.dir / "absent.db",
                  "check", "--requires", "0")
    assert r.rc == 0, r.describe()
    assert p.db.snapshot() == before
    assert p.db.history_rows() == history_before
    assert not (p.dir / "absent.db").exists()


def test_deleted_file_of_an_applied_migration_is_a_warning(users_project):
    p = users_project
    switched(p)
    (p.migrations / RENAME_FILE).unlink()
    doc = docs(p.ok("--json", "check"))
    assert doc["result"] == "pass"
    assert len(doc["warnings"]) == 1 and "0001_rename_user_name" in doc["warnings"][0]
    assert "gone" in doc["warnings"][0]
    r = p.ok("check")
    assert re.search(r"^warn\s+unchanged\s+0001_rename_user_name", r.out, re.M), r.out


def test_json_document(users_project):
    p = users_project
    switched(p)
    r = p.ok("check", "--json", "--requires", "1")
    doc = docs(r)
    assert set(doc) >= {"command", "result", "offline", "checks", "warnings",
                        "requires", "window"}
    assert doc["command"] == "check"
    assert doc["result"] == "pass"
    assert doc["offline"] is False
    assert [c["name"] for c in doc["checks"]] == ["files", "order", "unchanged", "requires"]
    for c in doc["checks"]:
        assert set(c) == {"name", "ok", "detail"}
        assert c["ok"] is True and isinstance(c["detail"], str) and c["detail"]
    assert doc["warnings"] == []
    assert doc["requires"] == 1
    assert doc["window"] == {"low": 0, "high": 1}
    assert "check: " not in r.out           # one JSON document, nothing else

    p.write("0002_add_nick.yaml", ADD_NICK)
    r = p.expect(1, "check", "--json", "--requires", "2")
    doc = docs(r)
    assert doc["result"] == "fail" and doc["requires"] == 2
    req = [c for c in doc["checks"] if c["name"] == "requires"][0]
    assert req["ok"] is False
    assert "0002_add_nick is pending" in req["detail"]
    assert "migrate expand 0002" in req["detail"]

    doc = docs(p.ok("check", "--json"))
    assert doc["requires"] is None
    assert "requires" not in [c["name"] for c in doc["checks"]]

"""`migrate lint` the command (issue 14): its formats, exit codes, options,
suppressions, the files of a folder migrate would not read, and `migrate
check`'s lint. Offline: no server is started by this file.

The rules themselves are classified by the corpus (test_lint_corpus.py);
here the findings come from the engine's own rules (file-invalid,
file-ignored, suppression-invalid, suppression-unused) and from type-json
(a warning on a json column, PostgreSQL only), a rule's finding that
suppressions, formats and dialects have to carry.
"""

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = ROOT / "tests" / "lint" / "sarif-schema-2.1.0.json"

UNKNOWN_KEY = """\
description: an unknown key
operations:
  - add_column:
      table: users
      column: nick
      colum: text
"""

BROKEN_YAML = """\
operations:
  - add_column:
      table: users
     column: broken
"""

CLEAN = """\
description: users get a nickname
operations:
  - add_column:
      table: users
      column: nick
      type: text
"""

NO_REASON = """\
operations:
  # migrate-lint: ignore index-not-concurrent
  - add_column:
      table: users
      column: nick
      type: text
"""

JSON_COLUMN = """\
operations:
  - add_column:
      table: events
      column: payload
      type: json
"""

TEXT_HINT_INVALID = ("fix the file as the message says: migrate refuses to run a file "
                     "that does not load (docs/file-format.md)")
KEYS = ("table, column, type, default, nullable, backfill, drops, allow_copy, "
        "allow_rebuild")
SQL_IGNORED = ("migrate does not read 'a,b.sql': it reads only NNNN_snake_name.yaml "
               "files, never .sql")
SQL_HINT = ("put the SQL in a migration file's sql step (expand, contract, rollback: "
            "docs/operations.md), or move the file out of the migrations folder")
NO_REASON_MSG = "this migrate-lint comment gives no reason: it suppresses nothing"
NO_REASON_HINT = "add the reason after ' -- ': '# migrate-lint: ignore RULE -- why it is safe here'"


def env():
    e = dict(os.environ)
    for k in ("MIGRATE_DATABASE_URL", "DATABASE_URL", "MIGRATE_DIR"):
        e.pop(k, None)
    return e


class Run:
    def __init__(self, p):
        self.rc, self.out, self.err = p.returncode, p.stdout, p.stderr

    def describe(self):
        return f"exit {self.rc}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@pytest.fixture
def lint(migrate_bin, tmp_path):
    def run(*args, extra_env=None):
        e = env()
        e.update(extra_env or {})
        return Run(subprocess.run([migrate_bin, *args], cwd=tmp_path, env=e,
                                  capture_output=True, text=True, timeout=60))
    return run


def write(tmp_path, name, text):
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


@pytest.fixture
def folder(tmp_path):
    """m/: one error of each engine kind, a file migrate ignores, and what
    lint must pass over in silence (.gitkeep, migrate.yaml, a subfolder)."""
    write(tmp_path, "m/0001_bad.yaml", UNKNOWN_KEY)
    write(tmp_path, "m/0002_ok.yaml", NO_REASON)
    write(tmp_path, "m/0003_broken.yaml", BROKEN_YAML)
    write(tmp_path, "m/a,b.sql", "SELECT 1;\n")
    write(tmp_path, "m/.gitkeep", "")
    write(tmp_path, "m/migrate.yaml", "database: postgres://x/y\n")
    write(tmp_path, "m/archive/0009_old.sql", "SELECT 1;\n")
    return tmp_path / "m"


# --------------------------------------------------------------------------
# formats, each checked to the character


def test_text_format(lint, folder):
    r = lint("lint", "-m", "m")
    assert r.rc == 1, r.describe()
    assert r.out.splitlines() == [
        f"m/0001_bad.yaml:6:7: error[file-invalid]: unknown key 'colum' (expected one of: {KEYS})",
        "  hint: did you mean 'column'?",
        f"m/0002_ok.yaml:2:3: error[suppression-invalid]: {NO_REASON_MSG}",
        f"  hint: {NO_REASON_HINT}",
        "m/0003_broken.yaml:4:6: error[file-invalid]: YAML syntax error: did not find "
        "expected key (while parsing a block mapping at line 2)",
        f"  hint: {TEXT_HINT_INVALID}",
        f"m/a,b.sql: warning[file-ignored]: {SQL_IGNORED}",
        f"  hint: {SQL_HINT}",
    ]
    # the summary goes to stderr (stdout holds findings only); -q drops it
    assert r.err == "4 files, 3 errors, 1 warning\n", r.describe()
    assert lint("lint", "-q", "-m", "m").err == ""


def test_gcc_format(lint, folder):
    r = lint("lint", "-m", "m", "--format", "gcc")
    assert r.rc == 1, r.describe()
    assert r.out.splitlines() == [
        f"m/0001_bad.yaml:6:7: error: unknown key 'colum' (expected one of: {KEYS}) [file-invalid]",
        "m/0001_bad.yaml:6:7: note: did you mean 'column'?",
        f"m/0002_ok.yaml:2:3: error: {NO_REASON_MSG} [suppression-invalid]",
        f"m/0002_ok.yaml:2:3: note: {NO_REASON_HINT}",
        "m/0003_broken.yaml:4:6: error: YAML syntax error: did not find expected key "
        "(while parsing a block mapping at line 2) [file-invalid]",
        f"m/0003_broken.yaml:4:6: note: {TEXT_HINT_INVALID}",
        f"m/a,b.sql: warning: {SQL_IGNORED} [file-ignored]",
        f"m/a,b.sql: note: {SQL_HINT}",
    ]
    assert r.err == ""


def test_github_format_escapes_properties_and_data(lint, folder):
    r = lint("lint", "-m", "m", "--format", "github")
    assert r.rc == 1, r.describe()
    assert r.out.splitlines() == [
        "::error file=m/0001_bad.yaml,line=6,col=7,title=file-invalid::unknown key 'colum' "
        f"(expected one of: {KEYS})%0Ahint: did you mean 'column'?",
        f"::error file=m/0002_ok.yaml,line=2,col=3,title=suppression-invalid::{NO_REASON_MSG}"
        f"%0Ahint: {NO_REASON_HINT}",
        "::error file=m/0003_broken.yaml,line=4,col=6,title=file-invalid::YAML syntax error: "
        "did not find expected key (while parsing a block mapping at line 2)"
        f"%0Ahint: {TEXT_HINT_INVALID}",
        # a comma in a property is %2C; data keeps its commas and colons
        f"::warning file=m/a%2Cb.sql,title=file-ignored::{SQL_IGNORED}%0Ahint: {SQL_HINT}",
    ]


def test_github_format_escapes_percent_and_line_breaks(lint, tmp_path):
    # a name with '%' and ':' (both escaped in the file property)
    write(tmp_path, "m/100%:x.sql", "SELECT 1;\n")
    r = lint("lint", "-m", "m", "--format", "github")
    assert r.rc == 0, r.describe()
    assert r.out.startswith("::warning file=m/100%25%3Ax.sql,title=file-ignored::"
                            "migrate does not read '100%25:x.sql'"), r.describe()
    assert "\r" not in r.out and r.out.count("\n") == 1


def test_json_format(lint, folder):
    r = lint("lint", "-m", "m", "--format", "json")
    assert r.rc == 1, r.describe()
    assert r.err == ""
    doc = json.loads(r.out)
    assert list(doc) == ["command", "files", "errors", "warnings", "infos", "findings"]
    assert doc == {
        "command": "lint", "files": 4, "errors": 3, "warnings": 1, "infos": 0,
        "findings": [
            {"rule": "file-invalid", "severity": "error", "category": "file",
             "file": "m/0001_bad.yaml", "line": 6, "column": 7,
             "message": f"unknown key 'colum' (expected one of: {KEYS})",
             "hint": "did you mean 'column'?", "suppressed": None},
            {"rule": "suppression-invalid", "severity": "error", "category": "file",
             "file": "m/0002_ok.yaml", "line": 2, "column": 3, "message": NO_REASON_MSG,
             "hint": NO_REASON_HINT, "suppressed": None},
            {"rule": "file-invalid", "severity": "error", "category": "file",
             "file": "m/0003_broken.yaml", "line": 4, "column": 6,
             "message": "YAML syntax error: did not find expected key (while parsing a "
                        "block mapping at line 2)",
             "hint": TEXT_HINT_INVALID, "suppressed": None},
            {"rule": "file-ignored", "severity": "warning", "category": "file",
             "file": "m/a,b.sql", "line": 0, "column": 0, "message": SQL_IGNORED,
             "hint": SQL_HINT, "suppressed": None},
        ]}
    # --json is --format json
    assert json.loads(lint("lint", "-m", "m", "--json").out) == doc


def sarif(lint, *args):
    r = lint("lint", *args, "--format", "sarif")
    assert r.rc in (0, 1), r.describe()
    doc = json.loads(r.out)
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.validate(doc, schema)
    return r, doc


def test_sarif_validates_and_carries_every_finding(lint, folder):
    r, doc = sarif(lint, "-m", "m")
    assert r.rc == 1
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    drv = run["tool"]["driver"]
    assert drv["name"] == "migrate" and drv["version"] and drv["informationUri"].startswith("https://")
    listed = json.loads(lint("lint", "--list-rules", "--format", "json").out)["rules"]
    assert [x["id"] for x in drv["rules"]] == [x["id"] for x in listed]
    for rule, want in zip(drv["rules"], listed):
        assert rule["shortDescription"]["text"] == want["summary"]
        assert rule["helpUri"].endswith(f"/docs/lint/{want['id']}.md")
        level = {"error": "error", "warning": "warning", "info": "note"}[want["severity"]]
        assert rule["defaultConfiguration"]["level"] == level
    res = run["results"]
    assert [(x["ruleId"], x["level"]) for x in res] == [
        ("file-invalid", "error"), ("suppression-invalid", "error"),
        ("file-invalid", "error"), ("file-ignored", "warning")]
    for x in res:
        assert drv["rules"][x["ruleIndex"]]["id"] == x["ruleId"]
        assert "suppressions" not in x
    first = res[0]["locations"][0]["physicalLocation"]
    assert first == {"artifactLocation": {"uri": "m/0001_bad.yaml"},
                     "region": {"startLine": 6, "startColumn": 7}}
    assert res[0]["message"]["text"] == (f"unknown key 'colum' (expected one of: {KEYS})"
                                         "\nhint: did you mean 'column'?")
    # a finding of the whole file has no region; the URI is escaped
    assert res[3]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "m/a%2Cb.sql"}}


def test_sarif_uri_is_relative_for_an_absolute_path(lint, tmp_path):
    p = write(tmp_path, "m/0001_bad.yaml", UNKNOWN_KEY)
    _, doc = sarif(lint, str(p))
    loc = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "m/0001_bad.yaml"


def test_sarif_uri_outside_the_working_directory(lint, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere dir")
    p = write(other, "0001_bad.yaml", UNKNOWN_KEY)
    _, doc = sarif(lint, str(p))
    loc = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "file://" + str(p).replace(" ", "%20")


def test_sarif_of_clean_files_validates(lint, tmp_path):
    write(tmp_path, "m/0001_clean.yaml", CLEAN)
    r, doc = sarif(lint, "-m", "m")
    assert r.rc == 0 and doc["runs"][0]["results"] == []


# --------------------------------------------------------------------------
# exit codes and arguments


def test_clean_file_exit_0(lint, tmp_path):
    write(tmp_path, "migrations/0001_clean.yaml", CLEAN)
    r = lint("lint")          # default: the migrations folder
    assert r.rc == 0, r.describe()
    assert r.out == ""
    assert r.err == "1 file, 0 errors, 0 warnings\n"


def test_warnings_alone_exit_0(lint, tmp_path):
    write(tmp_path, "m/0001_clean.yaml", CLEAN)
    write(tmp_path, "m/schema.sql", "SELECT 1;\n")
    r = lint("lint", "-m", "m")
    assert r.rc == 0, r.describe()
    assert "warning[file-ignored]" in r.out
    assert r.err == "2 files, 0 errors, 1 warning\n"


@pytest.mark.parametrize("args,words", [
    (["--bogus"], ["unknown option '--bogus'"]),
    (["--format", "xml"], ["unknown format 'xml'", "text, json, sarif, github, gcc"]),
    (["--dialect", "oracle"], ["unknown dialect 'oracle'", "--dialect postgres"]),
    (["--error", "no-such-rule"], ["unknown rule 'no-such-rule' in --error", "--list-rules"]),
    (["--warning", "file-invalid,nope"], ["unknown rule 'nope' in --warning"]),
    (["--disable", "nope"], ["unknown rule 'nope' in --disable"]),
    (["missing.yaml"], ["cannot lint 'missing.yaml': no such file or directory"]),
    (["m", "missing-dir"], ["cannot lint 'missing-dir'"]),
])
def test_bad_arguments_exit_2(lint, tmp_path, args, words):
    write(tmp_path, "m/0001_clean.yaml", CLEAN)
    r = lint("lint", *args)
    assert r.rc == 2, r.describe()
    assert r.out == ""
    for w in words:
        assert w in r.err, r.describe()


def test_default_folder_missing_exit_2(lint):
    r = lint("lint")
    assert r.rc == 2, r.describe()
    assert "cannot lint 'migrations'" in r.err and "-m DIR" in r.err


def test_help(lint):
    r = lint("lint", "--help")
    assert r.rc == 0, r.describe()
    for w in ["usage: migrate lint [PATH...]", "--format F", "sarif", "github", "gcc",
              "--dialect D", "--error RULE", "--warning RULE", "--disable RULE",
              "--list-rules", "# migrate-lint: ignore RULE[,RULE] -- reason",
              "ignore-file", "exit status: 0 no error-level finding", "1 an error-level finding",
              "2 bad input"]:
        assert w in r.out, w
    r = lint("--help")
    assert "  lint " in r.out
    r = lint("check", "--help")
    assert "--no-lint" in r.out and "lint's error findings" in r.out


def test_list_rules(lint):
    r = lint("lint", "--list-rules")
    assert r.rc == 0, r.describe()
    rules = json.loads(lint("lint", "--list-rules", "--format", "json").out)["rules"]
    assert len(rules) >= 20
    lines = r.out.splitlines()
    assert len(lines) == len(rules)
    for line, rule in zip(lines, rules):
        assert set(rule) == {"id", "severity", "category", "summary"}
        assert rule["severity"] in ("error", "warning", "info")
        assert line.split()[:3] == [rule["id"], rule["severity"], rule["category"]]
        assert line.endswith(rule["summary"])
    ids = [x["id"] for x in rules]
    for engine_rule in ("file-invalid", "file-ignored", "suppression-invalid",
                        "suppression-unused"):
        assert engine_rule in ids
    assert len(set(ids)) == len(ids)


# --------------------------------------------------------------------------
# files: what migrate would not read, what does not load


def test_folder_reports_files_migrate_ignores(lint, tmp_path):
    write(tmp_path, "m/0001_clean.yaml", CLEAN)
    write(tmp_path, "m/1_add-nick.yaml", CLEAN)
    write(tmp_path, "m/0002_Add.yml", CLEAN)
    write(tmp_path, "m/README.md", "notes\n")
    write(tmp_path, "m/0003_seed.sql", "INSERT INTO t VALUES (1);\n")
    write(tmp_path, "m/0004_fine.yml", CLEAN.replace("nick", "nick4"))
    # never reported: hidden files, the settings file, subfolders
    write(tmp_path, "m/.gitkeep", "")
    write(tmp_path, "m/migrate.yaml", "jobs: 2\n")
    write(tmp_path, "m/old/0001_x.sql", "SELECT 1;\n")
    r = lint("lint", "-m", "m", "--format", "json")
    assert r.rc == 0, r.describe()
    doc = json.loads(r.out)
    assert doc["files"] == 6
    by_file = {f["file"]: f for f in doc["findings"]}
    assert set(by_file) == {"m/1_add-nick.yaml", "m/0002_Add.yml", "m/README.md",
                            "m/0003_seed.sql"}
    for f in by_file.values():
        assert (f["rule"], f["severity"], f["line"], f["column"]) == (
            "file-ignored", "warning", 0, 0)
    assert "expected NNNN_snake_name.yaml" in by_file["m/1_add-nick.yaml"]["message"]
    assert by_file["m/1_add-nick.yaml"]["hint"] == "rename it to '0001_add_nick.yaml'"
    assert by_file["m/0002_Add.yml"]["hint"] == "rename it to '0002_add.yml'"
    assert "never .sql" in by_file["m/0003_seed.sql"]["message"]
    # and `check` reports them too (a badly named .yaml stops check before
    # lint, as it always did: migrate refuses that folder)
    (tmp_path / "m" / "1_add-nick.yaml").unlink()
    (tmp_path / "m" / "0002_Add.yml").unlink()
    r = lint("-m", "m", "check", "--offline")
    assert r.rc == 0, r.describe()
    assert "ok   lint       4 files, 0 errors, 2 warnings" in r.out.splitlines()
    assert "m/README.md: warning[file-ignored]" in r.out


def test_explicit_paths_files_and_folders(lint, tmp_path):
    write(tmp_path, "a/0001_clean.yaml", CLEAN)
    write(tmp_path, "b/0001_bad.yaml", UNKNOWN_KEY)
    write(tmp_path, "c.sql", "SELECT 1;\n")
    r = lint("lint", "a", "b/0001_bad.yaml", "c.sql", "--format", "json")
    assert r.rc == 1, r.describe()
    doc = json.loads(r.out)
    assert doc["files"] == 3
    assert [(f["file"], f["rule"]) for f in doc["findings"]] == [
        ("b/0001_bad.yaml", "file-invalid"), ("c.sql", "file-ignored")]


def test_duplicate_ids_in_a_folder(lint, tmp_path):
    write(tmp_path, "m/0001_one.yaml", CLEAN)
    write(tmp_path, "m/0001_two.yaml", CLEAN.replace("nick", "nick2"))
    r = lint("lint", "-m", "m")
    assert r.rc == 1, r.describe()
    assert ("m/0001_two.yaml:1:1: error[file-invalid]: duplicate migration id 1: "
            "'m/0001_one.yaml' has it too") in r.out
    assert "hint: give one of them the next free id" in r.out


@pytest.mark.parametrize("text,line,col,words", [
    (BROKEN_YAML, 4, 6, ["YAML syntax error", "did not find expected key"]),
    (UNKNOWN_KEY, 6, 7, ["unknown key 'colum'"]),
    ("operations:\n  - add_column: {table: users, column: x, type: int, nullable: maybe}\n",
     2, 64, ["nullable"]),
    ("operations: []\n", 1, 1, ["operation"]),
    ("\tbad: [\n", 1, 1, ["YAML syntax error"]),
    # cut off: libyaml places the error past the last line; the finding
    # stays inside the file (fuzz_lint found it)
    ("operations:\n  - add_column: {table: t", 2, 26, ["did not find expected ',' or '}'"]),
])
def test_file_invalid_position(lint, tmp_path, text, line, col, words):
    write(tmp_path, "0001_x.yaml", text)
    r = lint("lint", "0001_x.yaml", "--format", "json")
    assert r.rc == 1, r.describe()
    (f,) = json.loads(r.out)["findings"]
    assert f["rule"] == "file-invalid"
    assert (f["line"], f["column"]) == (line, col), f
    assert "0001_x.yaml" not in f["message"], "the position is the finding's, not the message's"
    assert f["hint"]
    for w in words:
        assert w in f["message"], f


def test_binary_and_empty_files_are_findings(lint, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "0001_bin.yaml").write_bytes(b"\x00\xff\xfe operations")
    (tmp_path / "m" / "0002_empty.yaml").write_bytes(b"")
    r = lint("lint", "-m", "m", "--format", "json")
    assert r.rc == 1, r.describe()
    doc = json.loads(r.out)
    assert [f["rule"] for f in doc["findings"]] == ["file-invalid", "file-invalid"]


# --------------------------------------------------------------------------
# severities


def test_severity_overrides(lint, folder):
    def findings(*args):
        r = lint("lint", "-m", "m", "--format", "json", *args)
        return r.rc, [(f["rule"], f["severity"]) for f in json.loads(r.out)["findings"]]

    rc, got = findings("--warning", "file-invalid", "--warning", "suppression-invalid")
    assert rc == 0
    assert got == [("file-invalid", "warning"), ("suppression-invalid", "warning"),
                   ("file-invalid", "warning"), ("file-ignored", "warning")]
    rc, got = findings("--disable", "file-invalid,suppression-invalid", "--error", "file-ignored")
    assert rc == 1
    assert got == [("file-ignored", "error")]
    rc, got = findings("--disable", "file-invalid", "--disable", "suppression-invalid",
                       "--disable", "file-ignored")
    assert (rc, got) == (0, [])


# --------------------------------------------------------------------------
# suppressions


@pytest.mark.parametrize("comment,words", [
    ("# migrate-lint: ignore index-not-concurrent", ["gives no reason"]),
    ("# migrate-lint: ignore index-not-concurrent --   ", ["gives no reason"]),
    ("# migrate-lint: ignore no-such-rule -- because", ["unknown rule ('no-such-rule')"]),
    ("# migrate-lint: ignore -- because", ["names no rule"]),
    ("# migrate-lint: skip index-not-concurrent -- because", ["expected 'ignore' or 'ignore-file'"]),
    ("# migrate-lint: ignore file-invalid -- it is fine", ["cannot be suppressed ('file-invalid')"]),
])
def test_invalid_suppressions(lint, tmp_path, comment, words):
    write(tmp_path, "0001_x.yaml", f"operations:\n  {comment}\n" + CLEAN.split("operations:\n")[1])
    r = lint("lint", "0001_x.yaml", "--format", "json")
    assert r.rc == 1, r.describe()
    (f,) = json.loads(r.out)["findings"]
    assert (f["rule"], f["line"], f["column"]) == ("suppression-invalid", 2, 3)
    for w in words:
        assert w in f["message"], f


def test_unused_suppressions(lint, tmp_path):
    write(tmp_path, "0001_x.yaml",
          "# migrate-lint: ignore-file type-json -- legacy columns\n"
          "operations:\n"
          "  # migrate-lint: ignore index-not-concurrent,type-char -- small table\n"
          + CLEAN.split("operations:\n")[1])
    r = lint("lint", "0001_x.yaml", "--format", "json")
    assert r.rc == 0, r.describe()
    got = [(f["rule"], f["severity"], f["line"], f["column"], f["message"])
           for f in json.loads(r.out)["findings"]]
    assert got == [
        ("suppression-unused", "warning", 1, 1,
         "this migrate-lint comment suppresses nothing: no type-json finding in the file"),
        ("suppression-unused", "warning", 3, 3,
         "this migrate-lint comment suppresses nothing: no index-not-concurrent,type-char "
         "finding in the node below it")]
    # a disabled rule's suppression is not reported as unused
    r = lint("lint", "0001_x.yaml", "--format", "json", "--disable",
             "type-json,index-not-concurrent,type-char")
    assert json.loads(r.out)["findings"] == []


def json_findings(lint, *args, extra_env=None):
    r = lint("lint", "--format", "json", *args, extra_env=extra_env)
    assert r.rc in (0, 1), r.describe()
    return [(f["file"], f["rule"], f["line"], f["column"], f["suppressed"])
            for f in json.loads(r.out)["findings"]]


def test_suppressed_finding_in_every_format(lint, tmp_path):
    write(tmp_path, "m/0001_json.yaml",
          "operations:\n"
          "  # migrate-lint: ignore type-json -- the provider signs the body: keep its bytes\n"
          + JSON_COLUMN.split("operations:\n")[1])
    write(tmp_path, "m/0002_json.yaml", JSON_COLUMN.replace("payload", "body"))
    assert json_findings(lint, "-m", "m") == [
        ("m/0001_json.yaml", "type-json", 6, 13,
         "the provider signs the body: keep its bytes"),
        ("m/0002_json.yaml", "type-json", 5, 13, None)]
    r = lint("lint", "-m", "m", "--format", "json")
    doc = json.loads(r.out)
    assert (doc["errors"], doc["warnings"]) == (0, 1), "a suppressed finding is not counted"
    # text hides the suppressed one unless -v; the summary counts it apart
    r = lint("lint", "-m", "m")
    assert "m/0001_json.yaml" not in r.out and "m/0002_json.yaml:5:13: warning[type-json]" in r.out
    assert r.err == "2 files, 0 errors, 1 warning, 1 suppressed\n"
    r = lint("lint", "-m", "m", "-v")
    assert "m/0001_json.yaml:6:13: warning[type-json]: " in r.out
    assert "(suppressed: the provider signs the body: keep its bytes)" in r.out
    # SARIF keeps it, marked
    _, doc = sarif(lint, "-m", "m")
    res = doc["runs"][0]["results"]
    assert [x["ruleId"] for x in res] == ["type-json", "type-json"]
    assert res[0]["suppressions"] == [{"kind": "inSource",
                                       "justification": "the provider signs the body: keep its bytes"}]
    assert "suppressions" not in res[1]
    assert res[1]["level"] == "warning"
    # github and gcc leave it out
    out = lint("lint", "-m", "m", "--format", "github").out
    assert out.startswith("::warning file=m/0002_json.yaml,line=5,col=13,title=type-json::")
    assert "0001_json" not in out and out.count("\n") == 1
    out = lint("lint", "-m", "m", "--format", "gcc").out
    assert out.startswith("m/0002_json.yaml:5:13: warning: ") and "0001_json" not in out
    # a raised severity fails the run; the suppressed one still does not
    assert lint("lint", "-m", "m", "--error", "type-json").rc == 1
    (tmp_path / "m" / "0002_json.yaml").unlink()
    assert lint("lint", "-m", "m", "--error", "type-json").rc == 0


def test_suppression_scopes_in_a_file(lint, tmp_path):
    two = JSON_COLUMN + JSON_COLUMN.split("operations:\n")[1].replace("payload", "body")
    # on its own line: the operation below only
    write(tmp_path, "0001_a.yaml",
          "operations:\n  # migrate-lint: ignore type-json -- signed\n"
          + two.split("operations:\n")[1])
    assert [x[4] for x in json_findings(lint, "0001_a.yaml")] == ["signed", None]
    # trailing the value: its own line
    write(tmp_path, "0002_b.yaml", two.replace(
        "type: json\n", "type: json  # migrate-lint: ignore type-json -- signed\n", 1))
    assert [x[2:] for x in json_findings(lint, "0002_b.yaml")] == [
        (5, 13, "signed"), (9, 13, None)]
    # the whole file
    write(tmp_path, "0003_c.yaml",
          two + "# migrate-lint: ignore-file type-json -- a legacy schema\n")
    assert [x[4] for x in json_findings(lint, "0003_c.yaml")] == ["a legacy schema"] * 2
    # above the wrong operation: unused, and the finding stays
    write(tmp_path, "0004_d.yaml",
          "operations:\n  # migrate-lint: ignore type-json -- signed\n"
          "  - drop_column: {table: t, column: c}\n" + JSON_COLUMN.split("operations:\n")[1])
    assert [x[1:] for x in json_findings(lint, "0004_d.yaml")
            if x[1] in ("type-json", "suppression-unused")] == [
        ("suppression-unused", 2, 3, None), ("type-json", 7, 13, None)]


def test_dialect_from_option_url_and_settings(lint, tmp_path):
    """type-json is PostgreSQL's (MySQL's json is binary): which rules
    report says which dialect read the file."""
    write(tmp_path, "0001_j.yaml", JSON_COLUMN)

    def rules(*args, extra_env=None):
        return {x[1] for x in json_findings(lint, "0001_j.yaml", *args, extra_env=extra_env)}

    assert "type-json" in rules()                                   # default: postgres
    assert "type-json" not in rules("--dialect", "mysql")
    assert "type-json" not in rules("--dialect", "mariadb")
    assert "type-json" in rules("--dialect", "postgresql")
    mysql_url = {"MIGRATE_DATABASE_URL": "mysql://app@127.0.0.1:1/shop"}
    assert "type-json" not in rules(extra_env=mysql_url)            # the URL's driver
    assert "type-json" in rules("--dialect", "postgres", extra_env=mysql_url)
    pg_url = {"DATABASE_URL": "postgresql://app@127.0.0.1:1/shop"}
    assert "type-json" in rules(extra_env=pg_url)
    write(tmp_path, "migrate.yaml", "lint:\n  dialect: mysql\n")
    assert "type-json" not in rules()


# --------------------------------------------------------------------------
# check runs lint


def test_check_fails_on_a_lint_error_and_no_lint_skips_it(lint, tmp_path):
    write(tmp_path, "m/0001_clean.yaml", CLEAN)
    r = lint("-m", "m", "check", "--offline")
    assert r.rc == 0, r.describe()
    # clean files: check's text is what it was
    assert r.out.splitlines() == [
        "ok   files      1 migration file(s) in 'm' load, ids unique", "check: pass"]
    doc = json.loads(lint("-m", "m", "check", "--offline", "--json").out)
    assert doc["lint"] == {"files": 1, "errors": 0, "warnings": 0, "infos": 0, "findings": []}
    assert [c["name"] for c in doc["checks"]] == ["files"]

    write(tmp_path, "m/0002_x.yaml", NO_REASON)
    r = lint("-m", "m", "check", "--offline")
    assert r.rc == 1, r.describe()
    assert r.out.splitlines() == [
        "ok   files      2 migration file(s) in 'm' load, ids unique",
        "FAIL lint       2 files, 1 error, 0 warnings",
        f"m/0002_x.yaml:2:3: error[suppression-invalid]: {NO_REASON_MSG}",
        f"  hint: {NO_REASON_HINT}",
        "check: FAIL"]
    r = lint("-m", "m", "check", "--offline", "--json")
    assert r.rc == 1
    doc = json.loads(r.out)
    assert doc["result"] == "fail"
    assert doc["lint"]["errors"] == 1
    assert doc["lint"]["findings"][0]["rule"] == "suppression-invalid"
    # the lint options apply to check's lint
    assert lint("-m", "m", "check", "--offline", "--warning", "suppression-invalid").rc == 0
    r = lint("-m", "m", "check", "--offline", "--no-lint", "--json")
    assert r.rc == 0, r.describe()
    assert json.loads(r.out)["lint"] is None
    assert lint("-m", "m", "check", "--offline", "--error", "nope").rc == 2


def test_check_still_refuses_a_file_that_does_not_load(lint, tmp_path):
    write(tmp_path, "m/0001_bad.yaml", UNKNOWN_KEY)
    r = lint("-m", "m", "check", "--offline")
    assert r.rc == 2, r.describe()
    assert "0001_bad.yaml:6:7" in r.err


# --------------------------------------------------------------------------
# migrate.yaml's lint: key


def test_settings_file_lint_key(lint, folder, tmp_path):
    write(tmp_path, "migrate.yaml",
          "migrations: m\n"
          "lint:\n"
          "  disable: [file-ignored]\n"
          "  warning:\n"
          "    - file-invalid\n"
          "    - suppression-invalid\n"
          "  dialect: mysql\n")
    r = lint("lint", "--format", "json")
    assert r.rc == 0, r.describe()
    got = [(f["rule"], f["severity"]) for f in json.loads(r.out)["findings"]]
    assert got == [("file-invalid", "warning"), ("suppression-invalid", "warning"),
                   ("file-invalid", "warning")]
    # the command line's option replaces the file's
    r = lint("lint", "--format", "json", "--warning", "file-invalid")
    assert r.rc == 1, r.describe()
    # check reads it too
    assert lint("check", "--offline", "--no-lint").rc == 2      # the files do not load
    write(tmp_path, "migrate.yaml", "lint:\n  disable: [nope]\n")
    r = lint("lint", "-m", "m")
    assert r.rc == 2 and "unknown rule 'nope' in --disable" in r.err, r.describe()


@pytest.mark.parametrize("settings,words", [
    ("lint: [file-ignored]\n", ["wrong type for 'lint' at migrate.yaml:1:7"]),
    ("lint:\n  ignore: [x]\n", ["unknown key 'lint: ignore' at migrate.yaml:2:3"]),
    ("lint:\n  disable: {a: b}\n", ["wrong type for 'lint: disable' at migrate.yaml:2:12"]),
    ("lint:\n  error: [[a]]\n", ["wrong type in 'lint: error' at migrate.yaml:2:11"]),
])
def test_settings_file_lint_key_errors(lint, tmp_path, settings, words):
    write(tmp_path, "m/0001_clean.yaml", CLEAN)
    write(tmp_path, "migrate.yaml", settings)
    r = lint("lint", "-m", "m")
    assert r.rc == 2, r.describe()
    for w in words:
        assert w in r.err, r.describe()


def test_docs_index_lists_every_rule(lint):
    """docs/lint.md's table: every rule, with its default severity and
    category (the pages themselves: test_lint_corpus.py)."""
    rules = json.loads(lint("lint", "--list-rules", "--format", "json").out)["rules"]
    text = (ROOT / "docs" / "lint.md").read_text()
    for r in rules:
        row = f"| [{r['id']}](lint/{r['id']}.md) | {r['severity']} | {r['category']} |"
        assert row in text, f"docs/lint.md: no row '{row}'"


def test_a_finding_is_one_line_whatever_a_rule_quotes(lint, tmp_path):
    """The parser's 'at or near' of an unterminated string quotes the rest
    of the SQL, line breaks included (fuzz_lint found it): the engine keeps
    every format's one finding per line."""
    write(tmp_path, "0001_q.yaml",
          "operations:\n  - sql:\n      expand: |\n        UPDATE t SET a = 'x;\n"
          "        UPDATE t\n        SET b = 1;\n      rollback: SELECT 1\n")
    for dialect in ("postgres", "mysql"):
        r = lint("lint", "0001_q.yaml", "--dialect", dialect, "--format", "json")
        doc = json.loads(r.out)
        assert any(f["rule"] == "sql-syntax" for f in doc["findings"]), r.out
        for f in doc["findings"]:
            assert "\n" not in f["message"] and "\n" not in (f["hint"] or ""), f
        r = lint("lint", "0001_q.yaml", "--dialect", dialect, "--format", "gcc")
        assert all(line.startswith("0001_q.yaml:") for line in r.out.splitlines()), r.out

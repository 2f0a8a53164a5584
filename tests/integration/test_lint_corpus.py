"""The lint corpus (issue 14): every case of tests/lint/cases/ classified
by `migrate lint`, offline (no server is started by this file).

A case is one migration file, tests/lint/cases/<rule-id>/NNNN_<fail|pass>_<what>.yaml,
whose first comment lines say what lint must find:

    # expect: RULE [RULE@LINE:COL ...]   a fail case: each RULE is reported
                                         (not suppressed), at LINE:COL when given
    # expect: none                       a pass case: no error-level finding,
                                         and the directory's own rule not at all
    # dialect: mysql                     optional (default postgres): --dialect

Done-when of issue 14: at least 40 unsafe (fail) and 40 safe (pass) cases,
no false negative on the unsafe ones, no error-level false positive on the
safe ones; every rule has a fail case, a pass case and a page
docs/lint/<rule>.md.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "lint" / "cases"
DOCS = ROOT / "docs" / "lint"
# rules only a folder can show: tested in test_lint_cli.py
FOLDER_RULES = {"file-ignored"}


def case_files():
    return sorted(CASES.glob("*/*.yaml"))


def header(path):
    expect, dialect = None, "postgres"
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        m = re.match(r"#\s*expect:\s*(.*)$", line)
        if m:
            expect = m.group(1).split()
        m = re.match(r"#\s*dialect:\s*(\S+)", line)
        if m:
            dialect = m.group(1)
    return expect, dialect


def lint(migrate_bin, path, dialect):
    p = subprocess.run([migrate_bin, "lint", "--format", "json", "--dialect", dialect,
                        str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode in (0, 1), f"{path}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    doc = json.loads(p.stdout)
    has_error = any(f["severity"] == "error" and not f.get("suppressed")
                    for f in doc["findings"])
    assert p.returncode == (1 if has_error else 0), f"{path}: exit {p.returncode} vs findings"
    return doc["findings"]


def listed_rules(migrate_bin):
    p = subprocess.run([migrate_bin, "lint", "--list-rules", "--format", "json"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["rules"]


@pytest.mark.parametrize("path", case_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_case(migrate_bin, path):
    expect, dialect = header(path)
    assert expect, f"{path}: no '# expect:' line"
    kind = path.stem.split("_")[1]
    assert kind in ("fail", "pass"), f"{path}: name it NNNN_fail_... or NNNN_pass_..."
    findings = lint(migrate_bin, path, dialect)
    shown = "\n".join(f"  {f['line']}:{f['column']} {f['severity']}[{f['rule']}] {f['message']}"
                      for f in findings)
    live = [f for f in findings if not f.get("suppressed")]
    if kind == "pass":
        assert expect == ["none"], f"{path}: a pass case expects none"
        errors = [f for f in live if f["severity"] == "error"]
        assert not errors, f"{path}: error-level false positive:\n{shown}"
        assert not [f for f in live if f["rule"] == path.parent.name], \
            f"{path}: its own rule is reported:\n{shown}"
        return
    assert path.parent.name in [e.split("@")[0] for e in expect], \
        f"{path}: a fail case expects its directory's rule"
    for e in expect:
        rule, _, at = e.partition("@")
        hits = [f for f in live if f["rule"] == rule]
        if at:
            line, col = (int(x) for x in at.split(":"))
            hits = [f for f in hits if (f["line"], f["column"]) == (line, col)]
        assert hits, f"{path}: false negative, {e} not reported:\n{shown}"


def test_corpus_size():
    fails = [p for p in case_files() if p.stem.split("_")[1] == "fail"]
    passes = [p for p in case_files() if p.stem.split("_")[1] == "pass"]
    assert len(fails) >= 40 and len(passes) >= 40, (len(fails), len(passes))


def test_every_rule_has_cases_and_a_page(migrate_bin):
    missing = []
    for r in listed_rules(migrate_bin):
        rid = r["id"]
        if not (DOCS / f"{rid}.md").is_file():
            missing.append(f"docs/lint/{rid}.md")
        if rid in FOLDER_RULES:
            continue
        kinds = {p.stem.split("_")[1] for p in (CASES / rid).glob("*.yaml")}
        for k in ("fail", "pass"):
            if k not in kinds:
                missing.append(f"tests/lint/cases/{rid}/NNNN_{k}_*.yaml")
    assert not missing, "missing:\n  " + "\n  ".join(missing)

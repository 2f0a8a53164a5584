"""Colours and the gates that follow from them (design §2, issue 3 spec):
`colour register|set|heartbeat|list` (also spelled `color`), the readable
window, the contract and rollback gates on alive colours, liveness from the
database's sessions (--match), stale heartbeats (--ttl), switch-back safety
in `status`, the event log (`status --events N`, `log`), and the state
generation bumped by every colour change.

The heart of the file is a table-driven lifecycle matrix: each scenario is a
list of steps run in sequence against one database, each step with the exit
status and the words its output must (and must not) contain, or a check of
`colour list --json`. A failing step names its scenario and position."""

import re
import shlex
import shutil
import time
from collections import namedtuple

import pytest

from conftest import columns_of

# --------------------------------------------------------------------------
# the step runner


class S(namedtuple("S", "cmd rc has lacks")):
    """One command of a scenario: `cmd` as a shell-like string, the exit
    status expected, substrings the output (stdout + stderr) must contain
    and substrings it must not contain."""

    def __new__(cls, cmd, rc, has=(), lacks=()):
        if isinstance(has, str):
            has = (has,)
        if isinstance(lacks, str):
            lacks = (lacks,)
        return super().__new__(cls, cmd, rc, tuple(has), tuple(lacks))


def run_steps(p, scenario, steps):
    for i, step in enumerate(steps, 1):
        if callable(step):
            try:
                step(p)
            except AssertionError as e:
                raise AssertionError(f"scenario {scenario!r}, step {i} "
                                     f"({getattr(step, 'label', step)}): {e}") from None
            continue
        r = p.run(*shlex.split(step.cmd))
        where = f"scenario {scenario!r}, step {i}: migrate {step.cmd}"
        assert r.rc == step.rc, f"{where}: expected exit {step.rc}\n" + r.describe()
        for s in step.has:
            assert s in r.text, f"{where}: expected {s!r} in the output\n" + r.describe()
        for s in step.lacks:
            assert s not in r.text, f"{where}: did not expect {s!r}\n" + r.describe()


def colour_doc(p):
    """`colour list --json` as {name: colour} plus the window."""
    doc = p.json("colour", "list")
    return {c["name"]: c for c in doc["colours"]}, doc["window"]


def colours(**expected):
    """A step: each named colour has (state, alive, valid); None = absent."""
    def check(p):
        got, _ = colour_doc(p)
        for name, want in expected.items():
            if want is None:
                assert name not in got, f"colour {name} should not exist: {got}"
                continue
            assert name in got, f"colour {name} missing: {sorted(got)}"
            c = got[name]
            assert (c["state"], c["alive"], c["valid"]) == want, (
                f"colour {name}: (state, alive, valid) = "
                f"{(c['state'], c['alive'], c['valid'])}, expected {want}; "
                f"reason: {c['reason']}")
    check.label = "colours " + ", ".join(f"{k}={v}" for k, v in expected.items())
    return check


def window(low, high):
    def check(p):
        _, w = colour_doc(p)
        assert w == {"low": low, "high": high}, f"window {w}, expected {low}..{high}"
        assert p.json("status")["window"] == {"low": low, "high": high}
    check.label = f"window {low}..{high}"
    return check


def phases(**expected):
    """phases(m1='switched', m2='pending')"""
    def check(p):
        got = p.phases()
        want = {int(k[1:]): v for k, v in expected.items()}
        assert {k: got[k] for k in want} == want, f"phases {got}, expected {want}"
    check.label = f"phases {expected}"
    return check


ORDERS_DDL = """
CREATE TABLE orders (id bigserial PRIMARY KEY, total numeric NOT NULL);
INSERT INTO orders (total) SELECT g FROM generate_series(1, 20) g;
"""

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


def with_second_migration(p):
    p.db.execute(ORDERS_DDL)
    p.write("0002_add_priority.yaml", ADD_PRIORITY)
    return p


# --------------------------------------------------------------------------
# the lifecycle matrix

RETIRE_BLUE_HINT = "'migrate colour set blue --state retired'"

BLUE_GREEN = [
    # blue is the version in production: it needs the schema before 0001
    S("colour register blue --app-version 1.0 --requires 0", 0,
      ("blue registered", "app 1.0", "requires schema 0")),
    colours(blue=("live", True, True)),
    window(0, 0),
    # an alive name cannot be registered again
    S("colour register blue --app-version 1.1 --requires 0", 1,
      ("blue", "alive", "registered live", "retire it first")),
    S("expand", 0),
    # green cannot be registered before 0001 is switched
    S("colour register green --app-version 2.0 --requires 1 --state standby", 1,
      ("0001_rename_user_name is expanded but not switched",
       "migrate backfill 0001", "migrate switch-reads 0001")),
    colours(green=None),
    S("contract", 1, ("not switched",)),
    S("backfill", 0),
    S("colour register green --app-version 2.0 --requires 1 --state standby", 1,
      ("backfilled but not switched", "migrate switch-reads 0001")),
    S("switch-reads", 0),
    window(0, 1),
    S("colour register green --app-version 2.0 --requires 1 --state standby", 0,
      ("green registered", "app 2.0", "0001_rename_user_name", "standby")),
    colours(blue=("live", True, True), green=("standby", True, True)),
    # blue live: contract refused
    S("contract", 1, ("colour blue", "app 1.0", "requires", "registered live",
                      RETIRE_BLUE_HINT)),
    # promote: green live, blue kept on standby for a fast switch back
    S("colour set green --state live", 0, "standby -> live"),
    S("colour set blue --state standby", 0, "live -> standby"),
    colours(blue=("standby", True, True), green=("live", True, True)),
    S("contract", 1, ("colour blue", "app 1.0", "requires schema 0",
                      "registered standby", RETIRE_BLUE_HINT, "migrate contract 0001"),
      lacks=("colour green",)),
    phases(m1="switched"),
    # switch back: blue live again, green on standby
    S("colour set blue --state live", 0, "standby -> live"),
    S("colour set green --state standby", 0, "live -> standby"),
    S("rollback", 1, ("colour green", "app 2.0", "requires",
                      "0001_rename_user_name", "registered standby",
                      "'migrate colour set green --state retired'"),
      lacks=("colour blue",)),
    phases(m1="switched"),
    # green abandoned: retire it, then the rollback is allowed
    S("colour set green --state retired", 0, "standby -> retired"),
    S("rollback", 0, "rolled back"),
    phases(m1="pending"),
    colours(blue=("live", True, True), green=("retired", False, False)),
    # green's requirement was rolled back: it is invalid until registered again
    S("colour set green --state live", 1, ("refused", "register it again")),
    S("colour set green --state standby", 1, ("register it again",)),
    S("colour register green --app-version 2.1 --requires 1", 1,
      ("0001_rename_user_name is pending", "migrate expand 0001")),
    S("expand", 0), S("backfill", 0), S("switch-reads", 0),
    S("colour register green --app-version 2.1 --requires 0001 --state live", 0,
      ("green registered", "app 2.1")),
    colours(blue=("live", True, True), green=("live", True, True)),
    S("colour set blue --state retired", 0, "live -> retired"),
    S("contract", 0, "contracted"),
    phases(m1="contracted"),
    window(1, 1),
    # schema 0 is gone: blue can never come back
    S("colour register blue --app-version 1.0 --requires 0", 1,
      ("contracted", "roll forward")),
    S("colour set blue --state standby", 1, ("contracted", "roll forward")),
    S("colour set blue --state live", 1, ("roll forward",)),
    S("rollback 1", 1, ("contracted", "roll forward instead")),
    S("contract", 0, "nothing to do"),
    colours(blue=("retired", False, True), green=("live", True, True)),
]

CANARY_ABORTED = [
    # same release, `color` spelling, canary on standby that never gets traffic
    S("color register blue --app-version v41 --requires 0 --state live", 0),
    S("expand", 0), S("backfill", 0), S("switch-reads", 0),
    S("color register canary --app-version v42-rc1 --requires 0001_rename_user_name "
      "--state standby", 0, "canary registered"),
    colours(blue=("live", True, True), canary=("standby", True, True)),
    # both gates refuse: blue blocks contract, canary blocks rollback
    S("contract 0001", 1, ("colour blue", "app v41")),
    S("rollback 0001", 1, ("colour canary", "app v42-rc1", "requires")),
    # the canary is aborted
    S("color set canary --state retired", 0),
    S("rollback 0001", 0),
    colours(blue=("live", True, True), canary=("retired", False, False)),
    window(0, 0),
    # a retired colour with no sessions is replaced by a new registration
    S("expand", 0), S("backfill", 0), S("switch-reads", 0),
    S("color register canary --app-version v42-rc2 --requires 1 --state standby", 0),
    colours(canary=("standby", True, True)),
    # and then it is alive: registering it once more is refused
    S("color register canary --app-version v42-rc3 --requires 1", 1,
      ("canary", "is alive", "registered standby")),
    S("color set blue --state standby", 0),
    S("contract", 1, ("colour blue", "registered standby")),
    S("color set blue --state retired", 0),
    S("contract", 0),
    # the canary (requires 0001) stays readable after contract of 0001
    colours(blue=("retired", False, True), canary=("standby", True, True)),
    S("color set canary --state live", 0),
]

SEVERAL_PENDING = [
    # 0001 (rename on users) and 0002 (add_column on orders) both pending
    S("colour register blue --app-version 1 --requires 0", 0),
    S("colour register green --app-version 2 --requires 1", 1,
      ("0001_rename_user_name is pending", "migrate expand 0001")),
    S("colour register canary --app-version 3 --requires 2", 1,
      ("not readable", "0001_rename_user_name is pending",
       "migrations move in order", "migrate expand 0001")),
    S("expand 1", 0), S("backfill 1", 0), S("switch-reads 1", 0),
    window(0, 1),
    S("colour register green --app-version 2 --requires 1 --state standby", 0),
    # 0002 is pending: a colour requiring 2 is refused, naming 0002
    S("colour register canary --app-version 3 --requires 2", 1,
      ("0002_add_priority is pending", "migrate expand 0002",
       "migrate backfill 0002", "migrate switch-reads 0002"),
      lacks=("0001_rename_user_name is",)),
    S("expand 2", 0),
    S("colour register canary --app-version 3 --requires 0002", 1,
      ("0002_add_priority is expanded but not switched",
       "migrate backfill 0002", "migrate switch-reads 0002")),
    S("backfill 2", 0), S("switch-reads 2", 0),
    window(0, 2),
    S("colour register canary --app-version 3 --requires 0002_add_priority "
      "--state standby", 0, "canary registered"),
    colours(blue=("live", True, True), green=("standby", True, True),
            canary=("standby", True, True)),
    # contract 1: only blue (requires 0 < 1) blocks it
    S("contract 1", 1, ("colour blue",), lacks=("colour green", "colour canary")),
    # contract 2 must wait for 0001's contract
    S("contract 2", 1, ("0001",)),
    # rollback 2: only canary (requires 2 >= 2) blocks it
    S("rollback 2", 1, ("colour canary", "app 3"),
      lacks=("colour green", "colour blue")),
    S("colour set blue --state retired", 0),
    S("contract 1", 0),
    window(1, 2),
    # contract 2: green (requires 1 < 2) blocks it, canary (requires 2) does not
    S("contract 2", 1, ("colour green", "app 2", "registered standby",
                        "'migrate colour set green --state retired'"),
      lacks=("colour canary", "colour blue")),
    S("rollback 2", 1, ("colour canary",)),
    # the canary is aborted; green (requires 1) does not block rollback of 2
    S("colour set canary --state retired", 0),
    S("rollback 2", 0),
    phases(m1="contracted", m2="pending"),
    window(1, 1),
    colours(blue=("retired", False, True), green=("standby", True, True),
            canary=("retired", False, False)),
    S("colour register canary --app-version 3.1 --requires 2", 1,
      ("0002_add_priority is pending", "migrate expand 0002")),
    S("colour register blue --app-version 1 --requires 0", 1,
      ("contracted", "roll forward")),
    # green can still go live: 1 is inside the window
    S("colour set green --state live", 0),
]

SCENARIOS = {
    "blue-green": (lambda p: p, BLUE_GREEN),
    "canary-aborted": (lambda p: p, CANARY_ABORTED),
    "several-pending": (with_second_migration, SEVERAL_PENDING),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_lifecycle_matrix(users_project, scenario):
    setup, steps = SCENARIOS[scenario]
    p = setup(users_project)
    run_steps(p, scenario, steps)
    # every step that changed the registry or refused left an event
    events = p.json("log", "--limit", "1000")["events"]
    assert any(e["result"] == "refused" and e["colour"] for e in events), events
    assert any(e["result"] == "ok" and e["command"] == "colour" for e in events), events


# --------------------------------------------------------------------------
# bad input and the `color` spelling


@pytest.mark.parametrize("args,words", [
    ("colour register blue --requires 0", ["--app-version"]),
    ("colour register blue --app-version 1", ["--requires"]),
    ("colour register blue --app-version 1 --requires 7", ["--requires 7", "no migration"]),
    ("colour register blue --app-version 1 --requires abc", ["bad migration id"]),
    ("colour register blue --app-version 1 --requires 0001_x --state retired",
     ["live or standby"]),
    ("colour register 'bl ue' --app-version 1 --requires 0", ["bad colour name"]),
    ("colour register blue! --app-version 1 --requires 0", ["bad colour name"]),
    ("colour register " + "x" * 64 + " --app-version 1 --requires 0", ["bad colour name"]),
    ("colour register blue --app-version 1 --requires 0 --ttl soon", ["--ttl"]),
    ("colour register blue --app-version 1 --requires 0 --match ''", ["--match"]),
    ("colour register blue extra --app-version 1 --requires 0", ["unexpected argument"]),
    ("colour set blue", ["--state"]),
    ("colour set blue --state live --requires 0", ["belong to 'colour register'"]),
    ("colour heartbeat", ["missing argument"]),
    ("colour list --state live", ["no --state"]),
    ("colour list extra", ["unexpected argument"]),
    ("colour paint blue", ["unknown subcommand"]),
    ("colour", ["missing subcommand"]),
    ("color frob", ["unknown subcommand"]),
])
def test_bad_colour_arguments_exit_2(users_project, args, words):
    p = users_project
    p.ok("colour", "register", "red", "--app-version", "0.9", "--requires", "0")
    before = p.json("colour", "list")
    r = p.expect(2, *shlex.split(args))
    for w in words:
        assert w in r.err, f"expected {w!r} in stderr\n" + r.describe()
    assert p.json("colour", "list") == before


def test_unknown_colour_exit_2(users_project):
    p = users_project
    p.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    for args in (("colour", "set", "purple", "--state", "live"),
                 ("colour", "set", "purple", "--state", "retired"),
                 ("colour", "heartbeat", "purple"),
                 ("color", "set", "purple", "--state", "standby")):
        r = p.expect(2, *args)
        assert "unknown colour 'purple'" in r.err, r.describe()
        assert "colour list" in r.err, r.describe()
    assert list(colour_doc(p)[0]) == ["blue"]


def test_color_spelling_is_the_same_command(users_project):
    p = users_project
    r = p.ok("color", "register", "blue", "--app-version", "1.0", "--requires", "0")
    assert "blue registered" in r.err
    us = p.json("colour", "list")
    uk = p.json("color", "list")
    assert us == uk
    assert [c["name"] for c in us["colours"]] == ["blue"]
    p.ok("color", "set", "blue", "--state", "standby")
    assert colour_doc(p)[0]["blue"]["state"] == "standby"
    p.ok("color", "heartbeat", "blue")
    text = p.ok("color", "list").out
    assert re.search(r"^blue\s+standby\s+1\.0\s", text, re.M), text


def test_colour_commands_need_the_database(users_project):
    p = users_project
    p.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    url = "postgresql://app:secret-pw-1@127.0.0.1:1/nowhere"
    for args in (("colour", "list"),
                 ("colour", "register", "green", "--app-version", "2", "--requires", "0"),
                 ("colour", "set", "blue", "--state", "standby")):
        r = p.run_raw("-d", url, "-m", p.migrations, "--state", p.state, *args)
        assert r.rc == 3, r.describe()
        assert "****" in r.err, r.describe()
    assert colour_doc(p)[0]["blue"]["state"] == "live"


# --------------------------------------------------------------------------
# the JSON documents


def test_colour_list_json_fields(users_project):
    p = users_project
    doc = p.json("colour", "list")
    assert doc == {"colours": [], "window": {"low": 0, "high": 0}}
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0")
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    p.ok("colour", "register", "green", "--app-version", "2.0", "--requires", "1",
         "--state", "standby", "--match", "shop-green-*", "--ttl", "300")
    p.ok("colour", "set", "blue", "--state", "retired")
    doc = p.json("colour", "list")
    assert doc["window"] == {"low": 0, "high": 1}
    by = {c["name"]: c for c in doc["colours"]}
    assert sorted(by) == ["blue", "green"]
    for c in by.values():
        for k in ("name", "app_version", "requires", "state", "match", "ttl_s", "alive",
                  "reason", "sessions", "stale", "valid", "switch_back"):
            assert k in c, f"field {k} missing: {c}"
        assert isinstance(c["alive"], bool) and isinstance(c["stale"], bool)
        assert isinstance(c["valid"], bool) and isinstance(c["reason"], str)

    b, g = by["blue"], by["green"]
    assert b["app_version"] == "1.0"
    assert b["requires"] == {"id": 0, "name": "0 (before any migration)"}
    assert b["state"] == "retired"
    assert b["match"] is None and b["ttl_s"] is None and b["sessions"] is None
    assert b["alive"] is False and b["stale"] is False and b["valid"] is True
    assert "retired" in b["reason"]
    # blue is retired, 0001 switched: switching back is safe until its contract
    assert b["switch_back"]["safe"] is True
    assert "safe until contract of 0001" in b["switch_back"]["detail"]

    assert g["app_version"] == "2.0"
    assert g["requires"] == {"id": 1, "name": "0001_rename_user_name"}
    assert g["state"] == "standby"
    assert g["match"] == "shop-green-*"
    assert g["ttl_s"] == 300
    assert g["sessions"] == 0
    assert g["alive"] is True and g["stale"] is False and g["valid"] is True
    assert "standby" in g["reason"]
    assert g["switch_back"]["safe"] is True
    assert "rollback of 0001" in g["switch_back"]["detail"]
    assert "refused while it is alive" in g["switch_back"]["detail"]

    # a live colour has no switch-back line
    p.ok("colour", "set", "green", "--state", "live")
    assert colour_doc(p)[0]["green"]["switch_back"] is None

    # the same objects in status --json
    st = p.json("status")
    assert st["window"] == {"low": 0, "high": 1}
    assert {c["name"]: c["state"] for c in st["colours"]} == {"blue": "retired",
                                                             "green": "live"}


def test_register_and_set_json_documents(users_project):
    p = users_project
    doc = p.json("colour", "register", "blue", "--app-version", "1.0", "--requires", "0")
    assert doc["command"] == "colour" and doc["action"] == "register"
    assert doc["colour"]["name"] == "blue" and doc["colour"]["state"] == "live"
    assert doc["colour"]["requires"]["id"] == 0
    assert doc["window"] == {"low": 0, "high": 0}
    doc = p.json("colour", "set", "blue", "--state", "standby")
    assert doc["action"] == "set" and doc["colour"]["state"] == "standby"
    assert doc["colour"]["switch_back"]["safe"] is True
    doc = p.json("colour", "heartbeat", "blue")
    assert doc["action"] == "heartbeat" and doc["colour"] == "blue"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["heartbeat_at"]), doc
    # setting the state it already has changes nothing and says so
    r = p.ok("colour", "set", "blue", "--state", "standby")
    assert "nothing to do" in r.err


# --------------------------------------------------------------------------
# status: colours, window, switch-back safety, events


def test_status_shows_colours_window_and_switch_back(users_project):
    p = users_project
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0")
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    p.ok("colour", "register", "green", "--app-version", "2.0", "--requires", "1")
    p.ok("colour", "set", "blue", "--state", "retired")

    text = p.ok("status").out
    assert "readable window: schema versions 0..1" in text, text
    assert re.search(r"^blue\s+retired\s+1\.0\s+0 \(before any migration\)\s+not alive",
                     text, re.M), text
    assert re.search(r"^green\s+live\s+2\.0\s+0001_rename_user_name\s+alive", text,
                     re.M), text
    assert re.search(r"switching traffic back to blue: safe until contract of 0001",
                     text), text
    assert "switching traffic back to green" not in text
    assert "migrate contract 0001" in text  # next step: no alive colour needs 0

    st = p.json("status")
    assert st["window"] == {"low": 0, "high": 1}
    by = {c["name"]: c for c in st["colours"]}
    assert by["blue"]["switch_back"] == {"safe": True,
                                         "detail": "safe until contract of 0001"}
    assert by["green"]["switch_back"] is None
    assert st["events"] is None            # only with --events N

    # blue on standby: the next step says what blocks contract
    p.ok("colour", "set", "blue", "--state", "standby")
    st = p.json("status")
    assert "colour set blue --state retired" in st["next"], st["next"]
    assert "safe until contract of 0001 (refused while it is alive)" in \
        {c["name"]: c for c in st["colours"]}["blue"]["switch_back"]["detail"]

    # after contract: switching back to blue is no longer safe
    p.ok("colour", "set", "blue", "--state", "retired")
    p.ok("contract")
    text = p.ok("status").out
    assert "readable window: schema versions 1..1" in text, text
    assert re.search(r"switching traffic back to blue: not safe: .*contracted.*roll forward",
                     text), text
    sb = {c["name"]: c for c in p.json("status")["colours"]}["blue"]["switch_back"]
    assert sb["safe"] is False and "roll forward" in sb["detail"], sb


def _event_lines(text):
    """Rows of the event table: (command, id, colour, result, message)."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.*)$",
                     line)
        if m:
            rows.append(m.groups())
    return rows


def test_events_in_status_and_log(users_project):
    p = users_project
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0")
    p.ok("expand")
    p.expect(1, "colour", "register", "green", "--app-version", "2.0", "--requires", "1")
    p.ok("backfill")
    p.ok("switch-reads")
    p.ok("colour", "register", "green", "--app-version", "2.0", "--requires", "1")
    p.expect(1, "contract")
    p.ok("colour", "set", "blue", "--state", "retired")
    p.ok("contract")

    # log --json: every event, oldest first, with the colour in its own field
    events = p.json("log")["events"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for e in events:
        assert set(e) >= {"seq", "at", "command", "migration", "colour", "result", "message"}

    def find(**kw):
        return [e for e in events if all(e[k] == v for k, v in kw.items())]

    assert find(command="colour", colour="blue", result="ok", migration=None)
    refused_reg = find(command="colour", colour="green", result="refused")
    assert refused_reg and "expanded but not switched" in refused_reg[0]["message"]
    assert find(command="colour", colour="green", result="ok", migration=1)
    # a refused gate is one event, the command's, naming every blocking colour
    gate = find(command="contract", result="refused")
    assert len(gate) == 1, events
    assert "colour blue (app 1.0) requires schema 0" in gate[0]["message"], events
    assert find(command="colour", colour="blue", result="ok",
                message="colour blue: live -> retired")
    allowed = find(command="contract", result="allowed", migration=1)
    assert allowed and "gate passed" in allowed[0]["message"], events
    assert find(command="contract", result="ok", migration=1)
    # order: refusal, then the retirement, then the allowed contract
    i_ref = events.index(gate[0])
    i_ret = events.index(find(command="colour", message="colour blue: live -> retired")[0])
    i_ok = events.index(allowed[0])
    assert i_ref < i_ret < i_ok

    # --limit N: the newest N, oldest first
    last3 = p.json("log", "--limit", "3")["events"]
    assert last3 == events[-3:]

    # the text table has the colour in its own column
    rows = _event_lines(p.ok("log", "--limit", "100").out)
    assert len(rows) == len(events)
    assert ("contract", "0001", "-", "refused") in [r[:4] for r in rows], rows
    assert ("colour", "-", "blue", "ok") in [r[:4] for r in rows], rows
    assert ("contract", "0001", "-", "allowed") in [r[:4] for r in rows], rows

    # status --events N shows the same newest N
    text = p.ok("status", "--events", "4").out
    assert "events (newest 4)" in text
    srows = _event_lines(text.split("events (newest 4)")[1])
    assert len(srows) == 4
    assert [r[:4] for r in srows] == [r[:4] for r in rows[-4:]]
    st = p.json("status", "--events", "2")
    assert st["events"] == events[-2:]

    # bad --limit
    p.expect(2, "log", "--limit", "0")
    p.expect(2, "log", "--limit", "many")


def test_log_default_limit_is_50(users_project):
    p = users_project
    p.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    for i in range(28):
        p.ok("colour", "set", "blue", "--state", "standby" if i % 2 == 0 else "live")
    for i in range(28):
        p.expect(1, "colour", "register", "blue", "--app-version", "2", "--requires", "0")
    everything = p.json("log", "--limit", "1000")["events"]
    assert len(everything) == 57
    default = p.json("log")["events"]
    assert default == everything[-50:]
    assert len(_event_lines(p.ok("log").out)) == 50


def test_colour_changes_bump_the_generation(users_project):
    p = users_project
    p.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    g1 = p.json("status")["generation"]
    p.ok("colour", "register", "green", "--app-version", "1", "--requires", "0",
         "--state", "standby")
    g2 = p.json("status")["generation"]
    p.ok("colour", "set", "green", "--state", "retired")
    g3 = p.json("status")["generation"]
    assert g1 < g2 < g3, (g1, g2, g3)
    # refusals and no-ops change nothing
    p.expect(1, "colour", "register", "blue", "--app-version", "2", "--requires", "0")
    p.ok("colour", "set", "green", "--state", "retired")
    assert p.json("status")["generation"] == g3


# --------------------------------------------------------------------------
# stale heartbeats


def test_stale_heartbeat_still_counts_as_alive(users_project):
    p = users_project
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0",
         "--state", "standby", "--ttl", "1")
    p.ok("colour", "register", "green", "--app-version", "2.0", "--requires", "1",
         "--ttl", "3600")
    c = colour_doc(p)[0]["blue"]
    assert c["stale"] is False and c["ttl_s"] == 1
    time.sleep(2.2)

    by, _ = colour_doc(p)
    assert by["blue"]["stale"] is True, by["blue"]
    assert by["blue"]["alive"] is True
    assert "stale: last heartbeat" in by["blue"]["reason"]
    assert "ttl 1s" in by["blue"]["reason"]
    assert by["green"]["stale"] is False
    st = {c["name"]: c for c in p.json("status")["colours"]}
    assert st["blue"]["stale"] is True and st["blue"]["alive"] is True
    text = p.ok("status").out
    assert re.search(r"^blue .*alive: registered standby; stale: last heartbeat \d+s ago, "
                     r"ttl 1s", text, re.M), text

    # stale is the safe direction: contract still refused
    r = p.expect(1, "contract")
    assert "colour blue" in r.err and "stale" in r.err, r.describe()
    assert p.phases() == {1: "switched"}

    # a heartbeat refreshes it
    p.ok("colour", "heartbeat", "blue")
    c = colour_doc(p)[0]["blue"]
    assert c["stale"] is False and c["alive"] is True, c
    assert "stale" not in c["reason"]

    # a heartbeat from a retired colour is refused
    p.ok("colour", "set", "blue", "--state", "retired")
    r = p.expect(1, "colour", "heartbeat", "blue")
    assert "retired" in r.err and "register it again" in r.err, r.describe()
    assert colour_doc(p)[0]["blue"]["state"] == "retired"
    events = p.json("log")["events"]
    assert events[-1]["colour"] == "blue" and events[-1]["result"] == "refused"
    p.ok("contract")


# --------------------------------------------------------------------------
# liveness from the database's sessions


def test_sessions_keep_a_retired_colour_alive(users_project):
    p = users_project
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    app = p.db.connect(application_name="shop-blue-7")
    app.execute("SELECT count(*) FROM users")
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0",
         "--match", "shop-blue*")
    p.ok("colour", "register", "green", "--app-version", "2.0", "--requires", "1")
    p.ok("colour", "set", "blue", "--state", "retired")

    text = p.ok("colour", "list").out
    assert re.search(r"^blue\s+retired\s.*\balive: retired, but 1 session matching "
                     r"'shop-blue\*' connected", text, re.M), text
    c = colour_doc(p)[0]["blue"]
    assert c["alive"] is True and c["sessions"] == 1 and c["match"] == "shop-blue*"

    r = p.expect(1, "contract")
    assert "colour blue" in r.err and "1 session matching 'shop-blue*'" in r.err, r.describe()
    assert "stop them" in r.err, r.describe()
    assert "username" in columns_of(p.db, "users") and "user_name" in columns_of(p.db, "users")
    # registering the name again is refused as well: it still runs
    r = p.expect(1, "colour", "register", "blue", "--app-version", "1.1", "--requires", "1")
    assert "1 session" in r.err, r.describe()

    # a second session: the count follows
    app2 = p.db.connect(application_name="shop-blue-8")
    assert colour_doc(p)[0]["blue"]["sessions"] == 2
    assert "2 sessions matching" in p.expect(1, "contract").err
    app2.close()

    app.close()
    _wait_sessions(p, "blue", 0)
    c = colour_doc(p)[0]["blue"]
    assert c["alive"] is False and c["sessions"] == 0
    assert "no session matching" in c["reason"]
    p.ok("contract")
    assert "user_name" not in columns_of(p.db, "users")


def _wait_sessions(p, name, n, timeout=10):
    """pg_stat_activity forgets a closed session a moment after close()."""
    deadline = time.monotonic() + timeout
    while True:
        got = colour_doc(p)[0][name]["sessions"]
        if got == n or time.monotonic() > deadline:
            assert got == n, f"colour {name}: {got} sessions, expected {n}"
            return
        time.sleep(0.1)


def test_sessions_keep_a_live_colour_from_being_replaced(users_project):
    """Sessions only ever add liveness: a registered standby colour with no
    sessions is alive anyway, and sessions make a retired one alive."""
    p = users_project
    p.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0",
         "--state", "standby", "--match", "nobody-*")
    c = colour_doc(p)[0]["blue"]
    assert c["alive"] is True and c["sessions"] == 0
    p.expect(1, "colour", "register", "blue", "--app-version", "2", "--requires", "0")
    p.ok("colour", "set", "blue", "--state", "retired")
    assert colour_doc(p)[0]["blue"]["alive"] is False
    conn = p.db.connect(application_name="nobody-1")
    assert colour_doc(p)[0]["blue"]["alive"] is True
    p.expect(1, "colour", "register", "blue", "--app-version", "2", "--requires", "0")
    conn.close()
    _wait_sessions(p, "blue", 0)
    p.ok("colour", "register", "blue", "--app-version", "2", "--requires", "0")
    assert colour_doc(p)[0]["blue"]["app_version"] == "2"


GLOB_CASES = [
    # (colour, pattern, sessions it must count)
    ("underscore", "a_b*", 1),        # a_b1 only, never axb1
    # '%' is refused (test_colour_match.py): '?' is how to match it
    ("percent", "a?b", 1),            # a%b only, never aXYb or axb1
    ("question", "sh?p-1", 1),        # shop-1 only (not shop-12, not shoop-1)
    ("question-star", "sh?p-1*", 2),  # shop-1 and shop-12
    ("exact", "shop-12", 1),
    ("case", "Shop*", 0),             # case-sensitive
    ("quote", "it's-*", 1),           # a quote is just a character
    ("backslash", "c\\d*", 1),        # c\d1, never cXd1
    ("own", "migrate*", 0),           # migrate's own sessions never count
    ("other-db", "elsewhere-*", 0),   # sessions in another database do not count
    ("other-role", "super-*", 1),     # another role's session in this database counts
]

SESSION_NAMES = ["axb1", "a_b1", "aXYb", "a%b", "shop-1", "shop-12", "shoop-1",
                 "it's-1", "c\\d1", "cXd1", "migrate/ci-job"]


def test_match_is_a_glob(users_project, pg_server):
    p = users_project
    conns = [p.db.connect(application_name=n) for n in SESSION_NAMES]
    other = pg_server.admin("postgres")
    other.execute("SET application_name = 'elsewhere-1'")
    su = p.db.admin()
    su.execute("SET application_name = 'super-1'")
    try:
        for name, pattern, _ in GLOB_CASES:
            p.ok("colour", "register", name, "--app-version", "1", "--requires", "0",
                 "--match", pattern, "--state", "standby")
            p.ok("colour", "set", name, "--state", "retired")
        by, _ = colour_doc(p)
        got = {name: by[name]["sessions"] for name, _, _ in GLOB_CASES}
        want = {name: n for name, _, n in GLOB_CASES}
        assert got == want
        for name, pattern, n in GLOB_CASES:
            assert by[name]["match"] == pattern
            assert by[name]["alive"] is (n > 0), by[name]
        # the retired colours with sessions block the gate, the others do not
        p.ok("expand")
        p.ok("backfill")
        p.ok("switch-reads")
        r = p.expect(1, "contract")
        for name, _, n in GLOB_CASES:
            assert (f"colour {name} " in r.err) is (n > 0), f"{name}\n" + r.describe()
    finally:
        other.close()
        for c in conns:
            c.close()


# --------------------------------------------------------------------------
# the state file after a colour change


SIDECARS = ("", "-wal", "-shm", "-journal")


def test_stale_state_copy_refused_after_colour_change(users_project):
    p = users_project
    p.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    saved = p.dir / "saved-state"
    saved.mkdir()
    for s in SIDECARS:
        f = p.state.with_name(p.state.name + s)
        if f.exists():
            shutil.copy2(f, saved / f.name)
    p.ok("colour", "register", "green", "--app-version", "2", "--requires", "0",
         "--state", "standby")
    for s in SIDECARS:
        p.state.with_name(p.state.name + s).unlink(missing_ok=True)
    for f in saved.iterdir():
        shutil.copy2(f, p.state.parent / f.name)

    for args in (("status",), ("colour", "list"), ("expand",),
                 ("colour", "set", "blue", "--state", "retired"),
                 ("colour", "register", "green", "--app-version", "3", "--requires", "0")):
        r = p.expect(3, *args)
        assert "stale" in r.err and "state" in r.err, r.describe()
    assert p.db.query("SELECT count(*) FROM information_schema.columns "
                      "WHERE table_name = 'users' AND column_name = 'username'") == [(0,)]


def test_no_state_file_but_colours_in_history_is_refused(users_project):
    p = users_project
    p.ok("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    for s in SIDECARS:
        p.state.with_name(p.state.name + s).unlink(missing_ok=True)
    r = p.expect(3, "colour", "list")
    assert "does not exist" in r.err and "history" in r.err, r.describe()
    r = p.expect(3, "status")
    assert "colours registered" in r.err, r.describe()
    r = p.expect(3, "colour", "register", "blue", "--app-version", "1", "--requires", "0")
    assert "history" in r.err, r.describe()
    # refusing must not leave a fresh state file behind that a rerun would accept
    assert not p.state.exists()
    p.expect(3, "colour", "list")


# --------------------------------------------------------------------------
# found while writing these tests: behaviour that contradicts the spec.
# Kept last: ctest runs pytest with -x.


def test_rolled_back_requirement_stays_invalid_after_reexpand(users_project):
    """Spec: 'if V is later rolled back ... the colour is shown invalid and
    must be re-registered'; design §2: 'rolling that migration back makes the
    colour invalid until it is re-registered'. Expanding the same file again
    must not make the old registration valid again."""
    p = users_project
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    p.ok("colour", "register", "green", "--app-version", "2", "--requires", "1",
         "--state", "standby")
    p.ok("colour", "set", "green", "--state", "retired")
    p.ok("rollback")
    assert colour_doc(p)[0]["green"]["valid"] is False
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    c = colour_doc(p)[0]["green"]
    assert c["valid"] is False, (
        "green's requirement was rolled back; re-expanding the same file made "
        f"it valid again without a new registration: {c}")
    r = p.expect(1, "colour", "set", "green", "--state", "live")
    assert "register it again" in r.err, r.describe()


def test_register_json_shows_the_recorded_timestamps(users_project):
    """`colour register --json` prints the colour as stored: its
    registration time is known, not null."""
    p = users_project
    doc = p.json("colour", "register", "blue", "--app-version", "1", "--requires", "0")
    stored = colour_doc(p)[0]["blue"]
    assert stored["registered_at"] is not None
    for k in ("registered_at", "updated_at", "heartbeat_at"):
        assert doc["colour"][k] == stored[k], (k, doc["colour"], stored)


def test_sessions_that_cannot_be_seen_count_as_alive(users_project):
    """A hardened server hides pg_stat_activity from the application role:
    a retired colour with a pattern then counts as alive ("cannot be seen"),
    the safe direction, and contract is refused until the view is readable."""
    p = users_project
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0",
         "--match", "shop-blue*")
    p.ok("colour", "register", "green", "--app-version", "2.0", "--requires", "1")
    p.ok("colour", "set", "blue", "--state", "retired")
    adm = p.db.admin()
    adm.execute("REVOKE SELECT ON pg_catalog.pg_stat_activity FROM PUBLIC")
    try:
        c = colour_doc(p)[0]["blue"]
        assert c["alive"] is True and c["sessions"] == "unknown", c
        assert "cannot be seen" in c["reason"], c
        r = p.expect(1, "contract")
        assert "colour blue" in r.err and "cannot be seen" in r.err, r.describe()
        assert "user_name" in columns_of(p.db, "users")
    finally:
        adm.execute("GRANT SELECT ON pg_catalog.pg_stat_activity TO PUBLIC")
    assert colour_doc(p)[0]["blue"]["alive"] is False
    p.ok("contract")
    assert "user_name" not in columns_of(p.db, "users")

"""A colour's --match pattern, the gate's second line of defence, on both
databases (issue 16): `colour register`/`set` say how many sessions it
matches now and warn when it matches none; `colour list` and `status` show
the count per colour (text, and `matching_sessions` in JSON); a pattern in
SQL LIKE syntax ('%') is refused with the glob meant; `colour forget`
removes a retired colour that has no sessions of its own; sessions that a
retired colour's pattern and a newer live colour's pattern both match are
the newer colour's (deviation 10), while the retired colour's own sessions
keep blocking contract; `colour heartbeat --json` carries the colour's
record as register and set do; a refused gate is one event.

Sessions are real connections named as an application would name them:
application_name on PostgreSQL, the program_name connection attribute on
MariaDB (where the user name may match too)."""

import time

import pytest

ORDERS_DDL = ("CREATE TABLE orders (id int PRIMARY KEY, total int NOT NULL)",
              "INSERT INTO orders VALUES (1, 5), (2, 20), (3, 40)")

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


def colour_doc(p):
    return {c["name"]: c for c in p.json("colour", "list")["colours"]}


def open_sessions(target, *names):
    """Connections named like an application's pods."""
    conns = [target.db.connect(application_name=n) for n in names]
    for c in conns:     # a MariaDB session shows its program name once it ran something
        with c.cursor() as cur:
            cur.execute("SELECT 1")
    return conns


def close_and_wait(p, conns, colour, field, n, timeout=10):
    """Close conns and wait until the colour's count says the server
    forgot them (a closed client's session ends a moment later)."""
    for c in conns:
        c.close()
    deadline = time.monotonic() + timeout
    while True:
        got = colour_doc(p)[colour][field]
        if got == n:
            return
        assert time.monotonic() < deadline, f"colour {colour}: {field} {got}, expected {n}"
        time.sleep(0.1)


@pytest.fixture
def p(target):
    if target.is_mysql:
        target.db.grant_session_visibility()
    return target.project


def lines_after(text, first_word):
    """The row of colour first_word and the indented lines under it."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.split()[:1] == [first_word]:
            out = [line]
            for more in lines[i + 1:]:
                if not more.startswith(" "):
                    break
                out.append(more.strip())
            return out
    raise AssertionError(f"no row for {first_word}:\n{text}")


def test_match_counts_at_register_set_list_and_status(target, p):
    conns = open_sessions(target, "orders-api/v43/pod-a", "orders-api/v43/pod-b",
                          "orders-api/v42/pod-c")
    try:
        r = p.ok("colour", "register", "green", "--app-version", "43", "--requires", "0",
                 "--match", "orders-api/v43/*")
        assert "--match 'orders-api/v43/*' matches 2 sessions now" in r.err, r.describe()
        assert "warning" not in r.err, r.describe()

        # a pattern matching nothing: a warning naming what it is matched against
        r = p.ok("colour", "register", "blue", "--app-version", "41", "--requires", "0",
                 "--match", "orders-api/v41/*", "--state", "standby")
        assert ("warning: --match 'orders-api/v41/*' matches no session now: the gate will "
                "count 'blue' alive only while it is live or standby; check the pattern "
                "against ") in r.err, r.describe()
        what = "application_name" if target.is_pg else "program_name connection attribute"
        assert what in r.err, r.describe()
        # set says it again
        doc = p.json("colour", "set", "green", "--state", "standby")
        assert doc["colour"]["matching_sessions"] == 2, doc
        assert doc["colour_record"]["name"] == "green", doc
        r = p.run("colour", "set", "blue", "--state", "live")
        assert r.rc == 0 and "matches no session now" in r.err, r.describe()

        # '_' is literal in a glob and allowed; a colour without a pattern
        p.ok("colour", "register", "legacy_app", "--app-version", "1", "--requires", "0",
             "--match", "orders_api*", "--state", "standby")
        p.ok("colour", "register", "plain", "--app-version", "1", "--requires", "0",
             "--state", "standby")

        # list and status: the count per colour, text and JSON
        by = colour_doc(p)
        assert {n: c["matching_sessions"] for n, c in by.items()} == {
            "green": 2, "blue": 0, "legacy_app": 0, "plain": None}, by
        st = {c["name"]: c for c in p.json("status")["colours"]}
        assert st["green"]["matching_sessions"] == 2 and st["plain"]["matching_sessions"] is None
        for text in (p.ok("colour", "list").out, p.ok("status").out):
            assert "--match 'orders-api/v43/*' matches 2 sessions now" in lines_after(text, "green"), text
            assert "--match 'orders-api/v41/*' matches no session now" in lines_after(text, "blue"), text
            # a standby colour may never have had traffic: no "back"
            assert any(x.startswith("switching traffic to legacy_app: ")
                       for x in lines_after(text, "legacy_app")), text
            assert "switching traffic back to green" not in text and \
                "switching traffic to green: " in text, text
    finally:
        for c in conns:
            c.close()


@pytest.mark.parametrize("pattern,meant", [("shop-blue%", "shop-blue*"),
                                           ("%orders%", "*orders*")])
def test_like_pattern_refused_with_the_glob_meant(p, pattern, meant):
    r = p.expect(2, "colour", "register", "blue", "--app-version", "1", "--requires", "0",
                 "--match", pattern)
    assert f"--match '{pattern}'" in r.err, r.describe()
    assert f"'%' is literal in a glob: did you mean '{meant}'?" in r.err, r.describe()
    # nothing stored, nothing logged
    assert not p.state.exists() or "blue" not in colour_doc(p), r.describe()


def test_forget(target, p):
    p.ok("colour", "register", "canary", "--app-version", "2-rc", "--requires", "0",
         "--match", "canary-*", "--state", "standby")
    r = p.expect(1, "colour", "forget", "canary")
    assert "canary is standby, not retired" in r.err and \
        "colour set canary --state retired" in r.err, r.describe()
    r = p.expect(2, "colour", "forget", "cnary")
    assert "unknown colour 'cnary'" in r.err and "did you mean 'canary'?" in r.err, r.describe()

    conns = open_sessions(target, "canary-1")
    p.ok("colour", "set", "canary", "--state", "retired")
    r = p.expect(1, "colour", "forget", "canary")
    assert "its --match 'canary-*' matches 1 session now" in r.err, r.describe()
    close_and_wait(p, conns, "canary", "sessions", 0)

    r = p.ok("colour", "forget", "canary")
    assert "colour canary forgotten" in r.err, r.describe()
    assert "canary" not in colour_doc(p)
    events = p.json("log")["events"]
    assert [e["result"] for e in events if e["colour"] == "canary"
            and e["message"].startswith("colour forget")] == ["refused", "refused"], events
    last = events[-1]
    assert (last["command"], last["colour"], last["result"]) == ("colour", "canary", "ok"), last
    assert last["message"].startswith("forgot canary: app 2-rc"), last
    p.expect(2, "colour", "forget", "canary")
    # the name is free again
    p.ok("colour", "register", "canary", "--app-version", "3", "--requires", "0")


def test_retired_colour_and_a_newer_colour_with_overlapping_patterns(target, p):
    """Deviation 10: retired canary 'orders-api/v43*' and green for v43.1."""
    for sql in ORDERS_DDL:
        target.execute(sql)
    p.write("0001_add_priority.yaml", ADD_PRIORITY)
    # an older standby colour never claims the sessions of a colour registered after it
    p.ok("colour", "register", "older", "--app-version", "43.1-pre", "--requires", "0",
         "--match", "orders-api/v43.1/*", "--state", "standby")
    time.sleep(1.1)     # registration times are in seconds: later means later
    p.ok("colour", "register", "canary", "--app-version", "43-canary", "--requires", "0",
         "--match", "orders-api/v43*", "--state", "standby")
    p.ok("colour", "set", "canary", "--state", "retired")
    new_pod = open_sessions(target, "orders-api/v43.1/pod-a")
    c = colour_doc(p)["canary"]
    assert (c["alive"], c["sessions"], c["matching_sessions"]) == (True, 1, 1), c
    p.ok("colour", "set", "older", "--state", "retired")
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")

    time.sleep(1.1)
    p.ok("colour", "register", "green", "--app-version", "43.1", "--requires", "1",
         "--match", "orders-api/v43.1/*")
    by = colour_doc(p)
    c = by["canary"]
    assert (c["alive"], c["sessions"], c["matching_sessions"], c["claimed_by"]) == \
        (False, 0, 1, ["green"]), c
    assert "1 session matching 'orders-api/v43*' counts as green's" in c["reason"], c
    assert by["green"]["matching_sessions"] == 1
    text = p.ok("colour", "list").out
    assert "--match 'orders-api/v43*' matches 1 session now (1 of them counts as green's, " \
        "registered later)" in lines_after(text, "canary"), text
    # retired 'older' is older than canary and retired: it claims nothing,
    # and its own pattern's session is green's too
    assert by["older"]["alive"] is False and by["older"]["claimed_by"] == ["green"], by

    # canary's own old pod (green's pattern does not match it) keeps blocking
    old_pod = open_sessions(target, "orders-api/v43/pod-old")
    c = colour_doc(p)["canary"]
    assert (c["alive"], c["sessions"], c["matching_sessions"]) == (True, 1, 2), c
    before = len(p.json("log")["events"])
    r = p.expect(1, "contract")
    assert "colour canary (app 43-canary) requires schema 0 (before any migration) and is " \
        "alive: retired, but 1 session matching 'orders-api/v43*' connected" in r.err, r.describe()
    r = p.expect(1, "colour", "forget", "canary")
    assert "matches 1 session now" in r.err, r.describe()
    # a refused gate is one event, naming every blocking colour
    events = p.json("log")["events"][before:]
    gate = [e for e in events if e["command"] == "contract"]
    assert len(gate) == 1 and gate[0]["result"] == "refused", events
    assert "colour canary" in gate[0]["message"], gate

    close_and_wait(p, old_pod, "canary", "sessions", 0)
    r = p.ok("contract")
    assert "warning: retired colour canary (app 43-canary) is not counted: 1 session " \
        "matching 'orders-api/v43*' also matches the pattern of green, registered later" \
        in r.err, r.describe()
    allowed = [e for e in p.json("log")["events"] if e["result"] == "allowed"]
    assert "retired colour canary" in allowed[-1]["message"], allowed
    # sessions claimed by a newer colour do not keep canary from being forgotten
    p.ok("colour", "forget", "canary")
    for c in new_pod:
        c.close()


def test_heartbeat_json_carries_the_record(p):
    reg = p.json("colour", "register", "hb", "--app-version", "7", "--requires", "0",
                 "--ttl", "60", "--match", "hb-*")
    hb = p.json("colour", "heartbeat", "hb")
    assert hb["colour"] == "hb"                       # unchanged: the name
    rec = hb["colour_record"]
    assert rec["heartbeat_at"] == hb["heartbeat_at"], hb
    assert set(rec) == set(reg["colour_record"]), (rec, reg)
    assert set(rec) <= set(reg["colour"]), (rec, reg)
    for k in ("name", "app_version", "state", "match", "ttl_s", "registered_at"):
        assert rec[k] == reg["colour"][k], k
    assert rec["requires"] == {"id": 0}

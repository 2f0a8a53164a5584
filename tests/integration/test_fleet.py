"""Fleets (issue 17, part 3): `migrate --fleet FILE <command>` runs the same
migration files on many databases, one child migrate per target with its
own state file, and ends with a summary and the worst exit status.

The story, on the session servers of both kinds:

- test_hundred_targets: 50 PostgreSQL and 50 MariaDB databases, each with a
  table of 300 rows, go through expand, backfill, switch-reads and contract
  with --fleet. One PostgreSQL target fails for real in the middle of its
  backfill (a trigger raises for one row, after three batches committed):
  it exits 3, the 99 others finish, the summary and the exit status say so
  and its log says why. With the fault removed, the same fleet command
  again does work on that target only, from its checkpoint; at the end all
  100 tables hold every row with the right values.
- test_fleet_gate: a colour that needs the old schema, alive on one target,
  refuses contract on all (exit 1, nothing contracted anywhere, naming the
  colour and the target); once it is retired, contract passes everywhere.
- test_status_fleet: a target behind the others and one that cannot be
  reached are shown as such (exit 3).
- test_bad_fleet_files: what is refused before anything runs (exit 2).

Passwords (in the URLs, some through ${VAR}) never appear in stdout, stderr
or any target's log.
"""

import json
import re
import signal
import subprocess
import time

import pytest

from harness.fleet import mariadb_databases, pg_databases, seed_items
from harness.result import Runner
from harness.secrets import APP_PASSWORD, assert_no_secret

ROWS = 300
MIGRATION = """\
description: items.w, twice v, for the fleet
operations:
  - add_column:
      table: items
      column: w
      type: integer
      backfill: "v * 2"
"""


# --------------------------------------------------------------------------
# building a fleet


def _seed(database):
    seed_items(database, ROWS)


class Fleet:
    """A fleet file in tmp_path over databases of both kinds."""

    def __init__(self, migrate_bin, tmp_path, members):
        self.bin = migrate_bin
        self.dir = tmp_path
        self.members = members          # [(name, database)]
        (tmp_path / "migrations").mkdir()
        (tmp_path / "migrations" / "0001_add_w.yaml").write_text(MIGRATION)
        self.write(members)

    def write(self, members, extra=""):
        lines = ["concurrency: 8", "targets:"]
        for name, database in members:
            url = database.url
            if database.kind == "pg":     # the password from the environment
                url = url.replace(APP_PASSWORD, "${FLEET_PG_PASSWORD}")
            lines += [f"  - name: {name}", f"    url: {json.dumps(url)}"]
        (self.dir / "fleet.yaml").write_text("\n".join(lines) + "\n" + extra)

    def run(self, *args, code=0, env=None):
        full = {"FLEET_PG_PASSWORD": APP_PASSWORD, **(env or {})}
        r = Runner(self.bin, self.dir).run_raw("--fleet", "fleet.yaml", *args, env=full,
                                               timeout=240)
        assert r.rc == code, r.describe()
        return r

    def log(self, name):
        return (self.dir / ".migrate" / "fleet" / f"{name}.log").read_text()

    def state(self, name):
        return str(self.dir / ".migrate" / "fleet" / f"{name}.db")

    def alone(self, name, *args, code=0):
        """migrate on one target by hand: its URL and its state file."""
        database = dict(self.members)[name]
        r = Runner(self.bin, self.dir).run_raw(*args, env={
            "MIGRATE_DATABASE_URL": database.url, "MIGRATE_STATE": self.state(name)})
        assert r.rc == code, r.describe()
        return r

    def assert_logs_clean(self):
        for log in (self.dir / ".migrate" / "fleet").glob("*.log"):
            assert_no_secret(log.read_text(), where=str(log))


def _rows_of(table_out):
    """The summary table's rows: {target: (exit, result)}."""
    rows = {}
    for line in table_out.splitlines()[1:]:
        m = re.match(r"(\S+)\s+(\S+)\s+(\S+)\s+(.*)$", line)
        if m and not line.startswith(("TARGET",)) and "targets:" not in line:
            rows[m.group(1)] = (m.group(2), m.group(4))
    return rows


def _pg_databases(server, n, label):
    return pg_databases(server, n, ROWS, label)


def _mariadb_databases(server, n, label):
    return mariadb_databases(server, n, ROWS, label)


@pytest.fixture
def fleet_of(pg_server, mariadb_server, migrate_bin, tmp_path):
    """fleet_of(n_pg, n_mariadb) -> a Fleet; drop=False leaves the databases
    to the end of the session (the servers are thrown away then: dropping
    100 databases one by one would take longer than the test)."""
    made = []

    def make(n_pg, n_my, label="f", drop=True):
        pgs, template = _pg_databases(pg_server, n_pg, label)
        mys = _mariadb_databases(mariadb_server, n_my, label)
        if drop:
            made.extend(pgs + mys + [template])
        members = [(f"pg-{i:02d}", d) for i, d in enumerate(pgs)]
        members += [(f"my-{i:02d}", d) for i, d in enumerate(mys)]
        return Fleet(migrate_bin, tmp_path, members)
    yield make
    for d in made:
        d.drop()


def _assert_data(fleet):
    for name, d in fleet.members:
        rows = d.query("SELECT count(*), sum(CASE WHEN w = v * 2 THEN 1 ELSE 0 END), "
                       "sum(v) FROM items")
        d.close()
        assert [tuple(int(x) for x in rows[0])] == [(ROWS, ROWS, ROWS * (ROWS + 1) // 2)], name


def _phase(fleet, name):
    doc = json.loads(fleet.alone(name, "status", "--json").out)
    return {m["id"]: m for m in doc["migrations"]}[1]


# --------------------------------------------------------------------------
# 100 targets, one failing mid-backfill


FAULT = """
CREATE FUNCTION fleet_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id = 170 THEN RAISE EXCEPTION 'fleet test fault on row %', NEW.id; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER fleet_fault BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION fleet_fault();
"""


def test_hundred_targets(fleet_of):
    fleet = fleet_of(50, 50, drop=False)
    broken = "pg-07"
    bad_db = dict(fleet.members)[broken]

    r = fleet.run("expand")
    assert "100 targets: 100 ok" in r.out, r.out

    bad_db.execute(FAULT)
    r = fleet.run("backfill", "--batch-size", "50", code=3)
    rows = _rows_of(r.out)
    assert len(rows) == 100
    assert rows[broken][0] == "3" and "fleet test fault" in rows[broken][1], rows[broken]
    assert all(rows[n][0] == "0" for n, _ in fleet.members if n != broken)
    assert f"100 targets: 99 ok, 1 failed (exit 3): {broken}" in r.out, r.out
    assert f".migrate/fleet/{broken}.log" in r.out
    assert "rerun the same command to resume it" in r.out
    assert re.search(rf"\[\d+/100\] {broken}  exit 3", r.err), r.err
    assert "fleet test fault on row 170" in fleet.log(broken)
    stopped = _phase(fleet, broken)
    assert stopped["phase"] == "expanded"
    assert stopped["backfill"]["done"] is False
    assert stopped["backfill"]["rows_done"] == 150      # three batches committed

    bad_db.execute("DROP TRIGGER fleet_fault ON items")
    r = fleet.run("backfill", "--batch-size", "50")
    rows = _rows_of(r.out)
    assert "100 targets: 100 ok" in r.out
    assert all("nothing to do" in rows[n][1] for n, _ in fleet.members if n != broken), r.out
    assert "nothing to do" not in rows[broken][1], rows[broken]
    resumed = _phase(fleet, broken)
    assert resumed["backfill"]["done"] is True
    # from its checkpoint: the rerun copied only the 150 rows left
    assert resumed["backfill"]["rows_done"] == ROWS
    last_run = fleet.log(broken).rsplit("==== ", 1)[1]
    assert "resuming 1 part(s) (150 rows done)" in last_run, last_run
    assert "150 copied by this run, 150 by earlier runs" in last_run, last_run

    fleet.run("switch-reads")
    r = fleet.run("contract")
    assert "100 targets: 100 ok" in r.out
    _assert_data(fleet)
    assert all(_phase(fleet, n)["phase"] == "contracted" for n in ("pg-00", "my-49", broken))
    fleet.assert_logs_clean()


# --------------------------------------------------------------------------
# a small fleet: the gate, JSON, status (the sanitizer slice runs these)


def test_fleet_gate(fleet_of):
    fleet = fleet_of(3, 3)
    for step in ("expand", "backfill", "switch-reads"):
        fleet.run(step)
    # a colour on every target through the fleet ('--state' after 'colour'
    # is the colour's): it requires 1, so contract of 1 does not wait for it
    r = fleet.run("colour", "register", "green", "--app-version", "v2", "--requires", "1",
                  "--state", "standby")
    assert "6 targets: 6 ok" in r.out, r.out
    # rollback is gated fleet-wide the same way: green needs 0001's new schema
    r = fleet.run("rollback", code=1)
    assert "'rollback' refused on all 6 targets" in r.err, r.err
    assert re.search(r"colour 'green' \(requires 0001\) is alive on pg-00 .*: rollback of 0001 "
                     r"would remove the new schema it reads \(on 6 targets\)", r.err), r.err
    assert all(_phase(fleet, n)["phase"] == "switched" for n, _ in fleet.members)
    fleet.alone("my-01", "colour", "register", "blue", "--app-version", "v1",
                "--requires", "0")

    r = fleet.run("contract", code=1)
    assert "fleet-wide colour gate" in r.err
    assert "colour 'blue' (requires 0000) is alive on my-01" in r.err, r.err
    assert "on 6 targets" in r.err
    assert "colour set NAME --state retired" in r.err
    assert all(_phase(fleet, n)["phase"] == "switched" for n, _ in fleet.members)

    doc = json.loads(fleet.run("--json", "contract", code=1).out)
    assert doc["exit"] == 1 and doc["gate"]["blocking"][0]["target"] == "my-01"

    r = fleet.run("--fleet-gate-only", "contract", code=1)
    assert "colour 'blue' (requires 0000) is alive on my-01" in r.err, r.err

    fleet.alone("my-01", "colour", "set", "blue", "--state", "retired")
    r = fleet.run("contract", "--fleet-gate-only")
    assert "no alive colour on any of the 6 targets blocks 'contract'" in r.out, r.out
    assert all(_phase(fleet, n)["phase"] == "switched" for n, _ in fleet.members)
    doc = json.loads(fleet.run("contract", "--json").out)
    assert doc["exit"] == 0 and doc["counts"]["ok"] == 6
    for t in doc["targets"]:
        assert t["exit"] == 0 and t["result"]["phase"] == "contracted", t
        assert APP_PASSWORD not in t["url"] and "****" in t["url"]
    _assert_data(fleet)
    fleet.assert_logs_clean()


def test_status_fleet(fleet_of, closed_port):
    fleet = fleet_of(2, 1)
    fleet.run("expand")
    late = fleet.members[0][1].server.new_database("late")
    _seed(late)
    unreachable = fleet.members[0][1].server.new_database("gone")
    try:
        gone_url = unreachable.url.replace(f":{unreachable.server.port}/", f":{closed_port}/")
        unreachable.url = gone_url
        members = fleet.members + [("late", late), ("gone", unreachable)]
        fleet.write(members)
        r = fleet.run("status", "--network-timeout", "2s", code=3)
        lines = {line.split()[0]: line for line in r.out.splitlines() if line.strip()}
        assert re.search(r"^late\s+none applied\s+0001 not expanded", lines["late"]), r.out
        assert re.search(r"^pg-00\s+0001 expanded\s+no\s", lines["pg-00"]), r.out
        assert "cannot read:" in lines["gone"], r.out
        assert "5 targets: 4 read, 1 could not be read, 1 behind" in r.out
        # the other form, and JSON
        r = Runner(fleet.bin, fleet.dir).run_raw(
            "status", "--fleet", "fleet.yaml", "--json", "--network-timeout", "2s",
            env={"FLEET_PG_PASSWORD": APP_PASSWORD})
        assert r.rc == 3, r.describe()
        doc = json.loads(r.out)
        t = {x["name"]: x for x in doc["targets"]}
        assert t["late"]["behind"] == [{"id": 1, "phase": "pending",
                                        "fleet_phase": "expanded"}]
        assert t["gone"]["schema"] is None and t["gone"]["notes"][0].startswith("cannot read")
        assert t["my-00"]["result"]["migrations"][0]["phase"] == "expanded"
        assert doc["counts"] == {"targets": 5, "read": 4, "unreadable": 1, "behind": 1}
    finally:
        late.drop()
        unreachable.drop()
    fleet.assert_logs_clean()


# --------------------------------------------------------------------------
# refused before anything runs


BAD_FILES = [
    ("targets:\n  - name: a\n    url: postgres://x@h/d\n  - name: a\n    url: postgres://y@h/d\n",
     r"duplicate target name 'a' at fleet.yaml:4:11"),
    ("targets:\n  - name: a\n", r"missing 'url' at fleet.yaml:2:5"),
    ("targets:\n  - url: postgres://app:${FLEET_UNSET_PW}@h/d\n",
     r"environment variable 'FLEET_UNSET_PW' is not set \(used at fleet.yaml:2:25\)"),
    ("targets:\n  - url: postgres://h/d\n  - [\n", r"YAML syntax error at fleet.yaml:4:1"),
    ("targets:\n  - url: postgres://h/d\n    stat: x.db\n",
     r"unknown key 'stat' in a target at fleet.yaml:3:5: did you mean 'state'\?"),
    ("concurency: 3\ntargets:\n  - url: postgres://h/d\n",
     r"unknown key 'concurency' in the fleet file at fleet.yaml:1:1: did you mean 'concurrency'"),
    ("targets_command: echo postgres://h/d; exit 4\n",
     r"targets_command 'echo postgres://h/d; exit 4' of 'fleet.yaml' failed \(exit status 4\)"),
]


@pytest.mark.parametrize("text, message", BAD_FILES)
def test_bad_fleet_files(cli, tmp_path, text, message):
    (tmp_path / "fleet.yaml").write_text(text)
    r = cli.run_raw("--fleet", "fleet.yaml", "expand", cwd=tmp_path)
    assert r.rc == 2, r.describe()
    assert re.search(message, r.err), r.err
    assert not (tmp_path / ".migrate").exists()      # nothing ran


def test_fleet_refusals(cli, tmp_path):
    (tmp_path / "fleet.yaml").write_text("targets:\n  - url: postgres://h/d\n")
    for args, message in [
            (("lint",), "'lint' does not touch a database"),
            (("init",), "'init' does not touch a database"),
            ((), "needs a command to run on every target"),
            (("-d", "postgres://h/d", "status"), "'--database' cannot be used with --fleet"),
            (("status", "--state-file", "x.db"), "'--state-file' cannot be used with --fleet"),
            (("--fleet-jobs", "2"), "needs a command to run on every target"),
            (("status", "--watch"), "status --watch is not taken with --fleet"),
            (("--fleet-jobs", "300", "status"), "at most 256 targets run at once"),
    ]:
        r = cli.run_raw("--fleet", "fleet.yaml", *args, cwd=tmp_path)
        assert r.rc == 2 and message in r.err, r.describe()
    r = cli.run_raw("status", "--fleet-jobs", "2", cwd=tmp_path)
    assert r.rc == 2 and "--fleet-jobs is only taken with --fleet FILE" in r.err, r.describe()
    r = cli.run_raw("--help", cwd=tmp_path)
    assert "--fleet FILE" in r.out and "--fleet-jobs N" in r.out


def test_targets_command(fleet_of):
    """Targets printed by a command ("URL" or "NAME URL"), a password among
    them, run beside the listed ones; names default from the URL."""
    fleet = fleet_of(1, 1)
    (name0, d0), (_, d1) = fleet.members
    script = fleet.dir / "list-shards"
    script.write_text(f"#!/bin/sh\necho '{d1.url}'\n")
    script.chmod(0o755)
    fleet.write([(name0, d0)], extra="targets_command: ./list-shards\n")
    r = fleet.run("expand")
    default_name = f"{d1.server.host}_{d1.server.port}_{d1.name}"
    assert "2 targets: 2 ok" in r.out and default_name in r.out, r.out
    assert "expanded" in fleet.log(default_name)
    fleet.assert_logs_clean()


# --------------------------------------------------------------------------
# a signal: passed on, nothing new starts, exit 3, the rerun goes on


def test_signal_stops_the_fleet_resumably(fleet_of):
    fleet = fleet_of(2, 2)
    fleet.run("expand")
    first = dict(fleet.members)["pg-00"]
    env = {"FLEET_PG_PASSWORD": APP_PASSWORD}
    from harness.env import _clean_env
    p = subprocess.Popen([fleet.bin, "--fleet", "fleet.yaml", "--fleet-jobs", "2", "backfill",
                          "--batch-size", "10", "--max-rows-per-sec", "40"],
                         cwd=fleet.dir, env=_clean_env(env), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while first.query("SELECT count(w) FROM items")[0][0] < 20:
            assert time.monotonic() < deadline, "the backfill did not start"
            time.sleep(0.1)
        first.close()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert_no_secret(out, err)
    assert p.returncode == 3, out + err
    rows = _rows_of(out)
    assert rows["pg-00"][0] == "3" and rows["pg-01"][0] == "3", out
    assert rows["my-00"] == ("-", "not started (stopped by a signal)"), out
    assert "2 not started (stopped by a signal)" in out
    assert "resumable" in fleet.log("pg-00"), fleet.log("pg-00")
    stopped = _phase(fleet, "pg-00")["backfill"]
    assert 0 < stopped["rows_done"] < ROWS and not stopped["done"]

    r = fleet.run("backfill")
    assert "4 targets: 4 ok" in r.out
    fleet.run("switch-reads")
    fleet.run("contract")
    _assert_data(fleet)


# --------------------------------------------------------------------------
# no option silently dropped; MIGRATE_FLEET and MIGRATE_FLEET_JOBS


def _last_header(log):
    """The header line of the last run in a target's log."""
    return [line for line in log.splitlines() if line.startswith("==== ")][-1]


def test_status_options_on_a_fleet(fleet_of):
    """Each option of status with --fleet is passed on to every target
    (the log's header shows it) or refused, exit 2, naming it."""
    fleet = fleet_of(1, 1)
    fleet.run("expand")
    fleet.run("status", "--lock-timeout", "1500ms", "--network-timeout", "3s", "-v")
    for name, _ in fleet.members:
        header = _last_header(fleet.log(name))
        assert "status --json --network-timeout 3000ms --lock-timeout 1500ms --verbose" \
            in header and "(fleet fleet.yaml: status)" in header, header
    # one child refusing a value is that target's exit 2: passed on, not dropped
    r = fleet.run("status", "--network-timeout", "50ms", code=3)
    assert "at least 100ms" in fleet.log("pg-00"), fleet.log("pg-00")

    r = fleet.run("status", "--events", "5", code=2)
    assert "status --events is not shown by the fleet's table" in r.err, r.err
    assert "add --json" in r.err and "status --events 5" in r.err, r.err
    doc = json.loads(fleet.run("status", "--events", "5", "--json").out)
    for t in doc["targets"]:
        assert any(e["command"] == "expand" for e in t["result"]["events"]), t
    r = fleet.run("status", "--interval", "1s", code=2)
    assert "status --interval (the pace of --watch) is not taken with --fleet" in r.err, r.err
    assert "watch -n 10 migrate --fleet fleet.yaml status" in r.err

    # the gate's status gets contract's options that status takes (nothing
    # is switched: the gate reads every target and lets contract through)
    fleet.run("contract", "--fleet-gate-only", "--lock-timeout", "2s", "--lock-retries", "1")
    header = _last_header(fleet.log("my-00"))
    assert "status --json --lock-timeout 2000ms  (fleet fleet.yaml: colour gate before " \
           "contract)" in header, header


def _run_env(fleet, *args, env, code=0):
    """migrate without --fleet, env added to the fleet's password."""
    r = Runner(fleet.bin, fleet.dir).run_raw(*args, env={"FLEET_PG_PASSWORD": APP_PASSWORD,
                                                         **env})
    assert r.rc == code, r.describe()
    return r


def test_fleet_from_the_environment(fleet_of):
    """MIGRATE_FLEET runs the command on the fleet; the children never see
    it; lint and a command line with --database run as without it."""
    fleet = fleet_of(1, 1)
    env = {"MIGRATE_FLEET": "fleet.yaml", "MIGRATE_FLEET_JOBS": "1"}
    r = _run_env(fleet, "expand", env=env)
    assert "2 targets: 2 ok" in r.out, r.out
    assert re.search(r"\[1/2\] pg-00  exit 0", r.err) and "[2/2] my-00" in r.err, r.err
    assert all(_phase(fleet, n)["phase"] == "expanded" for n, _ in fleet.members)
    # each child ran expand on its one target, not the fleet again
    assert "expanded" in fleet.log("my-00") and "targets:" not in fleet.log("my-00")

    for jobs in ("0", "300", "many"):
        r = _run_env(fleet, "status", env={**env, "MIGRATE_FLEET_JOBS": jobs}, code=2)
        assert f"bad value '{jobs}' for MIGRATE_FLEET_JOBS (environment): expected 1 to " \
               "256" in r.err and "fix or unset MIGRATE_FLEET_JOBS" in r.err, r.err
    r = _run_env(fleet, "--fleet-jobs", "0", "status", env=env, code=2)
    assert "--fleet-jobs 0: at least 1 target runs at once" in r.err, r.err
    # the command line wins over the variable
    r = _run_env(fleet, "--fleet-jobs", "2", "status", env={**env, "MIGRATE_FLEET_JOBS": "0"})
    assert "2 targets: 2 read" in r.out, r.out

    # lint touches no database: it runs once, as without MIGRATE_FLEET
    r = _run_env(fleet, "lint", env=env)
    assert "targets" not in r.out + r.err, r.describe()
    # --database on the command line: that one database
    pg = dict(fleet.members)["pg-00"]
    r = _run_env(fleet, "--database", pg.url, "--state-file", fleet.state("pg-00"), "status",
                        "--json", env=env)
    assert json.loads(r.out)["migrations"][0]["phase"] == "expanded"
    r = _run_env(fleet, "--state-file", "x.db", "status", env=env, code=2)
    assert "'--state-file' cannot be used with MIGRATE_FLEET (environment)" in r.err, r.err
    assert "give --database URL too" in r.err
    r = _run_env(fleet, "status", "--watch", env=env, code=2)
    assert "status --watch is not taken with MIGRATE_FLEET (environment)" in r.err, r.err
    # every child would write the one metrics file: refused, nothing runs
    metrics = fleet.dir / "m.prom"
    r = _run_env(fleet, "contract", env={**env, "MIGRATE_METRICS_FILE": str(metrics)}, code=2)
    assert "MIGRATE_METRICS_FILE (environment) cannot be used with MIGRATE_FLEET " \
           "(environment): every target would write the same file" in r.err, r.err
    assert "env -u MIGRATE_METRICS_FILE" in r.err, r.err
    assert not metrics.exists()
    assert all(_phase(fleet, n)["phase"] == "expanded" for n, _ in fleet.members)
    fleet.assert_logs_clean()

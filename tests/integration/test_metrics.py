"""--metrics-file PATH (issue 16 item 3): the Prometheus text format,
written atomically (node_exporter's textfile collector convention), on
PostgreSQL and MariaDB (one test per behaviour, `target`).

Every file is read back with the parser Prometheus's own Python client
ships (Debian's python3-prometheus-client, text_string_to_metric_families),
never with a regex:

- after status, expand, backfill and switch-reads: every migration's phase
  (one series per phase value), the backfill's rows and state, the record
  of each command's last run (carried over from run to run), mode 0644 and
  no temporary file left beside it;
- colours: alive, state, requirement, matching sessions; contract of a
  switched migration unsafe (the blocking colour named) while an old
  colour is alive, safe once it is retired;
- a failing command writes the file too (its exit status recorded); with
  the database unreachable the file says so and keeps what the state file
  knows; a bad command line (nothing ran) writes nothing;
- a running backfill (held to ~3 s by --max-rows-per-sec) rewrites the
  file as it goes: a reader polling it meanwhile parses every read
  completely and sees rows_done grow;
- no password ever reaches the file.
"""

import os
import re
import signal
import stat
import threading
import time

import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import SECRETS

N = 3000
MIGRATION = """
operations:
  - rename_column:
      table: items
      from: label
      to: title
"""
MIG = "0001_rename_label"


# --------------------------------------------------------------------------
# helpers


def setup_items(target, n=N):
    if target.is_pg:
        target.execute("CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL)")
        target.execute("INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, %d) g" % n)
    else:
        target.execute("CREATE TABLE items (id bigint NOT NULL PRIMARY KEY, "
                       "label varchar(100) NOT NULL)")
        target.execute("INSERT INTO items SELECT seq, CONCAT('v', seq) FROM seq_1_to_%d" % n)
    p = target.project
    p.write(MIG + ".yaml", MIGRATION)
    return p


def parse(text):
    """{(sample name, frozenset(labels)): value} and the families by name;
    raises if the text is not the exposition format."""
    samples, families = {}, {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = fam
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, families


class Metrics:
    """The file as parsed: m["name", {"label": "v"}] -> value (KeyError
    when absent), m.series("name") -> [(labels, value)]."""

    def __init__(self, path):
        self.path = path
        self.text = path.read_text()
        self.samples, self.families = parse(self.text)

    def __getitem__(self, key):
        name, labels = key if isinstance(key, tuple) else (key, {})
        return self.samples[(name, frozenset(labels.items()))]

    def get(self, name, **labels):
        return self.samples.get((name, frozenset(labels.items())))

    def series(self, name):
        return [(dict(k[1]), v) for k, v in self.samples.items() if k[0] == name]

    def phase(self, migration):
        on = [l["phase"] for l, v in self.series("migrate_migration_phase")
              if l["migration"] == migration and v == 1]
        assert len(on) == 1, f"{migration}: phases set to 1: {on}\n{self.text}"
        return on[0]

    def enum(self, name, key, **labels):
        on = [l[key] for l, v in self.series(name)
              if all(l.get(k) == w for k, w in labels.items()) and v == 1]
        assert len(on) == 1, f"{name} {labels}: {on}\n{self.text}"
        return on[0]


def run_m(p, path, *args, rc=0):
    r = p.run("--metrics-file", str(path), *args)
    assert r.rc == rc, f"expected exit {rc}\n" + r.describe()
    return Metrics(path)


def assert_well_written(path):
    """Mode 0644, no temporary file beside it, no password, every metric
    with HELP and TYPE (the parser's 'unknown' type means no TYPE line)."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o644, oct(mode)
    left = [f for f in os.listdir(path.parent) if f.startswith(path.name + ".tmp")]
    assert not left, left
    text = path.read_text()
    for s in SECRETS:
        assert s not in text, "a password reached the metrics file"
    _, families = parse(text)
    for name, fam in families.items():
        assert fam.type != "unknown", f"{name} has no TYPE line"
        assert fam.documentation, f"{name} has no HELP line"
    assert "migrate_info" in families and "migrate_readable_schema_high" in families


# --------------------------------------------------------------------------
# the phases, one command after another


def test_status_then_each_phase_writes_the_snapshot(target, tmp_path):
    p = setup_items(target)
    path = tmp_path / "migrate.prom"

    m = run_m(p, path, "status")
    assert_well_written(path)
    assert m["migrate_info", {"version": m.series("migrate_info")[0][0]["version"]}] == 1
    assert m["migrate_database_reachable"] == 1
    assert m.phase(MIG) == "pending"
    assert len([l for l, _ in m.series("migrate_migration_phase")]) == 5
    assert m["migrate_last_command_exit_status", {"command": "status"}] == 0
    assert abs(m["migrate_last_command_timestamp_seconds", {"command": "status"}]
               - time.time()) < 60
    assert m["migrate_command_running", {"command": "status"}] == 0
    assert m.get("migrate_backfill_rows_done", migration=MIG) is None

    m = run_m(p, path, "expand")
    assert m.phase(MIG) == "expanded"
    m = run_m(p, path, "backfill", "--batch-size", "500")
    assert_well_written(path)
    assert m.phase(MIG) == "backfilled"
    assert m["migrate_backfill_rows_done", {"migration": MIG}] == N
    assert m["migrate_backfill_rows_estimated", {"migration": MIG}] >= N
    assert m.enum("migrate_backfill_state", "state", migration=MIG) == "done"
    m = run_m(p, path, "switch-reads")
    assert m.phase(MIG) == "switched"
    # no colour: contract would pass the gate
    assert m["migrate_contract_safe", {"migration": MIG}] == 1
    assert m["migrate_readable_schema_high"] == 1
    # every command's last run is kept, each with its own exit status
    for c in ("status", "expand", "backfill", "switch-reads"):
        assert m["migrate_last_command_exit_status", {"command": c}] == 0, c
        assert m["migrate_last_command_duration_seconds", {"command": c}] >= 0, c
    assert (m["migrate_last_command_timestamp_seconds", {"command": "switch-reads"}]
            >= m["migrate_last_command_timestamp_seconds", {"command": "status"}])


# --------------------------------------------------------------------------
# colours and the contract gate


def test_colours_and_contract_gate(target, tmp_path):
    p = setup_items(target, 50)
    path = tmp_path / "migrate.prom"
    for c in ("expand", "backfill", "switch-reads"):
        p.ok(c)
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0")
    p.ok("colour", "register", "green", "--app-version", "2.0", "--requires", "1",
         "--state", "standby", "--match", "shop-green*")

    if target.is_mysql:
        # sessions migrate's account cannot see: no count, and the colour
        # counts as alive (every doubt does)
        m = run_m(p, path, "status")
        assert m.get("migrate_colour_matching_sessions", colour="green") is None
        assert m["migrate_colour_alive", {"colour": "green"}] == 1
        target.db.grant_session_visibility()
    m = run_m(p, path, "status")
    assert_well_written(path)
    assert m["migrate_colour_alive", {"colour": "blue"}] == 1
    assert m.enum("migrate_colour_state", "state", colour="blue") == "live"
    assert m.enum("migrate_colour_state", "state", colour="green") == "standby"
    assert m["migrate_colour_requires", {"colour": "blue", "requires": "0 (before any migration)"}] == 0
    assert m["migrate_colour_requires", {"colour": "green", "requires": MIG}] == 1
    assert m["migrate_colour_matching_sessions", {"colour": "green"}] == 0
    assert m.get("migrate_colour_matching_sessions", colour="blue") is None
    assert m["migrate_colour_stale", {"colour": "blue"}] == 0
    assert m["migrate_backfill_rows_done", {"migration": MIG}] == 50
    # blue requires the schema before 0001: contract of 0001 is blocked by it
    assert m["migrate_contract_safe", {"migration": MIG}] == 0
    assert m.series("migrate_contract_blocked_by") == [({"migration": MIG, "colour": "blue"}, 1)]
    assert_documented(m)

    # the gate refuses (exit 1): the file is written and says so
    m = run_m(p, path, "contract", rc=1)
    assert m["migrate_last_command_exit_status", {"command": "contract"}] == 1
    assert m.phase(MIG) == "switched"

    p.ok("colour", "set", "blue", "--state", "retired")
    m = run_m(p, path, "colour", "list")
    assert m["migrate_colour_alive", {"colour": "blue"}] == 0
    assert m.enum("migrate_colour_state", "state", colour="blue") == "retired"
    assert m["migrate_contract_safe", {"migration": MIG}] == 1
    assert m.series("migrate_contract_blocked_by") == []
    m = run_m(p, path, "contract")
    assert m.phase(MIG) == "contracted"
    assert m.series("migrate_contract_safe") == []
    assert m.get("migrate_backfill_rows_done", migration=MIG) is None
    assert m.series("migrate_backfill_state") == []
    assert m["migrate_last_command_exit_status", {"command": "contract"}] == 0


# --------------------------------------------------------------------------
# failures


def test_failures_unreachable_database_and_bad_command_line(target, tmp_path, closed_port):
    p = setup_items(target, 50)
    path = tmp_path / "migrate.prom"
    p.ok("expand")

    # a command's own refusal of its argument (exit 2) ran the command: recorded
    m = run_m(p, path, "backfill", "7", rc=2)
    assert m["migrate_last_command_exit_status", {"command": "backfill"}] == 2
    assert m.phase(MIG) == "expanded"

    # the database cannot be reached: exit 3, the file says so and keeps
    # what the state file knows (the phase)
    url = target.url_with_port(target.db, closed_port)
    r = p.run_raw("-d", url, "-m", str(p.migrations), "--state", str(p.state),
                  "--metrics-file", str(path), "status")
    assert r.rc == 3, r.describe()
    m = Metrics(path)
    assert_well_written(path)
    assert m["migrate_database_reachable"] == 0
    assert m["migrate_last_command_exit_status", {"command": "status"}] == 3
    assert m.phase(MIG) == "expanded"
    assert m["migrate_last_command_exit_status", {"command": "backfill"}] == 2

    # a bad command line runs nothing and writes nothing
    before = path.read_bytes()
    mtime = os.stat(path).st_mtime_ns
    r = p.run("--metrics-file", str(path), "status", "--no-such-option")
    assert r.rc == 2, r.describe()
    assert path.read_bytes() == before and os.stat(path).st_mtime_ns == mtime

    # a metrics file that cannot be written: a warning, the command's own
    # exit status unchanged
    r = p.run("--metrics-file", str(tmp_path / "missing-dir" / "m.prom"), "status")
    assert r.rc == 0, r.describe()
    assert "warning: cannot write metrics file" in r.err, r.describe()


# --------------------------------------------------------------------------
# a running backfill


def test_running_backfill_rewrites_the_file_atomically(target, tmp_path):
    p = setup_items(target)
    path = tmp_path / "migrate.prom"
    p.ok("expand")
    reads, bad, stop, versions = [], [], threading.Event(), set()

    def reader():
        while not stop.is_set():
            try:
                with open(path) as f:
                    st = os.fstat(f.fileno())
                    text = f.read()
            except FileNotFoundError:
                continue
            versions.add((st.st_ino, st.st_mtime_ns))
            try:
                samples, families = parse(text)
                # the last family of the file: the read was complete
                assert "migrate_readable_schema_high" in families
                reads.append(samples)
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                bad.append(f"{e!r}: {text[-200:]!r}")

    t = threading.Thread(target=reader)
    t.start()
    try:
        # 3000 rows at 600 rows/s: about 5 s, five rewrites or so
        started = time.time()
        r = p.run("--metrics-file", str(path), "backfill", "--batch-size", "100",
                  "--max-rows-per-sec", "600")
    finally:
        stop.set()
        t.join(10)
    elapsed = time.time() - started
    assert r.rc == 0, r.describe()
    assert not bad, bad[:3]
    # at most one write a second while it runs, plus the last tick's and
    # the one after the command (each write is a new file: inode, mtime).
    # The reader polls: on a loaded machine it may miss a version (CI once
    # saw 2 of the 4 or so in 3.5 s), so only "more than one" is certain;
    # the rows seen growing below show the file rewritten while it ran.
    assert 2 <= len(versions) <= elapsed + 3, (len(versions), elapsed)
    running = [s for s in reads
               if s.get(("migrate_command_running", frozenset({"command": "backfill"}.items()))) == 1]
    done = sorted({s[("migrate_backfill_rows_done", frozenset({"migration": MIG}.items()))]
                   for s in running
                   if ("migrate_backfill_rows_done", frozenset({"migration": MIG}.items())) in s})
    assert len(done) >= 2 and done[0] < done[-1] <= N, done
    assert any(s.get(("migrate_backfill_rate_rows_per_second",
                      frozenset({"migration": MIG}.items())), 0) > 0 for s in running)
    m = Metrics(path)
    assert_well_written(path)
    assert m["migrate_backfill_rows_done", {"migration": MIG}] == N
    assert m.enum("migrate_backfill_state", "state", migration=MIG) == "done"
    assert m["migrate_command_running", {"command": "backfill"}] == 0



def test_backfill_stopped_by_sigterm_is_recorded_stopped(target, tmp_path):
    """SIGTERM during a backfill: exit 3, and the file written on the way
    out says the backfill stopped part-way (its checkpoints), with the rows
    done so far, read from the state file alone (no new connection after a
    stop: the database's reachability is not claimed either way)."""
    p = setup_items(target)
    p.ok("expand")
    path = tmp_path / "migrate.prom"
    proc = p.popen("--metrics-file", str(path), "backfill", "--batch-size", "100",
                   "--max-rows-per-sec", "1000")
    try:
        deadline = time.time() + 30
        while time.time() < deadline and target.query(
                "SELECT count(*) FROM items WHERE _migrate_1 <> 0")[0][0] < 300:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, err
    m = Metrics(path)
    assert_well_written(path)
    assert m["migrate_last_command_exit_status", {"command": "backfill"}] == 3
    assert m.enum("migrate_backfill_state", "state", migration=MIG) == "stopped"
    assert 300 <= m["migrate_backfill_rows_done", {"migration": MIG}] < N
    assert m.get("migrate_database_reachable") is None, m.text
    assert m.phase(MIG) == "expanded"
    assert m["migrate_command_running", {"command": "backfill"}] == 0


def test_paused_backfill_says_why_with_the_label_escaped(target, tmp_path):
    """A pause file whose path holds a double quote and a backslash: the
    reason label carries it escaped, and the parser reads it back intact."""
    p = setup_items(target, 500)
    p.ok("expand")
    odd = tmp_path / 'we"ird\\dir'
    odd.mkdir()
    pause = odd / "pause"
    pause.write_text("")
    path = tmp_path / "migrate.prom"
    proc = p.popen("--metrics-file", str(path), "backfill", "--pause-file", str(pause))
    try:
        deadline = time.time() + 30
        m = None
        while time.time() < deadline:
            if path.exists():
                m = Metrics(path)
                if m.get("migrate_backfill_throttled", migration=MIG) == 1:
                    break
            time.sleep(0.1)
        assert m is not None and m.get("migrate_backfill_throttled", migration=MIG) == 1, (
            m.text if m else "no file")
        reasons = m.series("migrate_backfill_throttle_reason")
        assert len(reasons) == 1 and str(pause) in reasons[0][0]["reason"], reasons
        assert '\\"' in m.text and "\\\\" in m.text, m.text
        assert m.enum("migrate_backfill_state", "state", migration=MIG) in ("throttled", "paused")
        assert m["migrate_command_running", {"command": "backfill"}] == 1
        pause.unlink()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    m = Metrics(path)
    assert m.series("migrate_backfill_throttle_reason") == []
    assert m["migrate_backfill_throttled", {"migration": MIG}] == 0
    assert m.enum("migrate_backfill_state", "state", migration=MIG) == "done"



def test_commands_without_a_database_write_the_file_and_connect_nowhere(cli, tmp_path,
                                                                          closed_port):
    """init (which reads no settings), new and lint: the file is written,
    and the snapshot after them opens no connection (a database URL that
    refuses every connection changes nothing: no reachable series)."""
    path = tmp_path / "m.prom"
    url = f"postgresql://app@127.0.0.1:{closed_port}/x"
    assert cli.run_raw("--metrics-file", str(path), "init").rc == 0
    r = cli.run_raw("--metrics-file", str(path), "-d", url, "new", "add_x", "--op",
                    "add_column", "--table", "t", "--column", "c", "--type", "text")
    assert r.rc == 0, r.describe()
    r = cli.run_raw("--metrics-file", str(path), "-d", url, "lint")
    assert r.rc == 0, r.describe()
    m = Metrics(path)
    assert_well_written(path)
    assert m.get("migrate_database_reachable") is None, m.text
    assert m.phase("0001_add_x") == "pending"
    for c in ("init", "new", "lint"):
        assert m["migrate_last_command_exit_status", {"command": c}] == 0, c


# --------------------------------------------------------------------------
# docs/metrics.md: the table, the AnalysisTemplate and the alert rules

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "metrics.md")


def doc_text():
    with open(DOC) as f:
        return f.read()


def doc_table():
    """{metric: (type, {labels})} from the tables of docs/metrics.md."""
    table = {}
    for line in doc_text().splitlines():
        m = re.match(r"\| `(migrate_[a-z_]+)` \| ([a-z ()]+) \|([^|]*)\|", line)
        if m:
            table[m.group(1)] = (m.group(2).split()[0], set(re.findall(r"`([a-z_]+)`", m.group(3))))
    return table


def written_types(text):
    """{metric: type} from the # TYPE lines of a written file."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def assert_documented(m):
    """Every metric of the file is in the docs' table with its type, and
    every series' labels are the documented ones."""
    table = doc_table()
    types = written_types(m.text)
    assert set(types) == set(table), (
        f"written, not documented: {sorted(set(types) - set(table))}; "
        f"documented, not written: {sorted(set(table) - set(types))}")
    for name, typ in types.items():
        assert table[name][0] == typ, (name, typ, table[name])
    for (name, labels), _ in m.samples.items():
        assert {k for k, _ in labels} == table[name][1], (name, dict(labels), table[name][1])


def yaml_blocks():
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", doc_text(), re.S)]


def promql_names(expr):
    """Metric names and label names a PromQL expression uses."""
    metrics = set(re.findall(r"\b(migrate_[a-z_]+)", expr))
    labels = set(re.findall(r"([a-z_]+)\s*=~?\s*\"", expr))
    for group in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr):
        labels |= {x.strip() for x in group.split(",") if x.strip()}
    return metrics, labels


def assert_promql_known(expr, where):
    table = doc_table()
    metrics, labels = promql_names(expr)
    assert metrics, f"{where}: no migrate metric in {expr!r}"
    for name in metrics:
        assert name in table, f"{where}: {name} is not a metric migrate writes"
    known = set().union(*(table[n][1] for n in metrics)) | {"instance", "job"}
    assert labels <= known, f"{where}: unknown labels {labels - known} in {expr!r}"


def test_docs_examples_parse_and_name_real_metrics(cli, tmp_path):
    """The file written by a command names exactly the documented metrics;
    the AnalysisTemplate and the rule file are valid YAML of the right
    shape, and every metric and label their queries use is one migrate
    writes."""
    r = cli.run_raw("--metrics-file", str(tmp_path / "m.prom"), "--state",
                    str(tmp_path / "none.db"), "log")
    assert r.rc == 3, r.describe()
    m = Metrics(tmp_path / "m.prom")
    assert_documented(m)

    docs = yaml_blocks()
    templates = [d for d in docs if isinstance(d, dict) and d.get("kind") == "AnalysisTemplate"]
    rules = [d for d in docs if isinstance(d, dict) and "groups" in d]
    assert len(templates) == 1 and len(rules) == 1, docs
    t = templates[0]
    assert t["apiVersion"] == "argoproj.io/v1alpha1" and t["metadata"]["name"]
    args = {a["name"] for a in t["spec"]["args"]}
    assert t["spec"]["metrics"]
    for metric in t["spec"]["metrics"]:
        where = f"AnalysisTemplate metric {metric.get('name')}"
        assert set(metric) >= {"name", "successCondition", "provider"}, where
        prom = metric["provider"]["prometheus"]
        assert prom["address"].startswith("http") and prom["query"], where
        assert set(re.findall(r"\{\{args\.([a-z_]+)\}\}", prom["query"])) <= args, where
        assert_promql_known(prom["query"], where)
        assert re.fullmatch(r"\d+[smh]", metric["interval"]), where
    groups = rules[0]["groups"]
    assert groups and all(g["name"] and g["rules"] for g in groups)
    alerts = [rule for g in groups for rule in g["rules"]]
    for rule in alerts:
        where = f"alert {rule.get('alert')}"
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, where
        assert re.fullmatch(r"[A-Z][A-Za-z]+", rule["alert"]), where
        assert re.fullmatch(r"\d+[smh]", rule["for"]), where
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), where
        assert rule["annotations"]["summary"], where
        assert_promql_known(rule["expr"], where)
    # what the issue asks the rules to cover
    exprs = " ".join(rule["expr"] for rule in alerts)
    for needle in ('state="paused"', 'state="stopped"', "migrate_colour_stale",
                   "migrate_contract_safe"):
        assert needle in exprs, needle
    paused = [rule for rule in alerts if 'state="paused"' in rule["expr"]]
    assert paused[0]["for"] == "10m"

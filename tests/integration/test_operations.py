"""The operation matrix: every case under tests/operations/, on every
target it names (postgres, mariadb), through every phase, rolled back from
every phase, killed at every step.

A case is a directory tests/operations/<case>/ (tests/operations/README.md
has the format and how to add one):

    case.yaml               description, targets, refused, writers (old /
                            new statements per target), expect (queries
                            true after contract per target); optional
                            seed_rows, renamed, batch_size
    schema.<target>.sql     tables and seed rows, loaded into a fresh
                            database as the application's user
    migrations/NNNN_*.yaml  the migration under test (the last one; those
                            before it are run to contract first);
                            migrations.<target>/ replaces it for a target

For each case and each target in `targets:`, test_operation runs three
checks, each its own item, test_operation[<case>-<target>-<check>]:

- writers: blue (the old version: writers.old, one thread per statement,
  each execution its own transaction) writes from before expand through
  switch-reads; green (writers.new) from the end of expand to the end.
  Colour blue is registered live before expand, green after switch-reads;
  blue is stopped and retired before contract (the contract gate refuses
  while it is live). Zero errors from either; after contract every
  `expect` query returns true, nothing of migrate's is left, and every
  table holds its seed rows plus the rows the writers' INSERTs reported
  (renamed tables under their new name).
- rollbacks: one database, three releases of the migration rolled back:
  after expand, after backfill, after switch-reads. Blue writes all along;
  green from the end of each expand until it is stopped before that
  release's rollback, which runs with blue paused: then the schema equals
  the one before expand, nothing of migrate's is left, the original
  columns of every table hold exactly what they held before the rollback,
  and no row is lost; blue writes on, and the next release expands again.
- kills: for every step k of every phase (counted from `plan --json`;
  MIGRATE_FAULT=<phase>:<k>, and on MariaDB also <phase>-unrecorded:<k>
  for a step whose statements commit before its history row) and for the
  first batch of every table the backfill rewrites (backfill:<k>:1), a
  fresh database, migrate killed there, one execution of each statement
  of the version(s) alive in that phase, the same command again, then on
  to contract (or, for rollback, from switch-reads): the end schema equals
  the run without kills, the `expect` queries hold, nothing of migrate's
  is left, no row is lost (a rollback ends with the schema from before
  expand). MG_OPERATIONS_KILL_SLICE=N (tests/CMakeLists.txt sets it)
  runs only N points per case and target, spread over the list from a
  place that moves every day (MG_OPERATIONS_KILL_SEED=<day> repeats a day's
  slice); a failure names the point, and the seed when sliced.

For each target in `refused:`, test_operation[<case>-<target>-refused]:
`plan` and `expand` exit non-zero with the given text in their output,
and the schema and the rows are unchanged. test_case_is_well_formed[<case>]:
the case's files follow the format.

Environment: MG_OPERATIONS_CASES=a,b (only these cases),
MG_OPERATIONS_TARGETS=postgres|mariadb (one target; the ctest entries are
per target so each process starts one server), MG_OPERATIONS_SHARD=i/k
(every k-th case from the i-th: tests/CMakeLists.txt splits the matrix
into several ctest entries so `ctest -j` packs them),
MG_OPERATIONS_ROTATE=N (every N-th case, from a place that moves each
day: CI's budget, tests/CMakeLists.txt), MG_OPERATIONS_STATS=<file> (a JSON
line per check with its wall and CPU time:
tests/bench/operations_fault_loop.py).
"""

import json
import os
import time

import pytest

from harness.operations import (CaseError, CaseRun, case_names, content, cpu_now,
                                 fail_case_format, kill_slice, load_case,
                                 pick_slice, schema, shard_of, table_columns,
                                 user_tables, TARGET_NAMES)
from harness.targets import make_target
from writers import paused, running, wait_for_ops

ROLLBACK_POINTS = ("expand", "backfill", "switch-reads")
OPS = 15        # statements each writer runs between two commands


def selected_cases():
    names = case_names()
    only = os.environ.get("MG_OPERATIONS_CASES")
    if only:
        wanted = [n.strip() for n in only.split(",") if n.strip()]
        unknown = set(wanted) - set(names)
        assert not unknown, f"MG_OPERATIONS_CASES: no such case {sorted(unknown)}"
        names = [n for n in names if n in wanted]
    return shard_of(names, os.environ.get("MG_OPERATIONS_SHARD"))


def selected_targets():
    t = os.environ.get("MG_OPERATIONS_TARGETS")
    if not t:
        return TARGET_NAMES
    names = tuple(x.strip() for x in t.split(",") if x.strip())
    assert set(names) <= set(TARGET_NAMES), f"MG_OPERATIONS_TARGETS={t!r}"
    return names


def rotated(cases):
    """With MG_OPERATIONS_ROTATE=N (CI's budget, tests/CMakeLists.txt: the plain
    build's entries), the cases of today's turn: every N-th from a place
    that moves each day (MG_OPERATIONS_KILL_SEED's day), and at least one."""
    n = int(os.environ.get("MG_OPERATIONS_ROTATE", "0") or 0)
    if n <= 1 or not cases:
        return cases
    day = kill_slice()[1]
    turn = [c for j, c in enumerate(cases) if j % n == day % n]
    return turn or [cases[day % len(cases)]]


CHECKS = ("writers", "rollbacks", "kills")


def pytest_generate_tests(metafunc):
    """test_case_is_well_formed: one item per case; test_operation: one
    item per case, target and check (the checks of a target in `refused:`:
    only `refused`), named <case>-<target>-<check>."""
    if "op_case" not in metafunc.fixturenames:
        return
    cases = []
    for n in selected_cases():
        try:
            cases.append(load_case(n))
        except CaseError as e:
            cases.append(e)
    if "op_target" not in metafunc.fixturenames:        # one item per case
        metafunc.parametrize("op_case", cases, ids=[getattr(c, "name", str(c))
                                                    for c in cases])
        return
    targets = selected_targets()
    items = []
    for c in rotated([c for c in cases if not isinstance(c, CaseError)]):
        for t in TARGET_NAMES:
            if t not in targets:
                continue
            if t in c.refused:
                items.append((c, t, "refused"))
            elif t in c.targets:
                items += [(c, t, check) for check in CHECKS]
    metafunc.parametrize(("op_case", "op_target", "check"), items,
                         indirect=["op_target"],
                         ids=[f"{c.name}-{t}-{k}" for c, t, k in items])


@pytest.fixture
def op_target(request, migrate_bin, tmp_path):
    t = make_target(request.param, request, migrate_bin, tmp_path)
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def case_run(op_case, op_target):
    """case_run(label) -> a CaseRun set up on a fresh database; all of
    them dropped at the end."""
    fail_case_format(op_case)
    runs = []

    def make(label):
        r = CaseRun(op_case, op_target, label)
        runs.append(r)
        return r.setup()
    try:
        yield make
    finally:
        for r in runs:
            r.drop()


# --------------------------------------------------------------------------


def test_case_is_well_formed(op_case):
    if isinstance(op_case, CaseError):
        pytest.fail(str(op_case), pytrace=False)
    fail_case_format(op_case)


def test_operation(op_case, op_target, case_run, check):
    """One check of one case on one target (the module's docstring)."""
    t0, cpu0 = time.monotonic(), cpu_now(op_target.server)
    points = None
    if check == "writers":
        writers_through_every_phase(case_run)
    elif check == "rollbacks":
        rollbacks_under_writers(case_run)
    elif check == "kills":
        points = kill_at_every_step(case_run)
    else:
        refused(case_run)
    record(op_case.name, op_target.name, check, time.monotonic() - t0,
           cpu_now(op_target.server) - cpu0, points)


def record(case, target, check, seconds, cpu, points):
    """One JSON line per check to $MG_OPERATIONS_STATS (the benchmark's)."""
    path = os.environ.get("MG_OPERATIONS_STATS")
    if not path:
        return
    line = {"case": case, "target": target, "check": check,
            "seconds": round(seconds, 2), "cpu": round(cpu, 2),
            "load": round(os.getloadavg()[0], 1)}
    if points is not None:
        line["points_run"], line["points"] = points
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")


def settle(writers):
    """Let each writer run OPS more statements (and fail the check if one
    stopped)."""
    for w in writers:
        wait_for_ops(w, OPS)


def writers_through_every_phase(case_run):
    """One release through contract under the application's writes (the
    module's docstring)."""
    run = case_run("writers")
    before = schema(run.db)
    previous = run.ids[-2] if len(run.ids) > 1 else "0"
    run.colour("register", "blue", "--app-version", "old", "--requires", previous)
    blue = run.writers("old")
    with running(*blue, min_ops=OPS) as blue_run:
        settle(blue)
        run.phase("expand")
        green = run.writers("new")
        with running(*green, min_ops=OPS) as green_run:
            for phase in ("backfill", "switch-reads"):
                settle(blue + green)
                run.phase(phase)
            settle(blue + green)
            run.colour("register", "green", "--app-version", "new",
                       "--requires", run.mid)
            blue_run.finish()           # blue is retired before contract
            run.colour("set", "blue", "--state", "retired")
            run.phase("contract")
            settle(green)
            green_run.finish()
    run.check_expect("after contract")
    run.check_no_leftovers(before, "after contract")
    run.check_rows_kept("after contract")


def rollbacks_under_writers(case_run):
    """Three releases in one database, rolled back after expand, after
    backfill and after switch-reads, blue writing all along (the module's
    docstring)."""
    run = case_run("rollbacks")
    before = schema(run.db)
    original = {t: table_columns(run.db, t) for t in user_tables(run.db)}
    blue = run.writers("old")
    with running(*blue, min_ops=OPS):
        settle(blue)
        for stop in ROLLBACK_POINTS:
            release_rolled_back(run, blue, stop, before, original)


def release_rolled_back(run, blue, stop, before, original):
    """expand .. stop with green writing from the end of expand; green
    stopped, then rollback with blue paused: the schema from before
    expand, nothing of migrate's left, the original columns' rows as they
    were just before the rollback; then blue writes on."""
    run.phase("expand")
    green = run.writers("new")
    with running(*green, min_ops=OPS):
        for phase in ROLLBACK_POINTS[1:ROLLBACK_POINTS.index(stop) + 1]:
            settle(blue + green)
            run.phase(phase)
        settle(blue + green)
    with paused(*blue):
        kept = content(run.db, original)
        run.phase("rollback")
        run.check_schema(before, f"after rollback from {stop}")
        run.check_no_leftovers(before, f"after rollback from {stop}")
        now = content(run.db, original)
        for t in original:
            assert now[t] == kept[t], (
                f"{run.case.name} on {run.name}: rollback from {stop} changed "
                f"the rows of {t} ({len(kept[t])} rows before, {len(now[t])} "
                "after; first difference: "
                f"{next(((a, b) for a, b in zip(kept[t], now[t]) if a != b), None)})")
        run.check_rows_kept(f"after rollback from {stop}")
        run.recount()       # the next release counts from here
    settle(blue)


def writes_before_history(run, step):
    """MariaDB: a step whose statements commit before its history row is
    written (every one but an assertion, and a `sql` step run in a
    transaction, which commits with its history row): it has a second
    kill point between the two."""
    if run.kind != "mysql" or step.get("kind") == "assert":
        return False
    return not (step.get("table") is None
                and step.get("sql", "").startswith("START TRANSACTION;"))


def fault_points(run, plan):
    """[(phase, MIGRATE_FAULT, what)] of the migration, from `plan --json`:
    every step of every phase, and the first batch of every table the
    backfill rewrites (its batches are not steps: `backfills`)."""
    points = []
    for phase in ("expand", "backfill", "switch-reads", "contract", "rollback"):
        for k, step in enumerate(plan["phases"].get(phase) or [], start=1):
            what = step.get("description", "")
            points.append((phase, f"{phase}:{k}", what))
            if writes_before_history(run, step):
                points.append((phase, f"{phase}-unrecorded:{k}", what))
        if phase == "backfill":
            for k, b in enumerate(plan.get("backfills") or [], start=1):
                points.append((phase, f"backfill:{k}:1",
                               f"first backfill batch of {b.get('table')}"))
    return points


def window(run, fault_phase=None, fault=None):
    """expand, backfill, switch-reads, then contract (or rollback when the
    fault is in rollback); the fault's command killed then run again; each
    version alive writes once after each command and after the kill."""
    end = "rollback" if fault_phase == "rollback" else "contract"
    run.write_once("old", "before expand")
    for phase in ("expand", "backfill", "switch-reads", end):
        alive = [s for s in ("old", "new")
                 if (s == "old" and phase != "contract")
                 or (s == "new" and phase not in ("expand", "rollback"))]
        killed = phase == fault_phase
        if killed:
            run.command(phase, fault=fault)
            for side in alive:
                run.write_once(side, f"after {fault} killed migrate")
        run.command(phase, after_kill=killed)
        if phase in ("expand", "backfill", "switch-reads"):
            run.write_once("old", f"after {phase}")
        if phase != "rollback":
            run.write_once("new", f"after {phase}")


def kill_at_every_step(case_run):
    ref = case_run("kill_ref")
    before = schema(ref.db)
    plan = ref.plan()
    window(ref)
    ref.check_expect("after contract (run without kills)")
    end = schema(ref.db)
    ref.drop()
    points = fault_points(ref, plan)
    assert points, f"{ref.case.name} on {ref.name}: the plan has no step"
    size, seed = kill_slice()
    chosen = pick_slice(points, size, seed)
    print(f"{ref.case.name} on {ref.name}: {len(chosen)} of {len(points)} kill points"
          + (f" (MG_OPERATIONS_KILL_SLICE={size} MG_OPERATIONS_KILL_SEED={seed})"
             if len(chosen) < len(points) else ""))
    for n, (phase, fault, what) in enumerate(chosen, start=1):
        run = case_run(f"kill_{n}")
        try:
            window(run, phase, fault)
            if phase == "rollback":
                run.check_schema(before, "after the rollback")
            else:
                run.check_schema(end, "after contract (compared with the run "
                                      "without kills)")
                run.check_expect("after contract")
            run.check_no_leftovers(before, "at the end")
            run.check_rows_kept("at the end")
        except AssertionError as e:
            rerun = (f" (repeat: MG_OPERATIONS_KILL_SLICE={size} "
                     f"MG_OPERATIONS_KILL_SEED={seed})" if len(chosen) < len(points)
                     else "")
            raise AssertionError(f"killed at MIGRATE_FAULT={fault} ({what}){rerun}:"
                                 f"\n{e}") from None
        finally:
            run.drop()
    return len(chosen), len(points)


def refused(case_run):
    run = case_run("refused")
    before = schema(run.db)
    original = {t: table_columns(run.db, t) for t in user_tables(run.db)}
    kept = content(run.db, original)
    want = run.case.refused[run.name]
    for command in ("plan", "expand"):
        r = run.project.run(command, run.mid)
        assert r.rc != 0, (f"{run.case.name} on {run.name}: `{command}` was "
                           "expected to refuse\n" + r.describe())
        assert want in r.text, (f"{run.case.name} on {run.name}: `{command}` "
                                f"refused without saying {want!r}\n" + r.describe())
    run.check_schema(before, "after the refusals")
    assert content(run.db, original) == kept, "the refusal changed rows"

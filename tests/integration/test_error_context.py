"""Every error line of a phase names where it comes from (issue 11,
smaller): the phase, the migration and the step, or for the backfill the
table and what it was doing, so that an operator reading one line of a
pipeline log knows what failed."""


def test_a_failing_backfill_batch_names_the_table(project):
    project.db.execute("""
        CREATE TABLE t (id bigint PRIMARY KEY, n int NOT NULL);
        INSERT INTO t SELECT g, g FROM generate_series(1, 10) g;
    """)
    project.write("0001_ratio.yaml", """
        description: a backfill that fails on one row
        operations:
          - add_column: {table: t, column: ratio, type: int, backfill: "100 / (n - 3)"}
        """)
    project.ok("expand")
    r = project.expect(3, "backfill")
    line = next(l for l in r.err.splitlines() if l.startswith("error:"))
    assert 'backfill 0001: backfill of "public"."t", a batch of' in line, r.describe()
    assert "division by zero" in line, r.describe()
    # the values are right once the data is: re-running finishes the copy
    project.db.execute("UPDATE t SET n = 33 WHERE n = 3")
    project.ok("backfill")


def test_a_failing_step_names_phase_migration_and_step(project):
    project.db.execute("""
        CREATE TABLE t (id bigint PRIMARY KEY, email text);
        INSERT INTO t VALUES (1, 'a'), (2, 'a');
    """)
    project.write("0001_unique.yaml", """
        description: a unique index the data does not allow
        operations:
          - create_index: {table: t, name: t_email_key, columns: [email], unique: true}
        """)
    r = project.run("expand")
    assert r.rc in (1, 3), r.describe()
    line = next(l for l in r.err.splitlines() if l.startswith("error:"))
    assert "expand 0001, step 1 of " in line, r.describe()
    assert "t_email_key" in line, r.describe()

/*
 * test_pgplan.c - golden plan tests for the PostgreSQL planner: a YAML in,
 * the expected SQL per phase out.
 *
 * The story: for each operation a fresh database gets a schema, the
 * planner (mg_plan_build, the postgres driver rendering) plans a migration from tests/unit/fixtures/pgplan
 * against that live catalog, and the test checks the steps of every phase:
 * their kind, description and the SQL that matters. Then the steps run for
 * real, in order, the way the commands would run them (a TX step inside
 * BEGIN/COMMIT, a NOTX step on its own, an ASSERT that must return no
 * rows), with application writes in the dual-write window and a backfill
 * done by hand from the plan's backfill spec. After contract the catalog
 * must be exactly the catalog the one-shot DDL (RENAME COLUMN, ADD COLUMN
 * ...) gives on the same schema: same columns, defaults, NOT NULL,
 * comments, indexes, constraints (validated, original names), and no
 * trigger or function of ours left. Refusals and input errors come with
 * their code and a message naming the file position or the dependent.
 *
 * The server: ctest starts a throwaway PostgreSQL around this test
 * (tests/pg_server.sh, fixture "pgplan") and passes the file holding its
 * URL in MG_PG_URL_FILE; MG_PG_URL may name a server directly. Each test
 * makes its own database t_<test> (dropped first if a run left it), so
 * the file runs against a long-lived development server too.
 * MG_PLAN_DUMP=1 prints every plan the tests make.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"
#include "migration.h"
#include "plan.h"

/* ---- the server and one database per test ------------------------------------ */

static char *admin_url;			/* .../postgres */
static struct mg_conn *admin;

/* One test's world: its database, the migration and the plan. */
struct pgt {
	char db[64];
	char *url;
	struct mg_conn *c;
	char want_db[72];		/* the database the one-shot DDL runs in */
	char *path;			/* the fixture's path as loaded */
	struct mg_migration m;
	int loaded;
	struct mg_plan plan;
};

#define assert_contains(haystack, needle) do { \
	const char *h_ = (haystack), *n_ = (needle); \
	if (!h_ || !strstr(h_, n_)) \
		fail_msg("expected to find\n  %s\nin\n%s", n_, h_ ? h_ : "(null)"); \
} while (0)

#define assert_not_contains(haystack, needle) do { \
	const char *h_ = (haystack), *n_ = (needle); \
	if (h_ && strstr(h_, n_)) \
		fail_msg("did not expect\n  %s\nin\n%s", n_, h_); \
} while (0)

static char *read_url(void)
{
	const char *direct = getenv("MG_PG_URL");
	const char *file = getenv("MG_PG_URL_FILE");
	char line[1024];
	FILE *f;

	if (direct && *direct)
		return mg_xstrdup(direct);
	if (!file || !*file)
		fail_msg("MG_PG_URL_FILE is not set: run through ctest (it starts "
			 "the server), or start one with tests/pg_server.sh start DIR "
			 "and set MG_PG_URL_FILE=DIR/url");
	f = fopen(file, "r");
	if (!f)
		fail_msg("cannot read '%s': did the plan_pg_start fixture run?", file);
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (!line[0])
		fail_msg("'%s' is empty", file);
	return mg_xstrdup(line);
}

/* The server's URL with another database name (the URL ends in /dbname). */
static char *url_for(const char *db)
{
	const char *slash = strrchr(admin_url, '/');

	return mg_xasprintf("%.*s/%s", (int)(slash - admin_url), admin_url, db);
}

static void sql_ok(struct mg_conn *c, const char *sql)
{
	struct mg_err err = MG_ERR_INIT;

	if (mg_db_exec(c, sql, &err) < 0)
		fail_msg("SQL failed: %s\n%s", err.msg, sql);
}

/* First cell of the first row, owned; NULL for no row or SQL NULL. */
static char *scalar(struct mg_conn *c, const char *sql)
{
	struct mg_rows r = MG_ROWS_INIT;
	struct mg_err err = MG_ERR_INIT;
	char *v = NULL;

	if (mg_db_query(c, sql, &r, &err) < 0)
		fail_msg("query failed: %s\n%s", err.msg, sql);
	if (r.nrows > 0 && r.ncols > 0)
		v = mg_xstrdup(mg_rows_get(&r, 0, 0));
	mg_rows_release(&r);
	return v;
}

static void expect_scalar(struct mg_conn *c, const char *sql, const char *want)
{
	char *v = scalar(c, sql);
	char got[512];

	if ((!want && !v) || (want && v && !strcmp(v, want))) {
		free(v);
		return;
	}
	/* fail_msg() does not return: free first (LeakSanitizer) */
	snprintf(got, sizeof(got), "%s", v ? v : "NULL");
	free(v);
	fail_msg("expected %s%s%s, got '%s' from\n%s", want ? "'" : "", want ? want : "NULL",
		 want ? "'" : "", got, sql);
}

static void drop_db(const char *db)
{
	char *sql = mg_xasprintf("DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db);

	sql_ok(admin, sql);
	free(sql);
}

static struct mg_conn *connect_db(const char *db)
{
	struct mg_conn_opts opts = { .application_name = "test_pgplan" };
	struct mg_err err = MG_ERR_INIT;
	struct mg_conn *c = NULL;
	char *url = url_for(db);

	if (mg_db_connect(&c, url, &opts, &err) < 0)
		fail_msg("cannot connect to database '%s': %s", db, err.msg);
	free(url);
	return c;
}

/* A fresh database t_<name> with schema_sql run in it. */
static struct pgt *db_open(void **state, const char *name, const char *schema_sql)
{
	struct pgt *t = mg_xcalloc(1, sizeof(*t));
	char *sql;

	*state = t;
	snprintf(t->db, sizeof(t->db), "t_%s", name);
	snprintf(t->want_db, sizeof(t->want_db), "t_%s_want", name);
	mg_plan_init(&t->plan);
	drop_db(t->db);
	sql = mg_xasprintf("CREATE DATABASE \"%s\"", t->db);
	sql_ok(admin, sql);
	free(sql);
	t->url = url_for(t->db);
	t->c = connect_db(t->db);
	if (schema_sql)
		sql_ok(t->c, schema_sql);
	return t;
}

static int teardown(void **state)
{
	struct pgt *t = *state;

	if (!t)
		return 0;
	mg_db_close(t->c);
	if (t->loaded)
		mg_migration_release(&t->m);
	mg_plan_release(&t->plan);
	drop_db(t->db);
	drop_db(t->want_db);
	free(t->url);
	free(t->path);
	free(t);
	*state = NULL;
	return 0;
}

static int group_setup(void **state)
{
	struct mg_err err = MG_ERR_INIT;

	(void)state;
	admin_url = read_url();
	if (mg_db_connect(&admin, admin_url, NULL, &err) < 0) {
		fprintf(stderr, "test_pgplan: cannot connect to the test server: %s\n",
			err.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	mg_db_close(admin);
	free(admin_url);
	return 0;
}

/* ---- planning ------------------------------------------------------------------- */

static char *fixture(const char *file)
{
	const char *dir = getenv("MG_FIXTURES");

	if (!dir)
		fail_msg("MG_FIXTURES is not set: run through ctest, or set it "
			 "to tests/unit/fixtures");
	return mg_xasprintf("%s/pgplan/%s", dir, file);
}

static const char *const kind_names[] = { "TX", "NOTX", "ASSERT" };

static void dump_plan(const struct pgt *t)
{
	const struct mg_plan *p = &t->plan;

	fprintf(stderr, "==== plan of %s\n", t->path);
	for (int ph = 0; ph < MG_PLAN_NPHASES; ph++)
		for (size_t i = 0; i < p->n_steps[ph]; i++) {
			const struct mg_step *s = &p->steps[ph][i];

			fprintf(stderr, "-- %s %zu %s [%s] object=%s\n%s\n",
				mg_plan_phase_name((enum mg_plan_phase)ph), i,
				kind_names[s->kind], s->description,
				s->object ? s->object : "-", s->sql);
		}
	for (size_t i = 0; i < p->n_backfills; i++) {
		const struct mg_backfill_spec *b = &p->backfills[i];

		fprintf(stderr, "-- backfill %s key %s set %s marker %s\n   mismatch %s\n   session %s\n",
			b->table, b->n_keys ? b->key_columns[0] : "-", b->set_clause,
			b->marker, b->mismatch, b->session_sql ? b->session_sql : "-");
	}
	for (size_t i = 0; i < p->n_lossy; i++)
		fprintf(stderr, "-- lossy: %s\n", p->lossy[i]);
	for (size_t i = 0; i < p->n_notes; i++)
		fprintf(stderr, "-- note: %s\n", p->notes[i]);
}

/* Load fixture `file` and plan it against the test's database. */
static int plan_fixture(struct pgt *t, const char *file, struct mg_err *err)
{
	int rc;

	free(t->path);
	t->path = fixture(file);
	if (t->loaded)
		mg_migration_release(&t->m);
	mg_plan_release(&t->plan);
	if (mg_migration_load(&t->m, t->path, mg_postgres_driver.max_name_len, err) < 0)
		fail_msg("loading %s: %s", file, err->msg);
	t->loaded = 1;
	rc = mg_plan_build(t->c, &t->m, &t->plan, err);
	if (rc == 0 && getenv("MG_PLAN_DUMP"))
		dump_plan(t);
	return rc;
}

static void plan_ok(struct pgt *t, const char *file)
{
	struct mg_err err = MG_ERR_INIT;

	if (plan_fixture(t, file, &err) < 0)
		fail_msg("planning %s failed (code %d): %s", file, err.code, err.msg);
}

/* Plan `file`, which must fail with `code`; returns the message (static). */
static const char *plan_fails(struct pgt *t, const char *file, int code)
{
	static struct mg_err err;

	mg_err_clear(&err);
	if (plan_fixture(t, file, &err) == 0) {
		dump_plan(t);
		fail_msg("planning %s succeeded; expected code %d", file, code);
	}
	if (err.code != code)
		fail_msg("planning %s: expected code %d, got %d: %s", file, code,
			 err.code, err.msg);
	return err.msg;
}

/* "<fixture path>:line:column", as error messages name positions. */
static char *at(const struct pgt *t, int line, int column)
{
	return mg_xasprintf("%s:%d:%d", t->path, line, column);
}

static void expect_error_at(const struct pgt *t, const char *msg, int line, int column)
{
	char *where = at(t, line, column);

	assert_contains(msg, where);
	free(where);
}

static size_t nsteps(const struct pgt *t, enum mg_plan_phase ph)
{
	return t->plan.n_steps[ph];
}

static void expect_nsteps(const struct pgt *t, enum mg_plan_phase ph, size_t n)
{
	if (t->plan.n_steps[ph] != n) {
		dump_plan(t);
		fail_msg("%s has %zu step(s), expected %zu",
			 mg_plan_phase_name(ph), t->plan.n_steps[ph], n);
	}
}

/* Step i of phase ph, which must be of this kind and have this
 * description (NULL: not checked). */
static const struct mg_step *step(const struct pgt *t, enum mg_plan_phase ph,
				  size_t i, enum mg_step_kind kind, const char *desc)
{
	const struct mg_step *s;

	if (i >= t->plan.n_steps[ph]) {
		dump_plan(t);
		fail_msg("%s has no step %zu", mg_plan_phase_name(ph), i);
	}
	s = &t->plan.steps[ph][i];
	if (s->kind != kind)
		fail_msg("%s step %zu is %s, expected %s:\n%s", mg_plan_phase_name(ph),
			 i, kind_names[s->kind], kind_names[kind], s->sql);
	if (desc && strcmp(s->description, desc) != 0)
		fail_msg("%s step %zu is described as\n  %s\nexpected\n  %s",
			 mg_plan_phase_name(ph), i, s->description, desc);
	return s;
}

/* ---- running a plan for real ------------------------------------------------------- */

static void run_step(struct pgt *t, enum mg_plan_phase ph, size_t i)
{
	const struct mg_step *s = &t->plan.steps[ph][i];
	struct mg_err err = MG_ERR_INIT;
	struct mg_rows r = MG_ROWS_INIT;

	switch (s->kind) {
	case MG_STEP_TX:
		sql_ok(t->c, "BEGIN");
		if (mg_db_exec(t->c, s->sql, &err) < 0) {
			struct mg_err ignored = MG_ERR_INIT;

			mg_db_exec(t->c, "ROLLBACK", &ignored);
			fail_msg("%s step %zu (%s) failed: %s\n%s", mg_plan_phase_name(ph),
				 i, s->description, err.msg, s->sql);
		}
		sql_ok(t->c, "COMMIT");
		break;
	case MG_STEP_NOTX:
		if (mg_db_exec(t->c, s->sql, &err) < 0)
			fail_msg("%s step %zu (%s) failed: %s\n%s", mg_plan_phase_name(ph),
				 i, s->description, err.msg, s->sql);
		break;
	case MG_STEP_ASSERT:
		if (mg_db_query(t->c, s->sql, &r, &err) < 0)
			fail_msg("%s check %zu (%s) failed: %s\n%s", mg_plan_phase_name(ph),
				 i, s->description, err.msg, s->sql);
		if (r.nrows > 0)
			fail_msg("%s check %zu (%s) refuses: %s", mg_plan_phase_name(ph),
				 i, s->description, mg_rows_get(&r, 0, 0));
		mg_rows_release(&r);
		break;
	}
}

static void run_phase(struct pgt *t, enum mg_plan_phase ph)
{
	for (size_t i = 0; i < t->plan.n_steps[ph]; i++)
		run_step(t, ph, i);
}

static long count_where(struct pgt *t, const char *table, const char *cond)
{
	char *sql = mg_xasprintf("SELECT count(*) FROM %s WHERE %s", table, cond);
	char *v = scalar(t->c, sql);
	long n = strtol(v, NULL, 10);

	free(v);
	free(sql);
	return n;
}

/*
 * The backfill, by hand from each spec, as the backfill command does it in
 * batches: in a session the dual-write trigger skips, the value and the
 * marker of every row not yet touched. Then no row may be a mismatch.
 */
static void backfill(struct pgt *t)
{
	for (size_t i = 0; i < t->plan.n_backfills; i++) {
		const struct mg_backfill_spec *b = &t->plan.backfills[i];
		char *sql = mg_xasprintf("UPDATE %s SET %s, %s = 1 WHERE %s = 0",
					 b->table, b->set_clause, b->marker, b->marker);

		if (b->session_sql)
			sql_ok(t->c, b->session_sql);
		sql_ok(t->c, sql);
		sql_ok(t->c, "RESET migrate.backfill");
		free(sql);
		if (count_where(t, b->table, b->mismatch) != 0)
			fail_msg("rows of %s still disagree after the backfill: %s",
				 b->table, b->mismatch);
	}
	run_phase(t, MG_PLAN_BACKFILL);
}

/* ---- the catalog ----------------------------------------------------------------------- */

/*
 * Everything migrate could change, one sorted line per object: columns
 * (type, NOT NULL, default, comment), indexes (with validity), constraints
 * (pg_get_constraintdef says NOT VALID until validated), user triggers,
 * functions and views of the user's schemas.
 */
static const char snapshot_sql[] =
	"WITH rel AS (SELECT c.oid, c.relkind FROM pg_class c "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
	"AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%') "
	"SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') FROM ("
	"SELECT format('column %s.%I %s%s%s%s', a.attrelid::regclass, a.attname, "
	"format_type(a.atttypid, a.atttypmod), "
	"CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END, "
	"coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''), "
	"coalesce(' COMMENT ' || quote_literal(col_description(a.attrelid, a.attnum)), '')) "
	"FROM pg_attribute a JOIN rel ON rel.oid = a.attrelid AND rel.relkind IN ('r', 'v', 'm', 'p') "
	"LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
	"WHERE a.attnum > 0 AND NOT a.attisdropped "
	"UNION ALL SELECT 'index ' || pg_get_indexdef(i.indexrelid) || "
	"CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END "
	"FROM pg_index i JOIN rel ON rel.oid = i.indrelid "
	"UNION ALL SELECT format('constraint %s %I %s', k.conrelid::regclass, k.conname, "
	"pg_get_constraintdef(k.oid)) FROM pg_constraint k JOIN rel ON rel.oid = k.conrelid "
	"UNION ALL SELECT format('trigger %s %I', g.tgrelid::regclass, g.tgname) "
	"FROM pg_trigger g JOIN rel ON rel.oid = g.tgrelid WHERE NOT g.tgisinternal "
	"UNION ALL SELECT format('function %s', p.oid::regprocedure) FROM pg_proc p "
	"JOIN pg_namespace n ON n.oid = p.pronamespace "
	"WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
	"UNION ALL SELECT format('view %s %s', rel.oid::regclass, pg_get_viewdef(rel.oid)) "
	"FROM rel WHERE rel.relkind IN ('v', 'm')"
	") s(x)";

static char *snapshot(struct mg_conn *c)
{
	return scalar(c, snapshot_sql);
}

/* The catalog the same schema has after the one-shot DDL `ddl`. */
static char *want_snapshot(struct pgt *t, const char *schema_sql, const char *ddl)
{
	struct mg_conn *c;
	char *sql, *snap;

	drop_db(t->want_db);
	sql = mg_xasprintf("CREATE DATABASE \"%s\"", t->want_db);
	sql_ok(admin, sql);
	free(sql);
	c = connect_db(t->want_db);
	sql_ok(c, schema_sql);
	if (ddl)
		sql_ok(c, ddl);
	snap = snapshot(c);
	mg_db_close(c);
	return snap;
}

static void expect_snapshot(struct pgt *t, const char *want, const char *when)
{
	char *got = snapshot(t->c);

	if (strcmp(got, want) != 0)
		fail_msg("the catalog %s differs from the one-shot DDL's.\n"
			 "---- got\n%s\n---- want\n%s", when, got, want);
	free(got);
}

/* No trigger, function or marker column of migrate's is left. */
static void expect_no_leftovers(struct pgt *t)
{
	expect_scalar(t->c, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal", "0");
	expect_scalar(t->c, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n "
		      "ON n.oid = p.pronamespace WHERE p.proname LIKE '\\_migrate\\_%'", "0");
	expect_scalar(t->c, "SELECT count(*) FROM pg_attribute WHERE attname LIKE "
		      "'\\_migrate\\_%' AND NOT attisdropped", "0");
	expect_scalar(t->c, "SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_mg_' "
		      "OR relname LIKE '%\\_mg__'", "0");
}

/* ==== rename_column ===================================================================== */

/* user_name has every dependent migrate carries over: a default, NOT NULL,
 * a comment, a plain and an expression index, a UNIQUE constraint, a
 * CHECK, a foreign key to handles and one from orders. */
static const char rename_schema[] =
	"CREATE TABLE handles (name text PRIMARY KEY);\n"
	"INSERT INTO handles VALUES ('anon'), ('ann'), ('bob'), ('cy'), ('dee'), ('eve');\n"
	"CREATE TABLE users (\n"
	"  id bigint PRIMARY KEY,\n"
	"  user_name text NOT NULL DEFAULT 'anon'\n"
	"    CONSTRAINT users_user_name_key UNIQUE\n"
	"    CONSTRAINT users_user_name_check CHECK (length(user_name) > 0)\n"
	"    CONSTRAINT users_user_name_fkey REFERENCES handles (name),\n"
	"  email text);\n"
	"CREATE INDEX users_user_name_idx ON users (user_name);\n"
	"CREATE INDEX users_lower_user_name_idx ON users (lower(user_name)) WHERE email IS NOT NULL;\n"
	"COMMENT ON COLUMN users.user_name IS 'the login name; it''s shown to others';\n"
	"CREATE TABLE orders (id bigint PRIMARY KEY,\n"
	"  user_name text CONSTRAINT orders_user_name_fkey REFERENCES users (user_name),\n"
	"  total integer);\n"
	"INSERT INTO users VALUES (1, 'ann', 'a@x'), (2, 'bob', NULL), (3, 'cy', 'c@x');\n"
	"INSERT INTO orders VALUES (10, 'ann', 5), (11, 'bob', 7);\n";

static void test_rename_column_plan(void **state)
{
	struct pgt *t = db_open(state, "rename_plan", rename_schema);
	const struct mg_step *s;
	const struct mg_backfill_spec *b;

	plan_ok(t, "0001_rename_user_name.yaml");

	/* expand: one transaction for users, then the copied indexes */
	expect_nsteps(t, MG_PLAN_EXPAND, 4);
	s = step(t, MG_PLAN_EXPAND, 0, MG_STEP_TX, NULL);
	assert_string_equal(s->table, "\"public\".\"users\"");
	assert_contains(s->description, "expand \"public\".\"users\": \"username\" text");
	assert_contains(s->description, "marker _migrate_1");
	assert_contains(s->description, "dual-write trigger");
	assert_contains(s->sql, "LOCK TABLE \"public\".\"users\" IN ACCESS EXCLUSIVE MODE");
	assert_contains(s->sql, "ALTER TABLE \"public\".\"users\" ADD COLUMN IF NOT EXISTS \"username\" text, "
			"ADD COLUMN IF NOT EXISTS \"_migrate_1\" smallint NOT NULL DEFAULT 0;");
	/* no default on the new column during the window */
	assert_not_contains(s->sql, "\"username\" text DEFAULT");
	assert_contains(s->sql, "CHECK (\"username\" IS NOT NULL) NOT VALID");
	assert_contains(s->sql, "ADD CONSTRAINT \"users_user_name_check_mg1\" CHECK ((length(\"username\") > 0)) NOT VALID");
	assert_contains(s->sql, "ADD CONSTRAINT \"users_user_name_fkey_mg1\" FOREIGN KEY (\"username\") REFERENCES handles(name) NOT VALID");
	assert_contains(s->sql, "COMMENT ON COLUMN \"public\".\"users\".\"username\" IS 'the login name; it''s shown to others';");
	assert_contains(s->sql, "CREATE OR REPLACE FUNCTION \"public\".\"_migrate_1_users_sync\"() RETURNS trigger LANGUAGE plpgsql");
	assert_contains(s->sql, "CREATE TRIGGER \"zz_migrate_1_users\" BEFORE INSERT OR UPDATE ON \"public\".\"users\" FOR EACH ROW");
	assert_contains(s->sql, "WHEN (current_setting('migrate.backfill', true) IS DISTINCT FROM '1')");
	assert_contains(s->sql, "EXECUTE FUNCTION \"public\".\"_migrate_1_users_sync\"()");
	/* the inbound key is added at switch-reads, not here */
	assert_not_contains(s->sql, "orders");

	s = step(t, MG_PLAN_EXPAND, 1, MG_STEP_NOTX, NULL);
	assert_string_equal(s->sql, "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"users_lower_user_name_idx_mg1\" "
			    "ON \"public\".\"users\" USING btree (lower(\"username\")) WHERE (email IS NOT NULL)");
	assert_string_equal(s->object, "\"public\".\"users_lower_user_name_idx_mg1\"");
	s = step(t, MG_PLAN_EXPAND, 2, MG_STEP_NOTX,
		 "build index \"users_user_name_idx_mg1\" on \"public\".\"users\" (copy of 'users_user_name_idx' for column 'username')");
	assert_string_equal(s->sql, "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"users_user_name_idx_mg1\" "
			    "ON \"public\".\"users\" USING btree (\"username\")");
	assert_string_equal(s->object, "\"public\".\"users_user_name_idx_mg1\"");
	s = step(t, MG_PLAN_EXPAND, 3, MG_STEP_NOTX, NULL);
	assert_string_equal(s->sql, "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"users_user_name_key_mg1\" "
			    "ON \"public\".\"users\" USING btree (\"username\")");

	/* the backfill */
	assert_int_equal(t->plan.n_backfills, 1);
	b = &t->plan.backfills[0];
	assert_string_equal(b->table, "\"public\".\"users\"");
	assert_int_equal(b->n_keys, 1);
	assert_string_equal(b->key_columns[0], "\"id\"");
	assert_string_equal(b->key_types[0], "bigint");
	assert_string_equal(b->set_clause, "\"username\" = (\"user_name\")");
	assert_string_equal(b->marker, "\"_migrate_1\"");
	assert_contains(b->mismatch, "\"_migrate_1\" = 0");
	assert_contains(b->mismatch, "\"username\" IS NOT DISTINCT FROM (\"user_name\")");
	assert_string_equal(b->session_sql, "SET migrate.backfill = '1'");
	expect_nsteps(t, MG_PLAN_BACKFILL, 0);

	/* switch-reads: indexes valid, constraints validated, inbound key */
	s = step(t, MG_PLAN_SWITCH_READS, 0, MG_STEP_ASSERT, "every index built at expand is valid");
	assert_contains(s->sql, "'\"public\".\"users_user_name_idx_mg1\"'");
	assert_contains(s->sql, "'\"public\".\"users_user_name_key_mg1\"'");
	assert_contains(s->sql, "'\"public\".\"users_lower_user_name_idx_mg1\"'");
	step(t, MG_PLAN_SWITCH_READS, 1, MG_STEP_NOTX, NULL);
	{
		int validates = 0, inbound = 0;

		for (size_t i = 1; i < nsteps(t, MG_PLAN_SWITCH_READS); i++) {
			s = &t->plan.steps[MG_PLAN_SWITCH_READS][i];
			if (strstr(s->sql, "ALTER TABLE \"public\".\"users\" VALIDATE CONSTRAINT"))
				validates++;
			if (strstr(s->sql, "ADD CONSTRAINT \"orders_user_name_fkey_mg1\" FOREIGN KEY (user_name) REFERENCES users(\"username\") NOT VALID")) {
				assert_int_equal(s->kind, MG_STEP_TX);
				assert_contains(s->sql, "LOCK TABLE public.orders IN SHARE ROW EXCLUSIVE MODE");
				inbound++;
			}
			if (strstr(s->sql, "VALIDATE CONSTRAINT \"orders_user_name_fkey_mg1\""))
				inbound++;
		}
		/* NOT NULL, CHECK and the outbound key */
		assert_int_equal(validates, 3);
		assert_int_equal(inbound, 2);
	}

	/* contract: re-check dependents, then one transaction */
	expect_nsteps(t, MG_PLAN_CONTRACT, 2);
	step(t, MG_PLAN_CONTRACT, 0, MG_STEP_ASSERT,
	     "nothing new depends on column 'user_name' of \"public\".\"users\", which contract drops");
	s = step(t, MG_PLAN_CONTRACT, 1, MG_STEP_TX, NULL);
	assert_contains(s->description, "contract \"public\".\"users\": drop trigger, \"user_name\", \"_migrate_1\" (never CASCADE)");
	assert_contains(s->sql, "LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE");
	assert_contains(s->sql, "DROP TRIGGER IF EXISTS \"zz_migrate_1_users\" ON \"public\".\"users\"");
	assert_contains(s->sql, "DROP FUNCTION IF EXISTS \"public\".\"_migrate_1_users_sync\"()");
	assert_contains(s->sql, "ALTER TABLE public.orders DROP CONSTRAINT IF EXISTS \"orders_user_name_fkey\"");
	assert_contains(s->sql, "ALTER TABLE \"public\".\"users\" DROP COLUMN IF EXISTS \"user_name\", "
			"DROP COLUMN IF EXISTS \"_migrate_1\";");
	assert_not_contains(s->sql, "CASCADE");
	assert_contains(s->sql, "ALTER TABLE \"public\".\"users\" ALTER COLUMN \"username\" SET NOT NULL");
	assert_contains(s->sql, "ALTER TABLE \"public\".\"users\" ALTER COLUMN \"username\" SET DEFAULT 'anon'::text");
	assert_contains(s->sql, "ALTER INDEX \"public\".\"users_user_name_idx_mg1\" RENAME TO \"users_user_name_idx\"");
	assert_contains(s->sql, "ADD CONSTRAINT \"users_user_name_key\" UNIQUE USING INDEX \"users_user_name_key_mg1\"");
	assert_contains(s->sql, "RENAME CONSTRAINT \"users_user_name_check_mg1\" TO \"users_user_name_check\"");
	assert_contains(s->sql, "ALTER TABLE public.orders RENAME CONSTRAINT \"orders_user_name_fkey_mg1\" TO \"orders_user_name_fkey\"");

	/* rollback: the new column goes, and the copies of the inbound key */
	expect_nsteps(t, MG_PLAN_ROLLBACK, 1);
	s = step(t, MG_PLAN_ROLLBACK, 0, MG_STEP_TX, NULL);
	assert_contains(s->description, "roll back \"public\".\"users\": drop trigger, \"username\", \"_migrate_1\"");
	assert_contains(s->sql, "DROP TRIGGER IF EXISTS \"zz_migrate_1_users\" ON \"public\".\"users\"");
	assert_contains(s->sql, "ALTER TABLE public.orders DROP CONSTRAINT IF EXISTS \"orders_user_name_fkey_mg1\"");
	assert_contains(s->sql, "ALTER TABLE \"public\".\"users\" DROP COLUMN IF EXISTS \"username\", "
			"DROP COLUMN IF EXISTS \"_migrate_1\"");
	assert_not_contains(s->sql, "\"user_name\"");
	assert_int_equal(t->plan.rollback_refused, 0);

	/* planning changed nothing */
	expect_scalar(t->c, "SELECT count(*) FROM information_schema.columns "
		      "WHERE table_name = 'users' AND column_name = 'username'", "0");
}

static void test_rename_column_apply(void **state)
{
	struct pgt *t = db_open(state, "rename_apply", rename_schema);
	char *want = want_snapshot(t, rename_schema,
				   "ALTER TABLE users RENAME COLUMN user_name TO username");

	plan_ok(t, "0001_rename_user_name.yaml");
	run_phase(t, MG_PLAN_EXPAND);

	/* the window: the old version writes user_name, the new one username */
	sql_ok(t->c, "INSERT INTO users (id, user_name, email) VALUES (4, 'dee', 'd@x')");
	sql_ok(t->c, "INSERT INTO users (id, username) VALUES (5, 'eve')");
	sql_ok(t->c, "UPDATE users SET email = 'b@x' WHERE id = 2");
	expect_scalar(t->c, "SELECT string_agg(concat_ws(' ', id, user_name, username, \"_migrate_1\"), ', ' ORDER BY id) FROM users",
		      "1 ann 0, 2 bob bob 1, 3 cy 0, 4 dee dee 1, 5 eve eve 2");
	/* rows 1 and 3 are not backfilled yet: the mismatch sees them */
	assert_int_equal(count_where(t, "users", t->plan.backfills[0].mismatch), 2);

	backfill(t);
	expect_scalar(t->c, "SELECT string_agg(concat_ws(' ', id, username, \"_migrate_1\"), ', ' ORDER BY id) FROM users",
		      "1 ann 1, 2 bob 1, 3 cy 1, 4 dee 1, 5 eve 2");
	run_phase(t, MG_PLAN_SWITCH_READS);
	/* the new column is as constrained as the old one before contract */
	expect_scalar(t->c, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'users'::regclass AND NOT convalidated", "0");
	run_phase(t, MG_PLAN_CONTRACT);

	expect_snapshot(t, want, "after contract");
	expect_no_leftovers(t);
	expect_scalar(t->c, "SELECT string_agg(username, ',' ORDER BY id) FROM users",
		      "ann,bob,cy,dee,eve");
	/* the carried-over constraints work */
	{
		struct mg_err err = MG_ERR_INIT;

		assert_int_equal(mg_db_exec(t->c, "INSERT INTO users (id, username) VALUES (6, 'ann')", &err), -1);
		assert_contains(err.msg, "users_user_name_key");
		assert_int_equal(mg_db_exec(t->c, "INSERT INTO orders VALUES (12, 'nobody', 1)", &err), -1);
		assert_contains(err.msg, "orders_user_name_fkey");
	}
	sql_ok(t->c, "INSERT INTO users (id) VALUES (6)");
	expect_scalar(t->c, "SELECT username FROM users WHERE id = 6", "anon");
	free(want);
}

/* Expand, backfill and switch-reads, then rollback: as if nothing happened. */
static void test_rename_column_rollback(void **state)
{
	struct pgt *t = db_open(state, "rename_rollback", rename_schema);
	char *before = snapshot(t->c);

	plan_ok(t, "0001_rename_user_name.yaml");
	run_phase(t, MG_PLAN_EXPAND);
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_ROLLBACK);
	expect_snapshot(t, before, "after rollback");
	expect_no_leftovers(t);
	free(before);
}

/* A dependent migrate cannot carry over refuses the plan, naming it. */
static void test_rename_column_view_refused(void **state)
{
	struct pgt *t = db_open(state, "rename_view", rename_schema);
	const char *msg;

	sql_ok(t->c, "CREATE VIEW active_users AS SELECT id, user_name FROM users WHERE email IS NOT NULL");
	msg = plan_fails(t, "0001_rename_user_name.yaml", MG_EREFUSED);
	assert_contains(msg, "view active_users depends on column 'user_name' of \"public\".\"users\"");
	expect_error_at(t, msg, 4, 5);
}

/* ... unless the operation names it under drops: then contract drops it. */
static void test_rename_column_drops_view(void **state)
{
	struct pgt *t = db_open(state, "rename_drops_view", rename_schema);
	const struct mg_step *s;
	char *want = want_snapshot(t, rename_schema,
				   "ALTER TABLE users RENAME COLUMN user_name TO username");

	sql_ok(t->c, "CREATE VIEW active_users AS SELECT id, user_name FROM users WHERE email IS NOT NULL");
	plan_ok(t, "0012_rename_drops_view.yaml");
	s = step(t, MG_PLAN_CONTRACT, nsteps(t, MG_PLAN_CONTRACT) - 1, MG_STEP_TX, NULL);
	assert_contains(s->sql, "DROP VIEW IF EXISTS \"public\".\"active_users\";");
	assert_true(strstr(s->sql, "DROP VIEW") < strstr(s->sql, "DROP COLUMN"));
	/* the view lives until contract */
	run_phase(t, MG_PLAN_EXPAND);
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	expect_scalar(t->c, "SELECT count(*) FROM active_users", "2");
	run_phase(t, MG_PLAN_CONTRACT);
	expect_scalar(t->c, "SELECT to_regclass('active_users')", NULL);
	expect_snapshot(t, want, "after contract");
	free(want);
}

static void test_rename_primary_key_refused(void **state)
{
	struct pgt *t = db_open(state, "rename_key", rename_schema);
	const char *msg = plan_fails(t, "0013_rename_key.yaml", MG_EREFUSED);

	assert_contains(msg, "column 'id' is part of the key of \"public\".\"users\"");
	expect_error_at(t, msg, 4, 13);
}

static void test_missing_table(void **state)
{
	struct pgt *t = db_open(state, "missing_table", rename_schema);
	const char *msg = plan_fails(t, "0010_missing_table.yaml", MG_EINPUT);

	assert_contains(msg, "table 'nope' does not exist");
	expect_error_at(t, msg, 3, 14);
}

static void test_missing_column(void **state)
{
	struct pgt *t = db_open(state, "missing_column", rename_schema);
	const char *msg = plan_fails(t, "0011_missing_column.yaml", MG_EINPUT);

	assert_contains(msg, "column 'user_nam' does not exist in \"public\".\"users\"");
	expect_error_at(t, msg, 4, 13);
}

/* The plan the state store records reads back as the same plan. */
static void test_plan_json_round_trip(void **state)
{
	struct pgt *t = db_open(state, "plan_json", rename_schema);
	struct mg_err err = MG_ERR_INIT;
	struct mg_plan back;
	char *json, *again;

	plan_ok(t, "0001_rename_user_name.yaml");
	json = mg_plan_to_json(&t->plan);
	assert_non_null(json);
	if (mg_plan_from_json(&back, json, &err) < 0)
		fail_msg("reading the plan back: %s", err.msg);
	for (int ph = 0; ph < MG_PLAN_NPHASES; ph++) {
		assert_int_equal(back.n_steps[ph], t->plan.n_steps[ph]);
		for (size_t i = 0; i < back.n_steps[ph]; i++) {
			const struct mg_step *x = &t->plan.steps[ph][i], *y = &back.steps[ph][i];

			assert_int_equal(x->kind, y->kind);
			assert_string_equal(x->description, y->description);
			assert_string_equal(x->sql, y->sql);
			if (x->table)
				assert_string_equal(x->table, y->table);
			else
				assert_null(y->table);
			if (x->object)
				assert_string_equal(x->object, y->object);
			else
				assert_null(y->object);
		}
	}
	assert_int_equal(back.n_backfills, t->plan.n_backfills);
	for (size_t i = 0; i < back.n_backfills; i++) {
		const struct mg_backfill_spec *x = &t->plan.backfills[i], *y = &back.backfills[i];

		assert_string_equal(x->table, y->table);
		assert_int_equal(x->n_keys, y->n_keys);
		for (size_t k = 0; k < x->n_keys; k++) {
			assert_string_equal(x->key_columns[k], y->key_columns[k]);
			assert_string_equal(x->key_types[k], y->key_types[k]);
		}
		assert_string_equal(x->set_clause, y->set_clause);
		assert_string_equal(x->marker, y->marker);
		assert_string_equal(x->mismatch, y->mismatch);
		assert_string_equal(x->session_sql, y->session_sql);
	}
	assert_int_equal(back.n_lossy, t->plan.n_lossy);
	assert_int_equal(back.n_notes, t->plan.n_notes);
	assert_int_equal(back.rollback_refused, t->plan.rollback_refused);
	/* and the JSON of the copy is the same text */
	again = mg_plan_to_json(&back);
	assert_string_equal(again, json);
	free(again);
	free(json);
	mg_plan_release(&back);
}

/* ==== hostile identifiers ================================================================ */

/* A schema, table and column that only work quoted, in every place the
 * planner writes them: the column has a default, NOT NULL, a comment, an
 * index, a CHECK and an inbound key from another mixed-case table. */
static const char hostile_schema[] =
	"CREATE SCHEMA \"App\";\n"
	"CREATE TABLE \"App\".\"Users\" (\n"
	"  \"Id\" bigint PRIMARY KEY,\n"
	"  \"User Name\" text NOT NULL DEFAULT 'x y'\n"
	"    CONSTRAINT \"Users Name Check\" CHECK (\"User Name\" <> '')\n"
	"    CONSTRAINT \"Users Name Key\" UNIQUE,\n"
	"  plain text);\n"
	"CREATE INDEX \"Users By Name\" ON \"App\".\"Users\" (\"User Name\", plain);\n"
	"COMMENT ON COLUMN \"App\".\"Users\".\"User Name\" IS 'shown';\n"
	"CREATE TABLE \"App\".\"Orders\" (\"Id\" bigint PRIMARY KEY,\n"
	"  \"Who\" text CONSTRAINT \"Orders Who\" REFERENCES \"App\".\"Users\" (\"User Name\"));\n"
	"INSERT INTO \"App\".\"Users\" VALUES (1, 'Ann A', 'p'), (2, 'Bob B', NULL);\n"
	"INSERT INTO \"App\".\"Orders\" VALUES (1, 'Ann A');\n";

static void test_hostile_names(void **state)
{
	struct pgt *t = db_open(state, "hostile", hostile_schema);
	char *want = want_snapshot(t, hostile_schema,
				   "ALTER TABLE \"App\".\"Users\" RENAME COLUMN \"User Name\" TO \"Display Name\"");
	const struct mg_step *s;
	const struct mg_backfill_spec *b;

	plan_ok(t, "0008_hostile_names.yaml");
	s = step(t, MG_PLAN_EXPAND, 0, MG_STEP_TX, NULL);
	assert_string_equal(s->table, "\"App\".\"Users\"");
	assert_contains(s->sql, "ALTER TABLE \"App\".\"Users\" ADD COLUMN IF NOT EXISTS \"Display Name\" text");
	assert_contains(s->sql, "CREATE TRIGGER \"zz_migrate_8_Users\" BEFORE INSERT OR UPDATE ON \"App\".\"Users\"");
	assert_contains(s->sql, "\"App\".\"_migrate_8_Users_sync\"()");
	assert_contains(s->sql, "CHECK (\"Display Name\" IS NOT NULL) NOT VALID");
	assert_contains(s->sql, "COMMENT ON COLUMN \"App\".\"Users\".\"Display Name\" IS 'shown'");
	b = &t->plan.backfills[0];
	assert_string_equal(b->table, "\"App\".\"Users\"");
	assert_string_equal(b->key_columns[0], "\"Id\"");
	assert_string_equal(b->set_clause, "\"Display Name\" = (\"User Name\")");
	{
		int found = 0;

		for (size_t i = 0; i < nsteps(t, MG_PLAN_EXPAND); i++) {
			s = &t->plan.steps[MG_PLAN_EXPAND][i];
			if (s->kind == MG_STEP_NOTX &&
			    strstr(s->sql, "ON \"App\".\"Users\" USING btree (\"Display Name\", plain)")) {
				assert_string_equal(s->object, "\"App\".\"Users By Name_mg8\"");
				found = 1;
			}
		}
		assert_true(found);
	}

	run_phase(t, MG_PLAN_EXPAND);
	sql_ok(t->c, "INSERT INTO \"App\".\"Users\" (\"Id\", \"User Name\") VALUES (3, 'Cy C')");
	sql_ok(t->c, "INSERT INTO \"App\".\"Users\" (\"Id\", \"Display Name\") VALUES (4, 'Dee D')");
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_CONTRACT);
	expect_snapshot(t, want, "after contract");
	expect_no_leftovers(t);
	expect_scalar(t->c, "SELECT string_agg(\"Display Name\", ',' ORDER BY \"Id\") FROM \"App\".\"Users\"",
		      "Ann A,Bob B,Cy C,Dee D");
	free(want);
}

/* ==== add_column ============================================================================ */

static const char add_schema[] =
	"CREATE TABLE orders (id bigint PRIMARY KEY, total integer NOT NULL);\n"
	"INSERT INTO orders VALUES (1, 5), (2, 2000);\n";

static void test_add_column(void **state)
{
	struct pgt *t = db_open(state, "add_column", add_schema);
	char *want = want_snapshot(t, add_schema,
				   "ALTER TABLE orders ADD COLUMN priority smallint NOT NULL DEFAULT 0");
	const struct mg_step *s;
	const struct mg_backfill_spec *b;

	plan_ok(t, "0002_add_priority.yaml");
	expect_nsteps(t, MG_PLAN_EXPAND, 1);
	s = step(t, MG_PLAN_EXPAND, 0, MG_STEP_TX, NULL);
	assert_contains(s->sql, "ALTER TABLE \"public\".\"orders\" ADD COLUMN IF NOT EXISTS \"priority\" smallint, "
			"ADD COLUMN IF NOT EXISTS \"_migrate_2\" smallint NOT NULL DEFAULT 0;");
	assert_contains(s->sql, "CHECK (\"priority\" IS NOT NULL) NOT VALID");
	assert_contains(s->sql, "CREATE TRIGGER \"zz_migrate_2_orders\" BEFORE INSERT OR UPDATE");
	assert_contains(s->sql, "CASE WHEN total > 1000 THEN 1 ELSE 0 END");
	/* the default is not there during the window: it is set at contract */
	assert_not_contains(s->sql, "SET DEFAULT");
	assert_int_equal(t->plan.n_backfills, 1);
	b = &t->plan.backfills[0];
	assert_string_equal(b->set_clause, "\"priority\" = (CASE WHEN total > 1000 THEN 1 ELSE 0 END)");
	assert_string_equal(b->marker, "\"_migrate_2\"");
	assert_string_equal(b->mismatch, "\"_migrate_2\" = 0");
	assert_string_equal(b->key_columns[0], "\"id\"");
	step(t, MG_PLAN_SWITCH_READS, 0, MG_STEP_NOTX,
	     "validate constraint \"priority_not_null_mg2\" on \"public\".\"orders\"");
	expect_nsteps(t, MG_PLAN_SWITCH_READS, 1);
	s = step(t, MG_PLAN_CONTRACT, 0, MG_STEP_TX, NULL);
	assert_contains(s->sql, "ALTER TABLE \"public\".\"orders\" DROP COLUMN IF EXISTS \"_migrate_2\";");
	assert_contains(s->sql, "ALTER TABLE \"public\".\"orders\" ALTER COLUMN \"priority\" SET NOT NULL");
	assert_contains(s->sql, "ALTER TABLE \"public\".\"orders\" ALTER COLUMN \"priority\" SET DEFAULT 0");
	assert_contains(s->sql, "DROP CONSTRAINT IF EXISTS \"priority_not_null_mg2\"");
	s = step(t, MG_PLAN_ROLLBACK, 0, MG_STEP_TX, NULL);
	assert_contains(s->sql, "DROP COLUMN IF EXISTS \"priority\", DROP COLUMN IF EXISTS \"_migrate_2\"");
	assert_int_equal(t->plan.n_lossy, 1);
	assert_contains(t->plan.lossy[0], "rollback of 0002 drops column 'priority'");

	run_phase(t, MG_PLAN_EXPAND);
	/* the old version does not know the column; the new one sets it */
	sql_ok(t->c, "INSERT INTO orders (id, total) VALUES (3, 5000)");
	sql_ok(t->c, "INSERT INTO orders (id, total, priority) VALUES (4, 1, 7)");
	sql_ok(t->c, "UPDATE orders SET total = 3000 WHERE id = 1");
	expect_scalar(t->c, "SELECT string_agg(concat_ws(' ', id, priority, \"_migrate_2\"), ', ' ORDER BY id) FROM orders",
		      "1 1 1, 2 0, 3 1 1, 4 7 2");
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_CONTRACT);
	expect_snapshot(t, want, "after contract");
	expect_no_leftovers(t);
	expect_scalar(t->c, "SELECT string_agg(concat_ws(' ', id, priority), ', ' ORDER BY id) FROM orders",
		      "1 1, 2 1, 3 1, 4 7");
	sql_ok(t->c, "INSERT INTO orders (id, total) VALUES (5, 1)");
	expect_scalar(t->c, "SELECT priority FROM orders WHERE id = 5", "0");
	free(want);
}

/* The backfill fires the user's UPDATE triggers: plan says so. */
static void test_add_column_notes_user_trigger(void **state)
{
	struct pgt *t = db_open(state, "add_column_notes",
		"CREATE TABLE orders (id bigint PRIMARY KEY, total integer NOT NULL);\n"
		"CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
		"$$ BEGIN RETURN NEW; END $$;\n"
		"CREATE TRIGGER \"Touch Orders\" BEFORE UPDATE ON orders FOR EACH ROW "
		"EXECUTE FUNCTION touch();\n"
		"CREATE TRIGGER on_insert BEFORE INSERT ON orders FOR EACH ROW "
		"EXECUTE FUNCTION touch();\n");

	plan_ok(t, "0002_add_priority.yaml");
	assert_int_equal(t->plan.n_notes, 1);
	assert_string_equal(t->plan.notes[0],
		"the backfill of \"public\".\"orders\" fires user trigger \"Touch Orders\"");
}

/* ==== alter_column ========================================================================== */

static const char alter_schema[] =
	"CREATE TABLE products (id bigint PRIMARY KEY,\n"
	"  price_cents integer NOT NULL CONSTRAINT products_price_check CHECK (price_cents >= 0),\n"
	"  name text);\n"
	"CREATE INDEX products_price_idx ON products (price_cents);\n"
	"INSERT INTO products VALUES (1, 150, 'a'), (2, 99900, 'b');\n";

static void test_alter_column(void **state)
{
	struct pgt *t = db_open(state, "alter_column", alter_schema);
	char *want = want_snapshot(t, alter_schema,
				   "ALTER TABLE products RENAME COLUMN price_cents TO price;\n"
				   "ALTER TABLE products ALTER COLUMN price TYPE numeric(12,2) USING price / 100.0");
	const struct mg_step *s;
	const struct mg_backfill_spec *b;

	plan_ok(t, "0003_alter_price.yaml");
	s = step(t, MG_PLAN_EXPAND, 0, MG_STEP_TX, NULL);
	assert_contains(s->sql, "ADD COLUMN IF NOT EXISTS \"price\" numeric(12,2), ADD COLUMN IF NOT EXISTS \"_migrate_3\"");
	assert_contains(s->sql, "CHECK ((\"price\" >= 0)) NOT VALID");
	/* both directions in the trigger */
	assert_contains(s->sql, "price_cents / 100.0");
	assert_contains(s->sql, "(price * 100)::integer");
	s = step(t, MG_PLAN_EXPAND, 1, MG_STEP_NOTX, NULL);
	assert_string_equal(s->sql, "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"products_price_idx_mg3\" "
			    "ON \"public\".\"products\" USING btree (\"price\")");
	b = &t->plan.backfills[0];
	assert_string_equal(b->set_clause, "\"price\" = (price_cents / 100.0)");
	assert_contains(b->mismatch, "\"price_cents\" IS NOT DISTINCT FROM ((price * 100)::integer)");
	assert_int_equal(t->plan.n_lossy, 1);
	assert_contains(t->plan.lossy[0], "down ((price * 100)::integer)");
	s = step(t, MG_PLAN_CONTRACT, nsteps(t, MG_PLAN_CONTRACT) - 1, MG_STEP_TX, NULL);
	assert_contains(s->sql, "DROP COLUMN IF EXISTS \"price_cents\"");
	s = step(t, MG_PLAN_ROLLBACK, 0, MG_STEP_TX, NULL);
	assert_contains(s->sql, "DROP COLUMN IF EXISTS \"price\"");

	run_phase(t, MG_PLAN_EXPAND);
	sql_ok(t->c, "INSERT INTO products (id, price_cents) VALUES (3, 250)");
	sql_ok(t->c, "INSERT INTO products (id, price) VALUES (4, 12.34)");
	expect_scalar(t->c, "SELECT string_agg(concat_ws(' ', id, price_cents, price), ', ' ORDER BY id) FROM products",
		      "1 150, 2 99900, 3 250 2.50, 4 1234 12.34");
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_CONTRACT);
	expect_snapshot(t, want, "after contract");
	expect_no_leftovers(t);
	expect_scalar(t->c, "SELECT string_agg(price::text, ',' ORDER BY id) FROM products",
		      "1.50,999.00,2.50,12.34");
	free(want);
}

/* ==== drop_column ============================================================================ */

static const char drop_schema[] =
	"CREATE TABLE users (id bigint PRIMARY KEY, name text,\n"
	"  legacy_flag boolean NOT NULL);\n"
	"CREATE INDEX users_legacy_idx ON users (legacy_flag);\n"
	"INSERT INTO users VALUES (1, 'a', true), (2, 'b', false);\n";

static void test_drop_column(void **state)
{
	struct pgt *t = db_open(state, "drop_column", drop_schema);
	char *want = want_snapshot(t, drop_schema, "ALTER TABLE users DROP COLUMN legacy_flag");
	const struct mg_step *s;

	plan_ok(t, "0004_drop_legacy.yaml");
	expect_nsteps(t, MG_PLAN_EXPAND, 1);
	s = step(t, MG_PLAN_EXPAND, 0, MG_STEP_TX, NULL);
	/* an INSERT trigger fills the column the new version no longer
	 * writes; no marker, no backfill */
	assert_contains(s->sql, "CREATE TRIGGER \"zz_migrate_4_users\" BEFORE INSERT ON \"public\".\"users\"");
	assert_contains(s->sql, "IF NEW.\"legacy_flag\" IS NULL THEN");
	assert_not_contains(s->sql, "_migrate_4\" smallint");
	assert_not_contains(s->sql, "ADD COLUMN");
	assert_int_equal(t->plan.n_backfills, 0);
	s = step(t, MG_PLAN_CONTRACT, nsteps(t, MG_PLAN_CONTRACT) - 1, MG_STEP_TX, NULL);
	assert_contains(s->sql, "ALTER TABLE \"public\".\"users\" DROP COLUMN IF EXISTS \"legacy_flag\";");
	assert_not_contains(s->sql, "CASCADE");
	s = step(t, MG_PLAN_ROLLBACK, 0, MG_STEP_TX, NULL);
	assert_contains(s->sql, "DROP TRIGGER IF EXISTS \"zz_migrate_4_users\"");
	assert_not_contains(s->sql, "DROP COLUMN");
	assert_contains(t->plan.lossy[0], "contract of 0004 drops column 'legacy_flag'");

	run_phase(t, MG_PLAN_EXPAND);
	/* the new version's insert works before contract */
	sql_ok(t->c, "INSERT INTO users (id, name) VALUES (3, 'c')");
	expect_scalar(t->c, "SELECT legacy_flag::text FROM users WHERE id = 3", "false");
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_CONTRACT);
	expect_snapshot(t, want, "after contract");
	expect_no_leftovers(t);
	free(want);
}

static void test_drop_not_null_without_down(void **state)
{
	struct pgt *t = db_open(state, "drop_not_null", drop_schema);
	const char *msg = plan_fails(t, "0005_drop_not_null.yaml", MG_EINPUT);

	assert_contains(msg, "drop_column of 'legacy_flag': the column is NOT NULL without a default");
	expect_error_at(t, msg, 3, 5);
}

/* ==== create_index ============================================================================= */

static const char index_schema[] =
	"CREATE TABLE users (id bigint PRIMARY KEY, email text, deleted_at timestamptz);\n"
	"INSERT INTO users VALUES (1, 'a@x', NULL), (2, 'a@x', now()), (3, 'b@x', NULL);\n";

static void test_create_index(void **state)
{
	struct pgt *t = db_open(state, "create_index", index_schema);
	char *before = snapshot(t->c);
	char *want = want_snapshot(t, index_schema,
				   "CREATE UNIQUE INDEX users_live_email_key ON users (email) WHERE deleted_at IS NULL");
	const struct mg_step *s;

	plan_ok(t, "0006_index_email.yaml");
	expect_nsteps(t, MG_PLAN_EXPAND, 1);
	s = step(t, MG_PLAN_EXPAND, 0, MG_STEP_NOTX,
		 "build unique index \"users_live_email_key\" on \"public\".\"users\" concurrently");
	assert_string_equal(s->sql, "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"users_live_email_key\" "
			    "ON \"public\".\"users\" (\"email\") WHERE deleted_at IS NULL");
	assert_string_equal(s->object, "\"public\".\"users_live_email_key\"");
	expect_nsteps(t, MG_PLAN_SWITCH_READS, 1);
	s = step(t, MG_PLAN_SWITCH_READS, 0, MG_STEP_ASSERT, "every index built at expand is valid");
	assert_contains(s->sql, "'\"public\".\"users_live_email_key\"'");
	expect_nsteps(t, MG_PLAN_CONTRACT, 0);
	assert_int_equal(t->plan.n_backfills, 0);
	expect_nsteps(t, MG_PLAN_ROLLBACK, 1);
	s = step(t, MG_PLAN_ROLLBACK, 0, MG_STEP_NOTX, NULL);
	assert_string_equal(s->sql, "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"users_live_email_key\"");

	/* before expand the switch-reads check refuses: the index is missing */
	{
		struct mg_rows r = MG_ROWS_INIT;
		struct mg_err err = MG_ERR_INIT;

		assert_int_equal(mg_db_query(t->c, t->plan.steps[MG_PLAN_SWITCH_READS][0].sql, &r, &err), 0);
		assert_int_equal(r.nrows, 1);
		assert_string_equal(mg_rows_get(&r, 0, 0), "index \"public\".\"users_live_email_key\" is missing");
		mg_rows_release(&r);
	}
	run_phase(t, MG_PLAN_EXPAND);
	/* idempotent: a second run is a no-op */
	run_phase(t, MG_PLAN_EXPAND);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_CONTRACT);
	expect_snapshot(t, want, "after contract");
	run_phase(t, MG_PLAN_ROLLBACK);
	expect_snapshot(t, before, "after rollback");
	free(before);
	free(want);
}

/* ==== sql ======================================================================================= */

static void test_sql_then_later_op(void **state)
{
	struct pgt *t = db_open(state, "sql_step", NULL);
	char *want = want_snapshot(t, "SELECT 1",
				   "CREATE TABLE audit (id bigint PRIMARY KEY, what text NOT NULL, "
				   "at timestamptz DEFAULT now())");
	const struct mg_step *s;

	plan_ok(t, "0007_sql_then_add.yaml");
	/* planning ran the sql step in a transaction it rolled back */
	expect_scalar(t->c, "SELECT to_regclass('audit')", NULL);
	expect_nsteps(t, MG_PLAN_EXPAND, 2);
	s = step(t, MG_PLAN_EXPAND, 0, MG_STEP_TX, NULL);
	assert_contains(s->description, "expand SQL of the sql step at 0007_sql_then_add:3:5");
	assert_string_equal(s->sql, "CREATE TABLE audit (id bigint PRIMARY KEY, what text NOT NULL)");
	assert_null(s->table);
	s = step(t, MG_PLAN_EXPAND, 1, MG_STEP_TX, NULL);
	assert_string_equal(s->table, "\"public\".\"audit\"");
	assert_contains(s->sql, "ADD COLUMN IF NOT EXISTS \"at\" timestamp with time zone");
	assert_string_equal(t->plan.backfills[0].set_clause, "\"at\" = (now())");
	/* rollback undoes the later operation first, then the sql step */
	expect_nsteps(t, MG_PLAN_ROLLBACK, 2);
	s = step(t, MG_PLAN_ROLLBACK, 0, MG_STEP_TX, NULL);
	assert_contains(s->sql, "DROP COLUMN IF EXISTS \"at\"");
	s = step(t, MG_PLAN_ROLLBACK, 1, MG_STEP_TX, NULL);
	assert_string_equal(s->sql, "DROP TABLE IF EXISTS audit");
	assert_int_equal(t->plan.rollback_refused, 0);

	run_phase(t, MG_PLAN_EXPAND);
	sql_ok(t->c, "INSERT INTO audit (id, what) VALUES (1, 'x')");
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_CONTRACT);
	expect_snapshot(t, want, "after contract");
	expect_no_leftovers(t);
	expect_scalar(t->c, "SELECT count(*) FROM audit WHERE at IS NOT NULL", "1");
	run_phase(t, MG_PLAN_ROLLBACK);
	expect_scalar(t->c, "SELECT to_regclass('audit')", NULL);
	free(want);
}

/* ==== refusals ==================================================================================== */

static void test_no_primary_key_refused(void **state)
{
	struct pgt *t = db_open(state, "no_primary_key",
				"CREATE TABLE events (name text, at timestamptz);");
	const char *msg = plan_fails(t, "0009_no_primary_key.yaml", MG_EREFUSED);

	assert_contains(msg, "cannot backfill \"public\".\"events\": it has no primary key");
	expect_error_at(t, msg, 3, 14);
}

/* ==== regressions ============================================================================== */

/* Step i of phase ph's SQL that contains `needle`, failing when none does. */
static const struct mg_step *step_with(const struct pgt *t, enum mg_plan_phase ph,
				       const char *needle)
{
	for (size_t i = 0; i < t->plan.n_steps[ph]; i++)
		if (strstr(t->plan.steps[ph][i].sql, needle))
			return &t->plan.steps[ph][i];
	dump_plan(t);
	fail_msg("no %s step contains\n  %s", mg_plan_phase_name(ph), needle);
	return NULL;
}

/* A column named like a type: the type name after "::" stays a type. */
static const char date_schema[] =
	"CREATE TABLE ev (id bigint PRIMARY KEY, date date NOT NULL CHECK (date > '2000-01-01'::date));\n"
	"INSERT INTO ev VALUES (1, '2020-01-01'), (2, '2021-06-30');\n";

static void test_rename_column_named_like_its_type(void **state)
{
	struct pgt *t = db_open(state, "rename_date", date_schema);
	char *want = want_snapshot(t, date_schema, "ALTER TABLE ev RENAME COLUMN date TO day");
	const struct mg_step *s;

	plan_ok(t, "0014_rename_date.yaml");
	s = step(t, MG_PLAN_EXPAND, 0, MG_STEP_TX, NULL);
	assert_contains(s->sql, "ADD COLUMN IF NOT EXISTS \"day\" date,");
	assert_contains(s->sql, "ADD CONSTRAINT \"ev_date_check_mg14\" CHECK ((\"day\" > '2000-01-01'::date)) NOT VALID");
	assert_not_contains(s->sql, "::\"day\"");

	run_phase(t, MG_PLAN_EXPAND);
	sql_ok(t->c, "INSERT INTO ev (id, date) VALUES (3, '2022-02-02')");
	sql_ok(t->c, "INSERT INTO ev (id, day) VALUES (4, '2023-03-03')");
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_CONTRACT);
	expect_snapshot(t, want, "after contract");
	expect_no_leftovers(t);
	expect_scalar(t->c, "SELECT string_agg(day::text, ',' ORDER BY id) FROM ev",
		      "2020-01-01,2021-06-30,2022-02-02,2023-03-03");
	{
		struct mg_err err = MG_ERR_INIT;

		assert_int_equal(mg_db_exec(t->c, "INSERT INTO ev VALUES (5, '1999-12-31')", &err), -1);
		assert_contains(err.msg, "ev_date_check");
	}
	free(want);
}

/* ' and " in the schema, table and column names: every phase, the contract
 * re-check (which names the column in a string literal) included. */
static const char quotes_schema[] =
	"CREATE SCHEMA \"We\"\"ird\";\n"
	"CREATE TABLE \"We\"\"ird\".\"O'Brien\" (id bigint PRIMARY KEY,\n"
	"  \"it's \"\"x\"\"\" text NOT NULL DEFAULT 'a');\n"
	"CREATE INDEX \"O'Brien \"\"idx\"\"\" ON \"We\"\"ird\".\"O'Brien\" (\"it's \"\"x\"\"\");\n"
	"INSERT INTO \"We\"\"ird\".\"O'Brien\" VALUES (1, 'one'), (2, 'two''s');\n";

static void test_quotes_in_names_every_phase(void **state)
{
	struct pgt *t = db_open(state, "quotes", quotes_schema);
	char *want = want_snapshot(t, quotes_schema,
				   "ALTER TABLE \"We\"\"ird\".\"O'Brien\" RENAME COLUMN \"it's \"\"x\"\"\" TO \"it's \"\"y\"\"\"");
	const struct mg_step *s;

	plan_ok(t, "0015_quotes_in_names.yaml");
	s = step(t, MG_PLAN_EXPAND, 0, MG_STEP_TX, NULL);
	assert_string_equal(s->table, "\"We\"\"ird\".\"O'Brien\"");
	assert_contains(s->sql, "ALTER TABLE \"We\"\"ird\".\"O'Brien\" ADD COLUMN IF NOT EXISTS \"it's \"\"y\"\"\" text");
	s = step_with(t, MG_PLAN_EXPAND, "CREATE INDEX CONCURRENTLY");
	assert_string_equal(s->sql, "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"O'Brien \"\"idx\"\"_mg15\" "
			    "ON \"We\"\"ird\".\"O'Brien\" USING btree (\"it's \"\"y\"\"\")");
	s = step(t, MG_PLAN_CONTRACT, 0, MG_STEP_ASSERT,
		 "nothing new depends on column 'it's \"x\"' of \"We\"\"ird\".\"O'Brien\", which contract drops");
	/* the column's name is a literal of its own, never pasted into one */
	assert_contains(s->sql, "' depends on column ' || 'it''s \"x\"'");

	run_phase(t, MG_PLAN_EXPAND);
	sql_ok(t->c, "INSERT INTO \"We\"\"ird\".\"O'Brien\" (id, \"it's \"\"x\"\"\") VALUES (3, 'old''s')");
	sql_ok(t->c, "INSERT INTO \"We\"\"ird\".\"O'Brien\" (id, \"it's \"\"y\"\"\") VALUES (4, 'new\"s')");
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);

	/* the re-check runs, and sees a view made on the old column since */
	sql_ok(t->c, "CREATE VIEW \"We\"\"ird\".v AS SELECT \"it's \"\"x\"\"\" FROM \"We\"\"ird\".\"O'Brien\"");
	{
		struct mg_rows r = MG_ROWS_INIT;
		struct mg_err err = MG_ERR_INIT;

		if (mg_db_query(t->c, s->sql, &r, &err) < 0)
			fail_msg("the contract re-check fails: %s\n%s", err.msg, s->sql);
		assert_int_equal(r.nrows, 1);
		assert_string_equal(mg_rows_get(&r, 0, 0),
				    "view \"We\"\"ird\".v depends on column it's \"x\"");
		mg_rows_release(&r);
	}
	sql_ok(t->c, "DROP VIEW \"We\"\"ird\".v");

	run_phase(t, MG_PLAN_CONTRACT);
	expect_snapshot(t, want, "after contract");
	expect_no_leftovers(t);
	expect_scalar(t->c, "SELECT string_agg(\"it's \"\"y\"\"\", '|' ORDER BY id) FROM \"We\"\"ird\".\"O'Brien\"",
		      "one|two's|old's|new\"s");
	free(want);
}

/* The backfill of a published table goes to the subscribers: plan says so.
 * (CREATE PUBLICATION works at any wal_level; it only warns.) */
static void test_publication_note(void **state)
{
	struct pgt *t = db_open(state, "publication", rename_schema);

	sql_ok(t->c, "CREATE PUBLICATION pub_users FOR TABLE users;\n"
		     "CREATE PUBLICATION pub_orders FOR TABLE orders;\n");
	plan_ok(t, "0001_rename_user_name.yaml");
	if (t->plan.n_notes != 1) {
		dump_plan(t);
		fail_msg("expected 1 note, got %zu", t->plan.n_notes);
	}
	assert_string_equal(t->plan.notes[0],
		"the backfill of \"public\".\"users\" is replicated through publication pub_users");
}

/* Two renames over one multi-column index: one copy, over both new names. */
static const char two_cols_schema[] =
	"CREATE TABLE t (id bigint PRIMARY KEY, a integer NOT NULL, b text,\n"
	"  CONSTRAINT t_a_b_key UNIQUE (a, b));\n"
	"CREATE INDEX t_a_b_idx ON t (a, b);\n"
	"INSERT INTO t VALUES (1, 1, 'x'), (2, 2, NULL), (3, 3, 'z');\n";

static void test_rename_two_columns_of_one_index(void **state)
{
	struct pgt *t = db_open(state, "two_cols", two_cols_schema);
	char *want = want_snapshot(t, two_cols_schema,
				   "ALTER TABLE t RENAME COLUMN a TO a2;\n"
				   "ALTER TABLE t RENAME COLUMN b TO b2");
	int copies = 0, key_copies = 0;
	const struct mg_step *s;

	plan_ok(t, "0016_rename_two_columns.yaml");
	for (size_t i = 0; i < nsteps(t, MG_PLAN_EXPAND); i++) {
		s = &t->plan.steps[MG_PLAN_EXPAND][i];
		if (strstr(s->sql, "\"t_a_b_idx_mg16\"")) {
			copies++;
			assert_int_equal(s->kind, MG_STEP_NOTX);
			assert_string_equal(s->sql, "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"t_a_b_idx_mg16\" "
					    "ON \"public\".\"t\" USING btree (\"a2\", \"b2\")");
		}
		if (strstr(s->sql, "\"t_a_b_key_mg16\"")) {
			key_copies++;
			assert_string_equal(s->sql, "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"t_a_b_key_mg16\" "
					    "ON \"public\".\"t\" USING btree (\"a2\", \"b2\")");
		}
	}
	if (copies != 1 || key_copies != 1) {
		dump_plan(t);
		fail_msg("expected one copy of each index, got %d of t_a_b_idx and %d of t_a_b_key",
			 copies, key_copies);
	}

	run_phase(t, MG_PLAN_EXPAND);
	sql_ok(t->c, "INSERT INTO t (id, a, b) VALUES (4, 4, 'old')");
	sql_ok(t->c, "INSERT INTO t (id, a2, b2) VALUES (5, 5, 'new')");
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_CONTRACT);
	expect_snapshot(t, want, "after contract");
	expect_no_leftovers(t);
	expect_scalar(t->c, "SELECT pg_get_indexdef('t_a_b_idx'::regclass)",
		      "CREATE INDEX t_a_b_idx ON public.t USING btree (a2, b2)");
	expect_scalar(t->c, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 't_a_b_key'",
		      "UNIQUE (a2, b2)");
	expect_scalar(t->c, "SELECT string_agg(concat_ws(' ', id, a2, b2), ', ' ORDER BY id) FROM t",
		      "1 1 x, 2 2, 3 3 z, 4 4 old, 5 5 new");
	free(want);
}

/* ... but a CHECK over both cannot be copied for either rename alone. */
static void test_rename_two_columns_of_one_check_refused(void **state)
{
	struct pgt *t = db_open(state, "two_cols_check",
		"CREATE TABLE t (id bigint PRIMARY KEY, a integer, b integer,\n"
		"  CONSTRAINT t_a_b_check CHECK (a < b));\n");
	const char *msg = plan_fails(t, "0016_rename_two_columns.yaml", MG_EREFUSED);

	assert_contains(msg, "constraint 't_a_b_check' on \"public\".\"t\" spans two columns this migration replaces");
	expect_error_at(t, msg, 7, 5);
}

/* Column privileges of the old column are granted on the new one. The role
 * is cluster-wide: a name of this run's own, dropped by the teardown. */
static char reader_role[64];

static int teardown_role(void **state)
{
	int rc = teardown(state);

	if (reader_role[0]) {
		char *sql = mg_xasprintf("DROP ROLE IF EXISTS %s", reader_role);

		sql_ok(admin, sql);
		free(sql);
		reader_role[0] = '\0';
	}
	return rc;
}

static void test_rename_copies_column_grants(void **state)
{
	struct pgt *t;
	const struct mg_step *s;
	char *sql, *want;

	snprintf(reader_role, sizeof(reader_role), "mg_reader_%ld_%ld", (long)getpid(),
		 (long)time(NULL));
	sql = mg_xasprintf("DROP ROLE IF EXISTS %s; CREATE ROLE %s", reader_role, reader_role);
	sql_ok(admin, sql);
	free(sql);
	t = db_open(state, "grants", rename_schema);
	sql = mg_xasprintf("GRANT SELECT (id, user_name) ON users TO %s;\n"
			   "GRANT UPDATE (user_name) ON users TO %s WITH GRANT OPTION", reader_role, reader_role);
	sql_ok(t->c, sql);
	free(sql);

	plan_ok(t, "0001_rename_user_name.yaml");
	s = step(t, MG_PLAN_EXPAND, 0, MG_STEP_TX, NULL);
	want = mg_xasprintf("GRANT SELECT (\"username\") ON \"public\".\"users\" TO %s;", reader_role);
	assert_contains(s->sql, want);
	free(want);
	want = mg_xasprintf("GRANT UPDATE (\"username\") ON \"public\".\"users\" TO %s WITH GRANT OPTION;", reader_role);
	assert_contains(s->sql, want);
	free(want);
	/* only the renamed column's privileges */
	assert_not_contains(s->sql, "(\"id\")");

	run_phase(t, MG_PLAN_EXPAND);
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_CONTRACT);
	sql = mg_xasprintf("SELECT has_column_privilege('%s', 'users', 'username', 'SELECT')::text", reader_role);
	expect_scalar(t->c, sql, "true");
	free(sql);
	sql = mg_xasprintf("SELECT has_column_privilege('%s', 'users', 'username', 'UPDATE WITH GRANT OPTION')::text",
			   reader_role);
	expect_scalar(t->c, sql, "true");
	free(sql);
	/* exactly what RENAME COLUMN would have kept */
	want = mg_xasprintf("{%s=rw*/postgres}", reader_role);
	expect_scalar(t->c, "SELECT attacl::text FROM pg_attribute WHERE attrelid = 'users'::regclass "
		      "AND attname = 'username'", want);
	free(want);
}

/* A user trigger whose PL/pgSQL names the old column: PostgreSQL records no
 * dependency, so the planner reads the code. */
static const char lower_trigger_sql[] =
	"CREATE FUNCTION users_lower_name() RETURNS trigger LANGUAGE plpgsql AS $$\n"
	"BEGIN\n  NEW.user_name := lower(NEW.user_name);\n  RETURN NEW;\nEND $$;\n"
	"CREATE TRIGGER users_lower_name BEFORE INSERT ON users FOR EACH ROW "
	"EXECUTE FUNCTION users_lower_name();\n";

static void test_rename_trigger_function_refused(void **state)
{
	struct pgt *t = db_open(state, "trigger_refused", rename_schema);
	const char *msg;

	sql_ok(t->c, lower_trigger_sql);
	msg = plan_fails(t, "0001_rename_user_name.yaml", MG_EREFUSED);
	assert_contains(msg, "trigger 'users_lower_name' on \"public\".\"users\" runs users_lower_name(), "
			"whose code names column 'user_name'");
	expect_error_at(t, msg, 4, 5);
}

/* ... unless the operation names it under drops: then contract drops it. */
static void test_rename_drops_trigger(void **state)
{
	struct pgt *t = db_open(state, "drops_trigger", rename_schema);
	const struct mg_step *s;

	sql_ok(t->c, lower_trigger_sql);
	plan_ok(t, "0017_rename_drops_trigger.yaml");
	s = step(t, MG_PLAN_CONTRACT, nsteps(t, MG_PLAN_CONTRACT) - 1, MG_STEP_TX, NULL);
	assert_contains(s->sql, "DROP TRIGGER IF EXISTS \"users_lower_name\" ON \"public\".\"users\";");
	assert_true(strstr(s->sql, "DROP TRIGGER IF EXISTS \"users_lower_name\"") <
		    strstr(s->sql, "DROP COLUMN"));
	/* the trigger lives (and works) until contract */
	run_phase(t, MG_PLAN_EXPAND);
	sql_ok(t->c, "INSERT INTO users (id, user_name, email) VALUES (4, 'DEE', 'd@x')");
	expect_scalar(t->c, "SELECT concat_ws(' ', user_name, username) FROM users WHERE id = 4", "dee dee");
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_CONTRACT);
	expect_scalar(t->c, "SELECT count(*) FROM pg_trigger WHERE tgname = 'users_lower_name'", "0");
	/* and the new version's inserts work after it */
	sql_ok(t->c, "INSERT INTO users (id, username) VALUES (5, 'eve')");
	expect_scalar(t->c, "SELECT string_agg(username, ',' ORDER BY id) FROM users", "ann,bob,cy,dee,eve");
}

/* The trigger's rule is per column pair: when the new version changes one
 * renamed column of a row the backfill has not reached, the other pair is
 * "neither changed, marker 0" and must get new := up(old), not
 * old := down(new) from its still-NULL new side. FAILS while the trigger
 * applies the changed pair's direction to every pair (b of row 1 is lost,
 * silently: switch-reads and contract pass). */
static void test_new_side_update_keeps_other_pairs(void **state)
{
	struct pgt *t = db_open(state, "one_pair_update",
		"CREATE TABLE t (id bigint PRIMARY KEY, a integer NOT NULL, b text);\n"
		"INSERT INTO t VALUES (1, 1, 'x'), (2, 2, 'y');\n");

	plan_ok(t, "0016_rename_two_columns.yaml");
	run_phase(t, MG_PLAN_EXPAND);
	sql_ok(t->c, "UPDATE t SET a2 = 10 WHERE id = 1");
	expect_scalar(t->c, "SELECT concat_ws(' ', a, b, a2, b2) FROM t WHERE id = 1", "10 x 10 x");
	backfill(t);
	run_phase(t, MG_PLAN_SWITCH_READS);
	run_phase(t, MG_PLAN_CONTRACT);
	expect_scalar(t->c, "SELECT string_agg(concat_ws(' ', id, a2, b2), ', ' ORDER BY id) FROM t",
		      "1 10 x, 2 2 y");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_rename_column_plan, teardown),
		cmocka_unit_test_teardown(test_rename_column_apply, teardown),
		cmocka_unit_test_teardown(test_rename_column_rollback, teardown),
		cmocka_unit_test_teardown(test_rename_column_view_refused, teardown),
		cmocka_unit_test_teardown(test_rename_column_drops_view, teardown),
		cmocka_unit_test_teardown(test_rename_primary_key_refused, teardown),
		cmocka_unit_test_teardown(test_missing_table, teardown),
		cmocka_unit_test_teardown(test_missing_column, teardown),
		cmocka_unit_test_teardown(test_plan_json_round_trip, teardown),
		cmocka_unit_test_teardown(test_hostile_names, teardown),
		cmocka_unit_test_teardown(test_add_column, teardown),
		cmocka_unit_test_teardown(test_add_column_notes_user_trigger, teardown),
		cmocka_unit_test_teardown(test_alter_column, teardown),
		cmocka_unit_test_teardown(test_drop_column, teardown),
		cmocka_unit_test_teardown(test_drop_not_null_without_down, teardown),
		cmocka_unit_test_teardown(test_create_index, teardown),
		cmocka_unit_test_teardown(test_sql_then_later_op, teardown),
		cmocka_unit_test_teardown(test_no_primary_key_refused, teardown),
		cmocka_unit_test_teardown(test_rename_column_named_like_its_type, teardown),
		cmocka_unit_test_teardown(test_quotes_in_names_every_phase, teardown),
		cmocka_unit_test_teardown(test_publication_note, teardown),
		cmocka_unit_test_teardown(test_rename_two_columns_of_one_index, teardown),
		cmocka_unit_test_teardown(test_rename_two_columns_of_one_check_refused, teardown),
		cmocka_unit_test_teardown(test_rename_copies_column_grants, teardown_role),
		cmocka_unit_test_teardown(test_rename_trigger_function_refused, teardown),
		cmocka_unit_test_teardown(test_rename_drops_trigger, teardown),
		cmocka_unit_test_teardown(test_new_side_update_keeps_other_pairs, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

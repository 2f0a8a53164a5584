/*
 * test_pglint.c - what the PostgreSQL driver reads in SQL, offline
 * (drivers/postgres/lint*.c through mg_postgres_driver.lint_sql).
 *
 * The story: every statement a migration's SQL may hold comes back as the
 * facts a lint rule needs (what it does, to which table and column, with
 * which options), each at the byte offset of the statement or of its
 * subcommand; an expression or a type is read the same way, offsets in the
 * caller's text; SQL that does not parse is one syntax error at the
 * parser's position, and no input crashes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "util.h"

/* ---- helpers ---------------------------------------------------------------- */

static struct mg_sql_facts facts;

static int teardown(void **arg)
{
	(void)arg;
	mg_sql_facts_release(&facts);
	return 0;
}

static const char *kind_name(enum mg_fact_kind k)
{
	static const char *const names[] = {
		"SYNTAX_ERROR", "CREATE_TABLE", "DROP_TABLE", "RENAME_TABLE",
		"ADD_COLUMN", "DROP_COLUMN", "RENAME_COLUMN", "ALTER_TYPE",
		"SET_NOT_NULL", "DROP_NOT_NULL", "SET_DEFAULT",
		"ADD_CONSTRAINT", "VALIDATE_CONSTRAINT", "DROP_CONSTRAINT",
		"CREATE_INDEX", "DROP_INDEX", "REINDEX", "VACUUM_FULL",
		"CLUSTER", "LOCK_TABLE", "TRANSACTION", "COLUMN_TYPE",
		"VOLATILE_CALL", "UPDATE", "DELETE", "OTHER"
	};

	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

/* Every fact on stderr: what a failing test shows. */
static void dump(const char *text)
{
	fprintf(stderr, "facts of [%s]:\n", text);
	for (size_t i = 0; i < facts.n; i++) {
		const struct mg_sql_fact *f = &facts.items[i];

		fprintf(stderr, "  %s flags=%#x at %d table=%s name=%s detail=%s\n",
			kind_name(f->kind), f->flags, f->offset,
			f->table ? f->table : "-", f->name ? f->name : "-",
			f->detail ? f->detail : "-");
	}
}

static void lint(const char *text, enum mg_lint_text kind)
{
	mg_sql_facts_release(&facts);
	mg_driver_lint_sql(&mg_postgres_driver, text, kind, &facts);
	if (getenv("PGLINT_DUMP"))
		dump(text);
}

static void lint_sql(const char *text)
{
	lint(text, MG_LINT_STATEMENTS);
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The nth fact (0: first) of that kind. */
static const struct mg_sql_fact *nth(enum mg_fact_kind kind, int n)
{
	for (size_t i = 0; i < facts.n; i++)
		if (facts.items[i].kind == kind && n-- == 0)
			return &facts.items[i];
	return NULL;
}

static size_t count(enum mg_fact_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < facts.n; i++)
		n += facts.items[i].kind == kind;
	return n;
}

/* The nth fact of kind has exactly these flags, offset and strings. */
static void check_fact(const char *text, enum mg_fact_kind kind, int n,
		       unsigned flags, int offset, const char *table,
		       const char *name, const char *detail)
{
	const struct mg_sql_fact *f = nth(kind, n);

	if (!f || f->flags != flags || f->offset != offset ||
	    !same(f->table, table) || !same(f->name, name) ||
	    !same(f->detail, detail)) {
		dump(text);
		fprintf(stderr, "expected %s #%d flags=%#x at %d table=%s "
			"name=%s detail=%s\n", kind_name(kind), n, flags,
			offset, table ? table : "-", name ? name : "-",
			detail ? detail : "-");
		fail();
	}
}

/* Check the fact of kind in text; at is where it must point: the offset
 * of the first occurrence of at in text. */
#define FACT(text, kind, n, flags, at, table, name, detail)                  \
	do {                                                                 \
		lint_sql(text);                                              \
		check_fact(text, kind, n, flags, offset_of(text, at), table, \
			   name, detail);                                   \
	} while (0)

static int offset_of(const char *text, const char *at)
{
	const char *p = strstr(text, at);

	assert_non_null(p);
	return (int)(p - text);
}

#define F(x) MG_FACTF_##x
#define K(x) MG_FACT_##x

/* ---- tables ---------------------------------------------------------------- */

static void test_create_table(void **arg)
{
	const char *sql = "CREATE TABLE IF NOT EXISTS s.t (id serial PRIMARY KEY, "
			  "doc json, at timestamp(3), code char(2), n bigint)";

	(void)arg;
	FACT(sql, K(CREATE_TABLE), 0, F(IF_NOT_EXISTS), "CREATE", "s.t", NULL,
	     NULL);
	check_fact(sql, K(COLUMN_TYPE), 0,
		   F(TYPE_SERIAL) | F(TYPE_INT4) | F(PRIMARY_KEY),
		   offset_of(sql, "serial"), "s.t", "id", "serial");
	check_fact(sql, K(COLUMN_TYPE), 1, F(TYPE_JSON), offset_of(sql, "json"),
		   "s.t", "doc", "json");
	check_fact(sql, K(COLUMN_TYPE), 2, F(TYPE_TIMESTAMP),
		   offset_of(sql, "timestamp"), "s.t", "at",
		   "timestamp(3) without time zone");
	check_fact(sql, K(COLUMN_TYPE), 3, F(TYPE_CHAR), offset_of(sql, "char"),
		   "s.t", "code", "character(2)");
	check_fact(sql, K(COLUMN_TYPE), 4, 0, offset_of(sql, "bigint"), "s.t",
		   "n", "bigint");
	assert_int_equal(count(K(COLUMN_TYPE)), 5);
}

static void test_create_table_primary_key(void **arg)
{
	const char *sql = "create table a (id int, x int, constraint p primary key (id))";

	(void)arg;
	/* a table-level key of one column marks that column */
	FACT(sql, K(COLUMN_TYPE), 0, F(TYPE_INT4) | F(PRIMARY_KEY), "int",
	     "a", "id", "integer");
	check_fact(sql, K(COLUMN_TYPE), 1, F(TYPE_INT4),
		   offset_of(sql, "x int") + 2, "a", "x", "integer");
	/* a key of two columns is neither column's */
	lint_sql("create table b (x bigint, y int, primary key (x, y))");
	assert_int_equal(nth(K(COLUMN_TYPE), 0)->flags, 0);
	assert_int_equal(nth(K(COLUMN_TYPE), 1)->flags, F(TYPE_INT4));
}

static void test_create_table_as(void **arg)
{
	(void)arg;
	FACT("CREATE TABLE copy AS SELECT * FROM t", K(CREATE_TABLE), 0, 0,
	     "CREATE", "copy", NULL, "AS");
	FACT("SELECT * INTO s.copy FROM t", K(CREATE_TABLE), 0, 0, "SELECT",
	     "s.copy", NULL, "SELECT INTO");
	FACT("CREATE MATERIALIZED VIEW m AS SELECT 1", K(OTHER), 0, 0,
	     "CREATE", NULL, NULL, "CREATE MATERIALIZED VIEW");
}

static void test_drop_table(void **arg)
{
	const char *sql = "select 1;\n  drop table if exists s.a, b cascade;";

	(void)arg;
	FACT("DROP TABLE users", K(DROP_TABLE), 0, 0, "DROP", "users", NULL, NULL);
	FACT(sql, K(DROP_TABLE), 1, F(IF_EXISTS) | F(CASCADE), "drop", "b",
	     NULL, NULL);
	check_fact(sql, K(DROP_TABLE), 0, F(IF_EXISTS) | F(CASCADE),
		   offset_of(sql, "drop"), "s.a", NULL, NULL);
	FACT("DROP VIEW v", K(OTHER), 0, 0, "DROP", NULL, NULL, "DROP VIEW");
}

static void test_rename_table_and_column(void **arg)
{
	(void)arg;
	FACT("ALTER TABLE s.users RENAME TO people", K(RENAME_TABLE), 0, 0,
	     "ALTER", "s.users", "people", NULL);
	FACT("-- why\nALTER TABLE users RENAME COLUMN name TO full_name;",
	     K(RENAME_COLUMN), 0, 0, "ALTER", "users", "name", "full_name");
	FACT("/* a /* nested */ comment */ ALTER TABLE t RENAME a TO b",
	     K(RENAME_COLUMN), 0, 0, "ALTER", "t", "a", "b");
	/* a constraint's new name is no column's */
	FACT("ALTER TABLE t RENAME CONSTRAINT a TO b", K(OTHER), 0, 0, "ALTER",
	     "t", "a", "RENAME CONSTRAINT");
	assert_int_equal(count(K(RENAME_COLUMN)), 0);
	FACT("ALTER INDEX i RENAME TO j", K(OTHER), 0, 0, "ALTER", NULL, NULL,
	     "RENAME INDEX");
}

/* ---- columns ---------------------------------------------------------------- */

static void test_add_column(void **arg)
{
	(void)arg;
	FACT("ALTER TABLE users ADD COLUMN age int", K(ADD_COLUMN), 0, 0,
	     "ADD", "users", "age", NULL);
	check_fact("", K(COLUMN_TYPE), 0, F(TYPE_INT4), 33, "users", "age",
		   "integer");
	FACT("ALTER TABLE t ADD COLUMN IF NOT EXISTS c text NOT NULL DEFAULT ''",
	     K(ADD_COLUMN), 0, F(IF_NOT_EXISTS) | F(NOT_NULL) | F(HAS_DEFAULT),
	     "ADD", "t", "c", NULL);
	FACT("ALTER TABLE t ADD c int UNIQUE REFERENCES u (id) CHECK (c > 0)",
	     K(ADD_COLUMN), 0, F(UNIQUE) | F(FOREIGN_KEY) | F(CHECK), "ADD", "t",
	     "c", NULL);
}

/* A default PostgreSQL must compute per row rewrites the table; a STABLE
 * one (now(), CURRENT_TIMESTAMP) is computed once (PostgreSQL 11+). */
static void test_add_column_volatile_default(void **arg)
{
	static const char *const volatile_defaults[] = {
		"random()", "gen_random_uuid()", "public.uuid_generate_v4()",
		"nextval('s')", "clock_timestamp()", "timeofday()::text",
		"(1 + random())", NULL
	};
	const unsigned vd = F(HAS_DEFAULT) | F(VOLATILE_DEFAULT);
	char sql[200];

	(void)arg;
	for (const char *const *d = volatile_defaults; *d; d++) {
		snprintf(sql, sizeof(sql), "ALTER TABLE t ADD c text DEFAULT %s", *d);
		FACT(sql, K(ADD_COLUMN), 0, vd, "ADD", "t", "c", NULL);
	}
	FACT("ALTER TABLE t ADD c timestamptz DEFAULT now()", K(ADD_COLUMN), 0,
	     F(HAS_DEFAULT), "ADD", "t", "c", NULL);
	FACT("ALTER TABLE t ADD c timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP",
	     K(ADD_COLUMN), 0, F(HAS_DEFAULT) | F(NOT_NULL), "ADD", "t", "c",
	     NULL);
	/* serial, identity and stored generated columns fill every row */
	FACT("ALTER TABLE t ADD id bigserial", K(ADD_COLUMN), 0,
	     vd | F(NOT_NULL), "ADD", "t", "id", NULL);
	FACT("ALTER TABLE t ADD id int GENERATED ALWAYS AS IDENTITY",
	     K(ADD_COLUMN), 0, vd, "ADD", "t", "id", NULL);
	FACT("ALTER TABLE t ADD g int GENERATED ALWAYS AS (a * 2) STORED",
	     K(ADD_COLUMN), 0, vd, "ADD", "t", "g", NULL);
}

static void test_drop_column(void **arg)
{
	(void)arg;
	FACT("ALTER TABLE users DROP COLUMN email", K(DROP_COLUMN), 0, 0,
	     "DROP", "users", "email", NULL);
	FACT("ALTER TABLE t ADD c int, DROP IF EXISTS d CASCADE",
	     K(DROP_COLUMN), 0, F(IF_EXISTS) | F(CASCADE), "DROP", "t", "d",
	     NULL);
}

/* Each subcommand's fact points at its first word, whatever commas its
 * neighbours hide in parentheses, strings, names or comments. */
static void test_subcommand_offsets(void **arg)
{
	const char *sql =
		"ALTER TABLE ONLY \"My\".\"t,1\" ADD a numeric(10,2) DEFAULT f(1, ','),\n"
		"  /* , */ ADD b text DEFAULT $x$,$x$ -- ,\n"
		"  , ADD c text DEFAULT E'\\',' CHECK (c IN ('a', 'b')),"
		"ADD d int[] DEFAULT ARRAY[1,2],\tDROP e";

	(void)arg;
	lint_sql(sql);
	check_fact(sql, K(ADD_COLUMN), 0, F(HAS_DEFAULT), offset_of(sql, "ADD a"),
		   "My.t,1", "a", NULL);
	check_fact(sql, K(ADD_COLUMN), 1, F(HAS_DEFAULT), offset_of(sql, "ADD b"),
		   "My.t,1", "b", NULL);
	check_fact(sql, K(ADD_COLUMN), 2, F(HAS_DEFAULT) | F(CHECK),
		   offset_of(sql, "ADD c"), "My.t,1", "c", NULL);
	check_fact(sql, K(ADD_COLUMN), 3, F(HAS_DEFAULT), offset_of(sql, "ADD d"),
		   "My.t,1", "d", NULL);
	check_fact(sql, K(DROP_COLUMN), 0, 0, offset_of(sql, "DROP e"),
		   "My.t,1", "e", NULL);
}

static void test_set_drop_not_null_and_default(void **arg)
{
	const char *sql = "ALTER TABLE t ALTER COLUMN a SET NOT NULL, "
			  "ALTER b DROP NOT NULL, ALTER c SET DEFAULT 0, "
			  "ALTER d DROP DEFAULT, ALTER e SET DEFAULT random()";

	(void)arg;
	lint_sql(sql);
	check_fact(sql, K(SET_NOT_NULL), 0, 0, offset_of(sql, "ALTER COLUMN a"),
		   "t", "a", NULL);
	check_fact(sql, K(DROP_NOT_NULL), 0, 0, offset_of(sql, "ALTER b"), "t",
		   "b", NULL);
	check_fact(sql, K(SET_DEFAULT), 0, F(HAS_DEFAULT),
		   offset_of(sql, "ALTER c"), "t", "c", NULL);
	check_fact(sql, K(SET_DEFAULT), 1, 0, offset_of(sql, "ALTER d"), "t",
		   "d", NULL);
	check_fact(sql, K(SET_DEFAULT), 2, F(HAS_DEFAULT) | F(VOLATILE_DEFAULT),
		   offset_of(sql, "ALTER e"), "t", "e", NULL);
}

/* ---- ALTER COLUMN TYPE ---------------------------------------------------------- */

/* old -> new: the flags of ALTER TYPE when the same text declared old. */
static void check_change(const char *old, const char *new_type,
			 unsigned flags, const char *shown)
{
	char sql[300];

	snprintf(sql, sizeof(sql), "CREATE TABLE t (c %s);\n"
		 "ALTER TABLE t ALTER COLUMN c TYPE %s", old, new_type);
	lint_sql(sql);
	check_fact(sql, K(ALTER_TYPE), 0, flags, offset_of(sql, "ALTER COLUMN"),
		   "t", "c", shown);
}

static void test_alter_type_known_old_type(void **arg)
{
	const unsigned rw = F(REWRITES), nr = F(REWRITES) | F(NARROWS);

	(void)arg;
	/* binary compatible or wider: no rewrite */
	check_change("varchar(10)", "varchar(20)", 0, "character varying(20)");
	check_change("varchar(10)", "text", 0, "text");
	check_change("varchar(10)", "varchar", 0, "character varying");
	check_change("text", "varchar", 0, "character varying");
	check_change("numeric(10,2)", "numeric(12,2)", 0, "numeric(12,2)");
	check_change("numeric(10,2)", "numeric", 0, "numeric");
	check_change("cidr", "inet", 0, "inet");
	check_change("int", "integer", 0, "integer");
	check_change("timestamptz(3)", "timestamptz(6)", 0,
		     "timestamp(6) with time zone");
	/* rewrites */
	check_change("int", "bigint", rw, "bigint");
	check_change("numeric(10,2)", "numeric(12,3)", rw, "numeric(12,3)");
	check_change("json", "jsonb", rw, "jsonb");
	check_change("timestamp", "timestamptz", rw, "timestamp with time zone");
	check_change("int", "text", rw, "text");
	/* narrows (and so rewrites, to check every row) */
	check_change("varchar(20)", "varchar(10)", nr, "character varying(10)");
	check_change("text", "varchar(5)", nr, "character varying(5)");
	check_change("bigint", "int", nr, "integer");
	check_change("int", "smallint", nr, "smallint");
	check_change("numeric(10,2)", "numeric(8,2)", nr, "numeric(8,2)");
	check_change("numeric(10,2)", "numeric(10,1)", nr, "numeric(10,1)");
	check_change("timestamptz", "date", nr, "date");
	check_change("text", "int", nr, "integer");
	check_change("float8", "real", nr, "real");
	check_change("bigint", "numeric(5)", nr, "numeric(5)");
}

static void test_alter_type_unknown_old_type(void **arg)
{
	(void)arg;
	/* a change to text, varchar or numeric may be a widening */
	FACT("ALTER TABLE t ALTER c TYPE varchar(200)", K(ALTER_TYPE), 0, 0,
	     "ALTER c", "t", "c", "character varying(200)");
	FACT("ALTER TABLE t ALTER c TYPE bigint", K(ALTER_TYPE), 0,
	     F(REWRITES), "ALTER c", "t", "c", "bigint");
	/* USING converts every row */
	FACT("ALTER TABLE t ALTER c TYPE text USING c::text", K(ALTER_TYPE), 0,
	     F(REWRITES), "ALTER c", "t", "c", "text");
	/* the new type is a COLUMN_TYPE too, for the type rules */
	FACT("ALTER TABLE t ALTER c TYPE json", K(COLUMN_TYPE), 0, F(TYPE_JSON),
	     "json", "t", "c", "json");
}

/* ---- constraints ---------------------------------------------------------------- */

static void test_add_constraint(void **arg)
{
	(void)arg;
	FACT("ALTER TABLE o ADD CONSTRAINT o_u FOREIGN KEY (u) REFERENCES u (id)",
	     K(ADD_CONSTRAINT), 0, F(FOREIGN_KEY), "ADD", "o", "o_u", NULL);
	FACT("ALTER TABLE o ADD CONSTRAINT o_u FOREIGN KEY (u) REFERENCES u NOT VALID",
	     K(ADD_CONSTRAINT), 0, F(FOREIGN_KEY) | F(NOT_VALID), "ADD", "o",
	     "o_u", NULL);
	FACT("ALTER TABLE o ADD CONSTRAINT c CHECK ( (a > 0) AND b IN (1, 2) ) NOT VALID",
	     K(ADD_CONSTRAINT), 0, F(CHECK) | F(NOT_VALID), "ADD", "o", "c",
	     "(a > 0) AND b IN (1, 2)");
	FACT("ALTER TABLE o ADD CHECK (a IS NOT NULL)", K(ADD_CONSTRAINT), 0,
	     F(CHECK), "ADD", "o", NULL, "a IS NOT NULL");
	FACT("ALTER TABLE o ADD UNIQUE (a, b)", K(ADD_CONSTRAINT), 0, F(UNIQUE),
	     "ADD", "o", NULL, NULL);
	FACT("ALTER TABLE o ADD CONSTRAINT k PRIMARY KEY (id)", K(ADD_CONSTRAINT),
	     0, F(PRIMARY_KEY), "ADD", "o", "k", NULL);
	FACT("ALTER TABLE o ADD CONSTRAINT u UNIQUE USING INDEX o_a",
	     K(ADD_CONSTRAINT), 0, F(UNIQUE) | F(USING_INDEX), "ADD", "o", "u",
	     NULL);
	FACT("ALTER TABLE o ADD PRIMARY KEY USING INDEX o_pk", K(ADD_CONSTRAINT),
	     0, F(PRIMARY_KEY) | F(USING_INDEX), "ADD", "o", NULL, NULL);
	FACT("ALTER TABLE o ADD EXCLUDE USING gist (r WITH &&)",
	     K(ADD_CONSTRAINT), 0, 0, "ADD", "o", NULL, "EXCLUDE");
}

static void test_validate_and_drop_constraint(void **arg)
{
	(void)arg;
	FACT("ALTER TABLE o VALIDATE CONSTRAINT o_u", K(VALIDATE_CONSTRAINT), 0,
	     0, "VALIDATE", "o", "o_u", NULL);
	FACT("ALTER TABLE o DROP CONSTRAINT o_u", K(DROP_CONSTRAINT), 0, 0,
	     "DROP", "o", "o_u", NULL);
	FACT("ALTER TABLE o DROP CONSTRAINT IF EXISTS o_u CASCADE",
	     K(DROP_CONSTRAINT), 0, F(IF_EXISTS) | F(CASCADE), "DROP", "o",
	     "o_u", NULL);
	FACT("ALTER TABLE o ALTER a SET STATISTICS 100", K(OTHER), 0, 0, "ALTER a",
	     "o", NULL, "ALTER TABLE SET STATISTICS");
}

/* ---- indexes ---------------------------------------------------------------- */

static void test_create_index(void **arg)
{
	(void)arg;
	FACT("CREATE INDEX users_email ON users (email)", K(CREATE_INDEX), 0,
	     0, "CREATE", "users", "users_email", NULL);
	FACT("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON s.t (a)",
	     K(CREATE_INDEX), 0, F(UNIQUE) | F(CONCURRENTLY) | F(IF_NOT_EXISTS),
	     "CREATE", "s.t", "i", NULL);
	FACT("create index on t (lower(a))", K(CREATE_INDEX), 0, 0, "create",
	     "t", NULL, NULL);
}

static void test_drop_index(void **arg)
{
	(void)arg;
	FACT("DROP INDEX i", K(DROP_INDEX), 0, 0, "DROP", NULL, "i", NULL);
	FACT("DROP INDEX CONCURRENTLY IF EXISTS s.i, j", K(DROP_INDEX), 1,
	     F(CONCURRENTLY) | F(IF_EXISTS), "DROP", NULL, "j", NULL);
	check_fact("", K(DROP_INDEX), 0, F(CONCURRENTLY) | F(IF_EXISTS), 0,
		   NULL, "s.i", NULL);
}

static void test_reindex(void **arg)
{
	(void)arg;
	FACT("REINDEX TABLE t", K(REINDEX), 0, 0, "REINDEX", "t", NULL, NULL);
	FACT("REINDEX (CONCURRENTLY) TABLE s.t", K(REINDEX), 0, F(CONCURRENTLY),
	     "REINDEX", "s.t", NULL, NULL);
	FACT("REINDEX INDEX CONCURRENTLY i", K(REINDEX), 0, F(CONCURRENTLY),
	     "REINDEX", NULL, "i", NULL);
	FACT("REINDEX (VERBOSE, CONCURRENTLY false) INDEX i", K(REINDEX), 0, 0,
	     "REINDEX", NULL, "i", NULL);
	FACT("REINDEX SCHEMA app", K(REINDEX), 0, 0, "REINDEX", NULL, "app",
	     NULL);
}

/* ---- maintenance and locks -------------------------------------------------------- */

static void test_vacuum_full(void **arg)
{
	(void)arg;
	FACT("VACUUM FULL t", K(VACUUM_FULL), 0, 0, "VACUUM", "t", NULL, NULL);
	FACT("VACUUM (FULL, ANALYZE) a, s.b", K(VACUUM_FULL), 1, 0, "VACUUM",
	     "s.b", NULL, NULL);
	FACT("VACUUM FULL", K(VACUUM_FULL), 0, 0, "VACUUM", NULL, NULL, NULL);
	FACT("VACUUM (FULL false) t", K(OTHER), 0, 0, "VACUUM", NULL, NULL,
	     "VACUUM");
	FACT("VACUUM ANALYZE t", K(OTHER), 0, 0, "VACUUM", NULL, NULL, "VACUUM");
	FACT("ANALYZE t", K(OTHER), 0, 0, "ANALYZE", NULL, NULL, "ANALYZE");
	assert_int_equal(count(K(VACUUM_FULL)), 0);
}

static void test_cluster_and_lock(void **arg)
{
	(void)arg;
	FACT("CLUSTER t USING t_pkey", K(CLUSTER), 0, 0, "CLUSTER", "t",
	     "t_pkey", NULL);
	FACT("CLUSTER", K(CLUSTER), 0, 0, "CLUSTER", NULL, NULL, NULL);
	FACT("LOCK TABLE a, s.b IN SHARE MODE", K(LOCK_TABLE), 1, 0, "LOCK",
	     "s.b", NULL, "SHARE");
	FACT("LOCK t", K(LOCK_TABLE), 0, 0, "LOCK", "t", NULL,
	     "ACCESS EXCLUSIVE");
}

/* ---- transactions ---------------------------------------------------------------- */

static void test_transaction_block(void **arg)
{
	const char *sql = "CREATE INDEX a ON t (x);\nBEGIN;\n"
			  "CREATE INDEX b ON t (x);\nSAVEPOINT s;\n"
			  "ROLLBACK TO SAVEPOINT s;\nCOMMIT;\n"
			  "CREATE INDEX c ON t (x);\nstart transaction;\n"
			  "DROP INDEX d;\nabort;\nDROP INDEX e;\n"
			  "BEGIN; DROP INDEX f; END; DROP INDEX g;";

	(void)arg;
	lint_sql(sql);
	check_fact(sql, K(CREATE_INDEX), 0, 0, 0, "t", "a", NULL);
	check_fact(sql, K(TRANSACTION), 0, 0, offset_of(sql, "BEGIN"), NULL,
		   NULL, "BEGIN");
	check_fact(sql, K(CREATE_INDEX), 1, F(IN_BLOCK),
		   offset_of(sql, "CREATE INDEX b"), "t", "b", NULL);
	check_fact(sql, K(TRANSACTION), 1, F(IN_BLOCK),
		   offset_of(sql, "SAVEPOINT"), NULL, NULL, "SAVEPOINT");
	check_fact(sql, K(TRANSACTION), 2, F(IN_BLOCK),
		   offset_of(sql, "ROLLBACK"), NULL, NULL, "ROLLBACK");
	check_fact(sql, K(TRANSACTION), 3, 0, offset_of(sql, "COMMIT"), NULL,
		   NULL, "COMMIT");
	check_fact(sql, K(CREATE_INDEX), 2, 0, offset_of(sql, "CREATE INDEX c"),
		   "t", "c", NULL);
	check_fact(sql, K(TRANSACTION), 4, 0, offset_of(sql, "start"), NULL,
		   NULL, "START");
	check_fact(sql, K(DROP_INDEX), 0, F(IN_BLOCK), offset_of(sql, "DROP INDEX d"),
		   NULL, "d", NULL);
	check_fact(sql, K(TRANSACTION), 5, 0, offset_of(sql, "abort"), NULL,
		   NULL, "ABORT");
	check_fact(sql, K(DROP_INDEX), 1, 0, offset_of(sql, "DROP INDEX e"),
		   NULL, "e", NULL);
	check_fact(sql, K(DROP_INDEX), 2, F(IN_BLOCK),
		   offset_of(sql, "DROP INDEX f"), NULL, "f", NULL);
	check_fact(sql, K(TRANSACTION), 7, 0, offset_of(sql, "END"), NULL,
		   NULL, "END");
	check_fact(sql, K(DROP_INDEX), 3, 0, offset_of(sql, "DROP INDEX g"),
		   NULL, "g", NULL);
}

/* ---- data changes and the rest ----------------------------------------------------- */

static void test_update_delete(void **arg)
{
	(void)arg;
	FACT("UPDATE s.t SET a = 1", K(UPDATE), 0, F(NO_WHERE), "UPDATE", "s.t",
	     NULL, NULL);
	FACT("UPDATE t SET a = 1 WHERE id < 1000", K(UPDATE), 0, 0, "UPDATE",
	     "t", NULL, NULL);
	FACT("DELETE FROM t", K(DELETE), 0, F(NO_WHERE), "DELETE", "t", NULL,
	     NULL);
	FACT("WITH x AS (SELECT 1) DELETE FROM t WHERE a IN (SELECT * FROM x)",
	     K(DELETE), 0, 0, "WITH", "t", NULL, NULL);
}

static void test_other_statements(void **arg)
{
	(void)arg;
	FACT("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
	     K(OTHER), 0, 0, "CREATE", NULL, NULL, "CREATE FUNCTION");
	assert_int_equal(facts.n, 1);
	FACT("INSERT INTO t VALUES (1)", K(OTHER), 0, 0, "INSERT", NULL, NULL,
	     "INSERT");
	FACT("CREATE EXTENSION IF NOT EXISTS pgcrypto", K(OTHER), 0, 0,
	     "CREATE", NULL, NULL, "CREATE EXTENSION");
	FACT("CREATE VIEW v AS SELECT 1", K(OTHER), 0, 0, "CREATE", NULL, NULL,
	     "CREATE VIEW");
	FACT("ALTER INDEX i SET TABLESPACE x", K(OTHER), 0, 0, "ALTER", NULL,
	     "i", "ALTER INDEX");
	FACT("SET lock_timeout = '2s'", K(OTHER), 0, 0, "SET", NULL, NULL,
	     "SET");
	lint_sql("  ");
	assert_int_equal(facts.n, 0);
}

/* ---- expressions -------------------------------------------------------------------- */

static void test_expression_volatile_calls(void **arg)
{
	static const char *const calls[] = {
		"random", "setseed", "pg_sleep", "nextval", "clock_timestamp",
		"gen_random_uuid", "uuid_generate_v4", "timeofday", NULL
	};
	char expr[100];

	(void)arg;
	for (const char *const *c = calls; *c; c++) {
		snprintf(expr, sizeof(expr), "coalesce(a, %s())", *c);
		lint(expr, MG_LINT_EXPRESSION);
		check_fact(expr, K(VOLATILE_CALL), 0, F(VOLATILE_DEFAULT), 12,
			   NULL, NULL, *c);
		assert_int_equal(facts.n, 1);
	}
	/* STABLE but not deterministic: a call, not a volatile default */
	lint("  now() + interval '1 day'", MG_LINT_EXPRESSION);
	check_fact("now()", K(VOLATILE_CALL), 0, 0, 2, NULL, NULL, "now");
	lint("CURRENT_TIMESTAMP", MG_LINT_EXPRESSION);
	check_fact("CURRENT_TIMESTAMP", K(VOLATILE_CALL), 0, 0, 0, NULL, NULL,
		   "current_timestamp");
	lint("lower(name) || 'x' -- trailing comment", MG_LINT_EXPRESSION);
	assert_int_equal(facts.n, 0);
	lint("public.gen_random_uuid()", MG_LINT_EXPRESSION);
	check_fact("", K(VOLATILE_CALL), 0, F(VOLATILE_DEFAULT), 0, NULL, NULL,
		   "gen_random_uuid");
}

/* An expression is one expression: nothing it holds runs as a statement. */
static void test_expression_cannot_escape(void **arg)
{
	static const char *const escapes[] = {
		"1; DROP TABLE x", "1 FROM t", "1, 2", "1) UNION (SELECT 2",
		"(SELECT 1) UNION SELECT 2", "1 WHERE false", "1 LIMIT 1",
		"1 INTO t", "1 ORDER BY 1", "1; ", NULL
	};

	(void)arg;
	for (const char *const *e = escapes; *e; e++) {
		lint(*e, MG_LINT_EXPRESSION);
		if (facts.n != 1 || facts.items[0].kind != K(SYNTAX_ERROR)) {
			dump(*e);
			fail();
		}
	}
	lint("", MG_LINT_EXPRESSION);
	check_fact("", K(SYNTAX_ERROR), 0, 0, 0, NULL, NULL, "empty expression");
	lint("a +", MG_LINT_EXPRESSION);
	check_fact("a +", K(SYNTAX_ERROR), 0, 0, 3, NULL, NULL,
		   "syntax error at end of input");
	lint("a + + * 2", MG_LINT_EXPRESSION);
	check_fact("a + + * 2", K(SYNTAX_ERROR), 0, 0, 6, NULL, NULL,
		   "syntax error at or near \"*\"");
	lint("a -- (", MG_LINT_EXPRESSION);
	assert_int_equal(facts.n, 0);
}

/* ---- types -------------------------------------------------------------------- */

static void check_type(const char *type, unsigned flags, const char *shown)
{
	lint(type, MG_LINT_TYPE);
	check_fact(type, K(COLUMN_TYPE), 0, flags, 0, NULL, NULL, shown);
	assert_int_equal(facts.n, 1);
}

static void test_types(void **arg)
{
	(void)arg;
	check_type("json", F(TYPE_JSON), "json");
	check_type("jsonb", 0, "jsonb");
	check_type("timestamp", F(TYPE_TIMESTAMP), "timestamp without time zone");
	check_type("timestamp(3)", F(TYPE_TIMESTAMP),
		   "timestamp(3) without time zone");
	check_type("TIMESTAMP WITHOUT TIME ZONE", F(TYPE_TIMESTAMP),
		   "timestamp without time zone");
	check_type("timestamptz", 0, "timestamp with time zone");
	check_type("serial", F(TYPE_SERIAL) | F(TYPE_INT4), "serial");
	check_type("serial4", F(TYPE_SERIAL) | F(TYPE_INT4), "serial4");
	check_type("smallserial", F(TYPE_SERIAL) | F(TYPE_INT4), "smallserial");
	check_type("bigserial", F(TYPE_SERIAL), "bigserial");
	check_type("serial8", F(TYPE_SERIAL), "serial8");
	check_type("char(3)", F(TYPE_CHAR), "character(3)");
	check_type("character", F(TYPE_CHAR), "character(1)");
	check_type("bpchar", F(TYPE_CHAR), "bpchar");
	check_type("\"char\"", 0, "\"char\"");
	check_type("varchar(10)", 0, "character varying(10)");
	check_type("int", F(TYPE_INT4), "integer");
	check_type("integer", F(TYPE_INT4), "integer");
	check_type("int4", F(TYPE_INT4), "integer");
	check_type("smallint", F(TYPE_INT4), "smallint");
	check_type("int2", F(TYPE_INT4), "smallint");
	check_type("bigint", 0, "bigint");
	check_type("numeric(10, 2)", 0, "numeric(10,2)");
	check_type("json[]", F(TYPE_JSON), "json[]");
	check_type("app.money", 0, "app.money");
	/* a comment must not swallow what we put after the type */
	lint("uuid -- a comment", MG_LINT_TYPE);
	check_fact("", K(COLUMN_TYPE), 0, 0, 0, NULL, NULL, "uuid");
	lint("  -- the type\n  uuid", MG_LINT_TYPE);
	check_fact("", K(COLUMN_TYPE), 0, 0, 16, NULL, NULL, "uuid");
}

static void test_type_errors(void **arg)
{
	static const char *const bad[] = {
		"int primary key", "int, d int", "int) ; DROP TABLE x; CREATE TABLE y (c int",
		"int); DROP TABLE x; --", "no such thing at all", "", "numeric(10,",
		NULL
	};

	(void)arg;
	for (const char *const *t = bad; *t; t++) {
		lint(*t, MG_LINT_TYPE);
		if (facts.n != 1 || facts.items[0].kind != K(SYNTAX_ERROR) ||
		    facts.items[0].offset < 0 ||
		    facts.items[0].offset > (int)strlen(*t)) {
			dump(*t);
			fail();
		}
	}
	lint("numeric(10,", MG_LINT_TYPE);
	check_fact("", K(SYNTAX_ERROR), 0, 0, 11, NULL, NULL,
		   "syntax error at or near \")\"");
}

/* ---- syntax errors and hostile input ------------------------------------------------- */

static void test_syntax_error(void **arg)
{
	(void)arg;
	FACT("ALTER TABLE t DROP COLUMN c;\nSELEC 1", K(SYNTAX_ERROR), 0, 0,
	     "SELEC", NULL, NULL, "syntax error at or near \"SELEC\"");
	assert_int_equal(facts.n, 1);
	/* at the end of the input: the offset is the text's length */
	lint_sql("CREATE TABLE t (a int");
	check_fact("", K(SYNTAX_ERROR), 0, 0, 21, NULL, NULL,
		   "syntax error at end of input");
	/* PostgreSQL counts characters; the offset is in bytes */
	FACT("SELECT 'héllo wörld' FRM t", K(SYNTAX_ERROR), 0, 0, "t", NULL,
	     NULL, "syntax error at or near \"t\"");
	FACT("SELECT 'unterminated", K(SYNTAX_ERROR), 0, 0, "'", NULL, NULL,
	     "unterminated quoted string at or near \"'unterminated\"");
	FACT("SELECT 1 /* open", K(SYNTAX_ERROR), 0, 0, "/*", NULL, NULL,
	     "unterminated /* comment at or near \"/* open\"");
	/* not UTF-8: at the first byte that is not */
	FACT("ALTER TABLE t ADD c text DEFAULT 'caf\xc3', DROP d", K(SYNTAX_ERROR),
	     0, 0, "\xc3", NULL, NULL, "invalid UTF-8 byte sequence");
	lint("'\xed\xa0\x80'", MG_LINT_EXPRESSION);	/* a surrogate */
	check_fact("", K(SYNTAX_ERROR), 0, 0, 1, NULL, NULL,
		   "invalid UTF-8 byte sequence");
	lint("\xc0\xaf", MG_LINT_TYPE);		/* overlong '/' */
	check_fact("", K(SYNTAX_ERROR), 0, 0, 0, NULL, NULL,
		   "invalid UTF-8 byte sequence");
	lint("'\xf0\x9f\x98\x80' || '\xe2\x82\xac' || 'z", MG_LINT_EXPRESSION);
	check_fact("", K(SYNTAX_ERROR), 0, 0, 19, NULL, NULL,
		   "unterminated quoted string at or near \"'z\"");
}

static char *repeat(const char *head, const char *unit, size_t n,
		    const char *tail)
{
	struct mg_buf b = MG_BUF_INIT;

	mg_buf_adds(&b, head);
	for (size_t i = 0; i < n; i++)
		mg_buf_adds(&b, unit);
	mg_buf_adds(&b, tail);
	return mg_buf_detach(&b);
}

static void test_hostile_input(void **arg)
{
	char *s;

	(void)arg;
	/* deeper than the parser takes: its error, no crash */
	s = repeat("", "(", 100000, "1");
	lint(s, MG_LINT_EXPRESSION);
	assert_int_equal(facts.items[0].kind, K(SYNTAX_ERROR));
	free(s);
	/* deeper than the tree reader takes */
	s = repeat("SELECT 1", " + 1", 5000, "");
	lint_sql(s);
	check_fact("", K(SYNTAX_ERROR), 0, 0, 0, NULL, NULL,
		   "statement too deeply nested to read");
	free(s);
	/* long: 2,000 statements, every fact where its statement is (more is
	 * the fuzzer's and the bench's: a sanitizer build takes minutes) */
	s = repeat("", "ALTER TABLE t ADD c int;\n", 2000, "");
	lint_sql(s);
	assert_int_equal(count(K(ADD_COLUMN)), 2000);
	assert_int_equal(nth(K(ADD_COLUMN), 1999)->offset,
			 1999 * (int)strlen("ALTER TABLE t ADD c int;\n") + 14);
	free(s);
	/* every byte value */
	s = mg_xmalloc(256);
	for (int i = 1; i < 256; i++)
		s[i - 1] = (char)i;
	s[255] = '\0';
	lint_sql(s);
	assert_int_equal(facts.items[0].kind, K(SYNTAX_ERROR));
	lint(s, MG_LINT_EXPRESSION);
	assert_int_equal(facts.items[0].kind, K(SYNTAX_ERROR));
	lint(s, MG_LINT_TYPE);
	assert_int_equal(facts.items[0].kind, K(SYNTAX_ERROR));
	/* every ASCII byte: the parser's own error, at the first */
	s[127] = '\0';
	lint_sql(s);
	assert_int_equal(facts.n, 1);
	assert_int_equal(facts.items[0].kind, K(SYNTAX_ERROR));
	assert_int_equal(facts.items[0].offset, 0);
	free(s);
}

/* Pieces of SQL put together at random: never a crash, every offset in
 * the text or -1. */
static void test_random_pieces(void **arg)
{
	static const char *const pieces[] = {
		"ALTER TABLE", " t", " ADD", " DROP", " COLUMN", " c", " int",
		",", ";", "(", ")", "'", "\"", "$$", "$x$", "--", "/*", "*/",
		"\n", " DEFAULT", " random()", " CHECK", " USING", " TYPE",
		" CONCURRENTLY", " INDEX", " ON", " CREATE", " BEGIN", " e'\\'",
		"[", "]", " NOT VALID", "é", " RENAME", " TO",
	};
	const size_t np = sizeof(pieces) / sizeof(pieces[0]);
	unsigned seed = 14;
	struct mg_buf b = MG_BUF_INIT;

	(void)arg;
	for (int round = 0; round < 3000; round++) {
		mg_buf_reset(&b);
		for (int i = (int)(seed % 24); i >= 0; i--) {
			seed = seed * 1103515245u + 12345u;
			mg_buf_adds(&b, pieces[(seed >> 16) % np]);
		}
		lint(b.buf, (enum mg_lint_text)(round % 3));
		for (size_t i = 0; i < facts.n; i++)
			if (facts.items[i].offset < -1 ||
			    facts.items[i].offset > (int)b.len) {
				dump(b.buf);
				fail();
			}
	}
	mg_buf_release(&b);
}

/* test_pglint statements|expression|type TEXT: print the facts (to look
 * at what a statement gives while writing a rule); no arguments: the tests. */
static int show(const char *kind, const char *text)
{
	lint(text, !strcmp(kind, "expression") ? MG_LINT_EXPRESSION
		   : !strcmp(kind, "type") ? MG_LINT_TYPE : MG_LINT_STATEMENTS);
	dump(text);
	mg_sql_facts_release(&facts);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_create_table, teardown),
		cmocka_unit_test_teardown(test_create_table_primary_key, teardown),
		cmocka_unit_test_teardown(test_create_table_as, teardown),
		cmocka_unit_test_teardown(test_drop_table, teardown),
		cmocka_unit_test_teardown(test_rename_table_and_column, teardown),
		cmocka_unit_test_teardown(test_add_column, teardown),
		cmocka_unit_test_teardown(test_add_column_volatile_default, teardown),
		cmocka_unit_test_teardown(test_drop_column, teardown),
		cmocka_unit_test_teardown(test_subcommand_offsets, teardown),
		cmocka_unit_test_teardown(test_set_drop_not_null_and_default, teardown),
		cmocka_unit_test_teardown(test_alter_type_known_old_type, teardown),
		cmocka_unit_test_teardown(test_alter_type_unknown_old_type, teardown),
		cmocka_unit_test_teardown(test_add_constraint, teardown),
		cmocka_unit_test_teardown(test_validate_and_drop_constraint, teardown),
		cmocka_unit_test_teardown(test_create_index, teardown),
		cmocka_unit_test_teardown(test_drop_index, teardown),
		cmocka_unit_test_teardown(test_reindex, teardown),
		cmocka_unit_test_teardown(test_vacuum_full, teardown),
		cmocka_unit_test_teardown(test_cluster_and_lock, teardown),
		cmocka_unit_test_teardown(test_transaction_block, teardown),
		cmocka_unit_test_teardown(test_update_delete, teardown),
		cmocka_unit_test_teardown(test_other_statements, teardown),
		cmocka_unit_test_teardown(test_expression_volatile_calls, teardown),
		cmocka_unit_test_teardown(test_expression_cannot_escape, teardown),
		cmocka_unit_test_teardown(test_types, teardown),
		cmocka_unit_test_teardown(test_type_errors, teardown),
		cmocka_unit_test_teardown(test_syntax_error, teardown),
		cmocka_unit_test_teardown(test_hostile_input, teardown),
		cmocka_unit_test_teardown(test_random_pieces, teardown),
	};

	if (argc == 3)
		return show(argv[1], argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

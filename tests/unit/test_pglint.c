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

static void test_drop_table(void **arg)
{
	(void)arg;
	FACT("DROP TABLE users", K(DROP_TABLE), 0, 0, "DROP", "users", NULL, NULL);
	FACT("select 1;\n  drop table if exists s.a, b cascade;", K(DROP_TABLE),
	     1, F(IF_EXISTS) | F(CASCADE), "drop", "b", NULL, NULL);
	check_fact("", K(DROP_TABLE), 0, F(IF_EXISTS) | F(CASCADE), 12, "s.a",
		   NULL, NULL);
}

static void test_rename_table_and_column(void **arg)
{
	(void)arg;
	FACT("ALTER TABLE s.users RENAME TO people", K(RENAME_TABLE), 0, 0,
	     "ALTER", "s.users", "people", NULL);
	FACT("-- why\nALTER TABLE users RENAME COLUMN name TO full_name;",
	     K(RENAME_COLUMN), 0, 0, "ALTER", "users", "name", "full_name");
	/* a constraint's new name is no column's */
	lint_sql("ALTER TABLE t RENAME CONSTRAINT a TO b");
	assert_int_equal(count(K(RENAME_COLUMN)), 0);
	check_fact("", K(OTHER), 0, 0, 0, NULL, NULL, "RENAME TABCONSTRAINT");
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

/* ---- syntax errors ---------------------------------------------------------- */

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
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_drop_table, teardown),
		cmocka_unit_test_teardown(test_rename_table_and_column, teardown),
		cmocka_unit_test_teardown(test_create_index, teardown),
		cmocka_unit_test_teardown(test_add_column, teardown),
		cmocka_unit_test_teardown(test_drop_column, teardown),
		cmocka_unit_test_teardown(test_syntax_error, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

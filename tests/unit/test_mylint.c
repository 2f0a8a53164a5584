/*
 * test_mylint.c - what the MySQL/MariaDB driver reads in SQL text for
 * `migrate lint` (drivers/mysql/lint*.c, driver.h lint_sql): the facts of
 * each statement shape with their offsets, flags and names; expressions
 * and types; the text that cannot be read (syntax error facts); and
 * hostile input, which must never crash or read out of bounds (every
 * prefix of every case, random bytes, random SQL-ish token soup).
 *
 * MYLINT_DUMP=1 prints every case's facts.
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

static const char *const kind_names[] = {
	"SYNTAX_ERROR", "CREATE_TABLE", "DROP_TABLE", "RENAME_TABLE", "ADD_COLUMN",
	"DROP_COLUMN", "RENAME_COLUMN", "ALTER_TYPE", "SET_NOT_NULL", "DROP_NOT_NULL",
	"SET_DEFAULT", "ADD_CONSTRAINT", "VALIDATE_CONSTRAINT", "DROP_CONSTRAINT",
	"CREATE_INDEX", "DROP_INDEX", "REINDEX", "VACUUM_FULL", "CLUSTER", "LOCK_TABLE",
	"TRANSACTION", "COLUMN_TYPE", "VOLATILE_CALL", "UPDATE", "DELETE", "OTHER",
};

static void lint(const char *text, enum mg_lint_text kind, struct mg_sql_facts *out)
{
	const struct mg_driver *d = mg_driver_named("mysql");

	assert_non_null(d);
	assert_non_null(d->lint_sql);
	mg_driver_lint_sql(d, text, kind, out);
	if (getenv("MYLINT_DUMP")) {
		printf("-- %s\n", text);
		for (size_t i = 0; i < out->n; i++) {
			const struct mg_sql_fact *f = &out->items[i];

			printf("   %s flags=%#x off=%d table=%s name=%s detail=%s\n",
			       kind_names[f->kind], f->flags, f->offset, f->table ? f->table : "-",
			       f->name ? f->name : "-", f->detail ? f->detail : "-");
		}
	}
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/*
 * One expected fact: the nth (0-based) fact of its kind in the text's
 * facts, with every flag of `flags` set and none of `unset`; NULL strings
 * must be NULL, "*" matches anything.
 */
struct want {
	const char *sql;
	enum mg_lint_text text;
	enum mg_fact_kind kind;
	int nth;
	unsigned flags, unset;
	int offset;
	const char *table, *name, *detail;
};

#define ANY "*"
#define ST MG_LINT_STATEMENTS
#define EX MG_LINT_EXPRESSION
#define TY MG_LINT_TYPE

static void check_want(const struct want *w)
{
	struct mg_sql_facts f = MG_SQL_FACTS_INIT;
	const struct mg_sql_fact *x = NULL;
	int seen = 0;

	lint(w->sql, w->text, &f);
	for (size_t i = 0; i < f.n && !x; i++)
		if (f.items[i].kind == w->kind && seen++ == w->nth)
			x = &f.items[i];
	if (!x)
		fail_msg("'%s': no fact %s #%d (%zu facts)", w->sql, kind_names[w->kind], w->nth, f.n);
	if ((x->flags & w->flags) != w->flags || (x->flags & w->unset))
		fail_msg("'%s': %s flags %#x, want %#x set and %#x unset", w->sql,
			 kind_names[w->kind], x->flags, w->flags, w->unset);
	if (x->offset != w->offset)
		fail_msg("'%s': %s at offset %d, want %d", w->sql, kind_names[w->kind],
			 x->offset, w->offset);
	if ((!w->table || strcmp(w->table, ANY)) && !same(x->table, w->table))
		fail_msg("'%s': %s table '%s', want '%s'", w->sql, kind_names[w->kind],
			 x->table ? x->table : "(null)", w->table ? w->table : "(null)");
	if ((!w->name || strcmp(w->name, ANY)) && !same(x->name, w->name))
		fail_msg("'%s': %s name '%s', want '%s'", w->sql, kind_names[w->kind],
			 x->name ? x->name : "(null)", w->name ? w->name : "(null)");
	if ((!w->detail || strcmp(w->detail, ANY)) && !same(x->detail, w->detail))
		fail_msg("'%s': %s detail '%s', want '%s'", w->sql, kind_names[w->kind],
			 x->detail ? x->detail : "(null)", w->detail ? w->detail : "(null)");
	mg_sql_facts_release(&f);
}

/* How many facts of kind the text has. */
static size_t count(const char *sql, enum mg_lint_text text, enum mg_fact_kind kind)
{
	struct mg_sql_facts f = MG_SQL_FACTS_INIT;
	size_t n = 0;

	lint(sql, text, &f);
	for (size_t i = 0; i < f.n; i++)
		n += f.items[i].kind == kind;
	mg_sql_facts_release(&f);
	return n;
}

#define CHECK_ALL(cases) \
	for (size_t i_ = 0; i_ < sizeof(cases) / sizeof(cases[0]); i_++) \
		check_want(&cases[i_])

/* ==== the first shapes ======================================================== */

static const struct want basic[] = {
	{ "ALTER TABLE users DROP COLUMN email", ST, MG_FACT_DROP_COLUMN, 0, 0, 0, 18, "users", "email", NULL },
	{ "ALTER TABLE `app`.`users` DROP email;", ST, MG_FACT_DROP_COLUMN, 0, 0, 0, 26, "app.users", "email", NULL },
	{ "ALTER TABLE t RENAME COLUMN a TO b", ST, MG_FACT_RENAME_COLUMN, 0, 0, 0, 14, "t", "a", "b" },
	{ "RENAME TABLE a TO b, c TO d", ST, MG_FACT_RENAME_TABLE, 0, 0, 0, 0, "a", "b", NULL },
	{ "RENAME TABLE a TO b, c TO d", ST, MG_FACT_RENAME_TABLE, 1, 0, 0, 21, "c", "d", NULL },
	{ "DROP TABLE IF EXISTS old_t", ST, MG_FACT_DROP_TABLE, 0, MG_FACTF_IF_EXISTS, 0, 0, "old_t", NULL, NULL },
	{ "DROP TABLE a, `b`", ST, MG_FACT_DROP_TABLE, 1, 0, MG_FACTF_IF_EXISTS, 14, "b", NULL, NULL },
	{ "CREATE INDEX idx ON t (a)", ST, MG_FACT_CREATE_INDEX, 0, 0, MG_FACTF_CONCURRENTLY | MG_FACTF_UNIQUE, 0, "t", "idx", NULL },
	{ "x;\nCREATE UNIQUE INDEX u ON t (a) ALGORITHM=INPLACE LOCK=NONE", ST, MG_FACT_CREATE_INDEX, 0, MG_FACTF_CONCURRENTLY | MG_FACTF_UNIQUE, 0, 3, "t", "u", NULL },
	{ "UPDATE t SET a = 'unterminated", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, 17, NULL, NULL, ANY },
};

static void test_basic(void **state)
{
	(void)state;
	CHECK_ALL(basic);
	/* the statement cut by the unclosed string is not read */
	assert_int_equal(count("UPDATE t SET a = 'unterminated", ST, MG_FACT_UPDATE), 0);
	assert_int_equal(count("UPDATE t SET a = 1; UPDATE t SET a = 'x", ST, MG_FACT_UPDATE), 1);
}

/* ==== hostile input =========================================================== */

/* Every prefix of every case's text: cut strings, comments, statements. */
static void test_prefixes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(basic) / sizeof(basic[0]); i++) {
		size_t n = strlen(basic[i].sql);

		for (size_t k = 0; k <= n; k++) {
			char *cut = strndup(basic[i].sql, k);

			for (int kind = 0; kind < 3; kind++) {
				struct mg_sql_facts f = MG_SQL_FACTS_INIT;

				mg_driver_lint_sql(mg_driver_named("mysql"), cut, kind, &f);
				mg_sql_facts_release(&f);
			}
			free(cut);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_sqltext.c - the checks of SQL text from migration files
 * (drivers/sqltext.c): which expressions could leave the parentheses they
 * are pasted into, under every way a server may end a string, and the
 * MySQL/MariaDB type grammar with its canonical output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sqltext.h"

static void expect_expr(const char *text, enum mg_sql_dialect d, int ok)
{
	const char *why = NULL;
	int rc = mg_sqltext_check_expr(text, d, &why);

	if ((rc == 0) != ok)
		fail_msg("%s: '%s' was %s (%s)", d == MG_SQL_MYSQL ? "mysql" : "postgres",
			 text, rc == 0 ? "accepted" : "refused", why ? why : "");
}

static void test_expressions_both(void **state)
{
	static const char *const good[] = {
		"now()", "a || 'x;y'", "coalesce(a, 'it''s')", "CASE WHEN a > 1 THEN 'a--b' ELSE NULL END",
		"lower(\"Name; x\")", "a IN (1, 2, 3)", "a - -1", "x / 2 * 3",
	};
	static const char *const bad[] = {
		"1; DROP TABLE victim", "a -- x", "a /* x */", "1) FROM t; SELECT (1",
		"(a", "a)", "0, DROP COLUMN a", "'x", "\"x", "", "   ",
		"'x\\'; DROP TABLE victim; --'",	/* safe only without backslash escapes */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		expect_expr(good[i], MG_SQL_POSTGRES, 1);
		expect_expr(good[i], MG_SQL_MYSQL, 1);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		expect_expr(bad[i], MG_SQL_POSTGRES, 0);
		expect_expr(bad[i], MG_SQL_MYSQL, 0);
	}
}

static void test_expressions_postgres(void **state)
{
	(void)state;
	expect_expr("ARRAY[1, 2]", MG_SQL_POSTGRES, 1);
	expect_expr("E'it\\'s'", MG_SQL_POSTGRES, 1);
	expect_expr("'a\\' || b", MG_SQL_POSTGRES, 0);	/* ends differently per standard_conforming_strings */
	expect_expr("a ~ '\\d+'", MG_SQL_POSTGRES, 1);	/* ends alike either way */
	expect_expr("$1", MG_SQL_POSTGRES, 1);
	expect_expr("a$b", MG_SQL_POSTGRES, 1);
	expect_expr("$$x$$", MG_SQL_POSTGRES, 0);
	expect_expr("$mg_fn$ x $mg_fn$", MG_SQL_POSTGRES, 0);
	expect_expr("a # b", MG_SQL_POSTGRES, 1);		/* xor, not a comment */
	expect_expr("x[1", MG_SQL_POSTGRES, 0);
}

static void test_expressions_mysql(void **state)
{
	(void)state;
	expect_expr("a # x", MG_SQL_MYSQL, 0);
	expect_expr("`we;ird`", MG_SQL_MYSQL, 1);
	expect_expr("`x", MG_SQL_MYSQL, 0);
	expect_expr("/*!50000 1 */", MG_SQL_MYSQL, 0);
	expect_expr("\"a\\\" ; x\"", MG_SQL_MYSQL, 0);	/* ANSI_QUOTES or not */
}

static void expect_tx(const char *sql, const char *want)
{
	const char *word = NULL;
	int rc = mg_sqltext_pg_tx_control(sql, &word);

	if (want ? (rc != 1 || strcmp(word, want) != 0) : rc != 0)
		fail_msg("'%s': got %s, want %s", sql, rc ? word : "none", want ? want : "none");
}

static void test_pg_transaction_control(void **state)
{
	(void)state;
	expect_tx("CREATE TABLE a (id int); COMMIT; DROP TABLE victim", "commit");
	expect_tx("begin; select 1", "begin");
	expect_tx("SELECT 1;\n  end", "end");
	expect_tx("/* x */ ROLLBACK", "rollback");
	expect_tx("CREATE TABLE a (id int);\nCREATE INDEX ON a (id)", NULL);
	expect_tx("CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$", NULL);
	expect_tx("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END", NULL);
	expect_tx("SELECT 'x; COMMIT'; -- ; COMMIT\nSELECT 2", NULL);
	expect_tx("UPDATE t SET ended = true", NULL);
	expect_tx("SELECT \"commit\" FROM t", NULL);
}

static void expect_type(const char *text, const char *want)
{
	char *got = NULL;
	const char *why = NULL;
	int rc = mg_sqltext_mysql_type(text, &got, &why);

	if (want && (rc != 0 || strcmp(got, want) != 0))
		fail_msg("'%s': got %s (%s), want '%s'", text, got ? got : "refusal",
			 why ? why : "", want);
	if (!want && rc == 0)
		fail_msg("'%s' was accepted as '%s'", text, got);
	free(got);
}

static void test_mysql_types(void **state)
{
	(void)state;
	expect_type("int", "int");
	expect_type("BIGINT UNSIGNED", "bigint unsigned");
	expect_type("int(11) unsigned zerofill", "int(11) unsigned zerofill");
	expect_type("decimal( 10 , 2 )", "decimal(10,2)");
	expect_type("varchar(20) CHARACTER SET utf8mb4", "varchar(20) character set utf8mb4");
	expect_type("varchar(20) charset utf8mb4 collate utf8mb4_bin",
		    "varchar(20) character set utf8mb4 collate utf8mb4_bin");
	expect_type("enum('a','b')", "enum('a','b')");
	expect_type("ENUM( 'it''s' , 'x;y' )", "enum('it''s','x;y')");
	expect_type("double precision", "double");
	expect_type("datetime(3)", "datetime(3)");
	expect_type("json", "json");

	expect_type("text; DROP TABLE victim; --", NULL);
	expect_type("varchar", NULL);				/* needs its length */
	expect_type("varchar(20) -- x", NULL);
	expect_type("int DEFAULT 1", NULL);
	expect_type("int unsigned unsigned", NULL);
	expect_type("text unsigned", NULL);
	expect_type("enum('a\\'); DROP TABLE victim; --')", NULL);
	expect_type("enum('a'", NULL);
	expect_type("enum()", NULL);
	expect_type("varchar(20) character set 'utf8'", NULL);
	expect_type("varchar(20) character set", NULL);
	expect_type("int(12345678901)", NULL);
	expect_type("serial", NULL);
	expect_type("", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expressions_both),
		cmocka_unit_test(test_expressions_postgres),
		cmocka_unit_test(test_expressions_mysql),
		cmocka_unit_test(test_mysql_types),
		cmocka_unit_test(test_pg_transaction_control),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

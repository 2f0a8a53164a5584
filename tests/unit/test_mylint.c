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

/*
 * One expected fact: the nth (0-based) fact of its kind in the text's
 * facts, at the offset of the first occurrence of `at` in the text, with
 * every flag of `flags` set and none of `unset`; NULL strings must be
 * NULL, "*" matches anything.
 */
struct want {
	const char *sql;
	enum mg_lint_text text;
	enum mg_fact_kind kind;
	int nth;
	unsigned flags, unset;
	const char *at;
	const char *table, *name, *detail;
};

#define ANY "*"
#define ST MG_LINT_STATEMENTS
#define EX MG_LINT_EXPRESSION
#define TY MG_LINT_TYPE

static int matches(const char *want, const char *got)
{
	return (want && !strcmp(want, ANY)) || (!want && !got) ||
	       (want && got && !strcmp(want, got));
}

static void check_want(const struct want *w)
{
	struct mg_sql_facts f = MG_SQL_FACTS_INIT;
	const struct mg_sql_fact *x = NULL;
	const char *at = strstr(w->sql, w->at);
	int seen = 0;

	if (!at)
		fail_msg("case '%s': '%s' is not in it", w->sql, w->at);
	lint(w->sql, w->text, &f);
	for (size_t i = 0; i < f.n && !x; i++)
		if (f.items[i].kind == w->kind && seen++ == w->nth)
			x = &f.items[i];
	if (!x)
		fail_msg("'%s': no fact %s #%d (%zu facts)", w->sql, kind_names[w->kind], w->nth, f.n);
	if ((x->flags & w->flags) != w->flags || (x->flags & w->unset))
		fail_msg("'%s': %s flags %#x, want %#x set and %#x unset", w->sql,
			 kind_names[w->kind], x->flags, w->flags, w->unset);
	if (x->offset != (int)(at - w->sql))
		fail_msg("'%s': %s at offset %d, want %d ('%s')", w->sql, kind_names[w->kind],
			 x->offset, (int)(at - w->sql), w->at);
	if (!matches(w->table, x->table) || !matches(w->name, x->name) ||
	    !matches(w->detail, x->detail))
		fail_msg("'%s': %s is table '%s' name '%s' detail '%s', want '%s' '%s' '%s'",
			 w->sql, kind_names[w->kind], x->table ? x->table : "(null)",
			 x->name ? x->name : "(null)", x->detail ? x->detail : "(null)",
			 w->table ? w->table : "(null)", w->name ? w->name : "(null)",
			 w->detail ? w->detail : "(null)");
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

#define CONC MG_FACTF_CONCURRENTLY

/* ==== the first shapes ======================================================== */

static const struct want basic[] = {
	{ "ALTER TABLE users DROP COLUMN email", ST, MG_FACT_DROP_COLUMN, 0, 0, 0, "DROP", "users", "email", NULL },
	{ "ALTER TABLE `app`.`users` DROP email;", ST, MG_FACT_DROP_COLUMN, 0, 0, 0, "DROP", "app.users", "email", NULL },
	{ "ALTER TABLE t RENAME COLUMN a TO b", ST, MG_FACT_RENAME_COLUMN, 0, 0, 0, "RENAME", "t", "a", "b" },
	{ "RENAME TABLE a TO b, c TO d", ST, MG_FACT_RENAME_TABLE, 0, 0, 0, "RENAME", "a", "b", NULL },
	{ "RENAME TABLE a TO b, c TO d", ST, MG_FACT_RENAME_TABLE, 1, 0, 0, "c TO", "c", "d", NULL },
	{ "DROP TABLE IF EXISTS old_t", ST, MG_FACT_DROP_TABLE, 0, MG_FACTF_IF_EXISTS, 0, "DROP", "old_t", NULL, NULL },
	{ "DROP TABLE a, `b`", ST, MG_FACT_DROP_TABLE, 1, 0, MG_FACTF_IF_EXISTS, "`b`", "b", NULL, NULL },
	{ "CREATE INDEX idx ON t (a)", ST, MG_FACT_CREATE_INDEX, 0, 0, CONC | MG_FACTF_UNIQUE, "CREATE", "t", "idx", NULL },
	{ "SELECT 1;\nCREATE UNIQUE INDEX u ON t (a) ALGORITHM=INPLACE LOCK=NONE", ST, MG_FACT_CREATE_INDEX, 0, CONC | MG_FACTF_UNIQUE, 0, "CREATE", "t", "u", NULL },
	{ "UPDATE t SET a = 'unterminated", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "'unt", NULL, NULL, ANY },
};

static void test_basic(void **state)
{
	(void)state;
	CHECK_ALL(basic);
	/* the statement cut by the unclosed string is not read */
	assert_int_equal(count("UPDATE t SET a = 'unterminated", ST, MG_FACT_UPDATE), 0);
	assert_int_equal(count("UPDATE t SET a = 1; UPDATE t SET a = 'x", ST, MG_FACT_UPDATE), 1);
}

/* ==== ALTER TABLE ============================================================== */

#define NN MG_FACTF_NOT_NULL
#define HD MG_FACTF_HAS_DEFAULT
#define VD MG_FACTF_VOLATILE_DEFAULT

static const struct want alter[] = {
	/* ADD COLUMN: NOT NULL, defaults, volatile defaults, the online clauses */
	{ "ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 0, ADD d CHAR(36) DEFAULT (UUID()), ALGORITHM=INSTANT",
	  ST, MG_FACT_ADD_COLUMN, 0, NN | HD | CONC, VD, "ADD COLUMN", "t", "c", NULL },
	{ "ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 0, ADD d CHAR(36) DEFAULT (UUID()), ALGORITHM=INSTANT",
	  ST, MG_FACT_ADD_COLUMN, 1, HD | VD | CONC, NN, "ADD d", "t", "d", NULL },
	{ "ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 0, ADD d CHAR(36) DEFAULT (UUID()), ALGORITHM=INSTANT",
	  ST, MG_FACT_COLUMN_TYPE, 1, MG_FACTF_TYPE_CHAR, 0, "CHAR(36)", "t", "d", "CHAR(36)" },
	{ "ALTER TABLE t ADD COLUMN IF NOT EXISTS x BIGINT", ST, MG_FACT_ADD_COLUMN, 0,
	  MG_FACTF_IF_NOT_EXISTS, NN | HD | CONC, "ADD", "t", "x", NULL },
	{ "ALTER TABLE t ADD r DOUBLE DEFAULT (RAND())", ST, MG_FACT_ADD_COLUMN, 0, HD | VD, 0, "ADD", "t", "r", NULL },
	{ "ALTER TABLE t ADD s BIGINT DEFAULT (UUID_SHORT()) NOT NULL", ST, MG_FACT_ADD_COLUMN, 0, HD | VD | NN, 0, "ADD", "t", "s", NULL },
	/* the time of the statement is one value for every row: not volatile */
	{ "ALTER TABLE t ADD c DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP", ST, MG_FACT_ADD_COLUMN, 0, HD | NN, VD, "ADD", "t", "c", NULL },
	{ "ALTER TABLE t ADD COLUMN s VARCHAR(5) CHARACTER SET utf8mb4 NOT NULL DEFAULT _utf8mb4'x' COMMENT 'c'",
	  ST, MG_FACT_COLUMN_TYPE, 0, 0, MG_FACTF_TYPE_CHAR, "VARCHAR", "t", "s", "VARCHAR(5) CHARACTER SET utf8mb4" },
	/* ON DELETE SET NULL / SET DEFAULT belong to the reference, not the column */
	{ "ALTER TABLE t ADD COLUMN r INT NOT NULL REFERENCES p (id) ON DELETE SET DEFAULT", ST,
	  MG_FACT_ADD_COLUMN, 0, NN, HD, "ADD", "t", "r", NULL },
	{ "ALTER TABLE t ADD (a INT, b VARCHAR(10) NOT NULL)", ST, MG_FACT_ADD_COLUMN, 1, NN, 0, "b VARCHAR", "t", "b", NULL },
	{ "ALTER TABLE t ADD (a INT, b VARCHAR(10) NOT NULL)", ST, MG_FACT_COLUMN_TYPE, 0, MG_FACTF_TYPE_INT4, 0, "INT", "t", "a", "INT" },
	/* CHANGE: a rename and a new definition */
	{ "ALTER TABLE t CHANGE COLUMN a b BIGINT NOT NULL", ST, MG_FACT_RENAME_COLUMN, 0, 0, 0, "CHANGE", "t", "a", "b" },
	{ "ALTER TABLE t CHANGE COLUMN a b BIGINT NOT NULL", ST, MG_FACT_ALTER_TYPE, 0, MG_FACTF_REWRITES, CONC, "CHANGE", "t", "a", "BIGINT" },
	{ "ALTER TABLE t CHANGE COLUMN a b BIGINT NOT NULL", ST, MG_FACT_SET_NOT_NULL, 0, 0, 0, "CHANGE", "t", "b", "CHANGE" },
	/* MODIFY: the type, NULL, the default; INSTANT cannot rewrite */
	{ "ALTER TABLE t MODIFY c VARCHAR(20) NULL DEFAULT 'x'", ST, MG_FACT_ALTER_TYPE, 0, MG_FACTF_REWRITES, 0, "MODIFY", "t", "c", "VARCHAR(20)" },
	{ "ALTER TABLE t MODIFY c VARCHAR(20) NULL DEFAULT 'x'", ST, MG_FACT_DROP_NOT_NULL, 0, 0, 0, "MODIFY", "t", "c", "MODIFY" },
	{ "ALTER TABLE t MODIFY c VARCHAR(20) NULL DEFAULT 'x'", ST, MG_FACT_SET_DEFAULT, 0, HD, VD, "MODIFY", "t", "c", "MODIFY" },
	{ "ALTER TABLE t MODIFY COLUMN c INT NOT NULL, ALGORITHM=INSTANT", ST, MG_FACT_ALTER_TYPE, 0, CONC, MG_FACTF_REWRITES, "MODIFY", "t", "c", "INT" },
	{ "ALTER TABLE t MODIFY COLUMN c INT NOT NULL, ALGORITHM=INSTANT", ST, MG_FACT_SET_NOT_NULL, 0, CONC, 0, "MODIFY", "t", "c", "MODIFY" },
	{ "ALTER TABLE t MODIFY c INT, ALGORITHM=INPLACE, LOCK=NONE", ST, MG_FACT_ALTER_TYPE, 0, CONC | MG_FACTF_REWRITES, 0, "MODIFY", "t", "c", "INT" },
	{ "ALTER TABLE t MODIFY c INT, ALGORITHM=COPY, LOCK=NONE", ST, MG_FACT_ALTER_TYPE, 0, MG_FACTF_REWRITES, CONC, "MODIFY", "t", "c", "INT" },
	/* ALTER COLUMN SET/DROP DEFAULT */
	{ "ALTER TABLE t ALTER COLUMN a SET DEFAULT (RAND()), ALTER b DROP DEFAULT", ST, MG_FACT_SET_DEFAULT, 0, HD | VD, 0, "ALTER COLUMN", "t", "a", NULL },
	{ "ALTER TABLE t ALTER COLUMN a SET DEFAULT (RAND()), ALTER b DROP DEFAULT", ST, MG_FACT_SET_DEFAULT, 1, 0, HD, "ALTER b", "t", "b", NULL },
	/* constraints */
	{ "ALTER TABLE t ADD CONSTRAINT fk_a FOREIGN KEY (a) REFERENCES p (id)", ST, MG_FACT_ADD_CONSTRAINT, 0,
	  MG_FACTF_FOREIGN_KEY, MG_FACTF_NOT_VALID, "ADD", "t", "fk_a", "p" },
	{ "SET foreign_key_checks = 0;\nALTER TABLE t ADD FOREIGN KEY (a) REFERENCES p (id), ALGORITHM=INPLACE, LOCK=NONE;\nSET foreign_key_checks = 1",
	  ST, MG_FACT_ADD_CONSTRAINT, 0, MG_FACTF_FOREIGN_KEY | MG_FACTF_NOT_VALID | CONC, 0, "ADD", "t", NULL, "p" },
	{ "SET foreign_key_checks = 0; SET FOREIGN_KEY_CHECKS = ON; ALTER TABLE t ADD FOREIGN KEY (a) REFERENCES p (id)",
	  ST, MG_FACT_ADD_CONSTRAINT, 0, MG_FACTF_FOREIGN_KEY, MG_FACTF_NOT_VALID, "ADD", "t", NULL, "p" },
	{ "ALTER TABLE t ADD UNIQUE KEY u_b (b)", ST, MG_FACT_ADD_CONSTRAINT, 0, MG_FACTF_UNIQUE, MG_FACTF_USING_INDEX, "ADD", "t", "u_b", NULL },
	{ "ALTER TABLE t ADD CONSTRAINT u UNIQUE (b), LOCK=NONE", ST, MG_FACT_ADD_CONSTRAINT, 0, MG_FACTF_UNIQUE | CONC, 0, "ADD", "t", "u", NULL },
	{ "ALTER TABLE t ADD PRIMARY KEY (id)", ST, MG_FACT_ADD_CONSTRAINT, 0, MG_FACTF_PRIMARY_KEY, 0, "ADD", "t", NULL, NULL },
	{ "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0)", ST, MG_FACT_ADD_CONSTRAINT, 0, MG_FACTF_CHECK, MG_FACTF_NOT_VALID, "ADD", "t", "ck", "a > 0" },
	{ "ALTER TABLE t ADD CHECK (a > 0) NOT ENFORCED", ST, MG_FACT_ADD_CONSTRAINT, 0, MG_FACTF_CHECK | MG_FACTF_NOT_VALID, 0, "ADD", "t", NULL, "a > 0" },
	{ "ALTER TABLE t ALTER CHECK ck ENFORCED", ST, MG_FACT_VALIDATE_CONSTRAINT, 0, 0, 0, "ALTER CHECK", "t", "ck", NULL },
	/* indexes */
	{ "ALTER TABLE t ADD INDEX i (a), ADD FULLTEXT KEY ft (b)", ST, MG_FACT_CREATE_INDEX, 0, 0, CONC | MG_FACTF_UNIQUE, "ADD INDEX", "t", "i", NULL },
	{ "ALTER TABLE t ADD INDEX i (a), ADD FULLTEXT KEY ft (b)", ST, MG_FACT_CREATE_INDEX, 1, 0, CONC, "ADD FULLTEXT", "t", "ft", "FULLTEXT" },
	{ "ALTER TABLE t ADD KEY (a), LOCK = NONE", ST, MG_FACT_CREATE_INDEX, 0, CONC, 0, "ADD", "t", NULL, NULL },
	{ "ALTER ONLINE TABLE t ADD INDEX (a)", ST, MG_FACT_CREATE_INDEX, 0, CONC, 0, "ADD", "t", NULL, NULL },
	{ "ALTER TABLE t ADD INDEX i (a), ALGORITHM=INPLACE", ST, MG_FACT_CREATE_INDEX, 0, 0, CONC, "ADD", "t", "i", NULL },
	{ "ALTER TABLE t DROP INDEX j, LOCK=NONE", ST, MG_FACT_DROP_INDEX, 0, CONC, 0, "DROP", "t", "j", NULL },
	{ "ALTER TABLE t DROP KEY IF EXISTS k", ST, MG_FACT_DROP_INDEX, 0, MG_FACTF_IF_EXISTS, CONC, "DROP", "t", "k", NULL },
	/* drops of constraints */
	{ "ALTER TABLE t DROP FOREIGN KEY f", ST, MG_FACT_DROP_CONSTRAINT, 0, MG_FACTF_FOREIGN_KEY, 0, "DROP", "t", "f", NULL },
	{ "ALTER TABLE t DROP CONSTRAINT c", ST, MG_FACT_DROP_CONSTRAINT, 0, 0, MG_FACTF_FOREIGN_KEY, "DROP", "t", "c", NULL },
	{ "ALTER TABLE t DROP CHECK ck", ST, MG_FACT_DROP_CONSTRAINT, 0, MG_FACTF_CHECK, 0, "DROP", "t", "ck", NULL },
	{ "ALTER TABLE t DROP PRIMARY KEY", ST, MG_FACT_DROP_CONSTRAINT, 0, MG_FACTF_PRIMARY_KEY, 0, "DROP", "t", "PRIMARY", NULL },
	{ "ALTER TABLE t DROP c, DROP COLUMN IF EXISTS d CASCADE", ST, MG_FACT_DROP_COLUMN, 1,
	  MG_FACTF_IF_EXISTS | MG_FACTF_CASCADE, 0, "DROP COLUMN", "t", "d", NULL },
	/* renames, rebuilds, the rest */
	{ "ALTER TABLE t RENAME TO u", ST, MG_FACT_RENAME_TABLE, 0, 0, 0, "RENAME", "t", "u", NULL },
	{ "ALTER TABLE t RENAME AS db.u", ST, MG_FACT_RENAME_TABLE, 0, 0, 0, "RENAME", "t", "db.u", NULL },
	{ "ALTER TABLE t FORCE", ST, MG_FACT_VACUUM_FULL, 0, 0, CONC, "FORCE", "t", NULL, NULL },
	{ "ALTER TABLE t ENGINE=InnoDB, ALGORITHM=INPLACE, LOCK=NONE", ST, MG_FACT_VACUUM_FULL, 0, CONC, 0, "ENGINE", "t", NULL, NULL },
	{ "ALTER TABLE t RENAME INDEX a TO b, COMMENT='x'", ST, MG_FACT_OTHER, 0, 0, 0, "RENAME", "t", NULL, "ALTER TABLE RENAME INDEX" },
	{ "ALTER TABLE t RENAME INDEX a TO b, COMMENT='x'", ST, MG_FACT_OTHER, 1, 0, 0, "COMMENT", "t", NULL, "ALTER TABLE COMMENT" },
	{ "ALTER TABLE t", ST, MG_FACT_OTHER, 0, 0, 0, "ALTER", "t", NULL, "ALTER TABLE" },
	{ "ALTER IGNORE TABLE t ADD c INT", ST, MG_FACT_ADD_COLUMN, 0, 0, 0, "ADD", "t", "c", NULL },
	/* MariaDB's IF [NOT] EXISTS make a spec re-runnable */
	{ "ALTER TABLE t ADD CONSTRAINT IF NOT EXISTS u UNIQUE (a)", ST, MG_FACT_ADD_CONSTRAINT, 0,
	  MG_FACTF_IF_NOT_EXISTS | MG_FACTF_UNIQUE, 0, "ADD", "t", "u", NULL },
	{ "ALTER TABLE t ADD INDEX IF NOT EXISTS i (a)", ST, MG_FACT_CREATE_INDEX, 0, MG_FACTF_IF_NOT_EXISTS, 0, "ADD", "t", "i", NULL },
	{ "ALTER TABLE t MODIFY COLUMN IF EXISTS c BIGINT", ST, MG_FACT_ALTER_TYPE, 0, MG_FACTF_IF_EXISTS, 0, "MODIFY", "t", "c", "BIGINT" },
	{ "ALTER TABLE t DROP FOREIGN KEY IF EXISTS f", ST, MG_FACT_DROP_CONSTRAINT, 0, MG_FACTF_IF_EXISTS | MG_FACTF_FOREIGN_KEY, 0, "DROP", "t", "f", NULL },
};

static void test_alter_table(void **state)
{
	(void)state;
	CHECK_ALL(alter);
	/* a change of case only is no rename: column names are caseless */
	assert_int_equal(count("ALTER TABLE t CHANGE a A INT", ST, MG_FACT_RENAME_COLUMN), 0);
	assert_int_equal(count("ALTER TABLE t CHANGE a A INT", ST, MG_FACT_ALTER_TYPE), 1);
	assert_int_equal(count("ALTER TABLE t ADD COLUMN c INT, DROP d, RENAME COLUMN e TO f", ST, MG_FACT_SYNTAX_ERROR), 0);
}

/* ==== other statements ========================================================== */

static const struct want statements[] = {
	{ "CREATE TABLE IF NOT EXISTS t (id INT UNSIGNED NOT NULL AUTO_INCREMENT, code CHAR(3), n BIGINT, PRIMARY KEY (id))",
	  ST, MG_FACT_CREATE_TABLE, 0, MG_FACTF_IF_NOT_EXISTS, 0, "CREATE", "t", NULL, NULL },
	{ "CREATE TABLE IF NOT EXISTS t (id INT UNSIGNED NOT NULL AUTO_INCREMENT, code CHAR(3), n BIGINT, PRIMARY KEY (id))",
	  ST, MG_FACT_COLUMN_TYPE, 0, MG_FACTF_TYPE_INT4 | MG_FACTF_PRIMARY_KEY, 0, "INT UNSIGNED", "t", "id", "INT UNSIGNED" },
	{ "CREATE TABLE IF NOT EXISTS t (id INT UNSIGNED NOT NULL AUTO_INCREMENT, code CHAR(3), n BIGINT, PRIMARY KEY (id))",
	  ST, MG_FACT_COLUMN_TYPE, 1, MG_FACTF_TYPE_CHAR, MG_FACTF_PRIMARY_KEY | MG_FACTF_TYPE_INT4, "CHAR(3)", "t", "code", "CHAR(3)" },
	{ "CREATE TABLE IF NOT EXISTS t (id INT UNSIGNED NOT NULL AUTO_INCREMENT, code CHAR(3), n BIGINT, PRIMARY KEY (id))",
	  ST, MG_FACT_COLUMN_TYPE, 2, 0, MG_FACTF_TYPE_INT4, "BIGINT", "t", "n", "BIGINT" },
	{ "CREATE TABLE t (id MEDIUMINT PRIMARY KEY, d DATETIME, j JSON, s SERIAL)", ST, MG_FACT_COLUMN_TYPE, 0,
	  MG_FACTF_TYPE_INT4 | MG_FACTF_PRIMARY_KEY, 0, "MEDIUMINT", "t", "id", "MEDIUMINT" },
	/* DATETIME, JSON and SERIAL are not PostgreSQL's hazards (docs/lint-mysql.md) */
	{ "CREATE TABLE t (id MEDIUMINT PRIMARY KEY, d DATETIME, j JSON, s SERIAL)", ST, MG_FACT_COLUMN_TYPE, 1,
	  0, MG_FACTF_TYPE_TIMESTAMP, "DATETIME", "t", "d", "DATETIME" },
	{ "CREATE TABLE t (id MEDIUMINT PRIMARY KEY, d DATETIME, j JSON, s SERIAL)", ST, MG_FACT_COLUMN_TYPE, 2,
	  0, MG_FACTF_TYPE_JSON, "JSON", "t", "j", "JSON" },
	{ "CREATE TABLE t (id MEDIUMINT PRIMARY KEY, d DATETIME, j JSON, s SERIAL)", ST, MG_FACT_COLUMN_TYPE, 3,
	  0, MG_FACTF_TYPE_SERIAL | MG_FACTF_TYPE_INT4, "SERIAL", "t", "s", "SERIAL" },
	/* a two-column key makes neither column "the" primary key */
	{ "CREATE TABLE t (a INT, b INT, PRIMARY KEY (a, b))", ST, MG_FACT_COLUMN_TYPE, 0, MG_FACTF_TYPE_INT4,
	  MG_FACTF_PRIMARY_KEY, "INT,", "t", "a", "INT" },
	{ "CREATE TABLE t (`id` int(11) NOT NULL, KEY k (id), CONSTRAINT pk PRIMARY KEY (`ID`))", ST, MG_FACT_COLUMN_TYPE, 0,
	  MG_FACTF_TYPE_INT4 | MG_FACTF_PRIMARY_KEY, 0, "int(11)", "t", "id", "int(11)" },
	{ "CREATE TEMPORARY TABLE tmp LIKE t", ST, MG_FACT_CREATE_TABLE, 0, 0, 0, "CREATE", "tmp", NULL, "TEMPORARY" },
	{ "DROP TABLE IF EXISTS a, b CASCADE", ST, MG_FACT_DROP_TABLE, 1, MG_FACTF_IF_EXISTS | MG_FACTF_CASCADE, 0, "b", "b", NULL, NULL },
	{ "CREATE UNIQUE INDEX IF NOT EXISTS u USING BTREE ON db.t (a(10)) LOCK=NONE", ST, MG_FACT_CREATE_INDEX, 0,
	  MG_FACTF_UNIQUE | MG_FACTF_IF_NOT_EXISTS | CONC, 0, "CREATE", "db.t", "u", NULL },
	{ "CREATE INDEX i ON t (a) ALGORITHM = INSTANT", ST, MG_FACT_CREATE_INDEX, 0, CONC, 0, "CREATE", "t", "i", NULL },
	{ "DROP INDEX i ON t ALGORITHM=INPLACE LOCK=NONE", ST, MG_FACT_DROP_INDEX, 0, CONC, 0, "DROP", "t", "i", NULL },
	{ "DROP INDEX IF EXISTS `i` ON t", ST, MG_FACT_DROP_INDEX, 0, MG_FACTF_IF_EXISTS, CONC, "DROP", "t", "i", NULL },
	{ "OPTIMIZE TABLE a, b", ST, MG_FACT_VACUUM_FULL, 1, 0, 0, "b", "b", NULL, NULL },
	{ "OPTIMIZE NO_WRITE_TO_BINLOG TABLE a", ST, MG_FACT_VACUUM_FULL, 0, 0, 0, "OPTIMIZE", "a", NULL, NULL },
	{ "LOCK TABLES a READ, b AS x WRITE; UNLOCK TABLES", ST, MG_FACT_LOCK_TABLE, 1, 0, 0, "b AS", "b", NULL, NULL },
	{ "LOCK TABLES a READ, b AS x WRITE; UNLOCK TABLES", ST, MG_FACT_OTHER, 0, 0, 0, "UNLOCK", NULL, NULL, "UNLOCK" },
	/* transactions; DDL commits implicitly, so it ends the block */
	{ "START TRANSACTION; UPDATE t SET a = 1; COMMIT", ST, MG_FACT_TRANSACTION, 0, 0, MG_FACTF_IN_BLOCK, "START", NULL, NULL, "START TRANSACTION" },
	{ "START TRANSACTION; UPDATE t SET a = 1; COMMIT", ST, MG_FACT_UPDATE, 0, MG_FACTF_IN_BLOCK | MG_FACTF_NO_WHERE, 0, "UPDATE", "t", NULL, NULL },
	{ "START TRANSACTION; UPDATE t SET a = 1; COMMIT", ST, MG_FACT_TRANSACTION, 1, MG_FACTF_IN_BLOCK, 0, "COMMIT", NULL, NULL, "COMMIT" },
	{ "BEGIN; DELETE FROM t WHERE id = 1; ROLLBACK; DELETE FROM t WHERE id = 2", ST, MG_FACT_DELETE, 1, 0,
	  MG_FACTF_IN_BLOCK | MG_FACTF_NO_WHERE, "DELETE FROM t WHERE id = 2", "t", NULL, NULL },
	{ "BEGIN WORK; CREATE INDEX i ON t (a); UPDATE t SET a = 1 WHERE b", ST, MG_FACT_CREATE_INDEX, 0, 0, MG_FACTF_IN_BLOCK, "CREATE", "t", "i", NULL },
	{ "BEGIN WORK; CREATE INDEX i ON t (a); UPDATE t SET a = 1 WHERE b", ST, MG_FACT_UPDATE, 0, 0, MG_FACTF_IN_BLOCK | MG_FACTF_NO_WHERE, "UPDATE", "t", NULL, NULL },
	{ "begin;\nrollback work", ST, MG_FACT_TRANSACTION, 1, MG_FACTF_IN_BLOCK, 0, "rollback", NULL, NULL, "ROLLBACK" },
	/* UPDATE/DELETE: WHERE or LIMIT bound them */
	{ "UPDATE t SET a = (SELECT max(b) FROM u WHERE u.id = t.id)", ST, MG_FACT_UPDATE, 0, MG_FACTF_NO_WHERE, 0, "UPDATE", "t", NULL, NULL },
	{ "UPDATE LOW_PRIORITY IGNORE t SET a = 1 WHERE b", ST, MG_FACT_UPDATE, 0, 0, MG_FACTF_NO_WHERE, "UPDATE", "t", NULL, NULL },
	{ "DELETE QUICK FROM db.t ORDER BY id LIMIT 1000", ST, MG_FACT_DELETE, 0, 0, MG_FACTF_NO_WHERE, "DELETE", "db.t", NULL, NULL },
	{ "DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", ST, MG_FACT_DELETE, 0, MG_FACTF_NO_WHERE, 0, "DELETE", "t1", NULL, NULL },
	{ "WITH x AS (SELECT 1 AS id) UPDATE t JOIN x USING (id) SET t.a = 1", ST, MG_FACT_UPDATE, 0, MG_FACTF_NO_WHERE, 0, "WITH", "t", NULL, NULL },
	{ "TRUNCATE TABLE logs", ST, MG_FACT_DELETE, 0, MG_FACTF_NO_WHERE, 0, "TRUNCATE", "logs", NULL, "TRUNCATE" },
	/* anything else: its first words */
	{ "INSERT INTO t VALUES (1)", ST, MG_FACT_OTHER, 0, 0, 0, "INSERT", NULL, NULL, "INSERT" },
	{ "CREATE OR REPLACE ALGORITHM=MERGE DEFINER=CURRENT_USER SQL SECURITY INVOKER VIEW v AS SELECT 1", ST, MG_FACT_OTHER, 0, 0, 0, "CREATE", NULL, NULL, "CREATE VIEW" },
	{ "(SELECT 1) UNION (SELECT 2)", ST, MG_FACT_OTHER, 0, 0, 0, "(", NULL, NULL, "SELECT" },
	{ "ANALYZE TABLE t", ST, MG_FACT_OTHER, 0, 0, 0, "ANALYZE", NULL, NULL, "ANALYZE" },
};

static void test_statements(void **state)
{
	(void)state;
	CHECK_ALL(statements);
	assert_int_equal(count("INSERT INTO t VALUES (1); SELECT 1", ST, MG_FACT_SYNTAX_ERROR), 0);
	assert_int_equal(count("ROLLBACK TO SAVEPOINT s", ST, MG_FACT_TRANSACTION), 0);
	assert_int_equal(count(";;  ;\n", ST, MG_FACT_OTHER), 0);
	assert_int_equal(count("", ST, MG_FACT_SYNTAX_ERROR), 0);
}

/* ==== what the lexer and the splitter must get right ============================ */

static const char proc[] =
	"CREATE DEFINER=`root`@`%` PROCEDURE p()\n"
	"BEGIN\n"
	"  DECLARE n INT DEFAULT 0;\n"
	"  IF n = 0 THEN UPDATE t SET a = 1; END IF;\n"
	"  WHILE n < 3 DO SET n = IF(n > 1, n + 1, n + 2); END WHILE;\n"
	"  SELECT CASE WHEN n THEN 1 ELSE 2 END;\n"
	"END;\n"
	"DROP TABLE x";

/* labels, LOOP, nested IF, REPEAT the statement and REPEAT() the function,
 * IF() in a CASE, @end */
static const char loops[] =
	"CREATE PROCEDURE p() BEGIN DECLARE done INT; SET @end = 1; "
	"lbl: LOOP IF done THEN LEAVE lbl; ELSE IF x THEN SELECT 1; END IF; END IF; END LOOP lbl; "
	"REPEAT SET x = REPEAT('a', 2); UNTIL x END REPEAT; "
	"SELECT CASE WHEN a THEN 1 ELSE IF(a,1,2) END; END; DROP TABLE after_proc";

static const char delimited[] =
	"DELIMITER $$\n"
	"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END$$\n"
	"DELIMITER ;\n"
	"DROP TABLE t;";

static const struct want lexing[] = {
	{ "# a comment; DROP TABLE no\n-- another; DROP TABLE no\nDROP TABLE t -- trailing", ST, MG_FACT_DROP_TABLE, 0, 0, 0, "DROP TABLE t", "t", NULL, NULL },
	/* a--1 is arithmetic, not a comment */
	{ "SELECT 1--1; DROP TABLE z", ST, MG_FACT_DROP_TABLE, 0, 0, 0, "DROP", "z", NULL, NULL },
	{ "/* DROP TABLE no; */ DROP TABLE t", ST, MG_FACT_DROP_TABLE, 0, 0, 0, "DROP TABLE t", "t", NULL, NULL },
	/* versioned comments run: their contents are code */
	{ "/*!40101 SET NAMES utf8 */; /*!50100 ALTER TABLE t DROP COLUMN c */", ST, MG_FACT_DROP_COLUMN, 0, 0, 0, "DROP", "t", "c", NULL },
	{ "/*M!100100 DROP TABLE m */", ST, MG_FACT_DROP_TABLE, 0, 0, 0, "DROP", "m", NULL, NULL },
	{ "/*!40014 SET FOREIGN_KEY_CHECKS=0 */; ALTER TABLE t ADD FOREIGN KEY (a) REFERENCES p (id)", ST, MG_FACT_ADD_CONSTRAINT, 0,
	  MG_FACTF_NOT_VALID | MG_FACTF_FOREIGN_KEY, 0, "ADD", "t", NULL, "p" },
	/* ';' inside strings and names do not split */
	{ "UPDATE t SET a = 'x; DROP TABLE no' WHERE `we;ird` = \"q;\"; DROP TABLE y", ST, MG_FACT_DROP_TABLE, 0, 0, 0, "DROP TABLE y", "y", NULL, NULL },
	/* "..." is a name under ANSI_QUOTES */
	{ "ALTER TABLE \"t\" DROP COLUMN \"c\"\"d\"", ST, MG_FACT_DROP_COLUMN, 0, 0, 0, "DROP", "t", "c\"d", NULL },
	{ "ALTER TABLE `t``x` DROP `a b`", ST, MG_FACT_DROP_COLUMN, 0, 0, 0, "DROP", "t`x", "a b", NULL },
	/* where 'it\'s' ends depends on NO_BACKSLASH_ESCAPES: reported, read by the default */
	{ "UPDATE t SET a = 'it\\'s' WHERE id = 1; DROP TABLE z", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "'it", NULL, NULL, ANY },
	{ "UPDATE t SET a = 'it\\'s' WHERE id = 1; DROP TABLE z", ST, MG_FACT_DROP_TABLE, 0, 0, 0, "DROP", "z", NULL, NULL },
	/* a compound body's ';' do not end the routine */
	{ proc, ST, MG_FACT_OTHER, 0, 0, 0, "CREATE", NULL, NULL, "CREATE PROCEDURE" },
	{ proc, ST, MG_FACT_DROP_TABLE, 0, 0, 0, "DROP", "x", NULL, NULL },
	{ loops, ST, MG_FACT_DROP_TABLE, 0, 0, 0, "DROP", "after_proc", NULL, NULL },
	{ "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW UPDATE c SET n = n + 1; DROP TABLE x", ST,
	  MG_FACT_DROP_TABLE, 0, 0, 0, "DROP", "x", NULL, NULL },
	{ "IF 1 THEN SELECT 1; END IF; DROP TABLE z", ST, MG_FACT_DROP_TABLE, 0, 0, 0, "DROP", "z", NULL, NULL },
	{ "BEGIN NOT ATOMIC UPDATE t SET a = 1; END; DROP TABLE w", ST, MG_FACT_DROP_TABLE, 0, 0, 0, "DROP", "w", NULL, NULL },
	/* DELIMITER is the client's */
	{ delimited, ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "DELIMITER $$", NULL, NULL, ANY },
	{ delimited, ST, MG_FACT_SYNTAX_ERROR, 1, 0, 0, "DELIMITER ;", NULL, NULL, ANY },
	{ delimited, ST, MG_FACT_OTHER, 0, 0, 0, "CREATE", NULL, NULL, "CREATE TRIGGER" },
	{ delimited, ST, MG_FACT_DROP_TABLE, 0, 0, 0, "DROP", "t", NULL, NULL },
};

static void test_lexing(void **state)
{
	(void)state;
	CHECK_ALL(lexing);
	assert_int_equal(count(proc, ST, MG_FACT_UPDATE), 0);	/* routine bodies are not read */
	assert_int_equal(count(proc, ST, MG_FACT_SYNTAX_ERROR), 0);
	assert_int_equal(count(loops, ST, MG_FACT_OTHER), 1);
	assert_int_equal(count(loops, ST, MG_FACT_SYNTAX_ERROR), 0);
	assert_int_equal(count("# DROP TABLE a\n-- DROP TABLE b\n/* DROP TABLE c */", ST, MG_FACT_DROP_TABLE), 0);
	assert_int_equal(count("UPDATE t SET a = 'a''b', b = 'c\\\\d' WHERE 1", ST, MG_FACT_SYNTAX_ERROR), 0);
	/* a column called delimiter is no client command */
	assert_int_equal(count("CREATE TABLE t (\ndelimiter INT\n)", ST, MG_FACT_SYNTAX_ERROR), 0);
}

/* ==== syntax errors ============================================================== */

static const struct want errors[] = {
	{ "UPDATE t SET a = 1; UPDATE t SET a = 'x", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "'x", NULL, NULL, "a string or quoted name is not closed" },
	{ "DROP TABLE `t", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "`t", NULL, NULL, ANY },
	{ "CREATE TABLE t (a INT) /* unclosed", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "/*", NULL, NULL, ANY },
	{ "/*!50100 DROP TABLE t", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "/*!", NULL, NULL, ANY },
	{ "ALTER TABLE t ADD INDEX i (a", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "(a", NULL, NULL, ANY },
	{ "SELECT 1); DROP TABLE t", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, ")", NULL, NULL, ANY },
	{ "ALTR TABLE t DROP COLUMN c", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "ALTR", NULL, NULL, ANY },
	{ "ALTER TABLE", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "TABLE", NULL, NULL, ANY },
	{ "ALTER TABLE t ADD COLUMN c", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "c", NULL, NULL, ANY },
	{ "ALTER TABLE t CHANGE a", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "a", NULL, NULL, ANY },
	{ "CREATE INDEX i (a)", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "(a)", NULL, NULL, ANY },
	{ "DROP INDEX i", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "i", NULL, NULL, ANY },
	{ "RENAME TABLE a b", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "b", NULL, NULL, ANY },
	{ "DELIMITER //", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "DELIMITER", NULL, NULL, ANY },
	/* ADD COLUM nickname text: the column would be COLUM of type nickname */
	{ "ALTER TABLE users ADD COLUM nickname text", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "nickname", NULL, NULL,
	  "'nickname' is not a MySQL/MariaDB column type" },
	{ "CREATE TABLE t (id bigint, at timestamptz)", ST, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "timestamptz", NULL, NULL, ANY },
};

static void test_errors(void **state)
{
	(void)state;
	CHECK_ALL(errors);
	/* statements before the unreadable one are read */
	assert_int_equal(count("DROP TABLE a; UPDATE t SET a = 'x", ST, MG_FACT_DROP_TABLE), 1);
	assert_int_equal(count("SELECT 1); DROP TABLE t", ST, MG_FACT_DROP_TABLE), 1);
}

/* ==== expressions and types ===================================================== */

static const struct want exprs[] = {
	{ "UUID()", EX, MG_FACT_VOLATILE_CALL, 0, 0, 0, "UUID", NULL, NULL, "uuid" },
	{ "concat(a, rand() * 10)", EX, MG_FACT_VOLATILE_CALL, 0, 0, 0, "rand", NULL, NULL, "rand" },
	{ "SYSDATE() + INTERVAL 1 DAY", EX, MG_FACT_VOLATILE_CALL, 0, 0, 0, "SYSDATE", NULL, NULL, "sysdate" },
	{ "coalesce(a, NOW(), CURRENT_TIMESTAMP)", EX, MG_FACT_VOLATILE_CALL, 1, 0, 0, "CURRENT", NULL, NULL, "current_timestamp" },
	{ "unix_timestamp()", EX, MG_FACT_VOLATILE_CALL, 0, 0, 0, "unix", NULL, NULL, "unix_timestamp" },
	{ "NEXT VALUE FOR s", EX, MG_FACT_VOLATILE_CALL, 0, 0, 0, "NEXT", NULL, NULL, "nextval" },
	{ "a; DROP TABLE x", EX, MG_FACT_SYNTAX_ERROR, 0, 0, 0, ";", NULL, NULL, "the expression contains ';' outside a string" },
	{ "lower(a", EX, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "(", NULL, NULL, ANY },
	{ "a)", EX, MG_FACT_SYNTAX_ERROR, 0, 0, 0, ")", NULL, NULL, ANY },
	{ "f(a), b", EX, MG_FACT_SYNTAX_ERROR, 0, 0, 0, ",", NULL, NULL, ANY },
	{ "a /* x */", EX, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "/*", NULL, NULL, ANY },
	{ "a # x", EX, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "#", NULL, NULL, ANY },
	{ "'it\\'s'", EX, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "'", NULL, NULL, ANY },
	{ "  ", EX, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "  ", NULL, NULL, "the expression is empty" },
	{ "int", TY, MG_FACT_COLUMN_TYPE, 0, MG_FACTF_TYPE_INT4, 0, "int", NULL, NULL, "int" },
	{ " TINYINT(1) UNSIGNED", TY, MG_FACT_COLUMN_TYPE, 0, MG_FACTF_TYPE_INT4, 0, "TINYINT", NULL, NULL, "TINYINT(1) UNSIGNED" },
	{ "char(3) CHARACTER SET ascii", TY, MG_FACT_COLUMN_TYPE, 0, MG_FACTF_TYPE_CHAR, 0, "char", NULL, NULL, ANY },
	{ "bigint", TY, MG_FACT_COLUMN_TYPE, 0, 0, MG_FACTF_TYPE_INT4, "bigint", NULL, NULL, "bigint" },
	{ "datetime(6)", TY, MG_FACT_COLUMN_TYPE, 0, 0, MG_FACTF_TYPE_TIMESTAMP, "datetime", NULL, NULL, "datetime(6)" },
	{ "json", TY, MG_FACT_COLUMN_TYPE, 0, 0, MG_FACTF_TYPE_JSON, "json", NULL, NULL, "json" },
	{ "int; drop table x", TY, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "int", NULL, NULL, ANY },
	{ "varchar", TY, MG_FACT_SYNTAX_ERROR, 0, 0, 0, "varchar", NULL, NULL, "the type needs a length: (n)" },
};

static void test_expressions_and_types(void **state)
{
	(void)state;
	CHECK_ALL(exprs);
	assert_int_equal(count("unix_timestamp(created_at) + t.now + `rand`()", EX, MG_FACT_VOLATILE_CALL), 0);
	assert_int_equal(count("CONCAT(a, '--', b, 'rand()')", EX, MG_FACT_SYNTAX_ERROR), 0);
	assert_int_equal(count("CONCAT(a, '--', b, 'rand()')", EX, MG_FACT_VOLATILE_CALL), 0);
	/* statements never read their text as an expression */
	assert_int_equal(count("UPDATE t SET a = RAND() WHERE b", ST, MG_FACT_VOLATILE_CALL), 0);
}

/* ==== hostile input =========================================================== */

/* Lint text of every kind; the facts must point inside it. */
static void lint_any(const char *text)
{
	size_t n = strlen(text);

	for (int kind = 0; kind < 3; kind++) {
		struct mg_sql_facts f = MG_SQL_FACTS_INIT;

		mg_driver_lint_sql(mg_driver_named("mysql"), text, kind, &f);
		for (size_t i = 0; i < f.n; i++)
			if (f.items[i].offset < 0 || (size_t)f.items[i].offset > n)
				fail_msg("'%s': a fact at offset %d, outside the text", text, f.items[i].offset);
		mg_sql_facts_release(&f);
	}
}

/* Every prefix of every case's text, each in a buffer of its own size (so
 * that a read past the end is the sanitizer's to see): cut strings,
 * comments, statements, clauses. */
static void prefixes_of(const struct want *cases, size_t n_cases)
{
	for (size_t i = 0; i < n_cases; i++) {
		size_t n = strlen(cases[i].sql);

		for (size_t k = 0; k <= n; k++) {
			char *cut = malloc(k + 1);

			memcpy(cut, cases[i].sql, k);
			cut[k] = '\0';
			lint_any(cut);
			free(cut);
		}
	}
}

#define PREFIXES(cases) prefixes_of(cases, sizeof(cases) / sizeof(cases[0]))

static void test_prefixes(void **state)
{
	(void)state;
	PREFIXES(basic);
	PREFIXES(alter);
	PREFIXES(statements);
	PREFIXES(lexing);
	PREFIXES(errors);
	PREFIXES(exprs);
}

/* A small deterministic generator, so that a failure reproduces. */
static uint32_t next_random(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

/* Random bytes, and random runs of the pieces SQL text is made of. */
static void test_random_input(void **state)
{
	static const char *const pieces[] = {
		"ALTER", "TABLE", "t", "ADD", "DROP", "COLUMN", "INDEX", "KEY", "(", ")", ",", ";",
		"'", "\"", "`", "\\", "--", "-- ", "#", "/*", "*/", "/*!", "/*!50100", "/*M!", "DEFAULT",
		"NOT", "NULL", "CHANGE", "MODIFY", "RENAME", "TO", "CREATE", "PROCEDURE", "BEGIN", "END",
		"IF", "CASE", "WHILE", "LOOP", "REPEAT", "DELIMITER", "$$", "//", "\n", " ", "UUID()",
		"RAND(", "ALGORITHM=", "LOCK", "=", "NONE", "INSTANT", "ON", "UNIQUE", "PRIMARY",
		"FOREIGN", "REFERENCES", "CHECK", "CONSTRAINT", "SET", "foreign_key_checks", "0",
		"UPDATE", "DELETE", "FROM", "WHERE", "WITH", "AS", "LOCK TABLES", "OPTIMIZE", "START",
		"TRANSACTION", "COMMIT", "ROLLBACK", "TRUNCATE", "INT", "CHAR(3)", ".", "@", ":",
		"NEXT VALUE FOR", "unix_timestamp()", "x'", "'a''b'", "'a\\'b'", "\xff", "\x80",
		"IF NOT EXISTS", "IF EXISTS", "SERIAL DEFAULT VALUE", "DEFINER", "TRIGGER", "ENFORCED",
	};
	uint32_t seed = 0x2545f491;
	char buf[512];

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = 0;

		if (next_random(&seed) % 4 == 0) {
			size_t len = next_random(&seed) % 200;

			for (; n < len; n++)
				buf[n] = (char)(1 + next_random(&seed) % 255);
		} else {
			size_t len = next_random(&seed) % 40;

			for (size_t k = 0; k < len; k++) {
				const char *p = pieces[next_random(&seed) % (sizeof(pieces) / sizeof(pieces[0]))];
				size_t pl = strlen(p);

				if (n + pl + 2 >= sizeof(buf))
					break;
				memcpy(buf + n, p, pl);
				n += pl;
				if (next_random(&seed) % 2)
					buf[n++] = ' ';
			}
		}
		buf[n] = '\0';
		{
			char *exact = strdup(buf);

			lint_any(exact);
			free(exact);
		}
	}
}

/* Deep nesting and long text: no recursion to overflow, no quadratic
 * blow-up worth noticing. */
static void test_large_input(void **state)
{
	size_t n = 200000;
	char *s = malloc(n + 1);

	(void)state;
	memset(s, '(', n);
	s[n] = '\0';
	lint_any(s);
	for (size_t k = 0; k + 2 < n; k += 2)
		memcpy(s + k, ";\n", 2);
	lint_any(s);
	free(s);
}

static void test_no_text(void **state)
{
	struct mg_sql_facts f = MG_SQL_FACTS_INIT;

	(void)state;
	mg_driver_named("mysql")->lint_sql(NULL, MG_LINT_STATEMENTS, &f);
	assert_int_equal(f.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_alter_table),
		cmocka_unit_test(test_statements),
		cmocka_unit_test(test_lexing),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_expressions_and_types),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_random_input),
		cmocka_unit_test(test_large_input),
		cmocka_unit_test(test_no_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

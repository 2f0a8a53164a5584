/*
 * dialect.c - ALTER TABLE as MariaDB and MySQL 8.0.29+ take it: MariaDB's
 * IF [NOT] EXISTS clauses, or in the MySQL dialect (mc->mysql_dialect) a
 * statement prepared from the clauses that still have work to do, and a
 * catalog guard for what has no IF EXISTS (RENAME INDEX). Every form runs
 * again harmlessly after a step stopped halfway.
 */
#include "mysql/myplan.h"

/* ==== guards and the MySQL dialect ======================================================== */

/*
 * A statement that runs only when cond (a boolean SQL expression) is true:
 * MySQL has no IF outside stored programs, so the statement is prepared
 * from a string chosen by the condition. Idempotence for the steps that
 * cannot say IF EXISTS (RENAME INDEX).
 */
void add_guarded(struct mydrv_conn *mc, struct mg_buf *b, const char *cond,
		 const char *stmt)
{
	mg_buf_addf(b, "SET @_mg_sql = IF(%s, ", cond);
	add_literal(mc, b, stmt);
	mg_buf_adds(b, ", 'DO 0');\nPREPARE _mg_stmt FROM @_mg_sql;\nEXECUTE _mg_stmt;\n"
		    "DEALLOCATE PREPARE _mg_stmt;\n");
}

/* "an index named name exists on table tlit ('t')" as SQL. */
char *index_exists_in(struct mydrv_conn *mc, const char *tlit, const char *name)
{
	char *nl = lit(mc, name);
	char *s = mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = %s)",
			       tlit, nl);

	free(nl);
	return s;
}

/* ---- the MySQL dialect ------------------------------------------------------
 *
 * MySQL 8 has none of MariaDB's ADD COLUMN IF NOT EXISTS, DROP COLUMN /
 * INDEX / CONSTRAINT / FOREIGN KEY IF EXISTS, ADD INDEX IF NOT EXISTS,
 * ALGORITHM=NOCOPY or CREATE OR REPLACE TRIGGER. The planner keeps its
 * ALTER clauses in MariaDB's form; with mc->mysql_dialect set they are
 * rendered as one ALTER TABLE prepared from a string that the catalog
 * puts together when the step runs: each clause is in it only while it
 * still has something to do, exactly what IF [NOT] EXISTS does per
 * clause, so a step that stopped halfway (a crash, a failure) runs again
 * harmlessly; with no clause left it is DO 0. Every form here runs on
 * MySQL 8.0.29+ and on MariaDB 10.3+ (PREPARE of ALTER TABLE and DO,
 * CONCAT_WS skipping NULLs, information_schema COLUMNS, STATISTICS and
 * TABLE_CONSTRAINTS), which is what lets the MariaDB tests run it.
 *
 * The algorithm stays in the text outside the quoted clauses, as its own
 * literal (', ALGORITHM=INSTANT'), so run_ddl_step's fallback rewrites it
 * as in any other step: neither the algorithm nor its replacement holds a
 * quote or a backslash, so the literal stays valid.
 *
 * NOCOPY becomes INPLACE, LOCK=NONE. MySQL cannot be told "in place but
 * never a rebuild", so an ALTER that mixes index or constraint changes
 * (INPLACE, no rebuild per the manual's online DDL tables) with column
 * changes (INSTANT) is split in two: INPLACE on DROP COLUMN would rebuild
 * the table. Each half is atomic (one ALTER TABLE on InnoDB), and the
 * guards make the pair idempotent.
 */

/* "a column named name exists in table tlit" as SQL. */
char *column_exists_in(struct mydrv_conn *mc, const char *tlit, const char *name)
{
	char *nl = lit(mc, name);
	char *s = mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s)",
			       tlit, nl);

	free(nl);
	return s;
}

/* "a constraint of this type ('CHECK', 'FOREIGN KEY') named name exists on
 * table tlit" as SQL. */
static char *constraint_exists_in(struct mydrv_conn *mc, const char *tlit, const char *name,
				  const char *type)
{
	char *nl = lit(mc, name);
	char *s = mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s AND CONSTRAINT_NAME = %s AND CONSTRAINT_TYPE = '%s')",
			       tlit, nl, type);

	free(nl);
	return s;
}

enum dialect_obj { DIALECT_COLUMN, DIALECT_INDEX, DIALECT_CHECK, DIALECT_FK };

/* The MariaDB clause forms the planner writes, and what each is on MySQL. */
static const struct dialect_form {
	const char *mariadb;	/* prefix up to the backquoted name */
	const char *mysql;	/* the same without IF [NOT] EXISTS */
	enum dialect_obj obj;
	int absent;		/* runs while the object is absent (ADD) */
} dialect_forms[] = {
	{ "ADD COLUMN IF NOT EXISTS ", "ADD COLUMN ", DIALECT_COLUMN, 1 },
	{ "DROP COLUMN IF EXISTS ", "DROP COLUMN ", DIALECT_COLUMN, 0 },
	{ "ALTER COLUMN ", "ALTER COLUMN ", DIALECT_COLUMN, 0 },
	{ "RENAME COLUMN ", "RENAME COLUMN ", DIALECT_COLUMN, 0 },
	{ "ADD INDEX IF NOT EXISTS ", "ADD INDEX ", DIALECT_INDEX, 1 },
	{ "ADD UNIQUE INDEX IF NOT EXISTS ", "ADD UNIQUE INDEX ", DIALECT_INDEX, 1 },
	{ "ADD FULLTEXT INDEX IF NOT EXISTS ", "ADD FULLTEXT INDEX ", DIALECT_INDEX, 1 },
	{ "ADD SPATIAL INDEX IF NOT EXISTS ", "ADD SPATIAL INDEX ", DIALECT_INDEX, 1 },
	{ "DROP INDEX IF EXISTS ", "DROP INDEX ", DIALECT_INDEX, 0 },
	{ "DROP CONSTRAINT IF EXISTS ", "DROP CONSTRAINT ", DIALECT_CHECK, 0 },
	{ "DROP FOREIGN KEY IF EXISTS ", "DROP FOREIGN KEY ", DIALECT_FK, 0 },
};

/* The raw name of the backquoted identifier at s (`a``b` is a`b); *len
 * is the length of the quoted form. */
static char *take_ident(const char *s, size_t *len)
{
	struct mg_buf b = MG_BUF_INIT;
	const char *p = s + 1;

	assert(*s == '`');
	for (; *p; p++) {
		if (*p == '`' && p[1] != '`')
			break;
		if (*p == '`')
			p++;
		mg_buf_addc(&b, *p);
	}
	*len = (size_t)(p - s) + (*p ? 1 : 0);
	return mg_buf_detach(&b);
}

/*
 * One clause in MySQL's words: *plain the clause without IF [NOT] EXISTS,
 * *cond the SQL condition under which it still has work to do, *is_key 1
 * for index and constraint clauses (INPLACE), 0 for column clauses
 * (INSTANT).
 */
static void dialect_clause(struct mydrv_conn *mc, const char *tlit, const char *part,
			   char **plain, char **cond, int *is_key)
{
	for (size_t i = 0; i < sizeof(dialect_forms) / sizeof(dialect_forms[0]); i++) {
		const struct dialect_form *f = &dialect_forms[i];
		size_t n = strlen(f->mariadb), len;
		char *name, *exists;

		if (strncmp(part, f->mariadb, n) != 0 || part[n] != '`')
			continue;
		name = take_ident(part + n, &len);
		*plain = mg_xasprintf("%s%s", f->mysql, part + n);
		exists = f->obj == DIALECT_COLUMN ? column_exists_in(mc, tlit, name) :
			 f->obj == DIALECT_INDEX ? index_exists_in(mc, tlit, name) :
			 constraint_exists_in(mc, tlit, name,
					      f->obj == DIALECT_FK ? "FOREIGN KEY" : "CHECK");
		*cond = f->absent ? mg_xasprintf("NOT %s", exists) : mg_xstrdup(exists);
		*is_key = f->obj != DIALECT_COLUMN;
		free(exists);
		free(name);
		return;
	}
	/* not a form the planner writes: run it unconditionally */
	assert(!"unknown ALTER clause");
	*plain = mg_xstrdup(part);
	*cond = mg_xstrdup("TRUE");
	*is_key = 0;
}

/*
 * "SET @_mg_sql = ..." twice: the clauses (plain, cond) that still have
 * work to do, then the ALTER TABLE of them with the algorithm, or DO 0
 * when none has (or when outer, if given, is false).
 */
static void dialect_alter_set(struct mydrv_conn *mc, struct mg_buf *b, const char *table_q,
			      const struct mg_strlist *plain, const struct mg_strlist *cond,
			      const char *algorithm, const char *outer)
{
	char *head = mg_xasprintf("ALTER TABLE %s ", table_q);

	mg_buf_adds(b, "SET @_mg_sql = CONCAT_WS(', '");
	for (size_t i = 0; i < plain->n; i++) {
		mg_buf_addf(b, ",\n  IF(%s, ", cond->items[i]);
		add_literal(mc, b, plain->items[i]);
		mg_buf_adds(b, ", NULL)");
	}
	mg_buf_addf(b, ");\nSET @_mg_sql = IF(%s%s@_mg_sql <> '', CONCAT(", outer ? outer : "",
		    outer ? " AND " : "");
	add_literal(mc, b, head);
	mg_buf_adds(b, ", @_mg_sql, ");
	add_literal(mc, b, algorithm);
	mg_buf_adds(b, "), 'DO 0');\n");
	free(head);
}

static void dialect_run(struct mg_buf *b)
{
	mg_buf_adds(b, "PREPARE _mg_stmt FROM @_mg_sql;\nEXECUTE _mg_stmt;\nDEALLOCATE PREPARE _mg_stmt;\n");
}

/*
 * The ALTER TABLE of parts (and extra) in the MySQL dialect: one guarded
 * statement, or two when index/constraint clauses meet column clauses
 * (keys first, INPLACE; then columns, INSTANT). outer, when given, guards
 * the key statement (see render_drop_columns). With split_set, the SET
 * lines go to set and only the run to b (a step that must read the
 * catalog before LOCK TABLES); then there must be no keys.
 */
void dialect_alter(struct mydrv_conn *mc, struct mg_buf *b, const char *table_q,
		   const char *tlit, const struct mg_strlist *parts, const char *extra,
		   const char *algorithm, const char *outer, struct mg_buf *split_set)
{
	struct mg_strlist kp = MG_STRLIST_INIT, kc = MG_STRLIST_INIT;
	struct mg_strlist cp = MG_STRLIST_INIT, cc = MG_STRLIST_INIT;
	const char *alg = !strcmp(algorithm, MYDRV_ALG_NOCOPY) ? MYDRV_ALG_INPLACE : algorithm;

	for (size_t i = 0; i <= parts->n; i++) {
		const char *part = i < parts->n ? parts->items[i] : extra;
		char *plain, *cond;
		int is_key;

		if (!part)
			continue;
		dialect_clause(mc, tlit, part, &plain, &cond, &is_key);
		mg_strlist_push_owned(is_key ? &kp : &cp, plain);
		mg_strlist_push_owned(is_key ? &kc : &cc, cond);
	}
	if (kp.n) {
		dialect_alter_set(mc, b, table_q, &kp, &kc, cp.n ? MYDRV_ALG_INPLACE : alg, outer);
		dialect_run(b);
	}
	if (cp.n) {
		assert(!split_set || !kp.n);
		dialect_alter_set(mc, split_set ? split_set : b, table_q, &cp, &cc,
				  kp.n ? MYDRV_ALG_INSTANT : alg, kp.n ? NULL : outer);
		dialect_run(b);
	}
	mg_strlist_release(&kp);
	mg_strlist_release(&kc);
	mg_strlist_release(&cp);
	mg_strlist_release(&cc);
}

/* "ALTER TABLE t a, b, ALGORITHM=...;\n" (nothing for no parts). */
void join_alter(struct mg_buf *b, const char *table, const struct mg_strlist *parts,
		const char *extra, const char *algorithm)
{
	if (!parts->n && !extra)
		return;
	mg_buf_addf(b, "ALTER TABLE %s ", table);
	for (size_t i = 0; i < parts->n; i++)
		mg_buf_addf(b, "%s%s", i ? ", " : "", parts->items[i]);
	if (extra)
		mg_buf_addf(b, "%s%s", parts->n ? ", " : "", extra);
	mg_buf_addf(b, "%s;\n", algorithm);
}

/* join_alter, or on MySQL its guarded form (see "the MySQL dialect"). */
void alter_stmt(const struct planner *pl, struct mg_buf *b, const char *table_q,
		const char *tlit, const struct mg_strlist *parts, const char *extra,
		const char *algorithm)
{
	if (!pl->mc->mysql_dialect)
		join_alter(b, table_q, parts, extra, algorithm);
	else if (parts->n || extra)
		dialect_alter(pl->mc, b, table_q, tlit, parts, extra, algorithm, NULL, NULL);
}

/* alter_stmt of one clause. */
void alter_one(const struct planner *pl, struct mg_buf *b, const char *table_q,
	       const char *tlit, const char *clause, const char *algorithm)
{
	struct mg_strlist parts = MG_STRLIST_INIT;

	mg_strlist_push(&parts, clause);
	alter_stmt(pl, b, table_q, tlit, &parts, NULL, algorithm);
	mg_strlist_release(&parts);
}

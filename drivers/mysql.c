/*
 * mysql.c - the MySQL and MariaDB driver (MariaDB Connector/C): its
 * planner (catalog, per-table work, dependents, operations, rendering,
 * entry point) and its driver table. The rest of the driver is in
 * drivers/mysql/, one file per concern: url.c (the URL), conn.c
 * (connection and errors), wait.c (bounded waits), history.c, lock.c
 * (the migrate lock and blockers), load.c (sessions), lag.c (replication
 * lag), runner.c (running steps), backfill.c; mysql/my.h declares what
 * they share.
 *
 * Planning covers every operation (add_column, rename_column,
 * alter_column, drop_column, create_index, sql) on MariaDB 10.3+ and
 * MySQL 8.0.29+ (the design of the plan is explained at the top of the
 * planning section); older MySQL is refused at plan time with MG_EINPUT.
 * On MySQL the planner writes only SQL that both servers accept (the
 * MySQL dialect, mc->mysql_dialect), so the MariaDB tests run it too
 * (test hook MIGRATE_TEST_MYSQL_DIALECT=1).
 *
 * Names: a MySQL "schema" is a database, and the connection already has
 * one (the URL's path). Every table this driver creates or names is
 * unqualified and lives in the connection's database: `_migrate_history`,
 * not `db`.`_migrate_history`. quote_ident() quotes one name with
 * backticks; the session keeps ANSI_QUOTES off, so "..." stays a string.
 *
 * Seeing other sessions: information_schema.PROCESSLIST shows a user only
 * its own sessions unless it has the PROCESS privilege, and the client's
 * program name (our application_name) is a connection attribute in
 * performance_schema.session_connect_attrs, which needs SELECT on
 * performance_schema and the schema switched on. Where this driver cannot
 * see what it needs it says so (MG_EDB) instead of answering 0, so that the
 * core fails closed: a colour counts as alive, a throttle pauses.
 *
 * Verified against MariaDB 10.11; the MySQL 8 paths (noted where they
 * differ) follow the MySQL manual and were not run against a MySQL server
 * here: the MySQL dialect's SQL ran on MariaDB 10.11 only.
 */
#include "mysql/my.h"

/* ==== planning: catalog ========================================================== */

/*
 * How the MySQL/MariaDB plan differs from the PostgreSQL one, and why.
 *
 * DDL commits implicitly: a step cannot share a transaction with its
 * history row. So every statement of a step is idempotent (IF [NOT]
 * EXISTS, or a catalog guard around a prepared statement: the only way on
 * MySQL, see "the MySQL dialect"), the step runs
 * its statements in order and then writes the history row; a crash in
 * between runs the step again, harmlessly. The order of the statements
 * keeps every intermediate state valid for both application versions:
 * columns before triggers at expand, triggers dropped before columns at
 * contract and rollback.
 *
 * A step is sent whole as one multi-statement request (the connection has
 * CLIENT_MULTI_STATEMENTS): the server parses it, so the semicolons inside
 * a trigger body need no client-side splitting; run() checks every
 * result. The plan shows exactly the text that is sent.
 *
 * Every ALTER TABLE names its algorithm, so the server can never choose a
 * table copy behind our back: ALGORITHM=INSTANT where the server can do it
 * as a metadata change (MariaDB 10.3+ adds, 10.4+ drops columns and
 * changes defaults instantly; MySQL 8.0.29+ adds and drops them and
 * changes defaults instantly), ALGORITHM=NOCOPY, LOCK=NONE (MariaDB: in
 * place, never a rebuild; MySQL has no NOCOPY and gets INPLACE, LOCK=NONE)
 * for index changes. When the server refuses the
 * planned algorithm, run_step falls back one level at a time, as far as
 * the operations of the step allow (see run_ddl_step).
 */

#define MYDRV_MAX_IDENT 64
#define MYDRV_MYSQL_PLAN_MIN 80029	/* MySQL 8.0.29 */
/* MYDRV_ALG_* and MYDRV_START_TX: mysql/my.h (the runner reads them too) */

/* A table as the catalog knows it. */
struct mytable {
	char *name;		/* raw, as in the catalog */
	char *q;		/* `name` */
	char *lit;		/* 'name', for information_schema */
	char **key_cols;	/* quoted */
	char **key_types;	/* DATA_TYPE: int, bigint, varchar ... */
	size_t n_keys;
	const char *key_problem;
	struct mg_strlist cols;		/* every column, raw, in order */
	struct mg_strlist on_update;	/* columns ON UPDATE CURRENT_TIMESTAMP, quoted */
};

/* A column as the catalog knows it. */
struct mycolumn {
	int found;
	char *column_type;	/* varchar(50), int(10) unsigned, enum('a','b') */
	char *data_type;	/* varchar, int, enum */
	char *charset;
	char *collation;
	int notnull;
	char *default_expr;	/* SQL, or NULL for none */
	char *extra;		/* auto_increment, VIRTUAL GENERATED ... */
	char *comment;
};

static void mytable_release(struct mytable *t)
{
	free(t->name);
	free(t->q);
	free(t->lit);
	for (size_t i = 0; i < t->n_keys; i++) {
		free(t->key_cols[i]);
		free(t->key_types[i]);
	}
	free(t->key_cols);
	free(t->key_types);
	mg_strlist_release(&t->cols);
	mg_strlist_release(&t->on_update);
	memset(t, 0, sizeof(*t));
}

static void mycolumn_release(struct mycolumn *c)
{
	free(c->column_type);
	free(c->data_type);
	free(c->charset);
	free(c->collation);
	free(c->default_expr);
	free(c->extra);
	free(c->comment);
	memset(c, 0, sizeof(*c));
}

static char *qi(const char *name)
{
	struct mg_buf b = MG_BUF_INIT;

	mydrv_quote_ident(&b, name);
	return mg_buf_detach(&b);
}

static char *lit(struct mydrv_conn *mc, const char *s)
{
	struct mg_buf b = MG_BUF_INIT;

	add_literal(mc, &b, s);
	return mg_buf_detach(&b);
}

/* base + suffix, base cut so the whole fits a MySQL identifier (64
 * characters; names here are cut by bytes, at a UTF-8 boundary). */
static char *mkname(const char *base, const char *suffix)
{
	return mg_planner_name_utf8(MYDRV_MAX_IDENT, base, suffix);
}

/*
 * The key the backfill walks: the PRIMARY KEY, else the unique index with
 * the fewest columns whose columns are all NOT NULL and whole (no prefix,
 * no expression).
 */
static int fetch_key(struct mydrv_conn *mc, struct mytable *t, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;

	mg_buf_addf(&sql,
		"SELECT s.COLUMN_NAME, c.DATA_TYPE FROM information_schema.STATISTICS s "
		"JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA "
		"AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME "
		"WHERE s.TABLE_SCHEMA = DATABASE() AND s.TABLE_NAME = %s AND s.INDEX_NAME = ("
		"SELECT x.INDEX_NAME FROM information_schema.STATISTICS x "
		"WHERE x.TABLE_SCHEMA = DATABASE() AND x.TABLE_NAME = %s AND x.NON_UNIQUE = 0 "
		"GROUP BY x.INDEX_NAME HAVING SUM(x.NULLABLE = 'YES' OR x.SUB_PART IS NOT NULL "
		"OR x.COLUMN_NAME IS NULL) = 0 "
		"ORDER BY x.INDEX_NAME = 'PRIMARY' DESC, COUNT(*), x.INDEX_NAME LIMIT 1) "
		"ORDER BY s.SEQ_IN_INDEX", t->lit, t->lit);
	if (query_mc(mc, sql.buf, &r, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	mg_buf_release(&sql);
	t->n_keys = r.nrows;
	t->key_cols = mg_xcalloc(t->n_keys + 1, sizeof(char *));
	t->key_types = mg_xcalloc(t->n_keys + 1, sizeof(char *));
	for (size_t i = 0; i < r.nrows; i++) {
		t->key_cols[i] = qi(mg_rows_get(&r, i, 0));
		t->key_types[i] = mg_xstrdup(mg_rows_get(&r, i, 1));
	}
	mg_rows_release(&r);
	if (!t->n_keys)
		t->key_problem = "it has no primary key and no unique index over NOT NULL columns";
	return 0;
}

/* Every column in order, and those the server sets on each update. */
static int fetch_columns(struct mydrv_conn *mc, struct mytable *t, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;

	mg_buf_addf(&sql, "SELECT COLUMN_NAME, LOWER(EXTRA) LIKE '%%on update%%' "
		    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
		    "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", t->lit);
	if (query_mc(mc, sql.buf, &r, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	mg_buf_release(&sql);
	for (size_t i = 0; i < r.nrows; i++) {
		mg_strlist_push(&t->cols, mg_rows_get(&r, i, 0));
		if (!strcmp(mg_rows_get(&r, i, 1), "1"))
			mg_strlist_push_owned(&t->on_update, qi(mg_rows_get(&r, i, 0)));
	}
	mg_rows_release(&r);
	return 0;
}

/*
 * Resolve op->table in the connection's database; MG_EINPUT naming the
 * file position when it is absent or qualified with another database.
 */
static int resolve_table(struct mydrv_conn *mc, const struct mg_migration *m,
			 const struct mg_op *op, struct mytable *out,
			 struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	const char *dot = strchr(op->table, '.');
	const char *name = dot ? dot + 1 : op->table;
	char *nl = lit(mc, name);
	int rc = -1;

	memset(out, 0, sizeof(*out));
	mg_buf_adds(&sql, "SELECT TABLE_NAME, TABLE_TYPE, COALESCE(ENGINE, ''), ");
	if (dot) {
		char *db = mg_xstrndup(op->table, (size_t)(dot - op->table));

		mg_buf_adds(&sql, "DATABASE() = ");
		add_literal(mc, &sql, db);
		free(db);
	} else {
		mg_buf_adds(&sql, "1");
	}
	mg_buf_addf(&sql, " FROM information_schema.TABLES "
		    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", nl);
	free(nl);
	if (query_mc(mc, sql.buf, &r, err) < 0)
		goto out;
	if (r.nrows == 0 || strcmp(mg_rows_get(&r, 0, 3), "1") != 0) {
		mg_plan_pos_error(err, MG_EINPUT, m, op->table_pos, "table '%s' does not exist", op->table);
		mg_err_hint(err, "check the table name; on MySQL/MariaDB tables are named without a database and live in the database of the URL");
		goto out;
	}
	if (strcmp(mg_rows_get(&r, 0, 1), "BASE TABLE") != 0) {
		mg_plan_pos_error(err, MG_EREFUSED, m, op->table_pos, "'%s' is not a plain table (%s): views and other relations cannot be migrated",
			  op->table, mg_rows_get(&r, 0, 1));
		goto out;
	}
	if (strcasecmp(mg_rows_get(&r, 0, 2), "InnoDB") != 0) {
		mg_plan_pos_error(err, MG_EREFUSED, m, op->table_pos, "table '%s' uses the %s engine: only InnoDB tables can be changed online",
			  op->table, mg_rows_get(&r, 0, 2));
		goto out;
	}
	out->name = mg_xstrdup(mg_rows_get(&r, 0, 0));
	out->q = qi(out->name);
	out->lit = lit(mc, out->name);
	rc = fetch_key(mc, out, err) < 0 || fetch_columns(mc, out, err) < 0 ? -1 : 0;
out:
	mg_rows_release(&r);
	mg_buf_release(&sql);
	return rc;
}

/*
 * COLUMN_DEFAULT as SQL. MariaDB 10.2.7+ shows an expression ('x' quoted,
 * current_timestamp(), NULL spelled out); MySQL 8 shows a bare literal and
 * marks expressions DEFAULT_GENERATED in EXTRA (that branch was not run
 * here).
 */
static char *default_sql(struct mydrv_conn *mc, const char *def, const char *extra)
{
	if (!def || !strcmp(def, "NULL"))
		return NULL;
	if (mc->mariadb)
		return mg_xstrdup(def);
	if (extra && strstr(extra, "DEFAULT_GENERATED"))
		return mg_xasprintf("(%s)", def);
	return lit(mc, def);
}

/* 0 found, 1 absent, -1 error. */
static int fetch_column(struct mydrv_conn *mc, const struct mytable *t,
			const char *name, struct mycolumn *out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	char *nl = lit(mc, name);

	memset(out, 0, sizeof(*out));
	mg_buf_addf(&sql, "SELECT COLUMN_TYPE, DATA_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, "
		    "IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLUMN_COMMENT "
		    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
		    "AND TABLE_NAME = %s AND COLUMN_NAME = %s", t->lit, nl);
	free(nl);
	if (query_mc(mc, sql.buf, &r, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	mg_buf_release(&sql);
	if (r.nrows == 0) {
		mg_rows_release(&r);
		return 1;
	}
	out->found = 1;
	out->column_type = mg_xstrdup(mg_rows_get(&r, 0, 0));
	out->data_type = mg_xstrdup(mg_rows_get(&r, 0, 1));
	out->charset = mg_xstrdup(mg_rows_get(&r, 0, 2));
	out->collation = mg_xstrdup(mg_rows_get(&r, 0, 3));
	out->notnull = !strcmp(mg_rows_get(&r, 0, 4), "NO");
	out->extra = mg_xstrdup(mg_rows_get(&r, 0, 6) ? mg_rows_get(&r, 0, 6) : "");
	out->default_expr = default_sql(mc, mg_rows_get(&r, 0, 5), out->extra);
	if (mg_rows_get(&r, 0, 7) && *mg_rows_get(&r, 0, 7))
		out->comment = mg_xstrdup(mg_rows_get(&r, 0, 7));
	mg_rows_release(&r);
	return 0;
}

/*
 * A value of the type that every row can hold, for a NOT NULL column
 * while nothing real is in it: '' for strings, 0 for numbers, the first
 * value of an ENUM, the Unix epoch for dates (the session runs in UTC and
 * without zero dates). NULL when there is none (spatial types): the
 * column then gets no temporary default.
 */
static char *zero_value(const char *type)
{
	static const char *const strings[] = { "char", "varchar", "tinytext", "text",
		"mediumtext", "longtext", "binary", "varbinary", "tinyblob", "blob",
		"mediumblob", "longblob", "set", "json", "inet6", "inet4", "uuid", NULL };
	static const char *const numbers[] = { "tinyint", "smallint", "mediumint", "int",
		"integer", "bigint", "decimal", "numeric", "dec", "fixed", "float", "double",
		"real", "bit", "bool", "boolean", "serial", NULL };
	char word[32];
	size_t n = 0;

	while (type[n] && n < sizeof(word) - 1 && (isalnum((unsigned char)type[n]) || type[n] == '_')) {
		word[n] = (char)tolower((unsigned char)type[n]);
		n++;
	}
	word[n] = '\0';
	for (const char *const *w = strings; *w; w++)
		if (!strcmp(word, *w))
			return mg_xstrdup(!strcmp(word, "uuid") ? "'00000000-0000-0000-0000-000000000000'" :
					  !strcmp(word, "inet4") ? "'0.0.0.0'" :
					  !strcmp(word, "inet6") ? "'::'" : "''");
	for (const char *const *w = numbers; *w; w++)
		if (!strcmp(word, *w))
			return mg_xstrdup("0");
	if (!strcmp(word, "date"))
		return mg_xstrdup("'1970-01-01'");
	if (!strcmp(word, "datetime"))
		return mg_xstrdup("'1970-01-01 00:00:00'");
	if (!strcmp(word, "timestamp"))
		return mg_xstrdup("'1970-01-01 00:00:01'");
	if (!strcmp(word, "time"))
		return mg_xstrdup("'00:00:00'");
	if (!strcmp(word, "year"))
		return mg_xstrdup("1970");
	if (!strcmp(word, "enum")) {
		const char *open = strchr(type, '\'');
		const char *close = open ? open + 1 : NULL;

		while (close && *close && !(*close == '\'' && close[1] != '\''))
			close += *close == '\'' ? 2 : 1;
		if (close && *close)
			return mg_xstrndup(open, (size_t)(close - open) + 1);
	}
	return NULL;
}

/* ==== planning: per-table work ==================================================== */

/*
 * The core (src/planner.c) keeps the table plan: pairs, primitives by
 * slot. Rendering a table's step reads it through this view, which puts
 * the primitives back into the clause lists the MySQL steps are written
 * from (mytplan_derive): the ALTER clauses of one statement are the
 * primitives of one slot, in the order the core filed them.
 */

/* A copy of an index over a replaced column, on the new column. */
struct idxcopy {
	const char *orig;	/* raw name of the original */
	const char *copy;	/* raw name of the copy */
	const char *kind;	/* "UNIQUE ", "FULLTEXT ", "SPATIAL " or "" */
	struct mg_strlist parts;	/* rendered key parts: `col`(10) DESC */
};

/* The MySQL view of one table plan (borrowed names, owned lists). */
struct tplan {
	struct mytable t;		/* shallow copy of the table's description */
	const struct mg_pair *pairs;
	size_t n_pairs;
	int has_marker;
	int allow_rebuild, allow_copy;
	struct mg_strlist add_cols;		/* ADD COLUMN IF NOT EXISTS ... */
	struct mg_strlist temp_defaults;	/* ALTER COLUMN `c` DROP DEFAULT */
	struct mg_strlist ph_cols, ph_vals;	/* new columns with a placeholder, and it */
	struct mg_strlist row_cols;		/* every column the triggers see, raw */
	struct idxcopy *idx;
	size_t n_idx;
	struct mg_strlist contract_defaults;	/* ALTER COLUMN ... SET DEFAULT */
	struct mg_strlist drop_defaults;	/* the same, for columns contract drops */
	struct mg_strlist drop_default_cols;	/* those columns' names, unquoted */
	struct mg_strlist contract_drops;	/* DROP INDEX/CONSTRAINT/FOREIGN KEY IF EXISTS */
	struct mg_strlist contract_cols;	/* DROP COLUMN IF EXISTS `old` */
	struct mg_strlist dropped;		/* raw names of the columns contract drops */
	struct mg_buf contract_pre;		/* listed drops: views, triggers, other tables' keys */
	struct mg_strlist rollback_defaults;	/* ALTER COLUMN `new` SET DEFAULT zero */
	struct mg_strlist rollback_default_cols;	/* those columns' names, unquoted */
	struct mg_strlist rollback_cols;	/* DROP COLUMN IF EXISTS `new` */
};

/* What rendering needs of the planning session. */
struct planner {
	struct mydrv_conn *mc;
	const struct mg_planner *core;
	const struct mg_migration *m;
	struct mg_plan *plan;
	const char *marker_raw;	/* "_migrate_3" */
};

/* An index over a column (column_dependents): its kind and key parts. */
struct myindex {
	const char *kind;	/* "UNIQUE ", "FULLTEXT ", "SPATIAL " or "" */
	struct mg_strlist cols, sub_parts, orders;	/* raw; "" for none */
};

static void myindex_free(void *p)
{
	struct myindex *x = p;

	mg_strlist_release(&x->cols);
	mg_strlist_release(&x->sub_parts);
	mg_strlist_release(&x->orders);
	free(x);
}

static void planner_init(struct planner *pl, struct mg_conn *c, const struct mg_planner *core,
			 struct mg_plan *plan)
{
	pl->mc = downcast(c);
	pl->core = core;
	pl->m = core->m;
	pl->plan = plan;
	pl->marker_raw = core->marker;
}

static const struct mytable *mytable_of(const struct mg_table_desc *t)
{
	return t->drv;
}

static const struct mycolumn *mycolumn_of(const struct mg_column_desc *c)
{
	return c->drv;
}

static void tplan_release(struct tplan *tp)
{
	for (size_t i = 0; i < tp->n_idx; i++)
		mg_strlist_release(&tp->idx[i].parts);
	free(tp->idx);
	mg_strlist_release(&tp->add_cols);
	mg_strlist_release(&tp->temp_defaults);
	mg_strlist_release(&tp->ph_cols);
	mg_strlist_release(&tp->ph_vals);
	mg_strlist_release(&tp->row_cols);
	mg_strlist_release(&tp->contract_defaults);
	mg_strlist_release(&tp->drop_defaults);
	mg_strlist_release(&tp->drop_default_cols);
	mg_strlist_release(&tp->contract_drops);
	mg_strlist_release(&tp->contract_cols);
	mg_strlist_release(&tp->dropped);
	mg_buf_release(&tp->contract_pre);
	mg_strlist_release(&tp->rollback_defaults);
	mg_strlist_release(&tp->rollback_default_cols);
	mg_strlist_release(&tp->rollback_cols);
}

/*
 * A statement that runs only when cond (a boolean SQL expression) is true:
 * MySQL has no IF outside stored programs, so the statement is prepared
 * from a string chosen by the condition. Idempotence for the steps that
 * cannot say IF EXISTS (RENAME INDEX).
 */
static void add_guarded(struct mydrv_conn *mc, struct mg_buf *b, const char *cond,
			const char *stmt)
{
	mg_buf_addf(b, "SET @_mg_sql = IF(%s, ", cond);
	add_literal(mc, b, stmt);
	mg_buf_adds(b, ", 'DO 0');\nPREPARE _mg_stmt FROM @_mg_sql;\nEXECUTE _mg_stmt;\n"
		    "DEALLOCATE PREPARE _mg_stmt;\n");
}

/* "an index named name exists on table tlit ('t')" as SQL. */
static char *index_exists_in(struct mydrv_conn *mc, const char *tlit, const char *name)
{
	char *nl = lit(mc, name);
	char *s = mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = %s)",
			       tlit, nl);

	free(nl);
	return s;
}

static char *index_exists(struct mydrv_conn *mc, const struct tplan *tp, const char *name)
{
	return index_exists_in(mc, tp->t.lit, name);
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
static char *column_exists_in(struct mydrv_conn *mc, const char *tlit, const char *name)
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
static void dialect_alter(struct mydrv_conn *mc, struct mg_buf *b, const char *table_q,
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
static void join_alter(struct mg_buf *b, const char *table, const struct mg_strlist *parts,
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
static void alter_stmt(const struct planner *pl, struct mg_buf *b, const char *table_q,
		       const char *tlit, const struct mg_strlist *parts, const char *extra,
		       const char *algorithm)
{
	if (!pl->mc->mysql_dialect)
		join_alter(b, table_q, parts, extra, algorithm);
	else if (parts->n || extra)
		dialect_alter(pl->mc, b, table_q, tlit, parts, extra, algorithm, NULL, NULL);
}

/* alter_stmt of one clause. */
static void alter_one(const struct planner *pl, struct mg_buf *b, const char *table_q,
		      const char *tlit, const char *clause, const char *algorithm)
{
	struct mg_strlist parts = MG_STRLIST_INIT;

	mg_strlist_push(&parts, clause);
	alter_stmt(pl, b, table_q, tlit, &parts, NULL, algorithm);
	mg_strlist_release(&parts);
}

/* ==== planning: dependents of a replaced or dropped column ======================== */

/* Append s as a PCRE matching s literally, as a whole word. */
static void add_word_regex(struct mg_buf *b, const char *s)
{
	mg_buf_adds(b, "(?i)\\b");
	for (const char *p = s; *p; p++) {
		if (strchr("\\.^$|?*+()[]{}", *p))
			mg_buf_addc(b, '\\');
		mg_buf_addc(b, *p);
	}
	mg_buf_adds(b, "\\b");
}

/* s as a LIKE pattern for text containing `s` (backquoted), escaped. */
static char *like_quoted(struct mydrv_conn *mc, const char *s)
{
	struct mg_buf b = MG_BUF_INIT;
	char *out;

	mg_buf_adds(&b, "%`");
	for (const char *p = s; *p; p++) {
		if (*p == '%' || *p == '_' || *p == '\\')
			mg_buf_addc(&b, '\\');
		if (*p == '`')
			mg_buf_addc(&b, '`');
		mg_buf_addc(&b, *p);
	}
	mg_buf_adds(&b, "`%");
	out = lit(mc, b.buf);
	mg_buf_release(&b);
	return out;
}

/*
 * SQL returning (what, name, class) for each object that depends on
 * column col of the table and that migrate neither copies nor lets die
 * with the column: views whose text names the table and the column (the
 * catalog has no column dependencies: a text search, on the safe side),
 * generated columns, CHECK constraints, triggers whose body names the
 * column, foreign keys from the column and other tables' foreign keys
 * referencing it. Our own triggers (_mg...) are left out.
 */
static char *others_sql(struct mydrv_conn *mc, const struct mytable *t, const char *col)
{
	struct mg_buf b = MG_BUF_INIT, re = MG_BUF_INIT, tre = MG_BUF_INIT;
	char *cl = lit(mc, col), *clike = like_quoted(mc, col), *tlike = like_quoted(mc, t->name);
	char *rel, *trel;

	add_word_regex(&re, col);
	add_word_regex(&tre, t->name);
	rel = lit(mc, re.buf);
	trel = lit(mc, tre.buf);
	mg_buf_addf(&b,
		"SELECT CONCAT('view `', TABLE_NAME, '`') AS what, TABLE_NAME AS name, 'view' AS class "
		"FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() "
		"AND VIEW_DEFINITION LIKE %s AND VIEW_DEFINITION LIKE %s "
		"UNION ALL SELECT CONCAT('generated column `', COLUMN_NAME, '`'), COLUMN_NAME, 'generated' "
		"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
		"AND COALESCE(GENERATION_EXPRESSION, '') LIKE %s "
		"UNION ALL SELECT CONCAT('check constraint `', cc.CONSTRAINT_NAME, '`'), cc.CONSTRAINT_NAME, 'check' "
		"FROM information_schema.CHECK_CONSTRAINTS cc JOIN information_schema.TABLE_CONSTRAINTS tc "
		"ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME "
		"AND tc.CONSTRAINT_TYPE = 'CHECK' WHERE cc.CONSTRAINT_SCHEMA = DATABASE() "
		"AND tc.TABLE_NAME = %s AND cc.CHECK_CLAUSE LIKE %s "
		"UNION ALL SELECT CONCAT('trigger `', TRIGGER_NAME, '`'), TRIGGER_NAME, 'trigger' "
		"FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
		"AND TRIGGER_NAME NOT LIKE '\\_mg%%' AND (EVENT_OBJECT_TABLE = %s OR ACTION_STATEMENT REGEXP %s) "
		"AND ACTION_STATEMENT REGEXP %s "
		"UNION ALL SELECT CONCAT('foreign key `', CONSTRAINT_NAME, '`'), CONSTRAINT_NAME, 'fk' "
		"FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
		"AND COLUMN_NAME = %s AND REFERENCED_TABLE_NAME IS NOT NULL "
		"UNION ALL SELECT CONCAT('foreign key `', CONSTRAINT_NAME, '` of `', TABLE_NAME, '`'), "
		"CONSTRAINT_NAME, CONCAT('inbound:', TABLE_NAME) "
		"FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_SCHEMA = DATABASE() "
		"AND REFERENCED_TABLE_NAME = %s AND REFERENCED_COLUMN_NAME = %s",
		tlike, clike, t->lit, clike, t->lit, clike, t->lit, trel, rel,
		t->lit, cl, t->lit, cl);
	free(cl);
	free(clike);
	free(tlike);
	free(rel);
	free(trel);
	mg_buf_release(&re);
	mg_buf_release(&tre);
	return mg_buf_detach(&b);
}

/*
 * The dependents of column col (column_dependents): first every object
 * that migrate neither copies nor lets die with the column (others_sql;
 * its class in def: view, trigger, check, fk, generated, inbound with
 * the referencing table in child), then every index over it but the
 * primary key, with its key parts (myindex). Nothing but indexes is
 * carried over on MySQL: the core refuses the objects unless they are
 * listed under drops:, and a generated column even then (it has no name
 * drops: could list).
 */
static int object_dependents(struct mydrv_conn *mc, const struct mytable *t, const char *col,
			     struct mg_dependents *out, struct mg_err *err)
{
	char *q = others_sql(mc, t, col);
	struct mg_rows r = MG_ROWS_INIT;

	if (query_mc(mc, q, &r, err) < 0) {
		free(q);
		return -1;
	}
	free(q);
	for (size_t i = 0; i < r.nrows; i++) {
		struct mg_dependent *d = mg_dependents_add(out, MG_DEP_OBJECT);
		const char *cls = mg_rows_get(&r, i, 2);
		int generated = !strcmp(cls, "generated");

		d->what = mg_xstrdup(mg_rows_get(&r, i, 0));
		d->name = mg_xstrdup(generated ? "" : mg_rows_get(&r, i, 1));
		d->droppable = !generated;
		if (!strncmp(cls, "inbound:", 8)) {
			d->def = mg_xstrdup("inbound");
			d->child = mg_xstrdup(cls + 8);
		} else {
			d->def = mg_xstrdup(cls);
		}
	}
	mg_rows_release(&r);
	out->refusal_tail = " on MySQL/MariaDB";
	out->refusal_hint = "change or drop it first, or name it under 'drops:' in the operation to drop it at contract (generated columns: change them in an earlier migration)";
	return 0;
}

static int index_dependents(struct mydrv_conn *mc, const struct mytable *t, const char *col,
			    struct mg_dependents *out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	char *ol = lit(mc, col);

	mg_buf_addf(&sql, "SELECT s.INDEX_NAME, s.NON_UNIQUE, s.INDEX_TYPE, s.COLUMN_NAME, "
		    "s.SUB_PART, s.COLLATION FROM information_schema.STATISTICS s "
		    "WHERE s.TABLE_SCHEMA = DATABASE() AND s.TABLE_NAME = %s AND s.INDEX_NAME IN ("
		    "SELECT x.INDEX_NAME FROM information_schema.STATISTICS x WHERE x.TABLE_SCHEMA = DATABASE() "
		    "AND x.TABLE_NAME = %s AND x.COLUMN_NAME = %s) ORDER BY s.INDEX_NAME, s.SEQ_IN_INDEX",
		    t->lit, t->lit, ol);
	free(ol);
	if (query_mc(mc, sql.buf, &r, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	mg_buf_release(&sql);
	for (size_t i = 0; i < r.nrows; i++) {
		const char *name = mg_rows_get(&r, i, 0);
		const char *type = mg_rows_get(&r, i, 2);
		struct mg_dependent *d;
		struct myindex *x;

		if (!strcmp(name, "PRIMARY"))
			continue;	/* key columns are refused (refuse_special) */
		if (i > 0 && !strcmp(mg_rows_get(&r, i - 1, 0), name))
			continue;	/* the parts were taken with its first row */
		x = mg_xcalloc(1, sizeof(*x));
		x->kind = !strcmp(type, "FULLTEXT") ? "FULLTEXT " : !strcmp(type, "SPATIAL") ? "SPATIAL " :
			  !strcmp(mg_rows_get(&r, i, 1), "0") ? "UNIQUE " : "";
		for (size_t k = i; k < r.nrows && !strcmp(mg_rows_get(&r, k, 0), name); k++) {
			mg_strlist_push(&x->cols, mg_rows_get(&r, k, 3));
			mg_strlist_push(&x->sub_parts, mg_rows_get(&r, k, 4) ? mg_rows_get(&r, k, 4) : "");
			mg_strlist_push(&x->orders, mg_rows_get(&r, k, 5) ? mg_rows_get(&r, k, 5) : "");
		}
		d = mg_dependents_add(out, MG_DEP_INDEX);
		d->name = mg_xstrdup(name);
		d->what = mg_xasprintf("index `%s`", name);
		d->unique = *x->kind == 'U';
		d->drv = x;
		d->drv_free = myindex_free;
	}
	mg_rows_release(&r);
	return 0;
}

static int mydrv_column_dependents(struct mg_conn *c, const struct mg_planner *pl,
				   const struct mg_table_desc *t, const char *col,
				   const struct mg_column_desc *cd, struct mg_dependents *out,
				   struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);

	(void)pl;
	(void)cd;
	if (object_dependents(mc, mytable_of(t), col, out, err) < 0)
		return -1;
	return index_dependents(mc, mytable_of(t), col, out, err);
}

/* The contract re-check of column col: what others_sql finds, but what
 * op lists under drops:. */
static char *dep_check_sql(struct planner *pl, const struct tplan *tp, const struct mg_op *op,
			   const char *col)
{
	struct mg_buf check = MG_BUF_INIT;
	char *q = others_sql(pl->mc, &tp->t, col);
	char *cl = lit(pl->mc, col);

	mg_buf_addf(&check, "SELECT CONCAT(o.what, ' depends on column ', %s) FROM (%s) o", cl, q);
	if (op->n_drops) {
		mg_buf_adds(&check, " WHERE o.name NOT IN (");
		for (size_t i = 0; i < op->n_drops; i++) {
			if (i)
				mg_buf_adds(&check, ", ");
			add_literal(pl->mc, &check, op->drops[i]);
		}
		mg_buf_adds(&check, ")");
	}
	free(cl);
	free(q);
	return mg_buf_detach(&check);
}

/* A dependent contract drops (listed under drops:, or an index over a
 * replaced or dropped column): views, triggers and other tables' foreign
 * keys before the columns, constraints and indexes as clauses of the
 * ALTER that drops them. */
static void plan_listed_drop(struct planner *pl, struct tplan *tp, const struct mg_dependent *d)
{
	char *qn = qi(d->name);

	if (d->kind == MG_DEP_INDEX)
		mg_strlist_push_owned(&tp->contract_drops, mg_xasprintf("DROP INDEX IF EXISTS %s", qn));
	else if (!strcmp(d->def, "view"))
		mg_buf_addf(&tp->contract_pre, "DROP VIEW IF EXISTS %s;\n", qn);
	else if (!strcmp(d->def, "trigger"))
		mg_buf_addf(&tp->contract_pre, "DROP TRIGGER IF EXISTS %s;\n", qn);
	else if (!strcmp(d->def, "check"))
		mg_strlist_push_owned(&tp->contract_drops, mg_xasprintf("DROP CONSTRAINT IF EXISTS %s", qn));
	else if (!strcmp(d->def, "fk"))
		mg_strlist_push_owned(&tp->contract_drops, mg_xasprintf("DROP FOREIGN KEY IF EXISTS %s", qn));
	else if (!strcmp(d->def, "inbound")) {
		char *qc = qi(d->child), *lc = lit(pl->mc, d->child);
		char *clause = mg_xasprintf("DROP FOREIGN KEY IF EXISTS %s", qn);

		alter_one(pl, &tp->contract_pre, qc, lc, clause, MYDRV_ALG_NOCOPY);
		free(clause);
		free(qc);
		free(lc);
	}
	free(qn);
}

/* One key part of an index copy as SQL, renamed by the copy's renames. */
static char *key_part(const struct mg_prim *p, const struct myindex *x, size_t k)
{
	const char *col = x->cols.items[k];
	const char *sub = *x->sub_parts.items[k] ? x->sub_parts.items[k] : NULL;
	char *qc, *s;

	for (size_t i = 0; i < p->from.n; i++)
		if (!strcmp(col, p->from.items[i]))
			col = p->to.items[i];
	qc = qi(col);
	s = mg_xasprintf("%s%s%s%s%s", qc, sub ? "(" : "", sub ? sub : "", sub ? ")" : "",
			 !strcmp(x->orders.items[k], "D") ? " DESC" : "");
	free(qc);
	return s;
}

/* ==== planning: catalog answers ======================================================= */

/* -1 when no earlier operation of the migration adds, replaces or drops
 * column col of the table named name, else 1 (replaced or dropped) or 0
 * (added); the latest counts. Column names compare without case. */
static int overlay_find(const struct mg_planner *core, const char *name, const char *col)
{
	int found = -1;

	for (size_t i = 0; i < core->n_overlay; i++)
		if (!strcmp(core->overlay[i].table_id, name) &&
		    !strcasecmp(core->overlay[i].column, col))
			found = core->overlay[i].replaced;
	return found;
}

static void mytable_free(void *p)
{
	mytable_release(p);
	free(p);
}

static void mycolumn_free(void *p)
{
	mycolumn_release(p);
	free(p);
}

/* The table of op->table: resolve_table, identity = its name. */
static int mydrv_describe_table(struct mg_conn *c, const struct mg_planner *core,
				const struct mg_op *op, struct mg_table_desc *out,
				struct mg_err *err)
{
	struct mytable *t = mg_xcalloc(1, sizeof(*t));

	out->drv = t;
	out->drv_free = mytable_free;
	if (resolve_table(downcast(c), core->m, op, t, err) < 0)
		return -1;
	out->id = mg_xstrdup(t->name);
	out->q = mg_xstrdup(t->q);
	out->relname = mg_xstrdup(t->name);
	out->key.n = t->n_keys;
	out->key.cols = mg_xcalloc(t->n_keys + 1, sizeof(char *));
	out->key.types = mg_xcalloc(t->n_keys + 1, sizeof(char *));
	for (size_t k = 0; k < t->n_keys; k++) {
		out->key.cols[k] = mg_xstrdup(t->key_cols[k]);
		out->key.types[k] = mg_xstrdup(t->key_types[k]);
	}
	out->key_problem = t->key_problem;
	out->max_ident = MYDRV_MAX_IDENT;
	out->utf8_names = 1;
	return 0;
}

/* Does text contain word, ignoring case? */
static int has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; *p; p++)
		if (!strncasecmp(p, word, n))
			return 1;
	return 0;
}

/* A column as the catalog has it: COLUMN_TYPE is the type a copy gets;
 * what migrate cannot replace or drop is said in unsupported. */
static int mydrv_describe_column(struct mg_conn *c, const struct mg_planner *core,
				 const struct mg_table_desc *t, const char *name,
				 struct mg_column_desc *out, struct mg_err *err)
{
	struct mycolumn *mcol = mg_xcalloc(1, sizeof(*mcol));
	int rc;

	(void)core;
	out->drv = mcol;
	out->drv_free = mycolumn_free;
	rc = fetch_column(downcast(c), mytable_of(t), name, mcol, err);
	if (rc != 0)
		return rc;
	out->type = mg_xstrdup(mcol->column_type);
	out->notnull = mcol->notnull;
	out->default_expr = mg_xstrdup(mcol->default_expr);
	out->comment = mg_xstrdup(mcol->comment);
	if (has_word(mcol->extra, "auto_increment"))
		out->unsupported = "is AUTO_INCREMENT";
	else if (has_word(mcol->extra, "GENERATED") || has_word(mcol->extra, "VIRTUAL") ||
		 has_word(mcol->extra, "PERSISTENT") || has_word(mcol->extra, "STORED"))
		out->unsupported = "is a generated column";
	return 0;
}

/* The lexical check of an expression (sqltext.h), with its position: the
 * connection runs several statements per request, so text that could end
 * its statement must never reach the server, not even to be checked. */
static int check_expr_text(struct planner *pl, const char *what, const char *expr,
			   struct mg_pos pos, struct mg_err *err)
{
	const char *why;

	if (mg_sqltext_check_expr(expr, MG_SQL_MYSQL, &why) == 0)
		return 0;
	mg_plan_pos_error(err, MG_EINPUT, pl->m, pos, "%s '%s' %s", what, expr, why);
	return mg_err_hint(err, "write one SQL expression: no ';', no comments, balanced parentheses, no backslash in a string; statements of their own belong in a sql step");
}

/* A typo in an expression would break every write through the trigger:
 * evaluate it against the table (no rows read) before anything changes. */
static int check_row_expr(struct planner *pl, const struct mytable *t, const char *expr,
			  struct mg_pos pos, struct mg_err *err)
{
	char *sql;
	int rc;

	if (check_expr_text(pl, "expression", expr, pos, err) < 0)
		return -1;
	sql = mg_xasprintf("SELECT (%s) FROM %s LIMIT 0", expr, t->q);
	rc = exec_mc(pl->mc, sql, err);
	free(sql);
	if (rc < 0) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		mg_plan_pos_error(err, MG_EINPUT, pl->m, pos,
			  "expression '%s' does not work on %s: %s", expr, t->q, msg);
		return mg_err_hint(err, "write an expression over the columns of %s", t->q);
	}
	return 0;
}

/* The server knows the character set and collation a canonical type
 * names (the grammar made them identifier-shaped). */
static int check_type_names(struct planner *pl, const struct mg_op *op, const char *type,
			    struct mg_err *err)
{
	static const char *const what[][3] = {
		{ " character set ", "CHARACTER_SETS", "CHARACTER_SET_NAME" },
		{ " collate ", "COLLATIONS", "COLLATION_NAME" },
	};

	for (size_t k = 0; k < 2; k++) {
		const char *at = strstr(type, what[k][0]);
		char *name, *sql;
		int64_t n = 0;
		int rc;

		if (!at)
			continue;
		at += strlen(what[k][0]);
		name = mg_xstrndup(at, strcspn(at, " "));
		sql = mg_xasprintf("SELECT COUNT(*) FROM information_schema.%s WHERE %s = '%s'",
				   what[k][1], what[k][2], name);
		rc = query_int(pl->mc, sql, &n, err);
		free(sql);
		if (rc == 0 && n == 0) {
			mg_plan_pos_error(err, MG_EINPUT, pl->m, op->type_pos, "type '%s': the server has no %s '%s'",
				  op->type, k ? "collation" : "character set", name);
			mg_err_hint(err, "see SHOW %s", k ? "COLLATION" : "CHARACTER SET");
			rc = -1;
		}
		free(name);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* The type of a new column, by the grammar of sqltext.c: *out is its
 * canonical text (lowercase keywords), owned by the caller. */
static int canonical_type(struct planner *pl, const struct mg_op *op, char **out,
			  struct mg_err *err)
{
	const char *why;

	if (mg_sqltext_mysql_type(op->type, out, &why) < 0) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->type_pos, "type '%s' %s", op->type, why);
		return mg_err_hint(err, "%s", mg_sqltext_mysql_types_hint);
	}
	if (check_type_names(pl, op, *out, err) < 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static int mydrv_check_expr(struct mg_conn *c, const struct mg_planner *core,
			    const struct mg_table_desc *t, enum mg_expr_use use,
			    const char *expr, struct mg_pos pos, struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, core, core->plan);
	if (use == MG_EXPR_TEXT)
		return check_expr_text(&pl, "expression", expr, pos, err);
	return check_row_expr(&pl, mytable_of(t), expr, pos, err);
}

static int mydrv_canonical_type(struct mg_conn *c, const struct mg_planner *core,
				const struct mg_op *op, char **out, struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, core, core->plan);
	return canonical_type(&pl, op, out, err);
}

static char *mydrv_placeholder_value(struct mg_conn *c, const char *type)
{
	(void)c;
	return zero_value(type);
}

/* Types MySQL/MariaDB index only by a prefix (`col`(100)), which
 * `columns:` cannot say. JSON is LONGTEXT on MariaDB. */
static int is_lob_type(const char *data_type)
{
	static const char *const lobs[] = { "tinytext", "text", "mediumtext", "longtext",
		"tinyblob", "blob", "mediumblob", "longblob", "json", NULL };

	for (const char *const *w = lobs; *w; w++)
		if (!strcasecmp(data_type, *w))
			return 1;
	return 0;
}

/*
 * An index of this name on the table already: fine when it is the same
 * index (an expand that stopped after building it runs again), MG_EINPUT
 * otherwise, since ADD INDEX IF NOT EXISTS would keep the other one and
 * rollback would drop it.
 */
static int check_existing_index(struct planner *pl, const struct mg_op *op,
				const struct mytable *t, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	int same, rc = -1;

	mg_buf_addf(&sql, "SELECT COLUMN_NAME, NON_UNIQUE, SUB_PART, INDEX_TYPE "
		    "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
		    "AND TABLE_NAME = %s AND INDEX_NAME = ", t->lit);
	add_literal(pl->mc, &sql, op->index_name);
	mg_buf_adds(&sql, " ORDER BY SEQ_IN_INDEX");
	if (query_mc(pl->mc, sql.buf, &r, err) < 0)
		goto out;
	same = r.nrows == op->n_columns;
	for (size_t k = 0; same && k < r.nrows; k++) {
		const char *col = mg_rows_get(&r, k, 0);
		const char *non_unique = mg_rows_get(&r, k, 1);
		const char *type = mg_rows_get(&r, k, 3);

		same = col && !strcasecmp(col, op->columns[k]) && !mg_rows_get(&r, k, 2) &&
		       non_unique && atoi(non_unique) == !op->unique && type && !strcmp(type, "BTREE");
	}
	if (r.nrows && !same) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->pos, "an index named '%s' already exists on %s, with another definition",
			  op->index_name, t->q);
		mg_err_hint(err, "choose another name for the index, or drop the existing one first");
		goto out;
	}
	rc = 0;
out:
	mg_rows_release(&r);
	mg_buf_release(&sql);
	return rc;
}

/*
 * create_index: checked here, rendered by emit_index_op(). What the file
 * format allows and InnoDB lacks is refused where the file says it: a
 * partial index (`where:`) and methods other than B-tree (InnoDB accepts
 * USING HASH and builds a B-tree). Expressions cannot be written in
 * `columns:` (names only); MySQL 8.0.13+ has functional key parts
 * ((expr)) and MariaDB has none, so an index over an expression is a sql
 * step over a generated column.
 */
static int check_create_index(struct planner *pl, const struct mg_op *op,
			      const struct mytable *t, struct mg_err *err)
{

	if (op->where) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->where_pos,
			  "a partial index ('where') is not supported on MySQL/MariaDB: their indexes cover every row");
		return mg_err_hint(err, "remove 'where' to index every row (a unique index there allows any number of NULLs, as a partial one WHERE col IS NOT NULL would)");
	}
	if (op->method && strcasecmp(op->method, "btree") != 0) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->method_pos,
			  "index method '%s' is not supported on MySQL/MariaDB: InnoDB builds B-tree indexes only",
			  op->method);
		return mg_err_hint(err, "remove 'method' (or write 'method: btree'); a FULLTEXT or SPATIAL index is a sql step");
	}
	for (size_t k = 0; k < op->n_columns; k++) {
		struct mycolumn c;
		int ov = overlay_find(pl->core, t->name, op->columns[k]);
		int rc;

		if (ov == 0)
			continue;	/* added earlier in this migration */
		memset(&c, 0, sizeof(c));
		rc = ov == 1 ? 1 : fetch_column(pl->mc, t, op->columns[k], &c, err);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return mg_plan_pos_error(err, MG_EINPUT, pl->m, op->columns_pos,
					 "column '%s' of index '%s' does not exist in %s",
					 op->columns[k], op->index_name, t->q);
		if (is_lob_type(c.data_type)) {
			mg_plan_pos_error(err, MG_EINPUT, pl->m, op->columns_pos,
				  "column '%s' of %s is %s: MySQL/MariaDB index only a prefix of it, which create_index cannot say",
				  op->columns[k], t->q, c.data_type);
			mycolumn_release(&c);
			return mg_err_hint(err, pl->mc->mysql_dialect ?
					   "use a sql step: ALTER TABLE ... ADD INDEX name (col(100)), ALGORITHM=INPLACE, LOCK=NONE" :
					   "use a sql step: ALTER TABLE ... ADD INDEX name (col(100)), ALGORITHM=NOCOPY, LOCK=NONE");
		}
		mycolumn_release(&c);
	}
	return check_existing_index(pl, op, t, err);
}


static int mydrv_check_index(struct mg_conn *c, const struct mg_planner *core,
			     const struct mg_op *op, const struct mg_table_desc *t,
			     struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, core, core->plan);
	return check_create_index(&pl, op, mytable_of(t), err);
}

/* ==== planning: the table plan as MySQL writes it ====================================== */

/*
 * The new column at expand (design note 4): nullable as NULL; NOT NULL as
 * NOT NULL DEFAULT <placeholder>, which is instant, lets the old version's
 * inserts (which do not name it) through before the triggers exist, and is
 * dropped again at the end of the expand step (ALTER COLUMN ... DROP
 * DEFAULT, instant), so that from then on an insert that does not name the
 * column shows NULL to the BEFORE INSERT trigger, exactly as on
 * PostgreSQL: the trigger tells the two versions apart by NULL, never by
 * comparing with a value the new version might really write. The
 * placeholder in existing rows is overwritten by the backfill (the marker,
 * not the value, says whether a row is done). At contract the column gets
 * its final default; at rollback the placeholder again, before the
 * triggers go, so the old version's inserts stay valid until the column
 * is gone.
 */
static void add_new_column(struct planner *pl, struct tplan *tp, const struct mg_prim *p)
{
	const struct mycolumn *like = p->op->kind == MG_OP_RENAME_COLUMN && p->old ?
				      mycolumn_of(p->old) : NULL;
	struct mg_buf b = MG_BUF_INIT;
	char *qc = qi(p->column);
	const char *zero = p->notnull ? p->text : NULL;

	mg_buf_addf(&b, "ADD COLUMN IF NOT EXISTS %s %s", qc, p->type);
	if (like && like->charset && like->collation)
		mg_buf_addf(&b, " CHARACTER SET %s COLLATE %s", like->charset, like->collation);
	if (zero) {
		mg_buf_addf(&b, " NOT NULL DEFAULT %s", zero);
		mg_strlist_push_owned(&tp->temp_defaults, mg_xasprintf("ALTER COLUMN %s DROP DEFAULT", qc));
		mg_strlist_push(&tp->ph_cols, p->column);
		mg_strlist_push(&tp->ph_vals, zero);
		mg_strlist_push_owned(&tp->rollback_defaults,
				      mg_xasprintf("ALTER COLUMN %s SET DEFAULT %s", qc, zero));
		mg_strlist_push(&tp->rollback_default_cols, p->column);
	} else {
		mg_buf_adds(&b, " NULL");
	}
	if (like && like->comment) {
		mg_buf_adds(&b, " COMMENT ");
		add_literal(pl->mc, &b, like->comment);
	}
	mg_strlist_push_owned(&tp->add_cols, mg_buf_detach(&b));
	mg_strlist_push_owned(&tp->rollback_cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qc));
	mg_strlist_push(&tp->row_cols, p->column);
	free(qc);
}

/* The column contract drops: NOT NULL without a default gets a
 * placeholder default first (the core found it: p->text), so that the
 * new version's inserts (which do not name it) stay valid between
 * dropping the triggers and dropping it. */
static void drop_old_column(struct tplan *tp, const struct mg_prim *p)
{
	char *qc = qi(p->column);

	if (p->text) {
		mg_strlist_push_owned(&tp->drop_defaults,
				      mg_xasprintf("ALTER COLUMN %s SET DEFAULT %s", qc, p->text));
		mg_strlist_push(&tp->drop_default_cols, p->column);
	}
	mg_strlist_push_owned(&tp->contract_cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qc));
	mg_strlist_push(&tp->dropped, p->column);
	free(qc);
}

/* The final default of a new column at contract. MySQL's ALTER COLUMN
 * ... SET DEFAULT takes a literal or (expr): add_column's expression goes
 * in parentheses there in the MySQL dialect; a renamed column's default
 * is the catalog's SQL already. */
static void contract_default(struct planner *pl, struct tplan *tp, const struct mg_prim *p)
{
	char *qc = qi(p->column);

	mg_strlist_push_owned(&tp->contract_defaults,
			      mg_xasprintf(pl->mc->mysql_dialect && p->op->kind == MG_OP_ADD_COLUMN ?
					   "ALTER COLUMN %s SET DEFAULT (%s)" :
					   "ALTER COLUMN %s SET DEFAULT %s", qc, p->text));
	free(qc);
}

/* A copy of index p->dep on the new column(s), built at switch-reads. */
static void index_copy(struct tplan *tp, const struct mg_prim *p)
{
	const struct myindex *x = p->dep->drv;
	struct idxcopy *c;

	tp->idx = mg_xrealloc(tp->idx, (tp->n_idx + 1) * sizeof(*tp->idx));
	c = &tp->idx[tp->n_idx++];
	memset(c, 0, sizeof(*c));
	c->orig = p->dep->name;
	c->copy = p->name;
	c->kind = x->kind;
	for (size_t k = 0; k < x->cols.n; k++)
		mg_strlist_push_owned(&c->parts, key_part(p, x, k));
}

/* The fallbacks an operation of the table allows: every operation on it
 * left a primitive. */
static void allows(struct tplan *tp, const struct mg_tplan *ctp)
{
	for (size_t s = 0; s < MG_NSLOTS; s++)
		for (size_t i = 0; i < ctp->slot[s].n; i++) {
			tp->allow_rebuild |= ctp->slot[s].v[i]->op->allow_rebuild;
			tp->allow_copy |= ctp->slot[s].v[i]->op->allow_copy;
		}
}

/* The MySQL view of the core's table plan ctp (tplan_release). */
static void tplan_derive(struct planner *pl, const struct mg_tplan *ctp, struct tplan *tp)
{
	const struct mg_prims *sl = ctp->slot;

	memset(tp, 0, sizeof(*tp));
	tp->t = *mytable_of(&ctp->t);
	tp->pairs = ctp->pairs;
	tp->n_pairs = ctp->n_pairs;
	tp->has_marker = ctp->has_marker;
	mg_buf_init(&tp->contract_pre);
	allows(tp, ctp);
	for (size_t i = 0; i < tp->t.cols.n; i++)
		mg_strlist_push(&tp->row_cols, tp->t.cols.items[i]);
	for (size_t i = 0; i < sl[MG_SLOT_ADD_COLUMNS].n; i++)
		add_new_column(pl, tp, sl[MG_SLOT_ADD_COLUMNS].v[i]);
	for (size_t i = 0; i < sl[MG_SLOT_INDEX_COPIES].n; i++)
		index_copy(tp, sl[MG_SLOT_INDEX_COPIES].v[i]);
	for (size_t i = 0; i < sl[MG_SLOT_CONTRACT_POST].n; i++)
		if (sl[MG_SLOT_CONTRACT_POST].v[i]->kind == MG_PRIM_SET_DEFAULT)
			contract_default(pl, tp, sl[MG_SLOT_CONTRACT_POST].v[i]);
	for (size_t i = 0; i < sl[MG_SLOT_CONTRACT_PRE].n; i++)
		plan_listed_drop(pl, tp, sl[MG_SLOT_CONTRACT_PRE].v[i]->dep);
	for (size_t i = 0; i < sl[MG_SLOT_CONTRACT_COLUMNS].n; i++)
		drop_old_column(tp, sl[MG_SLOT_CONTRACT_COLUMNS].v[i]);
}

/* ==== planning: rendering steps ===================================================== */

static int is_quoted_ident(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || s[0] != '`' || s[n - 1] != '`')
		return 0;
	for (size_t i = 1; i < n - 1; i++)
		if (s[i] == '`' && s[++i] != '`')
			return 0;
	return 1;
}

/*
 * An expression over the row being written, usable in a trigger. The
 * user's expressions name bare columns; a trigger only has NEW.col, so
 * the expression runs over a one-row derived table that gives every
 * column of the table its name (MariaDB accepts NEW in a derived table
 * inside a trigger body; checked on 10.11).
 */
static void row_expr(struct mg_buf *b, const struct tplan *tp, const char *expr)
{
	if (is_quoted_ident(expr)) {
		mg_buf_addf(b, "NEW.%s", expr);
		return;
	}
	mg_buf_addf(b, "(SELECT (%s) FROM (SELECT ", expr);
	for (size_t i = 0; i < tp->row_cols.n; i++) {
		char *q = qi(tp->row_cols.items[i]);

		mg_buf_addf(b, "%sNEW.%s AS %s", i ? ", " : "", q, q);
		free(q);
	}
	mg_buf_adds(b, ") AS _mg_row)");
}

/*
 * `_mg<id>_<table>_bi` / `_bu`. A name longer than 64 characters keeps
 * the start of the table name and 8 hex digits of its SHA-256, so that two
 * long names with the same start still get different triggers.
 */
static char *trigger_name(const struct planner *pl, const struct tplan *tp, const char *event)
{
	char *full = mg_xasprintf("_mg%d_%s_%s", pl->m->id, tp->t.name, event);
	char hex[65], *tail, *out;

	if (utf8_chars(full) <= MYDRV_MAX_IDENT && strlen(full) <= MYDRV_MAX_IDENT)
		return full;
	free(full);
	mg_sha256_hex(hex, tp->t.name, strlen(tp->t.name));
	tail = mg_xasprintf("_%.8s_%s", hex, event);
	full = mg_xasprintf("_mg%d_%s", pl->m->id, tp->t.name);
	out = mkname(full, tail);
	free(full);
	free(tail);
	return out;
}

/* " FOLLOWS `last`" after the user's last BEFORE trigger for the event,
 * so ours see what the user's triggers wrote; "" when there is none. */
static char *follows_clause(struct planner *pl, const struct tplan *tp, const char *event,
			    struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	char *last = NULL, *out;

	mg_buf_addf(&sql, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
		    "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s "
		    "AND ACTION_TIMING = 'BEFORE' AND EVENT_MANIPULATION = '%s' "
		    "AND TRIGGER_NAME NOT LIKE '\\_mg%d\\_%%' ORDER BY ACTION_ORDER DESC LIMIT 1",
		    tp->t.lit, event, pl->m->id);
	if (query_scalar(pl->mc, sql.buf, &last, err) < 0) {
		mg_buf_release(&sql);
		return NULL;
	}
	mg_buf_release(&sql);
	if (!last)
		return mg_xstrdup("");
	{
		char *q = qi(last);

		out = mg_xasprintf(" FOLLOWS %s", q);
		free(q);
	}
	free(last);
	return out;
}

/*
 * The head of a trigger: the backfill's own writes (it sets both sides
 * itself) pass untouched; MySQL triggers have no WHEN clause. The test is
 * the body's first statement and the variables are declared in the block
 * it guards: MariaDB sets up a trigger's local variables on every row it
 * fires for, and with them at the top the backfill spent about a sixth
 * of its time in its own trigger (measured on 300k rows: 3.44 s against
 * 2.90 s). marked_passes: a row whose marker is already set passes too
 * (emit_dialect_triggers). trigger_tail() closes both.
 */
static void trigger_head(struct mg_buf *b, const struct planner *pl, const struct tplan *tp,
			 const char *create, const char *name, const char *event,
			 const char *follows, int marked_passes)
{
	char *q = qi(name);
	char *qm = qi(pl->marker_raw);

	mg_buf_addf(b, "%s %s BEFORE %s ON %s FOR EACH ROW%s\nBEGIN\n"
		    "  IF NOT (@migrate_backfill <=> %d", create, q, event, tp->t.q, follows,
		    pl->m->id);
	if (marked_passes)
		mg_buf_addf(b, " OR NEW.%s <> 0", qm);
	mg_buf_adds(b, ") THEN BEGIN\n"
		    "    DECLARE _mg_writer VARCHAR(16) DEFAULT NULLIF(@migrate_writer, '');\n"
		    "    DECLARE _mg_new BOOLEAN DEFAULT FALSE;\n"
		    "    DECLARE _mg_old BOOLEAN DEFAULT FALSE;\n");
	free(q);
	free(qm);
}

static void trigger_tail(struct mg_buf *b)
{
	mg_buf_adds(b, "  END; END IF;\nEND;\n");
}

/*
 * The dual-write triggers (design §6), postgres.c's render_trigger in
 * MySQL: on INSERT a pair whose new side is set is the new version's
 * (old := down(new), marker 2), otherwise the old version's (new :=
 * up(old), marker 1); on UPDATE whichever side changed wins, the new one on
 * conflict; a row untouched so far gets new := up(old). @migrate_writer
 * ('new' or 'old') overrides the guess, as migrate.writer does.
 */
/* The placeholder of new column col while it has one, or NULL. */
static const char *placeholder(const struct tplan *tp, const char *col)
{
	for (size_t i = 0; col && i < tp->ph_cols.n; i++)
		if (!strcmp(tp->ph_cols.items[i], col))
			return tp->ph_vals.items[i];
	return NULL;
}

/* "the insert wrote the new column": NOT NULL, as on PostgreSQL; in the
 * transitional trigger, while the column still has (or has just lost)
 * its placeholder DEFAULT, "neither NULL nor the placeholder" (see
 * emit_table_expand). */
static void new_side_written(struct mg_buf *b, const struct tplan *tp, const char *col,
			     const char *qn, int transitional)
{
	const char *ph = transitional ? placeholder(tp, col) : NULL;

	if (ph)
		mg_buf_addf(b, "(NEW.%s IS NOT NULL AND NEW.%s <> %s)", qn, qn, ph);
	else
		mg_buf_addf(b, "NEW.%s IS NOT NULL", qn);
}

/* The insert trigger `create`d as _mg<id>_<table>_<suffix>; with
 * marked_passes, a row whose marker is set already passes untouched (see
 * emit_table_expand). */
static void render_insert_trigger(struct mg_buf *b, const struct planner *pl,
				  const struct tplan *tp, const char *follows, int transitional,
				  const char *create, const char *suffix, int marked_passes)
{
	char *name = trigger_name(pl, tp, suffix);
	char *qm = qi(pl->marker_raw);

	trigger_head(b, pl, tp, create, name, "INSERT", follows, marked_passes);
	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qo = p->old_col ? qi(p->old_col) : NULL;
		char *qn = p->new_col ? qi(p->new_col) : NULL;

		if (p->kind == MG_PAIR_REPLACE) {
			mg_buf_adds(b, "    IF COALESCE(_mg_writer = 'new', ");
			new_side_written(b, tp, p->new_col, qn, transitional);
			mg_buf_addf(b, ") THEN\n      SET NEW.%s = ", qo);
			row_expr(b, tp, p->down);
			mg_buf_addf(b, ";\n      SET _mg_new = TRUE;\n    ELSE\n      SET NEW.%s = ", qn);
			row_expr(b, tp, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else if (p->kind == MG_PAIR_ADD) {
			mg_buf_adds(b, "    IF ");
			new_side_written(b, tp, p->new_col, qn, transitional);
			mg_buf_addf(b, " OR _mg_writer <=> 'new' THEN\n"
				    "      SET _mg_new = TRUE;\n    ELSE\n      SET NEW.%s = ", qn);
			row_expr(b, tp, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else {
			mg_buf_addf(b, "    IF NEW.%s IS NULL THEN\n      SET NEW.%s = ", qo, qo);
			row_expr(b, tp, p->down);
			mg_buf_adds(b, ";\n    END IF;\n");
		}
		free(qo);
		free(qn);
	}
	if (tp->has_marker)
		mg_buf_addf(b, "    SET NEW.%s = IF(_mg_new, 2, 1);\n", qm);
	trigger_tail(b);
	free(name);
	free(qm);
}

static void render_update_trigger(struct mg_buf *b, const struct planner *pl,
				  const struct tplan *tp, const char *follows)
{
	char *name = trigger_name(pl, tp, "bu");
	char *qm = qi(pl->marker_raw);

	trigger_head(b, pl, tp, "CREATE TRIGGER IF NOT EXISTS", name, "UPDATE", follows, 0);
	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qo = p->old_col ? qi(p->old_col) : NULL;
		char *qn = p->new_col ? qi(p->new_col) : NULL;

		if (p->kind != MG_PAIR_DROP && p->up)
			mg_buf_addf(b, "    SET _mg_new = _mg_new OR NOT (NEW.%s <=> OLD.%s);\n", qn, qn);
		if (p->kind == MG_PAIR_REPLACE)
			mg_buf_addf(b, "    SET _mg_old = _mg_old OR NOT (NEW.%s <=> OLD.%s);\n", qo, qo);
		free(qo);
		free(qn);
	}
	mg_buf_adds(b, "    IF _mg_writer <=> 'new' THEN\n      SET _mg_new = TRUE;\n"
		    "    ELSEIF _mg_writer <=> 'old' THEN\n      SET _mg_new = FALSE;\n      SET _mg_old = TRUE;\n    END IF;\n");
	/* each pair follows the side of it that changed: a write to one new
	 * column never recomputes another pair's old column */
	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qo = p->old_col ? qi(p->old_col) : NULL;
		char *qn = p->new_col ? qi(p->new_col) : NULL;

		if (p->kind == MG_PAIR_REPLACE) {
			mg_buf_addf(b, "    IF _mg_writer <=> 'new' OR (_mg_writer IS NULL AND NOT (NEW.%s <=> OLD.%s)) THEN\n      SET NEW.%s = ",
				    qn, qn, qo);
			row_expr(b, tp, p->down);
			mg_buf_addf(b, ";\n    ELSEIF _mg_writer <=> 'old' OR NOT (NEW.%s <=> OLD.%s) OR NEW.%s = 0 THEN\n      SET NEW.%s = ",
				    qo, qo, qm, qn);
			row_expr(b, tp, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else if (p->kind == MG_PAIR_ADD && p->up) {
			/* not "IS NULL" as on PostgreSQL: a NOT NULL column holds
			 * its placeholder until the row is written */
			mg_buf_addf(b, "    IF NEW.%s = 0 AND NEW.%s <=> OLD.%s AND NOT (_mg_writer <=> 'new') THEN\n      SET NEW.%s = ",
				    qm, qn, qn, qn);
			row_expr(b, tp, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		}
		free(qo);
		free(qn);
	}
	mg_buf_addf(b, "    IF _mg_new THEN\n      SET NEW.%s = 2;\n    ELSEIF _mg_old OR NEW.%s = 0 THEN\n"
		    "      SET NEW.%s = 1;\n    END IF;\n", qm, qm, qm);
	trigger_tail(b);
	free(name);
	free(qm);
}

/*
 * Our triggers, the update trigger first: every DROP TRIGGER commits on
 * its own, and the state after one of them lasts for the lock retries of
 * the next (the step starts over) or until a run after a crash. With the
 * insert trigger gone and the update trigger still there, a row the new
 * version inserted would keep marker 0, and its next update that leaves
 * the new column as it is would look like the old version's first write
 * to a row the backfill has not reached: the new column recomputed with
 * `up`, the new version's value lost. The other way round nothing reads
 * the marker of a row the new version updates. (Expand creates the
 * update trigger first too, for the old version's sake: see
 * emit_table_expand.) The MySQL dialect's transitional insert trigger,
 * _bt, stays only when expand stopped halfway.
 */
static void render_drop_triggers(struct mg_buf *b, const struct planner *pl, const struct tplan *tp)
{
	static const char *const order[] = { "bu", "bi", "bt" };

	for (int k = 0; k < (pl->mc->mysql_dialect ? 3 : 2); k++) {
		char *name = trigger_name(pl, tp, order[k]);
		char *q = qi(name);

		mg_buf_addf(b, "DROP TRIGGER IF EXISTS %s;\n", q);
		free(name);
		free(q);
	}
}

/* The options of a step: the fallbacks its operations allow (the
 * runner reads them: run_ddl_step). */
static unsigned allow_options(int rebuild, int copy)
{
	return (rebuild ? MG_STEP_ALLOW_REBUILD : 0) | (copy ? MG_STEP_ALLOW_COPY : 0);
}

static void allow(struct mg_step *st, const struct tplan *tp)
{
	st->options = allow_options(tp->allow_rebuild, tp->allow_copy);
}

/*
 * Defaults for columns the same step drops later (rollback: the new NOT
 * NULL columns get their placeholder back; contract: dropped NOT NULL
 * columns get one), set only while the columns exist: a rerun after they
 * went (a crash before the history row was written) finds nothing to do.
 * The columns go together in one ALTER, so one of them tells.
 */
static void add_defaults_of_dropped(struct planner *pl, const struct tplan *tp,
				    const struct mg_strlist *defaults,
				    const struct mg_strlist *cols, struct mg_buf *b)
{
	struct mg_buf alter = MG_BUF_INIT;

	join_alter(&alter, tp->t.q, defaults, NULL, MYDRV_ALG_INSTANT);
	if (alter.len) {
		char *cond = column_exists_in(pl->mc, tp->t.lit, cols->items[0]);

		alter.buf[alter.len - 2] = '\0';	/* the statement, without ";\n" */
		add_guarded(pl->mc, b, cond, alter.buf);
		free(cond);
	}
	mg_buf_release(&alter);
}

/*
 * The triggers of expand in the MySQL dialect, which has no CREATE OR
 * REPLACE TRIGGER. With a new NOT NULL column the transitional insert
 * trigger (placeholder = "not written", see below) must give way to the
 * final one once the placeholder default is gone, and never may an
 * insert meet neither: the default is gone, so an old-version insert
 * that does not name the column would fail. Nor may it meet the final
 * trigger while the default is still there (it would take the
 * placeholder for a new-version write and overwrite the old column).
 * DROP + CREATE under LOCK TABLES would leave no trigger at all if migrate
 * died between the two (the lock goes with the connection). So the
 * transitional trigger is created as _bt, the final one as _bi beside it,
 * and _bt is dropped after: for a moment both fire on an insert, and
 * whichever runs first sets the marker (1 or 2), which makes the other
 * let the row pass (marked_passes). Every state in between, and every
 * state a crash can leave, has at least one correct insert trigger; a
 * run again after a crash may create _bt once more, which is as harmless.
 * The pass-through stays in _bi: an insert that sets the marker itself
 * (nothing but a copy of a whole row of this table does) is taken as
 * already in step. Without a new NOT NULL column (or without a marker,
 * when both triggers would be the same text) _bi is created directly.
 */
static int emit_dialect_triggers(struct planner *pl, struct tplan *tp, struct mg_buf *b,
				 struct mg_err *err)
{
	char *fi = follows_clause(pl, tp, "INSERT", err);
	char *fu = fi ? follows_clause(pl, tp, "UPDATE", err) : NULL;
	int swap = tp->temp_defaults.n > 0 && tp->has_marker;

	if (!fi || !fu) {
		free(fi);
		return -1;
	}
	if (tp->has_marker)	/* first: see emit_table_expand */
		render_update_trigger(b, pl, tp, fu);
	render_insert_trigger(b, pl, tp, fi, swap, "CREATE TRIGGER IF NOT EXISTS",
			      swap ? "bt" : "bi", swap);
	alter_stmt(pl, b, tp->t.q, tp->t.lit, &tp->temp_defaults, NULL, MYDRV_ALG_INSTANT);
	if (swap) {
		char *bt = trigger_name(pl, tp, "bt");
		char *q = qi(bt);

		render_insert_trigger(b, pl, tp, fi, 0, "CREATE TRIGGER IF NOT EXISTS", "bi", 1);
		mg_buf_addf(b, "DROP TRIGGER IF EXISTS %s;\n", q);
		free(q);
		free(bt);
	}
	free(fi);
	free(fu);
	return 0;
}

static int emit_table_expand(struct planner *pl, struct tplan *tp, struct mg_err *err)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	char *marker = NULL;

	if (tp->has_marker) {
		char *qm = qi(pl->marker_raw);

		marker = mg_xasprintf("ADD COLUMN IF NOT EXISTS %s TINYINT NOT NULL DEFAULT 0", qm);
		free(qm);
	}
	alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->add_cols, marker, MYDRV_ALG_INSTANT);
	if (tp->n_pairs && pl->mc->mysql_dialect) {
		if (emit_dialect_triggers(pl, tp, &b, err) < 0) {
			free(marker);
			mg_buf_release(&b);
			mg_buf_release(&d);
			return -1;
		}
	} else if (tp->n_pairs) {
		char *fi = follows_clause(pl, tp, "INSERT", err);
		char *fu = fi ? follows_clause(pl, tp, "UPDATE", err) : NULL;

		if (!fi || !fu) {
			free(fi);
			free(marker);
			mg_buf_release(&b);
			mg_buf_release(&d);
			return -1;
		}
		/*
		 * While a new NOT NULL column still has its placeholder
		 * DEFAULT, an old-version insert shows the placeholder, not
		 * NULL: the first insert trigger takes the placeholder for
		 * "not written". Once the default is dropped, the final one
		 * replaces it atomically (CREATE OR REPLACE), taking NULL for
		 * "not written" like PostgreSQL's. The new version is not
		 * deployed before expand ends, so nothing it writes meets the
		 * first one.
		 *
		 * The update trigger comes first. A step can stop between two
		 * statements (a crash, a lock not granted), and the old version
		 * writes on meanwhile: with only the insert trigger, a row
		 * inserted then (marker 1) and updated before the update
		 * trigger exists would keep a stale new column that the
		 * backfill skips. With only the update trigger, a row inserted
		 * then keeps marker 0 and the backfill copies it.
		 */
		if (tp->has_marker)
			render_update_trigger(&b, pl, tp, fu);
		render_insert_trigger(&b, pl, tp, fi, tp->temp_defaults.n > 0,
				      "CREATE TRIGGER IF NOT EXISTS", "bi", 0);
		join_alter(&b, tp->t.q, &tp->temp_defaults, NULL, MYDRV_ALG_INSTANT);
		if (tp->temp_defaults.n)
			render_insert_trigger(&b, pl, tp, fi, 0, "CREATE OR REPLACE TRIGGER", "bi", 0);
		free(fi);
		free(fu);
	} else {
		alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->temp_defaults, NULL, MYDRV_ALG_INSTANT);
	}
	mg_buf_addf(&d, "expand %s:", tp->t.q);
	for (size_t i = 0; i < tp->add_cols.n; i++) {
		const char *def = tp->add_cols.items[i] + strlen("ADD COLUMN IF NOT EXISTS ");
		const char *cut = strstr(def, " NOT NULL DEFAULT ");

		if (!cut)
			cut = strstr(def, " NULL");
		mg_buf_addf(&d, "%s %.*s%s", i ? "," : "", (int)(cut ? (size_t)(cut - def) : strlen(def)), def,
			    cut && !strncmp(cut, " NOT NULL", 9) ? " NOT NULL" : "");
	}
	if (marker)
		mg_buf_addf(&d, "%s marker %s", tp->add_cols.n ? "," : "", pl->marker_raw);
	if (tp->n_pairs)
		mg_buf_addf(&d, ", dual-write trigger%s", tp->has_marker ? "s" : "");
	allow(mg_plan_add_step(pl->plan, MG_PLAN_EXPAND, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL), tp);
	free(marker);
	mg_buf_release(&b);
	mg_buf_release(&d);
	return 0;
}

/*
 * An index copy, built at switch-reads: indexes over a replaced column
 * are copied onto the new column (unless listed under drops:); at
 * contract the originals are dropped with the column (explicitly: MySQL
 * would otherwise keep a multi-column index without the dropped column)
 * and the copies take their names. The copies are built after the
 * backfill, when the new version starts to read the new column: one
 * sorted online build instead of an index update for every row the
 * backfill copies (the backfill of an indexed int column ran at half the
 * speed of one without), and a UNIQUE copy over a NOT NULL new column
 * could not be built before anyway (the rows not yet copied hold the same
 * placeholder value). Until then the old column's index keeps the new
 * version's writes unique: the triggers copy them into the old column.
 */
static void emit_index_copy(struct planner *pl, struct tplan *tp, const struct idxcopy *c)
{
	struct mg_buf b = MG_BUF_INIT, clause = MG_BUF_INIT;
	char *qc, *desc;

	qc = qi(c->copy);
	mg_buf_addf(&clause, "ADD %sINDEX IF NOT EXISTS %s (", c->kind, qc);
	for (size_t k = 0; k < c->parts.n; k++)
		mg_buf_addf(&clause, "%s%s", k ? ", " : "", c->parts.items[k]);
	mg_buf_adds(&clause, ")");
	alter_one(pl, &b, tp->t.q, tp->t.lit, clause.buf, MYDRV_ALG_NOCOPY);
	mg_buf_release(&clause);
	desc = mg_xasprintf("build %sindex %s on %s (copy of '%s' for the new column)",
			    *c->kind == 'U' ? "unique " : "", qc, tp->t.q, c->orig);
	allow(mg_plan_add_step(pl->plan, MG_PLAN_SWITCH_READS, MG_STEP_NOTX,
			       tp->t.q, desc, b.buf, NULL), tp);
	free(desc);
	free(qc);
	mg_buf_release(&b);
}

/* Give the copies the originals' names; the originals went with the
 * columns. Guarded: RENAME INDEX has no IF EXISTS. */
static void render_index_renames(struct planner *pl, struct mg_buf *b, const struct tplan *tp)
{
	for (size_t i = 0; i < tp->n_idx; i++) {
		const struct idxcopy *c = &tp->idx[i];
		char *has_copy = index_exists(pl->mc, tp, c->copy);
		char *has_orig = index_exists(pl->mc, tp, c->orig);
		char *qc = qi(c->copy), *qo = qi(c->orig);
		char *cond = mg_xasprintf("%s AND NOT %s", has_copy, has_orig);
		char *stmt = mg_xasprintf("ALTER TABLE %s RENAME INDEX %s TO %s", tp->t.q, qc, qo);

		add_guarded(pl->mc, b, cond, stmt);
		free(has_copy);
		free(has_orig);
		free(qc);
		free(qo);
		free(cond);
		free(stmt);
	}
}

/* "one of the columns raw still exists" as SQL. */
static void any_column_exists(struct planner *pl, struct mg_buf *cond, const struct tplan *tp,
			      const struct mg_strlist *raw)
{
	mg_buf_addf(cond, "EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME IN (",
		    tp->t.lit);
	for (size_t i = 0; i < raw->n; i++) {
		if (i)
			mg_buf_adds(cond, ", ");
		add_literal(pl->mc, cond, raw->items[i]);
	}
	mg_buf_adds(cond, "))");
}

/*
 * The ALTER that drops columns (and with them, explicitly, their indexes
 * and listed constraints). In the MySQL dialect the drops of indexes and
 * constraints come first, in an ALTER of their own under the same guard,
 * and the columns follow (see "the MySQL dialect"). When it drops indexes it runs only while one
 * of the columns is still there: after a crash past it the copies may
 * already carry the originals' names, and DROP INDEX IF EXISTS would drop
 * them.
 */
static void render_drop_columns(struct planner *pl, struct mg_buf *b, const struct tplan *tp,
				const struct mg_strlist *drops, const struct mg_strlist *cols,
				const struct mg_strlist *raw)
{
	struct mg_strlist parts = MG_STRLIST_INIT;
	struct mg_buf alter = MG_BUF_INIT, cond = MG_BUF_INIT;

	for (size_t i = 0; drops && i < drops->n; i++)
		mg_strlist_push(&parts, drops->items[i]);
	for (size_t i = 0; i < cols->n; i++)
		mg_strlist_push(&parts, cols->items[i]);
	if (tp->has_marker) {
		char *qm = qi(pl->marker_raw);

		mg_strlist_push_owned(&parts, mg_xasprintf("DROP COLUMN IF EXISTS %s", qm));
		free(qm);
	}
	join_alter(&alter, tp->t.q, &parts, NULL,
		   drops && drops->n ? MYDRV_ALG_NOCOPY : MYDRV_ALG_INSTANT);
	if (pl->mc->mysql_dialect) {
		if (drops && drops->n)
			any_column_exists(pl, &cond, tp, raw);
		if (parts.n)
			dialect_alter(pl->mc, b, tp->t.q, tp->t.lit, &parts, NULL,
				      drops && drops->n ? MYDRV_ALG_NOCOPY : MYDRV_ALG_INSTANT,
				      cond.len ? cond.buf : NULL, NULL);
	} else if (!drops || !drops->n || !alter.len) {
		mg_buf_adds(b, alter.buf);
	} else {
		any_column_exists(pl, &cond, tp, raw);
		alter.buf[alter.len - 2] = '\0';	/* the statement, without ";\n" */
		add_guarded(pl->mc, b, cond.buf, alter.buf);
	}
	mg_strlist_release(&parts);
	mg_buf_release(&alter);
	mg_buf_release(&cond);
}

/*
 * contract: defaults first (the final ones for the new columns, a
 * placeholder for dropped NOT NULL columns without one), then our
 * triggers, the listed dependents, the columns and the marker, and the
 * copies' renames: every state in between is valid for the new version.
 */
static void emit_table_contract(struct planner *pl, struct tplan *tp)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;

	alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->contract_defaults, NULL, MYDRV_ALG_INSTANT);
	if (pl->mc->mysql_dialect)	/* guarded clause by clause already */
		alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->drop_defaults, NULL, MYDRV_ALG_INSTANT);
	else
		add_defaults_of_dropped(pl, tp, &tp->drop_defaults, &tp->drop_default_cols, &b);
	if (tp->n_pairs)
		render_drop_triggers(&b, pl, tp);
	mg_buf_adds(&b, tp->contract_pre.buf);
	render_drop_columns(pl, &b, tp, &tp->contract_drops, &tp->contract_cols, &tp->dropped);
	render_index_renames(pl, &b, tp);
	mg_buf_addf(&d, "contract %s: drop trigger", tp->t.q);
	for (size_t i = 0; i < tp->dropped.n; i++)
		mg_buf_addf(&d, ", `%s`", tp->dropped.items[i]);
	if (tp->has_marker)
		mg_buf_addf(&d, ", `%s`", pl->marker_raw);
	mg_buf_adds(&d, " (never CASCADE); defaults and names moved to the new columns");
	allow(mg_plan_add_step(pl->plan, MG_PLAN_CONTRACT, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL), tp);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

/* rollback: placeholders back on the new NOT NULL columns, our triggers,
 * then the new columns, their index copies and the marker. */
static void emit_table_rollback(struct planner *pl, struct tplan *tp)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	struct mg_strlist drops = MG_STRLIST_INIT;

	for (size_t i = 0; i < tp->n_idx; i++) {
		char *qc = qi(tp->idx[i].copy);

		mg_strlist_push_owned(&drops, mg_xasprintf("DROP INDEX IF EXISTS %s", qc));
		free(qc);
	}
	/*
	 * Once a new NOT NULL column has its placeholder default back, the
	 * insert trigger would take an old-version insert (which shows the
	 * placeholder) for a new-version write and copy the placeholder into
	 * the old column. So the default comes back and the triggers go
	 * under LOCK TABLES ... WRITE: no write sees the state in between
	 * (milliseconds, like the PostgreSQL driver's ACCESS EXCLUSIVE lock).
	 */
	if (tp->rollback_defaults.n && pl->mc->mysql_dialect) {
		/* the catalog is read before the lock, the ALTER runs under it */
		struct mg_buf run = MG_BUF_INIT;

		dialect_alter(pl->mc, &run, tp->t.q, tp->t.lit, &tp->rollback_defaults, NULL,
			      MYDRV_ALG_INSTANT, NULL, &b);
		mg_buf_addf(&b, "LOCK TABLES %s WRITE;\n%s", tp->t.q, run.buf);
		mg_buf_release(&run);
	} else {
		if (tp->rollback_defaults.n)
			mg_buf_addf(&b, "LOCK TABLES %s WRITE;\n", tp->t.q);
		add_defaults_of_dropped(pl, tp, &tp->rollback_defaults,
					&tp->rollback_default_cols, &b);
	}
	if (tp->n_pairs)
		render_drop_triggers(&b, pl, tp);
	if (tp->rollback_defaults.n)
		mg_buf_adds(&b, "UNLOCK TABLES;\n");
	{
		struct mg_strlist parts = MG_STRLIST_INIT;

		for (size_t i = 0; i < drops.n; i++)
			mg_strlist_push(&parts, drops.items[i]);
		for (size_t i = 0; i < tp->rollback_cols.n; i++)
			mg_strlist_push(&parts, tp->rollback_cols.items[i]);
		if (tp->has_marker) {
			char *qm = qi(pl->marker_raw);

			mg_strlist_push_owned(&parts, mg_xasprintf("DROP COLUMN IF EXISTS %s", qm));
			free(qm);
		}
		alter_stmt(pl, &b, tp->t.q, tp->t.lit, &parts, NULL,
			   drops.n ? MYDRV_ALG_NOCOPY : MYDRV_ALG_INSTANT);
		mg_strlist_release(&parts);
	}
	mg_buf_addf(&d, "roll back %s: drop trigger", tp->t.q);
	for (size_t i = 0; i < tp->rollback_cols.n; i++)
		mg_buf_addf(&d, ", %s", tp->rollback_cols.items[i] + strlen("DROP COLUMN IF EXISTS "));
	if (tp->has_marker)
		mg_buf_addf(&d, ", `%s`", pl->marker_raw);
	allow(mg_plan_add_step(pl->plan, MG_PLAN_ROLLBACK, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL), tp);
	mg_strlist_release(&drops);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

/*
 * The backfill of one table (design §7). The set clause keeps columns
 * that the server sets ON UPDATE CURRENT_TIMESTAMP as they are: assigning
 * a column itself stops the automatic update. The mismatch test is
 * postgres.c's with <=> for IS NOT DISTINCT FROM.
 */
static void emit_backfill_spec(struct planner *pl, struct tplan *tp)
{
	struct mg_backfill_spec *s;
	struct mg_buf set = MG_BUF_INIT, mm = MG_BUF_INIT;
	char *qm = qi(pl->marker_raw);

	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qn = p->new_col ? qi(p->new_col) : NULL;
		char *qo = p->old_col ? qi(p->old_col) : NULL;

		if (p->kind != MG_PAIR_DROP && p->up)
			mg_buf_addf(&set, "%s%s = (%s)", set.len ? ", " : "", qn, p->up);
		if (p->kind == MG_PAIR_REPLACE)
			mg_buf_addf(&mm, " OR NOT (%s <=> (%s) OR %s <=> (%s))", qn, p->up, qo, p->down);
		free(qn);
		free(qo);
	}
	for (size_t i = 0; i < tp->t.on_update.n; i++)
		mg_buf_addf(&set, ", %s = %s", tp->t.on_update.items[i], tp->t.on_update.items[i]);
	s = mg_plan_add_backfill(pl->plan);
	s->table = mg_xstrdup(tp->t.q);
	s->n_keys = tp->t.n_keys;
	s->key_columns = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	s->key_types = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	for (size_t k = 0; k < s->n_keys; k++) {
		s->key_columns[k] = mg_xstrdup(tp->t.key_cols[k]);
		s->key_types[k] = mg_xstrdup(tp->t.key_types[k]);
	}
	s->set_clause = mg_buf_detach(&set);
	s->marker = mg_xstrdup(qm);
	s->mismatch = mg_xasprintf("%s = 0%s", qm, mm.buf);
	s->session_sql = mg_xasprintf("SET @migrate_backfill = %d; "
				      "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", pl->m->id);
	mg_buf_release(&mm);
	free(qm);
}

/* Notes: what each kind of statement costs the application, and user
 * triggers the backfill fires. */
static void emit_notes(struct planner *pl, struct tplan *tp)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	struct mg_err ignored = MG_ERR_INIT;
	char *n;

	if (tp->add_cols.n || tp->has_marker) {
		n = mg_xasprintf("expand of %s: ALTER TABLE ... ADD COLUMN, ALGORITHM=INSTANT: instant, a metadata lock for milliseconds (queued behind running transactions on the table for at most --lock-timeout, then retried)",
				 tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (tp->temp_defaults.n) {
		n = mg_xasprintf("expand of %s: a NOT NULL new column is added with a placeholder DEFAULT (instant; the old version's inserts stay valid until the triggers exist), which is dropped at the end of the step; existing rows hold the placeholder until the backfill writes them (the marker, not the value, says which rows are done)",
				 tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (tp->n_pairs) {
		n = mg_xasprintf("the triggers on %s are created, and dropped at contract/rollback, with a metadata lock for milliseconds each",
				 tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	for (size_t i = 0; i < tp->n_idx; i++) {
		n = mg_xasprintf("index copy `%s` on %s: %s; replicas replay it single-threaded, so expect replication lag for the time of the build%s",
				 tp->idx[i].copy, tp->t.q,
				 pl->mc->mysql_dialect ? "ALGORITHM=INPLACE, LOCK=NONE: built in place without locks (the MySQL manual lists adding a secondary index as in place without a rebuild of the table)" :
				 "ALGORITHM=NOCOPY, LOCK=NONE: built in place without locks and without a rebuild of the table",
				 " (built at switch-reads, after the backfill: one sorted build instead of an index update for every row the backfill copies)");
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (tp->contract_drops.n) {
		n = pl->mc->mysql_dialect ?
		    mg_xasprintf("contract of %s drops indexes and constraints of the columns first, ALGORITHM=INPLACE, LOCK=NONE (in place without locks and, per the MySQL manual, without a rebuild), then the columns, ALGORITHM=INSTANT", tp->t.q) :
		    mg_xasprintf("contract of %s drops indexes with the columns: ALGORITHM=NOCOPY, LOCK=NONE, in place without locks", tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (pl->mc->mysql_dialect)
		n = mg_xasprintf("every ALTER TABLE on %s names its algorithm: if the server refuses ALGORITHM=INSTANT, the step falls back to ALGORITHM=INPLACE, LOCK=NONE, which on MySQL may rebuild the table (in place without locks, but the table is rewritten and replicas replay it single-threaded; MySQL has no NOCOPY to refuse just the rebuild), so it is refused unless the operation has allow_rebuild: true%s; a table copy (blocks writes) is refused unless allow_copy: true%s",
				 tp->t.q, tp->allow_rebuild ? " (it has)" : "", tp->allow_copy ? " (it has)" : "");
	else
		n = mg_xasprintf("every ALTER TABLE on %s names its algorithm: if the server refuses it, the step falls back to ALGORITHM=NOCOPY; a change the server can only do by rebuilding the table (in place without locks, but the table is rebuilt and replicas replay it single-threaded) is refused unless the operation has allow_rebuild: true%s; a table copy (blocks writes) is refused unless allow_copy: true%s",
				 tp->t.q, tp->allow_rebuild ? " (it has)" : "", tp->allow_copy ? " (it has)" : "");
	mg_plan_add_note(pl->plan, n);
	free(n);
	mg_buf_addf(&sql, "SELECT CONCAT('the backfill of ', %s, ' fires user trigger `', TRIGGER_NAME, '`') "
		    "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
		    "AND EVENT_OBJECT_TABLE = %s AND EVENT_MANIPULATION = 'UPDATE' "
		    "AND TRIGGER_NAME NOT LIKE '\\_mg%%' UNION ALL "
		    "SELECT CONCAT('the backfill of ', %s, ' is written to the binary log and replayed by replicas') FROM DUAL WHERE @@log_bin = 1",
		    tp->t.lit, tp->t.lit, tp->t.lit);
	if (tp->has_marker && query_mc(pl->mc, sql.buf, &r, &ignored) == 0)
		for (size_t i = 0; i < r.nrows; i++)
			mg_plan_add_note(pl->plan, mg_rows_get(&r, i, 0));
	mg_rows_release(&r);
	mg_buf_release(&sql);
}

/*
 * create_index: built at expand with ALTER TABLE ... ADD INDEX, ALGORITHM=
 * NOCOPY, LOCK=NONE (InnoDB's online build: reads and writes go on, a
 * short exclusive metadata lock at the start and at the end), dropped at
 * rollback. A unique build that meets a duplicate (in the rows or written
 * meanwhile) fails with ER_DUP_ENTRY naming the value, and InnoDB throws
 * the half-built index away: the step fails, exit 1, nothing changed.
 */
static void emit_index_op(struct planner *pl, const struct mg_op *op, const struct mytable *t)
{
	struct mg_buf b = MG_BUF_INIT, clause = MG_BUF_INIT;
	char *qn = qi(op->index_name), *desc;

	mg_buf_addf(&clause, "ADD %sINDEX IF NOT EXISTS %s (", op->unique ? "UNIQUE " : "", qn);
	for (size_t k = 0; k < op->n_columns; k++) {
		if (k)
			mg_buf_adds(&clause, ", ");
		mydrv_quote_ident(&clause, op->columns[k]);
	}
	mg_buf_adds(&clause, ")");
	alter_one(pl, &b, t->q, t->lit, clause.buf, MYDRV_ALG_NOCOPY);
	mg_buf_release(&clause);
	desc = mg_xasprintf("build %sindex %s on %s online", op->unique ? "unique " : "", qn, t->q);
	mg_plan_add_step(pl->plan, MG_PLAN_EXPAND, MG_STEP_NOTX, t->q, desc, b.buf,
			 NULL)->options = allow_options(op->allow_rebuild, op->allow_copy);
	free(desc);
	free(qn);
	mg_buf_release(&b);
}

static void emit_index_drop(struct planner *pl, const struct mg_op *op, const struct mytable *t)
{
	char *qn = qi(op->index_name);
	char *clause = mg_xasprintf("DROP INDEX IF EXISTS %s", qn);
	char *desc = mg_xasprintf("drop index %s on %s", qn, t->q);
	struct mg_buf b = MG_BUF_INIT;

	alter_one(pl, &b, t->q, t->lit, clause, MYDRV_ALG_NOCOPY);
	mg_plan_add_step(pl->plan, MG_PLAN_ROLLBACK, MG_STEP_NOTX, t->q, desc, b.buf,
			 NULL)->options = allow_options(op->allow_rebuild, op->allow_copy);
	mg_buf_release(&b);
	free(desc);
	free(clause);
	free(qn);
}

/* switch-reads: every index create_index built is there (MySQL has no
 * invalid indexes: a failed build leaves none, and expand would have
 * failed). */
static void emit_index_assert(struct planner *pl)
{
	struct mg_buf b = MG_BUF_INIT;

	for (size_t i = 0; i < pl->m->n_ops; i++) {
		const struct mg_op *op = &pl->m->ops[i];
		const struct mytable *t;
		char *what;

		if (op->kind != MG_OP_CREATE_INDEX)
			continue;
		t = mytable_of(pl->core->index_tables[i]);
		what = mg_xasprintf("index `%s` on %s is missing", op->index_name, t->q);
		mg_buf_adds(&b, b.len ? " UNION ALL SELECT " : "SELECT ");
		add_literal(pl->mc, &b, what);
		mg_buf_addf(&b, " FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS "
			    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = ", t->lit);
		add_literal(pl->mc, &b, op->index_name);
		mg_buf_adds(&b, ")");
		free(what);
	}
	if (b.len)
		mg_plan_add_step(pl->plan, MG_PLAN_SWITCH_READS, MG_STEP_ASSERT, NULL,
				 "every index built at expand exists", b.buf, NULL);
	mg_buf_release(&b);
}

static void emit_index_notes(struct planner *pl, const struct mg_op *op, const struct mytable *t)
{
	char *n = mg_xasprintf("index `%s` on %s: ALTER TABLE ... ADD %sINDEX, %s: built online, reads and writes go on during the build; a short exclusive metadata lock at its start and at its end, each queued behind running transactions on the table for at most --lock-timeout (if the one at the end is not granted, the build is undone and retried); replicas replay the build single-threaded, so expect replication lag for its duration%s",
			       op->index_name, t->q, op->unique ? "UNIQUE " : "",
			       pl->mc->mysql_dialect ? "ALGORITHM=INPLACE, LOCK=NONE (MySQL: in place, and per its manual without a rebuild of the table)" : "ALGORITHM=NOCOPY, LOCK=NONE",
			       op->unique ? "; a duplicate key, in the rows or written during the build, fails the step naming the value (exit 1), and the server removes the half-built index" : "");

	mg_plan_add_note(pl->plan, n);
	free(n);
}

/*
 * A sql step: the user's SQL as written, sent as one multi-statement
 * request (no algorithm fallback, no table to check for long
 * transactions). in_transaction: true opens a transaction before it;
 * mydrv_run_step writes the history row in that transaction and commits.
 */
static void emit_sql_step(struct planner *pl, const struct mg_op *op,
			  enum mg_sql_phase sp, enum mg_plan_phase phase)
{
	char *desc, *sql;

	if (!op->sql[sp])
		return;
	desc = mg_xasprintf("%s SQL of the sql step at %s:%d:%d", mg_sql_phase_name(sp),
			    pl->m->name, op->pos.line, op->pos.column);
	sql = mg_xasprintf("%s%s", op->in_transaction ? MYDRV_START_TX : "", op->sql[sp]);
	mg_plan_add_step(pl->plan, phase, op->in_transaction ? MG_STEP_TX : MG_STEP_NOTX,
			 NULL, desc, sql, NULL);
	free(desc);
	free(sql);
}

static void emit_sql_notes(struct planner *pl)
{
	int tx = 0, notx = 0;

	for (size_t i = 0; i < pl->m->n_ops; i++)
		if (pl->m->ops[i].kind == MG_OP_SQL) {
			tx |= pl->m->ops[i].in_transaction;
			notx |= !pl->m->ops[i].in_transaction;
		}
	if (tx)
		mg_plan_add_note(pl->plan, "sql steps with in_transaction: true run after START TRANSACTION and are committed together with their history row; MySQL/MariaDB commit implicitly before and after every DDL statement (CREATE, ALTER, DROP, RENAME, TRUNCATE), so in_transaction does not make DDL atomic: a failure after a DDL statement leaves what ran before it, and such SQL must be idempotent (IF [NOT] EXISTS)");
	if (notx)
		mg_plan_add_note(pl->plan, "sql steps with in_transaction: false run statement by statement with autocommit and are recorded after they succeed: after a failure or a crash they run again from the start, so they must be idempotent (IF [NOT] EXISTS)");
	if (tx || notx)
		mg_plan_add_note(pl->plan, "migrate does not know which tables sql steps touch: no long-transaction check before them, no algorithm fallback; each of their statements waits at most --lock-timeout (whole seconds) for a metadata lock and is retried like the table steps");
}

/* ==== planning: entry point ============================================================ */

/*
 * With binary logging on, creating a trigger needs SUPER (or, on MySQL
 * 8, SET_USER_ID / on MariaDB BINLOG ADMIN-like rights) unless
 * log_bin_trust_function_creators is ON; otherwise the server refuses
 * with error 1419 halfway through expand. Refuse before anything changes.
 */
static int check_trigger_rights(struct planner *pl, struct mg_err *err)
{
	int64_t bad = 0;

	if (query_int(pl->mc, "SELECT @@GLOBAL.log_bin = 1 AND @@GLOBAL.log_bin_trust_function_creators = 0 "
		      "AND NOT EXISTS (SELECT 1 FROM information_schema.USER_PRIVILEGES "
		      "WHERE PRIVILEGE_TYPE = 'SUPER' AND GRANTEE = CONCAT('''', "
		      "SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', "
		      "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), ''''))", &bad, err) < 0)
		return -1;
	if (!bad)
		return 0;
	mg_err_set(err, MG_EREFUSED, "this migration needs dual-write triggers, and with binary logging on (log_bin) a user without SUPER may create triggers only when log_bin_trust_function_creators is ON");
	return mg_err_hint(err, "SET GLOBAL log_bin_trust_function_creators = 1 (and in the server's configuration), or run migrate as a user with SUPER");
}

/* With every table planned: the right to create triggers when one gets
 * them. */
static int mydrv_check_plan(struct mg_conn *c, const struct mg_planner *core, struct mg_err *err)
{
	struct planner pl;
	int triggers = 0;

	planner_init(&pl, c, core, core->plan);
	for (size_t t = 0; t < core->n_tables; t++)
		triggers |= core->tables[t]->n_pairs > 0;
	return triggers ? check_trigger_rights(&pl, err) : 0;
}

/*
 * Planning reads the catalog only. Unlike PostgreSQL, the expand SQL of
 * sql steps is not run here: MySQL cannot roll DDL back.
 */
static int mydrv_plan_begin(struct mg_conn *c, struct mg_planner *core, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);

	(void)core;
	if (mc->mysql_version && mc->mysql_version < MYDRV_MYSQL_PLAN_MIN) {
		/* CREATE TRIGGER IF NOT EXISTS and instant DROP COLUMN are
		 * MySQL 8.0.29's */
		mg_err_set(err, MG_EINPUT, "MySQL %lu.%lu.%lu cannot run migrate's plans: planning needs MySQL 8.0.29 or later (or MariaDB 10.3 or later)",
			   mc->mysql_version / 10000, mc->mysql_version / 100 % 100,
			   mc->mysql_version % 100);
		return mg_err_hint(err, "upgrade the server to MySQL 8.0.29 or later; on this server migrate runs status, check, colour and log");
	}
	return 0;
}

/* The notes, in the order plan shows them: per table, per create_index,
 * for the sql steps. */
static void mydrv_plan_notes(struct mg_conn *c, const struct mg_planner *core, struct mg_plan *out)
{
	struct planner pl;

	planner_init(&pl, c, core, out);
	for (size_t t = 0; t < core->n_tables; t++) {
		struct tplan tp;

		tplan_derive(&pl, core->tables[t], &tp);
		emit_notes(&pl, &tp);
		tplan_release(&tp);
	}
	for (size_t i = 0; i < core->m->n_ops; i++)
		if (core->m->ops[i].kind == MG_OP_CREATE_INDEX)
			emit_index_notes(&pl, &core->m->ops[i], mytable_of(core->index_tables[i]));
	emit_sql_notes(&pl);
}

/* One table's step of a phase, from the MySQL view of its plan. */
static int render_table(struct planner *pl, const struct mg_render *r, struct mg_err *err)
{
	struct tplan tp;
	int rc = 0;

	tplan_derive(pl, r->tp, &tp);
	switch (r->kind) {
	case MG_RENDER_EXPAND_TABLE:
		rc = emit_table_expand(pl, &tp, err);
		break;
	case MG_RENDER_BACKFILL:
		emit_backfill_spec(pl, &tp);
		break;
	case MG_RENDER_CONTRACT_TABLE:
		emit_table_contract(pl, &tp);
		break;
	case MG_RENDER_ROLLBACK_TABLE:
		emit_table_rollback(pl, &tp);
		break;
	case MG_RENDER_COPY_INDEX:
		for (size_t i = 0; i < tp.n_idx; i++)
			if (!strcmp(tp.idx[i].copy, r->prim->name))
				emit_index_copy(pl, &tp, &tp.idx[i]);
		break;
	case MG_RENDER_ASSERT_DEPENDENTS: {
		char *sql = dep_check_sql(pl, &tp, r->prim->op, r->prim->column);

		mg_plan_add_step(pl->plan, r->phase, MG_STEP_ASSERT, tp.t.q,
				 "nothing new depends on the columns contract drops", sql, NULL);
		free(sql);
		break;
	}
	default:
		break;
	}
	tplan_release(&tp);
	return rc;
}

/*
 * Render one piece of the plan (driver.h). MySQL has no NOT VALID
 * constraints and carries no constraint or foreign key over: the core
 * asks for no VALIDATE or INBOUND step.
 */
static int mydrv_render(struct mg_conn *c, const struct mg_render *r, struct mg_plan *out,
			struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, r->pl, out);
	switch (r->kind) {
	case MG_RENDER_BUILD_INDEX:
		emit_index_op(&pl, r->op, mytable_of(r->table));
		return 0;
	case MG_RENDER_DROP_INDEX:
		emit_index_drop(&pl, r->op, mytable_of(r->table));
		return 0;
	case MG_RENDER_ASSERT_INDEXES:
		emit_index_assert(&pl);
		return 0;
	case MG_RENDER_SQL:
		emit_sql_step(&pl, r->op, r->sql_phase, r->phase);
		return 0;
	case MG_RENDER_VALIDATE:
	case MG_RENDER_INBOUND:
	case MG_RENDER_VALIDATE_INBOUND:
		assert(!"no such step on MySQL");
		return 0;
	default:
		return render_table(&pl, r, err);
	}
}
const struct mg_driver mg_mysql_driver = {
	.name = "mysql",
	.version = MG_DRIVER_VERSION,
	.caps = MG_CAP_PLACEHOLDER_NOT_NULL | MG_CAP_EXPLICIT_INDEX_DROPS | MG_CAP_CASELESS_COLUMNS,
	/* MySQL and MariaDB take 64 characters, but migrate has always
	 * refused names over 63 bytes on every database: allowing 64 is a
	 * change of behaviour for a tested commit of its own */
	.max_name_len = 63,
	.url_help = "mysql://user:pass@host:port/db (also mariadb://, and ?socket=/path for a unix socket)",
	.test_variable = MYDRV_DIALECT_HOOK,
	.accepts = mydrv_accepts,
	.connect = mydrv_connect,
	.close = mydrv_close,
	.exec = mydrv_exec,
	.query = mydrv_query,
	.quote_ident = mydrv_quote_ident,
	.fingerprint = mydrv_fingerprint,
	.lock = mydrv_lock,
	.unlock = mydrv_unlock,
	.lock_holder = mydrv_lock_holder,
	.lock_lost = mydrv_lock_lost,
	.lock_check = mydrv_lock_check,
	.history_read = mydrv_history_read,
	.history_write = mydrv_history_write,
	.describe_table = mydrv_describe_table,
	.describe_column = mydrv_describe_column,
	.column_dependents = mydrv_column_dependents,
	.check_expr = mydrv_check_expr,
	.canonical_type = mydrv_canonical_type,
	.render = mydrv_render,
	.check_blockers = mydrv_check_blockers,
	.run_step = mydrv_run_step,
	.backfill_bounds = mydrv_backfill_bounds,
	.backfill_batch = mydrv_backfill_batch,
	.backfill_split = mydrv_backfill_split,
	.verify_batch = mydrv_verify_batch,
	.analyze = mydrv_analyze,
	.plan_begin = mydrv_plan_begin,
	.check_index = mydrv_check_index,
	.check_plan = mydrv_check_plan,
	.plan_notes = mydrv_plan_notes,
	.placeholder_value = mydrv_placeholder_value,
	.replication_lag_ms = mydrv_replication_lag_ms,
	.active_sessions = mydrv_active_sessions,
	.count_sessions = mydrv_count_sessions,
};

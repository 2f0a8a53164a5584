/*
 * catalog.c - the MySQL/MariaDB driver's answers to the planner's
 * questions (driver.h: describe_table, describe_column, column_dependents,
 * check_expr, canonical_type, placeholder_value, check_index, check_plan,
 * plan_begin): what information_schema says about a table, a column, the
 * indexes over it and the objects that depend on it, and the checks of a
 * migration's expressions and types. The core decides what follows from
 * the answers (src/planner.c); nothing here changes the database.
 */
#include "mysql/myplan.h"

/* ==== tables and columns ================================================================== */

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

char *qi(const char *name)
{
	struct mg_buf b = MG_BUF_INIT;

	mydrv_quote_ident(&b, name);
	return mg_buf_detach(&b);
}

char *lit(struct mydrv_conn *mc, const char *s)
{
	struct mg_buf b = MG_BUF_INIT;

	add_literal(mc, &b, s);
	return mg_buf_detach(&b);
}

/* base + suffix, base cut so the whole fits a MySQL identifier (64
 * characters; names here are cut by bytes, at a UTF-8 boundary). */
char *mkname(const char *base, const char *suffix)
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

static void myindex_free(void *p)
{
	struct myindex *x = p;

	mg_strlist_release(&x->cols);
	mg_strlist_release(&x->sub_parts);
	mg_strlist_release(&x->orders);
	free(x);
}


/* ==== dependents of a replaced or dropped column ======================================= */

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
 * referencing it. Our own triggers (_mg...) are left out. A view in
 * another database (its text names `db`.`table`) is named "db.view", as
 * drops: lists it, with class "view:`db`.`view`". 
 */
char *others_sql(struct mydrv_conn *mc, const struct mytable *t, const char *col)
{
	struct mg_buf b = MG_BUF_INIT, re = MG_BUF_INIT, tre = MG_BUF_INIT;
	char *cl = lit(mc, col), *clike = like_quoted(mc, col), *tlike = like_quoted(mc, t->name);
	char *rel, *trel, *qt = qi(t->name), *tq = lit(mc, qt);

	free(qt);
	add_word_regex(&re, col);
	add_word_regex(&tre, t->name);
	rel = lit(mc, re.buf);
	trel = lit(mc, tre.buf);
	mg_buf_addf(&b,
		"SELECT IF(TABLE_SCHEMA = DATABASE(), CONCAT('view `', TABLE_NAME, '`'), "
		"CONCAT('view `', TABLE_SCHEMA, '`.`', TABLE_NAME, '`')) AS what, "
		"IF(TABLE_SCHEMA = DATABASE(), TABLE_NAME, CONCAT(TABLE_SCHEMA, '.', TABLE_NAME)) AS name, "
		"IF(TABLE_SCHEMA = DATABASE(), 'view', CONCAT('view:`', REPLACE(TABLE_SCHEMA, '`', '``'), "
		"'`.`', REPLACE(TABLE_NAME, '`', '``'), '`')) AS class "
		"FROM information_schema.VIEWS WHERE ((TABLE_SCHEMA = DATABASE() AND VIEW_DEFINITION LIKE %s) "
		"OR (TABLE_SCHEMA <> DATABASE() AND LOCATE(CONCAT('`', REPLACE(DATABASE(), '`', '``'), '`.', %s), "
		"VIEW_DEFINITION) > 0)) AND VIEW_DEFINITION LIKE %s "
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
		tlike, tq, clike, t->lit, clike, t->lit, clike, t->lit, trel, rel,
		t->lit, cl, t->lit, cl);
	free(tq);
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
		} else if (!strncmp(cls, "view:", 5)) {	/* in another database */
			d->def = mg_xstrdup("view");
			d->child = mg_xstrdup(cls + 5);
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

int mydrv_column_dependents(struct mg_conn *c, const struct mg_planner *pl,
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


/* ==== the planner's questions ============================================================ */

/* The overlay's entry of column col of the table named name (planner.h:
 * the latest operation of the migration that adds or removes it), or
 * NULL. Column names compare without case (MG_CAP_CASELESS_COLUMNS). */
static const struct mg_overlay_col *overlay_entry(const struct mg_planner *core,
						  const char *name, const char *col)
{
	return mg_overlay_find(core, name, col);
}

/* A probe of an expression of this use failed with error 1054 (unknown
 * column): 1 (err set, naming the earlier operation) when the column is
 * one the overlay hides from the use, else 0. */
static int overlay_refusal(struct planner *pl, const struct mg_table_desc *td,
			   enum mg_expr_use use, const char *msg, struct mg_pos pos,
			   struct mg_err *err)
{
	const char *at = strstr(msg, "Unknown column '");
	const struct mg_overlay_col *oc;
	char *name;

	if (!at)
		return 0;
	at += strlen("Unknown column '");
	name = mg_xstrndup(at, strcspn(at, "'"));
	oc = overlay_entry(pl->core, td->id, name);
	free(name);
	if (!mg_overlay_hidden(oc, use))
		return 0;
	mg_overlay_refuse(err, pl->core, td, oc, pos);
	return 1;
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
int mydrv_describe_table(struct mg_conn *c, const struct mg_planner *core,
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
int mydrv_describe_column(struct mg_conn *c, const struct mg_planner *core,
			  const struct mg_table_desc *t, const char *name,
			  struct mg_column_desc *out, struct mg_err *err)
{
	struct mycolumn *mcol = mg_xcalloc(1, sizeof(*mcol));
	int rc;

	(void)core;
	out->drv = mcol;
	out->drv_free = mycolumn_free;
	rc = fetch_column(downcast(c), mytable_of(t), name, mcol, err);
	if (rc != 0) {
		/* as PostgreSQL's: nothing to release unless the column exists */
		mycolumn_free(mcol);
		out->drv = NULL;
		out->drv_free = NULL;
		return rc;
	}
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

/* The new row (enum mg_expr_use NEW_ROW) as a derived table named as
 * the table: its columns but those earlier operations remove, and NULLs
 * named as the columns they add. Owned. */
static char *new_row_relation(const struct planner *pl, const struct mg_table_desc *td)
{
	const struct mytable *t = mytable_of(td);
	struct mg_buf b = MG_BUF_INIT;
	size_t n = 0;

	mg_buf_adds(&b, "(SELECT ");
	for (size_t i = 0; i < t->cols.n; i++) {
		char *q;

		if (mg_overlay_hidden(overlay_entry(pl->core, td->id, t->cols.items[i]),
				      MG_EXPR_NEW_ROW))
			continue;
		q = qi(t->cols.items[i]);
		mg_buf_addf(&b, "%s%s", n++ ? ", " : "", q);
		free(q);
	}
	for (size_t i = 0; i < pl->core->n_overlay; i++) {
		const struct mg_overlay_col *oc = &pl->core->overlay[i];
		char *q;

		if (strcmp(oc->table_id, td->id) != 0 || oc->replaced ||
		    overlay_entry(pl->core, td->id, oc->column) != oc ||
		    mg_strlist_contains(&t->cols, oc->column))
			continue;
		q = qi(oc->column);
		mg_buf_addf(&b, "%sNULL AS %s", n++ ? ", " : "", q);
		free(q);
	}
	mg_buf_addf(&b, " FROM %s) AS %s", t->q, t->q);
	return mg_buf_detach(&b);
}

/* A typo in an expression would break every write through the trigger:
 * evaluate it against the table (no rows read) before anything changes.
 * Planning changes nothing here, so the table is the old row (enum
 * mg_expr_use ROW): a column an earlier operation adds is not in it; the
 * new row (NEW_ROW) is a derived table (new_row_relation). */
static int check_row_expr(struct planner *pl, const struct mg_table_desc *td,
			  enum mg_expr_use use, const char *expr, struct mg_pos pos,
			  struct mg_err *err)
{
	const struct mytable *t = mytable_of(td);
	char *sql, *rel;
	int rc;

	if (check_expr_text(pl, "expression", expr, pos, err) < 0)
		return -1;
	rel = use == MG_EXPR_NEW_ROW ? new_row_relation(pl, td) : mg_xstrdup(t->q);
	sql = mg_xasprintf("SELECT (%s) FROM %s LIMIT 0", expr, rel);
	free(rel);
	rc = exec_mc(pl->mc, sql, err);
	free(sql);
	if (rc < 0 && stmt_errno(pl->mc) == ER_BAD_FIELD_ERROR &&
	    overlay_refusal(pl, td, use, err->msg, pos, err))
		return -1;
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

int mydrv_check_expr(struct mg_conn *c, const struct mg_planner *core,
		     const struct mg_table_desc *t, enum mg_expr_use use,
		     const char *expr, struct mg_pos pos, struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, core, core->plan);
	if (use == MG_EXPR_TEXT)
		return check_expr_text(&pl, "expression", expr, pos, err);
	return check_row_expr(&pl, t, use, expr, pos, err);
}

int mydrv_canonical_type(struct mg_conn *c, const struct mg_planner *core,
			 const struct mg_op *op, char **out, struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, core, core->plan);
	return canonical_type(&pl, op, out, err);
}

char *mydrv_placeholder_value(struct mg_conn *c, const char *type)
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
			      const struct mg_table_desc *td, struct mg_err *err)
{
	const struct mytable *t = mytable_of(td);

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
		const struct mg_overlay_col *oc = overlay_entry(pl->core, t->name, op->columns[k]);
		int rc;

		if (oc && oc->replaced)
			return mg_overlay_refuse(err, pl->core, td, oc, op->columns_pos);
		memset(&c, 0, sizeof(c));
		if (oc) {
			/* added earlier in this migration: its type as the file
			 * gives it (canonical: lowercase, the name first) */
			if (!oc->type)
				continue;
			c.data_type = mg_xstrndup(oc->type, strcspn(oc->type, "( "));
			rc = 0;
		} else {
			rc = fetch_column(pl->mc, t, op->columns[k], &c, err);
		}
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

int mydrv_check_index(struct mg_conn *c, const struct mg_planner *core,
		      const struct mg_op *op, const struct mg_table_desc *t,
		      struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, core, core->plan);
	if (op->kind == MG_OP_DROP_INDEX)
		return mydrv_check_drop_index(&pl, op, mytable_of(t), err);
	if (mydrv_check_index_options(&pl, op, mytable_of(t), err) < 0)
		return -1;
	return check_create_index(&pl, op, t, err);
}


/* ==== the planning session ================================================================ */

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
int mydrv_check_plan(struct mg_conn *c, const struct mg_planner *core, struct mg_err *err)
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
int mydrv_plan_begin(struct mg_conn *c, struct mg_planner *core, struct mg_err *err)
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

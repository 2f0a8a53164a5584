/*
 * postgres.c - the PostgreSQL driver (libpq): its planner and its driver
 * table. The rest of the driver is in drivers/postgres/, one file per
 * concern: conn.c (connection and errors), url.c (the URL check),
 * wait.c (bounded waits), lock.c (lock and blockers), history.c,
 * runner.c (running steps), backfill.c, load.c (lag and sessions);
 * postgres/pg.h declares what they share.
 *
 * Why it is shaped this way (design §6): each phase's DDL for a table runs in
 * one transaction that first takes its lock under lock_timeout, so no writer
 * ever sees a half-done phase; CREATE INDEX CONCURRENTLY runs outside any
 * transaction; constraints on the new column are added NOT VALID and
 * validated at switch-reads; the dual-write trigger skips the backfill's own
 * session through a WHEN clause, so the backfill pays no PL/pgSQL cost.
 */
#include "postgres/pg.h"

/* ==== planning: catalog questions =============================================== */

/*
 * The core plans (src/planner.c); these answer its questions about the
 * catalog (driver.h: describe_table, describe_column, column_dependents,
 * check_expr, canonical_type, check_index, check_sql). Planning runs in
 * a transaction that is always rolled back (plan_begin / plan_end): the
 * expand SQL of `sql` steps runs in it, so that later operations see the
 * tables it creates. Catalog reads take no locks that block writers.
 */

#define pos_error mg_plan_pos_error
#define PGDRV_MSG sizeof(((struct mg_err *)0)->msg)

/* What the renderer needs to know of a table beyond struct mg_table_desc. */
struct pgdesc {
	char *oid;		/* text */
	char *qlit;		/* q as a string literal, for ::regclass */
	char *qschema;		/* "schema" */
};

static void pgdesc_free(void *p)
{
	struct pgdesc *d = p;

	if (!d)
		return;
	free(d->oid);
	free(d->qlit);
	free(d->qschema);
	free(d);
}

static const struct pgdesc *pgdesc(const struct mg_table_desc *t)
{
	return t->drv;
}

/* The connection and the migration, for the probes below. */
struct planner {
	struct pgdrv_conn *pc;
	const struct mg_migration *m;
	const struct mg_planner *core;
};

static struct planner planner_of(struct mg_conn *c, const struct mg_planner *pl)
{
	struct planner p = { downcast(c), pl->m, pl };

	return p;
}

/* Quote "schema.table" or "table" as written in a migration. */
static char *quote_table_name(const char *name)
{
	const char *dot = strchr(name, '.');
	struct mg_buf b = MG_BUF_INIT;

	if (dot) {
		char *schema = mg_xstrndup(name, (size_t)(dot - name));

		pgdrv_quote_ident(&b, schema);
		mg_buf_addc(&b, '.');
		free(schema);
		pgdrv_quote_ident(&b, dot + 1);
	} else {
		pgdrv_quote_ident(&b, name);
	}
	return mg_buf_detach(&b);
}

static int fetch_key(struct pgdrv_conn *pc, struct mg_table_desc *t, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;

	/* the primary key, else the narrowest unique, non-partial, plain
	 * index whose columns are all NOT NULL */
	mg_buf_addf(&sql,
		"WITH cand AS (SELECT i.indexrelid, i.indisprimary, i.indnkeyatts AS n "
		"FROM pg_index i WHERE i.indrelid = %s AND i.indisvalid AND i.indisunique "
		"AND i.indpred IS NULL AND i.indexprs IS NULL "
		"AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey) k(a) JOIN pg_attribute a "
		"ON a.attrelid = i.indrelid AND a.attnum = k.a WHERE NOT a.attnotnull) "
		"ORDER BY i.indisprimary DESC, i.indnkeyatts, i.indexrelid LIMIT 1) "
		"SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod) "
		"FROM cand JOIN pg_index i ON i.indexrelid = cand.indexrelid "
		"CROSS JOIN LATERAL unnest(i.indkey[0:cand.n - 1]) WITH ORDINALITY AS k(attnum, ord) "
		"JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
		"ORDER BY k.ord", pgdesc(t)->oid);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	t->key.n = (size_t)PQntuples(res);
	t->key.cols = mg_xcalloc(t->key.n + 1, sizeof(char *));
	t->key.types = mg_xcalloc(t->key.n + 1, sizeof(char *));
	for (size_t i = 0; i < t->key.n; i++) {
		/* quote_ident() quotes only when needed: quote always */
		const char *raw = PQgetvalue(res, (int)i, 0);

		if (raw[0] == '"')
			t->key.cols[i] = mg_xstrdup(raw);
		else
			t->key.cols[i] = qi(raw);
		t->key.types[i] = mg_xstrdup(PQgetvalue(res, (int)i, 1));
	}
	PQclear(res);
	if (!t->key.n)
		t->key_problem = "it has no primary key and no unique index over NOT NULL columns";
	return 0;
}

/* Resolve op->table; MG_EINPUT naming the file position when absent. */
static int pgdrv_describe_table(struct mg_conn *c, const struct mg_planner *pl,
				const struct mg_op *op, struct mg_table_desc *out,
				struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	char *q = quote_table_name(op->table);
	char *ql = lit(q);
	struct pgdesc *d;
	const char *kind;
	PGresult *res;

	mg_buf_addf(&sql, "SELECT c.oid::text, n.nspname, c.relname, c.relkind::text "
		    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
		    "WHERE c.oid = to_regclass(%s)", ql);
	free(ql);
	free(q);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		pos_error(err, MG_EINPUT, pl->m, op->table_pos,
			  "table '%s' does not exist", op->table);
		return mg_err_hint(err, "check the table name (schema-qualify it as schema.table if it is not on the search_path)");
	}
	d = mg_xcalloc(1, sizeof(*d));
	out->drv = d;
	out->drv_free = pgdesc_free;
	out->max_ident = PGDRV_MAX_IDENT;
	d->oid = mg_xstrdup(PQgetvalue(res, 0, 0));
	out->id = mg_xstrdup(d->oid);
	out->relname = mg_xstrdup(PQgetvalue(res, 0, 2));
	{
		struct mg_buf b = MG_BUF_INIT;

		pgdrv_quote_ident(&b, PQgetvalue(res, 0, 1));
		mg_buf_addc(&b, '.');
		pgdrv_quote_ident(&b, PQgetvalue(res, 0, 2));
		out->q = mg_buf_detach(&b);
	}
	d->qlit = lit(out->q);
	/* the schema is what comes before the last '.': wrong for table names
	 * holding a '.', as it always was (plans must not change) */
	d->qschema = mg_xstrndup(out->q, strlen(out->q) - strlen(strrchr(out->q, '.')));
	kind = PQgetvalue(res, 0, 3);
	if (strcmp(kind, "r") != 0) {
		pos_error(err, MG_EREFUSED, pl->m, op->table_pos,
			  "'%s' is not a plain table (relkind '%s'): %s",
			  op->table, kind,
			  !strcmp(kind, "p") ? "partitioned tables are not supported yet" :
			  "views and other relations cannot be migrated");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return fetch_key(pc, out, err);
}

/* 0 found, 1 absent, -1 error. The column's drv is its attnum (text). */
static int pgdrv_describe_column(struct mg_conn *c, const struct mg_planner *pl,
				 const struct mg_table_desc *t, const char *name,
				 struct mg_column_desc *out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	char *nl = lit(name);
	PGresult *res;

	(void)pl;
	mg_buf_addf(&sql,
		"SELECT a.attnum::text, format_type(a.atttypid, a.atttypmod), "
		"CASE WHEN a.attcollation <> 0 AND a.attcollation <> ty.typcollation THEN "
		"(SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) "
		"FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace "
		"WHERE co.oid = a.attcollation) END, a.attnotnull::text, "
		"pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text, "
		"a.attgenerated::text, col_description(a.attrelid, a.attnum) "
		"FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid "
		"LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum "
		"WHERE a.attrelid = %s AND a.attname = %s AND a.attnum > 0 AND NOT a.attisdropped",
		pgdesc(t)->oid, nl);
	free(nl);
	res = query_pc(downcast(c), sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 1;
	}
	out->drv = mg_xstrdup(PQgetvalue(res, 0, 0));
	out->drv_free = free;
	out->type = mg_xstrdup(PQgetvalue(res, 0, 1));
	out->collation = PQgetisnull(res, 0, 2) ? NULL : mg_xstrdup(PQgetvalue(res, 0, 2));
	out->notnull = !strcmp(PQgetvalue(res, 0, 3), "true");
	out->default_expr = PQgetisnull(res, 0, 4) ? NULL : mg_xstrdup(PQgetvalue(res, 0, 4));
	out->comment = PQgetisnull(res, 0, 7) ? NULL : mg_xstrdup(PQgetvalue(res, 0, 7));
	if (PQgetvalue(res, 0, 5)[0])
		out->unsupported = "is an identity column";
	else if (PQgetvalue(res, 0, 6)[0])
		out->unsupported = "is a generated column";
	else if (out->default_expr && strstr(out->default_expr, "nextval("))
		out->unsupported = "takes its default from a sequence (serial)";
	PQclear(res);
	return 0;
}

/* ---- dependents ----------------------------------------------------------- */

/* SQL returning one text per dependent that migrate neither copies nor lets
 * die with the column (views, policies, triggers, generated columns ...);
 * op (may be NULL) leaves out what it lists under drops:. */
static char *others_sql(const char *tqlit, const char *col, const struct mg_op *op)
{
	struct mg_buf b = MG_BUF_INIT;
	char *cl = lit(col);

	mg_buf_addf(&b,
		"WITH col AS (SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass "
		"AND attname = %s AND NOT attisdropped), deps AS ("
		"SELECT d.classid, d.objid, d.objsubid, "
		"CASE WHEN d.classid = 'pg_rewrite'::regclass THEN (SELECT CASE c.relkind WHEN 'm' "
		"THEN 'materialized view ' ELSE 'view ' END || c.oid::regclass::text "
		"FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE r.oid = d.objid) "
		"ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END AS what, "
		"CASE WHEN d.classid = 'pg_rewrite'::regclass THEN (SELECT c.relname::text "
		"FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE r.oid = d.objid) "
		"WHEN d.classid = 'pg_policy'::regclass THEN (SELECT polname::text FROM pg_policy WHERE oid = d.objid) "
		"WHEN d.classid = 'pg_trigger'::regclass THEN (SELECT tgname::text FROM pg_trigger WHERE oid = d.objid) "
		"WHEN d.classid = 'pg_class'::regclass THEN (SELECT relname::text FROM pg_class WHERE oid = d.objid) "
		"ELSE '' END AS name "
		"FROM pg_depend d, col WHERE d.refclassid = 'pg_class'::regclass "
		"AND d.refobjid = %s::regclass AND d.refobjsubid = col.attnum AND d.deptype IN ('n', 'a') "
		"AND d.classid <> 'pg_constraint'::regclass "
		"AND d.classid <> 'pg_statistic_ext'::regclass "
		"AND NOT (d.classid = 'pg_class'::regclass AND EXISTS (SELECT 1 FROM pg_index i "
		"WHERE i.indexrelid = d.objid AND i.indrelid = %s::regclass)) "
		"AND NOT (d.classid = 'pg_attrdef'::regclass AND EXISTS (SELECT 1 FROM pg_attrdef ad "
		"WHERE ad.oid = d.objid AND ad.adrelid = %s::regclass AND ad.adnum = col.attnum)) "
		") "
		"SELECT DISTINCT what, name, classid::regclass::text FROM deps",
		tqlit, cl, tqlit, tqlit, tqlit);
	if (op && op->n_drops) {
		mg_buf_adds(&b, " WHERE name NOT IN (");
		for (size_t i = 0; i < op->n_drops; i++) {
			if (i)
				mg_buf_adds(&b, ", ");
			add_literal(&b, op->drops[i]);
		}
		mg_buf_adds(&b, ")");
	}
	free(cl);
	return mg_buf_detach(&b);
}

/* Fill a dependent of each row of sql: columns name, what, def, child,
 * unique (text "true") as mapped by cols (-1: none). */
static int add_deps(struct pgdrv_conn *pc, const char *sql,
		    enum mg_dep_kind kind, const int cols[5],
		    struct mg_dependents *out, struct mg_err *err)
{
	PGresult *res = query_pc(pc, sql, err);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct mg_dependent *d = mg_dependents_add(out, kind);
		char **f[4] = { &d->name, &d->what, &d->def, &d->child };

		for (int k = 0; k < 4; k++)
			if (cols[k] >= 0)
				*f[k] = mg_xstrdup(PQgetvalue(res, i, cols[k]));
		if (cols[4] >= 0)
			d->unique = !strcmp(PQgetvalue(res, i, cols[4]), "true");
	}
	PQclear(res);
	return 0;
}

/* Views, policies, triggers, generated columns ... on the column; def is
 * the catalog they live in (pg_rewrite, pg_policy, pg_trigger, ...). */
static int others_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
		     const char *col, struct mg_dependents *out,
		     struct mg_err *err)
{
	char *sql = others_sql(pgdesc(t)->qlit, col, NULL);
	size_t from = out->n;
	int rc = add_deps(pc, sql, MG_DEP_OBJECT, (const int[5]){ 1, 0, 2, -1, -1 },
			  out, err);

	free(sql);
	for (size_t i = from; i < out->n; i++) {
		const char *cls = out->v[i].def;

		out->v[i].droppable = !strcmp(cls, "pg_rewrite") ||
				      !strcmp(cls, "pg_policy") ||
				      !strcmp(cls, "pg_trigger");
	}
	return rc;
}

/* Append s to b as a regular expression matching s literally. */
static void add_regex_escaped(struct mg_buf *b, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (strchr("\\.^$|?*+()[]{}", *p))
			mg_buf_addc(b, '\\');
		mg_buf_addc(b, *p);
	}
}

/*
 * User triggers whose function's code names the column: PostgreSQL records
 * no dependency for PL/pgSQL bodies, so read the source.
 */
static int code_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
		   const char *col, struct mg_dependents *out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT, re = MG_BUF_INIT;
	int rc;

	mg_buf_adds(&re, "\\m");
	add_regex_escaped(&re, col);
	mg_buf_adds(&re, "\\M");
	mg_buf_addf(&sql, "SELECT t.tgname, p.oid::regprocedure::text FROM pg_trigger t "
		    "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = %s AND NOT t.tgisinternal "
		    "AND t.tgname NOT LIKE 'zz\\_migrate\\_%%' AND p.prosrc ~* ", pgdesc(t)->oid);
	add_literal(&sql, re.buf);
	mg_buf_adds(&sql, " ORDER BY 1");
	rc = add_deps(pc, sql.buf, MG_DEP_CODE, (const int[5]){ 0, 1, -1, -1, -1 },
		      out, err);
	mg_buf_release(&sql);
	mg_buf_release(&re);
	return rc;
}

/* Column privileges: def the privilege, child the grantee, unique the
 * grant option. */
static int grants_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
		     const char *attnum, struct mg_dependents *out,
		     struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	int rc;

	mg_buf_addf(&sql, "SELECT x.privilege_type, CASE WHEN x.grantee = 0 THEN 'PUBLIC' "
		    "ELSE quote_ident(pg_get_userbyid(x.grantee)) END, x.is_grantable::text "
		    "FROM pg_attribute a, aclexplode(a.attacl) x WHERE a.attrelid = %s AND a.attnum = %s "
		    "ORDER BY 2, 1", pgdesc(t)->oid, attnum);
	rc = add_deps(pc, sql.buf, MG_DEP_GRANT, (const int[5]){ -1, -1, 0, 1, 2 },
		      out, err);
	mg_buf_release(&sql);
	return rc;
}

/* Indexes on the table over the column, except those behind constraints. */
static int indexes_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
		      const char *attnum, struct mg_dependents *out,
		      struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	int rc;

	mg_buf_addf(&sql,
		"SELECT ic.relname, pg_get_indexdef(i.indexrelid), i.indisunique::text "
		"FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
		"WHERE i.indrelid = %s AND EXISTS (SELECT 1 FROM pg_depend d "
		"WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid "
		"AND d.refobjid = %s AND d.refobjsubid = %s) "
		"AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid "
		"AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')) ORDER BY 1",
		pgdesc(t)->oid, pgdesc(t)->oid, attnum);
	rc = add_deps(pc, sql.buf, MG_DEP_INDEX, (const int[5]){ 0, -1, 1, -1, 2 },
		      out, err);
	mg_buf_release(&sql);
	return rc;
}

/* Constraints of the table over the column: def the constraint's
 * definition, for a unique one the definition of its index. */
static int constraints_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
			  const char *attnum, struct mg_dependents *out,
			  struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;

	mg_buf_addf(&sql,
		"SELECT k.conname, k.contype::text, pg_get_constraintdef(k.oid), "
		"coalesce(pg_get_indexdef(k.conindid), '') "
		"FROM pg_constraint k WHERE k.conrelid = %s AND %s = ANY(k.conkey) ORDER BY 1",
		pgdesc(t)->oid, attnum);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		char type = PQgetvalue(res, i, 1)[0];
		enum mg_dep_kind kind = type == 'c' ? MG_DEP_CHECK :
					type == 'u' ? MG_DEP_UNIQUE :
					type == 'f' ? MG_DEP_FOREIGN_KEY : MG_DEP_CONSTRAINT;
		struct mg_dependent *d = mg_dependents_add(out, kind);

		d->name = mg_xstrdup(PQgetvalue(res, i, 0));
		d->def = mg_xstrdup(PQgetvalue(res, i, kind == MG_DEP_UNIQUE ? 3 : 2));
		d->unique = kind == MG_DEP_UNIQUE;
	}
	PQclear(res);
	return 0;
}

/* Foreign keys of other tables that reference the column. */
static int inbound_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
		      const char *attnum, struct mg_dependents *out,
		      struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	int rc;

	mg_buf_addf(&sql,
		"SELECT k.conname, quote_ident(n.nspname) || '.' || quote_ident(r.relname), "
		"pg_get_constraintdef(k.oid) FROM pg_constraint k "
		"JOIN pg_class r ON r.oid = k.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
		"WHERE k.contype = 'f' AND k.confrelid = %s AND %s = ANY(k.confkey) ORDER BY 1",
		pgdesc(t)->oid, attnum);
	rc = add_deps(pc, sql.buf, MG_DEP_INBOUND_FK, (const int[5]){ 0, -1, 2, 1, -1 },
		      out, err);
	mg_buf_release(&sql);
	return rc;
}

static int pgdrv_column_dependents(struct mg_conn *c, const struct mg_planner *pl,
				   const struct mg_table_desc *t, const char *col,
				   const struct mg_column_desc *cd,
				   struct mg_dependents *out, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	const char *attnum = cd->drv;

	(void)pl;
	if (others_of(pc, t, col, out, err) < 0 ||
	    code_of(pc, t, col, out, err) < 0 ||
	    grants_of(pc, t, attnum, out, err) < 0 ||
	    indexes_of(pc, t, attnum, out, err) < 0 ||
	    constraints_of(pc, t, attnum, out, err) < 0 ||
	    inbound_of(pc, t, attnum, out, err) < 0)
		return -1;
	return 0;
}

/* ---- expressions and types ----------------------------------------------- */

/*
 * Run one statement of the planner's own making with text parameters, in
 * a savepoint: the extended protocol takes exactly one statement, so text
 * from the migration file inside it cannot start another. 0 with *out set
 * (may be NULL: then cleared here), 1 when the server refused it (its
 * message in msg, its SQLSTATE in state), -1 with err set when the
 * savepoint itself fails.
 */
static int probe(struct planner *pl, const char *sql, int n, const char *const *values,
		 PGresult **out, char msg[PGDRV_MSG], char state[6], struct mg_err *err)
{
	PGresult *res;
	struct mg_err why = MG_ERR_INIT;

	if (exec_pc(pl->pc, "SAVEPOINT mg_probe", err) < 0)
		return -1;
	res = exec_bounded_params(pl->pc, sql, n, values);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
		set_result_error(&why, res, pl->pc, NULL);
		snprintf(msg, PGDRV_MSG, "%s", why.msg);
		snprintf(state, 6, "%s", sqlstate(res));
		PQclear(res);
		return exec_pc(pl->pc, "ROLLBACK TO SAVEPOINT mg_probe", err) < 0 ? -1 : 1;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return exec_pc(pl->pc, "RELEASE SAVEPOINT mg_probe", err);
}

/* The lexical check of an expression (sqltext.h), with its position. */
static int check_expr_text(struct planner *pl, const char *what, const char *expr,
			   struct mg_pos pos, struct mg_err *err)
{
	const char *why;

	if (mg_sqltext_check_expr(expr, MG_SQL_POSTGRES, &why) == 0)
		return 0;
	pos_error(err, MG_EINPUT, pl->m, pos, "%s '%s' %s", what, expr, why);
	return mg_err_hint(err, "write one SQL expression: no ';', no comments, balanced parentheses; statements of their own belong in a sql step");
}

/* A typo in an expression would break every write through the trigger:
 * evaluate it against the table (no rows read) before anything changes. */
static int check_row_expr(struct planner *pl, const struct mg_table_desc *t,
			  const char *expr, struct mg_pos pos, struct mg_err *err)
{
	char msg[PGDRV_MSG], state[6];
	char *sql;
	int rc;

	if (check_expr_text(pl, "expression", expr, pos, err) < 0)
		return -1;
	sql = mg_xasprintf("SELECT (%s) FROM %s LIMIT 0", expr, t->q);
	rc = probe(pl, sql, 0, NULL, NULL, msg, state, err);
	free(sql);
	if (rc == 1) {
		pos_error(err, MG_EINPUT, pl->m, pos,
			  "expression '%s' does not work on %s: %s", expr, t->q, msg);
		return mg_err_hint(err, "write an expression over the columns of %s", t->q);
	}
	return rc;
}

/* `where:` is one boolean expression over t. A column that an earlier
 * operation adds does not exist while planning: then only the text is
 * checked here, and the server checks the rest at expand. */
static int check_where(struct planner *pl, const char *where, struct mg_pos pos,
		       const struct mg_table_desc *t, struct mg_err *err)
{
	char msg[PGDRV_MSG], state[6];
	char *sql;
	int rc;

	if (check_expr_text(pl, "where", where, pos, err) < 0)
		return -1;
	sql = mg_xasprintf("SELECT 1 FROM %s WHERE (%s) LIMIT 0", t->q, where);
	rc = probe(pl, sql, 0, NULL, NULL, msg, state, err);
	free(sql);
	if (rc == 1 && !(strcmp(state, "42703") == 0 &&
			 mg_planner_adds_columns(pl->core, t))) {
		pos_error(err, MG_EINPUT, pl->m, pos,
			  "where '%s' is not a boolean expression over %s: %s",
			  where, t->q, msg);
		return mg_err_hint(err, "write one condition over the columns of %s, e.g. deleted_at IS NULL", t->q);
	}
	return rc < 0 ? -1 : 0;
}

static int pgdrv_check_expr(struct mg_conn *c, const struct mg_planner *pl,
			    const struct mg_table_desc *t, enum mg_expr_use use,
			    const char *expr, struct mg_pos pos, struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	switch (use) {
	case MG_EXPR_ROW:
		return check_row_expr(&p, t, expr, pos, err);
	case MG_EXPR_WHERE:
		return check_where(&p, expr, pos, t, err);
	case MG_EXPR_TEXT:
		break;
	}
	return check_expr_text(&p, "expression", expr, pos, err);
}

/*
 * The type of a new column, as the server spells it (format_type): the
 * text must be exactly one type name (to_regtype parses it as such and
 * nothing else), and its modifier (varchar(20), numeric(10,2)) is the one
 * a NULL cast to it has. *out is owned by the caller.
 */
static int canonical_type_name(struct planner *pl, const struct mg_op *op, const char *text,
			       char **out, struct mg_err *err)
{
	char msg[PGDRV_MSG], state[6], mod[16];
	const char *v[2];
	PGresult *res = NULL;
	char *oid = NULL, *sql;
	int rc;

	*out = NULL;
	if (check_expr_text(pl, "type", text, op->type_pos, err) < 0)
		return -1;
	v[0] = text;
	rc = probe(pl, "SELECT to_regtype($1)::oid", 1, v, &res, msg, state, err);
	if (rc == 0 && !PQgetisnull(res, 0, 0))
		oid = mg_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	res = NULL;
	if (rc < 0)
		return -1;
	if (!oid) {
		if (rc == 1)
			pos_error(err, MG_EINPUT, pl->m, op->type_pos,
				  "type '%s' is not one PostgreSQL type name: %s", text, msg);
		else
			pos_error(err, MG_EINPUT, pl->m, op->type_pos,
				  "type '%s' does not exist", text);
		return mg_err_hint(err, "write one type such as text, varchar(20), numeric(10,2), timestamptz or int[]");
	}
	sql = mg_xasprintf("SELECT NULL::%s", text);
	rc = probe(pl, sql, 0, NULL, &res, msg, state, err);
	free(sql);
	if (rc == 1) {
		pos_error(err, MG_EINPUT, pl->m, op->type_pos, "type '%s': %s", text, msg);
		mg_err_hint(err, "write one type such as text, varchar(20), numeric(10,2), timestamptz or int[]");
	}
	if (rc != 0) {
		free(oid);
		return -1;
	}
	/* The row description shows a domain as its base type: no modifier. */
	snprintf(mod, sizeof(mod), "%d",
		 PQftype(res, 0) == (Oid)strtoul(oid, NULL, 10) ? PQfmod(res, 0) : -1);
	PQclear(res);
	res = NULL;
	v[0] = oid;
	v[1] = mod;
	rc = probe(pl, "SELECT format_type($1::oid, $2::int)", 2, v, &res, msg, state, err);
	free(oid);
	if (rc == 1) {
		pos_error(err, MG_EINPUT, pl->m, op->type_pos, "type '%s': %s", text, msg);
		mg_err_hint(err, "write one type such as text, varchar(20), numeric(10,2), timestamptz or int[]");
	}
	if (rc == 0)
		*out = mg_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc == 0 ? 0 : -1;
}

/* Where " COLLATE " starts in a type (outside "quoted" names), or NULL. */
static const char *find_collate(const char *s)
{
	int quoted = 0;

	for (const char *p = s; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && p > s && isspace((unsigned char)p[-1]) &&
			 !strncasecmp(p, "collate", 7) && (isspace((unsigned char)p[7]) || p[7] == '"'))
			return p;
	}
	return NULL;
}

/* A collation name as the file may write it: name, "Name" or
 * schema.name; nothing else can follow COLLATE in a type. */
static int collation_shaped(const char *s)
{
	while (*s) {
		if (*s == '"') {
			const char *close = strchr(s + 1, '"');

			if (!close || close == s + 1)
				return 0;
			s = close + 1;
		} else if (isalpha((unsigned char)*s) || *s == '_') {
			while (isalnum((unsigned char)*s) || *s == '_' || *s == '$')
				s++;
		} else {
			return 0;
		}
		if (*s == '.' && s[1])
			s++;
		else if (*s)
			return 0;
	}
	return 1;
}

/*
 * The type of a new column as the server spells it, with its COLLATE
 * clause if the file gives one (`text COLLATE "C"`): the type by
 * canonical_type_name(), the collation by its shape and then by the server
 * (a NULL of the type collated so). *out is owned by the caller.
 */
static int canonical_type(struct planner *pl, const struct mg_op *op, char **out,
			  struct mg_err *err)
{
	const char *at = find_collate(op->type);
	char msg[PGDRV_MSG], state[6];
	char *name, *coll, *sql;
	int rc;

	if (!at)
		return canonical_type_name(pl, op, op->type, out, err);
	name = mg_xstrndup(op->type, (size_t)(at - op->type));
	coll = mg_xstrdup(at + 7 + strspn(at + 7, " \t\r\n"));
	coll[strcspn(coll, " \t\r\n")] = '\0';
	if (!collation_shaped(coll) || strlen(at + 7 + strspn(at + 7, " \t\r\n")) != strlen(coll)) {
		pos_error(err, MG_EINPUT, pl->m, op->type_pos,
			  "type '%s' has something after COLLATE that is not one collation name", op->type);
		mg_err_hint(err, "write TYPE COLLATE name, e.g. text COLLATE \"C\"");
		rc = -1;
	} else {
		rc = canonical_type_name(pl, op, name, out, err);
	}
	if (rc == 0) {
		sql = mg_xasprintf("SELECT NULL::%s COLLATE %s", *out, coll);
		rc = probe(pl, sql, 0, NULL, NULL, msg, state, err);
		free(sql);
		if (rc == 1) {
			pos_error(err, MG_EINPUT, pl->m, op->type_pos, "type '%s': %s", op->type, msg);
			mg_err_hint(err, "name a collation of this database (SELECT collname FROM pg_collation)");
		}
		if (rc == 0) {
			sql = mg_xasprintf("%s COLLATE %s", *out, coll);
			free(*out);
			*out = sql;
		} else {
			free(*out);
			*out = NULL;
			rc = -1;
		}
	}
	free(name);
	free(coll);
	return rc;
}


/* `method:` is pasted as a name: it must look like one. */
static int check_method(struct planner *pl, const struct mg_op *op, struct mg_err *err)
{
	const char *s = op->method;

	for (size_t k = 0; s[k]; k++)
		if (!(islower((unsigned char)s[k]) || s[k] == '_' ||
		      (k && isdigit((unsigned char)s[k])))) {
			pos_error(err, MG_EINPUT, pl->m, op->method_pos,
				  "index method '%s' is not a name", s);
			return mg_err_hint(err, "write an access method such as btree, hash, gin, gist, brin");
		}
	return 0;
}

/* A sql step migrate runs in a transaction must not end it: the plan's
 * is rolled back (a COMMIT in it would make `plan` change the database),
 * and a step's carries its history row. */
static int check_sql_tx(struct planner *pl, const struct mg_op *op, struct mg_err *err)
{
	const char *word;

	for (int ph = 0; op->in_transaction && ph < MG_SQL_NPHASES; ph++)
		if (op->sql[ph] && mg_sqltext_pg_tx_control(op->sql[ph], &word)) {
			pos_error(err, MG_EINPUT, pl->m, op->pos,
				  "the %s SQL of this sql step has a %s statement: migrate runs it in a transaction of its own",
				  mg_sql_phase_name((enum mg_sql_phase)ph), word);
			return mg_err_hint(err, "remove the statement, or set 'in_transaction: false' to run the SQL as written");
		}
	return 0;
}

static int pgdrv_canonical_type(struct mg_conn *c, const struct mg_planner *pl,
				const struct mg_op *op, char **out, struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	return canonical_type(&p, op, out, err);
}

/* create_index beyond its columns: the method's name and where:. */
static int pgdrv_check_index(struct mg_conn *c, const struct mg_planner *pl,
			     const struct mg_op *op, const struct mg_table_desc *t,
			     struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	if ((op->method && check_method(&p, op, err) < 0) ||
	    (op->where && check_where(&p, op->where, op->where_pos, t, err) < 0))
		return -1;
	return 0;
}

/* A sql step's expand SQL runs in the planning transaction (in a
 * savepoint), so that later operations see the tables it creates. */
static int pgdrv_check_sql(struct mg_conn *c, struct mg_planner *pl,
			   const struct mg_op *op, struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	if (check_sql_tx(&p, op, err) < 0)
		return -1;
	if (!op->sql[MG_SQL_EXPAND] || !op->in_transaction)
		return 0;
	if (exec_pc(p.pc, "SAVEPOINT mg_sql", err) < 0)
		return -1;
	if (exec_pc(p.pc, op->sql[MG_SQL_EXPAND], err) < 0) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		return pos_error(err, MG_EINPUT, p.m, op->pos,
				 "the expand SQL of this sql step fails: %s", msg);
	}
	return 0;
}

/* Planning runs in a transaction that is always rolled back. */
static int pgdrv_plan_begin(struct mg_conn *c, struct mg_planner *pl,
			    struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_err ignored = MG_ERR_INIT;
	char setting[128];

	(void)pl;
	snprintf(setting, sizeof(setting), "SET LOCAL lock_timeout = %d",
		 pc->opts.lock_timeout_ms);
	if (exec_pc(pc, "BEGIN", err) < 0)
		return -1;
	if (exec_pc(pc, setting, err) < 0) {
		exec_pc(pc, "ROLLBACK", &ignored);
		return -1;
	}
	return 0;
}

static int pgdrv_plan_end(struct mg_conn *c, struct mg_planner *pl, int failed,
			  struct mg_err *err)
{
	struct mg_err ignored = MG_ERR_INIT;

	(void)pl;
	return exec_pc(downcast(c), "ROLLBACK", failed ? &ignored : err);
}

/* What plan shows: user triggers the backfill fires, publications that
 * replicate it. */
static void pgdrv_plan_notes(struct mg_conn *c, const struct mg_planner *pl,
			     struct mg_plan *out)
{
	for (size_t t = 0; t < pl->n_tables; t++) {
		const struct mg_table_desc *td = &pl->tables[t]->t;
		struct mg_buf sql = MG_BUF_INIT;
		struct mg_err ignored = MG_ERR_INIT;
		PGresult *res;

		mg_buf_addf(&sql, "SELECT 'the backfill of ' || %s || ' fires user trigger ' || quote_ident(tgname) "
			    "FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal AND tgenabled <> 'D' "
			    "AND tgname NOT LIKE 'zz\\_migrate\\_%%' AND (tgtype & 16) <> 0 "
			    "UNION ALL SELECT 'the backfill of ' || %s || ' is replicated through publication ' || quote_ident(pubname) "
			    "FROM pg_publication_tables WHERE to_regclass(format('%%I.%%I', schemaname, tablename)) = %s::oid",
			    pgdesc(td)->qlit, pgdesc(td)->oid, pgdesc(td)->qlit, pgdesc(td)->oid);
		res = query_pc(downcast(c), sql.buf, &ignored);
		mg_buf_release(&sql);
		for (int i = 0; res && i < PQntuples(res); i++)
			mg_plan_add_note(out, PQgetvalue(res, i, 0));
		PQclear(res);
	}
}

/* ==== planning: rendering =========================================================== */

/*
 * The core decides the steps and their order (src/planner_emit.c); here
 * each is written as PostgreSQL SQL (driver.h: render). Every change is
 * idempotent (IF [NOT] EXISTS, DO blocks guarded by the catalog), so a
 * step run again after a crash before its history row finds it done.
 */

/* base + suffix, cut to fit an identifier. */
static char *mkname(const char *base, const char *suffix)
{
	return mg_planner_name(PGDRV_MAX_IDENT, base, suffix);
}

/*
 * Replace every reference to identifier `from` in a SQL fragment with the
 * quoted identifier `to`, skipping string literals. Bare identifiers
 * compare case-insensitively (they fold to lower case), quoted ones exactly.
 */
static char *subst_ident(const char *sql, const char *from, const char *to)
{
	struct mg_buf b = MG_BUF_INIT;
	const char *p = sql;

	while (*p) {
		if (*p == '\'') {
			const char *s = p++;

			while (*p && !(*p == '\'' && p[1] != '\''))
				p += (*p == '\'' ? 2 : 1);
			if (*p)
				p++;
			mg_buf_add(&b, s, (size_t)(p - s));
		} else if (*p == '"') {
			struct mg_buf id = MG_BUF_INIT;
			const char *s = p++;

			while (*p) {
				if (*p == '"' && p[1] == '"') {
					mg_buf_addc(&id, '"');
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					mg_buf_addc(&id, *p++);
				}
			}
			if (!strcmp(id.buf, from))
				pgdrv_quote_ident(&b, to);
			else
				mg_buf_add(&b, s, (size_t)(p - s));
			mg_buf_release(&id);
		} else if (isalpha((unsigned char)*p) || *p == '_') {
			const char *s = p;
			int prev_dot = p > sql && p[-1] == '.';
			int after_cast = 0;
			size_t n;

			for (const char *q = p; q > sql + 1; q--) {
				if (q[-1] == ' ')
					continue;
				after_cast = q[-1] == ':' && q[-2] == ':';
				break;
			}

			while (isalnum((unsigned char)*p) || *p == '_' || *p == '$')
				p++;
			n = (size_t)(p - s);
			if (!prev_dot && !after_cast && *p != '(' && n == strlen(from) &&
			    !strncasecmp(s, from, n))
				pgdrv_quote_ident(&b, to);
			else
				mg_buf_add(&b, s, n);
		} else {
			mg_buf_addc(&b, *p++);
		}
	}
	return mg_buf_detach(&b);
}

/* The text between the first '(' at or after from and its matching ')'. */
static int paren_span(const char *s, const char *from, size_t *start, size_t *end)
{
	const char *open = strchr(from, '(');
	int depth = 0;

	if (!open)
		return -1;
	for (const char *p = open; *p; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0) {
			*start = (size_t)(open - s);
			*end = (size_t)(p - s) + 1;
			return 0;
		}
	}
	return -1;
}

/* def with `old` renamed to `new_col` only inside the parenthesised list
 * that starts at or after `anchor` (NULL: the first list). */
static char *subst_in_list(const char *def, const char *anchor, const char *old,
			   const char *new_col)
{
	const char *from = anchor ? strstr(def, anchor) : def;
	size_t a, z;
	struct mg_buf b = MG_BUF_INIT;
	char *seg, *rep;

	if (!from || paren_span(def, from, &a, &z) < 0)
		return mg_xstrdup(def);
	seg = mg_xstrndup(def + a, z - a);
	rep = subst_ident(seg, old, new_col);
	mg_buf_add(&b, def, a);
	mg_buf_adds(&b, rep);
	mg_buf_adds(&b, def + z);
	free(seg);
	free(rep);
	return mg_buf_detach(&b);
}

static char *strip_not_valid(const char *def)
{
	char *s = mg_xstrdup(def);
	char *nv = strstr(s, " NOT VALID");

	if (nv)
		*nv = '\0';
	return s;
}

static int is_quoted_ident(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return 0;
	for (size_t i = 1; i < n - 1; i++)
		if (s[i] == '"' && s[++i] != '"')
			return 0;
	return 1;
}

/* An expression over the row being written, usable in the trigger. */
static void row_expr(struct mg_buf *b, const char *expr)
{
	if (is_quoted_ident(expr))
		mg_buf_addf(b, "NEW.%s", expr);
	else
		mg_buf_addf(b, "(SELECT (%s) FROM (SELECT NEW.*) AS _mg_row)", expr);
}

static char *trigger_name(const struct mg_planner *pl, const struct mg_tplan *tp)
{
	char *base = mg_xasprintf("zz_migrate_%d_%s", pl->m->id, tp->t.relname);
	char *n = mkname(base, "");

	free(base);
	return n;
}

static char *function_name(const struct mg_planner *pl, const struct mg_tplan *tp)
{
	char *base = mg_xasprintf("_migrate_%d_%s", pl->m->id, tp->t.relname);
	char *n = mkname(base, "_sync");
	char *q = qi(n);
	char *full = mg_xasprintf("%s.%s", pgdesc(&tp->t)->qschema, q);

	free(base);
	free(n);
	free(q);
	return full;
}

/*
 * The dual-write trigger (design §6): on INSERT a pair whose new side is set
 * is green's (old := down(new), marker 2), otherwise blue's (new :=
 * up(old), marker 1); on UPDATE whichever side changed wins, the new one on
 * conflict; a row untouched so far gets new := up(old). The backfill's own
 * session skips it through the WHEN clause.
 */
static void render_trigger(struct mg_buf *b, const struct mg_planner *pl,
			   const struct mg_tplan *tp)
{
	char *fn = function_name(pl, tp);
	char *trg = trigger_name(pl, tp);
	char *qtrg = qi(trg);
	const char *mk = pl->marker;
	char *qm = qi(mk);
	int only_drop = !tp->has_marker;

	mg_buf_addf(b, "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $mg_fn$\n"
		    "DECLARE\n"
		    "  _mg_writer text := nullif(current_setting('migrate.writer', true), '');\n"
		    "  _mg_new boolean := false;\n"
		    "  _mg_old boolean := false;\n"
		    "BEGIN\n"
		    "  IF TG_OP = 'INSERT' THEN\n", fn);
	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qo = p->old_col ? qi(p->old_col) : NULL;
		char *qn = p->new_col ? qi(p->new_col) : NULL;

		if (p->kind == MG_PAIR_REPLACE) {
			mg_buf_addf(b, "    IF coalesce(_mg_writer = 'new', NEW.%s IS NOT NULL) THEN\n      NEW.%s := ", qn, qo);
			row_expr(b, p->down);
			mg_buf_addf(b, ";\n      _mg_new := true;\n    ELSE\n      NEW.%s := ", qn);
			row_expr(b, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else if (p->kind == MG_PAIR_ADD) {
			mg_buf_addf(b, "    IF NEW.%s IS NOT NULL OR _mg_writer = 'new' THEN\n"
				    "      _mg_new := true;\n    ELSE\n      NEW.%s := ", qn, qn);
			row_expr(b, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else {
			mg_buf_addf(b, "    IF NEW.%s IS NULL THEN\n      NEW.%s := ", qo, qo);
			row_expr(b, p->down);
			mg_buf_adds(b, ";\n    END IF;\n");
		}
		free(qo);
		free(qn);
	}
	if (!only_drop) {
		mg_buf_addf(b, "    NEW.%s := CASE WHEN _mg_new THEN 2 ELSE 1 END;\n", qm);
		mg_buf_adds(b, "  ELSE\n");
		for (size_t i = 0; i < tp->n_pairs; i++) {
			const struct mg_pair *p = &tp->pairs[i];
			char *qo = p->old_col ? qi(p->old_col) : NULL;
			char *qn = p->new_col ? qi(p->new_col) : NULL;

			if (p->kind != MG_PAIR_DROP && p->up)
				mg_buf_addf(b, "    _mg_new := _mg_new OR NEW.%s IS DISTINCT FROM OLD.%s;\n", qn, qn);
			if (p->kind == MG_PAIR_REPLACE)
				mg_buf_addf(b, "    _mg_old := _mg_old OR NEW.%s IS DISTINCT FROM OLD.%s;\n", qo, qo);
			free(qo);
			free(qn);
		}
		mg_buf_adds(b, "    IF _mg_writer = 'new' THEN\n      _mg_new := true;\n"
			    "    ELSIF _mg_writer = 'old' THEN\n      _mg_new := false;\n      _mg_old := true;\n    END IF;\n");
		/* each pair follows the side of it that changed: a write to one
		 * new column never recomputes another pair's old column */
		for (size_t i = 0; i < tp->n_pairs; i++) {
			const struct mg_pair *p = &tp->pairs[i];
			char *qo = p->old_col ? qi(p->old_col) : NULL;
			char *qn = p->new_col ? qi(p->new_col) : NULL;

			if (p->kind == MG_PAIR_REPLACE) {
				mg_buf_addf(b, "    IF _mg_writer = 'new' OR (_mg_writer IS NULL AND NEW.%s IS DISTINCT FROM OLD.%s) THEN\n      NEW.%s := ",
					    qn, qn, qo);
				row_expr(b, p->down);
				mg_buf_addf(b, ";\n    ELSIF _mg_writer = 'old' OR NEW.%s IS DISTINCT FROM OLD.%s OR NEW.%s = 0 THEN\n      NEW.%s := ",
					    qo, qo, qm, qn);
				row_expr(b, p->up);
				mg_buf_adds(b, ";\n    END IF;\n");
			} else if (p->kind == MG_PAIR_ADD && p->up) {
				mg_buf_addf(b, "    IF NEW.%s IS NULL AND NEW.%s = 0 AND _mg_writer IS DISTINCT FROM 'new' THEN\n      NEW.%s := ",
					    qn, qm, qn);
				row_expr(b, p->up);
				mg_buf_adds(b, ";\n    END IF;\n");
			}
			free(qo);
			free(qn);
		}
		mg_buf_addf(b, "    IF _mg_new THEN\n      NEW.%s := 2;\n    ELSIF _mg_old OR NEW.%s = 0 THEN\n"
			    "      NEW.%s := 1;\n    END IF;\n", qm, qm, qm);
	}
	mg_buf_adds(b, "  END IF;\n  RETURN NEW;\nEND\n$mg_fn$;\n");
	mg_buf_addf(b, "DROP TRIGGER IF EXISTS %s ON %s;\n", qtrg, tp->t.q);
	mg_buf_addf(b, "CREATE TRIGGER %s BEFORE INSERT%s ON %s FOR EACH ROW "
		    "WHEN (current_setting('migrate.backfill', true) IS DISTINCT FROM '%d') "
		    "EXECUTE FUNCTION %s();\n",
		    qtrg, only_drop ? "" : " OR UPDATE", tp->t.q, pl->m->id, fn);
	free(fn);
	free(trg);
	free(qtrg);
	free(qm);
}

static void render_drop_trigger(struct mg_buf *b, const struct mg_planner *pl,
				const struct mg_tplan *tp)
{
	char *fn = function_name(pl, tp);
	char *trg = trigger_name(pl, tp);
	char *qtrg = qi(trg);

	mg_buf_addf(b, "DROP TRIGGER IF EXISTS %s ON %s;\nDROP FUNCTION IF EXISTS %s();\n",
		    qtrg, tp->t.q, fn);
	free(fn);
	free(trg);
	free(qtrg);
}

static void join_alter(struct mg_buf *b, const char *table, const struct mg_strlist *parts,
		       const char *extra)
{
	if (!parts->n && !extra)
		return;
	mg_buf_addf(b, "ALTER TABLE %s ", table);
	for (size_t i = 0; i < parts->n; i++)
		mg_buf_addf(b, "%s%s", i ? ", " : "", parts->items[i]);
	if (extra)
		mg_buf_addf(b, "%s%s", parts->n ? ", " : "", extra);
	mg_buf_adds(b, ";\n");
}

static void lock_tables(struct mg_buf *b, const struct mg_tplan *tp, const char *mode,
			int with_children)
{
	mg_buf_addf(b, "LOCK TABLE %s IN %s MODE;\n", tp->t.q, mode);
	for (size_t i = 0; with_children && i < tp->children.n; i++)
		mg_buf_addf(b, "LOCK TABLE %s IN %s MODE;\n", tp->children.items[i], mode);
}

/* A DO block that runs `stmt` only when `cond_sql` (a boolean) is true. */
static void add_guarded(struct mg_buf *b, const char *cond_sql, const char *stmt)
{
	mg_buf_addf(b, "DO $mg$ BEGIN IF %s THEN %s; END IF; END $mg$;\n", cond_sql, stmt);
}

static char *constraint_absent(const char *rel_qlit, const char *name)
{
	char *nl = lit(name);
	char *s = mg_xasprintf("NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
			       rel_qlit, nl);

	free(nl);
	return s;
}

/* Rename copy to final on rel, if the copy is there and final is not. */
static void add_rename_constraint(struct mg_buf *b, const char *rel,
				  const char *rel_qlit, const char *copy,
				  const char *final)
{
	char *qc = qi(copy), *qf = qi(final);
	char *cl = lit(copy), *fl = lit(final);
	char *ren = mg_xasprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", rel, qc, qf);
	char *cond = mg_xasprintf("EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s) AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
				  rel_qlit, cl, rel_qlit, fl);

	add_guarded(b, cond, ren);
	free(qc);
	free(qf);
	free(cl);
	free(fl);
	free(ren);
	free(cond);
}

/* A dependent's definition with every rename of p applied: anchor NULL
 * renames everywhere, "" in the first parenthesised list, else in the
 * list after anchor. */
static char *renamed_def(const struct mg_prim *p, const char *def,
			 const char *anchor)
{
	char *s = strip_not_valid(def);

	for (size_t i = 0; i < p->from.n; i++) {
		char *n = anchor ? subst_in_list(s, *anchor ? anchor : NULL,
						 p->from.items[i], p->to.items[i]) :
			subst_ident(s, p->from.items[i], p->to.items[i]);

		free(s);
		s = n;
	}
	return s;
}

/* A constraint added NOT VALID at expand (a copy, or the NOT NULL check
 * of a new column). */
static void render_copy_constraint(struct mg_buf *b, const struct mg_tplan *tp,
				   const struct mg_prim *p)
{
	char *def, *cond, *stmt, *qc = qi(p->name);

	if (!p->dep) {
		char *qcol = qi(p->column);

		def = mg_xasprintf("CHECK (%s IS NOT NULL)", qcol);
		free(qcol);
	} else {
		def = renamed_def(p, p->dep->def,
				  p->dep->kind == MG_DEP_FOREIGN_KEY ? "" : NULL);
	}
	cond = constraint_absent(pgdesc(&tp->t)->qlit, p->name);
	stmt = mg_xasprintf("ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID",
			    tp->t.q, qc, def);
	add_guarded(b, cond, stmt);
	free(def);
	free(cond);
	free(stmt);
	free(qc);
}

/* The expand slot: copies NOT VALID, comments, grants, in op order. */
static void render_expand_extra(struct mg_buf *b, const struct mg_tplan *tp)
{
	const struct mg_prims *l = &tp->slot[MG_SLOT_EXPAND];

	for (size_t i = 0; i < l->n; i++) {
		const struct mg_prim *p = l->v[i];
		char *qc = qi(p->column);

		if (p->kind == MG_PRIM_COPY_CONSTRAINT) {
			render_copy_constraint(b, tp, p);
		} else if (p->kind == MG_PRIM_COMMENT) {
			char *cl = lit(p->text);

			mg_buf_addf(b, "COMMENT ON COLUMN %s.%s IS %s;\n", tp->t.q, qc, cl);
			free(cl);
		} else if (p->kind == MG_PRIM_GRANT) {
			mg_buf_addf(b, "GRANT %s (%s) ON %s TO %s%s;\n", p->dep->def, qc,
				    tp->t.q, p->dep->child,
				    p->dep->unique ? " WITH GRANT OPTION" : "");
		}
		free(qc);
	}
}

static void render_expand_table(const struct mg_planner *pl,
				const struct mg_tplan *tp, struct mg_plan *out)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	struct mg_strlist add_cols = MG_STRLIST_INIT;
	char *marker = NULL;

	for (size_t i = 0; i < tp->slot[MG_SLOT_ADD_COLUMNS].n; i++) {
		const struct mg_prim *p = tp->slot[MG_SLOT_ADD_COLUMNS].v[i];
		char *qc = qi(p->column);

		mg_strlist_push_owned(&add_cols,
			mg_xasprintf("ADD COLUMN IF NOT EXISTS %s %s%s%s", qc, p->type,
				     p->collation ? " COLLATE " : "",
				     p->collation ? p->collation : ""));
		free(qc);
	}
	if (tp->has_marker) {
		char *qm = qi(pl->marker);

		marker = mg_xasprintf("ADD COLUMN IF NOT EXISTS %s smallint NOT NULL DEFAULT 0", qm);
		free(qm);
	}
	lock_tables(&b, tp, "ACCESS EXCLUSIVE", 0);
	join_alter(&b, tp->t.q, &add_cols, marker);
	render_expand_extra(&b, tp);
	if (tp->n_pairs)
		render_trigger(&b, pl, tp);
	mg_buf_addf(&d, "expand %s:", tp->t.q);
	for (size_t i = 0; i < add_cols.n; i++)
		mg_buf_addf(&d, "%s %s", i ? "," : "", add_cols.items[i] + strlen("ADD COLUMN IF NOT EXISTS "));
	if (marker)
		mg_buf_addf(&d, "%s marker %s", add_cols.n ? "," : "", pl->marker);
	if (tp->n_pairs)
		mg_buf_adds(&d, ", dual-write trigger");
	if (tp->slot[MG_SLOT_VALIDATE].n)
		mg_buf_addf(&d, ", %zu constraint(s) NOT VALID", tp->slot[MG_SLOT_VALIDATE].n);
	mg_plan_add_step(out, MG_PLAN_EXPAND, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL);
	free(marker);
	mg_strlist_release(&add_cols);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

/* The part of pg_get_indexdef() after "USING ", with the renames. */
static char *index_tail(const struct mg_prim *p)
{
	const char *using = strstr(p->dep->def, " USING ");
	char *s;

	if (!using)
		s = mg_xstrdup("btree (?)");
	else
		s = mg_xstrdup(using + 7);
	for (size_t i = 0; i < p->from.n; i++) {
		char *n;

		/* the first rename's fallback is taken as written */
		if (!using && i == 0)
			continue;
		n = subst_ident(s, p->from.items[i], p->to.items[i]);
		free(s);
		s = n;
	}
	return s;
}

/* Build one index copy concurrently, beside the original. */
static void render_copy_index(const struct mg_tplan *tp, const struct mg_prim *p,
			      enum mg_plan_phase phase, struct mg_plan *out)
{
	char *qcopy = qi(p->name);
	char *tail = index_tail(p);
	int unique = p->dep->kind == MG_DEP_UNIQUE || p->dep->unique;
	char *sql = mg_xasprintf("CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s USING %s",
				 unique ? "UNIQUE " : "", qcopy, tp->t.q, tail);
	char *obj = mg_xasprintf("%s.%s", pgdesc(&tp->t)->qschema, qcopy);
	char *desc = mg_xasprintf("build index %s on %s (copy of '%s' for column '%s')",
				  qcopy, tp->t.q, p->dep->name, p->to.items[0]);

	mg_plan_add_step(out, phase, MG_STEP_NOTX, tp->t.q, desc, sql, obj);
	free(qcopy);
	free(tail);
	free(sql);
	free(obj);
	free(desc);
}

/* At contract the copy takes the original's name, or for a unique
 * constraint becomes its index. */
static void render_finish_index(struct mg_buf *b, const struct mg_tplan *tp,
				const struct mg_prim *p)
{
	const struct pgdesc *pd = pgdesc(&tp->t);
	int constraint = p->dep->kind == MG_DEP_UNIQUE;
	char *qcopy = qi(p->name);
	char *obj = mg_xasprintf("%s.%s", pd->qschema, qcopy);
	char *ol = lit(obj);
	char *qorig = qi(p->dep->name);
	char *origq = mg_xasprintf("%s.%s", pd->qschema, qorig);
	char *origl = lit(origq);
	char *cond, *stmt;

	if (constraint) {
		char *cl = lit(p->dep->name);

		cond = mg_xasprintf("to_regclass(%s) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
				    ol, pd->qlit, cl);
		stmt = mg_xasprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s",
				    tp->t.q, qorig, qcopy);
		free(cl);
	} else {
		cond = mg_xasprintf("to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NULL",
				    ol, origl);
		stmt = mg_xasprintf("ALTER INDEX %s RENAME TO %s", obj, qorig);
	}
	add_guarded(b, cond, stmt);
	free(cond);
	free(stmt);
	free(qcopy);
	free(obj);
	free(ol);
	free(qorig);
	free(origq);
	free(origl);
}

static void render_backfill(const struct mg_planner *pl, const struct mg_tplan *tp,
			    struct mg_plan *out)
{
	struct mg_backfill_spec *s;
	struct mg_buf set = MG_BUF_INIT, mm = MG_BUF_INIT;
	char *qm = qi(pl->marker);

	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qn = p->new_col ? qi(p->new_col) : NULL;
		char *qo = p->old_col ? qi(p->old_col) : NULL;

		if (p->kind != MG_PAIR_DROP && p->up)
			mg_buf_addf(&set, "%s%s = (%s)", set.len ? ", " : "", qn, p->up);
		if (p->kind == MG_PAIR_REPLACE)
			mg_buf_addf(&mm, " OR NOT (%s IS NOT DISTINCT FROM (%s) OR %s IS NOT DISTINCT FROM (%s))",
				    qn, p->up, qo, p->down);
		free(qn);
		free(qo);
	}
	s = mg_plan_add_backfill(out);
	s->table = mg_xstrdup(tp->t.q);
	s->n_keys = tp->t.key.n;
	s->key_columns = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	s->key_types = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	for (size_t k = 0; k < s->n_keys; k++) {
		s->key_columns[k] = mg_xstrdup(tp->t.key.cols[k]);
		s->key_types[k] = mg_xstrdup(tp->t.key.types[k]);
	}
	s->set_clause = mg_buf_detach(&set);
	s->marker = mg_xstrdup(qm);
	s->mismatch = mg_xasprintf("%s = 0%s", qm, mm.buf);
	s->session_sql = mg_xasprintf("SET migrate.backfill = '%d'", pl->m->id);
	mg_buf_release(&mm);
	free(qm);
}

/* The index create_index builds (or, at rollback, drops) concurrently. */
static void render_index_op(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_op *op = r->op;
	const struct mg_table_desc *t = r->table;
	struct mg_buf b = MG_BUF_INIT;
	char *qn = qi(op->index_name);
	char *obj = mg_xasprintf("%s.%s", pgdesc(t)->qschema, qn);
	char *desc;

	if (r->kind == MG_RENDER_DROP_INDEX) {
		desc = mg_xasprintf("drop index %s", obj);
		mg_buf_addf(&b, "DROP INDEX CONCURRENTLY IF EXISTS %s", obj);
		mg_plan_add_step(out, r->phase, MG_STEP_NOTX, t->q, desc, b.buf, NULL);
	} else {
		mg_buf_addf(&b, "CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s",
			    op->unique ? "UNIQUE " : "", qn, t->q);
		if (op->method)
			mg_buf_addf(&b, " USING %s", op->method);
		mg_buf_adds(&b, " (");
		for (size_t k = 0; k < op->n_columns; k++) {
			if (k)
				mg_buf_adds(&b, ", ");
			pgdrv_quote_ident(&b, op->columns[k]);
		}
		mg_buf_adds(&b, ")");
		if (op->where)
			mg_buf_addf(&b, " WHERE %s", op->where);
		desc = mg_xasprintf("build %sindex %s on %s concurrently",
				    op->unique ? "unique " : "", qn, t->q);
		mg_plan_add_step(out, r->phase, MG_STEP_NOTX, t->q, desc, b.buf, obj);
	}
	free(desc);
	free(qn);
	free(obj);
	mg_buf_release(&b);
}

/* An ASSERT step: every listed index exists and is valid. */
static void render_index_assert(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_strlist *objs = r->objects;
	struct mg_buf b = MG_BUF_INIT;

	if (!objs->n)
		return;
	mg_buf_adds(&b, "SELECT 'index ' || v.name || CASE WHEN i.indexrelid IS NULL THEN ' is missing' "
		    "ELSE ' is invalid (a concurrent build failed)' END FROM (VALUES ");
	for (size_t i = 0; i < objs->n; i++) {
		mg_buf_adds(&b, i ? ", (" : "(");
		add_literal(&b, objs->items[i]);
		mg_buf_adds(&b, ")");
	}
	mg_buf_adds(&b, ") AS v(name) LEFT JOIN pg_index i ON i.indexrelid = to_regclass(v.name) "
		    "WHERE i.indexrelid IS NULL OR NOT i.indisvalid");
	mg_plan_add_step(out, r->phase, MG_STEP_ASSERT, NULL,
			 "every index built at expand is valid", b.buf, NULL);
	mg_buf_release(&b);
}

static void render_validate(const struct mg_render *r, struct mg_plan *out)
{
	const char *rel = r->kind == MG_RENDER_VALIDATE ? r->tp->t.q : r->prim->dep->child;
	char *qc = qi(r->prim->name);
	char *sql = mg_xasprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", rel, qc);
	char *desc = r->kind == MG_RENDER_VALIDATE ?
		mg_xasprintf("validate constraint %s on %s", qc, rel) : mg_xstrdup(sql);

	mg_plan_add_step(out, r->phase, MG_STEP_NOTX, r->tp->t.q, desc, sql, NULL);
	free(qc);
	free(sql);
	free(desc);
}

/* switch-reads: the foreign keys of other tables, copied NOT VALID onto
 * the new columns, in one transaction. */
static void render_inbound(const struct mg_tplan *tp, enum mg_plan_phase phase,
			   struct mg_plan *out)
{
	struct mg_buf b = MG_BUF_INIT;
	char *desc = mg_xasprintf("add foreign keys referencing the new column(s) of %s (NOT VALID)", tp->t.q);

	for (size_t k = 0; k < tp->children.n; k++)
		mg_buf_addf(&b, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE;\n", tp->children.items[k]);
	mg_buf_addf(&b, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE;\n", tp->t.q);
	for (size_t i = 0; i < tp->slot[MG_SLOT_INBOUND].n; i++) {
		const struct mg_prim *p = tp->slot[MG_SLOT_INBOUND].v[i];
		char *qcopy = qi(p->name);
		char *childlit = lit(p->dep->child);
		char *d2 = renamed_def(p, p->dep->def, " REFERENCES ");
		char *cond = constraint_absent(childlit, p->name);
		char *stmt = mg_xasprintf("ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID",
					  p->dep->child, qcopy, d2);

		add_guarded(&b, cond, stmt);
		free(qcopy);
		free(childlit);
		free(d2);
		free(cond);
		free(stmt);
	}
	mg_plan_add_step(out, phase, MG_STEP_TX, tp->t.q, desc, b.buf, NULL);
	free(desc);
	mg_buf_release(&b);
}

/* contract, first: nothing new depends on the column it drops. */
static void render_dep_check(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_prim *p = r->prim;
	char *q = others_sql(pgdesc(&r->tp->t)->qlit, p->column, p->op);
	char *cl = lit(p->column);
	char *check = mg_xasprintf("SELECT what || ' depends on column ' || %s FROM (%s) o(what, name, classid)",
				   cl, q);

	mg_plan_add_step(out, r->phase, MG_STEP_ASSERT, r->tp->t.q,
			 "nothing new depends on the columns contract drops", check, NULL);
	free(q);
	free(cl);
	free(check);
}

/* A dependent listed under drops: (or an inbound foreign key moving to
 * its copy), dropped before the columns go. */
static void render_drop_dependent(struct mg_buf *b, const struct mg_tplan *tp,
				  const struct mg_dependent *d)
{
	char *qn = qi(d->name);

	if (d->kind == MG_DEP_INBOUND_FK)
		mg_buf_addf(b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", d->child, qn);
	else if (d->kind == MG_DEP_CODE || !strcmp(d->def, "pg_trigger"))
		mg_buf_addf(b, "DROP TRIGGER IF EXISTS %s ON %s;\n", qn, tp->t.q);
	else if (!strcmp(d->def, "pg_rewrite"))
		mg_buf_addf(b, "DROP %sVIEW IF EXISTS %s.%s;\n",
			    !strncmp(d->what, "materialized", 12) ? "MATERIALIZED " : "",
			    pgdesc(&tp->t)->qschema, qn);
	else if (!strcmp(d->def, "pg_policy"))
		mg_buf_addf(b, "DROP POLICY IF EXISTS %s ON %s;\n", qn, tp->t.q);
	free(qn);
}

/* The primitives of a slot of the contract or rollback transaction. */
static void render_end_slot(struct mg_buf *b, const struct mg_tplan *tp,
			    enum mg_slot slot)
{
	for (size_t i = 0; i < tp->slot[slot].n; i++) {
		const struct mg_prim *p = tp->slot[slot].v[i];
		char *qc = p->column ? qi(p->column) : NULL;
		char *qn = p->name ? qi(p->name) : NULL;

		switch (p->kind) {
		case MG_PRIM_DROP_DEPENDENT:
			render_drop_dependent(b, tp, p->dep);
			break;
		case MG_PRIM_SET_NOT_NULL:
			mg_buf_addf(b, "ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;\n"
				    "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n",
				    tp->t.q, qc, tp->t.q, qn);
			break;
		case MG_PRIM_SET_DEFAULT:
			mg_buf_addf(b, "ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s;\n",
				    tp->t.q, qc, p->text);
			break;
		case MG_PRIM_FINISH_CONSTRAINT:
			add_rename_constraint(b, tp->t.q, pgdesc(&tp->t)->qlit, p->name,
					      p->dep->name);
			break;
		case MG_PRIM_FINISH_INDEX:
			render_finish_index(b, tp, p);
			break;
		case MG_PRIM_FINISH_INBOUND_FK: {
			char *childlit = lit(p->dep->child);

			add_rename_constraint(b, p->dep->child, childlit, p->name,
					      p->dep->name);
			free(childlit);
			break;
		}
		case MG_PRIM_DROP_INBOUND_COPY:
			mg_buf_addf(b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n",
				    p->dep->child, qn);
			break;
		default:
			break;
		}
		free(qc);
		free(qn);
	}
}

/*
 * The transaction that ends a table's window, at contract or rollback: lock
 * the table (and tables referencing it), drop our trigger, run the PRE
 * slot, drop the columns and the marker (never CASCADE), run the POST slot.
 */
static void render_table_end(const struct mg_planner *pl, const struct mg_tplan *tp,
			     enum mg_plan_phase phase, int contract,
			     struct mg_plan *out)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	struct mg_strlist cols = MG_STRLIST_INIT;
	enum mg_slot cslot = contract ? MG_SLOT_CONTRACT_COLUMNS : MG_SLOT_ROLLBACK_COLUMNS;

	for (size_t i = 0; i < tp->slot[cslot].n; i++) {
		char *qc = qi(tp->slot[cslot].v[i]->column);

		mg_strlist_push_owned(&cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qc));
		free(qc);
	}
	if (tp->has_marker) {
		char *qm = qi(pl->marker);

		mg_strlist_push_owned(&cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qm));
		free(qm);
	}
	lock_tables(&b, tp, "ACCESS EXCLUSIVE", 1);
	if (tp->n_pairs)
		render_drop_trigger(&b, pl, tp);
	render_end_slot(&b, tp, contract ? MG_SLOT_CONTRACT_PRE : MG_SLOT_ROLLBACK_PRE);
	join_alter(&b, tp->t.q, &cols, NULL);
	if (contract)
		render_end_slot(&b, tp, MG_SLOT_CONTRACT_POST);
	mg_buf_addf(&d, "%s %s: drop trigger", contract ? "contract" : "roll back", tp->t.q);
	for (size_t i = 0; i < cols.n; i++)
		mg_buf_addf(&d, ", %s", cols.items[i] + strlen("DROP COLUMN IF EXISTS "));
	if (contract)
		mg_buf_adds(&d, " (never CASCADE); defaults, NOT NULL and names moved to the new columns");
	mg_plan_add_step(out, phase, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL);
	mg_strlist_release(&cols);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

static void render_sql(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_op *op = r->op;
	char *desc = mg_xasprintf("%s SQL of the sql step at %s:%d:%d",
				  mg_sql_phase_name(r->sql_phase), r->pl->m->name,
				  op->pos.line, op->pos.column);

	mg_plan_add_step(out, r->phase, op->in_transaction ? MG_STEP_TX : MG_STEP_NOTX,
			 NULL, desc, op->sql[r->sql_phase], NULL);
	free(desc);
}

static int pgdrv_render(struct mg_conn *c, const struct mg_render *r,
			struct mg_plan *out, struct mg_err *err)
{
	(void)c;
	(void)err;
	switch (r->kind) {
	case MG_RENDER_EXPAND_TABLE:
		render_expand_table(r->pl, r->tp, out);
		break;
	case MG_RENDER_COPY_INDEX:
		render_copy_index(r->tp, r->prim, r->phase, out);
		break;
	case MG_RENDER_BACKFILL:
		render_backfill(r->pl, r->tp, out);
		break;
	case MG_RENDER_BUILD_INDEX:
	case MG_RENDER_DROP_INDEX:
		render_index_op(r, out);
		break;
	case MG_RENDER_ASSERT_INDEXES:
		render_index_assert(r, out);
		break;
	case MG_RENDER_VALIDATE:
	case MG_RENDER_VALIDATE_INBOUND:
		render_validate(r, out);
		break;
	case MG_RENDER_INBOUND:
		render_inbound(r->tp, r->phase, out);
		break;
	case MG_RENDER_ASSERT_DEPENDENTS:
		render_dep_check(r, out);
		break;
	case MG_RENDER_CONTRACT_TABLE:
	case MG_RENDER_ROLLBACK_TABLE:
		render_table_end(r->pl, r->tp, r->phase,
				 r->kind == MG_RENDER_CONTRACT_TABLE, out);
		break;
	case MG_RENDER_SQL:
		render_sql(r, out);
		break;
	}
	return 0;
}


const struct mg_driver mg_postgres_driver = {
	.name = "postgres",
	.version = MG_DRIVER_VERSION,
	.caps = MG_CAP_TRANSACTIONAL_DDL | MG_CAP_CONCURRENT_INDEX,
	.accepts = pgdrv_accepts,
	.connect = pgdrv_connect,
	.close = pgdrv_close,
	.exec = pgdrv_exec,
	.query = pgdrv_query,
	.quote_ident = pgdrv_quote_ident,
	.fingerprint = pgdrv_fingerprint,
	.lock = pgdrv_lock,
	.unlock = pgdrv_unlock,
	.lock_holder = pgdrv_lock_holder,
	.lock_lost = pgdrv_lock_lost,
	.lock_check = pgdrv_lock_check,
	.history_read = pgdrv_history_read,
	.history_write = pgdrv_history_write,
	.describe_table = pgdrv_describe_table,
	.describe_column = pgdrv_describe_column,
	.column_dependents = pgdrv_column_dependents,
	.check_expr = pgdrv_check_expr,
	.canonical_type = pgdrv_canonical_type,
	.render = pgdrv_render,
	.check_blockers = pgdrv_check_blockers,
	.run_step = pgdrv_run_step,
	.backfill_bounds = pgdrv_backfill_bounds,
	.backfill_batch = pgdrv_backfill_batch,
	.backfill_split = pgdrv_backfill_split,
	.verify_batch = pgdrv_verify_batch,
	.analyze = pgdrv_analyze,
	.replication_lag_ms = pgdrv_replication_lag_ms,
	.active_sessions = pgdrv_active_sessions,
	.count_sessions = pgdrv_count_sessions,
	.plan_begin = pgdrv_plan_begin,
	.plan_end = pgdrv_plan_end,
	.check_index = pgdrv_check_index,
	.check_sql = pgdrv_check_sql,
	.plan_notes = pgdrv_plan_notes,
};

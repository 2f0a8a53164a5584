/*
 * catalog.c - the PostgreSQL driver's answers to the planner (driver.h:
 * describe_table, describe_column, column_dependents, check_expr,
 * canonical_type, check_index, check_sql, plan_begin/plan_end,
 * plan_notes): catalog reads, and probes of the migration's expressions
 * and types in savepoints of the planning transaction.
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

const struct pgdesc *pgdrv_pgdesc(const struct mg_table_desc *t)
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
char *pgdrv_quote_table_name(const char *name)
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
int pgdrv_describe_table(struct mg_conn *c, const struct mg_planner *pl,
				const struct mg_op *op, struct mg_table_desc *out,
				struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	char *q = pgdrv_quote_table_name(op->table);
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
int pgdrv_describe_column(struct mg_conn *c, const struct mg_planner *pl,
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

/* SQL returning one row (what, name, catalog, qualified view name) per
 * dependent that migrate neither copies nor lets die with the column
 * (views, policies, triggers, generated columns ...), in any schema; op
 * (may be NULL) leaves out what it lists under drops:. A view's name is
 * as drops: lists it: bare in the table's schema, "schema.view" in
 * another one. */
char *others_sql(const char *tqlit, const char *col, const struct mg_op *op)
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
		"CASE WHEN d.classid = 'pg_rewrite'::regclass THEN (SELECT CASE WHEN c.relnamespace = "
		"(SELECT relnamespace FROM pg_class WHERE oid = %s::regclass) THEN c.relname::text "
		"ELSE n.nspname || '.' || c.relname END FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class "
		"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE r.oid = d.objid) "
		"WHEN d.classid = 'pg_policy'::regclass THEN (SELECT polname::text FROM pg_policy WHERE oid = d.objid) "
		"WHEN d.classid = 'pg_trigger'::regclass THEN (SELECT tgname::text FROM pg_trigger WHERE oid = d.objid) "
		"WHEN d.classid = 'pg_class'::regclass THEN (SELECT relname::text FROM pg_class WHERE oid = d.objid) "
		"ELSE '' END AS name, "
		"CASE WHEN d.classid = 'pg_rewrite'::regclass THEN (SELECT quote_ident(n.nspname) || '.' || "
		"quote_ident(c.relname) FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class "
		"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE r.oid = d.objid) END AS qname "
		"FROM pg_depend d, col WHERE d.refclassid = 'pg_class'::regclass "
		"AND d.refobjid = %s::regclass AND d.refobjsubid = col.attnum AND d.deptype IN ('n', 'a') "
		"AND d.classid <> 'pg_constraint'::regclass "
		"AND d.classid <> 'pg_statistic_ext'::regclass "
		"AND NOT (d.classid = 'pg_class'::regclass AND EXISTS (SELECT 1 FROM pg_index i "
		"WHERE i.indexrelid = d.objid AND i.indrelid = %s::regclass)) "
		"AND NOT (d.classid = 'pg_attrdef'::regclass AND EXISTS (SELECT 1 FROM pg_attrdef ad "
		"WHERE ad.oid = d.objid AND ad.adrelid = %s::regclass AND ad.adnum = col.attnum)) "
		") "
		"SELECT DISTINCT what, name, classid::regclass::text, qname FROM deps",
		tqlit, cl, tqlit, tqlit, tqlit, tqlit);
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
static void mark_droppable(struct mg_dependents *out, size_t from)
{
	for (size_t i = from; i < out->n; i++) {
		const char *cls = out->v[i].def;

		out->v[i].droppable = !strcmp(cls, "pg_rewrite") ||
				      !strcmp(cls, "pg_policy") ||
				      !strcmp(cls, "pg_trigger");
	}
}

/*
 * The objects op does not list under drops: as the query filtered by
 * them returns them (the order of a refusal's names), then those it
 * lists as the query without the filter returns them (the order they
 * are dropped in): the two queries v0.11.0 ran.
 */
static int others_of(struct pgdrv_conn *pc, const struct mg_planner *pl,
		     const struct mg_table_desc *t, const char *col,
		     struct mg_dependents *out, struct mg_err *err)
{
	static const int cols[5] = { 1, 0, 2, 3, -1 };
	const struct mg_op *op = pl->op;
	struct mg_dependents all = { 0 };
	char *sql = others_sql(pgdesc(t)->qlit, col, op);
	size_t from = out->n;
	int rc = add_deps(pc, sql, MG_DEP_OBJECT, cols, out, err);

	free(sql);
	if (rc == 0 && op && op->n_drops) {
		sql = others_sql(pgdesc(t)->qlit, col, NULL);
		rc = add_deps(pc, sql, MG_DEP_OBJECT, cols, &all, err);
		free(sql);
		for (size_t i = 0; rc == 0 && i < all.n; i++) {
			if (!mg_op_drops(op, all.v[i].name))
				continue;
			*mg_dependents_add(out, MG_DEP_OBJECT) = all.v[i];
			memset(&all.v[i], 0, sizeof(all.v[i]));
		}
		mg_dependents_release(&all);
	}
	mark_droppable(out, from);
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

int pgdrv_column_dependents(struct mg_conn *c, const struct mg_planner *pl,
				   const struct mg_table_desc *t, const char *col,
				   const struct mg_column_desc *cd,
				   struct mg_dependents *out, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	const char *attnum = cd->drv;

	if (others_of(pc, pl, t, col, out, err) < 0 ||
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
 * evaluate it against the table (no rows read) before anything changes,
 * as the use sees it (the old row, or the new row: overlay.c). */
static int check_row_expr(struct planner *pl, const struct mg_table_desc *t,
			  enum mg_expr_use use, const char *expr,
			  struct mg_pos pos, struct mg_err *err)
{
	char msg[PGDRV_MSG], state[6];
	char *sql, *rel;
	int rc;

	if (check_expr_text(pl, "expression", expr, pos, err) < 0)
		return -1;
	rel = pgdrv_overlay_relation(pl->pc, pl->core, t, use, err);
	if (!rel)
		return -1;
	sql = mg_xasprintf("SELECT (%s) FROM %s LIMIT 0", expr, rel);
	rc = probe(pl, sql, 0, NULL, NULL, msg, state, err);
	free(sql);
	free(rel);
	if (rc == 1 && pgdrv_overlay_refusal(pl->core, t, use, state, msg,
					     pos, err))
		return -1;
	if (rc == 1) {
		pos_error(err, MG_EINPUT, pl->m, pos,
			  "expression '%s' does not work on %s: %s", expr, t->q, msg);
		return mg_err_hint(err, "write an expression over the columns of %s", t->q);
	}
	return rc;
}

/* `where:` is one boolean expression over t as it will be: columns that
 * earlier operations add are in it (typed NULLs of a derived table),
 * columns they drop or rename away are not. */
static int check_where(struct planner *pl, const char *where, struct mg_pos pos,
		       const struct mg_table_desc *t, struct mg_err *err)
{
	char msg[PGDRV_MSG], state[6];
	char *sql, *rel;
	int rc;

	if (check_expr_text(pl, "where", where, pos, err) < 0)
		return -1;
	rel = pgdrv_overlay_relation(pl->pc, pl->core, t, MG_EXPR_WHERE, err);
	if (!rel)
		return -1;
	sql = mg_xasprintf("SELECT 1 FROM %s WHERE (%s) LIMIT 0", rel, where);
	rc = probe(pl, sql, 0, NULL, NULL, msg, state, err);
	free(sql);
	free(rel);
	if (rc == 1 && pgdrv_overlay_refusal(pl->core, t, MG_EXPR_WHERE, state,
					     msg, pos, err))
		return -1;
	if (rc == 1) {
		pos_error(err, MG_EINPUT, pl->m, pos,
			  "where '%s' is not a boolean expression over %s: %s",
			  where, t->q, msg);
		return mg_err_hint(err, "write one condition over the columns of %s, e.g. deleted_at IS NULL", t->q);
	}
	return rc < 0 ? -1 : 0;
}

int pgdrv_check_expr(struct mg_conn *c, const struct mg_planner *pl,
			    const struct mg_table_desc *t, enum mg_expr_use use,
			    const char *expr, struct mg_pos pos, struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	switch (use) {
	case MG_EXPR_ROW:
	case MG_EXPR_NEW_ROW:
		return check_row_expr(&p, t, use, expr, pos, err);
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

int pgdrv_canonical_type(struct mg_conn *c, const struct mg_planner *pl,
				const struct mg_op *op, char **out, struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	return canonical_type(&p, op, out, err);
}

/* SQL: is index i (pg_index, with am) exactly what op builds on table oid? */
static char *same_index_sql(const struct mg_op *op, const char *oid)
{
	struct mg_buf b = MG_BUF_INIT;
	char *method = lit(op->method ? op->method : "btree");

	mg_buf_addf(&b, "i.indrelid = %s AND i.indisunique = %s AND am.amname = %s "
		    "AND i.indnkeyatts = %zu AND i.indnatts = %zu AND i.indexprs IS NULL AND ARRAY(SELECT a.attname::text "
		    "FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a "
		    "ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord) = ARRAY[",
		    oid, op->unique ? "true" : "false", method, op->n_columns,
		    op->n_columns + op->n_include);
	for (size_t k = 0; k < op->n_columns + op->n_include; k++) {
		char *col = lit(k < op->n_columns ? op->columns[k] : op->include[k - op->n_columns]);

		mg_buf_addf(&b, "%s%s", k ? ", " : "", col);
		free(col);
	}
	mg_buf_adds(&b, "]::text[] AND ");
	if (op->where) {
		/* the server deparses the predicate; a plain condition comes
		 * back as written, in parentheses */
		char *bare = lit(op->where);
		char *paren_text = mg_xasprintf("(%s)", op->where);
		char *paren = lit(paren_text);

		mg_buf_addf(&b, "pg_get_expr(i.indpred, i.indrelid) IN (%s, %s)", bare, paren);
		free(bare);
		free(paren_text);
		free(paren);
	} else {
		mg_buf_adds(&b, "i.indpred IS NULL");
	}
	free(method);
	return mg_buf_detach(&b);
}

/*
 * An index's name is unique in its schema. CREATE INDEX ... IF NOT EXISTS
 * skips a name that is taken, whatever holds it, and rollback would then
 * drop that object: refuse the name unless it is the very index this
 * operation builds (valid, or left invalid by an interrupted build, which
 * expand drops and builds again), like MySQL's check_existing_index.
 */
static int check_existing_index(struct planner *pl, const struct mg_op *op,
				const struct mg_table_desc *t, struct mg_err *err)
{
	const char *oid = pgdesc(t)->oid;
	char *same = same_index_sql(op, oid);
	char *name = lit(op->index_name);
	char *sql = mg_xasprintf(
		"SELECT c.relkind = 'i', i.indrelid = %s, i.indrelid::regclass::text, "
		"COALESCE(%s, false) FROM pg_class c "
		"LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_am am ON am.oid = c.relam "
		"WHERE c.relname = %s AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = %s)",
		oid, same, name, oid);
	PGresult *res = query_pc(pl->pc, sql, err);
	int rc = res ? 0 : -1;

	free(same);
	free(name);
	free(sql);
	if (res && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 3), "t") != 0) {
		if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
			pos_error(err, MG_EINPUT, pl->m, op->pos,
				  "the name '%s' is taken in schema %s by a relation that is not an index",
				  op->index_name, pgdesc(t)->qschema);
		else if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
			pos_error(err, MG_EINPUT, pl->m, op->pos,
				  "an index named '%s' already exists on %s, with another definition",
				  op->index_name, t->q);
		else
			pos_error(err, MG_EINPUT, pl->m, op->pos,
				  "an index named '%s' already exists on %s, in the schema of %s",
				  op->index_name, PQgetvalue(res, 0, 2), t->q);
		rc = mg_err_hint(err, "choose another name for the index, or drop the existing one first");
	}
	PQclear(res);
	return rc;
}

/* create_index beyond its columns: the method's name, where:, the
 * options (catalog_index.c), and a name already taken; drop_index:
 * catalog_index.c. */
int pgdrv_check_index(struct mg_conn *c, const struct mg_planner *pl,
			     const struct mg_op *op, const struct mg_table_desc *t,
			     struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	if (op->kind == MG_OP_DROP_INDEX)
		return pgdrv_check_drop_index(c, pl, op, t, err);
	if ((op->method && check_method(&p, op, err) < 0) ||
	    (op->where && check_where(&p, op->where, op->where_pos, t, err) < 0) ||
	    pgdrv_check_index_options(c, pl, op, t, err) < 0)
		return -1;
	return check_existing_index(&p, op, t, err);
}

/* A sql step's expand SQL runs in the planning transaction (in a
 * savepoint), so that later operations see the tables it creates; the
 * columns earlier operations add are added there first (overlay.c), as
 * expand will have added them when the step runs. */
int pgdrv_check_sql(struct mg_conn *c, struct mg_planner *pl,
			   const struct mg_op *op, struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	if (check_sql_tx(&p, op, err) < 0)
		return -1;
	if (!op->sql[MG_SQL_EXPAND] || !op->in_transaction)
		return 0;
	if (exec_pc(p.pc, "SAVEPOINT mg_sql", err) < 0 ||
	    pgdrv_overlay_apply(p.pc, pl, err) < 0)
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
int pgdrv_plan_begin(struct mg_conn *c, struct mg_planner *pl,
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

int pgdrv_plan_end(struct mg_conn *c, struct mg_planner *pl, int failed,
			  struct mg_err *err)
{
	struct mg_err ignored = MG_ERR_INIT;

	(void)pl;
	return exec_pc(downcast(c), "ROLLBACK", failed ? &ignored : err);
}

/* One kind of note about a table: every row of sql is a note. A query
 * that fails costs its notes, not the plan; the plan says the notes of
 * that kind could not be read rather than hiding them. */
static void add_notes(struct pgdrv_conn *pc, const char *sql, const char *tq,
		      const char *what, struct mg_plan *out)
{
	struct mg_err err = MG_ERR_INIT, ignored = MG_ERR_INIT;
	PGresult *res = NULL;
	char *note;

	/* in the planning transaction: a savepoint keeps it usable */
	if (exec_pc(pc, "SAVEPOINT mg_notes", &err) == 0)
		res = query_pc(pc, sql, &err);
	if (res) {
		exec_pc(pc, "RELEASE SAVEPOINT mg_notes", &ignored);
		for (int i = 0; i < PQntuples(res); i++)
			mg_plan_add_note(out, PQgetvalue(res, i, 0));
		PQclear(res);
		return;
	}
	exec_pc(pc, "ROLLBACK TO SAVEPOINT mg_notes", &ignored);
	note = mg_xasprintf("could not read the %s of %s: %s", what, tq, err.msg);
	mg_plan_add_note(out, note);
	free(note);
}

/*
 * What plan shows: user triggers the backfill fires, publications that
 * replicate it. Two queries, so that one failing cannot hide the other's
 * notes. Publications are matched by the table's own schema and name:
 * to_regclass() over every row of pg_publication_tables needs USAGE on
 * the schema of every published table (pg_toast for one FOR ALL TABLES),
 * which a table owner lacks.
 */
void pgdrv_plan_notes(struct mg_conn *c, const struct mg_planner *pl,
			     struct mg_plan *out)
{
	struct pgdrv_conn *pc = downcast(c);

	for (size_t t = 0; t < pl->n_tables; t++) {
		const struct mg_table_desc *td = &pl->tables[t]->t;
		const struct pgdesc *pd = pgdesc(td);
		char *triggers = mg_xasprintf(
			"SELECT 'the backfill of ' || %s || ' fires user trigger ' || quote_ident(tgname) "
			"FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal AND tgenabled <> 'D' "
			"AND tgname NOT LIKE 'zz\\_migrate\\_%%' AND (tgtype & 16) <> 0",
			pd->qlit, pd->oid);
		char *publications = mg_xasprintf(
			"SELECT 'the backfill of ' || %s || ' is replicated through publication ' || quote_ident(p.pubname) "
			"FROM pg_publication_tables p JOIN pg_class c ON c.relname = p.tablename "
			"JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = p.schemaname "
			"WHERE c.oid = %s",
			pd->qlit, pd->oid);

		add_notes(pc, triggers, td->q, "user triggers", out);
		add_notes(pc, publications, td->q, "publications", out);
		free(triggers);
		free(publications);
	}
}

/*
 * catalog_attrs.c - the PostgreSQL driver's answers for the attribute
 * operations (src/planner_attrs.c): a constraint and what needs it, whether
 * a name is taken, a table's comment and replica identity, and whether an
 * index can be a replica identity.
 */
#include "postgres/pg.h"

/* One query, its result or NULL (err set). */
static PGresult *attrs_query(struct mg_conn *c, const char *sql, struct mg_err *err)
{
	return query_pc(downcast(c), sql, err);
}

static enum mg_con_kind con_kind(const char *contype)
{
	switch (contype[0]) {
	case 'p':
		return MG_CON_PRIMARY_KEY;
	case 'u':
		return MG_CON_UNIQUE;
	case 'c':
		return MG_CON_CHECK;
	case 'f':
		return MG_CON_FOREIGN_KEY;
	default:
		return MG_CON_OTHER;
	}
}

/* Foreign keys of other tables over the constraint's index, and what
 * else depends on the constraint (a view grouping by a primary key). */
static int constraint_deps(struct mg_conn *c, const char *oid, const char *conoid,
			   const char *indid, struct mg_dependents *out, struct mg_err *err)
{
	char *sql = mg_xasprintf(
		"SELECT 'f', f.conname, 'foreign key ''' || f.conname || '''', "
		"quote_ident(n.nspname) || '.' || quote_ident(r.relname), pg_get_constraintdef(f.oid) "
		"FROM pg_constraint f JOIN pg_class r ON r.oid = f.conrelid "
		"JOIN pg_namespace n ON n.oid = r.relnamespace "
		"WHERE f.contype = 'f' AND f.confrelid = %s AND f.conindid = %s AND %s <> 0 "
		"UNION ALL "
		"SELECT 'o', pg_describe_object(d.classid, d.objid, d.objsubid), "
		"pg_describe_object(d.classid, d.objid, d.objsubid), '', '' "
		"FROM pg_depend d WHERE d.refclassid = 'pg_constraint'::regclass "
		"AND d.refobjid = %s AND d.deptype = 'n' AND d.classid <> 'pg_constraint'::regclass "
		"ORDER BY 1, 2",
		oid, indid, indid, conoid);
	PGresult *res = attrs_query(c, sql, err);

	free(sql);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		int fk = PQgetvalue(res, i, 0)[0] == 'f';
		struct mg_dependent *d = mg_dependents_add(out, fk ? MG_DEP_INBOUND_FK :
								MG_DEP_OBJECT);

		d->name = mg_xstrdup(PQgetvalue(res, i, 1));
		d->what = mg_xstrdup(PQgetvalue(res, i, 2));
		d->child = fk ? mg_xstrdup(PQgetvalue(res, i, 3)) : NULL;
		d->def = mg_xstrdup(PQgetvalue(res, i, 4));
	}
	PQclear(res);
	return 0;
}

int pgdrv_describe_constraint(struct mg_conn *c, const struct mg_planner *pl,
			      const struct mg_table_desc *t, const char *name,
			      struct mg_constraint_desc *out, struct mg_err *err)
{
	char *nl = lit(name);
	char *sql = mg_xasprintf("SELECT c.contype::text, pg_get_constraintdef(c.oid), "
				 "c.oid::text, c.conindid::text FROM pg_constraint c "
				 "WHERE c.conrelid = %s AND c.conname = %s",
				 pgdesc(t)->oid, nl);
	PGresult *res = attrs_query(c, sql, err);
	int rc = 1;

	(void)pl;
	free(nl);
	free(sql);
	if (!res)
		return -1;
	if (PQntuples(res) == 1) {
		out->kind = con_kind(PQgetvalue(res, 0, 0));
		out->def = mg_xstrdup(PQgetvalue(res, 0, 1));
		rc = constraint_deps(c, pgdesc(t)->oid, PQgetvalue(res, 0, 2),
				     PQgetvalue(res, 0, 3), &out->deps, err);
	}
	PQclear(res);
	return rc;
}

/* A constraint of t, or (for one that owns an index: its index is renamed
 * with it) any relation of t's schema, named name. */
int pgdrv_name_taken(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_table_desc *t, const char *name,
		     const struct mg_constraint_desc *like, char **what,
		     struct mg_err *err)
{
	int owns_index = like->kind == MG_CON_PRIMARY_KEY || like->kind == MG_CON_UNIQUE ||
			 like->kind == MG_CON_OTHER;
	char *nl = lit(name);
	char *sql = mg_xasprintf(
		"SELECT 'constraint ' || quote_ident(conname) || ' of ' || conrelid::regclass::text "
		"FROM pg_constraint WHERE conrelid = %s AND conname = %s "
		"UNION ALL SELECT 'relation ' || quote_ident(n.nspname) || '.' || quote_ident(r.relname) "
		"FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace "
		"WHERE %s AND r.relname = %s AND r.relnamespace = "
		"(SELECT relnamespace FROM pg_class WHERE oid = %s) LIMIT 1",
		pgdesc(t)->oid, nl, owns_index ? "true" : "false", nl, pgdesc(t)->oid);
	PGresult *res = attrs_query(c, sql, err);
	int rc = 0;

	(void)pl;
	free(nl);
	free(sql);
	if (!res)
		return -1;
	if (PQntuples(res) == 1) {
		*what = mg_xstrdup(PQgetvalue(res, 0, 0));
		rc = 1;
	}
	PQclear(res);
	return rc;
}

static const char *identity_word(char r)
{
	switch (r) {
	case 'f':
		return "full";
	case 'n':
		return "nothing";
	case 'i':
		return "index";
	default:
		return "default";
	}
}

int pgdrv_describe_table_attrs(struct mg_conn *c, const struct mg_planner *pl,
			       const struct mg_table_desc *t, struct mg_table_attrs *out,
			       struct mg_err *err)
{
	char *sql = mg_xasprintf(
		"SELECT obj_description(c.oid, 'pg_class'), c.relreplident::text, "
		"(SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
		"WHERE x.indrelid = c.oid AND x.indisreplident) FROM pg_class c WHERE c.oid = %s",
		pgdesc(t)->oid);
	PGresult *res = attrs_query(c, sql, err);

	(void)pl;
	free(sql);
	if (!res)
		return -1;
	if (PQntuples(res) == 1) {
		out->comment = PQgetisnull(res, 0, 0) ? NULL : mg_xstrdup(PQgetvalue(res, 0, 0));
		out->identity = mg_xstrdup(identity_word(PQgetvalue(res, 0, 1)[0]));
		out->identity_index = PQgetisnull(res, 0, 2) ? NULL :
				      mg_xstrdup(PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	return 0;
}

/*
 * REPLICA IDENTITY USING INDEX takes a unique, immediate, valid index of
 * the table without a predicate or expressions over NOT NULL columns:
 * checked here so that expand cannot fail on it.
 */
static int check_identity_index(struct mg_conn *c, const struct mg_planner *pl,
				const struct mg_attr *a, struct mg_err *err)
{
	const struct mg_op *op = a->op;
	char *nl = lit(op->index_name);
	char *sql = mg_xasprintf(
		"SELECT CASE WHEN NOT x.indisunique THEN 'it is not unique' "
		"WHEN x.indpred IS NOT NULL THEN 'it is partial (WHERE)' "
		"WHEN x.indexprs IS NOT NULL THEN 'it is over expressions' "
		"WHEN NOT x.indimmediate THEN 'it is deferrable' "
		"WHEN NOT x.indisvalid THEN 'it is invalid (a concurrent build failed)' "
		"WHEN EXISTS (SELECT 1 FROM pg_attribute at WHERE at.attrelid = x.indrelid "
		"AND at.attnum = ANY (x.indkey) AND NOT at.attnotnull) "
		"THEN 'one of its columns is nullable' ELSE '' END "
		"FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
		"WHERE x.indrelid = %s AND i.relname = %s",
		pgdesc(&a->t)->oid, nl);
	PGresult *res = attrs_query(c, sql, err);
	int rc = 0;

	free(nl);
	free(sql);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		rc = mg_plan_pos_error(err, MG_EINPUT, pl->m, op->index_pos,
				       "index '%s' does not exist on %s", op->index_name,
				       a->t.q);
	} else if (PQgetvalue(res, 0, 0)[0]) {
		mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->index_pos,
				  "index '%s' of %s cannot be its replica identity: %s",
				  op->index_name, a->t.q, PQgetvalue(res, 0, 0));
		rc = mg_err_hint(err, "use a unique index over NOT NULL columns without WHERE or expressions, or identity: full");
	}
	PQclear(res);
	return rc;
}

int pgdrv_check_attr(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_attr *a, struct mg_err *err)
{
	if (a->op->kind == MG_OP_SET_REPLICA_IDENTITY && a->op->index_name)
		return check_identity_index(c, pl, a, err);
	return 0;
}

/*
 * catalog_index.c - the PostgreSQL driver's answers about create_index's
 * options and drop_index (check_index; catalog.c checks the method's
 * name, where: and a name already taken).
 *
 * create_index: each option is checked where the file writes it. The
 * catalog answers what it knows by name (the method's properties
 * can_order and can_include, operator classes of the method, collations);
 * storage parameters are checked against the list of each built-in
 * method (an extension's method is left to the server). Then the server
 * checks the rest (an operator class for another type, a collation on a
 * type without one, a value out of range) on an empty copy of the
 * table's columns (CREATE TEMP TABLE ... (LIKE t)) inside the planning
 * transaction, which is always rolled back: first each storage parameter
 * and each column's options alone, so that a refusal names the position
 * of what it refuses, then the whole index.
 *
 * drop_index: the index exists on the table and no constraint owns it
 * (its PRIMARY KEY, UNIQUE or EXCLUDE constraint: drop_constraint), no
 * foreign key needs it, it is not the replica identity (logical
 * replication of UPDATE and DELETE would stop) and not part of a
 * partitioned index (DROP INDEX CONCURRENTLY cannot drop those).
 */
#include "pg.h"

#include <strings.h>

#define pos_error mg_plan_pos_error
#define PROBE_TABLE "pg_temp.mg_index_probe"

/* ---- storage parameters ------------------------------------------------- */

/* The storage parameters of PostgreSQL 15's built-in index methods. */
static const struct {
	const char *method;
	const char *params;	/* ", "-separated */
} method_params[] = {
	{ "btree", "fillfactor, deduplicate_items" },
	{ "hash", "fillfactor" },
	{ "gist", "fillfactor, buffering" },
	{ "spgist", "fillfactor" },
	{ "gin", "fastupdate, gin_pending_list_limit" },
	{ "brin", "pages_per_range, autosummarize" },
};

static int in_list(const char *word, const char *list)
{
	size_t n = strlen(word);

	while (*list) {
		size_t len = strcspn(list, ",");

		if (len == n && !strncmp(list, word, n))
			return 1;
		list += len;
		list += strspn(list, ", ");
	}
	return 0;
}

static int check_storage_names(const struct mg_planner *pl, const struct mg_op *op,
			       const char *method, struct mg_err *err)
{
	const char *params = NULL;

	for (size_t i = 0; i < sizeof(method_params) / sizeof(method_params[0]); i++)
		if (!strcmp(method_params[i].method, method))
			params = method_params[i].params;
	for (size_t i = 0; params && i < op->n_storage; i++) {
		if (in_list(op->storage[i].key, params))
			continue;
		pos_error(err, MG_EINPUT, pl->m, op->storage[i].pos,
			  "unknown storage parameter '%s' for index method %s (expected one of: %s)",
			  op->storage[i].key, method, params);
		return mg_err_hint(err, "table storage parameters (autovacuum_*, toast_*) do not apply to an index");
	}
	return 0;
}

/* ---- the catalog's answers ---------------------------------------------- */

struct amprops {
	char *oid;
	int can_order, can_include;
};

/* 1 with props set, 0 when the method is unknown (catalog.c's check and
 * the probe report it), -1 on error. */
static int method_props(struct pgdrv_conn *pc, const char *method,
			struct amprops *out, struct mg_err *err)
{
	char *ml = lit(method);
	char *sql = mg_xasprintf("SELECT oid, pg_indexam_has_property(oid, 'can_order'), "
				 "pg_indexam_has_property(oid, 'can_include') FROM pg_am "
				 "WHERE amname = %s AND amtype = 'i'", ml);
	PGresult *res = query_pc(pc, sql, err);
	int rc = res ? 0 : -1;

	free(ml);
	free(sql);
	if (res && PQntuples(res) == 1) {
		out->oid = mg_xstrdup(PQgetvalue(res, 0, 0));
		out->can_order = !strcmp(PQgetvalue(res, 0, 1), "t");
		out->can_include = !strcmp(PQgetvalue(res, 0, 2), "t");
		rc = 1;
	}
	PQclear(res);
	return rc;
}

/* "x.<col> = 'name' AND ..." for "name" or "s.name": a bare name must be
 * visible on the search_path (as the server resolves it), a qualified one
 * in schema s (x.<nscol>). Owned. */
static char *name_match(const char *name, const char *col, const char *nscol,
			const char *visible)
{
	const char *dot = strchr(name, '.');
	char *s, *nl, *sl;

	if (!dot) {
		nl = lit(name);
		s = mg_xasprintf("x.%s = %s AND %s(x.oid)", col, nl, visible);
		free(nl);
		return s;
	}
	sl = mg_xstrndup(name, (size_t)(dot - name));
	nl = lit(sl);
	free(sl);
	sl = lit(dot + 1);
	s = mg_xasprintf("x.%s = %s AND x.%s = (SELECT oid FROM pg_namespace WHERE nspname = %s)",
			 col, sl, nscol, nl);
	free(nl);
	free(sl);
	return s;
}

/* 1 when the query returns a row, 0 when none, -1 on error. */
static int exists(struct pgdrv_conn *pc, const char *sql, struct mg_err *err)
{
	PGresult *res = query_pc(pc, sql, err);
	int rc = res ? PQntuples(res) > 0 : -1;

	PQclear(res);
	return rc;
}

/* The operator classes of the method for the column's type (a hint). */
static char *opclasses_for(struct pgdrv_conn *pc, const struct mg_table_desc *t,
			   const struct amprops *am, const char *col)
{
	struct mg_err ignored = MG_ERR_INIT;
	char *cl = lit(col), *v = NULL;
	char *sql = mg_xasprintf(
		"SELECT string_agg(DISTINCT o.opcname, ', ') FROM pg_opclass o, pg_attribute a "
		"WHERE o.opcmethod = %s AND a.attrelid = %s AND a.attname = %s AND "
		"(o.opcintype = a.atttypid OR EXISTS (SELECT 1 FROM pg_cast WHERE castsource = a.atttypid "
		"AND casttarget = o.opcintype AND castmethod = 'b') OR (o.opcintype = 'anyarray'::regtype "
		"AND EXISTS (SELECT 1 FROM pg_type WHERE oid = a.atttypid AND typcategory = 'A')))",
		am->oid, pgdesc(t)->oid, cl);

	query_scalar(pc, sql, &v, &ignored);
	free(cl);
	free(sql);
	return v;
}

static int check_opclass(struct pgdrv_conn *pc, const struct mg_planner *pl,
			 const struct mg_op *op, size_t k, const struct mg_table_desc *t,
			 const char *method, const struct amprops *am, struct mg_err *err)
{
	const struct mg_index_col *c = &op->column_opts[k];
	char *match = name_match(c->opclass, "opcname", "opcnamespace",
				  "pg_opclass_is_visible");
	char *sql = mg_xasprintf("SELECT 1 FROM pg_opclass x WHERE x.opcmethod = %s AND %s",
				 am->oid, match);
	int rc = exists(pc, sql, err);
	char *known;

	free(match);
	free(sql);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	pos_error(err, MG_EINPUT, pl->m, c->opclass_pos,
		  "unknown operator class '%s' for index method %s", c->opclass, method);
	known = opclasses_for(pc, t, am, op->columns[k]);
	if (known && *known)
		mg_err_hint(err, "operator classes of %s for column '%s': %s",
			    method, op->columns[k], known);
	else
		mg_err_hint(err, "list them with: SELECT opcname FROM pg_opclass o JOIN pg_am a ON a.oid = o.opcmethod WHERE a.amname = '%s'",
			    method);
	free(known);
	return -1;
}

static int check_collation(struct pgdrv_conn *pc, const struct mg_planner *pl,
			   const struct mg_index_col *c, struct mg_err *err)
{
	char *match = name_match(c->collate, "collname", "collnamespace",
				  "pg_collation_is_visible");
	char *sql = mg_xasprintf("SELECT 1 FROM pg_collation x WHERE x.collencoding IN "
				 "(-1, pg_char_to_encoding(getdatabaseencoding())) AND %s", match);
	int rc = exists(pc, sql, err);

	free(match);
	free(sql);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	pos_error(err, MG_EINPUT, pl->m, c->collate_pos,
		  "unknown collation '%s' in this database", c->collate);
	return mg_err_hint(err, "list them with: SELECT collname FROM pg_collation (a name with capitals is written as is, e.g. en-US-x-icu)");
}

static int check_column_options(struct pgdrv_conn *pc, const struct mg_planner *pl,
				const struct mg_op *op, const struct mg_table_desc *t,
				const char *method, const struct amprops *am,
				struct mg_err *err)
{
	for (size_t k = 0; op->column_opts && k < op->n_columns; k++) {
		const struct mg_index_col *c = &op->column_opts[k];
		int sorted = c->order != MG_ORDER_DEFAULT || c->nulls != MG_NULLS_DEFAULT;

		if (sorted && !am->can_order) {
			pos_error(err, MG_EINPUT, pl->m,
				  c->order != MG_ORDER_DEFAULT ? c->order_pos : c->nulls_pos,
				  "index method %s does not sort its entries: 'order' and 'nulls' need one that does (btree)",
				  method);
			return mg_err_hint(err, "remove 'order' and 'nulls' from column '%s', or use method: btree",
					   op->columns[k]);
		}
		if ((c->opclass && check_opclass(pc, pl, op, k, t, method, am, err) < 0) ||
		    (c->collate && check_collation(pc, pl, c, err) < 0))
			return -1;
	}
	if (op->n_include && !am->can_include) {
		pos_error(err, MG_EINPUT, pl->m, op->include_pos,
			  "index method %s cannot carry included columns ('include')", method);
		return mg_err_hint(err, "'include' works with btree, gist and spgist; or make the columns key columns");
	}
	return 0;
}

/* ---- the server's check, on an empty copy of the columns ---------------- */

/* Run sql in a savepoint: 0 done, 1 refused (the server's message in
 * msg), -1 when the savepoint itself fails. */
static int try_sql(struct pgdrv_conn *pc, const char *sql, char *msg, size_t size,
		   struct mg_err *err)
{
	struct mg_err why = MG_ERR_INIT;

	if (exec_pc(pc, "SAVEPOINT mg_index_try", err) < 0)
		return -1;
	if (exec_pc(pc, sql, &why) == 0)
		return exec_pc(pc, "RELEASE SAVEPOINT mg_index_try", err);
	snprintf(msg, size, "%s", why.msg);
	return exec_pc(pc, "ROLLBACK TO SAVEPOINT mg_index_try", err) < 0 ? -1 : 1;
}

/* One CREATE INDEX on the probe table: the index op with only what
 * `part` keeps (a struct mg_op of the caller's, borrowed strings). */
static int try_index(struct pgdrv_conn *pc, const struct mg_op *part, char *msg,
		     size_t size, struct mg_err *err)
{
	struct mg_buf b = MG_BUF_INIT;
	int rc;

	mg_buf_addf(&b, "CREATE %sINDEX ON " PROBE_TABLE, part->unique ? "UNIQUE " : "");
	pgdrv_index_body(&b, part);
	rc = try_sql(pc, b.buf, msg, size, err);
	mg_buf_release(&b);
	return rc;
}

static int refused(const struct mg_planner *pl, struct mg_pos pos, const char *what,
		   const char *msg, struct mg_err *err)
{
	pos_error(err, MG_EINPUT, pl->m, pos, "%s is refused by PostgreSQL: %s", what, msg);
	return -1;
}

/* Each storage parameter, then each column's options, then the whole. */
static int probe_parts(struct pgdrv_conn *pc, const struct mg_planner *pl,
		       const struct mg_op *op, char *msg, size_t size, struct mg_err *err)
{
	struct mg_op part = { .method = op->method, .columns = op->columns,
			      .n_columns = op->n_columns };
	char what[160];
	int rc;

	for (size_t i = 0; i < op->n_storage; i++) {
		part.storage = &op->storage[i];
		part.n_storage = 1;
		if ((rc = try_index(pc, &part, msg, size, err)) != 0)
			return rc < 0 ? -1 : refused(pl, op->storage[i].value_pos,
						     "this storage parameter", msg, err);
	}
	part.n_storage = 0;
	for (size_t k = 0; op->column_opts && k < op->n_columns; k++) {
		const struct mg_index_col *c = &op->column_opts[k];

		if (!c->opclass && !c->collate)
			continue;
		part.columns = &op->columns[k];
		part.column_opts = &op->column_opts[k];
		part.n_columns = 1;
		snprintf(what, sizeof(what), "the %s of column '%s'",
			 c->opclass ? "operator class" : "collation", op->columns[k]);
		if ((rc = try_index(pc, &part, msg, size, err)) != 0)
			return rc < 0 ? -1 : refused(pl, c->opclass ? c->opclass_pos : c->collate_pos,
						     what, msg, err);
	}
	if ((rc = try_index(pc, op, msg, size, err)) != 0) {
		snprintf(what, sizeof(what), "index '%s' as written", op->index_name);
		return rc < 0 ? -1 : refused(pl, op->pos, what, msg, err);
	}
	return 0;
}

/* The probe needs every column in the catalog now; a column an earlier
 * operation adds is checked by the server at expand. Without the right
 * to create temporary tables, the same. */
static int probe_index(struct pgdrv_conn *pc, const struct mg_planner *pl,
		       const struct mg_op *op, const struct mg_table_desc *t,
		       struct mg_err *err)
{
	char msg[sizeof(err->msg)];
	char *like;
	int rc;

	if (mg_planner_adds_columns(pl, t))
		return 0;
	if (exec_pc(pc, "SAVEPOINT mg_index_probe", err) < 0)
		return -1;
	like = mg_xasprintf("CREATE TEMP TABLE " PROBE_TABLE " (LIKE %s)", t->q);
	rc = try_sql(pc, like, msg, sizeof(msg), err);
	free(like);
	if (rc == 0)
		rc = probe_parts(pc, pl, op, msg, sizeof(msg), err);
	else if (rc == 1)
		rc = 0;
	if (rc == 0) {
		if (exec_pc(pc, "ROLLBACK TO SAVEPOINT mg_index_probe", err) < 0)
			return -1;
	} else {
		struct mg_err ignored = MG_ERR_INIT;

		exec_pc(pc, "ROLLBACK TO SAVEPOINT mg_index_probe", &ignored);
	}
	return rc;
}

static int has_options(const struct mg_op *op)
{
	if (op->n_include || op->n_storage)
		return 1;
	for (size_t k = 0; op->column_opts && k < op->n_columns; k++) {
		const struct mg_index_col *c = &op->column_opts[k];

		if (c->opclass || c->collate || c->order || c->nulls)
			return 1;
	}
	return 0;
}

int pgdrv_check_index_options(struct mg_conn *c, const struct mg_planner *pl,
			      const struct mg_op *op, const struct mg_table_desc *t,
			      struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	const char *method = op->method ? op->method : "btree";
	struct amprops am = { 0 };
	int rc;

	if (!has_options(op))
		return 0;
	if (check_storage_names(pl, op, method, err) < 0)
		return -1;
	rc = method_props(pc, method, &am, err);
	if (rc == 1)
		rc = check_column_options(pc, pl, op, t, method, &am, err);
	free(am.oid);
	if (rc < 0)
		return -1;
	return probe_index(pc, pl, op, t, err);
}

/* ---- drop_index ----------------------------------------------------------- */

static int drop_refused(const struct mg_planner *pl, const struct mg_op *op,
			const char *hint, struct mg_err *err, const char *fmt,
			const char *a, const char *b)
{
	char what[512];

	snprintf(what, sizeof(what), fmt, a, b);
	pos_error(err, MG_EINPUT, pl->m, op->index_name_pos, "cannot drop index '%s': %s",
		  op->index_name, what);
	return mg_err_hint(err, "%s", hint);
}

/* One row about the index of that name in the table's schema. */
static char *drop_index_sql(const struct mg_op *op, const struct mg_table_desc *t)
{
	const char *oid = pgdesc(t)->oid;
	char *nl = lit(op->index_name);
	char *sql = mg_xasprintf(
		"SELECT c.relkind IN ('i', 'I'), COALESCE(i.indrelid = %s, false), "
		"COALESCE(i.indrelid::regclass::text, ''), c.relkind = 'I' OR c.relispartition, "
		"COALESCE(i.indisreplident, false), "
		"(SELECT CASE contype WHEN 'p' THEN 'PRIMARY KEY' WHEN 'u' THEN 'UNIQUE' ELSE 'EXCLUDE' END "
		"|| ' constraint ' || quote_ident(conname) FROM pg_constraint "
		"WHERE conindid = c.oid AND contype IN ('p', 'u', 'x') AND conrelid = i.indrelid LIMIT 1), "
		"(SELECT string_agg(quote_ident(conname) || ' of ' || conrelid::regclass::text, ', ' ORDER BY conname) "
		"FROM pg_constraint WHERE conindid = c.oid AND contype = 'f') "
		"FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid "
		"WHERE c.relname = %s AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = %s)",
		oid, nl, oid);

	free(nl);
	return sql;
}

static int judge_drop(const struct mg_planner *pl, const struct mg_op *op,
		      const struct mg_table_desc *t, PGresult *res, struct mg_err *err)
{
	if (PQntuples(res) != 1)
		return drop_refused(pl, op, "check the name (\\di in psql lists the indexes)", err,
				    "no index of that name on %s%s", t->q, "");
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		return drop_refused(pl, op, "drop_index drops indexes only", err,
				    "it is not an index in the schema of %s%s", t->q, "");
	if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
		return drop_refused(pl, op, "write the table the index is on", err,
				    "it is an index of %s, not of %s", PQgetvalue(res, 0, 2), t->q);
	if (!PQgetisnull(res, 0, 5))
		return drop_refused(pl, op, "use drop_constraint to drop the constraint (and its index)", err,
				    "it belongs to the %s of %s", PQgetvalue(res, 0, 5), t->q);
	if (!PQgetisnull(res, 0, 6))
		return drop_refused(pl, op, "drop or change the foreign key first (drop_constraint on its table)", err,
				    "foreign key %s references the columns it makes unique%s",
				    PQgetvalue(res, 0, 6), "");
	if (!strcmp(PQgetvalue(res, 0, 4), "t"))
		return drop_refused(pl, op, "set another replica identity first (ALTER TABLE ... REPLICA IDENTITY)", err,
				    "it is the replica identity of %s: logical replication of its UPDATEs and DELETEs would stop%s",
				    t->q, "");
	if (!strcmp(PQgetvalue(res, 0, 3), "t"))
		return drop_refused(pl, op, "use a sql step: DROP INDEX on the partitioned index (it cannot run concurrently)", err,
				    "it is a partitioned index or a partition of one%s%s", "", "");
	return 0;
}

int pgdrv_check_drop_index(struct mg_conn *c, const struct mg_planner *pl,
			   const struct mg_op *op, const struct mg_table_desc *t,
			   struct mg_err *err)
{
	char *sql = drop_index_sql(op, t);
	PGresult *res = query_pc(downcast(c), sql, err);
	int rc;

	free(sql);
	if (!res)
		return -1;
	rc = judge_drop(pl, op, t, res, err);
	PQclear(res);
	return rc;
}

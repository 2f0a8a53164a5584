/*
 * overlay.c - the PostgreSQL driver's view of the catalog as it will be
 * after the earlier operations of the migration (planner.h: the overlay).
 *
 * Two ways, both cheap and neither visible outside the planning
 * transaction (always rolled back):
 *  - an expression is probed against a derived table over the table,
 *    `(SELECT <columns> FROM t) AS t`, whose columns are the ones its use
 *    sees (enum mg_expr_use): no lock beyond the catalog read, no DDL;
 *  - before a sql step's expand SQL runs in the planning transaction, the
 *    columns earlier operations add are added for real (ADD COLUMN of a
 *    nullable column without a default changes the catalog only), so the
 *    step's SQL meets the table as expand leaves it. Columns dropped or
 *    renamed away stay: they exist until contract.
 */
#include "postgres/pg.h"

/* The table's columns now, in order (raw names). */
static int live_columns(struct pgdrv_conn *pc, const struct mg_table_desc *t,
			struct mg_strlist *out, struct mg_err *err)
{
	char *sql = mg_xasprintf("SELECT attname FROM pg_attribute WHERE attrelid = %s "
				 "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
				 pgdesc(t)->oid);
	PGresult *res = query_pc(pc, sql, err);

	free(sql);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		mg_strlist_push(out, PQgetvalue(res, i, 0));
	PQclear(res);
	return 0;
}

static void add_column_item(struct mg_buf *b, const char *expr, const char *name)
{
	char *q = qi(name);

	if (b->len)
		mg_buf_adds(b, ", ");
	if (expr)
		mg_buf_addf(b, "%s AS %s", expr, q);
	else
		mg_buf_adds(b, q);
	free(q);
}

char *pgdrv_overlay_relation(struct pgdrv_conn *pc, const struct mg_planner *pl,
			     const struct mg_table_desc *t, enum mg_expr_use use,
			     struct mg_err *err)
{
	struct mg_strlist live = MG_STRLIST_INIT;
	struct mg_buf cols = MG_BUF_INIT;
	char *alias, *out;

	if (!mg_overlay_touches(pl, t))
		return mg_xstrdup(t->q);
	if (live_columns(pc, t, &live, err) < 0) {
		mg_strlist_release(&live);
		return NULL;
	}
	for (size_t i = 0; i < live.n; i++) {
		const struct mg_overlay_col *oc =
			mg_overlay_find(pl, t->id, live.items[i]);

		if (!mg_overlay_hidden(oc, use))
			add_column_item(&cols, NULL, live.items[i]);
	}
	for (size_t i = 0; use != MG_EXPR_ROW && i < pl->n_overlay; i++) {
		const struct mg_overlay_col *oc = &pl->overlay[i];
		char *null;

		if (strcmp(oc->table_id, t->id) != 0 || oc->replaced ||
		    mg_overlay_find(pl, t->id, oc->column) != oc ||
		    mg_strlist_contains(&live, oc->column))
			continue;
		null = oc->type ? mg_xasprintf("NULL::%s", oc->type) : mg_xstrdup("NULL");
		add_column_item(&cols, null, oc->column);
		free(null);
	}
	alias = qi(t->relname);
	out = mg_xasprintf("(SELECT %s FROM %s) AS %s", cols.buf, t->q, alias);
	free(alias);
	mg_buf_release(&cols);
	mg_strlist_release(&live);
	return out;
}

int pgdrv_overlay_refusal(const struct mg_planner *pl, const struct mg_table_desc *t,
			  enum mg_expr_use use, const char *state, const char *msg,
			  struct mg_pos pos, struct mg_err *err)
{
	const char *at = strstr(msg, "column \"");
	const struct mg_overlay_col *oc;
	char *name;

	if (strcmp(state, "42703") != 0 || !at)
		return 0;
	at += strlen("column \"");
	name = mg_xstrndup(at, strcspn(at, "\""));
	oc = mg_overlay_find(pl, t->id, name);
	free(name);
	if (!mg_overlay_hidden(oc, use))
		return 0;
	mg_overlay_refuse(err, pl, t, oc, pos);
	return 1;
}

int pgdrv_overlay_apply(struct pgdrv_conn *pc, const struct mg_planner *pl,
			struct mg_err *err)
{
	for (size_t i = 0; i < pl->n_overlay; i++) {
		const struct mg_overlay_col *oc = &pl->overlay[i];
		char *q, *sql;
		int rc;

		if (oc->replaced || !oc->type ||
		    mg_overlay_find(pl, oc->table_id, oc->column) != oc)
			continue;
		q = qi(oc->column);
		sql = mg_xasprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s",
				   oc->table_q, q, oc->type);
		rc = exec_pc(pc, sql, err);
		free(q);
		free(sql);
		if (rc < 0)
			return -1;
	}
	return 0;
}

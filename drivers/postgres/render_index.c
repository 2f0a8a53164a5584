/*
 * render_index.c - the PostgreSQL driver: create_index and drop_index as
 * SQL.
 *
 * create_index builds its index with CREATE INDEX CONCURRENTLY (writes go
 * on; a failed build leaves an invalid index that the runner drops and
 * builds again: the step's object). With `constraint: true` a short
 * transaction then makes the unique index the UNIQUE constraint
 * (ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX: a catalog
 * change under a brief ACCESS EXCLUSIVE lock, retried on lock_timeout;
 * guarded, so a re-run after a crash skips it). Rollback drops the
 * constraint first (which drops its index), then the index concurrently.
 *
 * drop_index drops at contract with DROP INDEX CONCURRENTLY IF EXISTS: a
 * step outside any transaction, under lock_timeout and retried like
 * every lock-taking step; a re-run after a crash finds nothing to drop,
 * or drops the invalid index an interrupted concurrent drop leaves.
 */
#include "pg.h"

/* "opclass" or "schema.opclass", each part quoted. */
static void add_qualified(struct mg_buf *b, const char *name)
{
	const char *dot = strchr(name, '.');
	char *schema;

	if (!dot) {
		pgdrv_quote_ident(b, name);
		return;
	}
	schema = mg_xstrndup(name, (size_t)(dot - name));
	pgdrv_quote_ident(b, schema);
	mg_buf_adds(b, ".");
	pgdrv_quote_ident(b, dot + 1);
	free(schema);
}

/* One key column with its options, in the order CREATE INDEX takes them:
 * column COLLATE collation opclass ASC|DESC NULLS FIRST|LAST. */
static void add_key_column(struct mg_buf *b, const struct mg_op *op, size_t k)
{
	const struct mg_index_col *c = op->column_opts ? &op->column_opts[k] : NULL;

	pgdrv_quote_ident(b, op->columns[k]);
	if (!c)
		return;
	if (c->collate) {
		mg_buf_adds(b, " COLLATE ");
		add_qualified(b, c->collate);
	}
	if (c->opclass) {
		mg_buf_adds(b, " ");
		add_qualified(b, c->opclass);
	}
	if (c->order != MG_ORDER_DEFAULT)
		mg_buf_adds(b, c->order == MG_ORDER_DESC ? " DESC" : " ASC");
	if (c->nulls != MG_NULLS_DEFAULT)
		mg_buf_adds(b, c->nulls == MG_NULLS_FIRST ? " NULLS FIRST" : " NULLS LAST");
}

/* Whether a storage parameter's value is written as a number. */
static int is_number(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n > 0 && (!s[n] || (s[n] == '.' && s[n + 1] &&
				   !s[n + 1 + strspn(s + n + 1, "0123456789")]));
}

/* WITH (key = value, ...): keys are checked words (migration_ops.c and
 * catalog_index.c), values numbers or string literals. */
static void add_storage(struct mg_buf *b, const struct mg_op *op)
{
	mg_buf_adds(b, " WITH (");
	for (size_t i = 0; i < op->n_storage; i++) {
		mg_buf_addf(b, "%s%s = ", i ? ", " : "", op->storage[i].key);
		if (is_number(op->storage[i].value))
			mg_buf_adds(b, op->storage[i].value);
		else
			add_literal(b, op->storage[i].value);
	}
	mg_buf_adds(b, ")");
}

static void add_include(struct mg_buf *b, const struct mg_op *op)
{
	mg_buf_adds(b, " INCLUDE (");
	for (size_t k = 0; k < op->n_include; k++) {
		if (k)
			mg_buf_adds(b, ", ");
		pgdrv_quote_ident(b, op->include[k]);
	}
	mg_buf_adds(b, ")");
}

/* CREATE INDEX's text after ON table (shared with the plan-time probe). */
void pgdrv_index_body(struct mg_buf *b, const struct mg_op *op)
{
	if (op->method)
		mg_buf_addf(b, " USING %s", op->method);
	mg_buf_adds(b, " (");
	for (size_t k = 0; k < op->n_columns; k++) {
		if (k)
			mg_buf_adds(b, ", ");
		add_key_column(b, op, k);
	}
	mg_buf_adds(b, ")");
	if (op->n_include)
		add_include(b, op);
	if (op->n_storage)
		add_storage(b, op);
	if (op->where)
		mg_buf_addf(b, " WHERE %s", op->where);
}

/* "NOT EXISTS (the constraint name on t)". Owned. */
static char *constraint_absent(const struct mg_table_desc *t, const char *name)
{
	char *nl = lit(name);
	char *s = mg_xasprintf("NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
			       pgdesc(t)->qlit, nl);

	free(nl);
	return s;
}

/* constraint: true: the built index becomes the UNIQUE constraint of the
 * same name, in a transaction of its own. */
static void render_add_constraint(const struct mg_render *r, const char *qn,
				  struct mg_plan *out)
{
	const struct mg_table_desc *t = r->table;
	char *cond = constraint_absent(t, r->op->index_name);
	char *desc = mg_xasprintf("make unique index %s the UNIQUE constraint %s of %s",
				  qn, qn, t->q);
	char *sql = mg_xasprintf("DO $mg$ BEGIN IF %s THEN ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s; END IF; END $mg$;\n",
				 cond, t->q, qn, qn);

	mg_plan_add_step(out, r->phase, MG_STEP_TX, t->q, desc, sql, NULL);
	free(cond);
	free(desc);
	free(sql);
}

static void render_drop_constraint(const struct mg_render *r, const char *qn,
				   struct mg_plan *out)
{
	const struct mg_table_desc *t = r->table;
	char *desc = mg_xasprintf("drop the UNIQUE constraint %s of %s", qn, t->q);
	char *sql = mg_xasprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", t->q, qn);

	mg_plan_add_step(out, r->phase, MG_STEP_TX, t->q, desc, sql, NULL);
	free(desc);
	free(sql);
}

/* The index create_index builds (or, at rollback, drops) concurrently;
 * the index drop_index drops at contract. */
void pgdrv_render_index_op(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_op *op = r->op;
	const struct mg_table_desc *t = r->table;
	struct mg_buf b = MG_BUF_INIT;
	char *qn = qi(op->index_name);
	char *obj = mg_xasprintf("%s.%s", pgdesc(t)->qschema, qn);
	char *desc;

	if (r->kind == MG_RENDER_DROP_INDEX) {
		if (op->constraint)
			render_drop_constraint(r, qn, out);
		desc = mg_xasprintf("drop index %s", obj);
		mg_buf_addf(&b, "DROP INDEX CONCURRENTLY IF EXISTS %s", obj);
		mg_plan_add_step(out, r->phase, MG_STEP_NOTX, t->q, desc, b.buf, NULL);
	} else {
		mg_buf_addf(&b, "CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s",
			    op->unique ? "UNIQUE " : "", qn, t->q);
		pgdrv_index_body(&b, op);
		desc = mg_xasprintf("build %sindex %s on %s concurrently",
				    op->unique ? "unique " : "", qn, t->q);
		mg_plan_add_step(out, r->phase, MG_STEP_NOTX, t->q, desc, b.buf, obj);
		if (op->constraint)
			render_add_constraint(r, qn, out);
	}
	free(desc);
	free(qn);
	free(obj);
	mg_buf_release(&b);
}

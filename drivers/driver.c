/* driver.c - picking a driver by URL (from the table of drivers.c), and the
 * wrappers the core calls. */
#include "driver.h"
#include "lockretry.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

const struct mg_driver *mg_driver_for_url(const char *url, struct mg_err *err)
{
	if (!url || !*url) {
		mg_err_set(err, MG_EINPUT, "no database given");
		mg_err_hint(err, "pass --database URL or set MIGRATE_DATABASE_URL (or DATABASE_URL)");
		return NULL;
	}
	if (strncmp(url, "sqlite:", 7) == 0) {
		char *shown = mg_redact_url(url);

		mg_err_set(err, MG_EINPUT,
			   "database '%s': this build has no driver for '%.*s' yet",
			   shown, (int)strcspn(url, ":"), url);
		mg_err_hint(err, "use a postgres://, postgresql:// or mysql:// URL (SQLite targets are planned)");
		free(shown);
		return NULL;
	}
	for (size_t i = 0; mg_drivers[i]; i++)
		if (mg_drivers[i]->accepts(url))
			return mg_drivers[i];
	{
		char *shown = mg_redact_url(url);

		mg_err_set(err, MG_EINPUT, "unsupported database URL '%s'", shown);
		mg_err_hint(err, "expected postgres://user@host:port/db, postgresql://..., a libpq conninfo string, or mysql://user@host:port/db (mariadb://... too)");
		free(shown);
	}
	return NULL;
}

size_t mg_driver_name_limit(const char *url)
{
	size_t strictest = 0;

	for (size_t i = 0; mg_drivers[i]; i++) {
		size_t n = mg_drivers[i]->max_name_len;

		if (url && mg_drivers[i]->accepts(url))
			return n;
		if (!strictest || n < strictest)
			strictest = n;
	}
	return strictest;
}

const char *mg_db_help_note(struct mg_conn *c, enum mg_help_note n)
{
	assert(c && n < MG_HELP_NNOTES);
	return c->drv->help_notes[n];
}

void mg_driver_help_note(struct mg_buf *out, enum mg_help_note n)
{
	for (size_t i = 0; mg_drivers[i]; i++)
		if (mg_drivers[i]->help_notes[n])
			mg_buf_addf(out, "%s%s", out->len ? "; " : "", mg_drivers[i]->help_notes[n]);
}

void mg_driver_url_help(struct mg_buf *out)
{
	size_t n = 0;

	while (mg_drivers[n])
		n++;
	for (size_t i = 0; i < n; i++)
		mg_buf_addf(out, "%s%s", i == 0 ? "" : i + 1 < n ? ", " : ", or ",
			    mg_drivers[i]->url_help);
}

#define LOCK_LOST "lost the advisory lock: its session ("

int mg_err_lock_lost(struct mg_err *err, const char *session, const char *what,
		     const char *cause)
{
	mg_err_set(err, MG_EDB, LOCK_LOST "%s) %s%s%s%s", session, what,
		   cause ? " (" : "", cause ? cause : "", cause ? ")" : "");
	return mg_err_hint(err, "nothing was committed after the lock was lost; make sure no other migrate runs on this database (its CI job), then re-run the command to resume");
}

int mg_err_is_lock_lost(const struct mg_err *err)
{
	return strstr(err->msg, LOCK_LOST) != NULL;
}

const char *mg_rows_get(const struct mg_rows *r, size_t row, size_t col)
{
	assert(row < r->nrows && col < r->ncols);
	return r->cells[row * r->ncols + col];
}

void mg_rows_release(struct mg_rows *r)
{
	for (size_t i = 0; i < r->nrows * r->ncols; i++)
		free(r->cells[i]);
	free(r->cells);
	r->cells = NULL;
	r->nrows = r->ncols = 0;
}

void mg_history_release(struct mg_history *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->rows[i].name);
		free(h->rows[i].checksum);
		free(h->rows[i].phase);
		free(h->rows[i].step_phase);
		free(h->rows[i].state_id);
	}
	free(h->rows);
	memset(h, 0, sizeof(*h));
}

const struct mg_history_row *mg_history_find(const struct mg_history *h, int id)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->rows[i].id == id)
			return &h->rows[i];
	return NULL;
}

void mg_batch_result_release(struct mg_batch_result *r, size_t n_keys)
{
	if (r->last_key) {
		for (size_t i = 0; i < n_keys; i++)
			free(r->last_key[i]);
		free(r->last_key);
	}
	memset(r, 0, sizeof(*r));
}

size_t mg_place_counts_add(struct mg_place_counts *out, const char *kind, const char *name,
			   int64_t sessions)
{
	struct mg_place_count *p;

	out->list = mg_xrealloc(out->list, (out->n + 1) * sizeof(*out->list));
	p = &out->list[out->n];
	p->place = name ? mg_xasprintf("%s %s", kind, name) : mg_xstrdup(kind);
	p->sessions = sessions;
	return out->n++;
}

int64_t mg_place_counts_total(const struct mg_place_counts *pc)
{
	int64_t total = 0;

	for (size_t i = 0; i < pc->n; i++)
		total += pc->list[i].sessions;
	return total;
}

void mg_place_counts_release(struct mg_place_counts *pc)
{
	for (size_t i = 0; i < pc->n; i++)
		free(pc->list[i].place);
	free(pc->list);
	pc->list = NULL;
	pc->n = 0;
}

int mg_db_replication_lag_ms(struct mg_conn *c, int64_t *out, struct mg_err *err)
{
	int hook = mg_hook_lag_ms(out);

	if (hook > 0)
		return 0;
	if (hook < 0)
		return mg_err_set(err, MG_EDB, "test hook: replication lag unknown");
	if (!c->drv->replication_lag_ms)
		return mg_err_set(err, MG_EDB, "the %s driver cannot read replication lag", c->drv->name);
	return c->drv->replication_lag_ms(c, out, err);
}

int mg_db_connect(struct mg_conn **out, const char *url,
		  const struct mg_conn_opts *opts, struct mg_err *err)
{
	const struct mg_driver *drv = mg_driver_for_url(url, err);

	*out = NULL;
	if (!drv)
		return -1;
	assert(drv->version == MG_DRIVER_VERSION);
	return drv->connect(out, url, opts, err);
}

void mg_db_close(struct mg_conn *c)
{
	if (c)
		c->drv->close(c);
}

int mg_db_exec(struct mg_conn *c, const char *sql, struct mg_err *err)
{
	assert(c && sql);
	return c->drv->exec(c, sql, err);
}

int mg_db_query(struct mg_conn *c, const char *sql, struct mg_rows *out,
		struct mg_err *err)
{
	assert(c && sql && out);
	return c->drv->query(c, sql, out, err);
}

int mg_db_fingerprint(struct mg_conn *c, struct mg_buf *out, struct mg_err *err)
{
	assert(c && out);
	return c->drv->fingerprint(c, out, err);
}

int mg_db_lock(struct mg_conn *c, struct mg_err *err)
{
	assert(c);
	return c->drv->lock(c, err);
}

void mg_db_unlock(struct mg_conn *c)
{
	assert(c);
	c->drv->unlock(c);
}

int mg_db_history_read(struct mg_conn *c, struct mg_history *out,
		       struct mg_err *err)
{
	assert(c && out);
	return c->drv->history_read(c, out, err);
}

int mg_db_history_write(struct mg_conn *c, const struct mg_history_write *w,
			struct mg_err *err)
{
	assert(c && w);
	return c->drv->history_write(c, w, err);
}

int mg_db_check_blockers(struct mg_conn *c, const char *const *tables,
			 size_t n, struct mg_err *err)
{
	assert(c && (tables || n == 0));
	return c->drv->check_blockers(c, tables, n, err);
}

int mg_db_backfill_bounds(struct mg_conn *c, const struct mg_backfill_spec *s,
			  char ***upto_key, int64_t *estimate, struct mg_err *err)
{
	assert(c && s && upto_key && estimate);
	return c->drv->backfill_bounds(c, s, upto_key, estimate, err);
}

int mg_db_backfill_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int batch_size, struct mg_batch_result *out,
			 struct mg_err *err)
{
	assert(c && s && out && batch_size > 0);
	return c->drv->backfill_batch(c, s, after_key, upto_key, batch_size, out, err);
}

int mg_db_backfill_split(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int pieces, char ****bounds, size_t *n,
			 struct mg_err *err)
{
	assert(c && s && bounds && n);
	*bounds = NULL;
	*n = 0;
	if (!c->drv->backfill_split)
		return 0;
	return c->drv->backfill_split(c, s, after_key, upto_key, pieces, bounds, n, err);
}

int mg_db_verify_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
		       char *const *after_key, int batch_size, int sample,
		       int64_t *mismatches, struct mg_strlist *sample_keys,
		       char ***last_key, struct mg_err *err)
{
	assert(c && s && mismatches && sample_keys && last_key);
	return c->drv->verify_batch(c, s, after_key, batch_size, sample, mismatches,
				    sample_keys, last_key, err);
}

int mg_db_analyze(struct mg_conn *c, const char *table, struct mg_err *err)
{
	assert(c && table);
	return c->drv->analyze(c, table, err);
}

int mg_db_active_sessions(struct mg_conn *c, int64_t *out, int64_t *hidden,
			  struct mg_err *err)
{
	assert(c && out && hidden);
	if (!c->drv->active_sessions)
		return mg_err_set(err, MG_EDB, "not supported by the driver");
	return c->drv->active_sessions(c, out, hidden, err);
}

void mg_db_watch_steps(struct mg_conn *c, mg_step_progress_fn fn, void *arg)
{
	assert(c);
	if (c->drv->watch_steps)
		c->drv->watch_steps(c, fn, arg);
}

int mg_db_lock_waits(struct mg_conn *c, int64_t *out, struct mg_err *err)
{
	assert(c && out);
	if (!c->drv->lock_waits)
		return mg_err_set(err, MG_EDB, "not supported by the driver");
	return c->drv->lock_waits(c, out, err);
}

int mg_db_count_sessions(struct mg_conn *c, const char *pattern, int64_t *out,
			 struct mg_err *err)
{
	return mg_db_count_sessions_except(c, pattern, NULL, 0, out, err);
}

int mg_db_count_sessions_except(struct mg_conn *c, const char *pattern,
				char *const *except, size_t n_except, int64_t *out,
				struct mg_err *err)
{
	struct mg_place_counts places = MG_PLACE_COUNTS_INIT;
	int rc;

	assert(c && pattern && out && (except || !n_except));
	if (!c->drv->count_sessions_by_place) {
		if (!c->drv->count_sessions)
			return mg_err_set(err, MG_EDB, "the driver cannot list sessions");
		return c->drv->count_sessions(c, pattern, except, n_except, out, err);
	}
	rc = mg_db_count_sessions_by_place(c, pattern, except, n_except, &places, err);
	*out = rc == 0 ? mg_place_counts_total(&places) : 0;
	mg_place_counts_release(&places);
	return rc;
}

int mg_db_count_sessions_by_place(struct mg_conn *c, const char *pattern,
				  char *const *except, size_t n_except,
				  struct mg_place_counts *out, struct mg_err *err)
{
	int64_t n = 0;

	assert(c && pattern && out && (except || !n_except));
	mg_place_counts_release(out);
	if (c->drv->count_sessions_by_place) {
		if (c->drv->count_sessions_by_place(c, pattern, except, n_except, out, err) == 0)
			return 0;
		mg_place_counts_release(out);
		return -1;
	}
	if (mg_db_count_sessions_except(c, pattern, except, n_except, &n, err) < 0)
		return -1;
	mg_place_counts_add(out, "server", NULL, n);
	return 0;
}

int mg_db_lock_holder(struct mg_conn *c, struct mg_buf *out, struct mg_err *err)
{
	assert(c && out);
	return c->drv->lock_holder(c, out, err);
}

int mg_db_lock_lost(struct mg_conn *c, struct mg_err *err)
{
	assert(c);
	return c->drv->lock_lost ? c->drv->lock_lost(c, err) : 0;
}

int mg_db_lock_check(struct mg_conn *c, struct mg_err *err)
{
	assert(c);
	return c->drv->lock_check ? c->drv->lock_check(c, err) : 0;
}

/* One try of a step, for the lock-retry loop (src/lockretry.c). */
struct step_try {
	struct mg_conn *c;
	const struct mg_step *s;
	const struct mg_history_write *w;
};

static int step_try(void *arg, struct mg_step_report *rep, struct mg_err *err)
{
	struct step_try *t = arg;

	return t->c->drv->run_step(t->c, t->s, t->w, rep, err);
}

int mg_db_run_step(struct mg_conn *c, enum mg_plan_phase phase, int index,
		   const struct mg_step *s, const struct mg_history_write *w,
		   struct mg_step_report *rep, struct mg_err *err)
{
	struct step_try t = { c, s, w };
	int rc;

	assert(c && s && s->sql);
	memset(rep, 0, sizeof(*rep));
	rc = mg_lockretry_run(step_try, &t, s->description, rep, err);
	if (rc == 0)
		mg_fault_point(mg_plan_phase_name(phase), index, 0);
	return rc;
}

/* ---- planning ------------------------------------------------------------ */

void mg_db_quote_ident(struct mg_conn *c, struct mg_buf *out, const char *name)
{
	c->drv->quote_ident(out, name);
}

int mg_db_plan_begin(struct mg_conn *c, struct mg_planner *pl, struct mg_err *err)
{
	if (!c->drv->plan_begin)
		return 0;
	return c->drv->plan_begin(c, pl, err);
}

int mg_db_plan_end(struct mg_conn *c, struct mg_planner *pl, int failed,
		   struct mg_err *err)
{
	if (!c->drv->plan_end)
		return 0;
	return c->drv->plan_end(c, pl, failed, err);
}

int mg_db_describe_table(struct mg_conn *c, const struct mg_planner *pl,
			 const struct mg_op *op, struct mg_table_desc *out,
			 struct mg_err *err)
{
	memset(out, 0, sizeof(*out));
	return c->drv->describe_table(c, pl, op, out, err);
}

int mg_db_describe_column(struct mg_conn *c, const struct mg_planner *pl,
			  const struct mg_table_desc *t, const char *name,
			  struct mg_column_desc *out, struct mg_err *err)
{
	memset(out, 0, sizeof(*out));
	return c->drv->describe_column(c, pl, t, name, out, err);
}

int mg_db_column_dependents(struct mg_conn *c, const struct mg_planner *pl,
			    const struct mg_table_desc *t, const char *col,
			    const struct mg_column_desc *cd,
			    struct mg_dependents *out, struct mg_err *err)
{
	return c->drv->column_dependents(c, pl, t, col, cd, out, err);
}

int mg_db_check_expr(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_table_desc *t, enum mg_expr_use use,
		     const char *expr, struct mg_pos pos, struct mg_err *err)
{
	return c->drv->check_expr(c, pl, t, use, expr, pos, err);
}

int mg_db_canonical_type(struct mg_conn *c, const struct mg_planner *pl,
			 const struct mg_op *op, char **out, struct mg_err *err)
{
	*out = NULL;
	return c->drv->canonical_type(c, pl, op, out, err);
}

int mg_db_check_index(struct mg_conn *c, const struct mg_planner *pl,
		      const struct mg_op *op, const struct mg_table_desc *t,
		      struct mg_err *err)
{
	if (!c->drv->check_index)
		return 0;
	return c->drv->check_index(c, pl, op, t, err);
}

int mg_db_check_rule(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_op *op, const struct mg_table_desc *t,
		     const struct mg_column_desc *cd, struct mg_err *err)
{
	if (!c->drv->check_rule)
		return 0;
	return c->drv->check_rule(c, pl, op, t, cd, err);
}

int mg_db_check_sql(struct mg_conn *c, struct mg_planner *pl,
		    const struct mg_op *op, struct mg_err *err)
{
	if (!c->drv->check_sql)
		return 0;
	return c->drv->check_sql(c, pl, op, err);
}

int mg_db_check_plan(struct mg_conn *c, const struct mg_planner *pl,
		     struct mg_err *err)
{
	if (!c->drv->check_plan)
		return 0;
	return c->drv->check_plan(c, pl, err);
}

int mg_db_table_dependents(struct mg_conn *c, const struct mg_planner *pl,
			   const struct mg_table_desc *t, int by_name,
			   struct mg_dependents *out, struct mg_err *err)
{
	if (!c->drv->table_dependents)
		return 0;
	return c->drv->table_dependents(c, pl, t, by_name, out, err);
}

int mg_db_check_table_op(struct mg_conn *c, struct mg_planner *pl,
			 const struct mg_tableop *top, struct mg_err *err)
{
	if (!c->drv->check_table_op)
		return 0;
	return c->drv->check_table_op(c, pl, top, err);
}

/* An attribute operation on a driver that cannot answer for it. */
static int attrs_unsupported(const struct mg_planner *pl, struct mg_err *err)
{
	return mg_err_set(err, MG_EREFUSED, "%s is not supported by the driver '%s' at %s:%d:%d",
			  mg_op_kind_name(pl->op->kind), pl->conn->drv->name, pl->m->path,
			  pl->op->pos.line, pl->op->pos.column);
}

int mg_db_describe_constraint(struct mg_conn *c, const struct mg_planner *pl,
			      const struct mg_table_desc *t, const char *name,
			      struct mg_constraint_desc *out, struct mg_err *err)
{
	if (!c->drv->describe_constraint)
		return attrs_unsupported(pl, err);
	return c->drv->describe_constraint(c, pl, t, name, out, err);
}

int mg_db_name_taken(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_table_desc *t, const char *name,
		     const struct mg_constraint_desc *like, char **what,
		     struct mg_err *err)
{
	*what = NULL;
	if (!c->drv->name_taken)
		return 0;
	return c->drv->name_taken(c, pl, t, name, like, what, err);
}

int mg_db_describe_table_attrs(struct mg_conn *c, const struct mg_planner *pl,
			       const struct mg_table_desc *t,
			       struct mg_table_attrs *out, struct mg_err *err)
{
	if (!c->drv->describe_table_attrs)
		return attrs_unsupported(pl, err);
	return c->drv->describe_table_attrs(c, pl, t, out, err);
}

int mg_db_check_attr(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_attr *a, struct mg_err *err)
{
	if (!c->drv->check_attr)
		return 0;
	return c->drv->check_attr(c, pl, a, err);
}

char *mg_db_placeholder_value(struct mg_conn *c, const char *type)
{
	if (!c->drv->placeholder_value)
		return NULL;
	return c->drv->placeholder_value(c, type);
}

int mg_db_render(struct mg_conn *c, const struct mg_render *r,
		 struct mg_plan *out, struct mg_err *err)
{
	return c->drv->render(c, r, out, err);
}

void mg_db_plan_notes(struct mg_conn *c, const struct mg_planner *pl,
		      struct mg_plan *out)
{
	if (c->drv->plan_notes)
		c->drv->plan_notes(c, pl, out);
}

/* ---- lint ------------------------------------------------------------------ */

void mg_sql_facts_add(struct mg_sql_facts *f, enum mg_fact_kind kind,
		      unsigned flags, int offset, const char *table,
		      const char *name, const char *detail)
{
	struct mg_sql_fact *x;

	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->items = mg_xrealloc(f->items, f->cap * sizeof(*f->items));
	}
	x = &f->items[f->n++];
	x->kind = kind;
	x->flags = flags;
	x->offset = offset;
	x->table = table ? mg_xstrdup(table) : NULL;
	x->name = name ? mg_xstrdup(name) : NULL;
	x->detail = detail ? mg_xstrdup(detail) : NULL;
}

void mg_sql_facts_release(struct mg_sql_facts *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->items[i].table);
		free(f->items[i].name);
		free(f->items[i].detail);
	}
	free(f->items);
	f->items = NULL;
	f->n = f->cap = 0;
}

const struct mg_driver *mg_driver_named(const char *name)
{
	for (size_t i = 0; mg_drivers[i]; i++)
		if (!strcmp(mg_drivers[i]->name, name))
			return mg_drivers[i];
	return NULL;
}

void mg_driver_lint_sql(const struct mg_driver *d, const char *text,
			enum mg_lint_text kind, struct mg_sql_facts *out)
{
	if (d && d->lint_sql && text)
		d->lint_sql(text, kind, out);
}

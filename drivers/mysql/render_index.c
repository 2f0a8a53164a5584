/*
 * render_index.c - the MySQL/MariaDB driver: create_index and drop_index
 * as SQL, and what plan says about them.
 *
 * create_index: built at expand with ALTER TABLE ... ADD INDEX, ALGORITHM=
 * NOCOPY, LOCK=NONE (InnoDB's online build: reads and writes go on, a
 * short exclusive metadata lock at the start and at the end), dropped at
 * rollback. A unique build that meets a duplicate (in the rows or written
 * meanwhile) fails with ER_DUP_ENTRY naming the value, and InnoDB throws
 * the half-built index away: the step fails, exit 1, nothing changed.
 * A key column may be descending (MariaDB 10.8+, MySQL 8.0).
 *
 * drop_index: dropped at contract with ALTER TABLE ... DROP INDEX IF
 * EXISTS, ALGORITHM=NOCOPY, LOCK=NONE: a metadata change (MariaDB 10.11
 * refuses ALGORITHM=INSTANT for DROP INDEX: "Try ALGORITHM=NOCOPY"),
 * under the exclusive metadata lock every ALTER takes briefly; retried
 * like every step on a lock wait timeout. IF EXISTS: a re-run after a
 * crash finds nothing to drop.
 */
#include "mysql/myplan.h"

static unsigned allow_options(int rebuild, int copy)
{
	return (rebuild ? MG_STEP_ALLOW_REBUILD : 0) | (copy ? MG_STEP_ALLOW_COPY : 0);
}

/* `col`, `col` DESC or `col` ASC (nulls: checked at plan time to be the
 * order's own). */
static void add_key_column(struct mg_buf *b, const struct mg_op *op, size_t k)
{
	const struct mg_index_col *c = op->column_opts ? &op->column_opts[k] : NULL;

	mydrv_quote_ident(b, op->columns[k]);
	if (c && c->order != MG_ORDER_DEFAULT)
		mg_buf_adds(b, c->order == MG_ORDER_DESC ? " DESC" : " ASC");
}

void mydrv_emit_index_op(struct planner *pl, const struct mg_op *op, const struct mytable *t)
{
	struct mg_buf b = MG_BUF_INIT, clause = MG_BUF_INIT;
	char *qn = qi(op->index_name), *desc;

	mg_buf_addf(&clause, "ADD %sINDEX IF NOT EXISTS %s (", op->unique ? "UNIQUE " : "", qn);
	for (size_t k = 0; k < op->n_columns; k++) {
		if (k)
			mg_buf_adds(&clause, ", ");
		add_key_column(&clause, op, k);
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

void mydrv_emit_index_drop(struct planner *pl, const struct mg_op *op, const struct mytable *t,
			   enum mg_plan_phase phase)
{
	char *qn = qi(op->index_name);
	char *clause = mg_xasprintf("DROP INDEX IF EXISTS %s", qn);
	char *desc = mg_xasprintf("drop index %s on %s", qn, t->q);
	struct mg_buf b = MG_BUF_INIT;

	alter_one(pl, &b, t->q, t->lit, clause, MYDRV_ALG_NOCOPY);
	mg_plan_add_step(pl->plan, phase, MG_STEP_NOTX, t->q, desc, b.buf,
			 NULL)->options = allow_options(op->allow_rebuild, op->allow_copy);
	mg_buf_release(&b);
	free(desc);
	free(clause);
	free(qn);
}

static void emit_build_notes(struct planner *pl, const struct mg_op *op, const struct mytable *t)
{
	char *n = mg_xasprintf("index `%s` on %s: ALTER TABLE ... ADD %sINDEX, %s: built online, reads and writes go on during the build; a short exclusive metadata lock at its start and at its end, each queued behind running transactions on the table for at most --lock-timeout (if the one at the end is not granted, the build is undone and retried); replicas replay the build single-threaded, so expect replication lag for its duration%s",
			       op->index_name, t->q, op->unique ? "UNIQUE " : "",
			       pl->mc->mysql_dialect ? "ALGORITHM=INPLACE, LOCK=NONE (MySQL: in place, and per its manual without a rebuild of the table)" : "ALGORITHM=NOCOPY, LOCK=NONE",
			       op->unique ? "; a duplicate key, in the rows or written during the build, fails the step naming the value (exit 1), and the server removes the half-built index" : "");

	mg_plan_add_note(pl->plan, n);
	free(n);
	if (!op->constraint)
		return;
	n = mg_xasprintf("index `%s` on %s: constraint: true asks for nothing more on %s: a UNIQUE index is the table's UNIQUE constraint (information_schema.TABLE_CONSTRAINTS lists it, and drop_constraint drops it)",
			 op->index_name, t->q, pl->mc->mysql_dialect ? "MySQL" : "MariaDB");
	mg_plan_add_note(pl->plan, n);
	free(n);
}

static void emit_drop_notes(struct planner *pl, const struct mg_op *op, const struct mytable *t)
{
	char *n = mg_xasprintf("index `%s` on %s: dropped at contract (the old version may rely on it until then) with ALTER TABLE ... DROP INDEX, %s: a metadata change, under a short exclusive metadata lock queued behind running transactions on the table for at most --lock-timeout; rollback before contract has nothing to undo",
			       op->index_name, t->q,
			       pl->mc->mysql_dialect ? "ALGORITHM=INPLACE, LOCK=NONE" : "ALGORITHM=NOCOPY, LOCK=NONE");

	mg_plan_add_note(pl->plan, n);
	free(n);
}

void mydrv_emit_index_notes(struct planner *pl, const struct mg_op *op, const struct mytable *t)
{
	if (op->kind == MG_OP_DROP_INDEX)
		emit_drop_notes(pl, op, t);
	else
		emit_build_notes(pl, op, t);
}

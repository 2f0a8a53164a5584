/*
 * triggers.c - the dual-write triggers on MySQL/MariaDB (design §6): one
 * BEFORE UPDATE and one BEFORE INSERT trigger per table, after the user's
 * own (FOLLOWS), their names, and the MySQL dialect's transitional insert
 * trigger (no CREATE OR REPLACE TRIGGER there).
 */
#include "mysql/myplan.h"

/* ==== the triggers ======================================================================== */

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
char *trigger_name(const struct planner *pl, const struct tplan *tp, const char *event)
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
char *follows_clause(struct planner *pl, const struct tplan *tp, const char *event,
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
 * The dual-write triggers (design §6), postgres/render.c's render_trigger in
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
void render_insert_trigger(struct mg_buf *b, const struct planner *pl,
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

		if (p->kind == MG_PAIR_FIX) {
			/* mydrv_fix_trigger, after the other pairs */
		} else if (p->kind == MG_PAIR_REPLACE) {
			mg_buf_adds(b, "    IF COALESCE(_mg_writer = 'new', ");
			new_side_written(b, tp, p->new_col, qn, transitional);
			mg_buf_addf(b, ") THEN\n      SET NEW.%s = ", qo);
			row_expr(b, tp, p->down);
			mg_buf_addf(b, ";\n      SET _mg_new = TRUE;\n    ELSE\n      SET NEW.%s = ", qn);
			row_expr(b, tp, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else if (p->kind == MG_PAIR_SHADOW) {
			mg_buf_addf(b, "    SET NEW.%s = ", qn);
			row_expr(b, tp, p->up);
			mg_buf_adds(b, ";\n");
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
	mydrv_fix_trigger(b, tp, 0);
	if (tp->has_marker)
		mg_buf_addf(b, "    SET NEW.%s = IF(_mg_new, 2, 1);\n", qm);
	trigger_tail(b);
	free(name);
	free(qm);
}

void render_update_trigger(struct mg_buf *b, const struct planner *pl,
			   const struct tplan *tp, const char *follows)
{
	char *name = trigger_name(pl, tp, "bu");
	char *qm = qi(pl->marker_raw);

	trigger_head(b, pl, tp, "CREATE TRIGGER IF NOT EXISTS", name, "UPDATE", follows, 0);
	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qo = p->old_col ? qi(p->old_col) : NULL;
		char *qn = p->new_col ? qi(p->new_col) : NULL;

		if (p->kind != MG_PAIR_DROP && p->kind != MG_PAIR_SHADOW && p->kind != MG_PAIR_FIX && p->up)
			mg_buf_addf(b, "    SET _mg_new = _mg_new OR NOT (NEW.%s <=> OLD.%s);\n", qn, qn);
		if (p->kind == MG_PAIR_REPLACE || p->kind == MG_PAIR_SHADOW)
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
		} else if (p->kind == MG_PAIR_SHADOW) {
			/* whoever writes: both versions write the old column */
			mg_buf_addf(b, "    SET NEW.%s = ", qn);
			row_expr(b, tp, p->up);
			mg_buf_adds(b, ";\n");
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
	mydrv_fix_trigger(b, tp, 1);
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
void render_drop_triggers(struct mg_buf *b, const struct planner *pl, const struct tplan *tp)
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
int emit_dialect_triggers(struct planner *pl, struct tplan *tp, struct mg_buf *b,
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

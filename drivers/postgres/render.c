/*
 * render.c - the PostgreSQL driver's SQL for each piece of a plan
 * (driver.h: render): a table's expand, contract and rollback
 * transactions, the dual-write trigger, index copies and builds,
 * validations, inbound foreign keys, the backfill spec, sql steps.
 *
 * Why it is shaped this way (design §6): each phase's DDL for a table runs in
 * one transaction that first takes its lock under lock_timeout, so no writer
 * ever sees a half-done phase; CREATE INDEX CONCURRENTLY runs outside any
 * transaction; constraints on the new column are added NOT VALID and
 * validated at switch-reads; the dual-write trigger skips the backfill's own
 * session through a WHEN clause, so the backfill pays no PL/pgSQL cost.
 */
#include "postgres/pg.h"
#include "postgres/pgrules.h"

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
void pgdrv_row_expr(struct mg_buf *b, const char *expr)
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

		if (p->kind == MG_PAIR_FIX) {
			/* pgdrv_fix_trigger, after the other pairs */
		} else if (p->kind == MG_PAIR_REPLACE) {
			mg_buf_addf(b, "    IF coalesce(_mg_writer = 'new', NEW.%s IS NOT NULL) THEN\n      NEW.%s := ", qn, qo);
			pgdrv_row_expr(b, p->down);
			mg_buf_addf(b, ";\n      _mg_new := true;\n    ELSE\n      NEW.%s := ", qn);
			pgdrv_row_expr(b, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else if (p->kind == MG_PAIR_SHADOW) {
			mg_buf_addf(b, "    NEW.%s := ", qn);
			pgdrv_row_expr(b, p->up);
			mg_buf_adds(b, ";\n");
		} else if (p->kind == MG_PAIR_ADD) {
			mg_buf_addf(b, "    IF NEW.%s IS NOT NULL OR _mg_writer = 'new' THEN\n"
				    "      _mg_new := true;\n    ELSE\n      NEW.%s := ", qn, qn);
			pgdrv_row_expr(b, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else {
			mg_buf_addf(b, "    IF NEW.%s IS NULL THEN\n      NEW.%s := ", qo, qo);
			pgdrv_row_expr(b, p->down);
			mg_buf_adds(b, ";\n    END IF;\n");
		}
		free(qo);
		free(qn);
	}
	pgdrv_fix_trigger(b, tp, 0);
	if (!only_drop) {
		mg_buf_addf(b, "    NEW.%s := CASE WHEN _mg_new THEN 2 ELSE 1 END;\n", qm);
		mg_buf_adds(b, "  ELSE\n");
		for (size_t i = 0; i < tp->n_pairs; i++) {
			const struct mg_pair *p = &tp->pairs[i];
			char *qo = p->old_col ? qi(p->old_col) : NULL;
			char *qn = p->new_col ? qi(p->new_col) : NULL;

			if (p->kind != MG_PAIR_DROP && p->kind != MG_PAIR_SHADOW && p->kind != MG_PAIR_FIX && p->up)
				mg_buf_addf(b, "    _mg_new := _mg_new OR NEW.%s IS DISTINCT FROM OLD.%s;\n", qn, qn);
			if (p->kind == MG_PAIR_REPLACE || p->kind == MG_PAIR_SHADOW)
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
				pgdrv_row_expr(b, p->down);
				mg_buf_addf(b, ";\n    ELSIF _mg_writer = 'old' OR NEW.%s IS DISTINCT FROM OLD.%s OR NEW.%s = 0 THEN\n      NEW.%s := ",
					    qo, qo, qm, qn);
				pgdrv_row_expr(b, p->up);
				mg_buf_adds(b, ";\n    END IF;\n");
			} else if (p->kind == MG_PAIR_SHADOW) {
				/* whoever writes: both versions write the old column */
				mg_buf_addf(b, "    NEW.%s := ", qn);
				pgdrv_row_expr(b, p->up);
				mg_buf_adds(b, ";\n");
			} else if (p->kind == MG_PAIR_ADD && p->up) {
				mg_buf_addf(b, "    IF NEW.%s IS NULL AND NEW.%s = 0 AND _mg_writer IS DISTINCT FROM 'new' THEN\n      NEW.%s := ",
					    qn, qm, qn);
				pgdrv_row_expr(b, p->up);
				mg_buf_adds(b, ";\n    END IF;\n");
			}
			free(qo);
			free(qn);
		}
		pgdrv_fix_trigger(b, tp, 1);
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
		} else if (p->kind == MG_PRIM_ADD_RULE) {
			pgdrv_render_add_rule(b, tp, p);
		} else if (p->kind == MG_PRIM_GRANT) {
			mg_buf_addf(b, "GRANT %s (%s) ON %s TO %s%s;\n", p->dep->def, qc,
				    tp->t.q, p->dep->child,
				    p->dep->unique ? " WITH GRANT OPTION" : "");
		}
		free(qc);
	}
}

/* The separator before the next part of a step's description after
 * "expand t:": none before the first part, a comma after. */
static const char *d_sep(const struct mg_buf *d)
{
	return d->len && d->buf[d->len - 1] == ':' ? "" : ",";
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
		mg_buf_addf(&d, "%s %s", d_sep(&d), add_cols.items[i] + strlen("ADD COLUMN IF NOT EXISTS "));
	if (marker)
		mg_buf_addf(&d, "%s marker %s", d_sep(&d), pl->marker);
	if (tp->n_pairs)
		mg_buf_addf(&d, "%s dual-write trigger", d_sep(&d));
	if (tp->slot[MG_SLOT_VALIDATE].n)
		mg_buf_addf(&d, "%s %zu constraint(s) NOT VALID", d_sep(&d), tp->slot[MG_SLOT_VALIDATE].n);
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

		if (p->kind != MG_PAIR_DROP && p->kind != MG_PAIR_FIX && p->up)
			mg_buf_addf(&set, "%s%s = (%s)", set.len ? ", " : "", qn, p->up);
		if (p->kind == MG_PAIR_REPLACE)
			mg_buf_addf(&mm, " OR NOT (%s IS NOT DISTINCT FROM (%s) OR %s IS NOT DISTINCT FROM (%s))",
				    qn, p->up, qo, p->down);
		if (p->kind == MG_PAIR_SHADOW)
			mg_buf_addf(&mm, " OR %s IS DISTINCT FROM (%s)", qn, p->up);
		free(qn);
		free(qo);
	}
	pgdrv_fix_backfill(&set, &mm, tp);
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
	char *desc;

	desc = mg_xasprintf("nothing new depends on column '%s' of %s, which contract drops",
			    p->column, r->tp->t.q);
	mg_plan_add_step(out, r->phase, MG_STEP_ASSERT, r->tp->t.q, desc, check, NULL);
	free(desc);
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
	char *qview = mg_xasprintf("%s.%s", pgdesc(&tp->t)->qschema, qn);

	if (d->kind == MG_DEP_INBOUND_FK)
		mg_buf_addf(b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", d->child, qn);
	else if (d->kind == MG_DEP_CODE || !strcmp(d->def, "pg_trigger"))
		mg_buf_addf(b, "DROP TRIGGER IF EXISTS %s ON %s;\n", qn, tp->t.q);
	else if (!strcmp(d->def, "pg_rewrite"))
		mg_buf_addf(b, "DROP %sVIEW IF EXISTS %s;\n",
			    !strncmp(d->what, "materialized", 12) ? "MATERIALIZED " : "",
			    d->child && d->child[0] ? d->child : qview);
	else if (!strcmp(d->def, "pg_policy"))
		mg_buf_addf(b, "DROP POLICY IF EXISTS %s ON %s;\n", qn, tp->t.q);
	free(qview);
	free(qn);
}

/* A type change in place: the temporary column takes the name of the
 * column the same transaction dropped (guarded like every step: once). */
static void render_rename_column(struct mg_buf *b, const struct mg_tplan *tp,
				 const struct mg_prim *p)
{
	char *qc = qi(p->column), *qn = qi(p->name), *cl = lit(p->column);
	char *cond = mg_xasprintf("EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped)",
				  pgdesc(&tp->t)->qlit, cl);
	char *stmt = mg_xasprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", tp->t.q, qc, qn);

	add_guarded(b, cond, stmt);
	free(qc);
	free(qn);
	free(cl);
	free(cond);
	free(stmt);
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
		case MG_PRIM_RENAME_COLUMN:
			render_rename_column(b, tp, p);
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
	for (size_t i = 0; contract && i < tp->slot[MG_SLOT_CONTRACT_POST].n; i++) {
		const struct mg_prim *p = tp->slot[MG_SLOT_CONTRACT_POST].v[i];
		char *qc, *qn;

		if (p->kind != MG_PRIM_RENAME_COLUMN)
			continue;
		qc = qi(p->column);
		qn = qi(p->name);
		mg_buf_addf(&d, ", %s renamed to %s", qc, qn);
		free(qc);
		free(qn);
	}
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

int pgdrv_render(struct mg_conn *c, const struct mg_render *r,
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
		pgdrv_render_index_op(r, out);
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
	case MG_RENDER_CREATE_TABLE:
	case MG_RENDER_DROP_CREATED_TABLE:
	case MG_RENDER_DROP_TABLE:
	case MG_RENDER_ADD_VIEW:
	case MG_RENDER_DROP_VIEW:
	case MG_RENDER_FINISH_RENAME:
		return pgdrv_render_table_op(c, r, out);
	case MG_RENDER_ATTR:
	case MG_RENDER_ATTR_UNDO:
		return pgdrv_render_attr(r, out);
	case MG_RENDER_RULE:
		pgdrv_render_rule(r, out);
		break;
	}
	return 0;
}

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

/* ==== planning: catalog helpers ================================================ */

/* A table as the catalog knows it. */
struct pgtable {
	char *oid;		/* text */
	char *name;		/* as written in the migration */
	char *relname;
	char *q;		/* "schema"."table" */
	char *qlit;		/* q as a string literal, for ::regclass */
	char **key_cols;	/* quoted */
	char **key_types;
	size_t n_keys;
	const char *key_problem;	/* why no key, or NULL */
};

/* A column as the catalog knows it. */
struct pgcolumn {
	char *attnum;
	char *type;		/* format_type */
	char *collation;	/* quoted, or NULL for the type's default */
	int notnull;
	char *default_expr;
	char identity;
	char generated;
	char *comment;
};

static void pgtable_release(struct pgtable *t)
{
	free(t->oid);
	free(t->name);
	free(t->relname);
	free(t->q);
	free(t->qlit);
	for (size_t i = 0; i < t->n_keys; i++) {
		free(t->key_cols[i]);
		free(t->key_types[i]);
	}
	free(t->key_cols);
	free(t->key_types);
	memset(t, 0, sizeof(*t));
}

static void pgcolumn_release(struct pgcolumn *c)
{
	free(c->attnum);
	free(c->type);
	free(c->collation);
	free(c->default_expr);
	free(c->comment);
	memset(c, 0, sizeof(*c));
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

static int fetch_key(struct pgdrv_conn *pc, struct pgtable *t, struct mg_err *err)
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
		"ORDER BY k.ord", t->oid);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	t->n_keys = (size_t)PQntuples(res);
	t->key_cols = mg_xcalloc(t->n_keys + 1, sizeof(char *));
	t->key_types = mg_xcalloc(t->n_keys + 1, sizeof(char *));
	for (size_t i = 0; i < t->n_keys; i++) {
		/* quote_ident() quotes only when needed: quote always */
		const char *raw = PQgetvalue(res, (int)i, 0);

		if (raw[0] == '"')
			t->key_cols[i] = mg_xstrdup(raw);
		else
			t->key_cols[i] = qi(raw);
		t->key_types[i] = mg_xstrdup(PQgetvalue(res, (int)i, 1));
	}
	PQclear(res);
	if (!t->n_keys)
		t->key_problem = "it has no primary key and no unique index over NOT NULL columns";
	return 0;
}

static int pos_error(struct mg_err *err, int code, const struct mg_migration *m,
		     struct mg_pos pos, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int pos_error(struct mg_err *err, int code, const struct mg_migration *m,
		     struct mg_pos pos, const char *fmt, ...)
{
	char what[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return mg_err_set(err, code, "%s at %s:%d:%d", what, m->path, pos.line,
			  pos.column);
}

/* Resolve op->table; MG_EINPUT naming the file position when absent. */
static int resolve_table(struct pgdrv_conn *pc, const struct mg_migration *m,
			 const struct mg_op *op, struct pgtable *out,
			 struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	char *q = quote_table_name(op->table);
	char *ql = lit(q);
	PGresult *res;

	memset(out, 0, sizeof(*out));
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
		pos_error(err, MG_EINPUT, m, op->table_pos,
			  "table '%s' does not exist", op->table);
		return mg_err_hint(err, "check the table name (schema-qualify it as schema.table if it is not on the search_path)");
	}
	out->oid = mg_xstrdup(PQgetvalue(res, 0, 0));
	out->name = mg_xstrdup(op->table);
	out->relname = mg_xstrdup(PQgetvalue(res, 0, 2));
	{
		struct mg_buf b = MG_BUF_INIT;

		pgdrv_quote_ident(&b, PQgetvalue(res, 0, 1));
		mg_buf_addc(&b, '.');
		pgdrv_quote_ident(&b, PQgetvalue(res, 0, 2));
		out->q = mg_buf_detach(&b);
	}
	out->qlit = lit(out->q);
	{
		const char *kind = PQgetvalue(res, 0, 3);

		if (strcmp(kind, "r") != 0) {
			PQclear(res);
			return pos_error(err, MG_EREFUSED, m, op->table_pos,
					 "'%s' is not a plain table (relkind '%s'): %s",
					 op->table, kind,
					 !strcmp(kind, "p") ? "partitioned tables are not supported yet" :
					 "views and other relations cannot be migrated");
		}
	}
	PQclear(res);
	return fetch_key(pc, out, err);
}

/* 0 found, 1 absent, -1 error. */
static int fetch_column(struct pgdrv_conn *pc, const struct pgtable *t,
			const char *name, struct pgcolumn *out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	char *nl = lit(name);
	PGresult *res;

	memset(out, 0, sizeof(*out));
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
		t->oid, nl);
	free(nl);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 1;
	}
	out->attnum = mg_xstrdup(PQgetvalue(res, 0, 0));
	out->type = mg_xstrdup(PQgetvalue(res, 0, 1));
	out->collation = PQgetisnull(res, 0, 2) ? NULL : mg_xstrdup(PQgetvalue(res, 0, 2));
	out->notnull = !strcmp(PQgetvalue(res, 0, 3), "true");
	out->default_expr = PQgetisnull(res, 0, 4) ? NULL : mg_xstrdup(PQgetvalue(res, 0, 4));
	out->identity = PQgetvalue(res, 0, 5)[0];
	out->generated = PQgetvalue(res, 0, 6)[0];
	out->comment = PQgetisnull(res, 0, 7) ? NULL : mg_xstrdup(PQgetvalue(res, 0, 7));
	PQclear(res);
	return 0;
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

/* base + suffix, base cut so the whole fits an identifier. */
static char *mkname(const char *base, const char *suffix)
{
	size_t room = PGDRV_MAX_IDENT - strlen(suffix);
	size_t n = strlen(base);

	if (n > room)
		n = room;
	return mg_xasprintf("%.*s%s", (int)n, base, suffix);
}

/* ==== planning: per-table work ================================================== */

enum pair_kind { PAIR_REPLACE, PAIR_ADD, PAIR_DROP };

/* One column pair the dual-write trigger keeps in step. */
struct pair {
	enum pair_kind kind;
	char *old_col;		/* raw name, NULL for PAIR_ADD */
	char *new_col;		/* raw name, NULL for PAIR_DROP */
	char *up;		/* SQL over the old row, may be NULL */
	char *down;		/* SQL over the new row, may be NULL */
};

/* Everything one migration does to one table. */
struct tplan {
	struct pgtable t;
	char *qschema;
	size_t first_op;
	struct pair *pairs;
	size_t n_pairs, alloc_pairs;
	int has_marker;
	struct mg_strlist add_cols;	/* "ADD COLUMN IF NOT EXISTS ..." */
	struct mg_buf expand_extra;	/* constraints NOT VALID, comments */
	struct mg_strlist idx_sql, idx_obj, idx_desc;	/* copied indexes */
	struct mg_strlist validate;	/* quoted constraint names on t */
	struct mg_buf inbound_add;	/* switch-reads: inbound FK copies */
	struct mg_strlist inbound_validate;	/* full VALIDATE statements */
	struct mg_strlist children;	/* quoted tables referencing t */
	struct mg_buf contract_pre, contract_post;
	struct mg_strlist contract_cols;	/* "DROP COLUMN IF EXISTS ..." */
	struct mg_strlist dep_checks;	/* contract re-check queries */
	struct mg_buf rollback_pre;
	struct mg_strlist rollback_cols;
};

struct overlay_col {
	char *table_oid;
	char *column;
	int replaced;		/* 1: replaced/dropped by an earlier op, 0: added */
};

struct planner {
	struct pgdrv_conn *pc;
	const struct mg_migration *m;
	struct tplan *tables;
	size_t n_tables, alloc_tables;
	struct overlay_col *overlay;
	size_t n_overlay, alloc_overlay;
	struct mg_plan *plan;
	char marker_raw[32];
	char suffix[32];	/* "_mg3" */
};

static void tplan_release(struct tplan *tp)
{
	pgtable_release(&tp->t);
	free(tp->qschema);
	for (size_t i = 0; i < tp->n_pairs; i++) {
		free(tp->pairs[i].old_col);
		free(tp->pairs[i].new_col);
		free(tp->pairs[i].up);
		free(tp->pairs[i].down);
	}
	free(tp->pairs);
	mg_strlist_release(&tp->add_cols);
	mg_buf_release(&tp->expand_extra);
	mg_strlist_release(&tp->idx_sql);
	mg_strlist_release(&tp->idx_obj);
	mg_strlist_release(&tp->idx_desc);
	mg_strlist_release(&tp->validate);
	mg_buf_release(&tp->inbound_add);
	mg_strlist_release(&tp->inbound_validate);
	mg_strlist_release(&tp->children);
	mg_buf_release(&tp->contract_pre);
	mg_buf_release(&tp->contract_post);
	mg_strlist_release(&tp->contract_cols);
	mg_strlist_release(&tp->dep_checks);
	mg_buf_release(&tp->rollback_pre);
	mg_strlist_release(&tp->rollback_cols);
}

static void planner_release(struct planner *pl)
{
	for (size_t i = 0; i < pl->n_tables; i++)
		tplan_release(&pl->tables[i]);
	free(pl->tables);
	for (size_t i = 0; i < pl->n_overlay; i++) {
		free(pl->overlay[i].table_oid);
		free(pl->overlay[i].column);
	}
	free(pl->overlay);
}

static void overlay_add(struct planner *pl, const char *oid, const char *col,
			int replaced)
{
	MG_ALLOC_GROW(pl->overlay, pl->n_overlay + 1, pl->alloc_overlay);
	pl->overlay[pl->n_overlay].table_oid = mg_xstrdup(oid);
	pl->overlay[pl->n_overlay].column = mg_xstrdup(col);
	pl->overlay[pl->n_overlay].replaced = replaced;
	pl->n_overlay++;
}

/* -1 not in overlay, else the `replaced` flag. */
static int overlay_find(const struct planner *pl, const char *oid, const char *col)
{
	for (size_t i = 0; i < pl->n_overlay; i++)
		if (!strcmp(pl->overlay[i].table_oid, oid) &&
		    !strcmp(pl->overlay[i].column, col))
			return pl->overlay[i].replaced;
	return -1;
}

/* The table's plan, created on first use (resolving the table). */
static struct tplan *planner_table(struct planner *pl, size_t op_index,
				   struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[op_index];
	struct pgtable t;
	struct tplan *tp;

	if (resolve_table(pl->pc, pl->m, op, &t, err) < 0) {
		pgtable_release(&t);
		return NULL;
	}
	for (size_t i = 0; i < pl->n_tables; i++)
		if (!strcmp(pl->tables[i].t.oid, t.oid)) {
			pgtable_release(&t);
			return &pl->tables[i];
		}
	MG_ALLOC_GROW(pl->tables, pl->n_tables + 1, pl->alloc_tables);
	tp = &pl->tables[pl->n_tables++];
	memset(tp, 0, sizeof(*tp));
	tp->t = t;
	tp->first_op = op_index;
	mg_buf_init(&tp->expand_extra);
	mg_buf_init(&tp->inbound_add);
	mg_buf_init(&tp->contract_pre);
	mg_buf_init(&tp->contract_post);
	mg_buf_init(&tp->rollback_pre);
	tp->qschema = mg_xstrndup(tp->t.q, strlen(tp->t.q) - strlen(strrchr(tp->t.q, '.')));
	/* PostgreSQL quoting never puts '.' inside a "schema": wrong only for
	 * schema names containing '"."', which quote_table_name also splits */
	return tp;
}

static void add_pair(struct tplan *tp, enum pair_kind kind, const char *old_col,
		     const char *new_col, const char *up, const char *down)
{
	struct pair *p;

	MG_ALLOC_GROW(tp->pairs, tp->n_pairs + 1, tp->alloc_pairs);
	p = &tp->pairs[tp->n_pairs++];
	p->kind = kind;
	p->old_col = mg_xstrdup(old_col);
	p->new_col = mg_xstrdup(new_col);
	p->up = mg_xstrdup(up);
	p->down = mg_xstrdup(down);
	if (kind != PAIR_DROP && up)
		tp->has_marker = 1;
}

static int in_drops(const struct mg_op *op, const char *name)
{
	for (size_t i = 0; i < op->n_drops; i++)
		if (!strcmp(op->drops[i], name))
			return 1;
	return 0;
}

/* A DO block that runs `stmt` only when `cond_sql` (a boolean) is true. */
static void add_guarded(struct mg_buf *b, const char *cond_sql, const char *stmt)
{
	mg_buf_addf(b, "DO $mg$ BEGIN IF %s THEN %s; END IF; END $mg$;\n", cond_sql, stmt);
}

static char *constraint_absent(const struct tplan *tp, const char *rel_qlit,
			       const char *name)
{
	char *nl = lit(name);
	char *s = mg_xasprintf("NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
			       rel_qlit ? rel_qlit : tp->t.qlit, nl);

	free(nl);
	return s;
}

/* Add a NOT VALID constraint at expand, validated at switch-reads, renamed
 * to final_name (if not NULL) at contract. */
static void copy_constraint(struct tplan *tp, const char *copy_name,
			    const char *def, const char *final_name)
{
	char *cond = constraint_absent(tp, NULL, copy_name);
	char *qc = qi(copy_name);
	char *stmt = mg_xasprintf("ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID",
				  tp->t.q, qc, def);

	add_guarded(&tp->expand_extra, cond, stmt);
	mg_strlist_push(&tp->validate, qc);
	if (final_name) {
		char *qf = qi(final_name);
		char *cl = lit(copy_name), *fl = lit(final_name);
		char *ren = mg_xasprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s",
					 tp->t.q, qc, qf);
		char *c2 = mg_xasprintf("EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s) AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
				  tp->t.qlit, cl, tp->t.qlit, fl);
		add_guarded(&tp->contract_post, c2, ren);
		free(c2);
		free(cl);
		free(fl);
		free(ren);
		free(qf);
	}
	free(cond);
	free(qc);
	free(stmt);
}

/* The part of pg_get_indexdef() after "USING ", with old renamed to new. */
static char *index_tail(const char *def, const char *old, const char *new_col)
{
	const char *using = strstr(def, " USING ");

	if (!using)
		return NULL;
	return subst_ident(using + 7, old, new_col);
}

static void copy_index(struct planner *pl, struct tplan *tp, const char *relname,
		       const char *def, int unique, const char *old,
		       const char *new_col, const char *constraint_name)
{
	char *copy = mkname(relname, pl->suffix);
	char *qcopy = qi(copy);
	char *tail, *sql, *obj, *desc;

	obj = mg_xasprintf("%s.%s", tp->qschema, qcopy);
	for (size_t k = 0; k < tp->idx_obj.n; k++) {
		if (strcmp(tp->idx_obj.items[k], obj) != 0)
			continue;
		/* an index over two columns this migration replaces: one copy,
		 * with both columns renamed */
		tail = index_tail(tp->idx_sql.items[k], old, new_col);
		sql = mg_xasprintf("%.*s USING %s",
				   (int)(strstr(tp->idx_sql.items[k], " USING ") - tp->idx_sql.items[k]),
				   tp->idx_sql.items[k], tail);
		free(tp->idx_sql.items[k]);
		tp->idx_sql.items[k] = sql;
		free(tail);
		free(obj);
		free(copy);
		free(qcopy);
		return;
	}
	free(obj);
	tail = index_tail(def, old, new_col);
	if (!tail)
		tail = mg_xstrdup("btree (?)");
	sql = mg_xasprintf("CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s USING %s",
			   unique ? "UNIQUE " : "", qcopy, tp->t.q, tail);
	obj = mg_xasprintf("%s.%s", tp->qschema, qcopy);
	desc = mg_xasprintf("build index %s on %s (copy of '%s' for column '%s')",
			    qcopy, tp->t.q, relname, new_col);
	mg_strlist_push_owned(&tp->idx_sql, sql);
	mg_strlist_push_owned(&tp->idx_obj, obj);
	mg_strlist_push_owned(&tp->idx_desc, desc);
	{
		char *ol = lit(tp->idx_obj.items[tp->idx_obj.n - 1]);
		char *orig = mg_xasprintf("%s.%s", tp->qschema, "");
		char *qorig = qi(constraint_name ? constraint_name : relname);
		char *origq = mg_xasprintf("%s.%s", tp->qschema, qorig);
		char *origl = lit(origq);
		char *cond, *stmt;

		free(orig);
		if (constraint_name) {
			char *cl = lit(constraint_name);

			cond = mg_xasprintf("to_regclass(%s) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
					    ol, tp->t.qlit, cl);
			stmt = mg_xasprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s",
					    tp->t.q, qorig, qcopy);
			free(cl);
		} else {
			cond = mg_xasprintf("to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NULL",
					    ol, origl);
			stmt = mg_xasprintf("ALTER INDEX %s RENAME TO %s",
					    tp->idx_obj.items[tp->idx_obj.n - 1], qorig);
		}
		add_guarded(&tp->contract_post, cond, stmt);
		free(cond);
		free(stmt);
		free(ol);
		free(qorig);
		free(origq);
		free(origl);
	}
	free(tail);
	free(copy);
	free(qcopy);
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

/* ==== planning: dependents of a replaced or dropped column ======================= */

/* SQL returning one text per dependent that migrate neither copies nor lets
 * die with the column (views, policies, triggers, generated columns ...). */
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
	if (op->n_drops) {
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

/* Drop at contract what the user listed under drops: and is not a
 * constraint or index (those die with the column). */
static int plan_listed_drops(struct planner *pl, struct tplan *tp,
			     const struct mg_op *op, const char *col,
			     struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	char *q = others_sql(tp->t.qlit, col, &(struct mg_op){ .n_drops = 0 });
	PGresult *res;

	mg_buf_addf(&sql, "SELECT what, name, classid FROM (%s) o(what, name, classid)", q);
	free(q);
	res = query_pc(pl->pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *what = PQgetvalue(res, i, 0);
		const char *name = PQgetvalue(res, i, 1);
		const char *cls = PQgetvalue(res, i, 2);
		char *qn = qi(name);

		if (!in_drops(op, name)) {
			free(qn);
			continue;
		}
		if (!strcmp(cls, "pg_rewrite"))
			mg_buf_addf(&tp->contract_pre, "DROP %sVIEW IF EXISTS %s.%s;\n",
				    !strncmp(what, "materialized", 12) ? "MATERIALIZED " : "",
				    tp->qschema, qn);
		else if (!strcmp(cls, "pg_policy"))
			mg_buf_addf(&tp->contract_pre, "DROP POLICY IF EXISTS %s ON %s;\n", qn, tp->t.q);
		else if (!strcmp(cls, "pg_trigger"))
			mg_buf_addf(&tp->contract_pre, "DROP TRIGGER IF EXISTS %s ON %s;\n", qn, tp->t.q);
		else {
			free(qn);
			PQclear(res);
			pos_error(err, MG_EREFUSED, pl->m, op->pos,
				  "%s depends on column '%s' of %s and migrate cannot drop it",
				  what, col, tp->t.q);
			return mg_err_hint(err, "drop or change it in a sql step of an earlier migration");
		}
		free(qn);
	}
	PQclear(res);
	return 0;
}

/* Refuse when something we cannot carry over depends on the column. */
static int refuse_others(struct planner *pl, struct tplan *tp,
			 const struct mg_op *op, const char *col,
			 struct mg_err *err)
{
	char *q = others_sql(tp->t.qlit, col, op);
	PGresult *res = query_pc(pl->pc, q, err);
	int rc = 0;

	if (!res) {
		free(q);
		return -1;
	}
	if (PQntuples(res) > 0) {
		struct mg_buf who = MG_BUF_INIT;

		for (int i = 0; i < PQntuples(res); i++)
			mg_buf_addf(&who, "%s%s", i ? ", " : "", PQgetvalue(res, i, 0));
		pos_error(err, MG_EREFUSED, pl->m, op->pos,
			  "%s %s on column '%s' of %s, which migrate cannot carry over",
			  who.buf, PQntuples(res) > 1 ? "depend" : "depends", col, tp->t.q);
		mg_err_hint(err, "change or drop it first, or name it under 'drops:' in the operation to drop it at contract");
		mg_buf_release(&who);
		rc = -1;
	} else {
		/* the same check again right before contract */
		char *cl = lit(col);
		char *check = mg_xasprintf("SELECT what || ' depends on column ' || %s FROM (%s) o(what, name, classid)",
					   cl, q);

		free(cl);
		mg_strlist_push_owned(&tp->dep_checks, check);
		rc = plan_listed_drops(pl, tp, op, col, err);
	}
	PQclear(res);
	free(q);
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
 * no dependency for PL/pgSQL bodies, so read the source. They must be
 * rewritten for the new column (or dropped at contract via drops:).
 */
static int refuse_trigger_functions(struct planner *pl, struct tplan *tp,
				    const struct mg_op *op, const char *col,
				    struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT, re = MG_BUF_INIT;
	PGresult *res;
	int rc = 0;

	mg_buf_adds(&re, "\\m");
	add_regex_escaped(&re, col);
	mg_buf_adds(&re, "\\M");
	mg_buf_addf(&sql, "SELECT t.tgname, p.oid::regprocedure::text FROM pg_trigger t "
		    "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = %s AND NOT t.tgisinternal "
		    "AND t.tgname NOT LIKE 'zz\\_migrate\\_%%' AND p.prosrc ~* ", tp->t.oid);
	add_literal(&sql, re.buf);
	mg_buf_adds(&sql, " ORDER BY 1");
	res = query_pc(pl->pc, sql.buf, err);
	mg_buf_release(&sql);
	mg_buf_release(&re);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
		if (in_drops(op, PQgetvalue(res, i, 0))) {
			char *qt = qi(PQgetvalue(res, i, 0));

			mg_buf_addf(&tp->contract_pre, "DROP TRIGGER IF EXISTS %s ON %s;\n", qt, tp->t.q);
			free(qt);
			continue;
		}
		rc = pos_error(err, MG_EREFUSED, pl->m, op->pos,
			       "trigger '%s' on %s runs %s, whose code names column '%s'",
			       PQgetvalue(res, i, 0), tp->t.q, PQgetvalue(res, i, 1), col);
		mg_err_hint(err, "make the function handle both columns first (a sql step in an earlier migration), or name the trigger under 'drops:' and re-create it in this migration's contract SQL");
	}
	PQclear(res);
	return rc;
}

/* Column privileges of the old column, granted on the new one too. */
static int copy_grants(struct planner *pl, struct tplan *tp, const struct pgcolumn *c,
		       const char *new_col, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	char *qn = qi(new_col);
	PGresult *res;

	mg_buf_addf(&sql, "SELECT x.privilege_type, CASE WHEN x.grantee = 0 THEN 'PUBLIC' "
		    "ELSE quote_ident(pg_get_userbyid(x.grantee)) END, x.is_grantable::text "
		    "FROM pg_attribute a, aclexplode(a.attacl) x WHERE a.attrelid = %s AND a.attnum = %s "
		    "ORDER BY 2, 1", tp->t.oid, c->attnum);
	res = query_pc(pl->pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res) {
		free(qn);
		return -1;
	}
	for (int i = 0; i < PQntuples(res); i++)
		mg_buf_addf(&tp->expand_extra, "GRANT %s (%s) ON %s TO %s%s;\n",
			    PQgetvalue(res, i, 0), qn, tp->t.q, PQgetvalue(res, i, 1),
			    !strcmp(PQgetvalue(res, i, 2), "true") ? " WITH GRANT OPTION" : "");
	PQclear(res);
	free(qn);
	return 0;
}

/* Indexes on the table over the column, except those behind constraints. */
static int plan_indexes(struct planner *pl, struct tplan *tp, const struct mg_op *op,
			const struct pgcolumn *c, const char *old,
			const char *new_col, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;

	mg_buf_addf(&sql,
		"SELECT ic.relname, pg_get_indexdef(i.indexrelid), i.indisunique::text "
		"FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
		"WHERE i.indrelid = %s AND EXISTS (SELECT 1 FROM pg_depend d "
		"WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid "
		"AND d.refobjid = %s AND d.refobjsubid = %s) "
		"AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid "
		"AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')) ORDER BY 1",
		tp->t.oid, tp->t.oid, c->attnum);
	res = query_pc(pl->pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	for (int i = 0; new_col && i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0);

		if (in_drops(op, name))
			continue;
		copy_index(pl, tp, name, PQgetvalue(res, i, 1),
			   !strcmp(PQgetvalue(res, i, 2), "true"), old, new_col, NULL);
	}
	PQclear(res);
	return 0;
}

static int constraint_copied(const struct planner *pl, const struct tplan *tp,
			     const char *name)
{
	char *copy = mkname(name, pl->suffix);
	char *qc = qi(copy);
	int found = mg_strlist_contains(&tp->validate, qc);

	free(copy);
	free(qc);
	return found;
}

/* Constraints of the table over the column. */
static int plan_constraints(struct planner *pl, struct tplan *tp,
			    const struct mg_op *op, const struct pgcolumn *c,
			    const char *old, const char *new_col, int same_type,
			    struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;
	int rc = 0;

	mg_buf_addf(&sql,
		"SELECT k.conname, k.contype::text, pg_get_constraintdef(k.oid), "
		"coalesce(pg_get_indexdef(k.conindid), '') "
		"FROM pg_constraint k WHERE k.conrelid = %s AND %s = ANY(k.conkey) ORDER BY 1",
		tp->t.oid, c->attnum);
	res = query_pc(pl->pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	for (int i = 0; new_col && i < PQntuples(res) && rc == 0; i++) {
		const char *name = PQgetvalue(res, i, 0);
		char type = PQgetvalue(res, i, 1)[0];
		const char *def = PQgetvalue(res, i, 2);

		if (in_drops(op, name))
			continue;
		if (type != 'u' && constraint_copied(pl, tp, name)) {
			rc = pos_error(err, MG_EREFUSED, pl->m, op->pos,
				       "constraint '%s' on %s spans two columns this migration replaces",
				       name, tp->t.q);
			mg_err_hint(err, "replace those columns in separate migrations");
		} else if (type == 'c') {
			char *copy = mkname(name, pl->suffix);
			char *bare = strip_not_valid(def);
			char *d2 = subst_ident(bare, old, new_col);

			copy_constraint(tp, copy, d2, name);
			free(copy);
			free(bare);
			free(d2);
		} else if (type == 'u') {
			copy_index(pl, tp, name, PQgetvalue(res, i, 3), 1, old,
				   new_col, name);
		} else if (type == 'f' && same_type) {
			char *copy = mkname(name, pl->suffix);
			char *bare = strip_not_valid(def);
			char *d2 = subst_in_list(bare, NULL, old, new_col);

			copy_constraint(tp, copy, d2, name);
			free(copy);
			free(bare);
			free(d2);
		} else {
			rc = pos_error(err, MG_EREFUSED, pl->m, op->pos,
				       "constraint '%s' (%s) on column '%s' of %s cannot be carried over to '%s'",
				       name, def, old, tp->t.q, new_col);
			mg_err_hint(err, "name it under 'drops:' to drop it at contract, and add what the new column needs in a later migration");
		}
	}
	PQclear(res);
	return rc;
}

/* Foreign keys of other tables that reference the column. */
static int plan_inbound(struct planner *pl, struct tplan *tp, const struct mg_op *op,
			const struct pgcolumn *c, const char *old,
			const char *new_col, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;
	int rc = 0;

	mg_buf_addf(&sql,
		"SELECT k.conname, quote_ident(n.nspname) || '.' || quote_ident(r.relname), "
		"pg_get_constraintdef(k.oid) FROM pg_constraint k "
		"JOIN pg_class r ON r.oid = k.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
		"WHERE k.contype = 'f' AND k.confrelid = %s AND %s = ANY(k.confkey) ORDER BY 1",
		tp->t.oid, c->attnum);
	res = query_pc(pl->pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
		const char *name = PQgetvalue(res, i, 0);
		const char *child = PQgetvalue(res, i, 1);
		char *qn = qi(name);

		if (!mg_strlist_contains(&tp->children, child))
			mg_strlist_push(&tp->children, child);
		if (in_drops(op, name) || !new_col) {
			if (!in_drops(op, name)) {
				rc = pos_error(err, MG_EREFUSED, pl->m, op->pos,
					       "foreign key '%s' on %s references column '%s' of %s",
					       name, child, old, tp->t.q);
				mg_err_hint(err, "name it under 'drops:' to drop it at contract");
			} else {
				mg_buf_addf(&tp->contract_pre, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n",
					    child, qn);
			}
		} else {
			char *copy = mkname(name, pl->suffix);
			char *qcopy = qi(copy);
			char *childlit = lit(child);
			char *bare = strip_not_valid(PQgetvalue(res, i, 2));
			char *d2 = subst_in_list(bare, " REFERENCES ", old, new_col);
			char *cond = constraint_absent(tp, childlit, copy);
			char *stmt = mg_xasprintf("ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID",
						  child, qcopy, d2);
			char *cl = lit(copy), *nl = lit(name);
			char *c2 = mg_xasprintf("EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s) AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
						childlit, cl, childlit, nl);
			char *ren = mg_xasprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s",
						 child, qcopy, qn);

			add_guarded(&tp->inbound_add, cond, stmt);
			mg_strlist_push_owned(&tp->inbound_validate,
				mg_xasprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", child, qcopy));
			mg_buf_addf(&tp->contract_pre, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n",
				    child, qn);
			add_guarded(&tp->contract_post, c2, ren);
			mg_buf_addf(&tp->rollback_pre, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n",
				    child, qcopy);
			free(copy);
			free(qcopy);
			free(childlit);
			free(bare);
			free(d2);
			free(cond);
			free(stmt);
			free(cl);
			free(nl);
			free(c2);
			free(ren);
		}
		free(qn);
	}
	PQclear(res);
	return rc;
}

/* ==== planning: operations ======================================================= */

/* Look a column up in the catalog as it will be after the earlier
 * operations of this migration. 0 found, 1 absent, -1 error. */
static int column_for_op(struct planner *pl, struct tplan *tp, const char *name,
			 struct pgcolumn *out, struct mg_err *err)
{
	int ov = overlay_find(pl, tp->t.oid, name);

	memset(out, 0, sizeof(*out));
	if (ov == 1)
		return 1;
	if (ov == 0)
		return 0;	/* added earlier in this migration */
	return fetch_column(pl->pc, &tp->t, name, out, err);
}

static int require_column(struct planner *pl, struct tplan *tp,
			  const struct mg_op *op, const char *name,
			  struct mg_pos pos, struct pgcolumn *out,
			  struct mg_err *err)
{
	int rc = column_for_op(pl, tp, name, out, err);

	if (rc < 0)
		return -1;
	if (rc == 1) {
		pos_error(err, MG_EINPUT, pl->m, pos, "column '%s' does not exist in %s",
			  name, tp->t.q);
		return mg_err_hint(err, "check the column name; an earlier operation of this migration may have replaced it");
	}
	if (!out->attnum) {
		pos_error(err, MG_EINPUT, pl->m, pos,
			  "column '%s' of %s is created by an earlier operation of this migration and cannot be changed again in it",
			  name, tp->t.q);
		return mg_err_hint(err, "move this operation to a later migration");
	}
	(void)op;
	return 0;
}

static int require_absent(struct planner *pl, struct tplan *tp, const char *name,
			  struct mg_pos pos, struct mg_err *err)
{
	struct pgcolumn c;
	int rc = column_for_op(pl, tp, name, &c, err);

	pgcolumn_release(&c);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return pos_error(err, MG_EINPUT, pl->m, pos, "column '%s' already exists in %s",
				 name, tp->t.q);
	return 0;
}

/* Columns migrate cannot replace or drop in this version. */
static int refuse_special(struct planner *pl, struct tplan *tp, const struct mg_op *op,
			  const char *name, const struct pgcolumn *c,
			  struct mg_err *err)
{
	char *qn = qi(name);
	int key = 0;

	for (size_t i = 0; i < tp->t.n_keys; i++)
		if (!strcmp(tp->t.key_cols[i], qn))
			key = 1;
	free(qn);
	if (key)
		return pos_error(err, MG_EREFUSED, pl->m, op->column_pos,
				 "column '%s' is part of the key of %s: changing key columns is not supported",
				 name, tp->t.q);
	if (c->identity)
		return pos_error(err, MG_EREFUSED, pl->m, op->column_pos,
				 "column '%s' of %s is an identity column: not supported", name, tp->t.q);
	if (c->generated)
		return pos_error(err, MG_EREFUSED, pl->m, op->column_pos,
				 "column '%s' of %s is a generated column: not supported", name, tp->t.q);
	if (c->default_expr && strstr(c->default_expr, "nextval("))
		return pos_error(err, MG_EREFUSED, pl->m, op->column_pos,
				 "column '%s' of %s takes its default from a sequence (serial): not supported",
				 name, tp->t.q);
	return 0;
}

static void add_not_null_check(struct planner *pl, struct tplan *tp, const char *col)
{
	char *base = mg_xasprintf("%s_not_null", col);
	char *name = mkname(base, pl->suffix);
	char *qc = qi(col), *qn = qi(name);
	char *def = mg_xasprintf("CHECK (%s IS NOT NULL)", qc);

	copy_constraint(tp, name, def, NULL);
	mg_buf_addf(&tp->contract_post, "ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;\n"
		    "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", tp->t.q, qc, tp->t.q, qn);
	free(base);
	free(name);
	free(qc);
	free(qn);
	free(def);
}

static void add_column_sql(struct tplan *tp, const char *col, const char *type,
			   const char *collation)
{
	char *qc = qi(col);

	mg_strlist_push_owned(&tp->add_cols,
		mg_xasprintf("ADD COLUMN IF NOT EXISTS %s %s%s%s", qc, type,
			     collation ? " COLLATE " : "", collation ? collation : ""));
	mg_strlist_push_owned(&tp->rollback_cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qc));
	free(qc);
}

#define PGDRV_MSG sizeof(((struct mg_err *)0)->msg)

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
static int check_row_expr(struct planner *pl, struct tplan *tp, const char *expr,
			  struct mg_pos pos, struct mg_err *err)
{
	char msg[PGDRV_MSG], state[6];
	char *sql;
	int rc;

	if (check_expr_text(pl, "expression", expr, pos, err) < 0)
		return -1;
	sql = mg_xasprintf("SELECT (%s) FROM %s LIMIT 0", expr, tp->t.q);
	rc = probe(pl, sql, 0, NULL, NULL, msg, state, err);
	free(sql);
	if (rc == 1) {
		pos_error(err, MG_EINPUT, pl->m, pos,
			  "expression '%s' does not work on %s: %s", expr, tp->t.q, msg);
		return mg_err_hint(err, "write an expression over the columns of %s", tp->t.q);
	}
	return rc;
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

static int plan_add_column(struct planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct tplan *tp = planner_table(pl, i, err);
	const char *up;
	char *type;

	if (!tp || require_absent(pl, tp, op->column, op->column_pos, err) < 0)
		return -1;
	up = op->backfill ? op->backfill : op->default_expr;
	if ((op->backfill && check_row_expr(pl, tp, op->backfill, op->backfill_pos, err) < 0) ||
	    (op->default_expr && check_row_expr(pl, tp, op->default_expr, op->default_pos, err) < 0) ||
	    canonical_type(pl, op, &type, err) < 0)
		return -1;
	add_column_sql(tp, op->column, type, NULL);
	free(type);
	if (up)
		add_pair(tp, PAIR_ADD, NULL, op->column, up, NULL);
	if (!op->nullable)
		add_not_null_check(pl, tp, op->column);
	if (op->default_expr) {
		char *qc = qi(op->column);

		mg_buf_addf(&tp->contract_post, "ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s;\n",
			    tp->t.q, qc, op->default_expr);
		free(qc);
	}
	overlay_add(pl, tp->t.oid, op->column, 0);
	{
		char *l = mg_xasprintf("rollback of %04d drops column '%s' of %s with every value the new version wrote into it",
				       pl->m->id, op->column, tp->t.q);
		mg_plan_add_lossy(pl->plan, l);
		free(l);
	}
	return 0;
}

/* rename_column and alter_column: a new column beside the old one. */
static int plan_replace_column(struct planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	int is_alter = op->kind == MG_OP_ALTER_COLUMN;
	struct tplan *tp = planner_table(pl, i, err);
	struct pgcolumn c;
	char *qold = NULL, *qnew = NULL, *type = NULL;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (!tp || require_column(pl, tp, op, op->column, op->column_pos, &c, err) < 0 ||
	    require_absent(pl, tp, op->to, op->to_pos, err) < 0 ||
	    refuse_special(pl, tp, op, op->column, &c, err) < 0)
		goto out;
	if (is_alter && (check_row_expr(pl, tp, op->up, op->up_pos, err) < 0 ||
			 check_expr_text(pl, "expression", op->down, op->down_pos, err) < 0 ||
			 canonical_type(pl, op, &type, err) < 0))
		goto out;
	qold = qi(op->column);
	qnew = qi(op->to);
	add_column_sql(tp, op->to, is_alter ? type : c.type,
		       is_alter ? NULL : c.collation);
	add_pair(tp, PAIR_REPLACE, op->column, op->to, is_alter ? op->up : qold,
		 is_alter ? op->down : qnew);
	if (c.notnull)
		add_not_null_check(pl, tp, op->to);
	if (c.comment) {
		char *cl = lit(c.comment);

		mg_buf_addf(&tp->expand_extra, "COMMENT ON COLUMN %s.%s IS %s;\n", tp->t.q, qnew, cl);
		free(cl);
	}
	if (c.default_expr)
		mg_buf_addf(&tp->contract_post, "ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s;\n",
			    tp->t.q, qnew, c.default_expr);
	if (refuse_others(pl, tp, op, op->column, err) < 0 ||
	    refuse_trigger_functions(pl, tp, op, op->column, err) < 0 ||
	    copy_grants(pl, tp, &c, op->to, err) < 0 ||
	    plan_indexes(pl, tp, op, &c, op->column, op->to, err) < 0 ||
	    plan_constraints(pl, tp, op, &c, op->column, op->to, !is_alter, err) < 0 ||
	    plan_inbound(pl, tp, op, &c, op->column, is_alter ? NULL : op->to, err) < 0)
		goto out;
	mg_strlist_push_owned(&tp->contract_cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qold));
	overlay_add(pl, tp->t.oid, op->column, 1);
	overlay_add(pl, tp->t.oid, op->to, 0);
	if (is_alter) {
		char *l = mg_xasprintf("rows the new version writes reach '%s' through down (%s), which may lose information",
				       op->column, op->down);
		mg_plan_add_lossy(pl->plan, l);
		free(l);
	}
	rc = 0;
out:
	pgcolumn_release(&c);
	free(qold);
	free(qnew);
	free(type);
	return rc;
}

static int plan_drop_column(struct planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct tplan *tp = planner_table(pl, i, err);
	struct pgcolumn c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (!tp || require_column(pl, tp, op, op->column, op->column_pos, &c, err) < 0 ||
	    refuse_special(pl, tp, op, op->column, &c, err) < 0)
		goto out;
	if (c.notnull && !c.default_expr && !op->down) {
		pos_error(err, MG_EINPUT, pl->m, op->pos,
			  "drop_column of '%s': the column is NOT NULL without a default, so the new version's inserts would fail",
			  op->column);
		mg_err_hint(err, "add 'down: <SQL>' with the value new rows get until contract");
		goto out;
	}
	if (op->down && check_expr_text(pl, "expression", op->down, op->down_pos, err) < 0)
		goto out;
	if (op->down)
		add_pair(tp, PAIR_DROP, op->column, NULL, NULL, op->down);
	if (refuse_others(pl, tp, op, op->column, err) < 0 ||
	    refuse_trigger_functions(pl, tp, op, op->column, err) < 0 ||
	    plan_inbound(pl, tp, op, &c, op->column, NULL, err) < 0)
		goto out;
	{
		char *qc = qi(op->column);
		char *l = mg_xasprintf("contract of %04d drops column '%s' of %s and its data",
				       pl->m->id, op->column, tp->t.q);

		mg_strlist_push_owned(&tp->contract_cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qc));
		mg_plan_add_lossy(pl->plan, l);
		free(l);
		free(qc);
	}
	overlay_add(pl, tp->t.oid, op->column, 1);
	rc = 0;
out:
	pgcolumn_release(&c);
	return rc;
}

/* Whether an earlier operation of this migration adds columns to t. */
static int overlay_adds_to(const struct planner *pl, const char *oid)
{
	for (size_t i = 0; i < pl->n_overlay; i++)
		if (!strcmp(pl->overlay[i].table_oid, oid) && !pl->overlay[i].replaced)
			return 1;
	return 0;
}

/* `where:` is one boolean expression over t. A column that an earlier
 * operation adds does not exist while planning: then only the text is
 * checked here, and the server checks the rest at expand. */
static int check_where(struct planner *pl, const struct mg_op *op,
		       const struct pgtable *t, struct mg_err *err)
{
	char msg[PGDRV_MSG], state[6];
	char *sql;
	int rc;

	if (check_expr_text(pl, "where", op->where, op->where_pos, err) < 0)
		return -1;
	sql = mg_xasprintf("SELECT 1 FROM %s WHERE (%s) LIMIT 0", t->q, op->where);
	rc = probe(pl, sql, 0, NULL, NULL, msg, state, err);
	free(sql);
	if (rc == 1 && !(strcmp(state, "42703") == 0 && overlay_adds_to(pl, t->oid))) {
		pos_error(err, MG_EINPUT, pl->m, op->where_pos,
			  "where '%s' is not a boolean expression over %s: %s",
			  op->where, t->q, msg);
		return mg_err_hint(err, "write one condition over the columns of %s, e.g. deleted_at IS NULL", t->q);
	}
	return rc < 0 ? -1 : 0;
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

/* Checked here; its steps are rendered in emit_steps(). */
static int check_create_index(struct planner *pl, size_t i, struct pgtable *t,
			      struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];

	if (resolve_table(pl->pc, pl->m, op, t, err) < 0)
		return -1;
	if ((op->method && check_method(pl, op, err) < 0) ||
	    (op->where && check_where(pl, op, t, err) < 0))
		return -1;
	for (size_t k = 0; k < op->n_columns; k++) {
		struct pgcolumn c;
		int ov = overlay_find(pl, t->oid, op->columns[k]);
		int rc = 0;

		if (ov == 0)
			continue;
		if (ov == 1)
			rc = 1;
		else
			rc = fetch_column(pl->pc, t, op->columns[k], &c, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			pgcolumn_release(&c);
		if (rc == 1)
			return pos_error(err, MG_EINPUT, pl->m, op->pos,
					 "column '%s' of index '%s' does not exist in %s",
					 op->columns[k], op->index_name, t->q);
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

static int run_sql_for_plan(struct planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];

	if (check_sql_tx(pl, op, err) < 0)
		return -1;
	if (!op->sql[MG_SQL_EXPAND] || !op->in_transaction)
		return 0;
	if (exec_pc(pl->pc, "SAVEPOINT mg_sql", err) < 0)
		return -1;
	if (exec_pc(pl->pc, op->sql[MG_SQL_EXPAND], err) < 0) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		return pos_error(err, MG_EINPUT, pl->m, op->pos,
				 "the expand SQL of this sql step fails: %s", msg);
	}
	return 0;
}

/* ==== planning: rendering steps ==================================================== */

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

static char *trigger_name(const struct planner *pl, const struct tplan *tp)
{
	char *base = mg_xasprintf("zz_migrate_%d_%s", pl->m->id, tp->t.relname);
	char *n = mkname(base, "");

	free(base);
	return n;
}

static char *function_name(const struct planner *pl, const struct tplan *tp)
{
	char *base = mg_xasprintf("_migrate_%d_%s", pl->m->id, tp->t.relname);
	char *n = mkname(base, "_sync");
	char *q = qi(n);
	char *full = mg_xasprintf("%s.%s", tp->qschema, q);

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
static void render_trigger(struct mg_buf *b, const struct planner *pl,
			   const struct tplan *tp)
{
	char *fn = function_name(pl, tp);
	char *trg = trigger_name(pl, tp);
	char *qtrg = qi(trg);
	const char *mk = pl->marker_raw;
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
		const struct pair *p = &tp->pairs[i];
		char *qo = p->old_col ? qi(p->old_col) : NULL;
		char *qn = p->new_col ? qi(p->new_col) : NULL;

		if (p->kind == PAIR_REPLACE) {
			mg_buf_addf(b, "    IF coalesce(_mg_writer = 'new', NEW.%s IS NOT NULL) THEN\n      NEW.%s := ", qn, qo);
			row_expr(b, p->down);
			mg_buf_addf(b, ";\n      _mg_new := true;\n    ELSE\n      NEW.%s := ", qn);
			row_expr(b, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else if (p->kind == PAIR_ADD) {
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
			const struct pair *p = &tp->pairs[i];
			char *qo = p->old_col ? qi(p->old_col) : NULL;
			char *qn = p->new_col ? qi(p->new_col) : NULL;

			if (p->kind != PAIR_DROP && p->up)
				mg_buf_addf(b, "    _mg_new := _mg_new OR NEW.%s IS DISTINCT FROM OLD.%s;\n", qn, qn);
			if (p->kind == PAIR_REPLACE)
				mg_buf_addf(b, "    _mg_old := _mg_old OR NEW.%s IS DISTINCT FROM OLD.%s;\n", qo, qo);
			free(qo);
			free(qn);
		}
		mg_buf_adds(b, "    IF _mg_writer = 'new' THEN\n      _mg_new := true;\n"
			    "    ELSIF _mg_writer = 'old' THEN\n      _mg_new := false;\n      _mg_old := true;\n    END IF;\n");
		/* each pair follows the side of it that changed: a write to one
		 * new column never recomputes another pair's old column */
		for (size_t i = 0; i < tp->n_pairs; i++) {
			const struct pair *p = &tp->pairs[i];
			char *qo = p->old_col ? qi(p->old_col) : NULL;
			char *qn = p->new_col ? qi(p->new_col) : NULL;

			if (p->kind == PAIR_REPLACE) {
				mg_buf_addf(b, "    IF _mg_writer = 'new' OR (_mg_writer IS NULL AND NEW.%s IS DISTINCT FROM OLD.%s) THEN\n      NEW.%s := ",
					    qn, qn, qo);
				row_expr(b, p->down);
				mg_buf_addf(b, ";\n    ELSIF _mg_writer = 'old' OR NEW.%s IS DISTINCT FROM OLD.%s OR NEW.%s = 0 THEN\n      NEW.%s := ",
					    qo, qo, qm, qn);
				row_expr(b, p->up);
				mg_buf_adds(b, ";\n    END IF;\n");
			} else if (p->kind == PAIR_ADD && p->up) {
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

static void render_drop_trigger(struct mg_buf *b, const struct planner *pl,
				const struct tplan *tp)
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

static void lock_tables(struct mg_buf *b, const struct tplan *tp, const char *mode,
			int with_children)
{
	mg_buf_addf(b, "LOCK TABLE %s IN %s MODE;\n", tp->t.q, mode);
	for (size_t i = 0; with_children && i < tp->children.n; i++)
		mg_buf_addf(b, "LOCK TABLE %s IN %s MODE;\n", tp->children.items[i], mode);
}

static void emit_table_expand(struct planner *pl, struct tplan *tp)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	char *marker = NULL;

	if (tp->has_marker) {
		char *qm = qi(pl->marker_raw);

		marker = mg_xasprintf("ADD COLUMN IF NOT EXISTS %s smallint NOT NULL DEFAULT 0", qm);
		free(qm);
	}
	lock_tables(&b, tp, "ACCESS EXCLUSIVE", 0);
	join_alter(&b, tp->t.q, &tp->add_cols, marker);
	mg_buf_adds(&b, tp->expand_extra.buf);
	if (tp->n_pairs)
		render_trigger(&b, pl, tp);
	mg_buf_addf(&d, "expand %s:", tp->t.q);
	for (size_t i = 0; i < tp->add_cols.n; i++)
		mg_buf_addf(&d, "%s %s", i ? "," : "", tp->add_cols.items[i] + strlen("ADD COLUMN IF NOT EXISTS "));
	if (marker)
		mg_buf_addf(&d, "%s marker %s", tp->add_cols.n ? "," : "", pl->marker_raw);
	if (tp->n_pairs)
		mg_buf_adds(&d, ", dual-write trigger");
	if (tp->validate.n)
		mg_buf_addf(&d, ", %zu constraint(s) NOT VALID", tp->validate.n);
	mg_plan_add_step(pl->plan, MG_PLAN_EXPAND, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL);
	free(marker);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

/*
 * The transaction that ends a table's window, at contract or rollback: lock
 * the table (and tables referencing it), drop our trigger, run `pre`, drop
 * `drop_cols` and the marker (never CASCADE), run `post`.
 */
static void emit_table_end(struct planner *pl, struct tplan *tp,
			   enum mg_plan_phase phase, const struct mg_strlist *drop_cols,
			   const struct mg_buf *pre, const struct mg_buf *post,
			   const char *what, const char *tail)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	struct mg_strlist cols = MG_STRLIST_INIT;

	for (size_t i = 0; i < drop_cols->n; i++)
		mg_strlist_push(&cols, drop_cols->items[i]);
	if (tp->has_marker) {
		char *qm = qi(pl->marker_raw);

		mg_strlist_push_owned(&cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qm));
		free(qm);
	}
	lock_tables(&b, tp, "ACCESS EXCLUSIVE", 1);
	if (tp->n_pairs)
		render_drop_trigger(&b, pl, tp);
	mg_buf_adds(&b, pre->buf);
	join_alter(&b, tp->t.q, &cols, NULL);
	if (post)
		mg_buf_adds(&b, post->buf);
	mg_buf_addf(&d, "%s %s: drop trigger", what, tp->t.q);
	for (size_t i = 0; i < cols.n; i++)
		mg_buf_addf(&d, ", %s", cols.items[i] + strlen("DROP COLUMN IF EXISTS "));
	mg_buf_adds(&d, tail);
	mg_plan_add_step(pl->plan, phase, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL);
	mg_strlist_release(&cols);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

static void emit_table_contract(struct planner *pl, struct tplan *tp)
{
	emit_table_end(pl, tp, MG_PLAN_CONTRACT, &tp->contract_cols, &tp->contract_pre,
		       &tp->contract_post, "contract",
		       " (never CASCADE); defaults, NOT NULL and names moved to the new columns");
}

static void emit_table_rollback(struct planner *pl, struct tplan *tp)
{
	emit_table_end(pl, tp, MG_PLAN_ROLLBACK, &tp->rollback_cols, &tp->rollback_pre,
		       NULL, "roll back", "");
}

static void emit_backfill_spec(struct planner *pl, struct tplan *tp)
{
	struct mg_backfill_spec *s;
	struct mg_buf set = MG_BUF_INIT, mm = MG_BUF_INIT;
	char *qm = qi(pl->marker_raw);

	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct pair *p = &tp->pairs[i];
		char *qn = p->new_col ? qi(p->new_col) : NULL;
		char *qo = p->old_col ? qi(p->old_col) : NULL;

		if (p->kind != PAIR_DROP && p->up)
			mg_buf_addf(&set, "%s%s = (%s)", set.len ? ", " : "", qn, p->up);
		if (p->kind == PAIR_REPLACE)
			mg_buf_addf(&mm, " OR NOT (%s IS NOT DISTINCT FROM (%s) OR %s IS NOT DISTINCT FROM (%s))",
				    qn, p->up, qo, p->down);
		free(qn);
		free(qo);
	}
	s = mg_plan_add_backfill(pl->plan);
	s->table = mg_xstrdup(tp->t.q);
	s->n_keys = tp->t.n_keys;
	s->key_columns = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	s->key_types = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	for (size_t k = 0; k < s->n_keys; k++) {
		s->key_columns[k] = mg_xstrdup(tp->t.key_cols[k]);
		s->key_types[k] = mg_xstrdup(tp->t.key_types[k]);
	}
	s->set_clause = mg_buf_detach(&set);
	s->marker = mg_xstrdup(qm);
	s->mismatch = mg_xasprintf("%s = 0%s", qm, mm.buf);
	s->session_sql = mg_xasprintf("SET migrate.backfill = '%d'", pl->m->id);
	mg_buf_release(&mm);
	free(qm);
}

static void emit_notes(struct planner *pl, struct tplan *tp)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_err ignored = MG_ERR_INIT;
	PGresult *res;

	mg_buf_addf(&sql, "SELECT 'the backfill of ' || %s || ' fires user trigger ' || quote_ident(tgname) "
		    "FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal AND tgenabled <> 'D' "
		    "AND tgname NOT LIKE 'zz\\_migrate\\_%%' AND (tgtype & 16) <> 0 "
		    "UNION ALL SELECT 'the backfill of ' || %s || ' is replicated through publication ' || quote_ident(pubname) "
		    "FROM pg_publication_tables WHERE to_regclass(format('%%I.%%I', schemaname, tablename)) = %s::oid",
		    tp->t.qlit, tp->t.oid, tp->t.qlit, tp->t.oid);
	res = query_pc(pl->pc, sql.buf, &ignored);
	mg_buf_release(&sql);
	for (int i = 0; res && i < PQntuples(res); i++)
		mg_plan_add_note(pl->plan, PQgetvalue(res, i, 0));
	PQclear(res);
}

static void emit_sql_step(struct planner *pl, const struct mg_op *op,
			  enum mg_sql_phase sp, enum mg_plan_phase phase)
{
	char *desc;

	if (!op->sql[sp])
		return;
	desc = mg_xasprintf("%s SQL of the sql step at %s:%d:%d", mg_sql_phase_name(sp),
			    pl->m->name, op->pos.line, op->pos.column);
	mg_plan_add_step(pl->plan, phase, op->in_transaction ? MG_STEP_TX : MG_STEP_NOTX,
			 NULL, desc, op->sql[sp], NULL);
	free(desc);
}

static struct tplan *table_of_first_op(struct planner *pl, size_t i)
{
	for (size_t k = 0; k < pl->n_tables; k++)
		if (pl->tables[k].first_op == i)
			return &pl->tables[k];
	return NULL;
}

static void emit_index_op(struct planner *pl, const struct mg_op *op,
			  const struct pgtable *t)
{
	struct mg_buf b = MG_BUF_INIT;
	char *qn = qi(op->index_name);
	const char *dot = strrchr(t->q, '.');
	char *schema = mg_xstrndup(t->q, (size_t)(dot - t->q));
	char *obj = mg_xasprintf("%s.%s", schema, qn);
	char *desc;

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
	desc = mg_xasprintf("build %sindex %s on %s concurrently", op->unique ? "unique " : "",
			    qn, t->q);
	mg_plan_add_step(pl->plan, MG_PLAN_EXPAND, MG_STEP_NOTX, t->q, desc, b.buf, obj);
	free(desc);
	desc = mg_xasprintf("drop index %s", obj);
	mg_buf_reset(&b);
	mg_buf_addf(&b, "DROP INDEX CONCURRENTLY IF EXISTS %s", obj);
	mg_plan_add_step(pl->plan, MG_PLAN_ROLLBACK, MG_STEP_NOTX, t->q, desc, b.buf, NULL);
	free(desc);
	free(qn);
	free(schema);
	free(obj);
	mg_buf_release(&b);
}

/* An ASSERT step: every listed index exists and is valid. */
static void emit_index_assert(struct planner *pl, const struct mg_strlist *objs)
{
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
	mg_plan_add_step(pl->plan, MG_PLAN_SWITCH_READS, MG_STEP_ASSERT, NULL,
			 "every index built at expand is valid", b.buf, NULL);
	mg_buf_release(&b);
}

static void emit_steps(struct planner *pl, struct pgtable *index_tables)
{
	const struct mg_migration *m = pl->m;
	struct mg_strlist all_idx = MG_STRLIST_INIT;

	/* expand, in file order; copied indexes after all column changes */
	for (size_t i = 0; i < m->n_ops; i++) {
		struct tplan *tp = table_of_first_op(pl, i);

		if (tp)
			emit_table_expand(pl, tp);
		if (m->ops[i].kind == MG_OP_CREATE_INDEX) {
			emit_index_op(pl, &m->ops[i], &index_tables[i]);
			mg_strlist_push(&all_idx, pl->plan->steps[MG_PLAN_EXPAND][pl->plan->n_steps[MG_PLAN_EXPAND] - 1].object);
		}
		if (m->ops[i].kind == MG_OP_SQL) {
			emit_sql_step(pl, &m->ops[i], MG_SQL_EXPAND, MG_PLAN_EXPAND);
			emit_sql_step(pl, &m->ops[i], MG_SQL_BACKFILL, MG_PLAN_BACKFILL);
		}
	}
	for (size_t t = 0; t < pl->n_tables; t++) {
		struct tplan *tp = &pl->tables[t];

		for (size_t k = 0; k < tp->idx_sql.n; k++) {
			mg_plan_add_step(pl->plan, MG_PLAN_EXPAND, MG_STEP_NOTX, tp->t.q,
					 tp->idx_desc.items[k], tp->idx_sql.items[k],
					 tp->idx_obj.items[k]);
			mg_strlist_push(&all_idx, tp->idx_obj.items[k]);
		}
		if (tp->has_marker)
			emit_backfill_spec(pl, tp);
		emit_notes(pl, tp);
	}

	/* switch-reads: indexes valid, constraints validated, inbound FKs */
	emit_index_assert(pl, &all_idx);
	for (size_t t = 0; t < pl->n_tables; t++) {
		struct tplan *tp = &pl->tables[t];

		for (size_t k = 0; k < tp->validate.n; k++) {
			char *sql = mg_xasprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", tp->t.q,
						 tp->validate.items[k]);
			char *desc = mg_xasprintf("validate constraint %s on %s", tp->validate.items[k], tp->t.q);

			mg_plan_add_step(pl->plan, MG_PLAN_SWITCH_READS, MG_STEP_NOTX, tp->t.q, desc, sql, NULL);
			free(sql);
			free(desc);
		}
		if (tp->inbound_add.len) {
			struct mg_buf b = MG_BUF_INIT;
			char *desc = mg_xasprintf("add foreign keys referencing the new column(s) of %s (NOT VALID)", tp->t.q);

			for (size_t k = 0; k < tp->children.n; k++)
				mg_buf_addf(&b, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE;\n", tp->children.items[k]);
			mg_buf_addf(&b, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE;\n%s", tp->t.q, tp->inbound_add.buf);
			mg_plan_add_step(pl->plan, MG_PLAN_SWITCH_READS, MG_STEP_TX, tp->t.q, desc, b.buf, NULL);
			free(desc);
			mg_buf_release(&b);
			for (size_t k = 0; k < tp->inbound_validate.n; k++)
				mg_plan_add_step(pl->plan, MG_PLAN_SWITCH_READS, MG_STEP_NOTX, tp->t.q,
						 tp->inbound_validate.items[k], tp->inbound_validate.items[k], NULL);
		}
	}
	for (size_t i = 0; i < m->n_ops; i++)
		if (m->ops[i].kind == MG_OP_SQL)
			emit_sql_step(pl, &m->ops[i], MG_SQL_SWITCH_READS, MG_PLAN_SWITCH_READS);

	/* contract: re-check dependents, then one transaction per table */
	for (size_t t = 0; t < pl->n_tables; t++) {
		struct tplan *tp = &pl->tables[t];

		for (size_t k = 0; k < tp->dep_checks.n; k++)
			mg_plan_add_step(pl->plan, MG_PLAN_CONTRACT, MG_STEP_ASSERT, tp->t.q,
					 "nothing new depends on the columns contract drops",
					 tp->dep_checks.items[k], NULL);
	}
	for (size_t i = 0; i < m->n_ops; i++) {
		struct tplan *tp = table_of_first_op(pl, i);

		if (tp)
			emit_table_contract(pl, tp);
		if (m->ops[i].kind == MG_OP_SQL)
			emit_sql_step(pl, &m->ops[i], MG_SQL_CONTRACT, MG_PLAN_CONTRACT);
	}

	/* rollback: reverse file order */
	for (size_t i = m->n_ops; i-- > 0;) {
		const struct mg_op *op = &m->ops[i];
		struct tplan *tp;

		if (op->kind == MG_OP_SQL) {
			if (op->sql[MG_SQL_ROLLBACK])
				emit_sql_step(pl, op, MG_SQL_ROLLBACK, MG_PLAN_ROLLBACK);
			else if (op->sql[MG_SQL_EXPAND] && !pl->plan->rollback_refused) {
				pl->plan->rollback_refused = 1;
				pl->plan->rollback_refusal = mg_xasprintf(
					"the sql step at %s:%d:%d has no rollback SQL",
					m->path, op->pos.line, op->pos.column);
			}
		}
		tp = table_of_first_op(pl, i);
		if (tp)
			emit_table_rollback(pl, tp);
	}
	mg_strlist_release(&all_idx);
}

/* ==== planning: entry point ========================================================== */

static int plan_ops(struct planner *pl, struct pgtable *index_tables,
		    struct mg_err *err)
{
	const struct mg_migration *m = pl->m;

	for (size_t i = 0; i < m->n_ops; i++) {
		int rc = 0;

		switch (m->ops[i].kind) {
		case MG_OP_ADD_COLUMN:
			rc = plan_add_column(pl, i, err);
			break;
		case MG_OP_RENAME_COLUMN:
		case MG_OP_ALTER_COLUMN:
			rc = plan_replace_column(pl, i, err);
			break;
		case MG_OP_DROP_COLUMN:
			rc = plan_drop_column(pl, i, err);
			break;
		case MG_OP_CREATE_INDEX:
			rc = check_create_index(pl, i, &index_tables[i], err);
			break;
		case MG_OP_SQL:
			rc = run_sql_for_plan(pl, i, err);
			break;
		}
		if (rc < 0)
			return -1;
	}
	for (size_t t = 0; t < pl->n_tables; t++) {
		struct tplan *tp = &pl->tables[t];

		if (tp->has_marker && tp->t.key_problem) {
			pos_error(err, MG_EREFUSED, m, m->ops[tp->first_op].table_pos,
				  "cannot backfill %s: %s", tp->t.q, tp->t.key_problem);
			return mg_err_hint(err, "add a primary key (or a unique index over NOT NULL columns) first");
		}
	}
	return 0;
}

/*
 * Planning runs in a transaction that is always rolled back: the expand SQL
 * of `sql` steps runs in it, so that later operations see the tables it
 * creates. Catalog reads take no locks that block writers.
 */
static int pgdrv_plan(struct mg_conn *c, const struct mg_migration *m,
		      struct mg_plan *out, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct planner pl;
	struct pgtable *index_tables = mg_xcalloc(m->n_ops + 1, sizeof(*index_tables));
	struct mg_err ignored = MG_ERR_INIT;
	char setting[128];
	int rc = -1;

	memset(&pl, 0, sizeof(pl));
	pl.pc = pc;
	pl.m = m;
	pl.plan = out;
	snprintf(pl.marker_raw, sizeof(pl.marker_raw), "_migrate_%d", m->id);
	snprintf(pl.suffix, sizeof(pl.suffix), "_mg%d", m->id);
	snprintf(setting, sizeof(setting), "SET LOCAL lock_timeout = %d", pc->opts.lock_timeout_ms);
	if (exec_pc(pc, "BEGIN", err) < 0)
		goto out;
	if (exec_pc(pc, setting, err) < 0 || plan_ops(&pl, index_tables, err) < 0) {
		exec_pc(pc, "ROLLBACK", &ignored);
		goto out;
	}
	emit_steps(&pl, index_tables);
	if (exec_pc(pc, "ROLLBACK", err) < 0)
		goto out;
	rc = 0;
out:
	for (size_t i = 0; i < m->n_ops; i++)
		pgtable_release(&index_tables[i]);
	free(index_tables);
	planner_release(&pl);
	return rc;
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
	.plan = pgdrv_plan,
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
};

/*
 * tables.c - the PostgreSQL driver's side of create_table, drop_table and
 * rename_table (src/planner_tables.c decides): what depends on a table,
 * create_table tried in the planning transaction, and the SQL of each
 * step.
 *
 * Every step is one transaction with its history row, so none needs a
 * guard: it is done whole or not at all.
 */
#include "postgres/pg.h"

static void add_names(struct mg_buf *b, char *const *names, size_t n)
{
	mg_buf_adds(b, "(");
	for (size_t i = 0; i < n; i++) {
		if (i)
			mg_buf_adds(b, ", ");
		pgdrv_quote_ident(b, names[i]);
	}
	mg_buf_adds(b, ")");
}

static void add_constraint_name(struct mg_buf *b, const char *name)
{
	if (!name)
		return;
	mg_buf_adds(b, " CONSTRAINT ");
	pgdrv_quote_ident(b, name);
}

static void add_ref(struct mg_buf *b, const struct mg_ref *r)
{
	char *qt = pgdrv_quote_table_name(r->table);

	mg_buf_addf(b, " REFERENCES %s ", qt);
	add_names(b, r->columns, r->n_columns);
	if (r->on_delete)
		mg_buf_addf(b, " ON DELETE %s", r->on_delete);
	if (r->on_update)
		mg_buf_addf(b, " ON UPDATE %s", r->on_update);
	free(qt);
}

static void add_column(struct mg_buf *b, const struct mg_column_def *c,
		       const char *type)
{
	mg_buf_adds(b, "\t");
	pgdrv_quote_ident(b, c->name);
	mg_buf_addf(b, " %s", type);
	if (c->identity)
		mg_buf_addf(b, " GENERATED %s AS IDENTITY",
			    !strcmp(c->identity, "always") ? "ALWAYS" : "BY DEFAULT");
	if (!c->nullable)
		mg_buf_adds(b, " NOT NULL");
	if (c->default_expr)
		mg_buf_addf(b, " DEFAULT (%s)", c->default_expr);
	if (c->primary_key)
		mg_buf_adds(b, " PRIMARY KEY");
	if (c->unique)
		mg_buf_adds(b, " UNIQUE");
	if (c->check)
		mg_buf_addf(b, " CHECK (%s)", c->check);
	if (c->references) {
		add_constraint_name(b, c->references->name);
		add_ref(b, c->references);
	}
}

static void add_table_constraint(struct mg_buf *b,
				 const struct mg_table_constraint *k)
{
	static const char *const words[] = {
		[MG_TCON_PRIMARY_KEY] = "PRIMARY KEY ",
		[MG_TCON_UNIQUE] = "UNIQUE ",
		[MG_TCON_CHECK] = "CHECK ",
		[MG_TCON_FOREIGN_KEY] = "FOREIGN KEY ",
	};

	mg_buf_adds(b, "\t");
	if (k->name) {
		mg_buf_adds(b, "CONSTRAINT ");
		pgdrv_quote_ident(b, k->name);
		mg_buf_adds(b, " ");
	}
	mg_buf_adds(b, words[k->kind]);
	if (k->kind == MG_TCON_CHECK)
		mg_buf_addf(b, "(%s)", k->expression);
	else
		add_names(b, k->columns, k->n_columns);
	if (k->kind == MG_TCON_FOREIGN_KEY)
		add_ref(b, &k->ref);
}

static void add_comment(struct mg_buf *b, const char *what, const char *qt,
			const char *col, const char *text)
{
	mg_buf_addf(b, "COMMENT ON %s %s", what, qt);
	if (col) {
		mg_buf_adds(b, ".");
		pgdrv_quote_ident(b, col);
	}
	mg_buf_adds(b, " IS ");
	add_literal(b, text);
	mg_buf_adds(b, ";\n");
}

/* The statements of create_table: the table, then its comments. */
static char *create_sql(const struct mg_tableop *top)
{
	const struct mg_table_def *d = top->op->tdef;
	struct mg_buf b = MG_BUF_INIT;
	char *qt = pgdrv_quote_table_name(top->op->table);

	mg_buf_addf(&b, "CREATE TABLE %s (\n", qt);
	for (size_t i = 0; i < d->n_columns; i++) {
		add_column(&b, &d->columns[i], top->types[i]);
		mg_buf_adds(&b, i + 1 < d->n_columns || d->n_constraints ? ",\n" : "\n");
	}
	for (size_t i = 0; i < d->n_constraints; i++) {
		add_table_constraint(&b, &d->constraints[i]);
		mg_buf_adds(&b, i + 1 < d->n_constraints ? ",\n" : "\n");
	}
	mg_buf_adds(&b, ");\n");
	if (d->comment)
		add_comment(&b, "TABLE", qt, NULL, d->comment);
	for (size_t i = 0; i < d->n_columns; i++)
		if (d->columns[i].comment)
			add_comment(&b, "COLUMN", qt, d->columns[i].name,
				    d->columns[i].comment);
	free(qt);
	return mg_buf_detach(&b);
}

/* ---- the planner's questions --------------------------------------------- */

/*
 * Views (pg_rewrite rules of other relations) and other tables' foreign
 * keys over t. Views refer to a table by its oid: renaming it breaks
 * nothing, so by_name finds nothing on PostgreSQL.
 */
int pgdrv_table_dependents(struct mg_conn *c, const struct mg_planner *pl,
			   const struct mg_table_desc *t, int by_name,
			   struct mg_dependents *out, struct mg_err *err)
{
	const char *oid = pgdesc(t)->oid;
	char *sql;
	PGresult *res;

	(void)pl;
	if (by_name)
		return 0;
	sql = mg_xasprintf(
		"SELECT DISTINCT 'v', CASE WHEN c.relnamespace = (SELECT relnamespace FROM pg_class "
		"WHERE oid = %s) THEN c.relname::text ELSE n.nspname || '.' || c.relname END, CASE c.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END "
		"|| quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
		"quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text "
		"FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
		"JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace "
		"WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass "
		"AND d.refobjid = %s AND r.ev_class <> %s "
		"UNION ALL SELECT 'f', k.conname::text, 'foreign key ' || quote_ident(k.conname), "
		"quote_ident(n.nspname) || '.' || quote_ident(c.relname), '' "
		"FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
		"JOIN pg_namespace n ON n.oid = c.relnamespace "
		"WHERE k.contype = 'f' AND k.confrelid = %s AND k.conrelid <> %s ORDER BY 1 DESC, 2",
		oid, oid, oid, oid, oid);
	res = query_pc(downcast(c), sql, err);
	free(sql);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		int fk = PQgetvalue(res, i, 0)[0] == 'f';
		struct mg_dependent *d = mg_dependents_add(out, fk ? MG_DEP_INBOUND_FK : MG_DEP_OBJECT);

		d->name = mg_xstrdup(PQgetvalue(res, i, 1));
		d->what = mg_xstrdup(PQgetvalue(res, i, 2));
		if (fk) {
			d->child = mg_xstrdup(PQgetvalue(res, i, 3));
		} else {
			/* def: the view's qualified name; unique: materialized */
			d->def = mg_xstrdup(PQgetvalue(res, i, 3));
			d->unique = PQgetvalue(res, i, 4)[0] == 'm';
			d->droppable = 1;
		}
	}
	PQclear(res);
	return 0;
}

/* create_table runs in the planning transaction (rolled back at the end
 * of planning): the server checks every type, default, check and
 * reference now, and later operations see the table. */
int pgdrv_check_table_op(struct mg_conn *c, struct mg_planner *pl,
			 const struct mg_tableop *top, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	char msg[sizeof(err->msg)];
	char *sql;
	int rc;

	if (top->op->kind != MG_OP_CREATE_TABLE)
		return 0;
	if (exec_pc(pc, "SAVEPOINT mg_table", err) < 0)
		return -1;
	sql = create_sql(top);
	rc = exec_pc(pc, sql, err);
	free(sql);
	if (rc == 0)
		return exec_pc(pc, "RELEASE SAVEPOINT mg_table", err);
	memcpy(msg, err->msg, sizeof(msg));
	mg_plan_pos_error(err, MG_EINPUT, pl->m, top->op->pos,
			  "create_table '%s' fails on the server: %s", top->op->table, msg);
	return mg_err_hint(err, "check the types, defaults, checks and references of its columns");
}

/* ---- rendering ----------------------------------------------------------- */

/* The view takes the table's privileges (read at run time, so the step
 * grants what the table has then). */
static void copy_grants(struct mg_buf *b, const char *tq, const char *vq)
{
	char *tl = lit(tq), *vl = lit(vq);

	mg_buf_addf(b, "DO $mg$ DECLARE r record; BEGIN FOR r IN "
		    "SELECT a.privilege_type AS p, CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
		    "ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS g "
		    "FROM pg_class c, aclexplode(c.relacl) a "
		    "WHERE c.oid = %s::regclass AND a.grantee <> c.relowner LOOP "
		    "EXECUTE format('GRANT %%s ON %%s TO %%s', r.p, %s, r.g); "
		    "END LOOP; END $mg$;\n", tl, vl);
	free(tl);
	free(vl);
}

static void drop_listed(struct mg_buf *b, const struct mg_tableop *top)
{
	for (size_t i = 0; i < top->deps.n; i++) {
		const struct mg_dependent *d = &top->deps.v[i];
		char *qn = qi(d->name);

		if (!mg_op_drops(top->op, d->name)) {
			free(qn);
			continue;
		}
		if (d->kind == MG_DEP_INBOUND_FK)
			mg_buf_addf(b, "ALTER TABLE IF EXISTS %s DROP CONSTRAINT IF EXISTS %s;\n",
				    d->child, qn);
		else
			mg_buf_addf(b, "DROP %sVIEW IF EXISTS %s;\n",
				    d->unique ? "MATERIALIZED " : "", d->def);
		free(qn);
	}
}

/* The view of rename_table: op->to, in the table's schema. */
static char *view_name(const struct mg_tableop *top, const char *name)
{
	char *qn = qi(name);
	char *s = mg_xasprintf("%s.%s", pgdesc(&top->t)->qschema, qn);

	free(qn);
	return s;
}

int pgdrv_render_table_op(struct mg_conn *c, const struct mg_render *r,
			  struct mg_plan *out)
{
	const struct mg_tableop *top = r->tableop;
	struct mg_buf b = MG_BUF_INIT;
	char *qt = top->t.q ? mg_xstrdup(top->t.q) : pgdrv_quote_table_name(top->op->table);
	char *qv = top->op->to ? view_name(top, top->op->to) : NULL;
	char *desc = NULL, *sql;

	switch (r->kind) {
	case MG_RENDER_CREATE_TABLE:
		sql = create_sql(top);
		mg_buf_adds(&b, sql);
		free(sql);
		desc = mg_xasprintf("create table %s (%zu column%s)", qt,
				    top->op->tdef->n_columns,
				    top->op->tdef->n_columns == 1 ? "" : "s");
		break;
	case MG_RENDER_DROP_CREATED_TABLE:
		mg_buf_addf(&b, "DROP TABLE IF EXISTS %s;\n", qt);
		desc = mg_xasprintf("drop table %s", qt);
		break;
	case MG_RENDER_DROP_TABLE:
		drop_listed(&b, top);
		mg_buf_addf(&b, "DROP TABLE IF EXISTS %s;\n", qt);
		desc = mg_xasprintf("drop table %s (no CASCADE)", qt);
		break;
	case MG_RENDER_ADD_VIEW:
		/* security_invoker (PostgreSQL 15+): the view checks the
		 * privileges and row security policies of whoever uses it, as
		 * the table does, not those of its owner */
		mg_buf_addf(&b, "CREATE VIEW %s%s AS SELECT * FROM %s;\n", qv,
			    PQserverVersion(downcast(c)->pg) >= 150000 ?
			    " WITH (security_invoker = true)" : "", qt);
		copy_grants(&b, qt, qv);
		desc = mg_xasprintf("view %s over %s: both names read and write", qv, qt);
		break;
	case MG_RENDER_DROP_VIEW:
		mg_buf_addf(&b, "DROP VIEW IF EXISTS %s;\n", qv);
		desc = mg_xasprintf("drop view %s", qv);
		break;
	case MG_RENDER_FINISH_RENAME: {
		char *qto = qi(top->op->to);

		drop_listed(&b, top);
		mg_buf_addf(&b, "DROP VIEW IF EXISTS %s;\nALTER TABLE %s RENAME TO %s;\n",
			    qv, qt, qto);
		desc = mg_xasprintf("drop view %s, rename table %s to %s", qv, qt, qto);
		free(qto);
		break;
	}
	default:
		break;
	}
	if (desc)
		mg_plan_add_step(out, r->phase, MG_STEP_TX, qt, desc, b.buf, NULL);
	free(desc);
	free(qt);
	free(qv);
	mg_buf_release(&b);
	return 0;
}

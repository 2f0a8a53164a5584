/*
 * tables.c - the MySQL/MariaDB driver's side of create_table, drop_table
 * and rename_table (src/planner_tables.c decides): what names or depends
 * on a table, what create_table asks that this database cannot map, and
 * the SQL of each step.
 *
 * DDL commits on its own, so every statement is idempotent (IF [NOT]
 * EXISTS, or a catalog guard: add_guarded) and a step stopped halfway
 * runs again harmlessly. rename_table's contract swaps the view and the
 * table in one RENAME TABLE, which the server does atomically: no
 * statement of either version ever finds a name missing.
 */
#include "mysql/myplan.h"

#include <strings.h>

/* The table name of "db.t" or "t": tables live in the URL's database. */
static const char *bare(const char *name)
{
	const char *dot = strchr(name, '.');

	return dot ? dot + 1 : name;
}

/* ---- the planner's questions --------------------------------------------- */

/*
 * Views name their tables in their text (`db`.`t`), so a view over t
 * breaks when t is dropped or renamed; other tables' foreign keys keep t
 * from being dropped (InnoDB moves them along with a rename).
 */
static char *views_sql(struct mydrv_conn *mc, const char *name,
		       const struct mg_tableop *own)
{
	char *nl = lit(mc, name);
	char *ol = lit(mc, own ? own->op->to : name);
	char *tl = lit(mc, own ? own->view_tmp : name);
	char *s = mg_xasprintf(
		"SELECT 'v' AS k, TABLE_NAME AS name, CONCAT('view `', TABLE_NAME, '`') AS what, '' AS child "
		"FROM information_schema.VIEWS "
		"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT IN (%s, %s, %s) "
		"AND LOCATE(CONCAT('`', DATABASE(), '`.`', %s, '`'), VIEW_DEFINITION) > 0",
		nl, ol, tl, nl);

	free(nl);
	free(ol);
	free(tl);
	return s;
}

static char *fks_sql(struct mydrv_conn *mc, const char *name)
{
	char *nl = lit(mc, name);
	char *s = mg_xasprintf(
		"SELECT 'f' AS k, CONSTRAINT_NAME AS name, CONCAT('foreign key `', CONSTRAINT_NAME, '`') AS what, "
		"TABLE_NAME AS child "
		"FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() "
		"AND REFERENCED_TABLE_NAME = %s AND TABLE_NAME <> %s",
		nl, nl);

	free(nl);
	return s;
}

int mydrv_table_dependents(struct mg_conn *c, const struct mg_planner *pl,
			   const struct mg_table_desc *t, int by_name,
			   struct mg_dependents *out, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_rows r = MG_ROWS_INIT;
	char *views = views_sql(mc, t->relname, NULL);
	char *fks = fks_sql(mc, t->relname);
	char *sql = by_name ? mg_xstrdup(views) :
		    mg_xasprintf("%s UNION ALL %s ORDER BY 1 DESC, 2", views, fks);
	int rc = query_mc(mc, sql, &r, err);

	(void)pl;
	free(views);
	free(fks);
	free(sql);
	for (size_t i = 0; rc == 0 && i < r.nrows; i++) {
		int fk = mg_rows_get(&r, i, 0)[0] == 'f';
		struct mg_dependent *d = mg_dependents_add(out, fk ? MG_DEP_INBOUND_FK : MG_DEP_OBJECT);

		d->name = mg_xstrdup(mg_rows_get(&r, i, 1));
		d->what = mg_xstrdup(mg_rows_get(&r, i, 2));
		if (fk)
			d->child = qi(mg_rows_get(&r, i, 3));
		else
			d->droppable = 1;
	}
	mg_rows_release(&r);
	return rc;
}

static int is_integer_type(const char *type)
{
	static const char *const ints[] = { "tinyint", "smallint", "mediumint",
					    "int", "integer", "bigint" };

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		size_t n = strlen(ints[i]);

		if (!strncmp(type, ints[i], n) &&
		    (!type[n] || type[n] == ' ' || type[n] == '('))
			return 1;
	}
	return 0;
}

/* Is column name the first column of a primary key or unique key? */
static int leads_a_key(const struct mg_table_def *d, const struct mg_column_def *c)
{
	if (c->primary_key || c->unique)
		return 1;
	for (size_t i = 0; i < d->n_constraints; i++) {
		const struct mg_table_constraint *k = &d->constraints[i];

		if ((k->kind == MG_TCON_PRIMARY_KEY || k->kind == MG_TCON_UNIQUE) &&
		    !strcasecmp(k->columns[0], c->name))
			return 1;
	}
	return 0;
}

/* identity: by_default is AUTO_INCREMENT (one per table, an integer
 * that leads a key); always has no equivalent: AUTO_INCREMENT takes the
 * values an insert gives. */
static int check_identity(const struct mg_planner *pl, const struct mg_tableop *top,
			  const struct mg_column_def *c, const char *type,
			  int *seen, struct mg_err *err)
{
	const struct mg_table_def *d = top->op->tdef;

	if (!strcmp(c->identity, "always")) {
		mg_plan_pos_error(err, MG_EREFUSED, pl->m, c->identity_pos,
				  "identity 'always' of column '%s' cannot be mapped on MySQL/MariaDB: AUTO_INCREMENT accepts the values an insert gives",
				  c->name);
		return mg_err_hint(err, "write 'identity: by_default' (AUTO_INCREMENT)");
	}
	if ((*seen)++)
		return mg_plan_pos_error(err, MG_EREFUSED, pl->m, c->identity_pos,
					 "a second identity column '%s': MySQL/MariaDB take one AUTO_INCREMENT column per table",
					 c->name);
	if (!is_integer_type(type))
		return mg_plan_pos_error(err, MG_EREFUSED, pl->m, c->identity_pos,
					 "identity column '%s' is of type %s: AUTO_INCREMENT needs an integer type",
					 c->name, type);
	if (!leads_a_key(d, c)) {
		mg_plan_pos_error(err, MG_EREFUSED, pl->m, c->identity_pos,
				  "identity column '%s' is not the first column of a key: MySQL/MariaDB need AUTO_INCREMENT columns indexed",
				  c->name);
		return mg_err_hint(err, "make it the primary key (primary_key: true)");
	}
	return 0;
}

static int check_action(const struct mg_planner *pl, const char *action,
			struct mg_pos pos, struct mg_err *err)
{
	if (!action || strcmp(action, "SET DEFAULT"))
		return 0;
	mg_plan_pos_error(err, MG_EREFUSED, pl->m, pos,
			  "SET DEFAULT is not a foreign key action InnoDB takes");
	return mg_err_hint(err, "use set_null, cascade, restrict or no_action");
}

static int probe_create(struct mg_planner *pl, struct mydrv_conn *mc,
			const struct mg_tableop *top, struct mg_err *err);

int mydrv_check_table_op(struct mg_conn *c, struct mg_planner *pl,
			 const struct mg_tableop *top, struct mg_err *err)
{
	const struct mg_table_def *d = top->op->tdef;
	int seen = 0;

	if (top->op->kind != MG_OP_CREATE_TABLE)
		return 0;
	for (size_t i = 0; i < d->n_columns; i++) {
		const struct mg_column_def *col = &d->columns[i];
		const struct mg_ref *r = col->references;

		if (col->identity &&
		    check_identity(pl, top, col, top->types[i], &seen, err) < 0)
			return -1;
		if (r && (check_action(pl, r->on_delete, r->on_delete_pos, err) < 0 ||
			  check_action(pl, r->on_update, r->on_update_pos, err) < 0))
			return -1;
	}
	for (size_t i = 0; i < d->n_constraints; i++) {
		const struct mg_ref *r = &d->constraints[i].ref;

		if (check_action(pl, r->on_delete, r->on_delete_pos, err) < 0 ||
		    check_action(pl, r->on_update, r->on_update_pos, err) < 0)
			return -1;
	}
	return probe_create(pl, downcast(c), top, err);
}

/* ---- rendering ----------------------------------------------------------- */

static void add_names(struct mg_buf *b, char *const *names, size_t n)
{
	mg_buf_adds(b, "(");
	for (size_t i = 0; i < n; i++) {
		if (i)
			mg_buf_adds(b, ", ");
		mydrv_quote_ident(b, names[i]);
	}
	mg_buf_adds(b, ")");
}

static void add_fk(struct mg_buf *b, const char *name, char *const *cols,
		   size_t n, const struct mg_ref *r)
{
	mg_buf_adds(b, ",\n\t");
	if (name) {
		mg_buf_adds(b, "CONSTRAINT ");
		mydrv_quote_ident(b, name);
		mg_buf_adds(b, " ");
	}
	mg_buf_adds(b, "FOREIGN KEY ");
	add_names(b, cols, n);
	mg_buf_adds(b, " REFERENCES ");
	mydrv_quote_ident(b, bare(r->table));
	mg_buf_adds(b, " ");
	add_names(b, r->columns, r->n_columns);
	if (r->on_delete)
		mg_buf_addf(b, " ON DELETE %s", r->on_delete);
	if (r->on_update)
		mg_buf_addf(b, " ON UPDATE %s", r->on_update);
}

static void add_column(struct mydrv_conn *mc, struct mg_buf *b,
		       const struct mg_column_def *c, const char *type)
{
	mg_buf_adds(b, "\t");
	mydrv_quote_ident(b, c->name);
	mg_buf_addf(b, " %s", type);
	if (!c->nullable || c->primary_key || c->identity)
		mg_buf_adds(b, " NOT NULL");
	else
		mg_buf_adds(b, " NULL");
	if (c->default_expr)
		mg_buf_addf(b, " DEFAULT (%s)", c->default_expr);
	if (c->identity)
		mg_buf_adds(b, " AUTO_INCREMENT");
	if (c->unique)
		mg_buf_adds(b, " UNIQUE KEY");
	if (c->primary_key)
		mg_buf_adds(b, " PRIMARY KEY");
	if (c->comment) {
		mg_buf_adds(b, " COMMENT ");
		add_literal(mc, b, c->comment);
	}
}

static void add_table_constraint(struct mg_buf *b,
				 const struct mg_table_constraint *k)
{
	if (k->kind == MG_TCON_FOREIGN_KEY) {
		add_fk(b, k->name, k->columns, k->n_columns, &k->ref);
		return;
	}
	mg_buf_adds(b, ",\n\t");
	if (k->name) {
		mg_buf_adds(b, "CONSTRAINT ");
		mydrv_quote_ident(b, k->name);
		mg_buf_adds(b, " ");
	}
	if (k->kind == MG_TCON_CHECK) {
		mg_buf_addf(b, "CHECK (%s)", k->expression);
		return;
	}
	mg_buf_adds(b, k->kind == MG_TCON_PRIMARY_KEY ? "PRIMARY KEY " : "UNIQUE KEY ");
	add_names(b, k->columns, k->n_columns);
}

/*
 * One statement: columns, then each column's check and foreign key at
 * table level (a column-level CHECK may name only its own column, and
 * MySQL ignores a REFERENCES written on a column), then the table
 * constraints. probe: the same table as a temporary one named probe,
 * without foreign keys (a temporary table takes none), for plan time.
 */
static char *create_sql(struct mydrv_conn *mc, const struct mg_tableop *top,
			const char *probe)
{
	const struct mg_table_def *d = top->op->tdef;
	struct mg_buf b = MG_BUF_INIT;

	mg_buf_adds(&b, probe ? "CREATE TEMPORARY TABLE " : "CREATE TABLE IF NOT EXISTS ");
	mydrv_quote_ident(&b, probe ? probe : bare(top->op->table));
	mg_buf_adds(&b, " (\n");
	for (size_t i = 0; i < d->n_columns; i++) {
		if (i)
			mg_buf_adds(&b, ",\n");
		add_column(mc, &b, &d->columns[i], top->types[i]);
	}
	for (size_t i = 0; i < d->n_columns; i++)
		if (d->columns[i].check)
			mg_buf_addf(&b, ",\n\tCHECK (%s)", d->columns[i].check);
	for (size_t i = 0; !probe && i < d->n_columns; i++)
		if (d->columns[i].references)
			add_fk(&b, d->columns[i].references->name,
			       &d->columns[i].name, 1, d->columns[i].references);
	for (size_t i = 0; i < d->n_constraints; i++)
		if (!probe || d->constraints[i].kind != MG_TCON_FOREIGN_KEY)
			add_table_constraint(&b, &d->constraints[i]);
	mg_buf_adds(&b, "\n) ENGINE=InnoDB");
	if (d->comment) {
		mg_buf_adds(&b, " COMMENT=");
		add_literal(mc, &b, d->comment);
	}
	mg_buf_adds(&b, ";\n");
	return mg_buf_detach(&b);
}

/* create_table tried as a temporary table (no implicit commit, gone with
 * the session): the server checks types, defaults, checks and keys at
 * plan time. */
static int probe_create(struct mg_planner *pl, struct mydrv_conn *mc,
			const struct mg_tableop *top, struct mg_err *err)
{
	char *name = mkname(bare(top->op->table), "_mg_probe");
	char *sql = create_sql(mc, top, name);
	char *drop = mg_xasprintf("DROP TEMPORARY TABLE IF EXISTS `%s`", name);
	int rc = exec_mc(mc, sql, err);

	if (rc < 0) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		mg_plan_pos_error(err, MG_EINPUT, pl->m, top->op->pos,
				  "create_table '%s' fails on the server: %s", top->op->table, msg);
		mg_err_hint(err, "check the types, defaults and checks of its columns");
	} else {
		rc = exec_mc(mc, drop, err);
	}
	free(name);
	free(sql);
	free(drop);
	return rc;
}

/* At contract, before the drop: nothing depends on the table that is not
 * listed under drops: (a view over a dropped table would be left broken:
 * MySQL drops the table anyway). */
static void assert_no_new(struct planner *pl, const struct mg_tableop *top,
			  enum mg_plan_phase phase, int by_name)
{
	struct mydrv_conn *mc = pl->mc;
	struct mg_buf b = MG_BUF_INIT;
	/* rename_table's own view (op->to, then view_tmp) names the table too */
	char *views = views_sql(mc, top->t.relname,
				top->op->kind == MG_OP_RENAME_TABLE ? top : NULL);
	char *fks = fks_sql(mc, top->t.relname);

	mg_buf_addf(&b, "SELECT CONCAT(x.what, ' %s %s') FROM (%s%s%s) AS x",
		    by_name ? "names" : "depends on", top->t.q, views,
		    by_name ? "" : " UNION ALL ", by_name ? "" : fks);
	for (size_t i = 0; i < top->op->n_drops; i++) {
		mg_buf_adds(&b, i ? ", " : " WHERE x.name NOT IN (");
		add_literal(mc, &b, top->op->drops[i]);
	}
	mg_buf_adds(&b, top->op->n_drops ? ")" : "");
	mg_plan_add_step(pl->plan, phase, MG_STEP_ASSERT, top->t.q,
			 "nothing that is not listed under drops: depends on the table", b.buf, NULL);
	free(views);
	free(fks);
	mg_buf_release(&b);
}

static void drop_listed(struct planner *pl, struct mg_buf *b,
			const struct mg_tableop *top)
{
	for (size_t i = 0; i < top->deps.n; i++) {
		const struct mg_dependent *d = &top->deps.v[i];
		char *qn = qi(d->name);

		if (!mg_op_drops(top->op, d->name)) {
			free(qn);
			continue;
		}
		if (d->kind == MG_DEP_INBOUND_FK) {
			char *child = mg_xstrndup(d->child + 1, strlen(d->child) - 2);
			char *cl = lit(pl->mc, child), *nl = lit(pl->mc, d->name);
			char *cond = mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.REFERENTIAL_CONSTRAINTS "
						  "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s "
						  "AND CONSTRAINT_NAME = %s)", cl, nl);
			char *stmt = mg_xasprintf("ALTER TABLE %s DROP FOREIGN KEY %s", d->child, qn);

			add_guarded(pl->mc, b, cond, stmt);
			free(child);
			free(cl);
			free(nl);
			free(cond);
			free(stmt);
		} else {
			mg_buf_addf(b, "DROP VIEW IF EXISTS %s;\n", qn);
		}
		free(qn);
	}
}

/* rename_table's contract: the view under the new name and the table
 * swap names in one RENAME TABLE (only while the table still has its
 * old name), then the view, now under view_tmp, goes. */
static void finish_rename(struct planner *pl, struct mg_buf *b,
			  const struct mg_tableop *top)
{
	char *qto = qi(top->op->to), *qtmp = qi(top->view_tmp);
	char *cond = mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.TABLES WHERE "
				  "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND TABLE_TYPE = 'BASE TABLE')",
				  mytable_of(&top->t)->lit);
	char *stmt = mg_xasprintf("RENAME TABLE %s TO %s, %s TO %s", qto, qtmp, top->t.q, qto);

	drop_listed(pl, b, top);
	add_guarded(pl->mc, b, cond, stmt);
	mg_buf_addf(b, "DROP VIEW IF EXISTS %s;\n", qtmp);
	free(qto);
	free(qtmp);
	free(cond);
	free(stmt);
}

int mydrv_render_table_op(struct planner *pl, const struct mg_render *r)
{
	const struct mg_tableop *top = r->tableop;
	struct mg_buf b = MG_BUF_INIT;
	char *qt = qi(top->t.relname ? top->t.relname : bare(top->op->table));
	char *qv = top->op->to ? qi(top->op->to) : NULL;
	char *desc = NULL, *sql;

	switch (r->kind) {
	case MG_RENDER_CREATE_TABLE:
		sql = create_sql(pl->mc, top, NULL);
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
		assert_no_new(pl, top, r->phase, 0);
		drop_listed(pl, &b, top);
		mg_buf_addf(&b, "DROP TABLE IF EXISTS %s;\n", qt);
		desc = mg_xasprintf("drop table %s", qt);
		break;
	case MG_RENDER_ADD_VIEW:
		mg_buf_addf(&b, "CREATE OR REPLACE ALGORITHM=MERGE SQL SECURITY INVOKER VIEW %s AS SELECT * FROM %s;\n",
			    qv, qt);
		desc = mg_xasprintf("view %s over %s: both names read and write", qv, qt);
		break;
	case MG_RENDER_DROP_VIEW:
		mg_buf_addf(&b, "DROP VIEW IF EXISTS %s;\n", qv);
		desc = mg_xasprintf("drop view %s", qv);
		break;
	case MG_RENDER_FINISH_RENAME:
		assert_no_new(pl, top, r->phase, 1);
		finish_rename(pl, &b, top);
		desc = mg_xasprintf("swap view %s and table %s in one RENAME TABLE, drop the view", qv, qt);
		break;
	default:
		break;
	}
	if (desc)
		mg_plan_add_step(pl->plan, r->phase, MG_STEP_TX, qt, desc, b.buf, NULL);
	free(desc);
	free(qt);
	free(qv);
	mg_buf_release(&b);
	return 0;
}

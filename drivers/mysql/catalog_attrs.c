/*
 * catalog_attrs.c - the MySQL/MariaDB driver's answers for the attribute
 * operations (src/planner_attrs.c): a constraint and what needs it, whether
 * a name is taken, a table's comment, and what its ALTER TABLE can do
 * online (check_attr).
 *
 * What MariaDB 10.11 does (tried on the server, InnoDB, ROW_FORMAT=DYNAMIC):
 *   ALTER COLUMN ... SET/DROP DEFAULT     INSTANT
 *   MODIFY ... same definition, COMMENT   INSTANT
 *   COMMENT = '...' (the table's)         INSTANT
 *   MODIFY ... NULL (was NOT NULL)        INPLACE with a rebuild; INSTANT
 *                                         only for ROW_FORMAT=REDUNDANT
 *   MODIFY ... NOT NULL (was NULL)        INPLACE with a rebuild
 *   DROP CONSTRAINT (CHECK), DROP FOREIGN KEY   INSTANT
 *   DROP INDEX (a UNIQUE constraint)      NOCOPY
 *   DROP PRIMARY KEY                      COPY
 *   RENAME INDEX                          INSTANT
 *   DROP + ADD FOREIGN KEY, foreign_key_checks = 0   NOCOPY
 *   ADD CONSTRAINT ... CHECK              COPY (it checks every row)
 * MySQL 8 rebuilds for NULL / NOT NULL too and has no NOCOPY (INPLACE).
 */
#include "mysql/myplan.h"

/* What the driver keeps of a constraint (struct mg_constraint_desc.drv). */
struct mycon {
	char *type;		/* TABLE_CONSTRAINTS.CONSTRAINT_TYPE */
	int column_level;	/* MariaDB: a CHECK written in a column's definition */
};

static void mycon_free(void *p)
{
	struct mycon *c = p;

	if (!c)
		return;
	free(c->type);
	free(c);
}

static int rows(struct mydrv_conn *mc, const char *sql, struct mg_rows *r, struct mg_err *err)
{
	return query_mc(mc, sql, r, err);
}

/* "(`a`, `b`)" from "a,b" (GROUP_CONCAT). */
static void add_col_list(struct mg_buf *b, const char *csv)
{
	const char *p = csv;

	mg_buf_adds(b, "(");
	while (*p) {
		const char *e = strchr(p, ',');
		char *name = e ? mg_xstrndup(p, (size_t)(e - p)) : mg_xstrdup(p);

		if (p != csv)
			mg_buf_adds(b, ", ");
		mydrv_quote_ident(b, name);
		free(name);
		p = e ? e + 1 : p + strlen(p);
	}
	mg_buf_adds(b, ")");
}

/* The definition of a foreign key, as ADD CONSTRAINT takes it. */
static int fk_def(struct mydrv_conn *mc, const struct mytable *t, const char *nl,
		  struct mg_buf *out, struct mg_err *err)
{
	struct mg_rows r = MG_ROWS_INIT;
	char *sql = mg_xasprintf(
		"SELECT GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION), "
		"GROUP_CONCAT(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION), "
		"MIN(k.REFERENCED_TABLE_SCHEMA) = DATABASE(), MIN(k.REFERENCED_TABLE_SCHEMA), "
		"MIN(k.REFERENCED_TABLE_NAME), MIN(rc.DELETE_RULE), MIN(rc.UPDATE_RULE) "
		"FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS rc "
		"ON rc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
		"AND rc.TABLE_NAME = k.TABLE_NAME "
		"WHERE k.CONSTRAINT_SCHEMA = DATABASE() AND k.TABLE_NAME = %s AND k.CONSTRAINT_NAME = %s",
		t->lit, nl);
	int rc = rows(mc, sql, &r, err);

	free(sql);
	if (rc < 0)
		return -1;
	if (r.nrows == 1 && mg_rows_get(&r, 0, 0)) {
		mg_buf_adds(out, "FOREIGN KEY ");
		add_col_list(out, mg_rows_get(&r, 0, 0));
		mg_buf_adds(out, " REFERENCES ");
		if (strcmp(mg_rows_get(&r, 0, 2), "1")) {
			mydrv_quote_ident(out, mg_rows_get(&r, 0, 3));
			mg_buf_adds(out, ".");
		}
		mydrv_quote_ident(out, mg_rows_get(&r, 0, 4));
		mg_buf_adds(out, " ");
		add_col_list(out, mg_rows_get(&r, 0, 1));
		/* RESTRICT is what the catalog says of a key that named no
		 * rule; written out, MariaDB would store NO ACTION instead */
		if (strcmp(mg_rows_get(&r, 0, 5), "RESTRICT"))
			mg_buf_addf(out, " ON DELETE %s", mg_rows_get(&r, 0, 5));
		if (strcmp(mg_rows_get(&r, 0, 6), "RESTRICT"))
			mg_buf_addf(out, " ON UPDATE %s", mg_rows_get(&r, 0, 6));
	}
	mg_rows_release(&r);
	return 0;
}

/* The CHECK clause; MariaDB says whether it belongs to a column. */
static int check_def(struct mydrv_conn *mc, const struct mytable *t, const char *nl,
		     struct mycon *con, struct mg_buf *out, struct mg_err *err)
{
	struct mg_rows r = MG_ROWS_INIT;
	char *sql = mg_xasprintf("SELECT CHECK_CLAUSE, %s FROM information_schema.CHECK_CONSTRAINTS "
				 "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s "
				 "AND CONSTRAINT_NAME = %s",
				 mc->mariadb ? "LEVEL = 'Column'" : "0", t->lit, nl);
	int rc = rows(mc, sql, &r, err);

	free(sql);
	if (rc < 0)
		return -1;
	if (r.nrows >= 1) {
		mg_buf_addf(out, "CHECK (%s)", mg_rows_get(&r, 0, 0));
		con->column_level = mg_rows_get(&r, 0, 1) && !strcmp(mg_rows_get(&r, 0, 1), "1");
	}
	mg_rows_release(&r);
	return 0;
}

/* Foreign keys of other tables whose referenced columns lead the index
 * (InnoDB needs such an index on the referenced table). */
static int index_deps(struct mydrv_conn *mc, const struct mytable *t, const char *nl,
		      struct mg_dependents *out, struct mg_err *err)
{
	struct mg_rows r = MG_ROWS_INIT;
	char *sql = mg_xasprintf(
		"SELECT f.CONSTRAINT_NAME, f.TABLE_NAME, f.cols FROM (SELECT k.CONSTRAINT_NAME, k.TABLE_NAME, "
		"GROUP_CONCAT(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION) AS cols "
		"FROM information_schema.KEY_COLUMN_USAGE k WHERE k.REFERENCED_TABLE_SCHEMA = DATABASE() "
		"AND k.REFERENCED_TABLE_NAME = %s AND k.TABLE_SCHEMA = DATABASE() "
		"GROUP BY k.TABLE_NAME, k.CONSTRAINT_NAME) f, "
		"(SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols FROM information_schema.STATISTICS "
		"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = %s) x "
		"WHERE CONCAT(x.cols, ',') LIKE CONCAT(REPLACE(f.cols, '_', '\\_'), ',%%') "
		"ORDER BY f.TABLE_NAME, f.CONSTRAINT_NAME",
		t->lit, t->lit, nl);
	int rc = rows(mc, sql, &r, err);

	free(sql);
	if (rc < 0)
		return -1;
	for (size_t i = 0; i < r.nrows; i++) {
		struct mg_dependent *d = mg_dependents_add(out, MG_DEP_INBOUND_FK);

		d->name = mg_xstrdup(mg_rows_get(&r, i, 0));
		d->what = mg_xasprintf("foreign key '%s'", d->name);
		d->child = qi(mg_rows_get(&r, i, 1));
		d->def = mg_xstrdup("inbound");
	}
	mg_rows_release(&r);
	return 0;
}

int mydrv_describe_constraint(struct mg_conn *c, const struct mg_planner *pl,
			      const struct mg_table_desc *t, const char *name,
			      struct mg_constraint_desc *out, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	const struct mytable *mt = mytable_of(t);
	struct mg_rows r = MG_ROWS_INIT;
	struct mg_buf def = MG_BUF_INIT;
	struct mycon *con;
	char *nl = lit(mc, name);
	char *sql = mg_xasprintf("SELECT CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS "
				 "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s "
				 "AND CONSTRAINT_NAME = %s", mt->lit, nl);
	int rc;

	(void)pl;
	rc = rows(mc, sql, &r, err);
	free(sql);
	if (rc < 0 || r.nrows == 0) {
		free(nl);
		mg_rows_release(&r);
		return rc < 0 ? -1 : 1;
	}
	con = mg_xcalloc(1, sizeof(*con));
	con->type = mg_xstrdup(mg_rows_get(&r, 0, 0));
	mg_rows_release(&r);
	out->drv = con;
	out->drv_free = mycon_free;
	if (!strcmp(con->type, "PRIMARY KEY") || !strcmp(con->type, "UNIQUE")) {
		out->kind = con->type[0] == 'P' ? MG_CON_PRIMARY_KEY : MG_CON_UNIQUE;
		mg_buf_addf(&def, "%s", con->type);
		rc = index_deps(mc, mt, nl, &out->deps, err);
	} else if (!strcmp(con->type, "FOREIGN KEY")) {
		out->kind = MG_CON_FOREIGN_KEY;
		rc = fk_def(mc, mt, nl, &def, err);
	} else if (!strcmp(con->type, "CHECK")) {
		out->kind = MG_CON_CHECK;
		rc = check_def(mc, mt, nl, con, &def, err);
	} else {
		out->kind = MG_CON_OTHER;
		mg_buf_adds(&def, con->type);
	}
	out->def = mg_buf_detach(&def);
	free(nl);
	return rc < 0 ? -1 : 0;
}

/* A constraint or an index of t, or a foreign key anywhere in the
 * database (their names are the database's), named name. */
int mydrv_name_taken(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_table_desc *t, const char *name,
		     const struct mg_constraint_desc *like, char **what,
		     struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	const struct mytable *mt = mytable_of(t);
	struct mg_rows r = MG_ROWS_INIT;
	char *nl = lit(mc, name);
	char *sql = mg_xasprintf(
		"SELECT CONCAT('constraint `', CONSTRAINT_NAME, '` of `', TABLE_NAME, '`') "
		"FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() "
		"AND CONSTRAINT_NAME = %s AND (TABLE_NAME = %s OR (%d AND CONSTRAINT_TYPE = 'FOREIGN KEY')) "
		"UNION ALL SELECT CONCAT('index `', INDEX_NAME, '` of `', TABLE_NAME, '`') "
		"FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
		"AND TABLE_NAME = %s AND INDEX_NAME = %s LIMIT 1",
		nl, mt->lit, like->kind == MG_CON_FOREIGN_KEY, mt->lit, nl);
	int rc;

	(void)pl;
	rc = rows(mc, sql, &r, err);
	free(sql);
	free(nl);
	if (rc < 0)
		return -1;
	if (r.nrows) {
		*what = mg_xstrdup(mg_rows_get(&r, 0, 0));
		rc = 1;
	}
	mg_rows_release(&r);
	return rc;
}

int mydrv_describe_table_attrs(struct mg_conn *c, const struct mg_planner *pl,
			       const struct mg_table_desc *t, struct mg_table_attrs *out,
			       struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	char *sql = mg_xasprintf("SELECT TABLE_COMMENT FROM information_schema.TABLES "
				 "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
				 mytable_of(t)->lit);
	char *v = NULL;
	int rc;

	(void)pl;
	rc = query_scalar(mc, sql, &v, err);
	free(sql);
	if (rc < 0)
		return -1;
	out->comment = v && *v ? v : NULL;	/* '' is no comment */
	if (!out->comment)
		free(v);
	return 0;
}

/* ==== what the ALTER can do online ======================================================== */

static const char *server_name(const struct mydrv_conn *mc)
{
	return mc->mysql_dialect ? "MySQL" : "MariaDB";
}

/* MG_EREFUSED: the change needs a rebuild or a copy the op does not allow. */
static int refuse_alter(const struct mg_planner *pl, const struct mydrv_conn *mc,
			const struct mg_attr *a, const char *alter, int copy, struct mg_err *err)
{
	mg_plan_pos_error(err, MG_EREFUSED, pl->m, a->op->pos,
			  "%s needs %s on %s: %s", alter,
			  copy ? "ALGORITHM=COPY" : "a rebuild of the table (ALGORITHM=INPLACE)",
			  server_name(mc),
			  copy ? "the table is copied while writes to it wait" :
			  "online, but the table is rewritten and replicas replay it single-threaded");
	return mg_err_hint(err, "to accept that, add '%s: true' to the operation",
			   copy ? "allow_copy" : "allow_rebuild");
}

/* MariaDB's InnoDB changes NULL-ness in place only for REDUNDANT rows. */
static int redundant_rows(struct mydrv_conn *mc, const struct mytable *t, int *out,
			  struct mg_err *err)
{
	char *sql = mg_xasprintf("SELECT ROW_FORMAT = 'Redundant' FROM information_schema.TABLES "
				 "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", t->lit);
	int64_t v = 0;
	int rc = query_int(mc, sql, &v, err);

	free(sql);
	*out = mc->mariadb && !mc->mysql_dialect && v == 1;
	return rc;
}

/* Whether drop_not_null on t changes the column in place (instantly). */
int mydrv_null_is_instant(struct mydrv_conn *mc, const struct mytable *t, int *out,
			  struct mg_err *err)
{
	return redundant_rows(mc, t, out, err);
}

/*
 * MODIFY COLUMN rewrites the whole column: on MariaDB a CHECK written in
 * the column's definition (LEVEL 'Column', named after the column) that
 * the MODIFY does not repeat is dropped with no word. Refused rather than
 * lost.
 */
static int refuse_column_check(const struct mg_planner *pl, struct mydrv_conn *mc,
			       const struct mg_attr *a, struct mg_err *err)
{
	const struct mytable *t = mytable_of(&a->t);
	char *nl = lit(mc, a->op->column);
	char *sql = mg_xasprintf("SELECT COUNT(*) FROM information_schema.CHECK_CONSTRAINTS "
				 "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s "
				 "AND CONSTRAINT_NAME = %s AND LEVEL = 'Column'", t->lit, nl);
	int64_t n = 0;
	int rc = mc->mariadb ? query_int(mc, sql, &n, err) : 0;

	free(sql);
	free(nl);
	if (rc < 0 || n == 0)
		return rc;
	mg_plan_pos_error(err, MG_EREFUSED, pl->m, a->op->column_pos,
			  "column '%s' of %s has a CHECK in its definition, which the MODIFY COLUMN that %s needs would drop",
			  a->op->column, t->q, mg_op_kind_name(a->op->kind));
	return mg_err_hint(err, "make it a table constraint first (a sql step: ALTER TABLE ... ADD CONSTRAINT ... CHECK ...), in an earlier migration");
}

int mydrv_check_attr(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_attr *a, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	const struct mg_op *op = a->op;
	const struct mytable *t = mytable_of(&a->t);
	char *alter = NULL;
	int rc = 0, instant = 0;

	switch (op->kind) {
	case MG_OP_SET_REPLICA_IDENTITY:
		mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
				  "%s has no replica identity: its binary log sends rows as binlog_row_image says, for every table alike",
				  server_name(mc));
		return mg_err_hint(err, "remove the operation; for the whole row before and after each change (what REPLICA IDENTITY FULL gives) set binlog_row_image = FULL on the server, and give tables a primary key so that replicas find rows fast");
	case MG_OP_DROP_NOT_NULL:
		if (refuse_column_check(pl, mc, a, err) < 0 ||
		    redundant_rows(mc, t, &instant, err) < 0)
			return -1;
		if (!instant && !op->allow_rebuild) {
			alter = mg_xasprintf("ALTER TABLE %s MODIFY COLUMN `%s` ... NULL", t->q, op->column);
			rc = refuse_alter(pl, mc, a, alter, 0, err);
		}
		break;
	case MG_OP_SET_COMMENT:
		if (op->column && a->col.unsupported && strstr(a->col.unsupported, "generated"))
			return mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->column_pos,
						 "column '%s' of %s is a generated column: its comment is changed with MODIFY COLUMN and its whole definition, which migrate does not rewrite",
						 op->column, t->q);
		if (op->column && refuse_column_check(pl, mc, a, err) < 0)
			return -1;
		break;
	case MG_OP_DROP_CONSTRAINT:
	case MG_OP_RENAME_CONSTRAINT: {
		const struct mycon *con = a->con.drv;

		if (con->column_level)
			return mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->constraint_name_pos,
						 "constraint '%s' of %s is a CHECK written in the definition of column '%s': %s changes it only with the column",
						 op->constraint_name, t->q, op->constraint_name, server_name(mc));
		if (a->con.kind == MG_CON_PRIMARY_KEY && op->kind == MG_OP_RENAME_CONSTRAINT)
			return mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->constraint_name_pos,
						 "the primary key of %s cannot be renamed: on %s it is always named PRIMARY",
						 t->q, server_name(mc));
		if (a->con.kind == MG_CON_PRIMARY_KEY && !op->allow_copy) {
			alter = mg_xasprintf("ALTER TABLE %s DROP PRIMARY KEY", t->q);
			rc = refuse_alter(pl, mc, a, alter, 1, err);
		} else if (a->con.kind == MG_CON_CHECK && op->kind == MG_OP_RENAME_CONSTRAINT &&
			   !op->allow_copy) {
			alter = mg_xasprintf("ALTER TABLE %s DROP CONSTRAINT `%s`, ADD CONSTRAINT `%s` %s",
					     t->q, op->constraint_name, op->to, a->con.def);
			rc = refuse_alter(pl, mc, a, alter, 1, err);
		}
		break;
	}
	default:
		break;
	}
	free(alter);
	return rc;
}

/*
 * catalog_index.c - the MySQL/MariaDB driver's answers about create_index's
 * options and drop_index (check_index; catalog.c checks where:, the
 * method, the columns and a name already taken).
 *
 * create_index's options on InnoDB, each refused where the file writes
 * it, with the reason, when InnoDB has no such thing:
 *   order      asc|desc: a key part may be descending (MariaDB 10.8+,
 *              MySQL 8.0): rendered;
 *   nulls      NULLs sort before every value, so first with asc and last
 *              with desc are what the order does anyway: accepted; the
 *              other two cannot be said;
 *   opclass    none: an index compares by the column's type and collation;
 *   collate    none: an index uses the column's collation;
 *   include    none: a secondary index holds its key columns and the
 *              primary key, nothing else;
 *   storage    none that maps: the fill factor is the server-wide
 *              innodb_fill_factor, KEY_BLOCK_SIZE only applies to
 *              compressed tables (and the table's, not the index's);
 *   constraint a UNIQUE index already is the constraint: accepted, and
 *              plan says so (render_index.c).
 *
 * drop_index: the index exists, is not the PRIMARY KEY, and no foreign
 * key needs it: InnoDB keeps, for each foreign key, an index whose first
 * columns are its columns (on the referencing table) and one whose first
 * columns are the referenced ones (on the referenced table), and refuses
 * to drop the last such index (error 1553).
 */
#include "mysql/myplan.h"

#include <strings.h>

static int refuse_option(struct planner *pl, struct mg_pos pos, const char *why,
			 const char *hint, struct mg_err *err)
{
	mg_plan_pos_error(err, MG_EINPUT, pl->m, pos, "%s", why);
	return mg_err_hint(err, "%s", hint);
}

static int check_column_options(struct planner *pl, const struct mg_op *op,
				size_t k, struct mg_err *err)
{
	const struct mg_index_col *c = &op->column_opts[k];
	int desc = c->order == MG_ORDER_DESC;

	if (c->opclass)
		return refuse_option(pl, c->opclass_pos,
				     "operator classes ('opclass') are PostgreSQL's: a MySQL/MariaDB index compares by the column's type and collation",
				     "remove 'opclass' (a migrations.mariadb/ directory may hold the MariaDB version of this migration)", err);
	if (c->collate)
		return refuse_option(pl, c->collate_pos,
				     "a MySQL/MariaDB index uses its column's collation: 'collate' cannot give it another",
				     "remove 'collate', or change the column's collation first (alter_column)", err);
	if (c->nulls == MG_NULLS_LAST && !desc)
		return refuse_option(pl, c->nulls_pos,
				     "MySQL/MariaDB sort NULLs before every value: in ascending order they come first, so 'nulls: last' cannot be said",
				     "remove 'nulls', or write 'order: desc' (NULLs then come last)", err);
	if (c->nulls == MG_NULLS_FIRST && desc)
		return refuse_option(pl, c->nulls_pos,
				     "MySQL/MariaDB sort NULLs before every value: in descending order they come last, so 'nulls: first' cannot be said",
				     "remove 'nulls', or write 'order: asc' (NULLs then come first)", err);
	return 0;
}

int mydrv_check_index_options(struct planner *pl, const struct mg_op *op,
			      const struct mytable *t, struct mg_err *err)
{
	(void)t;
	for (size_t k = 0; op->column_opts && k < op->n_columns; k++)
		if (check_column_options(pl, op, k, err) < 0)
			return -1;
	if (op->n_include)
		return refuse_option(pl, op->include_pos,
				     "MySQL/MariaDB have no included columns ('include'): an InnoDB secondary index holds its key columns and the primary key only",
				     "append the columns to 'columns' (the index then also sorts by them), or remove 'include'", err);
	if (op->n_storage)
		return refuse_option(pl, op->storage_pos,
				     "MySQL/MariaDB have no per-index storage parameters ('storage'): InnoDB's fill factor is the server-wide innodb_fill_factor, and KEY_BLOCK_SIZE applies to compressed tables only",
				     "remove 'storage' (a migrations.mariadb/ directory may hold the MariaDB version of this migration)", err);
	return 0;
}

/* ---- drop_index ----------------------------------------------------------- */

/* A cell, "" for NULL (a functional key part has no COLUMN_NAME). */
static const char *cell(const struct mg_rows *r, size_t i, size_t j)
{
	const char *v = mg_rows_get(r, i, j);

	return v ? v : "";
}

/* Whether index `name`'s columns (rows of idx: INDEX_NAME, COLUMN_NAME in
 * key order) begin with cols. */
static int index_covers(const struct mg_rows *idx, const char *name,
			const struct mg_strlist *cols)
{
	size_t seq = 0;

	for (size_t i = 0; i < idx->nrows && seq < cols->n; i++) {
		if (strcasecmp(cell(idx, i, 0), name) != 0)
			continue;
		if (strcasecmp(cell(idx, i, 1), cols->items[seq]) != 0)
			return 0;
		seq++;
	}
	return seq == cols->n;
}

/* Whether an index other than `name` begins with cols. */
static int other_covers(const struct mg_rows *idx, const char *name,
			const struct mg_strlist *cols)
{
	for (size_t i = 0; i < idx->nrows; i++) {
		const char *other = cell(idx, i, 0);

		if ((i && !strcmp(cell(idx, i - 1, 0), other)) ||
		    !strcasecmp(other, name))
			continue;
		if (index_covers(idx, other, cols))
			return 1;
	}
	return 0;
}

/* The foreign keys over t, one row per column: CONSTRAINT_NAME, the
 * referencing table, the column of t, ORDINAL_POSITION; its own first,
 * then those that reference it. */
static char *fk_sql(const struct mytable *t)
{
	return mg_xasprintf(
		"SELECT CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, 0 AS side "
		"FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() "
		"AND TABLE_NAME = %s AND REFERENCED_TABLE_NAME IS NOT NULL "
		"UNION ALL SELECT CONSTRAINT_NAME, TABLE_NAME, REFERENCED_COLUMN_NAME, ORDINAL_POSITION, 1 "
		"FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_SCHEMA = DATABASE() "
		"AND REFERENCED_TABLE_NAME = %s "
		"ORDER BY side, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION", t->lit, t->lit);
}

/* The foreign key that needs index name and no other, or -1. */
static ssize_t needing_fk(const struct mg_rows *idx, const struct mg_rows *fks,
			  const char *name)
{
	for (size_t i = 0; i < fks->nrows;) {
		struct mg_strlist cols = MG_STRLIST_INIT;
		size_t first = i;
		int needs;

		for (; i < fks->nrows && !strcmp(cell(fks, i, 0), cell(fks, first, 0)) &&
		       !strcmp(cell(fks, i, 1), cell(fks, first, 1)) &&
		       !strcmp(cell(fks, i, 4), cell(fks, first, 4)); i++)
			mg_strlist_push(&cols, cell(fks, i, 2));
		needs = index_covers(idx, name, &cols) && !other_covers(idx, name, &cols);
		mg_strlist_release(&cols);
		if (needs)
			return (ssize_t)first;
	}
	return -1;
}

static int drop_refused(struct planner *pl, const struct mg_op *op, const char *why,
			const char *hint, struct mg_err *err)
{
	mg_plan_pos_error(err, MG_EINPUT, pl->m, op->index_name_pos,
			  "cannot drop index '%s': %s", op->index_name, why);
	return mg_err_hint(err, "%s", hint);
}

static int judge_drop(struct planner *pl, const struct mg_op *op, const struct mytable *t,
		      const struct mg_rows *idx, const struct mg_rows *fks, struct mg_err *err)
{
	char why[512];
	ssize_t fk;
	int found = 0;

	for (size_t i = 0; i < idx->nrows; i++)
		found |= !strcasecmp(cell(idx, i, 0), op->index_name);
	if (!found) {
		snprintf(why, sizeof(why), "no index of that name on %s", t->q);
		return drop_refused(pl, op, why, "check the name (SHOW INDEX FROM the table lists them)", err);
	}
	if (!strcasecmp(op->index_name, "PRIMARY")) {
		snprintf(why, sizeof(why), "it is the PRIMARY KEY of %s", t->q);
		return drop_refused(pl, op, why, "use drop_constraint for a primary key", err);
	}
	fk = needing_fk(idx, fks, op->index_name);
	if (fk < 0)
		return 0;
	snprintf(why, sizeof(why), "foreign key `%s` of `%s` needs it (InnoDB keeps an index over a foreign key's columns%s, and this is the only one)",
		 cell(fks, (size_t)fk, 0), cell(fks, (size_t)fk, 1),
		 strcmp(cell(fks, (size_t)fk, 4), "1") ? "" : " on the referenced table too");
	return drop_refused(pl, op, why, "drop the foreign key first (drop_constraint), or create another index that begins with its columns", err);
}

int mydrv_check_drop_index(struct planner *pl, const struct mg_op *op,
			   const struct mytable *t, struct mg_err *err)
{
	struct mg_rows idx = MG_ROWS_INIT, fks = MG_ROWS_INIT;
	char *isql = mg_xasprintf("SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
				  "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
				  "ORDER BY INDEX_NAME, SEQ_IN_INDEX", t->lit);
	char *fsql = fk_sql(t);
	int rc = -1;

	if (query_mc(pl->mc, isql, &idx, err) == 0 && query_mc(pl->mc, fsql, &fks, err) == 0)
		rc = judge_drop(pl, op, t, &idx, &fks, err);
	mg_rows_release(&idx);
	mg_rows_release(&fks);
	free(isql);
	free(fsql);
	return rc;
}

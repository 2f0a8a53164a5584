/*
 * test_planner.c - the driver-neutral planner (src/planner*.c) against a
 * fake driver whose catalog is a table in this file and whose renderer
 * writes one step per piece, described by what it was asked to render.
 *
 * The story: the core, not the driver, decides which operations are
 * refused and with which message (key columns, columns the driver cannot
 * carry, dependents not listed under drops:, columns an earlier operation
 * created or replaced, tables without a key), what is lossy, when a
 * rollback is refused, and the order of the steps of each phase — which
 * the capability bit MG_CAP_CONCURRENT_INDEX changes for index builds.
 * A second fake driver has MySQL's bits (MG_CAP_PLACEHOLDER_NOT_NULL,
 * MG_CAP_EXPLICIT_INDEX_DROPS, MG_CAP_CASELESS_COLUMNS): NOT NULL by a
 * placeholder default, indexes dropped by contract, caseless names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "driver.h"
#include "planner.h"

/* ---- the fake catalog ------------------------------------------------------ */

struct fake_col {
	const char *table, *name, *type;
	int notnull;
	const char *default_expr;
	const char *unsupported;
};

static const struct fake_col catalog[] = {
	{ "t", "id", "int", 1, NULL, NULL },
	{ "t", "a", "text", 0, NULL, NULL },
	{ "t", "b", "int", 1, "0", NULL },
	{ "t", "ident", "int", 1, NULL, "is an identity column" },
	{ "t", "n", "int", 1, NULL, NULL },
	{ "t", "g", "point", 1, NULL, NULL },
	{ "nokey", "x", "int", 0, NULL, NULL },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

static const char *fake_quote(const char *name, char *buf, size_t n)
{
	snprintf(buf, n, "\"%s\"", name);
	return buf;
}

static void fake_quote_ident(struct mg_buf *out, const char *name)
{
	mg_buf_addf(out, "\"%s\"", name);
}

static int fake_describe_table(struct mg_conn *c, const struct mg_planner *pl,
			       const struct mg_op *op, struct mg_table_desc *out,
			       struct mg_err *err)
{
	char q[64];

	(void)c;
	if (strcmp(op->table, "t") != 0 && strcmp(op->table, "nokey") != 0)
		return mg_plan_pos_error(err, MG_EINPUT, pl->m, op->table_pos,
					 "table '%s' does not exist", op->table);
	out->id = mg_xstrdup(op->table);
	out->q = mg_xstrdup(fake_quote(op->table, q, sizeof(q)));
	out->relname = mg_xstrdup(op->table);
	out->max_ident = 63;
	if (!strcmp(op->table, "nokey")) {
		out->key_problem = "it has no key";
		return 0;
	}
	out->key.n = 1;
	out->key.cols = mg_xcalloc(1, sizeof(char *));
	out->key.types = mg_xcalloc(1, sizeof(char *));
	out->key.cols[0] = mg_xstrdup("\"id\"");
	out->key.types[0] = mg_xstrdup("int");
	return 0;
}

static int fake_describe_column(struct mg_conn *c, const struct mg_planner *pl,
				const struct mg_table_desc *t, const char *name,
				struct mg_column_desc *out, struct mg_err *err)
{
	(void)c;
	(void)pl;
	(void)err;
	for (const struct fake_col *f = catalog; f->table; f++) {
		if (strcmp(f->table, t->id) || strcmp(f->name, name))
			continue;
		out->type = mg_xstrdup(f->type);
		out->notnull = f->notnull;
		out->default_expr = f->default_expr ? mg_xstrdup(f->default_expr) : NULL;
		out->unsupported = f->unsupported;
		return 0;
	}
	return 1;
}

/* Column a has an index; column b a view over it. */
static int fake_column_dependents(struct mg_conn *c, const struct mg_planner *pl,
				  const struct mg_table_desc *t, const char *col,
				  const struct mg_column_desc *cd,
				  struct mg_dependents *out, struct mg_err *err)
{
	struct mg_dependent *d;

	(void)c;
	(void)pl;
	(void)t;
	(void)cd;
	(void)err;
	if (!strcmp(col, "a")) {
		d = mg_dependents_add(out, MG_DEP_INDEX);
		d->name = mg_xstrdup("t_a_idx");
		d->def = mg_xstrdup("(a)");
	} else if (!strcmp(col, "b")) {
		d = mg_dependents_add(out, MG_DEP_OBJECT);
		d->name = mg_xstrdup("v");
		d->what = mg_xstrdup("view v");
		d->def = mg_xstrdup("view");
		d->droppable = 1;
		out->refusal_tail = " here";
	}
	return 0;
}

static int fake_check_expr(struct mg_conn *c, const struct mg_planner *pl,
			   const struct mg_table_desc *t, enum mg_expr_use use,
			   const char *expr, struct mg_pos pos, struct mg_err *err)
{
	(void)c;
	(void)t;
	(void)use;
	if (!strcmp(expr, "bad"))
		return mg_plan_pos_error(err, MG_EINPUT, pl->m, pos,
					 "expression '%s' is bad", expr);
	return 0;
}

static int fake_canonical_type(struct mg_conn *c, const struct mg_planner *pl,
			       const struct mg_op *op, char **out,
			       struct mg_err *err)
{
	(void)c;
	(void)pl;
	(void)err;
	*out = mg_xstrdup(op->type);
	return 0;
}

static const char *const render_names[] = {
	[MG_RENDER_EXPAND_TABLE] = "expand",
	[MG_RENDER_COPY_INDEX] = "copy-index",
	[MG_RENDER_BACKFILL] = "backfill",
	[MG_RENDER_BUILD_INDEX] = "build-index",
	[MG_RENDER_DROP_INDEX] = "drop-index",
	[MG_RENDER_ASSERT_INDEXES] = "assert-indexes",
	[MG_RENDER_VALIDATE] = "validate",
	[MG_RENDER_INBOUND] = "inbound",
	[MG_RENDER_VALIDATE_INBOUND] = "validate-inbound",
	[MG_RENDER_ASSERT_DEPENDENTS] = "assert-dependents",
	[MG_RENDER_CONTRACT_TABLE] = "contract",
	[MG_RENDER_ROLLBACK_TABLE] = "rollback",
	[MG_RENDER_SQL] = "sql",
	[MG_RENDER_CREATE_TABLE] = "create-table",
	[MG_RENDER_DROP_CREATED_TABLE] = "drop-created-table",
	[MG_RENDER_DROP_TABLE] = "drop-table",
	[MG_RENDER_ADD_VIEW] = "add-view",
	[MG_RENDER_DROP_VIEW] = "drop-view",
	[MG_RENDER_FINISH_RENAME] = "finish-rename",
	[MG_RENDER_RULE] = "rule",
};

static const char *const prim_names[] = {
	[MG_PRIM_ADD_RULE] = "add-rule",
	[MG_PRIM_ADD_COLUMN] = "add-column",
	[MG_PRIM_COPY_CONSTRAINT] = "copy-constraint",
	[MG_PRIM_COMMENT] = "comment",
	[MG_PRIM_GRANT] = "grant",
	[MG_PRIM_COPY_INDEX] = "copy-index",
	[MG_PRIM_VALIDATE] = "validate",
	[MG_PRIM_COPY_INBOUND_FK] = "copy-inbound-fk",
	[MG_PRIM_VALIDATE_INBOUND_FK] = "validate-inbound-fk",
	[MG_PRIM_ASSERT_NO_DEPENDENTS] = "assert-no-dependents",
	[MG_PRIM_DROP_DEPENDENT] = "drop-dependent",
	[MG_PRIM_DROP_COLUMN] = "drop-column",
	[MG_PRIM_SET_NOT_NULL] = "set-not-null",
	[MG_PRIM_SET_DEFAULT] = "set-default",
	[MG_PRIM_FINISH_CONSTRAINT] = "finish-constraint",
	[MG_PRIM_FINISH_INDEX] = "finish-index",
	[MG_PRIM_FINISH_INBOUND_FK] = "finish-inbound-fk",
	[MG_PRIM_DROP_INBOUND_COPY] = "drop-inbound-copy",
	[MG_PRIM_RENAME_COLUMN] = "rename-column",
};

/* "kind(name or column) " for each primitive of the slots. */
static void list_slots(struct mg_buf *b, const struct mg_tplan *tp,
		       const enum mg_slot *slots, size_t n)
{
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < tp->slot[slots[k]].n; i++) {
			const struct mg_prim *p = tp->slot[slots[k]].v[i];
			size_t kind = (size_t)p->kind;

			mg_buf_addf(b, "%s(%s%s%s%s) ",
				    kind < sizeof(prim_names) / sizeof(*prim_names) &&
				    prim_names[kind] ? prim_names[kind] : "?",
				    p->name ? p->name : p->column,
				    p->notnull ? " not null" : "",
				    p->kind != MG_PRIM_SET_DEFAULT && p->text ? " default " : "",
				    p->kind != MG_PRIM_SET_DEFAULT && p->text ? p->text : "");
		}
}

/* One step per piece: described "<kind> <what>"; a table's transaction
 * lists its primitives as its SQL. */
static int fake_render(struct mg_conn *c, const struct mg_render *r,
		       struct mg_plan *out, struct mg_err *err)
{
	static const enum mg_slot expand[] = { MG_SLOT_ADD_COLUMNS, MG_SLOT_EXPAND };
	static const enum mg_slot contract[] = { MG_SLOT_CONTRACT_PRE,
		MG_SLOT_CONTRACT_COLUMNS, MG_SLOT_CONTRACT_POST };
	static const enum mg_slot rollback[] = { MG_SLOT_ROLLBACK_PRE,
		MG_SLOT_ROLLBACK_COLUMNS };
	struct mg_buf d = MG_BUF_INIT, sql = MG_BUF_INIT;
	const char *object = NULL;

	(void)c;
	(void)err;
	mg_buf_adds(&d, render_names[r->kind]);
	if (r->prim)
		mg_buf_addf(&d, " %s", r->prim->name ? r->prim->name : r->prim->column);
	else if (r->op && r->op->index_name)
		mg_buf_addf(&d, " %s", r->op->index_name);
	else if (r->tableop)
		mg_buf_addf(&d, " %s", r->op->table);
	else if (r->tp)
		mg_buf_addf(&d, " %s", r->tp->t.q);
	else if (r->objects)
		mg_buf_addf(&d, " %zu", r->objects->n);
	if (r->kind == MG_RENDER_BUILD_INDEX || r->kind == MG_RENDER_COPY_INDEX)
		object = d.buf + strcspn(d.buf, " ") + 1;
	if (r->kind == MG_RENDER_EXPAND_TABLE)
		list_slots(&sql, r->tp, expand, 2);
	else if (r->kind == MG_RENDER_CONTRACT_TABLE)
		list_slots(&sql, r->tp, contract, 3);
	else if (r->kind == MG_RENDER_ROLLBACK_TABLE)
		list_slots(&sql, r->tp, rollback, 2);
	if (r->kind == MG_RENDER_BACKFILL)
		mg_plan_add_backfill(out)->table = mg_xstrdup(r->tp->t.q);
	else
		mg_plan_add_step(out, r->phase, MG_STEP_TX, NULL, d.buf, sql.buf, object);
	mg_buf_release(&d);
	mg_buf_release(&sql);
	return 0;
}

#define FAKE_DRIVER(caps_) { \
	.name = "fake", .version = MG_DRIVER_VERSION, .caps = (caps_), \
	.quote_ident = fake_quote_ident, \
	.describe_table = fake_describe_table, \
	.describe_column = fake_describe_column, \
	.column_dependents = fake_column_dependents, \
	.check_expr = fake_check_expr, \
	.canonical_type = fake_canonical_type, \
	.render = fake_render }

static const struct mg_driver concurrent_driver = FAKE_DRIVER(MG_CAP_CONCURRENT_INDEX);
static const struct mg_driver serial_driver = FAKE_DRIVER(0);

/* MySQL's placeholders: a zero for numbers, none for a point. */
static char *fake_placeholder_value(struct mg_conn *c, const char *type)
{
	(void)c;
	return strcmp(type, "point") ? mg_xstrdup("0") : NULL;
}

static const struct mg_driver mysqlish_driver = {
	.name = "fake", .version = MG_DRIVER_VERSION,
	.caps = MG_CAP_PLACEHOLDER_NOT_NULL | MG_CAP_EXPLICIT_INDEX_DROPS |
		MG_CAP_CASELESS_COLUMNS,
	.quote_ident = fake_quote_ident,
	.describe_table = fake_describe_table,
	.describe_column = fake_describe_column,
	.column_dependents = fake_column_dependents,
	.check_expr = fake_check_expr,
	.canonical_type = fake_canonical_type,
	.render = fake_render,
	.placeholder_value = fake_placeholder_value,
};

/* ---- migrations ------------------------------------------------------------ */

struct world {
	struct mg_conn conn;
	struct mg_migration m;
	struct mg_op ops[4];
	char *drops[1];
	char *columns[1];
	char *sql[MG_SQL_NPHASES];
	struct mg_plan plan;
	struct mg_err err;
};

static struct world *world_new(const struct mg_driver *drv)
{
	struct world *w = mg_xcalloc(1, sizeof(*w));

	w->conn.drv = drv;
	w->m.id = 1;
	w->m.name = "0001_test";
	w->m.path = "0001_test.yaml";
	w->m.ops = w->ops;
	return w;
}

static struct mg_op *add_op(struct world *w, enum mg_op_kind kind,
			    const char *table, const char *column, int line)
{
	struct mg_op *op = &w->ops[w->m.n_ops++];

	op->kind = kind;
	op->table = (char *)table;
	op->column = (char *)column;
	op->nullable = 1;
	op->in_transaction = 1;
	op->pos = (struct mg_pos){ line, 3 };
	op->column_pos = (struct mg_pos){ line + 1, 13 };
	op->table_pos = (struct mg_pos){ line + 2, 12 };
	return op;
}

static struct mg_op *rename_op(struct world *w, const char *from,
			       const char *to, int line)
{
	struct mg_op *op = add_op(w, MG_OP_RENAME_COLUMN, "t", from, line);

	op->to = (char *)to;
	op->to_pos = (struct mg_pos){ line + 1, 20 };
	return op;
}

static struct mg_op *index_op(struct world *w, const char *name,
			      const char *column, int line)
{
	struct mg_op *op = add_op(w, MG_OP_CREATE_INDEX, "t", NULL, line);

	op->index_name = (char *)name;
	w->columns[0] = (char *)column;
	op->columns = w->columns;
	op->n_columns = 1;
	return op;
}

static int build(struct world *w)
{
	return mg_plan_build(&w->conn, &w->m, &w->plan, &w->err);
}

static void world_free(struct world *w)
{
	mg_plan_release(&w->plan);
	free(w);
}

/* The descriptions of a phase's steps, joined by " | ". */
static char *phase_text(const struct mg_plan *p, enum mg_plan_phase ph)
{
	struct mg_buf b = MG_BUF_INIT;

	for (size_t i = 0; i < p->n_steps[ph]; i++)
		mg_buf_addf(&b, "%s%s", i ? " | " : "", p->steps[ph][i].description);
	return mg_buf_detach(&b);
}

#define assert_phase(w, ph, want) do { \
	char *got_ = phase_text(&(w)->plan, (ph)); \
	if (strcmp(got_, (want))) { \
		char copy_[1024]; \
		snprintf(copy_, sizeof(copy_), "%s", got_); \
		free(got_); \
		fail_msg("phase %s:\n  got  %s\n  want %s", \
			 mg_plan_phase_name(ph), copy_, (want)); \
	} \
	free(got_); \
} while (0)

#define assert_refused(w, code_, want_) do { \
	assert_int_equal(build(w), -1); \
	assert_int_equal((w)->err.code, (code_)); \
	assert_string_equal((w)->err.msg, (want_)); \
} while (0)

/* ---- the order of the phases ------------------------------------------------ */

/* With concurrent builds, index copies are built at expand after every
 * table's transaction and create_index's index is dropped first at
 * rollback. */
static void test_order_concurrent(void **arg)
{
	struct world *w = world_new(&concurrent_driver);

	(void)arg;
	index_op(w, "t_b_idx", "b", 3);
	rename_op(w, "a", "a2", 8);
	assert_int_equal(build(w), 0);
	assert_phase(w, MG_PLAN_EXPAND,
		     "build-index t_b_idx | expand \"t\" | copy-index t_a_idx_mg1");
	assert_phase(w, MG_PLAN_SWITCH_READS, "assert-indexes 2");
	assert_phase(w, MG_PLAN_CONTRACT, "assert-dependents a | contract \"t\"");
	assert_phase(w, MG_PLAN_ROLLBACK, "drop-index t_b_idx | rollback \"t\"");
	assert_int_equal(w->plan.n_backfills, 1);
	assert_int_equal(w->plan.n_lossy, 0);
	world_free(w);
}

/* Without them, copies are built at switch-reads (after the backfill) and
 * rollback undoes everything in reverse file order. */
static void test_order_serial(void **arg)
{
	struct world *w = world_new(&serial_driver);

	(void)arg;
	index_op(w, "t_b_idx", "b", 3);
	rename_op(w, "a", "a2", 8);
	assert_int_equal(build(w), 0);
	assert_phase(w, MG_PLAN_EXPAND, "build-index t_b_idx | expand \"t\"");
	assert_phase(w, MG_PLAN_SWITCH_READS, "assert-indexes 1 | copy-index t_a_idx_mg1");
	assert_phase(w, MG_PLAN_ROLLBACK, "rollback \"t\" | drop-index t_b_idx");
	world_free(w);
}

/* drop_index drops at contract (after the tables' transactions, even
 * when written before their operations) and has nothing to undo at
 * rollback; a create_index made a
 * constraint takes a plain B-tree index only, refused at the option. */
static void test_drop_index_and_constraint_rule(void **arg)
{
	struct world *w = world_new(&concurrent_driver);
	struct mg_index_col opts[1];
	struct mg_op *op;

	(void)arg;
	op = add_op(w, MG_OP_DROP_INDEX, "t", NULL, 3);
	op->index_name = (char *)"t_b_idx";
	rename_op(w, "a", "a2", 8);
	assert_int_equal(build(w), 0);
	assert_phase(w, MG_PLAN_CONTRACT,
		     "assert-dependents a | contract \"t\" | drop-index t_b_idx");
	assert_phase(w, MG_PLAN_ROLLBACK, "rollback \"t\"");
	world_free(w);

	w = world_new(&concurrent_driver);
	memset(opts, 0, sizeof(opts));
	opts[0].order = MG_ORDER_DESC;
	opts[0].order_pos.line = 9;
	opts[0].order_pos.column = 7;
	op = index_op(w, "t_b_key", "b", 3);
	op->unique = 1;
	op->constraint = 1;
	op->column_opts = opts;
	assert_refused(w, MG_EINPUT,
		       "index 't_b_key' cannot become a UNIQUE constraint: a UNIQUE constraint needs its columns in ascending order ('order: desc') at 0001_test.yaml:9:7");
	world_free(w);
}

/* A NOT NULL column gets a CHECK NOT VALID validated at switch-reads and
 * its default at contract; a sql step without rollback SQL refuses the
 * rollback; lossy texts name the migration. */
static void test_add_column_and_sql(void **arg)
{
	struct world *w = world_new(&concurrent_driver);
	struct mg_op *op;

	(void)arg;
	op = add_op(w, MG_OP_ADD_COLUMN, "t", "c", 3);
	op->type = "int";
	op->default_expr = "1";
	op->nullable = 0;
	op = add_op(w, MG_OP_SQL, NULL, NULL, 9);
	w->sql[MG_SQL_EXPAND] = "SELECT 1";
	memcpy(op->sql, w->sql, sizeof(op->sql));
	assert_int_equal(build(w), 0);
	assert_phase(w, MG_PLAN_EXPAND, "expand \"t\" | sql");
	assert_string_equal(w->plan.steps[MG_PLAN_EXPAND][0].sql,
			    "add-column(c) copy-constraint(c_not_null_mg1) ");
	assert_phase(w, MG_PLAN_SWITCH_READS, "validate c_not_null_mg1");
	assert_string_equal(w->plan.steps[MG_PLAN_CONTRACT][0].sql,
			    "set-not-null(c_not_null_mg1) set-default(c) ");
	assert_string_equal(w->plan.steps[MG_PLAN_ROLLBACK][0].sql, "drop-column(c) ");
	assert_int_equal(w->plan.rollback_refused, 1);
	assert_string_equal(w->plan.rollback_refusal,
			    "the sql step at 0001_test.yaml:9:3 has no rollback SQL");
	assert_int_equal(w->plan.n_lossy, 1);
	assert_string_equal(w->plan.lossy[0],
			    "rollback of 0001 drops column 'c' of \"t\" with every value the new version wrote into it");
	world_free(w);
}

/* ---- what the core refuses ---------------------------------------------------- */

static void test_refuses_key_and_unsupported(void **arg)
{
	struct world *w = world_new(&concurrent_driver);

	(void)arg;
	rename_op(w, "id", "id2", 3);
	assert_refused(w, MG_EREFUSED,
		       "column 'id' is part of the key of \"t\": changing key columns is not supported at 0001_test.yaml:4:13");
	world_free(w);

	w = world_new(&concurrent_driver);
	add_op(w, MG_OP_DROP_COLUMN, "t", "ident", 3);
	assert_refused(w, MG_EREFUSED,
		       "column 'ident' of \"t\" is an identity column: not supported at 0001_test.yaml:4:13");
	world_free(w);
}

/* A view over the column is refused with the driver's words, unless the
 * operation lists it under drops: (then contract drops it). */
static void test_dependents_refused_or_dropped(void **arg)
{
	struct world *w = world_new(&concurrent_driver);
	struct mg_op *op;

	(void)arg;
	rename_op(w, "b", "b2", 3);
	assert_refused(w, MG_EREFUSED,
		       "view v depends on column 'b' of \"t\", which migrate cannot carry over here at 0001_test.yaml:3:3");
	world_free(w);

	w = world_new(&concurrent_driver);
	op = rename_op(w, "b", "b2", 3);
	w->drops[0] = "v";
	op->drops = w->drops;
	op->n_drops = 1;
	assert_int_equal(build(w), 0);
	assert_phase(w, MG_PLAN_CONTRACT, "assert-dependents b | contract \"t\"");
	assert_non_null(strstr(w->plan.steps[MG_PLAN_CONTRACT][1].sql,
			       "drop-dependent(b) drop-column(b) "));
	world_free(w);
}

/* Later operations see the columns earlier ones added or replaced. */
static void test_overlay(void **arg)
{
	struct world *w = world_new(&concurrent_driver);

	(void)arg;
	rename_op(w, "a", "a2", 3);
	rename_op(w, "a", "a3", 8);
	assert_refused(w, MG_EINPUT,
		       "column 'a' of \"t\" is renamed to 'a2' by an earlier operation of this migration (rename_column at 0001_test.yaml:3:3) at 0001_test.yaml:9:13");
	world_free(w);

	/* an index over a column dropped earlier names the drop_column */
	w = world_new(&concurrent_driver);
	add_op(w, MG_OP_DROP_COLUMN, "t", "a", 3);
	index_op(w, "t_a_idx", "a", 8);
	w->ops[1].columns_pos = (struct mg_pos){ 11, 16 };
	assert_refused(w, MG_EINPUT,
		       "column 'a' of \"t\" is dropped by an earlier operation of this migration (drop_column at 0001_test.yaml:3:3) at 0001_test.yaml:11:16");
	world_free(w);

	/* an index over a column added earlier is fine */
	w = world_new(&concurrent_driver);
	add_op(w, MG_OP_ADD_COLUMN, "t", "c", 3)->type = "int";
	index_op(w, "t_c_idx", "c", 8);
	assert_int_equal(build(w), 0);
	world_free(w);

	w = world_new(&concurrent_driver);
	rename_op(w, "a", "a2", 3);
	rename_op(w, "a2", "a3", 8);
	assert_refused(w, MG_EINPUT,
		       "column 'a2' of \"t\" is created by an earlier operation of this migration and cannot be changed again in it at 0001_test.yaml:9:13");
	world_free(w);

	w = world_new(&concurrent_driver);
	rename_op(w, "a", "b", 3);
	assert_refused(w, MG_EINPUT, "column 'b' already exists in \"t\" at 0001_test.yaml:4:20");
	world_free(w);
}

/* The overlay's entries: the latest counts, names compare as the
 * database does, each use sees what it should, and a refusal names the
 * operation that changed the column. */
static void test_overlay_entries(void **arg)
{
	struct world *w = world_new(&concurrent_driver);
	struct mg_table_desc t = { .id = "1", .q = "\"t\"" };
	struct mg_planner pl;
	const struct mg_overlay_col *oc;
	struct mg_err err = MG_ERR_INIT;

	(void)arg;
	memset(&pl, 0, sizeof(pl));
	pl.m = &w->m;
	pl.op = rename_op(w, "a", "a2", 3);
	mg_overlay_remove_column(&pl, &t, "a", "a2");
	mg_overlay_add_column(&pl, &t, "a2", "integer", "\"C\"");
	pl.op = add_op(w, MG_OP_DROP_COLUMN, "t", "b", 8);
	mg_overlay_remove_column(&pl, &t, "b", NULL);
	pl.op = add_op(w, MG_OP_ADD_COLUMN, "t", "b", 12);
	mg_overlay_add_column(&pl, &t, "b", "text", NULL);

	assert_true(mg_overlay_touches(&pl, &t));
	assert_null(mg_overlay_find(&pl, "1", "A"));	/* case matters here */
	assert_null(mg_overlay_find(&pl, "2", "a"));
	oc = mg_overlay_find(&pl, "1", "a2");
	assert_string_equal(oc->type, "integer COLLATE \"C\"");
	assert_true(mg_overlay_hidden(oc, MG_EXPR_ROW));
	assert_false(mg_overlay_hidden(oc, MG_EXPR_WHERE));
	oc = mg_overlay_find(&pl, "1", "b");	/* dropped, then added again */
	assert_false(oc->replaced);
	oc = mg_overlay_find(&pl, "1", "a");
	assert_false(mg_overlay_hidden(oc, MG_EXPR_ROW));
	assert_true(mg_overlay_hidden(oc, MG_EXPR_NEW_ROW));
	assert_int_equal(mg_overlay_refuse(&err, &pl, &t, oc, (struct mg_pos){ 20, 7 }), -1);
	assert_int_equal(err.code, MG_EINPUT);
	assert_string_equal(err.msg, "column 'a' of \"t\" is renamed to 'a2' by an earlier operation of this migration (rename_column at 0001_test.yaml:3:3) at 0001_test.yaml:20:7");

	pl.caps = MG_CAP_CASELESS_COLUMNS;
	assert_non_null(mg_overlay_find(&pl, "1", "A"));
	for (size_t i = 0; i < pl.n_overlay; i++) {
		free(pl.overlay[i].table_id);
		free(pl.overlay[i].table_q);
		free(pl.overlay[i].column);
		free(pl.overlay[i].type);
		free(pl.overlay[i].renamed_to);
	}
	free(pl.overlay);
	world_free(w);
}

/* A table without a key cannot be backfilled: refused at its first
 * operation's table. */
static void test_no_key(void **arg)
{
	struct world *w = world_new(&concurrent_driver);
	struct mg_op *op;

	(void)arg;
	op = add_op(w, MG_OP_ADD_COLUMN, "nokey", "y", 3);
	op->type = "int";
	op->backfill = "x + 1";
	assert_refused(w, MG_EREFUSED,
		       "cannot backfill \"nokey\": it has no key at 0001_test.yaml:5:12");
	world_free(w);
}

/* ---- MySQL's capability bits ------------------------------------------------ */

/* Without NOT VALID constraints a new NOT NULL column is NOT NULL at
 * once with a placeholder default (no CHECK, no validation, no SET NOT
 * NULL); a type without a placeholder is refused; a dropped NOT NULL
 * column without a default gets the placeholder before contract. */
static void test_placeholder_not_null(void **arg)
{
	struct world *w = world_new(&mysqlish_driver);
	struct mg_op *op;

	(void)arg;
	op = add_op(w, MG_OP_ADD_COLUMN, "t", "c", 3);
	op->type = "int";
	op->default_expr = "1";
	op->nullable = 0;
	op = add_op(w, MG_OP_DROP_COLUMN, "t", "n", 9);
	op->down = "7";
	assert_int_equal(build(w), 0);
	assert_string_equal(w->plan.steps[MG_PLAN_EXPAND][0].sql,
			    "add-column(c not null default 0) ");
	assert_phase(w, MG_PLAN_SWITCH_READS, "");
	assert_string_equal(w->plan.steps[MG_PLAN_CONTRACT][1].sql,
			    "drop-column(n default 0) set-default(c) ");
	world_free(w);

	w = world_new(&mysqlish_driver);
	op = rename_op(w, "g", "g2", 3);
	assert_refused(w, MG_EREFUSED,
		       "column 'g2' of type point would be NOT NULL, and migrate has no placeholder value of that type to add it instantly at 0001_test.yaml:3:3");
	world_free(w);
}

/* ---- the rules on existing columns (planner_rules.c) ----------------------- */

/* With NOT VALID (PostgreSQL): set_not_null's CHECK NOT VALID at expand,
 * validated, then SET NOT NULL at switch-reads; the fix pair makes a
 * marker and a backfill; rollback removes the rule before the table's
 * triggers go; `up` is lossy. A NOT NULL column is refused. */
static void test_set_not_null(void **arg)
{
	struct world *w = world_new(&concurrent_driver);
	struct mg_op *op;

	(void)arg;
	op = add_op(w, MG_OP_SET_NOT_NULL, "t", "a", 3);
	op->up = "'x'";
	assert_int_equal(build(w), 0);
	assert_phase(w, MG_PLAN_EXPAND, "expand \"t\"");
	assert_string_equal(w->plan.steps[MG_PLAN_EXPAND][0].sql, "add-rule(a_not_null_mg1) ");
	assert_int_equal(w->plan.n_backfills, 1);
	assert_phase(w, MG_PLAN_SWITCH_READS, "validate a_not_null_mg1 | rule a_not_null_mg1");
	assert_phase(w, MG_PLAN_CONTRACT, "contract \"t\"");
	assert_phase(w, MG_PLAN_ROLLBACK, "rule a_not_null_mg1 | rollback \"t\"");
	assert_int_equal(w->plan.n_lossy, 1);
	world_free(w);

	w = world_new(&concurrent_driver);
	op = add_op(w, MG_OP_SET_NOT_NULL, "t", "n", 3);
	op->up = "1";
	assert_refused(w, MG_EINPUT, "column 'n' of \"t\" is NOT NULL already at 0001_test.yaml:4:13");
	world_free(w);
}

/* Without NOT VALID (MySQL): the rule is one step of its own at
 * switch-reads, after the backfill; nothing NOT VALID at expand. */
static void test_rule_without_not_valid(void **arg)
{
	struct world *w = world_new(&mysqlish_driver);
	struct mg_op *op;

	(void)arg;
	op = add_op(w, MG_OP_ADD_CHECK, "t", "b", 3);
	op->index_name = "b_positive";
	op->check = "b > 0";
	op->up = "1";
	assert_int_equal(build(w), 0);
	assert_string_equal(w->plan.steps[MG_PLAN_EXPAND][0].sql, "");
	assert_phase(w, MG_PLAN_SWITCH_READS, "rule b_positive");
	assert_phase(w, MG_PLAN_ROLLBACK, "rule b_positive | rollback \"t\"");
	world_free(w);
}

/* add_unique with up: a helper index at expand after the table, the
 * unique index at switch-reads; without up, no trigger pair, no backfill
 * and a note. */
static void test_add_unique(void **arg)
{
	struct world *w = world_new(&concurrent_driver);
	struct mg_op *op;

	(void)arg;
	op = add_op(w, MG_OP_ADD_UNIQUE, "t", NULL, 3);
	w->columns[0] = "a";
	op->columns = w->columns;
	op->n_columns = 1;
	op->index_name = "t_a_key";
	op->up = "NULL";
	assert_int_equal(build(w), 0);
	assert_phase(w, MG_PLAN_EXPAND, "expand \"t\" | rule t_a_key_mg1");
	assert_phase(w, MG_PLAN_SWITCH_READS, "rule t_a_key");
	assert_int_equal(w->plan.n_backfills, 1);
	world_free(w);

	w = world_new(&concurrent_driver);
	op = add_op(w, MG_OP_ADD_UNIQUE, "t", NULL, 3);
	w->columns[0] = "a";
	op->columns = w->columns;
	op->n_columns = 1;
	op->index_name = "t_a_key";
	assert_int_equal(build(w), 0);
	assert_int_equal(w->plan.n_backfills, 0);
	assert_int_equal(w->plan.n_notes, 1);
	world_free(w);
}

/* Where dropping a column keeps its indexes, contract drops every index
 * over a replaced or dropped column itself, before the column. */
static void test_explicit_index_drops(void **arg)
{
	struct world *w = world_new(&mysqlish_driver);

	(void)arg;
	rename_op(w, "a", "a2", 3);
	assert_int_equal(build(w), 0);
	assert_phase(w, MG_PLAN_SWITCH_READS, "copy-index t_a_idx_mg1");
	assert_string_equal(w->plan.steps[MG_PLAN_CONTRACT][1].sql,
			    "drop-dependent(a) drop-column(a) finish-index(t_a_idx_mg1) ");
	world_free(w);

	w = world_new(&serial_driver);
	rename_op(w, "a", "a2", 3);
	assert_int_equal(build(w), 0);
	assert_string_equal(w->plan.steps[MG_PLAN_CONTRACT][1].sql,
			    "drop-column(a) finish-index(t_a_idx_mg1) ");
	world_free(w);
}

/* alter_column without `to`: a temporary column named with the suffix,
 * a shadow pair (up defaults to the column), the column's NOT NULL,
 * default and index carried, and at contract the old column dropped then
 * the temporary one renamed into place after the copies' renames; the
 * same type is bad input; later operations see the column as replaced. */
static void test_alter_in_place(void **arg)
{
	struct world *w = world_new(&concurrent_driver);
	struct mg_op *op;
	(void)arg;
	op = add_op(w, MG_OP_ALTER_COLUMN, "t", "b", 3);
	op->type = "bigint";
	w->drops[0] = "v";	/* the view over b */
	op->drops = w->drops;
	op->n_drops = 1;
	assert_int_equal(build(w), 0);
	assert_string_equal(w->plan.steps[MG_PLAN_EXPAND][0].sql,
			    "add-column(b_mg1) copy-constraint(b_mg1_not_null_mg1) ");
	assert_string_equal(w->plan.steps[MG_PLAN_CONTRACT][1].sql,
			    "drop-dependent(b) drop-column(b) set-not-null(b_mg1_not_null_mg1) set-default(b_mg1) rename-column(b) ");
	assert_string_equal(w->plan.steps[MG_PLAN_ROLLBACK][0].sql, "drop-column(b_mg1) ");
	assert_int_equal(w->plan.n_lossy, 0);
	world_free(w);

	w = world_new(&mysqlish_driver);
	op = add_op(w, MG_OP_ALTER_COLUMN, "t", "a", 3);
	op->type = "varchar(20)";
	op->up = "substr(a, 1, 20)";
	assert_int_equal(build(w), 0);
	assert_phase(w, MG_PLAN_SWITCH_READS, "copy-index t_a_idx_mg1");
	assert_string_equal(w->plan.steps[MG_PLAN_CONTRACT][1].sql,
			    "drop-dependent(a) drop-column(a) finish-index(t_a_idx_mg1) rename-column(a) ");
	world_free(w);

	w = world_new(&concurrent_driver);
	op = add_op(w, MG_OP_ALTER_COLUMN, "t", "n", 3);
	op->type = "INT";
	op->type_pos = (struct mg_pos){ 5, 13 };
	assert_refused(w, MG_EINPUT,
		       "column 'n' is of type int already at 0001_test.yaml:5:13");
	world_free(w);

	w = world_new(&concurrent_driver);
	op = add_op(w, MG_OP_ALTER_COLUMN, "t", "n", 3);
	op->type = "bigint";
	rename_op(w, "n", "n2", 8);
	assert_refused(w, MG_EINPUT,
		       "column 'n' of \"t\" changes type in place by an earlier operation of this migration (alter_column at 0001_test.yaml:3:3) at 0001_test.yaml:9:13");
	world_free(w);

	w = world_new(&concurrent_driver);
	op = add_op(w, MG_OP_ALTER_COLUMN, "t", "ident", 3);
	op->type = "bigint";
	assert_refused(w, MG_EREFUSED,
		       "column 'ident' of \"t\" is an identity column: not supported at 0001_test.yaml:4:13");
	world_free(w);
}

/* Caseless column names: a column an earlier operation added is there
 * in any case; the latest operation on a column counts. */
static void test_caseless_and_latest(void **arg)
{
	struct world *w = world_new(&mysqlish_driver);
	struct mg_op *op;

	(void)arg;
	rename_op(w, "a", "a2", 3);
	op = add_op(w, MG_OP_ADD_COLUMN, "t", "A2", 8);
	op->type = "int";
	assert_refused(w, MG_EINPUT, "column 'A2' already exists in \"t\" at 0001_test.yaml:9:13");
	world_free(w);

	w = world_new(&serial_driver);
	rename_op(w, "a", "a2", 3);
	op = add_op(w, MG_OP_ADD_COLUMN, "t", "A2", 8);
	op->type = "int";
	assert_int_equal(build(w), 0);
	world_free(w);

	w = world_new(&serial_driver);
	op = add_op(w, MG_OP_DROP_COLUMN, "t", "a", 3);
	op = add_op(w, MG_OP_ADD_COLUMN, "t", "a", 8);
	op->type = "int";
	rename_op(w, "a", "a3", 13);
	assert_refused(w, MG_EINPUT,
		       "column 'a' of \"t\" is created by an earlier operation of this migration and cannot be changed again in it at 0001_test.yaml:14:13");
	world_free(w);
}

/* ---- table operations ------------------------------------------------------ */

/* rename_table: a view at expand, the swap at contract, the view dropped
 * at rollback; a later operation naming either name is refused. */
static void test_rename_table(void **arg)
{
	struct world *w = world_new(&concurrent_driver);
	struct mg_op *op;

	(void)arg;
	op = add_op(w, MG_OP_RENAME_TABLE, "t", NULL, 3);
	op->to = "t2";
	op->to_pos = (struct mg_pos){ 5, 11 };
	assert_int_equal(build(w), 0);
	assert_phase(w, MG_PLAN_EXPAND, "add-view t");
	assert_phase(w, MG_PLAN_CONTRACT, "finish-rename t");
	assert_phase(w, MG_PLAN_ROLLBACK, "drop-view t");
	assert_int_equal(w->plan.n_lossy, 0);
	mg_plan_release(&w->plan);
	op = add_op(w, MG_OP_ADD_COLUMN, "t2", "c", 9);
	op->type = "int";
	assert_refused(w, MG_EREFUSED,
		       "table 't2' is renamed by the rename_table at line 3 of this migration: add_column cannot name it in the same migration at 0001_test.yaml:11:12");
	world_free(w);
}

/* drop_table after another operation on its table is refused; alone it
 * drops at contract, is lossy, and rollback has nothing to do. */
static void test_drop_table(void **arg)
{
	struct world *w = world_new(&serial_driver);
	struct mg_op *op;

	(void)arg;
	add_op(w, MG_OP_DROP_TABLE, "t", NULL, 3);
	assert_int_equal(build(w), 0);
	assert_phase(w, MG_PLAN_EXPAND, "");
	assert_phase(w, MG_PLAN_CONTRACT, "drop-table t");
	assert_phase(w, MG_PLAN_ROLLBACK, "");
	assert_int_equal(w->plan.n_lossy, 1);
	world_free(w);

	w = world_new(&serial_driver);
	op = add_op(w, MG_OP_ADD_COLUMN, "t", "c", 3);
	op->type = "int";
	add_op(w, MG_OP_DROP_TABLE, "t", NULL, 8);
	assert_refused(w, MG_EREFUSED,
		       "table 't' is changed by an earlier operation of this migration: drop_table cannot follow it in the same migration at 0001_test.yaml:10:12");
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_concurrent),
		cmocka_unit_test(test_order_serial),
		cmocka_unit_test(test_drop_index_and_constraint_rule),
		cmocka_unit_test(test_add_column_and_sql),
		cmocka_unit_test(test_refuses_key_and_unsupported),
		cmocka_unit_test(test_dependents_refused_or_dropped),
		cmocka_unit_test(test_overlay),
		cmocka_unit_test(test_overlay_entries),
		cmocka_unit_test(test_no_key),
		cmocka_unit_test(test_placeholder_not_null),
		cmocka_unit_test(test_explicit_index_drops),
		cmocka_unit_test(test_caseless_and_latest),
		cmocka_unit_test(test_alter_in_place),
		cmocka_unit_test(test_rename_table),
		cmocka_unit_test(test_drop_table),
		cmocka_unit_test(test_set_not_null),
		cmocka_unit_test(test_rule_without_not_valid),
		cmocka_unit_test(test_add_unique),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

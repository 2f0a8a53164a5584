/*
 * migration_tables.c - the nested keys of create_table (design §3):
 * `columns` (a sequence of mappings, one per column), `constraints` (a
 * sequence of one-key mappings: primary_key, unique, check, foreign_key)
 * and `comment`, walked into struct mg_table_def with the helpers of
 * migration_ops.c, so that every message names file:line:column the same
 * way.
 *
 * Like the operations, each mapping is checked against a table of its
 * keys: a key that is not there is refused with a did-you-mean, a value
 * of the wrong shape names its own position, a missing key the position
 * of the mapping that lacks it.
 */
#include "migration_int.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define N_PAIRS(n) \
	((size_t)((n)->data.mapping.pairs.top - (n)->data.mapping.pairs.start))
#define N_ITEMS(n) ((size_t)((n)->data.sequence.items.top - \
			       (n)->data.sequence.items.start))
#define SVAL(n) ((const char *)(n)->data.scalar.value)
#define AT "%s:%d:%d"
#define AT_ARGS(p, n) mg_walk_path(p), (int)(n)->start_mark.line + 1, \
		      (int)(n)->start_mark.column + 1

#define COLUMN_KEYS "name, type, nullable, default, primary_key, unique, " \
		    "check, references, comment, identity"
#define REF_KEYS "table, column, name, on_delete, on_update"
#define FK_REF_KEYS "table, columns"
#define CONSTRAINT_KINDS "primary_key, unique, check, foreign_key"
#define ACTIONS "cascade, restrict, no_action, set_null, set_default"

static struct mg_pos pos_of(const yaml_node_t *n)
{
	struct mg_pos pos = { (int)n->start_mark.line + 1,
			      (int)n->start_mark.column + 1 };

	return pos;
}

static int scalar_is(const yaml_node_t *n, const char *s)
{
	return n->type == YAML_SCALAR_NODE &&
	       n->data.scalar.length == strlen(s) && !strcmp(SVAL(n), s);
}

static struct mg_table_def *tdef_of(struct mg_op *op)
{
	if (!op->tdef)
		op->tdef = mg_xcalloc(1, sizeof(*op->tdef));
	return op->tdef;
}

/* ---- freeing ------------------------------------------------------------- */

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void ref_release(struct mg_ref *r)
{
	free(r->table);
	free_names(r->columns, r->n_columns);
	free(r->name);
	free(r->on_delete);
	free(r->on_update);
}

void mg_table_def_free(struct mg_table_def *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_columns; i++) {
		struct mg_column_def *c = &d->columns[i];

		free(c->name);
		free(c->type);
		free(c->default_expr);
		free(c->check);
		if (c->references) {
			ref_release(c->references);
			free(c->references);
		}
		free(c->comment);
		free(c->identity);
	}
	free(d->columns);
	for (size_t i = 0; i < d->n_constraints; i++) {
		free(d->constraints[i].name);
		free_names(d->constraints[i].columns, d->constraints[i].n_columns);
		free(d->constraints[i].expression);
		ref_release(&d->constraints[i].ref);
	}
	free(d->constraints);
	free(d->comment);
	free(d);
}

/* ---- values -------------------------------------------------------------- */

static int get_str(struct mg_walk *p, const char *keyname, const char *what,
		   const yaml_node_t *key, const yaml_node_t *val, char **out,
		   struct mg_pos *pos)
{
	const char *s;

	if (mg_walk_string(p, keyname, what, key, val, &s) < 0)
		return -1;
	*out = mg_xstrdup(s);
	if (pos)
		*pos = pos_of(val);
	return 0;
}

static int get_name(struct mg_walk *p, const char *keyname, const char *what,
		    const yaml_node_t *key, const yaml_node_t *val, char **out,
		    struct mg_pos *pos)
{
	const char *s;

	if (mg_walk_string(p, keyname, what, key, val, &s) < 0 ||
	    mg_walk_name(p, keyname, val, s) < 0)
		return -1;
	*out = mg_xstrdup(s);
	if (pos)
		*pos = pos_of(val);
	return 0;
}

static int get_table(struct mg_walk *p, const char *keyname,
		     const yaml_node_t *key, const yaml_node_t *val, char **out,
		     struct mg_pos *pos)
{
	const char *s;

	if (mg_walk_string(p, keyname, "a table name", key, val, &s) < 0 ||
	    mg_walk_table(p, keyname, val, s) < 0)
		return -1;
	*out = mg_xstrdup(s);
	*pos = pos_of(val);
	return 0;
}

/* A non-empty sequence of names. */
static int get_names(struct mg_walk *p, const char *keyname,
		     const yaml_node_t *key, const yaml_node_t *val,
		     char ***out, size_t *n, struct mg_pos *pos)
{
	char got[SHOW_SIZE + 2];

	if (val->type != YAML_SEQUENCE_NODE && !mg_walk_is_empty(val)) {
		mg_err_set(mg_walk_err(p), MG_EINPUT, "wrong type for '%s' at "
			   AT ": expected a sequence of column names, got %s",
			   keyname, AT_ARGS(p, val), mg_walk_describe(got, val));
		return mg_err_hint(mg_walk_err(p), "write a list, even of one: %s: [a]",
				   keyname);
	}
	if (val->type != YAML_SEQUENCE_NODE || !N_ITEMS(val))
		return mg_err_set(mg_walk_err(p), MG_EINPUT, "'%s' at " AT
				  " must be a non-empty sequence of column names",
				  keyname, AT_ARGS(p, key));
	*pos = pos_of(val);
	*n = N_ITEMS(val);
	*out = mg_xcalloc(*n, sizeof(**out));
	for (size_t i = 0; i < *n; i++) {
		yaml_node_t *item = mg_walk_node(p, val->data.sequence.items.start[i]);

		if (item->type != YAML_SCALAR_NODE)
			return mg_err_set(mg_walk_err(p), MG_EINPUT, "wrong type for "
					  "'%s' at " AT ": expected a column name, "
					  "got %s as item %zu", keyname,
					  AT_ARGS(p, item), mg_walk_describe(got, item),
					  i + 1);
		if (get_name(p, keyname, "a column name", item, item, &(*out)[i],
			     NULL) < 0)
			return -1;
	}
	return 0;
}

/* on_delete / on_update: one of ACTIONS (also in SQL words, any case),
 * stored as SQL ("SET NULL"). */
static int get_action(struct mg_walk *p, const char *keyname,
		      const yaml_node_t *key, const yaml_node_t *val, char **out,
		      struct mg_pos *pos)
{
	static const char *const words[][2] = {
		{ "cascade", "CASCADE" }, { "restrict", "RESTRICT" },
		{ "no_action", "NO ACTION" }, { "set_null", "SET NULL" },
		{ "set_default", "SET DEFAULT" },
	};
	const char *s;
	char norm[32];
	size_t k;

	if (mg_walk_string(p, keyname, "an action (" ACTIONS ")", key, val, &s) < 0)
		return -1;
	for (k = 0; s[k] && k < sizeof(norm) - 1; k++)
		norm[k] = s[k] == ' ' ? '_' : (char)tolower((unsigned char)s[k]);
	norm[k] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!s[k] && !strcmp(norm, words[i][0])) {
			*out = mg_xstrdup(words[i][1]);
			*pos = pos_of(val);
			return 0;
		}
	return mg_walk_unknown(p, "action", val, ACTIONS);
}

/* The pairs of a mapping value, or the error naming what it is instead. */
static int want_mapping(struct mg_walk *p, const char *keyname,
			const yaml_node_t *key, const yaml_node_t *val,
			const char *expected)
{
	char got[SHOW_SIZE + 2];

	if (val->type == YAML_MAPPING_NODE && N_PAIRS(val))
		return 0;
	return mg_err_set(mg_walk_err(p), MG_EINPUT, "wrong type for '%s' at "
			  AT ": expected %s, got %s", keyname,
			  AT_ARGS(p, mg_walk_is_empty(val) ? key : val), expected,
			  val->type == YAML_MAPPING_NODE ? "an empty mapping" :
			  mg_walk_describe(got, val));
}

/* Keys of a nested mapping, each checked once against `keys`. */
typedef int (*key_fn)(struct mg_walk *p, const yaml_node_t *key,
		      const yaml_node_t *val, void *out);

static int walk_mapping(struct mg_walk *p, const yaml_node_t *map,
			const char *keys, key_fn fn, void *out)
{
	for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = mg_walk_pair_key(p, pair);
		int rc;

		if (!key || mg_walk_check_duplicate(p, map, pair, key) < 0)
			return -1;
		rc = fn(p, key, mg_walk_node(p, pair->value), out);
		if (rc == 1)
			return mg_walk_unknown(p, "key", key, keys);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int missing(struct mg_walk *p, const char *keyname, const char *in,
		   const yaml_node_t *at)
{
	return mg_err_set(mg_walk_err(p), MG_EINPUT, "missing key '%s' in %s at "
			  AT, keyname, in, AT_ARGS(p, at));
}

/* ---- references ---------------------------------------------------------- */

/* A key of a column's `references:` (1: not one of its keys). */
static int ref_key(struct mg_walk *p, const yaml_node_t *key,
		   const yaml_node_t *val, void *out)
{
	struct mg_ref *r = out;

	if (scalar_is(key, "table"))
		return get_table(p, "table", key, val, &r->table, &r->table_pos);
	if (scalar_is(key, "column")) {
		r->columns = mg_xcalloc(1, sizeof(*r->columns));
		r->n_columns = 1;
		return get_name(p, "column", "a column name", key, val,
				&r->columns[0], &r->columns_pos);
	}
	if (scalar_is(key, "name"))
		return get_name(p, "name", "a constraint name", key, val,
				&r->name, NULL);
	if (scalar_is(key, "on_delete"))
		return get_action(p, "on_delete", key, val, &r->on_delete,
				  &r->on_delete_pos);
	if (scalar_is(key, "on_update"))
		return get_action(p, "on_update", key, val, &r->on_update,
				  &r->on_update_pos);
	return 1;
}

static int fk_ref_key(struct mg_walk *p, const yaml_node_t *key,
		      const yaml_node_t *val, void *out)
{
	struct mg_ref *r = out;

	if (scalar_is(key, "table"))
		return get_table(p, "table", key, val, &r->table, &r->table_pos);
	if (scalar_is(key, "columns"))
		return get_names(p, "columns", key, val, &r->columns,
				 &r->n_columns, &r->columns_pos);
	return 1;
}

static int walk_ref(struct mg_walk *p, const yaml_node_t *key,
		    const yaml_node_t *val, struct mg_ref *r, int fk)
{
	if (want_mapping(p, "references", key, val, fk ?
			 "a mapping with table and columns" :
			 "a mapping with table and column") < 0 ||
	    walk_mapping(p, val, fk ? FK_REF_KEYS : REF_KEYS,
			 fk ? fk_ref_key : ref_key, r) < 0)
		return -1;
	if (!r->table)
		return missing(p, "table", "references", val);
	if (!r->n_columns)
		return missing(p, fk ? "columns" : "column", "references", val);
	return 0;
}

/* ---- columns ------------------------------------------------------------- */

static int column_key(struct mg_walk *p, const yaml_node_t *key,
		      const yaml_node_t *val, void *out)
{
	struct mg_column_def *c = out;

	if (scalar_is(key, "name"))
		return get_name(p, "name", "a column name", key, val, &c->name,
				&c->name_pos);
	if (scalar_is(key, "type"))
		return get_str(p, "type", "a column type", key, val, &c->type,
			       &c->type_pos);
	if (scalar_is(key, "default"))
		return get_str(p, "default", "an SQL expression", key, val,
			       &c->default_expr, &c->default_pos);
	if (scalar_is(key, "check"))
		return get_str(p, "check", "an SQL expression", key, val,
			       &c->check, &c->check_pos);
	if (scalar_is(key, "comment"))
		return get_str(p, "comment", "a string", key, val, &c->comment,
			       NULL);
	if (scalar_is(key, "nullable"))
		return mg_walk_bool(p, "nullable", key, val, &c->nullable);
	if (scalar_is(key, "primary_key"))
		return mg_walk_bool(p, "primary_key", key, val, &c->primary_key);
	if (scalar_is(key, "unique"))
		return mg_walk_bool(p, "unique", key, val, &c->unique);
	if (scalar_is(key, "identity")) {
		if (get_str(p, "identity", "always or by_default", key, val,
			    &c->identity, &c->identity_pos) < 0)
			return -1;
		if (strcmp(c->identity, "always") && strcmp(c->identity, "by_default"))
			return mg_walk_unknown(p, "identity", val,
					       "always, by_default");
		return 0;
	}
	if (scalar_is(key, "references")) {
		c->references = mg_xcalloc(1, sizeof(*c->references));
		return walk_ref(p, key, val, c->references, 0);
	}
	return 1;
}

static int walk_column(struct mg_walk *p, const yaml_node_t *item, size_t i,
		       struct mg_column_def *c)
{
	char got[SHOW_SIZE + 2], in[48];

	c->pos = pos_of(item);
	c->nullable = 1;
	if (item->type != YAML_MAPPING_NODE || !N_PAIRS(item))
		return mg_err_set(mg_walk_err(p), MG_EINPUT, "wrong type for column "
				  "%zu at " AT ": expected a mapping with name and "
				  "type, got %s", i + 1, AT_ARGS(p, item),
				  item->type == YAML_MAPPING_NODE ? "an empty mapping" :
				  mg_walk_describe(got, item));
	if (walk_mapping(p, item, COLUMN_KEYS, column_key, c) < 0)
		return -1;
	snprintf(in, sizeof(in), "column %zu", i + 1);
	if (!c->name)
		return missing(p, "name", in, item);
	if (!c->type)
		return missing(p, "type", in, item);
	return 0;
}

static int walk_columns(struct mg_walk *p, const yaml_node_t *key,
			const yaml_node_t *val, struct mg_table_def *d)
{
	char got[SHOW_SIZE + 2];

	if (val->type != YAML_SEQUENCE_NODE && !mg_walk_is_empty(val))
		return mg_err_set(mg_walk_err(p), MG_EINPUT, "wrong type for "
				  "'columns' at " AT ": expected a sequence of "
				  "columns (mappings with name and type), got %s",
				  AT_ARGS(p, val), mg_walk_describe(got, val));
	if (val->type != YAML_SEQUENCE_NODE || !N_ITEMS(val)) {
		mg_err_set(mg_walk_err(p), MG_EINPUT, "'columns' at " AT " must be "
			   "a non-empty sequence of columns", AT_ARGS(p, key));
		return mg_err_hint(mg_walk_err(p), "columns: [{name: id, type: bigint, primary_key: true}]");
	}
	d->columns_pos = pos_of(key);
	d->n_columns = N_ITEMS(val);
	d->columns = mg_xcalloc(d->n_columns, sizeof(*d->columns));
	for (size_t i = 0; i < d->n_columns; i++)
		if (walk_column(p, mg_walk_node(p, val->data.sequence.items.start[i]),
				i, &d->columns[i]) < 0)
			return -1;
	return 0;
}

/* ---- table constraints --------------------------------------------------- */

static int constraint_key(struct mg_walk *p, const yaml_node_t *key,
			  const yaml_node_t *val, void *out)
{
	struct mg_table_constraint *k = out;
	int fk = k->kind == MG_TCON_FOREIGN_KEY;

	if (scalar_is(key, "name"))
		return get_name(p, "name", "a constraint name", key, val,
				&k->name, NULL);
	if (scalar_is(key, "columns") && k->kind != MG_TCON_CHECK)
		return get_names(p, "columns", key, val, &k->columns,
				 &k->n_columns, &k->columns_pos);
	if (scalar_is(key, "expression") && k->kind == MG_TCON_CHECK)
		return get_str(p, "expression", "an SQL expression", key, val,
			       &k->expression, &k->expression_pos);
	if (scalar_is(key, "references") && fk)
		return walk_ref(p, key, val, &k->ref, 1);
	if (scalar_is(key, "on_delete") && fk)
		return get_action(p, "on_delete", key, val, &k->ref.on_delete,
				  &k->ref.on_delete_pos);
	if (scalar_is(key, "on_update") && fk)
		return get_action(p, "on_update", key, val, &k->ref.on_update,
				  &k->ref.on_update_pos);
	return 1;
}

static const char *constraint_keys(enum mg_tcon_kind kind)
{
	switch (kind) {
	case MG_TCON_CHECK:
		return "expression, name";
	case MG_TCON_FOREIGN_KEY:
		return "columns, references, name, on_delete, on_update";
	case MG_TCON_PRIMARY_KEY:
	case MG_TCON_UNIQUE:
		break;
	}
	return "columns, name";
}

static int walk_constraint(struct mg_walk *p, const yaml_node_t *item, size_t i,
			   struct mg_table_constraint *k)
{
	static const char *const kinds[] = { "primary_key", "unique", "check",
					     "foreign_key" };
	char got[SHOW_SIZE + 2];
	yaml_node_t *key, *val;
	size_t n;

	if (item->type != YAML_MAPPING_NODE || N_PAIRS(item) != 1)
		return mg_err_set(mg_walk_err(p), MG_EINPUT, "wrong type for "
				  "constraint %zu at " AT ": expected a mapping "
				  "with one key, one of: " CONSTRAINT_KINDS ", got %s",
				  i + 1, AT_ARGS(p, item),
				  item->type != YAML_MAPPING_NODE ?
				  mg_walk_describe(got, item) :
				  N_PAIRS(item) ? "a mapping of several keys" :
				  "an empty mapping");
	key = mg_walk_pair_key(p, item->data.mapping.pairs.start);
	if (!key)
		return -1;
	for (n = 0; n < 4; n++)
		if (scalar_is(key, kinds[n]))
			break;
	if (n == 4)
		return mg_walk_unknown(p, "constraint", key, CONSTRAINT_KINDS);
	k->kind = (enum mg_tcon_kind)n;
	k->pos = pos_of(key);
	val = mg_walk_node(p, item->data.mapping.pairs.start[0].value);
	if (want_mapping(p, kinds[n], key, val, "a mapping of its keys") < 0 ||
	    walk_mapping(p, val, constraint_keys(k->kind), constraint_key, k) < 0)
		return -1;
	if (k->kind == MG_TCON_CHECK && !k->expression)
		return missing(p, "expression", kinds[n], key);
	if (k->kind != MG_TCON_CHECK && !k->n_columns)
		return missing(p, "columns", kinds[n], key);
	if (k->kind == MG_TCON_FOREIGN_KEY && !k->ref.table)
		return missing(p, "references", kinds[n], key);
	return 0;
}

static int walk_constraints(struct mg_walk *p, const yaml_node_t *key,
			    const yaml_node_t *val, struct mg_table_def *d)
{
	char got[SHOW_SIZE + 2];

	if (mg_walk_is_empty(val))
		return 0;
	if (val->type != YAML_SEQUENCE_NODE)
		return mg_err_set(mg_walk_err(p), MG_EINPUT, "wrong type for "
				  "'constraints' at " AT ": expected a sequence of "
				  "constraints, got %s", AT_ARGS(p, val),
				  mg_walk_describe(got, val));
	(void)key;
	d->n_constraints = N_ITEMS(val);
	d->constraints = mg_xcalloc(d->n_constraints + 1, sizeof(*d->constraints));
	for (size_t i = 0; i < d->n_constraints; i++)
		if (walk_constraint(p, mg_walk_node(p, val->data.sequence.items.start[i]),
				    i, &d->constraints[i]) < 0)
			return -1;
	return 0;
}

int mg_walk_table_key(struct mg_walk *p, const yaml_node_t *key,
		      const yaml_node_t *val, struct mg_op *op)
{
	struct mg_table_def *d = tdef_of(op);

	if (scalar_is(key, "columns"))
		return walk_columns(p, key, val, d);
	if (scalar_is(key, "constraints"))
		return walk_constraints(p, key, val, d);
	return get_str(p, "comment", "a string", key, val, &d->comment, NULL);
}

/* ---- rules that need no database ----------------------------------------- */

static const struct mg_column_def *find_column(const struct mg_table_def *d,
					       const char *name)
{
	for (size_t i = 0; i < d->n_columns; i++)
		if (!strcasecmp(d->columns[i].name, name))
			return &d->columns[i];
	return NULL;
}

static int pos_err(struct mg_walk *p, struct mg_pos pos, const char *fmt,
		   const char *a, const char *b)
{
	char what[512];

	snprintf(what, sizeof(what), fmt, a, b);
	return mg_err_set(mg_walk_err(p), MG_EINPUT, "%s at %s:%d:%d", what,
			  mg_walk_path(p), pos.line, pos.column);
}

static int check_columns(struct mg_walk *p, const struct mg_table_def *d,
			 int *n_pk)
{
	for (size_t i = 0; i < d->n_columns; i++) {
		const struct mg_column_def *c = &d->columns[i];

		for (size_t k = 0; k < i; k++)
			if (!strcasecmp(d->columns[k].name, c->name))
				return pos_err(p, c->name_pos, "duplicate column '%s' (already column %s)",
					       c->name, d->columns[k].name);
		if (c->identity && c->default_expr)
			return pos_err(p, c->default_pos, "column '%s' has both identity and a default%s",
				       c->name, "");
		*n_pk += c->primary_key;
	}
	return 0;
}

static int check_constraint_columns(struct mg_walk *p, const struct mg_table_def *d,
				    const struct mg_table_constraint *k)
{
	for (size_t i = 0; i < k->n_columns; i++)
		if (!find_column(d, k->columns[i]))
			return pos_err(p, k->columns_pos, "column '%s' of this constraint is not a column of the table%s",
				       k->columns[i], "");
	if (k->kind == MG_TCON_FOREIGN_KEY && k->ref.n_columns != k->n_columns)
		return pos_err(p, k->ref.columns_pos, "the foreign key has %s columns but references %s",
			       k->n_columns == 1 ? "1" : "several",
			       k->ref.n_columns == 1 ? "1 column" : "another number of columns");
	return 0;
}

int mg_walk_check_create_table(struct mg_walk *p, const yaml_node_t *opkey,
			       const struct mg_op *op)
{
	const struct mg_table_def *d = op->tdef;
	int n_pk = 0;

	if (!d || !d->n_columns)
		return mg_err_set(mg_walk_err(p), MG_EINPUT, "missing key 'columns' "
				  "in create_table at " AT, AT_ARGS(p, opkey));
	if (check_columns(p, d, &n_pk) < 0)
		return -1;
	for (size_t i = 0; i < d->n_constraints; i++) {
		const struct mg_table_constraint *k = &d->constraints[i];

		if (check_constraint_columns(p, d, k) < 0)
			return -1;
		n_pk += k->kind == MG_TCON_PRIMARY_KEY;
		if (n_pk > 1)
			return pos_err(p, k->pos, "a second primary key for table '%s'%s",
				       op->table, "");
	}
	if (n_pk > 1) {
		for (size_t i = 0, seen = 0; i < d->n_columns; i++)
			if (d->columns[i].primary_key && seen++)
				return pos_err(p, d->columns[i].pos, "a second primary key column '%s': write a table-level primary_key over %s",
					       d->columns[i].name, "both columns");
	}
	return 0;
}

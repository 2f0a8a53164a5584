/*
 * migration_ops.c - the walk of a migration's YAML document (design §3).
 *
 * libyaml's document API (yaml_parser_load) gives a node tree whose nodes
 * carry marks; the walk below checks it against one table per operation
 * (its keys, their types, which are required) and copies each value into
 * the struct mg_op; the tables are in migration_keys.c.
 *
 * Messages name the value's position when the value is wrong and the key's
 * position when it is missing or empty (an empty value has no text to point
 * at). libyaml marks are 0-based; every position shown or stored is 1-based.
 */
#include "migration_int.h"
#include "migration_keys.h"

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------- */

/*
 * The candidate of a ", "-separated list closest to word, if it is close
 * enough to be the likely intent ("colum" -> "column"). 1 and out set, or 0.
 */
static int closest(const char *word, const char *list, char *out, size_t size)
{
	size_t best = SIZE_MAX;

	while (*list) {
		const char *end = strstr(list, ", ");
		size_t len = end ? (size_t)(end - list) : strlen(list);
		char cand[64];
		size_t d, limit;

		if (len < sizeof(cand)) {
			memcpy(cand, list, len);
			cand[len] = '\0';
			d = mg_edit_distance(word, cand);
			limit = len <= 4 ? 1 : 2;
			if (d <= limit && d < best && len < size) {
				best = d;
				memcpy(out, cand, len + 1);
			}
		}
		list += len;
		if (*list)
			list += 2;
	}
	return best != SIZE_MAX;
}

/* ---- the YAML walk ------------------------------------------------------- */

/* struct mg_walk of migration_int.h */
#define parse mg_walk

struct parse {
	const char *path;
	yaml_document_t *doc;
	struct mg_err *err;
	size_t max_name;	/* the longest name the target takes, in bytes */
};

/* "file:line:column" of a node, for format strings. */
#define AT "%s:%d:%d"
#define AT_ARGS(p, n) (p)->path, node_line(n), node_column(n)

static int node_line(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static int node_column(const yaml_node_t *n)
{
	return (int)n->start_mark.column + 1;
}

static struct mg_pos node_pos(const yaml_node_t *n)
{
	struct mg_pos pos = { node_line(n), node_column(n) };

	return pos;
}

static yaml_node_t *node_at(struct parse *p, int i)
{
	return yaml_document_get_node(p->doc, i);
}

#define SVAL(n) ((const char *)(n)->data.scalar.value)
#define SLEN(n) ((n)->data.scalar.length)
#define N_PAIRS(n) \
	((size_t)((n)->data.mapping.pairs.top - (n)->data.mapping.pairs.start))
#define N_ITEMS(n) ((size_t)((n)->data.sequence.items.top - \
			       (n)->data.sequence.items.start))

/* Whether a scalar is exactly s (a NUL byte inside it never matches). */
static int scalar_is(const yaml_node_t *n, const char *s)
{
	return SLEN(n) == strlen(s) && !memcmp(SVAL(n), s, SLEN(n));
}

/* A scalar that says nothing: `key:`, `key: ~` or only blanks. */
static int is_empty(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE)
		return 0;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    SLEN(n) == 1 && SVAL(n)[0] == '~')
		return 1;
	for (size_t i = 0; i < SLEN(n); i++)
		if (!isspace((unsigned char)SVAL(n)[i]))
			return 0;
	return 1;
}

/* "a mapping", "a sequence", "nothing" or the quoted scalar. */
static const char *describe(char buf[SHOW_SIZE + 2], const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a sequence";
	if (is_empty(n))
		return "nothing";
	buf[0] = '\'';
	mg_migration_show(buf + 1, SVAL(n), SLEN(n));
	strcat(buf, "'");
	return buf;
}

/* The key of a pair; it must be a scalar. NULL with err set otherwise. */
static yaml_node_t *pair_key(struct parse *p, const yaml_node_pair_t *pair)
{
	yaml_node_t *key = node_at(p, pair->key);
	char got[SHOW_SIZE + 2];

	if (key->type != YAML_SCALAR_NODE) {
		mg_err_set(p->err, MG_EINPUT, "wrong type for a key at " AT
			   ": expected a string, got %s", AT_ARGS(p, key),
			   describe(got, key));
		return NULL;
	}
	return key;
}

/* Keys are compared as written; a key may appear once per mapping. */
static int check_duplicate(struct parse *p, const yaml_node_t *map,
			   const yaml_node_pair_t *pair, const yaml_node_t *key)
{
	char shown[SHOW_SIZE];

	for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair;
	     q++) {
		yaml_node_t *k = node_at(p, q->key);

		if (k->type == YAML_SCALAR_NODE && SLEN(k) == SLEN(key) &&
		    !memcmp(SVAL(k), SVAL(key), SLEN(key)))
			return mg_err_set(p->err, MG_EINPUT,
					  "duplicate key '%s' at " AT
					  " (already at line %d)",
					  mg_migration_show(shown, SVAL(key), SLEN(key)),
					  AT_ARGS(p, key), node_line(k));
	}
	return 0;
}

static int unknown(struct parse *p, const char *what, const yaml_node_t *key,
		   const char *expected)
{
	char shown[SHOW_SIZE], best[64];

	mg_err_set(p->err, MG_EINPUT, "unknown %s '%s' at " AT
		   " (expected one of: %s)", what,
		   mg_migration_show(shown, SVAL(key), SLEN(key)), AT_ARGS(p, key),
		   expected);
	if (SLEN(key) == strlen(SVAL(key)) &&
	    closest(SVAL(key), expected, best, sizeof(best)))
		mg_err_hint(p->err, "did you mean '%s'?", best);
	return -1;
}

/*
 * The text of a scalar value. Mappings and sequences are the wrong type; an
 * empty value is named as such (at the key: it has no text of its own).
 * On success *out points into the document.
 */
static int get_string(struct parse *p, const char *keyname, const char *what,
		      const yaml_node_t *key, const yaml_node_t *val,
		      const char **out)
{
	char got[SHOW_SIZE + 2];

	if (val->type != YAML_SCALAR_NODE)
		return mg_err_set(p->err, MG_EINPUT, "wrong type for '%s' at "
				  AT ": expected a string, got %s", keyname,
				  AT_ARGS(p, val), describe(got, val));
	if (is_empty(val))
		return mg_err_set(p->err, MG_EINPUT, "empty value for '%s' at "
				  AT ": expected %s", keyname,
				  AT_ARGS(p, key), what);
	if (strlen(SVAL(val)) != SLEN(val))
		return mg_err_set(p->err, MG_EINPUT, "wrong type for '%s' at "
				  AT ": expected a string without NUL bytes",
				  keyname, AT_ARGS(p, val));
	*out = SVAL(val);
	return 0;
}

static int check_name(struct parse *p, const char *keyname,
		      const yaml_node_t *val, const char *s, size_t len)
{
	char shown[SHOW_SIZE];

	if (len > p->max_name)
		return mg_err_set(p->err, MG_EINPUT, "name too long for '%s' "
				  "at " AT ": '%s' is %zu bytes, at most %zu",
				  keyname, AT_ARGS(p, val),
				  mg_migration_show(shown, s, len), len, p->max_name);
	return 0;
}

static int check_table(struct parse *p, const char *keyname,
		       const yaml_node_t *val, const char *s)
{
	const char *dot = strchr(s, '.');
	char shown[SHOW_SIZE];

	if (!dot)
		return check_name(p, keyname, val, s, strlen(s));
	if (dot == s || !dot[1] || strchr(dot + 1, '.'))
		return mg_err_set(p->err, MG_EINPUT, "bad table name '%s' at "
				  AT ": expected table or schema.table",
				  mg_migration_show(shown, s, strlen(s)), AT_ARGS(p, val));
	if (check_name(p, keyname, val, s, (size_t)(dot - s)) < 0 ||
	    check_name(p, keyname, val, dot + 1, strlen(dot + 1)) < 0)
		return -1;
	return 0;
}

static int is_word(const yaml_node_t *n, const char *const *words)
{
	for (; *words; words++)
		if (scalar_is(n, *words))
			return 1;
	return 0;
}

/* YAML 1.2 core booleans only: yes/no/on/off are too easy to misread. */
static int get_bool(struct parse *p, const char *keyname,
		    const yaml_node_t *key, const yaml_node_t *val, int *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", NULL };
	static const char *const no[] = { "false", "False", "FALSE", NULL };
	char got[SHOW_SIZE + 2];

	if (val->type == YAML_SCALAR_NODE && !is_empty(val)) {
		int plain = val->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;

		if (plain && is_word(val, yes)) {
			*out = 1;
			return 0;
		}
		if (plain && is_word(val, no)) {
			*out = 0;
			return 0;
		}
		if (is_word(val, yes) || is_word(val, no)) {
			mg_err_set(p->err, MG_EINPUT, "wrong type for '%s' at "
				   AT ": expected true or false, got the "
				   "quoted string %s", keyname,
				   AT_ARGS(p, val), describe(got, val));
			return mg_err_hint(p->err, "drop the quotes: %s: %s",
					   keyname, SVAL(val));
		}
	}
	return mg_err_set(p->err, MG_EINPUT, "wrong type for '%s' at " AT
			  ": expected true or false, got %s", keyname,
			  AT_ARGS(p, is_empty(val) ? key : val),
			  describe(got, val));
}

static int get_names(struct parse *p, const struct field *f,
		     const yaml_node_t *key, const yaml_node_t *val,
		     struct mg_op *op)
{
	char ***items = (char ***)((char *)op + f->off);
	size_t *n = (size_t *)((char *)op + f->n_off);
	char got[SHOW_SIZE + 2];
	size_t count;

	if (val->type != YAML_SEQUENCE_NODE && !is_empty(val)) {
		mg_err_set(p->err, MG_EINPUT, "wrong type for '%s' at " AT
			   ": expected a sequence of strings, got %s", f->key,
			   AT_ARGS(p, val), describe(got, val));
		if (val->type == YAML_SCALAR_NODE)
			mg_err_hint(p->err, "write a list, even of one: "
				    "%s: [%s]", f->key,
				    mg_migration_show(got, SVAL(val), SLEN(val)));
		return -1;
	}
	count = val->type == YAML_SEQUENCE_NODE ? N_ITEMS(val) : 0;
	if (!count && f->required)
		return mg_err_set(p->err, MG_EINPUT, "'%s' at " AT " must be "
				  "a non-empty sequence of strings", f->key,
				  AT_ARGS(p, key));
	if (!count)
		return 0;
	*items = mg_xcalloc(count, sizeof(**items));
	*n = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item;
		const char *s;

		item = node_at(p, val->data.sequence.items.start[i]);
		if (item->type != YAML_SCALAR_NODE)
			return mg_err_set(p->err, MG_EINPUT, "wrong type for "
					  "'%s' at " AT ": expected a sequence "
					  "of strings, got %s as item %zu",
					  f->key, AT_ARGS(p, item),
					  describe(got, item), i + 1);
		if (get_string(p, f->key, "a name", item, item, &s) < 0 ||
		    check_name(p, f->key, item, s, strlen(s)) < 0)
			return -1;
		(*items)[i] = mg_xstrdup(s);
	}
	return 0;
}

/* ---- create_index: columns with options, storage parameters ------------- */

#define INDEX_COL_KEYS "name, opclass, collate, order, nulls"

/* One word of a closed set (order: asc|desc, nulls: first|last): 1 + its
 * index in words, written in lowercase. */
static int get_choice(struct parse *p, const char *keyname,
		      const yaml_node_t *key, const yaml_node_t *val,
		      const char *const *words, const char *expected, int *out)
{
	char got[SHOW_SIZE + 2];

	for (int i = 0; val->type == YAML_SCALAR_NODE && words[i]; i++)
		if (scalar_is(val, words[i])) {
			*out = i + 1;
			return 0;
		}
	return mg_err_set(p->err, MG_EINPUT, "wrong value for '%s' at " AT
			  ": expected %s, got %s", keyname,
			  AT_ARGS(p, is_empty(val) ? key : val), expected,
			  describe(got, val));
}

/* A name-like string option of a column entry (opclass, collate). */
static int get_col_name(struct parse *p, const char *keyname,
			const yaml_node_t *key, const yaml_node_t *val,
			char **out, struct mg_pos *pos)
{
	const char *s;

	if (get_string(p, keyname, "a name", key, val, &s) < 0 ||
	    check_name(p, keyname, val, s, strlen(s)) < 0)
		return -1;
	*out = mg_xstrdup(s);
	*pos = node_pos(val);
	return 0;
}

static int get_index_col_key(struct parse *p, const yaml_node_t *key,
			     const yaml_node_t *val, char **name,
			     struct mg_index_col *c)
{
	static const char *const orders[] = { "asc", "desc", NULL };
	static const char *const nulls[] = { "first", "last", NULL };
	const char *s;
	int v = 0;

	if (scalar_is(key, "name")) {
		if (get_string(p, "name", "a column name", key, val, &s) < 0 ||
		    check_name(p, "name", val, s, strlen(s)) < 0)
			return -1;
		*name = mg_xstrdup(s);
		return 0;
	}
	if (scalar_is(key, "opclass"))
		return get_col_name(p, "opclass", key, val, &c->opclass,
				    &c->opclass_pos);
	if (scalar_is(key, "collate"))
		return get_col_name(p, "collate", key, val, &c->collate,
				    &c->collate_pos);
	if (scalar_is(key, "order")) {
		c->order_pos = node_pos(val);
		if (get_choice(p, "order", key, val, orders, "asc or desc", &v) < 0)
			return -1;
		c->order = v == 1 ? MG_ORDER_ASC : MG_ORDER_DESC;
		return 0;
	}
	if (scalar_is(key, "nulls")) {
		c->nulls_pos = node_pos(val);
		if (get_choice(p, "nulls", key, val, nulls, "first or last", &v) < 0)
			return -1;
		c->nulls = v == 1 ? MG_NULLS_FIRST : MG_NULLS_LAST;
		return 0;
	}
	return unknown(p, "key", key, INDEX_COL_KEYS);
}

/* A `columns` entry written as a mapping: {name, opclass?, collate?,
 * order?, nulls?}. */
static int get_index_col_map(struct parse *p, const yaml_node_t *item,
			     char **name, struct mg_index_col *c)
{
	for (yaml_node_pair_t *pair = item->data.mapping.pairs.start;
	     pair < item->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = pair_key(p, pair);

		if (!key || check_duplicate(p, item, pair, key) < 0 ||
		    get_index_col_key(p, key, node_at(p, pair->value), name, c) < 0)
			return -1;
	}
	if (!*name) {
		mg_err_set(p->err, MG_EINPUT, "missing key 'name' in a column "
			   "of 'columns' at " AT, AT_ARGS(p, item));
		return mg_err_hint(p->err, "a column entry is a name, or a "
				   "mapping with keys " INDEX_COL_KEYS);
	}
	return 0;
}

/* create_index `columns`: each entry a name, or a mapping with options. */
static int get_index_columns(struct parse *p, const struct field *f,
			     const yaml_node_t *key, const yaml_node_t *val,
			     struct mg_op *op)
{
	char got[SHOW_SIZE + 2];
	size_t count;

	if (val->type != YAML_SEQUENCE_NODE)
		return get_names(p, f, key, val, op);	/* its messages */
	count = N_ITEMS(val);
	if (!count)
		return get_names(p, f, key, val, op);
	op->columns = mg_xcalloc(count, sizeof(*op->columns));
	op->column_opts = mg_xcalloc(count, sizeof(*op->column_opts));
	op->n_columns = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = node_at(p, val->data.sequence.items.start[i]);
		const char *s;

		op->column_opts[i].pos = node_pos(item);
		if (item->type == YAML_MAPPING_NODE) {
			if (get_index_col_map(p, item, &op->columns[i],
					      &op->column_opts[i]) < 0)
				return -1;
			continue;
		}
		if (item->type != YAML_SCALAR_NODE)
			return mg_err_set(p->err, MG_EINPUT, "wrong type for "
					  "'%s' at " AT ": expected a column name "
					  "or a mapping {" INDEX_COL_KEYS "}, got "
					  "%s as item %zu", f->key, AT_ARGS(p, item),
					  describe(got, item), i + 1);
		if (get_string(p, f->key, "a name", item, item, &s) < 0 ||
		    check_name(p, f->key, item, s, strlen(s)) < 0)
			return -1;
		op->columns[i] = mg_xstrdup(s);
	}
	return 0;
}

/* A storage parameter's name: lowercase letters, digits and '_' (the
 * database checks it is one of its own; here only that it is a word). */
static int is_param_name(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) ||
		      *s == '_'))
			return 0;
	return 1;
}

static int get_params(struct parse *p, const struct field *f,
		      const yaml_node_t *key, const yaml_node_t *val,
		      struct mg_op *op)
{
	struct mg_param **items = (struct mg_param **)((char *)op + f->off);
	size_t *n = (size_t *)((char *)op + f->n_off);
	char got[SHOW_SIZE + 2], shown[SHOW_SIZE];

	if (val->type != YAML_MAPPING_NODE || !N_PAIRS(val))
		return mg_err_set(p->err, MG_EINPUT, "wrong type for '%s' at "
				  AT ": expected %s, e.g. {fillfactor: 70}, "
				  "got %s", f->key,
				  AT_ARGS(p, is_empty(val) ? key : val), f->what,
				  val->type == YAML_MAPPING_NODE ?
				  "an empty mapping" : describe(got, val));
	*items = mg_xcalloc(N_PAIRS(val), sizeof(**items));
	for (yaml_node_pair_t *pair = val->data.mapping.pairs.start;
	     pair < val->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = pair_key(p, pair), *v;
		struct mg_param *prm = &(*items)[*n];
		const char *s;

		if (!k || check_duplicate(p, val, pair, k) < 0)
			return -1;
		if (!is_param_name(SVAL(k)) || strlen(SVAL(k)) != SLEN(k))
			return mg_err_set(p->err, MG_EINPUT, "bad storage "
					  "parameter name '%s' at " AT ": expected "
					  "a lowercase word such as fillfactor",
					  mg_migration_show(shown, SVAL(k), SLEN(k)),
					  AT_ARGS(p, k));
		v = node_at(p, pair->value);
		if (get_string(p, SVAL(k), "a value", k, v, &s) < 0)
			return -1;
		prm->key = mg_xstrdup(SVAL(k));
		prm->value = mg_xstrdup(s);
		prm->pos = node_pos(k);
		prm->value_pos = node_pos(v);
		(*n)++;
	}
	return 0;
}

static int parse_fields(struct parse *p, const char *owner,
			const yaml_node_t *owner_key, const yaml_node_t *map,
			const struct field *fields, size_t n_fields,
			struct mg_op *op);

/* F_MAP: a mapping of the field's own keys (references: {table, ...}). */
static int get_map(struct parse *p, const struct field *f,
		   const yaml_node_t *key, const yaml_node_t *val,
		   struct mg_op *op)
{
	char got[SHOW_SIZE + 2];

	if (val->type != YAML_MAPPING_NODE)
		return mg_err_set(p->err, MG_EINPUT, "wrong type for '%s' at "
				  AT ": expected %s, got %s", f->key,
				  AT_ARGS(p, is_empty(val) ? key : val), f->what,
				  describe(got, val));
	return parse_fields(p, f->key, key, val, mg_submaps[f->off].fields,
			    mg_submaps[f->off].n, op);
}

static int set_field(struct parse *p, const struct field *f,
		     const yaml_node_t *key, const yaml_node_t *val,
		     struct mg_op *op)
{
	char *base = (char *)op;
	const char *s;

	if (f->pos_off != NO_POS)
		*(struct mg_pos *)(base + f->pos_off) = node_pos(val);

	switch (f->type) {
	case F_BOOL:
		return get_bool(p, f->key, key, val, (int *)(base + f->off));
	case F_NAMES:
		return get_names(p, f, key, val, op);
	case F_INDEX_COLUMNS:
		return get_index_columns(p, f, key, val, op);
	case F_PARAMS:
		return get_params(p, f, key, val, op);
	case F_TABLEDEF:
		return mg_walk_table_key(p, key, val, op);
	case F_MAP:
		return get_map(p, f, key, val, op);
	case F_STR:
	case F_NAME:
	case F_TABLE:
		if (get_string(p, f->key, f->what, key, val, &s) < 0)
			return -1;
		if (f->type == F_NAME &&
		    check_name(p, f->key, val, s, strlen(s)) < 0)
			return -1;
		if (f->type == F_TABLE && check_table(p, f->key, val, s) < 0)
			return -1;
		*(char **)(base + f->off) = mg_xstrdup(s);
		return 0;
	}
	return 0;
}

/* The keys of a mapping (only the required ones), ", "-separated. */
static char *field_list(const struct field *fields, size_t n, int required_only)
{
	struct mg_buf b = MG_BUF_INIT;

	for (size_t i = 0; i < n; i++)
		if (!required_only || fields[i].required)
			mg_buf_addf(&b, "%s%s", b.len ? ", " : "",
				    fields[i].key);
	return mg_buf_detach(&b);
}

/* set_replica_identity: one of four words; `index` with index only. */
static int check_identity(struct parse *p, const struct mg_op *op)
{
	static const char *const words[] = { "default", "full", "nothing", "index" };
	char shown[SHOW_SIZE];
	int known = 0;

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		known |= !strcmp(op->identity, words[i]);
	if (!known)
		return mg_err_set(p->err, MG_EINPUT, "wrong value for 'identity' "
				  "at %s:%d:%d: expected one of: default, full, "
				  "nothing, index, got '%s'", p->path,
				  op->identity_pos.line, op->identity_pos.column,
				  mg_migration_show(shown, op->identity,
						    strlen(op->identity)));
	if (!strcmp(op->identity, "index") && !op->index_name) {
		mg_err_set(p->err, MG_EINPUT, "'identity: index' at %s:%d:%d "
			   "needs 'index' (the unique index to use)", p->path,
			   op->identity_pos.line, op->identity_pos.column);
		return mg_err_hint(p->err, "add 'index: <name>' naming a unique "
				   "index over NOT NULL columns of the table");
	}
	if (strcmp(op->identity, "index") && op->index_name)
		return mg_err_set(p->err, MG_EINPUT, "'index' at %s:%d:%d is "
				  "only for 'identity: index' (got '%s')",
				  p->path, op->index_pos.line,
				  op->index_pos.column, op->identity);
	return 0;
}

/* create_index's rules that need no database: a constraint is over a
 * unique index; a column is a key column or an included one, once. */
static int check_create_index(struct parse *p, const struct mg_op *op)
{
	char shown[SHOW_SIZE];

	if (op->constraint && !op->unique) {
		mg_err_set(p->err, MG_EINPUT, "'constraint: true' at %s:%d:%d "
			   "needs 'unique: true': the constraint made from the "
			   "index is a UNIQUE constraint", p->path,
			   op->constraint_pos.line, op->constraint_pos.column);
		return mg_err_hint(p->err, "add 'unique: true', or remove 'constraint'");
	}
	for (size_t i = 0; i < op->n_include; i++)
		for (size_t k = 0; k < op->n_columns; k++)
			if (!strcmp(op->include[i], op->columns[k]))
				return mg_err_set(p->err, MG_EINPUT, "column '%s' "
						  "of 'include' at %s:%d:%d is "
						  "already a key column of the index",
						  mg_migration_show(shown, op->include[i],
								    strlen(op->include[i])),
						  p->path, op->include_pos.line,
						  op->include_pos.column);
	return 0;
}

/* alter_column: with `to`, up and down are required; without it (a type
 * change in place) down has no use: both versions of the application
 * write the column itself until contract. */
static int check_alter(struct parse *p, const yaml_node_t *opkey,
		       const struct mg_op *op)
{
	const char *missing = !op->up ? "up" : !op->down ? "down" : NULL;

	if (op->to && missing) {
		mg_err_set(p->err, MG_EINPUT, "missing key '%s' in alter_column "
			   "at " AT, missing, AT_ARGS(p, opkey));
		return mg_err_hint(p->err, "alter_column with 'to' requires: "
				   "table, column, to, type, up, down");
	}
	if (!op->to && op->down) {
		mg_err_set(p->err, MG_EINPUT, "'down' at %s:%d:%d has no use in "
			   "alter_column without 'to'", p->path,
			   op->down_pos.line, op->down_pos.column);
		return mg_err_hint(p->err, "without 'to' the column keeps its "
				   "name and both versions of the application "
				   "write it until contract: remove 'down', or "
				   "give 'to' to change the type into a new column");
	}
	return 0;
}

/*
 * The keys of one mapping (an operation's, or an F_MAP's) into op: each
 * known, once, of its type; the required ones present. owner names the
 * mapping in messages, at owner_key.
 */
static int parse_fields(struct parse *p, const char *owner,
			const yaml_node_t *owner_key, const yaml_node_t *map,
			const struct field *fields, size_t n_fields,
			struct mg_op *op)
{
	unsigned seen = 0;

	for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = pair_key(p, pair);
		size_t i;

		if (!key || check_duplicate(p, map, pair, key) < 0)
			return -1;
		for (i = 0; i < n_fields; i++)
			if (scalar_is(key, fields[i].key))
				break;
		if (i == n_fields) {
			char *list = field_list(fields, n_fields, 0);

			unknown(p, "key", key, list);
			free(list);
			return -1;
		}
		if (set_field(p, &fields[i], key, node_at(p, pair->value),
			      op) < 0)
			return -1;
		seen |= 1u << i;
	}

	for (size_t i = 0; i < n_fields; i++)
		if (fields[i].required && !(seen & (1u << i))) {
			char *list = field_list(fields, n_fields, 1);

			mg_err_set(p->err, MG_EINPUT, "missing key '%s' in %s "
				   "at " AT, fields[i].key, owner,
				   AT_ARGS(p, owner_key));
			mg_err_hint(p->err, "%s requires: %s", owner, list);
			free(list);
			return -1;
		}
	return 0;
}

#define FK_ACTIONS "cascade, restrict, no action, set null, set default"

/*
 * on_delete / on_update: one of FK_ACTIONS, written in any case, with a
 * space or an underscore ("set_null"); stored as the SQL words ("SET
 * NULL"), the only text of the file that reaches the DDL unquoted.
 */
static int check_action(struct parse *p, const char *keyname, char **val,
			struct mg_pos pos)
{
	static const char *const sql[] = { "CASCADE", "RESTRICT", "NO ACTION",
					   "SET NULL", "SET DEFAULT" };
	char norm[16], shown[SHOW_SIZE];
	size_t n = strlen(*val);

	for (size_t i = 0; i < n && n < sizeof(norm); i++)
		norm[i] = (*val)[i] == '_' ? ' ' : (char)toupper((unsigned char)(*val)[i]);
	if (n < sizeof(norm)) {
		norm[n] = '\0';
		for (size_t i = 0; i < ARRAY_SIZE(sql); i++)
			if (!strcmp(norm, sql[i])) {
				free(*val);
				*val = mg_xstrdup(sql[i]);
				return 0;
			}
	}
	return mg_err_set(p->err, MG_EINPUT, "unknown action '%s' for '%s' at "
			  "%s:%d:%d (expected one of: " FK_ACTIONS ")",
			  mg_migration_show(shown, *val, n), keyname, p->path,
			  pos.line, pos.column);
}

/* add_foreign_key: as many referenced columns as columns; known actions. */
static int check_foreign_key(struct parse *p, struct mg_op *op)
{
	if (op->n_ref_columns != op->n_columns)
		return mg_err_set(p->err, MG_EINPUT, "'columns' of 'references' "
				  "at %s:%d:%d lists %zu column(s), but "
				  "'columns' lists %zu", p->path,
				  op->ref_columns_pos.line,
				  op->ref_columns_pos.column,
				  op->n_ref_columns, op->n_columns);
	if ((op->on_delete && check_action(p, "on_delete", &op->on_delete,
					   op->on_delete_pos) < 0) ||
	    (op->on_update && check_action(p, "on_update", &op->on_update,
					   op->on_update_pos) < 0))
		return -1;
	return 0;
}

/* The rules of one operation that need no database. */
static int check_op(struct parse *p, const yaml_node_t *opkey,
		    struct mg_op *op)
{
	char shown[SHOW_SIZE], shown2[SHOW_SIZE];
	size_t i;

	switch (op->kind) {
	case MG_OP_ADD_COLUMN:
		if (!op->nullable && !op->default_expr && !op->backfill) {
			mg_err_set(p->err, MG_EINPUT, "add_column '%s.%s' at "
				   AT " is not nullable but has neither "
				   "'default' nor 'backfill'",
				   mg_migration_show(shown, op->table, strlen(op->table)),
				   mg_migration_show(shown2, op->column, strlen(op->column)),
				   AT_ARGS(p, opkey));
			return mg_err_hint(p->err, "add a default or a "
					   "backfill expression so that "
					   "existing rows get a value");
		}
		break;
	case MG_OP_RENAME_COLUMN:
	case MG_OP_ALTER_COLUMN:
		if (op->kind == MG_OP_ALTER_COLUMN && check_alter(p, opkey, op) < 0)
			return -1;
		if (!op->to || strcmp(op->column, op->to))
			break;
		mg_err_set(p->err, MG_EINPUT, "'to' at %s:%d:%d must differ "
			   "from '%s' ('%s')", p->path, op->to_pos.line,
			   op->to_pos.column,
			   op->kind == MG_OP_RENAME_COLUMN ? "from" : "column",
			   mg_migration_show(shown, op->column, strlen(op->column)));
		if (op->kind == MG_OP_ALTER_COLUMN)
			mg_err_hint(p->err, "a type change adds a new column "
				    "beside the old one: give it its own "
				    "name, e.g. '%s_new'", shown);
		return -1;
	case MG_OP_SQL:
		for (i = 0; i < MG_SQL_NPHASES; i++)
			if (op->sql[i])
				break;
		if (i == MG_SQL_NPHASES)
			return mg_err_set(p->err, MG_EINPUT, "sql at " AT
					  " has no SQL (expected at least one "
					  "of: " SQL_PHASES ")",
					  AT_ARGS(p, opkey));
		break;
	case MG_OP_SET_REPLICA_IDENTITY:
		return check_identity(p, op);
	case MG_OP_RENAME_CONSTRAINT:
		if (strcmp(op->constraint_name, op->to))
			break;
		return mg_err_set(p->err, MG_EINPUT, "'to' at %s:%d:%d must "
				  "differ from 'from' ('%s')", p->path,
				  op->to_pos.line, op->to_pos.column,
				  mg_migration_show(shown, op->to, strlen(op->to)));
	case MG_OP_CREATE_TABLE:
		return mg_walk_check_create_table(p, opkey, op);
	case MG_OP_RENAME_TABLE:
		if (strchr(op->to, '.'))
			return mg_err_set(p->err, MG_EINPUT, "'to' at %s:%d:%d "
					  "must be a table name without a schema "
					  "(the table stays in its schema)",
					  p->path, op->to_pos.line,
					  op->to_pos.column);
		break;
	case MG_OP_CREATE_INDEX:
		return check_create_index(p, op);
	case MG_OP_DROP_COLUMN:
	case MG_OP_DROP_INDEX:
	case MG_OP_DROP_TABLE:
		break;
	case MG_OP_ADD_FOREIGN_KEY:
		return check_foreign_key(p, op);
	case MG_OP_SET_NOT_NULL:
	case MG_OP_ADD_CHECK:
	case MG_OP_ADD_UNIQUE:
	default:
		break;
	}
	return 0;
}

static int parse_op(struct parse *p, const yaml_node_t *item, struct mg_op *op)
{
	const struct opdef *d = NULL;
	yaml_node_t *opkey, *val, *other;
	char got[SHOW_SIZE + 2], shown[SHOW_SIZE];

	if (item->type != YAML_MAPPING_NODE || !N_PAIRS(item))
		return mg_err_set(p->err, MG_EINPUT, "wrong type for an "
				  "operation at " AT ": expected a mapping "
				  "with one key, one of: " OP_NAMES ", got %s",
				  AT_ARGS(p, item),
				  item->type == YAML_MAPPING_NODE ?
				  "an empty mapping" : describe(got, item));
	opkey = pair_key(p, item->data.mapping.pairs.start);
	if (!opkey)
		return -1;
	for (size_t i = 0; i < mg_n_opdefs; i++)
		if (scalar_is(opkey, mg_opdefs[i].name))
			d = &mg_opdefs[i];
	if (!d)
		return unknown(p, "operation", opkey, OP_NAMES);
	op->kind = d->kind;
	op->pos = node_pos(opkey);

	if (N_PAIRS(item) > 1) {
		other = node_at(p, item->data.mapping.pairs.start[1].key);
		mg_err_set(p->err, MG_EINPUT, "operation '%s' at " AT " has "
			   "more than one key ('%s' at line %d): expected "
			   "exactly one", d->name, AT_ARGS(p, opkey),
			   other->type == YAML_SCALAR_NODE ?
			   mg_migration_show(shown, SVAL(other), SLEN(other)) : "?",
			   node_line(other));
		return mg_err_hint(p->err, "indent the keys of '%s' below it, "
				   "or start the next operation with '- '",
				   d->name);
	}

	val = node_at(p, item->data.mapping.pairs.start[0].value);
	if (val->type != YAML_MAPPING_NODE) {
		const yaml_node_t *at = is_empty(val) ? opkey : val;

		return mg_err_set(p->err, MG_EINPUT, "wrong type for '%s' at "
				  AT ": expected a mapping of its keys, got %s",
				  d->name, AT_ARGS(p, at), describe(got, val));
	}

	if (parse_fields(p, d->name, opkey, val, d->fields, d->n_fields,
			 op) < 0)
		return -1;
	return check_op(p, opkey, op);
}

#define OPS_HINT "a migration lists its steps under 'operations:', " \
		 "each starting with '- ', e.g. '- add_column:'"

static int parse_root(struct parse *p, struct mg_migration *m)
{
	yaml_node_t *root = yaml_document_get_root_node(p->doc);
	yaml_node_t *ops = NULL, *ops_key = NULL;
	char got[SHOW_SIZE + 2];
	const char *s;

	if (!root || is_empty(root)) {
		mg_err_set(p->err, MG_EINPUT, "empty file '%s': expected a "
			   "mapping with 'operations'", p->path);
		return mg_err_hint(p->err, OPS_HINT);
	}
	if (root->type != YAML_MAPPING_NODE)
		return mg_err_set(p->err, MG_EINPUT, "wrong type at " AT
				  ": expected a mapping with keys " TOP_KEYS
				  ", got %s", AT_ARGS(p, root),
				  describe(got, root));

	for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = pair_key(p, pair);
		yaml_node_t *val = node_at(p, pair->value);

		if (!key || check_duplicate(p, root, pair, key) < 0)
			return -1;
		if (scalar_is(key, "operations")) {
			ops = val;
			ops_key = key;
		} else if (scalar_is(key, "description")) {
			if (val->type == YAML_SCALAR_NODE && is_empty(val))
				continue;
			if (get_string(p, "description", "a string", key, val,
				       &s) < 0)
				return -1;
			m->description = mg_xstrdup(s);
		} else {
			return unknown(p, "key", key, TOP_KEYS);
		}
	}

	if (!ops) {
		mg_err_set(p->err, MG_EINPUT, "missing key 'operations' at "
			   AT, AT_ARGS(p, root));
		return mg_err_hint(p->err, OPS_HINT);
	}
	if (ops->type != YAML_SEQUENCE_NODE && !is_empty(ops))
		return mg_err_set(p->err, MG_EINPUT, "wrong type for "
				  "'operations' at " AT ": expected a "
				  "non-empty sequence, got %s",
				  AT_ARGS(p, ops), describe(got, ops));
	if (ops->type != YAML_SEQUENCE_NODE || !N_ITEMS(ops)) {
		mg_err_set(p->err, MG_EINPUT, "'operations' at " AT " must be "
			   "a non-empty sequence", AT_ARGS(p, ops_key));
		return mg_err_hint(p->err, OPS_HINT);
	}

	/* All zeroed first, so a failure part-way frees what was copied. */
	m->n_ops = N_ITEMS(ops);
	m->ops = mg_xcalloc(m->n_ops, sizeof(*m->ops));
	for (size_t i = 0; i < m->n_ops; i++) {
		m->ops[i].nullable = 1;
		m->ops[i].in_transaction = 1;
	}
	for (size_t i = 0; i < m->n_ops; i++)
		if (parse_op(p, node_at(p, ops->data.sequence.items.start[i]),
			     &m->ops[i]) < 0)
			return -1;
	return 0;
}

int mg_migration_walk(struct mg_migration *m, yaml_document_t *doc,
		      const char *path, size_t max_name, struct mg_err *err)
{
	struct parse p = { path, doc, err, max_name };

	return parse_root(&p, m);
}

/* ---- the helpers migration_tables.c shares ------------------------------- */

const char *mg_walk_path(const struct mg_walk *p)
{
	return p->path;
}

struct mg_err *mg_walk_err(struct mg_walk *p)
{
	return p->err;
}

yaml_node_t *mg_walk_node(struct mg_walk *p, int i)
{
	return node_at(p, i);
}

yaml_node_t *mg_walk_pair_key(struct mg_walk *p, const yaml_node_pair_t *pair)
{
	return pair_key(p, pair);
}

int mg_walk_check_duplicate(struct mg_walk *p, const yaml_node_t *map,
			    const yaml_node_pair_t *pair, const yaml_node_t *key)
{
	return check_duplicate(p, map, pair, key);
}

int mg_walk_unknown(struct mg_walk *p, const char *what, const yaml_node_t *key,
		    const char *expected)
{
	return unknown(p, what, key, expected);
}

int mg_walk_string(struct mg_walk *p, const char *keyname, const char *what,
		   const yaml_node_t *key, const yaml_node_t *val, const char **out)
{
	return get_string(p, keyname, what, key, val, out);
}

int mg_walk_name(struct mg_walk *p, const char *keyname, const yaml_node_t *val,
		 const char *s)
{
	return check_name(p, keyname, val, s, strlen(s));
}

int mg_walk_table(struct mg_walk *p, const char *keyname, const yaml_node_t *val,
		  const char *s)
{
	return check_table(p, keyname, val, s);
}

int mg_walk_bool(struct mg_walk *p, const char *keyname, const yaml_node_t *key,
		 const yaml_node_t *val, int *out)
{
	return get_bool(p, keyname, key, val, out);
}

int mg_walk_is_empty(const yaml_node_t *n)
{
	return is_empty(n);
}

const char *mg_walk_describe(char buf[SHOW_SIZE + 2], const yaml_node_t *n)
{
	return describe(buf, n);
}

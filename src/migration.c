/*
 * migration.c - loading migration files (design §3).
 *
 * A file is read into memory once: the same bytes are hashed and parsed, so
 * the checksum always describes what was loaded. libyaml's document API
 * (yaml_parser_load) gives a node tree whose nodes carry marks; the walk
 * below checks it against one table per operation (its keys, their types,
 * which are required) and copies each value into the struct mg_op, so adding
 * an operation is a table and a line in `opdefs`.
 *
 * Messages name the value's position when the value is wrong and the key's
 * position when it is missing or empty (an empty value has no text to point
 * at). libyaml marks are 0-based; every position shown or stored is 1-based.
 */
#include "migration.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* PostgreSQL's NAMEDATALEN - 1; MySQL allows 64 characters. */
#define MAX_NAME 63

/* User text quoted in a message is cut to this many bytes. */
#define SHOW_MAX 48
#define SHOW_SIZE (SHOW_MAX + 4)

static const char *const kind_names[] = {
	[MG_OP_ADD_COLUMN] = "add_column",
	[MG_OP_RENAME_COLUMN] = "rename_column",
	[MG_OP_ALTER_COLUMN] = "alter_column",
	[MG_OP_DROP_COLUMN] = "drop_column",
	[MG_OP_CREATE_INDEX] = "create_index",
	[MG_OP_SQL] = "sql",
};

static const char *const phase_names[] = {
	[MG_SQL_EXPAND] = "expand",
	[MG_SQL_BACKFILL] = "backfill",
	[MG_SQL_SWITCH_READS] = "switch_reads",
	[MG_SQL_CONTRACT] = "contract",
	[MG_SQL_ROLLBACK] = "rollback",
};

const char *mg_op_kind_name(enum mg_op_kind kind)
{
	if ((size_t)kind >= ARRAY_SIZE(kind_names))
		return "unknown";
	return kind_names[kind];
}

const char *mg_sql_phase_name(enum mg_sql_phase p)
{
	if ((size_t)p >= ARRAY_SIZE(phase_names))
		return "unknown";
	return phase_names[p];
}

/* ---- the operations and their keys --------------------------------------- */

enum ftype {
	F_STR,		/* a non-empty string (SQL or a type), as written */
	F_NAME,		/* an identifier: 1..MAX_NAME bytes */
	F_TABLE,	/* "table" or "schema.table", each part a name */
	F_BOOL,		/* true or false */
	F_NAMES		/* a sequence of names */
};

#define NO_POS ((size_t)-1)
#define OFF(member) offsetof(struct mg_op, member)

struct field {
	const char *key;
	enum ftype type;
	int required;
	const char *what;	/* what an empty value should have been */
	size_t off;		/* of the value in struct mg_op */
	size_t n_off;		/* F_NAMES: of the count */
	size_t pos_off;		/* of a struct mg_pos, or NO_POS */
};

#define DROPS { "drops", F_NAMES, 0, "a sequence of names", OFF(drops), \
		OFF(n_drops), NO_POS }

/* Accepted on every operation; only the mysql driver acts on them. */
#define ALLOW_FIELDS \
	{ "allow_copy", F_BOOL, 0, "true or false", OFF(allow_copy), 0, NO_POS }, \
	{ "allow_rebuild", F_BOOL, 0, "true or false", OFF(allow_rebuild), 0, NO_POS }

static const struct field add_column_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	{ "type", F_STR, 1, "a column type", OFF(type), 0, OFF(type_pos) },
	{ "default", F_STR, 0, "an SQL expression", OFF(default_expr), 0, OFF(default_pos) },
	{ "nullable", F_BOOL, 0, "true or false", OFF(nullable), 0, NO_POS },
	{ "backfill", F_STR, 0, "an SQL expression", OFF(backfill), 0, OFF(backfill_pos) },
	DROPS,
	ALLOW_FIELDS,
};

static const struct field rename_column_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "from", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	{ "to", F_NAME, 1, "a column name", OFF(to), 0, OFF(to_pos) },
	DROPS,
	ALLOW_FIELDS,
};

static const struct field alter_column_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	{ "to", F_NAME, 1, "a column name", OFF(to), 0, OFF(to_pos) },
	{ "type", F_STR, 1, "a column type", OFF(type), 0, OFF(type_pos) },
	{ "up", F_STR, 1, "an SQL expression", OFF(up), 0, OFF(up_pos) },
	{ "down", F_STR, 1, "an SQL expression", OFF(down), 0, OFF(down_pos) },
	DROPS,
	ALLOW_FIELDS,
};

static const struct field drop_column_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	{ "down", F_STR, 0, "an SQL expression", OFF(down), 0, OFF(down_pos) },
	DROPS,
	ALLOW_FIELDS,
};

static const struct field create_index_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "name", F_NAME, 1, "an index name", OFF(index_name), 0, NO_POS },
	{ "columns", F_NAMES, 1, "a non-empty sequence of column names",
	  OFF(columns), OFF(n_columns), OFF(columns_pos) },
	{ "unique", F_BOOL, 0, "true or false", OFF(unique), 0, NO_POS },
	{ "method", F_NAME, 0, "an index method", OFF(method), 0, OFF(method_pos) },
	{ "where", F_STR, 0, "an SQL expression", OFF(where), 0, OFF(where_pos) },
	ALLOW_FIELDS,
};

static const struct field sql_fields[] = {
	{ "expand", F_STR, 0, "SQL", OFF(sql[MG_SQL_EXPAND]), 0, NO_POS },
	{ "backfill", F_STR, 0, "SQL", OFF(sql[MG_SQL_BACKFILL]), 0, NO_POS },
	{ "switch_reads", F_STR, 0, "SQL", OFF(sql[MG_SQL_SWITCH_READS]), 0,
	  NO_POS },
	{ "contract", F_STR, 0, "SQL", OFF(sql[MG_SQL_CONTRACT]), 0, NO_POS },
	{ "rollback", F_STR, 0, "SQL", OFF(sql[MG_SQL_ROLLBACK]), 0, NO_POS },
	{ "in_transaction", F_BOOL, 0, "true or false", OFF(in_transaction), 0,
	  NO_POS },
	ALLOW_FIELDS,
};

struct opdef {
	const char *name;
	enum mg_op_kind kind;
	const struct field *fields;
	size_t n_fields;
};

#define OPDEF(name, kind) { #name, kind, name##_fields, \
			    ARRAY_SIZE(name##_fields) }

static const struct opdef opdefs[] = {
	OPDEF(add_column, MG_OP_ADD_COLUMN),
	OPDEF(rename_column, MG_OP_RENAME_COLUMN),
	OPDEF(alter_column, MG_OP_ALTER_COLUMN),
	OPDEF(drop_column, MG_OP_DROP_COLUMN),
	OPDEF(create_index, MG_OP_CREATE_INDEX),
	OPDEF(sql, MG_OP_SQL),
};

#define OP_NAMES "add_column, rename_column, alter_column, drop_column, " \
		 "create_index, sql"
#define TOP_KEYS "description, operations"
#define SQL_PHASES "expand, backfill, switch_reads, contract, rollback"

/* ---- small helpers ------------------------------------------------------- */

/*
 * Quote-safe copy of user text for a message: control characters become
 * '?', and text longer than SHOW_MAX bytes is cut (at a UTF-8 boundary)
 * and ends in "...". Returns buf.
 */
static const char *show(char buf[SHOW_SIZE], const char *s, size_t len)
{
	size_t n = len > SHOW_MAX ? SHOW_MAX : len;

	if (n < len)
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* Edit distance of two short strings; SIZE_MAX when either is long. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65], prev, tmp;

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

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
			d = edit_distance(word, cand);
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

static int ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

/* The length of s without ".yaml" or ".yml", or 0 if it has neither. */
static size_t yaml_stem_len(const char *s)
{
	if (ends_with(s, ".yaml"))
		return strlen(s) - 5;
	if (ends_with(s, ".yml"))
		return strlen(s) - 4;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* ---- ids and file names -------------------------------------------------- */

/* Leading decimal digits of s as an int: 0 and *end set, or -1 on overflow. */
static int parse_digits(const char *s, int *out, const char **end)
{
	long long v = 0;

	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (*s - '0');
		if (v > INT_MAX)
			return -1;
	}
	*out = (int)v;
	*end = s;
	return 0;
}

int mg_migration_parse_id(const char *s, int *out, struct mg_err *err)
{
	const char *end;
	char shown[SHOW_SIZE];
	int id;

	if (!s)
		s = "";
	if (!isdigit((unsigned char)*s) || parse_digits(s, &id, &end) < 0 ||
	    (*end && (*end != '_' || !end[1])))
		return mg_err_set(err, MG_EINPUT, "bad migration id '%s': "
				  "expected a number like 3, 0003 or 0003_name",
				  show(shown, s, strlen(s)));
	*out = id;
	return 0;
}

/*
 * A new name for a badly named file when one is obvious: "3_add-x.yaml"
 * becomes "0003_add_x.yaml". NULL when there is no obvious one.
 */
static char *suggest_name(const char *base)
{
	size_t stem = yaml_stem_len(base);
	struct mg_buf b = MG_BUF_INIT;
	const char *p = base, *end;
	int id;

	if (!stem || !isdigit((unsigned char)*p) ||
	    parse_digits(p, &id, &end) < 0 || id == 0)
		return NULL;
	p = end;
	if (*p == '_' || *p == '-' || *p == ' ' || *p == '.')
		p++;
	if (p >= base + stem)
		return NULL;
	mg_buf_addf(&b, "%04d_", id);
	for (; p < base + stem; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '-' || c == ' ' || c == '.')
			c = '_';
		c = (unsigned char)tolower(c);
		if (!(islower(c) || isdigit(c) || c == '_')) {
			mg_buf_release(&b);
			return NULL;
		}
		mg_buf_addc(&b, (char)c);
	}
	mg_buf_adds(&b, base + stem);
	return mg_buf_detach(&b);
}

/*
 * Check that path's basename is NNNN_snake_name.yaml (or .yml) and take the
 * id from it. 0, or -1 with err set.
 */
static int check_file_name(const char *path, int *id, struct mg_err *err)
{
	const char *base = base_name(path), *p = base, *end;
	size_t stem = yaml_stem_len(base);
	char *hint;

	if (!stem || !isdigit((unsigned char)*p) ||
	    parse_digits(p, id, &end) < 0 || end - p < 4 || *end != '_' ||
	    end + 1 >= base + stem)
		goto bad;
	for (p = end + 1; p < base + stem; p++)
		if (!islower((unsigned char)*p) &&
		    !isdigit((unsigned char)*p) && *p != '_')
			goto bad;
	if (*id == 0)
		return mg_err_set(err, MG_EINPUT, "bad migration id 0 in '%s': "
				  "migration ids start at 1", path);
	return 0;

bad:
	mg_err_set(err, MG_EINPUT, "badly named file '%s' at %s:1:1: expected "
		   "NNNN_snake_name.yaml (4+ digits, underscore, lowercase "
		   "letters, digits and underscores)", path, path);
	hint = suggest_name(base);
	if (hint)
		mg_err_hint(err, "rename it to '%s'", hint);
	else
		mg_err_hint(err, "rename it like '0001_create_users.yaml'");
	free(hint);
	return -1;
}

/* ---- the YAML walk ------------------------------------------------------- */

struct parse {
	const char *path;
	yaml_document_t *doc;
	struct mg_err *err;
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
	show(buf + 1, SVAL(n), SLEN(n));
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
					  show(shown, SVAL(key), SLEN(key)),
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
		   show(shown, SVAL(key), SLEN(key)), AT_ARGS(p, key),
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

	if (len > MAX_NAME)
		return mg_err_set(p->err, MG_EINPUT, "name too long for '%s' "
				  "at " AT ": '%s' is %zu bytes, at most %d",
				  keyname, AT_ARGS(p, val),
				  show(shown, s, len), len, MAX_NAME);
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
				  show(shown, s, strlen(s)), AT_ARGS(p, val));
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
				    show(got, SVAL(val), SLEN(val)));
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

/* The keys of an operation (only the required ones), ", "-separated. */
static char *field_list(const struct opdef *d, int required_only)
{
	struct mg_buf b = MG_BUF_INIT;

	for (size_t i = 0; i < d->n_fields; i++)
		if (!required_only || d->fields[i].required)
			mg_buf_addf(&b, "%s%s", b.len ? ", " : "",
				    d->fields[i].key);
	return mg_buf_detach(&b);
}

/* The rules of one operation that need no database. */
static int check_op(struct parse *p, const yaml_node_t *opkey,
		    const struct mg_op *op)
{
	char shown[SHOW_SIZE], shown2[SHOW_SIZE];
	size_t i;

	switch (op->kind) {
	case MG_OP_ADD_COLUMN:
		if (!op->nullable && !op->default_expr && !op->backfill) {
			mg_err_set(p->err, MG_EINPUT, "add_column '%s.%s' at "
				   AT " is not nullable but has neither "
				   "'default' nor 'backfill'",
				   show(shown, op->table, strlen(op->table)),
				   show(shown2, op->column, strlen(op->column)),
				   AT_ARGS(p, opkey));
			return mg_err_hint(p->err, "add a default or a "
					   "backfill expression so that "
					   "existing rows get a value");
		}
		break;
	case MG_OP_RENAME_COLUMN:
	case MG_OP_ALTER_COLUMN:
		if (strcmp(op->column, op->to))
			break;
		mg_err_set(p->err, MG_EINPUT, "'to' at %s:%d:%d must differ "
			   "from '%s' ('%s')", p->path, op->to_pos.line,
			   op->to_pos.column,
			   op->kind == MG_OP_RENAME_COLUMN ? "from" : "column",
			   show(shown, op->column, strlen(op->column)));
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
	case MG_OP_DROP_COLUMN:
	case MG_OP_CREATE_INDEX:
		break;
	}
	return 0;
}

static int parse_op(struct parse *p, const yaml_node_t *item, struct mg_op *op)
{
	const struct opdef *d = NULL;
	yaml_node_t *opkey, *val, *other;
	char got[SHOW_SIZE + 2], shown[SHOW_SIZE];
	unsigned seen = 0;

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
	for (size_t i = 0; i < ARRAY_SIZE(opdefs); i++)
		if (scalar_is(opkey, opdefs[i].name))
			d = &opdefs[i];
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
			   show(shown, SVAL(other), SLEN(other)) : "?",
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

	for (yaml_node_pair_t *pair = val->data.mapping.pairs.start;
	     pair < val->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = pair_key(p, pair);
		size_t i;

		if (!key || check_duplicate(p, val, pair, key) < 0)
			return -1;
		for (i = 0; i < d->n_fields; i++)
			if (scalar_is(key, d->fields[i].key))
				break;
		if (i == d->n_fields) {
			char *list = field_list(d, 0);

			unknown(p, "key", key, list);
			free(list);
			return -1;
		}
		if (set_field(p, &d->fields[i], key,
			      node_at(p, pair->value), op) < 0)
			return -1;
		seen |= 1u << i;
	}

	for (size_t i = 0; i < d->n_fields; i++)
		if (d->fields[i].required && !(seen & (1u << i))) {
			char *list = field_list(d, 1);

			mg_err_set(p->err, MG_EINPUT, "missing key '%s' in %s "
				   "at " AT, d->fields[i].key, d->name,
				   AT_ARGS(p, opkey));
			mg_err_hint(p->err, "%s requires: %s", d->name, list);
			free(list);
			return -1;
		}
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

/* ---- loading ------------------------------------------------------------- */

static int read_file(struct mg_buf *out, const char *path, struct mg_err *err)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int failed;

	if (!f)
		return mg_err_set(err, MG_EINPUT, "cannot read '%s': %s", path,
				  strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		mg_buf_add(out, chunk, n);
	failed = ferror(f);
	if (failed)
		mg_err_set(err, MG_EINPUT, "cannot read '%s': %s", path,
			   strerror(errno));
	fclose(f);
	return failed ? -1 : 0;
}

static void die_oom(void)
{
	fprintf(stderr, "migrate: out of memory in the YAML parser\n");
	abort();
}

/* Line and column (1-based) of a byte offset, for reader errors. */
static void offset_pos(const struct mg_buf *b, size_t off, int *line, int *col)
{
	size_t start = 0;

	*line = 1;
	if (off > b->len)
		off = b->len;
	for (size_t i = 0; i < off; i++)
		if (b->buf[i] == '\n') {
			(*line)++;
			start = i + 1;
		}
	*col = (int)(off - start) + 1;
}

static int syntax_error(const yaml_parser_t *parser, const struct mg_buf *b,
			const char *path, struct mg_err *err)
{
	const char *problem = parser->problem ? parser->problem : "unknown";
	int line, col;

	if (parser->error == YAML_MEMORY_ERROR)
		die_oom();
	if (parser->error == YAML_READER_ERROR) {
		offset_pos(b, parser->problem_offset, &line, &col);
		return mg_err_set(err, MG_EINPUT, "YAML syntax error at "
				  "%s:%d:%d: %s", path, line, col, problem);
	}
	line = (int)parser->problem_mark.line + 1;
	col = (int)parser->problem_mark.column + 1;
	if (parser->context)
		return mg_err_set(err, MG_EINPUT, "YAML syntax error at "
				  "%s:%d:%d: %s (%s at line %d)", path, line,
				  col, problem, parser->context,
				  (int)parser->context_mark.line + 1);
	return mg_err_set(err, MG_EINPUT, "YAML syntax error at %s:%d:%d: %s",
			  path, line, col, problem);
}

/*
 * Refuse nesting deeper than MG_MAX_DEPTH before building the tree:
 * libyaml's scanner does work in proportion to the depth for every token,
 * so a file 100,000 levels deep took 20 s to load before the walk could
 * refuse it. This pass reads events and stops at the first collection too
 * deep (a migration file needs about 6 levels). 0, or -1 with err set.
 */
#define MG_MAX_DEPTH 64

static int check_depth(const struct mg_buf *b, const char *path, struct mg_err *err)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, rc = 0, done = 0;

	if (!yaml_parser_initialize(&parser))
		die_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)b->buf, b->len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = syntax_error(&parser, b, path, err);
			break;
		}
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
			if (++depth > MG_MAX_DEPTH) {
				mg_err_set(err, MG_EINPUT, "nesting deeper than %d levels at %s:%d:%d",
					   MG_MAX_DEPTH, path, (int)ev.start_mark.line + 1,
					   (int)ev.start_mark.column + 1);
				rc = mg_err_hint(err, "a migration file needs a few levels: operations, then one mapping per operation");
			}
		} else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* Parse the bytes of one file into m. 0, or -1 with err set. */
static int parse_bytes(struct mg_migration *m, const struct mg_buf *b,
		       const char *path, struct mg_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	struct parse p = { path, &doc, err };
	yaml_node_t *root;
	int ret = -1;

	if (check_depth(b, path, err) < 0)
		return -1;
	if (!yaml_parser_initialize(&parser))
		die_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)b->buf,
				     b->len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&parser, b, path, err);
		yaml_parser_delete(&parser);
		return -1;
	}
	if (parse_root(&p, m) < 0)
		goto out;

	/* One document per file: a second one would be silently ignored. */
	if (!yaml_parser_load(&parser, &extra)) {
		syntax_error(&parser, b, path, err);
		goto out;
	}
	root = yaml_document_get_root_node(&extra);
	if (root)
		mg_err_set(err, MG_EINPUT, "more than one YAML document in "
			   "'%s' (another at line %d): expected one", path,
			   node_line(root));
	else
		ret = 0;
	yaml_document_delete(&extra);
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}

int mg_migration_load(struct mg_migration *out, const char *path,
		      struct mg_err *err)
{
	struct mg_buf b = MG_BUF_INIT;
	const char *base = base_name(path);
	int id;

	memset(out, 0, sizeof(*out));
	if (check_file_name(path, &id, err) < 0)
		return -1;
	if (read_file(&b, path, err) < 0)
		return -1;

	out->id = id;
	out->path = mg_xstrdup(path);
	out->name = mg_xstrndup(base, yaml_stem_len(base));
	mg_sha256_hex(out->checksum, b.buf, b.len);
	if (parse_bytes(out, &b, path, err) < 0) {
		mg_buf_release(&b);
		mg_migration_release(out);
		return -1;
	}
	mg_buf_release(&b);
	return 0;
}

static void free_list(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

static void op_release(struct mg_op *op)
{
	free(op->table);
	free(op->column);
	free(op->to);
	free(op->type);
	free(op->default_expr);
	free(op->backfill);
	free(op->up);
	free(op->down);
	free_list(op->drops, op->n_drops);
	free(op->index_name);
	free_list(op->columns, op->n_columns);
	free(op->method);
	free(op->where);
	for (int i = 0; i < MG_SQL_NPHASES; i++)
		free(op->sql[i]);
}

void mg_migration_release(struct mg_migration *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_ops; i++)
		op_release(&m->ops[i]);
	free(m->ops);
	free(m->name);
	free(m->path);
	free(m->description);
	memset(m, 0, sizeof(*m));
}

/* ---- a directory of migrations ------------------------------------------- */

struct entry {
	char *path;
	int id;
};

static int cmp_path(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

static int cmp_id(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* A file of the directory that is a migration (not migrate.yaml). */
static int is_migration_file(const char *name)
{
	return name[0] != '.' && yaml_stem_len(name) &&
	       strcmp(name, "migrate.yaml") && strcmp(name, "migrate.yml");
}

static int list_dir(struct entry **out, size_t *n, const char *dir,
		    struct mg_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t alloc = 0;
	int slash = *dir && dir[strlen(dir) - 1] == '/';

	*out = NULL;
	*n = 0;
	if (!d) {
		if (errno == ENOENT)
			mg_err_set(err, MG_EINPUT, "migrations directory '%s' "
				   "does not exist", dir);
		else if (errno == ENOTDIR)
			mg_err_set(err, MG_EINPUT, "migrations directory '%s' "
				   "is not a directory", dir);
		else
			return mg_err_set(err, MG_EINPUT, "cannot open "
					  "migrations directory '%s': %s", dir,
					  strerror(errno));
		return mg_err_hint(err, "pass --migrations DIR or set "
				   "MIGRATE_DIR");
	}
	while ((de = readdir(d))) {
		if (!is_migration_file(de->d_name))
			continue;
		MG_ALLOC_GROW(*out, *n + 1, alloc);
		(*out)[*n].path = mg_xasprintf("%s%s%s", dir, slash ? "" : "/",
					       de->d_name);
		(*out)[*n].id = 0;
		(*n)++;
	}
	closedir(d);
	return 0;
}

int mg_migration_set_load(struct mg_migration_set *out, const char *dir,
			  struct mg_err *err)
{
	struct entry *e;
	size_t n, i;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (list_dir(&e, &n, dir, err) < 0)
		return -1;
	if (!n)
		return 0;

	/* A fixed order, so that a directory always gives the same error. */
	qsort(e, n, sizeof(*e), cmp_path);
	for (i = 0; i < n; i++)
		if (check_file_name(e[i].path, &e[i].id, err) < 0)
			goto out;
	qsort(e, n, sizeof(*e), cmp_id);
	for (i = 1; i < n; i++)
		if (e[i].id == e[i - 1].id) {
			mg_err_set(err, MG_EINPUT, "duplicate migration id %d: "
				   "%s:1:1 and %s:1:1", e[i].id,
				   e[i - 1].path, e[i].path);
			mg_err_hint(err, "give one of them the next free id");
			goto out;
		}

	out->items = mg_xcalloc(n, sizeof(*out->items));
	for (i = 0; i < n; i++) {
		if (mg_migration_load(&out->items[i], e[i].path, err) < 0) {
			mg_migration_set_release(out);
			goto out;
		}
		out->n++;
	}
	ret = 0;
out:
	for (i = 0; i < n; i++)
		free(e[i].path);
	free(e);
	return ret;
}

void mg_migration_set_release(struct mg_migration_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		mg_migration_release(&set->items[i]);
	free(set->items);
	set->items = NULL;
	set->n = 0;
}

struct mg_migration *mg_migration_set_find(const struct mg_migration_set *set,
					   int id)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->items[mid].id == id)
			return &set->items[mid];
		if (set->items[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * scaffold.c - the files `migrate init` and `migrate new` write (see
 * scaffold.h).
 *
 * A migration's keys are walked from the loader's own tables (mg_opdefs,
 * migration_keys.c): which keys an operation takes, their types, which are
 * required. What a key means, its default and an example value are below
 * (keydocs); a key that has none yet is still written, with the loader's
 * own description of its value.
 *
 * A required value not given is written empty ("type:"), never as a
 * made-up value: the loader refuses an empty value naming its line and
 * column, so a file not filled in cannot pass `check` or `lint`, while a
 * placeholder such as "<TYPE>" would load and fail only against a
 * database.
 */
#include "scaffold.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "migration_int.h"
#include "migration_keys.h"

#define INDENT 6		/* an operation's keys, under "  - op:" */
#define WRAP 78			/* comment lines end before this column */

/* ---- what each key means ------------------------------------------------ */

struct keydoc {
	const char *op;		/* NULL: every operation without its own */
	const char *key;
	const char *meaning;
	const char *dflt;	/* optional keys: the default */
	const char *example;	/* a value, as YAML */
};

static const struct keydoc keydocs[] = {
	{ NULL, "table", "the table (table or schema.table)", NULL, "users" },
	{ NULL, "column", "the column", NULL, "email" },
	{ NULL, "type", "an SQL type, as the database spells it", NULL, "bigint" },
	{ NULL, "default", "SQL expression: the column's default", "none", "\"0\"" },
	{ NULL, "nullable", "false: the column becomes NOT NULL (enforced from "
	  "contract on; needs default or backfill)", "true", "false" },
	{ NULL, "backfill", "SQL expression over the old row: the value existing "
	  "rows get", "the default", "\"CASE WHEN total > 1000 THEN 1 ELSE 0 END\"" },
	{ NULL, "drops", "dependents of the old column or table (views, foreign "
	  "keys, triggers ...) to drop at contract instead of refusing",
	  "none", "[users_report_view]" },
	{ NULL, "allow_copy", "MariaDB/MySQL: accept an ALTER that copies the "
	  "table (writes wait during the copy)", "false", "true" },
	{ NULL, "allow_rebuild", "MariaDB/MySQL: accept an ALTER that rebuilds "
	  "the table online", "false", "true" },
	{ NULL, "up", "SQL over the row: the new value", NULL, "\"age::bigint\"" },
	{ NULL, "down", "SQL over the new row: the old value, for rows the new "
	  "version writes", "none", "\"NULL\"" },
	{ NULL, "name", "the name", NULL, "users_email_key" },
	{ NULL, "columns", "the columns", NULL, "[email]" },
	{ NULL, "comment", "the comment's text", NULL, "\"shown to the customer\"" },
	{ NULL, "to", "the new name", NULL, "username" },
	{ NULL, "from", "the current name", NULL, "user_name" },

	{ "add_column", "column", "the new column; must not exist", NULL, "priority" },
	{ "add_column", "type", "its SQL type (smallint, numeric(10,2), "
	  "text COLLATE \"C\")", NULL, "smallint" },
	{ "add_column", "drops", "accepted, not used", "none", "[]" },
	{ "add_column", "default", "SQL expression: the value of rows the old "
	  "version inserts, and the column's DEFAULT from contract on", "none", "\"0\"" },
	{ "rename_column", "from", "the existing column", NULL, "user_name" },
	{ "rename_column", "to", "the new name; must not exist", NULL, "username" },
	{ "alter_column", "column", "the existing column", NULL, "age" },
	{ "alter_column", "to", "the new column's name; without it the column "
	  "keeps its name and the new type takes effect at contract", "none",
	  "age_years" },
	{ "alter_column", "type", "the new SQL type", NULL, "bigint" },
	{ "alter_column", "up", "SQL over the old row: the new value (required "
	  "with 'to')", "the column itself", "\"age::bigint\"" },
	{ "alter_column", "down", "SQL over the new row: the old value (required "
	  "with 'to', refused without it)", "none", "\"age_years::integer\"" },
	{ "drop_column", "down", "SQL: what the new version's inserts leave in the "
	  "column until contract (needed for a NOT NULL column without default)",
	  "none", "\"false\"" },
	{ "create_index", "name", "the index's name", NULL, "users_email_idx" },
	{ "create_index", "columns", "the key columns, in order (a mapping "
	  "{name, opclass, collate, order, nulls} for options)", NULL, "[email]" },
	{ "create_index", "unique", "a unique index", "false", "true" },
	{ "create_index", "method", "USING method", "btree", "gin" },
	{ "create_index", "where", "SQL predicate: a partial index", "none",
	  "\"deleted_at IS NULL\"" },
	{ "create_index", "include", "columns stored in the index, not keys "
	  "(INCLUDE)", "none", "[name]" },
	{ "create_index", "storage", "storage parameters (WITH ...)", "none",
	  "{fillfactor: 70}" },
	{ "create_index", "constraint", "with unique: true, the index becomes a "
	  "UNIQUE constraint of the same name", "false", "true" },
	{ "drop_index", "name", "the index", NULL, "users_email_idx" },
	{ "sql", "expand", "SQL run during expand, at its place in the file "
	  "(at least one of the five phases)", "none",
	  "\"CREATE OR REPLACE VIEW active_users AS SELECT id, email FROM users WHERE active\"" },
	{ "sql", "backfill", "SQL run during backfill, after the row batches",
	  "none", "\"ANALYZE users\"" },
	{ "sql", "switch_reads", "SQL run during switch-reads, after the "
	  "validations", "none", "\"SELECT 1\"" },
	{ "sql", "contract", "SQL run during contract, at its place in the file",
	  "none", "\"DROP VIEW IF EXISTS users_report\"" },
	{ "sql", "rollback", "SQL that undoes expand (without it, rollback of "
	  "this migration is refused)", "none", "\"DROP VIEW IF EXISTS active_users\"" },
	{ "sql", "in_transaction", "false: run outside a transaction (CREATE "
	  "INDEX CONCURRENTLY); the SQL must then be idempotent", "true", "false" },
	{ "create_table", "columns", "the columns, one mapping each: name, type "
	  "(required); nullable (true), default, primary_key (false), unique "
	  "(false), check, references {table, column}, comment, identity "
	  "(always, by_default)", NULL, NULL },
	{ "create_table", "constraints", "table constraints, one key each: "
	  "primary_key/unique {columns, name?}, check {expression, name?}, "
	  "foreign_key {columns, references: {table, columns}, name?}", "none",
	  "[{unique: {columns: [user_id, code]}}]" },
	{ "create_table", "comment", "the table's comment", "none", "\"one row per purchase\"" },
	{ "rename_table", "to", "the new name, in the table's schema", NULL, "customers" },
	{ "drop_not_null", "column", "a NOT NULL column", NULL, "email" },
	{ "drop_not_null", "down", "SQL over the row: the value rollback gives "
	  "rows left NULL", "none (rollback refused while a row is NULL)",
	  "\"'unknown'\"" },
	{ "set_default", "default", "SQL expression: the new default", NULL, "\"now()\"" },
	{ "set_comment", "column", "the column; without it the comment is the "
	  "table's", "none", "email" },
	{ "set_replica_identity", "identity", "default, full, nothing or index",
	  NULL, "full" },
	{ "set_replica_identity", "index", "with identity: index, a unique index "
	  "over NOT NULL columns", "none", "users_email_key" },
	{ "drop_constraint", "name", "the constraint", NULL, "users_age_check" },
	{ "rename_constraint", "from", "the constraint", NULL, "users_age_check" },
	{ "rename_constraint", "to", "its new name; must be free", NULL,
	  "users_age_positive" },
	{ "set_not_null", "column", "the column; must be nullable", NULL, "email" },
	{ "set_not_null", "up", "SQL over the row: the value a NULL becomes",
	  NULL, "\"'unknown@example.com'\"" },
	{ "add_check", "column", "the column 'up' writes", NULL, "score" },
	{ "add_check", "name", "the constraint's name; must be free", NULL,
	  "accounts_score_positive" },
	{ "add_check", "check", "SQL boolean over the row", NULL, "\"score >= 0\"" },
	{ "add_check", "up", "SQL over the row: the value of the column for a "
	  "row whose check is false", NULL, "\"0\"" },
	{ "add_unique", "columns", "the columns, in index order", NULL, "[email]" },
	{ "add_unique", "name", "the constraint's and index's name; must be free",
	  NULL, "accounts_email_key" },
	{ "add_unique", "up", "SQL over the row: the value of the first column "
	  "for a duplicate", "none (a duplicate fails the index build)", "\"NULL\"" },
	{ "add_foreign_key", "columns", "the referencing columns", NULL, "[customer_id]" },
	{ "add_foreign_key", "name", "the constraint's name; must be free", NULL,
	  "accounts_customer_fk" },
	{ "add_foreign_key", "references", "the referenced table and its columns",
	  NULL, NULL },
	{ "add_foreign_key", "on_delete", "cascade, restrict, no action, set "
	  "null or set default", "no action", "\"set null\"" },
	{ "add_foreign_key", "on_update", "cascade, restrict, no action, set "
	  "null or set default", "no action", "cascade" },
	{ "add_foreign_key", "up", "SQL over the row: the value of the first "
	  "column for a row that references nothing", "none", "\"NULL\"" },
	{ "references", "table", "the referenced table", NULL, "customers" },
	{ "references", "columns", "its columns, as many as 'columns'", NULL, "[id]" },
};

/* One line per operation, for the file written without --op. */
static const struct {
	const char *op, *summary;
} op_summaries[] = {
	{ "add_column", "a new column, existing rows filled by the backfill" },
	{ "rename_column", "renames a column; both names written until contract" },
	{ "alter_column", "a type change, into a new column or in place" },
	{ "drop_column", "drops a column at contract" },
	{ "create_index", "an index, built without blocking writes" },
	{ "sql", "your SQL, for any phase" },
	{ "drop_index", "drops an index at contract" },
	{ "create_table", "a new table" },
	{ "drop_table", "drops a table at contract, never with CASCADE" },
	{ "rename_table", "renames a table; both names work until contract" },
	{ "drop_not_null", "drops NOT NULL from a column" },
	{ "set_default", "sets a column's default" },
	{ "drop_default", "drops a column's default at contract" },
	{ "set_comment", "a table's or a column's comment" },
	{ "set_replica_identity", "a table's replica identity" },
	{ "drop_constraint", "drops a constraint at contract" },
	{ "rename_constraint", "renames a constraint" },
	{ "set_not_null", "NOT NULL on an existing column, NULLs fixed by up" },
	{ "add_check", "a CHECK on an existing column, breaking rows fixed by up" },
	{ "add_unique", "a UNIQUE constraint, duplicates fixed by up" },
	{ "add_foreign_key", "a foreign key, orphans fixed by up" },
};

/* The doc of key in op (owner: the operation, or "references" for the
 * keys of that mapping), or NULL. */
static const struct keydoc *keydoc_of(const char *owner, const char *key)
{
	const struct keydoc *any = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(keydocs); i++) {
		const struct keydoc *k = &keydocs[i];

		if (strcmp(k->key, key))
			continue;
		if (k->op && !strcmp(k->op, owner))
			return k;
		if (!k->op)
			any = k;
	}
	return any;
}

static const char *op_summary(const char *op)
{
	for (size_t i = 0; i < ARRAY_SIZE(op_summaries); i++)
		if (!strcmp(op_summaries[i].op, op))
			return op_summaries[i].summary;
	return "";
}

/* ---- operations and their keys ------------------------------------------ */

static const struct opdef *find_op(const char *name)
{
	for (size_t i = 0; i < mg_n_opdefs; i++)
		if (!strcmp(mg_opdefs[i].name, name))
			return &mg_opdefs[i];
	return NULL;
}

/* The operations word is part of ("rename": rename_column, rename_table
 * ...), else the one nearest to it ("add_colum": add_column), into b. */
static void closest_ops(struct mg_buf *b, const char *word)
{
	size_t best = SIZE_MAX;
	const char *name = mg_opdefs[0].name;

	for (size_t i = 0; i < mg_n_opdefs; i++)
		if (*word && strstr(mg_opdefs[i].name, word))
			mg_buf_addf(b, "%s'%s'", b->len ? ", " : "", mg_opdefs[i].name);
	if (b->len)
		return;
	for (size_t i = 0; i < mg_n_opdefs; i++) {
		size_t d = mg_edit_distance(word, mg_opdefs[i].name);

		if (d < best) {
			best = d;
			name = mg_opdefs[i].name;
		}
	}
	mg_buf_addf(b, "'%s'", name);
}

int mg_scaffold_near_key(const char *word, char *out, size_t size)
{
	size_t best = SIZE_MAX, limit = strlen(word) <= 4 ? 1 : 2;

	for (size_t i = 0; i < mg_n_opdefs; i++)
		for (size_t k = 0; k < mg_opdefs[i].n_fields; k++) {
			const char *key = mg_opdefs[i].fields[k].key;
			size_t d = mg_edit_distance(word, key);

			if (d <= limit && d < best && strlen(key) < size) {
				best = d;
				strcpy(out, key);
			}
		}
	return best != SIZE_MAX;
}

/* Whether key (as the file spells it, or "<map>_<key>" for the keys of a
 * nested mapping) is a key of op; *f its field, *sub the mapping's. */
static int op_key(const struct opdef *d, const char *key,
		  const struct field **f, const struct field **sub)
{
	for (size_t i = 0; i < d->n_fields; i++) {
		const struct field *x = &d->fields[i];
		size_t n = strlen(x->key);

		*f = x;
		*sub = NULL;
		if (!strcmp(x->key, key))
			return 1;
		if (x->type != F_MAP || strncmp(key, x->key, n) || key[n] != '_')
			continue;
		for (size_t k = 0; k < mg_submaps[x->off].n; k++)
			if (!strcmp(mg_submaps[x->off].fields[k].key, key + n + 1)) {
				*sub = &mg_submaps[x->off].fields[k];
				return 1;
			}
	}
	return 0;
}

int mg_scaffold_key_kind(const char *key)
{
	const struct field *f, *sub;

	for (size_t i = 0; i < mg_n_opdefs; i++)
		if (op_key(&mg_opdefs[i], key, &f, &sub))
			return (sub ? sub : f)->type == F_BOOL ?
			       MG_SCAFFOLD_KEY_BOOL : MG_SCAFFOLD_KEY_VALUE;
	return MG_SCAFFOLD_KEY_NONE;
}

static const char *given(const struct mg_scaffold_args *a, const char *key)
{
	for (size_t i = 0; i < a->n_values; i++)
		if (!strcmp(a->values[i].key, key))
			return a->values[i].value;
	return NULL;
}

/*
 * Whether f must have a value in this file: the table says so, or the
 * loader's rules across keys do (alter_column with `to` needs up and
 * down; identity: index needs index; a sql step needs one phase).
 */
static int required_here(const struct opdef *d, const struct field *f,
			 const struct mg_scaffold_args *a)
{
	const char *identity = given(a, "identity");

	if (f->required)
		return 1;
	if (d->kind == MG_OP_ALTER_COLUMN &&
	    (!strcmp(f->key, "up") || !strcmp(f->key, "down")))
		return given(a, "to") != NULL;
	if (d->kind == MG_OP_SET_REPLICA_IDENTITY && !strcmp(f->key, "index"))
		return identity && !strcmp(identity, "index");
	if (d->kind == MG_OP_SQL && !strcmp(f->key, "expand")) {
		static const char *const phases[] = { "expand", "backfill",
			"switch_reads", "contract", "rollback" };

		for (size_t i = 0; i < ARRAY_SIZE(phases); i++)
			if (given(a, phases[i]))
				return 0;
		return 1;
	}
	return 0;
}

/* ---- YAML text ---------------------------------------------------------- */

static int is_yaml_word(const char *s)
{
	static const char *const words[] = { "true", "false", "null", "yes",
		"no", "on", "off", "y", "n" };

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (!strcasecmp(s, words[i]))
			return 1;
	return 0;
}

/* s as a double-quoted YAML scalar. */
static void add_quoted(struct mg_buf *b, const char *s)
{
	mg_buf_addc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			mg_buf_addf(b, "\\%c", *p);
		else if (*p == '\n')
			mg_buf_adds(b, "\\n");
		else if (*p == '\t')
			mg_buf_adds(b, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			mg_buf_addf(b, "\\x%02x", *p);
		else
			mg_buf_addc(b, (char)*p);
	}
	mg_buf_addc(b, '"');
}

/* s plain when it is a name YAML reads as that string (or, for a value
 * that is text to the loader anyway, a number: digits), else quoted. */
static void add_plain_or_quoted(struct mg_buf *b, const char *s, int digits_ok)
{
	int plain = (isalpha((unsigned char)*s) || *s == '_' ||
		     (digits_ok && isdigit((unsigned char)*s))) && !is_yaml_word(s);

	for (const char *p = s; *p && plain; p++)
		plain = isalnum((unsigned char)*p) || *p == '_' || *p == '.';
	if (plain)
		mg_buf_adds(b, s);
	else
		add_quoted(b, s);
}

static void add_scalar(struct mg_buf *b, const char *s)
{
	add_plain_or_quoted(b, s, 0);
}

/* The next item of a comma-separated list at *p, outside parentheses,
 * trimmed; NULL at the end. Caller frees. */
static char *next_item(const char **p)
{
	const char *s = *p, *e;
	int depth = 0;

	if (!*s)
		return NULL;
	for (e = s; *e && (*e != ',' || depth > 0); e++)
		depth += *e == '(' ? 1 : *e == ')' ? -1 : 0;
	*p = *e ? e + 1 : e;
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	return mg_xstrndup(s, (size_t)(e - s));
}

static int bad_value(struct mg_err *err, const char *key, const char *value,
		     const char *expected, const char *example)
{
	mg_err_set(err, MG_EINPUT, "bad value '%s' for option '--%s': expected %s",
		   value, key, expected);
	return mg_err_hint(err, "for example --%s %s", key, example);
}

/* "a, b" as [a, b]. */
static int add_names(struct mg_buf *b, const char *key, const char *value,
		     struct mg_err *err)
{
	const char *p = value;
	char *item;
	int n = 0;

	mg_buf_addc(b, '[');
	while ((item = next_item(&p))) {
		if (!*item) {
			free(item);
			return bad_value(err, key, value, "names separated by commas",
					 "a,b");
		}
		mg_buf_adds(b, n++ ? ", " : "");
		add_scalar(b, item);
		free(item);
	}
	mg_buf_addc(b, ']');
	return n ? 0 : bad_value(err, key, value, "names separated by commas", "a,b");
}

/* "fillfactor=70, x=y" as {fillfactor: 70, x: y}. */
static int add_params(struct mg_buf *b, const char *key, const char *value,
		      struct mg_err *err)
{
	const char *p = value;
	char *item, *eq;
	int n = 0;

	mg_buf_addc(b, '{');
	while ((item = next_item(&p))) {
		eq = strchr(item, '=');
		if (!eq || eq == item || !eq[1]) {
			free(item);
			return bad_value(err, key, value, "name=value pairs "
					 "separated by commas", "fillfactor=70");
		}
		*eq = '\0';
		mg_buf_adds(b, n++ ? ", " : "");
		add_scalar(b, item);
		mg_buf_adds(b, ": ");
		add_plain_or_quoted(b, eq + 1, 1);
		free(item);
	}
	mg_buf_addc(b, '}');
	return n ? 0 : bad_value(err, key, value, "name=value pairs", "fillfactor=70");
}

/* create_table --columns "id:bigint, code:varchar(40)": one mapping per
 * column, below the key. */
static int add_table_columns(struct mg_buf *b, int indent, const char *value,
			     struct mg_err *err)
{
	const char *p = value;
	char *item, *colon;
	int n = 0;

	while ((item = next_item(&p))) {
		colon = strchr(item, ':');
		if (!colon || colon == item || !colon[1]) {
			free(item);
			return bad_value(err, "columns", value, "name:type pairs "
					 "separated by commas",
					 "\"id:bigint, code:varchar(40)\"");
		}
		*colon = '\0';
		mg_buf_addf(b, "\n%*s- name: ", indent + 2, "");
		add_scalar(b, item);
		mg_buf_addf(b, "\n%*s  type: ", indent + 2, "");
		add_scalar(b, colon + 1 + strspn(colon + 1, " "));
		n++;
		free(item);
	}
	return n ? 0 : bad_value(err, "columns", value, "name:type pairs",
				 "\"id:bigint, code:varchar(40)\"");
}

/* A given value of field f, as YAML after "key:" (with its space). */
static int add_value(struct mg_buf *b, const struct field *f, int indent,
		     const char *key, const char *value, struct mg_err *err)
{
	switch (f->type) {
	case F_STR:	/* SQL: quoted unless a plain word (a type) */
	case F_NAME:
	case F_TABLE:
		mg_buf_addc(b, ' ');
		add_scalar(b, value);
		return 0;
	case F_BOOL:
		if (strcmp(value, "true") && strcmp(value, "false"))
			return bad_value(err, key, value, "true or false", "true");
		mg_buf_addf(b, " %s", value);
		return 0;
	case F_NAMES:
	case F_INDEX_COLUMNS:
		mg_buf_addc(b, ' ');
		return add_names(b, key, value, err);
	case F_PARAMS:
		mg_buf_addc(b, ' ');
		return add_params(b, key, value, err);
	case F_TABLEDEF:
		if (!strcmp(f->key, "columns"))
			return add_table_columns(b, indent, value, err);
		mg_buf_addc(b, ' ');
		add_quoted(b, value);
		return 0;
	case F_MAP:
		break;
	}
	mg_err_set(err, MG_EINPUT, "option '--%s' takes no value of its own", key);
	return mg_err_hint(err, "give its keys: --%s-table, --%s-columns ...", key, key);
}

/* ---- the migration file ------------------------------------------------- */

struct writer {
	struct mg_buf *b;
	struct mg_scaffold_file *info;
	const struct mg_scaffold_args *a;
	struct mg_err *err;
};

/* The line the next text written starts on. */
static int next_line(const struct writer *w)
{
	int n = 1;

	for (const char *p = w->b->buf; *p; p++)
		n += *p == '\n';
	return n;
}

/* A comment, wrapped at WRAP columns, at indent. */
static void emit_comment(struct writer *w, int indent, const char *text)
{
	struct mg_buf line = MG_BUF_INIT;
	const char *p = text;

	while (*p) {
		size_t word = strcspn(p, " ");

		if (line.len && indent + 2 + line.len + 1 + word > WRAP) {
			mg_buf_addf(w->b, "%*s# %s\n", indent, "", line.buf);
			mg_buf_reset(&line);
		}
		mg_buf_addf(&line, "%s%.*s", line.len ? " " : "", (int)word, p);
		p += word;
		p += strspn(p, " ");
	}
	if (line.len)
		mg_buf_addf(w->b, "%*s# %s\n", indent, "", line.buf);
	mg_buf_release(&line);
}

/* A required value left empty, on line. */
static void note_placeholder(struct writer *w, const char *key, int line)
{
	struct mg_scaffold_file *info = w->info;

	if (info->n_placeholders < ARRAY_SIZE(info->placeholders)) {
		info->placeholders[info->n_placeholders] = line;
		info->placeholder_keys[info->n_placeholders++] = key;
	}
}

static int emit_field(struct writer *w, const struct opdef *d,
		      const char *owner, const struct field *f,
		      const char *prefix, int indent);

/* A nested mapping (add_foreign_key's references): its keys below it. */
static int emit_map(struct writer *w, const struct opdef *d,
		    const struct field *f, int indent, int required)
{
	const struct submap *m = &mg_submaps[f->off];
	char prefix[64];
	int any = 0;

	snprintf(prefix, sizeof(prefix), "%s_", f->key);
	for (size_t i = 0; i < m->n; i++) {
		char key[96];

		snprintf(key, sizeof(key), "%s%s", prefix, m->fields[i].key);
		any |= given(w->a, key) != NULL;
	}
	if (!required && !any) {
		mg_buf_addf(w->b, "%*s# %s:\n", indent, "", f->key);
		for (size_t i = 0; i < m->n; i++) {
			const struct keydoc *k = keydoc_of(f->key, m->fields[i].key);

			mg_buf_addf(w->b, "%*s#   %s: %s\n", indent, "",
				    m->fields[i].key,
				    k && k->example ? k->example : "");
		}
		return 0;
	}
	mg_buf_addf(w->b, "%*s%s:\n", indent, "", f->key);
	for (size_t i = 0; i < m->n; i++)
		if (emit_field(w, d, f->key, &m->fields[i], prefix, indent + 2) < 0)
			return -1;
	return 0;
}

/* The comment above a key: what it means; "required, fill in" and an
 * example when it is left empty; the default of an optional one. */
static void emit_key_comment(struct writer *w, const char *owner,
			     const struct field *f, int indent, int required,
			     const char *value)
{
	const struct keydoc *k = keydoc_of(owner, f->key);
	struct mg_buf c = MG_BUF_INIT;

	/* a mapping's keys say what to fill in */
	if (required && !value && f->type != F_MAP)
		mg_buf_adds(&c, "required, fill in: ");
	mg_buf_adds(&c, k ? k->meaning : f->what);
	if (required && !value && k && k->example)
		mg_buf_addf(&c, "; e.g. %s", k->example);
	if (!required)
		mg_buf_addf(&c, ". Optional, default: %s", k && k->dflt ? k->dflt : "none");
	emit_comment(w, indent, c.buf);
	mg_buf_release(&c);
}

static int emit_field(struct writer *w, const struct opdef *d,
		      const char *owner, const struct field *f,
		      const char *prefix, int indent)
{
	char key[96];
	const char *value;
	/* a nested mapping's keys: as its table says */
	int required = prefix ? f->required : required_here(d, f, w->a);
	const struct keydoc *k = keydoc_of(owner, f->key);

	snprintf(key, sizeof(key), "%s%s", prefix ? prefix : "", f->key);
	value = given(w->a, key);
	emit_key_comment(w, owner, f, indent, required, value);
	if (f->type == F_MAP)
		return emit_map(w, d, f, indent, required);
	if (value) {
		mg_buf_addf(w->b, "%*s%s:", indent, "", f->key);
		if (add_value(w->b, f, indent, key, value, w->err) < 0)
			return -1;
		mg_buf_addc(w->b, '\n');
		return 0;
	}
	if (required) {
		note_placeholder(w, f->key, next_line(w));
		mg_buf_addf(w->b, "%*s%s:\n", indent, "", f->key);
		return 0;
	}
	mg_buf_addf(w->b, "%*s# %s: %s\n", indent, "", f->key,
		    k && k->example ? k->example : "");
	return 0;
}

/* Every key given must be one of op's: a key of another operation is
 * refused naming the keys op takes. */
static int check_given(const struct opdef *d, const struct mg_scaffold_args *a,
		       struct mg_err *err)
{
	const struct field *f, *sub;

	for (size_t i = 0; i < a->n_values; i++) {
		struct mg_buf keys = MG_BUF_INIT;

		if (op_key(d, a->values[i].key, &f, &sub))
			continue;
		for (size_t k = 0; k < d->n_fields; k++) {
			mg_buf_addf(&keys, "%s--", k ? ", " : "");
			for (const char *p = d->fields[k].key; *p; p++)
				mg_buf_addc(&keys, *p == '_' ? '-' : *p);
		}
		mg_err_set(err, MG_EINPUT, "option '--%s' is not a key of %s "
			   "(its keys: %s)", a->values[i].key, d->name, keys.buf);
		mg_buf_release(&keys);
		return mg_err_hint(err, "leave it out, or pick the operation "
				   "that takes it with --op");
	}
	return 0;
}

static void emit_header(struct writer *w, const char *file_name)
{
	struct mg_buf c = MG_BUF_INIT;

	mg_buf_addf(&c, "%s, written by 'migrate new'.", file_name);
	emit_comment(w, 0, c.buf);
	emit_comment(w, 0, "A key left empty is required: migrate refuses the "
		     "file, naming the line, until it has a value. Optional "
		     "keys are commented out with their default: uncomment "
		     "the ones you need. Every key: docs/file-format.md. "
		     "Then check the file: migrate lint FILE.");
	mg_buf_release(&c);
}

static void emit_description(struct writer *w, const char *name)
{
	const char *text = w->a->description;
	char *made = NULL;

	if (!text) {
		made = mg_xstrdup(name);
		for (char *p = made; *p; p++)
			if (*p == '_')
				*p = ' ';
		text = made;
	}
	mg_buf_adds(w->b, "description: ");
	add_quoted(w->b, text);
	mg_buf_adds(w->b, "\noperations:\n");
	free(made);
}

/* Without --op: no operation yet, and the list to pick from. The loader
 * refuses an empty 'operations' naming its line. */
static void emit_op_list(struct writer *w)
{
	note_placeholder(w, "operations", next_line(w) - 1);
	emit_comment(w, 2, "One or more operations, each '- name:' followed "
		     "by its keys; 'migrate new NAME --op OPERATION' writes one "
		     "with every key. The operations:");
	for (size_t i = 0; i < mg_n_opdefs; i++)
		mg_buf_addf(w->b, "  #   %-22s %s\n", mg_opdefs[i].name,
			    op_summary(mg_opdefs[i].name));
	mg_buf_adds(w->b, "  # For example:\n"
	     "  # - add_column:\n"
	     "  #     table: users\n"
	     "  #     column: email\n"
	     "  #     type: text\n");
}

static int unknown_op(const char *op, struct mg_err *err)
{
	struct mg_buf near = MG_BUF_INIT;

	closest_ops(&near, op);
	mg_err_set(err, MG_EINPUT, "unknown operation '%s' for '--op': did you "
		   "mean %s?", op, near.buf);
	mg_buf_release(&near);
	return mg_err_hint(err, "the operations: " OP_NAMES);
}

int mg_scaffold_migration(struct mg_buf *out, struct mg_scaffold_file *info,
			  const char *file_name, const char *name,
			  const struct mg_scaffold_args *a, struct mg_err *err)
{
	struct writer w = { out, info, a, err };
	const struct opdef *d = NULL;

	memset(info, 0, sizeof(*info));
	if (a->op && !(d = find_op(a->op)))
		return unknown_op(a->op, err);
	if (!d && a->n_values) {
		mg_err_set(err, MG_EINPUT, "option '--%s' needs '--op': which "
			   "operation's key is it?", a->values[0].key);
		return mg_err_hint(err, "e.g. migrate new %s --op add_column "
				   "--table users --column email --type text", name);
	}
	if (d && check_given(d, a, err) < 0)
		return -1;
	emit_header(&w, file_name);
	emit_description(&w, name);
	if (!d) {
		emit_op_list(&w);
		return 0;
	}
	mg_buf_addf(out, "  - %s:\n", d->name);
	for (size_t i = 0; i < d->n_fields; i++)
		if (emit_field(&w, d, d->name, &d->fields[i], NULL, INDENT) < 0)
			return -1;
	return 0;
}

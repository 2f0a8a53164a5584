/*
 * lint_table.c - CREATE TABLE and ALTER TABLE of MySQL/MariaDB as lint
 * facts (see lint.c, mylint.h): the column definitions, and each of an
 * ALTER TABLE's comma-separated specifications as facts at the offset of
 * its first word (the DROP of `ALTER TABLE t DROP COLUMN c`).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/mylint.h"
#include "util.h"

#define ADD(p, kind, flags, off, table, name, detail) \
	mg_sql_facts_add((p)->out, kind, flags, off, table, name, detail)

/* What a column definition says (ADD, CHANGE, MODIFY, CREATE TABLE). */
struct coldef {
	int type_off;		/* -1: no type */
	char *type;		/* as written */
	unsigned type_flags;	/* MG_FACTF_TYPE_* */
	int not_null, null_written, has_default, volatile_default, primary_key;
};

static void coldef_release(struct coldef *c)
{
	free(c->type);
}

static char *text_between(const struct mylint_stmt *p, size_t from, size_t to)
{
	const struct mylint_token *a = &p->lx->t[from], *b = &p->lx->t[to - 1];

	return mg_xstrndup(p->lx->s + a->off, (size_t)(b->off + b->len - a->off));
}

/* Every type name of MySQL 8 and MariaDB 11 (and their synonyms): a
 * column whose type is another word does not parse. */
static int known_type(const struct mylint_stmt *p, size_t k)
{
	static const char *const types[] = {
		"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "int1",
		"int2", "int3", "int4", "int8", "middleint", "serial", "decimal", "dec",
		"numeric", "fixed", "number", "float", "float4", "float8", "double",
		"real", "bit", "bool", "boolean", "char", "character", "nchar",
		"national", "varchar", "nvarchar", "varchar2", "varcharacter",
		"binary", "varbinary", "tinytext", "text", "mediumtext", "longtext",
		"long", "tinyblob", "blob", "mediumblob", "longblob", "clob", "raw",
		"date", "time", "datetime", "timestamp", "year", "enum", "set", "json",
		"uuid", "inet4", "inet6", "vector", "geometry", "point", "linestring",
		"polygon", "multipoint", "multilinestring", "multipolygon",
		"geometrycollection", "geomcollection", "sys_refcursor", "row",
	};

	for (size_t j = 0; j < sizeof(types) / sizeof(types[0]); j++)
		if (mylint_is_word(p->lx, &p->lx->t[k], types[j]))
			return 1;
	return 0;
}

/* Skip a (...) group at the cursor, if any. */
static void skip_group(struct mylint_stmt *p)
{
	size_t close;

	if (!mylint_at_punct(p, '('))
		return;
	close = mylint_group_end(p, p->i);
	p->i = close < p->end ? close + 1 : p->end;
}

/* The type at the cursor: its name (NATIONAL CHAR, DOUBLE PRECISION, CHAR
 * VARYING), (n) or (m,d) or an enum's list, UNSIGNED, ZEROFILL, BINARY,
 * CHARACTER SET and COLLATE. */
static void read_type(struct mylint_stmt *p, struct coldef *c)
{
	const struct mylint_token *t = mylint_tok(p);
	size_t start = p->i, name;

	c->type_off = -1;
	if (!t || t->kind != MYTOK_WORD)
		return;
	if (!known_type(p, p->i)) {
		c->type_off = -2;	/* a word that names no type */
		return;
	}
	if (mylint_at(p, "national") || (mylint_at(p, "long") && p->i + 1 < p->end &&
					  p->lx->t[p->i + 1].kind == MYTOK_WORD))
		p->i++;
	if (!mylint_is_name(mylint_tok(p)) || mylint_tok(p)->kind != MYTOK_WORD) {
		p->i = start;
		return;
	}
	name = p->i++;
	c->type_flags = mylint_type_flags(p->lx->s + p->lx->t[name].off,
					  (size_t)p->lx->t[name].len);
	if (mylint_accept(p, "varying"))
		c->type_flags = 0;	/* CHAR VARYING is varchar */
	mylint_accept(p, "precision");
	skip_group(p);
	for (;;) {
		if (mylint_accept(p, "unsigned") || mylint_accept(p, "signed") ||
		    mylint_accept(p, "zerofill") || mylint_accept(p, "binary") ||
		    mylint_accept(p, "ascii") || mylint_accept(p, "unicode") ||
		    mylint_accept(p, "byte"))
			continue;
		if ((mylint_accept(p, "character set") || mylint_accept(p, "charset") ||
		     mylint_accept(p, "collate")) && p->i < p->end) {
			p->i++;
			continue;
		}
		break;
	}
	c->type_off = p->lx->t[start].off;
	c->type = text_between(p, start, p->i);
}

/* DEFAULT's value at the cursor: a (expression), a -1, a function call
 * NOW(3), a _charset'string', or one token. Sets has/volatile_default. */
static void read_default(struct mylint_stmt *p, struct coldef *c)
{
	size_t from = p->i;

	c->has_default = 1;
	if (mylint_at_punct(p, '(')) {
		skip_group(p);
	} else {
		if (mylint_at_punct(p, '-') || mylint_at_punct(p, '+'))
			p->i++;
		int word = mylint_tok(p) && mylint_tok(p)->kind == MYTOK_WORD;

		if (p->i < p->end)
			p->i++;
		if (word && mylint_at_punct(p, '('))
			skip_group(p);	/* NOW(3) */
		else if (word && mylint_tok(p) && mylint_tok(p)->kind == MYTOK_STRING)
			p->i++;		/* _utf8mb4'text' */
	}
	if (mylint_volatile_in(p, from, p->i, 1, NULL))
		c->volatile_default = 1;
}

/* The attributes after the type, up to the definition's end (',' or the
 * statement's end). */
static void read_attributes(struct mylint_stmt *p, struct coldef *c)
{
	while (p->i < p->end && !mylint_at_punct(p, ',')) {
		if (mylint_accept(p, "not null"))
			c->not_null = 1;
		else if (mylint_accept(p, "null"))
			c->null_written = 1;
		else if (mylint_accept(p, "serial default value"))
			c->not_null = 1;
		else if (mylint_accept(p, "default"))
			read_default(p, c);
		else if (mylint_accept(p, "primary key"))
			c->primary_key = 1;
		else if (mylint_accept(p, "unique key") || mylint_accept(p, "unique"))
			;
		else if (mylint_accept(p, "key"))
			c->primary_key = 1;	/* a column's KEY is PRIMARY KEY */
		else if (mylint_accept(p, "references"))
			mylint_skip_to_comma(p);	/* ON DELETE SET NULL is not the column's */
		else if (mylint_at_punct(p, '('))
			skip_group(p);
		else
			p->i++;
	}
}

/* A column definition at the cursor (its type first); 0, or -1 with a
 * syntax error fact when it has no type. */
static int read_coldef(struct mylint_stmt *p, struct coldef *c, const char *col)
{
	memset(c, 0, sizeof(*c));
	read_type(p, c);
	if (c->type_off == -2) {
		const struct mylint_token *t = mylint_tok(p);
		char *msg = mg_xasprintf("'%.*s' is not a MySQL/MariaDB column type", t->len > 64 ? 64 : t->len,
					 p->lx->s + t->off);

		mylint_syntax(p, t->off, msg);
		free(msg);
		return -1;
	}
	if (c->type_off < 0) {
		mylint_syntax(p, mylint_off(p), col ? "a column definition needs a type after the column's name"
						    : "a column definition needs a type");
		return -1;
	}
	read_attributes(p, c);
	return 0;
}

static void add_column_type(struct mylint_stmt *p, const char *table, const char *col,
			    const struct coldef *c)
{
	ADD(p, MG_FACT_COLUMN_TYPE, c->type_flags | (c->primary_key ? MG_FACTF_PRIMARY_KEY : 0),
	    c->type_off, table, col, c->type);
}

/* ==== CREATE TABLE ============================================================ */

static int at_table_constraint(const struct mylint_stmt *p)
{
	static const char *const words[] = { "constraint", "primary", "unique", "key",
		"index", "fulltext", "spatial", "foreign", "check" };
	const struct mylint_token *t = mylint_tok(p);

	if (!t || t->kind != MYTOK_WORD)
		return 0;
	for (size_t j = 0; j < sizeof(words) / sizeof(words[0]); j++)
		if (mylint_at(p, words[j]))
			return 1;
	return mylint_at(p, "period") && p->i + 1 < p->end &&
	       mylint_is_word(p->lx, &p->lx->t[p->i + 1], "for");
}

/* The column of a one-column PRIMARY KEY (...) among the definitions
 * [i, end) of the statement, or NULL. */
static char *primary_key_column(struct mylint_stmt *p)
{
	char *col = NULL;

	while (p->i < p->end) {
		if (at_table_constraint(p)) {
			size_t at = p->i;

			while (p->i < p->end && !mylint_at_punct(p, ',') && !mylint_at(p, "primary"))
				p->i++;
			if (mylint_accept(p, "primary key")) {
				if (mylint_accept(p, "using"))
					p->i++;
				if (mylint_accept_punct(p, '(') && !col) {
					col = mylint_read_name(p);
					skip_group(p);	/* a prefix length (10) */
					if (!mylint_at_punct(p, ')')) {
						free(col);	/* more than one column */
						col = NULL;
					}
				}
			}
			p->i = p->i > at ? p->i : at + 1;
		}
		mylint_skip_to_comma(p);
		mylint_accept_punct(p, ',');
	}
	return col;
}

static void create_columns(struct mylint_stmt *p, const char *table, size_t open)
{
	size_t end = p->end, close = mylint_group_end(p, open);
	char *pk;

	p->end = close;
	p->i = open + 1;
	pk = primary_key_column(p);
	p->i = open + 1;
	while (p->i < p->end) {
		if (!at_table_constraint(p)) {
			struct coldef c;
			char *col = mylint_read_name(p);

			if (col && read_coldef(p, &c, col) == 0) {
				if (pk && !strcasecmp(pk, col))
					c.primary_key = 1;
				add_column_type(p, table, col, &c);
			}
			if (col)
				coldef_release(&c);
			free(col);
		}
		mylint_skip_to_comma(p);
		if (!mylint_accept_punct(p, ','))
			break;
	}
	free(pk);
	p->end = end;
	p->i = close < end ? close + 1 : end;
}

/* CREATE [OR REPLACE] [TEMPORARY] TABLE [IF NOT EXISTS] t (...) | LIKE
 * | AS SELECT: CREATE_TABLE, then each column's COLUMN_TYPE. */
void mylint_create_table(struct mylint_stmt *p)
{
	unsigned flags = 0;
	const char *detail = NULL;
	char *table;

	p->i = p->first + 1;
	mylint_accept(p, "or replace");
	if (mylint_accept(p, "temporary"))
		detail = "TEMPORARY";
	mylint_accept(p, "table");
	if (mylint_accept(p, "if not exists"))
		flags |= MG_FACTF_IF_NOT_EXISTS;
	table = mylint_read_name(p);
	if (!table) {
		mylint_syntax(p, mylint_off(p), "CREATE TABLE needs a table name");
		return;
	}
	ADD(p, MG_FACT_CREATE_TABLE, flags, p->lx->t[p->first].off, table, NULL, detail);
	if (mylint_at_punct(p, '(') && !(p->i + 1 < p->end &&
					 mylint_is_word(p->lx, &p->lx->t[p->i + 1], "like")))
		create_columns(p, table, p->i);
	free(table);
}

/* ==== ALTER TABLE ============================================================= */

/* The uppercase words "ALTER TABLE <what>" of a spec lint has no fact for. */
static void other_spec(struct mylint_stmt *p, const char *table, int off, size_t from)
{
	struct mg_buf b = MG_BUF_INIT;

	mg_buf_adds(&b, "ALTER TABLE");
	for (size_t k = from; k < from + 2 && k < p->end && p->lx->t[k].kind == MYTOK_WORD; k++) {
		mg_buf_addc(&b, ' ');
		for (int c = 0; c < p->lx->t[k].len && c < 40; c++) {
			char ch = p->lx->s[p->lx->t[k].off + c];

			mg_buf_addc(&b, ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch);
		}
	}
	ADD(p, MG_FACT_OTHER, p->online, off, table, NULL, b.buf);
	mg_buf_release(&b);
}

/*
 * The facts of a column's new definition (CHANGE, MODIFY). The definition
 * is restated whole, so its NOT NULL, NULL and DEFAULT may be what the
 * column already had: their facts' detail names the spec ("MODIFY") so
 * that a rule can tell them from an explicit SET NOT NULL.
 */
static void redefine(struct mylint_stmt *p, const char *table, const char *col,
		     const char *new_name, int off, const struct coldef *c, unsigned on,
		     const char *spec)
{

	ADD(p, MG_FACT_ALTER_TYPE, on | (p->alg_instant ? 0 : MG_FACTF_REWRITES), off,
	    table, col, c->type);
	add_column_type(p, table, new_name, c);
	if (c->not_null)
		ADD(p, MG_FACT_SET_NOT_NULL, on, off, table, new_name, spec);
	else if (c->null_written)
		ADD(p, MG_FACT_DROP_NOT_NULL, on, off, table, new_name, spec);
	if (c->has_default)
		ADD(p, MG_FACT_SET_DEFAULT, on | MG_FACTF_HAS_DEFAULT |
		    (c->volatile_default ? MG_FACTF_VOLATILE_DEFAULT : 0), off, table, new_name, spec);
}

/* ADD [COLUMN] [IF NOT EXISTS] c type ... */
static void add_column(struct mylint_stmt *p, const char *table, int off)
{
	unsigned flags = p->online;
	struct coldef c;
	char *col;

	if (mylint_accept(p, "if not exists"))
		flags |= MG_FACTF_IF_NOT_EXISTS;
	col = mylint_read_name(p);
	if (!col) {
		mylint_syntax(p, mylint_off(p), "ADD COLUMN needs a column name and type");
		return;
	}
	if (read_coldef(p, &c, col) == 0) {
		flags |= (c.not_null ? MG_FACTF_NOT_NULL : 0) |
			 (c.has_default ? MG_FACTF_HAS_DEFAULT : 0) |
			 (c.volatile_default ? MG_FACTF_VOLATILE_DEFAULT : 0);
		ADD(p, MG_FACT_ADD_COLUMN, flags, off, table, col, NULL);
		add_column_type(p, table, col, &c);
	}
	coldef_release(&c);
	free(col);
}

/* ADD [COLUMN] (a type, b type) */
static void add_column_list(struct mylint_stmt *p, const char *table)
{
	size_t end = p->end, close = mylint_group_end(p, p->i);

	p->end = close;
	p->i++;
	while (p->i < p->end) {
		add_column(p, table, mylint_off(p));
		mylint_skip_to_comma(p);
		if (!mylint_accept_punct(p, ','))
			break;
	}
	p->end = end;
	p->i = close < end ? close + 1 : end;
}

/* ADD {INDEX|KEY|FULLTEXT|SPATIAL} [IF NOT EXISTS] [name] [USING t] (...) */
static void add_index(struct mylint_stmt *p, const char *table, int off)
{
	unsigned flags = p->online;
	const char *detail = NULL;
	char *name = NULL;

	if (mylint_accept(p, "fulltext"))
		detail = "FULLTEXT";
	else if (mylint_accept(p, "spatial"))
		detail = "SPATIAL";
	if (!mylint_accept(p, "index"))
		mylint_accept(p, "key");
	if (mylint_accept(p, "if not exists"))
		flags |= MG_FACTF_IF_NOT_EXISTS;
	if (!mylint_at_punct(p, '(') && !mylint_at(p, "using"))
		name = mylint_read_name(p);
	ADD(p, MG_FACT_CREATE_INDEX, flags, off, table, name, detail);
	free(name);
}

/* The CHECK's expression at the cursor's (...), and NOT ENFORCED after it. */
static void add_check(struct mylint_stmt *p, const char *table, const char *name,
		      unsigned flags, int off)
{
	char *expr = NULL;

	if (mylint_at_punct(p, '(')) {
		size_t open = p->i, close = mylint_group_end(p, open);

		if (close > open + 1 && close < p->end)
			expr = text_between(p, open + 1, close);
		skip_group(p);
	}
	if (mylint_accept(p, "not enforced"))
		flags |= MG_FACTF_NOT_VALID;	/* existing rows are not read */
	ADD(p, MG_FACT_ADD_CONSTRAINT, flags | MG_FACTF_CHECK, off, table, name, expr);
	free(expr);
}

/* ADD [CONSTRAINT [name]] {PRIMARY KEY|UNIQUE|FOREIGN KEY|CHECK} ... */
static void add_constraint(struct mylint_stmt *p, const char *table, int off)
{
	unsigned flags = p->online;
	char *name = NULL, *ref = NULL;

	if (mylint_accept(p, "constraint")) {
		if (mylint_accept(p, "if not exists"))
			flags |= MG_FACTF_IF_NOT_EXISTS;
		if (!mylint_at(p, "primary") && !mylint_at(p, "unique") &&
		    !mylint_at(p, "foreign") && !mylint_at(p, "check"))
			name = mylint_read_name(p);
	}
	if (mylint_accept(p, "primary key")) {
		ADD(p, MG_FACT_ADD_CONSTRAINT, flags | MG_FACTF_PRIMARY_KEY, off, table, name, NULL);
	} else if (mylint_accept(p, "unique")) {
		if (!mylint_accept(p, "index"))
			mylint_accept(p, "key");
		if (mylint_accept(p, "if not exists"))
			flags |= MG_FACTF_IF_NOT_EXISTS;
		if (!name && !mylint_at_punct(p, '(') && !mylint_at(p, "using"))
			name = mylint_read_name(p);
		ADD(p, MG_FACT_ADD_CONSTRAINT, flags | MG_FACTF_UNIQUE, off, table, name, NULL);
	} else if (mylint_accept(p, "foreign key")) {
		if (mylint_accept(p, "if not exists"))
			flags |= MG_FACTF_IF_NOT_EXISTS;
		if (!mylint_at_punct(p, '('))
			free(mylint_read_name(p));	/* the index's name */
		skip_group(p);
		if (mylint_accept(p, "references"))
			ref = mylint_read_name(p);
		/* with foreign_key_checks = 0 the server adds it in place
		 * without reading the rows: the closest to NOT VALID */
		ADD(p, MG_FACT_ADD_CONSTRAINT, flags | MG_FACTF_FOREIGN_KEY |
		    (p->fk_checks_off ? MG_FACTF_NOT_VALID : 0), off, table, name, ref);
	} else if (mylint_accept(p, "check")) {
		add_check(p, table, name, flags, off);
	} else {
		mylint_syntax(p, mylint_off(p), "ADD CONSTRAINT needs PRIMARY KEY, UNIQUE, FOREIGN KEY or CHECK");
	}
	free(name);
	free(ref);
}

static void add_spec(struct mylint_stmt *p, const char *table, int off, size_t from)
{
	if (mylint_accept(p, "column")) {
		if (mylint_at_punct(p, '('))
			add_column_list(p, table);
		else
			add_column(p, table, off);
	} else if (mylint_at_punct(p, '(')) {
		add_column_list(p, table);
	} else if (mylint_at(p, "index") || mylint_at(p, "key") || mylint_at(p, "fulltext") ||
		   mylint_at(p, "spatial")) {
		add_index(p, table, off);
	} else if (mylint_at(p, "constraint") || mylint_at(p, "primary") ||
		   mylint_at(p, "unique") || mylint_at(p, "foreign") || mylint_at(p, "check")) {
		add_constraint(p, table, off);
	} else if (mylint_at(p, "partition") || mylint_at(p, "period") || mylint_at(p, "system")) {
		other_spec(p, table, off, from);
	} else {
		add_column(p, table, off);
	}
}

/* DROP [COLUMN] c, DROP {INDEX|KEY} i, DROP PRIMARY KEY, DROP FOREIGN KEY
 * fk, DROP {CONSTRAINT|CHECK} c */
static void drop_spec(struct mylint_stmt *p, const char *table, int off, size_t from)
{
	unsigned flags = p->online, kind_flags = 0;
	enum mg_fact_kind kind = MG_FACT_DROP_COLUMN;
	char *name;

	if (mylint_accept(p, "primary key")) {
		ADD(p, MG_FACT_DROP_CONSTRAINT, flags | MG_FACTF_PRIMARY_KEY, off, table, "PRIMARY", NULL);
		return;
	}
	if (mylint_at(p, "partition") || mylint_at(p, "period") || mylint_at(p, "system")) {
		other_spec(p, table, off, from);
		return;
	}
	if (mylint_accept(p, "index") || mylint_accept(p, "key"))
		kind = MG_FACT_DROP_INDEX;
	else if (mylint_accept(p, "foreign key"))
		kind = MG_FACT_DROP_CONSTRAINT, kind_flags = MG_FACTF_FOREIGN_KEY;
	else if (mylint_accept(p, "check"))
		kind = MG_FACT_DROP_CONSTRAINT, kind_flags = MG_FACTF_CHECK;
	else if (mylint_accept(p, "constraint"))
		kind = MG_FACT_DROP_CONSTRAINT;
	else
		mylint_accept(p, "column");
	if (mylint_accept(p, "if exists"))
		flags |= MG_FACTF_IF_EXISTS;
	name = mylint_read_name(p);
	if (!name) {
		mylint_syntax(p, mylint_off(p), "DROP needs the name of what it drops");
		return;
	}
	if (mylint_accept(p, "cascade"))
		flags |= MG_FACTF_CASCADE;
	ADD(p, kind, flags | kind_flags, off, table, name, NULL);
	free(name);
}

/* RENAME COLUMN a TO b, RENAME {INDEX|KEY} a TO b, RENAME [TO|AS] t */
static void rename_spec(struct mylint_stmt *p, const char *table, int off, size_t from)
{
	char *old = NULL, *new = NULL;

	if (mylint_at(p, "index") || mylint_at(p, "key")) {
		other_spec(p, table, off, from);
		return;
	}
	if (mylint_accept(p, "column")) {
		old = mylint_read_name(p);
		if (old && mylint_accept(p, "to"))
			new = mylint_read_name(p);
		if (new)
			ADD(p, MG_FACT_RENAME_COLUMN, p->online, off, table, old, new);
		else
			mylint_syntax(p, mylint_off(p), "RENAME COLUMN needs: RENAME COLUMN old TO new");
	} else {
		if (!mylint_accept(p, "to"))
			mylint_accept(p, "as");
		new = mylint_read_name(p);
		if (new)
			ADD(p, MG_FACT_RENAME_TABLE, p->online, off, table, new, NULL);
		else
			mylint_syntax(p, mylint_off(p), "RENAME needs the table's new name");
	}
	free(old);
	free(new);
}

/* CHANGE [COLUMN] [IF EXISTS] old new type ...; MODIFY [COLUMN] [IF
 * EXISTS] c type ... */
static void redefine_spec(struct mylint_stmt *p, const char *table, int off, int change)
{
	unsigned flags = p->online;
	char *old, *new = NULL;
	struct coldef c;

	mylint_accept(p, "column");
	if (mylint_accept(p, "if exists"))
		flags |= MG_FACTF_IF_EXISTS;
	old = mylint_read_name(p);
	if (old && change)
		new = mylint_read_name(p);
	if (!old || (change && !new)) {
		mylint_syntax(p, mylint_off(p), change ? "CHANGE needs: CHANGE old_name new_name type"
						       : "MODIFY needs: MODIFY column type");
	} else if (read_coldef(p, &c, old) == 0) {
		if (change && strcasecmp(old, new))	/* column names are caseless */
			ADD(p, MG_FACT_RENAME_COLUMN, flags, off, table, old, new);
		redefine(p, table, old, change ? new : old, off, &c, flags,
			 change ? "CHANGE" : "MODIFY");
		coldef_release(&c);
	}
	free(old);
	free(new);
}

/* ALTER [COLUMN] c {SET DEFAULT v|DROP DEFAULT|SET [IN]VISIBLE}; ALTER
 * {CHECK|CONSTRAINT} c [NOT] ENFORCED; ALTER INDEX i [IN]VISIBLE */
static void alter_spec(struct mylint_stmt *p, const char *table, int off, size_t from)
{
	char *name;

	if (mylint_at(p, "index") || mylint_at(p, "key")) {
		other_spec(p, table, off, from);
		return;
	}
	if (mylint_accept(p, "check") || mylint_accept(p, "constraint")) {
		name = mylint_read_name(p);
		if (name && mylint_accept(p, "enforced"))
			ADD(p, MG_FACT_VALIDATE_CONSTRAINT, p->online, off, table, name, NULL);
		else
			other_spec(p, table, off, from);
		free(name);
		return;
	}
	mylint_accept(p, "column");
	name = mylint_read_name(p);
	if (!name) {
		mylint_syntax(p, mylint_off(p), "ALTER COLUMN needs a column name");
	} else if (mylint_accept(p, "set default")) {
		struct coldef c = { 0 };

		read_default(p, &c);
		ADD(p, MG_FACT_SET_DEFAULT, p->online | MG_FACTF_HAS_DEFAULT |
		    (c.volatile_default ? MG_FACTF_VOLATILE_DEFAULT : 0), off, table, name, NULL);
	} else if (mylint_accept(p, "drop default")) {
		ADD(p, MG_FACT_SET_DEFAULT, p->online, off, table, name, NULL);
	} else {
		other_spec(p, table, off, from);
	}
	free(name);
}

/* One comma-separated specification of an ALTER TABLE. */
static void spec(struct mylint_stmt *p, const char *table)
{
	int off = mylint_off(p);
	size_t from = p->i;

	if (mylint_accept(p, "add"))
		add_spec(p, table, off, from);
	else if (mylint_accept(p, "drop"))
		drop_spec(p, table, off, from);
	else if (mylint_accept(p, "rename"))
		rename_spec(p, table, off, from);
	else if (mylint_accept(p, "change"))
		redefine_spec(p, table, off, 1);
	else if (mylint_accept(p, "modify"))
		redefine_spec(p, table, off, 0);
	else if (mylint_accept(p, "alter"))
		alter_spec(p, table, off, from);
	else if (mylint_at(p, "algorithm") || mylint_at(p, "lock"))
		;	/* read once for the statement (mylint_read_online) */
	else if (mylint_at(p, "force") || mylint_at(p, "engine"))
		ADD(p, MG_FACT_VACUUM_FULL, p->online, off, table, NULL, NULL);	/* a rebuild */
	else
		other_spec(p, table, off, from);
}

/* ALTER [ONLINE] [IGNORE] TABLE [IF EXISTS] t [WAIT n|NOWAIT] spec, ... */
void mylint_alter_table(struct mylint_stmt *p)
{
	size_t before = p->out->n;
	char *table;

	p->i = p->first + 1;
	mylint_accept(p, "online");
	mylint_accept(p, "ignore");
	mylint_accept(p, "table");
	mylint_accept(p, "if exists");
	table = mylint_read_name(p);
	if (!table) {
		mylint_syntax(p, mylint_off(p), "ALTER TABLE needs a table name");
		return;
	}
	if (mylint_accept(p, "wait"))
		p->i++;
	mylint_accept(p, "nowait");
	while (p->i < p->end) {
		spec(p, table);
		mylint_skip_to_comma(p);
		if (!mylint_accept_punct(p, ','))
			break;
	}
	if (p->out->n == before)
		ADD(p, MG_FACT_OTHER, p->online, p->lx->t[p->first].off, table, NULL, "ALTER TABLE");
	free(table);
}

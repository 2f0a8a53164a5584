/*
 * lint.c - what MySQL/MariaDB SQL text does, for `migrate lint` (issue 14;
 * driver.h's lint_sql, docs/lint-mysql.md): offline, at the level of
 * tokens (lint_lex.c). The text is split into statements as the server
 * splits it, each statement is recognised by its leading keywords and
 * described as database-neutral facts; ALTER and CREATE TABLE are read in
 * lint_table.c. Anything not recognised is an OTHER fact naming its first
 * words, never a guess.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/my.h"
#include "mysql/mylint.h"
#include "sqltext.h"
#include "util.h"

#define ADD(p, kind, flags, off, table, name, detail) \
	mg_sql_facts_add((p)->out, kind, flags, off, table, name, detail)

/* ==== the cursor ============================================================= */

const struct mylint_token *mylint_tok(const struct mylint_stmt *p)
{
	return p->i < p->end ? &p->lx->t[p->i] : NULL;
}

int mylint_at(const struct mylint_stmt *p, const char *w)
{
	const struct mylint_token *t = mylint_tok(p);

	return t && mylint_is_word(p->lx, t, w);
}

/* Accept the words of `words` (space-separated), all or none. */
int mylint_accept(struct mylint_stmt *p, const char *words)
{
	size_t k = p->i;
	const char *w = words;

	while (*w) {
		size_t n = strcspn(w, " ");
		const struct mylint_token *t;

		if (k >= p->end)
			return 0;
		t = &p->lx->t[k];
		if (t->kind != MYTOK_WORD || (size_t)t->len != n ||
		    strncasecmp(p->lx->s + t->off, w, n))
			return 0;
		k++;
		w += n;
		w += strspn(w, " ");
	}
	p->i = k;
	return 1;
}

int mylint_at_punct(const struct mylint_stmt *p, char c)
{
	const struct mylint_token *t = mylint_tok(p);

	return t && t->kind == MYTOK_PUNCT && p->lx->s[t->off] == c;
}

int mylint_accept_punct(struct mylint_stmt *p, char c)
{
	if (!mylint_at_punct(p, c))
		return 0;
	p->i++;
	return 1;
}

int mylint_is_name(const struct mylint_token *t)
{
	return t && (t->kind == MYTOK_WORD || t->kind == MYTOK_IDENT ||
		     t->kind == MYTOK_DQUOTE);
}

/* A name at the cursor, qualified or not ("db.t"), unquoted; NULL when the
 * cursor is not at a name. */
char *mylint_read_name(struct mylint_stmt *p)
{
	struct mg_buf b = MG_BUF_INIT;
	char *part;

	if (!mylint_is_name(mylint_tok(p)))
		return NULL;
	for (;;) {
		part = mylint_name_text(p->lx, mylint_tok(p));
		mg_buf_adds(&b, part);
		free(part);
		p->i++;
		if (!mylint_at_punct(p, '.') || p->i + 1 >= p->end ||
		    !mylint_is_name(&p->lx->t[p->i + 1]))
			break;
		mg_buf_addc(&b, '.');
		p->i++;
	}
	return mg_buf_detach(&b);
}

/* The ')' closing the '(' at open, or p->end when none does. */
size_t mylint_group_end(const struct mylint_stmt *p, size_t open)
{
	int depth = 0;

	for (size_t k = open; k < p->end; k++) {
		if (mylint_punct_is(p->lx, k, '('))
			depth++;
		else if (mylint_punct_is(p->lx, k, ')') && --depth == 0)
			return k;
	}
	return p->end;
}

/* Move to the next ',' outside parentheses (or the end). */
void mylint_skip_to_comma(struct mylint_stmt *p)
{
	while (p->i < p->end && !mylint_at_punct(p, ',')) {
		if (mylint_at_punct(p, '(')) {
			size_t close = mylint_group_end(p, p->i);

			p->i = close < p->end ? close + 1 : p->end;
		} else {
			p->i++;
		}
	}
}

/* The cursor's offset, or its last token's when the cursor is at the
 * statement's end (where something is missing). */
int mylint_off(const struct mylint_stmt *p)
{
	const struct mylint_token *t = mylint_tok(p);

	return t ? t->off : p->lx->t[p->end > p->first ? p->end - 1 : p->first].off;
}

void mylint_syntax(struct mylint_stmt *p, int off, const char *why)
{
	ADD(p, MG_FACT_SYNTAX_ERROR, 0, off, NULL, NULL, why);
}

/*
 * ALGORITHM= and LOCK= of an ALTER TABLE, CREATE INDEX or DROP INDEX
 * (and MariaDB's ALTER ONLINE TABLE, CREATE ONLINE INDEX, which are
 * LOCK=NONE): the statement never blocks writes when the server must do it
 * INSTANT (no table lock at all) or with LOCK=NONE, for then it refuses
 * rather than lock. That is MG_FACTF_CONCURRENTLY's meaning here.
 */
void mylint_read_online(struct mylint_stmt *p)
{
	static const char *const algs[] = { "default", "instant", "inplace", "copy", "nocopy" };
	static const char *const locks[] = { "default", "none", "shared", "exclusive" };
	const struct mylint_lex *lx = p->lx;
	int alg = -1, lock = -1, depth = 0;

	if (p->first + 1 < p->end && mylint_is_word(lx, &lx->t[p->first + 1], "online"))
		lock = 1;
	for (size_t k = p->first; k + 1 < p->end; k++) {
		int is_alg = mylint_is_word(lx, &lx->t[k], "algorithm");
		size_t v = k + 1;

		depth += mylint_punct_is(lx, k, '(') - mylint_punct_is(lx, k, ')');
		if (depth || (!is_alg && !mylint_is_word(lx, &lx->t[k], "lock")))
			continue;
		if (mylint_punct_is(lx, v, '=') && v + 1 < p->end)
			v++;
		for (int j = 0; j < (is_alg ? 5 : 4); j++)
			if (mylint_is_word(lx, &lx->t[v], is_alg ? algs[j] : locks[j]))
				*(is_alg ? &alg : &lock) = j;
	}
	p->alg_instant = alg == 1;
	p->online = alg == 1 || (lock == 1 && alg != 3) ? MG_FACTF_CONCURRENTLY : 0;
}

/* ==== splitting the text into statements ===================================== */

/* The word after CREATE/ALTER/DROP and its modifiers (OR REPLACE, DEFINER
 * = user, TEMPORARY, UNIQUE ...) that names what the statement is about:
 * its index, or end when there is none. */
static size_t object_word(const struct mylint_lex *lx, size_t k, size_t end)
{
	static const char *const mods[] = { "or", "replace", "temporary", "unique",
		"fulltext", "spatial", "online", "offline", "ignore", "aggregate",
		"sql", "security", "definer", "invoker", "algorithm", "undefined",
		"merge", "temptable", "local", "no_write_to_binlog", "current_user",
		"nonblocking" };
	size_t j;

	for (k++; k < end; k++) {
		const struct mylint_token *t = &lx->t[k];

		if (t->kind == MYTOK_PUNCT && (lx->s[t->off] == '=' || lx->s[t->off] == '@' ||
					       lx->s[t->off] == '(' || lx->s[t->off] == ')'))
			continue;
		if (t->kind == MYTOK_STRING || t->kind == MYTOK_IDENT || t->kind == MYTOK_DQUOTE)
			continue;	/* DEFINER = 'user'@'host' */
		if (t->kind != MYTOK_WORD)
			return end;
		for (j = 0; j < sizeof(mods) / sizeof(mods[0]); j++)
			if (mylint_is_word(lx, t, mods[j]))
				break;
		if (j == sizeof(mods) / sizeof(mods[0]))
			break;
		/* DEFINER = user@host: skip the user's words too */
		if (!strcmp(mods[j], "definer") && k + 2 < end && mylint_punct_is(lx, k + 1, '='))
			for (k += 2; k + 2 < end && mylint_punct_is(lx, k + 1, '@'); k += 2)
				;
	}
	return k < end ? k : end;
}

static int word_in(const struct mylint_lex *lx, size_t k, const char *const *words, size_t n)
{
	for (size_t j = 0; j < n; j++)
		if (mylint_is_word(lx, &lx->t[k], words[j]))
			return 1;
	return 0;
}

#define WORD_IN(lx, k, ...) \
	word_in(lx, k, (const char *const[]){ __VA_ARGS__ }, \
		sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* Does the statement at start have a compound body (BEGIN ... END) whose
 * ';' do not end it: stored routines, triggers, events, MariaDB's BEGIN
 * NOT ATOMIC and its top-level IF, CASE, LOOP, WHILE, REPEAT? */
static int is_compound(const struct mylint_lex *lx, size_t start)
{
	size_t end = start + 40 < lx->n ? start + 40 : lx->n, obj;

	if (WORD_IN(lx, start, "create", "alter")) {
		obj = object_word(lx, start, end);
		return obj < end && WORD_IN(lx, obj, "procedure", "function", "trigger",
					   "event", "package");
	}
	if (start + 1 < lx->n && mylint_is_word(lx, &lx->t[start], "begin"))
		return mylint_is_word(lx, &lx->t[start + 1], "not");
	if (start + 1 < lx->n && lx->t[start].kind == MYTOK_WORD && mylint_punct_is(lx, start + 1, ':'))
		return 1;	/* label: BEGIN ... END */
	return WORD_IN(lx, start, "if", "case", "loop", "while", "repeat");
}

/* Whether IF at k is the function IF(a, b, c): a ',' in its parentheses
 * (looked for in a bounded stretch, so that nested IF( stay linear). */
static int if_function(const struct mylint_lex *lx, size_t k)
{
	size_t stop = k + 4096 < lx->n ? k + 4096 : lx->n;
	int depth = 0;

	if (k + 1 >= lx->n || !mylint_punct_is(lx, k + 1, '('))
		return 0;
	for (k++; k < stop; k++) {
		if (mylint_punct_is(lx, k, '('))
			depth++;
		else if (mylint_punct_is(lx, k, ')') && --depth == 0)
			return 0;
		else if (depth == 1 && mylint_punct_is(lx, k, ','))
			return 1;
		else if (mylint_punct_is(lx, k, ';'))
			return 0;
	}
	return 0;
}

/* Where a statement of a compound body may start: token k opens a block
 * when it is IF, LOOP, WHILE or REPEAT there (not REPEAT('a', 3)). */
static int at_body_statement(const struct mylint_lex *lx, size_t start, size_t k)
{
	if (k == start || mylint_punct_is(lx, k - 1, ';') || mylint_punct_is(lx, k - 1, ':'))
		return 1;
	return WORD_IN(lx, k - 1, "begin", "then", "else", "do", "loop", "repeat",
		       "atomic", "row");
}

/* The change of block depth at token k of a compound statement; *k moves
 * past END's word (END IF, END CASE ...). */
static int block_step(const struct mylint_lex *lx, size_t start, size_t *k)
{
	const struct mylint_token *t = &lx->t[*k];

	if (t->kind != MYTOK_WORD || (*k > 0 && (mylint_punct_is(lx, *k - 1, '.') ||
						  mylint_punct_is(lx, *k - 1, '@'))))
		return 0;	/* t.end, @end: names */
	if (WORD_IN(lx, *k, "begin", "case"))
		return 1;
	if (WORD_IN(lx, *k, "if", "loop", "while", "repeat") &&
	    at_body_statement(lx, start, *k) && !if_function(lx, *k))
		return 1;
	if (mylint_is_word(lx, t, "end")) {
		if (*k + 1 < lx->n && WORD_IN(lx, *k + 1, "if", "case", "loop", "while", "repeat"))
			(*k)++;
		return -1;
	}
	return 0;
}

struct split {
	int delimiter_seen;	/* a DELIMITER line came before */
	char delim[16];		/* the delimiter it set, "" for ';' */
	int in_block;		/* after BEGIN / START TRANSACTION */
	int fk_checks_off;	/* after SET foreign_key_checks = 0 */
};

/* Does the client's custom delimiter start at token k? */
static int at_delimiter(const struct mylint_lex *lx, const struct split *sp, size_t k)
{
	return sp->delim[0] && !strncmp(lx->s + lx->t[k].off, sp->delim, strlen(sp->delim));
}

/* The end (exclusive) of the statement starting at token start; *next:
 * where the next one starts. */
static size_t statement_end(const struct mylint_lex *lx, const struct split *sp,
			    size_t start, size_t *next)
{
	int compound = is_compound(lx, start), depth = 0;

	for (size_t k = start; k < lx->n; k++) {
		if (at_delimiter(lx, sp, k)) {
			size_t to = (size_t)lx->t[k].off + strlen(sp->delim);

			for (*next = k; *next < lx->n && (size_t)lx->t[*next].off < to; (*next)++)
				;
			return k;
		}
		if (mylint_punct_is(lx, k, ';') && depth <= 0) {
			*next = k + 1;
			return k;
		}
		if (k > start && sp->delimiter_seen && lx->t[k].line_start &&
		    mylint_is_word(lx, &lx->t[k], "delimiter")) {
			*next = k;
			return k;
		}
		if (compound)
			depth += block_step(lx, start, &k);
	}
	*next = lx->n;
	return lx->n;
}

/* DELIMITER x: a command of the mysql client, which the server refuses.
 * Lint reports it and reads on with the new delimiter; returns the token
 * after the command's line. */
static size_t delimiter_command(const struct mylint_lex *lx, struct split *sp, size_t k,
				struct mg_sql_facts *out)
{
	const char *s = lx->s + lx->t[k].off + lx->t[k].len;
	size_t n, line_end;

	mg_sql_facts_add(out, MG_FACT_SYNTAX_ERROR, 0, lx->t[k].off, NULL, NULL,
			 "DELIMITER is a mysql client command, not SQL: the server refuses it (write the statements without it; a routine's BEGIN ... END body needs no other delimiter)");
	sp->delimiter_seen = 1;
	s += strspn(s, " \t");
	n = strcspn(s, " \t\r\n");
	if (n >= sizeof(sp->delim) || (n == 1 && *s == ';'))
		n = 0;
	memcpy(sp->delim, s, n);
	sp->delim[n] = '\0';
	line_end = (size_t)(s - lx->s) + strcspn(s, "\n");
	for (k++; k < lx->n && (size_t)lx->t[k].off < line_end; k++)
		;
	return k;
}

/* ==== statements ============================================================== */

/* "CREATE VIEW": the words from the first to token last, upper case. */
static void add_other(struct mylint_stmt *p, size_t last)
{
	struct mg_buf b = MG_BUF_INIT;
	const struct mylint_lex *lx = p->lx;

	for (size_t k = p->first; k <= last && k < p->end; k++) {
		if (k > p->first && k != last)
			continue;
		if (b.len)
			mg_buf_addc(&b, ' ');
		for (int c = 0; c < lx->t[k].len && c < 40; c++)
			mg_buf_addc(&b, (char)toupper((unsigned char)lx->s[lx->t[k].off + c]));
	}
	ADD(p, MG_FACT_OTHER, 0, lx->t[p->first].off, NULL, NULL, b.buf);
	mg_buf_release(&b);
}

/* Names separated by commas, one fact each (DROP TABLE a, b; OPTIMIZE
 * TABLE a, b; LOCK TABLES a READ, b WRITE), the first at the statement's
 * offset, the others at their own. */
static void each_table(struct mylint_stmt *p, enum mg_fact_kind kind, unsigned flags,
		       const char *what)
{
	int first = 1;

	do {
		int off = first ? p->lx->t[p->first].off : mylint_off(p);
		char *name = mylint_read_name(p);

		if (!name) {
			mylint_syntax(p, mylint_off(p), what);
			return;
		}
		ADD(p, kind, flags, off, name, NULL, NULL);
		free(name);
		first = 0;
		mylint_skip_to_comma(p);
	} while (mylint_accept_punct(p, ','));
}

static void drop_table(struct mylint_stmt *p)
{
	unsigned flags = 0;
	size_t k;

	mylint_accept(p, "drop");
	mylint_accept(p, "temporary");
	mylint_accept(p, "table");
	if (mylint_accept(p, "if exists"))
		flags |= MG_FACTF_IF_EXISTS;
	for (k = p->i; k < p->end; k++)
		if (mylint_is_word(p->lx, &p->lx->t[k], "cascade"))
			flags |= MG_FACTF_CASCADE;
	each_table(p, MG_FACT_DROP_TABLE, flags, "DROP TABLE needs a table name");
}

/* RENAME TABLE a TO b [, c TO d] */
static void rename_table(struct mylint_stmt *p)
{
	int first = 1;

	mylint_accept(p, "rename");
	if (!mylint_accept(p, "table"))
		mylint_accept(p, "tables");
	mylint_accept(p, "if exists");
	do {
		int off = first ? p->lx->t[p->first].off : mylint_off(p);
		char *from = mylint_read_name(p), *to = NULL;

		if (from && mylint_accept(p, "to"))
			to = mylint_read_name(p);
		if (!to)
			mylint_syntax(p, mylint_off(p), "RENAME TABLE needs: RENAME TABLE old TO new");
		else
			ADD(p, MG_FACT_RENAME_TABLE, 0, off, from, to, NULL);
		free(from);
		free(to);
		if (!to)
			return;
		first = 0;
	} while (mylint_accept_punct(p, ','));
}

/* CREATE [OR REPLACE] [ONLINE] [UNIQUE|FULLTEXT|SPATIAL] INDEX [IF NOT
 * EXISTS] name [USING t] ON table (...) [ALGORITHM=...] [LOCK=...] */
static void create_index(struct mylint_stmt *p, size_t obj)
{
	unsigned flags = p->online;
	char *name, *table = NULL;

	for (size_t k = p->first; k < obj; k++)
		if (mylint_is_word(p->lx, &p->lx->t[k], "unique"))
			flags |= MG_FACTF_UNIQUE;
	p->i = obj + 1;
	if (mylint_accept(p, "if not exists"))
		flags |= MG_FACTF_IF_NOT_EXISTS;
	name = mylint_read_name(p);
	if (mylint_accept(p, "using") || mylint_accept(p, "type"))
		p->i++;
	if (name && mylint_accept(p, "on"))
		table = mylint_read_name(p);
	if (!table)
		mylint_syntax(p, mylint_off(p), "CREATE INDEX needs: CREATE INDEX name ON table (columns)");
	else
		ADD(p, MG_FACT_CREATE_INDEX, flags, p->lx->t[p->first].off, table, name, NULL);
	free(name);
	free(table);
}

/* DROP INDEX [IF EXISTS] name ON table [ALGORITHM=...] [LOCK=...] */
static void drop_index(struct mylint_stmt *p, size_t obj)
{
	unsigned flags = p->online;
	char *name, *table = NULL;

	p->i = obj + 1;
	if (mylint_accept(p, "if exists"))
		flags |= MG_FACTF_IF_EXISTS;
	name = mylint_read_name(p);
	if (name && mylint_accept(p, "on"))
		table = mylint_read_name(p);
	if (!table)
		mylint_syntax(p, mylint_off(p), "DROP INDEX needs: DROP INDEX name ON table");
	else
		ADD(p, MG_FACT_DROP_INDEX, flags, p->lx->t[p->first].off, table, name, NULL);
	free(name);
	free(table);
}

/* OPTIMIZE [NO_WRITE_TO_BINLOG|LOCAL] TABLE a, b: a rebuild of each. */
static void optimize(struct mylint_stmt *p)
{
	mylint_accept(p, "optimize");
	if (!mylint_accept(p, "no_write_to_binlog"))
		mylint_accept(p, "local");
	if (!mylint_accept(p, "table"))
		mylint_accept(p, "tables");
	each_table(p, MG_FACT_VACUUM_FULL, 0, "OPTIMIZE TABLE needs a table name");
}

/* LOCK TABLE[S] a [AS x] READ, b WRITE ... */
static void lock_tables(struct mylint_stmt *p)
{
	mylint_accept(p, "lock");
	if (!mylint_accept(p, "tables") && !mylint_accept(p, "table")) {
		add_other(p, p->first + 1);	/* LOCK INSTANCE FOR BACKUP ... */
		return;
	}
	each_table(p, MG_FACT_LOCK_TABLE, 0, "LOCK TABLES needs a table name");
}

/* Whether the statement's tokens have the word w outside parentheses. */
static int has_top_word(const struct mylint_stmt *p, size_t from, const char *w)
{
	int depth = 0;

	for (size_t k = from; k < p->end; k++) {
		depth += mylint_punct_is(p->lx, k, '(') - mylint_punct_is(p->lx, k, ')');
		if (!depth && mylint_is_word(p->lx, &p->lx->t[k], w))
			return 1;
	}
	return 0;
}

/* UPDATE [LOW_PRIORITY] [IGNORE] t ... SET ... [WHERE] [LIMIT]; DELETE
 * [LOW_PRIORITY] [QUICK] [IGNORE] FROM t ... (or DELETE t FROM ...). A
 * statement without WHERE and LIMIT touches every row. */
static void update_delete(struct mylint_stmt *p, size_t verb)
{
	int is_update = mylint_is_word(p->lx, &p->lx->t[verb], "update");
	unsigned flags = 0;
	char *table;

	p->i = verb + 1;
	while (mylint_accept(p, "low_priority") || mylint_accept(p, "quick") ||
	       mylint_accept(p, "ignore"))
		;
	if (!is_update)
		mylint_accept(p, "from");
	table = mylint_read_name(p);
	if (!table) {
		mylint_syntax(p, mylint_off(p), is_update ? "UPDATE needs a table name"
					   : "DELETE needs: DELETE FROM table");
		return;
	}
	if (!has_top_word(p, verb, "where") && !has_top_word(p, verb, "limit"))
		flags |= MG_FACTF_NO_WHERE;
	ADD(p, is_update ? MG_FACT_UPDATE : MG_FACT_DELETE, flags, p->lx->t[p->first].off,
	    table, NULL, NULL);
	free(table);
}

/* WITH cte AS (...) [, ...] UPDATE/DELETE/SELECT ...: the verb's index. */
static size_t after_with(struct mylint_stmt *p)
{
	int depth = 0;

	for (size_t k = p->first + 1; k < p->end; k++) {
		depth += mylint_punct_is(p->lx, k, '(') - mylint_punct_is(p->lx, k, ')');
		if (!depth && WORD_IN(p->lx, k, "update", "delete", "select", "insert",
				      "replace", "table", "values"))
			return k;
	}
	return p->end;
}

static void truncate_table(struct mylint_stmt *p)
{
	char *table;

	mylint_accept(p, "truncate");
	mylint_accept(p, "table");
	table = mylint_read_name(p);
	if (!table) {
		mylint_syntax(p, mylint_off(p), "TRUNCATE needs a table name");
		return;
	}
	ADD(p, MG_FACT_DELETE, MG_FACTF_NO_WHERE, p->lx->t[p->first].off, table, NULL, "TRUNCATE");
	free(table);
}

/* BEGIN [WORK], START TRANSACTION, COMMIT, ROLLBACK (not ROLLBACK TO). */
static int transaction(struct mylint_stmt *p, struct split *sp)
{
	const char *word = NULL;
	unsigned flags = sp->in_block ? MG_FACTF_IN_BLOCK : 0;

	if (mylint_accept(p, "begin"))
		word = "BEGIN";
	else if (mylint_accept(p, "start transaction"))
		word = "START TRANSACTION";
	else if (mylint_accept(p, "commit"))
		word = "COMMIT";
	else if (mylint_accept(p, "rollback")) {
		mylint_accept(p, "work");
		if (mylint_at(p, "to"))
			return 0;	/* to a savepoint: the transaction goes on */
		word = "ROLLBACK";
	}
	if (!word)
		return 0;
	ADD(p, MG_FACT_TRANSACTION, flags, p->lx->t[p->first].off, NULL, NULL, word);
	sp->in_block = word[0] == 'B' || word[0] == 'S';
	return 1;
}

/* SET [SESSION] foreign_key_checks = 0|1 (or @@foreign_key_checks): with
 * the checks off, a foreign key is added without reading the table. */
static void set_statement(struct mylint_stmt *p, struct split *sp)
{
	for (size_t k = p->first; k + 2 < p->end; k++) {
		size_t v = k + 1;

		if (!mylint_is_word(p->lx, &p->lx->t[k], "foreign_key_checks"))
			continue;
		if (mylint_punct_is(p->lx, v, ':') && v + 2 < p->end)
			v++;	/* := */
		if (!mylint_punct_is(p->lx, v, '='))
			continue;
		sp->fk_checks_off = WORD_IN(p->lx, v + 1, "0", "off", "false");
	}
	add_other(p, p->first);
}

/* Statements that end a transaction before they run (MySQL commits
 * implicitly before DDL and before LOCK TABLES). */
static int commits_implicitly(const struct mylint_lex *lx, size_t k, size_t end)
{
	if (WORD_IN(lx, k, "create", "drop") && k + 1 < end &&
	    mylint_is_word(lx, &lx->t[k + 1], "temporary"))
		return 0;
	return WORD_IN(lx, k, "alter", "create", "drop", "rename", "truncate", "lock",
		       "unlock", "optimize", "analyze", "repair", "grant", "revoke",
		       "flush", "install", "uninstall", "begin", "start");
}

/* The first words of MySQL and MariaDB statements lint has no more to
 * say about: OTHER facts. Any other first word is a syntax error. */
static const char *const other_statements[] = {
	"analyze", "binlog", "cache", "call", "change", "check", "checksum",
	"deallocate", "describe", "desc", "do", "execute", "explain", "flush",
	"get", "grant", "handler", "help", "import", "insert", "install", "kill",
	"load", "prepare", "purge", "release", "repair", "replace", "reset",
	"resignal", "restart", "revoke", "savepoint", "select", "show",
	"shutdown", "signal", "stop", "table", "uninstall", "unlock", "use",
	"values", "xa", "backup", "if", "case", "loop", "while", "repeat",
	"clone", "help", "declare", "return", "iterate", "leave", "open",
	"close", "fetch", "rollback", "start", "begin",
};

static void read_ddl(struct mylint_stmt *p, size_t obj)
{
	const struct mylint_lex *lx = p->lx;
	size_t verb = p->first;

	if (obj >= p->end) {
		mylint_syntax(p, lx->t[verb].off, "the statement ends after its first word");
		return;
	}
	if (mylint_is_word(lx, &lx->t[verb], "create") && mylint_is_word(lx, &lx->t[obj], "table"))
		mylint_create_table(p);
	else if (mylint_is_word(lx, &lx->t[verb], "alter") && mylint_is_word(lx, &lx->t[obj], "table"))
		mylint_alter_table(p);
	else if (mylint_is_word(lx, &lx->t[verb], "drop") && mylint_is_word(lx, &lx->t[obj], "table"))
		drop_table(p);
	else if (mylint_is_word(lx, &lx->t[verb], "create") && mylint_is_word(lx, &lx->t[obj], "index"))
		create_index(p, obj);
	else if (mylint_is_word(lx, &lx->t[verb], "drop") && mylint_is_word(lx, &lx->t[obj], "index"))
		drop_index(p, obj);
	else
		add_other(p, obj);
}

static void dispatch(struct mylint_stmt *p, struct split *sp)
{
	const struct mylint_lex *lx = p->lx;
	const struct mylint_token *t = &lx->t[p->first];
	size_t verb;

	if (t->kind == MYTOK_PUNCT && lx->s[t->off] == '(') {
		ADD(p, MG_FACT_OTHER, 0, t->off, NULL, NULL, "SELECT");
		return;
	}
	if (WORD_IN(lx, p->first, "create", "alter", "drop")) {
		read_ddl(p, object_word(lx, p->first, p->end));
		return;
	}
	if (WORD_IN(lx, p->first, "begin", "start", "commit", "rollback") &&
	    !is_compound(lx, p->first) && transaction(p, sp))
		return;
	verb = mylint_is_word(lx, t, "with") ? after_with(p) : p->first;
	if (verb < p->end && WORD_IN(lx, verb, "update", "delete"))
		update_delete(p, verb);
	else if (mylint_is_word(lx, t, "rename") && p->first + 1 < p->end &&
		 WORD_IN(lx, p->first + 1, "table", "tables"))
		rename_table(p);
	else if (mylint_is_word(lx, t, "optimize"))
		optimize(p);
	else if (mylint_is_word(lx, t, "lock"))
		lock_tables(p);
	else if (mylint_is_word(lx, t, "truncate"))
		truncate_table(p);
	else if (mylint_is_word(lx, t, "set"))
		set_statement(p, sp);
	else if (verb < p->end && (verb != p->first ||
		 word_in(lx, verb, other_statements, sizeof(other_statements) / sizeof(other_statements[0]))))
		add_other(p, verb);
	else if (t->kind == MYTOK_WORD && p->first + 1 < p->end && mylint_punct_is(lx, p->first + 1, ':'))
		ADD(p, MG_FACT_OTHER, 0, t->off, NULL, NULL, "BEGIN");	/* label: BEGIN ... END */
	else
		mylint_syntax(p, t->off, "this is not the first word of a MySQL/MariaDB statement");
}

/* A '(' without its ')' or the reverse: the server refuses the statement. */
static int check_parentheses(struct mylint_stmt *p)
{
	int depth = 0;
	size_t open = p->end;

	for (size_t k = p->first; k < p->end; k++) {
		if (mylint_punct_is(p->lx, k, '(')) {
			if (!depth++)
				open = k;
		} else if (mylint_punct_is(p->lx, k, ')') && --depth < 0) {
			mylint_syntax(p, p->lx->t[k].off, "a ')' has no '(' before it");
			return -1;
		}
	}
	if (depth) {
		mylint_syntax(p, p->lx->t[open].off, "a '(' is not closed by a ')'");
		return -1;
	}
	return 0;
}

static void read_statement(const struct mylint_lex *lx, struct split *sp, size_t first,
			   size_t end, struct mg_sql_facts *out)
{
	struct mylint_stmt p = { lx, first, first, end, out, sp->fk_checks_off, 0, 0 };
	size_t before = out->n;

	if (check_parentheses(&p) < 0)
		return;
	if (sp->in_block && commits_implicitly(lx, first, end))
		sp->in_block = 0;
	mylint_read_online(&p);
	if (sp->in_block) {
		dispatch(&p, sp);
		for (size_t k = before; k < out->n; k++)
			out->items[k].flags |= MG_FACTF_IN_BLOCK;
	} else {
		dispatch(&p, sp);
	}
}

static void lint_statements(const char *text, struct mg_sql_facts *out)
{
	struct mylint_lex lx;
	struct split sp = { 0, "", 0, 0 };
	size_t i = 0;

	mylint_lex(&lx, text);
	for (size_t k = 0; k < lx.n_issues; k++)
		mg_sql_facts_add(out, MG_FACT_SYNTAX_ERROR, 0, lx.issues[k].off, NULL, NULL,
				 lx.issues[k].why);
	while (i < lx.n) {
		size_t end, next;

		if (mylint_punct_is(&lx, i, ';')) {
			i++;
			continue;
		}
		if (mylint_is_word(&lx, &lx.t[i], "delimiter")) {
			i = delimiter_command(&lx, &sp, i, out);
			continue;
		}
		end = statement_end(&lx, &sp, i, &next);
		/* a statement cut short by an unclosed string is not read */
		if (end < lx.n || lx.stopped_at < 0)
			read_statement(&lx, &sp, i, end, out);
		i = next > i ? next : i + 1;
	}
	mylint_lex_release(&lx);
}

void mydrv_lint_sql(const char *text, enum mg_lint_text kind, struct mg_sql_facts *out)
{
	if (!text)
		return;
	if (kind == MG_LINT_EXPRESSION)
		mylint_expression(text, out);
	else if (kind == MG_LINT_TYPE)
		mylint_type(text, out);
	else
		lint_statements(text, out);
}

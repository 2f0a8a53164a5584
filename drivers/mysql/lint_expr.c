/*
 * lint_expr.c - MySQL/MariaDB expressions and types for lint (see
 * mylint.h): the functions whose value is not the same at each call or in
 * each statement (VOLATILE_CALL facts, volatile defaults), an expression's
 * lexical check (sqltext.c's, with the position of what it refuses), and
 * a type through sqltext.c's strict grammar.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/mylint.h"
#include "sqltext.h"
#include "util.h"

/* ==== functions whose value is not the same each time ======================== */

static const struct volatile_fn {
	const char *name;
	int per_row;		/* a new value at each call (else: the time of
				 * the statement, the same for every row) */
	int bare;		/* also written without parentheses */
} volatile_fns[] = {
	{ "rand", 1, 0 }, { "uuid", 1, 0 }, { "uuid_short", 1, 0 },
	{ "sys_guid", 1, 0 }, { "sysdate", 1, 0 }, { "random_bytes", 1, 0 },
	{ "nextval", 1, 0 },
	{ "now", 0, 0 }, { "current_timestamp", 0, 1 }, { "localtime", 0, 1 },
	{ "localtimestamp", 0, 1 }, { "curdate", 0, 0 }, { "current_date", 0, 1 },
	{ "curtime", 0, 0 }, { "current_time", 0, 1 }, { "utc_timestamp", 0, 1 },
	{ "utc_date", 0, 1 }, { "utc_time", 0, 1 }, { "unix_timestamp", 0, 0 },
};

/* The volatile function called at token k, or NULL. */
static const struct volatile_fn *volatile_at(const struct mylint_lex *lx, size_t k, size_t end)
{
	const struct mylint_token *t = &lx->t[k];
	int call = k + 1 < end && mylint_punct_is(lx, k + 1, '(');

	if (t->kind != MYTOK_WORD || (k > 0 && mylint_punct_is(lx, k - 1, '.')))
		return NULL;
	if (k + 2 < end && mylint_is_word(lx, t, "next") &&
	    mylint_is_word(lx, &lx->t[k + 1], "value") && mylint_is_word(lx, &lx->t[k + 2], "for"))
		return &volatile_fns[6];	/* MariaDB's NEXT VALUE FOR seq */
	for (size_t j = 0; j < sizeof(volatile_fns) / sizeof(volatile_fns[0]); j++) {
		const struct volatile_fn *f = &volatile_fns[j];

		if (!mylint_is_word(lx, t, f->name) || (!call && !f->bare))
			continue;
		/* UNIX_TIMESTAMP(date) converts its argument: only () is now */
		if (!strcmp(f->name, "unix_timestamp") &&
		    !(k + 2 < end && mylint_punct_is(lx, k + 2, ')')))
			return NULL;
		return f;
	}
	return NULL;
}

/*
 * How many calls of volatile functions tokens [from, to) make (only those
 * with a new value per call when per_row_only); each is a VOLATILE_CALL
 * fact in calls when calls is not NULL.
 */
int mylint_volatile_in(const struct mylint_stmt *p, size_t from, size_t to,
		       int per_row_only, struct mg_sql_facts *calls)
{
	int n = 0;

	for (size_t k = from; k < to && k < p->lx->n; k++) {
		const struct volatile_fn *f = volatile_at(p->lx, k, to);

		if (!f || (per_row_only && !f->per_row))
			continue;
		n++;
		if (calls)
			mg_sql_facts_add(calls, MG_FACT_VOLATILE_CALL, 0, p->lx->t[k].off,
					 NULL, NULL, f->name);
	}
	return n;
}

/* ==== expressions and types =================================================== */

/* Where in an expression what mg_sqltext_check_expr refused (why) is: the
 * token it names, else the start. */
static int expr_error_offset(const struct mylint_lex *lx, const char *why)
{
	const char *q = strchr(why, '\'');	/* the first character it quotes */
	char c = q && q[1] && q[2] == '\'' && strchr(";,()", q[1]) ? q[1] : 0;
	int depth = 0;
	size_t open = lx->n, k0;

	if (strstr(why, "comment") && lx->first_comment >= 0)
		return lx->first_comment;
	if (lx->n_issues)
		return lx->issues[0].off;
	for (size_t k = 0; c && k < lx->n; k++) {
		if (mylint_punct_is(lx, k, '(') && !depth++)
			open = k;
		if (mylint_punct_is(lx, k, ')') && --depth < 0 && c == ')')
			return lx->t[k].off;
		if (!depth && c != '(' && c != ')' && mylint_punct_is(lx, k, c))
			return lx->t[k].off;
	}
	if (c == '(' && open < lx->n)
		return lx->t[open].off;
	k0 = strspn(lx->s, " \t\r\n");
	return lx->s[k0] ? (int)k0 : 0;
}

void mylint_expression(const char *text, struct mg_sql_facts *out)
{
	const char *why = NULL;
	struct mylint_lex lx;
	struct mylint_stmt p;

	mylint_lex(&lx, text);
	p = (struct mylint_stmt){ &lx, 0, 0, lx.n, out, 0, 0, 0 };
	if (mg_sqltext_check_expr(text, MG_SQL_MYSQL, &why) < 0) {
		char *msg = mg_xasprintf("the expression %s", why);

		mg_sql_facts_add(out, MG_FACT_SYNTAX_ERROR, 0, expr_error_offset(&lx, why),
				 NULL, NULL, msg);
		free(msg);
	} else {
		mylint_volatile_in(&p, 0, lx.n, 0, out);
	}
	mylint_lex_release(&lx);
}

/* The MG_FACTF_TYPE_* flags of a MySQL type whose name is the word at
 * s (see docs/lint-mysql.md for what is not flagged and why). */
unsigned mylint_type_flags(const char *s, size_t n)
{
	static const char *const int4[] = { "int", "integer", "mediumint", "smallint",
		"tinyint", "int1", "int2", "int3", "int4", "middleint" };
	static const char *const chars[] = { "char", "character", "nchar" };

	for (size_t j = 0; j < sizeof(int4) / sizeof(int4[0]); j++)
		if (strlen(int4[j]) == n && !strncasecmp(s, int4[j], n))
			return MG_FACTF_TYPE_INT4;
	for (size_t j = 0; j < sizeof(chars) / sizeof(chars[0]); j++)
		if (strlen(chars[j]) == n && !strncasecmp(s, chars[j], n))
			return MG_FACTF_TYPE_CHAR;
	return 0;
}

void mylint_type(const char *text, struct mg_sql_facts *out)
{
	const char *why = NULL;
	char *canon = NULL;
	size_t start = strspn(text, " \t\r\n"), n = 0;
	unsigned flags;

	if (mg_sqltext_mysql_type(text, &canon, &why) < 0) {
		char *msg = mg_xasprintf("the type %s", why);

		mg_sql_facts_add(out, MG_FACT_SYNTAX_ERROR, 0, (int)start, NULL, NULL, msg);
		free(msg);
		return;
	}
	while (isalnum((unsigned char)canon[n]) || canon[n] == '_')
		n++;
	flags = mylint_type_flags(canon, n);
	mg_sql_facts_add(out, MG_FACT_COLUMN_TYPE, flags, (int)start, NULL, NULL, text + start);
	free(canon);
}

/*
 * mylint.h - private to the MySQL/MariaDB driver's lint (drivers/mysql/
 * lint_lex.c: tokens; lint.c: statements; lint_table.c: CREATE and ALTER
 * TABLE; lint_expr.c: expressions, types, volatile functions): the tokens
 * of MySQL SQL text and the reader of one statement. Nothing outside
 * these files includes it.
 *
 * There is no packaged parser for MySQL, so lint reads SQL at the level
 * of tokens: it splits the text into statements the way the server does
 * (';' at the top level, compound bodies kept whole) and recognises each
 * statement by its leading keywords (docs/lint-mysql.md says what that
 * can and cannot see).
 */
#ifndef MG_MYLINT_H
#define MG_MYLINT_H

#include <stddef.h>

#include "driver.h"

enum mylint_tok {
	MYTOK_WORD,		/* keyword or unquoted name: [A-Za-z0-9_$\x80-] */
	MYTOK_IDENT,		/* `backticked name` */
	MYTOK_DQUOTE,		/* "text": a string, or a name under ANSI_QUOTES */
	MYTOK_STRING,		/* 'text' */
	MYTOK_PUNCT		/* one other character */
};

struct mylint_token {
	enum mylint_tok kind;
	int off;		/* byte offset in the text */
	int len;		/* bytes, quotes included */
	int line_start;		/* first token of its line */
};

/* A problem the lexer found (the text's SYNTAX_ERROR facts). */
struct mylint_issue {
	int off;
	const char *why;	/* static */
};

struct mylint_lex {
	const char *s;
	struct mylint_token *t;
	size_t n, cap;
	struct mylint_issue *issues;
	size_t n_issues, cap_issues;
	/* The text stops being read at an unclosed string, quoted name or
	 * comment: its offset, or -1 when the text was read to its end. */
	int stopped_at;
	int first_comment;	/* offset of the first comment, or -1 */
};

/*
 * Split text into tokens (comments dropped, the contents of versioned
 * comments, which open with slash-star-bang, kept as code). Never fails: what is wrong is in
 * issues. Release with mylint_lex_release.
 */
void mylint_lex(struct mylint_lex *lx, const char *text);
void mylint_lex_release(struct mylint_lex *lx);

/* Whether token t is the word w (any case). */
int mylint_is_word(const struct mylint_lex *lx, const struct mylint_token *t,
		   const char *w);
/* Whether token k is the punctuation c (false past the last token). */
int mylint_punct_is(const struct mylint_lex *lx, size_t k, char c);
/* A name token's text unquoted (`a``b` -> a`b): owned by the caller. */
char *mylint_name_text(const struct mylint_lex *lx, const struct mylint_token *t);

/* One statement being read: tokens [i, end) of lx. */
struct mylint_stmt {
	const struct mylint_lex *lx;
	size_t first, i, end;
	struct mg_sql_facts *out;
	int fk_checks_off;	/* SET foreign_key_checks = 0 seen before */
	unsigned online;	/* MG_FACTF_CONCURRENTLY when ALGORITHM/LOCK say
				 * the statement never blocks writes */
	int alg_instant;	/* ALGORITHM=INSTANT */
};

/* Cursor helpers (lint.c). */
const struct mylint_token *mylint_tok(const struct mylint_stmt *p);
int mylint_at(const struct mylint_stmt *p, const char *w);
int mylint_accept(struct mylint_stmt *p, const char *words);
int mylint_at_punct(const struct mylint_stmt *p, char c);
int mylint_accept_punct(struct mylint_stmt *p, char c);
int mylint_is_name(const struct mylint_token *t);
char *mylint_read_name(struct mylint_stmt *p);
size_t mylint_group_end(const struct mylint_stmt *p, size_t open);
void mylint_skip_to_comma(struct mylint_stmt *p);
int mylint_off(const struct mylint_stmt *p);
void mylint_syntax(struct mylint_stmt *p, int off, const char *why);
void mylint_read_online(struct mylint_stmt *p);
int mylint_volatile_in(const struct mylint_stmt *p, size_t from, size_t to,
		       int per_row_only, struct mg_sql_facts *calls);

/* Expressions and types (lint_expr.c): MG_LINT_EXPRESSION and
 * MG_LINT_TYPE text's facts. */
void mylint_expression(const char *text, struct mg_sql_facts *out);
void mylint_type(const char *text, struct mg_sql_facts *out);

/* The MG_FACTF_TYPE_* flags of the type named by the n bytes at s. */
unsigned mylint_type_flags(const char *s, size_t n);

/* Statements about tables (lint_table.c). */
void mylint_create_table(struct mylint_stmt *p);
void mylint_alter_table(struct mylint_stmt *p);

#endif

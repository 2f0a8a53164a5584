/*
 * sqltext.h - text from a migration file that the drivers paste into SQL.
 *
 * A migration file's expressions (default, backfill, up, down, where) and
 * types are SQL by design, so they cannot be quoted: they are checked
 * instead, before anything runs, so that none of them can end the
 * statement it is pasted into (design §3, issue 11 defect 7).
 *
 * mg_sqltext_check_expr() is lexical: outside string literals and quoted
 * names the text has no ';', no comment and balanced parentheses, and no
 * literal is left open. The server then parses what is left as an
 * expression or a type (each driver does that). Where the way a literal
 * ends depends on a server setting (a backslash in a string), the text
 * must be safe under every setting.
 *
 * mg_sqltext_mysql_type() is a strict grammar of MySQL/MariaDB column
 * types; *out is the canonical text, owned by the caller.
 *
 * Both return 0, or -1 with *why set to a static description of what is
 * wrong ("contains ';' outside a string"), to be quoted in an error.
 */
#ifndef MG_SQLTEXT_H
#define MG_SQLTEXT_H

enum mg_sql_dialect {
	MG_SQL_POSTGRES,
	MG_SQL_MYSQL
};

int mg_sqltext_check_expr(const char *text, enum mg_sql_dialect d,
			  const char **why);

/*
 * Whether PostgreSQL SQL text has a statement of its own that ends or
 * starts a transaction (BEGIN, START, COMMIT, END, ROLLBACK, ABORT) at the
 * top level, outside literals, comments and dollar-quoted bodies: 1 with
 * *word set to it (static), else 0. END is not counted in text that has a
 * BEGIN ATOMIC body. A sql step that migrate runs in its own transaction
 * (and in the plan's, which is rolled back) must have none.
 */
int mg_sqltext_pg_tx_control(const char *sql, const char **word);

/* What mg_sqltext_mysql_type accepts, for hints. */
extern const char mg_sqltext_mysql_types_hint[];

int mg_sqltext_mysql_type(const char *text, char **out, const char **why);

#endif

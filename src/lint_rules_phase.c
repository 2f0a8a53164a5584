/*
 * lint_rules_phase.c - the phase and lock rules of `migrate lint` (lint.h).
 */
#include "lint_rules.h"

void mg_lint_sql_syntax(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_expand_breaks_old(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_contract_adds(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_rollback_missing(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_expand_not_rerunnable(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_transaction_control(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_index_not_concurrent(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_concurrently_in_transaction(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_constraint_not_valid(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_set_not_null(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_type_rewrite(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_volatile_default(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_blocking_maintenance(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_unique_without_index(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_update_in_expand(struct mg_lint_ctx *c)
{
	(void)c;
}

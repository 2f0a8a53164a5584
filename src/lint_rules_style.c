/*
 * lint_rules_style.c - the native-operation and hygiene rules of `migrate lint` (lint.h).
 */
#include "lint_rules.h"

void mg_lint_prefer_native(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_type_json(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_type_timestamp(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_type_serial(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_int_primary_key(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_type_char(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_down_missing(struct mg_lint_ctx *c)
{
	(void)c;
}

void mg_lint_non_deterministic(struct mg_lint_ctx *c)
{
	(void)c;
}

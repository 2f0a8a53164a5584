/*
 * lint_rules.h - the functions of the rules in mg_lint_rules (lint_rules.c):
 * the phase and lock rules in lint_rules_phase.c, the native-operation and
 * hygiene rules in lint_rules_style.c. Each reports with mg_lint_add.
 */
#ifndef MG_LINT_RULES_H
#define MG_LINT_RULES_H

#include "lint.h"

void mg_lint_sql_syntax(struct mg_lint_ctx *c);
void mg_lint_expand_breaks_old(struct mg_lint_ctx *c);
void mg_lint_contract_adds(struct mg_lint_ctx *c);
void mg_lint_rollback_missing(struct mg_lint_ctx *c);
void mg_lint_expand_not_rerunnable(struct mg_lint_ctx *c);
void mg_lint_transaction_control(struct mg_lint_ctx *c);
void mg_lint_index_not_concurrent(struct mg_lint_ctx *c);
void mg_lint_concurrently_in_transaction(struct mg_lint_ctx *c);
void mg_lint_constraint_not_valid(struct mg_lint_ctx *c);
void mg_lint_set_not_null(struct mg_lint_ctx *c);
void mg_lint_type_rewrite(struct mg_lint_ctx *c);
void mg_lint_volatile_default(struct mg_lint_ctx *c);
void mg_lint_blocking_maintenance(struct mg_lint_ctx *c);
void mg_lint_unique_without_index(struct mg_lint_ctx *c);
void mg_lint_update_in_expand(struct mg_lint_ctx *c);
void mg_lint_prefer_native(struct mg_lint_ctx *c);
void mg_lint_type_json(struct mg_lint_ctx *c);
void mg_lint_type_timestamp(struct mg_lint_ctx *c);
void mg_lint_type_serial(struct mg_lint_ctx *c);
void mg_lint_int_primary_key(struct mg_lint_ctx *c);
void mg_lint_type_char(struct mg_lint_ctx *c);
void mg_lint_down_missing(struct mg_lint_ctx *c);
void mg_lint_non_deterministic(struct mg_lint_ctx *c);

#endif

/* config.c - global options: command line, environment, migrate.yaml. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define UNSET_INT (-1)

void mg_options_init(struct mg_options *o)
{
	memset(o, 0, sizeof(*o));
	o->lock_timeout_ms = UNSET_INT;
	o->statement_timeout_ms = UNSET_INT;
	o->index_timeout_ms = UNSET_INT;
	o->lock_retries = UNSET_INT;
	o->max_tx_age_s = UNSET_INT;
	o->network_timeout_ms = UNSET_INT;
	o->batch_size = UNSET_INT;
	o->max_rows_per_sec = UNSET_INT;
	o->sleep_ms = UNSET_INT;
	o->jobs = UNSET_INT;
	o->ttl_s = UNSET_INT;
	o->events = UNSET_INT;
	o->limit = UNSET_INT;
	o->target_batch_ms = UNSET_INT;
	o->max_lag_ms = UNSET_INT;
	o->max_load = UNSET_INT;
	o->max_lock_waits = UNSET_INT;
	o->critical_load = UNSET_INT;
	o->critical_load_interval_ms = UNSET_INT;
	o->interval_ms = UNSET_INT;
	o->wait_lock_ms = UNSET_INT;
	o->max_runtime_ms = UNSET_INT;
}

void mg_options_release(struct mg_options *o)
{
	free(o->database);
	free(o->migrations);
	free(o->state);
	free(o->config);
	free(o->args);
	free(o->app_version);
	free(o->requires);
	free(o->colour_state);
	free(o->match);
	free(o->pause_file);
	free(o->format);
	free(o->dialect);
	free(o->lint_error);
	free(o->lint_warning);
	free(o->lint_disable);
	free(o->metrics_file);
	memset(o, 0, sizeof(*o));
}

/* ---- command line ------------------------------------------------------------ */

/* OPT_LIST: repeatable, the values joined with ',' (a value may itself be
 * a comma list) */
enum opt_kind { OPT_STR, OPT_INT, OPT_LONG, OPT_FLAG, OPT_LIST };

struct opt_def {
	char short_name;
	const char *long_name;
	enum opt_kind kind;
	size_t offset;
	const char *value_name;
};

#define OFF(f) offsetof(struct mg_options, f)

static const struct opt_def opt_defs[] = {
	{ 'd', "database", OPT_STR, OFF(database), "URL" },
	{ 'm', "migrations", OPT_STR, OFF(migrations), "DIR" },
	{ 0, "state", OPT_STR, OFF(state), "PATH" },
	{ 0, "config", OPT_STR, OFF(config), "PATH" },
	{ 0, "json", OPT_FLAG, OFF(json), NULL },
	{ 'h', "help", OPT_FLAG, OFF(help), NULL },
	{ 0, "version", OPT_FLAG, OFF(version), NULL },
	{ 0, "lock-timeout", OPT_INT, OFF(lock_timeout_ms), "MS" },
	{ 0, "statement-timeout", OPT_INT, OFF(statement_timeout_ms), "MS" },
	{ 0, "index-timeout", OPT_INT, OFF(index_timeout_ms), "MS" },
	{ 0, "lock-retries", OPT_INT, OFF(lock_retries), "N" },
	{ 0, "max-tx-age", OPT_INT, OFF(max_tx_age_s), "SECONDS" },
	{ 0, "network-timeout", OPT_INT, OFF(network_timeout_ms), "MS" },
	{ 0, "batch-size", OPT_INT, OFF(batch_size), "N" },
	{ 0, "max-rows-per-sec", OPT_LONG, OFF(max_rows_per_sec), "N" },
	{ 0, "sleep", OPT_INT, OFF(sleep_ms), "MS" },
	{ 0, "jobs", OPT_INT, OFF(jobs), "N" },
	{ 0, "target-batch-ms", OPT_INT, OFF(target_batch_ms), "MS" },
	{ 0, "max-lag", OPT_INT, OFF(max_lag_ms), "MS" },
	{ 0, "max-load", OPT_INT, OFF(max_load), "N" },
	{ 0, "max-lock-waits", OPT_INT, OFF(max_lock_waits), "N" },
	{ 0, "critical-load", OPT_INT, OFF(critical_load), "N" },
	{ 0, "critical-load-interval", OPT_INT, OFF(critical_load_interval_ms), "MS" },
	{ 0, "pause-file", OPT_STR, OFF(pause_file), "PATH" },
	{ 0, "verify", OPT_FLAG, OFF(verify), NULL },
	{ 0, "app-version", OPT_STR, OFF(app_version), "S" },
	{ 0, "requires", OPT_STR, OFF(requires), "V" },
	{ 0, "match", OPT_STR, OFF(match), "PATTERN" },
	{ 0, "ttl", OPT_LONG, OFF(ttl_s), "SECONDS" },
	{ 0, "offline", OPT_FLAG, OFF(offline), NULL },
	{ 0, "events", OPT_INT, OFF(events), "N" },
	{ 0, "limit", OPT_INT, OFF(limit), "N" },
	{ 0, "format", OPT_STR, OFF(format), "FORMAT" },
	{ 0, "dialect", OPT_STR, OFF(dialect), "DIALECT" },
	{ 0, "error", OPT_LIST, OFF(lint_error), "RULE" },
	{ 0, "warning", OPT_LIST, OFF(lint_warning), "RULE" },
	{ 0, "disable", OPT_LIST, OFF(lint_disable), "RULE" },
	{ 0, "list-rules", OPT_FLAG, OFF(list_rules), NULL },
	{ 0, "no-lint", OPT_FLAG, OFF(no_lint), NULL },
	{ 0, "watch", OPT_FLAG, OFF(watch), NULL },
	{ 0, "interval", OPT_INT, OFF(interval_ms), "MS" },
	{ 0, "metrics-file", OPT_STR, OFF(metrics_file), "PATH" },
	{ 0, "wait-lock", OPT_INT, OFF(wait_lock_ms), "MS" },
	{ 0, "max-runtime", OPT_LONG, OFF(max_runtime_ms), "MS" },
	{ 0, NULL, OPT_FLAG, 0, NULL }
};

/* `--state live|standby|retired` is a colour's state (colour register/set);
 * any other value is the state file's path. */
static int is_colour_state(const char *v)
{
	return !strcmp(v, "live") || !strcmp(v, "standby") || !strcmp(v, "retired");
}

static int set_opt(struct mg_options *o, const struct opt_def *d, const char *shown,
		   const char *value, struct mg_err *err)
{
	char *base = (char *)o + d->offset;
	long v;

	if (d->offset == OFF(state) && strstr(shown, "--state") == shown &&
	    is_colour_state(value)) {
		free(o->colour_state);
		o->colour_state = mg_xstrdup(value);
		return 0;
	}
	switch (d->kind) {
	case OPT_FLAG:
		*(int *)base = 1;
		return 0;
	case OPT_STR:
		free(*(char **)base);
		*(char **)base = mg_xstrdup(value);
		return 0;
	case OPT_LIST: {
		char *old = *(char **)base;

		*(char **)base = old ? mg_xasprintf("%s,%s", old, value) : mg_xstrdup(value);
		free(old);
		return 0;
	}
	case OPT_INT:
	case OPT_LONG:
		if (mg_parse_long(value, &v) < 0 || (d->kind == OPT_INT && v > 1000000000L))
			return mg_err_set(err, MG_EINPUT,
					  "bad value '%s' for option '%s': expected a non-negative whole number",
					  value, shown);
		if (d->kind == OPT_INT)
			*(int *)base = (int)v;
		else
			*(long *)base = v;
		return 0;
	}
	return 0;
}

static const struct opt_def *find_long(const char *name, size_t n)
{
	for (const struct opt_def *d = opt_defs; d->long_name; d++)
		if (strlen(d->long_name) == n && !strncmp(d->long_name, name, n))
			return d;
	return NULL;
}

static const struct opt_def *find_short(char c)
{
	for (const struct opt_def *d = opt_defs; d->long_name; d++)
		if (d->short_name && d->short_name == c)
			return d;
	return NULL;
}

static void push_arg(struct mg_options *o, char *a)
{
	o->args = mg_xrealloc(o->args, sizeof(char *) * (size_t)(o->n_args + 2));
	o->args[o->n_args++] = a;
	o->args[o->n_args] = NULL;
}

int mg_options_parse(struct mg_options *o, int argc, char **argv, struct mg_err *err)
{
	int only_args = 0;

	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		const struct opt_def *d = NULL;
		const char *value = NULL;
		char shown[128];

		if (only_args || a[0] != '-' || !a[1]) {
			if (!o->command && !only_args)
				o->command = a;
			else
				push_arg(o, a);
			continue;
		}
		if (!strcmp(a, "--")) {
			only_args = 1;
			continue;
		}
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			mg_verbosity = -1;
			continue;
		}
		if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			mg_verbosity = 1;
			continue;
		}
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

			d = find_long(a + 2, n);
			snprintf(shown, sizeof(shown), "--%.*s", (int)n, a + 2);
			if (eq)
				value = eq + 1;
		} else {
			d = find_short(a[1]);
			snprintf(shown, sizeof(shown), "-%c", a[1]);
			if (a[2])
				value = a + 2;
		}
		if (!d) {
			mg_err_set(err, MG_EINPUT, "unknown option '%s'", a);
			return mg_err_hint(err, "see 'migrate --help' or 'migrate <command> --help'");
		}
		if (d->kind == OPT_FLAG) {
			if (value)
				return mg_err_set(err, MG_EINPUT, "option '%s' takes no value", shown);
		} else if (!value) {
			if (i + 1 >= argc)
				return mg_err_set(err, MG_EINPUT, "option '%s' needs a value (%s)",
						  shown, d->value_name);
			value = argv[++i];
		}
		if (set_opt(o, d, shown, value, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- migrate.yaml ------------------------------------------------------------ */

struct yaml_key {
	const char *key;
	const char *option;	/* the long option it sets */
};

static const struct yaml_key yaml_keys[] = {
	{ "database", "database" }, { "migrations", "migrations" },
	{ "state", "state" }, { "lock_timeout", "lock-timeout" },
	{ "statement_timeout", "statement-timeout" },
	{ "index_timeout", "index-timeout" }, { "lock_retries", "lock-retries" },
	{ "max_tx_age", "max-tx-age" }, { "batch_size", "batch-size" },
	{ "max_rows_per_sec", "max-rows-per-sec" }, { "sleep", "sleep" },
	{ "jobs", "jobs" }, { "target_batch_ms", "target-batch-ms" },
	{ "max_lag", "max-lag" }, { "max_load", "max-load" }, { "pause_file", "pause-file" },
	{ "max_lock_waits", "max-lock-waits" }, { "critical_load", "critical-load" },
	{ "critical_load_interval", "critical-load-interval" },
	{ "network_timeout", "network-timeout" },
	{ NULL, NULL }
};

static int is_unset(const struct mg_options *o, const struct opt_def *d)
{
	const char *base = (const char *)o + d->offset;

	switch (d->kind) {
	case OPT_STR:
	case OPT_LIST:
		return *(char *const *)base == NULL;
	case OPT_INT:
		return *(const int *)base == UNSET_INT;
	case OPT_LONG:
		return *(const long *)base == UNSET_INT;
	case OPT_FLAG:
		return 0;
	}
	return 0;
}

/* One list of `lint:` (a rule id, or a sequence of them) into the option's
 * comma list, unless the command line gave that option. */
static int apply_lint_list(struct mg_options *o, const char *path, yaml_document_t *doc,
			   yaml_node_t *k, yaml_node_t *v, struct mg_err *err)
{
	const char *key = (const char *)k->data.scalar.value;
	const struct opt_def *d = find_long(key, strlen(key));
	struct mg_buf list = MG_BUF_INIT;
	char **field;

	field = (char **)((char *)o + d->offset);
	if (v->type == YAML_SCALAR_NODE) {
		mg_buf_adds(&list, (const char *)v->data.scalar.value);
	} else if (v->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *i = v->data.sequence.items.start;
		     i < v->data.sequence.items.top; i++) {
			yaml_node_t *item = yaml_document_get_node(doc, *i);

			if (item->type != YAML_SCALAR_NODE) {
				mg_buf_release(&list);
				return mg_err_set(err, MG_EINPUT, "wrong type in 'lint: %s' at %s:%zu:%zu: expected a rule id",
						  key, path, item->start_mark.line + 1, item->start_mark.column + 1);
			}
			mg_buf_addf(&list, "%s%s", list.len ? "," : "",
				    (const char *)item->data.scalar.value);
		}
	} else {
		return mg_err_set(err, MG_EINPUT, "wrong type for 'lint: %s' at %s:%zu:%zu: expected a list of rule ids",
				  key, path, v->start_mark.line + 1, v->start_mark.column + 1);
	}
	if (!*field)
		*field = mg_buf_detach(&list);
	mg_buf_release(&list);
	return 0;
}

static int apply_lint_dialect(struct mg_options *o, const char *dialect)
{
	if (!o->dialect)
		o->dialect = mg_xstrdup(dialect);
	return 0;
}

/*
 * `lint: {disable: [...], error: [...], warning: [...], dialect: D}`: the
 * lint options of `migrate lint` and `migrate check` (the command line's
 * own option replaces a key's value). Rule ids are checked when lint runs.
 */
static int apply_lint(struct mg_options *o, const char *path, yaml_document_t *doc,
		      yaml_node_t *v, struct mg_err *err)
{
	if (v->type != YAML_MAPPING_NODE)
		return mg_err_set(err, MG_EINPUT, "wrong type for 'lint' at %s:%zu:%zu: expected a mapping (disable, error, warning, dialect)",
				  path, v->start_mark.line + 1, v->start_mark.column + 1);
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *val = yaml_document_get_node(doc, p->value);
		const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		int rc;

		if (!strcmp(key, "disable") || !strcmp(key, "error") || !strcmp(key, "warning"))
			rc = apply_lint_list(o, path, doc, k, val, err);
		else if (!strcmp(key, "dialect") && val->type == YAML_SCALAR_NODE)
			rc = apply_lint_dialect(o, (const char *)val->data.scalar.value);
		else
			rc = mg_err_set(err, MG_EINPUT, "unknown key 'lint: %s' at %s:%zu:%zu (expected one of: disable, error, warning, dialect)",
					key, path, k->start_mark.line + 1, k->start_mark.column + 1);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int apply_yaml_pair(struct mg_options *o, const char *path, yaml_document_t *doc,
			   yaml_node_t *k, yaml_node_t *v, struct mg_err *err)
{
	const char *key = (const char *)k->data.scalar.value;
	const struct yaml_key *yk;
	const struct opt_def *d;
	char shown[160];

	if (!strcmp(key, "lint"))
		return apply_lint(o, path, doc, v, err);
	for (yk = yaml_keys; yk->key; yk++)
		if (!strcmp(yk->key, key))
			break;
	if (!yk->key)
		return mg_err_set(err, MG_EINPUT,
				  "unknown key '%s' at %s:%zu:%zu (expected one of: database, migrations, state, lock_timeout, statement_timeout, index_timeout, lock_retries, max_tx_age, batch_size, max_rows_per_sec, sleep, jobs, target_batch_ms, max_lag, max_load, max_lock_waits, critical_load, critical_load_interval, pause_file, network_timeout, lint)",
				  key, path, k->start_mark.line + 1, k->start_mark.column + 1);
	if (v->type != YAML_SCALAR_NODE)
		return mg_err_set(err, MG_EINPUT, "wrong type for '%s' at %s:%zu:%zu: expected a single value",
				  key, path, v->start_mark.line + 1, v->start_mark.column + 1);
	d = find_long(yk->option, strlen(yk->option));
	if (!is_unset(o, d))
		return 0;
	snprintf(shown, sizeof(shown), "%s at %s:%zu:%zu", key, path,
		 v->start_mark.line + 1, v->start_mark.column + 1);
	return set_opt(o, d, shown, (const char *)v->data.scalar.value, err);
}

static int read_config(struct mg_options *o, const char *path, struct mg_err *err)
{
	FILE *f = fopen(path, "rb");
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int rc = 0;

	if (!f)
		return mg_err_set(err, MG_EINPUT, "cannot read '%s': %s", path, strerror(errno));
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = mg_err_set(err, MG_EINPUT, "YAML syntax error at %s:%zu:%zu: %s", path,
				parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				parser.problem ? parser.problem : "unreadable");
		yaml_parser_delete(&parser);
		fclose(f);
		return rc;
	}
	root = yaml_document_get_root_node(&doc);
	if (root && root->type != YAML_MAPPING_NODE)
		rc = mg_err_set(err, MG_EINPUT, "%s:%zu:%zu: expected a mapping of settings", path,
				root->start_mark.line + 1, root->start_mark.column + 1);
	for (yaml_node_pair_t *p = root && !rc ? root->data.mapping.pairs.start : NULL;
	     p && p < root->data.mapping.pairs.top && !rc; p++) {
		yaml_node_t *k = yaml_document_get_node(&doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&doc, p->value);

		if (k->type != YAML_SCALAR_NODE)
			rc = mg_err_set(err, MG_EINPUT, "%s:%zu:%zu: expected a setting name", path,
					k->start_mark.line + 1, k->start_mark.column + 1);
		else
			rc = apply_yaml_pair(o, path, &doc, k, v, err);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}

static void from_env(char **field, const char *var)
{
	const char *v = getenv(var);

	if (!*field && v && *v)
		*field = mg_xstrdup(v);
}

int mg_options_resolve(struct mg_options *o, struct mg_err *err)
{
	from_env(&o->database, "MIGRATE_DATABASE_URL");
	from_env(&o->database, "DATABASE_URL");
	from_env(&o->migrations, "MIGRATE_DIR");
	from_env(&o->state, "MIGRATE_STATE");
	if (o->config) {
		if (read_config(o, o->config, err) < 0)
			return -1;
	} else if (access("migrate.yaml", R_OK) == 0) {
		o->config = mg_xstrdup("migrate.yaml");
		if (read_config(o, o->config, err) < 0)
			return -1;
	}
	if (!o->migrations)
		o->migrations = mg_xstrdup("migrations");
	if (!o->state)
		o->state = mg_xstrdup(".migrate/state.db");
	if (o->lock_timeout_ms == UNSET_INT)
		o->lock_timeout_ms = 500;
	if (o->statement_timeout_ms == UNSET_INT)
		o->statement_timeout_ms = 10000;
	if (o->index_timeout_ms == UNSET_INT)
		o->index_timeout_ms = 0;
	if (o->lock_retries == UNSET_INT)
		o->lock_retries = 5;
	if (o->max_tx_age_s == UNSET_INT)
		o->max_tx_age_s = 5;
	if (o->network_timeout_ms == UNSET_INT)
		o->network_timeout_ms = 10000;
	if (o->network_timeout_ms < 100)
		return mg_err_set(err, MG_EINPUT, "bad value '%d' for option '--network-timeout': expected at least 100 ms", o->network_timeout_ms);
	if (o->batch_size == 0)
		return mg_err_set(err, MG_EINPUT, "bad value '0' for option '--batch-size': expected at least 1 (leave it out for adaptive batches)");
	if (o->batch_size == UNSET_INT)
		o->batch_size = 0;
	if (o->max_rows_per_sec == UNSET_INT)
		o->max_rows_per_sec = 0;
	if (o->sleep_ms == UNSET_INT)
		o->sleep_ms = 0;
	if (o->jobs == UNSET_INT)
		o->jobs = 1;
	if (o->jobs < 1 || o->jobs > 64)
		return mg_err_set(err, MG_EINPUT, "bad value '%d' for option '--jobs': expected 1 to 64", o->jobs);
	if (o->target_batch_ms == UNSET_INT)
		o->target_batch_ms = 20;
	if (o->target_batch_ms < 10)
		return mg_err_set(err, MG_EINPUT, "bad value '%d' for option '--target-batch-ms': expected at least 10", o->target_batch_ms);
	if (o->max_lag_ms == UNSET_INT)
		o->max_lag_ms = 0;
	if (o->max_load == UNSET_INT)
		o->max_load = 0;
	if (o->max_lock_waits == UNSET_INT)
		o->max_lock_waits = 0;
	if (o->critical_load == UNSET_INT)
		o->critical_load = 0;
	if (o->critical_load_interval_ms == UNSET_INT)
		o->critical_load_interval_ms = 1000;
	if (o->ttl_s == UNSET_INT)
		o->ttl_s = 0;
	if (o->events == UNSET_INT)
		o->events = 0;
	if (o->limit == UNSET_INT)
		o->limit = 50;
	if (o->lock_timeout_ms < 1)
		return mg_err_set(err, MG_EINPUT, "bad value '0' for option '--lock-timeout': expected at least 1 ms");
	return 0;
}

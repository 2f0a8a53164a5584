/* config.c - global options: command line, environment, migrate.yaml. */
#include "config.h"

#include "cli_options.h"

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
	free(o->fleet);
	memset(o, 0, sizeof(*o));
}

/* ---- command line ------------------------------------------------------------ */

#define OFF(f) offsetof(struct mg_options, f)

static int is_colour_state(const char *v)
{
	return !strcmp(v, "live") || !strcmp(v, "standby") || !strcmp(v, "retired");
}

static int in_colour(const struct mg_options *o)
{
	return o->command && mg_cli_command_bit(o->command) == MG_C_COLOUR;
}

/* A colour state that is none of the three: exit 2, with the nearest. */
static int bad_colour_state(const char *value, const char *what, struct mg_err *err)
{
	static const char *const states[] = { "live", "standby", "retired" };
	const char *near = NULL;
	size_t best = 3;

	for (size_t i = 0; i < 3; i++) {
		size_t dist = mg_edit_distance(value, states[i]);

		if (dist < best) {
			best = dist;
			near = states[i];
		}
	}
	if (near)
		mg_err_set(err, MG_EINPUT, "unknown colour state '%s' for %s: did you mean '%s'? "
			   "(expected live, standby or retired)", value, what, near);
	else
		mg_err_set(err, MG_EINPUT, "unknown colour state '%s' for %s (expected live, "
			   "standby or retired)", value, what);
	return mg_err_hint(err, "within 'colour', --state is the colour's state; the state "
			   "file's path is --state-file PATH");
}

static int bad_number(const char *value, const char *what, struct mg_err *err)
{
	return mg_err_set(err, MG_EINPUT, "bad value '%s' for %s: expected a non-negative "
			  "whole number", value, what);
}

/* A duration into the option's field, in the field's unit. */
static int set_duration(struct mg_options *o, const struct mg_opt_def *d, const char *what,
			const char *value, struct mg_err *err)
{
	char *base = (char *)o + d->offset;
	long ms, v;

	if (mg_parse_duration(value, d->bare_unit_ms, &ms) < 0) {
		mg_err_set(err, MG_EINPUT, "bad value '%s' for %s: expected a duration such as "
			   MG_DURATION_FORMS " (a bare number is %s)", value, what,
			   d->bare_unit_ms == 1 ? "milliseconds" : "seconds");
		return -1;
	}
	if (ms % d->field_unit_ms)
		return mg_err_set(err, MG_EINPUT, "bad value '%s' for %s: expected whole "
				  "seconds (5, 5s, 2m)", value, what);
	v = ms / d->field_unit_ms;
	if (d->field_is_long) {
		*(long *)base = v;
		return 0;
	}
	if (v > 1000000000L)
		return mg_err_set(err, MG_EINPUT, "bad value '%s' for %s: too long", value, what);
	*(int *)base = (int)v;
	return 0;
}

/* Store value (NULL for a flag) in d's field; what names the source in
 * messages ("option '--jobs'", "MIGRATE_JOBS (environment)", ...). */
static int set_opt(struct mg_options *o, const struct mg_opt_def *d, const char *what,
		   const char *value, struct mg_err *err)
{
	char *base = (char *)o + d->offset;
	long v;

	switch (d->kind) {
	case MG_OPT_VERBOSITY:
		mg_verbosity = d->short_name == 'q' ? -1 : 1;
		return 0;
	case MG_OPT_OWN:
		return 0;	/* checked by mg_options_check_command */
	case MG_OPT_FLAG:
		*(int *)base = 1;
		return 0;
	case MG_OPT_STR:
		if (d->offset == OFF(colour_state) && !is_colour_state(value))
			return bad_colour_state(value, what, err);
		free(*(char **)base);
		*(char **)base = mg_xstrdup(value);
		return 0;
	case MG_OPT_LIST: {
		char *old = *(char **)base;

		*(char **)base = old ? mg_xasprintf("%s,%s", old, value) : mg_xstrdup(value);
		free(old);
		return 0;
	}
	case MG_OPT_INT:
	case MG_OPT_LONG:
		if (mg_parse_long(value, &v) < 0 || (d->kind == MG_OPT_INT && v > 1000000000L))
			return bad_number(value, what, err);
		if (d->kind == MG_OPT_INT)
			*(int *)base = (int)v;
		else
			*(long *)base = v;
		return 0;
	case MG_OPT_DURATION:
		return set_duration(o, d, what, value, err);
	}
	return 0;
}

/*
 * `--state` is the colour's state after the command word 'colour' (a bad
 * one is an error); elsewhere the state file's path, unless its value is
 * a colour state (`migrate --state live colour set blue`, as before;
 * mg_options_check_command refuses it for other commands).
 */
static const struct mg_opt_def *pick_state(const struct mg_options *o, const char *value)
{
	const struct mg_opt_def *d;

	if (in_colour(o) || is_colour_state(value)) {
		for (d = mg_opt_defs; d->long_name; d++)
			if (!strcmp(d->long_name, "state") && d->offset == OFF(colour_state))
				return d;
	}
	return mg_opt_find_long("state", 5, 0);
}

static void push_arg(struct mg_options *o, char *a)
{
	o->args = mg_xrealloc(o->args, sizeof(char *) * (size_t)(o->n_args + 2));
	o->args[o->n_args++] = a;
	o->args[o->n_args] = NULL;
}

static int unknown_long(const char *a, const char *name, size_t n, struct mg_err *err)
{
	const char *near = mg_opt_nearest(name, n);

	if (near)
		mg_err_set(err, MG_EINPUT, "unknown option '%s': did you mean '--%s'?", a, near);
	else
		mg_err_set(err, MG_EINPUT, "unknown option '%s'", a);
	return mg_err_hint(err, "see 'migrate --help' or 'migrate help <command>'");
}

/* The value of d: attached (--x=V, -dV), else the next argument. */
static int take_value(const struct mg_opt_def *d, const char *shown, const char *attached,
		      int argc, char **argv, int *i, const char **value, struct mg_err *err)
{
	int flag = d->kind == MG_OPT_FLAG || d->kind == MG_OPT_VERBOSITY ||
		   (d->kind == MG_OPT_OWN && !d->value_name);

	*value = attached;
	if (flag) {
		if (attached)
			return mg_err_set(err, MG_EINPUT, "option '%s' takes no value", shown);
		return 0;
	}
	if (attached)
		return 0;
	if (*i + 1 >= argc)
		return mg_err_set(err, MG_EINPUT, "option '%s' needs a value (%s)",
				  shown, d->value_name);
	*value = argv[++*i];
	return 0;
}

static int given(struct mg_options *o, const struct mg_opt_def *d, const char *shown,
		 const char *value, struct mg_err *err)
{
	char what[160];

	snprintf(what, sizeof(what), "option '%s'", shown);
	o->given[d - mg_opt_defs] = MG_FROM_COMMAND_LINE;
	return set_opt(o, d, what, value, err);
}

/* --name, --name=value, --name value */
static int parse_long(struct mg_options *o, int argc, char **argv, int *i,
		      struct mg_err *err)
{
	const char *a = argv[*i], *name = a + 2, *eq = strchr(name, '=');
	size_t n = eq ? (size_t)(eq - name) : strlen(name);
	const struct mg_opt_def *d = mg_opt_find_long(name, n, 0);
	const char *value;
	char shown[128];

	if (!d)
		return unknown_long(a, name, n, err);
	snprintf(shown, sizeof(shown), "--%.*s", (int)n, name);
	if (take_value(d, shown, eq ? eq + 1 : NULL, argc, argv, i, &value, err) < 0)
		return -1;
	if (!strcmp(d->long_name, "state"))
		d = pick_state(o, value);
	return given(o, d, shown, value, err);
}

/* -d URL, -dURL, and flags grouped: -qv, -vV */
static int parse_shorts(struct mg_options *o, int argc, char **argv, int *i,
			struct mg_err *err)
{
	const char *a = argv[*i];

	for (const char *p = a + 1; *p; p++) {
		const struct mg_opt_def *d = mg_opt_find_short(*p);
		const char *value;
		char shown[8];

		if (!d) {
			mg_err_set(err, MG_EINPUT, "unknown option '-%c'%s%s%s", *p,
				   p > a + 1 ? " in '" : "", p > a + 1 ? a : "",
				   p > a + 1 ? "'" : "");
			return mg_err_hint(err, "see 'migrate --help' or 'migrate help <command>'");
		}
		snprintf(shown, sizeof(shown), "-%c", *p);
		if (take_value(d, shown, d->value_name && p[1] ? p + 1 : NULL, argc, argv, i,
			       &value, err) < 0 || given(o, d, shown, value, err) < 0)
			return -1;
		if (d->value_name)
			break;
	}
	return 0;
}

int mg_options_parse(struct mg_options *o, int argc, char **argv, struct mg_err *err)
{
	int only_args = 0;

	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		int rc;

		if (only_args || a[0] != '-' || !a[1]) {
			if (!o->command)
				o->command = a;
			else
				push_arg(o, a);
			continue;
		}
		if (!strcmp(a, "--")) {	/* the rest are arguments */
			only_args = 1;
			continue;
		}
		rc = a[1] == '-' ? parse_long(o, argc, argv, &i, err) :
				   parse_shorts(o, argc, argv, &i, err);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int mg_options_check_command(const struct mg_options *o, unsigned command,
			     struct mg_err *err)
{
	const char *name = mg_cli_command_name((size_t)__builtin_ctz(command));

	for (size_t i = 0; i < mg_n_opt_defs; i++) {
		const struct mg_opt_def *d = &mg_opt_defs[i];
		char takers[160];

		if (o->given[i] != MG_FROM_COMMAND_LINE)
			continue;
		if (d->offset == OFF(colour_state) && d->kind == MG_OPT_STR &&
		    command != MG_C_COLOUR) {
			mg_err_set(err, MG_EINPUT, "'%s' is a colour state, which only 'colour "
				   "register' and 'colour set' take", o->colour_state);
			return mg_err_hint(err, "for the state file's path, use --state-file PATH");
		}
		if (d->kind == MG_OPT_OWN && (d->commands & command)) {
			mg_err_set(err, MG_EINPUT, "option '--%s' must come after '%s'",
				   d->long_name, name);
			return mg_err_hint(err, "migrate %s ... --%s%s%s", name, d->long_name,
					   d->value_name ? " " : "", d->value_name ? d->value_name : "");
		}
		if (d->commands & command)
			continue;
		mg_opt_commands_text(d, takers, sizeof(takers));
		mg_err_set(err, MG_EINPUT, "option '--%s' is not taken by '%s'; it is taken by: %s",
			   d->long_name, name, takers);
		return mg_err_hint(err, "see 'migrate help %s' for the options of '%s'", name, name);
	}
	return 0;
}

/* ---- migrate.yaml ------------------------------------------------------------ */

static int is_unset(const struct mg_options *o, const struct mg_opt_def *d)
{
	const char *base = (const char *)o + d->offset;

	switch (d->kind) {
	case MG_OPT_STR:
	case MG_OPT_LIST:
		return *(char *const *)base == NULL;
	case MG_OPT_INT:
		return *(const int *)base == UNSET_INT;
	case MG_OPT_LONG:
		return *(const long *)base == UNSET_INT;
	case MG_OPT_DURATION:
		return d->field_is_long ? *(const long *)base == UNSET_INT :
					  *(const int *)base == UNSET_INT;
	case MG_OPT_FLAG:
	case MG_OPT_VERBOSITY:
	case MG_OPT_OWN:
		return 0;
	}
	return 0;
}

static const struct mg_opt_def *find_yaml_key(const char *key)
{
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++)
		if (d->yaml && !strcmp(d->yaml, key))
			return d;
	return NULL;
}

/* "database, migrations, ..., lint" */
static void yaml_key_list(struct mg_buf *out)
{
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++)
		if (d->yaml)
			mg_buf_addf(out, "%s, ", d->yaml);
	mg_buf_adds(out, "lint");
}

/* One list of `lint:` (a rule id, or a sequence of them) into the option's
 * comma list, unless the command line gave that option. */
static int apply_lint_list(struct mg_options *o, const char *path, yaml_document_t *doc,
			   yaml_node_t *k, yaml_node_t *v, struct mg_err *err)
{
	const char *key = (const char *)k->data.scalar.value;
	const struct mg_opt_def *d = mg_opt_find_long(key, strlen(key), MG_C_LINT);
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
	const struct mg_opt_def *d;
	char what[160];

	if (!strcmp(key, "lint"))
		return apply_lint(o, path, doc, v, err);
	d = find_yaml_key(key);
	if (!d) {
		struct mg_buf keys = MG_BUF_INIT;

		yaml_key_list(&keys);
		mg_err_set(err, MG_EINPUT, "unknown key '%s' at %s:%zu:%zu (expected one of: %s)",
			   key, path, k->start_mark.line + 1, k->start_mark.column + 1, keys.buf);
		mg_buf_release(&keys);
		return -1;
	}
	if (v->type != YAML_SCALAR_NODE)
		return mg_err_set(err, MG_EINPUT, "wrong type for '%s' at %s:%zu:%zu: expected a single value",
				  key, path, v->start_mark.line + 1, v->start_mark.column + 1);
	if (!is_unset(o, d))
		return 0;
	snprintf(what, sizeof(what), "'%s' at %s:%zu:%zu", key, path,
		 v->start_mark.line + 1, v->start_mark.column + 1);
	o->given[d - mg_opt_defs] = MG_FROM_CONFIG;
	return set_opt(o, d, what, (const char *)v->data.scalar.value, err);
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

/* Each option's variable of the table, where the command line set none. */
static int options_from_env(struct mg_options *o, struct mg_err *err)
{
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++) {
		const char *v = d->env ? getenv(d->env) : NULL;
		char what[96];

		if (!v || !*v || !is_unset(o, d))
			continue;
		snprintf(what, sizeof(what), "%s (environment)", d->env);
		o->given[d - mg_opt_defs] = MG_FROM_ENV;
		if (set_opt(o, d, what, v, err) < 0)
			return mg_err_hint(err, "fix or unset %s", d->env);
	}
	return 0;
}

/* Where the value of option name came from, for a range error: "option
 * '--jobs'", "MIGRATE_JOBS (environment)" or "'jobs' in migrate.yaml". */
static const char *source_of(const struct mg_options *o, const char *name, char *out,
			     size_t size)
{
	for (size_t i = 0; i < mg_n_opt_defs; i++) {
		const struct mg_opt_def *d = &mg_opt_defs[i];

		if (strcmp(d->long_name, name) || !o->given[i])
			continue;
		if (o->given[i] == MG_FROM_ENV)
			snprintf(out, size, "%s (environment)", d->env);
		else if (o->given[i] == MG_FROM_CONFIG)
			snprintf(out, size, "'%s' in %s", d->yaml, o->config);
		else
			break;
		return out;
	}
	snprintf(out, size, "option '--%s'", name);
	return out;
}

/* A value out of range: exit 2 naming where it came from. */
static int out_of_range(const struct mg_options *o, const char *name, long value,
			const char *expected, struct mg_err *err)
{
	char where[160];

	return mg_err_set(err, MG_EINPUT, "bad value '%ld' for %s: expected %s", value,
			  source_of(o, name, where, sizeof(where)), expected);
}

int mg_options_resolve(struct mg_options *o, struct mg_err *err)
{
	from_env(&o->database, "MIGRATE_DATABASE_URL");
	from_env(&o->database, "DATABASE_URL");
	if (options_from_env(o, err) < 0)
		return -1;
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
		return out_of_range(o, "network-timeout", o->network_timeout_ms, "at least 100ms", err);
	if (o->batch_size == 0)
		return out_of_range(o, "batch-size", 0, "at least 1 (leave it out for adaptive batches)", err);
	if (o->batch_size == UNSET_INT)
		o->batch_size = 0;
	if (o->max_rows_per_sec == UNSET_INT)
		o->max_rows_per_sec = 0;
	if (o->sleep_ms == UNSET_INT)
		o->sleep_ms = 0;
	if (o->jobs == UNSET_INT)
		o->jobs = 1;
	if (o->jobs < 1 || o->jobs > 64)
		return out_of_range(o, "jobs", o->jobs, "1 to 64", err);
	if (o->target_batch_ms == UNSET_INT)
		o->target_batch_ms = 20;
	if (o->target_batch_ms < 10)
		return out_of_range(o, "target-batch-ms", o->target_batch_ms, "at least 10 (ms)", err);
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
	if (o->interval_ms == UNSET_INT)
		o->interval_ms = 2000;
	if (o->interval_ms < 100)
		return out_of_range(o, "interval", o->interval_ms, "at least 100ms", err);
	if (o->wait_lock_ms == UNSET_INT)
		o->wait_lock_ms = 0;
	if (o->max_runtime_ms == UNSET_INT)
		o->max_runtime_ms = 0;
	if (o->lock_timeout_ms < 1)
		return out_of_range(o, "lock-timeout", 0, "at least 1ms", err);
	return 0;
}

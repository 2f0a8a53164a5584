/*
 * cmd/fleet_gate.c - the colour gate held fleet-wide: before any target
 * contracts (or rolls back) a migration, every target's colours are read,
 * and an alive colour anywhere that the step would break refuses the
 * step everywhere. One fleet often serves one application: the green
 * release reading shard-007 reads shard-042 too, so its schema must stay
 * on both. Each target's own contract still runs its own gate after this.
 *
 * The rule is colour.h's (mg_colour_blocks_contract/rollback); a target
 * whose colours cannot be read refuses too (fail closed).
 */
#include "cmd/fleet_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colour.h"
#include "output.h"

/* The migration the command would act on at a target: ID when given,
 * else the command's own default read from its status; 0 for none. */
static int id_arg(const struct mg_options *opt, int *out)
{
	char *end;
	long v;

	*out = 0;
	if (opt->n_args == 0)
		return 0;
	v = strtol(opt->args[0], &end, 10);
	if (end == opt->args[0] || v <= 0 || (*end && *end != '_'))
		return -1;
	*out = (int)v;
	return 0;
}

static int default_target(json_t *doc, int rollback)
{
	size_t i;
	json_t *m;
	int found = 0;

	json_array_foreach(json_object_get(doc, "migrations"), i, m) {
		int id = (int)json_integer_value(json_object_get(m, "id"));
		int k = mg_fleet_phase_rank(json_string_value(json_object_get(m, "phase")));
		int interrupted = json_is_object(json_object_get(m, "interrupted"));

		if (!rollback && k == 3 && (!found || id < found))
			found = id;	/* contract: the lowest switched */
		if (rollback && ((k >= 1 && k <= 3) || (k == 0 && interrupted)) && id > found)
			found = id;	/* rollback: the highest not pending nor contracted */
	}
	return found;
}

/* ---- what blocks ------------------------------------------------------------- */

struct block {
	const char *colour;	/* borrowed from the documents */
	size_t where;		/* the target it is alive on */
	int requires;
	const char *reason;
	int first_m;		/* the first migration it blocks */
	size_t n_targets;	/* on how many targets */
	const char *first_target;
};

static int blocks(int rollback, int requires, int m)
{
	return rollback ? mg_colour_blocks_rollback(requires, m) :
			  mg_colour_blocks_contract(requires, m);
}

/* The alive colour c of target s: which targets' steps (m[t]) it blocks. */
static void check_colour(struct block *b, json_t *c, size_t s, const struct mg_fleet *f,
			 const int *m, int rollback)
{
	memset(b, 0, sizeof(*b));
	b->colour = json_string_value(json_object_get(c, "name"));
	b->where = s;
	b->requires = (int)json_integer_value(json_object_get(json_object_get(c, "requires"), "id"));
	b->reason = json_string_value(json_object_get(c, "reason"));
	for (size_t t = 0; t < f->n; t++) {
		if (m[t] <= 0 || !blocks(rollback, b->requires, m[t]))
			continue;
		if (!b->n_targets++) {
			b->first_m = m[t];
			b->first_target = f->targets[t].name;
		}
	}
}

static size_t find_blocks(struct block **out, const struct mg_fleet_views *v,
			  const struct mg_fleet *f, const int *m, int rollback)
{
	size_t n = 0, alloc = 0;

	*out = NULL;
	for (size_t s = 0; s < f->n; s++) {
		size_t i;
		json_t *c;

		if (!v->doc[s])
			continue;
		json_array_foreach(json_object_get(v->doc[s], "colours"), i, c) {
			struct block b;

			if (!json_is_true(json_object_get(c, "alive")))
				continue;
			check_colour(&b, c, s, f, m, rollback);
			if (!b.n_targets)
				continue;
			MG_ALLOC_GROW(*out, n + 1, alloc);
			(*out)[n++] = b;
		}
	}
	return n;
}

/* ---- the refusal ------------------------------------------------------------- */

static void print_refusal(const struct mg_fleet *f, const struct mg_fleet_views *v,
			  const struct block *b, size_t n, const char *command, int rollback)
{
	fprintf(stderr, "error: fleet-wide colour gate: '%s' refused on all %zu targets "
		"(nothing was changed anywhere)\n", command, f->n);
	for (size_t i = 0; i < n; i++) {
		fprintf(stderr, "  colour '%s' (requires %04d) is alive on %s (%s): %s of %04d "
			"would remove the %s schema it reads", b[i].colour, b[i].requires,
			f->targets[b[i].where].name, b[i].reason ? b[i].reason : "alive",
			command, b[i].first_m, rollback ? "new" : "old");
		if (b[i].n_targets > 1)
			fprintf(stderr, " (on %zu targets)\n", b[i].n_targets);
		else
			fprintf(stderr, " (on %s)\n", b[i].first_target);
	}
	for (size_t t = 0; t < f->n; t++)
		if (mg_fleet_view_error(v, t))
			fprintf(stderr, "  target %s: its status cannot be read (%s), so its colours "
				"are unknown: refused (fail closed)\n", f->targets[t].name,
				mg_fleet_view_error(v, t));
	if (n)
		fprintf(stderr, "hint: once the application version of that colour is gone "
			"everywhere, retire it on the target named (migrate -d <its url> "
			"--state-file %s/<target>.db colour set NAME --state retired), then run "
			"this command again\n", f->state_dir);
	else
		fprintf(stderr, "hint: make every target readable (its log: %s/<target>.log), "
			"then run this command again\n", f->state_dir);
}

static void print_refusal_json(const struct mg_fleet *f, const struct mg_fleet_views *v,
			       const struct block *b, size_t n, const char *command, int exit)
{
	json_t *blocking = json_array(), *unread = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(blocking, json_pack(
			"{s:s, s:s, s:i, s:i, s:I}", "colour", b[i].colour,
			"target", f->targets[b[i].where].name, "requires", b[i].requires,
			"migration", b[i].first_m, "targets_blocked", (json_int_t)b[i].n_targets));
	for (size_t t = 0; t < f->n; t++)
		if (mg_fleet_view_error(v, t))
			json_array_append_new(unread, json_pack("{s:s, s:s}", "name",
				f->targets[t].name, "error", mg_fleet_view_error(v, t)));
	mg_fleet_json_print(json_pack("{s:s, s:i, s:[], s:{s:I}, s:{s:b, s:o, s:o}}", "command", command,
				"exit", exit, "targets", "counts", "targets", (json_int_t)f->n,
				"gate", "refused", 1, "blocking", blocking, "unreadable", unread));
}

int mg_fleet_gate(const struct mg_fleet *f, const struct mg_options *opt, int jobs,
		  const char *command)
{
	int rollback = !strcmp(command, "rollback"), given, stopped, rc = 0;
	struct mg_fleet_views v;
	struct mg_err err = MG_ERR_INIT;
	struct block *b = NULL;
	size_t n = 0, unread = 0;
	int *m;

	if (id_arg(opt, &given) < 0) {
		mg_err_set(&err, MG_EINPUT, "'%s' is not a migration id", opt->args[0]);
		mg_err_hint(&err, "write it as 3, 0003 or 0003_rename_user_name");
		mg_report_error(&err);
		return MG_EINPUT;
	}
	if (mg_fleet_views_read(&v, f, opt, jobs, rollback ? "colour gate before rollback" :
				"colour gate before contract", &stopped, &err) < 0) {
		mg_report_error(&err);
		return err.code;
	}
	m = mg_xcalloc(f->n, sizeof(int));
	for (size_t t = 0; t < f->n; t++) {
		unread += mg_fleet_view_error(&v, t) != NULL;
		m[t] = given ? given : v.doc[t] ? default_target(v.doc[t], rollback) : 0;
	}
	n = find_blocks(&b, &v, f, m, rollback);
	if (stopped || unread)
		rc = MG_EDB;
	else if (n)
		rc = MG_EREFUSED;
	if (rc && opt->json)
		print_refusal_json(f, &v, b, n, command, rc);
	if (rc)
		print_refusal(f, &v, b, n, command, rollback);
	free(b);
	free(m);
	mg_fleet_views_release(&v);
	return rc;
}

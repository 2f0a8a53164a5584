/*
 * cmd/fleet_status.c - where each target of a fleet stands, read from
 * each target's own `status --json` (docs/json.md): the table of
 * `migrate --fleet FILE status`, and the documents the fleet-wide colour
 * gate reads (fleet_gate.c).
 */
#include "cmd/fleet_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_options.h"
#include "output.h"

static const char *const phases[] = { "pending", "expanded", "backfilled", "switched",
				      "contracted", NULL };

int mg_fleet_phase_rank(const char *phase)
{
	for (int i = 0; phase && phases[i]; i++)
		if (!strcmp(phases[i], phase))
			return i;
	return -1;
}

/* ---- reading every target's status ------------------------------------------- */

/*
 * What `--fleet F status` (and the fleet gate's status) does with each
 * option that status takes: passed on to every child when it means the
 * same on every target (--lock-timeout, --network-timeout, -m, --config,
 * -q, -v ...); kept back when it is the fleet's own or names one
 * database, state file or output file (refused before: cmd/fleet.c); the
 * ones the table cannot show are refused in cmd/fleet.c (--watch,
 * --interval, and --events without --json, which is passed on with it).
 */
static int passed_on(const struct mg_options *opt, const struct mg_opt_def *d)
{
	static const char *const kept_back[] = { "fleet", "fleet-jobs", "json", "database",
						 "state", "state-file", "metrics-file", "help",
						 "version", "watch", "interval", NULL };

	if (!(d->commands & MG_C_STATUS) || d->kind == MG_OPT_VERBOSITY ||
	    d->kind == MG_OPT_OWN || d->kind == MG_OPT_LIST)
		return 0;
	if (!strcmp(d->long_name, "events"))
		return opt->json;
	for (const char *const *k = kept_back; *k; k++)
		if (!strcmp(d->long_name, *k))
			return 0;
	return 1;
}

static void push_value(struct mg_strlist *out, const struct mg_opt_def *d, const char *field)
{
	long v;

	if (d->kind == MG_OPT_STR) {
		mg_strlist_push(out, *(char *const *)field ? *(char *const *)field : "");
		return;
	}
	v = d->kind == MG_OPT_LONG || (d->kind == MG_OPT_DURATION && d->field_is_long) ?
	    *(const long *)field : *(const int *)field;
	if (d->kind == MG_OPT_DURATION)
		mg_strlist_push_owned(out, mg_xasprintf("%ldms", v * d->field_unit_ms));
	else
		mg_strlist_push_owned(out, mg_xasprintf("%ld", v));
}

void mg_fleet_status_args(const struct mg_options *opt, struct mg_strlist *out)
{
	int verbosity = 0;

	for (size_t i = 0; i < mg_n_opt_defs; i++) {
		const struct mg_opt_def *d = &mg_opt_defs[i];
		const char *field = (const char *)opt + d->offset;

		if (opt->given[i] != MG_FROM_COMMAND_LINE)
			continue;
		if (d->kind == MG_OPT_VERBOSITY)
			verbosity = 1;
		if (!passed_on(opt, d))
			continue;
		if (d->kind == MG_OPT_FLAG) {
			if (*(const int *)field)
				mg_strlist_push_owned(out, mg_xasprintf("--%s", d->long_name));
			continue;
		}
		mg_strlist_push_owned(out, mg_xasprintf("--%s", d->long_name));
		push_value(out, d, field);
	}
	/* -q and -v: the last one given wins, as for the parent */
	if (verbosity && mg_verbosity)
		mg_strlist_push(out, mg_verbosity < 0 ? "--quiet" : "--verbose");
}

static json_t *parse_status(const struct mg_fleet_result *r)
{
	json_t *doc = r->out.len ? json_loads(r->out.buf, 0, NULL) : NULL;

	if (doc && !json_is_array(json_object_get(doc, "migrations"))) {
		json_decref(doc);
		doc = NULL;
	}
	return doc;
}

/* What the log's header line says was run: "status --json --lock-timeout
 * 2000ms  (fleet fleet.yaml: colour gate before contract)". */
static char *header_of(const struct mg_strlist *args, const char *fleet, const char *why)
{
	struct mg_buf b = MG_BUF_INIT;

	for (size_t i = 0; i < args->n; i++)
		mg_buf_addf(&b, "%s%s", i ? " " : "", args->items[i]);
	mg_buf_addf(&b, "  (fleet %s: %s)", fleet, why);
	return mg_buf_detach(&b);
}

int mg_fleet_views_read(struct mg_fleet_views *out, const struct mg_fleet *f,
			const struct mg_options *opt, int jobs, const char *why,
			int *stopped, struct mg_err *err)
{
	struct mg_strlist args = MG_STRLIST_INIT;
	struct mg_fleet_run run;
	char *header;

	memset(out, 0, sizeof(*out));
	mg_strlist_push(&args, "status");
	mg_strlist_push(&args, "--json");
	mg_fleet_status_args(opt, &args);
	header = header_of(&args, f->path, why);
	run = (struct mg_fleet_run){ (const char *const *)args.items, args.n, header, jobs, 1 };
	out->res = mg_fleet_run(f, &run, stopped, err);
	free(header);
	mg_strlist_release(&args);
	if (!out->res)
		return -1;
	out->n = f->n;
	out->doc = mg_xcalloc(f->n, sizeof(json_t *));
	for (size_t i = 0; i < f->n; i++)
		out->doc[i] = parse_status(&out->res[i]);
	return 0;
}

void mg_fleet_views_release(struct mg_fleet_views *v)
{
	for (size_t i = 0; v->doc && i < v->n; i++)
		json_decref(v->doc[i]);
	free(v->doc);
	mg_fleet_results_free(v->res, v->n);
	memset(v, 0, sizeof(*v));
}

const char *mg_fleet_view_error(const struct mg_fleet_views *v, size_t i)
{
	const struct mg_fleet_result *r = &v->res[i];

	if (!r->started)
		return "not read: stopped by a signal";
	if (r->error)
		return r->error;
	if (r->exit)
		return r->last ? r->last : "status failed";
	return v->doc[i] ? NULL : "status printed no JSON document";
}

/* ---- the fleet's most advanced phase per migration ------------------------------- */

struct frontier {
	size_t n;
	int *id, *rank;
};

static void frontier_add(struct frontier *fr, int id, int rank)
{
	for (size_t i = 0; i < fr->n; i++)
		if (fr->id[i] == id) {
			if (rank > fr->rank[i])
				fr->rank[i] = rank;
			return;
		}
	fr->id = mg_xrealloc(fr->id, (fr->n + 1) * sizeof(int));
	fr->rank = mg_xrealloc(fr->rank, (fr->n + 1) * sizeof(int));
	fr->id[fr->n] = id;
	fr->rank[fr->n++] = rank;
}

static void frontier_of(struct frontier *fr, const struct mg_fleet_views *v)
{
	for (size_t t = 0; t < v->n; t++) {
		size_t i;
		json_t *m;

		if (!v->doc[t])
			continue;
		json_array_foreach(json_object_get(v->doc[t], "migrations"), i, m)
			frontier_add(fr, (int)json_integer_value(json_object_get(m, "id")),
				     mg_fleet_phase_rank(json_string_value(json_object_get(m, "phase"))));
	}
}

static int rank_in(json_t *doc, int id)
{
	size_t i;
	json_t *m;

	json_array_foreach(json_object_get(doc, "migrations"), i, m)
		if (json_integer_value(json_object_get(m, "id")) == id)
			return mg_fleet_phase_rank(json_string_value(json_object_get(m, "phase")));
	return 0;	/* a migration it has no file of: not applied there */
}

/* ---- one target's row ------------------------------------------------------------ */

struct row {
	struct mg_buf schema, behind, colours, notes;
	json_t *behind_json, *colours_json, *notes_json;
};

static void note(struct row *r, const char *text)
{
	mg_buf_addf(&r->notes, "%s%s", r->notes.len ? "; " : "", text);
	json_array_append_new(r->notes_json, json_string(text));
}

static void schema_of(struct row *r, json_t *doc)
{
	int top = 0, rank = 0;
	size_t i;
	json_t *m, *intr;

	json_array_foreach(json_object_get(doc, "migrations"), i, m) {
		int id = (int)json_integer_value(json_object_get(m, "id"));
		int k = mg_fleet_phase_rank(json_string_value(json_object_get(m, "phase")));

		if (k > 0 && id > top) {
			top = id;
			rank = k;
		}
		intr = json_object_get(m, "interrupted");
		if (json_is_object(intr)) {
			char *t = mg_xasprintf("%04d: %s interrupted after step %d (rerun it)", id,
					       json_string_value(json_object_get(intr, "phase")),
					       (int)json_integer_value(json_object_get(intr, "after_step")));

			note(r, t);
			free(t);
		}
	}
	if (top)
		mg_buf_addf(&r->schema, "%04d %s", top, phases[rank]);
	else
		mg_buf_adds(&r->schema, "none applied");
}

static void behind_of(struct row *r, json_t *doc, const struct frontier *fr)
{
	size_t count = 0;

	for (size_t i = 0; i < fr->n; i++) {
		int mine = rank_in(doc, fr->id[i]);

		if (fr->rank[i] <= 0 || mine >= fr->rank[i])
			continue;
		if (count++ == 0)
			mg_buf_addf(&r->behind, "%04d not %s", fr->id[i], phases[fr->rank[i]]);
		json_array_append_new(r->behind_json, json_pack("{s:i, s:s, s:s}", "id", fr->id[i],
				      "phase", phases[mine < 0 ? 0 : mine], "fleet_phase",
				      phases[fr->rank[i]]));
	}
	if (count > 1)
		mg_buf_addf(&r->behind, " (+%zu more)", count - 1);
	if (!count)
		mg_buf_adds(&r->behind, "no");
}

static void colours_of(struct row *r, json_t *doc)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(doc, "colours"), i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		json_t *sessions = json_object_get(c, "sessions");

		if (json_is_true(json_object_get(c, "alive"))) {
			mg_buf_addf(&r->colours, "%s%s", r->colours.len ? "," : "", name);
			json_array_append_new(r->colours_json, json_string(name));
		}
		if (json_is_string(sessions)) {
			char *t = mg_xasprintf("colour '%s': sessions cannot be seen (%s)", name,
					       json_string_value(json_object_get(c, "reason")));

			note(r, t);
			free(t);
		}
	}
	if (!r->colours.len)
		mg_buf_adds(&r->colours, "-");
}

static void row_of(struct row *r, const struct mg_fleet_views *v, size_t t,
		   const struct frontier *fr)
{
	const char *error = mg_fleet_view_error(v, t);

	memset(r, 0, sizeof(*r));
	mg_buf_init(&r->schema);
	mg_buf_init(&r->behind);
	mg_buf_init(&r->colours);
	mg_buf_init(&r->notes);
	r->behind_json = json_array();
	r->colours_json = json_array();
	r->notes_json = json_array();
	if (error) {
		char *t2 = mg_xasprintf("cannot read: %s", error);

		note(r, t2);
		free(t2);
	}
	if (!v->doc[t]) {
		mg_buf_adds(&r->schema, "?");
		mg_buf_adds(&r->behind, "?");
		mg_buf_adds(&r->colours, "?");
		return;
	}
	/* a status that printed its document and failed all the same (a
	 * place it could not read): what it did read is shown */
	schema_of(r, v->doc[t]);
	behind_of(r, v->doc[t], fr);
	colours_of(r, v->doc[t]);
	if (json_is_object(json_object_get(v->doc[t], "running")))
		note(r, "another migrate is running on it now");
}

static void row_release(struct row *r)
{
	mg_buf_release(&r->schema);
	mg_buf_release(&r->behind);
	mg_buf_release(&r->colours);
	mg_buf_release(&r->notes);
	json_decref(r->behind_json);
	json_decref(r->colours_json);
	json_decref(r->notes_json);
}

/* ---- the table ------------------------------------------------------------------- */

static void print_rows(const struct mg_fleet *f, struct row *rows)
{
	int w[4] = { 6, 6, 6, 13 };

	for (size_t i = 0; i < f->n; i++) {
		int l[4] = { (int)strlen(f->targets[i].name), (int)rows[i].schema.len,
			     (int)rows[i].behind.len, (int)rows[i].colours.len };

		for (int k = 0; k < 4; k++)
			if (l[k] > w[k])
				w[k] = l[k];
	}
	printf("%-*s  %-*s  %-*s  %-*s  NOTES\n", w[0], "TARGET", w[1], "SCHEMA", w[2], "BEHIND",
	       w[3], "COLOURS ALIVE");
	for (size_t i = 0; i < f->n; i++)
		printf("%-*s  %-*s  %-*s  %-*s  %s\n", w[0], f->targets[i].name, w[1],
		       rows[i].schema.buf, w[2], rows[i].behind.buf, w[3], rows[i].colours.buf,
		       rows[i].notes.len ? rows[i].notes.buf : "-");
}

static void print_counts(const struct mg_fleet *f, const struct mg_fleet_views *v,
			 struct row *rows)
{
	size_t unread = 0, behind = 0;

	for (size_t i = 0; i < f->n; i++) {
		unread += mg_fleet_view_error(v, i) != NULL;
		behind += json_array_size(rows[i].behind_json) > 0;
	}
	printf("%zu target%s: %zu read, %zu could not be read, %zu behind\n", f->n,
	       f->n == 1 ? "" : "s", f->n - unread, unread, behind);
	if (unread)
		printf("the logs say why: %s/<name>.log\n", f->state_dir);
}

static void print_json(const struct mg_fleet *f, const struct mg_fleet_views *v,
		       struct row *rows, int exit)
{
	json_t *targets = json_array();
	size_t unread = 0, behind = 0;

	for (size_t i = 0; i < f->n; i++) {
		int readable = !mg_fleet_view_error(v, i);

		unread += !readable;
		behind += json_array_size(rows[i].behind_json) > 0;
		json_array_append_new(targets, json_pack(
			"{s:s, s:s, s:o, s:o, s:s, s:o, s:O, s:O, s:O, s:o}",
			"name", f->targets[i].name, "url", f->targets[i].shown,
			"exit", v->res[i].started ? json_integer(v->res[i].exit) : json_null(),
			"seconds", json_real((double)v->res[i].ms / 1000.0),
			"log", f->targets[i].log,
			"schema", v->doc[i] ? json_string(rows[i].schema.buf) : json_null(),
			"behind", rows[i].behind_json, "colours_alive", rows[i].colours_json,
			"notes", rows[i].notes_json,
			"result", v->doc[i] ? json_incref(v->doc[i]) : json_null()));
	}
	mg_fleet_json_print(json_pack("{s:s, s:i, s:o, s:{s:I, s:I, s:I, s:I}}", "command", "status",
				"exit", exit, "targets", targets, "counts",
				"targets", (json_int_t)f->n, "read", (json_int_t)(f->n - unread),
				"unreadable", (json_int_t)unread, "behind", (json_int_t)behind));
}

int mg_fleet_status(const struct mg_fleet *f, const struct mg_options *opt, int jobs)
{
	struct mg_fleet_views v;
	struct mg_err err = MG_ERR_INIT;
	struct frontier fr = { 0, NULL, NULL };
	struct row *rows;
	int stopped, exit = 0;

	if (mg_fleet_views_read(&v, f, opt, jobs, "status", &stopped, &err) < 0) {
		mg_report_error(&err);
		return err.code;
	}
	frontier_of(&fr, &v);
	rows = mg_xcalloc(f->n, sizeof(*rows));
	for (size_t i = 0; i < f->n; i++) {
		row_of(&rows[i], &v, i, &fr);
		if (mg_fleet_view_error(&v, i))
			exit = MG_EDB;
	}
	if (stopped)
		exit = MG_EDB;
	if (opt->json) {
		print_json(f, &v, rows, exit);
	} else {
		print_rows(f, rows);
		print_counts(f, &v, rows);
	}
	for (size_t i = 0; i < f->n; i++)
		row_release(&rows[i]);
	free(rows);
	free(fr.id);
	free(fr.rank);
	mg_fleet_views_release(&v);
	return exit;
}

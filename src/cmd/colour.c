/*
 * colour.c - `migrate colour register|set|heartbeat|list|forget`: the application
 * versions deployed against the database (design §2).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "colour.h"
#include "output.h"

static int usage_error(struct mg_err *err, const char *fmt, const char *arg)
{
	mg_err_set(err, MG_EINPUT, fmt, arg);
	return mg_err_hint(err, "see 'migrate colour --help'");
}

/* Names are what people type in pipelines: letters, digits, . _ - */
static int check_name(const char *name, struct mg_err *err)
{
	size_t n = strlen(name);

	if (n == 0 || n > 63)
		return usage_error(err, "bad colour name '%s': expected 1 to 63 characters", name);
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return usage_error(err, "bad colour name '%s': use letters, digits, '.', '_' and '-'",
					   name);
	return 0;
}

static int need_args(struct mg_options *opt, int n, const char *usage, struct mg_err *err)
{
	if (opt->n_args < n)
		return usage_error(err, "missing argument: usage: %s", usage);
	if (opt->n_args > n)
		return usage_error(err, "unexpected argument '%s'", opt->args[n]);
	return check_name(opt->args[1], err);
}

/* The registered name closest to name (a typo), or NULL: malloc'd. */
static char *closest_colour(struct mg_state *st, const char *name)
{
	struct mg_err ignored = MG_ERR_INIT;
	struct mg_colour *cs = NULL;
	size_t n = 0, best = 3;	/* at most 2 edits away */
	char *found = NULL;

	if (mg_state_colour_list(st, &cs, &n, &ignored) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t d = mg_edit_distance(name, cs[i].name);

		if (d < best) {
			best = d;
			free(found);
			found = mg_xstrdup(cs[i].name);
		}
	}
	mg_state_colour_list_free(cs, n);
	return found;
}

/* The colour named on the command line; MG_EINPUT when unknown. */
static int load_colour(struct mg_state *st, const char *name, struct mg_colour *c,
		       struct mg_err *err)
{
	int r = st ? mg_state_colour_get(st, name, c, err) : 1;
	char *near;

	if (r < 0)
		return -1;
	if (r == 0)
		return 0;
	mg_err_set(err, MG_EINPUT, "unknown colour '%s'", name);
	near = st ? closest_colour(st, name) : NULL;
	if (near)
		mg_err_hint(err, "did you mean '%s'? 'migrate colour list' shows the registered colours",
			    near);
	else
		mg_err_hint(err, "'migrate colour list' shows the registered colours; 'migrate colour register %s ...' adds it",
			    name);
	free(near);
	return -1;
}

static void print_colour_json(const struct mg_ctx *ctx, const char *action,
			      const struct mg_colour *c)
{
	struct mg_liveness l;

	mg_colour_liveness((struct mg_ctx *)ctx, c, &l);
	mg_json_print(json_pack("{s:s, s:s, s:o, s:o, s:o}", "command", "colour", "action", action,
				"colour", mg_colour_json(ctx, c, &l),
				"colour_record", mg_colour_record_json(c),
				"window", mg_window_json(ctx)));
}

/*
 * Say how many sessions the colour's --match pattern matches now: the
 * gate's second line of defence must not fail open quietly. A pattern
 * that matches nothing for a colour about to be live or standby is a
 * warning naming what the pattern is compared with; sessions that cannot
 * be seen (a place that cannot be read) a warning saying why.
 */
static void report_match(struct mg_ctx *ctx, const struct mg_colour *c)
{
	const char *what = ctx->conn ? mg_db_help_note(ctx->conn, MG_HELP_MATCH_WHAT) : NULL;
	int retired = !strcmp(c->state, "retired");
	struct mg_liveness l;
	char *summary;

	if (!c->match_pattern)
		return;
	mg_colour_liveness(ctx, c, &l);
	summary = mg_colour_match_summary(c, &l);
	if (l.matching < 0)	/* the count failed: say why and what to do, now */
		mg_warn("%s: %s%s%s", summary, l.reason, l.unseen_hint[0] ? "; to see its sessions: " : "",
			l.unseen_hint);
	else if (l.matching == 0 && !retired)
		mg_warn("%s: the gate will count '%s' alive only while it is live or standby; check the pattern against %s: the sessions of this version must carry a name it matches",
			summary, c->name, what ? what : "the sessions' names");
	else if (retired && l.sessions != 0)
		mg_info("%s: %s stays alive while they are connected", summary, c->name);
	else if (retired)
		mg_info("%s: %s is not alive", summary, c->name);
	else
		mg_info("%s", summary);
	free(summary);
}

/* The colour as the state file now records it (times included). */
static void print_saved_json(const struct mg_ctx *ctx, const char *action, const char *name,
			     struct mg_err *err)
{
	struct mg_colour saved;

	if (mg_state_colour_get(ctx->state, name, &saved, err) == 0) {
		print_colour_json(ctx, action, &saved);
		mg_colour_release(&saved);
	}
}

/* ---- register ------------------------------------------------------------------ */

static int register_args(struct mg_options *opt, struct mg_err *err)
{
	if (need_args(opt, 2, "migrate colour register NAME --app-version S --requires V", err) < 0)
		return -1;
	if (!opt->app_version || !*opt->app_version)
		return usage_error(err, "colour register %s: --app-version is required", opt->args[1]);
	if (!opt->requires)
		return usage_error(err, "colour register %s: --requires is required (a migration id, or 0)",
				   opt->args[1]);
	if (opt->colour_state && !strcmp(opt->colour_state, "retired"))
		return usage_error(err, "colour register %s: --state must be live or standby", opt->args[1]);
	if (opt->match && !*opt->match)
		return usage_error(err, "colour register %s: --match needs a pattern", opt->args[1]);
	if (opt->match && mg_match_pattern_check(opt->match, err) < 0) {
		mg_err_prefix(err, "colour register %s: ", opt->args[1]);
		return -1;
	}
	return 0;
}

static int refuse_alive(struct mg_ctx *ctx, const struct mg_colour *old, struct mg_err *err)
{
	struct mg_liveness l;

	mg_colour_liveness(ctx, old, &l);
	if (!l.alive)
		return 0;
	mg_err_set(err, MG_EREFUSED,
		   "colour register %s refused: colour %s (app %s) is alive: %s",
		   old->name, old->name, old->app_version ? old->app_version : "?", l.reason);
	if (!strcmp(old->state, "retired"))
		return mg_err_hint(err, "its sessions show it still runs: stop them (or check the --match pattern '%s'), or register under another name",
				   old->match_pattern ? old->match_pattern : "");
	return mg_err_hint(err, "a running version keeps its registration: retire it first ('migrate colour set %s --state retired') once no traffic goes to it, or register under another name",
			   old->name);
}

static int do_register(struct mg_ctx *ctx, struct mg_options *opt, struct mg_err *err)
{
	const char *name = opt->args[1];
	struct mg_colour old, c;
	struct mg_view *v;
	char *label;
	char what[160];
	int found, rc;

	memset(&c, 0, sizeof(c));
	if (mg_version_parse(ctx, opt->requires, &c.requires_id, err) < 0)
		return -1;
	found = mg_state_colour_get(ctx->state, name, &old, err);
	if (found < 0)
		return -1;
	rc = found == 0 ? refuse_alive(ctx, &old, err) : 0;
	if (found == 0)
		mg_colour_release(&old);
	snprintf(what, sizeof(what), "colour register %s", name);
	if (rc < 0 || mg_window_require(ctx, c.requires_id, what, err) < 0) {
		mg_ctx_event_colour(ctx, c.requires_id, name, "refused", "%s", err->msg);
		return -1;
	}
	v = mg_ctx_view(ctx, c.requires_id);
	c.name = mg_xstrdup(name);
	c.app_version = mg_xstrdup(opt->app_version);
	c.requires_checksum = v && v->has_rec && v->rec.checksum ? mg_xstrdup(v->rec.checksum) : NULL;
	c.state = mg_xstrdup(opt->colour_state ? opt->colour_state : "live");
	c.match_pattern = opt->match ? mg_xstrdup(opt->match) : NULL;
	c.ttl_s = opt->ttl_s;
	if (mg_state_colour_put(ctx->state, &c, err) < 0 || mg_ctx_registry_changed(ctx, err) < 0) {
		mg_colour_release(&c);
		return -1;
	}
	label = mg_version_label(ctx, c.requires_id);
	mg_ctx_event_colour(ctx, c.requires_id, name, "ok", "registered %s: app %s, requires %s, %s%s%s",
			    name, c.app_version, label, c.state, c.match_pattern ? ", sessions matching " : "",
			    c.match_pattern ? c.match_pattern : "");
	if (opt->json)
		print_saved_json(ctx, "register", name, err);
	else
		mg_info("colour %s registered: app %s, requires schema %s, %s", name, c.app_version,
			label, c.state);
	report_match(ctx, &c);
	free(label);
	mg_colour_release(&c);
	return 0;
}

/* ---- set ------------------------------------------------------------------------ */

static int set_gate(struct mg_ctx *ctx, const struct mg_colour *c, const char *to,
		    struct mg_err *err)
{
	struct mg_liveness l;
	char what[160];

	if (!strcmp(to, "retired"))
		return 0;
	mg_colour_liveness(ctx, c, &l);
	snprintf(what, sizeof(what), "colour set %s --state %s", c->name, to);
	if (!l.valid) {
		char *label = mg_version_label(ctx, c->requires_id);

		mg_err_set(err, MG_EREFUSED, "%s refused: %s required %s, which was rolled back (or re-expanded from an edited file) since it registered",
			   what, c->name, label);
		free(label);
		return mg_err_hint(err, "register it again: 'migrate colour register %s --app-version S --requires V'",
				   c->name);
	}
	return mg_window_require(ctx, c->requires_id, what, err);
}

static int do_set(struct mg_ctx *ctx, struct mg_options *opt, struct mg_err *err)
{
	const char *name = opt->args[1];
	struct mg_colour c;
	char *from;

	if (load_colour(ctx->state, name, &c, err) < 0)
		return -1;
	if (!strcmp(c.state, opt->colour_state)) {
		mg_info("nothing to do: colour %s is already %s", name, c.state);
		report_match(ctx, &c);
		if (opt->json)
			print_colour_json(ctx, "set", &c);
		mg_colour_release(&c);
		return 0;
	}
	if (set_gate(ctx, &c, opt->colour_state, err) < 0) {
		mg_ctx_event_colour(ctx, c.requires_id, name, "refused", "%s", err->msg);
		mg_colour_release(&c);
		return -1;
	}
	from = c.state;
	c.state = mg_xstrdup(opt->colour_state);
	free(c.updated_at);
	c.updated_at = NULL;
	if (strcmp(c.state, "retired") != 0) {	/* the operator vouches for it now */
		free(c.heartbeat_at);
		c.heartbeat_at = NULL;
	}
	if (mg_state_colour_put(ctx->state, &c, err) < 0 || mg_ctx_registry_changed(ctx, err) < 0) {
		free(from);
		mg_colour_release(&c);
		return -1;
	}
	mg_ctx_event_colour(ctx, c.requires_id, name, "ok", "colour %s: %s -> %s", name, from, c.state);
	if (opt->json)
		print_saved_json(ctx, "set", name, err);
	else
		mg_info("colour %s: %s -> %s", name, from, c.state);
	report_match(ctx, &c);
	free(from);
	mg_colour_release(&c);
	return 0;
}

/* ---- heartbeat ------------------------------------------------------------------------ */

/* Only the state file: no database, no lock, no generation (an older copy
 * with an older heartbeat only errs on the safe side). */
static int do_heartbeat(struct mg_options *opt, struct mg_err *err)
{
	struct mg_err ignored = MG_ERR_INIT;
	struct mg_state *st = NULL;
	struct mg_colour c;
	char now[32];
	int rc = -1;

	if (mg_state_open(&st, opt->state, 0, 0, NULL, err) < 0)
		return -1;
	if (load_colour(st, opt->args[1], &c, err) < 0)
		goto out;
	if (!strcmp(c.state, "retired")) {
		mg_err_set(err, MG_EREFUSED, "colour heartbeat %s refused: %s is retired, yet something running sends its heartbeat",
			   c.name, c.name);
		mg_err_hint(err, "if %s really runs, register it again ('migrate colour register %s ...'); otherwise stop its heartbeat",
			    c.name, c.name);
		mg_state_event_add(st, "colour", c.requires_id, c.name, "refused", err->msg, &ignored);
		mg_colour_release(&c);
		goto out;
	}
	mg_iso_time(now);
	free(c.heartbeat_at);
	c.heartbeat_at = mg_xstrdup(now);
	rc = mg_state_colour_put(st, &c, err);
	/* "colour" stays the name here (consumers read it so); colour_record
	 * is the object register and set print too, from the state file alone */
	if (!rc && opt->json)
		mg_json_print(json_pack("{s:s, s:s, s:s, s:s, s:o}", "command", "colour", "action",
					"heartbeat", "colour", c.name, "heartbeat_at", now,
					"colour_record", mg_colour_record_json(&c)));
	else if (!rc)
		mg_debug("colour %s: heartbeat at %s", c.name, now);
	mg_colour_release(&c);
out:
	mg_state_close(st);
	return rc;
}

/* ---- forget ---------------------------------------------------------------------- */

/* Only a retired colour that nothing keeps alive may go: a record that a
 * gate would still count must stay. */
static int forget_gate(struct mg_ctx *ctx, const struct mg_colour *c, struct mg_err *err)
{
	struct mg_liveness l;

	if (strcmp(c->state, "retired") != 0) {
		mg_err_set(err, MG_EREFUSED, "colour forget %s refused: %s is %s, not retired",
			   c->name, c->name, c->state);
		return mg_err_hint(err, "once no traffic can go to %s any more, retire it ('migrate colour set %s --state retired'), then forget it",
				   c->name, c->name);
	}
	mg_colour_liveness(ctx, c, &l);
	if (!l.alive)
		return 0;
	if (l.sessions < 0) {
		mg_err_set(err, MG_EREFUSED, "colour forget %s refused: %s", c->name, l.reason);
		return mg_err_hint(err, "migrate must see that no session matches '%s' before it forgets %s: fix what hides the sessions (%s), then try again",
				   c->match_pattern, c->name,
				   l.unseen_hint[0] ? l.unseen_hint : "the error above");
	}
	mg_err_set(err, MG_EREFUSED, "colour forget %s refused: its --match '%s' matches %lld session%s now, so its version may still run (%s)",
		   c->name, c->match_pattern, (long long)l.sessions, l.sessions == 1 ? "" : "s",
		   l.reason);
	return mg_err_hint(err, "stop them (or, if they belong to a newer version, register that version with a pattern matching them), then forget %s",
			   c->name);
}

static int do_forget(struct mg_ctx *ctx, struct mg_options *opt, struct mg_err *err)
{
	const char *name = opt->args[1];
	struct mg_colour c;
	char *label;

	if (load_colour(ctx->state, name, &c, err) < 0)
		return -1;
	if (forget_gate(ctx, &c, err) < 0) {
		mg_ctx_event_colour(ctx, c.requires_id, name, "refused", "%s", err->msg);
		mg_colour_release(&c);
		return -1;
	}
	if (mg_state_colour_delete(ctx->state, name, err) < 0 ||
	    mg_ctx_registry_changed(ctx, err) < 0) {
		mg_colour_release(&c);
		return -1;
	}
	label = mg_version_label(ctx, c.requires_id);
	mg_ctx_event_colour(ctx, c.requires_id, name, "ok", "forgot %s: app %s, requires %s, retired",
			    name, c.app_version ? c.app_version : "?", label);
	if (opt->json)
		print_colour_json(ctx, "forget", &c);
	else
		mg_info("colour %s forgotten (it was retired: app %s, requires schema %s)", name,
			c.app_version ? c.app_version : "?", label);
	free(label);
	mg_colour_release(&c);
	return 0;
}

/* ---- list ---------------------------------------------------------------------------- */

static void print_colour_row(struct mg_ctx *ctx, const struct mg_colour *c)
{
	struct mg_liveness l;
	char *label = mg_version_label(ctx, c->requires_id);
	char *sb = NULL;
	int safe;

	mg_colour_liveness(ctx, c, &l);
	printf("%-12s %-8s %-14s %-30s %s: %s\n", c->name, c->state,
	       c->app_version ? c->app_version : "?", label,
	       l.alive ? "alive" : "not alive", l.reason);
	if (c->match_pattern) {
		char *summary = mg_colour_match_summary(c, &l);

		printf("%-12s %s\n", "", summary);
		free(summary);
	}
	if (l.unseen_hint[0])	/* a place that cannot be read: what to do */
		printf("%-12s to see its sessions: %s\n", "", l.unseen_hint);
	/* a standby colour may never have had traffic: no "back" for it */
	if (strcmp(c->state, "live") != 0) {
		sb = mg_colour_switch_back(ctx, c, &l, &safe);
		printf("%-12s switching traffic %sto %s: %s\n", "",
		       strcmp(c->state, "standby") ? "back " : "", c->name, sb);
	}
	free(sb);
	free(label);
}

int mg_colour_print_all(struct mg_ctx *ctx, int json, json_t **out, struct mg_err *err)
{
	struct mg_colour *cs = NULL;
	size_t n = 0;

	if (ctx->state && mg_state_colour_list(ctx->state, &cs, &n, err) < 0)
		return -1;
	if (json) {
		*out = json_array();
		for (size_t i = 0; i < n; i++) {
			struct mg_liveness l;

			mg_colour_liveness(ctx, &cs[i], &l);
			json_array_append_new(*out, mg_colour_json(ctx, &cs[i], &l));
		}
	} else if (!n) {
		printf("no colours registered (migrate colour register NAME --app-version S --requires V)\n");
	} else {
		printf("%-12s %-8s %-14s %-30s %s\n", "COLOUR", "STATE", "APP VERSION", "REQUIRES",
		       "ALIVE");
		for (size_t i = 0; i < n; i++)
			print_colour_row(ctx, &cs[i]);
	}
	mg_state_colour_list_free(cs, n);
	return 0;
}

static int do_list(struct mg_ctx *ctx, struct mg_options *opt, struct mg_err *err)
{
	json_t *arr = NULL;
	struct mg_window w;

	if (opt->n_args > 1)
		return usage_error(err, "unexpected argument '%s': colour list takes none", opt->args[1]);
	if (mg_colour_print_all(ctx, opt->json, &arr, err) < 0)
		return -1;
	if (opt->json) {
		mg_json_print(json_pack("{s:o, s:o}", "colours", arr, "window", mg_window_json(ctx)));
		return 0;
	}
	mg_window_compute(ctx, &w);
	printf("\nreadable window: schema versions %d..%d\n", w.low, w.high);
	return 0;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static int check_options(struct mg_options *opt, const char *sub, struct mg_err *err)
{
	int reg = !strcmp(sub, "register");

	if (!reg && (opt->app_version || opt->requires || opt->match || opt->ttl_s))
		return usage_error(err, "colour %s: --app-version, --requires, --match and --ttl belong to 'colour register'",
				   sub);
	if (strcmp(sub, "set") != 0 && !reg && opt->colour_state)
		return usage_error(err, "colour %s takes no --state", sub);
	if (!strcmp(sub, "set") && !opt->colour_state)
		return usage_error(err, "colour set %s: --state live|standby|retired is required",
				   opt->n_args > 1 ? opt->args[1] : "NAME");
	return 0;
}

static int run_with_ctx(struct mg_options *opt, const char *sub, unsigned setup,
			struct mg_err *err)
{
	struct mg_ctx ctx;
	int rc;

	rc = mg_ctx_open(&ctx, opt, "colour", setup, err);
	if (!rc) {
		if (!strcmp(sub, "register"))
			rc = do_register(&ctx, opt, err);
		else if (!strcmp(sub, "set"))
			rc = do_set(&ctx, opt, err);
		else if (!strcmp(sub, "forget"))
			rc = do_forget(&ctx, opt, err);
		else
			rc = do_list(&ctx, opt, err);
	}
	mg_ctx_close(&ctx);
	return rc;
}

int mg_cmd_colour(struct mg_options *opt)
{
	struct mg_err err = MG_ERR_INIT;
	const char *sub = opt->n_args > 0 ? opt->args[0] : NULL;
	int rc = -1;

	if (!sub) {
		usage_error(&err, "missing subcommand: %s", "register, set, heartbeat, list or forget");
	} else if (check_options(opt, sub, &err) < 0) {
		/* err set */
	} else if (!strcmp(sub, "register")) {
		if (register_args(opt, &err) == 0)
			rc = run_with_ctx(opt, sub, MG_NEED_DB | MG_NEED_WRITE, &err);
	} else if (!strcmp(sub, "set")) {
		if (need_args(opt, 2, "migrate colour set NAME --state live|standby|retired", &err) == 0)
			rc = run_with_ctx(opt, sub, MG_NEED_DB | MG_NEED_WRITE, &err);
	} else if (!strcmp(sub, "forget")) {
		if (need_args(opt, 2, "migrate colour forget NAME", &err) == 0)
			rc = run_with_ctx(opt, sub, MG_NEED_DB | MG_NEED_WRITE, &err);
	} else if (!strcmp(sub, "heartbeat")) {
		if (need_args(opt, 2, "migrate colour heartbeat NAME", &err) == 0)
			rc = do_heartbeat(opt, &err);
	} else if (!strcmp(sub, "list")) {
		rc = run_with_ctx(opt, sub, MG_NEED_DB, &err);
	} else {
		usage_error(&err, "unknown subcommand 'colour %s': expected register, set, heartbeat, list or forget",
			    sub);
	}
	return rc < 0 ? mg_cmd_fail(&err) : 0;
}

/* colour.c - colours' liveness, the readable window and the colour gates. */
#define _XOPEN_SOURCE 700	/* strptime */

#include "colour.h"
#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- readable window -------------------------------------------------------- */

void mg_window_compute(const struct mg_ctx *ctx, struct mg_window *w)
{
	w->low = 0;
	w->high = 0;
	for (size_t i = 0; i < ctx->n_views; i++)
		if (ctx->views[i].phase == MG_PHASE_CONTRACTED)
			w->low = ctx->views[i].id;
	for (size_t i = 0; i < ctx->n_views; i++) {
		if (ctx->views[i].phase < MG_PHASE_SWITCHED)
			break;
		w->high = ctx->views[i].id;
	}
	if (w->high < w->low)
		w->high = w->low;
}

char *mg_version_label(const struct mg_ctx *ctx, int v)
{
	char idbuf[16];

	for (size_t i = 0; i < ctx->n_views; i++)
		if (ctx->views[i].id == v)
			return mg_xstrdup(ctx->views[i].name);
	if (v == 0)
		return mg_xstrdup("0 (before any migration)");
	return mg_xstrdup(mg_id_str(v, idbuf));
}

int mg_version_parse(const struct mg_ctx *ctx, const char *arg, int *out,
		     struct mg_err *err)
{
	if (mg_migration_parse_id(arg, out, err) < 0) {
		mg_err_prefix(err, "--requires: ");
		return -1;
	}
	if (*out == 0)
		return 0;
	for (size_t i = 0; i < ctx->n_views; i++)
		if (ctx->views[i].id == *out)
			return 0;
	mg_err_set(err, MG_EINPUT, "--requires %s: no migration with id %d in '%s' and none recorded",
		   arg, *out, ctx->opt->migrations);
	return mg_err_hint(err, "a schema version is a migration id (see 'migrate status'), or 0 for the schema before any migration");
}

/* Why migration x (phase p) keeps a schema from being readable, and what to run. */
static void not_switched(const struct mg_view *x, char *why, size_t wn, char *todo, size_t tn)
{
	char id[16];

	mg_id_str(x->id, id);
	switch (x->phase) {
	case MG_PHASE_PENDING:
		snprintf(why, wn, "%s is pending", x->name);
		snprintf(todo, tn, "run 'migrate expand %s', 'migrate backfill %s' and 'migrate switch-reads %s' first",
			 id, id, id);
		break;
	case MG_PHASE_EXPANDED:
		snprintf(why, wn, "%s is expanded but not switched", x->name);
		snprintf(todo, tn, "run 'migrate backfill %s' and 'migrate switch-reads %s' first", id, id);
		break;
	default:
		snprintf(why, wn, "%s is backfilled but not switched", x->name);
		snprintf(todo, tn, "run 'migrate switch-reads %s' first", id);
		break;
	}
}

int mg_window_require(const struct mg_ctx *ctx, int v, const char *what,
		      struct mg_err *err)
{
	struct mg_window w;
	char idbuf[16], vbuf[16], why[256], todo[512];
	char *label;

	mg_window_compute(ctx, &w);
	if (v >= w.low && v <= w.high)
		return 0;
	label = mg_version_label(ctx, v);
	if (v < w.low) {
		mg_err_set(err, MG_EREFUSED,
			   "%s refused: schema %s is no longer readable: %s is contracted (readable window %d..%d)",
			   what, label, mg_id_str(w.low, idbuf), w.low, w.high);
		mg_err_hint(err, "roll forward instead: deploy application code that requires %s or later",
			    mg_id_str(w.low, vbuf));
		free(label);
		return -1;
	}
	for (size_t i = 0; i < ctx->n_views; i++) {
		const struct mg_view *x = &ctx->views[i];

		if (x->id > v || x->phase >= MG_PHASE_SWITCHED)
			continue;
		not_switched(x, why, sizeof(why), todo, sizeof(todo));
		mg_err_set(err, MG_EREFUSED,
			   "%s refused: schema %s is not readable yet: %s%s (readable window %d..%d)",
			   what, label, why, x->id < v ? ", and migrations move in order" : "",
			   w.low, w.high);
		mg_err_hint(err, "%s", todo);
		break;
	}
	free(label);
	return -1;
}

/* ---- liveness ----------------------------------------------------------------- */

int mg_colour_state_valid(const char *s)
{
	return s && (!strcmp(s, "live") || !strcmp(s, "standby") || !strcmp(s, "retired"));
}

static int64_t age_seconds(const char *iso)
{
	struct tm tm;
	const char *end;

	if (!iso)
		return -1;
	memset(&tm, 0, sizeof(tm));
	end = strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -1;
	return (int64_t)(time(NULL) - timegm(&tm));
}

static int colour_valid(const struct mg_ctx *ctx, const struct mg_colour *c)
{
	if (c->requires_id == 0)
		return 1;
	for (size_t i = 0; i < ctx->n_views; i++) {
		const struct mg_view *v = &ctx->views[i];

		if (v->id == c->requires_id)
			return v->has_rec && v->rec.checksum && c->requires_checksum &&
			       !strcmp(v->rec.checksum, c->requires_checksum);
	}
	return 0;
}

/* A live or standby colour other than c, registered after c was. */
static int registered_later(const struct mg_colour *other, const struct mg_colour *c)
{
	return strcmp(other->name, c->name) != 0 && other->match_pattern &&
	       mg_colour_state_valid(other->state) && strcmp(other->state, "retired") != 0 &&
	       other->registered_at && c->registered_at &&
	       strcmp(other->registered_at, c->registered_at) > 0;	/* ISO-8601 UTC */
}

/*
 * The patterns of the live or standby colours registered after c (which
 * may claim the sessions its pattern matches). Equal registration times
 * claim nothing: in doubt a session stays the retired colour's, which
 * blocks.
 */
static size_t claimant_patterns(struct mg_ctx *ctx, const struct mg_colour *c,
				char ***patterns, char ***names)
{
	struct mg_err ignored = MG_ERR_INIT;
	struct mg_colour *cs = NULL;
	size_t n = 0, k = 0;

	*patterns = *names = NULL;
	if (!ctx->state || mg_state_colour_list(ctx->state, &cs, &n, &ignored) < 0)
		return 0;	/* nothing claims: the safe side */
	*patterns = mg_xcalloc(n ? n : 1, sizeof(char *));
	*names = mg_xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		if (!registered_later(&cs[i], c))
			continue;
		(*patterns)[k] = mg_xstrdup(cs[i].match_pattern);
		(*names)[k++] = mg_xstrdup(cs[i].name);
	}
	mg_state_colour_list_free(cs, n);
	return k;
}

/* Which of the claimants match some of c's sessions (l->claimed_by), and
 * how many sessions are c's own (l->sessions), place by place (counts). */
static int attribute_sessions(struct mg_ctx *ctx, const struct mg_colour *c,
			      char **patterns, char **names, size_t n,
			      struct mg_liveness *l, struct mg_place_counts *counts,
			      struct mg_err *err)
{
	size_t used = 0;
	int64_t own;

	for (size_t i = 0; i < n; i++) {
		if (mg_db_count_sessions_except(ctx->conn, c->match_pattern, &patterns[i], 1,
						&own, err) < 0)
			return -1;
		if (own < l->matching)
			used += snprintf(l->claimed_by + used, sizeof(l->claimed_by) - used,
					 "%s%s", used ? ", " : "", names[i]);
		if (used >= sizeof(l->claimed_by))
			used = sizeof(l->claimed_by) - 1;
	}
	if (mg_db_count_sessions_by_place(ctx->conn, c->match_pattern, patterns, n, counts,
					  err) < 0)
		return -1;
	own = mg_place_counts_total(counts);
	l->sessions = own;
	l->claimed = l->matching - own;
	return 0;
}

void mg_liveness_set_places(struct mg_liveness *l, const struct mg_place_counts *counts)
{
	const size_t last = MG_LIVENESS_PLACES - 1;

	l->n_places = 0;
	if (l->sessions <= 0 || counts->n < 2)
		return;
	for (size_t i = 0; i < counts->n; i++) {
		const struct mg_place_count *pc = &counts->list[i];

		if (pc->sessions <= 0)
			continue;
		if (l->n_places == last + 1) {	/* full: the last one becomes the rest */
			snprintf(l->places[last].place, sizeof(l->places[last].place), "other places");
			l->places[last].sessions += pc->sessions;
			continue;
		}
		snprintf(l->places[l->n_places].place, sizeof(l->places[0].place), "%s", pc->place);
		l->places[l->n_places++].sessions = pc->sessions;
	}
}

void mg_liveness_add_places(struct mg_buf *out, const struct mg_liveness *l)
{
	for (size_t i = 0; i < l->n_places; i++)
		mg_buf_addf(out, "%s%s: %lld%s", i ? ", " : " (", l->places[i].place,
			    (long long)l->places[i].sessions, i + 1 == l->n_places ? ")" : "");
}

/* l->matching, l->sessions and l->claimed, and where its own sessions
 * are (l->places); -1 with the reason in why when the sessions cannot be
 * seen. */
static int count_sessions(struct mg_ctx *ctx, const struct mg_colour *c, int retired,
			  struct mg_liveness *l, struct mg_buf *why)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_place_counts counts = MG_PLACE_COUNTS_INIT;
	char **patterns = NULL, **names = NULL;
	size_t n = 0;
	int rc = 0;

	if (!ctx->conn) {
		l->sessions = l->matching = -1;
		mg_buf_addf(why, "sessions matching '%s' cannot be seen (no database connection)",
			    c->match_pattern);
		return -1;
	}
	if (mg_db_count_sessions_by_place(ctx->conn, c->match_pattern, NULL, 0, &counts, &err) < 0)
		rc = -1;
	l->sessions = l->matching = mg_place_counts_total(&counts);
	if (!rc && retired && l->matching > 0)
		n = claimant_patterns(ctx, c, &patterns, &names);
	if (n)
		rc = attribute_sessions(ctx, c, patterns, names, n, l, &counts, &err);
	for (size_t i = 0; i < n; i++) {
		free(patterns[i]);
		free(names[i]);
	}
	free(patterns);
	free(names);
	if (rc == 0)
		mg_liveness_set_places(l, &counts);
	mg_place_counts_release(&counts);
	if (rc == 0)
		return 0;
	l->sessions = l->matching = -1;
	l->claimed = 0;
	l->claimed_by[0] = 0;
	mg_buf_addf(why, "sessions matching '%s' cannot be seen (%s)", c->match_pattern, err.msg);
	snprintf(l->unseen_hint, sizeof(l->unseen_hint), "%s", err.hint);
	return -1;
}

/* The part of the reason that the sessions make. */
static void explain_sessions(const struct mg_colour *c, int registered,
			     const struct mg_liveness *l, struct mg_buf *why)
{
	const char *p = c->match_pattern;

	if (l->sessions > 0) {
		mg_buf_addf(why, "%s%lld session%s matching '%s' connected",
			    registered ? ", " : ", but ", (long long)l->sessions,
			    l->sessions == 1 ? "" : "s", p);
		mg_liveness_add_places(why, l);
	}
	if (l->claimed > 0)
		mg_buf_addf(why, "%s%lld%s session%s matching '%s' count%s as %s's, registered later (not this colour's)",
			    l->sessions > 0 ? "; " : ", ", (long long)l->claimed,
			    l->sessions > 0 ? " more" : "", l->claimed == 1 ? "" : "s", p,
			    l->claimed == 1 ? "s" : "", l->claimed_by);
	else if (!registered && l->sessions == 0)
		mg_buf_addf(why, ", no session matching '%s'", p);
}

void mg_colour_liveness(struct mg_ctx *ctx, const struct mg_colour *c,
			struct mg_liveness *out)
{
	struct mg_buf why = MG_BUF_INIT;
	int registered = c->state && strcmp(c->state, "retired") != 0;

	memset(out, 0, sizeof(*out));
	out->matching = -1;
	out->valid = colour_valid(ctx, c);
	out->heartbeat_age_s = age_seconds(c->heartbeat_at);
	mg_buf_addf(&why, "%s%s", registered ? "registered " : "", c->state ? c->state : "unknown state");
	if (c->match_pattern) {
		struct mg_buf s = MG_BUF_INIT;

		if (count_sessions(ctx, c, !registered, out, &s) < 0)
			mg_buf_addf(&why, registered ? ", %s" : ", but %s", s.buf);
		else
			explain_sessions(c, registered, out, &why);
		mg_buf_release(&s);
	}
	out->alive = registered || out->sessions != 0;
	if (registered && c->ttl_s > 0 && out->heartbeat_age_s > c->ttl_s) {
		out->stale = 1;
		mg_buf_addf(&why, "; stale: last heartbeat %llds ago, ttl %llds (still counted as alive)",
			    (long long)out->heartbeat_age_s, (long long)c->ttl_s);
	}
	if (!out->valid)
		mg_buf_adds(&why, "; invalid: its required migration was rolled back or re-expanded, register it again");
	snprintf(out->reason, sizeof(out->reason), "%s", why.buf);
	mg_buf_release(&why);
}

char *mg_colour_match_summary(const struct mg_colour *c, const struct mg_liveness *l)
{
	struct mg_buf b = MG_BUF_INIT;

	if (!c->match_pattern)
		return mg_xstrdup("no --match pattern: only its state keeps it alive");
	mg_buf_addf(&b, "--match '%s' ", c->match_pattern);
	if (l->matching < 0)
		mg_buf_adds(&b, "matches sessions that cannot be seen now (counted as alive)");
	else if (l->matching == 0)
		mg_buf_adds(&b, "matches no session now");
	else
		mg_buf_addf(&b, "matches %lld session%s now", (long long)l->matching,
			    l->matching == 1 ? "" : "s");
	if (l->claimed > 0)
		mg_buf_addf(&b, " (%lld of them count%s as %s's, registered later)",
			    (long long)l->claimed, l->claimed == 1 ? "s" : "", l->claimed_by);
	return mg_buf_detach(&b);
}

int mg_match_pattern_check(const char *pattern, struct mg_err *err)
{
	char *meant, *p;

	if (!strchr(pattern, '%'))
		return 0;
	meant = mg_xstrdup(pattern);
	for (p = meant; *p; p++)
		if (*p == '%')
			*p = '*';
	mg_err_set(err, MG_EINPUT, "--match '%s': '%%' is literal in a glob, so this pattern would match no session",
		   pattern);
	mg_err_hint(err, "'%%' is literal in a glob: did you mean '%s'? ('*' matches any run of characters, '?' one character; '_' is literal)",
		    meant);
	free(meant);
	return -1;
}

/* ---- gates ---------------------------------------------------------------------- */

struct blocker_list {
	struct mg_buf msg;
	struct mg_buf hint;
	int n;
};

static void add_blocker(struct mg_ctx *ctx, struct blocker_list *b,
			const struct mg_colour *c, const struct mg_liveness *l,
			const char *gate, int m)
{
	char *label = mg_version_label(ctx, c->requires_id);
	char idbuf[16];

	mg_buf_addf(&b->msg, "%scolour %s (app %s) requires schema %s and is alive: %s",
		    b->n ? "; " : "", c->name, c->app_version ? c->app_version : "?",
		    label, l->reason);
	if (!b->n) {
		if (l->sessions < 0 && l->unseen_hint[0])	/* a place that cannot be read */
			mg_buf_addf(&b->hint, "%s's sessions matching '%s' cannot be seen: %s; ",
				    c->name, c->match_pattern, l->unseen_hint);
		else if (l->sessions != 0 && c->match_pattern)
			mg_buf_addf(&b->hint, "%s still has sessions matching '%s' (or they cannot be seen): stop them first, ",
				    c->name, c->match_pattern);
		if (!c->state || strcmp(c->state, "retired") != 0)	/* NULL: a damaged record */
			mg_buf_addf(&b->hint, "when no traffic can go to %s any more, retire it: 'migrate colour set %s --state retired', ",
				    c->name, c->name);
		mg_buf_addf(&b->hint, "then run 'migrate %s %s'", gate, mg_id_str(m, idbuf));
	}
	b->n++;
	free(label);
}

/* A retired colour the gate would count, were its sessions not claimed by
 * a newer colour: the operator hears of it, since the patterns overlap. */
static void note_claimed(struct mg_buf *notes, const struct mg_colour *c,
			 const struct mg_liveness *l)
{
	int one = l->claimed == 1;

	mg_buf_addf(notes, "%sretired colour %s (app %s) is not counted: %lld session%s matching '%s' also match%s the pattern of %s, registered later, and count%s as %s's; if %s's old version still runs, it needs the old schema",
		    notes->len ? "; " : "", c->name, c->app_version ? c->app_version : "?",
		    (long long)l->claimed, one ? "" : "s", c->match_pattern, one ? "es" : "",
		    l->claimed_by, one ? "s" : "", l->claimed_by, c->name);
}

/*
 * Refuse when an alive colour's requirement satisfies blocks(req, m). A
 * refusal names every blocking colour in err; the command logs it as one
 * event. A pass is logged here (log set), with any claimed-session note.
 */
static int colour_gate(struct mg_ctx *ctx, int m, const char *gate,
		       int (*blocks)(int requires, int m), const char *rule, int log,
		       struct mg_err *err)
{
	struct blocker_list b = { MG_BUF_INIT, MG_BUF_INIT, 0 };
	struct mg_buf notes = MG_BUF_INIT;
	struct mg_colour *cs = NULL;
	size_t n = 0;
	char idbuf[16];
	int rc = 0;

	if (!ctx->state)
		return 0;
	if (mg_state_colour_list(ctx->state, &cs, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct mg_liveness l;

		if (!blocks(cs[i].requires_id, m))
			continue;
		mg_colour_liveness(ctx, &cs[i], &l);
		if (l.alive)
			add_blocker(ctx, &b, &cs[i], &l, gate, m);
		else if (l.claimed > 0)
			note_claimed(&notes, &cs[i], &l);
	}
	if (b.n) {
		mg_err_set(err, MG_EREFUSED, "%s %s refused: %s",
			   gate, mg_id_str(m, idbuf), b.msg.buf);
		mg_err_hint(err, "%s", b.hint.buf);
		rc = -1;
	} else if (log) {
		if (notes.len)
			mg_warn("%s", notes.buf);
		mg_ctx_event(ctx, m, "allowed", "%s %s: gate passed, %s%s%s",
			     gate, mg_id_str(m, idbuf), rule, notes.len ? "; " : "",
			     notes.len ? notes.buf : "");
	}
	mg_buf_release(&b.msg);
	mg_buf_release(&b.hint);
	mg_buf_release(&notes);
	mg_state_colour_list_free(cs, n);
	return rc;
}

int mg_colour_blocks_contract(int requires, int m)
{
	return requires < m;
}

int mg_colour_blocks_rollback(int requires, int m)
{
	return requires >= m;
}

int mg_gate_contract(struct mg_ctx *ctx, int m, struct mg_err *err)
{
	return colour_gate(ctx, m, "contract", mg_colour_blocks_contract,
			   "no alive colour requires an older schema", 1, err);
}

int mg_gate_contract_preview(struct mg_ctx *ctx, int m, struct mg_err *err)
{
	return colour_gate(ctx, m, "contract", mg_colour_blocks_contract, NULL, 0, err);
}

int mg_gate_rollback(struct mg_ctx *ctx, int m, struct mg_err *err)
{
	return colour_gate(ctx, m, "rollback", mg_colour_blocks_rollback,
			   "no alive colour requires this schema or a newer one", 1, err);
}

/* ---- switch-back safety ----------------------------------------------------------- */

/* The lowest migration above v that is not contracted: its contract ends v. */
static const struct mg_view *next_contract_after(const struct mg_ctx *ctx, int v)
{
	for (size_t i = 0; i < ctx->n_views; i++)
		if (ctx->views[i].id > v && ctx->views[i].phase < MG_PHASE_CONTRACTED)
			return &ctx->views[i];
	return NULL;
}

char *mg_colour_switch_back(const struct mg_ctx *ctx, const struct mg_colour *c,
			    const struct mg_liveness *l, int *safe)
{
	struct mg_err why = MG_ERR_INIT;
	const struct mg_view *end, *req;
	char idbuf[16], rbuf[16], rb[64] = "";

	*safe = 0;
	if (!l->valid)
		return mg_xstrdup("not safe: its required migration was rolled back; register it again");
	if (mg_window_require(ctx, c->requires_id, "switching back", &why) < 0)
		return mg_xasprintf("not safe: %s; %s", why.msg + strlen("switching back refused: "),
				    why.hint);
	*safe = 1;
	end = next_contract_after(ctx, c->requires_id);
	req = mg_ctx_view((struct mg_ctx *)ctx, c->requires_id);
	if (req && req->phase < MG_PHASE_CONTRACTED)
		snprintf(rb, sizeof(rb), "rollback of %s", mg_id_str(req->id, rbuf));
	if (end && rb[0])
		return mg_xasprintf("safe until contract of %s or %s%s", mg_id_str(end->id, idbuf), rb,
				    l->alive ? " (both refused while it is alive)" : "");
	if (end || rb[0])
		return mg_xasprintf("safe until %s%s%s", end ? "contract of " : "",
				    end ? mg_id_str(end->id, idbuf) : rb,
				    l->alive ? " (refused while it is alive)" : "");
	return mg_xstrdup("safe");
}

/* ---- JSON ------------------------------------------------------------------------------ */

json_t *mg_window_json(const struct mg_ctx *ctx)
{
	struct mg_window w;

	mg_window_compute(ctx, &w);
	return json_pack("{s:i, s:i}", "low", w.low, "high", w.high);
}

/* The newer colours that claim some of its sessions: ["green"]. */
static json_t *claimed_json(const struct mg_liveness *l)
{
	json_t *a = json_array();
	char names[sizeof(l->claimed_by)], *save = NULL;

	snprintf(names, sizeof(names), "%s", l->claimed_by);
	for (char *t = strtok_r(names, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		json_array_append_new(a, json_string(t));
	return a;
}

/* Where its own sessions are: [{"place": "pooler 127.0.0.1:6432", "sessions": 2}]. */
static json_t *places_json(const struct mg_liveness *l)
{
	json_t *a = json_array();

	for (size_t i = 0; i < l->n_places; i++)
		json_array_append_new(a, json_pack("{s:s, s:I}", "place", l->places[i].place,
						   "sessions", (json_int_t)l->places[i].sessions));
	return a;
}

json_t *mg_colour_record_json(const struct mg_colour *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(c->name));
	json_object_set_new(o, "app_version", mg_json_str(c->app_version));
	json_object_set_new(o, "requires", json_pack("{s:i}", "id", c->requires_id));
	json_object_set_new(o, "state", mg_json_str(c->state));
	json_object_set_new(o, "match", mg_json_str(c->match_pattern));
	json_object_set_new(o, "ttl_s", c->ttl_s ? json_integer(c->ttl_s) : json_null());
	json_object_set_new(o, "registered_at", mg_json_str(c->registered_at));
	json_object_set_new(o, "updated_at", mg_json_str(c->updated_at));
	json_object_set_new(o, "heartbeat_at", mg_json_str(c->heartbeat_at));
	return o;
}

json_t *mg_colour_json(const struct mg_ctx *ctx, const struct mg_colour *c,
		       const struct mg_liveness *l)
{
	json_t *o = json_object();
	char *label = mg_version_label(ctx, c->requires_id);
	char *sb = NULL;
	int safe = 0;

	json_object_set_new(o, "name", json_string(c->name));
	json_object_set_new(o, "app_version", mg_json_str(c->app_version));
	json_object_set_new(o, "requires", json_pack("{s:i, s:s}", "id", c->requires_id,
						     "name", label));
	json_object_set_new(o, "state", mg_json_str(c->state));
	json_object_set_new(o, "match", mg_json_str(c->match_pattern));
	json_object_set_new(o, "ttl_s", c->ttl_s ? json_integer(c->ttl_s) : json_null());
	json_object_set_new(o, "registered_at", mg_json_str(c->registered_at));
	json_object_set_new(o, "updated_at", mg_json_str(c->updated_at));
	json_object_set_new(o, "heartbeat_at", mg_json_str(c->heartbeat_at));
	json_object_set_new(o, "alive", json_boolean(l->alive));
	json_object_set_new(o, "reason", json_string(l->reason));
	json_object_set_new(o, "sessions", !c->match_pattern ? json_null() :
			    l->sessions < 0 ? json_string("unknown") : json_integer(l->sessions));
	json_object_set_new(o, "matching_sessions",
			    l->matching < 0 ? json_null() : json_integer(l->matching));
	json_object_set_new(o, "claimed_by", claimed_json(l));
	json_object_set_new(o, "sessions_by_place", places_json(l));
	json_object_set_new(o, "sessions_hint",
			    l->unseen_hint[0] ? json_string(l->unseen_hint) : json_null());
	json_object_set_new(o, "stale", json_boolean(l->stale));
	json_object_set_new(o, "valid", json_boolean(l->valid));
	if (c->state && strcmp(c->state, "live") != 0) {
		sb = mg_colour_switch_back(ctx, c, l, &safe);
		json_object_set_new(o, "switch_back", json_pack("{s:b, s:s}", "safe", safe,
								"detail", sb));
	} else {
		json_object_set_new(o, "switch_back", json_null());
	}
	free(sb);
	free(label);
	return o;
}

/*
 * test_colour.c - the colour gates of src/colour.c against the fake
 * driver (fake_driver.h), which answers how many sessions match a
 * colour's pattern.
 *
 * The story, with migrations 0001 contracted, 0002 switched, 0003
 * expanded and 0004 pending (readable window 1..2): a schema version
 * inside the window may go live, one below it is gone for good and one
 * above it names what to run first. A colour is alive while it is live or
 * standby, or while sessions match its pattern, or when they cannot be
 * seen; a stale heartbeat is shown but still counts as alive; a colour
 * whose migration was rolled back is invalid; the reason names where its
 * sessions are when they were counted at more than one place (the
 * primary, standbys, poolers, replicas). 'contract M' is refused
 * while an alive colour requires a version below M, 'rollback M' while one
 * requires M or later; each decision is logged, the status preview is not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "colour.h"
#include "fake_driver.h"

struct fixture {
	char dir[64];
	struct mg_options opt;
	struct mg_ctx ctx;
	struct mg_err err;
};

static void write_migration(const char *dir, const char *name, const char *column)
{
	char *path = mg_xasprintf("%s/%s.yaml", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "operations:\n  - add_column:\n      table: users\n"
		"      column: %s\n      type: text\n", column);
	fclose(f);
	free(path);
}

static void record(struct mg_state *st, int id, const char *name, const char *phase)
{
	struct mg_err err = MG_ERR_INIT;
	char checksum[8];
	struct mg_state_migration m = { .id = id, .name = (char *)name,
					.checksum = checksum, .phase = (char *)phase };

	snprintf(checksum, sizeof(checksum), "c%d", id);
	assert_int_equal(mg_state_migration_put(st, &m, &err), 0);
}

/* 0001 contracted, 0002 switched, 0003 expanded, 0004 pending; blue (app
 * v1) requires 0002, green (app v2) requires 0003, both live. */
static int setup(void **arg)
{
	struct fixture *f = mg_xcalloc(1, sizeof(*f));
	char *mig;

	strcpy(f->dir, "/tmp/mg_colour_XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	mig = mg_xasprintf("%s/migrations", f->dir);
	mkdir(mig, 0777);
	write_migration(mig, "0001_a", "a");
	write_migration(mig, "0002_b", "b");
	write_migration(mig, "0003_c", "c");
	write_migration(mig, "0004_d", "d");
	f->opt.database = mg_xstrdup("fake://db1");
	f->opt.migrations = mig;
	f->opt.state = mg_xasprintf("%s/state.db", f->dir);
	fake_db_reset("fake server/db1");
	f->err = (struct mg_err)MG_ERR_INIT;

	if (mg_ctx_open(&f->ctx, &f->opt, "test", MG_NEED_DB | MG_NEED_WRITE, &f->err) < 0)
		return -1;
	record(f->ctx.state, 1, "0001_a", "contracted");
	record(f->ctx.state, 2, "0002_b", "switched");
	record(f->ctx.state, 3, "0003_c", "expanded");
	mg_ctx_close(&f->ctx);
	if (mg_ctx_open(&f->ctx, &f->opt, "test", MG_NEED_DB | MG_NEED_WRITE, &f->err) < 0)
		return -1;
	*arg = f;
	return 0;
}

static int teardown(void **arg)
{
	struct fixture *f = *arg;
	char *cmd = mg_xasprintf("rm -rf '%s'", f->dir);

	mg_ctx_close(&f->ctx);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(cmd);
	free(f->opt.database);
	free(f->opt.migrations);
	free(f->opt.state);
	fake_db_reset("");
	free(f);
	return 0;
}

static void assert_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("'%s' does not contain '%s'", text, part);
}

static void iso_ago(char out[32], int64_t seconds)
{
	time_t t = time(NULL) - (time_t)seconds;

	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
}

/* A colour as the registry holds it (strings borrowed). */
static struct mg_colour colour(const char *name, int requires, const char *state,
			       const char *match)
{
	static char checksum[4][8];
	struct mg_colour c = { .name = (char *)name, .app_version = "v1",
			       .requires_id = requires, .state = (char *)state,
			       .match_pattern = (char *)match };

	if (requires > 0 && requires < 4) {
		snprintf(checksum[requires], sizeof(checksum[0]), "c%d", requires);
		c.requires_checksum = checksum[requires];
	}
	return c;
}

static void put_colour(struct fixture *f, struct mg_colour c)
{
	assert_int_equal(mg_state_colour_put(f->ctx.state, &c, &f->err), 0);
}

static size_t events(struct fixture *f, const char *result, const char *colour_name)
{
	struct mg_event *ev = NULL;
	size_t n = 0, hits = 0;

	assert_int_equal(mg_state_event_list(f->ctx.state, 100, &ev, &n, &f->err), 0);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ev[i].result, result) &&
		    (!colour_name || (ev[i].colour && !strcmp(ev[i].colour, colour_name))))
			hits++;
	mg_state_event_list_free(ev, n);
	return hits;
}

/* ---- the readable window ------------------------------------------------------ */

static void test_window_from_phases(void **arg)
{
	struct fixture *f = *arg;
	struct mg_window w;

	mg_window_compute(&f->ctx, &w);
	assert_int_equal(w.low, 1);
	assert_int_equal(w.high, 2);
	assert_int_equal(mg_window_require(&f->ctx, 1, "going live", &f->err), 0);
	assert_int_equal(mg_window_require(&f->ctx, 2, "going live", &f->err), 0);
}

static void test_window_below_is_gone(void **arg)
{
	struct fixture *f = *arg;

	assert_int_equal(mg_window_require(&f->ctx, 0, "going live", &f->err), -1);
	assert_int_equal(f->err.code, MG_EREFUSED);
	assert_string_equal(f->err.msg, "going live refused: schema 0 (before any migration) is no "
			    "longer readable: 0001 is contracted (readable window 1..2)");
	assert_string_equal(f->err.hint, "roll forward instead: deploy application code that "
			    "requires 0001 or later");
}

static void test_window_above_names_what_to_run(void **arg)
{
	struct fixture *f = *arg;

	assert_int_equal(mg_window_require(&f->ctx, 3, "going live", &f->err), -1);
	assert_int_equal(f->err.code, MG_EREFUSED);
	assert_string_equal(f->err.msg, "going live refused: schema 0003_c is not readable yet: "
			    "0003_c is expanded but not switched (readable window 1..2)");
	assert_string_equal(f->err.hint, "run 'migrate backfill 0003' and 'migrate switch-reads 0003' first");

	/* the lowest migration in the way is named, in order */
	assert_int_equal(mg_window_require(&f->ctx, 4, "going live", &f->err), -1);
	assert_contains(f->err.msg, "0003_c is expanded but not switched, and migrations move in order");

	f->ctx.views[2].phase = MG_PHASE_BACKFILLED;
	assert_int_equal(mg_window_require(&f->ctx, 3, "going live", &f->err), -1);
	assert_contains(f->err.msg, "0003_c is backfilled but not switched");
	assert_string_equal(f->err.hint, "run 'migrate switch-reads 0003' first");

	f->ctx.views[2].phase = MG_PHASE_SWITCHED;
	assert_int_equal(mg_window_require(&f->ctx, 3, "going live", &f->err), 0);
	assert_int_equal(mg_window_require(&f->ctx, 4, "going live", &f->err), -1);
	assert_contains(f->err.msg, "schema 0004_d is not readable yet: 0004_d is pending (readable window 1..3)");
	assert_contains(f->err.hint, "run 'migrate expand 0004', 'migrate backfill 0004' and "
			"'migrate switch-reads 0004' first");
}

/* ---- liveness ---------------------------------------------------------------------- */

static void test_registered_colours_are_alive(void **arg)
{
	struct fixture *f = *arg;
	struct mg_liveness l;

	/* a damaged record ("" state) counts as alive */
	mg_colour_liveness(&f->ctx, &(struct mg_colour){ .name = "x", .state = "" }, &l);
	assert_true(l.alive);

	{
		struct mg_colour c = colour("blue", 2, "live", NULL);

		mg_colour_liveness(&f->ctx, &c, &l);
		assert_true(l.alive);
		assert_true(l.valid);
		assert_false(l.stale);
		assert_string_equal(l.reason, "registered live");
	}
	{
		struct mg_colour c = colour("blue", 2, "standby", NULL);

		mg_colour_liveness(&f->ctx, &c, &l);
		assert_true(l.alive);
		assert_string_equal(l.reason, "registered standby");
	}
	{
		struct mg_colour c = colour("blue", 2, "retired", NULL);

		mg_colour_liveness(&f->ctx, &c, &l);
		assert_false(l.alive);
		assert_string_equal(l.reason, "retired");
	}
}

static void test_sessions_keep_a_retired_colour_alive(void **arg)
{
	struct fixture *f = *arg;
	struct mg_colour c = colour("blue", 2, "retired", "app-blue*");
	struct mg_liveness l;

	fake_db.sessions = 3;
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_true(l.alive);
	assert_int_equal(l.sessions, 3);
	assert_string_equal(l.reason, "retired, but 3 sessions matching 'app-blue*' connected");

	fake_db.sessions = 1;
	c.state = "live";
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_string_equal(l.reason, "registered live, 1 session matching 'app-blue*' connected");

	fake_db.sessions = 0;
	c.state = "retired";
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_false(l.alive);
	assert_int_equal(l.sessions, 0);
	assert_string_equal(l.reason, "retired, no session matching 'app-blue*'");
}

/* Every doubt counts as alive: an error, a driver that cannot count, no
 * connection. */
static void test_unseen_sessions_count_as_alive(void **arg)
{
	struct fixture *f = *arg;
	struct mg_colour c = colour("blue", 2, "retired", "app-blue*");
	struct mg_conn *real = f->ctx.conn, *minimal = NULL;
	struct mg_liveness l;

	fake_db.sessions_fail = 1;
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_true(l.alive);
	assert_int_equal(l.sessions, -1);
	assert_string_equal(l.reason, "retired, but sessions matching 'app-blue*' cannot be seen "
			    "(permission denied for pg_stat_activity)");

	assert_int_equal(mg_db_connect(&minimal, "fakemin://db1", NULL, &f->err), 0);
	f->ctx.conn = minimal;
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_true(l.alive);
	assert_string_equal(l.reason, "retired, but sessions matching 'app-blue*' cannot be seen "
			    "(the driver cannot list sessions)");

	f->ctx.conn = NULL;
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_true(l.alive);
	assert_string_equal(l.reason, "retired, but sessions matching 'app-blue*' cannot be seen "
			    "(no database connection)");
	f->ctx.conn = real;
	mg_db_close(minimal);
}

/* A place that cannot be read (issue 17): the reason names it, and what
 * the driver says to do reaches the liveness and the gate's hint. */
static void test_unreadable_place_says_what_to_do(void **arg)
{
	struct fixture *f = *arg;
	struct mg_colour c = colour("blue", 1, "retired", "app-blue*");
	struct mg_liveness l;

	fake_db.sessions_fail = 1;
	fake_db.sessions_place = "10.0.0.7:6432";
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_true(l.alive);
	assert_int_equal(l.sessions, -1);
	assert_string_equal(l.reason, "retired, but sessions matching 'app-blue*' cannot be seen "
			    "(cannot connect to pooler 10.0.0.7:6432: Connection refused)");
	assert_string_equal(l.unseen_hint, "check that PgBouncer runs at 10.0.0.7:6432");

	put_colour(f, c);
	assert_int_equal(mg_gate_contract(&f->ctx, 3, &f->err), -1);
	assert_string_equal(f->err.hint, "blue's sessions matching 'app-blue*' cannot be seen: "
			    "check that PgBouncer runs at 10.0.0.7:6432; then run 'migrate contract 0003'");

	/* sessions that can be seen: no hint */
	fake_db.sessions_fail = 0;
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_string_equal(l.unseen_hint, "");
}

static void test_stale_heartbeat_is_shown_but_alive(void **arg)
{
	struct fixture *f = *arg;
	struct mg_colour c = colour("blue", 2, "live", NULL);
	struct mg_liveness l;
	char at[32];

	c.ttl_s = 60;
	iso_ago(at, 3600);
	c.heartbeat_at = at;
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_true(l.alive);
	assert_true(l.stale);
	assert_true(l.heartbeat_age_s >= 3600 && l.heartbeat_age_s < 3660);
	assert_contains(l.reason, "registered live; stale: last heartbeat 36");
	assert_contains(l.reason, "s ago, ttl 60s (still counted as alive)");

	iso_ago(at, 10);
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_false(l.stale);
	assert_string_equal(l.reason, "registered live");

	/* no ttl: never stale; retired: no heartbeat expected */
	iso_ago(at, 3600);
	c.ttl_s = 0;
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_false(l.stale);
	c.ttl_s = 60;
	c.state = "retired";
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_false(l.stale);
	assert_false(l.alive);
}

static void test_rolled_back_requirement_is_invalid(void **arg)
{
	struct fixture *f = *arg;
	struct mg_colour c = colour("blue", 3, "live", NULL);
	struct mg_liveness l;

	mg_colour_liveness(&f->ctx, &c, &l);
	assert_true(l.valid);

	c.requires_checksum = "c3-before-rollback";
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_false(l.valid);
	assert_true(l.alive);
	assert_string_equal(l.reason, "registered live; invalid: its required migration was "
			    "rolled back or re-expanded, register it again");

	c.requires_id = 9;	/* no such migration */
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_false(l.valid);
}

static void test_like_pattern_refused_with_the_glob_meant(void **arg)
{
	struct fixture *f = *arg;

	assert_int_equal(mg_match_pattern_check("shop-blue%", &f->err), -1);
	assert_int_equal(f->err.code, MG_EINPUT);
	assert_contains(f->err.msg, "--match 'shop-blue%'");
	assert_contains(f->err.hint, "'%' is literal in a glob: did you mean 'shop-blue*'?");
	mg_err_clear(&f->err);
	/* '_' is literal in a glob too, but common in real names: allowed */
	assert_int_equal(mg_match_pattern_check("shop_blue*", &f->err), 0);
	assert_int_equal(mg_match_pattern_check("shop-?-*", &f->err), 0);
}

static void test_match_summary(void **arg)
{
	struct fixture *f = *arg;
	struct mg_colour c = colour("blue", 2, "live", "app-blue*");
	struct mg_liveness l;
	char *s;

	fake_db.sessions = 3;
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_int_equal(l.matching, 3);
	s = mg_colour_match_summary(&c, &l);
	assert_string_equal(s, "--match 'app-blue*' matches 3 sessions now");
	free(s);
	fake_db.sessions = 0;
	mg_colour_liveness(&f->ctx, &c, &l);
	s = mg_colour_match_summary(&c, &l);
	assert_string_equal(s, "--match 'app-blue*' matches no session now");
	free(s);
	fake_db.sessions_fail = 1;
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_int_equal(l.matching, -1);
	s = mg_colour_match_summary(&c, &l);
	assert_string_equal(s, "--match 'app-blue*' matches sessions that cannot be seen now (counted as alive)");
	free(s);
}

/* The places of a count, each "place=n" (labels borrowed by value). */
static void add_places(struct mg_place_counts *pc, size_t n, const char *const *labels,
		       const int64_t *sessions)
{
	for (size_t i = 0; i < n; i++)
		mg_place_counts_add(pc, labels[i], NULL, sessions[i]);
}

static void assert_places_phrase(const struct mg_liveness *l, const char *want)
{
	struct mg_buf b = MG_BUF_INIT;

	mg_liveness_add_places(&b, l);
	assert_string_equal(b.buf, want);
	mg_buf_release(&b);
}

/* Where a colour's sessions are: only places with sessions are named, and
 * nothing is added when the primary is the only place counted. */
static void test_sessions_by_place(void **arg)
{
	struct fixture *f = *arg;
	struct mg_colour c = colour("blue", 2, "live", "app-blue*");
	struct mg_place_counts pc = MG_PLACE_COUNTS_INIT;
	struct mg_liveness l;
	json_t *j;

	/* a driver without a breakdown (the fake): the reason as it was */
	fake_db.sessions = 3;
	mg_colour_liveness(&f->ctx, &c, &l);
	assert_string_equal(l.reason, "registered live, 3 sessions matching 'app-blue*' connected");
	assert_int_equal(l.n_places, 0);
	j = mg_colour_json(&f->ctx, &c, &l);
	assert_int_equal(json_array_size(json_object_get(j, "sessions_by_place")), 0);
	json_decref(j);

	/* the primary alone: nothing to say */
	add_places(&pc, 1, (const char *[]){ "primary" }, (int64_t[]){ 3 });
	mg_liveness_set_places(&l, &pc);
	assert_int_equal(l.n_places, 0);
	assert_places_phrase(&l, "");
	mg_place_counts_release(&pc);

	/* a pooler holds them all: the empty primary is not named */
	l.sessions = 2;
	add_places(&pc, 2, (const char *[]){ "primary", "pooler 10.0.0.7:6432" },
		   (int64_t[]){ 0, 2 });
	mg_liveness_set_places(&l, &pc);
	assert_places_phrase(&l, " (pooler 10.0.0.7:6432: 2)");
	j = mg_colour_json(&f->ctx, &c, &l);
	assert_int_equal(json_array_size(json_object_get(j, "sessions_by_place")), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(j, "sessions_by_place"), 0), "place")),
		"pooler 10.0.0.7:6432");
	assert_int_equal(json_integer_value(json_object_get(
		json_array_get(json_object_get(j, "sessions_by_place"), 0), "sessions")), 2);
	json_decref(j);
	mg_place_counts_release(&pc);

	/* the primary and a standby, in the driver's order */
	add_places(&pc, 3, (const char *[]){ "primary", "pooler 10.0.0.7:6432", "standby 10.0.0.8:5432" },
		   (int64_t[]){ 1, 0, 1 });
	mg_liveness_set_places(&l, &pc);
	assert_places_phrase(&l, " (primary: 1, standby 10.0.0.8:5432: 1)");

	/* no session of its own (or unknown): no places */
	l.sessions = 0;
	mg_liveness_set_places(&l, &pc);
	assert_int_equal(l.n_places, 0);
	mg_place_counts_release(&pc);

	/* more places than fit: the rest summed in the last one */
	l.sessions = 10;
	for (int i = 0; i < 10; i++) {
		char name[32];

		snprintf(name, sizeof(name), "10.0.0.%d:5432", i);
		mg_place_counts_add(&pc, "standby", name, 1);
	}
	mg_liveness_set_places(&l, &pc);
	assert_int_equal(l.n_places, MG_LIVENESS_PLACES);
	assert_string_equal(l.places[0].place, "standby 10.0.0.0:5432");
	assert_string_equal(l.places[MG_LIVENESS_PLACES - 1].place, "other places");
	assert_int_equal(l.places[MG_LIVENESS_PLACES - 1].sessions, 10 - (MG_LIVENESS_PLACES - 1));
	assert_int_equal(mg_place_counts_total(&pc), 10);
	mg_place_counts_release(&pc);
}

/* ---- gates ---------------------------------------------------------------------- */

static void test_contract_refused_while_older_colour_alive(void **arg)
{
	struct fixture *f = *arg;

	put_colour(f, colour("blue", 2, "live", NULL));
	put_colour(f, colour("green", 3, "live", NULL));

	assert_int_equal(mg_gate_contract(&f->ctx, 3, &f->err), -1);
	assert_int_equal(f->err.code, MG_EREFUSED);
	assert_string_equal(f->err.msg, "contract 0003 refused: colour blue (app v1) requires "
			    "schema 0002_b and is alive: registered live");
	assert_string_equal(f->err.hint, "when no traffic can go to blue any more, retire it: "
			    "'migrate colour set blue --state retired', then run 'migrate contract 0003'");
	/* the command logs the refusal, as one event: the gate logs none */
	assert_int_equal(events(f, "refused", NULL), 0);

	/* retired and without sessions, blue no longer holds contract back */
	put_colour(f, colour("blue", 2, "retired", NULL));
	assert_int_equal(mg_gate_contract(&f->ctx, 3, &f->err), 0);
	assert_int_equal(events(f, "allowed", NULL), 1);

	/* a colour requiring the migration itself never blocks its contract */
	assert_int_equal(mg_gate_contract(&f->ctx, 2, &f->err), 0);
}

static void test_contract_names_every_blocker_and_sessions(void **arg)
{
	struct fixture *f = *arg;

	put_colour(f, colour("blue", 1, "retired", "app-blue*"));
	put_colour(f, colour("canary", 2, "standby", NULL));
	fake_db.sessions = 2;

	assert_int_equal(mg_gate_contract(&f->ctx, 3, &f->err), -1);
	assert_string_equal(f->err.msg, "contract 0003 refused: colour blue (app v1) requires "
			    "schema 0001_a and is alive: retired, but 2 sessions matching 'app-blue*' "
			    "connected; colour canary (app v1) requires schema 0002_b and is alive: "
			    "registered standby");
	/* the hint is about the first: a retired colour is only told to stop */
	assert_string_equal(f->err.hint, "blue still has sessions matching 'app-blue*' (or they "
			    "cannot be seen): stop them first, then run 'migrate contract 0003'");
	assert_int_equal(events(f, "refused", NULL), 0);
}

static void test_preview_logs_nothing(void **arg)
{
	struct fixture *f = *arg;

	put_colour(f, colour("blue", 2, "live", NULL));
	assert_int_equal(mg_gate_contract_preview(&f->ctx, 3, &f->err), -1);
	assert_contains(f->err.msg, "contract 0003 refused: colour blue");
	put_colour(f, colour("blue", 2, "retired", NULL));
	assert_int_equal(mg_gate_contract_preview(&f->ctx, 3, &f->err), 0);
	assert_int_equal(events(f, "refused", NULL), 0);
	assert_int_equal(events(f, "allowed", NULL), 0);
}

static void test_rollback_refused_while_this_or_newer_alive(void **arg)
{
	struct fixture *f = *arg;

	put_colour(f, colour("blue", 2, "live", NULL));
	assert_int_equal(mg_gate_rollback(&f->ctx, 3, &f->err), 0);
	assert_int_equal(events(f, "allowed", NULL), 1);

	put_colour(f, colour("green", 3, "standby", NULL));
	assert_int_equal(mg_gate_rollback(&f->ctx, 3, &f->err), -1);
	assert_int_equal(f->err.code, MG_EREFUSED);
	assert_string_equal(f->err.msg, "rollback 0003 refused: colour green (app v1) requires "
			    "schema 0003_c and is alive: registered standby");
	assert_contains(f->err.hint, "then run 'migrate rollback 0003'");

	put_colour(f, colour("green", 3, "retired", NULL));
	assert_int_equal(mg_gate_rollback(&f->ctx, 3, &f->err), 0);
}

static void test_no_state_no_gate(void **arg)
{
	struct fixture *f = *arg;
	struct mg_state *st = f->ctx.state;

	put_colour(f, colour("blue", 2, "live", NULL));
	f->ctx.state = NULL;
	assert_int_equal(mg_gate_contract(&f->ctx, 3, &f->err), 0);
	f->ctx.state = st;
}

/* ---- switching back ------------------------------------------------------------------ */

static void test_switch_back(void **arg)
{
	struct fixture *f = *arg;
	struct mg_colour c = colour("blue", 2, "standby", NULL);
	struct mg_liveness l;
	char *s;
	int safe;

	mg_colour_liveness(&f->ctx, &c, &l);
	s = mg_colour_switch_back(&f->ctx, &c, &l, &safe);
	assert_true(safe);
	assert_string_equal(s, "safe until contract of 0003 or rollback of 0002 (both refused "
			    "while it is alive)");
	free(s);

	c = colour("blue", 1, "standby", NULL);
	mg_colour_liveness(&f->ctx, &c, &l);
	s = mg_colour_switch_back(&f->ctx, &c, &l, &safe);
	assert_true(safe);
	assert_string_equal(s, "safe until contract of 0002 (refused while it is alive)");
	free(s);

	c = colour("blue", 0, "retired", NULL);
	mg_colour_liveness(&f->ctx, &c, &l);
	s = mg_colour_switch_back(&f->ctx, &c, &l, &safe);
	assert_false(safe);
	assert_string_equal(s, "not safe: schema 0 (before any migration) is no longer readable: "
			    "0001 is contracted (readable window 1..2); roll forward instead: deploy "
			    "application code that requires 0001 or later");
	free(s);

	c = colour("blue", 3, "retired", NULL);
	c.requires_checksum = "other";
	mg_colour_liveness(&f->ctx, &c, &l);
	s = mg_colour_switch_back(&f->ctx, &c, &l, &safe);
	assert_false(safe);
	assert_string_equal(s, "not safe: its required migration was rolled back; register it again");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_window_from_phases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_below_is_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_above_names_what_to_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registered_colours_are_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_keep_a_retired_colour_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unseen_sessions_count_as_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_place_says_what_to_do, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_heartbeat_is_shown_but_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rolled_back_requirement_is_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_like_pattern_refused_with_the_glob_meant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_match_summary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_by_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contract_refused_while_older_colour_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contract_names_every_blocker_and_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preview_logs_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_refused_while_this_or_newer_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_state_no_gate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_back, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

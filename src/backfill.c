/*
 * backfill.c - batches, parts, checkpoints, throttles and progress.
 *
 * A table's key range (up to the highest key at the start) is cut into
 * parts, one checkpoint each in the state store. Workers (one per
 * connection, --jobs of them, threads) take parts from a queue and run
 * batches over them; after each batch the part's checkpoint is written.
 * A rerun resumes the parts left; when there are fewer unfinished parts
 * than workers, the largest is split again, so any --jobs resumes any run.
 * Everything the workers share (parts, counters, the state store, the
 * progress line, the throttle verdict) is under one mutex; the batches
 * themselves run outside it.
 */
#include "backfill_int.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"

void mg_backfill_install_signals(void)
{
	mg_stop_signals_install();
}

int mg_backfill_next_size(int size, int64_t ms, int target_ms)
{
	long next;

	if (ms < 1)
		ms = 1;
	if (target_ms < 1)
		target_ms = 1;
	/* within 20 % of the target: keep it steady */
	if (ms * 10 >= (int64_t)target_ms * 8 && ms * 10 <= (int64_t)target_ms * 12)
		next = size;
	else
		next = (long)((int64_t)size * target_ms / ms);
	if (next > 2L * size)
		next = 2L * size;
	if (next < MG_BATCH_FLOOR)
		next = MG_BATCH_FLOOR;
	if (next > MG_BATCH_CEILING)
		next = MG_BATCH_CEILING;
	return (int)next;
}

/* ---- keys as JSON arrays of text ------------------------------------------------ */

char *mg_bf_keys_to_json(char *const *keys, size_t n)
{
	json_t *a = json_array();
	char *s;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(keys[i]));
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static char **keys_from_json(const char *text, size_t n, struct mg_err *err)
{
	json_error_t jerr;
	json_t *a = json_loads(text, 0, &jerr);
	char **keys;

	if (!a || !json_is_array(a) || json_array_size(a) != n) {
		json_decref(a);
		mg_err_set(err, MG_EDB, "backfill checkpoint '%s' cannot be read", text);
		mg_err_hint(err, "the state file is damaged: roll the migration back and expand it again");
		return NULL;
	}
	keys = mg_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		keys[i] = mg_xstrdup(json_string_value(json_array_get(a, i)));
	json_decref(a);
	return keys;
}

void mg_bf_free_keys(char **keys, size_t n)
{
	if (!keys)
		return;
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* ---- one table's run --------------------------------------------------------------- */

static void run_release(struct table_run *r)
{
	for (size_t i = 0; i < r->n_parts; i++)
		mg_bf_part_release(&r->parts[i], r->s->n_keys);
	free(r->parts);
	pthread_mutex_destroy(&r->mu);
}

static struct part *add_part(struct table_run *r)
{
	struct part *p;

	MG_ALLOC_GROW(r->parts, r->n_parts + 1, r->alloc);
	p = &r->parts[r->n_parts++];
	memset(p, 0, sizeof(*p));
	return p;
}

static int decode_part(struct table_run *r, struct part *p, struct mg_err *err)
{
	if (p->cp.done)
		return 0;
	if (!(p->upto = keys_from_json(p->cp.upto_key_json, r->s->n_keys, err)))
		return -1;
	if (p->cp.last_key_json &&
	    !(p->last = keys_from_json(p->cp.last_key_json, r->s->n_keys, err)))
		return -1;
	return 0;
}

/* A first run: one part over the whole key range as it is now. */
static int start_parts(struct table_run *r, struct mg_conn *c, struct mg_err *err)
{
	struct part *p = add_part(r);
	char **upto = NULL;
	int64_t estimate = 0;

	if (mg_db_backfill_bounds(c, r->s, &upto, &estimate, err) < 0) {
		mg_err_prefix(err, "backfill of %s, reading its key range: ", r->s->table);
		return -1;
	}
	p->cp.migration_id = r->id;
	p->cp.table_name = mg_xstrdup(r->s->table);
	p->cp.part = 0;
	p->cp.upto_key_json = upto ? mg_bf_keys_to_json(upto, r->s->n_keys) : NULL;
	p->cp.estimate = estimate;
	p->cp.done = upto == NULL;
	p->upto = upto;
	return mg_state_checkpoint_put(r->st, &p->cp, err);
}

static int load_parts(struct table_run *r, struct mg_conn *c, struct mg_err *err)
{
	struct mg_checkpoint *cps = NULL;
	size_t n = 0;

	if (mg_state_checkpoint_list(r->st, r->id, &cps, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct part *p;

		if (strcmp(cps[i].table_name, r->s->table) != 0)
			continue;
		p = add_part(r);
		p->cp = cps[i];
		memset(&cps[i], 0, sizeof(cps[i]));
	}
	mg_state_checkpoint_list_free(cps, n);
	if (!r->n_parts)
		return start_parts(r, c, err);
	for (size_t i = 0; i < r->n_parts; i++) {
		if (decode_part(r, &r->parts[i], err) < 0)
			return -1;
		/* an earlier run got into this part: the rows it found held
		 * were kept only in its memory */
		if (!r->parts[i].cp.done && r->parts[i].cp.last_key_json)
			r->sweep = 1;
	}
	return 0;
}

static size_t parts_left(const struct table_run *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_parts; i++)
		n += !r->parts[i].cp.done && !r->parts[i].passed;
	return n;
}

static int all_done(const struct table_run *r)
{
	for (size_t i = 0; i < r->n_parts; i++)
		if (!r->parts[i].cp.done)
			return 0;
	return 1;
}

static struct part *largest_left(struct table_run *r)
{
	struct part *best = NULL;

	for (size_t i = 0; i < r->n_parts; i++) {
		struct part *p = &r->parts[i];

		if (!p->cp.done && (!best || p->cp.estimate - p->cp.rows_done >
					     best->cp.estimate - best->cp.rows_done))
			best = p;
	}
	return best;
}

/* Cut part p (index pi) at bounds b[0..n-1], strictly inside its range,
 * into n + 1 parts: p keeps (last, b[0]], part k gets (b[k], b[k+1]] and
 * the last new part ends where p ended. One state transaction. */
static int cut_part(struct table_run *r, size_t pi, char ***b, size_t n, struct mg_err *err)
{
	size_t nk = r->s->n_keys;
	char *end_json = mg_xstrdup(r->parts[pi].cp.upto_key_json);
	int next_no = 0;
	int64_t left, each;
	struct part *p;

	for (size_t i = 0; i < r->n_parts; i++)
		if (r->parts[i].cp.part >= next_no)
			next_no = r->parts[i].cp.part + 1;
	left = r->parts[pi].cp.estimate - r->parts[pi].cp.rows_done;
	each = left > 0 ? left / (int64_t)(n + 1) : 0;
	if (mg_state_begin(r->st, err) < 0)
		goto fail_early;
	for (size_t k = 0; k < n; k++) {
		struct part *np = add_part(r);	/* may move r->parts */

		np->cp.migration_id = r->id;
		np->cp.table_name = mg_xstrdup(r->s->table);
		np->cp.part = next_no++;
		np->cp.estimate = each;
		np->cp.last_key_json = mg_bf_keys_to_json(b[k], nk);
		np->cp.upto_key_json = k + 1 < n ? mg_bf_keys_to_json(b[k + 1], nk) : mg_xstrdup(end_json);
		if (decode_part(r, np, err) < 0 || mg_state_checkpoint_put(r->st, &np->cp, err) < 0)
			goto fail;
	}
	p = &r->parts[pi];
	mg_bf_free_keys(p->upto, nk);
	free(p->cp.upto_key_json);
	p->cp.upto_key_json = mg_bf_keys_to_json(b[0], nk);
	p->upto = keys_from_json(p->cp.upto_key_json, nk, err);
	p->cp.estimate = p->cp.rows_done + each;
	if (!p->upto || mg_state_checkpoint_put(r->st, &p->cp, err) < 0)
		goto fail;
	free(end_json);
	return mg_state_commit(r->st, err);
fail:
	mg_state_rollback(r->st);
fail_early:
	free(end_json);
	return -1;
}

/* Fewer unfinished parts than workers: split the largest. */
static int split_for_jobs(struct table_run *r, struct mg_conn *c, struct mg_err *err)
{
	size_t left = parts_left(r);
	struct part *p = largest_left(r);
	char ***b = NULL;
	size_t n = 0;
	int rc = 0;

	if (!p || left >= (size_t)r->o->jobs)
		return 0;
	if (mg_db_backfill_split(c, r->s, p->last, p->upto, r->o->jobs - (int)left + 1,
				 &b, &n, err) < 0)
		return -1;
	if (n > 0)
		rc = cut_part(r, (size_t)(p - r->parts), b, n, err);
	for (size_t i = 0; i < n; i++)
		mg_bf_free_keys(b[i], r->s->n_keys);
	free(b);
	return rc;
}

/* ---- throttles ------------------------------------------------------------------------- */

/* Refresh the lag and load verdict at most once a second (under r->mu). */
static void check_server(struct table_run *r, struct mg_conn *c)
{
	const struct mg_backfill_opts *o = r->o;
	struct mg_err e = MG_ERR_INIT;
	int64_t now = mg_now_ms(), v = 0;
	char *out = r->thr.server;
	size_t n = sizeof(r->thr.server);

	if (now - r->throttle_checked_ms < 1000)
		return;
	r->throttle_checked_ms = now;
	out[0] = '\0';
	if (o->max_lag_ms > 0) {
		if (mg_db_replication_lag_ms(c, &v, &e) < 0)
			snprintf(out, n, "paused: replication lag cannot be read (%.300s), --max-lag is set",
				 e.msg);
		else if (v > o->max_lag_ms)
			snprintf(out, n, "paused: replication lag %lld ms > --max-lag %d ms",
				 (long long)v, o->max_lag_ms);
	}
	if (!out[0] && o->max_load > 0) {
		int64_t hidden = 0;

		if (mg_db_active_sessions(c, &v, &hidden, &e) < 0)
			snprintf(out, n, "paused: server load cannot be read (%.300s), --max-load is set",
				 e.msg[0] ? e.msg : "not supported by the driver");
		else if (v > o->max_load && hidden > 0)
			snprintf(out, n, "paused: %lld active sessions > --max-load %d (%lld of them are "
				 "other roles' sessions whose state this role cannot see, counted "
				 "as active: see docs/grants.md)", (long long)v, o->max_load,
				 (long long)hidden);
		else if (v > o->max_load)
			snprintf(out, n, "paused: %lld active sessions > --max-load %d", (long long)v,
				 o->max_load);
	}
}

/*
 * --max-lock-waits: sessions waiting for a row lock now (under r->mu).
 * Such waits last milliseconds, so a reading once a second, as for the
 * lag and the load, would see one only by chance: measured with 4
 * sessions updating 3 hot rows (2 core machine, both servers), an instant
 * reading saw a waiter 9 % of the time with 2 ms holds and about half of
 * the time with 10 ms holds; the gauge is over N for about that share of
 * the time. So it is read before batches, at most every
 * LOCK_WAITS_EVERY_MS (a reading cost 0.2 ms on PostgreSQL and 0.4 ms on
 * MariaDB, idle or loaded: about 1 % of a 20 ms batch at the worst, 20
 * readings a second), and batches pause for as long as the readings stay
 * over N: the backfill yields in proportion to the time the application
 * waits. A value that cannot be read pauses, like --max-load.
 */
#define LOCK_WAITS_EVERY_MS 50

static void check_lock_waits(struct table_run *r, struct mg_conn *c)
{
	const struct mg_backfill_opts *o = r->o;
	struct mg_err e = MG_ERR_INIT;
	int64_t now = mg_now_ms(), v = 0;
	char *out = r->thr.locks;
	size_t n = sizeof(r->thr.locks);

	if (now - r->thr.locks_ms < LOCK_WAITS_EVERY_MS)
		return;
	r->thr.locks_ms = now;
	out[0] = '\0';
	r->lock_waits = -1;
	if (mg_db_lock_waits(c, &v, &e) < 0)
		snprintf(out, n, "paused: row-lock waits cannot be read (%.80s), --max-lock-waits is set",
			 e.msg[0] ? e.msg : "not supported by the driver");
	else
		r->lock_waits = v;
	if (out[0])
		return;
	if (v > o->max_lock_waits)
		snprintf(out, n, "paused: %lld sessions wait for row locks > --max-lock-waits %d",
			 (long long)v, o->max_lock_waits);
}

/* The stop --critical-load decided (under r->mu): the workers end after
 * their current batch, as after a signal, and stopped() says where. A
 * failure another worker already recorded wins (the run fails with it);
 * one after this stop is not recorded: the rerun meets it again. Sessions
 * of other roles whose state this role cannot see count as active (as for
 * --max-load): the message says how many, so that a stop caused by a
 * missing grant is not taken for load. */
static void stop_for_critical_load(struct table_run *r, int64_t v, int64_t hidden)
{
	const struct mg_backfill_opts *o = r->o;
	size_t n = sizeof(r->throttle), len;

	if (r->failed)
		return;
	len = (size_t)snprintf(r->throttle, n, "stopped: %lld active sessions > --critical-load %d",
			       (long long)v, o->critical_load);
	if (o->critical_load_interval_ms > 0 && len < n)
		len += (size_t)snprintf(r->throttle + len, n - len, " on two readings %d ms apart "
					"(%lld, then %lld)", o->critical_load_interval_ms,
					(long long)r->thr.critical_first, (long long)v);
	if (hidden > 0 && len < n)
		snprintf(r->throttle + len, n - len, " (%lld of them are other roles' sessions "
			 "whose state this role cannot see, counted as active: see docs/grants.md)",
			 (long long)hidden);
	mg_err_set(&r->err, MG_EDB, "%s", r->throttle + strlen("stopped: "));
	r->thr.critical_stop = 1;
	r->failed = 1;
}

/*
 * --critical-load (under r->mu): the active sessions --max-load counts,
 * read once a second; over N, read again --critical-load-interval ms
 * later (gh-ost's --critical-load-interval-millis), and only when that
 * reading is over N too the run stops: one spike does not end a long
 * backfill. Batches go on between the two readings (--max-load is what
 * pauses them). A load that cannot be read does not stop the run: with
 * --max-load set, that pauses it.
 */
static void check_critical_load(struct table_run *r, struct mg_conn *c)
{
	const struct mg_backfill_opts *o = r->o;
	struct mg_err e = MG_ERR_INIT;
	int64_t now = mg_now_ms(), v = 0, hidden = 0;
	int second = r->thr.critical_again_ms > 0;

	if (second ? now < r->thr.critical_again_ms : now - r->thr.critical_ms < 1000)
		return;
	r->thr.critical_ms = now;
	r->thr.critical_again_ms = 0;
	if (mg_db_active_sessions(c, &v, &hidden, &e) < 0 || v <= o->critical_load)
		return;
	if (second || o->critical_load_interval_ms == 0) {
		stop_for_critical_load(r, v, hidden);
		return;
	}
	r->thr.critical_first = v;
	r->thr.critical_again_ms = now + o->critical_load_interval_ms;
}

/* The run failed: r->failed, unless what set it was a --critical-load
 * stop, which stopped() reports like a signal's, with where to resume. */
static int failed_not_stopped(const struct table_run *r)
{
	return r->failed && !r->thr.critical_stop;
}

/* Between --critical-load's two readings: "critical load: ..." alone
 * (batches go on), or after the pause that holds them back. */
static void critical_note(struct table_run *r)
{
	size_t len = strlen(r->throttle), n = sizeof(r->throttle);

	if (len + 2 >= n)
		return;
	snprintf(r->throttle + len, n - len, "%scritical load: %lld active sessions > "
		 "--critical-load %d, read again in %d ms", len ? "; " : "",
		 (long long)r->thr.critical_first, r->o->critical_load,
		 r->o->critical_load_interval_ms);
}

/* Refresh the verdicts that are due and show the one that holds batches
 * back (under r->mu). */
static void check_throttles(struct table_run *r, struct mg_conn *c)
{
	const struct mg_backfill_opts *o = r->o;

	if (o->critical_load > 0)
		check_critical_load(r, c);
	if (r->failed)
		return;
	if (o->pause_file && access(o->pause_file, F_OK) == 0) {
		snprintf(r->throttle, sizeof(r->throttle), "paused: pause file %s exists",
			 o->pause_file);
		r->throttle_checked_ms = 0;
		r->thr.locks_ms = 0;
		return;
	}
	if (o->max_lag_ms > 0 || o->max_load > 0)
		check_server(r, c);
	if (o->max_lock_waits > 0 && !r->thr.server[0])
		check_lock_waits(r, c);
	snprintf(r->throttle, sizeof(r->throttle), "%s",
		 r->thr.server[0] ? r->thr.server : r->thr.locks);
	if (r->thr.critical_again_ms)	/* the operator sees a stop may be coming */
		critical_note(r);
}

/* While paused, the lock is checked every LOCK_CHECK_MS: a lost lock ends
 * the run now instead of at the first batch after the pause. (Batches
 * check it themselves before they commit.) */
#define LOCK_CHECK_MS 2000

static void check_lock_while_paused(struct table_run *r, struct mg_conn *c,
				    int64_t *checked_ms)
{
	struct mg_err e = MG_ERR_INIT;
	int64_t now = mg_now_ms();

	if (now - *checked_ms < LOCK_CHECK_MS)
		return;
	*checked_ms = now;
	if (mg_db_lock_check(c, &e) < 0 && mg_err_is_lock_lost(&e))
		mg_bf_fail(r, &e);
}

/* Wait while a throttle says so. Returns when batches may go on, or when a
 * stop was asked for, or the run failed (a lost lock) or stopped
 * (--critical-load). Paused for row-lock waits only, it looks again
 * sooner: those waits pass in milliseconds. */
void mg_bf_wait_for_throttles(struct table_run *r, struct mg_conn *c)
{
	int64_t lock_checked_ms = mg_now_ms();

	for (;;) {
		int paused, nap;

		pthread_mutex_lock(&r->mu);
		check_throttles(r, c);
		paused = !r->failed && !strncmp(r->throttle, "paused", 6);
		nap = paused && r->thr.locks[0] && !strcmp(r->throttle, r->thr.locks) ?
		      LOCK_WAITS_EVERY_MS : 250;
		if (paused)
			mg_bf_progress_line(r, BF_TICK);
		pthread_mutex_unlock(&r->mu);
		if (!paused || mg_bf_runtime_over() || mg_stop_requested || r->failed)
			return;
		mg_sleep_ms(nap);
		check_lock_while_paused(r, c, &lock_checked_ms);
	}
}

/* ---- --max-runtime ---------------------------------------------------------------------- */

/* The deadline of this process's backfill (0: none), and whether it
 * passed: one backfill runs per process. */
static int64_t runtime_deadline_ms;
static volatile int runtime_reached;

int mg_bf_runtime_over(void)
{
	if (runtime_reached)
		return 1;
	if (!runtime_deadline_ms || mg_stop_requested || mg_now_ms() < runtime_deadline_ms)
		return 0;
	runtime_reached = 1;
	/* as SIGTERM does: every worker finishes its batch, checkpoints and
	 * ends (this is checked only between batches: no statement of this
	 * worker runs now) */
	mg_stop_requested = SIGALRM;
	return 1;
}

/* Sleep ms, in slices, until done or a stop is asked for. */
void mg_bf_sleep_unless_stopped(int64_t ms)
{
	while (ms > 0 && !mg_bf_runtime_over() && !mg_stop_requested) {
		int64_t slice = ms < 200 ? ms : 200;

		mg_sleep_ms(slice);
		ms -= slice;
	}
}

/* --max-rows-per-sec over all workers, and --sleep. */
void mg_bf_pace(struct table_run *r)
{
	int64_t due = 0, spent;

	if (r->o->sleep_ms > 0)
		mg_bf_sleep_unless_stopped(r->o->sleep_ms);
	if (r->o->max_rows_per_sec <= 0)
		return;
	pthread_mutex_lock(&r->mu);
	due = (r->rows_done - r->rows_at_start) * 1000 / r->o->max_rows_per_sec;
	spent = mg_bf_active_ms(r);
	if (due > spent) {
		snprintf(r->throttle, sizeof(r->throttle), "limited to %ld rows/s",
			 r->o->max_rows_per_sec);
		r->paced_ms = mg_now_ms();
	}
	pthread_mutex_unlock(&r->mu);
	if (due > spent)
		mg_bf_sleep_unless_stopped(due - spent);
}

/* ---- workers ------------------------------------------------------------------------------ */

void mg_bf_fail(struct table_run *r, const struct mg_err *err)
{
	pthread_mutex_lock(&r->mu);
	if (!r->failed) {
		r->failed = 1;
		r->err = *err;
	}
	pthread_mutex_unlock(&r->mu);
}

static struct part *take_part(struct table_run *r)
{
	struct part *p = NULL;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n_parts && !p; i++)
		if (!r->parts[i].cp.done && !r->parts[i].passed && !r->parts[i].taken) {
			p = &r->parts[i];
			p->taken = 1;
		}
	pthread_mutex_unlock(&r->mu);
	return p;
}

struct worker {
	struct table_run *r;
	struct mg_conn *c;
	pthread_t thread;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct table_run *r = w->r;
	struct mg_err err = MG_ERR_INIT;
	int size = r->o->batch_size ? r->o->batch_size : MG_BATCH_START;
	struct part *p;

	if (r->s->session_sql && mg_db_exec(w->c, r->s->session_sql, &err) < 0) {
		mg_bf_fail(r, &err);
		return NULL;
	}
	while (!mg_stop_requested && !r->failed && (p = take_part(r)))
		if (mg_bf_run_part(r, w->c, p, &size, &err) < 0) {
			mg_bf_fail(r, &err);
			break;
		}
	return NULL;
}

static void stopped(struct table_run *r, struct mg_err *err)
{
	struct mg_buf where = MG_BUF_INIT;

	for (size_t i = 0; i < r->n_parts; i++) {
		const struct part *p = &r->parts[i];

		if (p->cp.done)
			continue;
		mg_buf_addf(&where, "%s%s", where.len ? ", " : "",
			    p->cp.last_key_json ? p->cp.last_key_json : "(start)");
		if (r->n_parts > 1)
			mg_buf_addf(&where, " (part %d)", p->cp.part);
	}
	if (runtime_reached && !r->thr.critical_stop) {
		char d[32];
		int64_t total = mg_bf_estimate(r);

		r->runtime_stop = 1;
		mg_format_duration(d, r->o->max_runtime_ms);
		mg_err_set(err, MG_EDB, "backfill of %s stopped after --max-runtime %s: %d%% done, run "
			   "the same command again to resume (%lld of ~%lld rows; resumable from key %s)",
			   r->s->table, d, mg_bf_percent(r, total), (long long)r->rows_done,
			   (long long)total, where.len ? where.buf : "(done)");
		mg_err_hint(err, "run the same backfill command again (with --max-runtime again to go "
			    "on in slices): it continues from the checkpoint (any --jobs)");
	} else if (r->thr.critical_stop) {
		/* the last progress line says why (a worker's pace may have
		 * written over it since) */
		snprintf(r->throttle, sizeof(r->throttle), "stopped: %.500s", r->err.msg);
		mg_err_set(err, MG_EDB, "backfill of %s stopped: %s, after %lld rows: resumable from key %s",
			   r->s->table, r->err.msg, (long long)r->rows_done,
			   where.len ? where.buf : "(done)");
		mg_err_hint(err, "the server is busier than --critical-load allows: once its load has "
			    "passed, run the same backfill command again to continue from the "
			    "checkpoint (any --jobs)");
	} else {
		mg_err_set(err, MG_EDB, "backfill of %s stopped by signal after %lld rows: resumable from key %s",
			   r->s->table, (long long)r->rows_done, where.len ? where.buf : "(done)");
		mg_err_hint(err, "run the same backfill command again to continue from the checkpoint (any --jobs)");
	}
	mg_buf_release(&where);
}

/* Connect the extra workers; the first uses c. */
static int start_workers(struct table_run *r, struct mg_conn *c, struct worker *ws, int n,
			 struct mg_err *err)
{
	struct mg_conn_opts co = { .application_name = "migrate/backfill",
				   .lock_timeout_ms = r->o->lock_timeout_ms,
				   .network_timeout_ms = r->o->network_timeout_ms,
				   .lock_holder = r->o->lock_holder };

	ws[0].c = c;
	for (int i = 1; i < n; i++)
		if (mg_db_connect(&ws[i].c, r->o->database, &co, err) < 0)
			return -1;
	for (int i = 0; i < n; i++) {
		ws[i].r = r;
		if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
			return mg_err_set(err, MG_EDB, "cannot start backfill worker %d", i + 1);
	}
	return 0;
}

static int run_workers(struct table_run *r, struct mg_conn *c, struct mg_err *err)
{
	int n = r->o->jobs;
	struct worker *ws;
	int started = 0, rc = 0;

	if ((size_t)n > parts_left(r))
		n = (int)parts_left(r);
	if (n < 1)
		return 0;
	r->workers = n;
	ws = mg_xcalloc((size_t)n, sizeof(*ws));
	if (n == 1) {
		ws[0].r = r;
		ws[0].c = c;
		worker_main(&ws[0]);
	} else {
		if (start_workers(r, c, ws, n, err) < 0) {
			mg_bf_fail(r, err);
			rc = -1;
		}
		for (int i = 0; i < n; i++)
			if (ws[i].thread) {
				pthread_join(ws[i].thread, NULL);
				started++;
			}
		for (int i = 1; i < n; i++)
			mg_db_close(ws[i].c);
	}
	free(ws);
	(void)started;
	return rc;
}

static void init_totals(struct table_run *r)
{
	for (size_t i = 0; i < r->n_parts; i++) {
		const struct mg_checkpoint *cp = &r->parts[i].cp;

		r->rows_done += cp->rows_done;
		r->estimate += mg_checkpoint_rows(cp);
	}
	r->rows_at_start = r->rows_done;
	r->start_ms = mg_now_ms();
}

static int backfill_table(struct mg_conn *c, struct mg_state *st, int id, size_t index,
			  const struct mg_backfill_spec *s,
			  const struct mg_backfill_opts *o, struct mg_err *err)
{
	struct table_run r;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.st = st;
	r.s = s;
	r.o = o;
	r.id = id;
	r.index = index;
	r.tty = mg_term_fancy(2);
	r.size_shown = o->batch_size ? o->batch_size : MG_BATCH_START;
	pthread_mutex_init(&r.mu, NULL);
	if (load_parts(&r, c, err) < 0)
		goto out;
	init_totals(&r);
	mg_bf_progress_start(&r);
	if (!parts_left(&r)) {
		mg_info("  backfill %s: done (%lld rows)", s->table, (long long)r.rows_done);
		rc = 0;
		goto out;
	}
	if (r.rows_done > 0)
		mg_info("  backfill %s: resuming %zu part(s) (%lld rows done)", s->table,
			parts_left(&r), (long long)r.rows_done);
	if (o->jobs > 1 && split_for_jobs(&r, c, err) < 0)
		goto out;
	if (run_workers(&r, c, err) < 0 && !r.failed)
		goto out;
	if (failed_not_stopped(&r)) {
		*err = r.err;
		goto out;
	}
	if (!parts_left(&r) && r.sweep && mg_bf_sweep_table(&r, c, err) < 0)
		goto out;
	if (failed_not_stopped(&r)) {
		*err = r.err;
		goto out;
	}
	if (parts_left(&r) || (r.sweep && !all_done(&r))) {
		stopped(&r, err);
		mg_bf_progress_line(&r, BF_STOPPED);
		rc = -2;	/* said so: stopped, resumable */
		goto out;
	}
	r.throttle[0] = '\0';
	r.held_note[0] = r.held_reason[0] = '\0';
	mg_bf_progress_line(&r, BF_DONE);
	mg_bf_summary(&r);
	if (mg_db_analyze(c, s->table, err) < 0) {
		mg_err_prefix(err, "backfill of %s, ANALYZE after the copy: ", s->table);
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		mg_bf_publish_failed(&r, err);
	run_release(&r);
	return rc < 0 ? -1 : 0;
}

int mg_backfill_run(struct mg_conn *c, struct mg_state *st, int id,
		    const struct mg_plan *plan,
		    const struct mg_backfill_opts *opts, struct mg_err *err)
{
	runtime_reached = 0;
	runtime_deadline_ms = opts->max_runtime_ms > 0 ? mg_now_ms() + opts->max_runtime_ms : 0;
	for (size_t i = 0; i < plan->n_backfills; i++)
		if (backfill_table(c, st, id, i, &plan->backfills[i], opts, err) < 0)
			return -1;
	return 0;
}

/* ---- verification ------------------------------------------------------------------------ */

#define VERIFY_BATCH 20000

static int verify_table(struct mg_conn *c, const struct mg_backfill_spec *s, int sample,
			int64_t *mismatches, struct mg_strlist *sample_keys, struct mg_err *err)
{
	char **last = NULL;
	int rc = 0;

	for (;;) {
		struct mg_strlist keys = MG_STRLIST_INIT;
		char **next = NULL;
		int64_t n = 0;
		int room = sample - (int)sample_keys->n;

		if (mg_db_verify_batch(c, s, last, VERIFY_BATCH, room > 0 ? room : 0, &n, &keys,
				       &next, err) < 0) {
			mg_err_prefix(err, "verify of %s: ", s->table);
			mg_strlist_release(&keys);
			rc = -1;
			break;
		}
		*mismatches += n;
		for (size_t k = 0; k < keys.n; k++)
			mg_strlist_push_owned(sample_keys, mg_xasprintf("%s (%s)", s->table, keys.items[k]));
		mg_strlist_release(&keys);
		mg_bf_free_keys(last, s->n_keys);
		last = next;
		if (!last)
			break;
	}
	mg_bf_free_keys(last, s->n_keys);
	return rc;
}

int mg_backfill_verify(struct mg_conn *c, const struct mg_plan *plan, int sample,
		       int64_t *mismatches, struct mg_strlist *sample_keys,
		       struct mg_err *err)
{
	*mismatches = 0;
	for (size_t i = 0; i < plan->n_backfills; i++)
		if (verify_table(c, &plan->backfills[i], sample, mismatches, sample_keys, err) < 0)
			return -1;
	return 0;
}

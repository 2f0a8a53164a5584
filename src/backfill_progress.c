/*
 * backfill_progress.c - what the backfill says about itself while it
 * runs: the estimate of the rows to copy, the rate, the ETA, the state and
 * why, on a terminal (one line in place, fitted to its width), in a log
 * (plain lines), as JSON lines (docs/json.md), and to the readers of live
 * progress (progress.h: the run record and the metrics file).
 *
 * The estimate. The planner's row count taken at the start can be far off
 * (rows inserted after the last ANALYZE), so it only seeds the estimate.
 * For a single integer key, each part measures the rows it copied since a
 * key est_from against the share of its key span (est_from, upto] passed:
 * rows left = copied / share - copied. Over the first MEASURED_BATCHES
 * batches this is blended with the planner's share, then alone. Other
 * keys keep the planner's count; once done passes it, one more batch of
 * the average size is expected. The total is rows done (earlier runs
 * included) plus the rows left: never below done, above it while any part
 * is open, so 100 % is shown only when the table is done.
 *
 * Everything here runs under r->mu.
 */
#include "backfill_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "progress.h"

#define MEASURED_BATCHES 4
#define PUBLISH_EVERY_MS 1000
#define BAR_WIDTH 24
#define RATE_MIN_SPAN_MS 1000

/* ---- the estimate ---------------------------------------------------------------- */

static int parse_key(char *const *key, long long *out)
{
	char *end;

	if (!key || !key[0] || !key[0][0])
		return 0;
	errno = 0;
	*out = strtoll(key[0], &end, 10);
	return *end == '\0' && errno == 0;
}

/* A single key whose type is an integer one (the values are checked as
 * they come: a key that does not parse as an integer is not measured). */
static int integer_key(const struct mg_backfill_spec *s)
{
	char t[64];
	size_t i;

	if (s->n_keys != 1 || !s->key_types || !s->key_types[0])
		return 0;
	for (i = 0; s->key_types[0][i] && i + 1 < sizeof(t); i++)
		t[i] = (char)tolower((unsigned char)s->key_types[0][i]);
	t[i] = '\0';
	return strstr(t, "int") != NULL;
}

void mg_bf_note_batch(struct table_run *r, struct part *p, const struct mg_batch_result *b,
		      int main)
{
	long long k;

	if (b->retry_ms > 0)
		r->retries++;
	if (!r->int_key || p->transient)
		return;
	/* the part's first batch of this run starts the measurement at the
	 * key it starts from; from the table's start (no key yet), at the
	 * key it ends at */
	if (!p->est_ok && main && p->last && parse_key(p->last, &k)) {
		p->est_from = k;
		p->est_ok = 1;
	}
	if (p->est_ok) {
		p->est_rows += b->rows;
		p->est_batches += main;
	} else if (main && b->last_key && parse_key(b->last_key, &k)) {
		p->est_from = k;
		p->est_ok = 1;
	}
}

static double part_left(const struct part *p)
{
	double stats = p->cp.estimate > p->cp.rows_done ? (double)(p->cp.estimate - p->cp.rows_done) : 0;
	long long last, upto;
	double share, measured, w;

	if (p->cp.done || p->passed)
		return 0;
	if (!p->est_ok || p->est_batches < 1 || !parse_key(p->last, &last) ||
	    !parse_key(p->upto, &upto) || upto <= p->est_from || last <= p->est_from)
		return stats;
	share = (double)(last - p->est_from) / (double)(upto - p->est_from);
	if (share > 1)
		share = 1;
	measured = (double)p->est_rows / share - (double)p->est_rows;
	w = p->est_batches >= MEASURED_BATCHES ? 1.0 : (double)p->est_batches / MEASURED_BATCHES;
	return w * measured + (1 - w) * stats;
}

static int table_open(const struct table_run *r)
{
	for (size_t i = 0; i < r->n_parts; i++)
		if (!r->parts[i].cp.done)
			return 1;
	return 0;
}

/* The rows one more batch is expected to copy: this run's average. */
static int64_t one_batch_guess(const struct table_run *r)
{
	int64_t run = r->rows_done - r->rows_at_start;

	if (r->batches > 0 && run > 0)
		return run / r->batches > 0 ? run / r->batches : 1;
	return r->size_shown > 0 ? r->size_shown : 1;
}

int64_t mg_bf_estimate(struct table_run *r)
{
	double left = 0;
	int64_t total;

	for (size_t i = 0; i < r->n_parts; i++)
		left += part_left(&r->parts[i]);
	total = r->rows_done + (int64_t)(left + 0.5);
	if (table_open(r) && total <= r->rows_done)
		total = r->rows_done + one_batch_guess(r);
	if (!table_open(r))
		total = r->rows_done;
	r->estimate = total;
	return total;
}

int mg_bf_percent(struct table_run *r, int64_t total)
{
	int pct;

	if (!table_open(r))
		return 100;
	pct = total > 0 ? (int)(100 * r->rows_done / total) : 0;
	return pct > 99 ? 99 : pct;
}

/* ---- the rate -------------------------------------------------------------------- */

static void rate_push(struct rate_ring *q, int64_t rows)
{
	q->active_ms[q->head] = q->active_now;
	q->rows[q->head] = rows;
	q->head = (q->head + 1) % RATE_SAMPLES;
	if (q->n < RATE_SAMPLES)
		q->n++;
}

/* Advance the clock of time not paused, and sample. */
static void rate_tick(struct table_run *r, int paused)
{
	struct rate_ring *q = &r->rate;
	int64_t now = mg_now_ms();
	int last = (q->head + RATE_SAMPLES - 1) % RATE_SAMPLES;

	if (!q->was_paused)
		q->active_now += now - q->last_tick_ms;
	q->last_tick_ms = now;
	q->was_paused = paused;
	if (q->n == 0 || q->active_now - q->active_ms[last] >= RATE_SAMPLE_MS)
		rate_push(q, r->rows_done);
}

int64_t mg_bf_active_ms(const struct table_run *r)
{
	const struct rate_ring *q = &r->rate;

	return q->active_now + (q->was_paused ? 0 : mg_now_ms() - q->last_tick_ms);
}

/* Rows per second over the last RATE_WINDOW_MS of time not paused. */
static double rate_now(const struct table_run *r)
{
	const struct rate_ring *q = &r->rate;

	for (int k = q->n; k > 0; k--) {
		int i = (q->head + RATE_SAMPLES - k) % RATE_SAMPLES;
		int64_t span = q->active_now - q->active_ms[i];

		if (span > RATE_WINDOW_MS)
			continue;
		if (span <= 0)
			return 0;
		/* the first batches alone are too short a time to say a rate
		 * (one took 7 ms: 70000 rows/s): count at least a second */
		if (span < RATE_MIN_SPAN_MS)
			span = RATE_MIN_SPAN_MS;
		return (double)(r->rows_done - q->rows[i]) * 1000.0 / (double)span;
	}
	return 0;
}

void mg_bf_progress_start(struct table_run *r)
{
	int64_t now = mg_now_ms();

	r->int_key = integer_key(r->s);
	r->lock_waits = -1;
	r->rate.last_tick_ms = now;
	rate_push(&r->rate, r->rows_done);
	mg_bf_estimate(r);
}

/* ---- state, reason, ETA ------------------------------------------------------------- */

struct figures {
	int64_t total;
	int pct;
	double rate;
	int64_t eta_ms;		/* -1 unknown */
	enum mg_progress_state state;
	char reason[512];	/* "" none */
	char eta[48];		/* "1h02m", "unknown while paused" */
	const char *throttle;	/* the "throttle" key's text, "" none */
};

/* --max-rows-per-sec slept for a batch in the last 2 s */
static int paced_lately(const struct table_run *r)
{
	return r->paced_ms && mg_now_ms() - r->paced_ms < 2000;
}

static enum mg_progress_state running_state(const struct table_run *r, char *reason, size_t n)
{
	char d[32];

	if (!strncmp(r->throttle, "paused", 6)) {
		snprintf(reason, n, "%s", r->throttle);
		return MG_PROGRESS_PAUSED;
	}
	if (r->held_reason[0]) {
		snprintf(reason, n, "%s", r->held_reason);
		return MG_PROGRESS_PAUSED;
	}
	if (r->o->max_rows_per_sec > 0 && paced_lately(r)) {
		snprintf(reason, n, "throttled: --max-rows-per-sec %ld", r->o->max_rows_per_sec);
		return MG_PROGRESS_THROTTLED;
	}
	if (r->throttle[0] && strncmp(r->throttle, "limited to", 10) != 0) {
		snprintf(reason, n, "%s", r->throttle);	/* critical load: ... */
		return MG_PROGRESS_RUNNING;
	}
	if (r->o->sleep_ms > 0) {
		mg_format_duration(d, r->o->sleep_ms);
		snprintf(reason, n, "throttled: --sleep %s between batches", d);
		return MG_PROGRESS_THROTTLED;
	}
	return MG_PROGRESS_RUNNING;
}

static void stopped_reason(const struct table_run *r, char *reason, size_t n)
{
	char d[32];

	if (r->runtime_stop) {
		mg_format_duration(d, r->o->max_runtime_ms);
		snprintf(reason, n, "stopped after --max-runtime %s", d);
	} else if (!strncmp(r->throttle, "stopped", 7)) {
		snprintf(reason, n, "%s", r->throttle);
	} else {
		snprintf(reason, n, "stopped by signal");
	}
}

static void compute(struct table_run *r, enum bf_tick tick, struct figures *f)
{
	memset(f, 0, sizeof(*f));
	f->total = mg_bf_estimate(r);
	f->pct = mg_bf_percent(r, f->total);
	f->rate = rate_now(r);
	f->throttle = r->throttle[0] ? r->throttle : r->held_note;
	f->eta_ms = -1;
	if (tick == BF_DONE) {
		f->state = MG_PROGRESS_DONE;
		f->eta_ms = 0;
		snprintf(f->eta, sizeof(f->eta), "done");
		return;
	}
	if (tick == BF_STOPPED) {
		f->state = MG_PROGRESS_STOPPED;
		stopped_reason(r, f->reason, sizeof(f->reason));
		snprintf(f->eta, sizeof(f->eta), "unknown: stopped");
		return;
	}
	f->state = running_state(r, f->reason, sizeof(f->reason));
	if (f->state == MG_PROGRESS_PAUSED) {
		snprintf(f->eta, sizeof(f->eta), "unknown while paused");
	} else if (f->rate < 0.5) {
		snprintf(f->eta, sizeof(f->eta), "unknown");
	} else {
		f->eta_ms = (int64_t)((double)(f->total - r->rows_done) * 1000.0 / f->rate);
		mg_format_duration(f->eta, f->eta_ms);
	}
}

/* ---- the terminal ---------------------------------------------------------------- */

/* "#####..." of width w for pct */
static void bar_text(char *out, int w, int pct)
{
	int filled = pct * w / 100;

	for (int i = 0; i < w; i++)
		out[i] = i < filled ? '#' : '.';
	out[w] = '\0';
}

/*
 * The line in place, fitted to width - 1 columns (the last column would
 * wrap on some terminals): "  TABLE [BAR] D/~T rows P% R/s ETA E batch
 * B | REASON". What gives way, in order: the reason is cut down to
 * REASON_KEEP characters, the batch size goes, the bar narrows and goes,
 * the reason is cut further and goes; whatever is still too long is cut
 * at the edge.
 */
#define REASON_KEEP 24
#define REASON_MIN 12

struct line_parts {
	const char *table, *core, *batch;
	int bar_w, show_batch;
};

static int width_without_reason(const struct line_parts *lp)
{
	return 2 + (int)strlen(lp->table) + (lp->bar_w ? lp->bar_w + 3 : 0) + 1 +
	       (int)strlen(lp->core) + (lp->show_batch ? (int)strlen(lp->batch) : 0);
}

/* Room left for the reason after " | " (negative: over by that much). */
static int reason_room(const struct line_parts *lp, int avail)
{
	return avail - width_without_reason(lp) - 3;
}

static int shrink_for_reason(struct line_parts *lp, int avail, int need)
{
	while (reason_room(lp, avail) < need) {
		int over = need - reason_room(lp, avail);

		if (lp->show_batch)
			lp->show_batch = 0;
		else if (lp->bar_w > 6)
			lp->bar_w = lp->bar_w - over > 6 ? lp->bar_w - over : 6;
		else if (lp->bar_w)
			lp->bar_w = 0;
		else
			return 0;
	}
	return 1;
}

static void fit_line(char *out, size_t n, int width, const struct table_run *r,
		     const struct figures *f, int exact)
{
	char core[160], batch[32], bar[BAR_WIDTH + 1];
	struct line_parts lp = { r->s->table, core, batch, BAR_WIDTH, 1 };
	int avail = width - 1 < 10 ? 10 : width - 1;
	int reason_len = (int)strlen(f->reason), room = 0, with_reason = reason_len > 0;
	size_t len;

	/* paused: the reason says so, and no rate or ETA applies */
	if (f->state == MG_PROGRESS_PAUSED)
		snprintf(core, sizeof(core), "%lld/~%lld rows %d%%", (long long)r->rows_done,
			 (long long)f->total, f->pct);
	else
		snprintf(core, sizeof(core), "%lld/%s%lld rows %d%% %.0f/s ETA %s",
			 (long long)r->rows_done, exact ? "" : "~", (long long)f->total, f->pct,
			 f->rate, f->eta);
	snprintf(batch, sizeof(batch), " batch %d", r->size_shown);
	if (with_reason) {
		int keep = reason_len < REASON_KEEP ? reason_len : REASON_KEEP;

		if (!shrink_for_reason(&lp, avail, keep))
			with_reason = shrink_for_reason(&lp, avail, REASON_MIN);
		room = reason_room(&lp, avail);
	} else {
		shrink_for_reason(&lp, avail + 3, 0);
	}
	bar_text(bar, lp.bar_w, f->pct);
	snprintf(out, n, "  %s%s%s%s %s%s", lp.table, lp.bar_w ? " [" : "", bar,
		 lp.bar_w ? "]" : "", core, lp.show_batch ? batch : "");
	len = strlen(out);
	if (with_reason && reason_len <= room)
		snprintf(out + len, n - len, " | %s", f->reason);
	else if (with_reason)
		snprintf(out + len, n - len, " | %.*s...", room - 3, f->reason);
	if ((int)strlen(out) > avail)
		out[avail] = '\0';
}

static void print_terminal(struct table_run *r, const struct figures *f, enum bf_tick tick)
{
	char line[1024];

	fit_line(line, sizeof(line), mg_term_width(2), r, f, tick == BF_DONE);
	fprintf(stderr, "\r\033[K%s%s", line, tick != BF_TICK ? "\n" : "");
}

/* "~" before an estimated total: every total but a finished table's */
static void print_plain(struct table_run *r, const struct figures *f, enum bf_tick tick)
{
	fprintf(stderr, "  backfill %s: %lld/%s%lld rows (%d%%), %.0f rows/s, ETA %s, batch %d%s%s\n",
		r->s->table, (long long)r->rows_done, tick == BF_DONE ? "" : "~", (long long)f->total,
		f->pct, f->rate, f->eta, r->size_shown, f->reason[0] ? ", " : "", f->reason);
}

/* ---- JSON and the readers -------------------------------------------------------- */

static void print_json(struct table_run *r, const struct figures *f, enum bf_tick tick)
{
	json_t *j = mg_json_event("backfill", r->o->migration, r->id, "backfill");

	json_object_set_new(j, "table", json_string(r->s->table));
	json_object_set_new(j, "rows_done", json_integer(r->rows_done));
	json_object_set_new(j, "total", json_integer(f->total));
	json_object_set_new(j, "rate", json_integer((json_int_t)(f->rate + 0.5)));
	json_object_set_new(j, "eta_s", f->eta_ms < 0 ? json_null() :
			    json_integer((f->eta_ms + 500) / 1000));
	json_object_set_new(j, "batch_size", json_integer(r->size_shown));
	json_object_set_new(j, "throttle", f->throttle[0] ? json_string(f->throttle) : json_null());
	json_object_set_new(j, "done", json_boolean(tick == BF_DONE));
	json_object_set_new(j, "workers", json_integer(r->workers));
	json_object_set_new(j, "rows_total", json_integer(f->total));
	json_object_set_new(j, "percent", json_integer(f->pct));
	json_object_set_new(j, "eta", json_string(f->eta));
	json_object_set_new(j, "state", json_string(mg_progress_state_name(f->state)));
	json_object_set_new(j, "reason", f->reason[0] ? json_string(f->reason) : json_null());
	json_object_set_new(j, "rows_this_run", json_integer(r->rows_done - r->rows_at_start));
	json_object_set_new(j, "rows_earlier_runs", json_integer(r->rows_at_start));
	json_object_set_new(j, "held_rows", json_integer(r->held_rows));
	json_object_set_new(j, "retries", json_integer(r->retries));
	mg_json_line(j);
}

static void publish(struct table_run *r, const struct figures *f)
{
	struct mg_progress p = {
		.migration = r->o->migration,
		.phase = "backfill",
		.table = r->s->table,
		.step = NULL,
		.rows_done = r->rows_done,
		.rows_total = f->total,
		.rate = f->rate,
		.eta_ms = f->eta_ms,
		.state = f->state,
		.reason = f->reason[0] ? f->reason : NULL,
		.lock_waits = r->o->max_lock_waits > 0 ? (long)r->lock_waits : -1,
		.retries = r->retries,
		.held_rows = r->held_rows,
		.started_unix_ms = r->o->started_unix_ms,
	};

	mg_progress_publish(&p);
}

void mg_bf_progress_line(struct table_run *r, enum bf_tick tick)
{
	int64_t now = mg_now_ms();
	int64_t every = r->o->json ? 1000 : r->tty ? 250 : 5000;
	int show = tick != BF_TICK || now - r->progress_ms >= every;
	int pub = tick != BF_TICK || now - r->published_ms >= PUBLISH_EVERY_MS;
	struct figures f;

	/* passes over held rows run batches: only a pause stops the clock */
	rate_tick(r, !strncmp(r->throttle, "paused", 6));
	if (!show && !pub)
		return;
	compute(r, tick, &f);
	if (pub) {
		r->published_ms = now;
		publish(r, &f);
	}
	if (!show)
		return;
	r->progress_ms = now;
	if (r->o->json)
		print_json(r, &f, tick);
	else if (mg_verbosity < 0)
		return;
	else if (r->tty)
		print_terminal(r, &f, tick);
	else
		print_plain(r, &f, tick);
	fflush(stderr);
}

void mg_bf_publish_failed(struct table_run *r, const struct mg_err *err)
{
	struct figures f;

	compute(r, BF_STOPPED, &f);
	snprintf(f.reason, sizeof(f.reason), "failed: %.480s", err->msg);
	publish(r, &f);
}

/*
 * The line that closes a finished table. rows_done counts the rows the
 * backfill updated; rows the application wrote since expand (the dual-write
 * trigger set their marker) needed nothing and are not among them, nor
 * are rows an earlier run copied whose checkpoint a kill -9 lost (the rerun
 * found them at marker 1). Say so, instead of leaving a count below the
 * table's row count unexplained (docs/deviations.md, decided 15).
 */
void mg_bf_summary(struct table_run *r)
{
	int64_t run = r->rows_done - r->rows_at_start;

	if (r->rows_at_start > 0)
		mg_info("  backfill %s: complete: every row up to the highest key is copied or was "
			"already up to date: %lld copied by this run, %lld by earlier runs; rows the "
			"application wrote since expand needed no copy and are not counted",
			r->s->table, (long long)run, (long long)r->rows_at_start);
	else
		mg_info("  backfill %s: complete: every row up to the highest key is copied or was "
			"already up to date: %lld copied; rows the application wrote since expand "
			"needed no copy and are not counted", r->s->table, (long long)run);
}

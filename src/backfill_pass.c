/*
 * backfill_pass.c - the passes over a part of a table: its batches in key
 * order, then the ranges whose rows other transactions held (a batch never
 * waits for them: drivers/driver.h, backfill_batch), again and again until
 * none is left; and the sweep of a resumed run, whose held rows an earlier
 * process kept only in its memory.
 */
#include "backfill_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testhooks.h"

static void free_spans(struct span *spans, size_t n, size_t n_keys)
{
	for (size_t i = 0; i < n; i++) {
		mg_bf_free_keys(spans[i].after, n_keys);
		mg_bf_free_keys(spans[i].upto, n_keys);
	}
	free(spans);
}

void mg_bf_part_release(struct part *p, size_t n_keys)
{
	mg_checkpoint_release(&p->cp);
	mg_bf_free_keys(p->last, n_keys);
	mg_bf_free_keys(p->upto, n_keys);
	free_spans(p->held, p->n_held, n_keys);
}

/* Record a batch: the part's checkpoint, the totals, the progress line.
 * A batch of the main pass moves the part's last key; a pass over held
 * rows (main 0) only adds the rows it took. */
static int record_batch(struct table_run *r, struct part *p, struct mg_batch_result *b,
			int size, int main, struct mg_err *err)
{
	int rc, batch;

	pthread_mutex_lock(&r->mu);
	batch = ++r->batches;
	/* the sweep's rows count in the first part's checkpoint: status
	 * shows every row copied, the sweep has no checkpoint of its own */
	if (p->transient && b->rows > 0 && r->n_parts) {
		r->parts[0].cp.rows_done += b->rows;
		if (mg_state_checkpoint_put(r->st, &r->parts[0].cp, err) < 0) {
			pthread_mutex_unlock(&r->mu);
			return -1;
		}
	}
	mg_bf_note_batch(r, p, b, main);
	p->cp.rows_done += b->rows;
	r->rows_done += b->rows;
	if (main && b->last_key) {
		mg_bf_free_keys(p->last, r->s->n_keys);
		p->last = b->last_key;
		b->last_key = NULL;
		free(p->cp.last_key_json);
		p->cp.last_key_json = mg_bf_keys_to_json(p->last, r->s->n_keys);
	}
	r->size_shown = size;
	rc = p->transient ? 0 : mg_state_checkpoint_put(r->st, &p->cp, err);
	mg_bf_progress_line(r, BF_TICK);
	pthread_mutex_unlock(&r->mu);
	mg_fault_point("backfill", (int)r->index + 1, batch);
	return rc;
}

static char **copy_keys(char *const *keys, size_t n)
{
	char **out;

	if (!keys)
		return NULL;
	out = mg_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		out[i] = mg_xstrdup(keys[i]);
	return out;
}

static int same_keys(char *const *a, char *const *b, size_t n)
{
	if (!a || !b)
		return a == b;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

/* Keep (after, upto] to pass over again; a range that continues the last
 * one kept extends it. */
static void keep_held(struct part *p, char *const *after, char *const *upto, size_t n_keys)
{
	struct span *last = p->n_held ? &p->held[p->n_held - 1] : NULL;

	if (last && same_keys(last->upto, after, n_keys)) {
		mg_bf_free_keys(last->upto, n_keys);
		last->upto = copy_keys(upto, n_keys);
		return;
	}
	MG_ALLOC_GROW(p->held, p->n_held + 1, p->alloc_held);
	p->held[p->n_held].after = copy_keys(after, n_keys);
	p->held[p->n_held].upto = copy_keys(upto, n_keys);
	p->n_held++;
}

/*
 * One batch over (*after, upto]: on success *after moves to its last key
 * and a range that left held rows is kept in p->held. *skipped adds the
 * rows left. 1 when the range is done, 0 when not, -1 on failure.
 */
static int one_batch(struct table_run *r, struct mg_conn *c, struct part *p, char ***after,
		     char *const *upto, int main, int *size, int64_t *skipped, struct mg_err *err)
{
	struct mg_batch_result b;
	int64_t t0, ms;
	int done;

	t0 = mg_now_ms();
	if (mg_db_backfill_batch(c, r->s, *after, upto, *size, &b, err) < 0) {
		mg_err_prefix(err, "backfill of %s, a batch of %d rows: ", r->s->table, *size);
		return -1;
	}
	ms = mg_now_ms() - t0 - b.retry_ms;
	if (b.skipped > 0) {
		keep_held(p, *after, b.last_key ? b.last_key : upto, r->s->n_keys);
		*skipped += b.skipped;
	}
	done = b.done || !b.last_key;
	mg_bf_free_keys(*after, r->s->n_keys);
	*after = copy_keys(b.last_key, r->s->n_keys);
	if (record_batch(r, p, &b, *size, main, err) < 0) {
		mg_batch_result_release(&b, r->s->n_keys);
		return -1;
	}
	mg_batch_result_release(&b, r->s->n_keys);
	if (!r->o->batch_size) {
		*size = mg_backfill_next_size(*size, ms, r->o->target_batch_ms);
		/* the application is writing this part of the table now:
		 * shorter batches hold its rows for less time */
		if (b.skipped > 0 && *size / 2 >= MG_BATCH_FLOOR)
			*size /= 2;
	}
	mg_bf_pace(r);
	return done;
}

/* The main pass over the part, from its checkpoint to its end. */
static int main_pass(struct table_run *r, struct mg_conn *c, struct part *p, int *size,
		     int64_t *skipped, struct mg_err *err)
{
	char **after = copy_keys(p->last, r->s->n_keys);
	int rc = 0;

	while (rc == 0) {
		mg_bf_wait_for_throttles(r, c);
		if (mg_stop_requested || r->failed)
			break;
		rc = one_batch(r, c, p, &after, p->upto, 1, size, skipped, err);
	}
	mg_bf_free_keys(after, r->s->n_keys);
	/* a failure while stopping is the stop: the batch did not commit */
	return rc < 0 && !mg_stop_requested ? -1 : 0;
}

/* How long rows may stay held before the backfill gives up on them:
 * 60 s (MIGRATE_TEST_HELD_ROWS_MS in a test build). */
static int64_t held_limit_ms(void)
{
	unsigned long ms = mg_hook_driver_number("MIGRATE_TEST_HELD_ROWS_MS");

	return ms ? (int64_t)ms : 60000;
}

static void set_held_note(struct table_run *r, int64_t rows, size_t ranges, int round)
{
	pthread_mutex_lock(&r->mu);
	r->held_rows = rows;
	if (rows > 0) {
		snprintf(r->held_note, sizeof(r->held_note),
			 "%lld row(s) held by other transactions: passing over them again (pass %d)",
			 (long long)rows, round + 1);
		snprintf(r->held_reason, sizeof(r->held_reason),
			 "waiting for rows the application holds: %zu range(s), %lld row(s), pass %d",
			 ranges, (long long)rows, round + 1);
	} else {
		r->held_note[0] = r->held_reason[0] = '\0';
	}
	mg_bf_progress_line(r, BF_TICK);
	pthread_mutex_unlock(&r->mu);
}

static int held_too_long(struct table_run *r, struct part *p, int64_t rows, int64_t waited_ms,
			 struct mg_err *err)
{
	char *from = p->held[0].after ? mg_bf_keys_to_json(p->held[0].after, r->s->n_keys)
				      : mg_xstrdup("(start)");
	char *to = mg_bf_keys_to_json(p->held[p->n_held - 1].upto, r->s->n_keys);

	mg_err_set(err, MG_EDB, "backfill of %s: %lld row(s) between key %s and %s are still held "
		   "by other transactions after %lld s (every other row of the range is copied)",
		   r->s->table, (long long)rows, from, to, (long long)(waited_ms / 1000));
	mg_err_hint(err, "a long transaction holds these rows: let it finish (or end it), then run the "
		    "same backfill command again; it resumes and copies them");
	free(from);
	free(to);
	return -1;
}

/*
 * Pass over the ranges whose rows were held, again and again with a
 * growing pause, until none is left (a row the application wrote meanwhile
 * has its marker set by the trigger and needs nothing). Rows still held
 * after held_limit_ms() fail the run; the checkpoint stays, a rerun resumes.
 */
static int pass_over_held(struct table_run *r, struct mg_conn *c, struct part *p, int *size,
			  struct mg_err *err)
{
	int64_t start = mg_now_ms(), rows = 0, pause_ms = 20;

	for (int round = 0; p->n_held; round++) {
		struct span *spans = p->held;
		size_t n = p->n_held;
		int rc = 0;

		if (mg_now_ms() - start > held_limit_ms())
			return held_too_long(r, p, rows, mg_now_ms() - start, err);
		mg_bf_sleep_unless_stopped(pause_ms);
		pause_ms = pause_ms * 2 > 1000 ? 1000 : pause_ms * 2;
		p->held = NULL;
		p->n_held = p->alloc_held = 0;
		rows = 0;
		for (size_t i = 0; i < n && rc >= 0; i++) {
			char **after = copy_keys(spans[i].after, r->s->n_keys);

			rc = 0;
			while (rc == 0 && !mg_stop_requested && !r->failed) {
				mg_bf_wait_for_throttles(r, c);
				rc = one_batch(r, c, p, &after, spans[i].upto, 0, size, &rows, err);
			}
			mg_bf_free_keys(after, r->s->n_keys);
		}
		free_spans(spans, n, r->s->n_keys);
		if (rc < 0)
			return mg_stop_requested ? 0 : -1;
		if (mg_stop_requested || r->failed)
			return 0;
		set_held_note(r, p->n_held ? rows : 0, p->n_held, round + 1);
	}
	return 0;
}

/* The part's checkpoint says done: every row up to its end was taken. */
static int part_done(struct table_run *r, struct part *p, struct mg_err *err)
{
	int rc;

	pthread_mutex_lock(&r->mu);
	p->passed = 1;
	p->cp.done = !r->sweep;
	rc = mg_state_checkpoint_put(r->st, &p->cp, err);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* The main pass over a part, then the passes over the rows it found
 * held. 0 also when stopped (the part is then not passed). */
static int pass_over_part(struct table_run *r, struct mg_conn *c, struct part *p, int *size,
			  struct mg_err *err)
{
	int64_t skipped = 0;

	if (main_pass(r, c, p, size, &skipped, err) < 0)
		return -1;
	if (mg_stop_requested || r->failed || !p->n_held)
		return 0;
	mg_info("  backfill %s: %lld row(s) were held by other transactions: passing over them again",
		r->s->table, (long long)skipped);
	set_held_note(r, skipped, p->n_held, 0);
	return pass_over_held(r, c, p, size, err);
}

int mg_bf_run_part(struct table_run *r, struct mg_conn *c, struct part *p, int *size,
		    struct mg_err *err)
{
	if (pass_over_part(r, c, p, size, err) < 0)
		return -1;
	if (mg_stop_requested || r->failed)
		return 0;
	return part_done(r, p, err);
}

/*
 * A resumed run: an earlier run may have left rows held by other
 * transactions somewhere before its checkpoints, and kept them only in its
 * memory. Pass over the whole table (up to its highest key now: rows added
 * since were written through the trigger) once more, then mark every part
 * done in one state transaction. Rows already copied cost a read only.
 */
int mg_bf_sweep_table(struct table_run *r, struct mg_conn *c, struct mg_err *err)
{
	struct part sw;
	int64_t estimate = 0;
	int size = r->o->batch_size ? r->o->batch_size : MG_BATCH_START, rc = 0;

	memset(&sw, 0, sizeof(sw));
	sw.transient = 1;
	mg_info("  backfill %s: resumed run: passing over the whole table once more for rows "
		"an earlier run found held", r->s->table);
	if (mg_db_backfill_bounds(c, r->s, &sw.upto, &estimate, err) < 0) {
		mg_err_prefix(err, "backfill of %s, reading its key range: ", r->s->table);
		return -1;
	}
	if (sw.upto)
		rc = pass_over_part(r, c, &sw, &size, err);
	mg_bf_part_release(&sw, r->s->n_keys);
	if (rc < 0 || mg_stop_requested || r->failed)
		return rc;
	if (mg_state_begin(r->st, err) < 0)
		return -1;
	for (size_t i = 0; i < r->n_parts; i++) {
		r->parts[i].cp.done = 1;
		if (mg_state_checkpoint_put(r->st, &r->parts[i].cp, err) < 0) {
			mg_state_rollback(r->st);
			return -1;
		}
	}
	return mg_state_commit(r->st, err);
}


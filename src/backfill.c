/* backfill.c - batches, checkpoints, throttles and progress. */
#include "backfill.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = sig;
}

void mg_backfill_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ---- keys as JSON arrays of text ------------------------------------------------ */

static char *keys_to_json(char *const *keys, size_t n)
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

static void free_keys(char **keys, size_t n)
{
	if (!keys)
		return;
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* ---- progress ------------------------------------------------------------------------ */

struct progress {
	const char *table;
	int64_t start_ms, last_ms;
	int64_t rows_at_start;
	int tty;
};

static void progress_show(struct progress *p, const struct mg_checkpoint *cp, int final)
{
	int64_t now = mg_now_ms();
	double secs = (double)(now - p->start_ms) / 1000.0;
	double rate = secs > 0 ? (double)(cp->rows_done - p->rows_at_start) / secs : 0;
	int64_t total = cp->estimate > cp->rows_done ? cp->estimate : cp->rows_done;
	double pct = total > 0 ? 100.0 * (double)cp->rows_done / (double)total : 100.0;
	double eta = rate > 0 ? (double)(total - cp->rows_done) / rate : 0;

	if (!final && now - p->last_ms < (p->tty ? 250 : 5000))
		return;
	p->last_ms = now;
	if (mg_verbosity < 0)
		return;
	if (p->tty) {
		int width = 30, filled = (int)(pct / 100.0 * width);
		char bar[32];

		for (int i = 0; i < width; i++)
			bar[i] = i < filled ? '#' : '.';
		bar[width] = '\0';
		fprintf(stderr, "\r  backfill %s [%s] %lld/%lld rows %3.0f%% %.0f rows/s ETA %.0f s   %s",
			p->table, bar, (long long)cp->rows_done, (long long)total, pct,
			rate, eta, final ? "\n" : "");
	} else {
		fprintf(stderr, "  backfill %s: %lld/%lld rows (%.0f%%), %.0f rows/s, ETA %.0f s\n",
			p->table, (long long)cp->rows_done, (long long)total, pct, rate, eta);
	}
	fflush(stderr);
}

/* ---- the loop ---------------------------------------------------------------------------- */

static void throttle(const struct mg_backfill_opts *o, struct progress *p,
		     const struct mg_checkpoint *cp)
{
	if (o->sleep_ms > 0)
		mg_sleep_ms(o->sleep_ms);
	if (o->max_rows_per_sec > 0) {
		int64_t done = cp->rows_done - p->rows_at_start;
		int64_t due_ms = done * 1000 / o->max_rows_per_sec;
		int64_t spent = mg_now_ms() - p->start_ms;

		if (due_ms > spent)
			mg_sleep_ms(due_ms - spent);
	}
}

static int start_checkpoint(struct mg_conn *c, struct mg_state *st, int id,
			    const struct mg_backfill_spec *s, struct mg_checkpoint *cp,
			    struct mg_err *err)
{
	char **upto = NULL;
	int64_t estimate = 0;
	int rc;

	if (c->drv->backfill_bounds(c, s, &upto, &estimate, err) < 0)
		return -1;
	memset(cp, 0, sizeof(*cp));
	cp->migration_id = id;
	cp->table_name = mg_xstrdup(s->table);
	cp->upto_key_json = upto ? keys_to_json(upto, s->n_keys) : NULL;
	cp->estimate = estimate;
	cp->done = upto == NULL;
	free_keys(upto, s->n_keys);
	rc = mg_state_checkpoint_put(st, cp, err);
	return rc;
}

static int stopped(const struct mg_backfill_spec *s, const struct mg_checkpoint *cp,
		   struct mg_err *err)
{
	mg_err_set(err, MG_EDB, "backfill of %s stopped by signal after %lld rows: resumable from key %s",
		   s->table, (long long)cp->rows_done,
		   cp->last_key_json ? cp->last_key_json : "(start)");
	return mg_err_hint(err, "run the same backfill command again to continue from the checkpoint");
}

static int backfill_table(struct mg_conn *c, struct mg_state *st, int id, size_t index,
			  const struct mg_backfill_spec *s,
			  const struct mg_backfill_opts *o, struct mg_err *err)
{
	struct mg_checkpoint cp;
	struct progress p = { s->table, 0, 0, 0, isatty(2) };
	char **upto = NULL, **last = NULL;
	int found, batch = 0, rc = -1;

	found = mg_state_checkpoint_get(st, id, s->table, 0, &cp, err);
	if (found < 0)
		return -1;
	if (found == 1 && start_checkpoint(c, st, id, s, &cp, err) < 0)
		return -1;
	if (cp.done) {
		mg_info("  backfill %s: done (%lld rows)", s->table, (long long)cp.rows_done);
		mg_checkpoint_release(&cp);
		return 0;
	}
	if (cp.last_key_json)
		mg_info("  backfill %s: resuming after key %s (%lld rows done)", s->table,
			cp.last_key_json, (long long)cp.rows_done);
	if (!(upto = keys_from_json(cp.upto_key_json, s->n_keys, err)))
		goto out;
	if (cp.last_key_json && !(last = keys_from_json(cp.last_key_json, s->n_keys, err)))
		goto out;
	if (s->session_sql && mg_db_exec(c, s->session_sql, err) < 0)
		goto out;
	p.start_ms = p.last_ms = mg_now_ms();
	p.rows_at_start = cp.rows_done;
	for (;;) {
		struct mg_batch_result r;

		if (stop_requested) {
			stopped(s, &cp, err);
			goto out;
		}
		if (c->drv->backfill_batch(c, s, last, upto, o->batch_size, &r, err) < 0)
			goto out;
		batch++;
		mg_fault_point("backfill", (int)index + 1, batch);
		cp.rows_done += r.rows;
		if (r.last_key) {
			free_keys(last, s->n_keys);
			last = r.last_key;
			r.last_key = NULL;
			free(cp.last_key_json);
			cp.last_key_json = keys_to_json(last, s->n_keys);
		}
		cp.done = r.done;
		mg_batch_result_release(&r, s->n_keys);
		if (mg_state_checkpoint_put(st, &cp, err) < 0)
			goto out;
		progress_show(&p, &cp, cp.done);
		if (cp.done)
			break;
		throttle(o, &p, &cp);
	}
	if (c->drv->analyze(c, s->table, err) < 0)
		goto out;
	rc = 0;
out:
	free_keys(upto, s->n_keys);
	free_keys(last, s->n_keys);
	mg_checkpoint_release(&cp);
	return rc;
}

int mg_backfill_run(struct mg_conn *c, struct mg_state *st, int id,
		    const struct mg_plan *plan,
		    const struct mg_backfill_opts *opts, struct mg_err *err)
{
	for (size_t i = 0; i < plan->n_backfills; i++)
		if (backfill_table(c, st, id, i, &plan->backfills[i], opts, err) < 0)
			return -1;
	return 0;
}

int mg_backfill_verify(struct mg_conn *c, const struct mg_plan *plan, int sample,
		       int64_t *mismatches, struct mg_strlist *sample_keys,
		       struct mg_err *err)
{
	*mismatches = 0;
	for (size_t i = 0; i < plan->n_backfills; i++) {
		const struct mg_backfill_spec *s = &plan->backfills[i];
		struct mg_strlist keys = MG_STRLIST_INIT;
		int64_t n = 0;

		if (c->drv->verify(c, s, sample, &n, &keys, err) < 0) {
			mg_strlist_release(&keys);
			return -1;
		}
		*mismatches += n;
		for (size_t k = 0; k < keys.n; k++)
			mg_strlist_push_owned(sample_keys, mg_xasprintf("%s (%s)", s->table, keys.items[k]));
		mg_strlist_release(&keys);
	}
	return 0;
}


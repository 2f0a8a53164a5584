/*
 * runner.c - setup shared by the commands and the phase-step loop.
 *
 * The state file and the target's history table must agree (design §5):
 * every history write carries the state's identity and a generation that
 * grows by one per change; before each write the state records the
 * generation it is about to reach ("pending_generation"), after it the
 * generation reached. A target one generation ahead of the state, equal to
 * the pending one, is a crash between the two writes and is repaired here;
 * any other disagreement is refused (exit 3) with what to do.
 */
#include "runner.h"
#include "runinfo.h"

#include "output.h"
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *mg_id_str(int id, char buf[16])
{
	snprintf(buf, 16, "%04d", id);
	return buf;
}

/* ---- state meta helpers ---------------------------------------------------------- */

static int meta_int(struct mg_state *st, const char *key, int64_t *out,
		    struct mg_err *err)
{
	char *v = NULL;

	if (mg_state_meta_get(st, key, &v, err) < 0)
		return -1;
	*out = v ? strtoll(v, NULL, 10) : 0;
	free(v);
	return 0;
}

static int meta_set_int(struct mg_state *st, const char *key, int64_t value,
			struct mg_err *err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)value);
	return mg_state_meta_set(st, key, buf, err);
}

static void event_v(struct mg_ctx *ctx, int migration_id, const char *colour,
		    const char *result, const char *fmt, va_list ap)
{
	struct mg_err ignored = MG_ERR_INIT;
	char msg[2048];

	if (!ctx->state)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	mg_state_event_add(ctx->state, ctx->command, migration_id, colour, result, msg,
			   &ignored);
}

void mg_ctx_event(struct mg_ctx *ctx, int migration_id, const char *result,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	event_v(ctx, migration_id, NULL, result, fmt, ap);
	va_end(ap);
}

void mg_ctx_event_colour(struct mg_ctx *ctx, int migration_id, const char *colour,
			 const char *result, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	event_v(ctx, migration_id, colour, result, fmt, ap);
	va_end(ap);
}

/* ---- opening ------------------------------------------------------------------------ */

static int open_state(struct mg_ctx *ctx, struct mg_err *err)
{
	/* a blank file (a creation that never finished) holds nothing: it
	 * counts as missing */
	int kind = mg_state_probe(ctx->opt->state);
	int exists = kind != MG_STATE_MISSING;
	int write = (ctx->setup & MG_NEED_WRITE) != 0;
	int created = 0;

	if (kind != MG_STATE_PRESENT && ctx->history.n > 0 &&
	    !(ctx->setup & MG_HISTORY_IS_ENOUGH)) {
		mg_err_set(err, MG_EDB,
			   "state file '%s' %s, but the database has migrate history (generation %lld, %s)",
			   ctx->opt->state,
			   exists ? "is empty (a run stopped while creating it)" : "does not exist",
			   (long long)ctx->history.generation,
			   ctx->history.rows[ctx->history.n - 1].id == MG_REGISTRY_ID ?
			   "colours registered" : "migrations applied");
		return mg_err_hint(err, "point --state (or MIGRATE_STATE) at the state file the earlier steps used (a pipeline artifact or volume); never start a new one for a database that has history");
	}
	if (kind != MG_STATE_PRESENT && !write)
		return 0;	/* nothing applied, nothing to read */
	if (mg_state_open(&ctx->state, ctx->opt->state, write, write, &created, err) < 0)
		return -1;
	if (mg_state_meta_get(ctx->state, "state_id", &ctx->state_id, err) < 0 ||
	    meta_int(ctx->state, "generation", &ctx->generation, err) < 0)
		return -1;
	return 0;
}

static int check_fingerprint(struct mg_ctx *ctx, struct mg_err *err)
{
	struct mg_buf fp = MG_BUF_INIT;
	char *recorded = NULL;
	int rc = -1;

	if (mg_db_fingerprint(ctx->conn, &fp, err) < 0 ||
	    mg_state_meta_get(ctx->state, "fingerprint", &recorded, err) < 0)
		goto out;
	if (recorded && strcmp(recorded, fp.buf) != 0) {
		mg_err_set(err, MG_EDB,
			   "state file '%s' belongs to another database (recorded '%s', this one is '%s')",
			   ctx->opt->state, recorded, fp.buf);
		mg_err_hint(err, "use the state file of this database, or the database of this state file");
		goto out;
	}
	if (!recorded && (ctx->setup & MG_NEED_WRITE) &&
	    mg_state_meta_set(ctx->state, "fingerprint", fp.buf, err) < 0)
		goto out;
	rc = 0;
out:
	free(recorded);
	mg_buf_release(&fp);
	return rc;
}

/* Bring the state's phases in line with the target after a crash between a
 * database commit and the state write that follows it. */
static int adopt_history(struct mg_ctx *ctx, struct mg_err *err)
{
	for (size_t i = 0; i < ctx->history.n; i++) {
		const struct mg_history_row *h = &ctx->history.rows[i];
		struct mg_state_migration rec;
		int found = mg_state_migration_get(ctx->state, h->id, &rec, err);

		if (found < 0)
			return -1;
		if (found == 0 && strcmp(rec.phase, h->phase) != 0) {
			mg_info("repairing the state file: %s is %s in the database (state said %s)",
				h->name, h->phase, rec.phase);
			free(rec.phase);
			rec.phase = mg_xstrdup(h->phase);
			if (!h->checksum) {
				free(rec.checksum);
				rec.checksum = NULL;
			}
			if (mg_state_migration_put(ctx->state, &rec, err) < 0) {
				mg_state_migration_release(&rec);
				return -1;
			}
		}
		if (found == 0)
			mg_state_migration_release(&rec);
	}
	return 0;
}

static int check_history(struct mg_ctx *ctx, struct mg_err *err)
{
	const struct mg_history *h = &ctx->history;
	int64_t pending = 0;

	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->rows[i].state_id, ctx->state_id) != 0) {
			mg_err_set(err, MG_EDB,
				   "state file '%s' (id %s) is not the one this database's history was written with (id %s)",
				   ctx->opt->state, ctx->state_id, h->rows[i].state_id);
			return mg_err_hint(err, "point --state at the state file this database was migrated with");
		}
	if (meta_int(ctx->state, "pending_generation", &pending, err) < 0)
		return -1;
	if (h->generation == ctx->generation)
		return 0;
	if (h->generation == pending && pending > ctx->generation) {
		ctx->generation = pending;
		if (meta_set_int(ctx->state, "generation", pending, err) < 0)
			return -1;
		return adopt_history(ctx, err);
	}
	if (h->generation > ctx->generation) {
		mg_err_set(err, MG_EDB,
			   "state file '%s' is stale: it is at generation %lld but the database's history is at %lld",
			   ctx->opt->state, (long long)ctx->generation, (long long)h->generation);
		return mg_err_hint(err, "a newer copy of the state file was used since: use that copy (pipeline artifact or volume), not an old one");
	}
	mg_err_set(err, MG_EDB,
		   "the database's history (generation %lld) is behind state file '%s' (generation %lld)",
		   (long long)h->generation, ctx->opt->state, (long long)ctx->generation);
	return mg_err_hint(err, "is this the right database, or was it restored from a backup? migrate will not guess: check and use the matching state file");
}

/* A migration recorded twice: only a damaged or hand-made file has that
 * (the id is the table's primary key). */
static int duplicate_record(const struct mg_ctx *ctx, int id, struct mg_err *err)
{
	char idbuf[16];

	mg_err_set(err, MG_EDB, "state file '%s' records migration %s twice: it is damaged",
		   ctx->opt->state, mg_id_str(id, idbuf));
	return mg_err_hint(err, "restore the state file from its last good copy (a pipeline artifact or volume)");
}

/* A record whose phase is none of ours: a damaged file, never "pending". */
static int unknown_phase(const struct mg_ctx *ctx, const struct mg_state_migration *m,
			 struct mg_err *err)
{
	char idbuf[16];

	mg_err_set(err, MG_EDB, "state file '%s' records migration %s in %s: it is damaged",
		   ctx->opt->state, mg_id_str(m->id, idbuf),
		   m->phase ? "an unknown phase" : "no phase");
	return mg_err_hint(err, "restore the state file from its last good copy (a pipeline artifact or volume)");
}

static int build_views(struct mg_ctx *ctx, struct mg_state_migration *recs,
		       size_t n_recs, struct mg_err *err)
{
	size_t cap = ctx->files.n + n_recs + 1;
	enum mg_phase ph;

	for (size_t r = 0; r < n_recs; r++)
		if (mg_phase_parse(recs[r].phase, &ph) < 0)
			return unknown_phase(ctx, &recs[r], err);
	ctx->views = mg_xcalloc(cap, sizeof(*ctx->views));
	for (size_t i = 0; i < ctx->files.n; i++) {
		struct mg_view *v = &ctx->views[ctx->n_views++];

		v->id = ctx->files.items[i].id;
		v->file = &ctx->files.items[i];
		v->name = v->file->name;
	}
	for (size_t r = 0; r < n_recs; r++) {
		struct mg_view *v = mg_ctx_view(ctx, recs[r].id);

		if (!v) {
			if (!strcmp(recs[r].phase, "pending")) {
				mg_state_migration_release(&recs[r]);
				continue;
			}
			v = &ctx->views[ctx->n_views++];
			v->id = recs[r].id;
		} else if (v->has_rec) {
			return duplicate_record(ctx, v->id, err);
		}
		v->rec = recs[r];
		v->has_rec = 1;
		memset(&recs[r], 0, sizeof(recs[r]));
		if (!v->file)
			v->name = v->rec.name;
	}
	/* sort by id (insertion: small n) */
	for (size_t i = 1; i < ctx->n_views; i++)
		for (size_t j = i; j > 0 && ctx->views[j - 1].id > ctx->views[j].id; j--) {
			struct mg_view t = ctx->views[j];

			ctx->views[j] = ctx->views[j - 1];
			ctx->views[j - 1] = t;
		}
	for (size_t i = 0; i < ctx->n_views; i++) {
		struct mg_view *v = &ctx->views[i];

		if (v->file && !v->has_rec)
			v->name = v->file->name;
		v->phase = MG_PHASE_PENDING;
		if (v->has_rec)
			mg_phase_parse(v->rec.phase, &v->phase);
		v->edited = v->file && v->has_rec && v->rec.checksum &&
			    strcmp(v->rec.checksum, v->file->checksum) != 0;
		v->hist = mg_history_find(&ctx->history, v->id);
	}
	return 0;
}

/* Without a state file (MG_HISTORY_IS_ENOUGH): the target's own record of
 * each migration's phase and checksum. */
static void records_from_history(const struct mg_history *h,
				 struct mg_state_migration **out, size_t *n)
{
	*out = mg_xcalloc(h->n + 1, sizeof(**out));
	*n = 0;
	for (size_t i = 0; i < h->n; i++) {
		struct mg_state_migration *m = &(*out)[*n];

		if (h->rows[i].id == MG_REGISTRY_ID)
			continue;
		m->id = h->rows[i].id;
		m->name = mg_xstrdup(h->rows[i].name);
		m->checksum = h->rows[i].checksum ? mg_xstrdup(h->rows[i].checksum) : NULL;
		m->phase = mg_xstrdup(h->rows[i].phase);
		(*n)++;
	}
}

int mg_ctx_open(struct mg_ctx *ctx, struct mg_options *opt, const char *command,
		unsigned setup, struct mg_err *err)
{
	struct mg_state_migration *recs = NULL;
	size_t n_recs = 0;

	memset(ctx, 0, sizeof(*ctx));
	ctx->steps = json_array();
	ctx->opt = opt;
	ctx->command = command;
	ctx->setup = setup;
	/* names are checked against the target's limit before connecting:
	 * the URL names the driver */
	if (mg_migration_set_load(&ctx->files, opt->migrations,
				  mg_driver_name_limit(opt->database), err) < 0)
		return -1;
	if (setup & MG_NEED_DB) {
		struct mg_conn_opts co = {
			.lock_timeout_ms = opt->lock_timeout_ms,
			.statement_timeout_ms = opt->statement_timeout_ms,
			.index_timeout_ms = opt->index_timeout_ms,
			.lock_retries = opt->lock_retries,
			.max_tx_age_s = opt->max_tx_age_s,
			.network_timeout_ms = opt->network_timeout_ms,
		};
		char app[64];

		snprintf(app, sizeof(app), "migrate/%s", command);
		co.application_name = app;
		if (mg_db_connect(&ctx->conn, opt->database, &co, err) < 0 ||
		    mg_db_history_read(ctx->conn, &ctx->history, err) < 0)
			return -1;
	}
	mg_runinfo_setup(opt, command);	/* who we are, for the lock's record */
	if (open_state(ctx, err) < 0)
		return -1;
	/* --wait-lock: the run we waited for moved the target on */
	if (mg_runinfo_lock_waited() && ctx->conn) {
		mg_history_release(&ctx->history);
		if (mg_db_history_read(ctx->conn, &ctx->history, err) < 0)
			return -1;
	}
	if (ctx->state && ctx->conn &&
	    (check_fingerprint(ctx, err) < 0 || check_history(ctx, err) < 0))
		return -1;
	if ((setup & MG_NEED_WRITE) && ctx->conn) {
		struct mg_buf holder = MG_BUF_INIT;

		if (mg_db_lock(ctx->conn, err) < 0)
			return -1;
		ctx->locked = 1;
		if (mg_db_lock_holder(ctx->conn, &holder, err) < 0) {
			mg_buf_release(&holder);
			return -1;
		}
		ctx->lock_holder = mg_buf_detach(&holder);
	}
	if (ctx->state && mg_state_migration_list(ctx->state, &recs, &n_recs, err) < 0)
		return -1;
	if (!ctx->state)
		records_from_history(&ctx->history, &recs, &n_recs);
	if (build_views(ctx, recs, n_recs, err) < 0) {
		mg_state_migration_list_free(recs, n_recs);
		return -1;
	}
	mg_state_migration_list_free(recs, n_recs);
	return 0;
}

void mg_ctx_close(struct mg_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_views; i++)
		if (ctx->views[i].has_rec)
			mg_state_migration_release(&ctx->views[i].rec);
	free(ctx->views);
	if (ctx->conn) {
		if (ctx->locked)
			mg_db_unlock(ctx->conn);
		mg_db_close(ctx->conn);
	}
	mg_history_release(&ctx->history);
	if (ctx->state)
		mg_state_close(ctx->state);
	free(ctx->state_id);
	free(ctx->lock_holder);
	mg_migration_set_release(&ctx->files);
	json_decref(ctx->steps);
	memset(ctx, 0, sizeof(*ctx));
}

void mg_ctx_explain_lock_lost(struct mg_ctx *ctx, struct mg_err *err)
{
	if (ctx->locked && ctx->conn && err->code == MG_EDB && !mg_err_is_lock_lost(err))
		mg_db_lock_lost(ctx->conn, err);
}

struct mg_view *mg_ctx_view(struct mg_ctx *ctx, int id)
{
	for (size_t i = 0; i < ctx->n_views; i++)
		if (ctx->views[i].id == id)
			return &ctx->views[i];
	return NULL;
}

/* A pending migration whose expand ran some steps and stopped: in flight
 * too, rollback's to undo (its changes are in the database). */
static int expand_interrupted(const struct mg_view *v)
{
	return v->phase == MG_PHASE_PENDING && v->has_rec && v->rec.plan_json &&
	       v->hist && v->hist->step_phase && !strcmp(v->hist->step_phase, "expand") &&
	       v->hist->step_index > 0;
}

int mg_ctx_pick(struct mg_ctx *ctx, const char *arg, enum mg_phase target,
		struct mg_view **out, struct mg_err *err)
{
	*out = NULL;
	if (arg) {
		int id;

		if (mg_migration_parse_id(arg, &id, err) < 0)
			return -1;
		*out = mg_ctx_view(ctx, id);
		if (!*out) {
			mg_err_set(err, MG_EINPUT, "unknown migration '%s': no file with id %d in '%s' and none recorded",
				   arg, id, ctx->opt->migrations);
			return mg_err_hint(err, "run 'migrate status' to see the migrations");
		}
		return 0;
	}
	if (target == MG_PHASE_PENDING) {	/* rollback: the highest in flight */
		for (size_t i = ctx->n_views; i-- > 0;)
			if ((ctx->views[i].phase > MG_PHASE_PENDING &&
			     ctx->views[i].phase < MG_PHASE_CONTRACTED) ||
			    expand_interrupted(&ctx->views[i])) {
				*out = &ctx->views[i];
				break;
			}
		return 0;
	}
	for (size_t i = 0; i < ctx->n_views; i++)
		if (ctx->views[i].phase < target) {
			*out = &ctx->views[i];
			break;
		}
	return 0;
}

int mg_ctx_check_unchanged(struct mg_ctx *ctx, const struct mg_view *v,
			   struct mg_err *err)
{
	(void)ctx;
	if (!v->edited)
		return 0;
	mg_err_set(err, MG_EINPUT,
		   "migration file '%s' was edited after expand (recorded sha256 %s, file now sha256 %s)",
		   v->file->path, v->rec.checksum, v->file->checksum);
	return mg_err_hint(err, "restore the file as it was expanded (git checkout), or roll the migration back and expand it again");
}

int mg_ctx_recorded_plan(struct mg_ctx *ctx, const struct mg_view *v,
			 struct mg_plan *out, struct mg_err *err)
{
	char idbuf[16];

	(void)ctx;
	mg_plan_init(out);
	if (!v->has_rec || !v->rec.plan_json) {
		mg_err_set(err, MG_EDB, "the state file has no recorded plan for %s",
			   mg_id_str(v->id, idbuf));
		return mg_err_hint(err, "the state file does not match the database: check --state");
	}
	return mg_plan_from_json(out, v->rec.plan_json, err);
}

/* ---- running a phase ------------------------------------------------------------- */

static int before_db_write(struct mg_ctx *ctx, struct mg_err *err)
{
	return meta_set_int(ctx->state, "pending_generation", ctx->generation + 1, err);
}

static int after_db_write(struct mg_ctx *ctx, struct mg_err *err)
{
	ctx->generation++;
	return meta_set_int(ctx->state, "generation", ctx->generation, err);
}

int mg_ctx_set_phase(struct mg_ctx *ctx, struct mg_view *v, enum mg_phase phase,
		     const char *step_phase, int step_index, struct mg_err *err)
{
	const char *name = mg_phase_name(phase);
	const char *checksum = phase == MG_PHASE_PENDING ? NULL :
			       (v->has_rec ? v->rec.checksum : NULL);
	struct mg_history_write w = {
		.migration_id = v->id, .name = v->name, .checksum = checksum,
		.phase = name, .step_phase = step_phase, .step_index = step_index,
		.state_id = ctx->state_id,
	};

	if (before_db_write(ctx, err) < 0 ||
	    mg_db_history_write(ctx->conn, &w, err) < 0 ||
	    after_db_write(ctx, err) < 0)
		return -1;
	if (phase == MG_PHASE_PENDING && v->has_rec) {
		free(v->rec.checksum);
		v->rec.checksum = NULL;
		free(v->rec.plan_json);
		v->rec.plan_json = NULL;
		free(v->rec.phase);
		v->rec.phase = mg_xstrdup(name);
		if (mg_state_migration_put(ctx->state, &v->rec, err) < 0)
			return -1;
	}
	if (mg_state_migration_set_phase(ctx->state, v->id, name, err) < 0)
		return -1;
	v->phase = phase;
	return 0;
}

int mg_ctx_registry_changed(struct mg_ctx *ctx, struct mg_err *err)
{
	struct mg_history_write w = {
		.migration_id = MG_REGISTRY_ID, .name = "(colour registry)",
		.checksum = NULL, .phase = "registry", .state_id = ctx->state_id,
	};

	if (before_db_write(ctx, err) < 0 ||
	    mg_db_history_write(ctx->conn, &w, err) < 0)
		return -1;
	return after_db_write(ctx, err);
}

/* ---- what the steps say while they run: JSON lines, live progress ---------------- */

/* Which step of which phase runs, for --json lines and progress readers. */
struct step_ctx {
	struct mg_ctx *ctx;
	const struct mg_view *v;
	const char *pname;
	size_t n;
	long retries;		/* lock-timeout retries of the steps so far */
	int64_t started_unix_ms;
};

/* {"event":"step",...,"step":N,"of":M,"what":"...","status":...} on stderr
 * (docs/json.md); the caller adds its keys to the returned object first
 * when extra is not NULL. */
static void step_line(const struct step_ctx *sc, size_t idx, const struct mg_step *s,
		      const char *status, json_t *extra)
{
	json_t *j;

	if (!sc->ctx->opt->json) {
		json_decref(extra);
		return;
	}
	j = mg_json_event("step", sc->v->name, sc->v->id, sc->pname);
	json_object_set_new(j, "step", json_integer((json_int_t)idx));
	json_object_set_new(j, "of", json_integer((json_int_t)sc->n));
	json_object_set_new(j, "what", json_string(s ? s->description : "record the phase"));
	json_object_set_new(j, "table", mg_json_str(s ? s->table : NULL));
	json_object_set_new(j, "status", json_string(status));
	if (extra)
		json_object_update(j, extra);
	json_decref(extra);
	mg_json_line(j);
}

static void step_publish(const struct step_ctx *sc, const struct mg_step *s,
			 enum mg_progress_state state, const char *reason)
{
	struct mg_progress p = {
		.migration = sc->v->name, .phase = sc->pname,
		.table = s ? s->table : NULL, .step = s ? s->description : NULL,
		.rows_done = 0, .rows_total = 0, .rate = 0, .eta_ms = -1,
		.state = state, .reason = reason, .lock_waits = -1,
		.retries = sc->retries, .held_rows = 0,
		.started_unix_ms = sc->started_unix_ms,
	};

	mg_progress_publish(&p);
}

static void report_step(struct mg_ctx *ctx, size_t idx, size_t n,
			const struct mg_step *s, const struct mg_step_report *rep,
			int64_t ms)
{
	json_array_append_new(ctx->steps, json_pack("{s:i, s:s, s:s, s:I, s:i, s:I}",
		"index", (int)idx, "description", s->description,
		"result", rep->skipped ? "already done" : "done", "ms", (json_int_t)ms,
		"tries", rep->tries, "lock_wait_ms", (json_int_t)rep->stall_ms));
	if (rep->skipped) {
		mg_info("  [%zu/%zu] %s: already done", idx, n, s->description);
		return;
	}
	if (rep->tries > 1)
		mg_info("  [%zu/%zu] %s: done in %lld ms (%d tries, %lld ms waiting for locks)",
			idx, n, s->description, (long long)ms, rep->tries,
			(long long)rep->stall_ms);
	else
		mg_info("  [%zu/%zu] %s: done in %lld ms", idx, n, s->description,
			(long long)ms);
}

/* Name the phase, migration and step an error comes from, and log it. */
static int step_failed(struct step_ctx *sc, size_t idx, const struct mg_step *s,
		       int64_t ms, struct mg_err *err)
{
	struct mg_ctx *ctx = sc->ctx;
	const struct mg_view *v = sc->v;
	const char *pname = sc->pname;
	size_t n = sc->n;
	char idbuf[16];

	step_line(sc, s ? idx : n, s, "failed", json_pack("{s:I, s:i, s:s}", "ms", (json_int_t)ms,
		  "exit", err->code, "error", err->msg));
	step_publish(sc, s, MG_PROGRESS_STOPPED, err->msg);

	if (s)
		mg_err_prefix(err, "%s %s, step %zu of %zu (%s): ", pname,
			      mg_id_str(v->id, idbuf), idx, n, s->description);
	else
		mg_err_prefix(err, "%s %s, after its %zu steps: ", pname,
			      mg_id_str(v->id, idbuf), n);
	mg_ctx_event(ctx, v->id, err->code == MG_EREFUSED ? "refused" : "error",
		     "%s", err->msg);
	return -1;
}

int mg_ctx_run_phase(struct mg_ctx *ctx, struct mg_view *v,
		     const struct mg_plan *plan, enum mg_plan_phase phase,
		     enum mg_phase new_phase, struct mg_err *err)
{
	const char *pname = mg_plan_phase_name(phase);
	size_t n = plan->n_steps[phase];
	size_t done = 0;
	int64_t stall = 0;
	struct step_ctx sc = { ctx, v, pname, n, 0, mg_unix_ms() };

	if (v->hist && v->hist->step_phase && !strcmp(v->hist->step_phase, pname) &&
	    v->phase != new_phase)
		done = (size_t)v->hist->step_index;
	for (size_t i = 0; i < n; i++) {
		const struct mg_step *s = &plan->steps[phase][i];
		struct mg_history_write w = {
			.migration_id = v->id, .name = v->name,
			.checksum = v->has_rec ? v->rec.checksum : NULL,
			.phase = mg_phase_name(v->phase), .step_phase = pname,
			.step_index = (int)(i + 1), .state_id = ctx->state_id,
		};
		struct mg_step_report rep;
		int writes = s->kind != MG_STEP_ASSERT;
		int64_t t0 = mg_now_ms(), ms;

		if (i + 1 <= done) {
			mg_info("  [%zu/%zu] %s: done by an earlier run", i + 1, n, s->description);
			json_array_append_new(ctx->steps, json_pack("{s:i, s:s, s:s}",
				"index", (int)(i + 1), "description", s->description,
				"result", "done by an earlier run"));
			step_line(&sc, i + 1, s, "skipped",
				  json_pack("{s:s}", "why", "done by an earlier run"));
			continue;
		}
		step_line(&sc, i + 1, s, "start", NULL);
		step_publish(&sc, s, MG_PROGRESS_RUNNING, NULL);
		memset(&rep, 0, sizeof(rep));
		if ((writes && before_db_write(ctx, err) < 0) ||
		    mg_db_run_step(ctx->conn, phase, (int)(i + 1), s, writes ? &w : NULL,
				   &rep, err) < 0 ||
		    (writes && after_db_write(ctx, err) < 0) ||
		    mg_state_journal_add(ctx->state, v->id, pname, (int)(i + 1), "done",
					 s->description, err) < 0)
			return step_failed(&sc, i + 1, s, mg_now_ms() - t0, err);
		stall += rep.stall_ms;
		ms = mg_now_ms() - t0;
		if (rep.tries > 1)
			sc.retries += rep.tries - 1;
		report_step(ctx, i + 1, n, s, &rep, ms);
		{
			json_t *x = json_pack("{s:I, s:i, s:I}", "ms", (json_int_t)ms, "tries",
					      rep.tries, "lock_wait_ms", (json_int_t)rep.stall_ms);

			if (rep.skipped)	/* the catalog shows it done */
				json_object_set_new(x, "why", json_string("already done"));
			step_line(&sc, i + 1, s, rep.skipped ? "skipped" : "done", x);
		}
		step_publish(&sc, s, MG_PROGRESS_RUNNING, NULL);
	}
	if (stall > 0)
		mg_info("  waited %lld ms for locks in all", (long long)stall);
	if (mg_ctx_set_phase(ctx, v, new_phase, pname, (int)n, err) < 0)
		return step_failed(&sc, 0, NULL, 0, err);
	step_publish(&sc, NULL, MG_PROGRESS_DONE, NULL);
	return 0;
}

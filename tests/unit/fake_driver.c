/* fake_driver.c - see fake_driver.h. */
#include <stdlib.h>
#include <string.h>

#include "fake_driver.h"

struct fake_db fake_db;

/* The table mg_driver_for_url (drivers/driver.c) picks from. */
const struct mg_driver *const mg_drivers[] = {
	&fake_driver,
	&fake_driver_minimal,
	NULL
};

static void row_release(struct mg_history_row *r)
{
	free(r->name);
	free(r->checksum);
	free(r->phase);
	free(r->step_phase);
	free(r->state_id);
	memset(r, 0, sizeof(*r));
}

static char *dup_or_null(const char *s)
{
	return s ? mg_xstrdup(s) : NULL;
}

void fake_db_reset(const char *fingerprint)
{
	for (size_t i = 0; i < fake_db.n_rows; i++)
		row_release(&fake_db.rows[i]);
	for (size_t i = 0; i < fake_db.n_ran; i++)
		free(fake_db.ran[i]);
	memset(&fake_db, 0, sizeof(fake_db));
	strncpy(fake_db.fingerprint, fingerprint, sizeof(fake_db.fingerprint) - 1);
}

int64_t fake_db_generation(void)
{
	int64_t g = 0;

	for (size_t i = 0; i < fake_db.n_rows; i++)
		if (fake_db.rows[i].generation > g)
			g = fake_db.rows[i].generation;
	return g;
}

const struct mg_history_row *fake_db_row(int id)
{
	for (size_t i = 0; i < fake_db.n_rows; i++)
		if (fake_db.rows[i].id == id)
			return &fake_db.rows[i];
	return NULL;
}

void fake_db_put(int id, const char *name, const char *checksum,
		 const char *phase, const char *step_phase, int step_index,
		 const char *state_id, int64_t gen)
{
	struct mg_history_row *r = (struct mg_history_row *)fake_db_row(id);
	int64_t next = gen > 0 ? gen : fake_db_generation() + 1;

	if (!r) {
		size_t at = fake_db.n_rows++;

		/* keep the rows by id, as the drivers read them */
		while (at > 0 && fake_db.rows[at - 1].id > id) {
			fake_db.rows[at] = fake_db.rows[at - 1];
			at--;
		}
		r = &fake_db.rows[at];
		memset(r, 0, sizeof(*r));
	} else {
		row_release(r);
	}
	r->id = id;
	r->name = dup_or_null(name);
	r->checksum = dup_or_null(checksum);
	r->phase = dup_or_null(phase);
	r->step_phase = dup_or_null(step_phase);
	r->step_index = step_index;
	r->state_id = dup_or_null(state_id);
	r->generation = next;
}

void fake_db_drop(int id)
{
	for (size_t i = 0; i < fake_db.n_rows; i++)
		if (fake_db.rows[i].id == id) {
			row_release(&fake_db.rows[i]);
			memmove(&fake_db.rows[i], &fake_db.rows[i + 1],
				(fake_db.n_rows - i - 1) * sizeof(fake_db.rows[0]));
			fake_db.n_rows--;
			return;
		}
}

/* ---- the driver ------------------------------------------------------------ */

struct fake_conn {
	struct mg_conn base;
};

static int fake_accepts(const char *url)
{
	return strncmp(url, "fake://", 7) == 0;
}

static int fakemin_accepts(const char *url)
{
	return strncmp(url, "fakemin://", 10) == 0;
}

static int fake_connect_as(const struct mg_driver *drv, struct mg_conn **out)
{
	struct fake_conn *fc = mg_xcalloc(1, sizeof(*fc));

	fc->base.drv = drv;
	*out = &fc->base;
	return 0;
}

static int fake_connect(struct mg_conn **out, const char *url,
			const struct mg_conn_opts *opts, struct mg_err *err)
{
	(void)url;
	(void)opts;
	(void)err;
	return fake_connect_as(&fake_driver, out);
}

static int fakemin_connect(struct mg_conn **out, const char *url,
			   const struct mg_conn_opts *opts, struct mg_err *err)
{
	(void)url;
	(void)opts;
	(void)err;
	return fake_connect_as(&fake_driver_minimal, out);
}

static void fake_close(struct mg_conn *c)
{
	free(c);
}

static int fake_fingerprint(struct mg_conn *c, struct mg_buf *out, struct mg_err *err)
{
	(void)c;
	(void)err;
	mg_buf_adds(out, fake_db.fingerprint);
	return 0;
}

static int fake_lock(struct mg_conn *c, struct mg_err *err)
{
	(void)c;
	if (fake_db.lock_held_elsewhere) {
		mg_err_set(err, MG_EDB, "another migrate holds the lock of this database (session 42)");
		return mg_err_hint(err, MG_LOCK_HELD_HINT);
	}
	fake_db.locked = 1;
	return 0;
}

static void fake_unlock(struct mg_conn *c)
{
	(void)c;
	fake_db.locked = 0;
}

static int fake_lock_holder(struct mg_conn *c, struct mg_buf *out, struct mg_err *err)
{
	(void)c;
	(void)err;
	mg_buf_adds(out, "7");
	return 0;
}

static int fake_history_read(struct mg_conn *c, struct mg_history *out,
			     struct mg_err *err)
{
	(void)c;
	(void)err;
	memset(out, 0, sizeof(*out));
	out->exists = fake_db.n_rows > 0;
	out->rows = mg_xcalloc(fake_db.n_rows + 1, sizeof(*out->rows));
	for (size_t i = 0; i < fake_db.n_rows; i++) {
		const struct mg_history_row *r = &fake_db.rows[i];
		struct mg_history_row *o = &out->rows[i];

		*o = *r;
		o->name = dup_or_null(r->name);
		o->checksum = dup_or_null(r->checksum);
		o->phase = dup_or_null(r->phase);
		o->step_phase = dup_or_null(r->step_phase);
		o->state_id = dup_or_null(r->state_id);
	}
	out->n = fake_db.n_rows;
	out->generation = fake_db_generation();
	return 0;
}

static int fake_history_write(struct mg_conn *c, const struct mg_history_write *w,
			      struct mg_err *err)
{
	(void)c;
	(void)err;
	fake_db_put(w->migration_id, w->name, w->checksum, w->phase, w->step_phase,
		    w->step_index, w->state_id, 0);
	return 0;
}

/* A step and its history row commit together, as MG_STEP_TX promises. */
static int fake_run_step(struct mg_conn *c, const struct mg_step *s,
			 const struct mg_history_write *w,
			 struct mg_step_report *rep, struct mg_err *err)
{
	if (fake_db.n_ran >= FAKE_MAX_STEPS)
		return mg_err_set(err, MG_EDB, "fake: too many steps");
	if (fake_db.fail_step && (int)fake_db.n_ran + 1 == fake_db.fail_step) {
		fake_db.fail_step = 0;
		return mg_err_set(err, MG_EDB, "fake: the server went away");
	}
	fake_db.ran[fake_db.n_ran++] = mg_xstrdup(s->sql);
	rep->tries = 1;
	return w ? fake_history_write(c, w, err) : 0;
}

static int fake_count_sessions(struct mg_conn *c, const char *pattern,
			       char *const *except, size_t n_except,
			       int64_t *out, struct mg_err *err)
{
	(void)c;
	(void)pattern;
	(void)except;	/* every fake session is every colour's */
	(void)n_except;
	if (fake_db.sessions_fail && fake_db.sessions_place) {
		mg_err_set(err, MG_EDB, "cannot connect to pooler %s: Connection refused",
			   fake_db.sessions_place);
		return mg_err_hint(err, "check that PgBouncer runs at %s", fake_db.sessions_place);
	}
	if (fake_db.sessions_fail)
		return mg_err_set(err, MG_EDB, "permission denied for pg_stat_activity");
	*out = fake_db.sessions;
	return 0;
}

static int fake_lock_lost(struct mg_conn *c, struct mg_err *err)
{
	(void)c;
	(void)err;
	return 0;
}

static int fake_lock_check(struct mg_conn *c, struct mg_err *err)
{
	(void)c;
	(void)err;
	return 0;
}

const struct mg_driver fake_driver = {
	.name = "fake",
	.version = MG_DRIVER_VERSION,
	.caps = MG_CAP_TRANSACTIONAL_DDL,
	.max_name_len = 63,
	.url_help = "fake://anything",
	.accepts = fake_accepts,
	.connect = fake_connect,
	.close = fake_close,
	.fingerprint = fake_fingerprint,
	.lock = fake_lock,
	.unlock = fake_unlock,
	.lock_holder = fake_lock_holder,
	.lock_lost = fake_lock_lost,
	.lock_check = fake_lock_check,
	.history_read = fake_history_read,
	.history_write = fake_history_write,
	.run_step = fake_run_step,
	.count_sessions = fake_count_sessions,
};

const struct mg_driver fake_driver_minimal = {
	.name = "fakemin",
	.version = MG_DRIVER_VERSION,
	.max_name_len = 30,
	.url_help = "fakemin://anything",
	.accepts = fakemin_accepts,
	.connect = fakemin_connect,
	.close = fake_close,
	.fingerprint = fake_fingerprint,
	.lock = fake_lock,
	.unlock = fake_unlock,
	.lock_holder = fake_lock_holder,
	.history_read = fake_history_read,
	.history_write = fake_history_write,
	.run_step = fake_run_step,
};

/*
 * metrics.c - --metrics-file: the Prometheus text format (version 0.0.4),
 * see metrics.h and docs/metrics.md.
 *
 * Three parts make a file: the snapshot (what `migrate status` reads:
 * phases, backfill checkpoints, colours and their liveness, the contract
 * gate of every switched migration), the live figures of this process's
 * last progress tick, and the record of the last run of each command
 * (carried over from the file's previous contents, so a `status` run keeps
 * what `backfill` wrote about itself).
 *
 * During a run the snapshot is the one taken when the command started (a
 * second reader of the state in the middle of a phase could race the
 * phase's own writes); after the command a fresh one is taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "colour.h"
#include "metrics_int.h"
#include "plan.h"
#include "progress.h"

/* ---- what a file says (the snapshot's parts: metrics_int.h) ----------------- */

#define MAX_LIVE_TABLES 64

struct live {			/* the last progress tick of this process */
	int have;
	char *migration, *phase, *reason;
	struct snap_table tables[MAX_LIVE_TABLES];	/* each table's latest tick */
	size_t n_tables;
	double rate;
	int64_t eta_ms;
	enum mg_progress_state state;
	long lock_waits, retries;
	long long held_rows;
	int64_t at_ms;
};

#define MAX_COMMANDS 32

struct command_record {
	char name[32];
	double at_s, exit_status, duration_s;
	int has_duration;
};

static struct {
	pthread_mutex_t mu;
	char *path;		/* NULL: no --metrics-file */
	char command[32];
	int64_t started_ms;
	int64_t last_write_ms;
	int warned;
	struct metrics_snapshot *start;	/* taken at command start (progress commands) */
	struct live live;
} M = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- snapshot ---------------------------------------------------------------- */

void mg_metrics_snapshot_free(struct metrics_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_migs; i++) {
		for (size_t t = 0; t < s->migs[i].n_tables; t++)
			free(s->migs[i].tables[t].table);
		free(s->migs[i].tables);
		free(s->migs[i].name);
	}
	for (size_t i = 0; i < s->n_colours; i++) {
		free(s->colours[i].name);
		free(s->colours[i].state);
		free(s->colours[i].requires);
	}
	free(s->migs);
	free(s->colours);
	free(s->gates);
	free(s);
}

/* ---- the text format --------------------------------------------------------- */

static void family(struct mg_buf *b, const char *name, const char *type, const char *help)
{
	mg_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(struct mg_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			mg_buf_adds(b, "\\\\");
		else if (*v == '"')
			mg_buf_adds(b, "\\\"");
		else if (*v == '\n')
			mg_buf_adds(b, "\\n");
		else
			mg_buf_addc(b, *v);
	}
}

/* One sample with up to two labels (k2 NULL: one; k1 NULL: none). */
static void sample(struct mg_buf *b, const char *name, const char *k1, const char *v1,
		   const char *k2, const char *v2, double value)
{
	mg_buf_adds(b, name);
	if (k1) {
		mg_buf_addf(b, "{%s=\"", k1);
		label_value(b, v1 ? v1 : "");
		if (k2) {
			mg_buf_addf(b, "\",%s=\"", k2);
			label_value(b, v2 ? v2 : "");
		}
		mg_buf_adds(b, "\"}");
	}
	mg_buf_addf(b, " %.15g\n", value);
}

/* ---- last run of each command ------------------------------------------------ */

/* Parse `NAME{command="C"} V` into records; other lines are ignored. */
static void parse_record_line(const char *line, struct command_record *r, size_t *n)
{
	static const char *names[] = { "migrate_last_command_timestamp_seconds",
				       "migrate_last_command_exit_status",
				       "migrate_last_command_duration_seconds" };
	char cmd[32];
	double v;

	for (int k = 0; k < 3; k++) {
		size_t len = strlen(names[k]);
		size_t i;

		if (strncmp(line, names[k], len) != 0 || strncmp(line + len, "{command=\"", 10) != 0 ||
		    sscanf(line + len + 10, "%31[a-z-]\"} %lf", cmd, &v) != 2)
			continue;
		for (i = 0; i < *n && strcmp(r[i].name, cmd) != 0; i++)
			;
		if (i == *n) {
			if (*n == MAX_COMMANDS)
				return;
			memset(&r[i], 0, sizeof(r[i]));
			snprintf(r[i].name, sizeof(r[i].name), "%s", cmd);
			(*n)++;
		}
		if (k == 0)
			r[i].at_s = v;
		else if (k == 1)
			r[i].exit_status = v;
		else {
			r[i].duration_s = v;
			r[i].has_duration = 1;
		}
	}
}

/* What the file at path says about earlier commands' last runs. */
static size_t read_records(const char *path, struct command_record *r)
{
	FILE *f = fopen(path, "r");
	char line[512];
	size_t n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		parse_record_line(line, r, &n);
	fclose(f);
	return n;
}

static void render_commands(struct mg_buf *b, const struct command_record *r, size_t n,
			    int running)
{
	family(b, "migrate_command_running", "gauge",
	       "1 while this migrate command runs (the file is written during a phase or backfill), 0 once it has ended");
	if (M.command[0])
		sample(b, "migrate_command_running", "command", M.command, NULL, NULL, running);
	family(b, "migrate_last_command_timestamp_seconds", "gauge",
	       "When the last run of each command ended (Unix time)");
	for (size_t i = 0; i < n; i++)
		sample(b, "migrate_last_command_timestamp_seconds", "command", r[i].name, NULL, NULL, r[i].at_s);
	family(b, "migrate_last_command_exit_status", "gauge",
	       "Exit status of the last run of each command: 0 done, 1 refused by a gate, 2 bad input, 3 database or runtime error");
	for (size_t i = 0; i < n; i++)
		sample(b, "migrate_last_command_exit_status", "command", r[i].name, NULL, NULL, r[i].exit_status);
	family(b, "migrate_last_command_duration_seconds", "gauge",
	       "How long the last run of each command took");
	for (size_t i = 0; i < n; i++)
		if (r[i].has_duration)
			sample(b, "migrate_last_command_duration_seconds", "command", r[i].name, NULL, NULL,
			       r[i].duration_s);
}

/* ---- migrations and backfill --------------------------------------------------- */

static const char *const phases[] = { "pending", "expanded", "backfilled", "switched", "contracted" };
static const char *const bf_states[] = { "running", "throttled", "paused", "done", "stopped" };

/* Is the live tick about migration name, and about its backfill? */
static int live_backfill_of(const struct live *l, const char *name)
{
	return l && l->have && !strcmp(l->migration, name) && !strcmp(l->phase, "backfill");
}

/* Rows done and estimated for one migration: per table, the live tick
 * where this process has one (during a run), else the checkpoints. */
static int backfill_rows(const struct snap_migration *m, const struct live *l, int live_rows,
			 double *done, double *estimate)
{
	int any = 0;

	*done = *estimate = 0;
	for (size_t t = 0; m && t < m->n_tables; t++) {
		int seen = 0;

		for (size_t k = 0; live_rows && k < l->n_tables; k++)
			seen |= !strcmp(l->tables[k].table, m->tables[t].table);
		if (seen)
			continue;
		*done += (double)m->tables[t].rows_done;
		*estimate += (double)m->tables[t].estimate;
		any = 1;
	}
	for (size_t k = 0; live_rows && k < l->n_tables; k++) {
		*done += (double)l->tables[k].rows_done;
		*estimate += (double)(l->tables[k].estimate > l->tables[k].rows_done ?
				      l->tables[k].estimate : l->tables[k].rows_done);
		any = 1;
	}
	return any;
}

/* The backfill's state: the live tick's, else from the checkpoints (all
 * parts done: done; some left: stopped, as nothing in this process runs
 * it). -1 when there is nothing to say. */
static int backfill_state(const struct snap_migration *m, const struct live *l, int live)
{
	if (live)
		return (int)l->state;
	if (!m || !m->n_parts)
		return -1;
	return m->parts_done == m->n_parts ? MG_PROGRESS_DONE : MG_PROGRESS_STOPPED;
}

/* A migration known to the snapshot or only to the live tick. */
struct mig_ref {
	const char *name;
	const struct snap_migration *m;	/* NULL: only live */
};

static size_t migration_refs(const struct metrics_snapshot *s, const struct live *l, struct mig_ref **out)
{
	size_t n = 0;
	int live_known = 0;

	*out = mg_xcalloc(s->n_migs + 1, sizeof(**out));
	for (size_t i = 0; i < s->n_migs; i++) {
		(*out)[n].name = s->migs[i].name;
		(*out)[n++].m = &s->migs[i];
		live_known |= l && l->have && !strcmp(l->migration, s->migs[i].name);
	}
	if (l && l->have && !live_known)
		(*out)[n++].name = l->migration;
	return n;
}

static void render_phases(struct mg_buf *b, const struct mig_ref *r, size_t n)
{
	family(b, "migrate_migration_phase", "gauge",
	       "1 for the phase each migration is in (pending, expanded, backfilled, switched, contracted), 0 for the others");
	for (size_t i = 0; i < n; i++)
		for (size_t p = 0; r[i].m && p < 5; p++)
			sample(b, "migrate_migration_phase", "migration", r[i].name, "phase", phases[p],
			       r[i].m->phase == (enum mg_phase)p);
}

/* Families with one series per migration that has backfill figures. The
 * live tick's rows count during a run, and after it for a migration whose
 * checkpoints the snapshot could not read. */
static void render_backfill_rows(struct mg_buf *b, const struct mig_ref *r, size_t n,
				 const struct live *l, int live_rows)
{
	double *done = mg_xcalloc(n + 1, sizeof(*done)), *est = mg_xcalloc(n + 1, sizeof(*est));
	int *any = mg_xcalloc(n + 1, sizeof(*any));

	for (size_t i = 0; i < n; i++) {
		int use_live = live_backfill_of(l, r[i].name) &&
			       (live_rows || !r[i].m || !r[i].m->n_tables);

		any[i] = backfill_rows(r[i].m, l, use_live, &done[i], &est[i]);
	}
	family(b, "migrate_backfill_rows_done", "gauge", "Rows the backfill has copied");
	for (size_t i = 0; i < n; i++)
		if (any[i])
			sample(b, "migrate_backfill_rows_done", "migration", r[i].name, NULL, NULL, done[i]);
	family(b, "migrate_backfill_rows_estimated", "gauge",
	       "Rows the backfill expects to copy in all (re-estimated as it advances)");
	for (size_t i = 0; i < n; i++)
		if (any[i])
			sample(b, "migrate_backfill_rows_estimated", "migration", r[i].name, NULL, NULL, est[i]);
	free(done);
	free(est);
	free(any);
}

static void render_backfill_state(struct mg_buf *b, const struct mig_ref *r, size_t n,
				  const struct live *l)
{
	family(b, "migrate_backfill_state", "gauge",
	       "1 for the backfill's state (running, throttled, paused, done, stopped), 0 for the others");
	for (size_t i = 0; i < n; i++) {
		int st = backfill_state(r[i].m, l, live_backfill_of(l, r[i].name));

		for (int k = 0; st >= 0 && k < 5; k++)
			sample(b, "migrate_backfill_state", "migration", r[i].name, "state", bf_states[k],
			       st == k);
	}
	family(b, "migrate_backfill_throttled", "gauge",
	       "1 while the running backfill is throttled or paused (migrate_backfill_throttle_reason says why)");
	if (live_backfill_of(l, l ? l->migration : ""))
		sample(b, "migrate_backfill_throttled", "migration", l->migration, NULL, NULL,
		       l->state == MG_PROGRESS_THROTTLED || l->state == MG_PROGRESS_PAUSED);
	family(b, "migrate_backfill_throttle_reason", "gauge",
	       "1 with the reason the backfill is throttled or paused, as its progress line says it");
	if (live_backfill_of(l, l ? l->migration : "") && l->reason &&
	    (l->state == MG_PROGRESS_THROTTLED || l->state == MG_PROGRESS_PAUSED))
		sample(b, "migrate_backfill_throttle_reason", "migration", l->migration, "reason", l->reason, 1);
}

/* The live tick's own figures (rate, ETA, waits, retries, held rows). */
static void render_live(struct mg_buf *b, const struct live *l)
{
	int bf = l && l->have && !strcmp(l->phase, "backfill");
	const char *mig = bf ? l->migration : NULL;

	family(b, "migrate_backfill_rate_rows_per_second", "gauge",
	       "Rows per second, moving average over the last ~10 s (this process's running or last backfill)");
	if (bf)
		sample(b, "migrate_backfill_rate_rows_per_second", "migration", mig, NULL, NULL, l->rate);
	family(b, "migrate_backfill_eta_seconds", "gauge",
	       "Seconds until the backfill is done at the current rate; absent while unknown (paused, no rate yet)");
	if (bf && l->eta_ms >= 0 && l->state != MG_PROGRESS_PAUSED)
		sample(b, "migrate_backfill_eta_seconds", "migration", mig, NULL, NULL, (double)l->eta_ms / 1000.0);
	family(b, "migrate_backfill_lock_waits", "gauge",
	       "Sessions waiting for row locks at the backfill's last reading");
	if (bf && l->lock_waits >= 0)
		sample(b, "migrate_backfill_lock_waits", "migration", mig, NULL, NULL, l->lock_waits);
	family(b, "migrate_retries_total", "counter",
	       "Lock-timeout retries of DDL steps and batches in this process's run of the phase");
	if (l && l->have)
		sample(b, "migrate_retries_total", "migration", l->migration, NULL, NULL, l->retries);
	family(b, "migrate_backfill_held_rows", "gauge",
	       "Rows left for a later pass because the application held them");
	if (bf)
		sample(b, "migrate_backfill_held_rows", "migration", mig, NULL, NULL, (double)l->held_rows);
	family(b, "migrate_progress_timestamp_seconds", "gauge",
	       "When this process last reported progress of a phase or backfill (Unix time)");
	if (l && l->have)
		sample(b, "migrate_progress_timestamp_seconds", "migration", l->migration, "phase", l->phase,
		       (double)l->at_ms / 1000.0);
}

/* ---- colours and gates ------------------------------------------------------------ */

static void render_colours(struct mg_buf *b, const struct metrics_snapshot *s)
{
	static const char *const states[] = { "live", "standby", "retired" };

	family(b, "migrate_colour_alive", "gauge",
	       "1 while the colour counts as alive for the gates (registered live or standby, matching sessions, or sessions that cannot be seen)");
	for (size_t i = 0; i < s->n_colours; i++)
		sample(b, "migrate_colour_alive", "colour", s->colours[i].name, NULL, NULL, s->colours[i].alive);
	family(b, "migrate_colour_state", "gauge",
	       "1 for the colour's registered state (live, standby, retired), 0 for the others");
	for (size_t i = 0; i < s->n_colours; i++)
		for (int k = 0; k < 3; k++)
			sample(b, "migrate_colour_state", "colour", s->colours[i].name, "state", states[k],
			       !strcmp(s->colours[i].state, states[k]));
	family(b, "migrate_colour_requires", "gauge",
	       "The schema version (migration id, 0 before any) the colour requires; label requires names it");
	for (size_t i = 0; i < s->n_colours; i++)
		sample(b, "migrate_colour_requires", "colour", s->colours[i].name, "requires",
		       s->colours[i].requires, s->colours[i].requires_id);
	family(b, "migrate_colour_stale", "gauge",
	       "1 when the colour has a --ttl and its last heartbeat is older (it still counts as alive)");
	for (size_t i = 0; i < s->n_colours; i++)
		sample(b, "migrate_colour_stale", "colour", s->colours[i].name, NULL, NULL, s->colours[i].stale);
	family(b, "migrate_colour_valid", "gauge",
	       "0 when the colour's required migration was rolled back or re-expanded since it was registered (register it again)");
	for (size_t i = 0; i < s->n_colours; i++)
		sample(b, "migrate_colour_valid", "colour", s->colours[i].name, NULL, NULL, s->colours[i].valid);
	family(b, "migrate_colour_matching_sessions", "gauge",
	       "Database sessions matching the colour's --match pattern; absent without a pattern or when they cannot be seen");
	for (size_t i = 0; i < s->n_colours; i++)
		if (s->colours[i].has_pattern && s->colours[i].sessions >= 0)
			sample(b, "migrate_colour_matching_sessions", "colour", s->colours[i].name, NULL, NULL,
			       (double)s->colours[i].sessions);
	family(b, "migrate_colour_heartbeat_age_seconds", "gauge",
	       "Seconds since the colour's last heartbeat; absent when it never sent one");
	for (size_t i = 0; i < s->n_colours; i++)
		if (s->colours[i].heartbeat_age_s >= 0)
			sample(b, "migrate_colour_heartbeat_age_seconds", "colour", s->colours[i].name, NULL, NULL,
			       (double)s->colours[i].heartbeat_age_s);
}

/* A colour blocks contract of m when it is alive and the gate's rule
 * says so; mg_gate_contract's verdict (g->safe) decides, this only names
 * the colours. */
static int blocks_contract(const struct snap_colour *c, int m)
{
	return c->alive && mg_colour_blocks_contract(c->requires_id, m);
}

static void render_gates(struct mg_buf *b, const struct metrics_snapshot *s)
{
	family(b, "migrate_contract_safe", "gauge",
	       "For each switched migration: 1 when 'migrate contract' would pass the colour gate now, 0 when an alive colour blocks it");
	for (size_t i = 0; i < s->n_gates; i++)
		if (s->gates[i].safe >= 0)
			sample(b, "migrate_contract_safe", "migration", s->gates[i].name, NULL, NULL, s->gates[i].safe);
	family(b, "migrate_contract_blocked_by", "gauge",
	       "1 for each alive colour that blocks contract of a switched migration (it requires an older schema)");
	for (size_t i = 0; i < s->n_gates; i++)
		for (size_t c = 0; s->gates[i].safe == 0 && c < s->n_colours; c++)
			if (blocks_contract(&s->colours[c], s->gates[i].id))
				sample(b, "migrate_contract_blocked_by", "migration", s->gates[i].name,
				       "colour", s->colours[c].name, 1);
	family(b, "migrate_readable_schema_low", "gauge",
	       "Lowest schema version an application may require now (highest contracted migration id)");
	if (s->have_window)
		sample(b, "migrate_readable_schema_low", NULL, NULL, NULL, NULL, s->window_low);
	family(b, "migrate_readable_schema_high", "gauge",
	       "Highest schema version an application may require now (every migration up to it switched)");
	if (s->have_window)
		sample(b, "migrate_readable_schema_high", NULL, NULL, NULL, NULL, s->window_high);
}

/* ---- the whole file ------------------------------------------------------------------ */

static void render_head(struct mg_buf *b, const struct metrics_snapshot *s)
{
	family(b, "migrate_info", "gauge", "Always 1; label version is migrate's version");
	sample(b, "migrate_info", "version", MIGRATE_VERSION, NULL, NULL, 1);
	family(b, "migrate_database_reachable", "gauge",
	       "1 when the figures were read with the database (and the state file matches it); 0 when they come from the state file alone: run 'migrate status' to see why");
	if (s->db_configured)
		sample(b, "migrate_database_reachable", NULL, NULL, NULL, NULL, s->reachable);
	family(b, "migrate_state_file_present", "gauge", "1 when the state file exists");
	sample(b, "migrate_state_file_present", NULL, NULL, NULL, NULL, s->state_present);
}

/*
 * The file: the snapshot s, the live tick l (NULL: none), the earlier
 * commands' records r, and whether the command still runs. live_rows: the
 * rows come from the live tick (during a run) rather than from the
 * checkpoints (after it, when they are written).
 */
static void render(struct mg_buf *b, const struct metrics_snapshot *s, const struct live *l,
		   const struct command_record *r, size_t n_r, int running, int live_rows)
{
	struct mig_ref *refs;
	size_t n = migration_refs(s, l, &refs);

	render_head(b, s);
	render_commands(b, r, n_r, running);
	render_phases(b, refs, n);
	render_backfill_rows(b, refs, n, l, live_rows);
	render_backfill_state(b, refs, n, l);
	render_live(b, l);
	render_colours(b, s);
	render_gates(b, s);
	free(refs);
}

/* ---- writing atomically ------------------------------------------------------------------ */

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sync the directory holding path, so that the rename survives a crash. */
static void sync_dir_of(const char *path)
{
	char *dir = mg_xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd;

	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/*
 * Write text to PATH.tmp.<pid> in PATH's directory, fsync it, and rename
 * it over PATH: a reader (node_exporter) sees the old file or the new one,
 * never a part. Mode 0644 whatever the umask. 0, or -1 with errno set
 * (the temporary file removed).
 */
static int write_atomically(const char *path, const char *text, size_t len)
{
	char *tmp = mg_xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = -1, saved;

	if (fd < 0)
		goto out;
	if (fchmod(fd, 0644) < 0 || write_all(fd, text, len) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		goto out;
	}
	sync_dir_of(path);
	rc = 0;
out:
	free(tmp);
	return rc;
}

/* Render and write; a failure is warned about once per process. Called
 * with M.mu held. */
static void write_file(const struct metrics_snapshot *s, const struct live *l, int running,
		       int live_rows, const char *done_command, int rc)
{
	struct command_record r[MAX_COMMANDS + 1];
	size_t n = read_records(M.path, r), i;
	struct mg_buf b = MG_BUF_INIT;
	int64_t now = mg_unix_ms();

	if (done_command) {
		for (i = 0; i < n && strcmp(r[i].name, done_command) != 0; i++)
			;
		if (i == n && n < MAX_COMMANDS + 1)
			snprintf(r[n++].name, sizeof(r[i].name), "%s", done_command);
		if (i < n) {
			r[i].at_s = (double)now / 1000.0;
			r[i].exit_status = rc;
			r[i].duration_s = (double)(now - M.started_ms) / 1000.0;
			r[i].has_duration = M.started_ms > 0;
		}
	}
	render(&b, s, l, r, n, running, live_rows);
	if (write_atomically(M.path, b.buf, b.len) < 0 && !M.warned) {
		M.warned = 1;
		mg_warn("cannot write metrics file '%s': %s (the command goes on; check the directory exists and is writable)",
			M.path, strerror(errno));
	}
	M.last_write_ms = now;
	mg_buf_release(&b);
}

/* ---- entry points ----------------------------------------------------------------------- */

static void live_clear(struct live *l)
{
	free(l->migration);
	free(l->phase);
	free(l->reason);
	for (size_t i = 0; i < l->n_tables; i++)
		free(l->tables[i].table);
	memset(l, 0, sizeof(*l));
}

/* Keep the tick's figures; per table for the rows (a backfill moves from
 * table to table: the file sums them). */
static void live_update(struct live *l, const struct mg_progress *p)
{
	if (!l->have || strcmp(l->migration, p->migration ? p->migration : "") != 0 ||
	    strcmp(l->phase, p->phase ? p->phase : "") != 0) {
		live_clear(l);
		l->migration = mg_xstrdup(p->migration ? p->migration : "");
		l->phase = mg_xstrdup(p->phase ? p->phase : "");
		l->have = 1;
	}
	free(l->reason);
	l->reason = p->reason ? mg_xstrdup(p->reason) : NULL;
	if (p->table && (p->rows_total > 0 || p->rows_done > 0)) {
		size_t k;

		for (k = 0; k < l->n_tables && strcmp(l->tables[k].table, p->table) != 0; k++)
			;
		if (k == l->n_tables && k < MAX_LIVE_TABLES)
			l->tables[l->n_tables++].table = mg_xstrdup(p->table);
		if (k < l->n_tables) {
			l->tables[k].rows_done = p->rows_done;
			l->tables[k].estimate = p->rows_total;
		}
	}
	l->rate = p->rate;
	l->eta_ms = p->eta_ms;
	l->state = p->state;
	l->lock_waits = p->lock_waits;
	l->retries = p->retries;
	l->held_rows = p->held_rows;
	l->at_ms = mg_unix_ms();
}

void mg_metrics_progress(const struct mg_progress *p)
{
	static const struct metrics_snapshot empty;
	int last;

	pthread_mutex_lock(&M.mu);
	if (!M.path)
		goto out;
	live_update(&M.live, p);
	last = p->state == MG_PROGRESS_DONE || p->state == MG_PROGRESS_STOPPED;
	if (last || mg_unix_ms() - M.last_write_ms >= 1000)
		write_file(M.start ? M.start : &empty, &M.live, 1, 1, NULL, 0);
out:
	pthread_mutex_unlock(&M.mu);
}

void mg_metrics_begin(const char *path, const char *command, struct metrics_snapshot *start)
{
	pthread_mutex_lock(&M.mu);
	free(M.path);
	M.path = path ? mg_xstrdup(path) : NULL;
	if (M.path)	/* progress.c calls only the readers that registered */
		mg_progress_add_reader(mg_metrics_progress);
	snprintf(M.command, sizeof(M.command), "%s", command);
	M.started_ms = mg_unix_ms();
	mg_metrics_snapshot_free(M.start);
	M.start = start;
	live_clear(&M.live);
	pthread_mutex_unlock(&M.mu);
}

void mg_metrics_end(const char *path, const char *command, int rc, struct metrics_snapshot *s)
{
	pthread_mutex_lock(&M.mu);
	if (!M.path || strcmp(M.path, path) != 0) {
		free(M.path);
		M.path = mg_xstrdup(path);
	}
	snprintf(M.command, sizeof(M.command), "%s", command);
	write_file(s, &M.live, 0, 0, command, rc);
	mg_metrics_snapshot_free(s);
	mg_metrics_snapshot_free(M.start);
	M.start = NULL;
	live_clear(&M.live);
	pthread_mutex_unlock(&M.mu);
}

/*
 * runinfo.c - who holds the state file's lock, and its live progress: see
 * runinfo.h.
 *
 * Nothing here may fail a command: the record and the progress file help
 * an operator, the lock itself is what protects the target. A record that
 * cannot be written leaves the pid line (what older versions wrote); a
 * progress file that cannot be written is warned about once.
 */
#include "runinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"	/* mg_redact_url */
#include "progress.h"

/* progress is written at most this often, unless the phase, step or
 * state changes */
#define PROGRESS_EVERY_MS 1000

/* ---- this process ---------------------------------------------------------- */

static struct {
	char command[64];
	char what[512];
	char migration[128];
	int wait_ms;
	char *held;		/* state path whose lock this process holds */
	int fd;			/* its lock file */
	int waited;		/* the lock was waited for */
	int64_t started_unix_ms;
	char started_at[32];
	/* the last progress written, to write changes at once */
	int64_t written_ms;
	char phase[32], step[512];
	int state;
	int warned;
} self = { .state = -1 };

/* A command that acts on one migration named by its first argument. */
static int takes_migration(const char *command)
{
	static const char *const cmds[] = { "expand", "backfill", "switch-reads",
					    "contract", "rollback", NULL };

	for (int i = 0; cmds[i]; i++)
		if (!strcmp(cmds[i], command))
			return 1;
	return 0;
}

/*
 * One argument as it may be shown: a URL anywhere in it (--database=URL,
 * -dURL) loses its password, and so does a conninfo string (password=...).
 */
static char *redact_arg(const char *a)
{
	const char *sep = strstr(a, "://"), *start;
	char *tail, *out;

	if (!sep)
		return mg_redact_url(a);
	for (start = sep; start > a; start--) {
		char c = start[-1];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.')
			break;
	}
	/* "--database" is not part of a scheme: a scheme starts with a letter */
	while (start < sep && !((*start >= 'a' && *start <= 'z') ||
				(*start >= 'A' && *start <= 'Z')))
		start++;
	tail = mg_redact_url(start);
	out = mg_xasprintf("%.*s%s", (int)(start - a), a, tail);
	free(tail);
	return out;
}

static void add_shell_word(struct mg_buf *b, const char *w)
{
	if (*w && !w[strcspn(w, " \t\n'\"\\$`;&|<>()*?")]) {
		mg_buf_adds(b, w);
		return;
	}
	mg_buf_addc(b, '\'');
	for (const char *p = w; *p; p++) {
		if (*p == '\'')
			mg_buf_adds(b, "'\\''");
		else
			mg_buf_addc(b, *p);
	}
	mg_buf_addc(b, '\'');
}

/* This process's argv from /proc (the options parser keeps no copy), each
 * argument redacted, the program as "migrate". */
static char *own_command_line(void)
{
	struct mg_buf b = MG_BUF_INIT, raw = MG_BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		while ((n = read(fd, chunk, sizeof(chunk))) > 0)
			mg_buf_add(&raw, chunk, (size_t)n);
		close(fd);
	}
	mg_buf_adds(&b, "migrate");
	for (size_t off = raw.len ? strlen(raw.buf) + 1 : 0; off < raw.len;
	     off += strlen(raw.buf + off) + 1) {
		char *r = redact_arg(raw.buf + off);

		mg_buf_addc(&b, ' ');
		add_shell_word(&b, r);
		free(r);
	}
	mg_buf_release(&raw);
	return mg_buf_detach(&b);
}

void mg_runinfo_setup(const struct mg_options *opt, const char *command)
{
	struct mg_buf what = MG_BUF_INIT;

	snprintf(self.command, sizeof(self.command), "%s", command ? command : "");
	mg_buf_adds(&what, self.command);
	for (int i = 0; i < opt->n_args; i++) {
		char *r = redact_arg(opt->args[i]);

		mg_buf_addc(&what, ' ');
		add_shell_word(&what, r);
		free(r);
	}
	snprintf(self.what, sizeof(self.what), "%s", what.buf);
	mg_buf_release(&what);
	self.migration[0] = '\0';
	if (opt->n_args > 0 && takes_migration(self.command))
		snprintf(self.migration, sizeof(self.migration), "%s", opt->args[0]);
	self.wait_ms = opt->wait_lock_ms > 0 ? opt->wait_lock_ms : 0;
}

int mg_runinfo_wait_ms(void)
{
	return self.wait_ms;
}

/* ---- the record in the lock file ----------------------------------------------- */

static char *sidecar_path(const char *state_path)
{
	return mg_xasprintf("%s.run.json", state_path);
}

static json_t *own_record(void)
{
	char host[256] = "";
	char *line = own_command_line();
	json_t *rec;

	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	rec = json_pack("{s:s, s:I, s:s, s:s, s:s, s:o, s:s, s:I}",
			"host", host, "pid", (json_int_t)getpid(),
			"command", self.command, "what", self.what,
			"command_line", line,
			"migration", self.migration[0] ? json_string(self.migration) : json_null(),
			"started_at", self.started_at,
			"started_unix_ms", (json_int_t)self.started_unix_ms);
	free(line);
	return rec;
}

static int write_record(int fd)
{
	json_t *rec;
	char *js, *text;
	ssize_t n;
	size_t len;

	rec = own_record();
	js = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	/* the pid alone on the first line: older migrate versions read it */
	text = mg_xasprintf("%ld\n%s\n", (long)getpid(), js ? js : "{}");
	free(js);
	len = strlen(text);
	errno = 0;
	/* over the old record, then cut to size: a reader never sees an
	 * empty file */
	if ((n = pwrite(fd, text, len, 0)) != (ssize_t)len || ftruncate(fd, (off_t)len) != 0) {
		if (!errno)
			errno = ENOSPC;	/* a short write */
		free(text);
		return -1;
	}
	free(text);
	return 0;
}

int mg_runinfo_write_lock(int fd, const char *state_path)
{
	self.started_unix_ms = mg_unix_ms();
	mg_iso_time(self.started_at);
	free(self.held);
	self.held = mg_xstrdup(state_path);
	self.fd = fd;
	self.written_ms = 0;
	self.state = -1;
	return write_record(fd);
}

void mg_runinfo_set_migration(const char *migration)
{
	snprintf(self.migration, sizeof(self.migration), "%s", migration);
	if (self.held)
		write_record(self.fd);	/* best effort: the pid line stays */
}

int mg_runinfo_lock_waited(void)
{
	return self.waited;
}

void mg_runinfo_note_waited(void)
{
	self.waited = 1;
}

void mg_runinfo_released(const char *state_path)
{
	char *p;

	if (!self.held || strcmp(self.held, state_path) != 0)
		return;
	p = sidecar_path(state_path);
	unlink(p);
	free(p);
	free(self.held);
	self.held = NULL;
}

/* ---- live progress ------------------------------------------------------------ */

static int progress_changed(const struct mg_progress *p)
{
	return (int)p->state != self.state ||
	       strcmp(self.phase, p->phase ? p->phase : "") != 0 ||
	       strcmp(self.step, p->step ? p->step : "") != 0;
}

static json_t *progress_json(const struct mg_progress *p)
{
	char now[32];

	mg_iso_time(now);
	return json_pack("{s:o, s:o, s:o, s:o, s:I, s:I, s:f, s:I, s:s, s:o, s:i, s:i, s:I, s:I, s:I, s:s}",
		"migration", p->migration ? json_string(p->migration) : json_null(),
		"phase", p->phase ? json_string(p->phase) : json_null(),
		"table", p->table ? json_string(p->table) : json_null(),
		"step", p->step ? json_string(p->step) : json_null(),
		"rows_done", (json_int_t)p->rows_done,
		"rows_total", (json_int_t)p->rows_total,
		"rate", p->rate,
		"eta_ms", (json_int_t)p->eta_ms,
		"state", mg_progress_state_name(p->state),
		"reason", p->reason ? json_string(p->reason) : json_null(),
		"lock_waits", (int)p->lock_waits, "retries", (int)p->retries,
		"held_rows", (json_int_t)p->held_rows,
		"started_unix_ms", (json_int_t)p->started_unix_ms,
		"updated_unix_ms", (json_int_t)mg_unix_ms(),
		"updated_at", now);
}

/* Write to a temporary file and rename it over path, so a reader sees the
 * old figures or the new ones, never half of them. */
static int replace_file(const char *path, const char *text)
{
	char *tmp = mg_xasprintf("%s.%ld.tmp", path, (long)getpid());
	size_t len = strlen(text);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;

	if (fd >= 0 && close(fd) != 0)
		ok = 0;
	if (ok && rename(tmp, path) != 0)
		ok = 0;
	if (!ok)
		unlink(tmp);
	free(tmp);
	return ok ? 0 : -1;
}

void mg_runinfo_progress(const struct mg_progress *p)
{
	int64_t now = mg_now_ms();
	json_t *doc;
	char *path, *text;

	if (!self.held || (!progress_changed(p) && self.written_ms &&
			   now - self.written_ms < PROGRESS_EVERY_MS))
		return;
	self.written_ms = now;
	self.state = (int)p->state;
	snprintf(self.phase, sizeof(self.phase), "%s", p->phase ? p->phase : "");
	snprintf(self.step, sizeof(self.step), "%s", p->step ? p->step : "");
	doc = progress_json(p);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	path = sidecar_path(self.held);
	if ((!text || replace_file(path, text) < 0) && !self.warned) {
		self.warned = 1;
		mg_warn("cannot write the live progress to '%s': %s (status will not show this run's progress)",
			path, strerror(errno));
	}
	free(text);
	free(path);
}

/* ---- reading ------------------------------------------------------------------ */

static void copy_str(char *out, size_t size, json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));

	snprintf(out, size, "%s", v ? v : "");
}

static long long get_int(json_t *obj, const char *key, long long dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? (long long)json_number_value(v) : dflt;
}

/* Whether someone holds the lock now: a shared lock that can be taken at
 * once means nobody does (it is let go again at once; a locker that
 * tries in that instant tries again, see state_open.c). */
static int lock_is_held(const char *lockpath)
{
	int fd = open(lockpath, O_RDONLY | O_CLOEXEC), held = 0;

	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		held = errno == EWOULDBLOCK;
	close(fd);
	return held;
}

static void read_progress(const char *state_path, struct mg_runinfo *out)
{
	char *path = sidecar_path(state_path);
	json_t *doc = json_load_file(path, 0, NULL);

	free(path);
	if (!json_is_object(doc) || get_int(doc, "updated_unix_ms", 0) < out->started_unix_ms) {
		json_decref(doc);	/* an earlier run's, left by a crash */
		return;
	}
	out->has_progress = 1;
	copy_str(out->phase, sizeof(out->phase), doc, "phase");
	copy_str(out->table, sizeof(out->table), doc, "table");
	copy_str(out->step, sizeof(out->step), doc, "step");
	copy_str(out->state, sizeof(out->state), doc, "state");
	copy_str(out->reason, sizeof(out->reason), doc, "reason");
	if (json_is_string(json_object_get(doc, "migration")))
		copy_str(out->migration, sizeof(out->migration), doc, "migration");
	out->rows_done = get_int(doc, "rows_done", 0);
	out->rows_total = get_int(doc, "rows_total", 0);
	out->rate = json_number_value(json_object_get(doc, "rate"));
	out->eta_ms = get_int(doc, "eta_ms", -1);
	out->updated_unix_ms = get_int(doc, "updated_unix_ms", 0);
	json_decref(doc);
}

int mg_runinfo_read(const char *state_path, struct mg_runinfo *out)
{
	char *lockpath = mg_xasprintf("%s.lock", state_path);
	char buf[8192];
	json_t *rec;
	ssize_t n;
	int fd;

	memset(out, 0, sizeof(*out));
	out->eta_ms = -1;
	fd = open(lockpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(lockpath);
		return 0;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	out->live = lock_is_held(lockpath);
	free(lockpath);
	out->pid = strtol(buf, NULL, 10);
	rec = strchr(buf, '\n') ? json_loads(strchr(buf, '\n') + 1, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	if (!json_is_object(rec)) {
		json_decref(rec);
		return 0;
	}
	copy_str(out->host, sizeof(out->host), rec, "host");
	copy_str(out->command, sizeof(out->command), rec, "command");
	copy_str(out->what, sizeof(out->what), rec, "what");
	copy_str(out->command_line, sizeof(out->command_line), rec, "command_line");
	copy_str(out->migration, sizeof(out->migration), rec, "migration");
	copy_str(out->started_at, sizeof(out->started_at), rec, "started_at");
	out->started_unix_ms = get_int(rec, "started_unix_ms", 0);
	json_decref(rec);
	if (out->live)
		read_progress(state_path, out);
	return 1;
}

/* ---- showing ------------------------------------------------------------------ */

/* 176000 -> "176,000" */
static void add_grouped(struct mg_buf *b, long long v)
{
	char digits[32];
	int n, i;

	if (v < 0) {
		mg_buf_addc(b, '-');
		v = -v;
	}
	n = snprintf(digits, sizeof(digits), "%lld", v);
	for (i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			mg_buf_addc(b, ',');
		mg_buf_addc(b, digits[i]);
	}
}

/* "10:02:11 UTC", with the date when it is not within the last day */
static void add_clock(struct mg_buf *b, int64_t unix_ms, int64_t now_ms)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), now_ms - unix_ms < 20 * 3600 * 1000LL ? "%H:%M:%S" :
		 "%Y-%m-%d %H:%M:%S", &tm);
	mg_buf_addf(b, "%s UTC", s);
}

void mg_runinfo_describe(const struct mg_runinfo *ri, struct mg_buf *out)
{
	int64_t now = mg_unix_ms();
	char ago[32];

	const char *what = ri->what[0] ? ri->what : ri->command;

	if (what[0])
		mg_buf_addf(out, "`migrate %s`", what);
	else
		mg_buf_adds(out, "a migrate whose command was not recorded");
	mg_buf_addf(out, " on host %s (pid %ld), %s ", ri->host[0] ? ri->host : "unknown",
		    ri->pid, ri->live ? "running since" : "started");
	if (!ri->started_unix_ms) {
		mg_buf_adds(out, ri->started_at[0] ? ri->started_at : "(unknown)");
		return;
	}
	mg_format_duration(ago, now > ri->started_unix_ms ? now - ri->started_unix_ms : 0);
	add_clock(out, ri->started_unix_ms, now);
	mg_buf_addf(out, " (%s ago)", ago);
	if (!ri->live)
		mg_buf_adds(out, ", ended (it no longer holds the lock)");
}

void mg_runinfo_progress_line(const struct mg_runinfo *ri, struct mg_buf *out)
{
	int64_t now = mg_unix_ms();
	char d[32];

	if (!ri->has_progress)
		return;
	mg_buf_adds(out, ri->phase[0] ? ri->phase : ri->command);
	if (ri->migration[0])
		mg_buf_addf(out, " %s", ri->migration);
	if (ri->table[0])
		mg_buf_addf(out, " of %s", ri->table);
	if (ri->step[0])
		mg_buf_addf(out, ": %s", ri->step);
	if (ri->rows_total > 0 || ri->rows_done > 0) {
		if (ri->rows_total > 0) {
			long long pct = ri->rows_done * 100 / ri->rows_total;

			mg_buf_addf(out, " %lld%%", pct > 100 ? 100 : pct);
		}
		mg_buf_adds(out, " (");
		add_grouped(out, ri->rows_done);
		if (ri->rows_total > 0) {
			mg_buf_addc(out, '/');
			add_grouped(out, ri->rows_total);
		}
		mg_buf_adds(out, " rows, ");
		add_grouped(out, (long long)(ri->rate + 0.5));
		mg_buf_adds(out, " rows/s");
		if (ri->eta_ms >= 0 && !strcmp(ri->state, "running")) {
			mg_format_duration(d, ri->eta_ms);
			mg_buf_addf(out, ", ETA %s", d);
		}
		mg_buf_addc(out, ')');
	}
	if (ri->state[0] && strcmp(ri->state, "running") != 0)
		mg_buf_addf(out, ", %s%s%s", ri->state, ri->reason[0] ? ": " : "", ri->reason);
	if (ri->updated_unix_ms && now - ri->updated_unix_ms > 30000) {
		mg_format_duration(d, now - ri->updated_unix_ms);
		mg_buf_addf(out, " (last update %s ago)", d);
	}
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

json_t *mg_runinfo_json(const struct mg_runinfo *ri)
{
	json_t *doc = json_pack("{s:s, s:I, s:s, s:s, s:o, s:o, s:o}",
		"host", ri->host, "pid", (json_int_t)ri->pid,
		"command", ri->command, "command_line", ri->command_line,
		"migration", str_or_null(ri->migration),
		"started_at", str_or_null(ri->started_at),
		"progress", json_null());
	struct mg_buf line = MG_BUF_INIT;

	if (ri->has_progress) {
		mg_runinfo_progress_line(ri, &line);
		json_object_set_new(doc, "progress", json_pack("{s:o, s:o, s:o, s:I, s:I, s:f, s:o, s:s, s:o, s:I, s:s}",
			"phase", str_or_null(ri->phase), "table", str_or_null(ri->table),
			"step", str_or_null(ri->step),
			"rows_done", (json_int_t)ri->rows_done,
			"rows_total", (json_int_t)ri->rows_total, "rate", ri->rate,
			"eta_ms", ri->eta_ms >= 0 ? json_integer(ri->eta_ms) : json_null(),
			"state", ri->state, "reason", str_or_null(ri->reason),
			"updated_unix_ms", (json_int_t)ri->updated_unix_ms,
			"text", line.buf));
	}
	mg_buf_release(&line);
	return doc;
}

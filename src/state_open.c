/*
 * state_open.c - opening, checking and creating the SQLite state store
 * (design §5); the records are in state.c.
 *
 * The exclusive lock is a flock() on a separate "<path>.lock" file rather
 * than on the database itself: SQLite's own locks are released between
 * transactions, ours must last for the whole command, and flock() goes away
 * with the process, so a crashed run never leaves a stale lock.
 */
#include "state_int.h"

#include "runinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA_VERSION 1
#define STR_(x) #x
#define STR(x) STR_(x)

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta ("
	" key TEXT PRIMARY KEY,"
	" value TEXT);"
	"CREATE TABLE IF NOT EXISTS migrations ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT,"
	" checksum TEXT,"
	" phase TEXT NOT NULL,"
	" plan_json TEXT,"
	" expanded_at TEXT,"
	" backfilled_at TEXT,"
	" switched_at TEXT,"
	" contracted_at TEXT,"
	" updated_at TEXT,"
	" ran_by TEXT);"
	"CREATE TABLE IF NOT EXISTS journal ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" migration_id INTEGER NOT NULL,"
	" phase TEXT NOT NULL,"
	" step_index INTEGER NOT NULL,"
	" status TEXT NOT NULL,"
	" description TEXT,"
	" at TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS journal_migration"
	" ON journal (migration_id, phase);"
	"CREATE TABLE IF NOT EXISTS checkpoints ("
	" migration_id INTEGER NOT NULL,"
	" table_name TEXT NOT NULL,"
	" part INTEGER NOT NULL,"
	" last_key_json TEXT,"
	" upto_key_json TEXT,"
	" rows_done INTEGER NOT NULL DEFAULT 0,"
	" estimate INTEGER NOT NULL DEFAULT 0,"
	" done INTEGER NOT NULL DEFAULT 0,"
	" updated_at TEXT,"
	" PRIMARY KEY (migration_id, table_name, part));"
	"CREATE TABLE IF NOT EXISTS events ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" at TEXT NOT NULL,"
	" command TEXT,"
	" migration_id INTEGER,"
	" colour TEXT,"
	" result TEXT,"
	" message TEXT);"
	"CREATE TABLE IF NOT EXISTS colours ("
	" name TEXT PRIMARY KEY,"
	" app_version TEXT,"
	" requires_id INTEGER,"
	" requires_checksum TEXT,"
	" state TEXT,"
	" match_pattern TEXT,"
	" ttl_s INTEGER,"
	" registered_at TEXT,"
	" updated_at TEXT,"
	" heartbeat_at TEXT);";

/* ---- opening, creating and locking --------------------------------------- */

/* mkdir -p for the directory that holds path. */
static int make_parent(const char *path, struct mg_err *err)
{
	char *dir = mg_xstrdup(path);
	char *slash = strrchr(dir, '/');
	char *p, c;
	int ret = 0;

	if (!slash || slash == dir)
		goto out;
	*slash = '\0';
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
			ret = mg_err_set(err, MG_EDB,
					 "cannot create directory '%s' for state file '%s': %s",
					 dir, path, mg_state_errstr(errno));
			goto out;
		}
		*p = c;
		if (!c)
			break;
	}
out:
	free(dir);
	return ret;
}

/* ---- the lock ---------------------------------------------------------------- */

/* A reader (status) checks whether the lock is held by taking a shared
 * lock for an instant: a locker that meets it tries again this long
 * before it calls the lock taken. */
#define LOCK_RECHECK_MS 200
/* --wait-lock: how often the lock is tried, and a line said while waiting */
#define LOCK_POLL_MS 100
#define LOCK_SAY_EVERY_MS 30000

/* 1 locked, 0 someone else holds it, -1 error (errno). */
static int try_lock(int fd)
{
	int64_t until = mg_now_ms() + LOCK_RECHECK_MS;

	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 1;
		if (errno != EWOULDBLOCK)
			return -1;
		if (mg_now_ms() >= until)
			return 0;
		mg_sleep_ms(10);
	}
}

/* ": `migrate backfill 0003` on host h (pid n), running since ...;
 * backfill of ... 41% (...)", or " (pid n)" for an older migrate's lock. */
static void describe_holder(const char *path, struct mg_buf *out, struct mg_runinfo *ri)
{
	if (mg_runinfo_read(path, ri) == 1) {
		mg_buf_adds(out, ": ");
		mg_runinfo_describe(ri, out);
		if (ri->has_progress) {
			mg_buf_adds(out, "; ");
			mg_runinfo_progress_line(ri, out);
		}
	} else if (ri->pid > 0) {
		mg_buf_addf(out, " (pid %ld)", ri->pid);
	}
}

static int lock_refused(struct mg_state *s, const char *lockpath, int waited_ms,
			struct mg_err *err)
{
	struct mg_buf who = MG_BUF_INIT;
	struct mg_runinfo ri;
	char waited[32], check[64];

	describe_holder(s->path, &who, &ri);
	mg_format_duration(waited, waited_ms);
	mg_err_set(err, MG_EDB, "state file '%s' is locked by another migrate%s%s%s",
		   s->path, waited_ms ? " (still, after waiting " : "",
		   waited_ms ? waited : "", waited_ms ? ")" : "");
	snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
		 "%s", who.buf);
	mg_buf_release(&who);
	/* flock() locks end with their process (also on NFS and EFS, where the
	 * server lets them go once the client is gone): the holder runs */
	if (ri.pid <= 0)
		snprintf(check, sizeof(check), "'lslocks' there");
	else
		snprintf(check, sizeof(check), "'ps -p %ld' there", ri.pid);
	return mg_err_hint(err,
			   "only one migrate may change a target at a time: wait for it to finish and run the command again, or add --wait-lock DURATION (e.g. --wait-lock 10m) to wait for it. The lock is held only while that process lives (on %s, or another host that shares this file system; check with %s): if that host is gone, the lock goes with it; deleting '%s' does not end a lock, it lets a second run start beside the first",
			   ri.host[0] ? ri.host : "its host", check, lockpath);
}

static void say_waiting(const struct mg_state *s, int first, int64_t waited_ms)
{
	struct mg_buf who = MG_BUF_INIT;
	struct mg_runinfo ri;
	char d[32], left[32];

	describe_holder(s->path, &who, &ri);
	mg_format_duration(d, waited_ms);
	mg_format_duration(left, mg_runinfo_wait_ms() - waited_ms);
	if (first)
		mg_info("state file '%s' is locked by another migrate%s: waiting up to %s for it (--wait-lock)",
			s->path, who.buf, left);
	else
		mg_info("still waiting for the lock of '%s' (%s so far, %s left)%s", s->path, d,
			left, who.buf);
	mg_buf_release(&who);
}

/* --wait-lock: try again until the holder ends, the time is up or a stop
 * (SIGINT/SIGTERM) comes. 1 locked, 0 not, -1 error (errno). */
static int wait_for_lock(struct mg_state *s, int fd, int64_t *waited)
{
	int64_t start = mg_now_ms(), said = start;
	char d[32];

	say_waiting(s, 1, 0);
	for (;;) {
		*waited = mg_now_ms() - start;
		if (*waited >= mg_runinfo_wait_ms() || mg_stop_requested)
			return 0;
		mg_sleep_ms(LOCK_POLL_MS);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK)
			return -1;
		if (mg_now_ms() - said >= LOCK_SAY_EVERY_MS) {
			said = mg_now_ms();
			say_waiting(s, 0, said - start);
		}
	}
	*waited = mg_now_ms() - start;
	mg_runinfo_note_waited();
	mg_format_duration(d, *waited);
	mg_info("got the lock of '%s' after waiting %s", s->path, d);
	return 1;
}

/*
 * flock() "<path>.lock" (waiting up to --wait-lock); the holder writes its
 * pid and run record in the file so the loser can name it (runinfo.h).
 */
static int take_lock(struct mg_state *s, struct mg_err *err)
{
	char *lockpath = mg_xasprintf("%s.lock", s->path);
	int fd, ret = 0, got;
	int64_t waited = 0;

	fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = mg_err_set(err, MG_EDB, "cannot open lock file '%s': %s",
				 lockpath, mg_state_errstr(errno));
		goto out;
	}
	got = try_lock(fd);
	if (got == 0 && mg_runinfo_wait_ms() > 0)
		got = wait_for_lock(s, fd, &waited);
	if (got <= 0) {
		if (got < 0)
			ret = mg_err_set(err, MG_EDB, "cannot lock '%s': %s",
					 lockpath, mg_state_errstr(errno));
		else if (mg_stop_requested && waited < mg_runinfo_wait_ms())
			ret = mg_err_set(err, MG_EDB, "interrupted while waiting for the lock of state file '%s': nothing was changed",
					 s->path);
		else
			ret = lock_refused(s, lockpath, (int)waited, err);
		close(fd);
		goto out;
	}
	if (mg_runinfo_write_lock(fd, s->path) != 0) {
		int e = errno ? errno : ENOSPC;

		ret = mg_err_set(err, MG_EDB, "cannot write lock file '%s': %s",
				 lockpath, mg_state_errstr(e));
		if (e == ENOSPC || e == EDQUOT)
			mg_err_hint(err, "free space where '%s' lives and run the command again",
				    s->path);
		mg_runinfo_released(s->path);
		close(fd);
		goto out;
	}
	s->lock_fd = fd;
out:
	free(lockpath);
	return ret;
}

static int random_hex(char *out, size_t nbytes, const char *path,
		      struct mg_err *err)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t i;
	int fd;

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, raw, nbytes) != (ssize_t)nbytes) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return mg_err_set(err, MG_EDB,
				  "cannot create state file '%s': reading /dev/urandom: %s",
				  path, mg_state_errstr(e));
	}
	close(fd);
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return 0;
}

static int not_a_state(struct mg_state *s, struct mg_err *err)
{
	mg_err_set(err, MG_EDB, "'%s' is not a migrate state file", s->path);
	return mg_err_hint(err,
			   "check --state: it must name the file an earlier migrate run created");
}

/*
 * An existing file must already be a state store: look before changing
 * anything (journal mode included), so a foreign database is left as it was.
 */
static int check_existing(struct mg_state *s, struct mg_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, found = 0, version = 0;

	if (sqlite3_prepare_v2(s->db,
			       "SELECT value FROM meta WHERE key = 'state_id'",
			       -1, &st, NULL) != SQLITE_OK) {
		int code = sqlite3_errcode(s->db);

		sqlite3_finalize(st);
		/* "no such table" is SQLITE_ERROR, a non-database SQLITE_NOTADB */
		if (code == SQLITE_ERROR || code == SQLITE_NOTADB)
			return not_a_state(s, err);
		return mg_state_dberr(s, err);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		found = sqlite3_column_type(st, 0) != SQLITE_NULL;
	else if (rc != SQLITE_DONE) {
		mg_state_dberr(s, err);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	if (!found)
		return not_a_state(s, err);

	if (mg_state_prepare(s, "PRAGMA user_version", &st, err) < 0)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SCHEMA_VERSION) {
		mg_err_set(err, MG_EDB,
			   "state file '%s' has schema version %d, newer than this migrate understands (%d)",
			   s->path, version, SCHEMA_VERSION);
		return mg_err_hint(err, "use the migrate version that wrote it, or a newer one");
	}
	return 0;
}

static int meta_insert(struct mg_state *s, const char *key, const char *value,
		       struct mg_err *err)
{
	sqlite3_stmt *st;

	if (mg_state_prepare(s, "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
		    &st, err) < 0)
		return -1;
	mg_state_bind_text(st, 1, key);
	mg_state_bind_text(st, 2, value);
	return mg_state_step_done(s, st, err);
}

/* Tables (all IF NOT EXISTS) and, for a new file, its identity. */
static int create_schema(struct mg_state *s, int created, struct mg_err *err)
{
	char state_id[33];

	if (mg_state_exec(s, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	if (mg_state_exec(s, schema_sql, err) < 0)
		goto fail;
	if (created) {
		if (random_hex(state_id, 16, s->path, err) < 0)
			goto fail;
		if (meta_insert(s, "schema_version", STR(SCHEMA_VERSION), err) < 0 ||
		    meta_insert(s, "state_id", state_id, err) < 0 ||
		    meta_insert(s, "generation", "0", err) < 0)
			goto fail;
		/* PRAGMA takes no parameters; the value is our own constant */
		if (mg_state_exec(s, "PRAGMA user_version = " STR(SCHEMA_VERSION), err) < 0)
			goto fail;
	}
	if (mg_state_exec(s, "COMMIT", err) < 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* ---- soundness ------------------------------------------------------------ */

/* SQLite's magic: a file that starts with it is a database, maybe a
 * damaged one, rather than some other file. */
static int has_sqlite_magic(const char *path)
{
	static const char magic[16] = "SQLite format 3";
	char buf[16];
	int fd = open(path, O_RDONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return 0;
	ok = read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf) &&
	     memcmp(buf, magic, sizeof(buf)) == 0;
	close(fd);
	return ok;
}

static int past_deadline(void *arg)
{
	const struct timespec *end = arg;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > end->tv_sec ||
	       (now.tv_sec == end->tv_sec && now.tv_nsec >= end->tv_nsec);
}

/* The integrity check's first complaint on one line, without the
 * "*** in database main ***" banner. */
static void one_line(char *out, size_t size, const char *text)
{
	const char *banner = "*** in database main ***\n";
	size_t i;

	if (!strncmp(text, banner, strlen(banner)))
		text += strlen(banner);
	snprintf(out, size, "%s", text);
	for (i = 0; out[i]; i++)
		if (out[i] == '\n' || out[i] == '\r')
			out[i] = ' ';
}

/* A failure of the check itself: a non-database, a damaged header, the
 * time limit, or whatever SQLite (and errno) says. */
static int check_failed(struct mg_state *s, int rc, int limit_ms,
			struct mg_err *err)
{
	if (rc == SQLITE_INTERRUPT) {
		mg_err_set(err, MG_EDB,
			   "state file '%s': the integrity check did not finish within %d ms",
			   s->path, limit_ms);
		return mg_err_hint(err,
				   "a state file is small and checks in milliseconds: check the disk it lives on, and the file with: sqlite3 '%s' 'PRAGMA integrity_check'",
				   s->path);
	}
	if ((rc & 0xff) == SQLITE_NOTADB) {
		if (has_sqlite_magic(s->path))
			return mg_state_damaged(s, "its header is not readable (cut short or overwritten?)",
				       err);
		return not_a_state(s, err);
	}
	return mg_state_dberr(s, err);
}

int mg_state_check(struct mg_state *s, int limit_ms, struct mg_err *err)
{
	struct timespec end;
	sqlite3_stmt *st = NULL;
	char cause[512];
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += limit_ms / 1000;
	end.tv_nsec += (long)(limit_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	sqlite3_progress_handler(s->db, 100, past_deadline, &end);
	rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check(1)", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);

		rc = 0;
		if (!v || strcmp(v, "ok") != 0) {
			one_line(cause, sizeof(cause), v ? v : "no answer");
			rc = mg_state_damaged(s, cause, err);
		}
	} else {
		rc = check_failed(s, rc, limit_ms, err);
	}
	sqlite3_finalize(st);
	sqlite3_progress_handler(s->db, 0, NULL, NULL);
	return rc;
}

/* 1 when the database holds no table at all (an empty file, or the header
 * page an interrupted creation wrote), 0 otherwise, -1 on error. */
static int is_blank(struct mg_state *s, struct mg_err *err)
{
	sqlite3_stmt *st;
	int n = -1;

	if (mg_state_prepare(s, "SELECT count(*) FROM sqlite_master", &st, err) < 0)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	else
		mg_state_dberr(s, err);
	sqlite3_finalize(st);
	return n < 0 ? -1 : n == 0;
}

/* The page size in a database header; 0 for a file that has none. */
static off_t one_page(const char *path)
{
	unsigned char h[18];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t size = 0;

	if (fd < 0)
		return 0;
	if (read(fd, h, sizeof(h)) == (ssize_t)sizeof(h) &&
	    !memcmp(h, "SQLite format 3", 16)) {
		size = (off_t)h[16] << 8 | h[17];
		if (size == 1)
			size = 65536;
	}
	close(fd);
	return size;
}

int mg_state_probe(const char *path)
{
	struct stat sb;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int kind = MG_STATE_PRESENT;

	if (stat(path, &sb) != 0)
		return errno == ENOENT ? MG_STATE_MISSING : MG_STATE_PRESENT;
	if (sb.st_size == 0)
		return MG_STATE_BLANK;
	/* a state file has a page per table: only a file of one page can be
	 * blank, and only such a file is opened here (before any lock) */
	if (sb.st_size > one_page(path))
		return MG_STATE_PRESENT;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1,
			       &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0)
		kind = MG_STATE_BLANK;
	sqlite3_finalize(st);
	sqlite3_close_v2(db);
	return kind;
}

/* ---- creating --------------------------------------------------------------- */

static void remove_with_sidecars(const char *path)
{
	static const char *const sidecars[] = { "", "-journal", "-wal", "-shm" };
	size_t i;

	for (i = 0; i < sizeof(sidecars) / sizeof(sidecars[0]); i++) {
		char *p = mg_xasprintf("%s%s", path, sidecars[i]);

		unlink(p);
		free(p);
	}
}

/* fsync a file, or the directory that holds it (dir = 1). */
static int sync_path(const char *path, int dir, struct mg_err *err)
{
	char *copy = mg_xstrdup(path), *slash;
	const char *target = copy;
	char e[128];
	int fd, ret = 0;

	if (dir) {
		slash = strrchr(copy, '/');
		if (!slash)
			target = ".";
		else if (slash == copy)
			target = "/";
		else
			*slash = '\0';
	}
	fd = open(target, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
	if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL)) {
		int no = errno;

		mg_state_errno_text(e, sizeof(e), no);
		ret = mg_err_set(err, MG_EDB, "cannot create state file '%s': syncing '%s': %s",
				 path, target, e);
		if (no == ENOSPC || no == EDQUOT)
			mg_err_hint(err, "free space where '%s' lives and run the command again",
				    path);
	}
	if (fd >= 0)
		close(fd);
	free(copy);
	return ret;
}

/* Put the finished file at its place: never over an existing file unless
 * replace (a blank one, under the lock). */
static int publish(const char *tmp, const char *path, int replace,
		   struct mg_err *err)
{
	char e[128];

	if (!replace) {
		if (link(tmp, path) == 0) {
			unlink(tmp);
			return 0;
		}
		if (errno == EEXIST) {
			mg_err_set(err, MG_EDB,
				   "state file '%s' appeared while this run was creating it",
				   path);
			return mg_err_hint(err,
					   "another process created it: run the command again");
		}
		/* no hard links here: we hold the lock and saw no file */
	}
	if (rename(tmp, path) == 0)
		return 0;
	mg_state_errno_text(e, sizeof(e), errno);
	return mg_err_set(err, MG_EDB, "cannot create state file '%s': %s",
			  path, e);
}

/*
 * Build a new state file under "<path>.creating" (rollback journal, so the
 * committed schema is all in that one file, synced), then move it to path
 * and sync the directory: a crash or a full disk leaves either no state
 * file or a complete one, never a half-made one at path. A ".creating" left
 * by a crash is removed here (under the lock nobody else is creating).
 */
static int build_new(struct mg_state *s, int replace, struct mg_err *err)
{
	char *tmp = mg_xasprintf("%s.creating", s->path);
	int ret = -1;

	remove_with_sidecars(tmp);
	if (sqlite3_open_v2(tmp, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK) {
		if (!s->db)
			mg_err_set(err, MG_EDB, "state file '%s': out of memory",
				   s->path);
		else
			mg_state_dberr(s, err);
		goto out;
	}
	if (mg_state_exec(s, "PRAGMA journal_mode = DELETE", err) < 0 ||
	    mg_state_exec(s, "PRAGMA synchronous = FULL", err) < 0 ||
	    create_schema(s, 1, err) < 0)
		goto out;
	if (sqlite3_close(s->db) != SQLITE_OK) {
		mg_state_dberr(s, err);
		goto out;
	}
	s->db = NULL;
	if (sync_path(tmp, 0, err) < 0)
		goto out;
	if (replace)
		remove_with_sidecars(s->path);
	if (publish(tmp, s->path, replace, err) < 0 ||
	    sync_path(s->path, 1, err) < 0)
		goto out;
	ret = 0;
out:
	if (s->db)
		sqlite3_close_v2(s->db);
	s->db = NULL;
	if (ret < 0)
		remove_with_sidecars(tmp);
	free(tmp);
	return ret;
}

static int open_db(struct mg_state *s, struct mg_err *err)
{
	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE,
			    NULL) != SQLITE_OK) {
		if (!s->db)
			return mg_err_set(err, MG_EDB,
					  "state file '%s': out of memory",
					  s->path);
		return mg_state_dberr(s, err);
	}
	if (sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK)
		return mg_state_dberr(s, err);
	return 0;
}

static int blank_refused(struct mg_state *s, struct mg_err *err)
{
	mg_err_set(err, MG_EDB,
		   "state file '%s' is empty: a run stopped while creating it, nothing is recorded in it",
		   s->path);
	return mg_err_hint(err,
			   "a command that changes the database (e.g. 'migrate expand') creates it again when the database has no migrate history; otherwise restore the state file the earlier steps used");
}

/*
 * Open path and refuse it unless sound (integrity_check) and ours. A
 * blank file (what an interrupted creation by an older migrate left) is
 * built anew when create is set, refused otherwise. *created: built now.
 */
static int open_checked(struct mg_state *s, int create, int *created,
			struct mg_err *err)
{
	int blank;

	if (open_db(s, err) < 0 ||
	    mg_state_check(s, MG_STATE_CHECK_LIMIT_MS, err) < 0)
		return -1;
	blank = is_blank(s, err);
	if (blank < 0)
		return -1;
	if (blank && !create)
		return blank_refused(s, err);
	if (blank) {
		mg_info("state file '%s' is empty (a run stopped while creating it): creating it again",
			s->path);
		sqlite3_close(s->db);
		s->db = NULL;
		if (build_new(s, 1, err) < 0 || open_db(s, err) < 0 ||
		    mg_state_check(s, MG_STATE_CHECK_LIMIT_MS, err) < 0)
			return -1;
		*created = 1;
	}
	return check_existing(s, err);
}

int mg_state_open(struct mg_state **out, const char *path, int create,
		  int lock, int *created, struct mg_err *err)
{
	struct mg_state *s = mg_xcalloc(1, sizeof(*s));
	struct stat sb;
	int made = 0;

	*out = NULL;
	if (created)
		*created = 0;
	s->path = mg_xstrdup(path);
	s->lock_fd = -1;

	if (create) {
		if (make_parent(path, err) < 0)
			goto fail;
	} else if (stat(path, &sb) != 0) {
		if (errno == ENOENT) {
			mg_err_set(err, MG_EDB, "state file '%s' does not exist",
				   path);
			mg_err_hint(err,
				    "check --state, or restore the state file kept by the previous run (a volume, an artifact or the deploy repo)");
		} else {
			mg_err_set(err, MG_EDB, "cannot read state file '%s': %s",
				   path, mg_state_errstr(errno));
		}
		goto fail;
	}
	if (lock && take_lock(s, err) < 0)
		goto fail;

	/* under the lock, so two creators cannot both initialise the file */
	if (stat(path, &sb) != 0) {
		if (!create) {
			mg_err_set(err, MG_EDB, "state file '%s' does not exist",
				   path);
			goto fail;
		}
		if (build_new(s, 0, err) < 0)
			goto fail;
		made = 1;
	}
	if (open_checked(s, create, &made, err) < 0)
		goto fail;
	if (mg_state_exec(s, "PRAGMA journal_mode = WAL", err) < 0 ||
	    mg_state_exec(s, "PRAGMA foreign_keys = ON", err) < 0)
		goto fail;
	/* fold a WAL that earlier runs could not checkpoint (their close came
	 * on a full disk) into the file, so the next writes reuse its space
	 * instead of growing it; failing here is harmless */
	sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
				  NULL);
	if (create_schema(s, 0, err) < 0)
		goto fail;

	if (created)
		*created = made;
	*out = s;
	return 0;
fail:
	mg_state_close(s);
	return -1;
}

void mg_state_close(struct mg_state *s)
{
	if (!s)
		return;
	/* closing the last connection checkpoints and removes the WAL, so the
	 * file can travel alone (artifact, volume) */
	if (s->db)
		sqlite3_close_v2(s->db);
	if (s->lock_fd >= 0) {
		mg_runinfo_released(s->path);
		close(s->lock_fd);
	}
	free(s->path);
	free(s);
}

const char *mg_state_path(const struct mg_state *s)
{
	return s->path;
}


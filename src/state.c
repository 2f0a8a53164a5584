/*
 * state.c - the SQLite state store (design §5).
 *
 * One connection per process, WAL mode, every statement prepared with bound
 * parameters. The exclusive lock is a flock() on a separate "<path>.lock"
 * file rather than on the database itself: SQLite's own locks are released
 * between transactions, ours must last for the whole command, and flock()
 * goes away with the process, so a crashed run never leaves a stale lock.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

#define SCHEMA_VERSION 1
#define STR_(x) #x
#define STR(x) STR_(x)

struct mg_state {
	sqlite3 *db;
	char *path;
	int lock_fd;		/* -1 when not locked */
};

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

/* ---- errors and statement helpers ---------------------------------------- */

/* The file is a database but not a sound one. Returns -1. */
static int damaged(struct mg_state *s, const char *cause,
		   struct mg_err *err)
{
	mg_err_set(err, MG_EDB, "state file '%s' is damaged: %s", s->path,
		   cause);
	return mg_err_hint(err,
			   "keep the damaged file for inspection and restore the copy the previous run kept (pipeline artifact, volume or backup) to '%s', then run the command again",
			   s->path);
}

/* strerror(e) starting lowercase, as our messages do. */
static void errno_text(char *out, size_t size, int e)
{
	snprintf(out, size, "%s", strerror(e));
	if (out[0] >= 'A' && out[0] <= 'Z' && !(out[1] >= 'A' && out[1] <= 'Z'))
		out[0] = (char)(out[0] - 'A' + 'a');
}

/* The same in a per-thread buffer, for one message at a time. */
static const char *errstr(int e)
{
	static _Thread_local char buf[128];

	errno_text(buf, sizeof(buf), e);
	return buf;
}

/*
 * Every SQLite failure: the path and the cause. SQLite says "database or
 * disk is full" for a write that ENOSPC cut short and only "disk I/O error"
 * for the others, so the cause is the system's errno when it has one.
 * A full disk and a damaged file also get what to do next.
 */
static int dberr(struct mg_state *s, struct mg_err *err)
{
	int code = sqlite3_extended_errcode(s->db) & 0xff;
	/* fresh only after SQLITE_IOERR and SQLITE_CANTOPEN */
	int e = code == SQLITE_IOERR || code == SQLITE_CANTOPEN ?
		sqlite3_system_errno(s->db) : 0;
	char cause[256];

	if (code == SQLITE_FULL)
		snprintf(cause, sizeof(cause), "no space left on device");
	else if (code == SQLITE_CANTOPEN && e != 0)
		snprintf(cause, sizeof(cause), "cannot open: %s", errstr(e));
	else if (e != 0)
		errno_text(cause, sizeof(cause), e);
	else
		snprintf(cause, sizeof(cause), "%s", sqlite3_errmsg(s->db));

	if (code == SQLITE_CORRUPT)
		return damaged(s, cause, err);
	mg_err_set(err, MG_EDB, "state file '%s': %s", s->path, cause);
	if (code == SQLITE_FULL || e == ENOSPC || e == EDQUOT)
		mg_err_hint(err, "free space where '%s' lives and run the command again: the state file keeps every step that finished, the rerun resumes from there",
			    s->path);
	return -1;
}

static int prepare(struct mg_state *s, const char *sql, sqlite3_stmt **out,
		   struct mg_err *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK) {
		*out = NULL;
		return dberr(s, err);
	}
	return 0;
}

/* Bind a string, or SQL NULL for a NULL pointer. */
static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (!v)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

/* A malloc'd copy of a text column, NULL for SQL NULL. */
static char *column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	if (sqlite3_column_type(st, i) == SQLITE_NULL || !v)
		return NULL;
	return mg_xstrdup((const char *)v);
}

/* Step a statement that returns no rows and finalize it. */
static int step_done(struct mg_state *s, sqlite3_stmt *st, struct mg_err *err)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		dberr(s, err);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static int exec(struct mg_state *s, const char *sql, struct mg_err *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return dberr(s, err);
	return 0;
}

/* "$USER@hostname", USER falling back to the password entry. */
static void ran_by(char *out, size_t size)
{
	const char *user = getenv("USER");
	char host[256];

	if (!user || !*user) {
		struct passwd *pw = getpwuid(geteuid());

		user = pw && pw->pw_name ? pw->pw_name : "unknown";
	}
	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, size, "%s@%s", user, host);
}

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
					 dir, path, errstr(errno));
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

/*
 * flock() "<path>.lock" without waiting; the holder's pid is written in the
 * file so the loser can name it.
 */
static int take_lock(struct mg_state *s, struct mg_err *err)
{
	char *lockpath = mg_xasprintf("%s.lock", s->path);
	char buf[32];
	int fd, ret = 0;
	ssize_t n;

	fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = mg_err_set(err, MG_EDB, "cannot open lock file '%s': %s",
				 lockpath, errstr(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		long pid = 0;

		if (errno != EWOULDBLOCK) {
			ret = mg_err_set(err, MG_EDB, "cannot lock '%s': %s",
					 lockpath, errstr(errno));
		} else {
			n = pread(fd, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			if (mg_parse_long(buf, &pid) == 0 && pid > 0)
				mg_err_set(err, MG_EDB,
					   "state file '%s' is locked by another migrate (pid %ld)",
					   s->path, pid);
			else
				mg_err_set(err, MG_EDB,
					   "state file '%s' is locked by another migrate",
					   s->path);
			ret = mg_err_hint(err,
					  "only one migrate may change a target at a time: wait for it to finish and run the command again");
		}
		close(fd);
		goto out;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	errno = 0;
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		int e = errno ? errno : ENOSPC;	/* a short write */

		ret = mg_err_set(err, MG_EDB, "cannot write lock file '%s': %s",
				 lockpath, errstr(e));
		if (e == ENOSPC || e == EDQUOT)
			mg_err_hint(err, "free space where '%s' lives and run the command again",
				    s->path);
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
				  path, errstr(e));
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
		return dberr(s, err);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		found = sqlite3_column_type(st, 0) != SQLITE_NULL;
	else if (rc != SQLITE_DONE) {
		dberr(s, err);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	if (!found)
		return not_a_state(s, err);

	if (prepare(s, "PRAGMA user_version", &st, err) < 0)
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

	if (prepare(s, "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
		    &st, err) < 0)
		return -1;
	bind_text(st, 1, key);
	bind_text(st, 2, value);
	return step_done(s, st, err);
}

/* Tables (all IF NOT EXISTS) and, for a new file, its identity. */
static int create_schema(struct mg_state *s, int created, struct mg_err *err)
{
	char state_id[33];

	if (exec(s, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	if (exec(s, schema_sql, err) < 0)
		goto fail;
	if (created) {
		if (random_hex(state_id, 16, s->path, err) < 0)
			goto fail;
		if (meta_insert(s, "schema_version", STR(SCHEMA_VERSION), err) < 0 ||
		    meta_insert(s, "state_id", state_id, err) < 0 ||
		    meta_insert(s, "generation", "0", err) < 0)
			goto fail;
		/* PRAGMA takes no parameters; the value is our own constant */
		if (exec(s, "PRAGMA user_version = " STR(SCHEMA_VERSION), err) < 0)
			goto fail;
	}
	if (exec(s, "COMMIT", err) < 0)
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
			return damaged(s, "its header is not readable (cut short or overwritten?)",
				       err);
		return not_a_state(s, err);
	}
	return dberr(s, err);
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
			rc = damaged(s, cause, err);
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

	if (prepare(s, "SELECT count(*) FROM sqlite_master", &st, err) < 0)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	else
		dberr(s, err);
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

		errno_text(e, sizeof(e), no);
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
	errno_text(e, sizeof(e), errno);
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
			dberr(s, err);
		goto out;
	}
	if (exec(s, "PRAGMA journal_mode = DELETE", err) < 0 ||
	    exec(s, "PRAGMA synchronous = FULL", err) < 0 ||
	    create_schema(s, 1, err) < 0)
		goto out;
	if (sqlite3_close(s->db) != SQLITE_OK) {
		dberr(s, err);
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
		return dberr(s, err);
	}
	if (sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK)
		return dberr(s, err);
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
				   path, errstr(errno));
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
	if (exec(s, "PRAGMA journal_mode = WAL", err) < 0 ||
	    exec(s, "PRAGMA foreign_keys = ON", err) < 0)
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
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->path);
	free(s);
}

const char *mg_state_path(const struct mg_state *s)
{
	return s->path;
}

/* ---- meta ---------------------------------------------------------------- */

int mg_state_meta_get(struct mg_state *s, const char *key, char **out,
		      struct mg_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	if (prepare(s, "SELECT value FROM meta WHERE key = ?", &st, err) < 0)
		return -1;
	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = column_dup(st, 0);
	else if (rc != SQLITE_DONE) {
		dberr(s, err);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

int mg_state_meta_set(struct mg_state *s, const char *key, const char *value,
		      struct mg_err *err)
{
	sqlite3_stmt *st;

	if (prepare(s, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
		    &st, err) < 0)
		return -1;
	bind_text(st, 1, key);
	bind_text(st, 2, value);
	return step_done(s, st, err);
}

/* ---- migrations ---------------------------------------------------------- */

#define MIGRATION_COLUMNS \
	"id, name, checksum, phase, plan_json, expanded_at, backfilled_at," \
	" switched_at, contracted_at, updated_at, ran_by"

void mg_state_migration_release(struct mg_state_migration *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->checksum);
	free(m->phase);
	free(m->plan_json);
	free(m->expanded_at);
	free(m->backfilled_at);
	free(m->switched_at);
	free(m->contracted_at);
	free(m->updated_at);
	free(m->ran_by);
	memset(m, 0, sizeof(*m));
}

static void read_migration(sqlite3_stmt *st, struct mg_state_migration *m)
{
	m->id = sqlite3_column_int(st, 0);
	m->name = column_dup(st, 1);
	m->checksum = column_dup(st, 2);
	m->phase = column_dup(st, 3);
	m->plan_json = column_dup(st, 4);
	m->expanded_at = column_dup(st, 5);
	m->backfilled_at = column_dup(st, 6);
	m->switched_at = column_dup(st, 7);
	m->contracted_at = column_dup(st, 8);
	m->updated_at = column_dup(st, 9);
	m->ran_by = column_dup(st, 10);
}

int mg_state_migration_get(struct mg_state *s, int id,
			   struct mg_state_migration *out, struct mg_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = 1;

	if (prepare(s, "SELECT " MIGRATION_COLUMNS " FROM migrations WHERE id = ?",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_migration(st, out);
		ret = 0;
	} else if (rc != SQLITE_DONE) {
		ret = dberr(s, err);
	}
	sqlite3_finalize(st);
	return ret;
}

int mg_state_migration_list(struct mg_state *s,
			    struct mg_state_migration **out, size_t *n,
			    struct mg_err *err)
{
	struct mg_state_migration *list = NULL;
	size_t nr = 0, alloc = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (prepare(s, "SELECT " MIGRATION_COLUMNS " FROM migrations ORDER BY id",
		    &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		MG_ALLOC_GROW(list, nr + 1, alloc);
		memset(&list[nr], 0, sizeof(list[nr]));
		read_migration(st, &list[nr++]);
	}
	if (rc != SQLITE_DONE) {
		dberr(s, err);
		sqlite3_finalize(st);
		mg_state_migration_list_free(list, nr);
		return -1;
	}
	sqlite3_finalize(st);
	*out = list;
	*n = nr;
	return 0;
}

void mg_state_migration_list_free(struct mg_state_migration *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		mg_state_migration_release(&list[i]);
	free(list);
}

int mg_state_migration_put(struct mg_state *s,
			   const struct mg_state_migration *m,
			   struct mg_err *err)
{
	char now[32], who[512];
	sqlite3_stmt *st;

	mg_iso_time(now);
	ran_by(who, sizeof(who));
	if (prepare(s, "INSERT OR REPLACE INTO migrations (" MIGRATION_COLUMNS
		    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, m->id);
	bind_text(st, 2, m->name);
	bind_text(st, 3, m->checksum);
	bind_text(st, 4, m->phase ? m->phase : "pending");
	bind_text(st, 5, m->plan_json);
	bind_text(st, 6, m->expanded_at);
	bind_text(st, 7, m->backfilled_at);
	bind_text(st, 8, m->switched_at);
	bind_text(st, 9, m->contracted_at);
	bind_text(st, 10, m->updated_at ? m->updated_at : now);
	bind_text(st, 11, m->ran_by ? m->ran_by : who);
	return step_done(s, st, err);
}

int mg_state_migration_set_phase(struct mg_state *s, int id,
				 const char *phase, struct mg_err *err)
{
	/* the column names come from this table, never from the caller */
	static const struct {
		const char *phase;
		const char *sql;
	} phases[] = {
		{ "pending", "UPDATE migrations SET phase = ?1,"
		  " updated_at = ?2, ran_by = ?3 WHERE id = ?4" },
		{ "expanded", "UPDATE migrations SET phase = ?1, expanded_at = ?2,"
		  " updated_at = ?2, ran_by = ?3 WHERE id = ?4" },
		{ "backfilled", "UPDATE migrations SET phase = ?1, backfilled_at = ?2,"
		  " updated_at = ?2, ran_by = ?3 WHERE id = ?4" },
		{ "switched", "UPDATE migrations SET phase = ?1, switched_at = ?2,"
		  " updated_at = ?2, ran_by = ?3 WHERE id = ?4" },
		{ "contracted", "UPDATE migrations SET phase = ?1, contracted_at = ?2,"
		  " updated_at = ?2, ran_by = ?3 WHERE id = ?4" },
	};
	char now[32], who[512];
	const char *sql = NULL;
	sqlite3_stmt *st;
	size_t i;

	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if (phase && !strcmp(phase, phases[i].phase))
			sql = phases[i].sql;
	if (!sql)
		return mg_err_set(err, MG_EDB, "state file '%s': unknown phase '%s'",
				  s->path, phase ? phase : "(null)");
	mg_iso_time(now);
	ran_by(who, sizeof(who));
	if (prepare(s, sql, &st, err) < 0)
		return -1;
	bind_text(st, 1, phase);
	bind_text(st, 2, now);
	bind_text(st, 3, who);
	sqlite3_bind_int(st, 4, id);
	if (step_done(s, st, err) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return mg_err_set(err, MG_EDB,
				  "state file '%s' has no record of migration %d",
				  s->path, id);
	return 0;
}

/* ---- step journal -------------------------------------------------------- */

int mg_state_journal_add(struct mg_state *s, int migration_id,
			 const char *phase, int step_index, const char *status,
			 const char *description, struct mg_err *err)
{
	char now[32];
	sqlite3_stmt *st;

	mg_iso_time(now);
	if (prepare(s, "INSERT INTO journal (migration_id, phase, step_index,"
		    " status, description, at) VALUES (?, ?, ?, ?, ?, ?)",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	bind_text(st, 2, phase);
	sqlite3_bind_int(st, 3, step_index);
	bind_text(st, 4, status);
	bind_text(st, 5, description);
	bind_text(st, 6, now);
	return step_done(s, st, err);
}

/* Only rows with status "done" count: a step started or failed must run
 * again. */
int mg_state_journal_last(struct mg_state *s, int migration_id,
			  const char *phase, int *out, struct mg_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*out = 0;
	if (prepare(s, "SELECT COALESCE(MAX(step_index), 0) FROM journal"
		    " WHERE migration_id = ? AND phase = ? AND status = 'done'",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	bind_text(st, 2, phase);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		dberr(s, err);
		sqlite3_finalize(st);
		return -1;
	}
	*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int mg_state_journal_clear(struct mg_state *s, int migration_id,
			   struct mg_err *err)
{
	sqlite3_stmt *st;

	if (prepare(s, "DELETE FROM journal WHERE migration_id = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	return step_done(s, st, err);
}

/* ---- backfill checkpoints ------------------------------------------------ */

#define CHECKPOINT_COLUMNS \
	"migration_id, table_name, part, last_key_json, upto_key_json," \
	" rows_done, estimate, done, updated_at"

void mg_checkpoint_release(struct mg_checkpoint *c)
{
	if (!c)
		return;
	free(c->table_name);
	free(c->last_key_json);
	free(c->upto_key_json);
	free(c->updated_at);
	memset(c, 0, sizeof(*c));
}

static void read_checkpoint(sqlite3_stmt *st, struct mg_checkpoint *c)
{
	c->migration_id = sqlite3_column_int(st, 0);
	c->table_name = column_dup(st, 1);
	c->part = sqlite3_column_int(st, 2);
	c->last_key_json = column_dup(st, 3);
	c->upto_key_json = column_dup(st, 4);
	c->rows_done = sqlite3_column_int64(st, 5);
	c->estimate = sqlite3_column_int64(st, 6);
	c->done = sqlite3_column_int(st, 7);
	c->updated_at = column_dup(st, 8);
}

int mg_state_checkpoint_get(struct mg_state *s, int migration_id,
			    const char *table_name, int part,
			    struct mg_checkpoint *out, struct mg_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = 1;

	if (prepare(s, "SELECT " CHECKPOINT_COLUMNS " FROM checkpoints"
		    " WHERE migration_id = ? AND table_name = ? AND part = ?",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	bind_text(st, 2, table_name);
	sqlite3_bind_int(st, 3, part);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_checkpoint(st, out);
		ret = 0;
	} else if (rc != SQLITE_DONE) {
		ret = dberr(s, err);
	}
	sqlite3_finalize(st);
	return ret;
}

/* updated_at is always now: a checkpoint is written after each batch. */
int mg_state_checkpoint_put(struct mg_state *s, const struct mg_checkpoint *c,
			    struct mg_err *err)
{
	char now[32];
	sqlite3_stmt *st;

	mg_iso_time(now);
	if (prepare(s, "INSERT OR REPLACE INTO checkpoints (" CHECKPOINT_COLUMNS
		    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, c->migration_id);
	bind_text(st, 2, c->table_name);
	sqlite3_bind_int(st, 3, c->part);
	bind_text(st, 4, c->last_key_json);
	bind_text(st, 5, c->upto_key_json);
	sqlite3_bind_int64(st, 6, c->rows_done);
	sqlite3_bind_int64(st, 7, c->estimate);
	sqlite3_bind_int(st, 8, c->done ? 1 : 0);
	bind_text(st, 9, now);
	return step_done(s, st, err);
}

int mg_state_checkpoint_list(struct mg_state *s, int migration_id,
			     struct mg_checkpoint **out, size_t *n,
			     struct mg_err *err)
{
	struct mg_checkpoint *list = NULL;
	size_t nr = 0, alloc = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (prepare(s, "SELECT " CHECKPOINT_COLUMNS " FROM checkpoints"
		    " WHERE migration_id = ? ORDER BY table_name, part",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		MG_ALLOC_GROW(list, nr + 1, alloc);
		memset(&list[nr], 0, sizeof(list[nr]));
		read_checkpoint(st, &list[nr++]);
	}
	if (rc != SQLITE_DONE) {
		dberr(s, err);
		sqlite3_finalize(st);
		mg_state_checkpoint_list_free(list, nr);
		return -1;
	}
	sqlite3_finalize(st);
	*out = list;
	*n = nr;
	return 0;
}

void mg_state_checkpoint_list_free(struct mg_checkpoint *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		mg_checkpoint_release(&list[i]);
	free(list);
}

int mg_state_checkpoint_clear(struct mg_state *s, int migration_id,
			      struct mg_err *err)
{
	sqlite3_stmt *st;

	if (prepare(s, "DELETE FROM checkpoints WHERE migration_id = ?",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	return step_done(s, st, err);
}

/* ---- event log ----------------------------------------------------------- */

void mg_event_release(struct mg_event *e)
{
	if (!e)
		return;
	free(e->at);
	free(e->command);
	free(e->colour);
	free(e->result);
	free(e->message);
	memset(e, 0, sizeof(*e));
}

int mg_state_event_add(struct mg_state *s, const char *command,
		       int migration_id, const char *colour,
		       const char *result, const char *message,
		       struct mg_err *err)
{
	char now[32];
	sqlite3_stmt *st;

	mg_iso_time(now);
	if (prepare(s, "INSERT INTO events (at, command, migration_id, colour,"
		    " result, message) VALUES (?, ?, ?, ?, ?, ?)", &st, err) < 0)
		return -1;
	bind_text(st, 1, now);
	bind_text(st, 2, command);
	if (migration_id)
		sqlite3_bind_int(st, 3, migration_id);
	else
		sqlite3_bind_null(st, 3);
	bind_text(st, 4, colour);
	bind_text(st, 5, result);
	bind_text(st, 6, message);
	return step_done(s, st, err);
}

/* ---- colours -------------------------------------------------------------------- */

#define COLOUR_COLUMNS "name, app_version, requires_id, requires_checksum, state, " \
	"match_pattern, ttl_s, registered_at, updated_at, heartbeat_at"

void mg_colour_release(struct mg_colour *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->app_version);
	free(c->requires_checksum);
	free(c->state);
	free(c->match_pattern);
	free(c->registered_at);
	free(c->updated_at);
	free(c->heartbeat_at);
	memset(c, 0, sizeof(*c));
}

/* A damaged record may hold NULL where the schema allows it: name and
 * state read as "" then, an unknown state, which counts as alive (not
 * retired) everywhere, so no caller compares a NULL. */
static char *column_dup_nonnull(sqlite3_stmt *st, int col)
{
	char *v = column_dup(st, col);

	return v ? v : mg_xstrdup("");
}

static void read_colour(sqlite3_stmt *st, struct mg_colour *c)
{
	c->name = column_dup_nonnull(st, 0);
	c->app_version = column_dup(st, 1);
	c->requires_id = sqlite3_column_int(st, 2);
	c->requires_checksum = column_dup(st, 3);
	c->state = column_dup_nonnull(st, 4);
	c->match_pattern = column_dup(st, 5);
	c->ttl_s = sqlite3_column_int64(st, 6);
	c->registered_at = column_dup(st, 7);
	c->updated_at = column_dup(st, 8);
	c->heartbeat_at = column_dup(st, 9);
}

int mg_state_colour_get(struct mg_state *s, const char *name,
			struct mg_colour *out, struct mg_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = 1;

	if (prepare(s, "SELECT " COLOUR_COLUMNS " FROM colours WHERE name = ?", &st, err) < 0)
		return -1;
	bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_colour(st, out);
		ret = 0;
	} else if (rc != SQLITE_DONE) {
		ret = dberr(s, err);
	}
	sqlite3_finalize(st);
	return ret;
}

int mg_state_colour_list(struct mg_state *s, struct mg_colour **out,
			 size_t *n, struct mg_err *err)
{
	struct mg_colour *list = NULL;
	size_t nr = 0, alloc = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (prepare(s, "SELECT " COLOUR_COLUMNS " FROM colours ORDER BY name", &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		MG_ALLOC_GROW(list, nr + 1, alloc);
		memset(&list[nr], 0, sizeof(list[nr]));
		read_colour(st, &list[nr++]);
	}
	if (rc != SQLITE_DONE) {
		dberr(s, err);
		sqlite3_finalize(st);
		mg_state_colour_list_free(list, nr);
		return -1;
	}
	sqlite3_finalize(st);
	*out = list;
	*n = nr;
	return 0;
}

void mg_state_colour_list_free(struct mg_colour *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mg_colour_release(&list[i]);
	free(list);
}

int mg_state_colour_put(struct mg_state *s, const struct mg_colour *c,
			struct mg_err *err)
{
	char now[32];
	sqlite3_stmt *st;

	mg_iso_time(now);
	if (prepare(s, "INSERT OR REPLACE INTO colours (" COLOUR_COLUMNS
		    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err) < 0)
		return -1;
	bind_text(st, 1, c->name);
	bind_text(st, 2, c->app_version);
	sqlite3_bind_int(st, 3, c->requires_id);
	bind_text(st, 4, c->requires_checksum);
	bind_text(st, 5, c->state);
	bind_text(st, 6, c->match_pattern);
	sqlite3_bind_int64(st, 7, c->ttl_s);
	bind_text(st, 8, c->registered_at ? c->registered_at : now);
	bind_text(st, 9, c->updated_at ? c->updated_at : now);
	bind_text(st, 10, c->heartbeat_at ? c->heartbeat_at : now);
	return step_done(s, st, err);
}

int mg_state_colour_invalidate(struct mg_state *s, int requires_id,
			       struct mg_err *err)
{
	sqlite3_stmt *st;

	if (prepare(s, "UPDATE colours SET requires_checksum = NULL WHERE requires_id = ?",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, requires_id);
	return step_done(s, st, err);
}

/* limit <= 0: every event. */
int mg_state_event_list(struct mg_state *s, int limit, struct mg_event **out,
			size_t *n, struct mg_err *err)
{
	struct mg_event *list = NULL;
	size_t nr = 0, alloc = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (prepare(s, "SELECT seq, at, command, migration_id, colour, result,"
		    " message FROM (SELECT * FROM events ORDER BY seq DESC"
		    " LIMIT ?) ORDER BY seq", &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct mg_event *e;

		MG_ALLOC_GROW(list, nr + 1, alloc);
		e = &list[nr++];
		e->seq = sqlite3_column_int64(st, 0);
		e->at = column_dup(st, 1);
		e->command = column_dup(st, 2);
		e->migration_id = sqlite3_column_int(st, 3);
		e->colour = column_dup(st, 4);
		e->result = column_dup(st, 5);
		e->message = column_dup(st, 6);
	}
	if (rc != SQLITE_DONE) {
		dberr(s, err);
		sqlite3_finalize(st);
		mg_state_event_list_free(list, nr);
		return -1;
	}
	sqlite3_finalize(st);
	*out = list;
	*n = nr;
	return 0;
}

void mg_state_event_list_free(struct mg_event *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		mg_event_release(&list[i]);
	free(list);
}

/* ---- transactions -------------------------------------------------------- */

int mg_state_begin(struct mg_state *s, struct mg_err *err)
{
	return exec(s, "BEGIN IMMEDIATE", err);
}

int mg_state_commit(struct mg_state *s, struct mg_err *err)
{
	return exec(s, "COMMIT", err);
}

void mg_state_rollback(struct mg_state *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

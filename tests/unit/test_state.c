/*
 * test_state.c - the state store: creating and reopening a file, refusing
 * a missing, foreign or locked one, then each table's round trip.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/file.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "state.h"
#include "runinfo.h"

struct fixture {
	char dir[64];
	char *path;		/* <dir>/sub/dir/state.db, not yet created */
	struct mg_state *s;	/* opened by fixture_open_state */
};

static int fixture_setup(void **arg)
{
	struct fixture *f = mg_xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/mg_state_XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->path = mg_xasprintf("%s/sub/dir/state.db", f->dir);
	*arg = f;
	return 0;
}

static int fixture_teardown(void **arg)
{
	struct fixture *f = *arg;
	char *cmd;

	mg_state_close(f->s);
	cmd = mg_xasprintf("rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(cmd);
	free(f->path);
	free(f);
	return 0;
}

/* Setup that also creates and opens the state (locked). */
static int fixture_open_state(void **arg)
{
	struct mg_err err = MG_ERR_INIT;
	struct fixture *f;

	if (fixture_setup(arg) < 0)
		return -1;
	f = *arg;
	if (mg_state_open(&f->s, f->path, 1, 1, NULL, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static void test_create_and_reopen(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_state *s;
	char *id = NULL, *id2 = NULL, *v = NULL, *wal;
	int created = -1;
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(mg_state_open(&s, f->path, 1, 1, &created, &err), 0);
	assert_int_equal(created, 1);
	assert_string_equal(mg_state_path(s), f->path);
	assert_int_equal(mg_state_meta_get(s, "state_id", &id, &err), 0);
	assert_non_null(id);
	assert_int_equal(strlen(id), 32);
	assert_int_equal(strspn(id, "0123456789abcdef"), 32);
	assert_int_equal(mg_state_meta_get(s, "generation", &v, &err), 0);
	assert_string_equal(v, "0");
	free(v);
	assert_int_equal(mg_state_meta_get(s, "schema_version", &v, &err), 0);
	assert_string_equal(v, "1");
	free(v);
	mg_state_close(s);

	/* reopening keeps the identity and does not report a creation */
	assert_int_equal(mg_state_open(&s, f->path, 1, 1, &created, &err), 0);
	assert_int_equal(created, 0);
	assert_int_equal(mg_state_meta_get(s, "state_id", &id2, &err), 0);
	assert_string_equal(id, id2);
	mg_state_close(s);
	assert_int_equal(mg_state_open(&s, f->path, 0, 0, &created, &err), 0);
	assert_int_equal(created, 0);
	mg_state_close(s);
	free(id);
	free(id2);

	/* closed, the file travels alone: no WAL left beside it */
	wal = mg_xasprintf("%s-wal", f->path);
	assert_int_not_equal(access(wal, F_OK), 0);
	free(wal);

	/* WAL mode, schema version, and the colours table waiting for later */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st,
					    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st,
					    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT name, app_version,"
					    " requires_id, requires_checksum, state,"
					    " match_pattern, ttl_s, registered_at,"
					    " updated_at, heartbeat_at FROM colours",
					    -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_missing_file(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_state *s = (struct mg_state *)1;
	char *want = mg_xasprintf("state file '%s' does not exist", f->path);
	struct stat sb;

	assert_int_equal(mg_state_open(&s, f->path, 0, 1, NULL, &err), -1);
	assert_null(s);
	assert_int_equal(err.code, MG_EDB);
	assert_string_equal(err.msg, want);
	assert_true(err.hint[0] != '\0');
	/* nothing was created on the way: no file, no lock, no directory */
	assert_int_not_equal(stat(f->path, &sb), 0);
	free(want);
}

static void test_not_a_state(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_state *s;
	char *path = mg_xasprintf("%s/foreign.db", f->dir);
	char *want = mg_xasprintf("'%s' is not a migrate state file", path);
	sqlite3 *db;
	FILE *fp;
	int created = 0;

	/* a text file */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("this is not sqlite, just some text that is long enough to look "
	      "like a header of a database file\n", fp);
	fclose(fp);
	assert_int_equal(mg_state_open(&s, path, 1, 0, NULL, &err), -1);
	assert_int_equal(err.code, MG_EDB);
	assert_string_equal(err.msg, want);

	/* an empty file holds nothing: refused without create, and built
	 * anew with create (the runner refuses it first when the database
	 * has history) */
	fp = fopen(path, "w");
	fclose(fp);
	mg_err_clear(&err);
	assert_int_equal(mg_state_open(&s, path, 0, 0, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "is empty"));
	mg_err_clear(&err);
	assert_int_equal(mg_state_open(&s, path, 1, 1, &created, &err), 0);
	assert_int_equal(created, 1);
	mg_state_close(s);

	/* another application's SQLite database, left untouched */
	unlink(path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);
	mg_err_clear(&err);
	assert_int_equal(mg_state_open(&s, path, 0, 0, NULL, &err), -1);
	assert_string_equal(err.msg, want);

	/* a meta table without a state_id */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE meta (key PRIMARY KEY,"
				      " value); INSERT INTO meta VALUES"
				      " ('generation', '3')", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	mg_err_clear(&err);
	assert_int_equal(mg_state_open(&s, path, 1, 1, NULL, &err), -1);
	assert_string_equal(err.msg, want);
	free(path);
	free(want);
}

static void test_lock_in_other_process(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_state *s, *s2;
	/* the holder's record (runinfo.c): who, where, since when */
	char *want = mg_xasprintf("state file '%s' is locked by another migrate: a migrate whose command was not recorded on host ",
				  f->path);
	char *pid_part = mg_xasprintf(" (pid %ld), running since ", (long)getpid());
	int pipefd[2], status;
	char got[sizeof(err.msg)];
	ssize_t n;
	pid_t pid;

	assert_int_equal(mg_state_open(&s, f->path, 1, 1, NULL, &err), 0);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mg_err cerr = MG_ERR_INIT;
		struct mg_state *cs;
		int rc = mg_state_open(&cs, f->path, 0, 1, NULL, &cerr);

		if (write(pipefd[1], cerr.msg, strlen(cerr.msg)) < 0)
			_exit(3);
		_exit(rc == -1 && cerr.code == MG_EDB ? 0 : 1);
	}
	close(pipefd[1]);
	n = read(pipefd[0], got, sizeof(got) - 1);
	close(pipefd[0]);
	got[n > 0 ? n : 0] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(strncmp(got, want, strlen(want)) == 0);
	assert_non_null(strstr(got, pid_part));

	/* a second open in this process conflicts as well (flock is per
	 * open file), and opening without the lock is allowed */
	assert_int_equal(mg_state_open(&s2, f->path, 0, 1, NULL, &err), -1);
	assert_true(strncmp(err.msg, want, strlen(want)) == 0);
	assert_non_null(strstr(err.msg, pid_part));
	free(pid_part);
	assert_int_equal(mg_state_open(&s2, f->path, 0, 0, NULL, &err), 0);
	mg_state_close(s2);

	/* closing releases it */
	mg_state_close(s);
	assert_int_equal(mg_state_open(&s, f->path, 0, 1, NULL, &err), 0);
	mg_state_close(s);
	free(want);
}

/* A lock held by an older migrate, which wrote only its pid: the loser
 * still names it; and --wait-lock gives up after its time, saying so. */
static void test_lock_of_an_older_version(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_options opt;
	struct mg_state *s;
	char *lockpath = mg_xasprintf("%s.lock", f->path);
	char *want = mg_xasprintf("state file '%s' is locked by another migrate (pid 4242)", f->path);
	int fd;

	assert_int_equal(mg_state_open(&s, f->path, 1, 0, NULL, &err), 0);
	mg_state_close(s);
	fd = open(lockpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "4242\n", 5), 5);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(mg_state_open(&s, f->path, 0, 1, NULL, &err), -1);
	assert_int_equal(err.code, MG_EDB);
	assert_string_equal(err.msg, want);
	assert_non_null(strstr(err.hint, "--wait-lock"));

	memset(&opt, 0, sizeof(opt));
	opt.wait_lock_ms = 300;
	mg_runinfo_setup(&opt, "expand");
	mg_err_clear(&err);
	assert_int_equal(mg_state_open(&s, f->path, 0, 1, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "(still, after waiting "));
	opt.wait_lock_ms = 0;
	mg_runinfo_setup(&opt, "expand");
	close(fd);
	free(want);
	free(lockpath);
}

static void test_meta(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	char *v = (char *)1;

	assert_int_equal(mg_state_meta_get(f->s, "fingerprint", &v, &err), 0);
	assert_null(v);
	assert_int_equal(mg_state_meta_set(f->s, "fingerprint", "7345:app", &err), 0);
	assert_int_equal(mg_state_meta_set(f->s, "generation", "4", &err), 0);
	assert_int_equal(mg_state_meta_get(f->s, "fingerprint", &v, &err), 0);
	assert_string_equal(v, "7345:app");
	free(v);
	assert_int_equal(mg_state_meta_set(f->s, "fingerprint", "it's \"quoted\"",
					   &err), 0);
	assert_int_equal(mg_state_meta_get(f->s, "fingerprint", &v, &err), 0);
	assert_string_equal(v, "it's \"quoted\"");
	free(v);
	assert_int_equal(mg_state_meta_get(f->s, "generation", &v, &err), 0);
	assert_string_equal(v, "4");
	free(v);
}

static void test_migrations(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_state_migration m = { 0 }, got = { 0 }, *list;
	char expect_by[512];
	size_t n;

	assert_int_equal(mg_state_migration_get(f->s, 3, &got, &err), 1);
	assert_null(got.name);
	assert_int_equal(mg_state_migration_list(f->s, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	mg_state_migration_list_free(list, n);

	m.id = 3;
	m.name = "add_username";
	m.checksum = "abc";
	m.phase = "pending";
	assert_int_equal(mg_state_migration_put(f->s, &m, &err), 0);
	m.id = 1;
	m.name = "create_users";
	m.checksum = "def";
	m.phase = "contracted";
	m.plan_json = "{\"version\":1}";
	m.expanded_at = "2026-01-01T00:00:00Z";
	m.contracted_at = "2026-01-02T00:00:00Z";
	m.updated_at = "2026-01-02T00:00:00Z";
	m.ran_by = "ci@runner";
	assert_int_equal(mg_state_migration_put(f->s, &m, &err), 0);

	assert_int_equal(mg_state_migration_get(f->s, 1, &got, &err), 0);
	assert_int_equal(got.id, 1);
	assert_string_equal(got.name, "create_users");
	assert_string_equal(got.plan_json, "{\"version\":1}");
	assert_string_equal(got.expanded_at, "2026-01-01T00:00:00Z");
	assert_null(got.backfilled_at);
	assert_null(got.switched_at);
	assert_string_equal(got.contracted_at, "2026-01-02T00:00:00Z");
	assert_string_equal(got.updated_at, "2026-01-02T00:00:00Z");
	assert_string_equal(got.ran_by, "ci@runner");
	mg_state_migration_release(&got);

	/* ran_by and updated_at filled in when not given */
	assert_int_equal(mg_state_migration_get(f->s, 3, &got, &err), 0);
	assert_null(got.plan_json);
	assert_non_null(got.updated_at);
	assert_int_equal(strlen(got.updated_at), 20);
	assert_non_null(strchr(got.ran_by, '@'));
	if (getenv("USER") && *getenv("USER")) {
		char host[256];

		gethostname(host, sizeof(host));
		host[sizeof(host) - 1] = '\0';
		snprintf(expect_by, sizeof(expect_by), "%s@%s", getenv("USER"),
			 host);
		assert_string_equal(got.ran_by, expect_by);
	}
	mg_state_migration_release(&got);

	/* set_phase stamps only its own column */
	assert_int_equal(mg_state_migration_set_phase(f->s, 3, "expanded", &err), 0);
	assert_int_equal(mg_state_migration_set_phase(f->s, 3, "backfilled", &err), 0);
	assert_int_equal(mg_state_migration_get(f->s, 3, &got, &err), 0);
	assert_string_equal(got.phase, "backfilled");
	assert_string_equal(got.checksum, "abc");
	assert_non_null(got.expanded_at);
	assert_non_null(got.backfilled_at);
	assert_null(got.switched_at);
	assert_null(got.contracted_at);
	assert_string_equal(got.updated_at, got.backfilled_at);
	mg_state_migration_release(&got);

	assert_int_equal(mg_state_migration_set_phase(f->s, 9, "expanded", &err), -1);
	assert_int_equal(err.code, MG_EDB);
	assert_int_equal(mg_state_migration_set_phase(f->s, 3, "bogus", &err), -1);
	assert_int_equal(err.code, MG_EDB);

	/* put replaces the whole record: a rollback clears the checksum */
	m.id = 3;
	m.name = "add_username";
	m.checksum = NULL;
	m.phase = "pending";
	m.plan_json = NULL;
	m.expanded_at = m.contracted_at = m.updated_at = m.ran_by = NULL;
	assert_int_equal(mg_state_migration_put(f->s, &m, &err), 0);

	assert_int_equal(mg_state_migration_list(f->s, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].id, 1);
	assert_string_equal(list[0].phase, "contracted");
	assert_int_equal(list[1].id, 3);
	assert_string_equal(list[1].phase, "pending");
	assert_null(list[1].checksum);
	assert_null(list[1].expanded_at);
	assert_null(list[1].backfilled_at);
	mg_state_migration_list_free(list, n);
}

static void test_journal(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	int last = -1;

	assert_int_equal(mg_state_journal_last(f->s, 3, "expand", &last, &err), 0);
	assert_int_equal(last, 0);
	assert_int_equal(mg_state_journal_add(f->s, 3, "expand", 1, "done",
					      "add column", &err), 0);
	assert_int_equal(mg_state_journal_add(f->s, 3, "expand", 2, "done",
					      NULL, &err), 0);
	assert_int_equal(mg_state_journal_add(f->s, 3, "expand", 3, "failed",
					      "create trigger", &err), 0);
	assert_int_equal(mg_state_journal_add(f->s, 3, "contract", 5, "done",
					      "drop column", &err), 0);
	assert_int_equal(mg_state_journal_add(f->s, 4, "expand", 7, "done",
					      "other", &err), 0);
	assert_int_equal(mg_state_journal_last(f->s, 3, "expand", &last, &err), 0);
	assert_int_equal(last, 2);
	assert_int_equal(mg_state_journal_last(f->s, 3, "contract", &last, &err), 0);
	assert_int_equal(last, 5);
	assert_int_equal(mg_state_journal_last(f->s, 3, "backfill", &last, &err), 0);
	assert_int_equal(last, 0);

	assert_int_equal(mg_state_journal_clear(f->s, 3, &err), 0);
	assert_int_equal(mg_state_journal_last(f->s, 3, "expand", &last, &err), 0);
	assert_int_equal(last, 0);
	assert_int_equal(mg_state_journal_last(f->s, 4, "expand", &last, &err), 0);
	assert_int_equal(last, 7);
}

static void test_checkpoints(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_checkpoint c = { 0 }, got = { 0 }, *list;
	size_t n;

	assert_int_equal(mg_state_checkpoint_get(f->s, 3, "\"public\".\"users\"",
						 0, &got, &err), 1);

	/* before the first batch: no keys yet */
	c.migration_id = 3;
	c.table_name = "\"public\".\"users\"";
	c.part = 0;
	c.estimate = 5000000000LL;
	assert_int_equal(mg_state_checkpoint_put(f->s, &c, &err), 0);
	assert_int_equal(mg_state_checkpoint_get(f->s, 3, "\"public\".\"users\"",
						 0, &got, &err), 0);
	assert_null(got.last_key_json);
	assert_null(got.upto_key_json);
	assert_int_equal(got.rows_done, 0);
	assert_true(got.estimate == 5000000000LL);
	assert_int_equal(got.done, 0);
	assert_non_null(got.updated_at);
	mg_checkpoint_release(&got);

	/* a batch later: keys set, replacing the row */
	c.last_key_json = "[\"42\",\"b\"]";
	c.upto_key_json = "[\"1000\",\"z\"]";
	c.rows_done = 4200;
	assert_int_equal(mg_state_checkpoint_put(f->s, &c, &err), 0);
	c.part = 1;
	c.last_key_json = NULL;
	c.rows_done = 0;
	c.done = 1;
	assert_int_equal(mg_state_checkpoint_put(f->s, &c, &err), 0);
	c.table_name = "\"public\".\"accounts\"";
	c.part = 0;
	assert_int_equal(mg_state_checkpoint_put(f->s, &c, &err), 0);
	c.migration_id = 4;
	assert_int_equal(mg_state_checkpoint_put(f->s, &c, &err), 0);

	assert_int_equal(mg_state_checkpoint_get(f->s, 3, "\"public\".\"users\"",
						 0, &got, &err), 0);
	assert_string_equal(got.last_key_json, "[\"42\",\"b\"]");
	assert_string_equal(got.upto_key_json, "[\"1000\",\"z\"]");
	assert_int_equal(got.rows_done, 4200);
	mg_checkpoint_release(&got);

	assert_int_equal(mg_state_checkpoint_list(f->s, 3, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].table_name, "\"public\".\"accounts\"");
	assert_string_equal(list[1].table_name, "\"public\".\"users\"");
	assert_int_equal(list[1].part, 0);
	assert_int_equal(list[2].part, 1);
	assert_null(list[2].last_key_json);
	assert_int_equal(list[2].done, 1);
	assert_int_equal(list[2].migration_id, 3);
	mg_state_checkpoint_list_free(list, n);

	assert_int_equal(mg_state_checkpoint_clear(f->s, 3, &err), 0);
	assert_int_equal(mg_state_checkpoint_list(f->s, 3, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	mg_state_checkpoint_list_free(list, n);
	assert_int_equal(mg_state_checkpoint_list(f->s, 4, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	mg_state_checkpoint_list_free(list, n);
}

static void test_events(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_event *list;
	char msg[32];
	size_t n;
	int i;

	assert_int_equal(mg_state_event_list(f->s, 10, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	mg_state_event_list_free(list, n);

	for (i = 1; i <= 5; i++) {
		snprintf(msg, sizeof(msg), "event %d", i);
		assert_int_equal(mg_state_event_add(f->s, "expand", i == 3 ? 0 : i,
						    i == 2 ? "blue" : NULL,
						    i == 4 ? "refused" : "ok",
						    msg, &err), 0);
	}

	/* the newest three, oldest first */
	assert_int_equal(mg_state_event_list(f->s, 3, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].message, "event 3");
	assert_int_equal(list[0].migration_id, 0);
	assert_string_equal(list[1].message, "event 4");
	assert_string_equal(list[1].result, "refused");
	assert_string_equal(list[2].message, "event 5");
	assert_true(list[0].seq < list[1].seq && list[1].seq < list[2].seq);
	assert_null(list[2].colour);
	assert_string_equal(list[2].command, "expand");
	assert_non_null(list[2].at);
	mg_state_event_list_free(list, n);

	assert_int_equal(mg_state_event_list(f->s, 0, &list, &n, &err), 0);
	assert_int_equal(n, 5);
	assert_string_equal(list[0].message, "event 1");
	assert_string_equal(list[1].colour, "blue");
	assert_int_equal(list[4].migration_id, 5);
	mg_state_event_list_free(list, n);
}

static void test_transactions(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_state *s;
	char *v;

	assert_int_equal(mg_state_begin(f->s, &err), 0);
	assert_int_equal(mg_state_meta_set(f->s, "generation", "1", &err), 0);
	assert_int_equal(mg_state_event_add(f->s, "expand", 1, NULL, "ok", "x",
					    &err), 0);
	mg_state_rollback(f->s);
	assert_int_equal(mg_state_meta_get(f->s, "generation", &v, &err), 0);
	assert_string_equal(v, "0");
	free(v);

	assert_int_equal(mg_state_begin(f->s, &err), 0);
	assert_int_equal(mg_state_meta_set(f->s, "generation", "2", &err), 0);
	assert_int_equal(mg_state_commit(f->s, &err), 0);
	/* rollback outside a transaction does nothing */
	mg_state_rollback(f->s);

	/* a second connection sees the committed value */
	assert_int_equal(mg_state_open(&s, f->path, 0, 0, NULL, &err), 0);
	assert_int_equal(mg_state_meta_get(s, "generation", &v, &err), 0);
	assert_string_equal(v, "2");
	free(v);
	mg_state_close(s);

	/* a commit without begin is an error with the path */
	assert_int_equal(mg_state_commit(f->s, &err), -1);
	assert_int_equal(err.code, MG_EDB);
	assert_non_null(strstr(err.msg, f->path));
}

/* ---- faults: damaged, blank and half-made files -------------------------- */

/* The root page of a table in a closed state file. */
static int root_page(const char *path, const char *table)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int page = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT rootpage FROM"
					    " sqlite_master WHERE name = ?",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		page = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return page;
}

/* Write 4096 pseudo-random bytes at offset. */
static void smash(const char *path, long offset)
{
	unsigned char junk[4096];
	FILE *fp = fopen(path, "r+b");
	size_t i;

	assert_non_null(fp);
	srand(11);
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)rand();
	assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
	fclose(fp);
}

/* A locked, closed state with n events. */
static void state_with_events(const char *path, int n)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_state *s;
	int i;

	assert_int_equal(mg_state_open(&s, path, 1, 1, NULL, &err), 0);
	assert_int_equal(mg_state_begin(s, &err), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(mg_state_event_add(s, "expand", i, NULL, "ok",
						    "an event of some length to fill pages",
						    &err), 0);
	assert_int_equal(mg_state_commit(s, &err), 0);
	mg_state_close(s);
}

static void test_damaged(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_state *s = NULL;
	char *want = mg_xasprintf("state file '%s' is damaged: ", f->path);
	struct stat sb;
	int page;

	state_with_events(f->path, 500);
	page = root_page(f->path, "checkpoints");
	assert_true(page > 1);
	smash(f->path, (long)(page - 1) * 4096);

	/* refused by every way of opening, naming the file and the cause */
	assert_int_equal(mg_state_open(&s, f->path, 0, 0, NULL, &err), -1);
	assert_null(s);
	assert_int_equal(err.code, MG_EDB);
	assert_memory_equal(err.msg, want, strlen(want));
	assert_true(strlen(err.msg) > strlen(want));
	assert_null(strchr(err.msg, '\n'));
	assert_non_null(strstr(err.hint, "restore"));
	mg_err_clear(&err);
	assert_int_equal(mg_state_open(&s, f->path, 1, 1, NULL, &err), -1);
	assert_memory_equal(err.msg, want, strlen(want));

	/* cut short: half of the file */
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(truncate(f->path, sb.st_size / 2), 0);
	mg_err_clear(&err);
	assert_int_equal(mg_state_open(&s, f->path, 1, 1, NULL, &err), -1);
	assert_memory_equal(err.msg, want, strlen(want));
	/* cut inside the header: damaged too, not "not a migrate state file" */
	assert_int_equal(truncate(f->path, 60), 0);
	mg_err_clear(&err);
	assert_int_equal(mg_state_open(&s, f->path, 1, 1, NULL, &err), -1);
	assert_memory_equal(err.msg, want, strlen(want));
	free(want);
}

static void test_check_has_a_time_limit(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_state *s;

	state_with_events(f->path, 20000);
	assert_int_equal(mg_state_open(&s, f->path, 0, 0, NULL, &err), 0);
	assert_int_equal(mg_state_check(s, MG_STATE_CHECK_LIMIT_MS, &err), 0);
	assert_int_equal(mg_state_check(s, 0, &err), -1);
	assert_non_null(strstr(err.msg, "integrity check did not finish within 0 ms"));
	assert_non_null(strstr(err.msg, f->path));
	/* the connection is usable afterwards */
	assert_int_equal(mg_state_check(s, MG_STATE_CHECK_LIMIT_MS, &err), 0);
	mg_state_close(s);
}

static void test_half_made(void **arg)
{
	struct fixture *f = *arg;
	struct mg_err err = MG_ERR_INIT;
	struct mg_state *s;
	char *tmp = mg_xasprintf("%s.creating", f->path);
	char *id = NULL;
	int created = 0;
	sqlite3 *db;
	FILE *fp;

	/* a ".creating" left by a crash does not stop the next creation */
	assert_int_equal(mg_state_open(&s, f->path, 1, 1, NULL, &err), 0);
	mg_state_close(s);
	assert_int_equal(unlink(f->path), 0);
	fp = fopen(tmp, "w");
	fputs("half", fp);
	fclose(fp);
	assert_int_equal(mg_state_open(&s, f->path, 1, 1, &created, &err), 0);
	assert_int_equal(created, 1);
	mg_state_close(s);
	assert_int_not_equal(access(tmp, F_OK), 0);

	/* what an older migrate left when the disk filled up during the
	 * creation: a header page in WAL mode and no table */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL,
				      NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(mg_state_probe(f->path), MG_STATE_BLANK);
	assert_int_equal(mg_state_open(&s, f->path, 0, 0, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "is empty: a run stopped while creating it"));
	assert_null(strstr(err.msg, "not a migrate state file"));
	mg_err_clear(&err);
	assert_int_equal(mg_state_open(&s, f->path, 1, 1, &created, &err), 0);
	assert_int_equal(created, 1);
	assert_int_equal(mg_state_meta_get(s, "state_id", &id, &err), 0);
	assert_non_null(id);
	mg_state_close(s);
	free(id);
	assert_int_equal(mg_state_probe(f->path), MG_STATE_PRESENT);
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(mg_state_probe(f->path), MG_STATE_MISSING);
	free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_reopen,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_missing_file,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_not_a_state,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lock_in_other_process,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lock_of_an_older_version,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_meta,
						fixture_open_state, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_migrations,
						fixture_open_state, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_journal,
						fixture_open_state, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints,
						fixture_open_state, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_events,
						fixture_open_state, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_transactions,
						fixture_open_state, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_damaged,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_check_has_a_time_limit,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_half_made,
						fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

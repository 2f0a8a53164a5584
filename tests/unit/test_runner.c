/*
 * test_runner.c - the runner's proof that a state file belongs to its
 * target (src/runner.c, design §5), against the fake driver
 * (fake_driver.h): a database in memory whose history table the core
 * reads and writes through the mg_db_* wrappers.
 *
 * The story: a first run creates the state and takes the lock; every
 * history write moves the generation of both by one. An older copy of
 * the state file is refused as stale, a state file ahead of the history
 * (a restored database) is refused, another state file or none at all is
 * refused while the database has history, a state file of another
 * database is refused. A crash between the database write and the state
 * write (pending_generation) is repaired, and nothing else is. Without a
 * state file, a read-only command may take the phases from the history.
 * A phase that stopped part-way resumes after the last step the history
 * records, and runs only what is left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_driver.h"
#include "runner.h"

#define WRITE (MG_NEED_DB | MG_NEED_WRITE)

struct fixture {
	char dir[64];
	char *migrations;
	struct mg_options opt;
	struct mg_ctx ctx;
	int open;		/* ctx needs mg_ctx_close */
	struct mg_err err;
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void copy_file(const char *from, const char *to)
{
	char *cmd = mg_xasprintf("cp '%s' '%s'", from, to);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static int setup(void **arg)
{
	struct fixture *f = mg_xcalloc(1, sizeof(*f));
	char *file;

	strcpy(f->dir, "/tmp/mg_runner_XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->migrations = mg_xasprintf("%s/migrations", f->dir);
	mkdir(f->migrations, 0777);
	file = mg_xasprintf("%s/0001_add_email.yaml", f->migrations);
	write_file(file, "operations:\n  - add_column:\n      table: users\n"
		   "      column: email\n      type: text\n");
	free(file);
	f->opt.database = mg_xstrdup("fake://db1");
	f->opt.migrations = mg_xstrdup(f->migrations);
	f->opt.state = mg_xasprintf("%s/state.db", f->dir);
	f->opt.jobs = 1;
	fake_db_reset("fake server/db1");
	f->err = (struct mg_err)MG_ERR_INIT;
	*arg = f;
	return 0;
}

static void ctx_close(struct fixture *f)
{
	if (f->open)
		mg_ctx_close(&f->ctx);
	f->open = 0;
}

static int teardown(void **arg)
{
	struct fixture *f = *arg;
	char *cmd = mg_xasprintf("rm -rf '%s'", f->dir);

	ctx_close(f);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(cmd);
	free(f->opt.database);
	free(f->opt.migrations);
	free(f->opt.state);
	free(f->migrations);
	fake_db_reset("");
	free(f);
	return 0;
}

/* mg_ctx_open; on failure the context is closed at once. */
static int ctx_open(struct fixture *f, unsigned setup_flags)
{
	int rc;

	ctx_close(f);
	f->err = (struct mg_err)MG_ERR_INIT;
	rc = mg_ctx_open(&f->ctx, &f->opt, "test", setup_flags, &f->err);
	f->open = 1;
	if (rc < 0)
		ctx_close(f);
	return rc;
}

static void assert_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("'%s' does not contain '%s'", text, part);
}

static char *meta(struct fixture *f, const char *key)
{
	char *v = NULL;

	assert_int_equal(mg_state_meta_get(f->ctx.state, key, &v, &f->err), 0);
	return v;
}

/* A first run and n registry changes: history and state at generation n. */
static void run_with_changes(struct fixture *f, int n)
{
	assert_int_equal(ctx_open(f, WRITE), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(mg_ctx_registry_changed(&f->ctx, &f->err), 0);
	ctx_close(f);
}

/* ---- first run ---------------------------------------------------------------- */

static void test_first_run_creates_state_and_locks(void **arg)
{
	struct fixture *f = *arg;
	char *gen, *fp;

	assert_int_equal(ctx_open(f, WRITE), 0);
	assert_non_null(f->ctx.state);
	assert_non_null(f->ctx.state_id);
	assert_int_equal(f->ctx.generation, 0);
	assert_true(fake_db.locked);
	assert_string_equal(f->ctx.lock_holder, "7");
	fp = meta(f, "fingerprint");
	assert_string_equal(fp, "fake server/db1");
	free(fp);

	assert_int_equal(mg_ctx_registry_changed(&f->ctx, &f->err), 0);
	assert_int_equal(f->ctx.generation, 1);
	assert_int_equal(fake_db_generation(), 1);
	assert_string_equal(fake_db_row(MG_REGISTRY_ID)->state_id, f->ctx.state_id);
	gen = meta(f, "generation");
	assert_string_equal(gen, "1");
	free(gen);
	ctx_close(f);
	assert_false(fake_db.locked);

	/* the next run agrees with the database */
	assert_int_equal(ctx_open(f, WRITE), 0);
	assert_int_equal(f->ctx.generation, 1);
}

static void test_lock_held_elsewhere_refused(void **arg)
{
	struct fixture *f = *arg;

	run_with_changes(f, 1);
	fake_db.lock_held_elsewhere = 1;
	assert_int_equal(ctx_open(f, WRITE), -1);
	assert_int_equal(f->err.code, MG_EDB);
	assert_contains(f->err.msg, "another migrate holds the lock");
	/* a read-only command does not lock */
	assert_int_equal(ctx_open(f, MG_NEED_DB), 0);
	assert_false(f->ctx.locked);
}

/* ---- generations ------------------------------------------------------------- */

static void test_stale_copy_refused(void **arg)
{
	struct fixture *f = *arg;
	char *old = mg_xasprintf("%s/old.db", f->dir);

	run_with_changes(f, 1);
	copy_file(f->opt.state, old);
	run_with_changes(f, 1);
	copy_file(old, f->opt.state);

	assert_int_equal(ctx_open(f, MG_NEED_DB), -1);
	assert_int_equal(f->err.code, MG_EDB);
	assert_contains(f->err.msg, "is stale: it is at generation 1 but the database's history is at 2");
	assert_contains(f->err.hint, "a newer copy of the state file was used since");
	free(old);
}

static void test_history_behind_refused(void **arg)
{
	struct fixture *f = *arg;

	char *id;

	run_with_changes(f, 2);
	/* the database restored from a backup taken at generation 1 */
	id = mg_xstrdup(fake_db_row(MG_REGISTRY_ID)->state_id);
	fake_db_put(MG_REGISTRY_ID, "(colour registry)", NULL, "registry", NULL, 0, id, 1);
	free(id);

	assert_int_equal(ctx_open(f, MG_NEED_DB), -1);
	assert_int_equal(f->err.code, MG_EDB);
	assert_contains(f->err.msg, "the database's history (generation 1) is behind state file");
	assert_contains(f->err.msg, "(generation 2)");
	assert_contains(f->err.hint, "restored from a backup");
}

static void test_other_state_file_refused(void **arg)
{
	struct fixture *f = *arg;
	char *first_id;

	run_with_changes(f, 1);
	first_id = mg_xstrdup(fake_db_row(MG_REGISTRY_ID)->state_id);

	/* a new state file for a database that has history */
	free(f->opt.state);
	f->opt.state = mg_xasprintf("%s/other.db", f->dir);
	assert_int_equal(ctx_open(f, WRITE), -1);
	assert_int_equal(f->err.code, MG_EDB);
	assert_contains(f->err.msg, "does not exist, but the database has migrate history (generation 1, colours registered)");
	assert_contains(f->err.hint, "never start a new one for a database that has history");

	/* a state file made elsewhere, meeting this history */
	fake_db_reset("fake server/db1");
	run_with_changes(f, 0);
	fake_db_put(MG_REGISTRY_ID, "(colour registry)", NULL, "registry", NULL, 0,
		    first_id, 0);
	assert_int_equal(ctx_open(f, MG_NEED_DB), -1);
	assert_int_equal(f->err.code, MG_EDB);
	assert_contains(f->err.msg, "is not the one this database's history was written with");
	assert_contains(f->err.msg, first_id);
	free(first_id);
}

static void test_missing_or_blank_state_with_history(void **arg)
{
	struct fixture *f = *arg;

	fake_db_put(1, "0001_add_email", "c1", "expanded", NULL, 0, "someone", 0);
	assert_int_equal(ctx_open(f, MG_NEED_DB), -1);
	assert_contains(f->err.msg, "does not exist, but the database has migrate history (generation 1, migrations applied)");

	write_file(f->opt.state, "");
	assert_int_equal(ctx_open(f, WRITE), -1);
	assert_int_equal(f->err.code, MG_EDB);
	assert_contains(f->err.msg, "is empty (a run stopped while creating it)");
}

static void test_other_database_refused(void **arg)
{
	struct fixture *f = *arg;

	run_with_changes(f, 1);
	strcpy(fake_db.fingerprint, "fake server/db2");
	assert_int_equal(ctx_open(f, MG_NEED_DB), -1);
	assert_int_equal(f->err.code, MG_EDB);
	assert_contains(f->err.msg, "belongs to another database (recorded 'fake server/db1', this one is 'fake server/db2')");
}

/* The database committed generation 2, the process died before the state
 * recorded it: pending_generation says so, and the state adopts it. */
static void test_crash_between_writes_repaired(void **arg)
{
	struct fixture *f = *arg;
	struct mg_state_migration rec = { .id = 1, .name = "0001_add_email",
					  .checksum = "c1", .phase = "expanded" };
	struct mg_state_migration got;
	char *gen;

	assert_int_equal(ctx_open(f, WRITE), 0);
	assert_int_equal(mg_ctx_registry_changed(&f->ctx, &f->err), 0);
	assert_int_equal(mg_state_migration_put(f->ctx.state, &rec, &f->err), 0);
	assert_int_equal(mg_state_meta_set(f->ctx.state, "pending_generation", "2", &f->err), 0);
	fake_db_put(1, "0001_add_email", "c1", "backfilled", "backfill", 0,
		    f->ctx.state_id, 0);
	ctx_close(f);

	assert_int_equal(ctx_open(f, MG_NEED_DB), 0);
	assert_int_equal(f->ctx.generation, 2);
	gen = meta(f, "generation");
	assert_string_equal(gen, "2");
	free(gen);
	assert_int_equal(mg_state_migration_get(f->ctx.state, 1, &got, &f->err), 0);
	assert_string_equal(got.phase, "backfilled");
	mg_state_migration_release(&got);
	assert_int_equal(f->ctx.n_views, 1);
	assert_int_equal(f->ctx.views[0].phase, MG_PHASE_BACKFILLED);
}

/* Only the generation the state announced is adopted: one further ahead
 * is someone else's write. */
static void test_unannounced_generation_refused(void **arg)
{
	struct fixture *f = *arg;

	assert_int_equal(ctx_open(f, WRITE), 0);
	assert_int_equal(mg_ctx_registry_changed(&f->ctx, &f->err), 0);
	assert_int_equal(mg_state_meta_set(f->ctx.state, "pending_generation", "3", &f->err), 0);
	fake_db_put(1, "0001_add_email", "c1", "expanded", NULL, 0, f->ctx.state_id, 0);
	ctx_close(f);

	assert_int_equal(ctx_open(f, MG_NEED_DB), -1);
	assert_contains(f->err.msg, "is stale: it is at generation 1 but the database's history is at 2");
}

/* ---- without a state file ------------------------------------------------------ */

static void test_history_is_enough_without_state(void **arg)
{
	struct fixture *f = *arg;

	/* nothing applied and no state: nothing to read, nothing created */
	assert_int_equal(ctx_open(f, MG_NEED_DB), 0);
	assert_null(f->ctx.state);
	assert_int_equal(access(f->opt.state, F_OK), -1);

	fake_db_put(MG_REGISTRY_ID, "(colour registry)", NULL, "registry", NULL, 0, "s", 0);
	fake_db_put(1, "0001_add_email", "c1", "expanded", "expand", 2, "s", 0);
	assert_int_equal(ctx_open(f, MG_NEED_DB | MG_HISTORY_IS_ENOUGH), 0);
	assert_null(f->ctx.state);
	assert_int_equal(f->ctx.n_views, 1);	/* the registry row is no migration */
	assert_int_equal(f->ctx.views[0].id, 1);
	assert_int_equal(f->ctx.views[0].phase, MG_PHASE_EXPANDED);
	assert_string_equal(f->ctx.views[0].rec.checksum, "c1");
	assert_non_null(f->ctx.views[0].hist);
}

/* ---- the name length limit ------------------------------------------------------ */

/* Migration files are loaded with the limit of the URL's driver, before
 * any connection (fakemin takes 30 bytes, fake 63). */
static void test_name_limit_of_the_urls_driver(void **arg)
{
	struct fixture *f = *arg;
	char *file = mg_xasprintf("%s/0002_long.yaml", f->migrations);

	write_file(file, "operations:\n  - add_column:\n      table: users\n"
		   "      column: a_column_name_of_forty_bytes_abcdefghijk\n      type: text\n");
	assert_int_equal(ctx_open(f, MG_NEED_DB), 0);
	assert_int_equal(f->ctx.files.n, 2);

	free(f->opt.database);
	f->opt.database = mg_xstrdup("fakemin://db1");
	assert_int_equal(ctx_open(f, MG_NEED_DB), -1);
	assert_int_equal(f->err.code, MG_EINPUT);
	assert_contains(f->err.msg, "name too long for 'column' at ");
	assert_contains(f->err.msg, "0002_long.yaml:4:15: 'a_column_name_of_forty_bytes_abcdefghijk' is 40 bytes, at most 30");

	/* no database at all: the strictest driver's */
	free(f->opt.database);
	f->opt.database = NULL;
	assert_int_equal(mg_driver_name_limit(NULL), 30);
	assert_int_equal(mg_driver_name_limit("fake://x"), 63);
	free(file);
}

/* ---- resuming a phase ---------------------------------------------------------- */

static void three_steps(struct mg_plan *p)
{
	static const char *const sql[] = { "s1", "s2", "s3" };
	static const char *const what[] = { "step one", "step two", "step three" };

	mg_plan_init(p);
	for (int i = 0; i < 3; i++) {
		struct mg_step *s = mg_plan_add_step(p, MG_PLAN_EXPAND, MG_STEP_TX, "users",
						     what[i], sql[i], NULL);

		assert_non_null(s);
	}
}

static void test_phase_resumes_after_last_recorded_step(void **arg)
{
	struct fixture *f = *arg;
	struct mg_state_migration rec = { .id = 1, .name = "0001_add_email",
					  .checksum = "c1", .phase = "pending" };
	struct mg_plan plan;
	json_t *second;

	three_steps(&plan);
	assert_int_equal(ctx_open(f, WRITE), 0);
	assert_int_equal(mg_state_migration_put(f->ctx.state, &rec, &f->err), 0);
	ctx_close(f);

	/* the first run dies in step 3: steps 1 and 2 committed */
	assert_int_equal(ctx_open(f, WRITE), 0);
	fake_db.fail_step = 3;
	assert_int_equal(mg_ctx_run_phase(&f->ctx, &f->ctx.views[0], &plan, MG_PLAN_EXPAND,
					  MG_PHASE_EXPANDED, &f->err), -1);
	assert_string_equal(f->err.msg, "expand 0001, step 3 of 3 (step three): fake: the server went away");
	assert_int_equal(fake_db.n_ran, 2);
	assert_int_equal(fake_db_row(1)->step_index, 2);
	assert_string_equal(fake_db_row(1)->phase, "pending");
	ctx_close(f);

	/* the next run agrees with the history and runs step 3 alone */
	assert_int_equal(ctx_open(f, WRITE), 0);
	assert_int_equal(mg_ctx_run_phase(&f->ctx, &f->ctx.views[0], &plan, MG_PLAN_EXPAND,
					  MG_PHASE_EXPANDED, &f->err), 0);
	assert_int_equal(fake_db.n_ran, 3);
	assert_string_equal(fake_db.ran[2], "s3");
	second = f->ctx.steps;
	assert_int_equal(json_array_size(second), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(second, 0), "result")),
			    "done by an earlier run");
	assert_string_equal(json_string_value(json_object_get(json_array_get(second, 1), "result")),
			    "done by an earlier run");
	assert_string_equal(json_string_value(json_object_get(json_array_get(second, 2), "result")),
			    "done");
	assert_string_equal(fake_db_row(1)->phase, "expanded");
	assert_int_equal(f->ctx.views[0].phase, MG_PHASE_EXPANDED);
	assert_int_equal(f->ctx.generation, fake_db_generation());
	ctx_close(f);

	/* a phase that finished is not skipped into by a later phase's row */
	assert_int_equal(ctx_open(f, WRITE), 0);
	assert_int_equal(f->ctx.views[0].phase, MG_PHASE_EXPANDED);
	mg_plan_release(&plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_run_creates_state_and_locks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_held_elsewhere_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_copy_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_behind_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_state_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_or_blank_state_with_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_database_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_between_writes_repaired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unannounced_generation_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_is_enough_without_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_limit_of_the_urls_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phase_resumes_after_last_recorded_step, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_fleet.c - the fleet file (src/fleet_file.c), without a database.
 *
 * The story: a target's default name comes from its URL (host, port,
 * database; never the user or the password, whatever characters the
 * password holds); paths in the file are relative to the file's
 * directory; ${VAR} comes from the environment; targets_command adds
 * targets after the listed ones; and everything wrong is refused naming
 * file:line:column before anything runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet.h"

static char dir[] = "/tmp/mg-fleet-unit-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Load text as dir/fleet.yaml: the return code, err filled. */
static int load(struct mg_fleet *f, const char *text, struct mg_err *err)
{
	return mg_fleet_load(f, write_file("fleet.yaml", text), err);
}

/* ---- names ------------------------------------------------------------------ */

static void test_name_from_url(void **arg)
{
	static const char *const cases[][2] = {
		{ "postgres://app:pw@db1:5432/shard001", "db1_5432_shard001" },
		{ "postgresql://db1/shard001?sslmode=require", "db1_shard001" },
		{ "mysql://app:p%40ss@db-2.internal:3306/tenant_7", "db-2.internal_3306_tenant_7" },
		/* a password holding '@' and '/': the host is after the last '@' */
		{ "postgres://app:a@b/c@db3:5433/x", "db3_5433_x" },
		{ "postgres://db4", "db4" },
		{ "postgres://[::1]:5432/d", "___1__5432_d" },
	};

	(void)arg;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *name = mg_fleet_name_from_url(cases[i][0]);

		assert_string_equal(name, cases[i][1]);
		free(name);
	}
}

/* ---- a good file ---------------------------------------------------------------- */

static void test_targets_and_paths(void **arg)
{
	struct mg_fleet f;
	struct mg_err err = MG_ERR_INIT;
	char want[300];

	(void)arg;
	setenv("MG_FLEET_UNIT_PW", "s3cret", 1);
	write_file("list.sh", "echo '# a comment'\necho\necho 'extra postgres://db9/e'\n"
		   "echo 'mysql://db8:3306/m'\n");
	assert_int_equal(load(&f, "concurrency: 3\nstate_dir: st\ntargets:\n"
			      "  - name: one\n    url: postgres://app:${MG_FLEET_UNIT_PW}@db1/a\n"
			      "  - url: postgres://db2:5432/b\n    state: own.db\n"
			      "targets_command: sh list.sh\n", &err), 0);
	assert_int_equal(f.concurrency, 3);
	assert_int_equal(f.n, 4);
	assert_string_equal(f.targets[0].name, "one");
	assert_string_equal(f.targets[0].url, "postgres://app:s3cret@db1/a");
	assert_null(strstr(f.targets[0].shown, "s3cret"));
	snprintf(want, sizeof(want), "%s/st/one.db", dir);
	assert_string_equal(f.targets[0].state, want);
	snprintf(want, sizeof(want), "%s/st/one.log", dir);
	assert_string_equal(f.targets[0].log, want);
	assert_string_equal(f.targets[1].name, "db2_5432_b");
	snprintf(want, sizeof(want), "%s/own.db", dir);
	assert_string_equal(f.targets[1].state, want);
	assert_string_equal(f.targets[2].name, "extra");
	assert_string_equal(f.targets[2].url, "postgres://db9/e");
	assert_string_equal(f.targets[3].name, "db8_3306_m");
	mg_fleet_release(&f);
}

/* ---- refused, naming where ---------------------------------------------------------- */

static void refused(const char *text, const char *message)
{
	struct mg_fleet f;
	struct mg_err err = MG_ERR_INIT;

	assert_int_equal(load(&f, text, &err), -1);
	assert_int_equal(err.code, MG_EINPUT);
	if (!strstr(err.msg, message))
		fail_msg("expected '%s' in '%s'", message, err.msg);
}

static void test_refusals(void **arg)
{
	(void)arg;
	unsetenv("MG_FLEET_UNIT_UNSET");
	refused("targets:\n  - name: a\n", "missing 'url' at ");
	refused("targets:\n  - name: a\n    url: x://h/d\n  - name: a\n    url: x://h/e\n",
		"duplicate target name 'a' at ");
	refused("targets:\n  - url: x://u:${MG_FLEET_UNIT_UNSET}@h/d\n",
		"environment variable 'MG_FLEET_UNIT_UNSET' is not set");
	refused("targets:\n  - url: x://u:${OPEN@h/d\n", "unclosed '${'");
	refused("targets:\n  - url: x://h/d\n    nmae: a\n", "did you mean 'name'?");
	refused("targts:\n  - url: x://h/d\n", "did you mean 'targets'?");
	refused("concurrency: 0\ntargets:\n  - url: x://h/d\n", "from 1 to 256");
	refused("targets:\n  - name: ../up\n    url: x://h/d\n", "is not a file name");
	refused("targets:\n  - url: x://h/d\n  - [\n", "YAML syntax error at ");
	refused("targets: []\n", "lists no target");
	refused("targets_command: exit 7\n", "failed (exit status 7)");
	refused("targets_command: echo 'a b c'\n", "expected 'URL' or 'NAME URL'");
	refused("- just\n- a list\n", "is not a fleet file");
}

static void test_where(void **arg)
{
	struct mg_fleet f;
	struct mg_err err = MG_ERR_INIT;

	(void)arg;
	assert_int_equal(load(&f, "targets:\n  - url: x://h/d\n    stat: a\n", &err), -1);
	assert_non_null(strstr(err.msg, "fleet.yaml:3:5"));
}

static void test_worst(void **arg)
{
	(void)arg;
	assert_int_equal(mg_fleet_worst(0, 1), 1);
	assert_int_equal(mg_fleet_worst(2, 1), 2);
	assert_int_equal(mg_fleet_worst(3, 2), 3);
	assert_int_equal(mg_fleet_worst(0, 127), 3);	/* anything else: a runtime error */
}

static int setup(void **arg)
{
	(void)arg;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **arg)
{
	char cmd[300];

	(void)arg;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_from_url),
		cmocka_unit_test(test_targets_and_paths),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_worst),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

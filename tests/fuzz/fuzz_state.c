/*
 * fuzz_state.c - libFuzzer target for the state-file reader (src/state.c)
 * through its public API: the input is the bytes of a state file; it is
 * opened the way `status` opens an existing one (mg_state_open with
 * create = 0, no lock) and read the way `status` reads it: the metadata,
 * every migration, each one's backfill checkpoints (their keys parsed as
 * JSON, as status does), the colours and the newest events. Then the
 * core's view of it, as `status` builds it without a database
 * (mg_ctx_open): the migrations beside the state file's records, the
 * readable window, each colour's liveness and switch-back advice, and the
 * contract gate's preview.
 *
 * Each input gets a fresh file (opening may write: the WAL mode, a missing
 * table). A damaged file must be refused with MG_EDB and a message, never
 * crash or hang.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "colour.h"
#include "config.h"
#include "fuzz_common.h"
#include "runner.h"
#include "state.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The migrations beside the state file: the ids the seed records. */
static char migrations_dir[4096];

static const char migration_1[] =
	"operations:\n"
	"  - add_column: {table: users, column: email, type: text}\n";
static const char migration_2[] =
	"operations:\n"
	"  - create_index: {table: users, name: users_email, columns: [email]}\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[4096];

	(void)argc;
	(void)argv;
	snprintf(migrations_dir, sizeof(migrations_dir), "%s/migrations", fuzz_dir());
	if (mkdir(migrations_dir, 0700) != 0)
		abort();
	fuzz_write_file(path, "migrations/0001_add_email.yaml",
			(const uint8_t *)migration_1, sizeof(migration_1) - 1);
	fuzz_write_file(path, "migrations/0002_index.yaml",
			(const uint8_t *)migration_2, sizeof(migration_2) - 1);
	return 0;
}

static const char *const meta_keys[] = {
	"state_id", "fingerprint", "generation", "pending_generation", NULL
};

static void check_err(const struct mg_err *err)
{
	if (err->code != MG_EDB || !err->msg[0]) {
		fprintf(stderr, "bad error (code %d): %s\n", err->code, err->msg);
		abort();
	}
}

static void read_keys(const struct mg_checkpoint *c)
{
	json_decref(c->last_key_json ? json_loads(c->last_key_json, 0, NULL) : NULL);
	json_decref(c->upto_key_json ? json_loads(c->upto_key_json, 0, NULL) : NULL);
}

static int read_migrations(struct mg_state *s, struct mg_err *err)
{
	struct mg_state_migration *ms = NULL;
	size_t n = 0;
	int rc = 0;

	if (mg_state_migration_list(s, &ms, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct mg_checkpoint *cps = NULL;
		size_t ncp = 0;
		struct mg_state_migration one;
		int last;

		rc = mg_state_checkpoint_list(s, ms[i].id, &cps, &ncp, err);
		for (size_t j = 0; rc == 0 && j < ncp; j++)
			read_keys(&cps[j]);
		if (rc == 0)
			mg_state_checkpoint_list_free(cps, ncp);
		if (rc == 0 && (rc = mg_state_migration_get(s, ms[i].id, &one, err)) == 0)
			mg_state_migration_release(&one);
		if (rc == 1)
			rc = 0;
		if (rc == 0)
			rc = mg_state_journal_last(s, ms[i].id, "expand", &last, err);
	}
	mg_state_migration_list_free(ms, n);
	return rc;
}

static int read_all(struct mg_state *s, struct mg_err *err)
{
	struct mg_colour *cs = NULL;
	struct mg_event *es = NULL;
	size_t n = 0;

	for (int i = 0; meta_keys[i]; i++) {
		char *v = NULL;

		if (mg_state_meta_get(s, meta_keys[i], &v, err) < 0)
			return -1;
		free(v);
	}
	if (read_migrations(s, err) < 0)
		return -1;
	if (mg_state_colour_list(s, &cs, &n, err) < 0)
		return -1;
	mg_state_colour_list_free(cs, n);
	if (mg_state_event_list(s, 50, &es, &n, err) < 0)
		return -1;
	mg_state_event_list_free(es, n);
	return 0;
}

static void colour_views(struct mg_ctx *ctx)
{
	struct mg_colour *cs = NULL;
	size_t n = 0;
	struct mg_err err = MG_ERR_INIT;

	if (!ctx->state || mg_state_colour_list(ctx->state, &cs, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct mg_liveness l;
		int safe;

		mg_colour_liveness(ctx, &cs[i], &l);
		json_decref(mg_colour_json(ctx, &cs[i], &l));
		free(mg_colour_switch_back(ctx, &cs[i], &l, &safe));
	}
	mg_state_colour_list_free(cs, n);
}

/* What `status` computes from the state file and the migration files. */
static void status_view(const char *path)
{
	struct mg_options o;
	struct mg_ctx ctx;
	struct mg_err err = MG_ERR_INIT;

	mg_options_init(&o);
	o.state = strdup(path);
	o.migrations = strdup(migrations_dir);
	if (mg_ctx_open(&ctx, &o, "status", 0, &err) == 0) {
		struct mg_window w;

		mg_window_compute(&ctx, &w);
		json_decref(mg_window_json(&ctx));
		colour_views(&ctx);
		for (size_t i = 0; i < ctx.n_views; i++) {
			struct mg_err gate = MG_ERR_INIT;

			mg_gate_contract_preview(&ctx, ctx.views[i].id, &gate);
			free(mg_version_label(&ctx, ctx.views[i].id));
		}
	} else {
		check_err(&err);
	}
	mg_ctx_close(&ctx);
	mg_options_release(&o);
}

static void remove_file(const char *path, const char *suffix)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	unlink(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_state *s = NULL;
	struct mg_err err = MG_ERR_INIT;
	char path[4096];

	remove_file(fuzz_dir(), "/state.db-wal");
	remove_file(fuzz_dir(), "/state.db-shm");
	remove_file(fuzz_dir(), "/state.db-journal");
	fuzz_write_file(path, "state.db", data, size);
	if (mg_state_open(&s, path, 0, 0, NULL, &err) < 0) {
		check_err(&err);
		return 0;
	}
	if (read_all(s, &err) < 0)
		check_err(&err);
	mg_state_close(s);
	status_view(path);
	return 0;
}

/*
 * state_seed.c - writes the seed of the state-file fuzz target: a small
 * state file made through the public API (metadata, two migrations, a
 * journal, checkpoints, a colour, events), rewritten with 512-byte pages
 * and no WAL so that it fits the target's -max_len.
 *
 * Usage: fuzz_state_seed OUT.db. Generated, not committed, so that it
 * follows the schema of src/state.c.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"

static void check(int rc, const struct mg_err *err)
{
	if (rc < 0) {
		fprintf(stderr, "fuzz_state_seed: %s\n", err->msg);
		exit(1);
	}
}

static void fill(struct mg_state *s)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_state_migration m = { 0 };
	struct mg_checkpoint c = { 0 };
	struct mg_colour col = { 0 };

	check(mg_state_meta_set(s, "fingerprint", "pg:1234:app", &err), &err);
	check(mg_state_meta_set(s, "generation", "3", &err), &err);
	m.id = 1;
	m.name = "0001_add_email";
	m.checksum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	m.phase = "backfilled";
	m.plan_json = "{\"expand\":[{\"sql\":\"ALTER TABLE t ADD c int\"}]}";
	check(mg_state_migration_put(s, &m, &err), &err);
	m.id = 2;
	m.name = "0002_index";
	m.phase = "pending";
	m.plan_json = NULL;
	check(mg_state_migration_put(s, &m, &err), &err);
	check(mg_state_journal_add(s, 1, "expand", 1, "done", "add column", &err), &err);
	c.migration_id = 1;
	c.table_name = "public.users";
	c.last_key_json = "[\"41\",\"x\"]";
	c.upto_key_json = "[\"100\",\"z\"]";
	c.rows_done = 41;
	c.estimate = 100;
	check(mg_state_checkpoint_put(s, &c, &err), &err);
	col.name = "blue";
	col.app_version = "v2";
	col.requires_id = 1;
	col.state = "live";
	col.match_pattern = "app-*";
	col.ttl_s = 60;
	check(mg_state_colour_put(s, &col, &err), &err);
	check(mg_state_event_add(s, "expand", 1, "blue", "ok", "expanded", &err), &err);
	check(mg_state_event_add(s, "status", 0, NULL, "info", "looked", &err), &err);
}

static void shrink(const char *path)
{
	sqlite3 *db;
	char *msg = NULL;

	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = DELETE; PRAGMA page_size = 512; VACUUM;",
			 NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "fuzz_state_seed: %s\n", msg ? msg : sqlite3_errmsg(db));
		exit(1);
	}
	sqlite3_close(db);
}

int main(int argc, char **argv)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_state *s;

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_state_seed OUT.db\n");
		return 2;
	}
	unlink(argv[1]);
	check(mg_state_open(&s, argv[1], 1, 0, NULL, &err), &err);
	fill(s);
	mg_state_close(s);
	shrink(argv[1]);
	return 0;
}

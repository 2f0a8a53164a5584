/*
 * fuzz_migration.c - libFuzzer target for the migration loader
 * (mg_migration_load, src/migration.c): the input is the bytes of a
 * migration file. The loader takes a path, so the input is written to a
 * file named like a migration (0001_fuzz.yaml) in a tmpfs directory.
 *
 * Checked beyond the sanitizers: a load either succeeds with at least one
 * operation, or fails as bad input (MG_EINPUT) with a one-line message that
 * names the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "driver.h"
#include "migration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_migration m;
	struct mg_err err = MG_ERR_INIT;
	char path[4096];

	fuzz_write_file(path, "0001_fuzz.yaml", data, size);
	if (mg_migration_load(&m, path, mg_driver_name_limit(NULL), &err) == 0) {
		if (m.n_ops == 0 || m.id != 1) {
			fprintf(stderr, "loaded with %zu operations, id %d\n",
				m.n_ops, m.id);
			abort();
		}
		mg_migration_release(&m);
		return 0;
	}
	if (err.code != MG_EINPUT || !err.msg[0] || strchr(err.msg, '\n')) {
		fprintf(stderr, "bad error (code %d): %s\n", err.code, err.msg);
		abort();
	}
	return 0;
}

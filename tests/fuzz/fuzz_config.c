/*
 * fuzz_config.c - libFuzzer target for the settings file, migrate.yaml
 * (mg_options_resolve, src/config.c), and the redaction of the database
 * URL it gives (mg_redact_url), as `status` shows it.
 *
 * The input is the bytes of migrate.yaml. The environment variables that
 * would take precedence are unset once, so every input reaches the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "driver.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	unsetenv("MIGRATE_DATABASE_URL");
	unsetenv("DATABASE_URL");
	unsetenv("MIGRATE_DIR");
	unsetenv("MIGRATE_STATE");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_options o;
	struct mg_err err = MG_ERR_INIT;
	char path[4096];

	fuzz_write_file(path, "migrate.yaml", data, size);
	mg_options_init(&o);
	o.config = strdup(path);
	if (mg_options_resolve(&o, &err) == 0) {
		free(mg_redact_url(o.database));
		if (!o.migrations || !o.state || o.jobs < 1 || o.jobs > 64) {
			fprintf(stderr, "resolved to an impossible setting\n");
			abort();
		}
	} else if (err.code != MG_EINPUT || !err.msg[0]) {
		fprintf(stderr, "bad error (code %d): %s\n", err.code, err.msg);
		abort();
	}
	mg_options_release(&o);
	return 0;
}

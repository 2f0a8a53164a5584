/*
 * fleet.h - one set of migration files applied to many databases (issue
 * 17): the fleet file (fleet_file.c) and the runner that starts one child
 * migrate per target with bounded concurrency (fleet_run.c). The command
 * layer (cmd/fleet.c) decides what to run and turns the results into the
 * summary and the exit status.
 *
 * Ownership: struct mg_fleet owns its targets and their strings
 * (mg_fleet_release); struct mg_fleet_result owns its buffers
 * (mg_fleet_results_free).
 */
#ifndef MG_FLEET_H
#define MG_FLEET_H

#include <stdint.h>

#include "util.h"

#define MG_FLEET_DEFAULT_CONCURRENCY 4
#define MG_FLEET_DEFAULT_STATE_DIR ".migrate/fleet"
/* Each running child holds three descriptors in the parent (two pipes and
 * its log): 256 at once stays inside the usual limit of 1024. */
#define MG_FLEET_MAX_CONCURRENCY 256

struct mg_fleet_target {
	char *name;	/* unique, file-name safe */
	char *url;	/* ${VAR} expanded: may hold a password, never print it */
	char *shown;	/* the URL with its password as **** */
	char *state;	/* the SQLite state file's path */
	char *log;	/* <state_dir>/<name>.log */
	int line;	/* where the fleet file lists it (0: targets_command) */
};

struct mg_fleet {
	char *path;		/* the fleet file as given */
	char *dir;		/* its directory: relative paths start there */
	char *state_dir;	/* absolute or relative to the cwd, resolved */
	int concurrency;
	struct mg_fleet_target *targets;
	size_t n, alloc;
};

/*
 * Read the fleet file at path: its targets (each URL's ${VAR} from the
 * environment), then the lines targets_command prints. 0, or -1 with err
 * set: MG_EINPUT naming file:line:column for a bad file (unknown key,
 * missing url, duplicate name, unset variable, YAML syntax), the command
 * for a failing targets_command, or a fleet with no target.
 */
int mg_fleet_load(struct mg_fleet *out, const char *path, struct mg_err *err);
void mg_fleet_release(struct mg_fleet *f);

/* A name from a URL: host_port_database, every other byte '_'. malloc'd. */
char *mg_fleet_name_from_url(const char *url);

/* ---- running children ------------------------------------------------- */

struct mg_fleet_result {
	int exit;		/* the child's exit status; 3 when it died by a signal */
	int started;		/* 0: never started (stopped by a signal first) */
	int64_t ms;		/* how long it ran */
	struct mg_buf out;	/* its whole stdout */
	char *last;		/* its last meaningful line, or NULL */
	char *error;		/* the first line of its error ("error: ..."), or NULL */
};

/*
 * How to run: argv is the child's argument vector after the program name
 * (the command and its options, without --fleet); each child gets the
 * target's URL in MIGRATE_DATABASE_URL and its state file in MIGRATE_STATE
 * (and neither MIGRATE_FLEET nor MIGRATE_FLEET_JOBS: it is one target),
 * its stdout and stderr appended to the target's log after a header line
 * naming header. quiet: no progress lines on stderr.
 */
struct mg_fleet_run {
	const char *const *argv;
	size_t argc;
	const char *header;
	int jobs;
	int quiet;
};

/*
 * Run the command on every target of f, at most run->jobs at once; a
 * target that fails stops nothing else. SIGINT/SIGTERM are forwarded to
 * the running children, no new one starts, and the run waits for them.
 * Returns the results (one per target, in f's order; the caller frees
 * them with mg_fleet_results_free), or NULL with err set (MG_EDB: a log
 * file or the state directory cannot be written). *stopped is set when a
 * signal stopped the run.
 */
struct mg_fleet_result *mg_fleet_run(const struct mg_fleet *f, const struct mg_fleet_run *run,
				     int *stopped, struct mg_err *err);
void mg_fleet_results_free(struct mg_fleet_result *r, size_t n);

/* The worst exit status: 3 before 2 before 1 before 0. */
int mg_fleet_worst(int a, int b);

#endif

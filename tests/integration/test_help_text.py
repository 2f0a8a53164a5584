"""--help text that the drivers supply (issue 12: no database knowledge in
src/): each driver's URL forms under --database, and its remarks on
backfill --max-lag / --max-load and colour --match, spliced into their
paragraphs. The layout is pinned byte for byte: it is the text of the
release before the drivers supplied it, then (issue 16) the option lines
generated from the option table: DURATION, the default and the variable."""

import subprocess

DATABASE_OPTION = (
    "  -d, --database URL          postgres://user:pass@host:port/db,\n"
    "                              postgresql://..., a libpq conninfo string, or\n"
    "                              mysql://user:pass@host:port/db (also mariadb://,\n"
    "                              and ?socket=/path for a unix socket) (env\n"
    "                              MIGRATE_DATABASE_URL, then DATABASE_URL)\n")

MAX_LAG_LOAD = (
    "      --max-lag DURATION      pause while the slowest standby lags more than\n"
    "                              DURATION; pause also while the lag cannot be read\n"
    "                              (MySQL: each replica is asked; the URL's\n"
    "                              replica=HOST:PORT names them when the server's\n"
    "                              list will not do) (a bare number is ms; env\n"
    "                              MIGRATE_MAX_LAG)\n"
    "      --max-load N            pause while more than N sessions of the database\n"
    "                              are active (MySQL: Threads_running); migrate's own\n"
    "                              not counted (env MIGRATE_MAX_LOAD)\n")

MATCH = (
    "\n\nA colour is alive while it is live or standby, or while the database shows sessions\n"
    "matching its --match pattern (PostgreSQL: application_name of sessions in the target\n"
    "database; '*' matches any run of characters, '?' one character, the rest is literal;\n"
    "migrate's own sessions never match), or when those sessions cannot be seen.\n"
    "'contract M' is refused")


def run(migrate_bin, *args):
    r = subprocess.run([migrate_bin, *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_every_help_lists_the_drivers_url_forms(migrate_bin):
    for args in (["--help"], ["status", "--help"], ["expand", "--help"],
                 ["check", "--help"], ["log", "--help"]):
        out = run(migrate_bin, *args)
        assert DATABASE_OPTION in out, f"migrate {' '.join(args)}:\n{out}"
        assert "\x01" not in out


def test_backfill_help_has_the_drivers_remarks(migrate_bin):
    out = run(migrate_bin, "backfill", "--help")
    assert MAX_LAG_LOAD in out, out
    assert ("      --sleep DURATION        pause after every batch (default 0; a bare number\n"
            "                              is ms; env MIGRATE_SLEEP)\n" + MAX_LAG_LOAD +
            "      --pause-file PATH       pause while PATH exists (env MIGRATE_PAUSE_FILE)\n"
            in out), out


def test_colour_help_has_the_drivers_remarks(migrate_bin):
    out = run(migrate_bin, "colour", "--help")
    assert "a state: live (takes traffic), standby (idle, kept to switch back to) or retired." \
        + MATCH in out, out


def test_test_build_version_lists_the_drivers_variables(migrate_bin):
    out = run(migrate_bin, "--version")
    assert out.splitlines()[1] == ("test build: honours MIGRATE_FAULT, MIGRATE_TEST_LAG_MS and"
                                   " MIGRATE_TEST_MYSQL_DIALECT; never use it in production"), out

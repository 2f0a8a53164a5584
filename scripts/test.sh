#!/usr/bin/env bash
# Install what the tests need (Debian 12), build migrate twice (plain gcc, then
# clang with AddressSanitizer + UndefinedBehaviorSanitizer) and run the whole
# test suite with ctest each time, then run each fuzz target (tests/fuzz/)
# for a bounded time. The README's test command and .ci/run both
# call this script, so a developer and CI run exactly the same thing.
#
# The integration tests start their own PostgreSQL (initdb in a temporary
# directory, a free loopback port, run as the `postgres` user when we are
# root) and stop it afterwards; the Debian cluster the package may have
# created is never used. The MySQL-driver tests (label "mysql") likewise
# start their own MariaDB (tests/mariadb_server.sh: mariadb-install-db in a
# temporary directory, a free loopback port); the package's own server is
# never used.
#
# Environment knobs:
#   MIGRATE_SKIP_INSTALL=1   do not run apt-get (packages already there)
#   MIGRATE_SKIP_ASAN=1      only the plain build
#   MIGRATE_SKIP_FUZZ=1      no fuzzing run
#   FUZZ_SECONDS=N           seconds per fuzz target (default 10; tests/bench/fuzz_bench.sh fuzzes for longer)
#   MIGRATE_STOP_DEBIAN_CLUSTER=1  stop the package's own cluster if it runs
#                            (.ci/run sets it: CI machines are throw-away)
#   JOBS=N                   parallel build jobs (default 2)
#   TEST_JOBS=N              parallel ctest jobs (default 3: the integration
#                            entries spend much of their time waiting on
#                            servers and locks, so a third job fills the
#                            2 cores; docs/performance.md, "CI time")
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
JOBS=${JOBS:-2}
TEST_JOBS=${TEST_JOBS:-3}
SKIP_INSTALL=${MIGRATE_SKIP_INSTALL:-0}
SKIP_ASAN=${MIGRATE_SKIP_ASAN:-0}
SKIP_FUZZ=${MIGRATE_SKIP_FUZZ:-0}
STOP_CLUSTER=${MIGRATE_STOP_DEBIAN_CLUSTER:-0}

section() { printf '\n==== %s (%s) ====\n' "$*" "$(date -u +%T)"; }

PACKAGES=(
  cmake gcc clang pkg-config make git
  libpq-dev libyaml-dev libsqlite3-dev libjansson-dev libssl-dev libcmocka-dev
  libpg-query-dev
  postgresql postgresql-contrib
  mariadb-server default-libmysqlclient-dev
  python3 python3-pytest python3-psycopg python3-pymysql python3-yaml python3-jsonschema
  python3-prometheus-client
  socat pgbouncer    # pgbouncer: test_colour_places.py (a real pooler in front of the test server)
  man-db groff-base mandoc zsh fish
  tini shellcheck jq    # test_pid1.py (tini as PID 1), test_pipeline_docs.py
)

if [ "$SKIP_INSTALL" != 1 ]; then
  section "install packages (apt-get)"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "not root and no sudo: run as root or set MIGRATE_SKIP_INSTALL=1" >&2; exit 1; }
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" apt-get install -y "${PACKAGES[@]}"
fi

section "test environment"
# Nothing from the caller's shell may point the tests at another database:
# the harness strips these for the binary too, this is belt and braces.
while IFS='=' read -r name _; do
  case $name in PG*|MIGRATE_*|DATABASE_URL|MYSQL_*|MARIADB_*|LIBMYSQL_*) unset "$name" ;; esac
done < <(env)
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || {
  echo "PostgreSQL server binaries missing: apt-get install -y postgresql" >&2; exit 1; }
echo "PostgreSQL for tests: $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1) (own server per test file, temp dir, free port)"
if command -v pg_lsclusters >/dev/null; then
  if [ "$STOP_CLUSTER" = 1 ]; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
      if [ "$status" = online ]; then
        echo "stopping Debian cluster $ver/$name (the tests start their own server)"
        pg_ctlcluster "$ver" "$name" stop || true
      fi
    done
  fi
  echo "Debian clusters (never used by the tests):"; pg_lsclusters || true
fi
if [ ! -x /usr/sbin/mariadbd ] || ! command -v mariadb-install-db >/dev/null; then
  echo "MariaDB server programs missing: apt-get install -y mariadb-server" >&2; exit 1
fi
echo "MariaDB for tests: $(/usr/sbin/mariadbd --version) (own server per test file, temp dir, free port)"
/usr/bin/python3 -c 'import pytest, psycopg, pymysql, yaml; print("pytest", pytest.__version__, "/ psycopg", psycopg.__version__, "/ PyMySQL", pymysql.__version__, "/ PyYAML", yaml.__version__)'

configure_and_build() {  # build-dir, extra cmake args...
  local dir=$1; shift
  section "configure $dir $*"
  cmake -S "$ROOT" -B "$ROOT/$dir" -DMIGRATE_TESTS=ON -DMIGRATE_TEST_HOOKS=ON "$@"
  section "build $dir"
  cmake --build "$ROOT/$dir" -j"$JOBS"
}

test_suite() {  # build-dir
  section "test $1"
  ctest --test-dir "$ROOT/$1" --output-on-failure --no-tests=error -j"$TEST_JOBS"
}

configure_and_build_fuzz() {
  section "configure build-fuzz (libFuzzer, ${FUZZ_SECONDS:-10} s per target)"
  cmake -S "$ROOT" -B "$ROOT/build-fuzz" -DMIGRATE_FUZZ=ON -DCMAKE_C_COMPILER=clang \
    -DMIGRATE_FUZZ_SECONDS="${FUZZ_SECONDS:-10}"
  section "build build-fuzz"
  cmake --build "$ROOT/build-fuzz" -j"$JOBS" --target fuzz_targets
}

# The sanitizer and fuzzing trees: the upgrade tests' previous release is
# built without the tree's compiler or sanitizer, so the plain tree's build
# of it serves the sanitizer tree too.
build_the_other_trees() {
  if [ "$SKIP_ASAN" != 1 ]; then
    configure_and_build build-asan -DMIGRATE_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
      -DMIGRATE_PREVIOUS_RELEASE_DIR="$ROOT/build/previous-release"
  fi
  if [ "$SKIP_FUZZ" != 1 ]; then
    configure_and_build_fuzz
  fi
}

configure_and_build build

# The plain tree's tests mostly wait (on servers, locks, timeouts), so the
# other two trees compile meanwhile, at the lowest priority: the tests get
# the CPU whenever they want it, and the compilers take what is left
# (docs/performance.md, "CI time"). Their output is shown after the tests.
OTHER_LOG="$ROOT/build-other-trees.log"
(
  renice -n 19 -p "$BASHPID" >/dev/null
  build_the_other_trees
) > "$OTHER_LOG" 2>&1 &
OTHER_PID=$!
plain_rc=0
test_suite build || plain_rc=$?
other_rc=0
wait "$OTHER_PID" || other_rc=$?
section "the sanitizer and fuzzing trees, built while the plain tree's tests ran"
cat "$OTHER_LOG"
if [ "$plain_rc" != 0 ]; then
  echo "the plain tree's tests failed (exit $plain_rc)" >&2; exit "$plain_rc"
fi
if [ "$other_rc" != 0 ]; then
  echo "building the sanitizer or fuzzing tree failed (exit $other_rc): see above" >&2; exit "$other_rc"
fi

if [ "$SKIP_ASAN" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  test_suite build-asan
fi

# Fuzzing (tests/fuzz/): each libFuzzer target (ASan + UBSan) replays its
# committed regressions and fuzzes for a bounded time; a crash fails.
if [ "$SKIP_FUZZ" != 1 ]; then
  section "test build-fuzz (fuzzing)"
  # A fixed seed: CI replays the same mutations on every run, so a finding
  # fails the change that made it, reproducibly (FUZZ_FLAGS overrides it;
  # tests/bench/fuzz_bench.sh explores with random seeds).
  FUZZ_FLAGS=${FUZZ_FLAGS:--seed=1} \
    ctest --test-dir "$ROOT/build-fuzz" -L fuzz --output-on-failure --no-tests=error -j"$JOBS"
fi

section "all tests passed"

#!/usr/bin/env bash
# Run the example project (migrations-examples/) end to end against a
# throw-away PostgreSQL, printing what every phase does.
#
#   bash scripts/demo.sh          (as root on a fresh Debian 12, or as a user
#                                  with the packages already installed)
#
# What it does, in order:
#   1. installs the packages it needs (scripts/install-deps.sh; skipped when
#      they are all there, or with MIGRATE_SKIP_INSTALL=1);
#   2. builds migrate with CMake into ./build;
#   3. starts its own PostgreSQL (initdb + pg_ctl from /usr/lib/postgresql/*/bin,
#      as the `postgres` user when run as root) in a temporary directory, on a
#      free loopback port; it is stopped and the directory removed on exit,
#      also on failure or Ctrl-C. The Debian cluster of the package is never
#      used or touched;
#   4. loads migrations-examples/schema.sql (3000 users, 6000 orders);
#   5. for each migration: `migrate plan` (step list only), then expand,
#      backfill, switch-reads and contract; after expand of 0001 and 0003 it
#      writes one row as the old application version and one as the new one,
#      to show the dual-write trigger filling the other side (after expand of
#      0011, the fix-up trigger of the rules); after contract
#      of 0004 it checks the archive (0009 drops it), after 0008 it writes
#      through the renamed table;
#   6. `migrate status`, then checks that no row was lost and the data moved
#      as the migrations say.
# Exit status: 0 when everything passed, non-zero on the first failure.
#
# Environment knobs:
#   MIGRATE_SKIP_INSTALL=1   do not run apt-get
#   MIGRATE_BUILD_DIR=DIR    build directory (default ./build-release)
#   MIGRATE_DEMO_KEEP=1      leave the server running and the directory in place
#                            (prints how to connect and how to stop it)
set -euo pipefail

START_S=$(date +%s)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
BUILD_DIR=${MIGRATE_BUILD_DIR:-$ROOT/build}
EXAMPLES=$ROOT/migrations-examples
KEEP=${MIGRATE_DEMO_KEEP:-0}

# Nothing from the caller's shell may point this demo at another database.
while IFS='=' read -r name _; do
  case $name in PG*|MIGRATE_DATABASE_URL|MIGRATE_DIR|MIGRATE_STATE|MIGRATE_FAULT|DATABASE_URL) unset "$name" ;; esac
done < <(env)

section() { printf '\n==== %s ====\n' "$*"; }
fail() { echo "demo: FAILED: $*" >&2; exit 1; }

# ---- 1. packages -------------------------------------------------------------
section "1. packages"
if [ "${MIGRATE_SKIP_INSTALL:-0}" = 1 ]; then
  echo "MIGRATE_SKIP_INSTALL=1: not installing anything"
else
  bash "$ROOT/scripts/install-deps.sh"
fi

# ---- 2. build ---------------------------------------------------------------
section "2. build migrate ($BUILD_DIR)"
# A release build (no tests, no test hooks), in its own directory so that it
# never mixes with the test build of scripts/test.sh.
BUILD_DIR=${MIGRATE_BUILD_DIR:-$ROOT/build-release}
cmake -S "$ROOT" -B "$BUILD_DIR" -DMIGRATE_TESTS=OFF -DMIGRATE_TEST_HOOKS=OFF >/dev/null
cmake --build "$BUILD_DIR" --target migrate -j"${JOBS:-2}"
MIGRATE=$BUILD_DIR/migrate
"$MIGRATE" --version

# ---- 3. a throw-away PostgreSQL ---------------------------------------------
section "3. throw-away PostgreSQL"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] ||
  fail "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install -y postgresql)"
PSQL=$PGBIN/psql
[ -x "$PSQL" ] || PSQL=psql

RUN_AS=()
WORK=
as_server_user() { (cd "$WORK" && "${RUN_AS[@]}" "$@"); }
stop_server() {
  if [ -f "$WORK/data/postmaster.pid" ]; then
    as_server_user "$PGBIN/pg_ctl" -D "$WORK/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_server_user "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$WORK" ] || exit "$rc"
  if [ "$rc" -ne 0 ] && [ -f "$WORK/postgres.log" ]; then
    echo "---- last lines of the PostgreSQL log ($WORK/postgres.log) ----" >&2
    tail -n 20 "$WORK/postgres.log" >&2 || true
  fi
  if [ "$KEEP" = 1 ] && [ -n "${URL:-}" ]; then
    echo "MIGRATE_DEMO_KEEP=1: server left running: psql '$URL'"
    echo "  stop it with: ${RUN_AS[*]} $PGBIN/pg_ctl -D $WORK/data stop; rm -rf $WORK"
  else
    stop_server
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" -eq 0 ]; then
  # PostgreSQL refuses to run as root: the server runs as `postgres`, in a
  # directory under /tmp (not $TMPDIR, which that user may not reach).
  id postgres >/dev/null 2>&1 || fail "running as root but there is no 'postgres' user (apt-get install -y postgresql)"
  WORK=$(mktemp -d /tmp/migrate-demo.XXXXXX)
  chown postgres: "$WORK"
  RUN_AS=(runuser -u postgres --)
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/migrate-demo.XXXXXX")
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

as_server_user "$PGBIN/initdb" -D "$WORK/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$WORK/initdb.log" 2>&1 ||
  { cat "$WORK/initdb.log" >&2; fail "initdb"; }
PORT=
for _ in 1 2 3 4 5; do
  p=$((20000 + RANDOM % 30000))
  port_in_use "$p" && continue
  if as_server_user "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -w -t 60 \
       -o "-p $p -c listen_addresses=127.0.0.1 -c unix_socket_directories='$WORK' -c fsync=off" start >/dev/null; then
    PORT=$p
    break
  fi
done
[ -n "$PORT" ] || fail "could not start PostgreSQL on a free port (see the log above)"
URL="postgres://postgres@127.0.0.1:$PORT/demo"
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') in $WORK on 127.0.0.1:$PORT (stopped and removed on exit)"

sql() { "$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 "$URL" -c "$1"; }
"$PSQL" -X -q -v ON_ERROR_STOP=1 "postgres://postgres@127.0.0.1:$PORT/postgres" -c 'CREATE DATABASE demo'

# ---- 4. the base schema -------------------------------------------------------
section "4. load migrations-examples/schema.sql"
"$PSQL" -X -q -v ON_ERROR_STOP=1 "$URL" -f "$EXAMPLES/schema.sql"
USERS_BEFORE=$(sql "SELECT count(*) FROM users")
ORDERS_BEFORE=$(sql "SELECT count(*) FROM orders")
NAMES_BEFORE=$(sql "SELECT md5(string_agg(user_name, ',' ORDER BY id)) FROM users")
AGES_BEFORE=$(sql "SELECT md5(string_agg(coalesce(age::text, '-'), ',' ORDER BY id)) FROM users")
FLAGGED_BEFORE=$(sql "SELECT count(*) FROM users WHERE legacy_flag")
TOTAL_BEFORE=$(sql "SELECT sum(total) FROM orders")
echo "users: $USERS_BEFORE rows, orders: $ORDERS_BEFORE rows"

# ---- 5. the migrations, one at a time ------------------------------------------
# migrate reads migrations-examples/migrate.yaml (migrations dir, batch size);
# the database and the state file come from the environment.
export MIGRATE_DATABASE_URL=$URL
export MIGRATE_STATE=$WORK/state/state.db
cd "$EXAMPLES"
USERS_ADDED=0
ORDERS_ADDED=0

run() {  # run a migrate command, showing it; its step lines go to stderr
  echo "\$ migrate $*"
  "$MIGRATE" "$@" 2>&1
}

traffic() {  # id: what the old (blue) and the new (green) version write mid-migration
  case $1 in
    1)
      echo "-- blue (version 0) writes user_name, green (version 1) writes username:"
      sql "INSERT INTO users (user_name, email) VALUES ('blue_writer', 'blue@example.com')"
      sql "INSERT INTO users (username, email) VALUES ('green_writer', 'green@example.com')"
      "$PSQL" -X -q -v ON_ERROR_STOP=1 "$URL" -c \
        "SELECT id, user_name, username, _migrate_1 AS marker FROM users WHERE email IN ('blue@example.com', 'green@example.com') ORDER BY id"
      USERS_ADDED=$((USERS_ADDED + 2))
      [ "$(sql "SELECT count(*) FROM users WHERE email IN ('blue@example.com', 'green@example.com') AND user_name IS NOT DISTINCT FROM username")" = 2 ] ||
        fail "the dual-write trigger of 0001 did not fill both columns"
      ;;
    3)
      echo "-- blue (version 2) writes age, green (version 3) writes age_years:"
      sql "INSERT INTO users (username, age) VALUES ('blue_writer_3', 41)"
      sql "INSERT INTO users (username, age_years) VALUES ('green_writer_3', 42)"
      "$PSQL" -X -q -v ON_ERROR_STOP=1 "$URL" -c \
        "SELECT id, username, age, age_years, _migrate_3 AS marker FROM users WHERE username IN ('blue_writer_3', 'green_writer_3') ORDER BY id"
      USERS_ADDED=$((USERS_ADDED + 2))
      [ "$(sql "SELECT count(*) FROM users WHERE username IN ('blue_writer_3', 'green_writer_3') AND age::bigint = age_years")" = 2 ] ||
        fail "the dual-write trigger of 0003 did not fill both columns"
      ;;
    11)
      echo "-- blue (version 10) does not know the rules: its rule-breaking writes are fixed by the trigger with 'up':"
      sql "INSERT INTO users (username, email) VALUES ('blue_writer_11', NULL)"
      sql "INSERT INTO orders (user_id, total) VALUES (1, -5)"
      "$PSQL" -X -q -v ON_ERROR_STOP=1 "$URL" -c \
        "SELECT id, username, email FROM users WHERE username = 'blue_writer_11'"
      USERS_ADDED=$((USERS_ADDED + 1))
      ORDERS_ADDED=$((ORDERS_ADDED + 1))
      [ "$(sql "SELECT email FROM users WHERE username = 'blue_writer_11'")" = "blue_writer_11@unknown.invalid" ] ||
        fail "the fix-up trigger of 0011 did not give the NULL email its 'up' value"
      [ "$(sql "SELECT count(*) FROM orders WHERE total < 0")" = 0 ] ||
        fail "the fix-up trigger of 0011 did not fix the negative total"
      ;;
  esac
}

after_contract() {  # id: what must be true right after that migration's contract
  case $1 in
    4)
      # 0009 drops the archive table: check what 0004 archived while it exists.
      [ "$(sql "SELECT count(*) FROM legacy_flag_archive")" = "$FLAGGED_BEFORE" ] ||
        fail "legacy_flag was not archived before it was dropped"
      echo "ok: legacy_flag archived before it was dropped ($FLAGGED_BEFORE rows)"
      ;;
    8)
      echo "-- the new version writes through the new table name:"
      sql "INSERT INTO products (sku, name, price) VALUES ('demo-1', 'Demo product', 9.90)"
      sql "INSERT INTO order_items (order_id, product_id, qty) SELECT 1, id, 2 FROM products WHERE sku = 'demo-1'"
      [ "$(sql "SELECT count(*) FROM order_items")" = 1 ] || fail "order_items does not hold the new row"
      ;;
  esac
}

shopt -s nullglob
files=(migrations/[0-9]*_*.yaml)
[ ${#files[@]} -gt 0 ] || fail "no migration files in $EXAMPLES/migrations"
for f in "${files[@]}"; do
  name=$(basename "$f" .yaml)
  id=$((10#${name%%_*}))
  section "5. migration $name"
  sed -n 's/^description: */description: /p' "$f"
  echo
  echo "\$ migrate plan $id   (step list; the full SQL is in 'migrate plan $id')"
  "$MIGRATE" plan "$id" | grep -E '^(== |-- )' | grep -v -E '^--   UPDATE '
  for phase in expand backfill switch-reads contract; do
    echo
    run "$phase" "$id"
    if [ "$phase" = expand ]; then
      traffic "$id"
    fi
  done
  after_contract "$id"
done

# ---- 6. where we ended, and what must still be true ----------------------------
section "6. status and checks"
run status

check() {  # description, SQL that returns the observed value, expected value
  local got
  got=$(sql "$2")
  if [ "$got" != "$3" ]; then
    fail "$1: expected '$3', got '$got'"
  fi
  echo "ok: $1 ($got)"
}
echo
check "every migration contracted" \
  "SELECT count(*) FROM _migrate_history WHERE phase = 'contracted'" "${#files[@]}"
check "users: no row lost" \
  "SELECT count(*) FROM users" "$((USERS_BEFORE + USERS_ADDED))"
check "orders: no row lost" \
  "SELECT count(*) FROM orders" "$((ORDERS_BEFORE + ORDERS_ADDED))"
check "orders: totals unchanged" \
  "SELECT sum(total) FROM orders" "$TOTAL_BEFORE"
check "users.username holds every old user_name" \
  "SELECT md5(string_agg(username, ',' ORDER BY id)) FROM users WHERE id <= $USERS_BEFORE" "$NAMES_BEFORE"
check "users.age_years holds every old age" \
  "SELECT md5(string_agg(coalesce(age_years::text, '-'), ',' ORDER BY id)) FROM users WHERE id <= $USERS_BEFORE" "$AGES_BEFORE"
check "orders.priority computed for every row" \
  "SELECT count(*) FROM orders WHERE priority IS DISTINCT FROM (CASE WHEN total > 1000 THEN 1 ELSE 0 END)" 0
check "legacy_flag_archive dropped, order_lines renamed to order_items" \
  "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'" \
  "_migrate_history,order_items,orders,products,users"
check "orders.priority is an integer and still holds every value" \
  "SELECT data_type || ':' || (SELECT count(*) FROM orders WHERE priority IS DISTINCT FROM (CASE WHEN total > 1000 THEN 1 ELSE 0 END)) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'priority'" \
  "integer:0"
check "orders_user_id_idx dropped, its replacement and the unique constraint in place" \
  "SELECT (SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_user_id_idx') || ',' || (SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_user_total_idx') || ',' || (SELECT count(*) FROM pg_constraint WHERE conname = 'order_lines_order_product_key' AND contype = 'u')" \
  "0,1,1"
check "0010: constraint renamed, CHECK dropped, comment, default and replica identity set" \
  "SELECT (SELECT count(*) FROM pg_constraint WHERE conname = 'order_items_order_fk')
        || ',' || (SELECT count(*) FROM pg_constraint WHERE conname = 'order_lines_qty_positive')
        || ',' || obj_description('users'::regclass, 'pg_class')
        || ',' || (SELECT column_default FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'total')
        || ',' || (SELECT relreplident::text FROM pg_class WHERE oid = 'orders'::regclass)" \
  "1,0,one row per customer account,0,f"
check "0011: every email set, usernames unique, the rules in place" \
  "SELECT (SELECT count(*) FROM users WHERE email IS NULL)
        || ',' || (SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint
                   WHERE conname IN ('users_username_key', 'orders_total_not_negative', 'products_replaced_by_fk') AND convalidated)
        || ',' || (SELECT is_nullable FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email')" \
  "0,orders_total_not_negative,products_replaced_by_fk,users_username_key,NO"
check "old columns gone" \
  "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users' AND column_name IN ('user_name', 'age', 'legacy_flag')" 0
check "no marker column, trigger or function left" \
  "SELECT (SELECT count(*) FROM pg_attribute WHERE attname LIKE '\\_migrate\\_%' AND NOT attisdropped AND attnum > 0)
        + (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'zz\\_migrate\\_%')
        + (SELECT count(*) FROM pg_proc WHERE proname LIKE '\\_migrate\\_%')" 0
check "copied index renamed back" \
  "SELECT indexdef FROM pg_indexes WHERE indexname = 'users_user_name_idx'" \
  "CREATE INDEX users_user_name_idx ON public.users USING btree (username)"

section "demo passed in $(( $(date +%s) - START_S )) s"

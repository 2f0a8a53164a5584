#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan, MIGRATE_FUZZ=ON) and
# run each for a bounded time. Fails when a target finds a crash, a leak,
# undefined behaviour or a timeout, or when a committed regression input
# (tests/fuzz/regressions/<target>/) fails again.
#
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]
#   SECONDS  per target (default 25); TARGET: migration url config state
#            lint (default: all five)
# Environment: FUZZ_BUILD (build directory, default build-fuzz),
#   FUZZ_WORK (corpus and crash directory, default $FUZZ_BUILD/fuzz-work),
#   JOBS (build jobs, default 2), FUZZ_FLAGS (more libFuzzer flags),
#   FUZZ_SKIP_BUILD=1 (use the build as it is).
# The growing corpus stays in FUZZ_WORK (not committed); a crashing input
# is written to FUZZ_WORK/<target>/crashes/ and named in the output.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
SECONDS_EACH=${1:-25}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(migration url config state lint)
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
WORK=${FUZZ_WORK:-$BUILD/fuzz-work}
FIX=$ROOT/tests/unit/fixtures
HERE=$ROOT/tests/fuzz

if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
  CC=${FUZZ_CC:-clang} cmake -S "$ROOT" -B "$BUILD" -DMIGRATE_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j"${JOBS:-2}" >/dev/null
fi

# The per-target settings: max input length, dictionary, seed directories.
max_len() {
  case $1 in
    migration|lint) echo 8192 ;; url) echo 512 ;; config) echo 2048 ;; state) echo 32768 ;;
  esac
}
seeds() {  # the target's read-only seed directories (made under $WORK)
  local t=$1 s=$WORK/$1/seeds
  rm -rf "$s"; mkdir -p "$s"
  case $t in
    migration) cp "$FIX"/migration/*/*.y*ml "$FIX"/pgplan/*.yaml "$s"/ ;;
    url) cp "$HERE"/seeds/url/* "$s"/ ;;
    config) cp "$FIX"/migration/set/migrate.yaml "$s"/ ; cp "$HERE"/seeds/config/* "$s"/ ;;
    state) "$BUILD"/tests/fuzz/fuzz_state_seed "$s"/state.db ;;
    lint) cp "$ROOT"/migrations-examples/migrations/*.yaml "$HERE"/seeds/lint/* "$s"/ ;;
  esac
  echo "$s"
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${TARGETS[@]}"; do
  bin=$BUILD/tests/fuzz/fuzz_$t
  [ -x "$bin" ] || { echo "no target '$t' (expected one of: migration url config state lint)" >&2; exit 2; }
  mkdir -p "$WORK/$t/corpus" "$WORK/$t/crashes"
  seed_dir=$(seeds "$t")
  dict=()
  [ -f "$HERE/$t.dict" ] && dict=(-dict="$HERE/$t.dict")

  echo "== fuzz_$t: regressions"
  reg=("$HERE"/regressions/"$t"/*)
  if [ -e "${reg[0]}" ]; then
    if ! "$bin" "${reg[@]}" >"$WORK/$t/regressions.log" 2>&1; then
      tail -40 "$WORK/$t/regressions.log"
      failed+=("$t (regression)")
      continue
    fi
    echo "${#reg[@]} inputs replayed, none fails"
  else
    echo "none committed"
  fi

  echo "== fuzz_$t: ${SECONDS_EACH} s"
  if "$bin" -max_total_time="$SECONDS_EACH" -max_len="$(max_len "$t")" \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$WORK/$t/crashes/" ${dict[@]+"${dict[@]}"} \
      ${FUZZ_FLAGS:-} "$WORK/$t/corpus" "$seed_dir" >"$WORK/$t/fuzz.log" 2>&1; then
    grep -E '^(#[0-9]+[[:space:]]+DONE|Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$WORK/$t/fuzz.log" || true
  else
    tail -60 "$WORK/$t/fuzz.log"
    ls "$WORK/$t/crashes/" || true
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]} (inputs in $WORK/<target>/crashes/; add each, once fixed, to tests/fuzz/regressions/<target>/)" >&2
  exit 1
fi
echo "fuzzing passed: ${TARGETS[*]}, ${SECONDS_EACH} s each"

#!/usr/bin/env bash
# Fuzzing benchmark: run every libFuzzer target (tests/fuzz/) for SECONDS
# (default 610: at least ten minutes each), PAR at a time (default 2), from
# the committed seeds and an empty corpus, and print one table row per
# target from libFuzzer's final stats: executions, exec/s, coverage (cov =
# edges, ft = features), corpus size and crashes found.
#
# Usage: tests/bench/fuzz_bench.sh [SECONDS] [PAR]
# Environment: FUZZ_BUILD (default build-fuzz), FUZZ_WORK (default
#   $FUZZ_BUILD/fuzz-bench; emptied first), JOBS (build jobs).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
SECS=${1:-610}
PAR=${2:-2}
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
WORK=${FUZZ_WORK:-$BUILD/fuzz-bench}
TARGETS=(migration url config state)

CC=${FUZZ_CC:-clang} cmake -S "$ROOT" -B "$BUILD" -DMIGRATE_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"${JOBS:-2}" >/dev/null
rm -rf "$WORK"
mkdir -p "$WORK"

# PAR groups of targets, each run one after the other by tests/fuzz/run.sh.
pids=()
for ((g = 0; g < PAR; g++)); do
  group=()
  for ((i = g; i < ${#TARGETS[@]}; i += PAR)); do group+=("${TARGETS[i]}"); done
  FUZZ_SKIP_BUILD=1 FUZZ_BUILD=$BUILD FUZZ_WORK=$WORK \
    "$ROOT"/tests/fuzz/run.sh "$SECS" "${group[@]}" >"$WORK/group$g.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done

printf '%-10s %8s %12s %8s %7s %7s %9s %8s\n' target seconds executions exec/s cov ft corpus crashes
for t in "${TARGETS[@]}"; do
  log=$WORK/$t/fuzz.log
  [ -f "$log" ] || { printf '%-10s (did not run: see %s)\n' "$t" "$WORK/group*.log"; continue; }
  # the last status line: "#N  DONE|pulse|NEW  cov: C ft: F corp: K/SIZE ..."
  last=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
  avg=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  secs=$(sed -En 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log")
  # a target that crashed stops early: its time from its average rate
  [ -n "$secs" ] || { [ -n "$avg" ] && [ "$avg" -gt 0 ] && secs=$((execs / avg)); } || true
  [ -n "$secs" ] || secs="?"
  cov=$(sed -En 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -En 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -En 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  crashes=$(find "$WORK/$t/crashes" -type f | wc -l)
  rate="?"
  [ "$secs" != "?" ] && [ "$secs" -gt 0 ] && rate=$((execs / secs))
  printf '%-10s %8s %12s %8s %7s %7s %9s %8s\n' "$t" "$secs" "$execs" "$rate" "$cov" "$ft" "$corp" "$crashes"
done
echo "logs: $WORK/<target>/fuzz.log; crashing inputs: $WORK/<target>/crashes/"

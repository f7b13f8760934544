#!/usr/bin/env bash
# `make bench`: boots the VM once, runs tests/bench/run.sh (daxfs, ext4 -o dax,
# XFS -o dax and the raw device, interleaved, BENCH_REPS times), then
# scripts/bench-report.sh turns build/bench/raw.csv into results/.
# Knobs (environment): BENCH_REPS (3), BENCH_RUNTIME (5 s per fio point),
# BENCH_FILES (10000), BENCH_STATS (100000), BENCH_BIGDIR (200000),
# BENCH_ONLY (regex of workloads).
source "$(dirname "$0")/common.sh"
mkdir -p "$PROJ/build/bench"
rm -f "$PROJ/build/bench/raw.csv"
vars=""
for v in BENCH_REPS BENCH_RUNTIME BENCH_FILES BENCH_STATS BENCH_BIGDIR BENCH_ONLY; do
  [ -n "${!v:-}" ] && vars+=" $v=${!v}"
done
log "benchmark VM run (${BENCH_REPS:-3} repetitions; see docs/bench.md)"
KERNEL_CMDLINE="${KERNEL_CMDLINE:-}$vars" VM_TIMEOUT=${VM_TIMEOUT:-14400} \
  "$PROJ/scripts/vm.sh" bench 2>&1 | tr -d '\r' | tee "$PROJ/build/bench/console.log" | grep --line-buffered '^bench:' || true
[ -s "$PROJ/build/bench/raw.csv" ] || die "the benchmark produced no data (build/bench/console.log)"
"$PROJ/scripts/bench-report.sh" "$PROJ/build/bench/raw.csv" "$PROJ/results"

#!/bin/bash
# In-VM test runner.  Runs every tests/vm/tests/*.sh (or those whose name
# matches $DAXFS_TESTS, an extended regex) in order, each in its own bash with
# `set -euo pipefail` and lib.sh loaded.  A test passes when it exits 0 AND the
# kernel log it caused has no BUG/WARNING/Oops/KASAN/lockdep/RCU-stall line.
# Ends with one line "N passed, N failed" and exits non-zero on any failure.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${DAXFS_OUT:-/host/build/vm}
LOG="$OUT/test-logs"
rm -rf "$LOG"; mkdir -p "$LOG"
source "$HERE/lib.sh"
pass=0 fail=0 failed=()

check_log() { # $1 = dmesg line count before; prints offending lines
  dmesg | tail -n +"$(( $1 + 1 ))" | grep -E "$BAD_KERNEL_LOG" || true
}

# The boot itself must be clean.
bad=$(check_log 0)
if [ -n "$bad" ]; then
  echo "FAIL boot-log"; echo "$bad" | head -40; fail=$((fail + 1)); failed+=(boot-log)
else
  echo "PASS boot-log"; pass=$((pass + 1))
fi

for t in "$HERE"/tests/*.sh; do
  name=$(basename "$t" .sh)
  [[ -n "${DAXFS_TESTS:-}" && ! "$name" =~ $DAXFS_TESTS ]] && continue
  mark=$(dmesg | wc -l)
  start=$(date +%s%N)
  bash -c "set -euo pipefail; source '$HERE/lib.sh'; trap 'echo \"error: line \$LINENO: \$BASH_COMMAND\" >&2' ERR; source '$t'" >"$LOG/$name.log" 2>&1
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  secs=$((ms / 1000)).$(( ms % 1000 / 100 ))
  cleanup_mounts >>"$LOG/$name.log" 2>&1
  bad=$(check_log "$mark")
  if [ $rc = 0 ] && [ -z "$bad" ]; then
    echo "PASS $name (${secs}s)"; pass=$((pass + 1))
  else
    echo "FAIL $name (exit $rc, ${secs}s)"
    tail -n 30 "$LOG/$name.log" | sed 's/^/    /'
    [ -n "$bad" ] && { echo "    kernel log:"; echo "$bad" | head -40 | sed 's/^/    /'; }
    dmesg | tail -n +"$((mark + 1))" >"$LOG/$name.dmesg"
    fail=$((fail + 1)); failed+=("$name")
  fi
done
[ $fail -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ $fail = 0 ]

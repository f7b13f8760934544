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

# The NVDIMMs are the ones scripts/vm.sh made, in its order (DAXFS_PMEM_MIB:
# the size of each, in MiB): /dev/pmem0 and /dev/pmem1 of 2 GiB, which the
# tests assume, and /dev/pmem2 if any.  QEMU numbers them in an order of its
# own (see vm.sh); a different order would run every test on the wrong
# device, so nothing runs.
if [ -n "${DAXFS_PMEM_MIB:-}" ]; then
  i=0 bad=
  for want in ${DAXFS_PMEM_MIB//,/ }; do
    got=$(( $(cat "/sys/bus/nd/devices/region$i/size" 2>/dev/null || echo 0) >> 20 ))
    [ "$got" = "$want" ] || bad+="region$i (/dev/pmem$i) has $got MiB, vm.sh gave NVDIMM $i $want MiB; "
    i=$((i + 1))
  done
  if [ -n "$bad" ]; then
    echo "FAIL nvdimm-order: $bad(QEMU ordered the NVDIMMs differently: scripts/vm.sh)"
    echo "$pass passed, $((fail + 1)) failed"
    exit 1
  fi
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

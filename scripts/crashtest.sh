#!/usr/bin/env bash
# Power-cut test: CYCLES times, boot the VM with a metadata workload, kill
# QEMU after a random number of completed operations (the NVDIMM backing
# file keeps every store that reached it), boot again, recover, fsck, and
# check that every operation reported complete survived.
# Usage: crashtest.sh [CYCLES] [SEED]
source "$(dirname "$0")/common.sh"
CYCLES=${1:-20}
SEED=${2:-1}
C="$PROJ/build/vm/crash"
rm -rf "$C"; mkdir -p "$C"
RANDOM=$SEED
pass=0 fail=0
count_done() { local n; n=$(grep -c '^done' "$1" 2>/dev/null); echo "${n:-0}"; }
qemu_pat="mem-path=$PROJ/build/vm/pmem0.img"
for cycle in $(seq "$CYCLES"); do
  target=$((5 + RANDOM % 80))
  # Cycle 1: power cut right after the MAP_SYNC write (mkdir, mapsync).
  [ "$cycle" = 1 ] && target=2
  seed=$RANDOM
  for attempt in 1 2; do
    KERNEL_CMDLINE="DAXFS_CYCLE=$cycle DAXFS_SEED=$seed" VM_TIMEOUT=300 \
      "$PROJ/scripts/vm.sh" crash-work >"$C/work-$cycle.console" 2>&1 &
    vm=$!
    deadline=$((SECONDS + 240))
    while [ "$(count_done "$C/log-$cycle")" -lt "$target" ] && [ $SECONDS -lt $deadline ]; do
      kill -0 $vm 2>/dev/null || break
      sleep 0.2
    done
    pkill -9 -f "$qemu_pat" || true
    wait $vm 2>/dev/null || true
    # No workload log: the guest never got as far as mounting daxfs (a
    # stall or crash while booting, an MTTCG flake, see docs/build.md).
    # Boot again once; a second time counts as a failure (so a module that
    # cannot load or mount still fails the cycle).
    if [ ! -e "$C/log-$cycle" ] && [ $attempt = 1 ]; then
      echo "RETRY crash cycle $cycle: the guest never loaded dax_fs ($(grep -m1 -oE 'rcu_preempt detected stalls|Oops|panic' "$C/work-$cycle.console" || echo 'no workload'))"
      continue
    fi
    break
  done
  done_ops=$(count_done "$C/log-$cycle")
  if KERNEL_CMDLINE="DAXFS_CYCLE=$cycle" "$PROJ/scripts/vm.sh" crash-check >"$C/check-$cycle.console" 2>&1; then
    pass=$((pass + 1))
    echo "PASS crash cycle $cycle (killed after $done_ops operations)"
  else
    fail=$((fail + 1))
    echo "FAIL crash cycle $cycle (killed after $done_ops operations)"
    # The guest's own output, and the kernel's lines that say why it died
    # (the console keeps everything: build/vm/crash/check-N.console).
    tr -d '\r' <"$C/check-$cycle.console" | grep -v '^\[' | tail -25 | sed 's/^/    /'
    tr -d '\r' <"$C/check-$cycle.console" |
      grep -E '^\[ *[0-9.]+\] .*(Kernel panic|Oops|BUG:|WARNING:|RIP:|dax_fs|daxfs)' | tail -15 | sed 's/^/    /'
  fi
done
echo "crash: $pass passed, $fail failed"
[ $fail = 0 ]

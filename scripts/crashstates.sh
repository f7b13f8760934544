#!/usr/bin/env bash
# Crash-state exploration (docs/testing.md, "Crash states"):
#  1. the guest runs the workloads on the recorder module (module.sh record),
#     which logs every persistence event;
#  2. the host builds every crash state the log allows at each fence and
#     checks it: recovery + fsck + the oracle (daxfs-crashstates explore);
#  3. the guest mounts a sample of the states with the release module.
# Usage: crashstates.sh quick|full
#   quick  (make test) the single operations and every 23rd pair, 48 states
#          per crash point
#   full   (make crashstates) every single operation and every pair, 256
#          states per crash point (CS_BUDGET)
source "$(dirname "$0")/common.sh"
MODE=${1:-quick}
R="$PROJ/build/vm/crashstates"
rm -rf "$R"; mkdir -p "$R"
"$PROJ/scripts/module.sh" record
case $MODE in
quick) cmdline="CS_PAIRS=${CS_PAIRS:-23} CS_FIRST=${CS_FIRST:-0}" budget=${CS_BUDGET:-48} ;;
full) cmdline="CS_PAIRS=1" budget=${CS_BUDGET:-256} ;;
*) die "usage: crashstates.sh quick|full" ;;
esac
log "crash states: recording the workloads in the VM"
KERNEL_CMDLINE="$cmdline" DAXFS_PMEM2_SIZE=0 VM_TIMEOUT=${VM_TIMEOUT:-3000} \
  "$PROJ/scripts/vm.sh" crashstates-record >"$R/record.console" 2>&1 ||
  { tail -30 "$R/record.console"; die "crash states: recording failed (build/vm/crashstates/record.console)"; }
log "crash states: exploring on the host"
# The tools are built in the toolchain chroot (its glibc), so they run there.
explore_rc=0
in_tc /project/build/bin/daxfs-crashstates explore /project/build/vm/crashstates --budget "$budget" --seed "${CS_SEED:-1}" \
  --sample "${CS_SAMPLE:-97}" --sample-max "${CS_SAMPLE_MAX:-30}" >"$R/explore.log" 2>&1 || explore_rc=$?
# The first violations, their first lines (everything: build/vm/crashstates/explore.log).
grep -A2 '^VIOLATION' "$R/explore.log" | head -60 || true
log "crash states: mounting the sampled states in the VM"
mount_rc=0
DAXFS_PMEM2_SIZE=0 VM_TIMEOUT=${VM_TIMEOUT:-1800} "$PROJ/scripts/vm.sh" crashstates-mount >"$R/mount.console" 2>&1 || mount_rc=1
grep -E '^(FAIL|crashstates mount-check|    )' "$R/mount.console" | tr -d '\r' | head -60 || true
summary=$(grep '^crashstates: ' "$R/explore.log" | tail -1 || true)
mounted=$(grep -a 'crashstates mount-check:' "$R/mount.console" | tr -d '\r' | tail -1 || true)
echo "${summary:-crashstates: exploration did not finish}"
echo "${mounted:-crashstates mount-check: did not run}"
[ "$explore_rc" = 0 ] && [ "$mount_rc" = 0 ]

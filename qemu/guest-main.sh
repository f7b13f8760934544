#!/bin/bash
# Runs inside the VM as the last step of /sbin/daxfs-init, with the project
# directory mounted at /host.  DAXFS_MODE (from the kernel command line) is
#   run   mkfs + insmod + mount -o dax on /dev/pmem0, then build/vm/cmd or an
#         interactive shell, then umount + rmmod;
#   test  the in-VM suite, tests/vm/run.sh.
# The exit status goes to build/vm/exit-code for the host (scripts/vm.sh).
set -u
H=/host
OUT=$H/build/vm
MODE=${DAXFS_MODE:-run}
: >"$OUT/booted"   # scripts/vm.sh: the boot worked
export PATH="$H/build/bin:$PATH"
hostname daxfs-vm
# No udev in the guest: the /dev/fd links bash process substitution needs.
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin; ln -sfn /proc/self/fd/1 /dev/stdout; ln -sfn /proc/self/fd/2 /dev/stderr
for t in mkfs.daxfs fsck.daxfs; do ln -sf "$H/build/bin/$t" "/usr/sbin/$t"; done

# Turns every raw pmem namespace into fsdax with 2 MiB alignment (once: the
# info block lives in the NVDIMM backing file, so later boots find fsdax).
setup_pmem() {
  local nsdir ns region
  for nsdir in /sys/bus/nd/devices/namespace*.0; do
    [ -e "$nsdir" ] || continue
    ns=${nsdir##*/}
    # Only the NVDIMMs take an fsdax namespace; the e820 (memmap=) device
    # is a raw one and is used as it is.
    [ "$(cat "$(readlink -f "$nsdir")/../../provider" 2>/dev/null)" = ACPI.NFIT ] || continue
    ndctl list -n "$ns" | grep -q '"mode":"fsdax"' && continue
    region=region${ns#namespace}; region=${region%.0}
    if ! ndctl create-namespace -f -e "$ns" -m fsdax -a 2M >/dev/null 2>&1; then
      echo 0x200000 >"/sys/bus/nd/devices/$region/align" 2>/dev/null
      ndctl create-namespace -f -e "$ns" -m fsdax -a 2M >/dev/null || return 1
    fi
  done
  for d in pmem0 pmem1; do
    [ -b /dev/$d ] || { echo "guest: /dev/$d missing"; return 1; }
    [ "$(cat /sys/block/$d/queue/dax)" = 1 ] || { echo "guest: /dev/$d is not DAX capable"; return 1; }
  done
}

finish() { echo "$1" >"$OUT/exit-code"; sync; }

if ! setup_pmem; then
  ndctl list -RN
  finish 1
  exit 1
fi

case $MODE in
run)
  rc=0
  mkfs.daxfs -q /dev/pmem0 && insmod "$H/dax_fs.ko" && mount -t daxfs -o dax /dev/pmem0 /mnt || rc=$?
  if [ $rc = 0 ]; then
    grep ' /mnt ' /proc/mounts
    df -h /mnt
    if [ -s "$OUT/cmd" ]; then
      (cd /mnt && bash "$OUT/cmd"); rc=$?
    else
      echo "daxfs is mounted on /mnt (dax). Exit the shell to unmount and power off."
      (cd /mnt && setsid -c bash -l <>/dev/ttyS0 >&0 2>&1)
    fi
    cd /
    umount /mnt || rc=1
    rmmod dax_fs || rc=1
  fi
  dmesg | grep -E 'BUG:|WARNING:|Oops|KASAN|possible (circular|recursive) locking|inconsistent lock state|RCU stall|Call Trace' && rc=1
  finish $rc
  ;;
test)
  bash "$H/tests/vm/run.sh"
  finish $?
  ;;
bench)
  bash "$H/tests/bench/run.sh"
  finish $?
  ;;
crash-work)
  # Power-cut workload: runs until the host kills QEMU.
  C=$OUT/crash
  insmod "$H/dax_fs.ko" || finish 1
  [ "${DAXFS_CYCLE:-1}" = 1 ] && mkfs.daxfs -q /dev/pmem0
  mount -t daxfs -o dax /dev/pmem0 /mnt || { finish 1; exit 1; }
  # An open, unlinked file: an orphan the next mount must free.
  exec 3>"/mnt/held-$DAXFS_CYCLE"
  rm "/mnt/held-$DAXFS_CYCLE"
  bash "$H/tests/crash/work.sh" "$C/log-$DAXFS_CYCLE" "/mnt/c$DAXFS_CYCLE" "${DAXFS_SEED:-1}"
  ;;
crash-check)
  C=$OUT/crash
  rc=0
  insmod "$H/dax_fs.ko" || rc=1
  # Mount recovers (journal replay, orphans); then fsck must find it clean.
  mount -t daxfs -o dax /dev/pmem0 /mnt || rc=1
  dmesg | grep -E 'journal: replayed|orphan' | sed 's/^/crash-check: /'
  umount /mnt || rc=1
  fsck.daxfs -n /dev/pmem0 || { echo "crash-check: fsck after recovery failed"; rc=1; }
  mount -t daxfs -o dax /dev/pmem0 /mnt || rc=1
  bash "$H/tests/crash/check.sh" "$C/log-$DAXFS_CYCLE" "/mnt/c$DAXFS_CYCLE" || rc=1
  umount /mnt || rc=1
  fsck.daxfs -n /dev/pmem0 >/dev/null || rc=1
  dmesg | grep -E 'BUG:|WARNING:|Oops|KASAN|possible (circular|recursive) locking|inconsistent lock state|RCU stall|Call Trace' && rc=1
  finish $rc
  ;;
crashstates-record)
  # Crash states, part 1 (scripts/crashstates.sh): the workloads on the
  # recorder module, on a 16 MiB filesystem at the start of pmem1.
  R=$OUT/crashstates
  rc=0
  insmod "$H/build/record/dax_fs.ko" || rc=1
  mkfs.daxfs -q /dev/pmem1 4096 || rc=1
  if [ $rc = 0 ] && mount -t daxfs -o dax,noatime /dev/pmem1 /mnt; then
    # Each recording starts from the image as mounted (mount's own stores
    # included), read past the block device's page cache.
    daxfs-crashstates record --mnt /mnt --dev /dev/pmem1 --out "$R" --pairs "${CS_PAIRS:-0}" --first "${CS_FIRST:-0}" || rc=1
    umount /mnt || rc=1
  else
    rc=1
  fi
  rmmod dax_fs || rc=1
  dmesg | grep -E 'BUG:|WARNING:|Oops|KASAN|possible (circular|recursive) locking|inconsistent lock state|RCU stall|Call Trace' && rc=1
  finish $rc
  ;;
crashstates-mount)
  # Crash states, part 2: the release module mounts a sample of the states.
  rc=0
  insmod "$H/dax_fs.ko" || rc=1
  [ $rc = 0 ] && { daxfs-crashstates mount-check "$OUT/crashstates/explore/samples" --dev /dev/pmem1 --mnt /mnt || rc=1; }
  rmmod dax_fs || rc=1
  dmesg | grep -E 'BUG:|WARNING:|Oops|KASAN|possible (circular|recursive) locking|inconsistent lock state|RCU stall|Call Trace' && rc=1
  finish $rc
  ;;
*)
  echo "guest: unknown DAXFS_MODE=$MODE"
  finish 2
  ;;
esac

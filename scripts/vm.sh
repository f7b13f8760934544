#!/usr/bin/env bash
# Boots the test VM: the project kernel under QEMU/TCG (KVM does not work on
# these machines), two 2 GiB NVDIMMs (align=2M, no labels) -> /dev/pmem0 and
# /dev/pmem1 in fsdax mode, the cached guest image as the root disk and the
# project directory over 9p at /host.
# Usage: vm.sh run|test     (CMD="..." runs a command instead of a shell)
source "$(dirname "$0")/common.sh"
MODE=${1:-run}
VARIANT=${KVARIANT:-release}
[ -f "$PROJ/build/kernel-$VARIANT.env" ] || die "kernel not built (make kernel)"
source "$PROJ/build/kernel-$VARIANT.env"
[ -f "$PROJ/dax_fs.ko" ] || die "dax_fs.ko not built (make module)"
# DAXFS_ROOTIMG boots another root image (e.g. a copy with linux-perf added
# for profiling; see docs/bench.md).
ROOTIMG=${DAXFS_ROOTIMG:-$("$PROJ/scripts/rootfs.sh")}
host_deps qemu-system-x86

VM="$PROJ/build/vm"
mkdir -p "$VM"
rm -f "$VM/exit-code" "$VM/cmd"
for i in 0 1; do [ -f "$VM/pmem$i.img" ] || truncate -s 2G "$VM/pmem$i.img"; done
[ -n "${CMD:-}" ] && printf '%s\n' "$CMD" >"$VM/cmd"

loglevel=4; [ "$MODE" = test ] && loglevel=1
args=(
  -accel tcg,thread=multi -cpu max -smp 2
  -machine pc,nvdimm=on -m 2G,slots=4,maxmem=16G
  -object memory-backend-file,id=mem0,share=on,mem-path="$VM/pmem0.img",size=2G,align=2M
  -device nvdimm,id=nvdimm0,memdev=mem0
  -object memory-backend-file,id=mem1,share=on,mem-path="$VM/pmem1.img",size=2G,align=2M
  -device nvdimm,id=nvdimm1,memdev=mem1
  -drive file="$ROOTIMG",if=virtio,format=raw,snapshot=on
  -virtfs local,path="$PROJ",mount_tag=host,security_model=none,id=host
  -kernel "$BZIMAGE"
  -append "console=ttyS0 root=/dev/vda rw init=/sbin/daxfs-init panic=-1 no_timer_check loglevel=$loglevel DAXFS_MODE=$MODE ${DAXFS_TESTS:+DAXFS_TESTS=$DAXFS_TESTS} ${KERNEL_CMDLINE:-}"
  -nic none -no-reboot
)
if [ "$MODE" = run ] && [ -z "${CMD:-}" ] && [ -t 0 ]; then
  log "booting the VM (quit QEMU with Ctrl-A x; 'exit' in the shell unmounts and powers off)"
  qemu-system-x86_64 "${args[@]}" -nographic
else
  # A guest that dies or hangs before it even reaches guest-main.sh (the
  # int3 oops that kernel code patching rarely triggers under
  # multi-threaded TCG, which can hang the guest instead of panicking; an
  # RCU stall while booting) is an emulator boot failure, not a test
  # result: guest-main.sh touches build/vm/booted first thing, and a boot
  # that has not by BOOT_TIMEOUT seconds, or that oopses before it, is
  # killed and booted again, at most twice; so is one that panics before
  # it (seen: "IO-APIC + timer doesn't work!" at 0.008 s, which
  # no_timer_check also avoids).  Any crash after that fails as usual.  (crash-work is killed by crashtest.sh, which retries itself.)
  console="$VM/console-$MODE.log"
  for attempt in 1 2 3; do
    log "booting the VM ($MODE)"
    rm -f "$VM/exit-code" "$VM/booted"
    : >"$console"
    timeout "${VM_TIMEOUT:-3000}" qemu-system-x86_64 "${args[@]}" -display none -serial stdio -monitor none \
      </dev/null >"$console" 2>&1 &
    qpid=$!
    tail -n +1 -f --pid=$qpid "$console" &
    tpid=$!
    start=$SECONDS stalled=""
    while kill -0 $qpid 2>/dev/null; do
      if [ "$MODE" != crash-work ] && [ ! -f "$VM/booted" ] &&
        { grep -qE 'Oops|Kernel panic|BUG:|detected stalls' "$console" || ((SECONDS - start > ${BOOT_TIMEOUT:-600})); }; then
        stalled=1
        pkill -P $qpid 2>/dev/null; kill $qpid 2>/dev/null
        break
      fi
      sleep 2
    done
    wait $qpid 2>/dev/null
    wait $tpid 2>/dev/null
    [ -f "$VM/exit-code" ] && break
    # A guest that panicked while booting (panic=-1 + -no-reboot: QEMU
    # exits at once, often between two polls above) never touched
    # booted either: an emulator boot failure like the ones above.
    [ "$MODE" != crash-work ] && [ ! -f "$VM/booted" ] && stalled=1
    if [ -n "$stalled" ]; then
      cp "$console" "$VM/console-$MODE-failed-boot-$attempt.log"
      log "the guest crashed or hung while booting, before the tests started (boot $attempt of 3; console kept in build/vm/console-$MODE-failed-boot-$attempt.log)"
      continue
    fi
    break
  done
fi
[ -f "$VM/exit-code" ] || die "the VM stopped without reporting a result (crash, panic or timeout)"
exit "$(cat "$VM/exit-code")"

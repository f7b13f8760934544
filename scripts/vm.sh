#!/usr/bin/env bash
# Boots the test VM: the project kernel under QEMU/TCG (KVM does not work on
# these machines), NVDIMMs (align=2M, no labels) -> /dev/pmem0, /dev/pmem1
# (2 GiB each) and, in test mode, a large /dev/pmem2 (256 GiB), all in fsdax
# mode, the cached guest image as the root disk and the project directory
# over 9p at /host.
# Usage: vm.sh run|test     (CMD="..." runs a command instead of a shell)
# NVDIMM sizes (docs/testing.md): DAXFS_PMEM0_SIZE, DAXFS_PMEM1_SIZE (default
# 2G; the suite assumes 2G) and DAXFS_PMEM2_SIZE (default 256G in test mode
# and 0, no pmem2, in the other modes); sizes as in QEMU/truncate (4096M,
# 64G, 1T), multiples of 2 MiB.  Backing files are sparse build/vm/pmemN.img,
# recreated (blank) when their size changes.  DAXFS_VM_RAM: guest RAM
# (default 2G).
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

# size_mib SIZE: SIZE (bytes, or with a K/M/G/T suffix, binary) in MiB; it
# must be a multiple of 2 MiB (the backends' align=2M).
size_mib() {
  local s=${1^^} n mult
  [[ $s =~ ^([0-9]+)([KMGT]?)I?B?$ ]] || die "bad NVDIMM size '$1' (e.g. 2G, 4096M, 256G, 1T)"
  n=$((10#${BASH_REMATCH[1]}))
  case ${BASH_REMATCH[2]} in
  '') mult=1 ;; K) mult=1024 ;; M) mult=$((1 << 20)) ;; G) mult=$((1 << 30)) ;; T) mult=$((1 << 40)) ;;
  esac
  (( n * mult % (2 << 20) == 0 )) || die "NVDIMM size '$1' is not a multiple of 2 MiB"
  echo $((n * mult >> 20))
}
pmem2_default=0; [ "$MODE" = test ] && pmem2_default=256G
sizes=("${DAXFS_PMEM0_SIZE:-2G}" "${DAXFS_PMEM1_SIZE:-2G}" "${DAXFS_PMEM2_SIZE:-$pmem2_default}")
ram_mib=$(size_mib "${DAXFS_VM_RAM:-2G}") nvdimm_args=() n=0 total_mib=0 pmem_mib=
for i in 0 1 2; do
  mib=$(size_mib "${sizes[$i]}")
  if [ "$mib" = 0 ]; then
    # pmem2 is optional; pmem0 and pmem1 are always there (every mode uses them).
    [ $i = 2 ] || die "DAXFS_PMEM${i}_SIZE=0: pmem0 and pmem1 are required"
    continue
  fi
  f="$VM/pmem$i.img"
  # A backing file of another size is recreated: blank, so the guest makes
  # the fsdax namespace again (its info block lives in the file).
  if [ -f "$f" ] && [ "$(stat -c %s "$f")" != $((mib << 20)) ]; then
    log "pmem$i: size changed to ${sizes[$i]}; recreating $f"
    rm -f "$f"
  fi
  [ -f "$f" ] || truncate -s "${mib}M" "$f"
  # The guest numbers the regions (region$i, namespace$i.0, /dev/pmem$i) in
  # the order of QEMU's NFIT, which lists the NVDIMMs in the iteration order
  # of the hash table of their ids (object_child_foreach on
  # /machine/peripheral), not in command-line order: with ids nvdimm0..2
  # the order was nvdimm0, nvdimm2, nvdimm1.  GLib puts a key at
  # (g_str_hash(id) * 11) % 7 (32-bit) in a table of 8, probing onwards:
  # nvdimm0 -> 2, nvdimm1 -> 6, "nvdimm2-xl" -> 6, taken, -> 7.  So the
  # order is nvdimm0, nvdimm1, nvdimm2-xl.  tests/vm/run.sh checks the
  # region sizes against DAXFS_PMEM_MIB and stops at once if a QEMU or
  # GLib update changes this.
  id=nvdimm$i; [ $i = 2 ] && id=nvdimm2-xl
  nvdimm_args+=(
    -object memory-backend-file,id=mem$i,share=on,mem-path="$f",size=${mib}M,align=2M
    -device nvdimm,id=$id,memdev=mem$i
  )
  n=$((n + 1)) total_mib=$((total_mib + mib))
  pmem_mib+=${pmem_mib:+,}$mib
done
maxmem_mib=$((ram_mib + total_mib))
# The sparse files grow by what the guest writes: with fsdax (map=dev) the
# struct page array, 1/64 of the device, is written on the device at every
# boot; mkfs.daxfs zeroes an inode table of another 1/64.
# A guest store that finds the host disk full kills QEMU (SIGBUS on the
# shared mapping) and the run ends without a result: refuse to start
# without room for what is not allocated yet.
free_mib() { echo $(( $(df --output=avail -k "$VM" | tail -1) >> 10 )); }
have_mib=$(du -cm "$VM"/pmem*.img 2>/dev/null | tail -1 | cut -f1)
need_mib=$(( total_mib / 16 + 4096 - ${have_mib:-0} ))
if (( $(free_mib) < need_mib )); then
  die "only $(free_mib) MiB free in $VM; the sparse NVDIMM files (${total_mib} MiB, ${have_mib:-0} MiB allocated) need about ${need_mib} MiB more (the guest writes about 1/32 of each device, plus the data): free some disk"
fi
[ -n "${CMD:-}" ] && printf '%s\n' "$CMD" >"$VM/cmd"

loglevel=4; [ "$MODE" = test ] && loglevel=1
# A 64 MiB legacy (e820, memmap=) pmem device carved out of guest RAM at
# 1.5 GiB, besides the NVDIMMs: its driver clears poison on a write
# (QEMU's NVDIMMs cannot), which test 046 needs.  The guest sees it as the
# last pmem device (its region is created after the NFIT's).
e820=; (( ram_mib >= 2048 )) && e820='memmap=64M!1536M'
args=(
  -accel tcg,thread=multi -cpu max -smp 2
  -machine pc,nvdimm=on -m ${ram_mib}M,slots=$n,maxmem=${maxmem_mib}M
  "${nvdimm_args[@]}"
  -drive file="$ROOTIMG",if=virtio,format=raw,snapshot=on
  -virtfs local,path="$PROJ",mount_tag=host,security_model=none,id=host
  -kernel "$BZIMAGE"
  -append "console=ttyS0 root=/dev/vda rw init=/sbin/daxfs-init panic=-1 no_timer_check $e820 loglevel=$loglevel DAXFS_MODE=$MODE DAXFS_PMEM_MIB=$pmem_mib ${DAXFS_TESTS:+DAXFS_TESTS=$DAXFS_TESTS} ${KERNEL_CMDLINE:-}"
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
# pmem2 (256 GiB, test mode only) holds gigabytes of test data and struct
# pages that the next boot writes again: give the disk back.
[ "$MODE" = test ] && rm -f "$VM/pmem2.img"
if [ ! -f "$VM/exit-code" ]; then
  (( $(free_mib) >= 256 )) || die "the VM stopped without reporting a result: the disk holding $VM is full"
  die "the VM stopped without reporting a result (crash, panic or timeout)"
fi
exit "$(cat "$VM/exit-code")"

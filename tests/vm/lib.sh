# Helpers for the in-VM tests (sourced by run.sh and by every test).
DEV=/dev/pmem0
DEV2=/dev/pmem1
MNT=/mnt
KO=/host/dax_fs.ko
# lockdep reports are 'WARNING: possible ... locking' / 'inconsistent lock state'
# (a bare 'lockdep' would match the boot banner 'RCU lockdep checking is enabled').
BAD_KERNEL_LOG='BUG:|WARNING:|Oops|KASAN|UBSAN|possible circular locking|possible recursive locking|inconsistent lock state|lockdep is turned off|RCU stall|rcu_.* detected stall|general protection fault|Kernel panic|blocked for more than|Call Trace'

die() { echo "FAILED: $*" >&2; exit 1; }
note() { echo "# $*"; }

module_loaded() { grep -q '^dax_fs ' /proc/modules; }
load_module() { module_loaded || insmod "$KO"; }
unload_module() { ! module_loaded || rmmod dax_fs; }

mkfs_dev() { mkfs.daxfs -q "${1:-$DEV}"; }
mount_dax() { mount -t daxfs -o "${2:-dax}" "${1:-$DEV}" "$MNT"; }
is_mounted() { grep -q " ${1:-$MNT} " /proc/mounts; }
cleanup_mounts() {
  local m
  for m in $(awk '$3 == "daxfs" {print $2}' /proc/mounts); do umount "$m" || umount -l "$m"; done
}

# fresh_fs [dev]: mkfs, load the module, mount -o dax.
fresh_fs() { mkfs_dev "${1:-$DEV}"; load_module; mount_dax "${1:-$DEV}"; }

# fsck_clean [dev]: the device must check clean (exit 0) with fsck.daxfs -n.
fsck_clean() {
  local out rc=0
  out=$(fsck.daxfs -n "${1:-$DEV}" 2>&1) || rc=$?
  [ $rc = 0 ] || die "fsck.daxfs -n ${1:-$DEV} exit $rc: $out"
}

assert_eq() { [ "$1" = "$2" ] || die "${3:-values differ}: got '$1', expected '$2'"; }

# expect_fail CMD...: CMD must fail; its stderr+stdout go to $FAIL_OUT.
expect_fail() {
  if FAIL_OUT=$("$@" 2>&1); then die "expected failure: $*"; fi
  return 0
}

# dmesg_mark / dmesg_since PATTERN: the kernel log since the mark must match.
dmesg_mark() { DMESG_MARK=$(dmesg | wc -l); }
dmesg_since() {
  dmesg | tail -n +"$((DMESG_MARK + 1))" | grep -qE "$1" || die "kernel log lacks /$1/; got: $(dmesg | tail -n +"$((DMESG_MARK + 1))" | tail -5)"
}

# meta_sum [dev]: checksum of the first 64 MiB of the device (superblock,
# state block, journal, bitmaps, inode table of a 2 GiB fs), read with
# O_DIRECT so that it sees what DAX stored even while mounted.
meta_sum() { dd if="${1:-$DEV}" bs=1M count=64 iflag=direct status=none | md5sum; }

# write_bytes DEV OFFSET STRING: overwrite bytes on a device, bypassing caches.
write_bytes() {
  printf '%s' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc,fsync status=none
  blockdev --flushbufs "$1"
}

# Used by the scale tests (050, 051):
# timed LABEL CMD...: runs CMD and prints how long it took.
timed() {
  local label=$1 t0 rc=0 ms
  shift
  t0=$(date +%s%N)
  "$@" || rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  note "$(printf 'step %-44s %4d.%01d s' "$label" $((ms / 1000)) $((ms % 1000 / 100)))"
  [ $rc = 0 ] || die "$label: exit $rc"
}

# fsck_peak DEV: fsck.daxfs -n must be clean; prints its peak RSS (VmHWM).
fsck_peak() {
  local pid hwm=0 h rc=0
  fsck.daxfs -n "$1" >/tmp/fsck.out 2>&1 &
  pid=$!
  while h=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null) && [ -n "$h" ]; do
    hwm=$h; sleep 0.5
  done
  wait $pid || rc=$?
  note "fsck.daxfs -n $1: exit $rc, peak RSS >= $((hwm / 1024)) MiB (guest RAM $(($(awk '/^MemTotal/ {print $2}' /proc/meminfo) / 1024)) MiB)"
  [ $rc != 137 ] || die "fsck.daxfs -n $1 was killed (exit 137; the OOM killer, see the kernel log): $(tail -5 /tmp/fsck.out)"
  [ $rc = 0 ] || die "fsck.daxfs -n $1 exit $rc: $(tail -5 /tmp/fsck.out)"
}

# populate_tree: the test tree of the fuzz and repair tests on the
# filesystem mounted at $MNT: directories (one of 300 entries), small,
# 3 MiB, odd-sized, fragmented (512 extents: 8 inline, 2 extent blocks)
# and preallocated files, short and long symlinks, a hard link, fifo, device.
populate_tree() {
  local m=$MNT i punch=()
  mkdir -p "$m/a/b/c" "$m/d" "$m/many" "$m/empty"
  printf 'hello\n' >"$m/hello"
  printf 'small file\n' >"$m/a/small"
  printf x >"$m/a/b/one-byte"
  : >"$m/a/b/c/empty-file"
  dd if=/dev/urandom of="$m/d/multi" bs=1M count=3 status=none
  dd if=/dev/urandom of="$m/a/odd" bs=4097 count=300 status=none
  # 4 MiB with every other block punched; one with unwritten extents past
  # its end.
  for ((i = 1; i < 1024; i += 2)); do punch+=(-c "fpunch $((i * 4096)) 4096"); done
  xfs_io -f -c "pwrite -q -S 0x5a -b 1m 0 4m" "${punch[@]}" "$m/d/frag"
  xfs_io -f -c "pwrite -q 0 8k" -c "falloc -k 8k 64k" "$m/d/prealloc"
  daxfs-testutil many "$m/many" 300 --prefix entry-with-a-longer-name- >/dev/null
  ln -s small "$m/a/fast"
  ln -s "$(printf 'long/%.0s' $(seq 60))target" "$m/a/slow"
  ln "$m/a/small" "$m/d/hard"
  mkfifo "$m/d/fifo"
  mknod "$m/d/null" c 1 3
}

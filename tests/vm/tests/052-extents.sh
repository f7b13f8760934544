# A heavily fragmented file (issue 11, finding 4): FRAG_EXTENTS extents
# (default 1,000,000; FRAG_EXTENTS=N on the kernel command line) built by
# writing 2N stamped blocks and punching every odd one, one fallocate each
# (the time of each tenth is printed: each edit logs only the extent blocks
# it touches, so the tenths stay flat, docs/testing.md).  Then the file is
# read and mmapped (every block checked), punched near its start (one
# block: one leaf rewritten, not the chain after it), punched over a long
# middle range (hundreds of thousands of extents freed in bounded steps),
# collapsed and grown by insert range near the start (every later extent
# moves, in bounded steps), truncated, remounted, read back, deleted:
# statfs back to its baseline, fsck clean after each remount.
BIG=${SCALE_DEV:-/dev/pmem2}
BS=4096
N=${FRAG_EXTENTS:-1000000}
[ -b "$BIG" ] || die "no $BIG: scripts/vm.sh gives test mode a pmem2 of DAXFS_PMEM2_SIZE"
need=$((2 * N * BS + (1 << 30)))
[ "$(blockdev --getsize64 "$BIG")" -ge "$need" ] || die "$BIG is smaller than $need bytes"
F=$MNT/frag
DT=daxfs-datatest

timed() {
  local label=$1 t0 rc=0 ms out
  shift
  t0=$(date +%s%N)
  out=$("$@" 2>&1) || rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  note "$(printf 'step %-40s %4d.%01d s  %s' "$label" $((ms / 1000)) $((ms % 1000 / 100)) "$out")"
  [ $rc = 0 ] || die "$label: exit $rc: $out"
}
extents() { xfs_io -c fiemap "$F" | grep -vc ':$\|hole'; }

load_module
mkfs.daxfs -q -N 65536 "$BIG"
mount_dax "$BIG"
# Baseline with the root directory's first block taken (it keeps it).
touch "$F" && rm "$F"
base=$(stat -f -c %f "$MNT")
HOLES=()
# Past 200,000 extents every 8th run of blocks is read back (the file is
# 8 GiB at a million; TCG reads pmem at ~150 MiB/s).
STRIDE=$(( N > 200000 ? 8 : 1 ))
check() { timed "$1" $DT frag-check --stride $STRIDE "$F" "${HOLES[@]}"; }

timed "build $N extents (write, punch every odd block)" $DT frag-build "$F" "$N"
assert_eq "$(extents)" "$N" "extents after building"
check "read + mmap check"
umount "$MNT"
timed "fsck -n after building" fsck.daxfs -n "$BIG"
timed "remount (loads the extent map)" mount_dax "$BIG"
check "check after remount"

# One block near the start: before the extent map was kept as leaves this
# rewrote every extent block after it (E2BIG past ~65k extents).
timed "punch block 2" xfs_io -c "fpunch $((2 * BS)) $BS" "$F"
HOLES+=(--hole 2:3)
assert_eq "$(extents)" $((N - 1)) "extents after punching one near the start"
# A long middle range: N/2 extents at once.
a=$((N / 2)) z=$((N / 2 + N))
timed "punch blocks $a..$z" xfs_io -c "fpunch $((a * BS)) $(((z - a) * BS))" "$F"
HOLES+=(--hole "$a:$z")
check "check after the punches"
# Collapse one block near the start (every later extent moves left), then
# insert it back (they move right again): the stamps end where they were.
timed "collapse block 4" xfs_io -c "fcollapse $((4 * BS)) $BS" "$F"
timed "insert block 4" xfs_io -c "finsert $((4 * BS)) $BS" "$F"
HOLES+=(--hole 4:5)
check "check after collapse + insert"
size=$(( (3 * N / 2 + 1) * BS ))
timed "truncate to block $((3 * N / 2 + 1))" truncate -s "$size" "$F"
check "check after truncate"
remaining=$(extents)
note "$remaining extents left"
umount "$MNT"
timed "fsck -n" fsck.daxfs -n "$BIG"
mount_dax "$BIG"
check "check after remount"
timed "delete" rm "$F"
assert_eq "$(stat -f -c %f "$MNT")" "$base" "free blocks back to the baseline"
umount "$MNT"
fsck_clean "$BIG"

# Media errors, memory failure and device removal (issue 13;
# docs/media-errors.md), on /dev/pmem1.  Bad blocks are injected through
# /sys/block/pmem1/badblocks (the pmem driver then refuses to map or read
# them; QEMU's NVDIMMs cannot clear poison, so a write over one fails),
# memory failures with MADV_HWPOISON and the hwpoison debugfs (they reach
# daxfs as the DAX device's holder), removal by unbinding the namespace.
# Rebinding it clears the badblocks list (QEMU reports none on a probe).
D=$DEV2
P=$(basename "$D")
BB=/sys/block/$P/badblocks
DT=daxfs-datatest
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
load_module

bad() { echo "$1 ${2:-8}" >"$BB"; }  # SECTOR [COUNT] (512-byte units)
ns() { basename "$(readlink -f "/sys/block/$P/device")"; }
wait_dev() { local i; for i in $(seq 100); do [ -b "$D" ] && return 0; sleep 0.1; done; die "$D did not come back"; }
rebind() {
  local p; p=$(ns)
  echo "$p" >/sys/bus/nd/drivers/nd_pmem/unbind
  echo "$p" >/sys/bus/nd/drivers/nd_pmem/bind
  wait_dev
  assert_eq "$(cat "$BB")" "" "badblocks after a rebind"
}
# Whatever happens, pmem1 is left bound and unmounted for the next tests.
trap 'umount "$MNT" 2>/dev/null || true; [ -b "$D" ] || echo "$NS" >/sys/bus/nd/drivers/nd_pmem/bind 2>/dev/null || true' EXIT
NS=$(ns)
# First sector (of the block device) of FILE's first extent; its extent count.
first_sector() { xfs_io -c "fiemap -v" "$1" | awk 'NR==3 {split($3, a, "."); print a[1]}'; }
# The sector of FILE's byte OFFSET (FIEMAP; 512-byte units).
sector_of() {
  xfs_io -c "fiemap -v" "$1" | awk -v o=$(($2 / 512)) 'NR > 2 && $3 != "hole" {
    split($2, f, "[^0-9]+"); split($3, p, ".")
    if (o >= f[2] && o <= f[3]) {print p[1] + o - f[2]; exit}}'
}
geo() { daxfs-db "$D" sb | awk -v k="$1:" '$1 == k {print $2; exit}'; }
mnt() { mount -t daxfs -o dax "$D" "$MNT"; }
eio() { # CMD...: must fail with "Input/output error"
  expect_fail "$@"
  echo "$FAIL_OUT" | grep -q 'Input/output error' || die "$*: expected EIO, got: $FAIL_OUT"
}
# A small filesystem (256 MiB) so that filling it is quick.
small_fs() { mkfs.daxfs -q "$D" 65536; }
# fill [HOLE]: fills the filesystem to ENOSPC (statfs then offers
# nothing: bad free blocks are not offered) with $MNT/fill and 4 KiB files
# $MNT/more*, after a file $MNT/hole of HOLE blocks, fallocated next to
# last (so that removing it frees just those).
fill() {
  local hole=${1:-0} avail i=0
  avail=$(stat -f -c %a "$MNT")
  fallocate -l $(( (avail - hole - 256) * 4096 )) "$MNT/fill" || die "fallocate of the good free blocks"
  [ "$hole" = 0 ] || fallocate -l $((hole * 4096)) "$MNT/hole" || die "fallocate of $MNT/hole"
  while fallocate -l 4096 "$MNT/more$i" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 1000 ] || die "no ENOSPC after 1000 more blocks"
  done
  assert_eq "$(stat -f -c %a "$MNT")" 0 "free blocks at ENOSPC (bad ones are not offered)"
}

# 1. Bad blocks in the data area at mount: the mount works (it mapped the
# whole device in one call before, which the driver refused) and the free
# blocks on the list are never allocated.
small_fs
bad $((65536 * 8 - 64)) 64                   # the fs's last 8 blocks
dmesg_mark
mnt || die "mount with bad blocks in the data area failed"
dmesg_since "8 free blocks are on the device's badblocks list"
# Fill it: ENOSPC must come with no block free for statfs (the 8 bad
# ones, free on pmem, are not offered), none of them in a file.
fill
xfs_io -c "fiemap -v" "$MNT/fill" | awk -v lo=$((65536 * 8 - 64)) 'NR>2 {split($3, a, "."); if (a[3] + 0 >= lo) bad=1} END {exit bad}' ||
  die "a bad block was allocated"
umount "$MNT"
out=$(fsck.daxfs -n "$D" 2>&1) || die "fsck.daxfs -n with 8 bad free blocks: exit $?: $out"
echo "$out" | grep -q "bad blocks 65528-65535: free" || die "fsck does not report the bad free blocks: $out"
mnt
rm -f "$MNT"/*
note "mount with 8 bad data blocks: mounted, they are never allocated"

# 2. Poisoned file data: EIO for reads of the bad page only, SIGBUS for a
# fault on it, the rest reads and maps; a write over it fails (QEMU cannot
# clear poison) and changes nothing; fsync reports nothing false.
xfs_io -f -c "pwrite -S 0xab 0 4m" -c fsync "$MNT/f" >/dev/null
s=$(sector_of "$MNT/f" 1048576)
bad "$s" 8                                   # file bytes 1 MiB .. 1 MiB + 4 KiB
eio xfs_io -c "pread 1m 4k" "$MNT/f"
eio dd if="$MNT/f" of=/dev/null bs=1M status=none
assert_eq "$(xfs_io -c 'pread -v 0 4k' "$MNT/f" | awk 'NR==1 {print $2}')" ab "data before the bad page"
assert_eq "$(xfs_io -c 'pread -v 1052672 4k' "$MNT/f" | awk 'NR==1 {print $2}')" ab "data after the bad page"
assert_eq "$($DT mmap-read "$MNT/f" 1048576)" "SIGBUS 4" "mmap fault on the bad page (BUS_MCEERR_AR)"
assert_eq "$($DT mmap-read "$MNT/f" 3145728)" ok "mmap fault elsewhere"
expect_fail xfs_io -c "pwrite -S 0xcd 1m 4k" "$MNT/f"
grep -q "^$s 8" "$BB" || die "the bad page left the list: $(cat "$BB")"
assert_eq "$(xfs_io -c 'pread -v 1044480 4k' "$MNT/f" | awk 'NR==1 {print $2}')" ab "data before the bad page after the failed write"
assert_eq "$(xfs_io -c 'pread -v 1052672 4k' "$MNT/f" | awk 'NR==1 {print $2}')" ab "data after the bad page after the failed write"
assert_eq "$(stat -c %s "$MNT/f")" 4194304 "size after the failed write"
xfs_io -c fsync "$MNT/f" || die "fsync after a failed write reports an error"
# Preallocated (unwritten) blocks read as zeroes without touching pmem; a
# write into a bad one fails (its zeroing fails) and changes nothing.
fallocate -l 1m "$MNT/u"
bad "$(sector_of "$MNT/u" 4096)" 8
assert_eq "$(xfs_io -c 'pread -v 4096 4k' "$MNT/u" | awk 'NR==1 {print $2}')" 00 "an unwritten bad block reads zeroes"
eio xfs_io -c "pwrite 4096 512" "$MNT/u"
assert_eq "$(xfs_io -c 'pread -v 4096 4k' "$MNT/u" | awk 'NR==1 {print $2}')" 00 "after the failed write"
fino=$(stat -c %i "$MNT/f") uino=$(stat -c %i "$MNT/u")
umount "$MNT"
# fsck reads the badblocks list and says what each bad block held.
rc=0; out=$(fsck.daxfs -n "$D" 2>&1) || rc=$?
assert_eq "$rc" 4 "fsck.daxfs -n exit status with a bad block of file data"
echo "$out" | grep -q "bad block $((s / 8)): file data of inode $fino (/f), bytes 1048576..1052672: lost" || die "fsck report: $out"
echo "$out" | grep -q "preallocated blocks of inode $uino (/u), bytes 4096..8192: nothing lost" || die "fsck report: $out"
rebind
fsck_clean "$D"
note "poisoned data: EIO and SIGBUS on the bad page only, failed write changed nothing, fsck clean"

# 3. A bad free block met while allocating: zeroing it fails, it is kept
# out of allocation from then on and the write takes other blocks.  The
# filesystem is filled but for 1 MiB, whose first half goes bad.
small_fs; mnt
fill 256
s=$(first_sector "$MNT/hole")
[ "$(xfs_io -c "fiemap -v" "$MNT/hole" | awk 'NR==3 {print $4}')" -ge 1024 ] || die "hole's first extent is short: $(xfs_io -c 'fiemap -v' "$MNT/hole")"
rm "$MNT/hole"                                 # its 256 blocks are all that is free
bad "$s" 1024                                  # 128 of the 256 free blocks
truncate -s 1m "$MNT/b"                        # inside EOF: fresh blocks are zeroed
dmesg_mark
xfs_io -c "pwrite -S 0x77 0 256k" "$MNT/b" >/dev/null || die "write with good blocks left: $(dmesg | tail -15)"
expect_fail xfs_io -c "pwrite -S 0x77 512k 512k" "$MNT/b"
echo "$FAIL_OUT" | grep -q 'No space' || die "write when only bad blocks are left: $FAIL_OUT"
dmesg_since "could not be zeroed \(badblocks list\): [0-9]+ bad free blocks are not allocated from now on"
xfs_io -c "fiemap -v" "$MNT/b" | awk -v lo="$s" -v hi=$((s + 1024)) 'NR>2 && $3 != "hole" {split($3, a, "."); if (a[1] + 0 < hi && a[3] + 0 >= lo) bad=1} END {exit bad}' ||
  die "a bad block was allocated"
assert_eq "$(xfs_io -c 'pread -v 0 4k' "$MNT/b" | awk 'NR==1 {print $2}')" 77 "data written around bad blocks"
umount "$MNT"
rebind
fsck_clean "$D"
note "bad free blocks met while allocating: skipped, ENOSPC when only they are left, fsck clean"

# 4. Poisoned metadata: the operation that reads it fails with EIO, the
# filesystem shuts down with a message naming the area, unmount works, and
# after the bad block is gone fsck is clean.
itab=$(mkfs.daxfs -q "$D" >/dev/null; geo itable_start)
jstart=$(geo journal_start)
mnt
mkdir "$MNT/d"; echo x >"$MNT/victim"; echo y >"$MNT/other"
for i in $(seq 100); do : >"$MNT/d/file-with-a-long-name-$i"; done
ino=$(stat -c %i "$MNT/victim")
dino=$(stat -c %i "$MNT/d")
dblk=$(daxfs-db --json "$D" extents "$dino" | grep -o '"pblk":[0-9]*' | head -1 | cut -d: -f2)
umount "$MNT"; mnt                              # nothing cached
bad $(( (itab * 4096 + (ino - 1) * 256) / 512 )) 1
dmesg_mark
eio stat "$MNT/victim"
dmesg_since "bad block \(poison\) while reading metadata at byte $(( itab * 4096 + (ino - 1) * 256 ))"
eio touch "$MNT/new"
dmesg_since "metadata I/O error at byte [0-9]+ \(inode table\): shut down"
umount "$MNT" || die "umount after a metadata media error"
rebind
fsck_clean "$D"
# A directory block.
if [ -n "$dblk" ]; then
  mnt
  bad $((dblk * 8)) 8
  dmesg_mark
  eio ls "$MNT/d"
  eio touch "$MNT/new"
  dmesg_since "metadata I/O error at byte $((dblk * 4096)) \(data\): shut down"
  umount "$MNT"; rebind; fsck_clean "$D"
else
  die "no block found for directory inode $dino: $(daxfs-db "$D" extents "$dino")"
fi
# The journal, on a live mount: the next change fails and shuts down.
mnt
bad $((jstart * 8)) 8
dmesg_mark
eio touch "$MNT/new"
dmesg_since "bad block \(poison\) while writing metadata at byte $((jstart * 4096))"
eio mkdir "$MNT/new"
dmesg_since "\(journal\): shut down"
umount "$MNT"; rebind; fsck_clean "$D"
# The super block: the mount fails cleanly.
bad 0 8
dmesg_mark
expect_fail mnt
echo "$FAIL_OUT" | grep -q "can't read superblock" || die "mount over a bad super block: $FAIL_OUT"  # mount(8)'s words for EIO
dmesg_since "bad block \(poison\) while reading metadata at byte 0"
rebind
mnt; assert_eq "$(cat "$MNT/other")" y "data after the bad blocks are gone"; umount "$MNT"
note "poisoned inode table, directory block, journal, super block: EIO, shut down, fsck clean"

# 5. A memory failure in file data (MADV_HWPOISON: memory_failure() on
# the page, reported to daxfs as the DAX holder): the owner is found, the
# processes mapping the page get SIGBUS (the caller BUS_MCEERR_AR, an
# early-kill process BUS_MCEERR_AO), the loss is logged with inode and
# offset, and the filesystem carries on.
echo 1 >/proc/sys/vm/memory_failure_early_kill
small_fs; mnt
xfs_io -f -c "pwrite -S 0xab 0 4m" -c fsync "$MNT/f" >/dev/null
ino=$(stat -c %i "$MNT/f")
$DT hold "$MNT/f" 120 >/tmp/hold.out &
hp=$!
for i in $(seq 100); do grep -q mapped /tmp/hold.out && break; sleep 0.2; done
dmesg_mark
assert_eq "$($DT hwpoison "$MNT/f" 1048576)" "SIGBUS 4" "the poisoning process"
rc=0; wait $hp || rc=$?
assert_eq "$rc" 15 "the other process mapping the page (10 + BUS_MCEERR_AO)"
dmesg_since "inode $ino lost data at offset 1048576 \(\+4096\)"
echo more >"$MNT/after" || die "not writable after a data memory failure"
echo 0 >/proc/sys/vm/memory_failure_early_kill
# Through the hwpoison debugfs (any pfn, mapped or not): a free block, and
# an inode table block (metadata: shut down).
# The pfn of block 0: that of a mapped page of f less its block number.
base=$(( $($DT pfn "$MNT/f" 0) - $(sector_of "$MNT/f" 0) / 8 ))
pfn() { echo $(( base + $1 / 4096 )); }
free=$(( $(geo data_start) + 100 ))
n=0
while ! daxfs-db --json "$D" owner $free | grep -q '"status":"free"'; do
  free=$((free + 1000)); n=$((n + 1)); [ $n -lt 50 ] || die "no free block found: $(daxfs-db --json "$D" owner $free)"
done
dmesg_mark
echo "$(pfn $(( free * 4096 )))" >/sys/kernel/debug/hwpoison/corrupt-pfn
dmesg_since "free blocks $free\.\.$((free + 1)); not allocated from now on"
# The same free block again: still free (kept out of allocation, but free
# on pmem), so no owner search.
dmesg_mark
echo "$(pfn $(( free * 4096 )))" >/sys/kernel/debug/hwpoison/corrupt-pfn
dmesg_since "free blocks $free\.\.$((free + 1)); not allocated from now on"
dmesg | tail -n "+$((DMESG_MARK + 1))" | grep "have no owner" && die "a kept-out free block was searched for an owner"
# A block in use when it fails is remembered: after its file is deleted it
# is not allocated again.
xfs_io -f -c "pwrite -S 0x11 0 64k" -c fsync "$MNT/g" >/dev/null
gino=$(stat -c %i "$MNT/g")
gblk=$(( $(sector_of "$MNT/g" 8192) / 8 ))
dmesg_mark
echo "$(pfn $(( gblk * 4096 )))" >/sys/kernel/debug/hwpoison/corrupt-pfn
dmesg_since "inode $gino lost data at offset 8192 \(\+4096\)"
rm "$MNT/g"
fill
for x in "$MNT"/fill "$MNT"/more*; do
  xfs_io -c "fiemap -v" "$x" | awk -v a=$((gblk * 8)) -v b=$((free * 8)) 'NR>2 && $3 != "hole" {split($3, p, "."); if ((p[1] <= a && a <= p[3]) || (p[1] <= b && b <= p[3])) bad=1} END {exit bad}' ||
    die "$x has a block that failed: $(xfs_io -c 'fiemap -v' "$x")"
done
rm -f "$MNT"/fill "$MNT"/more*
itab=$(geo itable_start)
dmesg_mark
echo "$(pfn $(( itab * 4096 )))" >/sys/kernel/debug/hwpoison/corrupt-pfn 2>/dev/null || true
dmesg_since "in the inode table: metadata lost; shutting down"
eio touch "$MNT/new"
umount "$MNT"
rebind
fsck_clean "$D"
note "memory failures: data owner found and its mappers killed; free block kept out; metadata shuts down"

# 6. The device removed under a mounted, busy filesystem (MF_MEM_PRE_REMOVE):
# daxfs freezes, shuts down and unmaps; the mapping process gets SIGBUS, a
# writer gets an error, the mount point answers EIO, unmount works, and
# everything acknowledged before is on the device afterwards.  (ndctl
# disable-namespace refuses a mounted namespace: unbind is the removal.)
small_fs; mnt
xfs_io -f -c "pwrite -S 0x5c 0 4m" -c fsync "$MNT/f" >/dev/null
sum=$(md5sum <"$MNT/f")
$DT hold "$MNT/f" 120 >/tmp/hold.out &
hp=$!
for i in $(seq 100); do grep -q mapped /tmp/hold.out && break; sleep 0.2; done
# A writer rewriting a preallocated file (no ENOSPC) until a write fails.
fallocate -l 16m "$MNT/w"
: >/tmp/dd.err
( while dd if=/dev/zero of="$MNT/w" bs=64k count=256 conv=notrunc status=none 2>>/tmp/dd.err; do :; done; exit 1 ) &
dp=$!
sleep 1
kill -0 $dp 2>/dev/null || die "the writer stopped before the removal: $(cat /tmp/dd.err)"
dmesg_mark
echo "$NS" >/sys/bus/nd/drivers/nd_pmem/unbind
dmesg_since "the pmem device is being removed: freezing and shutting down"
rc=0; wait $hp || rc=$?
case $rc in 14|15) ;; *) die "the process mapping a file: exit $rc, not SIGBUS BUS_MCEERR_AR/AO (14/15)" ;; esac
rc=0; wait $dp || rc=$?
[ "$rc" != 0 ] || die "a writer survived the removal"
grep -q 'Input/output error' /tmp/dd.err || die "the writer's error: $(cat /tmp/dd.err)"
eio ls "$MNT"
umount "$MNT" || die "umount after the device was removed"
echo "$NS" >/sys/bus/nd/drivers/nd_pmem/bind
wait_dev
fsck_clean "$D"
mnt
assert_eq "$(md5sum <"$MNT/f")" "$sum" "data acknowledged before the removal"
umount "$MNT"
note "removal under a busy mount: SIGBUS, EIO, unmount works, data kept, fsck clean"

# 7. Clearing poison by writing, on the e820 (memmap=) pmem device, whose
# driver clears it (QEMU's NVDIMMs cannot): a write over a bad page of file
# data succeeds through the kernel's recovery write, the page leaves the
# badblocks list and reads and maps the new data; bad free blocks met while
# allocating are cleared by their zeroing and used.
E=
for b in /sys/block/pmem*; do
  case $(readlink -f "$b/device") in */e820_pmem/*) E=/dev/${b##*/} ;; esac
done
[ -n "$E" ] || die "no e820 pmem device (scripts/vm.sh passes memmap= to the guest)"
EBB=/sys/block/${E#/dev/}/badblocks
assert_eq "$(cat "/sys/block/${E#/dev/}/queue/dax")" 1 "$E is DAX capable"
mkfs.daxfs -q "$E"
mount -t daxfs -o dax "$E" "$MNT"
xfs_io -f -c "pwrite -S 0xab 0 4m" -c fsync "$MNT/f" >/dev/null
s=$(sector_of "$MNT/f" 1048576)
echo "$s 8" >"$EBB"
eio xfs_io -c "pread 1m 4k" "$MNT/f"
xfs_io -c "pwrite -S 0xcd 1m 4k" -c fsync "$MNT/f" >/dev/null || die "write over a bad page on a device that clears poison failed"
assert_eq "$(cat "$EBB")" "" "badblocks after the recovery write"
assert_eq "$(xfs_io -c 'pread -v 1048576 4k' "$MNT/f" | awk 'NR==1 {print $2}')" cd "data written over the bad page"
assert_eq "$(xfs_io -c 'pread -v 1044480 4k' "$MNT/f" | awk 'NR==1 {print $2}')" ab "data before it"
assert_eq "$($DT mmap-read "$MNT/f" 1048576)" ok "mmap fault on the cleared page"
# Fill all but 1 MiB, make the first half of it bad, write 1 MiB into it.
fill 256
s=$(first_sector "$MNT/hole")
[ "$(xfs_io -c "fiemap -v" "$MNT/hole" | awk 'NR==3 {print $4}')" -ge 1024 ] || die "hole's first extent is short: $(xfs_io -c 'fiemap -v' "$MNT/hole")"
rm "$MNT/hole"
echo "$s 1024" >"$EBB"
truncate -s 1m "$MNT/b"
xfs_io -c "pwrite -S 0x77 0 1m" -c fsync "$MNT/b" >/dev/null || die "write into cleared bad free blocks: $(dmesg | tail -5)"
assert_eq "$(cat "$EBB")" "" "badblocks after zeroing the bad free blocks"
assert_eq "$(md5sum <"$MNT/b")" "$(head -c 1m /dev/zero | tr '\0' '\167' | md5sum)" "data written into them"
umount "$MNT"
fsck_clean "$E"
note "e820 pmem: a write clears a bad page (recovery write) and zeroing clears bad free blocks"

# 8. Partitions: daxfs on pmem1p2 (mounted first: it holds the DAX
# device) and pmem1p1 (not the holder).  The badblocks list counts sectors
# of the whole disk and memory failures come with device offsets: both
# must be translated by the partition's start.
rebind
sfdisk -q "$D" <<PARTS
label: dos
start=2048, size=520192, type=83
start=524288, size=524288, type=83
PARTS
blockdev --rereadpt "$D" || partx -u "$D"
udevadm settle 2>/dev/null || true
[ -b "${D}p1" ] && [ -b "${D}p2" ] || die "no partitions on $D"
p2start=$(cat "/sys/class/block/${P}p2/start")
mkdir -p /tmp/m1
mkfs.daxfs -q "${D}p1"; mkfs.daxfs -q "${D}p2"
dmesg_mark
mount -t daxfs -o dax "${D}p2" "$MNT"
mount -t daxfs -o dax "${D}p1" /tmp/m1
dmesg_since "not the holder|does not hold|another holder"
xfs_io -f -c "pwrite -S 0xab 0 4m" -c fsync "$MNT/f" >/dev/null
xfs_io -f -c "pwrite -S 0xab 0 4m" -c fsync /tmp/m1/f >/dev/null
ino2=$(stat -c %i "$MNT/f")
# A memory failure in a p2 file: found and reported at the right offset.
dmesg_mark
assert_eq "$($DT hwpoison "$MNT/f" 2097152)" "SIGBUS 4" "MADV_HWPOISON on a file of the holder's partition"
dmesg_since "inode $ino2 lost data at offset 2097152 \(\+4096\)"
# In a p1 file: not the holder's range, the kernel's generic handler
# kills the caller; daxfs reports nothing.
dmesg_mark
assert_eq "$($DT hwpoison /tmp/m1/f 1048576)" "SIGBUS 4" "MADV_HWPOISON on a file of the other partition"
dmesg | tail -n "+$((DMESG_MARK + 1))" | grep "lost data" && die "a failure on p1 was reported by p2's daxfs"
# A bad page of a p2 file: its disk sector is p2's start plus the
# partition sector FIEMAP gives.
s=$(sector_of "$MNT/f" 1048576)
echo "$((p2start + s)) 8" >"$BB"
eio xfs_io -c "pread 1m 4k" "$MNT/f"
assert_eq "$(xfs_io -c 'pread -v 1052672 4k' "$MNT/f" | awk 'NR==1 {print $2}')" ab "p2 data after the bad page"
assert_eq "$(xfs_io -c 'pread -v 1048576 4k' /tmp/m1/f | awk 'NR==1 {print $2}')" ab "p1 data at the same offset"
umount /tmp/m1; umount "$MNT"
rc=0; out=$(fsck.daxfs -n "${D}p2" 2>&1) || rc=$?
assert_eq "$rc" 4 "fsck.daxfs -n of p2 with a bad block of file data"
echo "$out" | grep -q "bad block $((s / 8)): file data of inode $ino2 (/f), bytes 1048576..1052672: lost" || die "fsck report on p2: $out"
fsck_clean "${D}p1"
wipefs -qa "$D"; blockdev --rereadpt "$D" 2>/dev/null || true
rebind
note "partitions: memory failures and bad blocks translated by the partition's start; the other partition unaffected"

# daxfs on a partition of a pmem device (issue 11, finding 1): the DAX
# engine addresses the whole device, so every address daxfs hands it must
# include the partition's offset.  pmem1 gets three partitions:
#   p1  1 MiB..256 MiB   ext4 holding a checksummed 64 MiB file
#   p2  256 MiB..1792 MiB daxfs (2 MiB aligned: PMD faults work)
#   p3  one sector past 1792 MiB, not 4 KiB aligned: the mount is refused
# While daxfs writes, faults (PTE and PMD) and fallocates on p2, p1 must not
# change by a byte; daxfs's file blocks must be where FIEMAP says on p2.
P=${DEV2}p
wipe_parts() { umount "$MNT" 2>/dev/null || true; wipefs -qa "$DEV2" 2>/dev/null || true; blockdev --rereadpt "$DEV2" 2>/dev/null || true; }
trap wipe_parts EXIT
wipe_parts
sfdisk -q "$DEV2" <<EOF
label: dos
start=2048, size=522240, type=83
start=524288, size=3145728, type=83
start=3670017, size=131064, type=83
EOF
blockdev --rereadpt "$DEV2" || partx -u "$DEV2"
udevadm settle 2>/dev/null || true
for n in 1 2 3; do [ -b "$P$n" ] || die "no $P$n after partitioning"; done
assert_eq "$(cat /sys/class/block/pmem1p2/start)" 524288 "p2 start sector"

# The neighbour: ext4 with a file whose checksum is known.
mkfs.ext4 -q -F "${P}1"
mkdir -p /tmp/ext
mount "${P}1" /tmp/ext
head -c 64M /dev/urandom >/tmp/ext/keep
want_file=$(md5sum </tmp/ext/keep)
umount /tmp/ext
want_p1=$(dd if="${P}1" bs=1M iflag=direct status=none | md5sum)

# daxfs on p2: write(2), mmap (PTE and PMD), fallocate, punch.
load_module
mkfs.daxfs -q "${P}2"
dmesg_mark
mount -t daxfs -o dax "${P}2" "$MNT"
if dmesg | tail -n +"$((DMESG_MARK + 1))" | grep -q 'not on a 2 MiB boundary'; then
  die "a 2 MiB aligned partition was reported unaligned"
fi
dd if=/dev/urandom of=/tmp/data bs=1M count=32 status=none
want_data=$(md5sum </tmp/data)
dd if=/tmp/data of="$MNT/data" bs=1M status=none conv=fsync
dd if=/dev/zero of="$MNT/big" bs=1M count=512 status=none
xfs_io -f -c "falloc 0 256m" "$MNT/falloc"
xfs_io -c "pwrite -S 0x5a 1m 4k" -c "fpunch 8m 1m" "$MNT/falloc" >/dev/null
TR=/sys/kernel/tracing
mountpoint -q $TR || mount -t tracefs nodev $TR
echo 1 >$TR/events/fs_dax/dax_pmd_fault_done/enable
echo 0 >$TR/tracing_on; echo >$TR/trace; echo 1 >$TR/tracing_on
truncate -s 64M "$MNT/mapped"
daxfs-datatest touch "$MNT/mapped" --write >/dev/null || die "mmap touch on the partition"
echo 0 >$TR/tracing_on
pmd=$(grep 'dax_pmd_fault_done:.*NOPAGE' $TR/trace | grep -o 'address 0x[0-9a-f]*' | sort -u | wc -l)
echo 0 >$TR/events/fs_dax/enable
note "PMD on the partition: $pmd of 32 2 MiB ranges"
[ "$pmd" -ge 30 ] || die "only $pmd of 32 2 MiB ranges were PMD mapped on a 2 MiB aligned partition"
# PTE faults: a private mapping's read faults and shared single-page writes.
xfs_io -c "mmap -w 0 1m" -c "mwrite -S 0x77 4096 8192" -c "msync -s 0 1m" "$MNT/falloc" >/dev/null

# The file's first block is where FIEMAP says, counted from the start of p2.
phys=$(filefrag -v "$MNT/data" | awk '$1 == "0:" {sub(/\.\..*/, "", $4); print $4; exit}')
[ -n "$phys" ] || die "no extent for $MNT/data"
ondisk=$(dd if="${P}2" bs=4096 skip="$phys" count=1 iflag=direct status=none | md5sum)
assert_eq "$ondisk" "$(head -c 4096 /tmp/data | md5sum)" "block $phys of ${P}2 vs the file's first block"
sync
umount "$MNT"
fsck_clean "${P}2"
mount -t daxfs -o dax "${P}2" "$MNT"
assert_eq "$(md5sum <"$MNT/data")" "$want_data" "daxfs file after remount"
assert_eq "$(xfs_io -c 'pread -v 4096 16' "$MNT/falloc" | head -1 | awk '{print $2}')" 77 "mmap write on the partition"
umount "$MNT"

# The neighbour did not change.
assert_eq "$(dd if="${P}1" bs=1M iflag=direct status=none | md5sum)" "$want_p1" "ext4 partition p1 bytes"
e2fsck -fn "${P}1" >/tmp/e2fsck.out 2>&1 || die "e2fsck of p1: $(tail -5 /tmp/e2fsck.out)"
mount -o ro "${P}1" /tmp/ext
assert_eq "$(md5sum </tmp/ext/keep)" "$want_file" "file on the ext4 partition"
umount /tmp/ext

# p3 starts one sector past a 4 KiB boundary: refused with a message.
mkfs.daxfs -q "${P}3"
dmesg_mark
expect_fail mount -t daxfs -o dax "${P}3" "$MNT"
dmesg_since 'does not start and end on a 4 KiB boundary'

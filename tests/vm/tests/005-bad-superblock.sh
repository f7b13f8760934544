# Corrupted superblocks are refused with an error and a message, never an
# oops; fsck detects them and repairs from the backup where that is safe.
load_module
# 1. bad magic -> EINVAL ("not a daxfs")
mkfs_dev
write_bytes "$DEV" 0 "XXXXXXXX"
dmesg_mark
expect_fail mount_dax
dmesg_since 'bad magic'
rc=0; fsck.daxfs -n "$DEV" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 4 "fsck -n exit code on a bad primary superblock"
rc=0; fsck.daxfs -y "$DEV" || rc=$?
assert_eq "$rc" 1 "fsck -y exit code after repairing from the backup"
fsck_clean
mount_dax; umount "$MNT"

# 2. bad checksum (one label byte flipped) -> EUCLEAN
mkfs_dev
write_bytes "$DEV" 80 "Z"
dmesg_mark
expect_fail mount_dax
dmesg_since 'checksum'
echo "$FAIL_OUT" | grep -qi 'needs cleaning' || die "mount did not report EUCLEAN: $FAIL_OUT"

# 3. impossible size: a valid superblock of a 4 GiB filesystem on a 2 GiB device
truncate -s 4G /tmp/big.img
mkfs.daxfs -q /tmp/big.img
dd if=/tmp/big.img of="$DEV" bs=4096 count=2 conv=notrunc,fsync status=none
blockdev --flushbufs "$DEV"
rm -f /tmp/big.img
dmesg_mark
expect_fail mount_dax
dmesg_since 'impossible'
rc=0; fsck.daxfs -n "$DEV" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 4 "fsck -n exit code on an impossible size"

# 4. a zeroed device
dd if=/dev/zero of="$DEV" bs=1M count=1 conv=fsync status=none
blockdev --flushbufs "$DEV"
expect_fail mount_dax
is_mounted && die "corrupt fs got mounted"
mkfs_dev
fsck_clean

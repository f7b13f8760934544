# A journal replay that changes the orphan list: mount must continue from
# the state block the replay left, not from the one it read before (the
# stale head, written back by the mount's own commit, lost the orphan: its
# inode and blocks leaked).  The crashed commit (crash_after_commit=2; the
# mount's is 1) is the unlink of an open file.
load_module
mkfs_dev; mount_dax
: >"$MNT/keep"   # the root directory's first block, before counting
free0=$(stat -f -c %f "$MNT")
dd if=/dev/urandom of="$MNT/f" bs=1M count=8 status=none
umount "$MNT"
unload_module; insmod "$KO" crash_after_commit=2
mount_dax
exec 7<"$MNT/f"
rm "$MNT/f"
exec 7<&-
umount "$MNT" || true
unload_module; load_module
dmesg_mark
mount_dax
dmesg_since 'journal: replayed transaction'
dmesg_since 'freed 1 orphan inode'
assert_eq "$(stat -f -c %f "$MNT")" "$free0" "free blocks after the orphan was freed"
umount "$MNT"; fsck_clean

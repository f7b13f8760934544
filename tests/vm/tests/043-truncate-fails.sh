# A truncate that fails destroys nothing (issue 11, finding 8): the partial
# block at the new end is zeroed only after the new size is persisted.
# crash_after_commit=1 makes the mount's own commit the last one: the
# truncate's commit then fails with EIO.  The file must keep its size and
# every byte, now and after the next mount.
load_module
mkfs_dev; mount_dax
xfs_io -f -c "pwrite -q -S 0x61 0 8192" "$MNT/f"
umount "$MNT"
unload_module; insmod "$KO" crash_after_commit=1
mount_dax
expect_fail truncate -s 100 "$MNT/f"
echo "$FAIL_OUT" | grep -q 'Input/output error' || die "truncate: $FAIL_OUT"
count61() { od -An -v -tx1 "$1" | tr -s ' \n' '\n' | grep -c '^61$' || true; }
assert_eq "$(stat -c %s "$MNT/f")" 8192 "size after the failed truncate"
assert_eq "$(count61 "$MNT/f")" 8192 "bytes intact after the failed truncate"
umount "$MNT" || true
unload_module; load_module
mount_dax
assert_eq "$(stat -c %s "$MNT/f")" 8192 "size after the next mount"
assert_eq "$(count61 "$MNT/f")" 8192 "bytes intact after the next mount"
# And a truncate that works zeroes the tail of the new last block.
truncate -s 100 "$MNT/f"
truncate -s 4096 "$MNT/f"
assert_eq "$(count61 "$MNT/f")" 100 "bytes after truncate down and up"
umount "$MNT"; fsck_clean

# mkfs.daxfs refuses a mounted device and leaves the filesystem intact.
fresh_fs
expect_fail mkfs.daxfs "$DEV"
note "$FAIL_OUT"
umount "$MNT"
fsck_clean
mount_dax; umount "$MNT"

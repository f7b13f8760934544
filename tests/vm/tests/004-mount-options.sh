# Mount option parsing: dax / dax=always accepted, dax=never and dax=inode
# refused with a clear message, unknown options refused with EINVAL, remount.
mkfs_dev; load_module
for o in dax dax=always defaults ro,dax; do
  mount_dax "$DEV" "$o"
  grep " $MNT " /proc/mounts | grep -q dax=always || die "-o $o: dax=always not shown"
  umount "$MNT"
done
dmesg_mark
expect_fail mount_dax "$DEV" dax=never
dmesg_since 'dax=never is not supported'
dmesg_mark
expect_fail mount_dax "$DEV" dax=inode
dmesg_since 'dax=inode is not supported'
# mount(8) uses fsconfig(2): the VFS's message comes back to it, not to dmesg.
expect_fail mount_dax "$DEV" dax,bogus_option=1
echo "$FAIL_OUT" | grep -q "Unknown parameter 'bogus_option'" || die "no 'Unknown parameter' message: $FAIL_OUT"
expect_fail mount_dax "$DEV" dax=sometimes
is_mounted && die "a refused mount is mounted"
# remount keeps the fs usable; a refused mode on remount changes nothing.
mount_dax
mount -o remount,dax "$MNT"
mount -o remount,ro "$MNT"
grep " $MNT " /proc/mounts | grep -q ' ro,' || die "remount,ro not read-only"
mount -o remount,rw "$MNT"
expect_fail mount -o remount,dax=never "$MNT"
is_mounted || die "failed remount unmounted the fs"
umount "$MNT"
fsck_clean

# Mounted read-only, then remounted read-write: fully writable (allocating
# writes too), and the unmount leaves it clean with exact counts.
mount_dax "$DEV" ro,dax
expect_fail touch "$MNT/x"
mount -o remount,rw "$MNT"
dd if=/dev/urandom of="$MNT/after-rw" bs=64k count=8 status=none || die "allocating write after remount,rw"
mkdir "$MNT/dir-after-rw"
sum=$(md5sum <"$MNT/after-rw")
umount "$MNT"
fsck_clean
# rw -> ro records a clean state at once (exact free counts): fsck of the
# device while it is still mounted read-only is clean, and stays so.
mount_dax
echo more >"$MNT/more"
mount -o remount,ro "$MNT"
fsck_clean
ro_sum=$(meta_sum)
expect_fail touch "$MNT/y"
assert_eq "$(md5sum <"$MNT/after-rw")" "$sum" "data written after remount,rw"
umount "$MNT"
assert_eq "$(meta_sum)" "$ro_sum" "metadata written after remount,ro"
fsck_clean
mount_dax
umount "$MNT"

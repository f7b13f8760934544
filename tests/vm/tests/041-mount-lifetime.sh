# The mounted state lives exactly as long as the block device is held
# (issue 11, finding 7): unmount records "clean" while the device is still
# open (put_super), and a mount that fails half way writes nothing at the
# end, in particular never marks a not-clean filesystem clean.
# State block: block 2, clean flag = u32 at byte 40.  -N 1024 puts the
# inode table at block 276 (see test 020); the root inode is its first slot.
BS=4096
clean_flag() { od -An -t u4 -j $((2 * BS + 40)) -N 4 "$DEV" | tr -d ' '; }
load_module
mkfs.daxfs -q -N 1024 "$DEV"
mount_dax
echo data >"$MNT/f"
daxfs-testutil sys shutdown "$MNT" 2 || die "shutdown failed"
umount "$MNT"
assert_eq "$(clean_flag)" 0 "clean flag after a shutdown and unmount"
# Damage the root inode: Store::open succeeds (the state stays not clean),
# reading the root then fails and the mount is refused.
root=$((276 * BS))
dd if="$DEV" of=/tmp/itable bs=$BS count=1 skip=276 iflag=direct status=none
printf '\xff\xff' | dd of="$DEV" bs=1 seek=$((root + 24)) conv=notrunc,fsync status=none
blockdev --flushbufs "$DEV"
dmesg_mark
expect_fail mount -t daxfs -o dax "$DEV" "$MNT"
dmesg_since 'dax_fs'
assert_eq "$(clean_flag)" 0 "clean flag after a mount that failed"
dd if=/tmp/itable of="$DEV" bs=$BS seek=276 conv=notrunc,fsync status=none
blockdev --flushbufs "$DEV"
mount_dax
assert_eq "$(cat "$MNT/f")" data "file after the failed mount"
umount "$MNT"
assert_eq "$(clean_flag)" 1 "clean flag after unmount"
fsck_clean
# Unmount then at once an exclusive opener (mkfs): nothing of the old mount
# may write to the device after umount returns.
for i in $(seq 10); do
  mount_dax
  echo "$i" >"$MNT/g"
  umount "$MNT"
  mkfs.daxfs -q -N 1024 "$DEV"
  fsck_clean
done

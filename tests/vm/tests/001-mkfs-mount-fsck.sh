# mkfs -> mount -o dax -> empty root -> umount -> fsck clean; the mount is
# shown as daxfs with dax=always.
mkfs_dev
fsck_clean
load_module
grep -qw daxfs /proc/filesystems || die "daxfs not in /proc/filesystems"
mount_dax
line=$(grep " $MNT " /proc/mounts)
note "$line"
[[ $line == "$DEV $MNT daxfs "* ]] || die "unexpected mount line: $line"
[[ $line == *dax=always* ]] || die "mount options lack dax=always: $line"
assert_eq "$(ls -A "$MNT" | wc -l)" 0 "entries in the root directory"
assert_eq "$(stat -c '%F %a %i' "$MNT")" "directory 755 1" "root inode"
df -h "$MNT"
umount "$MNT"
fsck_clean

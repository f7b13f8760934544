# Running out of blocks or inodes returns ENOSPC, leaves the filesystem
# consistent, and deleting everything gives back exactly what was free.
T=daxfs-testutil
load_module
# 16 MiB filesystem, more inodes than data blocks: blocks run out first.
mkfs.daxfs -q -N 8192 "$DEV" 4096
mount_dax
read -r bfree0 ffree0 < <(stat -f -c '%f %d' "$MNT")
target=$(printf 'x%.0s' $(seq 300))     # a long symlink takes one block
n=0
while out=$($T sys symlink "$target" "$MNT/s$n"); do n=$((n + 1)); done
assert_eq "$out" ENOSPC "error when blocks run out"
note "$n long symlinks before ENOSPC (bfree was $bfree0)"
[ "$(stat -f -c %f "$MNT")" -lt 2 ] || die "blocks left after ENOSPC: $(stat -f -c %f "$MNT")"
umount "$MNT"; fsck_clean; mount_dax
find "$MNT" -mindepth 1 -delete
read -r bfree1 ffree1 < <(stat -f -c '%f %d' "$MNT")
# The root directory keeps the blocks it grew to.
[ "$ffree1" = "$ffree0" ] || die "inodes not all returned: $ffree1 != $ffree0"
umount "$MNT"; fsck_clean

# Few inodes: inodes run out first.
mkfs.daxfs -q -N 64 "$DEV" 4096
mount_dax
ffree0=$(stat -f -c %d "$MNT")
n=0
while out=$($T sys create "$MNT/f$n"); do n=$((n + 1)); done
assert_eq "$out" ENOSPC "error when inodes run out"
assert_eq "$n" "$ffree0" "files created = free inodes"
assert_eq "$($T sys mkdir "$MNT/d" || true)" ENOSPC "mkdir without inodes"
rm -f "$MNT"/f*
assert_eq "$(stat -f -c %d "$MNT")" "$ffree0" "free inodes after deleting"
umount "$MNT"; fsck_clean

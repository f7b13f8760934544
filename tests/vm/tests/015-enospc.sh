# Running out of blocks or inodes returns ENOSPC, leaves the filesystem
# consistent, and deleting everything gives back exactly what was free.
# (Bulk work runs in one process each: a fork costs ~0.3 s under TCG.)
T=daxfs-testutil
load_module
# 16 MiB filesystem, more inodes than data blocks: blocks run out first.
mkfs.daxfs -q -N 8192 "$DEV" 4096
mount_dax
mkdir "$MNT/s"
read -r bfree0 ffree0 < <(stat -f -c '%f %d' "$MNT")
# Long symlinks (one block each) named n<i>, targets of ~300 bytes.
prefix=/$(printf 'p%.0s' $(seq 290))
seq 4000 | sed "s|^|$prefix/n|" | xargs ln -s -t "$MNT/s" 2>/tmp/ln.err || true
grep -q 'No space left on device' /tmp/ln.err || die "ln did not hit ENOSPC: $(tail -1 /tmp/ln.err)"
assert_eq "$($T sys symlink "$prefix/extra" "$MNT/s/extra" || true)" ENOSPC "errno when blocks run out"
n=$(ls "$MNT/s" | wc -l)
note "$n long symlinks before ENOSPC (bfree was $bfree0)"
[ "$(stat -f -c %f "$MNT")" -lt 2 ] || die "blocks left after ENOSPC: $(stat -f -c %f "$MNT")"
[ "$(readlink "$MNT/s/n1")" = "$prefix/n1" ] || die "symlink content"
umount "$MNT"; fsck_clean; mount_dax
rm -rf "$MNT/s"
read -r bfree1 ffree1 < <(stat -f -c '%f %d' "$MNT")
assert_eq "$ffree1" "$((ffree0 + 1))" "free inodes after deleting everything (s included)"
assert_eq "$bfree1" "$bfree0" "free blocks after deleting everything"
umount "$MNT"; fsck_clean

# Few inodes: inodes run out first.
mkfs.daxfs -q -N 64 "$DEV" 4096
mount_dax
ffree0=$(stat -f -c %d "$MNT")
out=$($T many "$MNT" 100) && die "created 100 files with $ffree0 free inodes" || true
assert_eq "$out" "f$ffree0 ENOSPC" "create when inodes run out"
assert_eq "$($T sys mkdir "$MNT/d" || true)" ENOSPC "mkdir without inodes"
$T many-unlink "$MNT" "$ffree0" >/dev/null
assert_eq "$(stat -f -c %d "$MNT")" "$ffree0" "free inodes after deleting"
umount "$MNT"; fsck_clean

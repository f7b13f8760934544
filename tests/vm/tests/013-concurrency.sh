# Concurrent create/rename/unlink/link/mkdir/rmdir from several processes,
# each checking its own model; the result is fsck clean and survives remount.
# (files get up to 20000 bytes of data each)
fresh_fs
mkdir "$MNT/s"
out=$(daxfs-testutil stress "$MNT/s" --procs 4 --ops 1500 --seed 7 --max-size 20000)
note "$out"
[[ $out == ok* ]] || die "stress: $out"
n=$(find "$MNT/s" | wc -l)
umount "$MNT"
fsck_clean
mount_dax
assert_eq "$(find "$MNT/s" | wc -l)" "$n" "entries after remount"
rm -rf "$MNT/s"
umount "$MNT"
fsck_clean

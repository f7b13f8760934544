# readdir positions stay valid across concurrent changes (telldir/seekdir),
# and a 100,000-entry directory is created, listed, looked up and removed.
T=daxfs-testutil
fresh_fs
mkdir "$MNT/rs"
(cd "$MNT/rs" && for i in $(seq 0 999); do echo "keep-$i"; done | xargs touch)
assert_eq "$($T readdir-stable "$MNT/rs")" "ok 1000" "readdir-stable"
mkdir "$MNT/big"
note "create 100000: $($T many "$MNT/big" 100000)s"
start=$(date +%s%N); n=$(ls -f "$MNT/big" | wc -l); ms=$(( ($(date +%s%N) - start) / 1000000 ))
assert_eq "$n" 100002 "entries listed (with . and ..)"
note "list 100000: ${ms}ms"
note "lookup 100000 (warm index): $($T many-check "$MNT/big" 100000)s"
umount "$MNT"; mount_dax
note "lookup 100000 (after remount, index rebuilt): $($T many-check "$MNT/big" 100000)s"
assert_eq "$($T sys create "$MNT/big/f5" || true)" EEXIST "duplicate in a big directory"
note "unlink 100000: $($T many-unlink "$MNT/big" 100000)s"
assert_eq "$(ls -A "$MNT/big" | wc -l)" 0 "empty after unlinking"
rmdir "$MNT/big"
umount "$MNT"
fsck_clean

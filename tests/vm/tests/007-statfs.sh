# statfs: type, block size, size and free counts match what mkfs made, and
# free counts return exactly after files are created and removed.
load_module
free=$(mkfs.daxfs "$DEV" | awk '/^free:/ {print $2}')
mount_dax
read -r type bsize blocks bfree files ffree namelen < <(stat -f -c '%t %S %b %f %c %d %l' "$MNT")
note "type=$type bsize=$bsize blocks=$blocks bfree=$bfree files=$files ffree=$ffree namelen=$namelen"
assert_eq "$type" "da8f5001" "f_type"
assert_eq "$bsize" 4096 "f_bsize"
devblocks=$(( $(blockdev --getsize64 "$DEV") / 4096 ))
assert_eq "$blocks" "$devblocks" "f_blocks"
assert_eq "$bfree" "$free" "f_bfree (as mkfs reported)"
assert_eq "$namelen" 255 "f_namelen"
assert_eq "$ffree" "$(( files - 1 ))" "f_ffree"
# Directories keep their blocks (as ext4's): give the root its first block
# before taking the baseline.
touch "$MNT/x"
read -r bfree ffree < <(stat -f -c '%f %d' "$MNT")
mkdir "$MNT/d"
for i in $(seq 300); do touch "$MNT/d/file-with-a-longish-name-$i"; done
read -r bfree2 ffree2 < <(stat -f -c '%f %d' "$MNT")
assert_eq "$ffree2" "$(( ffree - 301 ))" "f_ffree after 301 creates"
[ "$bfree2" -lt "$bfree" ] || die "directory blocks not accounted: $bfree2 >= $bfree"
rm -r "$MNT/d"
read -r bfree3 ffree3 < <(stat -f -c '%f %d' "$MNT")
assert_eq "$bfree3" "$bfree" "f_bfree after deleting everything"
assert_eq "$ffree3" "$ffree" "f_ffree after deleting everything"
umount "$MNT"
fsck_clean

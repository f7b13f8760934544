# statfs: type, block size, size and free counts match the superblock.
fresh_fs
read -r type bsize blocks bfree files ffree namelen < <(stat -f -c '%t %S %b %f %c %d %l' "$MNT")
note "type=$type bsize=$bsize blocks=$blocks bfree=$bfree files=$files ffree=$ffree namelen=$namelen"
assert_eq "$type" "da8f5001" "f_type"
assert_eq "$bsize" 4096 "f_bsize"
devblocks=$(( $(blockdev --getsize64 "$DEV") / 4096 ))
assert_eq "$blocks" "$devblocks" "f_blocks"
assert_eq "$bfree" "$(( devblocks - 16 ))" "f_bfree"
assert_eq "$namelen" 255 "f_namelen"
[ "$ffree" = "$(( files - 1 ))" ] || die "ffree $ffree != files-1"
umount "$MNT"

# A rename that grows its directory by a block shows the new size and
# block count at once, as after a remount (issue 11, finding 9: the
# directory's st_blocks was not updated).
fresh_fs
mkdir "$MNT/d"
long() { printf "%s%0238d" "$1" 0; }
# 16 records of 256 bytes (16-byte header + 240-byte name) fill one block
# (names: two digits and 238 zeroes).
for i in $(seq 10 25); do : >"$MNT/d/$(long "$i")"; done
assert_eq "$(stat -c '%s %b' "$MNT/d")" "4096 8" "directory of one full block"
mv "$MNT/d/$(long 10)" "$MNT/d/$(long 99)"
live=$(stat -c '%s %b' "$MNT/d")
assert_eq "$live" "8192 16" "directory after a rename that needs a new block"
umount "$MNT"; mount_dax
assert_eq "$(stat -c '%s %b' "$MNT/d")" "$live" "after remount"
[ -e "$MNT/d/$(long 99)" ] && [ ! -e "$MNT/d/$(long 10)" ] || die "rename result"
umount "$MNT"; fsck_clean

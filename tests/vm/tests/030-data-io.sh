# Regular-file I/O through DAX: read/write, O_APPEND, O_SYNC/O_DSYNC and
# RWF_* flags, sparse files, EOF handling, splice/sendfile, O_DIRECT,
# SEEK_HOLE/SEEK_DATA, FIEMAP, statx DAX, truncate zeroing, fallocate errors.
fresh_fs
f=$MNT/f
printf hello >"$f"
printf ' world' >>"$f"
assert_eq "$(cat "$f")" "hello world" "write + append"
# O_APPEND: a pwrite at 0 still lands at the end.
xfs_io -a -c "pwrite -q -S 0x41 0 3" "$f"
assert_eq "$(cat "$f")" "hello worldAAA" "O_APPEND"
# statx reports STATX_ATTR_DAX (0x200000).
attrs=$(xfs_io -c "statx -r" "$f" | awk '/stat.attributes =/ {print $3}')
(( attrs & 0x200000 )) || die "STATX_ATTR_DAX not set: $attrs"

# A sparse file: one block at 1 MiB; the hole reads as zeroes and takes no space.
s=$MNT/sparse
xfs_io -f -c "pwrite -q -S 0x62 1048576 4096" "$s"
assert_eq "$(stat -c %s "$s")" 1052672 "sparse size"
assert_eq "$(stat -c %b "$s")" 8 "sparse file allocates one block (8 sectors)"
cmp -n 1048576 "$s" /dev/zero || die "hole does not read as zeroes"
assert_eq "$(xfs_io -c 'seek -d 0' "$s" | awk '/^DATA/ {print $2}')" 1048576 "SEEK_DATA"
assert_eq "$(xfs_io -c 'seek -h 0' "$s" | awk '/^HOLE/ {print $2}')" 0 "SEEK_HOLE at 0"
assert_eq "$(xfs_io -c 'seek -h 1048576' "$s" | awk '/^HOLE/ {print $2}')" 1052672 "SEEK_HOLE at EOF"
fiemap=$(xfs_io -c "fiemap" "$s")
echo "$fiemap" | grep -q '\[2048\.\.2055\]' || die "fiemap: $fiemap"

# Bytes written through mmap past EOF in the last page must not show up
# when a later write extends the file.
e=$MNT/eof
xfs_io -f -c "pwrite -q -S 0x31 0 100" -c "mmap -w 0 4096" -c "mwrite -S 0x39 100 3000" -c "munmap" \
  -c "pwrite -q -S 0x32 8192 10" "$e"
assert_eq "$(od -v -An -tx1 -j100 -N3000 "$e" | tr -d ' \n' | tr -d 0)" "" "bytes past the old EOF are zeroes"
# Truncate down mid-block, then up: the cut tail reads as zeroes.
xfs_io -c "pwrite -q -S 0x63 0 8192" -c "truncate 5000" -c "truncate 8192" "$e"
assert_eq "$(od -v -An -tx1 -j5000 -N3192 "$e" | tr -d ' \n' | tr -d 0)" "" "truncate zeroes the partial block"
assert_eq "$(od -v -An -tx1 -j4999 -N1 "$e" | tr -d ' ')" 63 "data before the cut kept"

# O_SYNC, O_DSYNC, RWF_DSYNC/RWF_SYNC, O_DIRECT.
head -c 1048576 /dev/urandom >/tmp/r
dd if=/tmp/r of="$MNT/sync" bs=64k oflag=sync status=none
dd if=/tmp/r of="$MNT/dsync" bs=64k oflag=dsync status=none
dd if=/tmp/r of="$MNT/direct" bs=64k oflag=direct status=none
cmp /tmp/r "$MNT/sync" && cmp /tmp/r "$MNT/dsync" && cmp /tmp/r "$MNT/direct" || die "sync/direct writes"
cmp /tmp/r <(dd if="$MNT/direct" bs=64k iflag=direct status=none) || die "O_DIRECT read"
xfs_io -f -c "pwrite -q -V 1 -D 0 4096" -c "pwrite -q -V 1 -S 0x44 -N 0 4096" "$MNT/rwf" || die "RWF_DSYNC/RWF_NOWAIT"
assert_eq "$(stat -c %s "$MNT/rwf")" 4096 "pwritev2 size"
assert_eq "$(od -v -An -tx1 -N1 "$MNT/rwf" | tr -d ' ')" 44 "RWF_NOWAIT overwrite"
# RWF_NOWAIT never waits for allocation: EAGAIN for a hole.
expect_fail xfs_io -c "pwrite -q -V 1 -N 1m 4096" "$MNT/rwf"
[[ $FAIL_OUT == *"temporarily unavailable"* ]] || die "RWF_NOWAIT into a hole: $FAIL_OUT"

# splice and sendfile in and out of DAX files.
xfs_io -f -c "sendfile -i /tmp/r 0 1048576" "$MNT/sf" >/dev/null
cmp /tmp/r "$MNT/sf" || die "sendfile into daxfs"
xfs_io -f -c "sendfile -i $MNT/sf 0 1048576" /tmp/sf2 >/dev/null
cmp /tmp/r /tmp/sf2 || die "sendfile out of daxfs"
cat "$MNT/sf" | cat >/tmp/pipe.out; cmp /tmp/r /tmp/pipe.out || die "pipe read"
xfs_io -f -c "copy_range -s 0 -d 0 -l 1048576 $MNT/sf" "$MNT/cr" && cmp /tmp/r "$MNT/cr" || die "copy_file_range"

# fallocate errors as ext4/XFS return them.
xfs_io -f -c "pwrite -q 0 64k" "$MNT/fa"
expect_fail xfs_io -c "fcollapse 100 4096" "$MNT/fa"; [[ $FAIL_OUT == *"Invalid argument"* ]] || die "collapse unaligned: $FAIL_OUT"
expect_fail xfs_io -c "fcollapse 32k 32k" "$MNT/fa"; [[ $FAIL_OUT == *"Invalid argument"* ]] || die "collapse to EOF: $FAIL_OUT"
expect_fail xfs_io -c "finsert 64k 4k" "$MNT/fa"; [[ $FAIL_OUT == *"Invalid argument"* ]] || die "insert at EOF: $FAIL_OUT"
expect_fail xfs_io -c "funshare 0 4k" "$MNT/fa"; [[ $FAIL_OUT == *"not supported"* ]] || die "unshare: $FAIL_OUT"
expect_fail xfs_io -c "pwrite -q 16t 4096" "$MNT/fa"; [[ $FAIL_OUT == *"too large"* ]] || die "write past s_maxbytes: $FAIL_OUT"
xfs_io -c "flags" "$MNT/fa" >/dev/null || die "FS_IOC_GETFLAGS"
lsattr -d "$MNT" >/dev/null || die "FS_IOC_GETFLAGS on a directory (lsattr -d)"
xfs_io -c "stat" "$MNT/fa" | grep -q 'fsxattr.xflags' || die "FS_IOC_FSGETXATTR"

# MAP_SYNC is accepted (synchronous pmem) and works.
xfs_io -c "mmap -S -w 0 4096" -c "mwrite -S 0x55 0 4096" "$MNT/fa" || die "MAP_SYNC mmap"
assert_eq "$(od -v -An -tx1 -N1 "$MNT/fa" | tr -d ' ')" 55 "MAP_SYNC write"

# Everything survives a remount and checks clean.
sum=$(md5sum "$MNT/sync" "$MNT/sparse" "$e" | awk '{print $1}')
umount "$MNT"; fsck_clean; mount_dax
assert_eq "$(md5sum "$MNT/sync" "$MNT/sparse" "$e" | awk '{print $1}')" "$sum" "data after remount"
umount "$MNT"; fsck_clean

# Namespace semantics: renameat2 flavours, O_TMPFILE, orphans, link counts,
# devices, symlinks, timestamps, attributes; all persist across remount.
T=daxfs-testutil
fresh_fs
cd "$MNT"
# RENAME_NOREPLACE
touch a b
assert_eq "$($T sys rename2 noreplace a b || true)" EEXIST "noreplace onto an existing name"
$T sys rename2 noreplace a c; [ -e c ] && [ ! -e a ] || die "noreplace rename"
# RENAME_EXCHANGE: files, then a file and a directory across directories.
ib=$(stat -c %i b); ic=$(stat -c %i c)
$T sys rename2 exchange b c
assert_eq "$(stat -c %i b) $(stat -c %i c)" "$ic $ib" "exchange swapped inodes"
mkdir -p p1/dir p2; touch p2/file
assert_eq "$(stat -c %h p1) $(stat -c %h p2)" "3 2" "parent link counts before exchange"
$T sys rename2 exchange p1/dir p2/file
[ -f p1/dir ] && [ -d p2/file ] || die "exchange file<->dir"
assert_eq "$(stat -c %h p1) $(stat -c %h p2)" "2 3" "parent link counts after exchange"
assert_eq "$(stat -c %i p2/file/..)" "$(stat -c %i p2)" "'..' of the moved directory"
# RENAME_WHITEOUT
touch w
$T sys rename2 whiteout w w2
assert_eq "$(stat -c '%F %t %T' w)" "character special file 0 0" "whiteout"
[ -f w2 ] || die "whiteout target"
# Directory link counts: 2 + subdirectories.
mkdir -p n/s1 n/s2 n/s3
assert_eq "$(stat -c %h n)" 5 "nlink with 3 subdirs"
rmdir n/s2; mv n/s3 .; assert_eq "$(stat -c %h n)" 3 "nlink after rmdir+move"
# Hard links
touch h; ln h h2; ln h n/h3; assert_eq "$(stat -c %h h)" 3 "hard links"
rm h2; assert_eq "$(stat -c %h h)" 2 "after unlink"
# Devices, fifo, socket
mknod cdev c 10 200; mknod bdev b 8 3; mknod fifo p; $T sys mknod sock s
assert_eq "$(stat -c '%F %t %T' cdev)" "character special file a c8" "char device"
assert_eq "$(stat -c '%F %t %T' bdev)" "block special file 8 3" "block device"
assert_eq "$(stat -c %F fifo) / $(stat -c %F sock)" "fifo / socket" "fifo and socket"
# Symlinks: fast (< 128 bytes), long, the longest (4095).
ln -s short fast; t200=$(printf 'l%.0s' $(seq 200)); ln -s "$t200" long
t4095=$(printf 'm%.0s' $(seq 4095)); ln -s "$t4095" longest
# Times with nanoseconds, owner, mode
touch stamp; $T sys utimens stamp 1700000000 123456789
chown 1234:5678 stamp; chmod 2751 stamp
birth=$(stat -c %W stamp); [ "$birth" -gt 0 ] || die "no birth time"
# O_TMPFILE, linked and not
free0=$(stat -f -c %d .)
$T tmpfile . --link fromtmp; assert_eq "$(stat -c %h fromtmp)" 1 "linked tmpfile"
$T tmpfile .
assert_eq "$(stat -f -c %d .)" "$((free0 - 1))" "an unlinked tmpfile is freed on close"
# An open, unlinked file keeps its inode until closed.
exec 3>held; rm held
assert_eq "$(stat -f -c %d .)" "$((free0 - 2))" "held orphan counted"
exec 3>&-; assert_eq "$(stat -f -c %d .)" "$((free0 - 1))" "orphan freed after close"
# Unicode and odd names
touch 'sp ace' 'ünïcødé' "$(printf 'tab\tname')"
snapshot() { (cd "$MNT" && find . -printf '%p|%y|%m|%U|%G|%n|%s|%l|%i|%T@\n' | sort); }
before=$(snapshot)
bt=$(stat -c %W stamp)
cd /; umount "$MNT"; fsck_clean; mount_dax; cd "$MNT"
after=$(snapshot)
[ "$before" = "$after" ] || die "namespace changed across remount: $(diff <(echo "$before") <(echo "$after") | head -5)"
assert_eq "$(readlink fast) $(readlink long | wc -c) $(readlink longest | wc -c)" "short 201 4096" "symlink targets"
assert_eq "$(stat -c '%y' stamp)" "2023-11-14 22:13:20.123456789 +0000" "mtime with nanoseconds"
assert_eq "$(stat -c '%a %u %g' stamp)" "2751 1234 5678" "mode and owner"
assert_eq "$(stat -c %W stamp)" "$bt" "birth time"
cd /; umount "$MNT"; fsck_clean

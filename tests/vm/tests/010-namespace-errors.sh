# Every namespace operation's error cases return the errno ext4/XFS return.
T=daxfs-testutil
expect_errno() { local want=$1; shift; local out rc=0; out=$($T sys "$@") || rc=$?; [ $rc = 1 ] && [ "$out" = "$want" ] || die "sys $*: got '$out' (exit $rc), expected $want"; }
fresh_fs
cd "$MNT"
mkdir d; touch f; mkdir -p full/sub; ln -s f sl
expect_errno EEXIST mkdir d
expect_errno EEXIST mkdir f
expect_errno EEXIST create f
expect_errno EEXIST link f d
expect_errno EEXIST symlink x f
expect_errno EEXIST mknod f p
expect_errno ENOENT unlink nope
expect_errno ENOENT rmdir nope
expect_errno ENOENT rename nope x
expect_errno ENOENT link nope x
expect_errno ENOENT open nope
expect_errno ENOTEMPTY rmdir full
expect_errno ENOTEMPTY rename d full
expect_errno EISDIR unlink d
expect_errno EISDIR rename f d
expect_errno ENOTDIR rmdir f
expect_errno ENOTDIR rename d f
expect_errno ENOTDIR create f/x
expect_errno EINVAL rename full full/sub/inside
expect_errno EPERM link d dlink
long=$(printf 'n%.0s' $(seq 256))
expect_errno ENAMETOOLONG create "$long"
expect_errno ENAMETOOLONG mkdir "$long"
expect_errno ENAMETOOLONG rename f "$long"
$T sys create "${long:1}"            # 255 is fine
$T sys rename "${long:1}" "x${long:2}"
expect_errno ENAMETOOLONG symlink "$(printf 't%.0s' $(seq 4096))" toolong
# A second daxfs on pmem1: cross-filesystem link/rename.
mkfs.daxfs -q "$DEV2"; mkdir -p /mnt2; mount -t daxfs -o dax "$DEV2" /mnt2
expect_errno EXDEV link f /mnt2/f
expect_errno EXDEV rename f /mnt2/f
umount /mnt2
# Permissions, the VFS way, as an unprivileged user.
chmod 755 d; touch d/rootfile; mkdir -m 1777 sticky; touch sticky/rootfile
as_user() { setpriv --reuid=1000 --regid=1000 --clear-groups "$@"; }
out=$(as_user $T sys create d/userfile) && die "create in a 755 root dir succeeded" || assert_eq "$out" EACCES "create as user"
out=$(as_user $T sys unlink d/rootfile) && die "unlink in a 755 root dir succeeded" || assert_eq "$out" EACCES "unlink as user"
out=$(as_user $T sys chown f 1000 1000) && die "chown as user succeeded" || assert_eq "$out" EPERM "chown as user"
out=$(as_user $T sys unlink sticky/rootfile) && die "sticky unlink succeeded" || assert_eq "$out" EPERM "sticky unlink"
as_user $T sys create sticky/mine
as_user $T sys unlink sticky/mine
# EMLINK at 65000 links, as ext4.
mkdir links; touch links/f
assert_eq "$($T link-many links/f 70000)" "64999 EMLINK" "link-many"
cd /
umount "$MNT"
fsck_clean

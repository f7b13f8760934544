# 20 mount/umount cycles of the same filesystem, fsck clean at the end.
fresh_fs; umount "$MNT"
for i in $(seq 20); do
  mount_dax
  is_mounted || die "cycle $i: not mounted"
  umount "$MNT"
done
fsck_clean

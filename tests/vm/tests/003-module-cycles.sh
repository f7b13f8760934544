# insmod/rmmod cycles, with a mount in between; rmmod of a mounted fs fails.
mkfs_dev
unload_module
for i in $(seq 5); do
  insmod "$KO"
  module_loaded || die "cycle $i: module not loaded"
  mount_dax
  expect_fail rmmod dax_fs
  umount "$MNT"
  rmmod dax_fs
  module_loaded && die "cycle $i: module still loaded"
  grep -qw daxfs /proc/filesystems && die "cycle $i: daxfs still registered"
done
load_module
fsck_clean

# Journal replay, deterministically: the crash_after_commit module parameter
# stops after a commit as if power failed between the commit point and the
# in-place writes; the next mount must replay it (and find everything that
# was acknowledged), fsck must be clean.
T=daxfs-testutil
for n in 1 2 3 5; do
  mkfs_dev; unload_module; load_module
  mount_dax; mkdir "$MNT/before"; umount "$MNT"
  rmmod dax_fs; insmod "$KO" crash_after_commit=$n
  dmesg_mark
  mount_dax
  # Commit 1 is the mount's "not clean" mark; the next ones are operations.
  ok=0
  for i in 1 2 3 4 5 6; do
    $T sys mkdir "$MNT/d$i" >/dev/null && ok=$i || break
  done
  dmesg_since 'simulated power failure'
  umount "$MNT" || true
  rmmod dax_fs; insmod "$KO"
  dmesg_mark
  mount_dax
  [ $n -gt 1 ] && dmesg_since 'journal: replayed'
  [ -d "$MNT/before" ] || die "n=$n: earlier directory lost"
  for i in $(seq "$ok"); do [ -d "$MNT/d$i" ] || die "n=$n: acknowledged mkdir d$i lost after replay"; done
  note "crash_after_commit=$n: $ok acknowledged operations, all present after replay"
  umount "$MNT"
  fsck_clean
done

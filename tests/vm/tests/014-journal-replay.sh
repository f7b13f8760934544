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

# A torn state block (issue 12): the journaled part of the state block
# (bytes 32..68, two cache lines) is rewritten in place after the commit of
# a transaction that changes it; a power cut can persist one line and not
# the other.  Commit 1 (the mount's "not clean" mark) changes it; stop
# there, tear each line in turn (a byte of the orphan head, a byte of the
# CRC), and the next mount must replay the transaction, which rewrites the
# whole part, instead of refusing the CRC it would have fixed.
for torn in 32 64; do
  mkfs_dev; unload_module; insmod "$KO" crash_after_commit=1
  mount_dax
  umount "$MNT" || true
  rmmod dax_fs; insmod "$KO"
  write_bytes "$DEV" $((2 * 4096 + torn)) Z
  dmesg_mark
  mount_dax || die "torn state block (byte $torn) under a committed transaction: mount refused: $(dmesg | tail -3)"
  dmesg_since 'journal: replayed'
  umount "$MNT"
  fsck_clean
  note "state block torn at byte $torn under a committed transaction: replayed, fsck clean"
done

# On a read-only device (blockdev --setro): a clean filesystem mounts
# read-only and nothing is written; one whose journal needs replaying is
# refused with a message (the replay would write through DAX behind the
# read-only flag), and replayed once the device is writable again.
mkfs_dev; unload_module; insmod "$KO"
trap 'blockdev --setrw "$DEV"' EXIT
before=$(meta_sum)
blockdev --setro "$DEV"
mount_dax || die "clean fs on a read-only device did not mount"
grep " $MNT " /proc/mounts | grep -q ' ro,' || die "mount on a read-only device is not read-only"
ls -R "$MNT" >/dev/null
umount "$MNT"
blockdev --setrw "$DEV"
assert_eq "$(meta_sum)" "$before" "metadata after a mount on a read-only device"
rmmod dax_fs; insmod "$KO" crash_after_commit=2
mount_dax
$T sys mkdir "$MNT/acked" || die "mkdir before the simulated power failure"
umount "$MNT" || true
rmmod dax_fs; insmod "$KO"
before=$(meta_sum)
blockdev --setro "$DEV"
dmesg_mark
rc=0; mount_dax 2>/dev/null || rc=$?
blockdev --setrw "$DEV"
[ $rc != 0 ] || die "a journal needing replay was mounted on a read-only device"
dmesg_since 'needs replaying but the device is read-only'
assert_eq "$(meta_sum)" "$before" "metadata after the refused mount (nothing replayed)"
dmesg_mark
mount_dax
dmesg_since 'journal: replayed'
[ -d "$MNT/acked" ] || die "acknowledged mkdir lost after the refused read-only mount"
umount "$MNT"
fsck_clean
note "read-only device: clean fs mounts ro, pending journal refused, replayed when writable"

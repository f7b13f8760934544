# FS_IOC_SHUTDOWN (xfs_io's "shutdown", xfstests' _scratch_shutdown), each
# flag: afterwards changes, reads, writes, new mmap faults and fsync fail
# with EIO and unmounting works; mounting again finds everything that was
# acknowledged before it (and frees the file that was open and unlinked);
# fsck is clean before and after that mount.  Root only; unknown flags are EINVAL and change nothing.
T=daxfs-testutil
expect_errno() { # ERRNO CMD...: CMD (a daxfs-testutil call) must fail with ERRNO
  local want=$1 got; shift
  got=$("$@") && die "$* succeeded after the shutdown"
  assert_eq "$got" "$want" "$*"
}
for flags in 0 1 2; do
  fresh_fs
  printf 'keep-%s' "$flags" >"$MNT/a"
  mkdir "$MNT/d"; echo x >"$MNT/d/b"; mv "$MNT/d/b" "$MNT/d/c"
  dd if=/dev/urandom of="$MNT/big" bs=1M count=3 status=none
  tailsum=$(tail -c +4097 "$MNT/big" | md5sum)
  echo gone >"$MNT/orphan"
  exec 7<"$MNT/orphan"
  rm "$MNT/orphan"
  # Mapped for writing and written while the shutdown comes (the default
  # flag freezes, i.e. writes such pages back, first).
  xfs_io -c "mmap -w 0 4k" -c "mwrite -S 0x5a 0 4k" "$MNT/big" >/dev/null
  dmesg_mark
  $T sys shutdown "$MNT" "$flags" || die "shutdown (flags $flags) failed"
  dmesg_since "shut down by FS_IOC_SHUTDOWN \(flags $flags\)"
  expect_errno EIO $T sys mkdir "$MNT/e"
  expect_errno EIO $T sys create "$MNT/new"
  expect_errno EIO $T sys unlink "$MNT/a"
  expect_errno EIO $T sys rename "$MNT/a" "$MNT/a2"
  expect_errno EIO $T sys chmod "$MNT/a" 600
  expect_errno EIO $T sys truncate "$MNT/a" 0
  expect_errno EIO $T sys fsync "$MNT/a"
  expect_errno EIO $T sys fsync "$MNT/d"
  expect_errno EIO $T sys syncfs "$MNT/d"
  expect_fail ls "$MNT/d"
  expect_fail stat "$MNT/never-looked-up"
  echo "$FAIL_OUT" | grep -q 'Input/output error' || die "lookup after shutdown: $FAIL_OUT"
  expect_fail cat "$MNT/a"
  echo "$FAIL_OUT" | grep -q 'Input/output error' || die "read after shutdown: $FAIL_OUT"
  expect_fail sh -c "printf more >>'$MNT/a'"
  rc=$( (rc=0; daxfs-datatest touch "$MNT/big" >/dev/null 2>&1 || rc=$?; echo $rc) 2>/dev/null)
  assert_eq "$rc" 135 "a new mmap read fault after the shutdown ends with SIGBUS (128+7)"
  # A second shutdown succeeds and changes nothing; remounting read-only
  # is refused (EROFS, as ext4), other remounts work.
  $T sys shutdown "$MNT" 0 || die "second shutdown failed"
  expect_fail mount -o remount,ro "$MNT"
  mount -o remount,dax "$MNT" || die "remount without ro/rw change after shutdown"
  exec 7<&-
  umount "$MNT" || die "umount after shutdown failed"
  # Consistent as it is (not marked clean; the open file on the orphan list).
  fsck_clean
  dmesg_mark
  mount_dax
  dmesg_since 'freed 1 orphan'
  assert_eq "$(cat "$MNT/a")" "keep-$flags" "file written before the shutdown"
  [ -e "$MNT/d/c" ] && [ ! -e "$MNT/d/b" ] || die "rename before the shutdown lost"
  assert_eq "$(tail -c +4097 "$MNT/big" | md5sum)" "$tailsum" "data written before the shutdown"
  assert_eq "$(stat -c %s "$MNT/big")" 3145728 "size of the big file"
  echo more >>"$MNT/a"; mkdir "$MNT/after"
  umount "$MNT"
  fsck_clean
  note "flags $flags: EIO after shutdown, acknowledged changes kept, fsck clean"
done
# Unprivileged: EPERM.  Unknown flags: EINVAL.  Neither shuts anything down.
fresh_fs
chmod 777 "$MNT"
assert_eq "$(setpriv --reuid=65534 --regid=65534 --clear-groups $T sys shutdown "$MNT" 2)" EPERM "unprivileged shutdown"
assert_eq "$($T sys shutdown "$MNT" 3)" EINVAL "unknown shutdown flags"
mkdir "$MNT/still-writable" || die "filesystem unusable after a refused shutdown"
umount "$MNT"
fsck_clean

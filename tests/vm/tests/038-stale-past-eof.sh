# A crash between a write's block allocation and its size update leaves
# written blocks past EOF (simulated with crash_after_commit: the
# allocation is commit 2, the size update never happens).  fsck accepts
# that state; the data never shows through: truncate up and a write past
# EOF both see zeroes where the lost write's bytes are.
for how in truncate write falloc; do
  mkfs_dev; unload_module; load_module
  mount_dax
  xfs_io -f -c "pwrite -q -S 0x61 0 100" "$MNT/f"
  umount "$MNT"
  rmmod dax_fs; insmod "$KO" crash_after_commit=2
  mount_dax
  # Commit 1 marks the fs in use; commit 2 maps the blocks, then "power fails".
  xfs_io -c "pwrite -q -S 0x62 4096 8192" "$MNT/f" 2>/dev/null || true
  umount "$MNT" || true
  rmmod dax_fs; insmod "$KO"
  mount_dax
  assert_eq "$(stat -c %s "$MNT/f")" 100 "$how: size after the lost write"
  umount "$MNT"; fsck_clean; mount_dax
  case $how in
  truncate) truncate -s 16384 "$MNT/f" ;;
  write) xfs_io -c "pwrite -q -S 0x63 20000 10" "$MNT/f" ;;
  falloc) xfs_io -c "falloc 0 16384" "$MNT/f" ;;
  esac
  n=$(od -v -An -tx1 -j100 -N16284 "$MNT/f" | tr -s ' \n' '\n' | grep -vc '^00$\|^$' || true)
  assert_eq "$n" 0 "$how: non-zero bytes past the old EOF"
  note "$how: the lost write's blocks never showed through"
  umount "$MNT"; fsck_clean
done

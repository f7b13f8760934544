# Filling the filesystem with concurrent writers and mmap writers ends in
# ENOSPC (write) and SIGBUS (mmap) as Linux semantics say; a single large
# write is short and reports the bytes written; fsck is clean; deleting
# everything gives back exactly the free space there was.
load_module
mkfs.daxfs -q "$DEV" 8192
mount_dax
read -r bfree0 ffree0 < <(stat -f -c '%f %d' "$MNT")
pids=()
for i in 1 2 3; do dd if=/dev/zero of="$MNT/w$i" bs=64k 2>"/tmp/dd$i.err" & pids+=($!); done
for i in 1 2; do
  ( truncate -s 64M "$MNT/m$i"; daxfs-datatest touch "$MNT/m$i" --write >/dev/null 2>&1; echo $? >"/tmp/m$i.rc" ) &
  pids+=($!)
done
wait "${pids[@]}" || true
grep -q 'No space left on device' /tmp/dd*.err || die "no writer saw ENOSPC: $(cat /tmp/dd*.err)"
for i in 1 2; do assert_eq "$(cat /tmp/m$i.rc)" 135 "mmap writer $i ends with SIGBUS (128+7)"; done
[ "$(stat -f -c %f "$MNT")" -lt 8 ] || die "free blocks left: $(stat -f -c %f "$MNT")"
umount "$MNT"; fsck_clean; mount_dax
rm -f "$MNT"/*
assert_eq "$(stat -f -c '%f %d' "$MNT")" "$bfree0 $ffree0" "free blocks/inodes after deleting everything"
# One write larger than the free space: short, and the file holds exactly it.
out=$(xfs_io -f -c "pwrite -S 0x5a -b 64m 0 64m" "$MNT/big" 2>&1)
written=$(sed -n 's|^wrote \([0-9]*\)/.*|\1|p' <<<"$out")
[ -n "$written" ] && [ "$written" -gt 0 ] && [ "$written" -lt $((64 << 20)) ] || die "short write: $out"
assert_eq "$(stat -c %s "$MNT/big")" "$written" "size after a short write"
cmp -n "$written" "$MNT/big" <(head -c "$written" /dev/zero | tr '\0' 'Z') || die "short write data"
umount "$MNT"; fsck_clean; mount_dax
rm -f "$MNT/big"
assert_eq "$(stat -f -c '%f %d' "$MNT")" "$bfree0 $ffree0" "free counts after the short write"
umount "$MNT"; fsck_clean

# Filling the filesystem with concurrent writers and mmap writers ends in
# ENOSPC (write) and SIGBUS (mmap) as Linux semantics say; a single large
# write is short and reports the bytes written; fsck is clean; deleting
# everything gives back exactly the free space there was.
load_module
mkfs.daxfs -q "$DEV" 8192
mount_dax
# Everything lives in one directory that is removed at the end, so the
# free counts compare exactly (the root keeps the block its first entry
# needed, so that entry exists before counting).
D=$MNT/d
touch "$MNT/anchor"
read -r bfree0 ffree0 < <(stat -f -c '%f %d' "$MNT")
mkdir "$D"
pids=()
for i in 1 2 3; do dd if=/dev/zero of="$D/w$i" bs=64k 2>"/tmp/dd$i.err" & pids+=($!); done
for i in 1 2; do
  ( truncate -s 64M "$D/m$i"; rc=0; daxfs-datatest touch "$D/m$i" --write >/dev/null 2>&1 || rc=$?; echo $rc >"/tmp/m$i.rc" ) 2>/dev/null &
  pids+=($!)
done
wait "${pids[@]}" || true
grep -q 'No space left on device' /tmp/dd*.err || die "no writer saw ENOSPC: $(cat /tmp/dd*.err)"
for i in 1 2; do assert_eq "$(cat /tmp/m$i.rc)" 135 "mmap writer $i ends with SIGBUS (128+7)"; done
[ "$(stat -f -c %f "$MNT")" -lt 8 ] || die "free blocks left: $(stat -f -c %f "$MNT")"
umount "$MNT"; fsck_clean; mount_dax
rm -rf "$D"
assert_eq "$(stat -f -c '%f %d' "$MNT")" "$bfree0 $ffree0" "free blocks/inodes after deleting everything"
# One write larger than the free space: short, and the file holds exactly it.
mkdir "$D"
out=$(xfs_io -f -c "pwrite -S 0x5a -b 64m 0 64m" "$D/big" 2>&1)
written=$(sed -n 's|^wrote \([0-9]*\)/.*|\1|p' <<<"$out")
[ -n "$written" ] && [ "$written" -gt 0 ] && [ "$written" -lt $((64 << 20)) ] || die "short write: $out"
assert_eq "$(stat -c %s "$D/big")" "$written" "size after a short write"
cmp -n "$written" "$D/big" <(head -c "$written" /dev/zero | tr '\0' 'Z') || die "short write data"
umount "$MNT"; fsck_clean; mount_dax
rm -rf "$D"
assert_eq "$(stat -f -c '%f %d' "$MNT")" "$bfree0 $ffree0" "free counts after the short write"
umount "$MNT"; fsck_clean

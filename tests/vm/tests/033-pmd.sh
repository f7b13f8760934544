# PMD (2 MiB) faults: 1 GiB files created by write(2), by fallocate and by
# extending with ftruncate and writing through mmap are mapped with PMDs:
# at least 99% of their 2 MiB ranges fault as PMD (fs_dax:dax_pmd_fault_done
# NOPAGE, not FALLBACK), also after many small files.  Counts are printed.
fresh_fs
TR=/sys/kernel/tracing
mountpoint -q $TR || mount -t tracefs nodev $TR
echo 8192 >$TR/buffer_size_kb
echo 1 >$TR/events/fs_dax/dax_pmd_fault_done/enable
echo 1 >$TR/events/fs_dax/dax_pte_fault_done/enable
GIB=$((1 << 30))
pmd_check() { # pmd_check HOW FILE: touch every page through a shared mapping
  echo 0 >$TR/tracing_on; echo >$TR/trace; echo 1 >$TR/tracing_on
  daxfs-datatest touch "$2" --write >/dev/null || die "touch $2"
  echo 0 >$TR/tracing_on
  local pmd fallback pte ranges=$((GIB >> 21))
  # Distinct 2 MiB ranges mapped by a PMD (a read then a write fault on the
  # same range both report NOPAGE).
  pmd=$(grep 'dax_pmd_fault_done:.*NOPAGE' $TR/trace | grep -o 'address 0x[0-9a-f]*' | sort -u | wc -l)
  fallback=$(grep -c 'dax_pmd_fault_done:.*FALLBACK' $TR/trace || true)
  pte=$(grep -c 'dax_pte_fault_done:' $TR/trace || true)
  note "PMD $1: $pmd of $ranges 2 MiB ranges mapped by PMD faults, $fallback PMD fallbacks, $pte PTE faults"
  echo "pmd-share $1 $pmd $ranges" >>/tmp/pmd-share
  [ $((pmd * 100)) -ge $((ranges * 99)) ] || die "$1: only $pmd of $ranges ranges mapped by PMD"
  rm -f "$2"
}
dd if=/dev/zero of="$MNT/w" bs=2M count=512 status=none
pmd_check write "$MNT/w"
xfs_io -f -c "falloc 0 1g" "$MNT/f"
pmd_check fallocate "$MNT/f"
truncate -s 1G "$MNT/m"
pmd_check mmap-extension "$MNT/m"
# Small files (here 1500 of 4-60 KiB, a third deleted) share regions
# opened for them, so a 1 GiB file made after them still gets whole
# 2 MiB regions (fs/alloc.rs).
mkdir "$MNT/small"
for i in $(seq 1500); do head -c $(( (i % 15 + 1) * 4096 )) /dev/zero >"$MNT/small/$i"; done
rm -f "$MNT"/small/*[147]
xfs_io -f -c "falloc 0 1g" "$MNT/f"
pmd_check after-small-files "$MNT/f"
rm -rf "$MNT/small"
echo 0 >$TR/events/fs_dax/enable
umount "$MNT"; fsck_clean

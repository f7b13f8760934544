# generic/074-like data-integrity stress: processes doing read/write/
# mmap-write/truncate/punch on their own files and on disjoint regions of a
# shared file, each verifying contents; then namespace stress with data.
fresh_fs
mkdir "$MNT/d"
out=$(daxfs-datatest stress "$MNT/d" --procs 4 --ops 1500 --seed 7 --max-size 4194304) || die "$out"
note "$out"
mkdir "$MNT/s"
out=$(daxfs-testutil stress "$MNT/s" --procs 4 --ops 1000 --seed 9 --max-size 20000)
[[ $out == ok* ]] || die "namespace stress with data: $out"
note "$out"
umount "$MNT"; fsck_clean; mount_dax
rm -rf "$MNT/d" "$MNT/s"
umount "$MNT"; fsck_clean

# No stale data: fill the filesystem with a pattern, delete it, then
# allocate through write, fallocate, mmap write faults, truncate up, insert
# range and zero range: only zeroes or the new data are ever read or mapped.
# Appends (whole blocks past EOF are not zeroed: the copy overwrites them)
# read back exactly, and a short write (source buffer faults midway) leaves
# the rest of its last block zeroed, through mmap and after extending.
load_module
mkfs.daxfs -q "$DEV2" 65536
mount_dax "$DEV2"
out=$(daxfs-datatest stale "$MNT") || die "$out"
note "$out"
umount "$MNT"; fsck_clean "$DEV2"

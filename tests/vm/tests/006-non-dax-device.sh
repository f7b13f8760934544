# A block device without DAX support is refused with a clear message.
load_module
truncate -s 64M /tmp/loop.img
mkfs.daxfs -q /tmp/loop.img
loopdev=$(losetup -f --show /tmp/loop.img)
dmesg_mark
expect_fail mount -t daxfs -o dax "$loopdev" "$MNT"
dmesg_since 'needs a pmem/fsdax device'
losetup -d "$loopdev"
rm -f /tmp/loop.img

# Mounting and using a corrupted image never oopses or hangs: each attempt
# either fails with a dax_fs message in the kernel log, or mounts and then
# survives a full tree walk and a few operations.  fsck never crashes on it.
# (The runner fails the test on any BUG/WARNING/Oops in the kernel log.)
load_module
# Small inode table so the interesting metadata is in the first 2 MiB:
# blocks 0-1 superblocks, 2 state, 3-258 journal, 259 inode bitmap,
# 260-275 block bitmap, 276-339 inode table, 512.. data.  Directory and
# symlink blocks are small allocations, which fs/alloc.rs packs into the
# highest free 2 MiB region: $DIRBLK, the root directory's first block
# (from its inode's first extent), finds them.
mkfs.daxfs -q -N 1024 "$DEV"
mount_dax
mkdir -p "$MNT"/a/b/c "$MNT"/d
for i in $(seq 40); do touch "$MNT/a/file$i" "$MNT/d/other-$i"; done
ln -s /etc/passwd "$MNT/a/sl"; ln -s "$(printf 'y%.0s' $(seq 200))" "$MNT/a/longsl"
ln "$MNT/a/file1" "$MNT/d/hard"; mknod "$MNT/fifo" p
umount "$MNT"
fsck_clean
BS=4096
DIRBLK=$(od -An -t u8 -j $((276 * BS + 112 + 8)) -N 8 "$DEV" | tr -d ' ')
[ "$DIRBLK" -ge 512 ] || die "root directory block $DIRBLK"
dd if="$DEV" of=/tmp/pristine bs=1M count=4 status=none
dd if="$DEV" of=/tmp/pristine-dirs bs=2M skip=$((DIRBLK / 512)) count=1 status=none

restore() {
  dd if=/tmp/pristine of="$DEV" bs=1M conv=notrunc,fsync status=none
  dd if=/tmp/pristine-dirs of="$DEV" bs=2M seek=$((DIRBLK / 512)) conv=notrunc,fsync status=none
  blockdev --flushbufs "$DEV"
}
flip() { # flip OFFSET: overwrite one byte with a random value
  printf "\\x$(printf %02x $((RANDOM % 256)))" | dd of="$DEV" bs=1 seek="$1" conv=notrunc status=none
}
try_fs() { # mount and exercise; any error is fine, a hang or oops is not
  local what=$1
  dmesg_mark
  if timeout 60 mount -t daxfs -o dax "$DEV" "$MNT" 2>/dev/null; then
    timeout 60 ls -laR "$MNT" >/dev/null 2>&1 || true
    timeout 60 find "$MNT" -exec stat {} + >/dev/null 2>&1 || true
    timeout 30 touch "$MNT/newfile" 2>/dev/null || true
    timeout 30 mkdir "$MNT/a/newdir" 2>/dev/null || true
    timeout 30 rm -rf "$MNT/d" 2>/dev/null || true
    timeout 30 mv "$MNT/a" "$MNT/moved" 2>/dev/null || true
    timeout 60 umount "$MNT" || die "$what: umount failed or hung"
    mounted=$((mounted + 1))
  else
    dmesg | tail -n +"$((DMESG_MARK + 1))" | grep -q 'dax_fs' || die "$what: mount refused without a dax_fs message"
    refused=$((refused + 1))
  fi
  local rc=0
  timeout 120 fsck.daxfs -n "$DEV" >/dev/null 2>&1 || rc=$?
  case $rc in 0 | 4) ;; *) die "$what: fsck.daxfs -n exit $rc" ;; esac
}

mounted=0 refused=0
RANDOM=20261122
for it in $(seq 40); do
  restore
  case $((it % 5)) in
  0) base=$((2 * BS)); span=68 ;;            # state block
  1) base=$((259 * BS)); span=$((17 * BS)) ;; # bitmaps
  2) base=$((276 * BS)); span=$((64 * 256)) ;; # used inodes
  3) base=$((DIRBLK * BS)); span=$((8 * BS)) ;; # directory blocks
  4) base=0; span=512 ;;                      # primary superblock
  esac
  for _ in $(seq $((1 + RANDOM % 6))); do flip $((base + (RANDOM * 32768 + RANDOM) % span)); done
  try_fs "iteration $it"
done

# Targeted: a directory entry pointing back at the root (a cycle), an
# extent far outside the device, a zero rec_len.
restore
off=$(( DIRBLK * BS ))
printf '\x01\x00\x00\x00\x00\x00\x00\x00' | dd of="$DEV" bs=1 seek="$off" conv=notrunc status=none
try_fs "directory cycle"
restore
printf '\xff\xff\xff\xff\xff\xff\x00\x00' | dd of="$DEV" bs=1 seek=$((276 * BS + 112 + 8)) conv=notrunc status=none
try_fs "extent out of range"
restore
printf '\x00\x00' | dd of="$DEV" bs=1 seek=$((DIRBLK * BS + 8)) conv=notrunc status=none
try_fs "zero rec_len"
note "mounted $mounted, refused $refused"
restore
fsck_clean

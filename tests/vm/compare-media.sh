#!/bin/bash
# The same media-error injections on daxfs, ext4-DAX and XFS-DAX, for the
# comparison in docs/media-errors.md.  Not a test (it asserts nothing);
# run it in the VM:
#   make run CMD='bash /host/tests/vm/compare-media.sh'
# Prints one line per filesystem and injection: what the user saw.
set -u
source /host/tests/vm/lib.sh
D=$DEV2 P=$(basename "$DEV2") M=/mnt2
BB=/sys/block/$P/badblocks
DT=daxfs-datatest
mkdir -p $M
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
load_module
NS=$(basename "$(readlink -f "/sys/block/$P/device")")
rebind() {
  echo "$NS" >/sys/bus/nd/drivers/nd_pmem/unbind 2>/dev/null
  echo "$NS" >/sys/bus/nd/drivers/nd_pmem/bind 2>/dev/null
  local i; for i in $(seq 100); do [ -b "$D" ] && break; sleep 0.1; done
}
mk() {
  case $1 in
    daxfs) mkfs.daxfs -q "$D" 131072 ;;
    ext4) mkfs.ext4 -q -F -b 4096 "$D" 512M ;;
    xfs) mkfs.xfs -q -f -d size=512m "$D" ;;
  esac
}
# All three 512 MiB (ext4 needs 4 KiB blocks for DAX, XFS 300 MiB at least).
SECTORS=1048576
mnt() { mount -t "$1" -o dax "$D" $M 2>&1 | tail -1; is_mounted $M || { echo "FAILED: mount -t $1 -o dax: $(dmesg | tail -2)"; exit 1; }; }
# The sector of FILE's byte OFFSET (FIEMAP; 512-byte units).
sector_of() {
  xfs_io -c "fiemap -v" "$1" | awk -v o=$(($2 / 512)) 'NR > 2 && $3 != "hole" {
    split($2, f, "[^0-9]+"); split($3, p, ".")
    if (o >= f[2] && o <= f[3]) {print p[1] + o - f[2]; exit}}'
}
# Whether statx reports STATX_ATTR_DAX (0x200000) for FILE.
isdax() { local a; a=$(xfs_io -c 'statx -r -m 0xfff' "$1" | awk '$1 == "stat.attributes" {print $3}'); [ $(( ${a:-0} & 0x200000 )) != 0 ] && echo yes || echo "no (attributes ${a:-?})"; }
res() { "$@" >/dev/null 2>/tmp/err && echo ok || sed -n '1s/.*: //p' /tmp/err; }
say() { printf '%-6s | %-34s | %s\n' "$1" "$2" "$3"; }
klog() { dmesg | tail -n +"$((MARK + 1))" | grep -vE 'Injecting|hwpoison' | sed 's/^\[[^]]*\] //' | grep -E "$1" | head -1; }

# COMPARE_FS (default "daxfs ext4 xfs") and REMOVAL_FS (default "daxfs xfs
# ext4": ext4 last, it oopsed; XFS's writer hung) choose the filesystems.
for fs in ${COMPARE_FS-daxfs ext4 xfs}; do
  # 1. A bad block near the end of the device at mount.
  rebind; mk $fs
  echo "$((SECTORS - 64)) 64" >"$BB"
  if mount -t $fs -o dax "$D" $M 2>/dev/null; then say $fs "mount, bad blocks at the end of the fs" "mounted"; else say $fs "mount, bad blocks at the end of the fs" "fails: $(dmesg | tail -1 | sed 's/^\[[^]]*\] //')"; fi
  umount $M 2>/dev/null
  # 2. A bad page in file data: read, fault, write over it.
  rebind; mk $fs; mnt $fs >/dev/null
  xfs_io -f -c "pwrite -S 0xab 0 4m" -c fsync $M/f >/dev/null
  say $fs "the file is DAX (statx)" "$(isdax $M/f)"
  say $fs "FIEMAP of it" "$(xfs_io -c 'fiemap -v' $M/f | awk 'NR > 2 {printf "%s %s; ", $2, $3}')"
  echo "$(sector_of $M/f 1048576) 8" >"$BB"
  say $fs "read of the bad page" "$(res xfs_io -c 'pread 1m 4k' $M/f)"
  say $fs "read of a good page of that file" "$(res xfs_io -c 'pread 0 4k' $M/f)"
  say $fs "mmap fault on the bad page" "$($DT mmap-read $M/f 1048576)"
  say $fs "write over the bad page" "$(res xfs_io -c 'pwrite 1m 4k' $M/f)"
  say $fs "fsync after that" "$(res xfs_io -c fsync $M/f)"
  umount $M
  # 3. MADV_HWPOISON on a mapped data page, another process mapping it.
  rebind; mk $fs; mnt $fs >/dev/null
  xfs_io -f -c "pwrite -S 0xab 0 4m" -c fsync $M/f >/dev/null
  echo 1 >/proc/sys/vm/memory_failure_early_kill
  $DT hold $M/f 30 >/tmp/hold.out & hp=$!
  for i in $(seq 100); do grep -q mapped /tmp/hold.out && break; sleep 0.2; done
  MARK=$(dmesg | wc -l)
  say $fs "MADV_HWPOISON: the caller" "$($DT hwpoison $M/f 1048576)"
  rc=0; wait $hp || rc=$?
  say $fs "MADV_HWPOISON: another mapper" "$([ $rc -ge 10 ] && echo "SIGBUS $((rc - 10))" || echo "exit $rc")"
  say $fs "MADV_HWPOISON: kernel log" "$(klog 'daxfs|XFS|EXT4|recovery action|Memory failure')"
  echo 0 >/proc/sys/vm/memory_failure_early_kill
  umount $M
  # 4. A bad inode-table block (the inode of a file, not cached).
  rebind; mk $fs; mnt $fs >/dev/null
  echo x >$M/victim; ino=$(stat -c %i $M/victim)
  umount $M; mnt $fs >/dev/null
  case $fs in
    daxfs) it=$(daxfs-db "$D" sb | awk '$1 == "itable_start:" {print $2; exit}'); sect=$(( (it * 4096 + (ino - 1) * 256) / 512 )) ;;
    ext4) sect=$(( $(debugfs -R "imap <$ino>" "$D" 2>/dev/null | awk '/located at block/ {sub(",", "", $4); print $4}') * 8 )) ;;
    xfs) sect=$(xfs_db -r -c "inode $ino" -c "daddr" "$D" 2>/dev/null | awk '{print $NF}' | tr -d '()') ;;
  esac
  echo "$sect 8" >"$BB"
  MARK=$(dmesg | wc -l)
  say $fs "stat of a file whose inode is bad" "$(res stat $M/victim)"
  say $fs "then create a file" "$(res touch $M/new)"
  say $fs "kernel log" "$(klog 'daxfs|XFS|EXT4')"
  umount $M 2>/dev/null
done
# 5. The namespace removed under a busy mount; ext4 last (it oopsed).
for fs in ${REMOVAL_FS-daxfs xfs ext4}; do
  # 5. The namespace removed under a busy mount.
  rebind; mk $fs; mnt $fs >/dev/null
  xfs_io -f -c "pwrite -S 0x5c 0 4m" -c fsync $M/f >/dev/null
  $DT hold $M/f 60 >/tmp/hold.out & hp=$!
  for i in $(seq 100); do grep -q mapped /tmp/hold.out && break; sleep 0.2; done
  # A writer rewriting a preallocated file until a write fails.
  fallocate -l 16m $M/w; : >/tmp/dd.err
  ( while dd if=/dev/zero of=$M/w bs=64k count=256 conv=notrunc status=none 2>>/tmp/dd.err; do :; done; exit 1 ) & dp=$!
  sleep 1
  MARK=$(dmesg | wc -l)
  # If the unbind itself blocks, print where it and the writer wait.
  ( sleep 60; for p in $$ $(pgrep -x dd); do echo "$fs | removal: blocked task $p ($(cat /proc/$p/comm)): $(awk '{printf "%s ", $2}' /proc/$p/stack | cut -c1-300)"; done >/dev/console 2>&1 ) &
  wd=$!
  echo "$NS" >/sys/bus/nd/drivers/nd_pmem/unbind
  kill $wd 2>/dev/null
  rc=0; wait $hp || rc=$?
  say $fs "removal: process mapping a file" "$([ $rc -ge 10 ] && echo "SIGBUS $((rc - 10))" || echo "exit $rc")"
  for i in $(seq 60); do kill -0 $dp 2>/dev/null || break; sleep 1; done
  if kill -0 $dp 2>/dev/null; then
    say $fs "removal: writer" "still blocked 60 s after the removal (state $(awk '{print $3}' /proc/$dp/stat 2>/dev/null)); $(cat /proc/$(pgrep -P $dp dd | head -1)/stack 2>/dev/null | head -4 | awk '{printf "%s ", $2}')"
    say $fs "removal: kernel log" "$(klog 'daxfs|XFS|EXT4|removed|shut')"
    echo "stopping: the writer cannot be reaped"; exit 0
  fi
  rc=0; wait $dp || rc=$?
  say $fs "removal: writer" "exit $rc $(head -1 /tmp/dd.err | sed 's/.*: //')"
  say $fs "removal: ls of the mount" "$(res ls $M)"
  say $fs "removal: umount" "$(res umount $M)"
  say $fs "removal: oops in the log" "$(dmesg | tail -n +"$((MARK + 1))" | grep -cE 'Oops|BUG:|general protection|WARNING:')"
  say $fs "removal: kernel log" "$(klog 'daxfs|XFS|EXT4|removed|shut')"
  echo "$NS" >/sys/bus/nd/drivers/nd_pmem/bind
  for i in $(seq 100); do [ -b "$D" ] && break; sleep 0.1; done
done
rebind

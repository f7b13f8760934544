#!/bin/bash
# In-VM profiler (needs the image from scripts/perf-image.sh; docs/bench.md,
# "Profiling").  Usage, in the guest:
#   profile.sh FS NAME COMMAND...
# makes FS (daxfs, ext4 or xfs, as the bench does) on /dev/pmem1, mounts it
# -o dax on /mnt/p, runs COMMAND under `perf record` (cpu-clock: TCG has no
# PMU) and writes NAME-FS.txt (self time by symbol) and NAME-FS-children.txt
# (time including callees) to /host/build/profile/.
set -u
FS=$1 NAME=$2; shift 2
M=/mnt/p OUT=/host/build/profile
command -v perf >/dev/null || { echo "profile.sh: no perf in this image (boot scripts/perf-image.sh's)"; exit 1; }
mkdir -p $M $OUT
echo 0 >/proc/sys/kernel/kptr_restrict; echo -1 >/proc/sys/kernel/perf_event_paranoid
grep -q '^dax_fs ' /proc/modules || insmod /host/dax_fs.ko || exit 1
umount $M 2>/dev/null
case $FS in
daxfs) mkfs.daxfs -q -f /dev/pmem1 ;;
ext4) mkfs.ext4 -q -F -b 4096 /dev/pmem1 ;;
xfs) mkfs.xfs -q -f -d su=2m,sw=1 -m reflink=0 /dev/pmem1 ;;
*) echo "profile.sh: unknown filesystem $FS"; exit 1 ;;
esac >/dev/null || exit 1
mount -t "$FS" -o dax /dev/pmem1 $M || exit 1
# perf.data stays in the guest's /tmp: perf's output file does not work over 9p.
data=/tmp/$NAME-$FS.data
perf record -e cpu-clock -F 4000 -q -a -g -o "$data" -- "$@" || echo "profile.sh: command failed ($?)"
short() { sed -E 's/ +- +- *$//' | cut -c1-160; }
perf report -i "$data" --stdio --no-children --sort symbol -g none --percent-limit 0.3 2>/dev/null |
  grep '%' | short >"$OUT/$NAME-$FS.txt"
perf report -i "$data" --stdio --children --sort symbol -g none --percent-limit 1 2>/dev/null |
  grep '%' | short >"$OUT/$NAME-$FS-children.txt"
umount $M
echo "profile.sh: $OUT/$NAME-$FS.txt"

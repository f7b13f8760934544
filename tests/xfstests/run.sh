#!/bin/bash
# Runs an xfstests installation the user already has against daxfs, inside
# the project VM (this project never ships or builds xfstests):
#
#   make xfstests XFSTESTS=/host/path/to/xfstests ARGS="generic/074"
#   make xfstests XFSTESTS=... ARGS="-g dax"
#
# XFSTESTS must be visible in the guest (the project is /host there; a
# distribution install such as /var/lib/xfstests in the guest works too).
# Uses local.config (or CONFIG=ext4-dax.config for a comparison run) and,
# for daxfs, exclude.txt next to this script; results go to
# /host/build/xfstests-results/<config>.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
XFSTESTS=${XFSTESTS:-/host/build/xfstests}
[ -x "$XFSTESTS/check" ] || { echo "xfstests: no check script in $XFSTESTS (set XFSTESTS)"; exit 2; }
# mkfs(8)/fsck(8) find mkfs.daxfs and fsck.daxfs in /sbin.
for t in mkfs.daxfs fsck.daxfs; do ln -sf "$(command -v $t)" /sbin/$t; done
grep -q '^dax_fs ' /proc/modules || insmod /host/dax_fs.ko || exit 1
for m in $(awk '$3 == "daxfs" {print $2}' /proc/mounts); do umount "$m"; done
mkdir -p /mnt/test /mnt/scratch
CONFIG=$HERE/${CONFIG:-local.config}
FSTYP=$(. "$CONFIG"; echo "$FSTYP")
EXCLUDE=()
[ "$FSTYP" = daxfs ] && EXCLUDE=(-E "$HERE/exclude.txt")
# The test device needs a filesystem before the first test.
case $FSTYP in
daxfs) yes | mkfs -t daxfs -- /dev/pmem0 >/dev/null ;;
*) mkfs -t "$FSTYP" -F -q -b 4096 /dev/pmem0 >/dev/null ;;
esac || exit 1
RES=/host/build/xfstests-results/$(basename "$CONFIG" .config)
mkdir -p "$RES"
# xfstests expects some users and groups for permission tests.
for u in fsgqa fsgqa2 123456-fsgqa; do id "$u" >/dev/null 2>&1 || useradd -m "$u" 2>/dev/null; done
groupadd -f fsgqa 2>/dev/null
export HOST_OPTIONS=$CONFIG RESULT_BASE=$RES
cd "$XFSTESTS" || exit 2
./check "${EXCLUDE[@]}" "$@" 2>&1 | tee -a "$RES/check.log"
rc=${PIPESTATUS[0]}
# Leave the VM as `make run` left it: the test device mounted on /mnt.
umount /mnt/test /mnt/scratch 2>/dev/null
mount -t "$FSTYP" -o dax /dev/pmem0 /mnt || rc=1
exit "$rc"

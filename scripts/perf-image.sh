#!/usr/bin/env bash
# A copy of the guest root image with linux-perf added, for profiling (not
# used by make test or make bench: it would change what those measure).
# Prints the image path; boot it with DAXFS_ROOTIMG=<path> scripts/vm.sh run.
# docs/bench.md ("Profiling") says how to record under TCG.
source "$(dirname "$0")/common.sh"
BASE=$("$PROJ/scripts/rootfs.sh")
IMG="${BASE%.img}-perf.img"
if [ ! -f "$IMG" ]; then
  need_root
  log "guest image with linux-perf: $IMG"
  cp --sparse=always "$BASE" "$IMG.tmp"
  dir=$(mktemp -d)
  mount -o loop "$IMG.tmp" "$dir"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  mount --bind /proc "$dir/proc"
  rc=0
  chroot "$dir" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends linux-perf && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb' \
    >"$DAXFS_CACHE/perf-image.log" 2>&1 || rc=$?
  umount "$dir/proc"; umount "$dir"; rmdir "$dir"
  [ $rc = 0 ] || { tail -20 "$DAXFS_CACHE/perf-image.log"; rm -f "$IMG.tmp"; die "installing linux-perf failed"; }
  mv "$IMG.tmp" "$IMG"
fi
echo "$IMG"

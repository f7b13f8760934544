#!/usr/bin/env bash
# Guest root file system: a Debian trixie debootstrap with the storage tools
# the tests and benchmarks use, packed into an ext4 image (booted read-write
# with QEMU's snapshot=on, so the cached image never changes).
# Prints the image path.
source "$(dirname "$0")/common.sh"
GUEST_PKGS="ndctl xfsprogs e2fsprogs fio util-linux fdisk kmod procps psmisc strace attr acl
            bsdextrautils file less coreutils findutils grep sed gawk
            bc libaio1t64 liburing2 uuid-runtime libcap2-bin passwd"
RKEY=$( (cat "$PROJ/scripts/rootfs.sh" "$PROJ/qemu/guest-init") | sha256sum | cut -c1-12)
IMG="$DAXFS_CACHE/rootfs-$RKEY.img"
if [ ! -f "$IMG" ]; then
  need_root
  host_deps debootstrap e2fsprogs
  dir="$DAXFS_CACHE/rootfs-$RKEY.dir"
  rm -rf "$dir"
  log "debootstrap guest root (trixie + $(echo $GUEST_PKGS | wc -w) packages)"
  debootstrap --variant=minbase --include="$(echo $GUEST_PKGS | tr ' ' ,)" trixie "$dir" "$MIRROR" \
    >"$DAXFS_CACHE/rootfs.log" 2>&1 || { tail -20 "$DAXFS_CACHE/rootfs.log"; die "guest debootstrap failed"; }
  install -m 0755 "$PROJ/qemu/guest-init" "$dir/sbin/daxfs-init"
  echo daxfs-vm >"$dir/etc/hostname"
  mkdir -p "$dir/host" "$dir/mnt" "$dir/scratch"
  rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
  mkfs.ext4 -q -F -L daxfs-root -d "$dir" "$IMG.tmp" 2G
  rm -rf "$dir"
  mv "$IMG.tmp" "$IMG"
fi
echo "$IMG"

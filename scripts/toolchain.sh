#!/usr/bin/env bash
# Kernel toolchain: a Debian trixie chroot with the rustc/bindgen/clang that
# Linux 7.3 wants (rustc 1.85, bindgen 0.71, clang/lld/llvm 19) plus the
# linux-source-7.3 package from trixie-backports.  Bookworm's libclang (14) is
# too old for bindgen on 7.3, hence the chroot.
source "$(dirname "$0")/common.sh"
[ -f "$TC/.done" ] && exit 0
need_root
host_deps debootstrap
rm -rf "$TC.tmp"
log "debootstrap trixie toolchain chroot -> $TC"
debootstrap --variant=minbase trixie "$TC.tmp" "$MIRROR" >"$DAXFS_CACHE/toolchain.log" 2>&1 \
  || { tail -20 "$DAXFS_CACHE/toolchain.log"; die "debootstrap failed"; }
cat >"$TC.tmp/etc/apt/sources.list" <<SRC
deb $MIRROR trixie main
deb $MIRROR trixie-updates main
deb $MIRROR trixie-backports main
deb $SECURITY_MIRROR trixie-security main
SRC
PKGS="rustc rust-src rustfmt cargo bindgen clang lld llvm libclang-dev make bc bison flex
      libelf-dev libssl-dev cpio kmod python3 xz-utils perl ca-certificates gcc libc6-dev"
TC="$TC.tmp" in_tc /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(echo $PKGS) >/dev/null && \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t trixie-backports linux-source-7.3 >/dev/null && apt-get clean" \
  >>"$DAXFS_CACHE/toolchain.log" 2>&1 || { tail -20 "$DAXFS_CACHE/toolchain.log"; die "toolchain packages failed"; }
# What the kernel cache key depends on: the compilers, not this script.
TC="$TC.tmp" in_tc /bin/sh -c 'rustc --version; bindgen --version; clang --version | head -1; ld.lld --version' >"$TC.tmp/.versions"
touch "$TC.tmp/.done"
mv "$TC.tmp" "$TC"
cat "$TC/.versions" >&2

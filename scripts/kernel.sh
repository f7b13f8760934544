#!/usr/bin/env bash
# Build (or reuse) the Rust-enabled kernel.  Usage: kernel.sh [release|debug]
# Prints nothing on a cache hit; writes build/kernel-<variant>.env with the
# paths the module build and the VM launcher need.
source "$(dirname "$0")/common.sh"
VARIANT=${1:-${KVARIANT:-release}}
"$PROJ/scripts/toolchain.sh"

frags=("$PROJ/qemu/kernel.config")
[ "$VARIANT" = debug ] && frags+=("$PROJ/qemu/kernel-debug.config")

if [ -n "${KERNEL_SRC:-}" ]; then
  [ -f "$KERNEL_SRC/Makefile" ] || die "KERNEL_SRC=$KERNEL_SRC is not a kernel tree"
  KERNEL_SRC=$(cd "$KERNEL_SRC" && pwd); export KERNEL_SRC
  SRC_IN=/ksrc
  srcid="user-$(make -s -C "$KERNEL_SRC" kernelversion 2>/dev/null)-$(echo "$KERNEL_SRC" | sha256sum | cut -c1-8)"
else
  debver=$(in_tc dpkg-query -W -f '${Version}' linux-source-7.3)
  srcid="debian-$debver"
  SRC_IN="/cache/src/linux-$debver"
  if [ ! -f "$DAXFS_CACHE/src/linux-$debver/.done" ]; then
    log "unpacking linux-source-7.3 $debver"
    rm -rf "$DAXFS_CACHE/src/linux-$debver"; mkdir -p "$DAXFS_CACHE/src/linux-$debver"
    tar -C "$DAXFS_CACHE/src/linux-$debver" --strip-components=1 -xf "$TC"/usr/src/linux-source-7.3.tar.*
    touch "$DAXFS_CACHE/src/linux-$debver/.done"
  fi
fi

# Bump when the way the kernel is configured or built changes.
KERNEL_RECIPE=1
KKEY=$( (cat "${frags[@]}" "$TC/.versions"; echo "recipe=$KERNEL_RECIPE $srcid $VARIANT") | sha256sum | cut -c1-12)
KB_IN="/cache/kbuild-$VARIANT-$KKEY"
KB="$DAXFS_CACHE/kbuild-$VARIANT-$KKEY"
mkdir -p "$PROJ/build"
cat >"$PROJ/build/kernel-$VARIANT.env" <<ENV
KB=$KB
KB_IN=$KB_IN
SRC_IN=$SRC_IN
BZIMAGE=$KB/arch/x86/boot/bzImage
ENV
[ -f "$KB/.done" ] && exit 0

log "building kernel ($VARIANT, $srcid) in $KB — a cold build takes ~15-25 min"
mkdir -p "$KB"
mk() { in_tc make -s -C "$SRC_IN" O="$KB_IN" LLVM=1 "$@"; }
mk x86_64_defconfig >/dev/null
fr_in=(); for f in "${frags[@]}"; do fr_in+=("/project/qemu/$(basename "$f")"); done
in_tc /bin/sh -c "cd $KB_IN && $SRC_IN/scripts/kconfig/merge_config.sh -m -O . .config ${fr_in[*]}" >/dev/null
mk olddefconfig
mk rustavailable || die "the toolchain fails 'make rustavailable'"
for opt in RUST ACPI_NFIT LIBNVDIMM BLK_DEV_PMEM ND_PFN FS_DAX FS_DAX_PMD ZONE_DEVICE \
           TRANSPARENT_HUGEPAGE 9P_FS VIRTIO_BLK EXT4_FS XFS_FS FTRACE MEMORY_FAILURE HWPOISON_INJECT \
           X86_PMEM_LEGACY; do
  grep -q "^CONFIG_$opt=y" "$KB/.config" || die "CONFIG_$opt did not stick in $KB/.config (a dependency is missing)"
done
start=$(date +%s)
mk -j"$(( $(nproc) + 1 ))" bzImage modules
log "kernel built in $(( $(date +%s) - start )) s"
touch "$KB/.done"

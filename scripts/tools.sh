#!/usr/bin/env bash
# Userspace tools (mkfs.daxfs, fsck.daxfs, daxfs-db, ...) and their tests, built with the
# toolchain chroot's cargo so a bare host needs no Rust of its own.
# Usage: tools.sh build | test
source "$(dirname "$0")/common.sh"
cargo_in_tc() {
  in_tc /bin/sh -c "cd /project && CARGO_HOME=/cache/cargo CARGO_TARGET_DIR=/project/target cargo $* --release --locked"
}
case ${1:-build} in
build)
  cargo_in_tc build -q
  mkdir -p "$PROJ/build/bin"
  install -m 0755 "$PROJ/target/release/mkfs-daxfs" "$PROJ/build/bin/mkfs.daxfs"
  install -m 0755 "$PROJ/target/release/fsck-daxfs" "$PROJ/build/bin/fsck.daxfs"
  install -m 0755 "$PROJ/target/release/daxfs-testutil" "$PROJ/build/bin/daxfs-testutil"
  install -m 0755 "$PROJ/target/release/daxfs-datatest" "$PROJ/build/bin/daxfs-datatest"
  install -m 0755 "$PROJ/target/release/daxfs-fuzz" "$PROJ/build/bin/daxfs-fuzz"
  install -m 0755 "$PROJ/target/release/daxfs-db" "$PROJ/build/bin/daxfs-db"
  install -m 0755 "$PROJ/target/release/daxfs-crashstates" "$PROJ/build/bin/daxfs-crashstates"
  ;;
test)
  cargo_in_tc test
  ;;
*) die "usage: tools.sh build|test" ;;
esac

#!/usr/bin/env bash
# Builds dax_fs.ko against the cached kernel tree (out of tree, M=the project).
# An edit under fs/ or rust/ rebuilds just this module: seconds.
#   module.sh          the module, ./dax_fs.ko
#   module.sh record   the crash-state test module with the persistence
#                      recorder (rust/kfs/record.rs), build/record/dax_fs.ko,
#                      built from a copy of the sources under build/record
source "$(dirname "$0")/common.sh"
VARIANT=${KVARIANT:-release}
source "$PROJ/build/kernel-$VARIANT.env"
if [ "${1:-}" = record ]; then
  R="$PROJ/build/record"
  mkdir -p "$R"
  # A fresh copy of the sources (not the release build's objects): a full
  # build of the module, about 20 s.
  rm -rf "$R/fs" "$R/rust" "$R/Kbuild"
  (cd "$PROJ" && tar -cf - Kbuild rust/bindings.h rust/helpers.h rust/helpers.c rust/bindgen_parameters rust/kfs fs/*.rs) |
    tar -xf - -C "$R"
  in_tc make -s -C "$KB_IN" M=/project/build/record LLVM=1 DAXFS_RECORD=1 -j"$(nproc)" modules
  [ -f "$R/dax_fs.ko" ] || die "build/record/dax_fs.ko was not produced"
  exit 0
fi
in_tc make -s -C "$KB_IN" M=/project LLVM=1 -j"$(nproc)" modules
[ -f "$PROJ/dax_fs.ko" ] || die "dax_fs.ko was not produced"

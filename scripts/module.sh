#!/usr/bin/env bash
# Builds dax_fs.ko against the cached kernel tree (out of tree, M=the project).
# An edit under fs/ or rust/ rebuilds just this module: seconds.
source "$(dirname "$0")/common.sh"
VARIANT=${KVARIANT:-release}
source "$PROJ/build/kernel-$VARIANT.env"
in_tc make -s -C "$KB_IN" M=/project LLVM=1 -j"$(nproc)" modules
[ -f "$PROJ/dax_fs.ko" ] || die "dax_fs.ko was not produced"

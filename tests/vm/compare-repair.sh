#!/bin/bash
# The repair corpus on daxfs and on ext4 (e2fsck), same corruptor, same VM,
# for the comparison in docs/fsck.md.  Not a test (it asserts nothing of
# ext4); run it in the VM:
#   make run CMD='bash /host/tests/vm/compare-repair.sh [N]'
set -u
source /host/tests/vm/lib.sh
W=/tmp/compare-repair
rm -rf "$W"
mkdir -p "$W"
source /host/tests/vm/repair-lib.sh
load_module
for fs in daxfs ext4; do
  use_fs $fs "$DEV2"
  corpus "${1:-48}" > >(grep -v ': -y: ')
  for b in "${BROKEN[@]}"; do echo "$fs not repaired: $b"; done
done

# Layout breaking: a page of a DAX mapping held by a pipe (vmsplice takes a
# page reference, as O_DIRECT or RDMA pins do) makes truncate, hole punch,
# collapse range and eviction wait until it is released; the held page keeps
# its data (no use after free) and the filesystem stays consistent.
fresh_fs
f=$MNT/pinned
HOLD=5
pinned_op() { # pinned_op NAME COMMAND...: COMMAND must wait for the pin
  local name=$1; shift
  xfs_io -f -c "pwrite -q -S 0x77 0 4m" "$f"
  coproc PIN { daxfs-datatest pin "$f" $HOLD; }
  local line
  read -r -t 30 line <&"${PIN[0]}" || die "$name: pin helper did not start"
  assert_eq "$line" pinned "$name: pin helper"
  local t0=$SECONDS
  "$@" || die "$name failed"
  local waited=$((SECONDS - t0))
  read -r -t 30 line <&"${PIN[0]}" || die "$name: pin helper did not finish"
  wait $PIN_PID 2>/dev/null
  assert_eq "$line" "released ok" "$name: data of the pinned page"
  note "$name waited ${waited}s for a ${HOLD}s pin"
  [ $waited -ge $((HOLD - 2)) ] || die "$name did not wait for the pinned page (${waited}s)"
}
pinned_op truncate truncate -s 0 "$f"
pinned_op "punch hole" xfs_io -c "fpunch 0 64k" "$f"
pinned_op "collapse range" xfs_io -c "fcollapse 0 2m" "$f"
pinned_op "zero range" xfs_io -c "fzero 0 8k" "$f"
# Eviction of an unlinked file: rm drops the last reference and waits.
pinned_op "unlink (evict)" rm "$f"
umount "$MNT"; fsck_clean

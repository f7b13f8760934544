# Layout breaking: a page of a DAX mapping held by a pipe (vmsplice takes a
# page reference, as O_DIRECT or RDMA pins do) makes truncate, hole punch,
# collapse range and eviction wait until it is released; the held page keeps
# its data (no use after free) and the filesystem stays consistent.
fresh_fs
f=$MNT/pinned
HOLD=5
# The helper writes to a file, not a coprocess: bash unsets a coprocess's
# array once it exits, and the helper exits as soon as the operation it
# blocked has finished.
pin_out=$(mktemp)
pin_line() { # pin_line N: wait up to 30 s for line N of the helper's output
  local i
  for i in $(seq 300); do
    [ "$(wc -l <"$pin_out")" -ge "$1" ] && { sed -n "${1}p" "$pin_out"; return 0; }
    sleep 0.1
  done
  return 1
}
pinned_op() { # pinned_op NAME COMMAND...: COMMAND must wait for the pin
  local name=$1; shift
  xfs_io -f -c "pwrite -q -S 0x77 0 4m" "$f"
  : >"$pin_out"
  daxfs-datatest pin "$f" $HOLD >"$pin_out" &
  local pid=$! line
  line=$(pin_line 1) || die "$name: pin helper did not start"
  assert_eq "$line" pinned "$name: pin helper"
  local t0=$SECONDS
  "$@" || die "$name failed"
  local waited=$((SECONDS - t0))
  wait $pid || die "$name: pin helper failed: $(cat "$pin_out")"
  line=$(pin_line 2) || die "$name: pin helper did not finish"
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
rm -f "$pin_out"
umount "$MNT"; fsck_clean

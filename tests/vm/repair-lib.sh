# The repair corpus in the VM, for daxfs (test 053) and ext4 (the
# comparison, compare-repair.sh): a populated 128 MiB filesystem, damaged
# by one corruptor (daxfs-fuzz corrupt: byte flips, a zeroed block, fields
# set to all-ones in one live metadata block; for daxfs also `field`, the
# structure-aware mutation), then checked, repaired, checked again,
# repaired again, mounted with -o dax, walked, read and written.
# Sourced after lib.sh; the caller sets W (a work directory).

# rc_of CMD...: CMD's exit status, output to $W/out.
rc_of() { "$@" >"$W/out" 2>&1; echo $?; }

# populate: the test tree (lib.sh) and a sparse file, on $MNT.
populate() {
  populate_tree
  xfs_io -f -c "pwrite -q 1m 4k" "$MNT/d/sparse"
}

# use_fs daxfs|ext4 DEV: makes, populates and saves the filesystem the
# corpus damages; sets FS, FDEV, CHECK, REPAIR and the damage kinds.
use_fs() {
  FS=$1 FDEV=$2
  case $FS in
    daxfs)
      mkfs.daxfs -q "$FDEV" 32768
      CHECK="fsck.daxfs -n" REPAIR="fsck.daxfs -y"
      KINDS=(flip zero ones field) BLOCKS=()
      ;;
    ext4)
      mkfs.ext4 -q -F -b 4096 "$FDEV" 128M
      CHECK="e2fsck -fn" REPAIR="e2fsck -fy"
      KINDS=(flip zero ones)
      ;;
  esac
  mount -t "$FS" -o dax "$FDEV" "$MNT"
  populate
  umount "$MNT"
  $CHECK "$FDEV" >/dev/null || die "$FS: not clean after populating"
  if [ "$FS" = ext4 ]; then
    # Its live metadata blocks: what e2image copies.
    e2image -r "$FDEV" "$W/meta.img"
    xfs_io -r -c "seek -a -r 0" "$W/meta.img" | awk '
      $1 == "DATA" {d = $2} $1 == "HOLE" && d != "" {for (b = d / 4096; b < $2 / 4096; b++) print b; d = ""}' >"$W/blocks"
    rm -f "$W/meta.img"
    BLOCKS=(--blocks "$W/blocks")
    [ -s "$W/blocks" ] || die "ext4: no metadata blocks from e2image"
  fi
  dd if="$FDEV" of="$W/pristine" bs=1M count=128 status=none
  find "$MNT" -xdev >/dev/null
}

# walk: mount, list, read every file, write and remove a file in every
# directory, unmount; prints what failed (nothing when all worked).
walk() {
  local d
  mount -t "$FS" -o dax "$FDEV" "$MNT" 2>&1 || { echo "mount failed"; return; }
  find "$MNT" -xdev >/dev/null 2>"$W/err" || echo "find: $(head -n 1 "$W/err")"
  find "$MNT" -xdev -type f -exec cat {} + >/dev/null 2>"$W/err" || echo "read: $(head -n 1 "$W/err")"
  while read -r d; do
    { printf 'new\n' >"$d/.repair-probe" && [ "$(cat "$d/.repair-probe")" = new ] && rm "$d/.repair-probe"; } 2>"$W/err" ||
      echo "write in $d: $(head -n 1 "$W/err")"
  done < <(find "$MNT" -xdev -type d 2>/dev/null)
  umount "$MNT" 2>&1 || echo "umount failed"
}

# corpus N: N damaged images (seeds 1..N, kinds in turn); counts in
# IMAGES DETECTED REPAIRED IDEMPOTENT WALKED, failures in BROKEN.
corpus() {
  local n=$1 seed kind what rc out
  IMAGES=0 DETECTED=0 REPAIRED=0 IDEMPOTENT=0 WALKED=0 BROKEN=()
  for ((seed = 1; seed <= n; seed++)); do
    kind=${KINDS[$(((seed - 1) % ${#KINDS[@]}))]}
    what=$(daxfs-fuzz corrupt "$FDEV" --seed "$seed" --damage "$kind" "${BLOCKS[@]}" 2>&1) ||
      die "daxfs-fuzz corrupt: $what"
    IMAGES=$((IMAGES + 1))
    echo "$FS-repair: image $what" >/dev/kmsg
    rc=$(rc_of $CHECK "$FDEV")
    if [ "$rc" = 0 ]; then
      echo "$FS $kind $what: not reported"
    else
      DETECTED=$((DETECTED + 1))
      rc=$(rc_of $REPAIR "$FDEV")
      cp "$W/out" "$W/repair-out"
      if [ "$(rc_of $CHECK "$FDEV")" != 0 ]; then
        BROKEN+=("$kind $what: -y exit $rc, still reported: $(grep -v '^/' "$W/out" | head -n 3 | tr '\n' ' ')")
      else
        REPAIRED=$((REPAIRED + 1))
        rc=$(rc_of $REPAIR "$FDEV")
        if [ "$rc" = 0 ]; then IDEMPOTENT=$((IDEMPOTENT + 1)); else BROKEN+=("$kind $what: a second -y exit $rc"); fi
        out=$(walk)
        if [ -z "$out" ] && [ "$(rc_of $CHECK "$FDEV")" = 0 ]; then
          WALKED=$((WALKED + 1))
        else
          BROKEN+=("$kind $what: after repair: ${out:-not clean after the walk} $(head -n 2 "$W/out" | tr '\n' ' ')")
        fi
      fi
      echo "$FS $kind $what: -y: $(grep -c . "$W/repair-out") lines"
    fi
    dd if="$W/pristine" of="$FDEV" bs=1M status=none conv=notrunc
  done
  note "$FS: $IMAGES damaged images, $DETECTED reported by the check, $REPAIRED clean after one repair, $IDEMPOTENT unchanged by a second repair, $WALKED mounted, walked, read and written"
}

# Hostile images that pass their checksums: daxfs-fuzz (tools/src/fuzz/)
# changes one or a few metadata fields of a populated filesystem per image,
# recomputing every checksum it touches.  Each image is mounted, walked,
# read, written, renamed, unlinked and unmounted (daxfs-fuzz exercise, one
# process; the entries of the inodes the change concerns get every
# operation), every step under a deadline; fsck.daxfs -n must not crash on
# it; then the metadata saved before the batch is written back.  A mount
# may refuse an image if the kernel log says why; an oops, BUG, WARNING,
# lockdep report or hang fails the test, with the seed and the mutation.
# When a failure leaves the device stuck (a hang, a BUG holding it), the
# batch goes on once on $DEV2.
#
# FUZZ_N images (default 200) from seed FUZZ_SEED (default 1), skipping
# the seeds in FUZZ_SKIP (comma separated: known failures, to get past
# them); `make fuzz N=... SEED=... SKIP=...` runs this test alone.
# Reproduce one image with FUZZ_SEED=<seed> FUZZ_N=1.
N=${FUZZ_N:-200}
SEED=${FUZZ_SEED:-1}
SKIP=,${FUZZ_SKIP:-},
W=/tmp/fuzz
rm -rf "$W"
mkdir -p "$W"
mkfifo "$W/tick"
exec {TICK}<>"$W/tick"

# limit SECS CMD...: runs CMD in the background and waits for it at most
# SECS seconds, polling with read -t (a fork costs ~0.3 s under TCG).
# Returns CMD's status, or 124 with HUNG_PID set if it is still running.
limit() {
  local secs=$1 pid i
  shift
  "$@" &
  pid=$!
  for ((i = 0; i < secs * 50; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      return
    fi
    read -r -t 0.02 -u "$TICK" _ || :
  done
  HUNG_PID=$pid
  return 124
}

populate() {
  populate_tree
  # An open, unlinked file left on the orphan list: shut down with it open.
  printf 'orphan\n' >"$MNT/orphan"
  exec 7<"$MNT/orphan"
  rm "$MNT/orphan"
  daxfs-testutil sys shutdown "$MNT" 2
  exec 7<&-
}

# setup DEV: a populated filesystem on DEV (the fuzzed device from now
# on), checked, its metadata saved.
setup() {
  FDEV=$1
  mkfs.daxfs -q -N 1024 "$FDEV"
  mount -t daxfs -o dax "$FDEV" "$MNT"
  populate
  umount "$MNT"
  fsck_clean "$FDEV"
  daxfs-fuzz save "$FDEV" "$W/pristine"
}

mounted=0 refused=0 failures=()
seed=0 what="" result=""
# fail WHY: records a failure of the current image, with its kernel log.
fail() {
  dmesg >"$W/klog"
  failures+=("seed $seed: $what: $1")
  echo "FAIL seed $seed: $what: $1"
  sed -n "/daxfs-fuzz: image $seed\$/,\$p" "$W/klog" | head -n 60 | sed 's/^/    /'
}
# hung STEP: STEP is over its deadline: the kernel is stuck.  Reports it
# with the blocked tasks, detaches the mount if it can.
hung() {
  echo w 2>/dev/null >/proc/sysrq-trigger || :
  fail "$1 hung (over its deadline)"
  [ "$1" != exercise ] || echo "    last step: $(tail -n 1 "$W/steps")"
  umount -l "$MNT" 2>/dev/null &
  WEDGE="$1 hung"
}
# wedged WHY: the device is stuck; go on with $DEV2 once, else stop.
wedged() {
  if [ "$FDEV" = "$DEV2" ]; then
    summary
    die "stopped at seed $seed: $1"
  fi
  note "seed $seed: $1; going on with $DEV2"
  MNT=$W/mnt2
  mkdir -p "$MNT"
  setup "$DEV2"
}
summary() {
  local secs=$((SECONDS - start)) n=$((seed - SEED + 1))
  ((n > 0)) || n=1
  note "$n images from seed $SEED: $mounted mounted, $refused refused, ${#failures[@]} failed; ${secs}s ($((secs * 10 / n)) ds per image)"
  for f in "${failures[@]}"; do echo "FAILED $f"; done
}
# check_log: the kernel log of this image (after its marker, found from
# the end) has no oops or warning; a refused mount says why.
check_log() {
  local i line why=""
  dmesg >"$W/klog"
  mapfile -t klines <"$W/klog"
  for ((i = ${#klines[@]} - 1; i >= 0; i--)); do
    [[ ${klines[i]} == *"daxfs-fuzz: image $seed" ]] && break
  done
  for ((i++; i < ${#klines[@]}; i++)); do
    line=${klines[i]}
    [[ $line == *dax_fs* ]] && why=1
    if [[ $line =~ $BAD_KERNEL_LOG ]]; then
      fail "kernel log: $line"
      return
    fi
  done
  [ "$result" != refused ] || [ -n "$why" ] || fail "mount refused without a dax_fs message"
}
# image: mutate (seed $seed), mount, exercise, unmount, fsck, check the
# kernel log, restore.  Returns 1, WEDGE saying why, when the device is
# stuck.
image() {
  local rc=0 ex=""
  echo "daxfs-fuzz: image $seed" >/dev/kmsg
  if ! what=$(daxfs-fuzz mutate "$FDEV" --seed "$seed" --undo "$W/undo" --focus "$W/focus" 2>&1); then
    WEDGE="daxfs-fuzz mutate: $what"
    return 1
  fi
  what=${what#seed $seed: }
  limit 60 mount -t daxfs -o dax "$FDEV" "$MNT" 2>/dev/null || rc=$?
  [ $rc != 124 ] || { hung mount; return 1; }
  if [ $rc = 0 ]; then
    mounted=$((mounted + 1))
    limit 120 daxfs-fuzz exercise "$MNT" --log "$W/steps" --focus "$W/focus" >"$W/exercise" 2>&1 || rc=$?
    [ $rc != 124 ] || { hung exercise; return 1; }
    read -r ex <"$W/exercise" || :
    result="mounted: $ex"
    [ $rc = 0 ] || result="$result (exercise exit $rc)"
    rc=0
    limit 60 umount "$MNT" || rc=$?
    [ $rc != 124 ] || { hung umount; return 1; }
    if [ $rc != 0 ]; then
      fail "umount exit $rc"
      if is_mounted "$MNT"; then WEDGE="still mounted after umount"; return 1; fi
    fi
  else
    refused=$((refused + 1))
    result=refused
  fi
  echo "seed $seed $result | $what"
  rc=0
  limit 120 fsck.daxfs -n "$FDEV" >"$W/fsck" 2>&1 || rc=$?
  if [ $rc = 124 ]; then
    kill -9 "$HUNG_PID"
    wait "$HUNG_PID" || :
    fail "fsck.daxfs -n ran over 120 s"
  elif [ $rc -ge 8 ]; then
    fail "fsck.daxfs -n exit $rc: $(tail -n 3 "$W/fsck")"
  fi
  check_log
  if ! daxfs-fuzz undo "$FDEV" "$W/undo" "$W/pristine" 2>"$W/undo-error"; then
    WEDGE="cannot restore $FDEV: $(tail -n 1 "$W/undo-error")"
    return 1
  fi
}

load_module
setup "$DEV"
start=$SECONDS
for ((seed = SEED; seed < SEED + N; seed++)); do
  [[ $SKIP == *",$seed,"* ]] && continue
  image || wedged "$WEDGE"
done
seed=$((seed - 1))
summary
fsck_clean "$FDEV"
[ ${#failures[@]} = 0 ] || die "${#failures[@]} of $N images failed"

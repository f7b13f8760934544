# One big directory (issue 11, "Directories"): BIGDIR_N entries (400,000 by
# default, 1,000,000 on request) created in one directory, listed with
# readdir, looked up (warm, and after a remount that rebuilds the
# directory's DRAM index), renamed, unlinked, the directory removed; fsck
# clean.
#
# Inserts find a block with room through the free-space index (fs/dir.rs),
# so their cost must not grow with the directory: the creates run in ten
# tenths, the seconds of each are printed, and the last tenth may take at
# most BIGDIR_GROWTH (3) times the first.  readdir must return every name
# exactly once (the sorted listing is compared with the expected one), and
# statfs is exact: N inodes in use after the creates, the baseline's free
# blocks and inodes after the rmdir and after a remount.
#
# BIGDIR_N comes from the kernel command line (a multiple of 10):
#   KERNEL_CMDLINE=BIGDIR_N=1000000 DAXFS_TESTS=051 scripts/vm.sh test
# The default is what fits about 8 minutes of `make test` under TCG: 400,000
# took 7.5 min here, 1,000,000 took 23 min (docs/testing.md has the times).
# BIGDIR_DEV is the device: /dev/pmem2, mkfs'd with -N just above the count,
# so fsck reads a table of N inodes, not the 4 GiB of the default geometry
# (see 050: fsck keeps every block it reads).
N=${BIGDIR_N:-400000}
GROWTH=${BIGDIR_GROWTH:-3}
BIG=${BIGDIR_DEV:-/dev/pmem2}
# daxfs-testutil starts about 60 times: from the guest's disk, as each start
# over 9p cost about 1.5 s (20,000 entries: 140 s, 41 s of it the timed steps).
T=/tmp/daxfs-testutil
cp "$(command -v daxfs-testutil)" $T
[ "$N" -ge 10 ] && [ $((N % 10)) = 0 ] || die "BIGDIR_N=$N: a multiple of 10 is needed"
P=$((N / 10))
[ -b "$BIG" ] || die "no $BIG: scripts/vm.sh gives test mode a pmem2 of DAXFS_PMEM2_SIZE (default 256G; 0 leaves it out)"
note "$N entries in one directory on $BIG ($(( $(blockdev --getsize64 "$BIG") >> 30 )) GiB), in tenths of $P"

# tenths VERB FROM [TO]: `daxfs-testutil VERB D P --prefix FROM<t>-` for
# each tenth t (renames to TO<t>-); prints the ten times in seconds.
tenths() {
  local t out times=()
  for t in 0 1 2 3 4 5 6 7 8 9; do
    out=$($T "$1" "$D" "$P" --prefix "$2$t-" ${3:+--to "$3$t-"}) || die "$1 $2$t-: $out"
    times+=("$out")
  done
  echo "${times[*]}"
}
total() { echo "$1" | awk '{for (i = 1; i <= NF; i++) s += $i; printf "%.1f", s}'; }
# step WHAT VERB FROM [TO]: tenths, printed with the total.
step() {
  local what=$1 times
  shift
  times=$(tenths "$@")
  note "$(printf '%-34s %6s s; per tenth: %s' "$what" "$(total "$times")" "$times")"
  LAST_TIMES=$times
}
# check_list PREFIX: readdir returns ".", ".." and PREFIX<t>-<i> for every
# tenth t and i < P, each once (sorted listing against the expected one).
check_list() {
  local got want
  assert_eq "$(wc -l </tmp/bigdir.ls)" $((N + 2)) "entries listed (with . and ..)"
  got=$(LC_ALL=C sort /tmp/bigdir.ls | md5sum)
  want=$({ printf '.\n..\n'; for t in 0 1 2 3 4 5 6 7 8 9; do seq -f "$1$t-%.0f" 0 $((P - 1)); done; } | LC_ALL=C sort | md5sum)
  [ "$got" = "$want" ] || die "readdir of $N entries: names differ from the expected ones ($(LC_ALL=C sort /tmp/bigdir.ls | uniq -d | head -3 | tr '\n' ' ')duplicated)"
}
list() { ls -f "$D" >/tmp/bigdir.ls; }
mem() { awk '/^(MemAvailable|Slab):/ {printf "%s %d MiB ", $1, $2 / 1024}' /proc/meminfo; }

load_module
timed "mkfs.daxfs -N $((N + 16384))" mkfs.daxfs -q -N $((N + 16384)) "$BIG"
timed "mount" mount_dax "$BIG"
# The root directory takes its first block with its first entry and keeps
# it: the baseline is taken after that.
mkdir "$MNT/keep"
read -r base_bfree base_ffree < <(stat -f -c '%f %d' "$MNT")
D=$MNT/big
mkdir "$D"

# 1. Create: the cost of an insert does not grow with the directory.
step "create $N" many c
read -r first _ _ _ _ _ _ _ _ last <<<"$LAST_TIMES"
note "create: last tenth / first tenth = $(awk "BEGIN {printf \"%.2f\", $last / $first}") (at most $GROWTH); $(mem)"
awk "BEGIN {exit !($last <= $GROWTH * $first)}" ||
  die "inserting into a directory of $((N - P)) entries took $last s per $P, the first $P took $first s: more than ${GROWTH}x (insert cost grows with the directory)"
assert_eq "$(stat -f -c %d "$MNT")" $((base_ffree - 1 - N)) "free inodes after $N creates"
assert_eq "$(stat -c %h "$D")" 2 "link count of the directory (files only)"
assert_eq "$($T sys create "$D/c5-5" || true)" EEXIST "duplicate in a big directory"

# 2. readdir: every name, once.
timed "readdir $N (ls -f)" list
timed "check the listing" check_list c

# 3. Lookup, warm (dentries and the index in memory), then after a remount
#    (the first lookup rebuilds the index from the directory blocks).
step "lookup $N (warm)" many-check c
timed "umount" umount "$MNT"
timed "mount" mount_dax "$BIG"
step "lookup $N (after remount)" many-check c

# 4. Rename every entry within the directory; the old names are gone.
step "rename $N" many-rename c r
assert_eq "$($T many-check "$D" 1 --prefix c0- || true)" "c0-0 ENOENT" "old name after rename"
[ ! -e "$D/c9-$((P - 1))" ] && [ -e "$D/r9-$((P - 1))" ] || die "last entry not renamed"
step "lookup $N (renamed)" many-check r
timed "readdir $N (renamed)" list
timed "check the listing" check_list r

# 5. Unlink them all; the directory is empty and goes; counts are back.
step "unlink $N" many-unlink r
assert_eq "$(ls -A "$D" | wc -l)" 0 "entries after unlinking all"
timed "rmdir" rmdir "$D"
read -r bfree ffree < <(stat -f -c '%f %d' "$MNT")
assert_eq "$ffree" "$base_ffree" "free inodes after the rmdir"
assert_eq "$bfree" "$base_bfree" "free blocks after the rmdir"
timed "umount" umount "$MNT"
timed "fsck.daxfs -n" fsck_peak "$BIG"
mount_dax "$BIG"
assert_eq "$(ls -A "$MNT")" keep "root after remount"
assert_eq "$(stat -f -c '%f %d' "$MNT")" "$base_bfree $base_ffree" "free blocks and inodes after remount"
umount "$MNT"

# Scale (issue 11): a 24 GiB file on a large device, /dev/pmem2 (256 GiB by
# default; scripts/vm.sh DAXFS_PMEM2_SIZE).  The file is fallocated, written
# with an offset-stamped pattern at spread offsets (3.5 GiB, not all of it:
# TCG writes pmem at ~150 MiB/s), truncated down to 10 GiB and up again,
# punched (a 5 GiB hole), remounted and read back: the pattern where data
# must survive, zeroes in the hole and past the truncation.  Then its holes
# are fallocated again (zeroes, data kept), and it is deleted, remounted,
# fsck clean.  statfs is checked exactly throughout:
#  * fresh: f_blocks = device blocks, f_bfree = what mkfs reported;
#  * with the file (the only thing allocated since the baseline):
#    baseline f_bfree - f_bfree = st_blocks / 8 (its data and extent-chain
#    blocks), and its data blocks alone are what the operations leave;
#  * after an unmount the state block holds f_bfree, clean, no orphans, and
#    fsck -n clean (which counts the bitmaps against the state block);
#  * after deleting everything f_bfree/f_ffree are the baseline again.
# Every step prints its time.
BIG=${SCALE_DEV:-/dev/pmem2}
BS=4096
MIB=$((1 << 20)) GIB=$((1 << 30))
[ -b "$BIG" ] || die "no $BIG: scripts/vm.sh gives test mode a pmem2 of DAXFS_PMEM2_SIZE (default 256G; 0 leaves it out)"
assert_eq "$(cat "/sys/block/${BIG#/dev/}/queue/dax")" 1 "$BIG DAX capable"
devbytes=$(blockdev --getsize64 "$BIG")
note "$BIG: $((devbytes / MIB)) MiB ($((devbytes / GIB)) GiB)"
[ "$devbytes" -ge $((32 * GIB)) ] || die "$BIG has $((devbytes / GIB)) GiB; this test needs >= 32 GiB (DAXFS_PMEM2_SIZE)"

# Pattern: every 4 KiB block is its own file offset as 15 hex digits and a
# newline, 256 times, so data that lands at another offset (or another
# file's data) is told apart from the right data.  pat write|check|zero FILE
# OFF LEN (bytes, multiples of 1 MiB): write the pattern, check it, check
# zeroes.  Reports the first mismatching block.
cat >/tmp/pat.pl <<'EOF'
use strict; use warnings;
my ($mode, $file, $off, $len) = @ARGV;
my $MB = 1 << 20;
my $zero = "\0" x $MB;
open(my $fh, $mode eq 'write' ? '+<' : '<', $file) or die "$file: $!\n";
binmode $fh;
sub chunk { my $o = shift; my $s = ''; $s .= sprintf("%015x\n", $o + $_ * 4096) x 256 for 0 .. 255; $s }
for (my $o = $off; $o < $off + $len; $o += $MB) {
  my $want = $mode eq 'zero' ? $zero : chunk($o);
  sysseek($fh, $o, 0) or die "seek $o: $!\n";
  if ($mode eq 'write') {
    my $n = syswrite($fh, $want);
    defined $n && $n == $MB or die "write at $o: " . ($n // $!) . "\n";
    next;
  }
  my $got = '';
  while (length($got) < $MB) {
    my $n = sysread($fh, $got, $MB - length($got), length($got));
    die "read at $o: $!\n" unless defined $n;
    die "read at $o: EOF after " . length($got) . " bytes\n" if $n == 0;
  }
  next if $got eq $want;
  for my $b (0 .. 255) {
    my ($g, $w) = (substr($got, $b * 4096, 4096), substr($want, $b * 4096, 4096));
    next if $g eq $w;
    my $x = substr($g, 0, 16); $x =~ s/([^ -~])/sprintf("\\x%02x", ord $1)/ge;
    die sprintf("%s: %s expected at offset %d (%.3f GiB), found \"%s\"...\n",
                $file, $mode eq 'zero' ? 'zeroes' : 'pattern', $o + $b * 4096, ($o + $b * 4096) / 2**30, $x);
  }
}
EOF
pat() { perl /tmp/pat.pl "$@"; }

# State block (block 2): orphan head u64 at byte 32, clean flag u32 at 40,
# free blocks u64 at 48 (fs/format.rs).  Read with O_DIRECT.
state_field() { dd if="$BIG" bs=$BS skip=2 count=1 iflag=direct status=none | od -An -t "$1" -j "$2" -N "$3" | tr -d ' '; }
bfree() { stat -f -c %f "$MNT"; }
# check_unmounted WHAT EXPECTED_BFREE: clean state block, no orphans, the
# free count statfs showed, fsck -n clean.
check_unmounted() {
  assert_eq "$(state_field u4 40 4)" 1 "$1: clean flag"
  assert_eq "$(state_field u8 32 8)" 0 "$1: orphan list head"
  assert_eq "$(state_field u8 48 8)" "$2" "$1: free blocks in the state block (statfs said)"
  timed "$1: fsck.daxfs -n" fsck_peak "$BIG"
}
# blocks_now EXPECTED_DATA_BYTES WHAT: the file's st_blocks covers exactly
# what the statfs baseline lost; its data part is EXPECTED_DATA_BYTES and the
# rest (extent-chain blocks) is small.
F=$MNT/big
blocks_now() {
  local st data=$(($1 / BS)) used
  st=$(( $(stat -c %b "$F") / 8 ))
  used=$((base_bfree - $(bfree)))
  note "$2: st_blocks/8 = $st (data $data + $((st - data)) extent blocks), statfs used $used; $(xfs_io -c fiemap "$F" | grep -vc ':$\|hole') extents"
  assert_eq "$used" "$st" "$2: blocks statfs lost vs the file's st_blocks/8"
  [ "$st" -ge "$data" ] && [ "$st" -le $((data + 4096)) ] || die "$2: st_blocks/8 = $st, expected $data data blocks + a few extent blocks"
}

load_module
# 1M inodes by default (SCALE_INODES=N on the kernel command line, e.g.
# KERNEL_CMDLINE=SCALE_INODES=0 for mkfs's default of one inode per 16 KiB:
# 16.5M inodes, a 4 GiB table on 256 GiB): fsck.daxfs still caches every
# block it reads, and runs out of memory in the 2 GiB guest on the default
# geometry of a 256 GiB device (issue 14, fsck memory).
SCALE_INODES=${SCALE_INODES:-1048576}
[ "$SCALE_INODES" = 0 ] && SCALE_INODES=
out=$(timed "mkfs.daxfs ${SCALE_INODES:+-N $SCALE_INODES }(inode table: $((devbytes / 16384 * 256 / MIB)) MiB by default)" \
  mkfs.daxfs ${SCALE_INODES:+-N "$SCALE_INODES"} "$BIG")
echo "$out"
mkfs_free=$(echo "$out" | awk '/^free:/ {print $2}')
timed "mount" mount_dax "$BIG"
read -r blocks fresh_bfree files ffree < <(stat -f -c '%b %f %c %d' "$MNT")
note "fresh: blocks=$blocks bfree=$fresh_bfree files=$files ffree=$ffree"
assert_eq "$blocks" $((devbytes / BS)) "f_blocks = device blocks"
assert_eq "$fresh_bfree" "$mkfs_free" "f_bfree as mkfs reported"
# The root directory takes its first block with the first entry (and keeps
# it): baseline with the (empty) file created.
touch "$F"
read -r base_bfree base_ffree < <(stat -f -c '%f %d' "$MNT")
assert_eq "$base_bfree" $((fresh_bfree - 1)) "f_bfree after the root directory's first entry"

# Before the bounded transactions (issue 11), one transaction logged a
# record per 64-bit bitmap word and had to fit the 1 MiB journal: about
# 11 GiB allocated or freed at once failed with E2BIG (and a delete that
# failed left the inode on the orphan list: the next mount was refused).
# So each step here allocates or frees more than that in one system call:
# fallocate 24 GiB, truncate away 14 GiB, fallocate 19 GiB of holes, delete
# 24 GiB.
SZ=24 # GiB
SIZE=$((SZ * GIB))

# 1. fallocate (unwritten: nothing is zeroed or written).
timed "fallocate -l ${SZ}G" fallocate -l $SIZE "$F"
assert_eq "$(stat -c %s "$F")" $SIZE "size after fallocate"
blocks_now $SIZE "after fallocate"

# 2. Write 3.5 GiB of pattern in seven 512 MiB regions placed around what
# the later steps cut: A survives; B straddles the hole's start (2 GiB), C
# lies in the hole, D straddles its end (7 GiB); E straddles the truncation
# point (10 GiB); F and G lie past it (G ends at EOF).
R=$((512 * MIB))
declare -A reg=([A]=0 [B]=$((2 * GIB - R / 2)) [C]=$((4 * GIB)) [D]=$((7 * GIB - R / 2))
                [E]=$((10 * GIB - R / 2)) [F]=$((15 * GIB)) [G]=$((SIZE - R)))
t0=$(date +%s%N)
for r in A B C D E F G; do pat write "$F" "${reg[$r]}" $R || die "writing region $r"; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
note "$(printf 'step %-44s %4d.%01d s (%d MiB/s)' "write 7 x 512 MiB of pattern" $((ms / 1000)) $((ms % 1000 / 100)) $((7 * 512 * 1000 / (ms + 1))))"
blocks_now $SIZE "after writing"
timed "check region A (512 MiB) before any cut" pat check "$F" 0 $R

# 3. Truncate down to 10 GiB (frees 14 GiB), then up again (a sparse tail).
timed "truncate -s 10G" truncate -s 10G "$F"
assert_eq "$(stat -c %s "$F")" $((10 * GIB)) "size after truncate down"
blocks_now $((10 * GIB)) "after truncate to 10 GiB"
timed "truncate -s ${SZ}G" truncate -s $SIZE "$F"
assert_eq "$(stat -c %s "$F")" $SIZE "size after truncate up"
blocks_now $((10 * GIB)) "after truncate up to $SZ GiB"

# 4. Punch a 5 GiB hole: 2 GiB .. 7 GiB.
timed "punch 5 GiB (2..7 GiB)" fallocate -p -o $((2 * GIB)) -l $((5 * GIB)) "$F"
assert_eq "$(stat -c %s "$F")" $SIZE "size after punch"
blocks_now $((5 * GIB)) "after punch"

# 5. Remount: statfs and st_blocks unchanged, the state block agrees, fsck.
remount_check() { # remount_check WHAT
  local used_bfree used_st
  used_bfree=$(bfree) used_st=$(stat -c %b "$F")
  timed "umount ($1)" umount "$MNT"
  check_unmounted "$1" "$used_bfree"
  timed "mount ($1)" mount_dax "$BIG"
  assert_eq "$(bfree)" "$used_bfree" "$1: f_bfree after remount"
  assert_eq "$(stat -c %b "$F")" "$used_st" "$1: st_blocks after remount"
  assert_eq "$(stat -c %s "$F")" $SIZE "$1: size after remount"
}
remount_check "punched file"

# 6. Read back: pattern where data survived, zeroes where it was cut.
H=$((R / 2))
verify() {
  pat check "$F" "${reg[A]}" $R                  # A: untouched
  pat check "$F" "${reg[B]}" $H                  # B: before the hole
  pat zero "$F" $((2 * GIB)) $H                  #    in the hole
  pat zero "$F" "${reg[C]}" $R                   # C: in the hole
  pat zero "$F" "${reg[D]}" $H                   # D: in the hole
  pat check "$F" $((7 * GIB)) $H                 #    after it
  pat check "$F" "${reg[E]}" $H                  # E: below 10 GiB
  pat zero "$F" $((10 * GIB)) $H                 #    truncated away
  pat zero "$F" "${reg[F]}" $R                   # F, G: truncated away
  pat zero "$F" "${reg[G]}" $R
  pat zero "$F" $((512 * MIB)) $((64 * MIB))     # fallocated, never written
  pat zero "$F" $((8 * GIB)) $((64 * MIB))
  pat zero "$F" $((12 * GIB)) $((64 * MIB))      # past the truncation
}
timed "verify 3.7 GiB (pattern + zeroes)" verify

# 7. Fill the holes (19 GiB in one fallocate, partly the blocks that held
# regions C, D, F and G): still zeroes there, the data kept.
timed "fallocate -l ${SZ}G over 19 GiB of holes" fallocate -l $SIZE "$F"
blocks_now $SIZE "after filling the holes"
remount_check "refilled file"
timed "verify again after filling the holes" verify

# 8. Delete (24 GiB freed by one eviction), remount, fsck: everything is back.
timed "rm ${SZ} GiB file" rm "$F"
read -r bfree ffree < <(stat -f -c '%f %d' "$MNT")
assert_eq "$bfree" "$base_bfree" "f_bfree after deleting the file"
assert_eq "$ffree" $((base_ffree + 1)) "f_ffree after deleting the file"
timed "umount (empty)" umount "$MNT"
check_unmounted "after delete" "$base_bfree"
timed "mount (empty)" mount_dax "$BIG"
read -r bfree ffree < <(stat -f -c '%f %d' "$MNT")
assert_eq "$bfree" "$base_bfree" "f_bfree after delete + remount"
assert_eq "$ffree" $((base_ffree + 1)) "f_ffree after delete + remount"
[ -z "$(ls -A "$MNT")" ] || die "root not empty after delete: $(ls -A "$MNT")"
umount "$MNT"

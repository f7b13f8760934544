# readdir positions stay valid across concurrent changes (telldir/seekdir),
# and a 100,000-entry directory is created, listed, looked up, renamed and
# removed.  Inserting finds a block with room through the free-space index
# (fs/dir.rs), so each tenth of the creates costs about the same: the
# times are printed (docs/testing.md), not asserted.
T=daxfs-testutil
fresh_fs
mkdir "$MNT/rs"
(cd "$MNT/rs" && for i in $(seq 0 999); do echo "keep-$i"; done | xargs touch)
assert_eq "$($T readdir-stable "$MNT/rs")" "ok 1000" "readdir-stable"
mkdir "$MNT/big"
CH="0 1 2 3 4 5 6 7 8 9"
each() { # each CMD ARGS...: run a daxfs-testutil many-* command on every chunk c<N>- of 10000
  local c out
  for c in $CH; do
    out=$($T "$@" --prefix "c$c-") || die "$* chunk $c: $out"
    echo "$out"
  done
}
note "create 100000, seconds per 10000: $(each many "$MNT/big" 10000 | tr '\n' ' ')"
start=$(date +%s%N); n=$(ls -f "$MNT/big" | wc -l); ms=$(( ($(date +%s%N) - start) / 1000000 ))
assert_eq "$n" 100002 "entries listed (with . and ..)"
note "list 100000: ${ms}ms"
note "lookup 100000 (warm index): $(each many-check "$MNT/big" 10000 | tr '\n' ' ')"
umount "$MNT"; mount_dax
note "lookup 100000 (after remount, index rebuilt): $(each many-check "$MNT/big" 10000 | tr '\n' ' ')"
assert_eq "$($T sys create "$MNT/big/c5-5" || true)" EEXIST "duplicate in a big directory"
for c in $CH; do $T many-rename "$MNT/big" 10000 --prefix "c$c-" --to "r$c-" >/dev/null || die "rename chunk $c"; done
assert_eq "$(ls -f "$MNT/big" | grep -c '^r[0-9]-')" 100000 "renamed entries"
assert_eq "$($T many-check "$MNT/big" 1 --prefix c0- || true)" "c0-0 ENOENT" "old name after rename"
for c in $CH; do $T many-check "$MNT/big" 10000 --prefix "r$c-" >/dev/null || die "lookup renamed chunk $c"; done
note "unlink 100000: $(for c in $CH; do $T many-unlink "$MNT/big" 10000 --prefix "r$c-"; done | tr '\n' ' ')"
assert_eq "$(ls -A "$MNT/big" | wc -l)" 0 "empty after unlinking"
rmdir "$MNT/big"
umount "$MNT"
fsck_clean

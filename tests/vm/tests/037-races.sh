# Races, in a loop: mmap faults against truncate and hole punch of the same
# file, and concurrent O_APPEND writers.  Faulting processes may die of
# SIGBUS when the file shrinks under them; the kernel must stay quiet (the
# harness checks its log), appends must all land, fsck must be clean.
fresh_fs
f=$MNT/race
xfs_io -f -c "pwrite -q 0 8m" "$f"
end=$((SECONDS + ${RACE_SECONDS:-20}))
( while [ $SECONDS -lt $end ]; do daxfs-datatest touch "$f" --write >/dev/null 2>&1 || true; done ) 2>/dev/null &
r1=$!
( while [ $SECONDS -lt $end ]; do daxfs-datatest touch "$f" >/dev/null 2>&1 || true; done ) 2>/dev/null &
r2=$!
n=0
while [ $SECONDS -lt $end ]; do
  xfs_io -c "truncate 1m" -c "pwrite -q 0 8m" -c "fpunch 1m 2m" -c "fzero 4m 2m" -c "fcollapse 2m 2m" \
    -c "finsert 2m 2m" -c "truncate 8m" "$f" || die "truncate/punch loop"
  n=$((n + 1))
done
wait $r1 $r2
note "$n truncate/punch/collapse/insert rounds against faulting readers and writers"
# The file is still coherent: rewrite and verify through read and mmap.
xfs_io -c "pwrite -q -S 0x61 0 8m" "$f"
cmp "$f" <(head -c 8M /dev/zero | tr '\0' a) || die "data after the races"
# Concurrent appenders.
pids=()
for i in 0 1 2 3; do daxfs-datatest append "$MNT/log" $i 400 >/dev/null & pids+=($!); done
wait "${pids[@]}" || die "appender failed"
out=$(daxfs-datatest append-check "$MNT/log" 4 400) || die "$out"
note "$out"
umount "$MNT"; fsck_clean

# fsx-style random operations (write, mapwrite, read, mapread, truncate,
# punch, zero, collapse, insert, fallocate, fsync) checked against a model
# after every operation; fixed seeds.  Long mode: FSX_SECONDS=N.
fresh_fs
for seed in 1 2 3 4 5 6; do
  out=$(daxfs-datatest fsx "$MNT/fsx$seed" --seed "$seed" --ops 4000 --max-size 1048576 --max-len 131072 \
        ${FSX_SECONDS:+--seconds $FSX_SECONDS}) || die "fsx seed $seed: $out"
  note "$out"
done
# A larger file with long operations (multi-block extents, PMD-sized ranges).
out=$(daxfs-datatest fsx "$MNT/big" --seed 99 --ops 1500 --max-size 16777216 --max-len 4194304) || die "fsx big: $out"
note "$out"
umount "$MNT"; fsck_clean; mount_dax
rm -f "$MNT"/fsx* "$MNT/big"
umount "$MNT"; fsck_clean

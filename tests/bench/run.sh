#!/bin/bash
# In-VM benchmark (DAXFS_MODE=bench, started by scripts/bench.sh): the same
# workloads on daxfs, ext4 -o dax and XFS -o dax (and the raw /dev/pmem0
# where it makes sense), on the same NVDIMM namespace, interleaved
# (daxfs ext4 xfs daxfs ext4 xfs ...) and repeated BENCH_REPS times.
# Appends "workload,target,rep,value,unit,better" rows to
# /host/build/bench/raw.csv; scripts/bench-report.sh makes the tables.
# docs/bench.md explains every workload.
set -u
OUT=/host/build/bench
RAW=$OUT/raw.csv
REPS=${BENCH_REPS:-3}
RT=${BENCH_RUNTIME:-5}          # seconds per fio point
FILES=${BENCH_FILES:-10000}      # create+fsync+unlink files per point
STATS=${BENCH_STATS:-100000}    # files stat'ed in one directory
BIGDIR=${BENCH_BIGDIR:-200000}  # entries of the one big directory
ONLY=${BENCH_ONLY:-}            # regex of workloads to run (all by default)
DEV=/dev/pmem0
MNT=/mnt/bench
FSES="daxfs ext4 xfs"
TR=/sys/kernel/tracing
mkdir -p "$OUT" "$MNT"
echo "workload,target,rep,value,unit,better" >"$RAW"
grep -q '^dax_fs ' /proc/modules || insmod /host/dax_fs.ko || exit 1
mountpoint -q $TR || mount -t tracefs nodev $TR
echo 16384 >$TR/buffer_size_kb

log() { echo "bench: $*"; }
record() { echo "$1,$2,$3,$4,$5,$6" >>"$RAW"; log "$1 $2 rep $3: $4 $5"; }
want() { [ -z "$ONLY" ] || [[ $1 =~ $ONLY ]]; }

# mkfs_fs FS [INODES]: INODES asks for room for that many inodes (the
# defaults give 131,072 on 2 GiB for daxfs and ext4; XFS allocates inodes
# as it goes, in at most imaxpct of the space: 25%, 512 MiB, by default).
mkfs_fs() {
  case $1 in
  daxfs) mkfs.daxfs -q -f ${2:+-N $2} $DEV ;;
  ext4) mkfs.ext4 -q -F -b 4096 ${2:+-N $2} $DEV ;;
  xfs) mkfs.xfs -q -f -d su=2m,sw=1 -m reflink=0 ${2:+-i maxpct=50} $DEV ;;
  esac >/dev/null
}
fresh() { # fresh FS [INODES]: new filesystem mounted -o dax on $MNT
  umount $MNT 2>/dev/null
  mkfs_fs "$1" "${2:-}" && mount -t "$1" -o dax $DEV $MNT || { log "cannot mount $1"; exit 1; }
}

# fio_run NAME ARGS...: prints "read_iops read_kib write_iops write_kib".
fio_run() {
  fio --name=b --output-format=terse --terse-version=3 --group_reporting "$@" 2>/dev/null |
    awk -F';' '{print $8, $7, $49, $48}'
}

# A 1 GiB file written sequentially (the layout for read/overwrite points).
layout() { fio_run --filename="$1" --rw=write --bs=1m --size=1g --ioengine=psync --end_fsync=1 >/dev/null; }

trace_start() {
  echo 0 >$TR/tracing_on; echo >$TR/trace
  echo 1 >$TR/events/fs_dax/dax_pmd_fault_done/enable
  echo 1 >$TR/events/fs_dax/dax_pte_fault_done/enable
  echo 1 >$TR/tracing_on
}
# Prints the share (%) of 2 MiB ranges mapped by a PMD: distinct 2 MiB
# virtual ranges with a PMD fault that installed a mapping (NOPAGE), over
# $1 ranges, or (without $1) over the distinct ranges that faulted at all.
# A range that fell back takes up to 512 PTE faults, so a share of faults
# would understate PMD coverage; test 033 counts the same way.
trace_pmd_share() {
  echo 0 >$TR/tracing_on
  echo 0 >$TR/events/fs_dax/enable
  perl -ne '
    next unless /dax_(pmd|pte)_fault_done:.*address (0x[0-9a-f]+)/;
    my $r = hex($2) >> 21;
    $all{$r} = 1;
    $pmd{$r} = 1 if $1 eq "pmd" && /NOPAGE/;
    END { my $n = '"${1:-0}"' || scalar(keys %all);
          printf "%.1f", $n ? 100 * scalar(keys %pmd) / $n : 0 }' $TR/trace
}

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

ALL_FSES=$FSES
for rep in $(seq "$REPS"); do
  # Rotate the order every repetition (daxfs ext4 xfs, ext4 xfs daxfs, ...):
  # the first target of a workload also pays the emulator's translation of
  # the shared VFS code, which must not always be the same filesystem.
  set -- $ALL_FSES; for _ in $(seq $(( (rep - 1) % $# ))); do set -- "${@:2}" "$1"; done; FSES="$*"
  log "repetition $rep: $FSES"
  # 1-2. 4 KiB random read (1 and 2 jobs) and overwrite, psync, 1 GiB file.
  if want randread || want overwrite; then
    for fs in $FSES; do
      fresh $fs; layout $MNT/f
      for j in 1 2; do
        want randread && record "randread-4k-${j}job" $fs $rep \
          "$(fio_run --filename=$MNT/f --rw=randread --bs=4k --size=1g --ioengine=psync --numjobs=$j \
              --time_based --runtime=$RT | awk '{print $1}')" IOPS higher
      done
      want overwrite && record overwrite-4k $fs $rep \
        "$(fio_run --filename=$MNT/f --rw=randwrite --bs=4k --size=1g --ioengine=psync \
            --time_based --runtime=$RT | awk '{print $3}')" IOPS higher
    done
  fi
  # 3. 4 KiB appends with fdatasync after every write.
  if want append; then
    for fs in $FSES; do
      fresh $fs
      record append-4k-fdatasync $fs $rep \
        "$(fio_run --filename=$MNT/a --rw=write --bs=4k --size=512m --ioengine=psync --fdatasync=1 \
            --fallocate=none --runtime=$RT | awk '{print $3}')" IOPS higher
    done
  fi
  # 4. 1 MiB sequential write (allocating) and read; raw device as the bound.
  if want seq; then
    for fs in $FSES raw; do
      if [ $fs = raw ]; then
        umount $MNT 2>/dev/null
        f=(--filename=$DEV --direct=1)
      else
        fresh $fs; f=(--filename=$MNT/s --fallocate=none)
      fi
      record seqwrite-1m $fs $rep \
        "$(fio_run "${f[@]}" --rw=write --bs=1m --size=1g --ioengine=psync | awk '{print $4 / 1024}')" MiB/s higher
      record seqread-1m $fs $rep \
        "$(fio_run "${f[@]}" --rw=read --bs=1m --size=1g --ioengine=psync | awk '{print $2 / 1024}')" MiB/s higher
    done
  fi
  # 5. mmap 4 KiB random writes on a 1 GiB file; PMD share of the faults.
  if want mmap; then
    for fs in $FSES; do
      fresh $fs
      trace_start
      v=$(fio_run --filename=$MNT/m --rw=randwrite --bs=4k --size=1g --ioengine=mmap \
            --time_based --runtime=$RT | awk '{print $3}')
      record mmap-randwrite-4k $fs $rep "$v" IOPS higher
      record mmap-pmd-share $fs $rep "$(trace_pmd_share)" "%" higher
    done
  fi
  # 6. Metadata.
  if want meta; then
    for fs in $FSES; do
      fresh $fs
      while read -r what v; do
        record "meta-$what" $fs $rep "$v" ops/s higher
      done < <(daxfs-datatest meta-bench $MNT --files "$FILES" --dirs 1000 --stats "$STATS" | tail -4)
    done
  fi
  # 7. generic/074-like stress (the project's own), wall time.
  if want stress; then
    for fs in $FSES; do
      fresh $fs; mkdir $MNT/s
      t0=$(date +%s%N)
      daxfs-datatest stress $MNT/s --procs 4 --ops 500 --seed 1 --max-size 4194304 >/dev/null || log "stress failed on $fs"
      record stress-074-like $fs $rep "$(ms_since $t0)" ms lower
    done
  fi
  # 8. Mount time, empty and 90% full.
  if want mount; then
    for fs in $FSES; do
      fresh $fs; umount $MNT
      t0=$(date +%s%N); mount -t $fs -o dax $DEV $MNT; record mount-empty $fs $rep "$(ms_since $t0)" ms lower
      daxfs-datatest age $MNT --rounds 1 --fill 90 --seed $rep >/dev/null
      umount $MNT
      t0=$(date +%s%N); mount -t $fs -o dax $DEV $MNT; record mount-90pct $fs $rep "$(ms_since $t0)" ms lower
    done
  fi
  # 9. One big directory (issue 11): BIGDIR entries created (rate over all
  #    of them and over the last tenth, i.e. the cost of an insert at that
  #    size), listed (readdir), all stat'ed after dropping the dentry and
  #    inode caches (lookup), a tenth renamed, the rest unlinked.  Every
  #    filesystem is made with room for BIGDIR inodes.
  if want bigdir; then
    for fs in $FSES; do
      fresh $fs $((BIGDIR + 16384)); mkdir $MNT/big
      part=$((BIGDIR / 10))
      s1=$(daxfs-testutil many $MNT/big $((BIGDIR - part)) --prefix a) || { log "bigdir create failed on $fs: $s1"; continue; }
      s2=$(daxfs-testutil many $MNT/big $part --prefix b) || { log "bigdir create failed on $fs: $s2"; continue; }
      record bigdir-create $fs $rep "$(awk "BEGIN {printf \"%.1f\", $BIGDIR / ($s1 + $s2)}")" ops/s higher
      record bigdir-create-last-tenth $fs $rep "$(awk "BEGIN {printf \"%.1f\", $part / $s2}")" ops/s higher
      t0=$(date +%s%N); n=$(ls -f $MNT/big | wc -l); ms=$(ms_since $t0)
      [ "$n" = $((BIGDIR + 2)) ] || log "bigdir readdir on $fs listed $n entries, not $((BIGDIR + 2))"
      record bigdir-readdir $fs $rep "$(awk "BEGIN {printf \"%.1f\", $BIGDIR * 1000 / ($ms + 1)}")" ops/s higher
      sync; echo 2 >/proc/sys/vm/drop_caches; s6=
      s5=$(daxfs-testutil many-check $MNT/big $((BIGDIR - part)) --prefix a) &&
        s6=$(daxfs-testutil many-check $MNT/big $part --prefix b) &&
        record bigdir-lookup-cold $fs $rep "$(awk "BEGIN {printf \"%.1f\", $BIGDIR / ($s5 + $s6)}")" ops/s higher ||
        log "bigdir lookup failed on $fs: $s5 ${s6:-}"
      s3=$(daxfs-testutil many-rename $MNT/big $part --prefix b --to c)
      record bigdir-rename $fs $rep "$(awk "BEGIN {printf \"%.1f\", $part / $s3}")" ops/s higher
      s4=$(daxfs-testutil many-unlink $MNT/big $((BIGDIR - part)) --prefix a)
      record bigdir-unlink $fs $rep "$(awk "BEGIN {printf \"%.1f\", ($BIGDIR - $part) / $s4}")" ops/s higher
    done
  fi
  # Aging: fill to 80%, delete half, 4 rounds; then a fallocated 1 GiB file.
  for phase in fresh aged; do
    want "pmd-share-1g-$phase" || continue
    for fs in $FSES; do
      fresh $fs
      if [ $phase = aged ]; then
        daxfs-datatest age $MNT --rounds 4 --fill 80 --seed $rep >/dev/null
      fi
      if fallocate -l 1G $MNT/p; then
        trace_start
        daxfs-datatest touch $MNT/p --write >/dev/null
        record "pmd-share-1g-$phase" $fs $rep "$(trace_pmd_share 512)" "%" higher
      else
        log "$fs: no room for 1 GiB after aging"
        record "pmd-share-1g-$phase" $fs $rep 0 "%" higher
      fi
    done
  done
done
umount $MNT 2>/dev/null
log "done: $(($(wc -l <"$RAW") - 1)) measurements in $RAW"

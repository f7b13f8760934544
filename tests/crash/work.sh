#!/bin/bash
# Power-cut workload (runs in the guest until QEMU is killed).
# Usage: work.sh LOG DIR SEED
# Every operation is logged as "begin OP ARGS" before and "done OP ARGS"
# after it returns; daxfs makes metadata durable before returning, so every
# "done" operation must survive the power cut (checked by check.sh).
set -u
LOG=$1 W=$2
RANDOM=$3
files=() dirs=()
log() { printf '%s\n' "$*" >>"$LOG"; }
op() { # op NAME ARGS... -- COMMAND...
  local desc=()
  while [ "$1" != -- ]; do desc+=("$1"); shift; done
  shift
  log "begin ${desc[*]}"
  "$@" || { log "failed ${desc[*]}"; return 1; }
  log "done ${desc[*]}"
}
pick() { # pick ARRAY-NAME: a random index, or -1
  local -n a=$1
  [ ${#a[@]} -gt 0 ] && echo $((RANDOM % ${#a[@]})) || echo -1
}
op mkdir "$W" -- mkdir "$W"
# Data written through a MAP_SYNC mapping (no msync/fsync): durable once the
# writer says "done" (the first cycle is killed right after it).
mapsync() { # mapsync PATH SEED SIZE
  daxfs-datatest mapsync-write "$1" "$3" --seed "$2" >/tmp/mapsync.out 2>&1 &
  local t=0
  until grep -q "^done" /tmp/mapsync.out 2>/dev/null; do
    sleep 0.1; t=$((t + 1)); [ $t -lt 600 ] || return 1
    kill -0 $! 2>/dev/null || return 1
  done
}
op mapsync "$W/ms" "$3:1048576" -- mapsync "$W/ms" "$3" 1048576
i=0
while :; do
  i=$((i + 1))
  case $((RANDOM % 13)) in
  0 | 1 | 2)
    base=$W; k=$(pick dirs); [ "$k" -ge 0 ] && [ $((RANDOM % 2)) = 0 ] && base=${dirs[$k]}
    p=$base/f$i; op create "$p" -- touch "$p" && files+=("$p") ;;
  3 | 4)
    p=$W/d$i; op mkdir "$p" -- mkdir "$p" && dirs+=("$p") ;;
  5)
    p=$W/s$i; op symlink "target-$i" "$p" -- ln -s "target-$i" "$p" ;;
  6)
    k=$(pick files); [ "$k" -ge 0 ] || continue
    p=$W/r$i; op rename "${files[$k]}" "$p" -- mv -T "${files[$k]}" "$p" && files[$k]=$p ;;
  7)
    k=$(pick files); [ "$k" -ge 0 ] || continue
    p=$W/l$i; op link "${files[$k]}" "$p" -- ln "${files[$k]}" "$p" && files+=("$p") ;;
  8 | 9)
    k=$(pick files); [ "$k" -ge 0 ] || continue
    p=${files[$k]}; op unlink "$p" -- rm "$p" && unset "files[$k]" && files=("${files[@]}") ;;
  10)
    k=$(pick dirs); [ "$k" -ge 0 ] || continue
    p=${dirs[$k]}; [ -z "$(ls -A "$p")" ] || continue
    op rmdir "$p" -- rmdir "$p" && unset "dirs[$k]" && dirs=("${dirs[@]}") ;;
  11)
    k=$(pick dirs); [ "$k" -ge 0 ] || continue
    p=$W/m$i; op rename "${dirs[$k]}" "$p" -- mv -T "${dirs[$k]}" "$p" || continue
    old=${dirs[$k]}; dirs[$k]=$p
    # Files below the renamed directory move with it.
    for j in "${!files[@]}"; do [[ ${files[$j]} == "$old"/* ]] && files[$j]=$p${files[$j]#"$old"}; done ;;
  12)
    # File data written with write(2) + fsync.
    p=$W/w$i; sz=$((RANDOM * 8 + 1)); op wfile "$p" "$i:$sz" -- daxfs-datatest fill "$p" "$sz" --seed "$i" ;;
  esac
done

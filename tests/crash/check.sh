#!/bin/bash
# Checks a filesystem after a power cut against the workload log.
# Usage: check.sh LOG DIR     (exit 0 = every completed operation survived)
# Model: path -> kind (f:GROUP, d, s:TARGET); hard links share a GROUP whose
# size must equal the link count.  The single in-flight operation (a
# "begin" without "done") may or may not have happened: the paths it touches
# are not checked strictly.
set -u
LOG=$1 W=$2
[ -f "$LOG" ] || { echo "crash-check: no workload log $LOG"; exit 1; }
declare -A kind=() loose=() gcount=() ginode=()
g=0 pending="" loose_prefix=()
bad() { echo "crash-check: $*"; fail=1; }
fail=0
while read -r state opn a b; do
  case $state in
  begin) pending="$opn $a ${b:-}"; continue ;;
  failed) pending=""; continue ;;
  done) pending="" ;;
  *) continue ;;
  esac
  case $opn in
  mkdir) kind[$a]=d ;;
  create) g=$((g + 1)); kind[$a]=f:$g ;;
  symlink) kind[$b]=s:$a ;;
  wfile | mapsync) kind[$a]=w:$b ;;
  link) kind[$b]=${kind[$a]} ;;
  unlink) unset "kind[$a]" ;;
  rmdir) unset "kind[$a]" ;;
  rename)
    for p in "${!kind[@]}"; do
      if [ "$p" = "$a" ] || [[ $p == "$a"/* ]]; then
        kind[$b${p#"$a"}]=${kind[$p]}; unset "kind[$p]"
      fi
    done ;;
  esac
done <"$LOG"
# Paths (and hard-link groups) the in-flight operation may have changed.
if [ -n "$pending" ]; then
  read -r opn a b <<<"$pending"
  for p in $a ${b:-}; do
    loose[$p]=1
    [[ ${kind[$p]:-} == f:* ]] && loose[${kind[$p]}]=1
    # A directory rename in flight moves everything below it, or not.
    for q in "${!kind[@]}"; do
      if [[ $q == "$p"/* ]]; then
        loose[$q]=1
        [[ ${kind[$q]} == f:* ]] && loose[${kind[$q]}]=1
      fi
    done
    loose_prefix+=("$p/")
  done
  note_pending="in flight: $pending"
  echo "crash-check: $note_pending"
fi
for p in "${!kind[@]}"; do
  [ -n "${loose[$p]:-}" ] && continue
  k=${kind[$p]}
  case $k in
  d) [ -d "$p" ] && [ ! -L "$p" ] || bad "missing directory $p" ;;
  s:*) [ "$(readlink "$p" 2>/dev/null)" = "${k#s:}" ] || bad "symlink $p lost or wrong" ;;
  w:*)
    spec=${k#w:}
    out=$(daxfs-datatest mapsync-check "$p" "${spec#*:}" --seed "${spec%%:*}" 2>&1) || bad "data of $p: $out" ;;
  f:*)
    if [ -f "$p" ] && [ ! -L "$p" ]; then
      gcount[$k]=$(( ${gcount[$k]:-0} + 1 ))
      ino=$(stat -c %i "$p")
      [ -z "${ginode[$k]:-}" ] || [ "${ginode[$k]}" = "$ino" ] || bad "hard links of $p differ"
      ginode[$k]=$ino
    else
      bad "missing file $p"
    fi ;;
  esac
done
for k in "${!gcount[@]}"; do
  [ -n "${loose[$k]:-}" ] && continue
  for p in "${!kind[@]}"; do [ "${kind[$p]}" = "$k" ] && break; done
  n=$(stat -c %h "$p")
  [ "$n" = "${gcount[$k]}" ] || bad "link count of $p is $n, expected ${gcount[$k]}"
done
# Nothing unexpected exists.
if [ -d "$W" ]; then
  while read -r p; do
    under_loose=0
    for lp in "${loose_prefix[@]}"; do [[ $p == "$lp"* ]] && under_loose=1; done
    [ -n "${kind[$p]:-}" ] || [ -n "${loose[$p]:-}" ] || [ $under_loose = 1 ] || bad "unexpected $p"
  done < <(find "$W" -mindepth 1)
elif [ -z "${loose[$W]:-}" ]; then
  bad "workload directory $W missing"
fi
echo "crash-check: ${#kind[@]} paths expected, $(grep -c '^done' "$LOG") operations completed"
exit $fail

#!/usr/bin/env bash
# `make test`: host tests (cargo test of the format code and the tools), then
# the in-VM suite, the power-cut cycles and the bounded crash-state
# exploration (one result: every state clean and every sample mounted).  Prints per-suite counts and a final "N passed, N failed";
# exits non-zero when anything fails.
source "$(dirname "$0")/common.sh"
mkdir -p "$PROJ/build/vm"
hp=0 hf=0 vp=0 vf=0 cp=0 cf=0 sp=0 sf=0 rc=0

log "host tests: cargo test"
"$PROJ/scripts/tools.sh" test 2>&1 | tee "$PROJ/build/host-test.log" || rc=1
read -r hp hf < <(sed -n 's/^test result: .* \([0-9]\+\) passed; \([0-9]\+\) failed.*/\1 \2/p' "$PROJ/build/host-test.log" \
  | awk '{p+=$1; f+=$2} END {print p+0, f+0}')
[ "$rc" = 0 ] || [ "$hf" -gt 0 ] || hf=1   # cargo failed without a count (build error)

log "VM tests"
rm -f "$PROJ/build/vm/summary"
"$PROJ/scripts/vm.sh" test 2>&1 | tr -d '\r' | tee "$PROJ/build/vm/console.log" || rc=1
if read -r vp vf < <(sed -n 's/^\([0-9]\+\) passed, \([0-9]\+\) failed$/\1 \2/p' "$PROJ/build/vm/console.log" | tail -1); then :; fi
vp=${vp:-0}; vf=${vf:-0}
[ "$rc" = 0 ] || [ "$vf" -gt 0 ] || [ "$hf" -gt 0 ] || vf=1   # the VM died without a count

log "power-cut test: ${CRASH_CYCLES:-20} cycles"
"$PROJ/scripts/crashtest.sh" "${CRASH_CYCLES:-20}" "${CRASH_SEED:-1}" 2>&1 | tee "$PROJ/build/crash.log" || rc=1
if read -r cp cf < <(sed -n 's/^crash: \([0-9]\+\) passed, \([0-9]\+\) failed$/\1 \2/p' "$PROJ/build/crash.log"); then :; fi
cp=${cp:-0}; cf=${cf:-0}

log "crash states: the bounded exploration (make crashstates runs every pair)"
if "$PROJ/scripts/crashstates.sh" quick 2>&1 | tee "$PROJ/build/crashstates.log"; then sp=1; else sf=1; rc=1; fi

echo "host: $hp passed, $hf failed"
echo "crash states: $(grep '^crashstates: ' "$PROJ/build/crashstates.log" | tail -1 | sed 's/^crashstates: //')"
echo "crash states: $(grep -a 'crashstates mount-check: ' "$PROJ/build/crashstates.log" | tail -1 | sed 's/^crashstates mount-check: //')"
echo "vm: $vp passed, $vf failed"
echo "crash: $cp passed, $cf failed"
echo "$((hp + vp + cp + sp)) passed, $((hf + vf + cf + sf)) failed"
[ "$rc" = 0 ] && [ $((hf + vf + cf + sf)) = 0 ]

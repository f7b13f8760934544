#!/usr/bin/env bash
# Summarises a benchmark run: bench-report.sh RAW.csv OUTDIR
# Writes OUTDIR/bench.md (Markdown table), OUTDIR/bench.csv and
# OUTDIR/bench.json (medians, min, max per workload and target, and the
# daxfs ratio) and OUTDIR/bench-ratios.png (gnuplot).
# Ratio = daxfs / best of ext4-DAX and XFS-DAX, oriented so that > 1 means
# daxfs is better (for "lower is better" rows it is best / daxfs).
source "$(dirname "$0")/common.sh"
RAW=$1 OUTD=$2
mkdir -p "$OUTD"
host_deps gnuplot-nox
SUM="$OUTD/bench.csv"
# workload,target,n,median,min,max,unit,better  (first-appearance order kept)
awk -F, 'NR > 1 && $4 != "" {
    k = $1 "," $2
    if (!(k in n)) { order[++K] = k; unit[k] = $5; better[k] = $6 }
    v[k, ++n[k]] = $4 + 0
  }
  END {
    print "workload,target,n,median,min,max,unit,better"
    for (i = 1; i <= K; i++) {
      k = order[i]; m = n[k]
      for (a = 1; a <= m; a++) s[a] = v[k, a]
      for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
      med = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
      printf "%s,%d,%g,%g,%g,%s,%s\n", k, m, med, s[1], s[m], unit[k], better[k]
    }
  }' "$RAW" >"$SUM"
# One row per workload: medians (min-max) per target and the ratio.
awk -F, -v md="$OUTD/bench.md" -v js="$OUTD/bench.json" -v dat="$OUTD/bench-ratios.dat" '
  NR > 1 {
    w = $1; t = $2
    if (!(w in seen)) { seen[w] = 1; order[++W] = w; unit[w] = $7; better[w] = $8 }
    med[w, t] = $4; lo[w, t] = $5; hi[w, t] = $6; has[w, t] = 1
  }
  function cell(w, t) { return has[w, t] ? sprintf("%g (%g-%g)", med[w, t], lo[w, t], hi[w, t]) : "-" }
  END {
    print "| workload | unit | daxfs | ext4-DAX | XFS-DAX | raw pmem | daxfs / best other fs | daxfs / raw |" >md
    print "|---|---|---|---|---|---|---|---|" >md
    printf "{\n  \"note\": \"median, min, max over repetitions; ratio > 1 means daxfs is better than the best of ext4-DAX and XFS-DAX\",\n  \"workloads\": [\n" >js
    for (i = 1; i <= W; i++) {
      w = order[i]; best = ""
      for (j = 1; j <= 2; j++) {
        t = (j == 1) ? "ext4" : "xfs"
        if (!has[w, t]) continue
        if (best == "" || (better[w] == "higher" ? med[w, t] > best : med[w, t] < best)) best = med[w, t]
      }
      r = ""
      if (has[w, "daxfs"] && best != "") {
        if (better[w] == "higher") r = best > 0 ? med[w, "daxfs"] / best : ""
        else r = med[w, "daxfs"] > 0 ? best / med[w, "daxfs"] : ""
      }
      rs = (r == "") ? "-" : sprintf("%.2f", r)
      rr = (has[w, "raw"] && has[w, "daxfs"] && med[w, "raw"] > 0) ? sprintf("%.2f", med[w, "daxfs"] / med[w, "raw"]) : "-"
      printf "| %s | %s%s | %s | %s | %s | %s | **%s** | %s |\n", w, unit[w], (better[w] == "lower" ? " (lower is better)" : ""),
        cell(w, "daxfs"), cell(w, "ext4"), cell(w, "xfs"), cell(w, "raw"), rs, rr >md
      printf "    {\"workload\": \"%s\", \"unit\": \"%s\", \"better\": \"%s\", \"ratio\": %s, \"targets\": {", w, unit[w], better[w], (r == "" ? "null" : sprintf("%.4f", r)) >js
      sep = ""
      for (j = 1; j <= 4; j++) {
        t = (j == 1) ? "daxfs" : (j == 2) ? "ext4" : (j == 3) ? "xfs" : "raw"
        if (!has[w, t]) continue
        printf "%s\"%s\": {\"median\": %g, \"min\": %g, \"max\": %g}", sep, t, med[w, t], lo[w, t], hi[w, t] >js
        sep = ", "
      }
      printf "}}%s\n", (i < W ? "," : "") >js
      if (r != "") printf "%d \"%s\" %.4f\n", i - 1, w, r >dat
    }
    print "  ]\n}" >js
  }' "$SUM"
gnuplot <<GP
set terminal pngcairo size 1200,600 font ",10"
set output "$OUTD/bench-ratios.png"
set title "daxfs / best of ext4-DAX and XFS-DAX (median; > 1 = daxfs better)"
set style fill solid 0.8
set boxwidth 0.7
set yrange [0:*]
set xtics rotate by -40 left
set grid ytics
unset key
plot "$OUTD/bench-ratios.dat" using 1:3:xtic(2) with boxes lc rgb "#3060c0", 1 with lines lc rgb "#c03030" lw 2
GP
rm -f "$OUTD/bench-ratios.dat"
log "results: $OUTD/bench.md, bench.csv, bench.json, bench-ratios.png"
cat "$OUTD/bench.md"

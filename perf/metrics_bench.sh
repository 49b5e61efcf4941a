#!/usr/bin/env bash
# perf/run metrics: what the Prometheus exporter costs the dataplane.
#
# The dataplane benchmark's driver (perf/dataplane_bench.cpp: the real DPDK
# worker loop on one worker lcore, net_pcap infinite_rx replaying real mDNS
# frames) runs twice per round, alternately:
#   disabled   no exporter
#   enabled    the exporter (stats/, prometheus-cpp, its own thread) started
#              as the daemon starts it, and scraped over HTTP every second
#              by a thread of the same process (--metrics, --scrape-ms)
# The goal (issue 7): enabled loses at most 2% of the disabled throughput,
# measured in the same run.
#
#   perf/metrics_bench.sh --driver=BUILD/perf/dataplane_bench [options]
#   (perf/run metrics [options] builds the driver and passes --driver)
#
# Options:
#   --rounds=N       disabled/enabled pairs, alternating (default 3); medians
#   --seconds=S      measured window per run (default 5)
#   --warmup=S       before it (default 1)
#   --scrape-ms=MS   scrape period of the enabled runs (default 1000)
#   --capture=FILE   an Ethernet pcap instead of the corpus mDNS mix
#   --keep           keep the temp dir
#
# Rates: the worker's rx_packets over the window per CPU-second of the
# worker lcore (the headline and the JSON line, as in perf/run dataplane:
# on a machine others share, the wall rate swings by tens of percent with
# the CPU the lcore gets, the per-CPU rate does not) and per wall second
# (shown). What the exporter could cost the worker is cache traffic on its
# counters, which the per-CPU rate shows, or CPU time on the worker's core,
# which it would not: the driver prints the CPUs the exporter's threads may
# run on (METRICS_THREADS), and this script fails if one of them may run on
# the worker lcore's CPU (lcore 1 = CPU 1 here).
# Output: a table, then exactly one JSON line (perf/README.md) with
# ratio = enabled / disabled (1.0 = free; >= 0.98 meets the goal).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
corpus="${UPDPROXY_CORPUS:-$root/../shared/corpus}"
driver=""
rounds=3
seconds=5
warmup=1
scrape_ms=1000
capture=""
keep=0
goal=0.98

for arg in "$@"; do
  case "$arg" in
    --driver=*) driver="${arg#*=}" ;;
    --rounds=*) rounds="${arg#*=}" ;;
    --seconds=*) seconds="${arg#*=}" ;;
    --warmup=*) warmup="${arg#*=}" ;;
    --scrape-ms=*) scrape_ms="${arg#*=}" ;;
    --capture=*) capture="${arg#*=}" ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,/^# Output/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "metrics_bench: unknown argument $arg (--help)" >&2; exit 2 ;;
  esac
done
[ -x "$driver" ] || { echo "metrics_bench: --driver=PATH to the built dataplane_bench is required (perf/run metrics does it)" >&2; exit 2; }
[[ "$rounds" =~ ^[0-9]+$ && "$rounds" -ge 1 && "$rounds" -le 20 ]] || { echo "metrics_bench: --rounds: 1..20" >&2; exit 2; }
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 2 && "$seconds" -le 120 ]] || { echo "metrics_bench: --seconds: 2..120" >&2; exit 2; }
[[ "$warmup" =~ ^[0-9]+$ && "$warmup" -le 30 ]] || { echo "metrics_bench: --warmup: 0..30" >&2; exit 2; }
[[ "$scrape_ms" =~ ^[0-9]+$ && "$scrape_ms" -ge 10 ]] || { echo "metrics_bench: --scrape-ms: >= 10" >&2; exit 2; }

tmp="$(mktemp -d /tmp/updproxy-mbench.XXXXXX)"
if [ "$(id -u)" = 0 ]; then dpdk_run=/var/run/dpdk; else dpdk_run="${XDG_RUNTIME_DIR:-/tmp}/dpdk"; fi
cleanup() {
  rm -rf "$dpdk_run"/updproxy-mbench-"$$"-* 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# ---- the capture: every UDP-5353 frame of the corpus's mDNS captures ----
if [ -n "$capture" ]; then
  case "$capture" in *,*) echo "metrics_bench: a capture path may not contain ','" >&2; exit 2 ;; esac
  cp "$capture" "$tmp/capture.pcap"
  what="$capture"
else
  /usr/bin/python3 "$root/perf/corpus_mix.py" "$corpus/pcap" mdns "$tmp/capture.pcap" >/dev/null
  what="corpus mDNS mix (the default of perf/run dataplane)"
fi

run() {  # run ROUND VARIANT
  local i="$1" v="$2" out="$tmp/$2.$1.out" extra=()
  [ "$v" = enabled ] && extra=(--metrics=127.0.0.1:0 --scrape-ms="$scrape_ms")
  if ! timeout -k 5 $((warmup + seconds + 60)) "$driver" --capture="$tmp/capture.pcap" \
      --seconds="$seconds" --warmup="$warmup" --lcores=0,1 \
      --file-prefix="updproxy-mbench-$$-$v-$i" "${extra[@]}" >"$out" 2>&1; then
    echo "metrics_bench: the $v run failed:" >&2
    cat "$out" >&2
    exit 1
  fi
  local res
  res=$(grep '^RESULT ' "$out")
  pps[$v.$i]=$(sed -E 's/.* pps_mean=([0-9.]+).*/\1/' <<<"$res")
  share[$v.$i]=$(sed -E 's/.* cpu_share=([0-9.]+).*/\1/' <<<"$res")
  cpu_pps[$v.$i]=$(awk -v p="${pps[$v.$i]}" -v s="${share[$v.$i]}" 'BEGIN {printf "%.0f", (s > 0 ? p / s : p)}')
  if [ "$v" = enabled ]; then
    local m
    m=$(grep '^METRICS ' "$out" || true)
    [ -n "$m" ] || { echo "metrics_bench: the enabled run printed no METRICS line" >&2; cat "$out" >&2; exit 1; }
    scrapes[$i]=$(sed -E 's/.*scrapes=([0-9]+).*/\1/' <<<"$m")
    failures[$i]=$(sed -E 's/.*failures=([0-9]+).*/\1/' <<<"$m")
    bytes[$i]=$(sed -E 's/.*bytes_per_scrape=([0-9]+).*/\1/' <<<"$m")
    ms[$i]=$(sed -E 's/.*ms_per_scrape=([0-9.]+).*/\1/' <<<"$m")
    threads=$(grep '^METRICS_THREADS ' "$out" | cut -d' ' -f2-)
    local t
    for t in $threads; do
      # comm@cpu-list: the exporter's threads must stay off CPU 1 (the worker's)
      if ! awk -v l="${t##*@}" 'BEGIN { n = split(l, r, ","); for (i = 1; i <= n; i++) {
             split(r[i], ab, "-"); lo = ab[1]; hi = (ab[2] == "") ? ab[1] : ab[2];
             if (lo <= 1 && 1 <= hi) exit 1 } }'; then
        echo "metrics_bench: thread $t may run on the worker lcore's CPU" >&2
        exit 1
      fi
    done
  fi
}

declare -A pps share cpu_pps
declare -a scrapes failures bytes ms
threads=""
for ((r = 0; r < rounds; r++)); do
  # Alternate which goes first, so a drift over time favours neither.
  if ((r % 2 == 0)); then run "$r" disabled; run "$r" enabled; else run "$r" enabled; run "$r" disabled; fi
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
list() { local v="$1" k="$2" r out=""; for ((r = 0; r < rounds; r++)); do eval "out+=\" \${$k[$v.$r]}\""; done; echo "$out"; }
m_dis=$(list disabled pps | median)
m_en=$(list enabled pps | median)
m_dis_cpu=$(list disabled cpu_pps | median)
m_en_cpu=$(list enabled cpu_pps | median)

echo "perf/run metrics: the dataplane worker with the Prometheus exporter off and on (scraped every ${scrape_ms} ms), $rounds round(s), $seconds s each after $warmup s warm-up"
echo "capture: $what"
echo
echo "Mpps per CPU-second of the worker lcore (wall Mpps and the lcore's CPU share in brackets):"
printf "%-7s %26s %26s %9s   %s\n" "round" "disabled" "enabled" "ratio" "scrapes (failed), bytes/scrape, ms/scrape"
for ((r = 0; r < rounds; r++)); do
  awk -v r="$r" -v d="${cpu_pps[disabled.$r]}" -v e="${cpu_pps[enabled.$r]}" \
      -v dw="${pps[disabled.$r]}" -v ew="${pps[enabled.$r]}" -v ds="${share[disabled.$r]}" \
      -v es="${share[enabled.$r]}" -v n="${scrapes[$r]}" \
      -v f="${failures[$r]}" -v b="${bytes[$r]}" -v m="${ms[$r]}" 'BEGIN {
    printf "%-7s %8.3f (%6.3f, %5.3f) %8.3f (%6.3f, %5.3f) %9.4f   %d (%d), %d, %.2f\n", r, d / 1e6, dw / 1e6, ds,
           e / 1e6, ew / 1e6, es, e / d, n, f, b, m }'
done
echo "exporter threads (comm@CPUs): $threads"
echo
awk -v d="$m_dis" -v e="$m_en" -v dc="$m_dis_cpu" -v ec="$m_en_cpu" -v g="$goal" 'BEGIN {
  printf "%-44s %14s %14s %9s\n", "", "disabled", "enabled", "ratio"
  printf "%-50s %12.3f %12.3f %9.4f\n", "Mpps per CPU-second of the worker lcore (headline)", dc / 1e6, ec / 1e6, ec / dc
  printf "%-50s %12.3f %12.3f %9.4f\n", "Mpps, wall (medians; noisy on a shared machine)", d / 1e6, e / 1e6, e / d
  printf "\nthroughput loss with metrics enabled: %.2f%% (goal <= %.0f%%: %s)\n", 100 * (1 - ec / dc), 100 * (1 - g),
         (ec / dc >= g) ? "met" : "NOT met"
  printf "(the exporter and the scraper run on the main lcore'"'"'s CPU; the worker only has its counter\n"
  printf " cache lines read once per scrape. Run-to-run noise is about +-2%%: --rounds=N narrows it)\n"
}'
awk -v d="$m_dis_cpu" -v e="$m_en_cpu" 'BEGIN {
  printf "{\"bench\": \"metrics\", \"metric\": \"packets_per_second\", \"unit\": \"pps\", \"value\": %.0f, \"peer\": \"same dataplane, metrics disabled\", \"peer_value\": %.0f, \"ratio\": %.4f}\n", e, d, e / d
}'

#!/usr/bin/env bash
# perf/run dataplane: packets per second through the real dataplane (DPDK
# worker loop -> classify -> link lookup + RFC 6762 §11 checks -> codec parse
# -> the worker's shard of the service table) on ONE worker lcore, against
# dpdk-testpmd --forward-mode=rxonly (receive and free, nothing else) on the
# identical net_pcap vdev: the I/O ceiling of that vdev on this machine.
#
#   perf/dataplane_bench.sh --driver=BUILD/perf/dataplane_bench [options]
#   (perf/run dataplane [options] builds the driver and passes --driver)
#
# Options:
#   --mix=mdns       (default) every UDP-5353 frame of the corpus's mDNS
#                    captures ndpi/*_mdns-only and zeek/mdns*, concatenated in
#                    file order: real frames only, written to a temp dir.
#                    ~10% carry IP TTL 1 (gnutella, part of telegram) and are
#                    dropped by the RFC 6762 §11 check, as in production
#   --mix=link       the mdns mix plus every multicast/broadcast frame of
#                    wireshark/dns-mdns.pcap (its mDNS, all sent with TTL 1,
#                    and ARP, ND, MLD, IGMP, DHCP): what a promiscuous port
#                    on a real link also receives
#   --mix=telegram   ndpi/telegram_mdns-only.pcap alone (the largest capture)
#   --capture=FILE   any Ethernet pcap instead of a mix
#   --seconds=S      measured window per run (default 5)
#   --warmup=S       before it (default 1)
#   --rounds=N       alternate testpmd and ours N times; medians (default 1)
#   --keep           keep the temp dir (the mix capture, the raw outputs)
#
# Both run `-l 0,1 --no-huge --no-shconf -m 1024 --no-pci` with their own
# --file-prefix, one forwarding/worker lcore (lcore 1), burst 32, the vdev
# `net_pcapN,rx_pcap=FILE,infinite_rx=1`; each stops by itself (testpmd by
# SIGINT from `timeout`, ours after its window). Rates are means over the
# window after the warm-up: of testpmd's own --stats-period=1 Rx-pps samples,
# and of the worker's rx_packets counter. The lcore thread's CPU share
# (schedstat run time / wall) is measured for both, since a busy machine
# steals time from either; the headline and the JSON line are the rates per
# CPU-second of the lcore (rate / share; for ours exactly rx_packets / worker
# CPU time), which equal the wall rates on an idle machine. With --rounds,
# each figure is the median over the rounds.
#
# Output: a table, then exactly one JSON line (perf/README.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
corpus="${UPDPROXY_CORPUS:-$root/../shared/corpus}"
driver=""
mix="mdns"
capture=""
seconds=5
warmup=1
rounds=1
keep=0
goal_ratio=0.5
goal_mpps=3.4

for arg in "$@"; do
  case "$arg" in
    --driver=*) driver="${arg#*=}" ;;
    --mix=*) mix="${arg#*=}" ;;
    --capture=*) capture="${arg#*=}" ;;
    --seconds=*) seconds="${arg#*=}" ;;
    --warmup=*) warmup="${arg#*=}" ;;
    --rounds=*) rounds="${arg#*=}" ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,/^# Output/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "dataplane_bench: unknown argument $arg (--help)" >&2; exit 2 ;;
  esac
done
[ -x "$driver" ] || { echo "dataplane_bench: --driver=PATH to the built dataplane_bench is required (perf/run dataplane does it)" >&2; exit 2; }
testpmd="$(command -v dpdk-testpmd || true)"
[ -n "$testpmd" ] || { echo "dataplane_bench: dpdk-testpmd not found (Debian package dpdk-dev)" >&2; exit 1; }
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 && "$seconds" -le 120 ]] || { echo "dataplane_bench: --seconds: 1..120" >&2; exit 2; }
[[ "$warmup" =~ ^[0-9]+$ && "$warmup" -le 30 ]] || { echo "dataplane_bench: --warmup: 0..30" >&2; exit 2; }
[[ "$rounds" =~ ^[0-9]+$ && "$rounds" -ge 1 && "$rounds" -le 20 ]] || { echo "dataplane_bench: --rounds: 1..20" >&2; exit 2; }

tmp="$(mktemp -d /tmp/updproxy-dpbench.XXXXXX)"
# The EALs' runtime directories (empty with --no-shconf, one per
# --file-prefix): only the ones this run named.
if [ "$(id -u)" = 0 ]; then dpdk_run=/var/run/dpdk; else dpdk_run="${XDG_RUNTIME_DIR:-/tmp}/dpdk"; fi
cleanup() {
  rm -rf "$dpdk_run"/updproxy-dpbench-"$$"-* "$dpdk_run"/updproxy-dpbench-tp-"$$"-* 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# ---- the capture ----
if [ -n "$capture" ]; then
  [ -r "$capture" ] || { echo "dataplane_bench: cannot read $capture" >&2; exit 1; }
  case "$capture" in *,*) echo "dataplane_bench: a capture path may not contain ','" >&2; exit 2 ;; esac
  cp "$capture" "$tmp/capture.pcap"
  what="$capture"
else
  case "$mix" in
    mdns|link|telegram) ;;
    *) echo "dataplane_bench: --mix: mdns, link or telegram" >&2; exit 2 ;;
  esac
  /usr/bin/python3 "$root/perf/corpus_mix.py" "$corpus/pcap" "$mix" "$tmp/capture.pcap" >"$tmp/mix.txt"
  what="corpus mix '$mix' (real frames, concatenated)"
fi
cap="$tmp/capture.pcap"

# ---- one run each ----
# The lcore thread's ns on CPU (schedstat) for a process: EAL worker threads
# are named lcore-worker-N (DPDK 22.11).
worker_cpu_ns() {
  local pid="$1" t
  pid=$(pgrep -P "$pid" | head -n 1)   # timeout's child: testpmd
  [ -n "$pid" ] || { echo 0; return; }
  for t in /proc/"$pid"/task/*; do
    if grep -q worker "$t/comm" 2>/dev/null; then
      cut -d' ' -f1 "$t/schedstat"
      return
    fi
  done
  echo 0
}
now_ns() { date +%s%N; }

run_testpmd() {
  local i="$1" out="$tmp/testpmd.$1.out" pid c0 t0 c1 t1
  timeout -k 5 -s INT $((warmup + seconds + 3)) "$testpmd" -l 0,1 --no-huge --no-shconf -m 1024 \
    --no-pci --file-prefix "updproxy-dpbench-tp-$$-$i" --log-level=pmd:error \
    --vdev "net_pcap_tp0,rx_pcap=$cap,infinite_rx=1" -- \
    --forward-mode=rxonly --nb-cores=1 --rxq=1 --txq=1 --burst=32 --stats-period=1 \
    </dev/null >"$out" 2>&1 &
  pid=$!
  sleep $((warmup + 1))
  c0=$(worker_cpu_ns "$pid"); t0=$(now_ns)
  sleep "$seconds"
  c1=$(worker_cpu_ns "$pid"); t1=$(now_ns)
  wait "$pid" || true   # 124: stopped by timeout's SIGINT, as intended
  # Rx-pps samples, skipping the start line and the warm-up seconds.
  local samples
  samples=$(awk '/Rx-pps:/ {print $2}' "$out" | tail -n +$((warmup + 2)) | head -n "$seconds")
  if [ -z "$samples" ]; then
    echo "dataplane_bench: testpmd printed no Rx-pps (see below)" >&2
    tail -n 30 "$out" >&2
    exit 1
  fi
  tp_samples[$i]="$(echo $samples)"
  tp_pps[$i]=$(echo "$samples" | awk '{s += $1} END {printf "%.0f", s / NR}')
  # (1 when the thread could not be read: then the rate is not corrected)
  tp_share[$i]=$(awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.3f", (t > 0 && c > 0) ? c / t : 1}')
}

run_ours() {
  local i="$1" out="$tmp/ours.$1.out"
  if ! timeout -k 5 $((warmup + seconds + 60)) "$driver" --capture="$cap" --seconds="$seconds" \
      --warmup="$warmup" --lcores=0,1 --file-prefix="updproxy-dpbench-$$-$i" >"$out" 2>&1; then
    echo "dataplane_bench: our run failed:" >&2
    cat "$out" >&2
    exit 1
  fi
  local res
  res=$(grep '^RESULT ' "$out")
  ours_pps[$i]=$(sed -E 's/.* pps_mean=([0-9.]+).*/\1/' <<<"$res")
  ours_ns[$i]=$(sed -E 's/.* ns_per_packet=([0-9.]+).*/\1/' <<<"$res")
  ours_msg_ns[$i]=$(sed -E 's/.* ns_per_message=([0-9.]+).*/\1/' <<<"$res")
  ours_mdns[$i]=$(sed -E 's/.* mdns_per_s=([0-9.]+).*/\1/' <<<"$res")
  ours_share[$i]=$(sed -E 's/.* cpu_share=([0-9.]+).*/\1/' <<<"$res")
}

declare -a tp_pps tp_share tp_samples ours_pps ours_ns ours_msg_ns ours_mdns ours_share
for ((r = 0; r < rounds; r++)); do
  run_testpmd "$r"
  run_ours "$r"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# per round: the rate per CPU-second of the lcore (rate / share)
declare -a tp_cpu ours_cpu
for ((r = 0; r < rounds; r++)); do
  tp_cpu[$r]=$(awk -v p="${tp_pps[$r]}" -v s="${tp_share[$r]}" 'BEGIN {printf "%.0f", p / s}')
  ours_cpu[$r]=$(awk -v p="${ours_pps[$r]}" -v s="${ours_share[$r]}" 'BEGIN {printf "%.0f", p / s}')
done

m_tp=$(echo "${tp_pps[*]}" | median)
m_tp_share=$(echo "${tp_share[*]}" | median)
m_tp_cpu=$(echo "${tp_cpu[*]}" | median)
m_ours=$(echo "${ours_pps[*]}" | median)
m_ours_cpu=$(echo "${ours_cpu[*]}" | median)
m_ns=$(echo "${ours_ns[*]}" | median)
m_msg_ns=$(echo "${ours_msg_ns[*]}" | median)
m_mdns=$(echo "${ours_mdns[*]}" | median)
m_share=$(echo "${ours_share[*]}" | median)

# ---- report ----
echo "perf/run dataplane: one worker lcore, net_pcap infinite_rx, $seconds s measured after $warmup s warm-up, $rounds round(s)"
echo "capture: $what"
[ -f "$tmp/mix.txt" ] && cat "$tmp/mix.txt"
echo
echo "our worker, last round (perf/dataplane_bench.cpp):"
sed -n '/^worker lcore/,/^RESULT/p' "$tmp/ours.$((rounds - 1)).out" | grep -v '^RESULT' | sed 's/^/  /'
echo
echo "testpmd rxonly Rx-pps samples (Mpps), per round:"
for ((r = 0; r < rounds; r++)); do
  echo "  round $r: $(for s in ${tp_samples[$r]}; do awk -v s="$s" 'BEGIN {printf "%.3f ", s / 1e6}'; done)(lcore CPU share ${tp_share[$r]})"
done
echo
# Headline: packets per CPU-second of the one lcore (= the wall rate on an
# idle machine; on a shared one, the rate each side gets per core it runs on).
awk -v o="$m_ours" -v t="$m_tp" -v ns="$m_ns" -v mns="$m_msg_ns" -v md="$m_mdns" \
    -v os="$m_share" -v ts="$m_tp_share" -v oc="$m_ours_cpu" -v tc="$m_tp_cpu" \
    -v gr="$goal_ratio" -v gm="$goal_mpps" 'BEGIN {
  printf "%-44s %14s %14s\n", "", "ours", "testpmd rxonly"
  printf "%-44s %14.3f %14.3f\n", "Mpps, wall (mean over the window)", o / 1e6, t / 1e6
  printf "%-44s %14.3f %14.3f\n", "lcore CPU share of wall (schedstat)", os, ts
  printf "%-44s %14.3f %14.3f\n", "Mpps per CPU-second of the lcore (headline)", oc / 1e6, tc / 1e6
  printf "%-44s %14.1f %14.1f\n", "CPU ns per packet", ns, 1e9 / tc
  printf "%-44s %14.1f %14s\n", "CPU ns per mDNS message parsed", mns, "-"
  printf "%-44s %14.3f %14s\n", "mDNS messages parsed, M/s (wall)", md / 1e6, "-"
  printf "\nratio ours/testpmd: %.3f (goal >= %.2f: %s); ours %.3f Mpps per core (goal >= %.1f: %s)\n",
         oc / tc, gr, (oc / tc >= gr) ? "met" : "NOT met", oc / 1e6, gm, (oc / 1e6 >= gm) ? "met" : "NOT met"
  if (os < 0.9 || ts < 0.9)
    printf "note: the machine is busy (an lcore got < 90%% of a CPU): compare the per-CPU-second rows\n"
  printf "steady state: infinite_rx replays the same frames, so after the first pass every announcement\n"
  printf "is a refresh of a record already in the table (no adds except re-adds after goodbyes).\n"
}'
awk -v oc="$m_ours_cpu" -v tc="$m_tp_cpu" 'BEGIN {
  printf "{\"bench\": \"dataplane\", \"metric\": \"packets_per_second\", \"unit\": \"pps\", \"value\": %.0f, \"peer\": \"dpdk-testpmd rxonly\", \"peer_value\": %.0f, \"ratio\": %.4f}\n", oc, tc, oc / tc
}'

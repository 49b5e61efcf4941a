#!/usr/bin/env bash
# perf/query_bench.sh — unicast query answering: updproxy's embedded
# authoritative service vs Knot DNS and BIND 9 serving the identical zone to
# the identical dnsperf client and query mix, all on 127.0.0.1.
#
#   perf/query_bench.sh [--server PATH] [--seconds N] [--rounds N]
#                       [--clients N] [--outstanding N] [--latency-qps N] [--nice N]
#
# Builds nothing: the updproxy-zone-server binary comes from --server, or
# $UPDPROXY_PERF_BUILD/control/zone/, or build-perf/control/zone/ (perf/run
# builds it there). Needs dnsperf, knotd and named (scripts/install-deps.sh).
#
# Setup, the same for the three servers:
#   - one core for the server (CPU 1), the other for dnsperf (CPU 0), both
#     at nice --nice (default -10, when allowed) so that other work on a
#     shared machine disturbs the measurement less. Ours
#     runs its dedicated UDP thread (--udp-thread); Knot runs one UDP worker
#     (udp-workers: 1) and BIND one worker thread (-n 1). Knot pins its UDP
#     workers to CPUs itself (worker i on CPU i, whatever the inherited
#     affinity), which would put its worker on dnsperf's core; every thread of
#     every server is therefore re-pinned to the server core after start.
#   - the zone: 200 DNS-SD service instances (PTR, SRV, TXT; A and AAAA of
#     their hosts) in 20 service types, browse and service-enumeration PTRs;
#   - the query mix (one file, shuffled once, every server gets the same):
#     SRV 25%, TXT 20%, A 15%, AAAA 15%, PTR browse 10%, NXDOMAIN 8%,
#     NODATA 5%, SOA 2%; EDNS(0) on (dnsperf -e).
#   - throughput: dnsperf for --seconds (default 5) per server per round,
#     servers interleaved, --rounds (default 3) rounds, median reported; the
#     server's own CPU time (all threads, from /proc) gives queries per
#     CPU-second, which does not depend on how fast the client can go.
#   - latency: one more run per server at a fixed rate (--latency-qps,
#     default 20000 q/s, below every server's capacity) with per-query
#     timing (dnsperf -v): p50, p90, p99, p99.9.
# Ends with one JSON line (perf/README.md): qps of ours vs knotd.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${UPDPROXY_PERF_BUILD:-$root/build-perf}"
server=""
seconds=5
rounds=3
clients=16
outstanding=1000
latency_qps=20000
nice_level=-10

while [ $# -gt 0 ]; do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --outstanding) outstanding="$2"; shift 2 ;;
    --latency-qps) latency_qps="$2"; shift 2 ;;
    --nice) nice_level="$2"; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "query_bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$server" ] || server="$build/control/zone/updproxy-zone-server"
if [ ! -x "$server" ]; then
  echo "query_bench: no server binary at $server (perf/run query builds it, or pass --server)" >&2
  exit 1
fi
named_bin="$(command -v named || echo /usr/sbin/named)"
knotd_bin="$(command -v knotd || echo /usr/sbin/knotd)"
for t in dnsperf "$knotd_bin" "$named_bin"; do
  if ! command -v "$t" >/dev/null 2>&1; then
    echo "query_bench: $t not found (Debian: dnsperf, knot, bind9; scripts/install-deps.sh)" >&2
    exit 1
  fi
done

# Two cores: server on CPU 1, client on CPU 0. One core: no pinning (and
# the numbers mean little).
if [ "$(nproc)" -ge 2 ]; then
  srv_cpu=1; cli_cpu=0
  pin_srv=(taskset -c "$srv_cpu"); pin_cli=(taskset -c "$cli_cpu")
else
  echo "query_bench: one CPU only: server and client share it" >&2
  srv_cpu=""; pin_srv=(); pin_cli=()
fi
# A higher priority needs root; without it, run at the normal one.
if [ "$nice_level" != 0 ] && nice -n "$nice_level" true 2>/dev/null &&
   [ "$(nice -n "$nice_level" nice)" = "$nice_level" ]; then
  pin_srv=(nice -n "$nice_level" "${pin_srv[@]}"); pin_cli=(nice -n "$nice_level" "${pin_cli[@]}")
else
  nice_level=0
fi

tmp="$(mktemp -d /tmp/updproxy-qbench.XXXXXX)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

zone="$tmp/lab.example.edu.zone"
queries="$tmp/queries.txt"

# ---- the zone and the query mix (deterministic) ------------------------------
/usr/bin/python3 - "$zone" "$queries" <<'EOF'
import random, sys
zone, queries = sys.argv[1], sys.argv[2]
types = ["_ipp._tcp", "_ipps._tcp", "_printer._tcp", "_pdl-datastream._tcp", "_http._tcp",
         "_https._tcp", "_airplay._tcp", "_raop._tcp", "_googlecast._tcp", "_spotify-connect._tcp",
         "_smb._tcp", "_afpovertcp._tcp", "_ssh._tcp", "_sftp-ssh._tcp", "_scanner._tcp",
         "_uscan._tcp", "_companion-link._tcp", "_homekit._tcp", "_hap._tcp", "_daap._tcp"]
L = ["$ORIGIN lab.example.edu.", "$TTL 120",
     "@ 3600 IN SOA ns1 hostmaster 1 3600 600 86400 60", "@ 3600 IN NS ns1",
     "ns1 IN A 127.0.0.1", "b._dns-sd._udp IN PTR @", "lb._dns-sd._udp IN PTR @"]
inst, hosts = [], []
for t in types:
    L.append("_services._dns-sd._udp IN PTR %s" % t)
for i in range(200):
    t = types[i % len(types)]
    name = "Device-%03d.%s" % (i, t)
    host = "host-%03d" % i
    inst.append(name); hosts.append(host)
    L.append("%s IN PTR %s" % (t, name))
    L.append("%s IN SRV 0 0 %d %s" % (name, 1000 + i, host))
    L.append('%s IN TXT "txtvers=1" "model=Model %d" "note=bench"' % (name, i))
    L.append("%s IN A 198.51.100.%d" % (host, i % 250 + 1) if i < 100 else
             "%s IN A 203.0.113.%d" % (host, i % 250 + 1))
    L.append("%s IN AAAA 2001:db8::%x" % (host, i + 1))
open(zone, "w").write("\n".join(L) + "\n")
rnd = random.Random(6)
Z = ".lab.example.edu"
mix = []
for _ in range(20000):
    x = rnd.random()
    i = rnd.randrange(200)
    if x < 0.25: mix.append("%s%s SRV" % (inst[i], Z))
    elif x < 0.45: mix.append("%s%s TXT" % (inst[i], Z))
    elif x < 0.60: mix.append("%s%s A" % (hosts[i], Z))
    elif x < 0.75: mix.append("%s%s AAAA" % (hosts[i], Z))
    elif x < 0.85: mix.append("%s%s PTR" % (types[i % 20], Z))
    elif x < 0.93: mix.append("nohost-%d%s A" % (i, Z))
    elif x < 0.98: mix.append("%s%s TXT" % (hosts[i], Z))
    else: mix.append("lab.example.edu SOA")
open(queries, "w").write("\n".join(mix) + "\n")
EOF

free_port() {
  /usr/bin/python3 -c 'import socket
for _ in range(50):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: t.close(); u.close()'
}

wait_ready() {  # PORT NAME
  local i
  for i in $(seq 1 100); do
    if dig @127.0.0.1 -p "$1" +short +time=1 +tries=1 lab.example.edu SOA 2>/dev/null | grep -q .; then
      return 0
    fi
    sleep 0.1
  done
  echo "query_bench: $2 does not answer on port $1" >&2
  return 1
}

pin_all() {  # PID: every thread onto the server core
  [ -n "$srv_cpu" ] && taskset -a -p -c "$srv_cpu" "$1" >/dev/null
  return 0
}

# ---- servers ---------------------------------------------------------------
p_ours=$(free_port)
"${pin_srv[@]}" "$server" --zone "$zone" --listen "127.0.0.1#$p_ours" --udp-thread --quiet \
  >"$tmp/ours.out" 2>"$tmp/ours.err" &
pid_ours=$!; pids+=("$pid_ours")

p_knot=$(free_port)
mkdir -p "$tmp/knot"
cat >"$tmp/knot/knot.conf" <<EOF
server:
    listen: 127.0.0.1@$p_knot
    rundir: $tmp/knot
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: $tmp/knot/db
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: $tmp/knot
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: lab.example.edu.
    file: $zone
EOF
"${pin_srv[@]}" "$knotd_bin" -c "$tmp/knot/knot.conf" -s "$tmp/knot/knot.sock" \
  >"$tmp/knot.log" 2>&1 &
pid_knot=$!; pids+=("$pid_knot")

p_bind=$(free_port)
mkdir -p "$tmp/bind"
cat >"$tmp/bind/named.conf" <<EOF
options {
    directory "$tmp/bind";
    pid-file "$tmp/bind/named.pid";
    listen-on port $p_bind { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify no;
};
controls { };
zone "lab.example.edu" { type primary; file "$zone"; };
EOF
"${pin_srv[@]}" "$named_bin" -g -n 1 -u root -c "$tmp/bind/named.conf" >"$tmp/bind.log" 2>&1 &
pid_bind=$!; pids+=("$pid_bind")

wait_ready "$p_ours" updproxy-zone-server
wait_ready "$p_knot" knotd
wait_ready "$p_bind" named
for p in "$pid_ours" "$pid_knot" "$pid_bind"; do pin_all "$p"; done

cpu_ticks() {  # PID -> utime+stime of all threads, clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}
sys_ticks() {  # PID -> stime of all threads (the kernel's share), clock ticks
  awk '{print $15}' "/proc/$1/stat"
}
tick_hz=$(getconf CLK_TCK)

declare -A qps_runs cpq_runs lat_avg sys_runs
run_throughput() {  # NAME PORT PID
  local out t0 t1 q s0 s1
  t0=$(cpu_ticks "$3")
  s0=$(sys_ticks "$3")
  out=$("${pin_cli[@]}" dnsperf -s 127.0.0.1 -p "$2" -d "$queries" -l "$seconds" -c "$clients" \
        -q "$outstanding" -e -t 2 2>&1 || true)
  t1=$(cpu_ticks "$3")
  s1=$(sys_ticks "$3")
  q=$(awk '/Queries per second/ {print $4}' <<<"$out")
  local done_q
  done_q=$(awk '/Queries completed/ {print $3}' <<<"$out")
  [ -n "$q" ] || { echo "query_bench: dnsperf against $1 failed:" >&2; echo "$out" >&2; exit 1; }
  qps_runs[$1]+="$q "
  # queries completed per CPU-second of the server
  cpq_runs[$1]+="$(awk -v n="$done_q" -v t=$((t1 - t0)) -v hz="$tick_hz" \
      'BEGIN { if (t > 0) printf "%.0f", n / (t / hz); else print 0 }') "
  lat_avg[$1]+="$(awk '/Average Latency/ {print $4}' <<<"$out") "
  sys_runs[$1]+="$(awk -v s=$((s1 - s0)) -v t=$((t1 - t0)) \
      'BEGIN { if (t > 0) printf "%.0f", 100 * s / t; else print 0 }') "
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "query_bench: zone of $(grep -c . "$zone") records, $(wc -l <"$queries") queries in the mix," \
     "$rounds rounds x ${seconds}s per server, dnsperf -c $clients -q $outstanding -e" >&2
for r in $(seq 1 "$rounds"); do
  run_throughput ours "$p_ours" "$pid_ours"
  run_throughput knotd "$p_knot" "$pid_knot"
  run_throughput named "$p_bind" "$pid_bind"
  last() { awk '{print $NF}' <<<"$1"; }
  echo "query_bench: round $r: ours $(last "${qps_runs[ours]}") knotd $(last "${qps_runs[knotd]}")" \
       "named $(last "${qps_runs[named]}") q/s" >&2
done

declare -A lat
run_latency() {  # NAME PORT
  local l
  l=$("${pin_cli[@]}" dnsperf -s 127.0.0.1 -p "$2" -d "$queries" -l 3 -c "$clients" \
        -Q "$latency_qps" -e -t 2 -v 2>/dev/null | awk '/^> / {print $NF * 1e6}' | sort -g |
      awk '{a[NR]=$1} END { if (NR == 0) { print "- - - -"; exit }
           printf "%.0f %.0f %.0f %.0f", a[int(NR*0.50)+1], a[int(NR*0.90)+1], a[int(NR*0.99)+1],
                  a[int(NR*0.999)+1] }')
  lat[$1]="$l"
}
run_latency ours "$p_ours"
run_latency knotd "$p_knot"
run_latency named "$p_bind"

q_ours=$(median <<<"${qps_runs[ours]}")
q_knot=$(median <<<"${qps_runs[knotd]}")
q_bind=$(median <<<"${qps_runs[named]}")
printf '\n%-22s %12s %9s %14s %9s %6s %10s %8s %8s %8s %8s\n' server "qps(median)" "vs ours" \
  "q/CPU-second" "vs ours" "sys%" "avg(us)" "p50(us)" "p90(us)" "p99(us)" "p99.9(us)"
for s in ours knotd named; do
  q=$(median <<<"${qps_runs[$s]}")
  c=$(median <<<"${cpq_runs[$s]}")
  a=$(median <<<"${lat_avg[$s]}")
  c_ours=$(median <<<"${cpq_runs[ours]}")
  read -r p50 p90 p99 p999 <<<"${lat[$s]}"
  label=$s
  [ "$s" = ours ] && label="updproxy-zone-server"
  [ "$s" = knotd ] && label="knotd $("$knotd_bin" -V | awk '{print $NF}')"
  [ "$s" = named ] && label="named $("$named_bin" -v | awk '{split($2, v, "-"); print v[1]}')"
  printf '%-22s %12.0f %9s %14.0f %9s %6s %10.0f %8s %8s %8s %8s\n' "$label" "$q" \
    "$(awk -v a="$q_ours" -v b="$q" 'BEGIN { printf "%.2fx", a / b }')" "$c" \
    "$(awk -v a="$c_ours" -v b="$c" 'BEGIN { printf "%.2fx", a / b }')" \
    "$(median <<<"${sys_runs[$s]}")" \
    "$(awk -v x="$a" 'BEGIN { print x * 1e6 }')" "$p50" "$p90" "$p99" "$p999"
done
cat <<EOF

qps: dnsperf's completed queries per second (median of $rounds runs of ${seconds}s);
"vs ours" is ours / theirs (> 1: we are faster). q/CPU-second: completed queries
per second of the server's own CPU time (user + system, all threads), the
capacity of one fully busy core, independent of the client's speed (dnsperf on
one core is often the limit). sys%: the share of that CPU time spent in the
kernel (UDP receive and send, loopback delivery); what is left is the
server's own answering. Latency percentiles at a fixed ${latency_qps} q/s.
Server core: CPU ${srv_cpu:-shared}; client core: CPU ${cli_cpu:-shared}; nice ${nice_level}.
On a shared or busy machine the absolute numbers move; compare the ratios.
EOF
awk -v o="$q_ours" -v k="$q_knot" 'BEGIN {
  printf "{\"bench\": \"query\", \"metric\": \"qps\", \"unit\": \"queries/s\", \"value\": %.0f, \"peer\": \"knotd\", \"peer_value\": %.0f, \"ratio\": %.3f}\n", o, k, o / k }'
: "$q_bind"

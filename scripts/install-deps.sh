#!/usr/bin/env bash
# Installs every Debian 12 package that updproxy's build, tests and benchmarks use.
# Idempotent: packages already present are left as they are. Run as root.
set -euo pipefail

packages=(
  # build
  build-essential g++ clang lld meson ninja-build pkg-config git ca-certificates
  # libraries the targets link
  libssl-dev libpcap-dev libgtest-dev libgmock-dev libbenchmark-dev libknot-dev
  nlohmann-json3-dev libcli11-dev libyaml-cpp-dev libtbb-dev libjemalloc-dev
  libdpdk-dev dpdk dpdk-dev libspdlog-dev prometheus-cpp-dev
  # metrics: promtool and a real Prometheus server for the scrape test
  prometheus
  # sanitizer / fuzzer runtimes for clang builds
  libclang-rt-14-dev
  # real peers used by system tests
  bind9 bind9-utils bind9-dnsutils knot knot-dnsutils dnsperf
  # python side of tests (Debian's interpreter: /usr/bin/python3)
  python3 python3-dnspython python3-scapy python3-zeroconf
  # live system tests: network namespaces, a real mDNS responder, capture
  iproute2 avahi-daemon avahi-utils tcpdump
  # the campus client's own system bus for avahi-browse (tests/campus/)
  dbus-daemon
  # lint
  clang-format clang-tidy
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get needs it)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Packages that start system services (named on port 53, avahi-daemon on the
# host's interfaces, prometheus on :9090): the tests run their own instances.
if command -v systemctl >/dev/null 2>&1; then
  for svc in named avahi-daemon prometheus prometheus-node-exporter knot; do
    if systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
  done
fi
echo "install-deps: done"

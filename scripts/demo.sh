#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and runs the
# campus demo (scripts/campus.py): a simulated campus in network namespaces
# (three subnets, IPv4 and IPv6, real avahi-daemon and python-zeroconf
# responders), the proxy on one DPDK port per subnet publishing into a real
# BIND, and a client namespace browsing them with unicast DNS-SD (dig, and
# avahi-browse through a wide-area avahi-daemon). It prints what the proxy
# discovered per subnet and the client's browse, then keeps running with the
# metrics URL printed until Ctrl-C.
#
#   scripts/demo.sh [--for SECONDS] [--primary bind|knot|embedded] [--metrics-port PORT]
#
# Root (apt, network namespaces). UPDPROXY_BUILD names the build directory
# (default: build). Everything it starts is stopped and every namespace it
# made is removed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/demo.sh: run as root (it installs packages and creates network namespaces)" >&2
  exit 1
fi
bash scripts/install-deps.sh
build=${UPDPROXY_BUILD:-build}
[ -d "$build" ] || meson setup "$build" >/dev/null
echo "demo: building in $build/ (ninja)"
ninja -C "$build" >/dev/null
exec /usr/bin/python3 scripts/campus.py --binary "$build/control/updproxy" "$@"

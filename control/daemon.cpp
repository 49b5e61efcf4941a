#include "control/daemon.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "codec/present.hpp"
#include "codec/types.hpp"
#include "control/config/config.hpp"
#include "control/control_plane.hpp"
#include "control/dataplane_options.hpp"
#include "control/decode_command.hpp"
#include "control/mdns_query.hpp"
#include "control/record_format.hpp"
#include "control/record_store.hpp"
#include "dataplane/dpdk_dataplane.hpp"

namespace updproxy::control {

namespace {

std::string json_str(std::string_view s) {
    std::string out;
    codec::append_json_string(out, s);
    return out;
}

class Daemon {
public:
    Daemon(const config::Config& cfg, dataplane::Dataplane& dp, ControlPlane& cp, std::ostream& log)
        : cfg_(cfg), dp_(dp), cp_(cp), log_(log), drops_seen_(dp.worker_count(), 0) {}

    bool open_control_socket(const std::string& path, std::string* error) {
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
        ctl_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        if (path.size() >= sizeof a.sun_path) {
            *error = "control socket path too long: " + path;
            return false;
        }
        std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
        unlink(path.c_str());
        if (bind(ctl_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(ctl_, 16) != 0) {
            *error = "control socket " + path + ": " + std::strerror(errno);
            return false;
        }
        chmod(path.c_str(), 0660);
        ctl_path_ = path;
        return true;
    }

    ~Daemon() {
        if (ctl_ >= 0) {
            close(ctl_);
            unlink(ctl_path_.c_str());
        }
    }

    void start() {
        start_ms_ = dataplane::monotonic_ms();
        cp_.start();
        // Active discovery (keep-alive refresh queries, enumeration cycles)
        // runs in the control plane's own loop step.
        cp_.enable_discovery(dp_, DiscoveryOptions{});
    }

    // Runs until `stop` says so. `sigfd` readable = a signal arrived.
    int loop(int sigfd, double for_seconds) {
        const uint64_t deadline =
            for_seconds > 0 ? start_ms_ + static_cast<uint64_t>(for_seconds * 1000) : UINT64_MAX;
        for (;;) {
            bool busy = drain();
            if (dataplane::monotonic_ms() >= deadline) return 0;
            std::vector<pollfd> fds;
            fds.push_back({sigfd, POLLIN, 0});
            if (ctl_ >= 0) fds.push_back({ctl_, POLLIN, 0});
            for (size_t w = 0; w < dp_.worker_count(); ++w) {
                if (!dp_.events(w).prepare_wait()) busy = true;
                if (!dp_.queries(w).prepare_wait()) busy = true;
                fds.push_back({dp_.events(w).fd(), POLLIN, 0});
                fds.push_back({dp_.queries(w).fd(), POLLIN, 0});
            }
            cp_.add_pollfds(fds);
            const int timeout = busy ? 0 : cp_.timeout_ms(dataplane::monotonic_ms(), 100);
            const int n = poll(fds.data(), fds.size(), timeout);
            for (size_t w = 0; w < dp_.worker_count(); ++w) {
                dp_.events(w).clear_wakeup();
                dp_.queries(w).clear_wakeup();
            }
            cp_.on_io(dataplane::monotonic_ms());
            if (n > 0 && (fds[0].revents & POLLIN)) {
                signalfd_siginfo si;
                if (read(sigfd, &si, sizeof si) == sizeof si) {
                    if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
                        log_ << "updproxy: signal " << si.ssi_signo << ", stopping\n";
                        return 0;
                    }
                }
            }
            if (ctl_ >= 0 && n > 0 && (fds[1].revents & POLLIN)) serve_control();
        }
    }

private:
    bool drain() {
        bool any = false;
        for (size_t w = 0; w < dp_.worker_count(); ++w) {
            dp_.events(w).consume([&](std::span<const uint8_t> bytes) {
                any = true;
                refresh_.clear();
                if (auto e = table::decode_event(bytes)) cp_.on_event(*e, &refresh_);
                for (const Record* r : refresh_) send_refresh(*r);
            });
            // A dropped event is repaired by a full re-read of that shard.
            const uint64_t dropped = dp_.events(w).dropped();
            if (dropped != drops_seen_[w]) {
                drops_seen_[w] = dropped;
                dp_.shard(w).request_resync();
                log_ << "updproxy: worker " << w << " event ring overflowed; re-reading its table\n";
            }
            dp_.queries(w).consume([&](std::span<const uint8_t>) {
                any = true;
                ++queries_unanswered_;
            });
        }
        return any;
    }

    void send_multicast(uint16_t link, const std::vector<uint8_t>& payload) {
        send(link, true, nullptr, nullptr, payload);
    }

    // A unicast query for the record to the host that announced it, from our
    // address on its link (draft §4.2, RFC 6762 §5.5).
    void send_refresh(const Record& r) {
        const auto& link = dp_.links()[r.link];
        if (!link.has_address || r.host.v4() == link.v6) return;
        const QuestionSpec q{r.owner, r.type};
        const uint8_t* ip = r.host.v4() ? r.host.ip.data() + 12 : r.host.ip.data();
        send(r.link, false, ip, r.host.mac.data(), build_mdns_query({&q, 1}, false));
        ++refresh_queries_;
    }

    void send(uint16_t link, bool multicast, const uint8_t* ip, const uint8_t* mac,
              const std::vector<uint8_t>& payload) {
        if (payload.empty()) return;
        auto& ring = dp_.tx(link % dp_.worker_count());
        dataplane::TxHeader h{};
        h.link = link;
        h.multicast = multicast ? 1 : 0;
        if (ip) std::memcpy(h.dst, ip, dp_.links()[link].v6 ? 16 : 4);
        if (mac) std::memcpy(h.dst_mac, mac, 6);
        h.src_port = 5353;
        h.dst_port = 5353;
        h.len = static_cast<uint16_t>(payload.size());
        uint8_t* p = ring.reserve(sizeof h + payload.size());
        if (p == nullptr) {
            ++tx_ring_full_;
            return;
        }
        std::memcpy(p, &h, sizeof h);
        std::memcpy(p + sizeof h, payload.data(), payload.size());
        ring.commit();
        ring.flush();
    }

    // ---- control socket: one request line, JSON lines back, close ----
    void serve_control() {
        for (;;) {
            const int c = accept4(ctl_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) return;
            timeval tv{1, 0};
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            char buf[512];
            std::string req;
            while (req.find('\n') == std::string::npos && req.size() < sizeof buf) {
                const ssize_t n = read(c, buf, sizeof buf);
                if (n <= 0) break;
                req.append(buf, static_cast<size_t>(n));
            }
            if (auto nl = req.find('\n'); nl != std::string::npos) req.resize(nl);
            const std::string resp = handle_request(req);
            size_t off = 0;
            while (off < resp.size()) {
                const ssize_t n = write(c, resp.data() + off, resp.size() - off);
                if (n <= 0) break;
                off += static_cast<size_t>(n);
            }
            close(c);
        }
    }

    std::string handle_request(const std::string& req) {
        std::istringstream in(req);
        std::string cmd, arg;
        in >> cmd >> arg;
        std::ostringstream o;
        if (cmd == "status") {
            o << "{\"workers\": " << dp_.worker_count() << ", \"links\": " << dp_.links().size()
              << ", \"records\": " << cp_.store().size()
              << ", \"published\": " << cp_.publisher().published() - cp_.publisher().unpublished()
              << ", \"updates_idle\": " << (cp_.updates_idle() ? "true" : "false")
              << ", \"failed_changes\": " << cp_.failed_changes()
              << ", \"uptime_ms\": " << dataplane::monotonic_ms() - start_ms_
              << ", \"refresh_queries\": " << refresh_queries_
              << ", \"unicast_queries_unanswered\": " << queries_unanswered_ << "}\n";
        } else if (cmd == "links") {
            for (uint16_t l = 0; l < dp_.links().size(); ++l) {
                const auto& spec = dp_.links()[l];
                o << "{\"name\": " << json_str(spec.name)
                  << ", \"port\": " << json_str(dp_.ports()[spec.port].name)
                  << ", \"records\": " << cp_.store().link_size(l)
                  << ", \"instances\": " << cp_.model().instance_count(l);
                const auto& pub = cp_.model().link(l);
                if (pub.publish) o << ", \"subdomain\": " << json_str(pub.subdomain.to_string());
                o << "}\n";
            }
        } else if (cmd == "services") {
            for (const auto& [k, r] : cp_.store().records()) {
                const auto& name = dp_.links()[r.link].name;
                if (!arg.empty() && arg != name) continue;
                o << "{\"link\": " << json_str(name) << ", \"name\": " << json_str(r.owner.to_string())
                  << ", \"type\": " << json_str(codec::type_name(r.type)) << ", \"ttl\": " << r.ttl
                  << ", \"rdata\": " << json_str(rdata_text(r.type, r.rrclass, r.rdata))
                  << ", \"source\": " << json_str(address_text(r.host.ip.data())) << "}\n";
            }
        } else if (cmd == "stats") {
            for (size_t w = 0; w < dp_.worker_count(); ++w) {
                const auto& c = dp_.counters(w);
                o << "{\"worker\": " << w << ", \"rx_packets\": " << c.rx_packets.get()
                  << ", \"mdns_messages\": " << c.mdns_messages.get()
                  << ", \"tx_packets\": " << c.tx_packets.get()
                  << ", \"arp_replies\": " << c.arp_replies.get()
                  << ", \"nd_replies\": " << c.nd_replies.get() << ", \"drops\": {";
                bool first = true;
                auto field = [&](std::string_view n, uint64_t v) {
                    if (!v) return;
                    o << (first ? "" : ", ") << json_str(n) << ": " << v;
                    first = false;
                };
                for (size_t i = 0; i < dataplane::kDropReasonCount; ++i) {
                    field(dataplane::reason_name(static_cast<dataplane::DropReason>(i)),
                          c.frame_drop[i].get());
                }
                for (size_t i = 0; i < dataplane::kPathDropCount; ++i) {
                    field(dataplane::path_drop_name(static_cast<dataplane::PathDrop>(i)),
                          c.path_drop[i].get());
                }
                o << "}}\n";
            }
        } else if (cmd == "resync") {
            for (size_t w = 0; w < dp_.worker_count(); ++w) dp_.shard(w).request_resync();
            o << "{\"ok\": true}\n";
        } else {
            o << "{\"error\": " << json_str("unknown command: " + cmd)
              << ", \"commands\": [\"status\", \"links\", \"services [LINK]\", \"stats\", \"resync\"]}\n";
        }
        return o.str();
    }

    const config::Config& cfg_;
    dataplane::Dataplane& dp_;
    ControlPlane& cp_;
    std::ostream& log_;
    std::vector<const Record*> refresh_;
    std::vector<uint64_t> drops_seen_;
    uint64_t start_ms_ = 0;
    uint64_t refresh_queries_ = 0;
    uint64_t queries_unanswered_ = 0;
    uint64_t tx_ring_full_ = 0;
    int ctl_ = -1;
    std::string ctl_path_;
};

}  // namespace

CLI::App* add_run_command(CLI::App& app, RunOptions& opts) {
    CLI::App* cmd = app.add_subcommand("run", "Run the proxy (DPDK dataplane and control plane)");
    cmd->add_option("-c,--config", opts.config,
                    "configuration file (default: the embedded development configuration)");
    cmd->add_option("--control-socket", opts.control_socket,
                    "Unix socket for updproxyctl (default /run/updproxy/FILE_PREFIX.sock)");
    cmd->add_option("--for", opts.for_seconds, "stop after SECONDS (tests, demos)");
    cmd->add_flag("--check", opts.check_only, "validate the configuration and exit");
    return cmd;
}

int run_daemon(const RunOptions& opts, const char* argv0, std::ostream& out, std::ostream& err) {
    auto parsed = opts.config.empty() ? std::variant<config::Config, config::ConfigError>(
                                            config::default_config())
                                      : config::load_config(opts.config);
    if (auto* e = std::get_if<config::ConfigError>(&parsed)) {
        err << "updproxy: " << e->to_string() << '\n';
        return kExitUsage;
    }
    const config::Config& cfg = std::get<config::Config>(parsed);
    if (opts.check_only) {
        out << (opts.config.empty() ? "embedded default" : opts.config) << ": OK ("
            << cfg.ports.size() << " ports, " << cfg.links.size() << " links)\n";
        return kExitOk;
    }

    // Signals go to the control loop's signalfd; every thread (workers too,
    // created by the EAL) inherits the mask.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    const int sigfd = signalfd(-1, &mask, SFD_CLOEXEC);

    std::string error;
    auto dp = dataplane::Dataplane::create(dataplane_options(cfg), argv0, &error);
    if (!dp) {
        err << "updproxy: " << error << '\n';
        close(sigfd);
        return kExitFailed;
    }
    int rc = kExitOk;
    auto cp = ControlPlane::create(cfg, dataplane_options(cfg).links, err, &error);
    if (!cp) {
        err << "updproxy: update: " << error << '\n';
        dp.reset();
        close(sigfd);
        return kExitFailed;
    }
    {
        Daemon d(cfg, *dp, *cp, err);
        const std::string sock = opts.control_socket.empty()
                                     ? "/run/updproxy/" + cfg.dpdk.file_prefix + ".sock"
                                     : opts.control_socket;
        if (!d.open_control_socket(sock, &error)) {
            err << "updproxy: " << error << '\n';
            rc = kExitFailed;
        } else {
            dp->start();
            err << "updproxy: running: " << dp->worker_count() << " workers, "
                << dp->links().size() << " links, control socket " << sock << '\n';
            d.start();
            rc = d.loop(sigfd, opts.for_seconds);
            dp->stop();
        }
    }
    dp.reset();
    close(sigfd);
    err << "updproxy: stopped\n";
    return rc;
}

}  // namespace updproxy::control

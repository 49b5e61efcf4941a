#include "control/daemon.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <tuple>

#include "codec/present.hpp"
#include "codec/types.hpp"
#include "control/config/config.hpp"
#include "control/control_plane.hpp"
#include "control/dataplane_options.hpp"
#include "control/decode_command.hpp"
#include "control/link_slots.hpp"
#include "control/mdns_query.hpp"
#include "control/record_format.hpp"
#include "control/record_store.hpp"
#include "control/zone/server.hpp"
#include "control/zone/worker_answerer.hpp"
#include "control/link_tcp.hpp"
#include "dataplane/dpdk_dataplane.hpp"
#include "dataplane/packet_path.hpp"
#include "stats/control_metrics.hpp"
#include "stats/control_snapshot.hpp"
#include "stats/dataplane_metrics.hpp"
#include "stats/exporter.hpp"
#include "stats/published.hpp"
#include "stats/telemetry.hpp"

#ifndef UPDPROXY_VERSION
#define UPDPROXY_VERSION "unknown"
#endif

namespace updproxy::control {

namespace {

std::string json_str(std::string_view s) {
    std::string out;
    codec::append_json_string(out, s);
    return out;
}

double wall_seconds() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// ---- logging: one event per line, levels, journald-aware ----------------------------

enum class Level { trace = 0, debug, info, warn, error };

Level level_of(const std::string& s) {
    if (s == "trace") return Level::trace;
    if (s == "debug") return Level::debug;
    if (s == "warn") return Level::warn;
    if (s == "error") return Level::error;
    return Level::info;
}

// Lines go to stderr as "updproxy: [LEVEL: ]message" (info has no level
// word, so start-up and stop lines read as before). Under systemd
// (JOURNAL_STREAM set) each line starts with its syslog priority, "<4>",
// which journald turns into the entry's level (sd-daemon(3)).
class Log {
public:
    explicit Log(std::ostream& out) : out_(out), journal_(std::getenv("JOURNAL_STREAM") != nullptr) {}
    void set_level(Level l) { level_ = l; }
    Level level() const { return level_; }
    bool on(Level l) const { return l >= level_; }
    void operator()(Level l, const std::string& msg) {
        if (!on(l)) return;
        static constexpr const char* kWord[] = {"trace: ", "debug: ", "", "warning: ", "error: "};
        static constexpr int kPriority[] = {7, 7, 6, 4, 3};
        const auto i = static_cast<size_t>(l);
        if (journal_) out_ << '<' << kPriority[i] << '>';
        out_ << "updproxy: " << kWord[i] << msg << '\n' << std::flush;
    }
    std::ostream& stream() { return out_; }

private:
    std::ostream& out_;
    bool journal_;
    Level level_ = Level::info;
};

// At most one line per `period_ms` for a recurring condition; the next line
// says how many were held back.
class RateLimit {
public:
    explicit RateLimit(uint64_t period_ms) : period_(period_ms) {}
    // True when a line may be written now; *held = occurrences held back since the last.
    bool allow(uint64_t now_ms, uint64_t* held) {
        if (last_ != 0 && now_ms - last_ < period_) {
            ++held_;
            return false;
        }
        *held = held_;
        held_ = 0;
        last_ = now_ms;
        return true;
    }

private:
    uint64_t period_, last_ = 0, held_ = 0;
};

// ---- calls from other threads into the control loop -----------------------------------

// A telemetry request that needs the control plane's live state (the table)
// is queued here and run by the control loop between two polls; the caller
// waits (bounded). Closing wakes every waiter: nothing runs after close().
class ControlCalls {
public:
    ControlCalls() : efd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
    ~ControlCalls() {
        close();
        if (efd_ >= 0) ::close(efd_);
    }
    ControlCalls(const ControlCalls&) = delete;
    ControlCalls& operator=(const ControlCalls&) = delete;
    int fd() const { return efd_; }

    // Any thread but the control thread. False when it did not run (closed,
    // or the control loop did not get to it in time).
    bool call(std::function<void()> fn, std::chrono::milliseconds timeout) {
        auto c = std::make_shared<Call>();
        c->fn = std::move(fn);
        std::unique_lock<std::mutex> lk(mu_);
        if (closed_) return false;
        q_.push_back(c);
        const uint64_t one = 1;
        if (write(efd_, &one, sizeof one) < 0) {
            // the counter is saturated: the loop is awake anyway
        }
        cv_.wait_for(lk, timeout, [&] { return c->done || closed_; });
        if (c->done) return true;
        // Started already: it finishes soon (it runs on the control thread,
        // which never waits for us); its captures must outlive it.
        if (c->running) {
            cv_.wait(lk, [&] { return c->done; });
            return true;
        }
        c->abandoned = true;
        return false;
    }

    // The control thread.
    void run() {
        uint64_t n;
        while (read(efd_, &n, sizeof n) > 0) {
        }
        for (;;) {
            std::shared_ptr<Call> c;
            {
                std::lock_guard<std::mutex> g(mu_);
                if (q_.empty()) return;
                c = q_.front();
                q_.pop_front();
                if (c->abandoned) continue;
                c->running = true;
            }
            c->fn();
            std::lock_guard<std::mutex> g(mu_);
            c->done = true;
            cv_.notify_all();
        }
    }

    void close() {
        std::lock_guard<std::mutex> g(mu_);
        closed_ = true;
        q_.clear();
        cv_.notify_all();
    }

private:
    struct Call {
        std::function<void()> fn;
        bool running = false, done = false, abandoned = false;
    };
    int efd_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<Call>> q_;
    bool closed_ = false;
};

// ---- the embedded DNS service --------------------------------------------------------------

// The zones `dns:` serves: as listed, or every published link's subdomain
// and the parent domain (its b/lb browse PTRs).
std::vector<codec::Name> served_zones(const config::Config& cfg) {
    std::vector<codec::Name> out;
    auto add = [&](const codec::Name& n) {
        for (const auto& o : out) {
            if (o == n) return;
        }
        out.push_back(n);
    };
    if (!cfg.dns.enabled) return out;
    if (!cfg.dns.zones.empty()) {
        for (const auto& z : cfg.dns.zones) add(*codec::Name::parse(z));
        return out;
    }
    for (const auto& p : link_publications(cfg, dataplane_options(cfg).links)) {
        if (p.publish) add(p.subdomain);
    }
    if (cfg.publish.domain) add(*codec::Name::parse(*cfg.publish.domain));
    return out;
}

zone::AuthConfig auth_config(const config::Config& cfg) {
    const auto& d = cfg.dns;
    zone::AuthConfig a;
    a.keys = d.keys;
    for (const auto& apex : served_zones(cfg)) {
        zone::ZoneConfig z;
        z.apex = apex;
        auto under = [&](std::string_view label) {
            codec::Name n = apex;
            return n.prepend_label(label).ok() ? n : apex;
        };
        z.mname = d.mname.empty() ? under("ns") : *codec::Name::parse(d.mname);
        z.rname = d.rname.empty() ? under("hostmaster") : *codec::Name::parse(d.rname);
        for (const auto& n : d.ns) z.ns.push_back(*codec::Name::parse(n));
        z.refresh = d.refresh;
        z.retry = d.retry;
        z.expire = d.expire;
        z.minimum = d.minimum;
        z.soa_ttl = d.soa_ttl;
        z.ns_ttl = d.ns_ttl;
        z.history = d.history;
        for (const auto& t : d.notify) {
            zone::NotifyTarget nt;
            nt.address = t.address.to_string();
            nt.port = t.port;
            if (!t.key.empty()) nt.key = *codec::Name::parse(t.key);
            z.notify.push_back(nt);
        }
        for (const auto& k : d.transfer_keys) z.transfer_keys.push_back(*codec::Name::parse(k));
        z.allow_unsigned_transfer = d.allow_unsigned_transfer;
        a.zones.push_back(std::move(z));
    }
    for (const auto& e : d.listen) {
        a.listen.udp.push_back({e.address.to_string(), e.port});
        a.listen.tcp.push_back({e.address.to_string(), e.port});
    }
    a.listen.udp_thread = d.udp_thread;
    a.max_udp_payload = static_cast<uint16_t>(d.max_udp_payload);
    return a;
}

// ---- configuration differences ------------------------------------------------------------

// What a reload cannot change while the dataplane runs: the EAL, the ports,
// the table's sizing (table.spare_link_slots too). Links may come and go
// (control/link_slots.hpp). The first difference, or "".
std::string needs_restart(const config::Config& a, const config::Config& b) {
    if (!(a.dpdk == b.dpdk)) return "dpdk section changed";
    if (a.ports.size() != b.ports.size()) return "ports added or removed";
    for (size_t i = 0; i < a.ports.size(); ++i) {
        const auto &p = a.ports[i], &q = b.ports[i];
        if (p.name != q.name || p.device != q.device || p.rx_descriptors != q.rx_descriptors ||
            p.tx_descriptors != q.tx_descriptors || p.promiscuous != q.promiscuous) {
            return "ports[" + std::to_string(i) + "] \"" + p.name + "\" changed";
        }
    }
    if (!(a.table == b.table)) return "table section changed";
    if (!(a.dns == b.dns)) return "dns section changed";
    if (served_zones(a) != served_zones(b)) return "the zones the dns service serves changed";
    if (a.burst_size != b.burst_size) return "burst_size changed";
    if (a.tx_drain_us != b.tx_drain_us) return "tx_drain_us changed";
    return "";
}

bool same_key(const std::optional<codec::TsigKey>& a, const std::optional<codec::TsigKey>& b) {
    if (a.has_value() != b.has_value()) return false;
    if (!a) return true;
    return a->name == b->name && a->algorithm == b->algorithm && a->secret == b->secret;
}

// What the control plane is built from (publication, UPDATE, subdomains);
// the reasons it must be rebuilt, empty when it need not.
std::vector<std::string> control_changes(const config::Config& a, const config::Config& b) {
    std::vector<std::string> why;
    if (!(a.publish == b.publish)) why.push_back("publish");
    const std::vector<LinkSlot> kept = initial_slots(a);
    for (size_t i = 0; i < b.links.size(); ++i) {
        const int s = slot_of(kept, b.links[i]);
        if (s >= 0 && a.links[static_cast<size_t>(s)].subdomain != b.links[i].subdomain) {
            why.push_back("links[" + std::to_string(i) + "].subdomain");
        }
    }
    const auto &u = a.update, &v = b.update;
    if (u.enabled != v.enabled) {
        why.push_back(v.enabled ? "update enabled" : "update disabled");
        return why;
    }
    if (!u.enabled) return why;
    if (!same_key(u.key, v.key) || u.key_name != v.key_name) why.push_back("update key");
    if (u.allow_unsigned != v.allow_unsigned || u.lease != v.lease || u.key_lease != v.key_lease ||
        u.timeout_rrs != v.timeout_rrs || u.timeout_type != v.timeout_type ||
        u.batch_ms != v.batch_ms || u.udp_limit != v.udp_limit ||
        u.reconcile_interval != v.reconcile_interval) {
        why.push_back("update policy");
    }
    bool zones = u.zones.size() != v.zones.size();
    for (size_t i = 0; !zones && i < u.zones.size(); ++i) {
        const auto &z = u.zones[i], &w = v.zones[i];
        zones = z.zone != w.zone || z.server != w.server || z.port != w.port ||
                z.transport != w.transport || z.tls_name != w.tls_name || z.ca_file != w.ca_file;
    }
    if (zones) why.push_back("update zones");
    return why;
}

// What a reload does to the links (control/link_slots.hpp): added, removed,
// changed in place (address, check_ttl); empty when nothing.
std::vector<std::string> link_changes(const std::vector<LinkSlot>& a, const std::vector<LinkSlot>& b,
                                      const dataplane::LinkTable& now,
                                      const std::vector<dataplane::LinkSpec>& next) {
    std::vector<std::string> why;
    for (size_t i = 0; i < b.size(); ++i) {
        const std::string name = "\"" + b[i].cfg.name + "\"";
        if (i >= a.size()) {
            why.push_back("link " + name + " added (id " + std::to_string(i) + ")");
        } else if (a[i].active && !b[i].active) {
            why.push_back("link " + name + " removed");
        } else if (b[i].active && i < now.size()) {
            const auto& o = now[static_cast<uint16_t>(i)];
            const auto& n = next[i];
            if (o.has_address != n.has_address || o.address != n.address) {
                why.push_back("link " + name + " address");
            }
            if (o.check_ttl != n.check_ttl) why.push_back("link " + name + " check_ttl");
        }
    }
    return why;
}

// The UPDATE zone (and its server) a record goes to under `cfg`: the
// longest configured zone holding the owner, as the Publisher routes.
std::optional<std::pair<codec::Name, std::string>> destination(const config::Config& cfg,
                                                                const codec::Name& owner) {
    if (!cfg.update.enabled) return std::nullopt;
    std::optional<std::pair<codec::Name, std::string>> best;
    size_t best_labels = 0;
    for (const auto& z : cfg.update.zones) {
        const auto zn = codec::Name::parse(z.zone);
        if (!zn || !owner.is_subdomain_of(*zn)) continue;
        if (best && zn->label_count() <= best_labels) continue;
        best_labels = zn->label_count();
        best = {*zn, z.server.to_string() + "#" + std::to_string(z.port) + "/" + z.transport};
    }
    return best;
}

// ---- the daemon ----------------------------------------------------------------------------

struct ZoneTotals {  // counters of engines that are gone, per zone
    uint64_t messages_sent = 0, records_sent = 0;
    std::array<uint64_t, 24> responses{};
    uint64_t tsig_failures = 0, timeouts = 0, retries = 0, tcp_fallbacks = 0, queue_overflow = 0,
             failed_changes = 0, connection_failures = 0, stuck = 0, splits = 0, readbacks = 0,
             readback_failures = 0, leftovers = 0;
    void add(const ZoneStats& s) {
        messages_sent += s.messages_sent;
        records_sent += s.records_sent;
        for (size_t i = 0; i < responses.size(); ++i) responses[i] += s.responses[i];
        tsig_failures += s.tsig_failures;
        timeouts += s.timeouts;
        retries += s.retries;
        tcp_fallbacks += s.tcp_fallbacks;
        queue_overflow += s.queue_overflow;
        failed_changes += s.failed_changes;
        connection_failures += s.connection_failures;
        stuck += s.stuck;
        splits += s.splits;
        readbacks += s.readbacks;
        readback_failures += s.readback_failures;
        leftovers += s.leftovers;
    }
    void add_to(stats::ZoneSample& z) const {
        z.messages_sent += messages_sent;
        z.records_sent += records_sent;
        for (size_t i = 0; i < responses.size(); ++i) z.responses[i] += responses[i];
        z.tsig_failures += tsig_failures;
        z.timeouts += timeouts;
        z.retries += retries;
        z.tcp_fallbacks += tcp_fallbacks;
        z.queue_overflow += queue_overflow;
        z.failed_changes += failed_changes;
        z.connection_failures += connection_failures;
        z.stuck += stuck;
        z.splits += splits;
        z.readbacks += readbacks;
        z.readback_failures += readback_failures;
        z.leftovers += leftovers;
    }
};

class Daemon {
public:
    Daemon(config::Config cfg, std::string config_path, dataplane::Dataplane& dp,
           std::unique_ptr<ControlPlane> cp, Log& log)
        : cfg_(std::move(cfg)),
          slots_(initial_slots(cfg_)),
          config_path_(std::move(config_path)),
          dp_(dp),
          cp_(std::move(cp)),
          log_(log),
          drops_seen_(dp.worker_count(), 0),
          overflow_log_(dp.worker_count(), RateLimit(10000)) {}

    ~Daemon() {
        shutdown_introspection();
        if (ctl_ >= 0) {
            close(ctl_);
            unlink(ctl_path_.c_str());
        }
    }

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

    // The embedded DNS service (`dns:`): zones, listeners. Before start():
    // the model's first publications (browse records) must reach the zones.
    // False (and *error) when a listener cannot be opened.
    bool open_dns(std::string* error) {
        if (!cfg_.dns.enabled) return true;
        zone::AuthConfig a = auth_config(cfg_);
        const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
        // Called from the UDP thread too: one write(2) per line.
        a.log = [journal](const std::string& line) {
            const std::string l = (journal ? "<6>" : "") + std::string("updproxy: dns: ") + line + "\n";
            if (::write(2, l.data(), l.size()) < 0) {
                // nowhere else to say it
            }
        };
        std::string zones;
        for (const auto& z : a.zones) zones += (zones.empty() ? "" : " ") + z.apex.to_string();
        std::string err;
        auth_ = zone::AuthServer::create(std::move(a), &err);
        if (!auth_) {
            *error = "dns: " + err;
            return false;
        }
        cp_->serve_zones(&auth_->store());
        std::string where;
        if (auth_->listener()) {
            for (const auto& u : auth_->listener()->udp_addresses()) where += " udp " + u.to_string();
            for (const auto& t : auth_->listener()->tcp_addresses()) where += " tcp " + t.to_string();
        }
        // UDP queries to a link address are answered by the worker that
        // receives them, from the zones' RCU snapshot (one reader each).
        size_t answering = 0;
        for (size_t w = 0; w < dp_.worker_count(); ++w) {
            auto reader = auth_->store().make_reader();
            if (!reader) {
                log_(Level::warn, "dns: no zone reader left for worker " + std::to_string(w) +
                                      ": its queries go to the control thread");
                break;
            }
            answerers_.push_back(std::make_unique<zone::WorkerAnswerer>(
                std::move(reader), auth_->config().max_udp_payload, &dataplane::Dataplane::tsc,
                dataplane::Dataplane::tsc_hz()));
            dp_.set_answerer(w, answerers_.back().get());
            ++answering;
        }
        log_(Level::info, "dns: serving " + zones + ";" + (where.empty() ? " no socket" : where) +
                              "; udp port 53 on every link address, answered by " +
                              std::to_string(answering) + " workers");
        dp_out_.resize(65535);
        // TCP to a link address: the control thread's own small TCP endpoint.
        link_tcp_ = std::make_unique<LinkTcp>(
            auth_.get(), [this](const TcpRoute& r, std::span<const uint8_t> seg) {
                auto& ring = dp_.tx(r.worker);
                dataplane::TxHeader t{};
                t.link = r.link;
                t.proto = 6;
                std::memcpy(t.dst, r.client.data(), r.v6 ? 16 : 4);
                std::memcpy(t.dst_mac, r.client_mac.data(), 6);
                t.len = static_cast<uint16_t>(seg.size());
                uint8_t* p = ring.reserve(sizeof t + seg.size());
                if (p == nullptr) {
                    ++tx_ring_full_;  // TCP retransmits it
                    return;
                }
                std::memcpy(p, &t, sizeof t);
                std::memcpy(p + sizeof t, seg.data(), seg.size());
                ring.commit();
                ring.flush();
            });
        return true;
    }

    void start() {
        start_ms_ = dataplane::monotonic_ms();
        last_reload_unix_ = wall_seconds();
        cp_->start();
        publish_snapshot(start_ms_);
        register_telemetry();
        apply_metrics(cfg_.metrics, nullptr);
        // Finding what is already there (RFC 6763 §9) and keeping it alive
        // is the control plane's discovery (control/discovery.*): it
        // enumerates every link with an address at start.
        if (cp_->discovery() == nullptr) {
            for (uint16_t l = 0; l < dp_.links().size(); ++l) {
                if (dp_.links()[l].has_address && dp_.links()[l].active) {
                    send_multicast(l, service_enumeration_query());
                    ++enumeration_queries_;
                }
            }
        }
    }

    // Runs until a stop signal (or `for_seconds`). `sigfd` readable = a signal arrived.
    int loop(int sigfd, double for_seconds) {
        const uint64_t deadline =
            for_seconds > 0 ? start_ms_ + static_cast<uint64_t>(for_seconds * 1000) : UINT64_MAX;
        for (;;) {
            bool busy = drain();
            // One zone commit per pass: the changes this pass drained become
            // one new snapshot (serial +1 per changed zone, NOTIFY).
            if (auth_) auth_->store().commit();
            const uint64_t now = dataplane::monotonic_ms();
            if (now >= deadline) return 0;
            if (now - snapshot_ms_ >= kSnapshotMs) publish_snapshot(now);
            step_retirement(now);
            std::vector<pollfd> fds;
            fds.push_back({sigfd, POLLIN, 0});
            fds.push_back({ctl_, POLLIN, 0});
            fds.push_back({calls_.fd(), POLLIN, 0});
            for (size_t w = 0; w < dp_.worker_count(); ++w) {
                if (!dp_.events(w).prepare_wait()) busy = true;
                if (!dp_.queries(w).prepare_wait()) busy = true;
                fds.push_back({dp_.events(w).fd(), POLLIN, 0});
                fds.push_back({dp_.queries(w).fd(), POLLIN, 0});
            }
            cp_->add_pollfds(fds);
            if (auth_) {
                for (const auto& f : auth_->fds()) fds.push_back({f.fd, f.events, 0});
            }
            UpdateEngine* old_engine = retiring_ ? retiring_->cp->engine() : nullptr;
            if (old_engine) {
                for (const auto& f : old_engine->fds()) fds.push_back({f.fd, f.events, 0});
            }
            int timeout = busy ? 0 : cp_->timeout_ms(now, 100);
            if (auth_) {
                const uint64_t at = auth_->next_wakeup_ms(now);
                if (at != UINT64_MAX) {
                    timeout = std::min<int>(
                        timeout, at <= now ? 0 : static_cast<int>(std::min<uint64_t>(at - now, 100)));
                }
            }
            if (old_engine) {
                const uint64_t at = old_engine->next_wakeup_ms(now);
                timeout = std::min<int>(timeout, at <= now ? 0 : static_cast<int>(std::min<uint64_t>(at - now, 100)));
            }
            if (link_tcp_) {
                const uint64_t at = link_tcp_->next_wakeup_ms();
                if (at != UINT64_MAX) {
                    timeout = std::min<int>(
                        timeout, at <= now ? 0 : static_cast<int>(std::min<uint64_t>(at - now, 100)));
                }
            }
            const int n = poll(fds.data(), fds.size(), timeout);
            for (size_t w = 0; w < dp_.worker_count(); ++w) {
                dp_.events(w).clear_wakeup();
                dp_.queries(w).clear_wakeup();
            }
            const uint64_t after = dataplane::monotonic_ms();
            cp_->on_io(after);
            if (auth_) auth_->on_ready(after);
            if (link_tcp_) link_tcp_->on_timer(after);
            if (old_engine) old_engine->on_ready(after);
            if (n > 0 && (fds[0].revents & POLLIN)) {
                signalfd_siginfo si;
                if (read(sigfd, &si, sizeof si) == sizeof si) {
                    if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
                        log_(Level::info, "signal " + std::to_string(si.ssi_signo) + ", stopping");
                        return 0;
                    }
                    if (si.ssi_signo == SIGHUP) reload("SIGHUP");
                }
            }
            if (ctl_ >= 0 && n > 0 && (fds[1].revents & POLLIN)) serve_control();
            if (n > 0 && (fds[2].revents & POLLIN)) calls_.run();
        }
    }

    // Before the dataplane stops: nobody reads it after this.
    void shutdown_introspection() {
        calls_.close();
        stats::clear_telemetry();
        exporter_.reset();
    }

private:
    static constexpr uint64_t kSnapshotMs = 500;
    static constexpr uint64_t kResyncWaitMs = 10000;   // a reload waits this long for re-reads
    static constexpr uint64_t kRetireMaxMs = 60000;    // and this long for the old engine to drain

    bool drain() {
        bool any = false, queries = false;
        for (size_t w = 0; w < dp_.worker_count(); ++w) {
            dp_.events(w).consume([&](std::span<const uint8_t> bytes) {
                any = true;
                refresh_.clear();
                if (auto e = table::decode_event(bytes)) {
                    if (retiring_) note_resync(w, e->h.kind);
                    cp_->on_event(*e, &refresh_);
                }
                for (const Record* r : refresh_) send_refresh(*r);
            });
            // A dropped event is repaired by a full re-read of that shard.
            const uint64_t dropped = dp_.events(w).dropped();
            if (dropped != drops_seen_[w]) {
                drops_seen_[w] = dropped;
                dp_.shard(w).request_resync();
                ++resyncs_overflow_;
                uint64_t held = 0;
                if (overflow_log_[w].allow(dataplane::monotonic_ms(), &held)) {
                    log_(Level::warn, "worker " + std::to_string(w) +
                                          " event ring overflowed; re-reading its table" +
                                          (held ? " (" + std::to_string(held) +
                                                      " more overflows in the last 10 s)"
                                                : ""));
                }
            }
            dp_.queries(w).consume([&](std::span<const uint8_t> bytes) {
                queries = true;
                if (auth_) {
                    answer_dataplane(w, bytes);
                } else {
                    ++queries_unanswered_;
                }
            });
        }
        if (any) table_changed_ = true;
        return any || queries;
    }

    // A unicast DNS query a worker received on a link address, port 53
    // (QueryHeader + the UDP payload): answered here by the same code as
    // the kernel sockets, the reply sent back through that worker's tx ring
    // from the address it was sent to.
    void answer_dataplane(size_t w, std::span<const uint8_t> bytes) {
        dataplane::QueryHeader h;
        if (bytes.size() < sizeof h) {
            ++dp_queries_;
            ++dp_malformed_;
            return;
        }
        std::memcpy(&h, bytes.data(), sizeof h);
        if (bytes.size() != sizeof h + h.len || h.link >= dp_.links().size()) {
            ++dp_queries_;
            ++dp_malformed_;
            return;
        }
        if (h.proto == 6) {  // a segment: LinkTcp counts the queries
            TcpRoute r;
            r.worker = static_cast<uint16_t>(w);
            r.link = h.link;
            r.v6 = h.v6 != 0;
            std::memcpy(r.client.data(), h.src, 16);
            std::memcpy(r.ours.data(), h.dst, 16);
            std::memcpy(r.client_mac.data(), h.src_mac, 6);
            link_tcp_->on_segment(r, bytes.subspan(sizeof h, h.len), dataplane::monotonic_ms());
            return;
        }
        ++dp_queries_;
        zone::Peer from;
        if (h.v6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&from.ss);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(h.src_port);
            std::memcpy(&a->sin6_addr, h.src, 16);
            from.len = sizeof *a;
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&from.ss);
            a->sin_family = AF_INET;
            a->sin_port = htons(h.src_port);
            std::memcpy(&a->sin_addr, h.src, 4);
            from.len = sizeof *a;
        }
        const size_t n = auth_->handle_punted(bytes.subspan(sizeof h, h.len), from, dp_out_);
        if (n == 0) return;  // dropped (counted by the answer code)
        auto& ring = dp_.tx(w);
        dataplane::TxHeader t{};
        t.link = h.link;
        t.multicast = 0;
        std::memcpy(t.dst, h.src, h.v6 ? 16 : 4);
        std::memcpy(t.dst_mac, h.src_mac, 6);
        t.src_port = h.dst_port;
        t.dst_port = h.src_port;
        t.len = static_cast<uint16_t>(n);
        uint8_t* p = ring.reserve(sizeof t + n);
        if (p == nullptr) {
            ++tx_ring_full_;
            return;
        }
        std::memcpy(p, &t, sizeof t);
        std::memcpy(p + sizeof t, dp_out_.data(), n);
        ring.commit();
        ring.flush();
        ++dp_replies_;
        // From the worker's burst clock (millisecond resolution) to the
        // reply handed to its tx ring.
        timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        const uint64_t now_ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL +
                                static_cast<uint64_t>(ts.tv_nsec);
        const uint64_t at_ns = h.time_ms * 1000000ULL;
        dp_latency_.record(now_ns > at_ns ? now_ns - at_ns : 0);
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

    // ---- the snapshot other threads read ----

    stats::ZoneSample zone_sample(const codec::Name& zone, uint64_t now_ms, double now_unix) const {
        stats::ZoneSample z;
        z.zone = zone.to_string();
        for (const auto& zc : cfg_.update.zones) {
            if (codec::Name::parse(zc.zone) && *codec::Name::parse(zc.zone) == zone) {
                z.server = zc.server.v6 ? "[" + zc.server.to_string() + "]:" + std::to_string(zc.port)
                                        : zc.server.to_string() + ":" + std::to_string(zc.port);
                z.transport = zc.transport;
            }
        }
        uint64_t last_ms = 0;
        auto add_live = [&](const ZoneStats& s, bool current) {
            ZoneTotals t;
            t.add(s);
            t.add_to(z);
            z.pending += s.pending;
            last_ms = std::max(last_ms, s.last_success_ms);
            // The UPDATE latency histogram (per-bucket counts; restarts at a reload).
            if (!s.latency_counts.empty() && (z.latency_counts.empty() || z.latency_bounds == s.latency_bounds)) {
                z.latency_bounds = s.latency_bounds;
                z.latency_counts.resize(s.latency_counts.size());
                for (size_t i = 0; i < s.latency_counts.size(); ++i) z.latency_counts[i] += s.latency_counts[i];
                z.latency_sum += s.latency_sum;
            }
            if (current) {
                z.desired = s.desired;
                z.confirmed = s.confirmed;
                z.held = s.held;
                z.reachable = s.reachable;
                z.lease_echoed = s.lease_echoed;
                z.last_error = s.last_error;
            }
        };
        if (const UpdateEngine* e = cp_->engine()) add_live(e->stats(zone), true);
        if (retiring_ && retiring_->cp->engine()) {
            for (const auto& rz : retiring_->cp->engine()->zones()) {
                if (rz == zone) add_live(retiring_->cp->engine()->stats(zone), false);
            }
        }
        if (auto it = zone_base_.find(z.zone); it != zone_base_.end()) it->second.add_to(z);
        if (last_ms != 0) {
            z.last_success_unix = now_unix - static_cast<double>(now_ms - std::min(now_ms, last_ms)) / 1000;
        }
        return z;
    }

    static void add_discovery(DiscoveryStats& to, const DiscoveryStats& s) {
        to.refresh_queries += s.refresh_queries;
        to.refresh_questions += s.refresh_questions;
        to.enumeration_queries += s.enumeration_queries;
        to.known_answers += s.known_answers;
        to.continuation_packets += s.continuation_packets;
        to.send_failures += s.send_failures;
        to.retransmissions += s.retransmissions;
    }
    static void add_subdomain(SubdomainStats& to, const SubdomainStats& s) {
        to.lookups += s.lookups;
        to.lookup_failures += s.lookup_failures;
        to.changes += s.changes;
        to.unpublishable += s.unpublishable;
    }

    void publish_snapshot(uint64_t now_ms) {
        auto s = std::make_shared<stats::ControlSnapshot>();
        const double now_unix = wall_seconds();
        s->taken_unix = now_unix;
        const auto prev = snapshot_.get();
        // Per-link counts cost a pass over the table: only when it changed.
        if (table_changed_ || !prev) {
            std::vector<uint64_t> per_link(dp_.links().size(), 0);
            for (const auto& [k, r] : cp_->store().records()) {
                if (k.link < per_link.size()) ++per_link[k.link];
            }
            s->records = cp_->store().size();
            for (uint16_t l = 0; l < dp_.links().size() && l < slots_.size(); ++l) {
                if (!slots_[l].active) continue;  // removed by a reload
                stats::LinkSample ls;
                const auto& lc = slots_[l].cfg;
                ls.name = lc.name;
                ls.port = lc.port;
                ls.prefix = lc.prefix.to_string();
                for (size_t i = 0; i < lc.vlan.size(); ++i) {
                    ls.vlan += (i ? "." : "") + std::to_string(lc.vlan[i]);
                }
                ls.address = lc.address ? lc.address->to_string() : "";
                const auto& pub = cp_->model().link(l);
                ls.subdomain = pub.publish ? pub.subdomain.to_string() : "";
                ls.records = per_link[l];
                ls.services = cp_->model().instance_count(l);
                ls.published_records = cp_->model().published(l).size();
                s->links.push_back(std::move(ls));
            }
            if (auth_) {
                zone_records_ = 0;
                for (size_t z = 0; z < auth_->store().zone_count(); ++z) {
                    zone_records_ += auth_->store().records(z).size();
                }
            }
            table_changed_ = false;
        } else {
            s->records = prev->records;
            s->links = prev->links;
        }
        if (const UpdateEngine* e = cp_->engine()) {
            for (const auto& z : e->zones()) s->zones.push_back(zone_sample(z, now_ms, now_unix));
        }
        if (retiring_ && retiring_->cp->engine()) {
            for (const auto& z : retiring_->cp->engine()->zones()) {
                const std::string name = z.to_string();
                bool have = false;
                for (const auto& zs : s->zones) have |= zs.zone == name;
                if (!have) s->zones.push_back(zone_sample(z, now_ms, now_unix));
            }
        }
        DiscoveryStats ds = discovery_base_;
        if (const Discovery* disc = cp_->discovery()) add_discovery(ds, disc->stats());
        s->refresh_queries = refresh_queries_ + ds.refresh_queries;
        s->refresh_questions = ds.refresh_questions;
        s->enumeration_queries = enumeration_queries_ + ds.enumeration_queries;
        s->known_answers = ds.known_answers;
        s->continuation_packets = ds.continuation_packets;
        s->discovery_send_failures = ds.send_failures;
        s->discovery_queued = cp_->discovery() ? cp_->discovery()->stats().queued : 0;
        s->enumeration_retransmissions = ds.retransmissions;
        SubdomainStats ss = subdomain_base_;
        add_subdomain(ss, cp_->subdomain_stats());
        s->subdomain_lookups = ss.lookups;
        s->subdomain_lookup_failures = ss.lookup_failures;
        s->subdomain_changes = ss.changes;
        s->subdomain_unpublishable = ss.unpublishable;
        s->tx_ring_full = tx_ring_full_;
        s->unicast_queries_unanswered = queries_unanswered_;
        s->resyncs_overflow = resyncs_overflow_;
        s->resyncs_requested = resyncs_requested_;
        s->published = published_base_ + cp_->publisher().published();
        s->unpublished = unpublished_base_ + cp_->publisher().unpublished();
        s->unroutable = unroutable_base_ + cp_->publisher().unroutable();
        s->refused = refused_base_ + cp_->publisher().refused();
        if (auth_) s->queries = query_sample();
        s->reloads_ok = reloads_ok_;
        s->reloads_failed = reloads_failed_;
        s->last_reload_unix = last_reload_unix_;
        s->last_reload_ok = last_reload_ok_;
        snapshot_.publish(std::move(s));
        snapshot_ms_ = now_ms;
    }

    // Queries on DPDK links the workers answered themselves.
    uint64_t worker_answers() const {
        uint64_t n = 0;
        for (const auto& a : answerers_) n += a->answered();
        return n;
    }

    stats::QuerySample query_sample() const {
        stats::QuerySample q;
        const zone::AnswerCounters& cc = auth_->control_counters();  // TCP and DPDK links
        for (size_t rc = 0; rc < 16; ++rc) q.responses[rc] += cc.rcode[rc].load(std::memory_order_relaxed);
        q.dropped = cc.drop_short.load() + cc.drop_response.load() + cc.drop_no_room.load() +
                    dp_malformed_;
        q.dpdk = dp_queries_;
        q.udp = dp_queries_;
        if (const zone::DnsListener* l = auth_->listener()) {
            const zone::ListenerStats ls = l->stats();
            for (size_t rc = 0; rc < 16; ++rc) q.responses[rc] += ls.answered_rcode[rc];
            q.udp += ls.udp_received;
            q.tcp = ls.tcp_queries;
            q.dropped += ls.dropped + ls.udp_truncated_in;
            stats::LatencySample k;
            k.path = "kernel_udp";
            l->udp_latency().read(&k.bounds, &k.counts, &k.sum);
            q.latency.push_back(std::move(k));
        }
        stats::LatencySample dl;
        dl.path = "dpdk";
        dp_latency_.read(&dl.bounds, &dl.counts, &dl.sum);
        q.latency.push_back(std::move(dl));
        // Answered by the workers themselves (path "dpdk_worker": from the
        // start of the poll that received the query to its answer built).
        stats::LatencySample wl;
        wl.path = "dpdk_worker";
        for (const auto& a : answerers_) {
            const zone::AnswerCounters& wc = a->counters();
            for (size_t rc = 0; rc < 16; ++rc) q.responses[rc] += wc.rcode[rc].load(std::memory_order_relaxed);
            q.dropped += wc.drop_short.load(std::memory_order_relaxed) +
                         wc.drop_response.load(std::memory_order_relaxed) +
                         wc.drop_no_room.load(std::memory_order_relaxed);
            q.udp += a->answered();
            q.dpdk += a->answered();
            q.dpdk_worker += a->answered();
            std::vector<double> bounds;
            std::vector<uint64_t> counts;
            double sum = 0;
            a->latency().read(&bounds, &counts, &sum);
            if (wl.counts.empty()) {
                wl.bounds = bounds;
                wl.counts.assign(counts.size(), 0);
            }
            for (size_t i = 0; i < counts.size() && i < wl.counts.size(); ++i) wl.counts[i] += counts[i];
            wl.sum += sum;
        }
        if (!wl.counts.empty()) q.latency.push_back(std::move(wl));
        if (link_tcp_) {
            const LinkTcpStats& ts = link_tcp_->stats();
            q.tcp += ts.queries;
            q.link_tcp_connections = link_tcp_->connections();
            q.link_tcp_retransmits = ts.retransmits;
            q.link_tcp_dropped = ts.bad_checksum + ts.malformed;
        }
        const zone::SlowPathStats ss = auth_->slow_stats();
        q.transfers_axfr = ss.axfr;
        q.transfers_ixfr = ss.ixfr_incremental + ss.ixfr_full + ss.ixfr_up_to_date + ss.ixfr_udp;
        q.transfers_refused = ss.xfr_refused + ss.xfr_notauth;
        q.tsig_failures = ss.tsig_badkey + ss.tsig_badsig + ss.tsig_badtime;
        q.notifies_sent = auth_->notifier().stats().sent;
        const zone::ZoneStore& st = auth_->store();
        q.zones = st.zone_count();
        q.commits = st.stats().commits;
        q.zone_records = zone_records_;
        return q;
    }

    // ---- metrics exporter ----

    // Starts, moves or stops the exporter for `m`. False (and *error) when
    // it cannot listen; the previous listener is kept then.
    bool apply_metrics(const config::MetricsConfig& m, std::string* error) {
        const std::string want = m.enabled ? m.listen() : "";
        const std::string have = exporter_ ? metrics_listen_ : "";
        if (want == have && (want.empty() || exporter_)) return true;
        std::unique_ptr<stats::Exporter> old = std::move(exporter_);
        const std::string old_listen = metrics_listen_;
        metrics_listen_.clear();
        old.reset();  // the same port may be asked again on another address
        if (want.empty()) {
            log_(Level::info, "metrics: off");
            return true;
        }
        std::string err;
        exporter_ = stats::Exporter::start(want, collector(), &err);
        if (!exporter_) {
            if (error) {
                // A reload: put the old listener back.
                *error = err;
                if (!old_listen.empty()) {
                    std::string e2;
                    exporter_ = stats::Exporter::start(old_listen, collector(), &e2);
                    if (exporter_) metrics_listen_ = old_listen;
                }
                return false;
            }
            // At start: the proxy's job does not depend on its metrics.
            log_(Level::error, err + "; running without metrics");
            return true;
        }
        metrics_listen_ = want;
        const std::string shown =
            m.port == 0 ? want.substr(0, want.rfind(':')) + ":" + std::to_string(exporter_->port())
                        : want;
        log_(Level::info, "metrics: http://" + shown + "/metrics");
        return true;
    }

    stats::Exporter::Collect collector() {
        // On the exporter's thread: the workers' counters and DPDK's port
        // statistics live, the control plane through its snapshot.
        return [this](stats::MetricSet& m) {
            stats::collect_dataplane(dp_, m);
            if (const auto s = snapshot_.get()) stats::collect_control(*s, m);
            stats::collect_process(m);
            stats::collect_build_info(m, UPDPROXY_VERSION, stats::dpdk_version());
        };
    }

    // ---- DPDK telemetry ----

    void register_telemetry() {
        using stats::TelDict;
        stats::register_telemetry(
            "/updproxy/links", "Links: names, records, services. Parameter: a link name for its details",
            [this](std::string_view params, TelDict& out) { return tel_links(params, out); });
        stats::register_telemetry(
            "/updproxy/services", "DNS-SD services discovered on a link. Parameter: a link name",
            [this](std::string_view params, TelDict& out) { return tel_services(params, out); });
        stats::register_telemetry(
            "/updproxy/zones", "UPDATE zones and their servers. Parameter: a zone for its details",
            [this](std::string_view params, TelDict& out) { return tel_zones(params, out); });
        stats::register_telemetry(
            "/updproxy/stats", "Dataplane and control plane totals",
            [this](std::string_view, TelDict& out) { return tel_stats(out); });
    }

    // Telemetry thread: the snapshot and the workers' counters only.
    bool tel_links(std::string_view params, stats::TelDict& out) {
        const auto s = snapshot_.get();
        if (!s) return false;
        std::vector<uint64_t> pk(dp_.links().size(), 0), by(dp_.links().size(), 0);
        for (size_t w = 0; w < dp_.worker_count(); ++w) {
            const auto& c = dp_.counters(w);
            for (size_t l = 0; l < pk.size() && l < c.link_packets.size(); ++l) {
                pk[l] += c.link_packets[l].get();
                by[l] += c.link_bytes[l].get();
            }
        }
        if (params.empty()) {
            std::vector<std::string> names;
            std::vector<uint64_t> records, services;
            for (const auto& l : s->links) {
                names.push_back(l.name);
                records.push_back(l.records);
                services.push_back(l.services);
            }
            out.u64("count", s->links.size()).strings("names", names).u64s("records", records)
                .u64s("services", services);
            return true;
        }
        for (size_t j = 0; j < s->links.size(); ++j) {
            const auto& l = s->links[j];
            if (l.name != params) continue;
            size_t i = pk.size();  // the link's id
            const auto& links = dp_.links();
            for (uint16_t k = 0; k < links.size(); ++k) {
                if (links[k].active && links[k].name == l.name) i = k;
            }
            out.str("name", l.name).str("port", l.port).str("prefix", l.prefix).str("vlan", l.vlan)
                .str("address", l.address).str("subdomain", l.subdomain).u64("records", l.records)
                .u64("services", l.services).u64("published_records", l.published_records)
                .u64("packets", i < pk.size() ? pk[i] : 0).u64("bytes", i < by.size() ? by[i] : 0);
            return true;
        }
        return false;
    }

    // Telemetry thread: the table is the control thread's, so it answers.
    bool tel_services(std::string_view params, stats::TelDict& out) {
        if (params.empty()) {
            const auto s = snapshot_.get();
            if (!s) return false;
            std::vector<std::string> names;
            std::vector<uint64_t> services;
            for (const auto& l : s->links) {
                names.push_back(l.name);
                services.push_back(l.services);
            }
            out.strings("links", names).u64s("services", services)
                .str("usage", "/updproxy/services,LINK lists a link's service instances");
            return true;
        }
        const std::string link(params);
        bool ok = false;
        stats::TelDict result;
        const bool ran = calls_.call(
            [&] {
                std::vector<std::string> names = services_on(link, &ok);
                if (!ok) return;
                // DPDK's reply buffer is 16 KiB: keep the list well inside it.
                size_t bytes = 0, n = 0;
                std::vector<std::string> shown;
                for (auto& s : names) {
                    if (bytes + s.size() + 4 > 12000) break;
                    bytes += s.size() + 4;
                    shown.push_back(std::move(s));
                    ++n;
                }
                result.str("link", link).u64("count", names.size()).strings("services", shown)
                    .u64("truncated", n < names.size() ? 1 : 0);
            },
            std::chrono::milliseconds(2000));
        if (!ran || !ok) return false;
        out = std::move(result);
        return true;
    }

    bool tel_zones(std::string_view params, stats::TelDict& out) {
        const auto s = snapshot_.get();
        if (!s) return false;
        const double now = wall_seconds();
        if (params.empty()) {
            std::vector<std::string> names;
            std::vector<uint64_t> pending, up;
            for (const auto& z : s->zones) {
                names.push_back(z.zone);
                pending.push_back(z.pending);
                up.push_back(z.reachable ? 1 : 0);
            }
            out.u64("count", s->zones.size()).strings("zones", names).u64s("pending", pending)
                .u64s("reachable", up);
            return true;
        }
        for (const auto& z : s->zones) {
            if (z.zone != params && z.zone != std::string(params) + ".") continue;
            zone_dict(z, now, out);
            return true;
        }
        return false;
    }

    static void zone_dict(const stats::ZoneSample& z, double now, stats::TelDict& out) {
        out.str("zone", z.zone).str("server", z.server).str("transport", z.transport)
            .u64("reachable", z.reachable ? 1 : 0).u64("desired", z.desired)
            .u64("confirmed", z.confirmed).u64("pending", z.pending)
            .u64("messages_sent", z.messages_sent).u64("records_sent", z.records_sent)
            .u64("noerror", z.responses[0]).u64("timeouts", z.timeouts).u64("retries", z.retries)
            .u64("failed_changes", z.failed_changes).u64("held", z.held).u64("splits", z.splits)
            .u64("readbacks", z.readbacks).u64("readback_failures", z.readback_failures)
            .i64("seconds_since_success",
                 z.last_success_unix > 0 ? static_cast<int64_t>(now - z.last_success_unix) : -1)
            .str("last_error", z.last_error);
    }

    bool tel_stats(stats::TelDict& out) {
        const auto s = snapshot_.get();
        uint64_t rx = 0, rx_bytes = 0, mdns = 0, tx = 0, drops = 0, parse = 0, busy = 0, idle = 0;
        uint64_t ev = 0, ev_drop = 0;
        for (size_t w = 0; w < dp_.worker_count(); ++w) {
            const auto& c = dp_.counters(w);
            rx += c.rx_packets.get();
            rx_bytes += c.rx_bytes.get();
            mdns += c.mdns_messages.get();
            tx += c.tx_packets.get();
            for (const auto& d : c.frame_drop) drops += d.get();
            drops -= c.frame_drop[0].get();  // "ok" is not a drop
            for (const auto& d : c.path_drop) drops += d.get();
            for (const auto& p : c.parse_error) parse += p.get();
            const auto load = dp_.worker_load(w);
            busy += load.busy_cycles;
            idle += load.idle_cycles;
            ev += dp_.events(w).produced();
            ev_drop += dp_.events(w).dropped();
        }
        out.u64("workers", dp_.worker_count()).u64("rx_packets", rx).u64("rx_bytes", rx_bytes)
            .u64("mdns_messages", mdns).u64("tx_packets", tx).u64("dropped_packets", drops)
            .u64("parse_errors", parse).u64("events", ev).u64("event_ring_overflows", ev_drop)
            .u64("worker_busy_permille", busy + idle ? busy * 1000 / (busy + idle) : 0);
        if (s) {
            uint64_t pending = 0, sent = 0;
            for (const auto& z : s->zones) {
                pending += z.pending;
                sent += z.messages_sent;
            }
            uint64_t services = 0;
            for (const auto& l : s->links) services += l.services;
            out.u64("records", s->records).u64("services", services).u64("update_messages", sent)
                .u64("update_pending", pending).u64("refresh_queries", s->refresh_queries)
                .u64("reloads", s->reloads_ok).u64("reloads_failed", s->reloads_failed);
        }
        return true;
    }

    size_t live_links() const {
        size_t n = 0;
        for (const auto& sl : slots_) n += sl.active ? 1 : 0;
        return n;
    }

    // Control thread: the service instances (SRV owners) on a link, as announced.
    std::vector<std::string> services_on(const std::string& link, bool* ok) const {
        std::vector<std::string> out;
        uint16_t id = 0;
        *ok = false;
        for (uint16_t l = 0; l < dp_.links().size(); ++l) {
            if (dp_.links()[l].active && dp_.links()[l].name == link) {
                id = l;
                *ok = true;
            }
        }
        if (!*ok) return out;
        for (const auto& [k, r] : cp_->store().records()) {
            if (k.link == id && r.type == codec::rrtype::SRV) out.push_back(r.owner.to_string());
        }
        return out;
    }

    // ---- reload ----

    struct Retiring {
        std::unique_ptr<ControlPlane> cp;
        config::Config cfg;  // what it was built from (routing of its records)
        uint64_t since_ms = 0;
        std::vector<bool> begun, resynced;
        bool removals_done = false;
        uint64_t removals = 0;
    };

    // SIGHUP or `updproxyctl reload`. Re-reads and validates the file; a bad
    // file, or a change only a restart can make, leaves everything as it
    // was (one log line says why). Otherwise applies, without dropping the
    // table: log.level; metrics (listener moved, started or stopped); and
    // links added, removed or re-addressed, publish/update/links[].subdomain
    // by building a new control plane:
    //
    //   0. links: the kept links keep their ids (control/link_slots.hpp); the
    //      dataplane gets a new link table (a removed link's slot inactive,
    //      an added link in a new slot) and every shard purges a removed
    //      link's records (remove events: the old store and gauges drop them);
    //
    //   1. the new ControlPlane (store, model, UPDATE engine with the new
    //      key, policy and zones) replaces the old one, which retires;
    //   2. every shard is asked for a full re-read: the new store receives
    //      every live record, its model publishes them, its engine sends
    //      them (adds are idempotent: a server that has them is unchanged);
    //   3. once every shard finished a re-read that began after the swap
    //      (at most kResyncWaitMs), the records the OLD model published that
    //      the new one does not publish to the same zone and server are
    //      removed through the OLD engine (its key, its server) — e.g. a
    //      link's subdomain changed, a link was removed, a zone moved,
    //      update disabled;
    //   4. the old engine runs until it is idle (its queued changes and
    //      those removals answered) or kRetireMaxMs passed, then is
    //      destroyed; its counters are folded into the exported totals, and
    //      if it sent anything after the swap the new engine re-sends its
    //      desired state (reconcile) so a late removal of a record that
    //      came back cannot win.
    //
    // Records are never removed when the re-read did not complete: they are
    // left to their leases (and the next reconcile) instead.
    std::string reload(const std::string& why) {
        auto fail = [&](const std::string& msg) {
            ++reloads_failed_;
            last_reload_ok_ = false;
            log_(Level::warn, "reload (" + why + ") refused: " + msg +
                                  "; keeping the running configuration");
            publish_snapshot(dataplane::monotonic_ms());
            return "{\"error\": " + json_str("reload refused: " + msg) + "}\n";
        };
        if (config_path_.empty()) {
            return fail("running the embedded default configuration (no --config file to re-read)");
        }
        auto parsed = config::load_config(config_path_);
        if (auto* e = std::get_if<config::ConfigError>(&parsed)) return fail(e->to_string());
        config::Config next = std::get<config::Config>(std::move(parsed));
        if (const std::string r = needs_restart(cfg_, next); !r.empty()) {
            return fail(r + " (needs a restart)");
        }
        std::vector<std::string> applied;
        // Everything that can fail first; nothing is applied until all is ready.
        std::vector<LinkSlot> slots;
        if (const std::string e = assign_slots(slots_, next, dp_.link_capacity(), &slots); !e.empty()) {
            return fail("links: " + e + " (needs a restart)");
        }
        std::vector<dataplane::LinkSpec> specs = slot_specs(next, slots);
        const std::vector<std::string> links = link_changes(slots_, slots, dp_.links(), specs);
        std::vector<std::string> control = control_changes(cfg_, next);
        if (!links.empty()) control.push_back("links");
        std::unique_ptr<ControlPlane> fresh;
        if (!control.empty()) {
            std::string error;
            fresh = ControlPlane::create(slotted_config(next, slots), specs, log_.stream(), &error);
            if (!fresh) return fail("update: " + error);
            if (auth_) fresh->serve_zones(&auth_->store());
        }
        // (also retries a listener that could not be opened before)
        if (!(next.metrics == cfg_.metrics) || (next.metrics.enabled && !exporter_)) {
            std::string error;
            if (!apply_metrics(next.metrics, &error)) return fail(error);
            applied.push_back("metrics " + (next.metrics.enabled ? next.metrics.listen() : "off"));
        }
        // ---- commit ----
        if (!links.empty()) {
            std::string error;
            if (!dp_.set_links(std::move(specs), &error)) {
                return fail("links: " + error);  // (a bug: the slots were checked)
            }
            for (size_t i = 0; i < slots_.size(); ++i) {
                if (slots_[i].active && !slots[i].active) dp_.purge_link(static_cast<uint16_t>(i));
            }
            for (const auto& l : links) applied.push_back(l);
        }
        slots_ = std::move(slots);
        if (next.log.level != cfg_.log.level) {
            applied.push_back("log.level " + cfg_.log.level + " -> " + next.log.level);
            log_.set_level(level_of(next.log.level));
        }
        if (fresh) {
            std::string what;
            for (const auto& c : control) what += (what.empty() ? "" : ", ") + c;
            applied.push_back("control plane rebuilt (" + what + "); re-reading the table");
            swap_control_plane(std::move(fresh));
        }
        cfg_ = std::move(next);
        ++reloads_ok_;
        last_reload_ok_ = true;
        last_reload_unix_ = wall_seconds();
        table_changed_ = true;
        publish_snapshot(dataplane::monotonic_ms());
        std::string summary;
        for (const auto& a : applied) summary += (summary.empty() ? "" : "; ") + a;
        if (summary.empty()) summary = "no change";
        log_(Level::info, "reload (" + why + "): " + summary);
        std::string json = "{\"ok\": true, \"applied\": [";
        for (size_t i = 0; i < applied.size(); ++i) json += (i ? ", " : "") + json_str(applied[i]);
        return json + "]}\n";
    }

    void swap_control_plane(std::unique_ptr<ControlPlane> fresh) {
        const uint64_t now = dataplane::monotonic_ms();
        if (retiring_) {
            log_(Level::warn, "reload: the previous control plane had not finished retiring; "
                              "its pending UPDATEs are dropped");
            finish_retirement(now);
        }
        published_base_ += cp_->publisher().published();
        unpublished_base_ += cp_->publisher().unpublished();
        unroutable_base_ += cp_->publisher().unroutable();
        refused_base_ += cp_->publisher().refused();
        if (const Discovery* disc = cp_->discovery()) add_discovery(discovery_base_, disc->stats());
        add_subdomain(subdomain_base_, cp_->subdomain_stats());
        auto r = std::make_unique<Retiring>();
        r->cp = std::move(cp_);
        r->cfg = cfg_;
        r->since_ms = now;
        r->begun.assign(dp_.worker_count(), false);
        r->resynced.assign(dp_.worker_count(), false);
        retiring_ = std::move(r);
        cp_ = std::move(fresh);
        cp_->enable_discovery(dp_);
        cp_->start();
        for (size_t w = 0; w < dp_.worker_count(); ++w) dp_.shard(w).request_resync();
        ++resyncs_requested_;
    }

    void note_resync(size_t w, table::EventKind k) {
        if (w >= retiring_->begun.size()) return;
        if (k == table::EventKind::resync_begin) retiring_->begun[w] = true;
        if (k == table::EventKind::resync_end && retiring_->begun[w]) retiring_->resynced[w] = true;
    }

    void step_retirement(uint64_t now) {
        if (!retiring_) return;
        Retiring& r = *retiring_;
        if (!r.removals_done) {
            bool all = true;
            for (bool b : r.resynced) all = all && b;
            if (all) {
                remove_stale(r);
            } else if (now - r.since_ms >= kResyncWaitMs) {
                log_(Level::warn, "reload: the shards did not finish re-reading in " +
                                      std::to_string(kResyncWaitMs / 1000) +
                                      " s; records no longer published are left to their leases");
                r.removals_done = true;
                reconcile_zones();
            } else {
                return;
            }
        }
        const UpdateEngine* e = r.cp->engine();
        if (e == nullptr || e->idle()) {
            finish_retirement(now);
        } else if (now - r.since_ms >= kRetireMaxMs) {
            log_(Level::warn, "reload: the previous UPDATE engine still had changes after " +
                                  std::to_string(kRetireMaxMs / 1000) + " s; dropping them");
            finish_retirement(now);
        }
    }

    // Step 3 of reload(): what the old model published that the new one
    // does not publish to the same zone and server.
    void remove_stale(Retiring& r) {
        r.removals_done = true;
        reconcile_zones();
        UpdateEngine* old_engine = r.cp->engine();
        if (old_engine == nullptr) return;
        using Key = std::tuple<std::string, std::string, std::string, uint16_t, std::string>;
        std::set<Key> kept;
        for (uint16_t l = 0; l < cp_->model().link_count(); ++l) {
            for (const auto& [k, p] : cp_->model().published(l)) {
                const auto d = destination(cfg_, p.record.owner);
                if (d) kept.insert({d->first.to_string(), d->second, std::get<0>(k), std::get<1>(k),
                                    std::get<2>(k)});
            }
        }
        for (uint16_t l = 0; l < r.cp->model().link_count(); ++l) {
            for (const auto& [k, p] : r.cp->model().published(l)) {
                const auto d = destination(r.cfg, p.record.owner);
                if (!d) continue;
                if (kept.count({d->first.to_string(), d->second, std::get<0>(k), std::get<1>(k),
                                std::get<2>(k)})) {
                    continue;
                }
                if (old_engine->remove(d->first, p.record)) ++r.removals;
            }
        }
        if (r.removals) {
            log_(Level::info, "reload: removing " + std::to_string(r.removals) +
                                  " records the new configuration no longer publishes there");
        }
    }

    // Reload step 3 for the embedded zones (no server to route through: the
    // store is ours): whatever they hold that the new model does not
    // publish goes; committed with the loop's next pass.
    void reconcile_zones() {
        if (!auth_) return;
        using Key = std::tuple<std::string, uint16_t, std::vector<uint8_t>>;
        std::set<Key> want;
        for (uint16_t l = 0; l < cp_->model().link_count(); ++l) {
            for (const auto& [k, p] : cp_->model().published(l)) {
                want.insert({p.record.owner.lowercased().to_string(), p.record.type, p.record.rdata});
            }
        }
        zone::ZoneStore& st = auth_->store();
        size_t removed = 0;
        for (size_t z = 0; z < st.zone_count(); ++z) {
            for (const auto& rec : st.records(z)) {
                if (want.count({rec.owner.lowercased().to_string(), rec.type, rec.rdata})) continue;
                if (st.remove(rec)) ++removed;
            }
        }
        if (removed) {
            log_(Level::info, "reload: " + std::to_string(removed) +
                                  " records left the served zones");
        }
    }

    void finish_retirement(uint64_t now) {
        Retiring& r = *retiring_;
        if (UpdateEngine* e = r.cp->engine()) {
            for (const auto& z : e->zones()) zone_base_[z.to_string()].add(e->stats(z));
            // Anything it sent after the swap could race the new engine's
            // adds: the new engine re-sends what it wants.
            if (UpdateEngine* n = cp_->engine(); n && (r.removals || !e->idle())) {
                for (const auto& z : n->zones()) n->reconcile(z);
            }
        }
        log_(Level::debug, "reload: previous control plane retired after " +
                               std::to_string(now - r.since_ms) + " ms");
        retiring_.reset();
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

    std::string zone_json(const stats::ZoneSample& z) const {
        std::ostringstream o;
        const double now = wall_seconds();
        o << "{\"zone\": " << json_str(z.zone) << ", \"server\": " << json_str(z.server)
          << ", \"transport\": " << json_str(z.transport)
          << ", \"reachable\": " << (z.reachable ? "true" : "false")
          << ", \"desired\": " << z.desired << ", \"confirmed\": " << z.confirmed
          << ", \"pending\": " << z.pending << ", \"messages_sent\": " << z.messages_sent
          << ", \"records_sent\": " << z.records_sent << ", \"timeouts\": " << z.timeouts
          << ", \"retries\": " << z.retries << ", \"failed_changes\": " << z.failed_changes
          << ", \"queue_overflow\": " << z.queue_overflow << ", \"held\": " << z.held
          << ", \"splits\": " << z.splits << ", \"readbacks\": " << z.readbacks
          << ", \"readback_failures\": " << z.readback_failures << ", \"leftovers\": " << z.leftovers
          << ", \"lease_echoed\": " << (z.lease_echoed ? "true" : "false")
          << ", \"seconds_since_success\": ";
        if (z.last_success_unix > 0) {
            o << static_cast<int64_t>(now - z.last_success_unix);
        } else {
            o << "null";
        }
        o << ", \"responses\": {";
        bool first = true;
        for (size_t rc = 0; rc < z.responses.size(); ++rc) {
            if (!z.responses[rc]) continue;
            o << (first ? "" : ", ") << json_str(std::to_string(rc) + " " +
                                                 std::string(codec::rcode_name(static_cast<uint16_t>(rc))))
              << ": " << z.responses[rc];
            first = false;
        }
        o << "}, \"last_error\": " << json_str(z.last_error) << "}\n";
        return o.str();
    }

    std::string handle_request(const std::string& req) {
        std::istringstream in(req);
        std::string cmd, arg;
        in >> cmd >> arg;
        std::ostringstream o;
        if (cmd == "status") {
            o << "{\"version\": " << json_str(UPDPROXY_VERSION)
              << ", \"workers\": " << dp_.worker_count() << ", \"links\": " << live_links()
              << ", \"records\": " << cp_->store().size()
              << ", \"published\": " << cp_->publisher().published() - cp_->publisher().unpublished()
              << ", \"updates_idle\": " << (cp_->updates_idle() ? "true" : "false")
              << ", \"failed_changes\": " << cp_->failed_changes()
              << ", \"uptime_ms\": " << dataplane::monotonic_ms() - start_ms_
              << ", \"refresh_queries\": "
              << refresh_queries_ + discovery_base_.refresh_queries +
                     (cp_->discovery() ? cp_->discovery()->stats().refresh_queries : 0)
              << ", \"unicast_queries_unanswered\": " << queries_unanswered_
              << ", \"dns_queries_dpdk\": " << dp_queries_ + worker_answers()
              << ", \"dns_queries_dpdk_worker\": " << worker_answers()
              << ", \"dns_link_tcp_queries\": " << (link_tcp_ ? link_tcp_->stats().queries : 0)
              << ", \"dns_link_tcp_connections\": " << (link_tcp_ ? link_tcp_->connections() : 0)
              << ", \"dns_zones\": " << (auth_ ? auth_->store().zone_count() : 0)
              << ", \"config\": " << json_str(config_path_.empty() ? "<embedded default>" : config_path_)
              << ", \"log_level\": " << json_str(cfg_.log.level)
              << ", \"metrics\": ";
            if (exporter_) {
                const std::string l = metrics_listen_;
                o << json_str(l.substr(0, l.rfind(':')) + ":" + std::to_string(exporter_->port()));
            } else {
                o << "null";
            }
            o << ", \"reloads\": " << reloads_ok_ << ", \"reloads_failed\": " << reloads_failed_
              << ", \"reloading\": " << (retiring_ ? "true" : "false") << "}\n";
        } else if (cmd == "links") {
            for (uint16_t l = 0; l < dp_.links().size(); ++l) {
                const auto& spec = dp_.links()[l];
                if (!spec.active) continue;  // removed by a reload
                o << "{\"name\": " << json_str(spec.name)
                  << ", \"port\": " << json_str(dp_.ports()[spec.port].name)
                  << ", \"records\": " << cp_->store().link_size(l)
                  << ", \"instances\": " << cp_->model().instance_count(l);
                const auto& pub = cp_->model().link(l);
                if (pub.publish) o << ", \"subdomain\": " << json_str(pub.subdomain.to_string());
                o << "}\n";
            }
        } else if (cmd == "services") {
            bool known = arg.empty();
            for (uint16_t l = 0; l < dp_.links().size(); ++l) {
                known |= dp_.links()[l].active && dp_.links()[l].name == arg;
            }
            if (!known) {
                return "{\"error\": " + json_str("no link named " + arg) + "}\n";
            }
            for (const auto& [k, r] : cp_->store().records()) {
                if (r.link >= dp_.links().size() || !dp_.links()[r.link].active) continue;
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
        } else if (cmd == "zones" || cmd == "zone") {
            publish_snapshot(dataplane::monotonic_ms());
            const auto s = snapshot_.get();
            bool found = false;
            for (const auto& z : s->zones) {
                if (cmd == "zone" && z.zone != arg && z.zone != arg + ".") continue;
                o << zone_json(z);
                found = true;
            }
            if (cmd == "zone" && !found) {
                std::string known;
                for (const auto& z : s->zones) known += (known.empty() ? "" : ", ") + z.zone;
                return "{\"error\": " +
                       json_str("no UPDATE zone " + arg +
                                (known.empty() ? " (no update section)" : " (zones: " + known + ")")) +
                       "}\n";
            }
        } else if (cmd == "resync") {
            for (size_t w = 0; w < dp_.worker_count(); ++w) dp_.shard(w).request_resync();
            ++resyncs_requested_;
            // And the UPDATE zones are read back and converged.
            if (UpdateEngine* e = cp_->engine()) {
                for (const auto& z : e->zones()) e->reconcile(z);
            }
            log_(Level::info, "resync requested by updproxyctl");
            o << "{\"ok\": true}\n";
        } else if (cmd == "reload") {
            return reload("updproxyctl");
        } else {
            o << "{\"error\": " << json_str("unknown command: " + cmd)
              << ", \"commands\": [\"status\", \"links\", \"services [LINK]\", \"stats\", "
                 "\"zones\", \"zone ZONE\", \"resync\", \"reload\"]}\n";
        }
        return o.str();
    }

    config::Config cfg_;
    // Link ids: slots_[id] is the link with that id (control/link_slots.hpp);
    // cfg_.links is the file's order, not the ids'.
    std::vector<LinkSlot> slots_;
    std::string config_path_;
    dataplane::Dataplane& dp_;
    std::unique_ptr<ControlPlane> cp_;
    std::unique_ptr<Retiring> retiring_;
    Log& log_;
    std::vector<const Record*> refresh_;
    std::vector<uint64_t> drops_seen_;
    std::vector<RateLimit> overflow_log_;
    uint64_t start_ms_ = 0;
    uint64_t refresh_queries_ = 0;
    uint64_t enumeration_queries_ = 0;
    uint64_t queries_unanswered_ = 0;
    uint64_t tx_ring_full_ = 0;
    uint64_t resyncs_overflow_ = 0, resyncs_requested_ = 0;
    uint64_t published_base_ = 0, unpublished_base_ = 0, unroutable_base_ = 0, refused_base_ = 0;
    std::map<std::string, ZoneTotals> zone_base_;
    DiscoveryStats discovery_base_;
    SubdomainStats subdomain_base_;
    uint64_t reloads_ok_ = 0, reloads_failed_ = 0;
    double last_reload_unix_ = 0;
    bool last_reload_ok_ = true;
    bool table_changed_ = true;
    uint64_t snapshot_ms_ = 0;
    stats::Published<stats::ControlSnapshot> snapshot_;
    std::unique_ptr<stats::Exporter> exporter_;
    std::string metrics_listen_;
    ControlCalls calls_;
    std::unique_ptr<zone::AuthServer> auth_;  // `dns:`; null without
    std::vector<uint8_t> dp_out_;             // a DPDK link query's answer
    zone::LatencyHistogram dp_latency_;
    // One per worker (after auth_: readers go before their store).
    std::vector<std::unique_ptr<zone::WorkerAnswerer>> answerers_;
    std::unique_ptr<LinkTcp> link_tcp_;  // TCP on link addresses (with auth_)
    uint64_t dp_queries_ = 0, dp_replies_ = 0, dp_malformed_ = 0;
    uint64_t zone_records_ = 0;
    int ctl_ = -1;
    std::string ctl_path_;
};

}  // namespace

CLI::App* add_run_command(CLI::App& app, RunOptions& opts) {
    CLI::App* cmd = app.add_subcommand("run", "Run the proxy (DPDK dataplane and control plane)");
    cmd->add_option("-c,--config", opts.config,
                    "configuration file (default: the embedded development configuration); "
                    "SIGHUP or `updproxyctl reload` re-reads it");
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
    const config::Config cfg = std::get<config::Config>(parsed);
    if (opts.check_only) {
        out << (opts.config.empty() ? "embedded default" : opts.config) << ": OK ("
            << cfg.ports.size() << " ports, " << cfg.links.size() << " links)\n";
        return kExitOk;
    }
    Log log(err);
    log.set_level(level_of(cfg.log.level));

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
    // Live: refresh and enumeration queries (draft §4.2) go out through
    // the workers' tx rings.
    cp->enable_discovery(*dp);
    {
        const std::string sock = opts.control_socket.empty()
                                     ? "/run/updproxy/" + cfg.dpdk.file_prefix + ".sock"
                                     : opts.control_socket;
        const std::string path =
            opts.config.empty() ? ""
                                : std::filesystem::absolute(opts.config).lexically_normal().string();
        Daemon d(cfg, path, *dp, std::move(cp), log);
        if (!d.open_control_socket(sock, &error) || !d.open_dns(&error)) {
            err << "updproxy: " << error << '\n';
            rc = kExitFailed;
        } else {
            dp->start();
            log(Level::info, "running: " + std::to_string(dp->worker_count()) + " workers, " +
                                 std::to_string(dp->links().size()) + " links, control socket " +
                                 sock);
            d.start();
            rc = d.loop(sigfd, opts.for_seconds);
            // Nobody reads the dataplane from another thread after this.
            d.shutdown_introspection();
            dp->stop();
        }
    }
    dp.reset();
    close(sigfd);
    err << "updproxy: stopped\n";
    return rc;
}

}  // namespace updproxy::control

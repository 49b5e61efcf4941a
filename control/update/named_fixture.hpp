// A real BIND `named` for system tests: started on 127.0.0.1 at free ports
// in a temporary directory, with one dynamic zone, a TSIG key made by
// `tsig-keygen`, optionally a DNS-over-TLS listener with a certificate from
// a throw-away CA made by `openssl req`.
//
// named is killed by stop(), by the destructor, at exit (atexit), and by the
// kernel if the test process dies (PR_SET_PDEATHSIG), so no test run leaves
// one behind. The zone can be reset to empty (zone file rewritten, journal
// removed) between stop() and start() to play a server that lost its state.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "codec/name.hpp"
#include "codec/tsig.hpp"

namespace updproxy::control::testing {

struct NamedOptions {
    std::string zone = "lab.example.test";
    std::string key_name = "upd.lab.example.test";
    bool tls = false;                  // also listen for DNS over TLS
    std::string tls_name = "ns.lab.example.test";  // in the certificate (plus IP 127.0.0.1)
    std::string extra_options;         // appended inside options { }
};

// A record as the server holds it (RDATA uncompressed, names as stored).
struct ZoneRecord {
    codec::Name owner;
    uint16_t type = 0;
    uint32_t ttl = 0;
    std::vector<uint8_t> rdata;
};

class NamedServer {
public:
    NamedServer() = default;
    ~NamedServer();
    NamedServer(const NamedServer&) = delete;
    NamedServer& operator=(const NamedServer&) = delete;

    // Empty when named, tsig-keygen, dig (and openssl for TLS) are installed;
    // else why not (the tests skip).
    static std::string missing_tools(bool tls);

    // Directory, key, certificates, zone file and config. Ports are chosen
    // here and kept across restarts.
    bool setup(const NamedOptions& o, std::string* err);
    // Starts named and waits until it answers SOA for the zone (and, with
    // TLS, accepts connections on the TLS port).
    bool start(std::string* err);
    // Stops named (SIGTERM, then SIGKILL after 3 s).
    void stop();
    bool running() const { return pid_ > 0; }
    // With named stopped: an empty zone again (SOA, NS, ns A) and no journal.
    void reset_zone();

    uint16_t port() const { return port_; }
    uint16_t tls_port() const { return tls_port_; }
    const codec::TsigKey& key() const { return key_; }
    std::string ca_file() const { return (dir_ / "ca.crt").string(); }
    const std::filesystem::path& dir() const { return dir_; }
    codec::Name zone() const;
    std::string log_tail(size_t bytes = 4000) const;

    // The zone's content by AXFR (over TCP, parsed with the codec), without
    // the apex SOA/NS and the `ns` address the zone file starts with.
    // Empty with `err` set on failure.
    std::vector<ZoneRecord> axfr(std::string* err) const;
    // dig +short NAME TYPE.
    std::string dig(const std::string& name, const std::string& type) const;

private:
    void write_zone_file() const;

    NamedOptions opt_;
    std::filesystem::path dir_;
    uint16_t port_ = 0;
    uint16_t tls_port_ = 0;
    codec::TsigKey key_;
    pid_t pid_ = -1;
};

// Runs a shell command; its standard output.
std::string run_command(const std::string& cmd);
// A port free for UDP and TCP on 127.0.0.1.
uint16_t free_port();

}  // namespace updproxy::control::testing

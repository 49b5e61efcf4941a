#include "control/update/named_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/types.hpp"

namespace updproxy::control::testing {
namespace fs = std::filesystem;
namespace {

constexpr const char* kNamed = "/usr/sbin/named";
constexpr const char* kKeygen = "/usr/sbin/tsig-keygen";
constexpr const char* kDig = "/usr/bin/dig";
constexpr const char* kOpenssl = "/usr/bin/openssl";

// Every named this process started, killed at exit whatever happens to the
// fixtures (a failed ASSERT in SetUpTestSuite, an exception, exit()).
std::mutex g_mu;
std::set<pid_t> g_pids;

void kill_all_named() {
    std::lock_guard<std::mutex> l(g_mu);
    for (pid_t p : g_pids) {
        kill(p, SIGKILL);
        waitpid(p, nullptr, 0);
    }
    g_pids.clear();
}

void register_pid(pid_t p) {
    static const bool once = [] {
        std::atexit(kill_all_named);
        return true;
    }();
    (void)once;
    std::lock_guard<std::mutex> l(g_mu);
    g_pids.insert(p);
}

void unregister_pid(pid_t p) {
    std::lock_guard<std::mutex> l(g_mu);
    g_pids.erase(p);
}

std::string read_file(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// One UDP query with a short wait; empty on timeout.
std::vector<uint8_t> udp_query(uint16_t port, std::span<const uint8_t> q) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) return {};
    sockaddr_in a = loopback(port);
    std::vector<uint8_t> out;
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        send(s, q.data(), q.size(), 0) == static_cast<ssize_t>(q.size())) {
        pollfd p{s, POLLIN, 0};
        if (poll(&p, 1, 300) == 1) {
            out.resize(65535);
            const ssize_t n = recv(s, out.data(), out.size(), 0);
            out.resize(n > 0 ? static_cast<size_t>(n) : 0);
        }
    }
    close(s);
    return out;
}

bool tcp_accepts(uint16_t port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return false;
    sockaddr_in a = loopback(port);
    const bool ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(s);
    return ok;
}

bool read_exact(int fd, uint8_t* p, size_t n) {
    while (n > 0) {
        pollfd pf{fd, POLLIN, 0};
        if (poll(&pf, 1, 5000) != 1) return false;
        const ssize_t r = recv(fd, p, n, 0);
        if (r <= 0) return false;
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

}  // namespace

std::string run_command(const std::string& cmd) {
    std::string out;
    FILE* f = popen(cmd.c_str(), "r");
    if (f == nullptr) return out;
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
    pclose(f);
    return out;
}

uint16_t free_port() {
    for (int attempt = 0; attempt < 20; ++attempt) {
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a = loopback(0);
        socklen_t alen = sizeof(a);
        if (u < 0 || bind(u, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
            getsockname(u, reinterpret_cast<sockaddr*>(&a), &alen) != 0) {
            if (u >= 0) close(u);
            continue;
        }
        int t = socket(AF_INET, SOCK_STREAM, 0);
        const bool tcp_ok = t >= 0 && bind(t, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
        if (t >= 0) close(t);
        close(u);
        if (tcp_ok) return ntohs(a.sin_port);
    }
    return 0;
}

std::string NamedServer::missing_tools(bool tls) {
    for (const char* t : {kNamed, kKeygen, kDig}) {
        if (access(t, X_OK) != 0) {
            return std::string(t) + " not installed (Debian: bind9, bind9-utils, bind9-dnsutils)";
        }
    }
    if (tls && access(kOpenssl, X_OK) != 0) return "openssl not installed";
    return {};
}

NamedServer::~NamedServer() {
    stop();
    if (!dir_.empty() && std::getenv("UPDPROXY_KEEP_NAMED_DIR") == nullptr) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

codec::Name NamedServer::zone() const { return *codec::Name::parse(opt_.zone); }

void NamedServer::write_zone_file() const {
    std::ofstream(dir_ / "zone.db") << "$TTL 300\n"
                                       "@ IN SOA ns." << opt_.zone << ". hostmaster." << opt_.zone
                                    << ". 1 3600 600 86400 300\n"
                                       "@ IN NS ns." << opt_.zone << ".\n"
                                       "ns IN A 127.0.0.1\n";
}

void NamedServer::reset_zone() {
    std::error_code ec;
    fs::remove(dir_ / "zone.db.jnl", ec);
    write_zone_file();
}

bool NamedServer::setup(const NamedOptions& o, std::string* err) {
    opt_ = o;
    char tmpl[] = "/tmp/updproxy-upd-named-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
        *err = "mkdtemp failed";
        return false;
    }
    dir_ = tmpl;
    const std::string d = dir_.string();
    const fs::path keyfile = dir_ / "key.conf";
    if (std::system((std::string(kKeygen) + " -a hmac-sha256 " + o.key_name + " > " +
                     keyfile.string()).c_str()) != 0) {
        *err = "tsig-keygen failed";
        return false;
    }
    codec::Result<std::vector<codec::TsigKey>> keys = codec::parse_tsig_keyfile(read_file(keyfile));
    if (!keys.ok() || keys->size() != 1) {
        *err = "cannot parse " + keyfile.string();
        return false;
    }
    key_ = keys->front();

    if (o.tls) {
        // A throw-away CA and a server certificate for tls_name and 127.0.0.1.
        const std::string q = " >/dev/null 2>&1";
        const std::string ossl = kOpenssl;
        std::ofstream(dir_ / "ext.cnf") << "subjectAltName=DNS:" << o.tls_name
                                        << ",IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                           "extendedKeyUsage=serverAuth\n";
        const std::string cmds[] = {
            ossl + " req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + d +
                "/ca.key -out " + d + "/ca.crt -days 2 -subj /CN=updproxy-test-ca"
                " -addext basicConstraints=critical,CA:TRUE"
                " -addext keyUsage=critical,keyCertSign,cRLSign" + q,
            ossl + " req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + d +
                "/server.key -out " + d + "/server.csr -subj /CN=" + o.tls_name + q,
            ossl + " x509 -req -in " + d + "/server.csr -CA " + d + "/ca.crt -CAkey " + d +
                "/ca.key -CAcreateserial -out " + d + "/server.crt -days 2 -extfile " + d +
                "/ext.cnf" + q,
        };
        for (const std::string& c : cmds) {
            if (std::system(c.c_str()) != 0) {
                *err = "failed: " + c;
                return false;
            }
        }
    }

    port_ = free_port();
    tls_port_ = o.tls ? free_port() : 0;
    if (port_ == 0 || (o.tls && tls_port_ == 0)) {
        *err = "no free port";
        return false;
    }
    write_zone_file();
    std::ofstream conf(dir_ / "named.conf");
    conf << "include \"" << keyfile.string() << "\";\n";
    if (o.tls) {
        conf << "tls local-tls { key-file \"" << d << "/server.key\"; cert-file \"" << d
             << "/server.crt\"; };\n";
    }
    conf << "options {\n"
         << "  directory \"" << d << "\";\n"
         << "  pid-file \"" << d << "/named.pid\";\n"
         << "  session-keyfile \"" << d << "/session.key\";\n"
         << "  managed-keys-directory \"" << d << "\";\n"
         << "  listen-on port " << port_ << " { 127.0.0.1; };\n";
    if (o.tls) conf << "  listen-on port " << tls_port_ << " tls local-tls { 127.0.0.1; };\n";
    conf << "  listen-on-v6 { none; };\n"
         << "  recursion no;\n"
         << "  dnssec-validation no;\n"
         << "  notify no;\n"
         << "  allow-transfer { any; };\n"
         << o.extra_options << "\n"
         << "};\n"
         << "controls { };\n"
         << "zone \"" << o.zone << "\" {\n"
         << "  type primary;\n"
         << "  file \"" << d << "/zone.db\";\n"
         << "  update-policy { grant " << o.key_name << " zonesub ANY; };\n"
         << "};\n";
    return true;
}

bool NamedServer::start(std::string* err) {
    if (pid_ > 0) return true;
    const std::string conf = (dir_ / "named.conf").string();
    const std::string log = (dir_ / "named.log").string();
    int logfd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (logfd < 0) {
        *err = "cannot create " + log;
        return false;
    }
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        *err = "fork failed";
        return false;
    }
    if (pid == 0) {
        // Die with the test process, whatever way it ends.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        dup2(logfd, 1);
        dup2(logfd, 2);
        close(logfd);
        execl(kNamed, kNamed, "-c", conf.c_str(), "-u", "root", "-g", "-n", "2",
              static_cast<char*>(nullptr));
        _exit(127);
    }
    close(logfd);
    pid_ = pid;
    register_pid(pid);

    // Ready when it answers SOA for the zone.
    std::vector<uint8_t> q(512);
    codec::Builder b(q);
    b.set_id(0x4242);
    (void)b.add_question(zone(), codec::rrtype::SOA, codec::rrclass::IN);
    q.resize(b.size());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            unregister_pid(pid);
            pid_ = -1;
            *err = "named exited during start-up:\n" + log_tail();
            return false;
        }
        std::vector<uint8_t> r = udp_query(port_, q);
        if (r.size() >= 12 && r[0] == 0x42 && r[1] == 0x42 && (r[3] & 0xF) == 0 && r[7] >= 1 &&
            (tls_port_ == 0 || tcp_accepts(tls_port_))) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    *err = "named did not answer within 15 s:\n" + log_tail();
    stop();
    return false;
}

void NamedServer::stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    bool gone = false;
    for (int i = 0; i < 300 && !gone; ++i) {
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            gone = true;
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    if (!gone) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
    }
    unregister_pid(pid_);
    pid_ = -1;
}

std::string NamedServer::log_tail(size_t bytes) const {
    std::string log = read_file(dir_ / "named.log");
    if (log.size() > bytes) log = log.substr(log.size() - bytes);
    return log;
}

std::string NamedServer::dig(const std::string& name, const std::string& type) const {
    std::string out = run_command(std::string(kDig) + " @127.0.0.1 -p " + std::to_string(port_) +
                                  " +short +time=2 +tries=2 '" + name + "' " + type + " 2>&1");
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

std::vector<ZoneRecord> NamedServer::axfr(std::string* err) const {
    std::vector<ZoneRecord> out;
    const codec::Name apex = zone();
    codec::Result<codec::Name> ns = codec::Name::parse("ns." + opt_.zone);
    std::vector<uint8_t> q(512);
    codec::Builder b(q);
    b.set_id(0x5151);
    (void)b.add_question(apex, codec::rrtype::AXFR, codec::rrclass::IN);
    q.resize(b.size());

    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(port_);
    if (s < 0 || connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        if (s >= 0) close(s);
        *err = "axfr: cannot connect";
        return {};
    }
    std::vector<uint8_t> framed{static_cast<uint8_t>(q.size() >> 8),
                                static_cast<uint8_t>(q.size() & 0xFF)};
    framed.insert(framed.end(), q.begin(), q.end());
    if (send(s, framed.data(), framed.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(framed.size())) {
        close(s);
        *err = "axfr: send failed";
        return {};
    }
    int soa_seen = 0;
    std::vector<uint8_t> rd(65535 + 512);
    while (soa_seen < 2) {
        uint8_t lenb[2];
        if (!read_exact(s, lenb, 2)) {
            *err = "axfr: connection ended early";
            break;
        }
        std::vector<uint8_t> msg((size_t{lenb[0]} << 8) | lenb[1]);
        if (!read_exact(s, msg.data(), msg.size())) {
            *err = "axfr: short message";
            break;
        }
        codec::Result<codec::Message> m = codec::Message::parse(msg);
        if (!m.ok() || m->header().rcode() != 0) {
            *err = "axfr: bad answer";
            break;
        }
        for (const codec::RrView& rr : m->answers()) {
            if (rr.type == codec::rrtype::SOA) {
                ++soa_seen;
                continue;
            }
            ZoneRecord zr;
            zr.owner = rr.owner.to_name();
            if ((zr.owner == apex && rr.type == codec::rrtype::NS) ||
                (ns.ok() && zr.owner == *ns && rr.type == codec::rrtype::A)) {
                continue;
            }
            zr.type = rr.type;
            zr.ttl = rr.ttl;
            codec::Result<size_t> n = rr.rdata_uncompressed(rd);
            if (!n.ok()) continue;
            zr.rdata.assign(rd.begin(), rd.begin() + static_cast<std::ptrdiff_t>(*n));
            out.push_back(std::move(zr));
        }
    }
    close(s);
    if (soa_seen < 2) return {};
    err->clear();
    return out;
}

}  // namespace updproxy::control::testing

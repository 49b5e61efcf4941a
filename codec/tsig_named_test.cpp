// System test: TSIG against a real BIND `named`.
//
// The fixture starts named (Debian's BIND 9) on 127.0.0.1 and a free port, in
// a temporary directory, with a dynamic zone example.test. whose update-policy
// grants keys made by `tsig-keygen`. The tests send UPDATEs built with
// UpdateBuilder and signed with tsig_sign over plain UDP sockets, and verify
// named's signed answers with tsig_verify. named is killed in the suite's
// teardown, at exit, and by the kernel if this process dies (PDEATHSIG).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/tsig.hpp"
#include "codec/types.hpp"

namespace updproxy::codec {
namespace {

using Bytes = std::vector<uint8_t>;
namespace fs = std::filesystem;

constexpr const char* kNamed = "/usr/sbin/named";
constexpr const char* kKeygen = "/usr/sbin/tsig-keygen";
constexpr const char* kDig = "/usr/bin/dig";

// The named child, killed from wherever the test process ends.
pid_t g_named = -1;

void kill_named() {
    if (g_named > 0) {
        kill(g_named, SIGKILL);
        waitpid(g_named, nullptr, 0);
        g_named = -1;
    }
}

// Runs a shell command and returns its standard output.
std::string run(const std::string& cmd) {
    std::string out;
    FILE* f = popen(cmd.c_str(), "r");
    if (f == nullptr) return out;
    std::array<char, 512> buf{};
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
    pclose(f);
    return out;
}

std::string read_file(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// A port free for both UDP and TCP on 127.0.0.1, found by binding port 0.
// (Another process could take it before named does; the start-up check
// would then fail loudly rather than talk to the wrong server.)
uint16_t free_port() {
    for (int attempt = 0; attempt < 20; ++attempt) {
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t alen = sizeof(a);
        if (u < 0 || bind(u, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
            getsockname(u, reinterpret_cast<sockaddr*>(&a), &alen) != 0) {
            if (u >= 0) close(u);
            continue;
        }
        int t = socket(AF_INET, SOCK_STREAM, 0);
        bool tcp_ok = t >= 0 && bind(t, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
        if (t >= 0) close(t);
        close(u);
        if (tcp_ok) return ntohs(a.sin_port);
    }
    return 0;
}

// One UDP exchange with retries; empty on timeout.
Bytes udp_exchange(uint16_t port, std::span<const uint8_t> query) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) return {};
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Bytes out;
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
        for (int attempt = 0; attempt < 3 && out.empty(); ++attempt) {
            if (send(s, query.data(), query.size(), 0) < 0) break;
            pollfd p{s, POLLIN, 0};
            if (poll(&p, 1, 1000) == 1) {
                Bytes buf(65535);
                ssize_t n = recv(s, buf.data(), buf.size(), 0);
                if (n > 0) {
                    buf.resize(static_cast<size_t>(n));
                    out = std::move(buf);
                }
            }
        }
    }
    close(s);
    return out;
}

uint64_t now() { return static_cast<uint64_t>(std::time(nullptr)); }

Name name(std::string_view s) {
    Result<Name> n = Name::parse(s);
    EXPECT_TRUE(n.ok()) << s;
    return n.value();
}

const TsigKey* find_key(const std::vector<TsigKey>& keys, std::string_view n) {
    Name want = name(n);
    for (const TsigKey& k : keys) {
        if (k.name == want) return &k;
    }
    return nullptr;
}

class NamedTsig : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        setup_error_.clear();
        if (access(kNamed, X_OK) != 0 || access(kKeygen, X_OK) != 0 || access(kDig, X_OK) != 0) {
            skip_reason_ = "BIND not installed (needs /usr/sbin/named, /usr/sbin/tsig-keygen, "
                           "/usr/bin/dig: Debian packages bind9, bind9-utils, bind9-dnsutils)";
            return;
        }
        std::atexit(kill_named);

        char tmpl[] = "/tmp/updproxy-named-XXXXXX";
        if (mkdtemp(tmpl) == nullptr) {
            setup_error_ = "mkdtemp failed";
            return;
        }
        dir_ = tmpl;

        // Keys exactly as an operator would make them.
        const fs::path keyfile = dir_ / "keys.conf";
        for (const char* alg : {"hmac-sha256", "hmac-sha512", "hmac-md5"}) {
            std::string cmd = std::string(kKeygen) + " -a " + alg + " upd-" + alg +
                              ".example.test >> " + keyfile.string();
            if (std::system(cmd.c_str()) != 0) {
                setup_error_ = "tsig-keygen failed: " + cmd;
                return;
            }
        }
        Result<std::vector<TsigKey>> keys = parse_tsig_keyfile(read_file(keyfile));
        if (!keys.ok()) {
            setup_error_ = "parse_tsig_keyfile failed: " + std::string(reason_name(keys.reason())) +
                           " at line " + std::to_string(keys.error().offset) + "\n" +
                           read_file(keyfile);
            return;
        }
        keys_ = *keys;

        port_ = free_port();
        if (port_ == 0) {
            setup_error_ = "no free port";
            return;
        }

        std::ofstream(dir_ / "example.test.db")
            << "$TTL 300\n"
               "@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300\n"
               "@ IN NS ns.example.test.\n"
               "ns IN A 127.0.0.1\n";
        const std::string d = dir_.string();
        std::ofstream(dir_ / "named.conf")
            << "include \"" << keyfile.string() << "\";\n"
            << "options {\n"
            << "  directory \"" << d << "\";\n"
            << "  pid-file \"" << d << "/named.pid\";\n"
            << "  session-keyfile \"" << d << "/session.key\";\n"
            << "  managed-keys-directory \"" << d << "\";\n"
            << "  listen-on port " << port_ << " { 127.0.0.1; };\n"
            << "  listen-on-v6 { none; };\n"
            << "  recursion no;\n"
            << "  dnssec-validation no;\n"
            << "  notify no;\n"
            << "};\n"
            << "controls { };\n"  // no rndc channel on port 953
            << "zone \"example.test\" {\n"
            << "  type primary;\n"
            << "  file \"" << d << "/example.test.db\";\n"
            << "  update-policy {\n"
            << "    grant upd-hmac-sha256.example.test zonesub ANY;\n"
            << "    grant upd-hmac-sha512.example.test zonesub ANY;\n"
            << "    grant upd-hmac-md5.example.test zonesub ANY;\n"
            << "  };\n"
            << "};\n";

        start_named();
    }

    static void start_named() {
        const std::string conf = (dir_ / "named.conf").string();
        const std::string log = (dir_ / "named.log").string();
        int logfd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (logfd < 0) {
            setup_error_ = "cannot create " + log;
            return;
        }
        const pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
            close(logfd);
            setup_error_ = "fork failed";
            return;
        }
        if (pid == 0) {
            // Die with the test process, whatever way it ends.
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(127);
            dup2(logfd, 1);
            dup2(logfd, 2);
            close(logfd);
            execl(kNamed, kNamed, "-c", conf.c_str(), "-u", "root", "-g",
                  static_cast<char*>(nullptr));
            _exit(127);
        }
        close(logfd);
        g_named = pid;

        // Ready when it answers a SOA query for the zone.
        const uint8_t soa_query[] = {0x12, 0x34, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                                     7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0,
                                     0, 6, 0, 1};
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                g_named = -1;
                setup_error_ = "named exited during start-up:\n" + read_file(log);
                return;
            }
            Bytes r = udp_exchange(port_, soa_query);
            if (r.size() >= 12 && r[0] == 0x12 && r[1] == 0x34 && (r[3] & 0xF) == 0 &&
                r[7] >= 1) {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        setup_error_ = "named did not answer within 15 s:\n" + read_file(log);
        kill_named();
    }

    static void TearDownTestSuite() {
        kill_named();
        if (!dir_.empty()) {
            std::error_code ec;
            fs::remove_all(dir_, ec);
            dir_.clear();
        }
    }

    void SetUp() override {
        if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
        ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    }

    void TearDown() override {
        if (HasFailure() && !dir_.empty()) {
            std::string log = read_file(dir_ / "named.log");
            if (log.size() > 4000) log = log.substr(log.size() - 4000);
            std::cerr << "---- named.log (tail) ----\n" << log << "\n";
        }
    }

    const TsigKey& key(std::string_view alg) {
        const TsigKey* k = find_key(keys_, "upd-" + std::string(alg) + ".example.test.");
        EXPECT_NE(k, nullptr) << alg;
        return k != nullptr ? *k : keys_.at(0);
    }

    // dig's short answer for name/type, trailing newline removed. The name is
    // single-quoted for the shell: it may hold presentation escapes.
    std::string dig(const std::string& qname, const char* type) {
        std::string out = run(std::string(kDig) + " @127.0.0.1 -p " + std::to_string(port_) +
                              " +short +time=2 +tries=2 '" + qname + "' " + type + " 2>&1");
        while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
        return out;
    }

    // An UPDATE of zone example.test. adding one A record at `owner`.
    static Bytes update_a(uint16_t id, const std::string& owner, std::array<uint8_t, 4> addr) {
        Bytes buf(1232);
        UpdateBuilder u(buf, id);
        EXPECT_TRUE(u.zone(name("example.test.")).ok());
        EXPECT_TRUE(u.add(name(owner), rrtype::A, 120, rdata::a(addr)).ok());
        Bytes out(u.wire().begin(), u.wire().end());
        return out;
    }

    struct Signed {
        Bytes wire;
        Bytes mac;
    };
    static Signed sign(const Bytes& msg, const TsigKey& k, uint64_t t) {
        Signed s;
        s.wire = msg;
        s.wire.resize(msg.size() + 512);
        TsigSignParams p;
        p.time_signed = t;
        Result<size_t> n = tsig_sign(s.wire, msg.size(), k, p, &s.mac);
        EXPECT_TRUE(n.ok()) << reason_name(n.reason());
        s.wire.resize(n.ok() ? *n : 0);
        return s;
    }

    static inline std::string skip_reason_;
    static inline std::string setup_error_;
    static inline fs::path dir_;
    static inline uint16_t port_ = 0;
    static inline std::vector<TsigKey> keys_;
};

TEST_F(NamedTsig, KeyFileParsed) {
    ASSERT_EQ(keys_.size(), 3u);
    EXPECT_EQ(key("hmac-sha256").algorithm, TsigAlgorithm::hmac_sha256);
    EXPECT_EQ(key("hmac-sha512").algorithm, TsigAlgorithm::hmac_sha512);
    EXPECT_EQ(key("hmac-md5").algorithm, TsigAlgorithm::hmac_md5);
    EXPECT_EQ(key("hmac-sha256").secret.size(), 32u);
    EXPECT_EQ(key("hmac-sha512").secret.size(), 64u);
}

TEST_F(NamedTsig, SignedUpdateAcceptedAndResponseVerifies) {
    // A printer as the proxy would publish it: address, service and TXT.
    Bytes buf(1232);
    UpdateBuilder u(buf, 0x5301);
    ASSERT_TRUE(u.zone(name("example.test.")).ok());
    const Name printer = name("printer.example.test.");
    const Name instance = name("Lab Printer._ipp._tcp.example.test.");
    ASSERT_TRUE(u.add(printer, rrtype::A, 120, rdata::a(std::array<uint8_t, 4>{192, 0, 2, 10}))
                    .ok());
    ASSERT_TRUE(u.add(instance, rrtype::SRV, 120, rdata::srv(0, 0, 631, printer)).ok());
    const std::string_view txt[] = {"txtvers=1", "rp=ipp/print"};
    ASSERT_TRUE(u.add(instance, rrtype::TXT, 120, rdata::txt(txt)).ok());
    const Bytes update(u.wire().begin(), u.wire().end());

    const TsigKey& k = key("hmac-sha256");
    Signed req = sign(update, k, now());
    Bytes resp = udp_exchange(port_, req.wire);
    ASSERT_FALSE(resp.empty()) << "no answer from named";

    Result<Message> m = Message::parse(resp);
    ASSERT_TRUE(m.ok()) << reason_name(m.reason());
    EXPECT_EQ(m->header().id, 0x5301);
    EXPECT_TRUE(m->header().qr());
    EXPECT_EQ(m->header().opcode(), opcode::UPDATE);
    EXPECT_EQ(m->header().rcode(), rcode::NOERROR);

    std::vector<TsigKey> keys{k};
    TsigVerifyParams vp;
    vp.now = now();
    vp.request_mac = req.mac;
    Result<TsigVerified> v = tsig_verify(*m, keys, vp);
    ASSERT_TRUE(v.ok()) << reason_name(v.reason());
    EXPECT_EQ(v->error, 0);
    EXPECT_EQ(v->mac.size(), 32u);
    // Without our request MAC, named's answer does not verify (§4.3.1).
    vp.request_mac = {};
    EXPECT_EQ(tsig_verify(*m, keys, vp).reason(), Reason::tsig_bad_sig);

    EXPECT_EQ(dig("printer.example.test", "A"), "192.0.2.10");
    EXPECT_EQ(dig("Lab\\032Printer._ipp._tcp.example.test", "SRV"),
              "0 0 631 printer.example.test.");
    EXPECT_EQ(dig("Lab\\032Printer._ipp._tcp.example.test", "TXT"),
              "\"txtvers=1\" \"rp=ipp/print\"");
}

TEST_F(NamedTsig, OtherAlgorithms) {
    // hmac-sha512 (longest MAC) and hmac-md5 (HMAC-MD5.SIG-ALG.REG.INT, for old servers).
    uint16_t id = 0x6400;
    uint8_t last = 20;
    for (const char* alg : {"hmac-sha512", "hmac-md5"}) {
        SCOPED_TRACE(alg);
        const std::string owner = std::string("host-") + alg + ".example.test.";
        const TsigKey& k = key(alg);
        Signed req = sign(update_a(id, owner, {192, 0, 2, last}), k, now());
        Bytes resp = udp_exchange(port_, req.wire);
        ASSERT_FALSE(resp.empty());
        Result<Message> m = Message::parse(resp);
        ASSERT_TRUE(m.ok()) << reason_name(m.reason());
        EXPECT_EQ(m->header().rcode(), rcode::NOERROR);
        std::vector<TsigKey> keys{k};
        TsigVerifyParams vp;
        vp.now = now();
        vp.request_mac = req.mac;
        Result<TsigVerified> v = tsig_verify(*m, keys, vp);
        ASSERT_TRUE(v.ok()) << reason_name(v.reason());
        EXPECT_EQ(v->mac.size(), tsig_mac_size(k.algorithm));
        EXPECT_EQ(dig(owner, "A"), "192.0.2." + std::to_string(last));
        ++id;
        ++last;
    }
}

TEST_F(NamedTsig, WrongSecretIsBadSig) {
    TsigKey forged = key("hmac-sha256");
    for (uint8_t& b : forged.secret) b = static_cast<uint8_t>(b ^ 0xA5);
    Signed req = sign(update_a(0x7001, "evil.example.test.", {192, 0, 2, 66}), forged, now());
    Bytes resp = udp_exchange(port_, req.wire);
    ASSERT_FALSE(resp.empty());
    Result<Message> m = Message::parse(resp);
    ASSERT_TRUE(m.ok()) << reason_name(m.reason());
    EXPECT_EQ(m->header().rcode(), rcode::NOTAUTH);
    ASSERT_TRUE(m->tsig().has_value());
    Result<TsigView> tv = m->tsig()->tsig();
    ASSERT_TRUE(tv.ok());
    EXPECT_EQ(tv->error, rcode::BADSIG);
    EXPECT_TRUE(tv->mac.empty());  // §5.3.2: BADSIG answers are unsigned
    // And so they cannot be authenticated, with either secret.
    std::vector<TsigKey> keys{key("hmac-sha256")};
    TsigVerifyParams vp;
    vp.now = now();
    vp.request_mac = req.mac;
    EXPECT_EQ(tsig_verify(*m, keys, vp).reason(), Reason::tsig_bad_sig);

    EXPECT_EQ(dig("evil.example.test", "A"), "");
}

TEST_F(NamedTsig, UnknownKeyIsBadKey) {
    TsigKey stranger = key("hmac-sha256");
    stranger.name = name("stranger.example.test.");
    Signed req = sign(update_a(0x7002, "stranger.example.test.", {192, 0, 2, 67}), stranger, now());
    Bytes resp = udp_exchange(port_, req.wire);
    ASSERT_FALSE(resp.empty());
    Result<Message> m = Message::parse(resp);
    ASSERT_TRUE(m.ok()) << reason_name(m.reason());
    EXPECT_EQ(m->header().rcode(), rcode::NOTAUTH);
    ASSERT_TRUE(m->tsig().has_value());
    Result<TsigView> tv = m->tsig()->tsig();
    ASSERT_TRUE(tv.ok());
    EXPECT_EQ(tv->error, rcode::BADKEY);
    EXPECT_EQ(dig("stranger.example.test", "A"), "");
}

TEST_F(NamedTsig, ClockSkewIsBadTimeWithServerClock) {
    // Signed 1000 s in the past (fudge 300): named answers BADTIME, signed,
    // with its own clock in Other Data (§5.2.3).
    const TsigKey& k = key("hmac-sha256");
    const uint64_t t = now();
    Signed req = sign(update_a(0x7003, "late.example.test.", {192, 0, 2, 68}), k, t - 1000);
    Bytes resp = udp_exchange(port_, req.wire);
    ASSERT_FALSE(resp.empty());
    Result<Message> m = Message::parse(resp);
    ASSERT_TRUE(m.ok()) << reason_name(m.reason());
    EXPECT_EQ(m->header().rcode(), rcode::NOTAUTH);
    std::vector<TsigKey> keys{k};
    TsigVerifyParams vp;
    vp.now = now();
    vp.request_mac = req.mac;
    Result<TsigVerified> v = tsig_verify(*m, keys, vp);
    ASSERT_TRUE(v.ok()) << reason_name(v.reason());
    EXPECT_EQ(v->error, rcode::BADTIME);
    // named echoes our Time Signed, which is why tsig_verify cannot judge the
    // clock of a BADTIME reply (see tsig.hpp).
    EXPECT_EQ(v->time_signed, t - 1000);
    ASSERT_EQ(v->other.size(), 6u);
    const uint64_t server_clock = rd48(v->other.data());
    EXPECT_LE(server_clock > t ? server_clock - t : t - server_clock, 5u);
    EXPECT_EQ(dig("late.example.test", "A"), "");
}

}  // namespace
}  // namespace updproxy::codec

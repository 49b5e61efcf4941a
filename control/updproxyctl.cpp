// updproxyctl: talks to a running `updproxy run` over its control socket.
//
//   updproxyctl [-s SOCKET] status | links | services [LINK] | stats
//                           | zones | zone ZONE | resync | reload
//
//   status         version, table size, metrics listener, reloads
//   links          each link: port, records, published service instances
//   services LINK  the records a link holds (all links without LINK)
//   stats          each worker's counters and drops
//   zones          each UPDATE zone: server, reachability, desired /
//                  confirmed / pending changes, answers by rcode, last error
//   zone ZONE      one of them
//   resync         every shard re-sends its records to the control plane
//   reload         re-read the configuration file (as SIGHUP); prints what
//                  changed, or why nothing did (exit 1)
//
// One request line out, JSON lines back. Without -s it uses the only socket
// in /run/updproxy/ (or says which ones there are).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

int usage() {
    std::cerr << "usage: updproxyctl [-s SOCKET] COMMAND [ARG]\n"
                 "commands: status, links, services [LINK], stats, zones, zone ZONE, resync, reload\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string sock;
    std::vector<std::string> words;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if ((a == "-s" || a == "--socket") && i + 1 < argc) {
            sock = argv[++i];
        } else if (a == "-h" || a == "--help") {
            usage();
            return 0;
        } else {
            words.push_back(a);
        }
    }
    if (words.empty()) return usage();
    if (sock.empty()) {
        std::vector<std::string> found;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator("/run/updproxy", ec)) {
            if (e.path().extension() == ".sock") found.push_back(e.path());
        }
        if (found.size() != 1) {
            std::cerr << "updproxyctl: " << (found.empty() ? "no" : "several")
                      << " control sockets in /run/updproxy; name one with -s\n";
            for (const auto& f : found) std::cerr << "  " << f << '\n';
            return 2;
        }
        sock = found[0];
    }
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (sock.size() >= sizeof a.sun_path) {
        std::cerr << "updproxyctl: socket path too long\n";
        return 2;
    }
    std::memcpy(a.sun_path, sock.c_str(), sock.size() + 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        std::cerr << "updproxyctl: " << sock << ": " << std::strerror(errno)
                  << " (is updproxy running?)\n";
        return 1;
    }
    std::string line;
    for (const auto& w : words) line += (line.empty() ? "" : " ") + w;
    line += '\n';
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        std::cerr << "updproxyctl: write: " << std::strerror(errno) << '\n';
        return 1;
    }
    char buf[65536];
    bool error = false;
    for (;;) {
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        const std::string chunk(buf, static_cast<size_t>(n));
        error |= chunk.rfind("{\"error\"", 0) == 0;
        std::cout << chunk;
    }
    close(fd);
    return error ? 1 : 0;
}

// `updproxy decode`: prints DNS messages from raw message files, directories
// of them, and pcap/pcapng captures, as dig would show them or as JSON lines.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace updproxy::control {

struct DecodeOptions {
    bool json = false;
    uint16_t timeout_type = 65280;  // rrtype::TIMEOUT_DEFAULT
    std::vector<std::string> paths;
};

// Exit statuses shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // some input did not decode
inline constexpr int kExitUsage = 2;   // bad arguments, missing files

// Registers the subcommand on `app`; `opts` is filled in by CLI11's parse.
CLI::App* add_decode_command(CLI::App& app, DecodeOptions& opts);

// Decodes every path in order. A raw file is one message; a directory is
// walked recursively (regular files, sorted by path); a capture (pcap or
// pcapng magic) contributes each UDP datagram to or from port 53 or 5353,
// named FILE#FRAME with 1-based frame numbers. Returns kExitOk when every
// message decoded, kExitFailed when any did not (or a capture was unreadable),
// kExitUsage when a path does not exist (nothing is decoded then).
int run_decode(const DecodeOptions& opts, std::ostream& out, std::ostream& err);

}  // namespace updproxy::control

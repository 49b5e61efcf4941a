#include "control/decode_command.hpp"

#include <pcap/pcap.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <span>
#include <system_error>

// See main.cpp: GCC 12 misreports null dereferences in CLI11's inline helpers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop

#include "codec/message.hpp"
#include "codec/present.hpp"
#include "dataplane/frame.hpp"

namespace updproxy::control {

namespace fs = std::filesystem;

namespace {

constexpr uint16_t kDnsPort = 53;
constexpr uint16_t kMdnsPort = 5353;
// One more byte than any DNS message can have, so an oversized file still
// fails to parse (trailing_bytes) instead of being read whole.
constexpr size_t kMaxMessageRead = 65536;

bool is_capture_magic(const std::array<uint8_t, 4>& m, size_t n) {
    if (n < 4) return false;
    static constexpr std::array<std::array<uint8_t, 4>, 5> kMagics{{
        {0xA1, 0xB2, 0xC3, 0xD4},  // pcap, microseconds, big-endian writer
        {0xD4, 0xC3, 0xB2, 0xA1},  // pcap, microseconds, little-endian writer
        {0xA1, 0xB2, 0x3C, 0x4D},  // pcap, nanoseconds
        {0x4D, 0x3C, 0xB2, 0xA1},
        {0x0A, 0x0D, 0x0D, 0x0A},  // pcapng section header block
    }};
    return std::find(kMagics.begin(), kMagics.end(), m) != kMagics.end();
}

class Decoder {
  public:
    Decoder(const DecodeOptions& opts, std::ostream& out, std::ostream& err)
        : opts_(opts), out_(out), err_(err) {
        parse_.timeout_type = opts.timeout_type;
        present_.timeout_type = opts.timeout_type;
    }

    bool failed() const { return failed_; }

    void message(std::span<const uint8_t> wire, const std::string& source) {
        auto m = codec::Message::parse(wire, parse_);
        if (!m) failed_ = true;
        if (opts_.json) {
            out_ << (m ? codec::format_message_json(*m, source, present_)
                       : codec::format_error_json(source, m.error()))
                 << '\n';
            return;
        }
        out_ << ";; source: " << source << '\n';
        if (m) {
            out_ << codec::format_message(*m, present_);
        } else {
            out_ << ";; error: " << codec::reason_name(m.reason()) << " at offset "
                 << m.error().offset << "\n\n";
        }
    }

    void file(const fs::path& path) {
        const std::string name = path.string();
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            io_error(name, std::strerror(errno));
            return;
        }
        std::vector<uint8_t> buf(kMaxMessageRead + 1);
        in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
        if (in.bad()) {
            io_error(name, "read error");
            return;
        }
        buf.resize(static_cast<size_t>(in.gcount()));
        std::array<uint8_t, 4> magic{};
        std::copy_n(buf.begin(), std::min<size_t>(4, buf.size()), magic.begin());
        if (is_capture_magic(magic, buf.size())) {
            capture(name);
        } else {
            message(buf, name);
        }
    }

    void directory(const fs::path& dir) {
        std::vector<fs::path> files;
        std::error_code ec;
        for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
             it.increment(ec)) {
            std::error_code fec;
            if (it->is_regular_file(fec)) files.push_back(it->path());
        }
        if (ec) io_error(dir.string(), ec.message());
        std::sort(files.begin(), files.end());
        for (const auto& f : files) file(f);
    }

  private:
    void io_error(const std::string& name, const std::string& what) {
        err_ << "updproxy decode: " << name << ": " << what << '\n';
        failed_ = true;
    }

    // libpcap reads both pcap and pcapng, and reports the link type.
    void capture(const std::string& name) {
        std::array<char, PCAP_ERRBUF_SIZE> errbuf{};
        pcap_t* p = pcap_open_offline(name.c_str(), errbuf.data());
        if (p == nullptr) {
            io_error(name, errbuf.data());
            return;
        }
        const int link = pcap_datalink(p);
        if (!dataplane::linktype_supported(link)) {
            io_error(name, "unsupported link type " + std::to_string(link));
            pcap_close(p);
            return;
        }
        pcap_pkthdr* hdr = nullptr;
        const u_char* data = nullptr;
        uint64_t frame = 0;
        int rc = 0;
        while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
            ++frame;
            dataplane::FrameInfo info;
            const std::span<const uint8_t> bytes(data, hdr->caplen);
            if (dataplane::parse_frame(link, bytes, info) != dataplane::DropReason::ok) continue;
            const bool dns = info.src_port == kDnsPort || info.dst_port == kDnsPort ||
                             info.src_port == kMdnsPort || info.dst_port == kMdnsPort;
            if (!dns) continue;
            message(info.payload, name + "#" + std::to_string(frame));
        }
        if (rc == PCAP_ERROR) io_error(name, pcap_geterr(p));
        pcap_close(p);
    }

    const DecodeOptions& opts_;
    std::ostream& out_;
    std::ostream& err_;
    codec::ParseOptions parse_;
    codec::PresentOptions present_;
    bool failed_ = false;
};

}  // namespace

CLI::App* add_decode_command(CLI::App& app, DecodeOptions& opts) {
    CLI::App* cmd = app.add_subcommand(
        "decode", "Print DNS messages from raw files, directories or pcap/pcapng captures");
    cmd->add_flag("--json", opts.json, "One JSON object per message and line");
    cmd->add_option("--timeout-type", opts.timeout_type,
                    "Type code of the TIMEOUT RR (draft-ietf-dnsop-update-timeout)")
        ->check(CLI::Range(1, 65535))
        ->capture_default_str();
    cmd->add_option("PATH", opts.paths, "Message file, directory or capture")->required();
    return cmd;
}

int run_decode(const DecodeOptions& opts, std::ostream& out, std::ostream& err) {
    // All paths are checked before anything is printed, so a typo is a usage
    // error rather than a half-finished run.
    bool missing = false;
    for (const auto& p : opts.paths) {
        std::error_code ec;
        if (!fs::exists(p, ec)) {
            err << "updproxy decode: " << p << ": "
                << (ec ? ec.message() : std::string("No such file or directory")) << '\n';
            missing = true;
        }
    }
    if (missing) return kExitUsage;

    Decoder d(opts, out, err);
    for (const auto& p : opts.paths) {
        std::error_code ec;
        if (fs::is_directory(p, ec)) {
            d.directory(p);
        } else {
            d.file(p);
        }
    }
    out.flush();
    return d.failed() ? kExitFailed : kExitOk;
}

}  // namespace updproxy::control

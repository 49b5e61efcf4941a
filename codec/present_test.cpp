#include "codec/present.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace updproxy::codec {
namespace {

using Bytes = std::vector<uint8_t>;
using nlohmann::json;

const std::string kCorpus = UPDPROXY_CORPUS;

Bytes read_corpus(const std::string& rel) {
    // Sized read: GCC 12's -Wnull-dereference misfires on istreambuf_iterator at -O2.
    std::ifstream in(kCorpus + "/" + rel, std::ios::binary | std::ios::ate);
    EXPECT_TRUE(in) << rel;
    Bytes b(static_cast<size_t>(std::max<std::streamoff>(in.tellg(), 0)));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(b.size()));
    return b;
}

// The first record of `type` in section `s` whose owner (presentation form)
// equals `owner` when given.
std::optional<RrView> find_rr(const Message& m, Section s, uint16_t type,
                              const std::string& owner = {}) {
    for (const RrView& rr : m.records(s)) {
        if (rr.type == type && (owner.empty() || rr.owner.to_string() == owner)) return rr;
    }
    return std::nullopt;
}

std::string rr_line(const Message& m, Section s, uint16_t type, const std::string& owner = {},
                    const PresentOptions& o = {}) {
    auto rr = find_rr(m, s, type, owner);
    EXPECT_TRUE(rr.has_value()) << type_name(type) << " " << owner;
    if (!rr) return {};
    std::string out;
    append_rr(out, *rr, o);
    return out;
}

// ---- lines from real messages ------------------------------------------------

TEST(Present, ShellyAnnounce) {
    const Bytes wire = read_corpus("mdns/python-zeroconf/shelly-pro4pm_services_announce_1.bin");
    auto m = Message::parse(wire);
    ASSERT_TRUE(m.ok()) << reason_name(m.reason());
    // Long owners overrun dig's columns: BIND then separates with one space.
    EXPECT_EQ(rr_line(*m, Section::answer, rrtype::A),
              "ShellyPro4PM-94B97EC07650.local. 120 IN\tA\t192.168.188.61 ; cache-flush");
    EXPECT_EQ(
        rr_line(*m, Section::answer, rrtype::SRV, "shellypro4pm-94b97ec07650._shelly._tcp.local."),
        "shellypro4pm-94b97ec07650._shelly._tcp.local. 120 IN SRV 0 0 80 "
        "ShellyPro4PM-94B97EC07650.local. ; cache-flush");
    EXPECT_EQ(
        rr_line(*m, Section::answer, rrtype::TXT, "shellypro4pm-94b97ec07650._shelly._tcp.local."),
        "shellypro4pm-94b97ec07650._shelly._tcp.local. 120 IN TXT \"app=Pro4PM\" "
        "\"ver=0.10.0-beta5\" \"gen=2\" ; cache-flush");
    EXPECT_EQ(rr_line(*m, Section::answer, rrtype::PTR, "_shelly._tcp.local."),
              "_shelly._tcp.local.\t4500\tIN\tPTR\tshellypro4pm-94b97ec07650._shelly._tcp.local.");
    EXPECT_EQ(rr_line(*m, Section::answer, rrtype::NSEC),
              "ShellyPro4PM-94B97EC07650.local. 120 IN\tNSEC\tShellyPro4PM-94B97EC07650.local. A "
              "; cache-flush");

    const std::string text = format_message(*m);
    EXPECT_EQ(text.substr(0, text.find("\n\n") + 2),
              ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 0\n"
              ";; flags: qr aa ra; QUERY: 0, ANSWER: 10, AUTHORITY: 0, ADDITIONAL: 0\n\n");
    EXPECT_NE(text.find("\n;; ANSWER SECTION:\n_services._dns-sd._udp.local. 4500 IN\tPTR\t"
                        "_shelly._tcp.local.\n"),
              std::string::npos);
    EXPECT_EQ(text.find("QUESTION SECTION"), std::string::npos);  // empty sections are omitted
}

TEST(Present, NsecBitmapAndEscapedOwner) {
    const Bytes wire = read_corpus("mdns/python-zeroconf/thread-border-router_meshcop_nsec.bin");
    auto m = Message::parse(wire);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(rr_line(*m, Section::additional, rrtype::NSEC),
              "MyHome54\\032\\(2\\)._meshcop._udp.local. 4500 IN NSEC "
              "MyHome54\\032\\(2\\)._meshcop._udp.local. TXT SRV ; cache-flush");
}

TEST(Present, Aaaa) {
    const Bytes wire = read_corpus("mdns/zeek/mdns_f0003_linux-avahi_rv6.bin");
    auto m = Message::parse(wire);
    ASSERT_TRUE(m.ok());
    auto rr = find_rr(*m, Section::answer, rrtype::AAAA);
    if (!rr) rr = find_rr(*m, Section::additional, rrtype::AAAA);
    ASSERT_TRUE(rr);
    std::string rdata;
    append_rdata(rdata, *rr);
    EXPECT_TRUE(rdata == "fd52:429e:c03c:8235:883c:d6ff:fee1:4dc4" ||
                rdata == "fd52:429e:c03c:8235:5968:5bc6:1563:f82f")
        << rdata;

    const Bytes box = read_corpus("mdns/dnssd.js/service_announcement.bin");
    auto m2 = Message::parse(box);
    ASSERT_TRUE(m2.ok());
    std::string line;
    for (int s = 1; s < 4 && line.empty(); ++s) {
        if (auto r = find_rr(*m2, static_cast<Section>(s), rrtype::AAAA)) append_rr(line, *r);
    }
    EXPECT_EQ(line, "box.local.\t\t120\tIN\tAAAA\tfe80::c5b:7534:952d:163a ; cache-flush");
}

TEST(Present, TxtBackslashes) {
    const Bytes wire = read_corpus("mdns/dnssd.js/service_announcement_with_large_TXT.bin");
    auto m = Message::parse(wire);
    ASSERT_TRUE(m.ok());
    std::optional<RrView> rr;
    for (int s = 1; s < 4 && !rr; ++s) rr = find_rr(*m, static_cast<Section>(s), rrtype::TXT);
    ASSERT_TRUE(rr);
    std::string rdata;
    append_rdata(rdata, *rr);
    // 31 backslashes, each escaped.
    EXPECT_NE(rdata.find(" \"" + std::string(62, '\\') + "\" "), std::string::npos) << rdata;
    EXPECT_NE(rdata.find(" \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\" "), std::string::npos);
}

TEST(Present, HinfoAndQuestion) {
    const Bytes wire = read_corpus("mdns/dnssd.js/answer_with_HINFO.bin");
    auto m = Message::parse(wire);
    ASSERT_TRUE(m.ok());
    std::optional<RrView> rr;
    for (int s = 1; s < 4 && !rr; ++s) rr = find_rr(*m, static_cast<Section>(s), rrtype::HINFO);
    ASSERT_TRUE(rr);
    std::string rdata;
    append_rdata(rdata, *rr);
    EXPECT_EQ(rdata, "\"PC\" \"Windows XP\"");
}

TEST(Present, OptWithOwnerOption) {
    const Bytes wire = read_corpus("mdns/python-zeroconf/companion-link_qu_query_opt_owner.bin");
    auto m = Message::parse(wire);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->opt());
    std::string out;
    append_rr(out, *m->opt());
    // Apple sets 0x1194 in the OPT TTL's Z bits; dig reports them as MBZ.
    EXPECT_EQ(out,
              "; EDNS: version: 0, flags:; MBZ: 0x1194, udp: 1440\n"
              "; OWNER: 00 64 7a 7b 8a 36 9c 7a 46 84 2c ca 51 ff");
    const std::string text = format_message(*m);
    EXPECT_NE(text.find("\n\n;; OPT PSEUDOSECTION:\n; EDNS: version: 0, flags:; MBZ: 0x1194, "
                        "udp: 1440\n; OWNER: 00 64 7a 7b 8a 36 9c 7a 46 84 2c ca 51 ff\n"
                        ";; QUESTION SECTION:\n;_companion-link._tcp.local.\tIN\tPTR ; QU\n\n"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("ADDITIONAL SECTION"), std::string::npos);  // only the OPT is there
}

TEST(Present, Tsig) {
    const Bytes wire = read_corpus("dns/zeek/dns-tsig_f1_query_tsig.bin");
    auto m = Message::parse(wire);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->tsig());
    std::string line;
    append_rr(line, *m->tsig());
    EXPECT_EQ(line,
              "secret-key.\t\t0\tANY\tTSIG\thmac-md5.sig-alg.reg.int. 1409683154 300 16 "
              "Rr2/Me8CNrjrrjF1LIfbfw== 9703 NOERROR 0");
    const std::string text = format_message(*m);
    EXPECT_NE(text.find(";; TSIG PSEUDOSECTION:\n" + line + "\n\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("ADDITIONAL SECTION"), std::string::npos);
}

TEST(Present, UpdateSections) {
    const Bytes wire = read_corpus("dns/dnspython/update_goodwire.bin");
    auto m = Message::parse(wire);
    ASSERT_TRUE(m.ok());
    const std::string text = format_message(*m);
    EXPECT_NE(text.find(";; ->>HEADER<<- opcode: UPDATE, status: NOERROR, id: 1\n"
                        ";; flags:; ZONE: 1, PREREQ: 5, UPDATE: 7, ADDITIONAL: 0\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(";; ZONE SECTION:\n;example.\t\t\tIN\tSOA\n\n"), std::string::npos);
    // RFC 2136 meta-records have no RDATA: nothing after the type.
    EXPECT_NE(text.find(";; PREREQUISITE SECTION:\nfoo.example.\t\t0\tANY\tANY\n"),
              std::string::npos);
    EXPECT_NE(text.find(";; UPDATE SECTION:\nfoo.example.\t\t0\tANY\tA\n"
                        "foo.example.\t\t300\tIN\tA\t10.0.0.1\n"),
              std::string::npos);
    EXPECT_NE(text.find("bar.example.\t\t0\tNONE\tA\t10.0.0.4\n"), std::string::npos);
}

TEST(Present, DamagedNsec) {
    const Bytes wire =
        read_corpus("mdns/python-zeroconf/quirks/android-tv_remote_nsec_forward_ptr.bin");
    auto m = Message::parse(wire);
    ASSERT_TRUE(m.ok()) << reason_name(m.reason());
    std::optional<RrView> damaged;
    for (const RrView& rr : m->answers()) {
        if (rr.damaged()) damaged = rr;
    }
    ASSERT_TRUE(damaged);
    std::string line;
    append_rr(line, *damaged);
    EXPECT_EQ(line,
              "Android-3.local.\t120\tIN\tNSEC\t; damaged: NSEC next name ignored (RFC 6762 6.1); "
              "types: A AAAA ; cache-flush");
    const json j = json::parse(format_message_json(*m, "x"));
    int n = 0;
    for (const auto& r : j["answer"]) {
        if (r.contains("damaged")) {
            EXPECT_EQ(r["damaged"], true);
            EXPECT_EQ(r["type"], "NSEC");
            ++n;
        }
    }
    EXPECT_EQ(n, 1);
}

// ---- a hand-built message: escapes, SOA, MX, TIMEOUT, lease, unknown ---------------

class Wire {
  public:
    Wire& u8(uint8_t v) {
        b_.push_back(v);
        return *this;
    }
    Wire& u16(uint16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v)); }
    Wire& u32(uint32_t v) {
        return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v));
    }
    Wire& bytes(const Bytes& v) {
        b_.insert(b_.end(), v.begin(), v.end());
        return *this;
    }
    Wire& str(std::string_view s) {
        u8(static_cast<uint8_t>(s.size()));
        b_.insert(b_.end(), s.begin(), s.end());
        return *this;
    }
    Wire& name(std::string_view dotted) {
        while (!dotted.empty()) {
            const size_t dot = dotted.find('.');
            str(dotted.substr(0, dot));
            dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
        }
        return u8(0);
    }
    // Owner, type, class, TTL; RDATA follows between begin_rdata/end_rdata.
    Wire& rr(std::string_view owner, uint16_t type, uint16_t cls, uint32_t ttl) {
        return name(owner).u16(type).u16(cls).u32(ttl);
    }
    Wire& begin_rdata() {
        rdlen_at_ = b_.size();
        return u16(0);
    }
    Wire& end_rdata() {
        const size_t n = b_.size() - rdlen_at_ - 2;
        b_[rdlen_at_] = static_cast<uint8_t>(n >> 8);
        b_[rdlen_at_ + 1] = static_cast<uint8_t>(n);
        return *this;
    }
    const Bytes& get() const { return b_; }

  private:
    Bytes b_;
    size_t rdlen_at_ = 0;
};

Bytes synthetic_message() {
    Wire w;
    w.u16(0x1234).u16(0x8400).u16(1).u16(8).u16(0).u16(1);
    w.name("q.example").u16(rrtype::PTR).u16(0x8001);
    w.rr("t.example", rrtype::TXT, 1, 60).begin_rdata();
    w.str("a b").str("say \"hi\"").str("back\\slash").str(std::string("\x01\xff", 2)).str("");
    w.end_rdata();
    w.rr("h.example", rrtype::HINFO, 1, 60).begin_rdata().str("x86 64").str("Linux").end_rdata();
    w.rr("example", rrtype::SOA, 1, 3600).begin_rdata().name("ns.example").name("admin.example");
    w.u32(2024010101).u32(7200).u32(900).u32(1209600).u32(300).end_rdata();
    w.rr("example", rrtype::MX, 1, 3600).begin_rdata().u16(10).name("mail.example").end_rdata();
    w.rr("t.example", rrtype::TIMEOUT_DEFAULT, 1, 0).begin_rdata().u16(rrtype::A).u8(1).u8(0);
    w.u32(0).u32(1700000000);
    w.bytes({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}).end_rdata();
    w.rr("u.example", 999, 1, 5).begin_rdata().bytes({0xde, 0xad, 0xbe, 0xef}).end_rdata();
    w.rr("e.example", rrtype::TXT, 1, 5).begin_rdata().end_rdata();
    w.rr("v6.example", rrtype::AAAA, 0x8001, 120).begin_rdata();
    w.bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}).end_rdata();
    // OPT: UDP 1232, DO, Update Lease (RFC 9664) with KEY-LEASE, an unknown option.
    w.u8(0).u16(rrtype::OPT).u16(1232).u32(0x00008000).begin_rdata();
    w.u16(edns::UPDATE_LEASE).u16(8).u32(7200).u32(86400);
    w.u16(65001).u16(3).bytes({'a', 'b', 0});
    w.end_rdata();
    return w.get();
}

TEST(Present, SyntheticRecords) {
    const Bytes wire = synthetic_message();
    auto m = Message::parse(wire);
    ASSERT_TRUE(m.ok()) << reason_name(m.reason()) << " at " << m.error().offset;

    EXPECT_EQ(rr_line(*m, Section::answer, rrtype::TXT, "t.example."),
              "t.example.\t\t60\tIN\tTXT\t\"a b\" \"say \\\"hi\\\"\" \"back\\\\slash\" "
              "\"\\001\\255\" \"\"");
    EXPECT_EQ(rr_line(*m, Section::answer, rrtype::HINFO),
              "h.example.\t\t60\tIN\tHINFO\t\"x86 64\" \"Linux\"");
    EXPECT_EQ(rr_line(*m, Section::answer, rrtype::SOA),
              "example.\t\t3600\tIN\tSOA\tns.example. admin.example. 2024010101 7200 900 "
              "1209600 300");
    EXPECT_EQ(rr_line(*m, Section::answer, rrtype::MX),
              "example.\t\t3600\tIN\tMX\t10 mail.example.");
    EXPECT_EQ(rr_line(*m, Section::answer, rrtype::TIMEOUT_DEFAULT),
              "t.example.\t\t0\tIN\tTYPE65280 A 1 0 1700000000 000102030405060708090A0B0C0D0E0F");
    // Another configured code: the record is just an unknown type.
    PresentOptions other;
    other.timeout_type = 65281;
    EXPECT_EQ(rr_line(*m, Section::answer, rrtype::TIMEOUT_DEFAULT, {}, other),
              "t.example.\t\t0\tIN\tTYPE65280 \\# 28 0001010000000000"
              "6553F100000102030405060708090A0B0C0D0E0F");
    EXPECT_EQ(rr_line(*m, Section::answer, 999), "u.example.\t\t5\tIN\tTYPE999\t\\# 4 DEADBEEF");
    EXPECT_EQ(rr_line(*m, Section::answer, rrtype::TXT, "e.example."),
              "e.example.\t\t5\tIN\tTXT\t\\# 0");
    EXPECT_EQ(rr_line(*m, Section::answer, rrtype::AAAA),
              "v6.example.\t\t120\tIN\tAAAA\t2001:db8::1 ; cache-flush");

    std::string opt;
    append_rr(opt, *m->opt());
    EXPECT_EQ(opt,
              "; EDNS: version: 0, flags: do; udp: 1232\n"
              "; UPDATE-LEASE: 7200/86400 (2 hours/1 day)\n"
              "; OPT=65001: 61 62 00 (\"ab.\")");
    std::string opt_rdata;
    append_rdata(opt_rdata, *m->opt());
    EXPECT_EQ(opt_rdata,
              "EDNS: version: 0, flags: do; udp: 1232; UPDATE-LEASE: 7200/86400 (2 hours/1 "
              "day); OPT=65001: 61 62 00 (\"ab.\")");

    const std::string text = format_message(*m);
    EXPECT_NE(text.find(";; flags: qr aa; QUERY: 1, ANSWER: 8, AUTHORITY: 0, ADDITIONAL: 1\n"),
              std::string::npos);
    EXPECT_NE(text.find(";q.example.\t\t\tIN\tPTR ; QU\n"), std::string::npos) << text;

    const json j = json::parse(format_message_json(*m, "synthetic"));
    EXPECT_EQ(j["id"], 0x1234);
    EXPECT_EQ(j["question"][0]["qu"], true);
    EXPECT_EQ(j["question"][0]["class"], "IN");
    EXPECT_EQ(j["answer"][0]["rdata"],
              "\"a b\" \"say \\\"hi\\\"\" \"back\\\\slash\" \"\\001\\255\" \"\"");
    EXPECT_EQ(j["answer"][4]["type"], "TYPE65280");
    EXPECT_EQ(j["answer"][7]["cache_flush"], true);
    const auto& o = j["additional"][0];
    EXPECT_EQ(o["name"], ".");
    EXPECT_EQ(o["type"], "OPT");
    EXPECT_EQ(o["class"], "1232");
    EXPECT_EQ(o["ttl"], 0x8000);
    EXPECT_EQ(o["cache_flush"], false);
}

TEST(Present, LeaseDurations) {
    Wire w;
    w.u16(1).u16(0x2800).u16(0).u16(0).u16(0).u16(1);
    w.u8(0).u16(rrtype::OPT).u16(1440).u32(0).begin_rdata();
    w.u16(edns::UPDATE_LEASE).u16(4).u32(3661);
    w.end_rdata();
    auto m = Message::parse(w.get());
    ASSERT_TRUE(m.ok());
    std::string out;
    append_rr(out, *m->opt());
    EXPECT_EQ(out,
              "; EDNS: version: 0, flags:; udp: 1440\n"
              "; UPDATE-LEASE: 3661 (1 hour 1 minute 1 second)");
    EXPECT_NE(format_message(*m).find(";; flags:; ZONE: 0, PREREQ: 0, UPDATE: 0, ADDITIONAL: 1\n"),
              std::string::npos);
}

TEST(Present, ExtendedRcode) {
    Wire w;
    w.u16(7).u16(0x8000).u16(0).u16(0).u16(0).u16(1);
    w.u8(0).u16(rrtype::OPT).u16(1232).u32(0x01000000).begin_rdata().end_rdata();
    auto m = Message::parse(w.get());
    ASSERT_TRUE(m.ok());
    EXPECT_NE(format_message(*m).find("status: BADVERS, id: 7"), std::string::npos);
    EXPECT_EQ(json::parse(format_message_json(*m, "x"))["rcode"], 16);
}

// ---- JSON --------------------------------------------------------------------

TEST(Json, StringEscapes) {
    std::string out;
    append_json_string(out, std::string("a\"b\\c\n\x01\x7f", 8));
    EXPECT_EQ(out, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\"");
    out.clear();
    append_json_string(out, "caf\xc3\xa9 \xe2\x82\xac");  // valid UTF-8 passes through
    EXPECT_EQ(out, "\"caf\xc3\xa9 \xe2\x82\xac\"");
    out.clear();
    // Lone continuation byte, truncated sequence, overlong '/', surrogate.
    append_json_string(out, "\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80");
    EXPECT_EQ(out, "\"\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\"");
    json parsed;
    EXPECT_NO_THROW(parsed = json::parse(out));
}

TEST(Json, ErrorObject) {
    const json j = json::parse(format_error_json("cap.pcap#7", Error{Reason::pointer_forward, 25}));
    EXPECT_EQ(j,
              json::parse(R"({"source": "cap.pcap#7", "error": "pointer_forward", "offset": 25})"));
}

void check_rr_schema(const json& r, const std::string& where) {
    ASSERT_TRUE(r.is_object()) << where;
    for (const char* k : {"name", "class", "type", "rdata"}) {
        ASSERT_TRUE(r.contains(k) && r[k].is_string()) << where << " " << k;
    }
    ASSERT_TRUE(r["ttl"].is_number_unsigned()) << where;
    ASSERT_TRUE(r["cache_flush"].is_boolean()) << where;
    const size_t keys = r.contains("damaged") ? 7 : 6;
    EXPECT_EQ(r.size(), keys) << where;
    const std::string name = r["name"];
    EXPECT_EQ(name.back(), '.') << where;
}

// Every valid corpus message: the JSON line parses, has exactly the schema,
// and agrees with the manifest's facts.
TEST(Json, CorpusSchema) {
    std::ifstream in(kCorpus + "/manifest.json");
    ASSERT_TRUE(in);
    const json manifest = json::parse(in);
    int valid = 0, rejected = 0;
    for (const auto& f : manifest["files"]) {
        const std::string rel = f["file"];
        const std::string category = f["category"];
        const Bytes wire = read_corpus(rel);
        auto m = Message::parse(wire);
        if (category == "malformed") {
            ASSERT_FALSE(m.ok()) << rel;
            const json e = json::parse(format_error_json(rel, m.error()));
            EXPECT_EQ(e["error"], std::string(reason_name(m.reason()))) << rel;
            EXPECT_EQ(e.size(), 3u);
            ++rejected;
            continue;
        }
        if (category != "valid") continue;
        ASSERT_TRUE(m.ok()) << rel << ": " << reason_name(m.reason());
        ++valid;
        const std::string line = format_message_json(*m, rel);
        EXPECT_EQ(line.find('\n'), std::string::npos) << rel;
        json j;
        ASSERT_NO_THROW(j = json::parse(line)) << line;
        ASSERT_EQ(j.size(), 13u) << rel;
        EXPECT_EQ(j["source"], rel);
        EXPECT_EQ(j["id"], std::stoi(f["id"].get<std::string>(), nullptr, 16)) << rel;
        EXPECT_EQ(j["qr"], f["qr"] == 1) << rel;
        EXPECT_EQ(j["opcode"], f["opcode"]) << rel;
        EXPECT_EQ(j["aa"], f["aa"] == 1) << rel;
        EXPECT_EQ(j["tc"], f["tc"] == 1) << rel;
        EXPECT_EQ(j["rcode"], f["rcode"]) << rel;
        for (const char* k : {"rd", "ra"}) EXPECT_TRUE(j[k].is_boolean());

        const auto& counts = f["counts"];
        ASSERT_EQ(j["question"].size(), counts["qd"].get<size_t>()) << rel;
        ASSERT_EQ(j["answer"].size(), counts["an"].get<size_t>()) << rel;
        ASSERT_EQ(j["authority"].size(), counts["ns"].get<size_t>()) << rel;
        ASSERT_EQ(j["additional"].size(), counts["ar"].get<size_t>()) << rel;
        int qu = 0, cache_flush = 0;
        for (const auto& q : j["question"]) {
            ASSERT_EQ(q.size(), 4u) << rel;
            EXPECT_TRUE(q["name"].is_string() && q["type"].is_string() && q["class"].is_string());
            ASSERT_TRUE(q["qu"].is_boolean());
            qu += q["qu"].get<bool>();
        }
        for (const char* s : {"answer", "authority", "additional"}) {
            for (const auto& r : j[s]) {
                check_rr_schema(r, rel + " " + s);
                cache_flush += r["cache_flush"].get<bool>();
            }
        }
        EXPECT_EQ(qu, f["qu_questions"]) << rel;
        EXPECT_EQ(cache_flush, f["cache_flush_rrs"]) << rel;

        // The text form is produced too, and never empty.
        EXPECT_NE(format_message(*m).find(";; ->>HEADER<<-"), std::string::npos);
    }
    EXPECT_GT(valid, 100);
    EXPECT_GT(rejected, 5);
}

}  // namespace
}  // namespace updproxy::codec

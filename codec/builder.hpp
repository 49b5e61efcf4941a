// Writing DNS messages into a caller-owned buffer.
//
// Sections are written in order (question, answer, authority, additional);
// the header counts follow. Each add_* either writes a whole record or leaves
// the message exactly as it was and returns Reason::no_space, so a caller can
// set TC, or close this message and start the next one (the UPDATE batcher).
// Names are compressed against names already written (owners, and names inside
// the RDATA of types where RFC 3597 §4 allows it: NS, CNAME, SOA, PTR, MX; SRV
// too when `compress_srv` is on, RFC 6762 §18.14).
//
// RDATA is passed in uncompressed wire form; the rdata:: helpers below make it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "codec/message.hpp"
#include "codec/name.hpp"
#include "codec/result.hpp"

namespace updproxy::codec {

struct BuilderOptions {
    bool compress = true;
    bool compress_srv = false;  // mDNS allows it; unicast DNS peers may not
    size_t limit = 0;           // 0 = the whole buffer
};

class Builder {
public:
    explicit Builder(std::span<uint8_t> buf, BuilderOptions opts = {});

    void set_id(uint16_t id);
    void set_flags(uint16_t flags);  // QR/opcode/AA/TC/RD/RA/AD/CD/rcode as on the wire
    void set_opcode(uint8_t op);
    void set_rcode(uint8_t rc);
    uint16_t flags() const;
    // Sets the size limit (e.g. to a client's EDNS buffer size); 0 means the
    // whole buffer, and it is always capped at the buffer and at 65535. A
    // limit below size() makes every later add fail with no_space.
    void set_limit(size_t limit);
    size_t limit() const { return limit_; }

    // Errors: no_space; Reason::rdata_length if called after a later section,
    // or (add_rr) for RDATA over 65535 bytes or not matching the layout of a
    // type whose names get compressed (rdata_name for a bad name there).
    Status add_question(const Name& name, uint16_t type, uint16_t cls);
    Status add_rr(Section s, const Name& owner, uint16_t type, uint16_t cls, uint32_t ttl,
                  std::span<const uint8_t> rdata);
    // Copies a received record (any section), re-compressing its names.
    Status add_rr(Section s, const RrView& rr);
    // EDNS(0) OPT in the additional section (RFC 6891); `options` as wire
    // bytes (code, length, data)*.
    Status add_opt(uint16_t udp_size, uint8_t ext_rcode, uint8_t version, bool dnssec_ok,
                   std::span<const uint8_t> options = {});

    // Bytes written so far.
    size_t size() const { return pos_; }
    std::span<const uint8_t> wire() const { return {buf_.data(), pos_}; }
    std::span<uint8_t> buffer() { return buf_; }
    uint16_t count(Section s) const { return count_[static_cast<int>(s)]; }
    Section section() const { return section_; }

private:
    struct Mark {
        size_t pos;
        size_t ntargets;
        Section section;
    };
    Mark mark() const { return {pos_, ntargets_, section_}; }
    Status rollback(const Mark& m, Reason r);
    Status begin(Section s);
    bool room(size_t n) const { return pos_ <= limit_ && n <= limit_ - pos_; }
    bool put(const uint8_t* p, size_t n);
    bool put16(uint16_t v);
    bool put32(uint32_t v);
    bool write_name(const Name& n, bool compress);
    bool suffix_at(size_t target, const uint8_t* suffix) const;
    void remember(size_t at, size_t suffix_len);
    Reason write_rdata(uint16_t type, std::span<const uint8_t> rdata);
    Status add_record(Section s, const Name& owner, uint16_t type, uint16_t cls, uint32_t ttl,
                      std::span<const uint8_t> rdata, const RrView* expand_from);
    void put_counts();

    std::span<uint8_t> buf_;
    size_t limit_ = 0;
    size_t pos_ = kHeaderSize;
    BuilderOptions opts_;
    uint16_t count_[4] = {0, 0, 0, 0};
    Section section_ = Section::question;
    // Offsets of names (and their label suffixes) written so far, candidates for
    // compression pointers (< 0x4000), with each suffix's uncompressed length
    // so most candidates are rejected without walking the message. When full,
    // later names are still written, just not offered as targets.
    static constexpr size_t kMaxTargets = 96;
    uint16_t targets_[kMaxTargets] = {};
    uint8_t target_len_[kMaxTargets] = {};
    size_t ntargets_ = 0;
};

// Helpers that produce uncompressed RDATA for Builder::add_rr.
namespace rdata {
std::vector<uint8_t> a(std::span<const uint8_t, 4> addr);
std::vector<uint8_t> aaaa(std::span<const uint8_t, 16> addr);
std::vector<uint8_t> name(const Name& target);  // PTR, CNAME, NS
std::vector<uint8_t> soa(const Name& mname, const Name& rname, uint32_t serial,
                         uint32_t refresh, uint32_t retry, uint32_t expire, uint32_t minimum);
std::vector<uint8_t> srv(uint16_t priority, uint16_t weight, uint16_t port, const Name& target);
// Each string becomes one <character-string> (at most 255 bytes each, else
// empty result). An empty list gives the single empty string RFC 6763 §6.1 asks for.
std::vector<uint8_t> txt(std::span<const std::string_view> strings);
std::vector<uint8_t> hinfo(std::string_view cpu, std::string_view os);
std::vector<uint8_t> nsec(const Name& next, std::span<const uint16_t> types);
// Update Lease option bytes (code 2) for Builder::add_opt, RFC 9664.
std::vector<uint8_t> lease_option(uint32_t lease, std::optional<uint32_t> key_lease = {});
std::vector<uint8_t> timeout(uint16_t covered_type, uint8_t method, uint64_t expiry,
                             std::span<const std::array<uint8_t, 16>> hashes);
}  // namespace rdata

// DNS UPDATE (RFC 2136 §2.4, §2.5) on top of Builder: the zone section, then
// prerequisites, then updates, then additional records. Methods must be called
// in that order. Class of the zone is IN unless given.
class UpdateBuilder {
public:
    UpdateBuilder(std::span<uint8_t> buf, uint16_t id, BuilderOptions opts = {});

    Status zone(const Name& zone, uint16_t cls = rrclass::IN);

    // Prerequisites (RFC 2136 §2.4.1-2.4.5).
    Status require_rrset_exists(const Name& name, uint16_t type);                 // YXRRSET
    Status require_rrset_equals(const Name& name, uint16_t type,
                                std::span<const uint8_t> rdata);  // value-dependent, one RR
    Status require_rrset_absent(const Name& name, uint16_t type);  // NXRRSET
    Status require_name_in_use(const Name& name);                  // YXDOMAIN
    Status require_name_absent(const Name& name);                  // NXDOMAIN

    // Updates (RFC 2136 §2.5.1-2.5.4).
    Status add(const Name& name, uint16_t type, uint32_t ttl, std::span<const uint8_t> rdata);
    Status delete_rrset(const Name& name, uint16_t type);
    Status delete_all(const Name& name);
    Status delete_rr(const Name& name, uint16_t type, std::span<const uint8_t> rdata);

    Builder& builder() { return b_; }
    size_t size() const { return b_.size(); }
    std::span<const uint8_t> wire() const { return b_.wire(); }

private:
    Builder b_;
    uint16_t zone_class_ = rrclass::IN;
};

}  // namespace updproxy::codec

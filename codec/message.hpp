// Zero-copy reading of DNS messages (RFC 1035 §4, RFC 6762 for mDNS bits).
//
// Message::parse walks the whole message once and checks everything a later
// reader would trust: the header counts against the size (before any other
// work), every owner name and every name inside RDATA (pointers backwards only,
// no loops, lengths), every RDATA against its type's layout, OPT placement, and
// that a TSIG is the last additional record; trailing bytes are an error.
// It allocates nothing and keeps no copy: the views it hands out point into the
// caller's bytes, which must outlive them.
//
// One deliberate tolerance (RFC 6762 §6.1 says the NSEC next-domain name is to
// be ignored, and Android, Android TV and Roborock devices send bad pointers
// there): when only the pointer target of an NSEC next-domain name is bad, or
// the type bitmap breaks RFC 4034's rules while staying inside the RDATA
// (python-zeroconf 0.47 writes an empty window block), that one record is
// marked damaged() and the message still parses. Anything that runs past the
// record is still an error. Callers skip damaged records.
#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>

#include "codec/name.hpp"
#include "codec/result.hpp"
#include "codec/types.hpp"

namespace updproxy::codec {

inline constexpr size_t kHeaderSize = 12;

enum class Section : uint8_t { question = 0, answer = 1, authority = 2, additional = 3 };
// For UPDATE (RFC 2136 §2): zone, prerequisite, update, additional.

namespace flag {
inline constexpr uint16_t QR = 0x8000;
inline constexpr uint16_t AA = 0x0400;
inline constexpr uint16_t TC = 0x0200;
inline constexpr uint16_t RD = 0x0100;
inline constexpr uint16_t RA = 0x0080;
inline constexpr uint16_t AD = 0x0020;
inline constexpr uint16_t CD = 0x0010;
}  // namespace flag

struct Header {
    uint16_t id = 0;
    uint16_t flags = 0;
    uint16_t count[4] = {0, 0, 0, 0};  // by Section

    bool qr() const { return flags & flag::QR; }
    uint8_t opcode() const { return (flags >> 11) & 0xF; }
    bool aa() const { return flags & flag::AA; }
    bool tc() const { return flags & flag::TC; }
    bool rd() const { return flags & flag::RD; }
    bool ra() const { return flags & flag::RA; }
    bool ad() const { return flags & flag::AD; }
    bool cd() const { return flags & flag::CD; }
    uint8_t rcode() const { return flags & 0xF; }
};

struct ParseOptions {
    // Type code of the TIMEOUT RR (no IANA code yet; private use by default).
    uint16_t timeout_type = rrtype::TIMEOUT_DEFAULT;
    // RFC 6762 §6.1 NSEC tolerance (next name, bitmap), see above. Off = strict.
    bool tolerate_nsec_next_name = true;
};

// ---- typed RDATA views -----------------------------------------------------

struct SoaView {
    NameView mname, rname;
    uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};

struct SrvView {
    uint16_t priority = 0, weight = 0, port = 0;
    NameView target;
};

struct HinfoView {
    std::span<const uint8_t> cpu, os;
};

// TXT: a sequence of <character-string>s; DNS-SD (RFC 6763 §6) reads each as
// key[=value].
class TxtView {
public:
    TxtView() = default;
    explicit TxtView(std::span<const uint8_t> rdata) : rdata_(rdata) {}

    struct Entry {
        std::span<const uint8_t> raw;    // the whole string
        std::span<const uint8_t> key;    // up to the first '=' (or all)
        std::span<const uint8_t> value;  // after '='; empty when absent
        bool has_value = false;          // "key=" (empty value) vs "key"
    };
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = Entry;
        using difference_type = std::ptrdiff_t;
        using pointer = const Entry*;
        using reference = Entry;
        iterator() = default;
        explicit iterator(const uint8_t* p) : p_(p) {}
        Entry operator*() const;
        iterator& operator++() {
            p_ += 1 + *p_;
            return *this;
        }
        bool operator==(const iterator& o) const { return p_ == o.p_; }

    private:
        const uint8_t* p_ = nullptr;
    };
    iterator begin() const { return iterator(rdata_.data()); }
    iterator end() const { return iterator(rdata_.data() + rdata_.size()); }
    std::span<const uint8_t> rdata() const { return rdata_; }

private:
    std::span<const uint8_t> rdata_;
};

// NSEC in mDNS form (RFC 6762 §6.1): next-domain name and type bitmap.
struct NsecView {
    NameView next;                   // empty() when the record is damaged()
    std::span<const uint8_t> bitmap;  // window blocks, already validated
    bool has_type(uint16_t type) const;
};

// The Update Lease EDNS(0) option, RFC 9664: 4-byte LEASE or 8-byte
// LEASE + KEY-LEASE.
struct UpdateLease {
    uint32_t lease = 0;
    std::optional<uint32_t> key_lease;
};

struct EdnsOption {
    uint16_t code = 0;
    std::span<const uint8_t> data;
};

class OptView {
public:
    OptView() = default;
    OptView(uint16_t cls, uint32_t ttl, std::span<const uint8_t> rdata)
        : cls_(cls), ttl_(ttl), rdata_(rdata) {}
    uint16_t udp_size() const { return cls_; }
    uint8_t ext_rcode() const { return ttl_ >> 24; }
    uint8_t version() const { return (ttl_ >> 16) & 0xFF; }
    bool dnssec_ok() const { return ttl_ & 0x8000; }
    uint16_t z() const { return ttl_ & 0x7FFF; }
    uint32_t raw_ttl() const { return ttl_; }

    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = EdnsOption;
        using difference_type = std::ptrdiff_t;
        using pointer = const EdnsOption*;
        using reference = EdnsOption;
        iterator() = default;
        explicit iterator(const uint8_t* p) : p_(p) {}
        EdnsOption operator*() const;
        iterator& operator++() {
            p_ += 4 + ((p_[2] << 8) | p_[3]);
            return *this;
        }
        bool operator==(const iterator& o) const { return p_ == o.p_; }

    private:
        const uint8_t* p_ = nullptr;
    };
    iterator begin() const { return iterator(rdata_.data()); }
    iterator end() const { return iterator(rdata_.data() + rdata_.size()); }
    // The first option with this code, if any.
    std::optional<EdnsOption> find(uint16_t code) const;
    // The Update Lease option when present and 4 or 8 bytes long.
    std::optional<UpdateLease> lease() const;

private:
    uint16_t cls_ = 0;
    uint32_t ttl_ = 0;
    std::span<const uint8_t> rdata_;
};

// TSIG RDATA (RFC 8945 §4.2).
struct TsigView {
    NameView algorithm;
    uint64_t time_signed = 0;  // 48-bit seconds
    uint16_t fudge = 0;
    std::span<const uint8_t> mac;
    uint16_t original_id = 0;
    uint16_t error = 0;
    std::span<const uint8_t> other;
};

// TIMEOUT RDATA (draft-ietf-dnsop-update-timeout-01): the covered type, a
// count, a method, an expiry in 64-bit Unix seconds, then `count` 16-byte
// prefixes of SHA-256 over the canonical RDATA of the covered records.
struct TimeoutView {
    uint16_t covered_type = 0;
    uint8_t count = 0;
    uint8_t method = 0;
    uint64_t expiry = 0;
    std::span<const uint8_t> hashes;  // count * 16 bytes
};

// ---- records -----------------------------------------------------------------

struct Question {
    NameView name;
    uint16_t type = 0;
    uint16_t raw_class = 0;
    uint16_t rrclass() const { return raw_class & 0x7FFF; }
    // mDNS unicast-response bit (RFC 6762 §5.4).
    bool qu() const { return raw_class & rrclass::MDNS_TOP_BIT; }
};

class RrView {
public:
    NameView owner;
    uint16_t type = 0;
    uint16_t raw_class = 0;  // OPT: the UDP payload size
    uint32_t ttl = 0;        // OPT: extended rcode and flags
    Section section = Section::answer;

    // The class without mDNS's cache-flush bit (OPT: the raw field).
    uint16_t rrclass() const { return type == rrtype::OPT ? raw_class : raw_class & 0x7FFF; }
    // mDNS cache-flush bit (RFC 6762 §10.2); never set for OPT.
    bool cache_flush() const {
        return type != rrtype::OPT && (raw_class & rrclass::MDNS_TOP_BIT);
    }
    // True when this record broke a rule the parser tolerates (NSEC quirk).
    bool damaged() const { return damaged_; }

    std::span<const uint8_t> rdata() const { return {msg_ + rdata_offset_, rdlength_}; }
    uint32_t rdata_offset() const { return rdata_offset_; }
    uint16_t rdlength() const { return rdlength_; }
    // Offset of the owner name: where the record starts in the message.
    uint32_t offset() const { return owner.offset(); }
    // Offset just past the RDATA.
    uint32_t end_offset() const { return rdata_offset_ + rdlength_; }

    // Typed accessors. The message was validated by parse, so these only check
    // that the record is of the expected type (else rdata_length).
    Result<std::array<uint8_t, 4>> a() const;
    Result<std::array<uint8_t, 16>> aaaa() const;
    Result<NameView> name_target() const;  // PTR, CNAME, NS
    Result<SoaView> soa() const;
    Result<SrvView> srv() const;
    Result<TxtView> txt() const;
    Result<HinfoView> hinfo() const;
    Result<NsecView> nsec() const;
    Result<OptView> opt() const;
    Result<TsigView> tsig() const;
    Result<TimeoutView> timeout(uint16_t timeout_type = rrtype::TIMEOUT_DEFAULT) const;

    // Writes the RDATA with every embedded name expanded (no compression), as
    // it would appear uncompressed on the wire; names lowercased when
    // `canonical` (RFC 4034 §6.2, with RFC 6840 §5.1: not NSEC's). Returns the
    // length, or 0 with Reason::no_space if `out` is too small (65535 + 255*2
    // always suffices).
    Result<size_t> rdata_uncompressed(std::span<uint8_t> out, bool canonical = false) const;

private:
    friend class RrIterator;
    const uint8_t* msg_ = nullptr;
    uint32_t rdata_offset_ = 0;
    uint16_t rdlength_ = 0;
    bool damaged_ = false;
};

// Forward iteration over the records of one section.
class RrIterator {
public:
    using iterator_category = std::input_iterator_tag;
    using value_type = RrView;
    using difference_type = std::ptrdiff_t;
    using pointer = const RrView*;
    using reference = const RrView&;
    RrIterator() = default;
    // `check_nsec`: the message has damaged NSEC records, so NSEC records
    // must be re-checked to set RrView::damaged().
    RrIterator(const uint8_t* msg, uint32_t len, uint32_t pos, uint16_t remaining, Section s,
               bool check_nsec);
    const RrView& operator*() const { return rr_; }
    const RrView* operator->() const { return &rr_; }
    RrIterator& operator++();
    bool operator==(const RrIterator& o) const { return remaining_ == o.remaining_; }

private:
    void load();
    const uint8_t* msg_ = nullptr;
    uint32_t len_ = 0;
    uint32_t pos_ = 0;
    uint16_t remaining_ = 0;
    Section section_ = Section::answer;
    bool check_nsec_ = false;
    RrView rr_;
};

struct RrRange {
    RrIterator b, e;
    RrIterator begin() const { return b; }
    RrIterator end() const { return e; }
};

class QuestionIterator {
public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Question;
    using difference_type = std::ptrdiff_t;
    using pointer = const Question*;
    using reference = const Question&;
    QuestionIterator() = default;
    QuestionIterator(const uint8_t* msg, uint32_t pos, uint16_t remaining);
    const Question& operator*() const { return q_; }
    const Question* operator->() const { return &q_; }
    QuestionIterator& operator++();
    bool operator==(const QuestionIterator& o) const { return remaining_ == o.remaining_; }

private:
    void load();
    const uint8_t* msg_ = nullptr;
    uint32_t pos_ = 0;
    uint16_t remaining_ = 0;
    Question q_;
};

struct QuestionRange {
    QuestionIterator b, e;
    QuestionIterator begin() const { return b; }
    QuestionIterator end() const { return e; }
};

class Message {
public:
    Message() = default;

    // Errors: every parse Reason; `offset` is where the problem was found.
    static Result<Message> parse(std::span<const uint8_t> wire, const ParseOptions& opts = {});

    const Header& header() const { return header_; }
    std::span<const uint8_t> wire() const { return {msg_, len_}; }
    uint16_t count(Section s) const { return header_.count[static_cast<int>(s)]; }

    QuestionRange questions() const;
    RrRange records(Section s) const;
    RrRange answers() const { return records(Section::answer); }
    RrRange authority() const { return records(Section::authority); }
    RrRange additional() const { return records(Section::additional); }

    // The OPT and TSIG records, if present (both live in the additional section).
    std::optional<RrView> opt() const;
    std::optional<RrView> tsig() const;
    // Offset where the TSIG record starts (the signed part ends there).
    uint32_t tsig_offset() const { return tsig_offset_; }
    // Number of records marked damaged() (tolerated NSEC quirks).
    uint16_t damaged_count() const { return damaged_; }

private:
    const uint8_t* msg_ = nullptr;
    uint32_t len_ = 0;
    Header header_;
    uint32_t section_offset_[4] = {0, 0, 0, 0};
    uint32_t opt_offset_ = 0;   // 0 = absent
    uint32_t tsig_offset_ = 0;  // 0 = absent
    uint16_t damaged_ = 0;
    uint16_t timeout_type_ = rrtype::TIMEOUT_DEFAULT;
};

// RFC 2136 §3.1-3.4 form checks on a parsed UPDATE (what a primary answers
// FORMERR to). Errors: update_zone, update_prerequisite, update_record.
Status check_update(const Message& m);

// Reads big-endian integers from validated bytes.
inline uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t rd32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline uint64_t rd48(const uint8_t* p) { return (uint64_t{rd16(p)} << 32) | rd32(p + 2); }
inline uint64_t rd64(const uint8_t* p) { return (uint64_t{rd32(p)} << 32) | rd32(p + 4); }

}  // namespace updproxy::codec

#include "control/update/record_key.hpp"

#include <openssl/evp.h>

#include <cstring>

#include "codec/types.hpp"

namespace updproxy::control::upd {
namespace {

// Lowercases the uncompressed name at out[pos..]; returns the offset after it,
// or 0 when it does not parse (then the caller keeps the RDATA as it was).
size_t lower_name(std::vector<uint8_t>& out, size_t pos) {
    size_t total = 0;
    while (pos < out.size()) {
        const uint8_t l = out[pos];
        if (l == 0) return pos + 1;
        if (l > codec::kMaxLabel || pos + 1 + l > out.size()) return 0;
        total += 1u + l;
        if (total + 1 > codec::kMaxNameWire) return 0;
        for (size_t i = pos + 1; i <= pos + l; ++i) out[i] = codec::ascii_lower(out[i]);
        pos += 1u + l;
    }
    return 0;
}

}  // namespace

std::vector<uint8_t> canonical_rdata(uint16_t type, std::span<const uint8_t> rdata) {
    std::vector<uint8_t> out(rdata.begin(), rdata.end());
    // Where names sit in the RDATA: a fixed prefix, then one or two names.
    size_t skip = 0;
    int names = 0;
    switch (type) {
        case codec::rrtype::NS:
        case codec::rrtype::CNAME:
        case codec::rrtype::PTR:
        case 7:   // MB
        case 8:   // MG
        case 9:   // MR
        case 39:  // DNAME
            names = 1;
            break;
        case 14:  // MINFO
        case 17:  // RP
        case codec::rrtype::SOA:
            names = 2;
            break;
        case codec::rrtype::MX:
        case 18:  // AFSDB
        case 21:  // RT
        case 36:  // KX
            skip = 2;
            names = 1;
            break;
        case codec::rrtype::SRV:
            skip = 6;
            names = 1;
            break;
        default:
            return out;
    }
    if (out.size() < skip) return {rdata.begin(), rdata.end()};
    size_t pos = skip;
    for (int i = 0; i < names; ++i) {
        pos = lower_name(out, pos);
        if (pos == 0) return {rdata.begin(), rdata.end()};
    }
    return out;
}

std::string rrset_key(const codec::Name& owner, uint16_t type) {
    std::string k;
    const auto w = owner.wire();
    k.reserve(w.size() + 2);
    for (uint8_t c : w) k.push_back(static_cast<char>(codec::ascii_lower(c)));
    k.push_back(static_cast<char>(type >> 8));
    k.push_back(static_cast<char>(type & 0xFF));
    return k;
}

std::string record_key(const codec::Name& owner, uint16_t type,
                       std::span<const uint8_t> canonical) {
    std::string k = rrset_key(owner, type);
    k.append(reinterpret_cast<const char*>(canonical.data()), canonical.size());
    return k;
}

std::array<uint8_t, 16> timeout_hash(std::span<const uint8_t> canonical) {
    std::array<uint8_t, 16> h{};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(canonical.data(), canonical.size(), md, &n, EVP_sha256(), nullptr) == 1 &&
        n >= h.size()) {
        std::memcpy(h.data(), md, h.size());
    }
    return h;
}

}  // namespace updproxy::control::upd

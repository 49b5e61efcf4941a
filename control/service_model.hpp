// The DNS-SD closure per link, mapped from .local into the link's subdomain:
// what the proxy wants published.
//
// A service instance I (the owner of an SRV record under .local) is
// publishable when its SRV target T has at least one address on the link
// that is not link-local (draft §4.4). Then the model publishes, all renamed
// from `.local.` to the link's subdomain (owners and the names inside PTR
// and SRV RDATA):
//   - every PTR on the link that points at I (service type and subtypes),
//   - I's SRV and TXT records,
//   - T's A/AAAA records that are not link-local,
//   - `_services._dns-sd._udp.<sub>` PTR `<type>.<sub>` for every service
//     type with a published instance (RFC 6763 §9).
// And, for every link, its browse records (draft §3.3, RFC 6763 §11):
//   - `b._dns-sd._udp.<sub>` PTR `<sub>`,
//   - with a parent domain: `b._dns-sd._udp.<domain>` and
//     `lb._dns-sd._udp.<domain>` PTR `<sub>`.
//
// Shared records (a host's address behind two instances, a service type with
// many instances, a parent browse PTR two links would add) are reference
// counted: the sink hears publish() once when the first contributor appears
// and unpublish() when the last one goes. A TTL change of a published record
// is a publish() with the new TTL.
//
// Work per change is bounded by the instances the changed record touches
// (indexes by owner, PTR target and SRV target), never a scan of the link.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "codec/name.hpp"
#include "control/record_store.hpp"
#include "control/update/update_engine.hpp"

namespace updproxy::control {

struct LinkPublication {
    std::string name;             // the link's name, for logs
    bool publish = true;          // false: no subdomain known, nothing published
    codec::Name subdomain;        // where its services go
    std::optional<codec::Name> parent;  // gets b/lb browse PTRs listing `subdomain`
    bool v6 = false;
    // Address-derived names (RFC 6763 §11, `b._dns-sd._udp.<reverse-subnet>`
    // ...) that get PTR `subdomain` too: registered by the proxy when the
    // subdomain did not come from DNS (draft §3.1).
    std::vector<codec::Name> address_derived;
};

class PublishSink {
public:
    virtual ~PublishSink() = default;
    virtual void publish(uint16_t link, const PubRecord& r) = 0;
    virtual void unpublish(uint16_t link, const PubRecord& r) = 0;
};

// The draft's algorithmic subdomain label (§3.1 method 3): the IPv4 network
// in hex ("c0000200" for 192.0.2.0/24); for IPv6 the first 64 bits in hex.
std::string algorithmic_label(const uint8_t* prefix, uint8_t prefix_len, bool v6);

// `.local.` names only: "printer1.local." -> "printer1.<sub>"; nullopt when
// the name is not under .local or would be too long.
std::optional<codec::Name> map_local(const codec::Name& n, const codec::Name& sub);

class ServiceModel {
public:
    ServiceModel(std::vector<LinkPublication> links, PublishSink* sink, uint32_t browse_ttl = 3600);

    // Publishes the browse records of every link.
    void start();
    // One change from the RecordStore.
    void apply(const Applied& a);
    // Moves a link to another subdomain (draft §3.1: discovery found a new
    // one), or withdraws it (`sub` empty): everything the link published is
    // unpublished (removed from the old subdomain) and, with a subdomain,
    // published again under the new one, browse and address-derived records
    // included. The model keeps indexing an unpublished link's records, so
    // its services appear as soon as it gets a subdomain. The same subdomain
    // again changes only the address-derived records (services untouched).
    struct Moved {
        size_t removed = 0, added = 0;
    };
    Moved set_subdomain(uint16_t link, std::optional<codec::Name> sub,
                        std::vector<codec::Name> address_derived = {});

    struct Published {
        PubRecord record;
        uint32_t refs = 0;
    };
    using PubKey = std::tuple<std::string, uint16_t, std::string>;  // owner lc, type, canon rdata
    const std::map<PubKey, Published>& published(uint16_t link) const { return links_[link].pub; }
    size_t instance_count(uint16_t link) const;
    const LinkPublication& link(uint16_t l) const { return links_[l].cfg; }
    size_t link_count() const { return links_.size(); }

private:
    struct Instance {
        std::vector<PubKey> contributed;  // what this instance currently holds refs on
    };
    struct LinkState {
        LinkPublication cfg;
        // What the link holds, indexed: owner (lc wire) -> keys of its records.
        std::map<std::string, std::set<RecordKey>> by_owner;
        // PTR target (lc wire) -> PTR record keys pointing at it.
        std::map<std::string, std::set<RecordKey>> ptr_to;
        // SRV target (lc wire) -> instances (lc wire) whose SRV names it.
        std::map<std::string, std::set<std::string>> srv_target_of;
        std::map<std::string, Instance> instances;
        std::map<PubKey, Published> pub;
        std::vector<PubKey> browse;  // the link's browse records
    };

    void recompute(uint16_t link, const std::string& instance_lc);
    void publish_browse(uint16_t link);
    std::vector<PubRecord> browse_records(uint16_t link) const;
    std::vector<PubRecord> closure(const LinkState& s, const std::string& instance_lc) const;
    void ref(uint16_t link, const PubRecord& r);
    void unref(uint16_t link, const PubKey& k);
    static PubKey key_of(const PubRecord& r);

    std::vector<LinkState> links_;
    PublishSink* sink_;
    uint32_t browse_ttl_;
    const RecordStore* store_ = nullptr;

public:
    // The store whose changes apply() receives; the model reads record
    // contents from it.
    void attach(const RecordStore* store) { store_ = store; }
};

}  // namespace updproxy::control

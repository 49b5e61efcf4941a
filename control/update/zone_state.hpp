// Per-zone state of the update engine: what the proxy wants the server to
// hold, what it believes the server holds, and the difference still to send.
//
// Each record (owner, type, canonical RDATA) has one Entry:
//   desired   - whether the proxy wants it published, and with which TTL;
//   server    - absent / present(ttl) / unknown: what the server holds as far
//               as the engine knows. `unknown` after a message whose answer
//               never came (it may or may not have been applied) and after a
//               reconciliation or lease refresh (the server may have lost it);
//   need      - derived: add when desired and not present with that TTL,
//               remove when not desired and not known absent, else nothing.
// An entry whose need is not `none` is queued (the ordered `pending` set)
// unless it is in flight; the outcome of its message updates `server` and
// re-evaluates the need. So an add followed by a remove before sending
// cancels out, a TTL change is a re-add, and a change made while the record
// was in flight is sent after the answer (one message in flight per zone
// keeps the order). Entries with nothing desired, nothing on the server and
// nothing in flight are erased.
//
// TIMEOUT bookkeeping (draft-ietf-dnsop-update-timeout-01): per RRset, the
// TIMEOUT RDATAs the engine believes it left on the server, so the next
// message touching the RRset deletes them before adding the new one (each
// refresh carries a new expiry, so without the delete they would pile up).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "codec/name.hpp"
#include "control/update/update_engine.hpp"

namespace updproxy::control::upd {

enum class ServerState : uint8_t { absent, present, unknown };
enum class Need : uint8_t { none, add, remove };

struct Entry {
    std::string_view key;  // the map's key (record_key), stable
    size_t rrset_len = 0;  // key.substr(0, rrset_len) is the rrset_key
    codec::Name owner;     // as last given (case kept for the wire)
    uint16_t type = 0;
    std::vector<uint8_t> rdata;  // as last given
    bool desired = false;
    uint32_t desired_ttl = 0;
    ServerState server = ServerState::absent;
    uint32_t server_ttl = 0;
    bool queued = false;
    bool in_flight = false;
    // Queued again after a failed attempt (does not keep the engine from idle).
    bool retry = false;
    // Counted into failed_changes() already (counted once per change).
    bool failure_counted = false;
    // Cannot be sent at all (larger than any message); parked until the
    // record's desired state changes.
    bool stuck = false;
    uint32_t wire_size = 0;  // uncompressed record size (queued-bytes estimate)
    // Not sent before this time (monotonic ms; 0 = no hold): the backoff of
    // a change the server rejected on its own (isolated by splitting the
    // batch), or the grace of a record a read-back found that the proxy
    // does not (yet) want.
    uint64_t hold_until = 0;
    uint32_t rejections = 0;  // consecutive rejections of this change alone
    // Found on the server by a read-back under a managed name while not
    // desired: a leftover of an earlier run (or another proxy's, §4.7).
    bool adopted = false;
    // Desired because the read-back found it and the proxy keeps it, not
    // because the caller asked: a subtype PTR (`_x._sub._ipp._tcp.<sub>`)
    // of an instance that is published. Responders announce subtypes only
    // unsolicited, so after a restart the links do not teach them again;
    // it stays while the instance's SRV is desired and goes with it.
    bool kept = false;
    bool seen = false;  // scratch of apply_readback
    Need sent = Need::none;  // while in flight
    uint32_t sent_ttl = 0;

    std::string_view rrset() const { return key.substr(0, rrset_len); }
};

struct EntryLess {
    bool operator()(const Entry* a, const Entry* b) const { return a->key < b->key; }
};

class ZoneState {
public:
    explicit ZoneState(codec::Name zone) : zone_(std::move(zone)) {}
    ZoneState(const ZoneState&) = delete;
    ZoneState& operator=(const ZoneState&) = delete;

    const codec::Name& zone() const { return zone_; }

    // True when set_desired(r) would queue a change that is not queued or in
    // flight yet (what the engine's max_pending bound refuses).
    bool add_would_queue(const PubRecord& r) const;
    void set_desired(const PubRecord& r);
    void clear_desired(const PubRecord& r);
    // Everything the server was believed to hold becomes unknown: desired
    // records are re-added, removals already pending stay pending.
    void mark_unverified();
    // The server's content under the managed names, read back (AXFR):
    // every entry's server state becomes what the server holds (entries in
    // flight excepted). A record found there that is not desired becomes an
    // adopted leftover whose removal waits until `orphan_hold_until` (the
    // links may not have been relearned yet), unless an RRset of a unique
    // type (see unique_type) already has a desired record, which replaces it.
    // Returns the number of records adopted now.
    size_t apply_readback(const std::vector<PubRecord>& held, uint64_t orphan_hold_until);
    // Types whose RRsets the proxy takes as owned by one responder, which
    // announces them with the cache-flush bit (RFC 6762 §10.2): SRV, TXT,
    // A, AAAA. A desired record of such an RRset means the link's current
    // content is known, so leftovers in it are replaced at once.
    static bool unique_type(uint16_t type);

    static Need need(const Entry& e);

    // Queued entries in key order (RRsets adjacent).
    const std::set<Entry*, EntryLess>& pending() const { return pending_; }
    // Moves a queued entry into flight carrying its current need.
    void take(Entry* e);
    // Outcomes of an in-flight entry.
    void confirm(Entry* e);                 // the server applied what was sent
    void fail(Entry* e, bool maybe_applied);  // not applied (or unknown)
    // A queued entry that fits in no message.
    void park_stuck(Entry* e);
    // The change of `e` was rejected alone (one more time).
    void note_rejection(Entry& e);
    // Changes rejected alone and not accepted (or replaced) since.
    size_t rejected_count() const { return rejected_; }

    // The desired records of an RRset (for TIMEOUT hashes).
    std::vector<const Entry*> desired_in_rrset(std::string_view rrset) const;
    // TIMEOUT RDATAs believed to be on the server, per RRset.
    std::vector<std::vector<uint8_t>>& timeouts(std::string_view rrset);
    const std::vector<std::vector<uint8_t>>* find_timeouts(std::string_view rrset) const;
    void erase_timeouts(std::string_view rrset);

    const Entry* find(const PubRecord& r) const;

    size_t desired_count() const { return desired_; }
    size_t present_count() const { return present_; }
    size_t queued_count() const { return pending_.size(); }
    size_t fresh_count() const { return fresh_; }  // queued, never attempted
    // Uncompressed size of the queued records: an upper bound of the space
    // they take in messages (compression only shrinks them).
    size_t queued_bytes() const { return queued_bytes_; }
    size_t in_flight_count() const { return in_flight_; }
    size_t entry_count() const { return entries_.size(); }

private:
    Entry& entry_for(const PubRecord& r);
    void enqueue(Entry& e);
    void dequeue(Entry& e);
    // Re-evaluates the need: queues, dequeues or erases.
    void settle(Entry& e);
    // Leftovers of the RRset of `e` (a unique type) lose their grace.
    void release_leftovers(const Entry& e);
    // Subtype PTRs found by read-backs pointing at the instance whose SRV
    // RRset key is `srv_rrset`: kept (desired) or let go.
    void keep_subtypes(std::string_view srv_rrset, bool keep);
    static bool subtype_ptr(const Entry& e);
    std::string target_srv_rrset(const Entry& e) const;
    void set_server(Entry& e, ServerState s, uint32_t ttl);
    void clear_rejections(Entry& e);

    codec::Name zone_;
    std::map<std::string, Entry, std::less<>> entries_;
    std::set<Entry*, EntryLess> pending_;
    std::map<std::string, std::vector<std::vector<uint8_t>>, std::less<>> timeouts_;
    size_t desired_ = 0;
    size_t present_ = 0;
    size_t fresh_ = 0;
    size_t queued_bytes_ = 0;
    size_t in_flight_ = 0;
    size_t rejected_ = 0;
    std::vector<std::string> subtypes_;  // keys of adopted or kept subtype PTRs
};

}  // namespace updproxy::control::upd

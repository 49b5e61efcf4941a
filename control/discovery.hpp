// Active discovery on the links (draft §4.2, RFC 6762 §5.5, §7.1, §7.2):
// keeping every service alive, and finding services nobody announced lately.
//
// Keep-alive: a record's shard says when its refresh is due (5-10 s before
// expiry, per-record jitter, a heap: O(log n) per record). Discovery gathers
// the due records of one host for a short moment and asks that host for all
// of them in one unicast query from the proxy's address on the link; a host
// that answers refreshes them, one that stays silent loses them at expiry.
//
// Enumeration, per link at start and every `enumerate_interval_s` (with
// jitter per link): `_services._dns-sd._udp.local.` PTR with the QU bit; a
// moment later a PTR query per service type the link holds; then SRV/TXT for
// instances missing either, and A/AAAA for SRV targets without an address.
// Steps start `enumerate_step_ms` apart; each step's query is repeated (1 s,
// then 2 s later: RFC 6762 §5.2) with the known answers gathered in between,
// recovering answers lost on the way, without delaying the next step.
// Every query carries the answers the proxy already holds with more than half
// their TTL left (known-answer suppression, §7.1), spilling into follow-up
// packets with the TC bit when they do not fit in one (§7.2).
//
// Pacing: every query waits for a token from its link's bucket and from the
// global one, so a large link never bursts and all links together stay under
// a ceiling. Queued queries keep their order.
#pragma once

#include <cstdint>
#include <array>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "control/record_store.hpp"
#include "dataplane/links.hpp"

namespace updproxy::control {

class QuerySender {
public:
    virtual ~QuerySender() = default;
    // One mDNS message on `link`: to the group (multicast) or to ip/mac
    // (4 bytes on an IPv4 link, 16 on an IPv6 one).
    // Returns false when it could not be queued (counted by the caller).
    virtual bool send_query(uint16_t link, bool multicast, const uint8_t* ip, const uint8_t* mac,
                            const std::vector<uint8_t>& payload) = 0;
};

struct DiscoveryOptions {
    // A refresh query to a host also asks for its other records expiring
    // within this long (their own refresh is then not sent again).
    uint32_t refresh_horizon_ms = 15000;
    uint32_t enumerate_interval_s = 300;  // 0 = only at start
    uint32_t enumerate_step_ms = 2000;    // wait for answers before the next step
    // RFC 6762 §5.2: each step's query is repeated this many times, the
    // first repeat enumerate_retransmit_ms later, the interval doubling, each
    // with the known answers gathered meanwhile, so one lost answer (a
    // dual-stack responder answering one family only) is asked for again.
    uint32_t enumerate_repeats = 2;
    uint32_t enumerate_retransmit_ms = 1000;  // at least 1 s (§5.2)
    uint32_t refresh_gather_ms = 250;     // due records of one host wait this long to share a query
    // One query per host per ~112 s keeps a host: 100/s sustains ~11,000
    // hosts on a link (perf/run refresh); 20/s would only ~2,200.
    double link_qps = 100;                // queries per second per link
    double global_qps = 1000;             // queries per second, all links
    double burst = 10;                    // bucket depth
    size_t max_packet = 1440;             // bytes of DNS message per packet (RFC 6762 §17)
    uint64_t seed = 1;
};

struct DiscoveryStats {
    uint64_t refresh_queries = 0;     // unicast queries to hosts
    uint64_t refresh_questions = 0;   // records asked for in them
    uint64_t enumeration_queries = 0; // multicast queries (all steps)
    uint64_t retransmissions = 0;     // of them, repeats (RFC 6762 §5.2)
    uint64_t known_answers = 0;       // records listed as known answers
    uint64_t continuation_packets = 0;  // extra packets for known answers (TC)
    uint64_t send_failures = 0;
    uint64_t queued = 0;              // waiting for tokens now
};

class Discovery {
public:
    Discovery(const DiscoveryOptions& opts, const std::vector<dataplane::LinkSpec>& links,
              QuerySender* sender);

    // A record's refresh is due (from the RecordStore's refresh_due change).
    void refresh_due(const Record& r, uint64_t now_ms);
    // Runs due work: gathered refreshes, enumeration steps, paced sending.
    void tick(const RecordStore& store, uint64_t now_ms);
    // When tick() next has work, at the latest.
    uint64_t next_wakeup_ms(uint64_t now_ms) const;
    const DiscoveryStats& stats() const { return stats_; }

private:
    struct Question {
        codec::Name name;
        uint16_t type;
    };
    struct HostKey {
        uint16_t link;
        std::array<uint8_t, 16> ip;
        auto operator<=>(const HostKey&) const = default;
    };
    struct Gather {
        std::array<uint8_t, 6> mac{};
        uint64_t flush_at = 0;
        std::vector<Question> questions;
    };
    struct Job {
        bool multicast = true;
        std::array<uint8_t, 16> ip{};
        std::array<uint8_t, 6> mac{};
        std::vector<uint8_t> payload;
        bool refresh = false;
    };
    struct LinkState {
        bool can_send = false;  // has an address to send from
        uint64_t next_cycle = 0;
        int step = -1;          // -1 idle; 0 while a cycle runs
        // Per step of the cycle: when its query (or next repeat) is due
        // (UINT64_MAX: done), and how many repeats were sent.
        std::array<uint64_t, 3> due{};
        std::array<uint32_t, 3> repeat{};
        double tokens = 0;
        uint64_t last_refill = 0;
        std::deque<Job> queue;
    };

    void run_step(const RecordStore& store, uint16_t link, int step, uint64_t now_ms);
    // Questions + known answers, split into packets (TC on all but the last).
    void enqueue_query(uint16_t link, const std::vector<Question>& qs,
                       const std::vector<const Record*>& known, bool unicast_response,
                       uint64_t now_ms);
    void flush_gathers(const RecordStore& store, uint64_t now_ms);
    void pace(uint64_t now_ms);
    static void refill(double& tokens, uint64_t& last, double rate, double burst, uint64_t now);

    DiscoveryOptions o_;
    std::vector<dataplane::LinkSpec> links_;
    QuerySender* sender_;
    std::vector<LinkState> state_;
    std::map<HostKey, Gather> gathers_;
    // Records already asked for, with when: their own refresh_due within
    // refresh_horizon_ms of that is the same round and is skipped (the shard
    // refreshes records silently, so expiries on the control side can be
    // stale: time asked is the reliable key).
    std::map<RecordKey, uint64_t> asked_;
    uint64_t asked_swept_ = 0;
    double global_tokens_;
    uint64_t global_refill_ = 0;
    std::mt19937_64 rng_;
    DiscoveryStats stats_;
};

}  // namespace updproxy::control

// The shard against a simple single-threaded reference model of the same
// rules (std::map, linear scans), over long random event sequences: the same
// events at every step and the same final set.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>

#include "dataplane/table/shard.hpp"
#include "dataplane/table/test_util.hpp"

using namespace updproxy;
using namespace updproxy::table;
using namespace updproxy::table::testing;

namespace {

// Deadlines are kept in 1/16 s ticks rounded up from the shard's base, so a
// timer fires at the first advance() at or after tick-rounded deadline. The
// model applies the same rounding.
constexpr uint64_t kTick = 64;

struct Key {
    uint16_t link;
    std::string owner;  // lowercased presentation
    uint16_t type;
    std::vector<uint8_t> rdata;  // canonical
    auto operator<=>(const Key&) const = default;
};

struct Rec {
    uint64_t last_seen;
    uint32_t ttl;
    bool pending = false;
    RemoveCause cause = RemoveCause::none;
    bool refresh_sent = false;
    uint8_t host = 0;  // the address it was last announced from
};

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

class Model {
public:
    Model(const ShardConfig& cfg, uint64_t base) : cfg_(cfg), base_(base) {}

    using Out = std::vector<std::tuple<int, int, Key, uint32_t>>;  // kind, cause, key, ttl

    void ingest(uint16_t link, const std::vector<Rr>& rrs, uint64_t now, Out& out, uint8_t host = 0) {
        for (const auto& rr : rrs) {
            Key k{link, lower(rr.owner), rr.type, canon(rr)};
            auto it = recs_.find(k);
            if (rr.ttl == 0) {
                if (it != recs_.end() && !it->second.pending) {
                    it->second.pending = true;
                    it->second.cause = RemoveCause::goodbye;
                    it->second.last_seen = now;
                }
                continue;
            }
            if (it == recs_.end()) {
                if (recs_.size() >= cfg_.max_records || link_count(link) >= cfg_.max_records_per_link) {
                    continue;
                }
                recs_[k] = Rec{now, rr.ttl};
                recs_[k].host = host;
                out.emplace_back(static_cast<int>(EventKind::add), 0, k, rr.ttl);
            } else {
                Rec& r = it->second;
                r.last_seen = now;
                r.host = host;
                r.pending = false;
                r.cause = RemoveCause::none;
                r.refresh_sent = false;
                if (r.ttl != rr.ttl) {
                    r.ttl = rr.ttl;
                    out.emplace_back(static_cast<int>(EventKind::ttl_change), 0, k, rr.ttl);
                }
            }
            if (rr.flush) {
                for (auto& [k2, r2] : recs_) {
                    if (k2.link == k.link && k2.owner == k.owner && k2.type == k.type && !(k2 == k) &&
                        !r2.pending && r2.last_seen + 1000 < now) {
                        r2.pending = true;
                        r2.cause = RemoveCause::cache_flush;
                        r2.last_seen = now;
                    }
                }
            }
        }
    }

    void advance(uint64_t now, Out& out) {
        for (auto it = recs_.begin(); it != recs_.end();) {
            Rec& r = it->second;
            const uint64_t exp = r.pending ? r.last_seen + 1000 : r.last_seen + uint64_t{r.ttl} * 1000;
            if (q(exp) <= now) {
                out.emplace_back(static_cast<int>(EventKind::remove),
                                 static_cast<int>(r.pending ? r.cause : RemoveCause::expired),
                                 it->first, r.ttl);
                it = recs_.erase(it);
                continue;
            }
            if (!r.pending && !r.refresh_sent && r.ttl >= cfg_.refresh_min_ttl_s) {
                const uint64_t due = exp - cfg_.refresh_lead_min_ms;
                if (q(due) <= now) {
                    r.refresh_sent = true;
                    out.emplace_back(static_cast<int>(EventKind::refresh_due), 0, it->first, r.ttl);
                }
            }
            ++it;
        }
    }

    const std::map<Key, Rec>& records() const { return recs_; }

    static std::vector<uint8_t> canon(const Rr& rr) {
        if (rr.type != codec::rrtype::PTR) return rr.rdata;
        std::vector<uint8_t> v = rr.rdata;
        for (auto& b : v) b = codec::ascii_lower(b);
        return v;
    }

private:
    uint64_t q(uint64_t ms) const {
        if (ms <= base_) return base_ + kTick;
        return base_ + (ms - base_ + kTick - 1) / kTick * kTick;
    }
    size_t link_count(uint16_t link) const {
        size_t n = 0;
        for (const auto& [k, r] : recs_) n += k.link == link;
        return n;
    }

    ShardConfig cfg_;
    uint64_t base_;
    std::map<Key, Rec> recs_;
};

// Like testing::response, optionally without name compression: every owner is
// then written out in full, in its own case.
std::vector<uint8_t> response_wire(const std::vector<Rr>& rrs, bool compress) {
    if (compress) return response(rrs);
    std::vector<uint8_t> buf(9000);
    codec::Builder b(buf, codec::BuilderOptions{false, false, 0});
    b.set_flags(codec::flag::QR | codec::flag::AA);
    for (const auto& rr : rrs) {
        const uint16_t cls = codec::rrclass::IN | (rr.flush ? codec::rrclass::MDNS_TOP_BIT : 0);
        const auto st = b.add_rr(codec::Section::answer, name(rr.owner), rr.type, cls, rr.ttl,
                                 rr.rdata);
        EXPECT_TRUE(st.ok()) << codec::reason_name(st.reason());
    }
    buf.resize(b.size());
    return buf;
}

HostAddr host_addr(uint8_t h) {
    const uint8_t ip[4] = {192, 0, 2, static_cast<uint8_t>(100 + h)};
    return HostAddr::from_v4(ip);
}

Model::Out from_events(const std::vector<Ev>& evs) {
    Model::Out out;
    for (const auto& e : evs) {
        Rr rr{e.owner, e.type, e.ttl, e.rdata};
        out.emplace_back(static_cast<int>(e.kind),
                         e.kind == EventKind::remove ? static_cast<int>(e.cause) : 0,
                         Key{e.link, lower(e.owner), e.type, Model::canon(rr)}, e.ttl);
    }
    std::sort(out.begin(), out.end());
    return out;
}

// burst = false: one message per ingest(), compressed, from one address (the
// sequences this test always ran). burst = true: 1-4 messages per
// ingest_burst(), on random links, from one of three addresses, some without
// compression (each owner written out, in its own case).
void run_sequence(uint32_t seed, int steps, bool burst = false) {
    std::mt19937 rng(seed);
    std::mt19937 rng2(seed * 7919u + 1);  // burst-mode choices; keeps `rng`'s sequence
    ShardConfig cfg;
    cfg.link_count = 3;
    cfg.max_records = 60;
    cfg.max_records_per_link = 30;
    cfg.refresh_lead_jitter_ms = 0;  // the model cannot know the shard's per-record jitter
    EventRing ring(1 << 20);
    Shard shard(cfg, &ring);
    const uint64_t t0 = 1'000'000;
    // The shard's base is its first clock reading minus two ticks.
    Model model(cfg, t0 - 2 * kTick);

    const std::vector<std::string> owners = {"printer1.local.", "Printer1.LOCAL.", "tv.local.",
                                             "Lab\\032Printer._ipp._tcp.local.", "_ipp._tcp.local.",
                                             "speaker.local.", "x.local."};
    const std::vector<uint32_t> ttls = {0, 0, 10, 20, 20, 120, 4500};
    uint64_t now = t0;
    for (int step = 0; step < steps; ++step) {
        Model::Out expect;
        if (rng() % 3 != 0) {
            // Now and then a burst or a message longer than the shard's
            // pipeline batch (64 records).
            int n_msgs = burst ? 1 + static_cast<int>(rng2() % 4) : 1;
            if (burst && rng2() % 32 == 0) n_msgs = 20 + static_cast<int>(rng2() % 20);
            std::vector<std::vector<uint8_t>> wires;
            std::vector<codec::Message> msgs;
            std::vector<Origin> origins;
            for (int k = 0; k < n_msgs; ++k) {
                const auto link = static_cast<uint16_t>(rng() % 3);
                std::vector<Rr> rrs;
                int n = 1 + static_cast<int>(rng() % 4);
                if (burst && rng2() % 64 == 0) n = 60 + static_cast<int>(rng2() % 40);
                for (int i = 0; i < n; ++i) {
                    const auto& owner = owners[rng() % owners.size()];
                    const int kind = static_cast<int>(rng() % 3);
                    Rr rr;
                    rr.owner = owner;
                    rr.ttl = ttls[rng() % ttls.size()];
                    rr.flush = rng() % 2;
                    if (kind == 0) {
                        rr.type = codec::rrtype::A;
                        rr.rdata = a(static_cast<uint8_t>(rng() % 4));
                    } else if (kind == 1) {
                        rr.type = codec::rrtype::PTR;
                        rr.flush = false;
                        rr.rdata = codec::rdata::name(
                            name(rng() % 2 ? "A._ipp._tcp.local." : "a._IPP._tcp.local."));
                        if (rng() % 2) rr.rdata = codec::rdata::name(name("B._ipp._tcp.local."));
                    } else {
                        rr.type = codec::rrtype::TXT;
                        rr.rdata = {3, 'a', '=', static_cast<uint8_t>('0' + rng() % 3)};
                    }
                    rrs.push_back(rr);
                }
                const auto host = static_cast<uint8_t>(burst ? rng2() % 3 : 0);
                wires.push_back(response_wire(rrs, !burst || rng2() % 2 == 0));
                Origin o;
                o.link = link;
                if (burst) o.host = host_addr(host);
                origins.push_back(o);
                model.ingest(link, rrs, now, expect, host);
            }
            for (const auto& w : wires) {
                auto m = codec::Message::parse(w);
                ASSERT_TRUE(m.ok());
                msgs.push_back(*m);
            }
            if (burst) {
                shard.ingest_burst(msgs, origins, now);
            } else {
                shard.ingest(msgs[0], origins[0], now);
            }
        } else {
            shard.advance(now);
            model.advance(now, expect);
        }
        shard.flush_events();
        std::sort(expect.begin(), expect.end());
        auto got = from_events(drain(ring));
        ASSERT_EQ(got.size(), expect.size()) << "seed " << seed << " step " << step;
        if (got != expect) {
            auto show = [](const Model::Out& o) {
                std::string s;
                for (const auto& [k, c, key, ttl] : o) {
                    s += "  kind=" + std::to_string(k) + " cause=" + std::to_string(c) +
                         " link=" + std::to_string(key.link) + " " + key.owner + " type=" +
                         std::to_string(key.type) + " ttl=" + std::to_string(ttl) + "\n";
                }
                return s;
            };
            FAIL() << "seed " << seed << " step " << step << " now " << now << "\nshard:\n"
                   << show(got) << "model:\n" << show(expect);
        }
        now += rng() % 4 == 0 ? 1000 + rng() % 30'000 : rng() % 1500;
    }
    // Same final set, with the same TTLs and announcing addresses.
    std::map<Key, std::pair<uint32_t, HostAddr>> in_shard;
    shard.for_each([&](const Shard::RecordInfo& r) {
        Rr rr{r.owner->to_string(), r.type, r.ttl,
              std::vector<uint8_t>(r.rdata.begin(), r.rdata.end())};
        in_shard[Key{r.link, lower(rr.owner), r.type, Model::canon(rr)}] = {r.ttl, *r.host};
    });
    std::map<Key, std::pair<uint32_t, HostAddr>> in_model;
    for (const auto& [k, r] : model.records()) {
        in_model[k] = {r.ttl, burst ? host_addr(r.host) : HostAddr{}};
    }
    EXPECT_EQ(in_shard, in_model) << "seed " << seed;
    EXPECT_EQ(shard.size(), model.records().size());
}

}  // namespace

TEST(ShardModel, RandomSequencesMatchTheReferenceModel) {
    for (uint32_t seed = 1; seed <= 40; ++seed) {
        run_sequence(seed, 3000);
        if (HasFatalFailure()) return;
    }
}

TEST(ShardModel, RandomBurstsMatchTheReferenceModel) {
    for (uint32_t seed = 1; seed <= 40; ++seed) {
        run_sequence(seed, 3000, true);
        if (HasFatalFailure()) return;
    }
}

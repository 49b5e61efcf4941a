// The desired/server state and the difference it derives (no I/O).
#include "control/update/zone_state.hpp"

#include <gtest/gtest.h>

#include <array>

#include "codec/builder.hpp"
#include "codec/types.hpp"
#include "control/update/backoff.hpp"
#include "control/update/record_key.hpp"

namespace updproxy::control::upd {
namespace {

using codec::Name;
namespace rrtype = codec::rrtype;

Name N(const char* s) { return *Name::parse(s); }

PubRecord ptr(const char* owner, const char* target, uint32_t ttl = 120) {
    return {N(owner), rrtype::PTR, ttl, codec::rdata::name(N(target))};
}
PubRecord a(const char* owner, uint8_t last, uint32_t ttl = 120) {
    return {N(owner), rrtype::A, ttl, codec::rdata::a(std::array<uint8_t, 4>{192, 0, 2, last})};
}

Entry* only_pending(ZoneState& z) {
    EXPECT_EQ(z.pending().size(), 1u);
    return z.pending().empty() ? nullptr : *z.pending().begin();
}

TEST(RecordKey, CanonicalRdataLowercasesNamesOnly) {
    const auto srv = codec::rdata::srv(0, 0, 631, N("Printer.Lab.Example."));
    const auto canon = canonical_rdata(rrtype::SRV, srv);
    EXPECT_EQ(canon, codec::rdata::srv(0, 0, 631, N("printer.lab.example.")));
    const std::string_view txt[] = {"Key=Value"};
    const auto t = codec::rdata::txt(txt);
    EXPECT_EQ(canonical_rdata(rrtype::TXT, t), t);  // TXT is data, case matters
    // Broken name: kept as is rather than guessed at.
    const std::vector<uint8_t> bad{5, 'a', 'b'};
    EXPECT_EQ(canonical_rdata(rrtype::PTR, bad), bad);
    EXPECT_EQ(record_key(N("A.lab."), rrtype::PTR, canonical_rdata(rrtype::PTR, codec::rdata::name(N("X.lab.")))),
              record_key(N("a.LAB."), rrtype::PTR, canonical_rdata(rrtype::PTR, codec::rdata::name(N("x.lab.")))));
    // The RRset key is a prefix of its records' keys.
    const std::string rk = record_key(N("a.lab."), rrtype::A, std::vector<uint8_t>{1, 2, 3, 4});
    EXPECT_EQ(rk.rfind(rrset_key(N("A.lab."), rrtype::A), 0), 0u);
}

TEST(RecordKey, TimeoutHashIsSha256Prefix) {
    // SHA-256("") = e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4 ...
    const std::array<uint8_t, 16> want{0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
                                       0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24};
    EXPECT_EQ(timeout_hash({}), want);
}

TEST(ZoneState, AddTakeConfirm) {
    ZoneState z(N("lab."));
    z.set_desired(a("h.lab.", 1));
    EXPECT_EQ(z.desired_count(), 1u);
    EXPECT_EQ(z.fresh_count(), 1u);
    Entry* e = only_pending(z);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(ZoneState::need(*e), Need::add);
    z.take(e);
    EXPECT_EQ(z.queued_count(), 0u);
    EXPECT_EQ(z.in_flight_count(), 1u);
    z.confirm(e);
    EXPECT_EQ(z.present_count(), 1u);
    EXPECT_EQ(z.queued_count(), 0u);
    EXPECT_EQ(z.in_flight_count(), 0u);
    // Same record again: nothing to do.
    EXPECT_FALSE(z.add_would_queue(a("H.LAB.", 1)));
    z.set_desired(a("H.LAB.", 1));
    EXPECT_EQ(z.queued_count(), 0u);
}

TEST(ZoneState, AddThenRemoveBeforeSendingStillDeletes) {
    // The server's state of a record the engine never sent is unknown: a
    // previous run or a second proxy may have added it. The add is dropped,
    // an (idempotent) delete is sent instead.
    ZoneState z(N("lab."));
    z.set_desired(a("h.lab.", 1));
    z.clear_desired(a("h.lab.", 1));
    Entry* e = only_pending(z);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(ZoneState::need(*e), Need::remove);
    z.take(e);
    z.confirm(e);
    EXPECT_EQ(z.queued_count(), 0u);
    EXPECT_EQ(z.entry_count(), 0u);
    EXPECT_EQ(z.queued_bytes(), 0u);
}

TEST(ZoneState, TtlChangeIsReAdd) {
    ZoneState z(N("lab."));
    z.set_desired(a("h.lab.", 1, 120));
    Entry* e = only_pending(z);
    z.take(e);
    z.confirm(e);
    EXPECT_TRUE(z.add_would_queue(a("h.lab.", 1, 60)));
    z.set_desired(a("h.lab.", 1, 60));
    e = only_pending(z);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(ZoneState::need(*e), Need::add);
    EXPECT_EQ(e->desired_ttl, 60u);
    z.take(e);
    EXPECT_EQ(e->sent_ttl, 60u);
    z.confirm(e);
    EXPECT_EQ(e->server_ttl, 60u);
    EXPECT_EQ(z.queued_count(), 0u);
}

TEST(ZoneState, RemoveConfirmedThenErased) {
    ZoneState z(N("lab."));
    z.set_desired(ptr("_ipp._tcp.lab.", "P1._ipp._tcp.lab."));
    Entry* e = only_pending(z);
    z.take(e);
    z.confirm(e);
    // Removal given with other case: the same record.
    z.clear_desired(ptr("_IPP._tcp.lab.", "p1._ipp._TCP.lab."));
    e = only_pending(z);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(ZoneState::need(*e), Need::remove);
    EXPECT_EQ(z.desired_count(), 0u);
    z.take(e);
    z.confirm(e);
    EXPECT_EQ(z.entry_count(), 0u);
    EXPECT_EQ(z.present_count(), 0u);
}

TEST(ZoneState, ChangeWhileInFlightIsSentAfterTheAnswer) {
    ZoneState z(N("lab."));
    z.set_desired(a("h.lab.", 1));
    Entry* e = only_pending(z);
    z.take(e);
    z.clear_desired(a("h.lab.", 1));  // while the add is out
    EXPECT_EQ(z.queued_count(), 0u);  // one message in flight per record
    z.confirm(e);
    e = only_pending(z);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(ZoneState::need(*e), Need::remove);
}

TEST(ZoneState, FailureOutcomes) {
    ZoneState z(N("lab."));
    z.set_desired(a("h.lab.", 1));
    Entry* e = only_pending(z);
    z.take(e);
    // Refused: not applied, queued again as a retry (not fresh).
    z.fail(e, false);
    EXPECT_EQ(z.queued_count(), 1u);
    EXPECT_EQ(z.fresh_count(), 0u);
    EXPECT_EQ(e->server, ServerState::unknown);  // never confirmed either way
    // Then removed: a delete goes out, in case someone else had added it.
    z.clear_desired(a("h.lab.", 1));
    e = only_pending(z);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(ZoneState::need(*e), Need::remove);
    z.take(e);
    z.confirm(e);
    EXPECT_EQ(z.entry_count(), 0u);

    // A timeout: the add may have been applied; a later removal is sent.
    z.set_desired(a("h.lab.", 2));
    e = only_pending(z);
    z.take(e);
    z.fail(e, true);
    EXPECT_EQ(e->server, ServerState::unknown);
    z.clear_desired(a("h.lab.", 2));
    e = only_pending(z);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(ZoneState::need(*e), Need::remove);
    EXPECT_EQ(z.fresh_count(), 1u);  // a new change is a first attempt
}

TEST(ZoneState, MarkUnverifiedResendsDesiredKeepsRemovals) {
    ZoneState z(N("lab."));
    for (uint8_t i = 1; i <= 3; ++i) z.set_desired(a("h.lab.", i));
    std::vector<Entry*> all(z.pending().begin(), z.pending().end());
    for (Entry* e : all) z.take(e);
    for (Entry* e : all) z.confirm(e);
    z.clear_desired(a("h.lab.", 3));
    EXPECT_EQ(z.queued_count(), 1u);
    z.mark_unverified();
    EXPECT_EQ(z.present_count(), 0u);
    EXPECT_EQ(z.queued_count(), 3u);
    int adds = 0, removes = 0;
    for (const Entry* e : z.pending()) (ZoneState::need(*e) == Need::add ? adds : removes)++;
    EXPECT_EQ(adds, 2);
    EXPECT_EQ(removes, 1);
}

TEST(ZoneState, RrsetMembersAndTimeouts) {
    ZoneState z(N("lab."));
    z.set_desired(ptr("_ipp._tcp.lab.", "a._ipp._tcp.lab."));
    z.set_desired(ptr("_ipp._tcp.lab.", "b._ipp._tcp.lab."));
    z.set_desired(ptr("_ipp._tcp.lab.x.", "c._ipp._tcp.lab."));  // other owner (outside, but a key test)
    z.set_desired(a("_ipp._tcp.lab.", 9));                        // other type
    const std::string rs = rrset_key(N("_ipp._tcp.lab."), rrtype::PTR);
    EXPECT_EQ(z.desired_in_rrset(rs).size(), 2u);
    EXPECT_EQ(z.find_timeouts(rs), nullptr);
    z.timeouts(rs).push_back({1, 2, 3});
    ASSERT_NE(z.find_timeouts(rs), nullptr);
    z.erase_timeouts(rs);
    EXPECT_EQ(z.find_timeouts(rs), nullptr);
}

TEST(Backoff, DoublesToTheCapWithBoundedJitter) {
    // Without jitter (u = 0.5 gives factor 1.0).
    EXPECT_EQ(backoff_ms(1, 500, 30000, 0.5), 500u);
    EXPECT_EQ(backoff_ms(2, 500, 30000, 0.5), 1000u);
    EXPECT_EQ(backoff_ms(3, 500, 30000, 0.5), 2000u);
    EXPECT_EQ(backoff_ms(7, 500, 30000, 0.5), 30000u);  // 32000 capped
    EXPECT_EQ(backoff_ms(50, 500, 30000, 0.5), 30000u);
    // Jitter: ±20%, never above the cap.
    EXPECT_EQ(backoff_ms(1, 500, 30000, 0.0), 400u);
    EXPECT_EQ(backoff_ms(1, 500, 30000, 0.999999), 599u);
    EXPECT_EQ(backoff_ms(10, 500, 30000, 0.999999), 30000u);
    EXPECT_EQ(backoff_ms(10, 500, 30000, 0.0), 24000u);
}

TEST(Backoff, LeaseRefreshAt80PercentWithTenPercentJitter) {
    EXPECT_EQ(lease_refresh_ms(3600, 0.5), 2'880'000u);
    EXPECT_EQ(lease_refresh_ms(3600, 0.0), 2'592'000u);
    EXPECT_LE(lease_refresh_ms(3600, 0.999999), 3'168'000u);
    EXPECT_LT(lease_refresh_ms(3600, 0.999999), 3'600'000u);  // always before expiry
    EXPECT_EQ(reconcile_ms(300, 0.5), 300'000u);
}

}  // namespace
PubRecord txt(const char* owner, std::string_view v, uint32_t ttl = 120) {
    const std::string_view parts[] = {v};
    return {N(owner), rrtype::TXT, ttl, codec::rdata::txt(parts)};
}

const Entry* entry(const ZoneState& z, const PubRecord& r) { return z.find(r); }

TEST(ZoneState, ReadbackConvergesToTheDesiredState) {
    ZoneState z(N("lab."));
    // This run wants: a PTR (on the server already), an A with a new TTL,
    // a TXT with a new value, and an A the server lost.
    z.set_desired(ptr("_ipp._tcp.lab.", "P._ipp._tcp.lab."));
    z.set_desired(a("h.lab.", 1, 240));
    z.set_desired(txt("P._ipp._tcp.lab.", "v=2"));
    z.set_desired(a("lost.lab.", 9));
    // The server holds: the PTR, the A at TTL 120, the old TXT, and a
    // leftover service's PTR and SRV-less A of an earlier run.
    const std::vector<PubRecord> held{ptr("_ipp._tcp.lab.", "P._ipp._tcp.lab."), a("h.lab.", 1, 120),
                                      txt("P._ipp._tcp.lab.", "v=1"),
                                      ptr("_ipp._tcp.lab.", "Gone._ipp._tcp.lab."), a("gone.lab.", 7)};
    EXPECT_EQ(z.apply_readback(held, 5000), 3u);  // old TXT, Gone's PTR, gone's A adopted
    // The PTR is confirmed: nothing to send.
    const Entry* p = entry(z, ptr("_ipp._tcp.lab.", "P._ipp._tcp.lab."));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(ZoneState::need(*p), Need::none);
    EXPECT_FALSE(p->queued);
    // The TTL change is known as one (sent as delete + add).
    const Entry* h = entry(z, a("h.lab.", 1));
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->server, ServerState::present);
    EXPECT_EQ(h->server_ttl, 120u);
    EXPECT_EQ(ZoneState::need(*h), Need::add);
    // The old TXT is replaced at once (TXT is a unique RRset whose current
    // value this run knows); the shared PTR RRset and the other leftovers
    // wait for the grace.
    const Entry* old_txt = entry(z, txt("P._ipp._tcp.lab.", "v=1"));
    ASSERT_NE(old_txt, nullptr);
    EXPECT_TRUE(old_txt->adopted);
    EXPECT_EQ(ZoneState::need(*old_txt), Need::remove);
    EXPECT_EQ(old_txt->hold_until, 0u);
    const Entry* gone = entry(z, ptr("_ipp._tcp.lab.", "Gone._ipp._tcp.lab."));
    ASSERT_NE(gone, nullptr);
    EXPECT_EQ(ZoneState::need(*gone), Need::remove);
    EXPECT_EQ(gone->hold_until, 5000u);
    EXPECT_EQ(entry(z, a("gone.lab.", 7))->hold_until, 5000u);
    // Lost on the server: re-added.
    EXPECT_EQ(entry(z, a("lost.lab.", 9))->server, ServerState::absent);
    EXPECT_EQ(ZoneState::need(*entry(z, a("lost.lab.", 9))), Need::add);
    // Leftovers do not keep the engine busy (not first attempts).
    EXPECT_EQ(z.fresh_count(), 3u);  // h (TTL), new TXT, lost
    EXPECT_EQ(z.queued_count(), 6u);
    // Relearned during the grace: the leftover becomes desired, no removal.
    z.set_desired(a("gone.lab.", 7));
    EXPECT_FALSE(entry(z, a("gone.lab.", 7))->adopted);
    EXPECT_EQ(ZoneState::need(*entry(z, a("gone.lab.", 7))), Need::none);
    // A record this run stopped wanting is no leftover: no grace.
    z.clear_desired(a("lost.lab.", 9));
    z.set_desired(a("x.lab.", 3));
    z.clear_desired(a("x.lab.", 3));
    EXPECT_EQ(z.apply_readback({a("x.lab.", 3)}, 9000), 0u);
    EXPECT_EQ(entry(z, a("x.lab.", 3))->hold_until, 0u);
    EXPECT_EQ(ZoneState::need(*entry(z, a("x.lab.", 3))), Need::remove);
    // Not on the server any more: nothing to remove, the entries go.
    EXPECT_EQ(entry(z, txt("P._ipp._tcp.lab.", "v=1")), nullptr);
    EXPECT_EQ(entry(z, a("lost.lab.", 9)), nullptr);
}

}  // namespace updproxy::control::upd

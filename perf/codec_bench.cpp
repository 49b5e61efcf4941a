// perf/run codec: our reader against libknot's knot_pkt_parse on real messages.
//
// Input: every valid message of the shared corpus, mDNS (mdns/, the dataplane's
// load) and unicast DNS (dns/), read into memory once. Valid means not under a
// malformed/, quirks/ or semantic/ directory (the corpus layout, SOURCES.md).
//
// What is compared, per message:
//   ours (fair)  Message::parse, then what knot_pkt_parse does on top of
//                validation: every question name and owner name walked
//                (wire_length) and every record's RDATA written out with its
//                names decompressed (rdata_uncompressed into a stack buffer).
//                Our parse already validates everything; this adds the
//                decompression a lazy reader normally skips, so neither side
//                does less work than the other.
//   ours (parse) Message::parse alone: what the dataplane actually pays.
//                Shown for information; not the headline.
//   knot         knot_pkt_new(wire, len, NULL) + knot_pkt_parse + knot_pkt_free,
//                libknot's own way to read a message (malloc for the packet,
//                its RR arrays and each decompressed RDATA).
//   knot (arena) the same with a bump allocator passed as knot_mm_t, as knotd
//                uses a mempool per request: a stronger peer without malloc.
// A message either side rejects is excluded from all rows so every row reads
// identical bytes; the exclusions are printed.
//
// Output: Google Benchmark's table, then a summary table (ns/message, messages/s,
// ratio = peer ns / our ns, > 1 means we are faster), then exactly one JSON line
// for perf/run (see perf/README.md). Extra arguments go to Google Benchmark
// (--benchmark_min_time=..., --benchmark_repetitions=...); --corpus=DIR
// overrides the compiled-in corpus path.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

// libknot is C without extern "C" guards in its headers.
extern "C" {
#include <libknot/libknot.h>
}

#include "codec/message.hpp"

#ifndef UPDPROXY_CORPUS
#define UPDPROXY_CORPUS "../shared/corpus"
#endif

namespace {

namespace fs = std::filesystem;
using namespace updproxy::codec;

struct Corpus {
    std::string name;  // "mdns" or "dns"
    // Two copies per message: knot_pkt_new takes a non-const pointer, so its
    // side gets its own bytes and ours stay provably untouched.
    std::vector<std::vector<uint8_t>> ours, knot;
    size_t bytes = 0;
    size_t records = 0;
    size_t files = 0;
    std::vector<std::string> excluded;  // "path: why"
};

// ---- our side ------------------------------------------------------------------

// Parse plus everything knot_pkt_parse also does (see the file comment).
size_t fair_parse(std::span<const uint8_t> wire, std::span<uint8_t> scratch) {
    auto m = Message::parse(wire);
    if (!m.ok()) return 0;
    size_t acc = 1;
    for (const Question& q : m->questions()) acc += q.name.wire_length();
    for (Section s : {Section::answer, Section::authority, Section::additional}) {
        for (const RrView& rr : m->records(s)) {
            acc += rr.owner.wire_length();
            // A damaged record (tolerated NSEC quirk) is skipped by every
            // consumer; the valid corpus has none.
            if (rr.damaged()) continue;
            auto n = rr.rdata_uncompressed(scratch);
            acc += n.ok() ? *n : 0;
        }
    }
    return acc;
}

// ---- libknot side ----------------------------------------------------------

// knot_pkt_parse(pkt, 0) strips a TSIG by rewriting ARCOUNT in the caller's
// buffer, so a second parse of the same bytes would read another message.
// KEEPWIRE parses the TSIG like any other record and leaves the bytes alone;
// for messages without TSIG (all of mDNS) it is exactly flags 0.
constexpr unsigned kKnotFlags = KNOT_PF_KEEPWIRE;

int knot_parse(std::vector<uint8_t>& wire, knot_mm_t* mm, size_t* rr_count = nullptr) {
    knot_pkt_t* pkt = knot_pkt_new(wire.data(), static_cast<uint16_t>(wire.size()), mm);
    if (pkt == nullptr) return KNOT_ENOMEM;
    int ret = knot_pkt_parse(pkt, kKnotFlags);
    if (rr_count != nullptr) *rr_count = pkt->rrset_count;
    knot_pkt_free(pkt);
    return ret;
}

// A bump allocator behind knot_mm_t: reset per message, free is a no-op
// (knot's mm_free skips a NULL free hook).
struct Arena {
    std::unique_ptr<uint8_t[]> mem;
    size_t cap = 0, used = 0;
    knot_mm_t mm{};

    explicit Arena(size_t size) : mem(new uint8_t[size]), cap(size) {
        mm.ctx = this;
        mm.alloc = &Arena::alloc;
        mm.free = nullptr;
    }
    static void* alloc(void* ctx, size_t len) {
        auto* a = static_cast<Arena*>(ctx);
        const size_t at = (a->used + 15) & ~size_t{15};
        if (at + len > a->cap) return nullptr;
        a->used = at + len;
        return a->mem.get() + at;
    }
    void reset() { used = 0; }
};

// ---- corpus ----------------------------------------------------------------

bool read_file(const fs::path& p, std::vector<uint8_t>& out) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return !in.bad();
}

Corpus load(const fs::path& root, const std::string& sub) {
    Corpus c;
    c.name = sub;
    std::vector<fs::path> paths;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root / sub, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const fs::path& p = it->path();
        if (it->is_directory()) {
            const auto leaf = p.filename();
            if (leaf == "malformed" || leaf == "quirks" || leaf == "semantic")
                it.disable_recursion_pending();
            continue;
        }
        if (p.extension() == ".bin") paths.push_back(p);
    }
    if (ec) {
        std::fprintf(stderr, "codec_bench: %s: %s\n", (root / sub).c_str(), ec.message().c_str());
        std::exit(2);
    }
    std::sort(paths.begin(), paths.end());

    Arena arena(1 << 22);
    for (const auto& p : paths) {
        ++c.files;
        const std::string rel = fs::relative(p, root).string();
        std::vector<uint8_t> wire;
        if (!read_file(p, wire) || wire.empty() || wire.size() > 65535) {
            c.excluded.push_back(rel + ": unreadable or not 1..65535 bytes");
            continue;
        }
        auto m = Message::parse(wire);
        if (!m.ok()) {
            c.excluded.push_back(rel + ": ours rejected (" + std::string(reason_name(m.reason())) +
                                 ")");
            continue;
        }
        std::vector<uint8_t> kwire = wire;
        size_t knot_rrs = 0;
        const int kr = knot_parse(kwire, nullptr, &knot_rrs);
        if (kr != KNOT_EOK) {
            std::string why = rel + ": libknot rejected (" + knot_strerror(kr) + ")";
            // knot_pkt_parse_question refuses QDCOUNT > 1 outright; mDNS
            // queries routinely ask several questions (RFC 6762 §5.3).
            if (m->count(Section::question) > 1)
                why += ", QDCOUNT " + std::to_string(m->count(Section::question)) + " > 1";
            c.excluded.push_back(std::move(why));
            continue;
        }
        arena.reset();
        const int ka = knot_parse(kwire, &arena.mm);
        if (ka != KNOT_EOK) {
            c.excluded.push_back(rel + ": libknot with arena failed (" + knot_strerror(ka) + ")");
            continue;
        }
        if (kwire != wire) {
            c.excluded.push_back(rel + ": libknot modified the wire");
            continue;
        }
        const size_t our_rrs = m->count(Section::answer) + m->count(Section::authority) +
                               m->count(Section::additional);
        if (our_rrs != knot_rrs) {
            std::fprintf(stderr, "codec_bench: note: %s: %zu records here, %zu in libknot\n",
                         rel.c_str(), our_rrs, knot_rrs);
        }
        c.bytes += wire.size();
        c.records += our_rrs;
        c.ours.push_back(std::move(wire));
        c.knot.push_back(std::move(kwire));
    }
    return c;
}

// ---- benchmarks --------------------------------------------------------------

void set_counters(benchmark::State& st, const Corpus& c) {
    const auto n = static_cast<int64_t>(c.ours.size());
    st.SetItemsProcessed(st.iterations() * n);
    st.SetBytesProcessed(st.iterations() * static_cast<int64_t>(c.bytes));
}

void bm_ours_fair(benchmark::State& st, const Corpus* c) {
    uint8_t scratch[66000];  // 65535 + 2 * 255: any RDATA uncompressed
    for (auto _ : st) {
        for (const auto& w : c->ours) {
            size_t r = fair_parse(w, scratch);
            benchmark::DoNotOptimize(r);
        }
        benchmark::ClobberMemory();
    }
    set_counters(st, *c);
}

void bm_ours_parse(benchmark::State& st, const Corpus* c) {
    for (auto _ : st) {
        for (const auto& w : c->ours) {
            auto m = Message::parse(w);
            benchmark::DoNotOptimize(m);
        }
    }
    set_counters(st, *c);
}

void bm_knot(benchmark::State& st, Corpus* c) {
    for (auto _ : st) {
        for (auto& w : c->knot) {
            int r = knot_parse(w, nullptr);
            benchmark::DoNotOptimize(r);
        }
        benchmark::ClobberMemory();
    }
    set_counters(st, *c);
}

void bm_knot_arena(benchmark::State& st, Corpus* c) {
    Arena arena(1 << 22);
    for (auto _ : st) {
        for (auto& w : c->knot) {
            arena.reset();
            int r = knot_parse(w, &arena.mm);
            benchmark::DoNotOptimize(r);
        }
        benchmark::ClobberMemory();
    }
    set_counters(st, *c);
}

// Keeps Google Benchmark's console output and collects the per-repetition
// times, so the summary uses the median of the same runs it printed.
class Collector : public benchmark::ConsoleReporter {
  public:
    // Colour only on a terminal: perf/run's output is often piped or logged.
    Collector() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}
    void ReportRuns(const std::vector<Run>& reports) override {
        ConsoleReporter::ReportRuns(reports);
        for (const Run& r : reports) {
            if (r.error_occurred) continue;
            // ns per iteration: the benchmarks are registered with kNanosecond.
            if (r.run_type == Run::RT_Iteration) {
                times[r.run_name.function_name].push_back(r.GetAdjustedRealTime());
            } else if (r.aggregate_name == "median") {
                // Only aggregates reach the display with --benchmark_display_aggregates_only.
                medians[r.run_name.function_name] = r.GetAdjustedRealTime();
            }
        }
    }
    // Median ns per iteration (one iteration = the whole corpus), or -1.
    double median(const std::string& name) const {
        auto it = times.find(name);
        if (it == times.end() || it->second.empty()) {
            auto m = medians.find(name);
            return m == medians.end() ? -1 : m->second;
        }
        std::vector<double> v = it->second;
        std::sort(v.begin(), v.end());
        const size_t n = v.size();
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
    std::map<std::string, std::vector<double>> times;
    std::map<std::string, double> medians;
};

}  // namespace

int main(int argc, char** argv) {
    std::string corpus_dir = UPDPROXY_CORPUS;
    // Defaults first so the caller's flags (later in argv) override them:
    // five repetitions, interleaved so drift on a busy machine hits every
    // row alike, summarised by their median.
    std::vector<std::string> args = {
        argv[0], "--benchmark_repetitions=5", "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true", "--benchmark_min_time=0.2"};
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.rfind("--corpus=", 0) == 0) {
            corpus_dir = a.substr(9);
        } else {
            args.push_back(a);
        }
    }
    std::vector<char*> cargv;
    for (auto& a : args) cargv.push_back(a.data());
    int cargc = static_cast<int>(cargv.size());
    cargv.push_back(nullptr);
    benchmark::Initialize(&cargc, cargv.data());
    if (benchmark::ReportUnrecognizedArguments(cargc, cargv.data())) return 2;

    static Corpus sets[] = {load(corpus_dir, "mdns"), load(corpus_dir, "dns")};
    for (Corpus& c : sets) {
        std::printf(
            "corpus %-4s: %zu files, %zu messages used (%zu bytes, %zu records), %zu "
            "excluded from both sides\n",
            c.name.c_str(), c.files, c.ours.size(), c.bytes, c.records, c.excluded.size());
        for (const auto& e : c.excluded) std::printf("  excluded %s\n", e.c_str());
    }
    if (sets[0].ours.empty()) {
        std::fprintf(stderr, "codec_bench: no usable mDNS messages under %s/mdns\n",
                     corpus_dir.c_str());
        return 2;
    }
    std::fflush(stdout);

    for (Corpus& c : sets) {
        if (c.ours.empty()) continue;
        const std::string p = "codec/" + c.name + "/";
        benchmark::RegisterBenchmark((p + "ours_fair").c_str(), bm_ours_fair, &c)
            ->Unit(benchmark::kNanosecond);
        benchmark::RegisterBenchmark((p + "ours_parse_only").c_str(), bm_ours_parse, &c)
            ->Unit(benchmark::kNanosecond);
        benchmark::RegisterBenchmark((p + "knot").c_str(), bm_knot, &c)
            ->Unit(benchmark::kNanosecond);
        benchmark::RegisterBenchmark((p + "knot_arena").c_str(), bm_knot_arena, &c)
            ->Unit(benchmark::kNanosecond);
    }

    Collector rep;
    benchmark::RunSpecifiedBenchmarks(&rep);
    benchmark::Shutdown();

    // Summary: ns per message = median ns per corpus pass / messages.
    std::printf("\n%-34s %12s %14s %12s\n", "benchmark (median)", "ns/message", "messages/s",
                "vs ours_fair");
    double headline_ours = -1, headline_knot = -1;
    for (const Corpus& c : sets) {
        if (c.ours.empty()) continue;
        const double n = static_cast<double>(c.ours.size());
        const std::string p = "codec/" + c.name + "/";
        const double fair = rep.median(p + "ours_fair") / n;
        for (const char* row : {"ours_fair", "ours_parse_only", "knot", "knot_arena"}) {
            const double t = rep.median(p + row);
            if (t < 0) continue;
            const double ns = t / n;
            std::printf("%-34s %12.1f %14.0f %11.2fx\n", (p + row).c_str(), ns, 1e9 / ns,
                        fair > 0 ? ns / fair : 0.0);
        }
        if (c.name == "mdns") {
            headline_ours = fair;
            headline_knot = rep.median(p + "knot") / n;
        }
    }
    std::printf(
        "(\"vs ours_fair\" = row ns / ours_fair ns: above 1 the row is slower than ours)\n");
    if (headline_ours <= 0 || headline_knot <= 0) {
        std::fprintf(stderr, "codec_bench: headline benchmarks did not run (filtered out?)\n");
        return 1;
    }
    std::printf(
        "{\"bench\": \"codec\", \"metric\": \"parse_ns_per_message\", \"unit\": \"ns\", "
        "\"value\": %.1f, \"peer\": \"libknot\", \"peer_value\": %.1f, \"ratio\": %.3f}\n",
        headline_ours, headline_knot, headline_knot / headline_ours);
    return 0;
}

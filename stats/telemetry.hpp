// DPDK telemetry commands (dpdk-telemetry.py, /var/run/dpdk/<prefix>/
// dpdk_telemetry.v2) for live introspection.
//
// A handler runs on DPDK's telemetry thread and returns a TelDict; this file
// turns it into rte_tel_data within telemetry's limits (dict keys are
// [A-Za-z0-9_/], other characters become '_'; strings are cut at 127 bytes;
// at most 256 dict entries, 512 array entries, and the whole reply must fit
// DPDK's 16 KiB buffer: handlers keep replies small and say when they cut).
//
// Handlers may be replaced or removed while the telemetry thread runs:
// clear() waits for a handler in progress to return, so what a handler
// reads can be destroyed right after clear().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace updproxy::stats {

struct TelDict;

// One value of a reply (a plain struct: GCC 12 warns falsely on a variant of these).
struct TelValue {
    enum class Kind : uint8_t { u64, i64, str, strings, u64s, dict } kind = Kind::u64;
    uint64_t u = 0;
    int64_t i = 0;
    std::string s;
    std::vector<std::string> ss;
    std::vector<uint64_t> us;
    std::shared_ptr<TelDict> d;
};

struct TelDict {
    std::vector<std::pair<std::string, TelValue>> entries;
    TelDict& u64(std::string k, uint64_t v);
    TelDict& i64(std::string k, int64_t v);
    TelDict& str(std::string k, std::string v);
    TelDict& strings(std::string k, std::vector<std::string> v);
    TelDict& u64s(std::string k, std::vector<uint64_t> v);
    TelDict& dict(std::string k, TelDict v);
};

// Returns false for bad parameters (telemetry then answers null).
using TelHandler = std::function<bool(std::string_view params, TelDict& out)>;

// Registers `cmd` ("/updproxy/links") with DPDK (once per process; the
// EAL's telemetry must be on) and routes it to `handler`. Call after
// rte_eal_init.
bool register_telemetry(const std::string& cmd, const std::string& help, TelHandler handler);
// Drops every handler (their commands then answer null); waits for one in
// progress to finish.
void clear_telemetry();

// A key telemetry accepts: [A-Za-z0-9_/], others replaced with '_'.
std::string telemetry_key(std::string_view s);

}  // namespace updproxy::stats

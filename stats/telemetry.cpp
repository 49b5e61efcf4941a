#include "stats/telemetry.hpp"

#include <rte_telemetry.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <shared_mutex>

namespace updproxy::stats {

namespace {

std::shared_mutex g_mu;
std::map<std::string, TelHandler, std::less<>>& handlers() {
    static std::map<std::string, TelHandler, std::less<>> h;
    return h;
}
// Commands registered with DPDK (it has no unregister).
std::map<std::string, bool, std::less<>>& registered() {
    static std::map<std::string, bool, std::less<>> r;
    return r;
}

std::string cut(std::string s) {
    if (s.size() >= RTE_TEL_MAX_STRING_LEN) s.resize(RTE_TEL_MAX_STRING_LEN - 1);
    return s;
}

int fill(rte_tel_data* d, const TelDict& dict, int depth);

int add_value(rte_tel_data* d, const std::string& key, const TelValue& v, int depth) {
    const std::string k = telemetry_key(key);
    switch (v.kind) {
        case TelValue::Kind::u64: return rte_tel_data_add_dict_u64(d, k.c_str(), v.u);
        case TelValue::Kind::i64: return rte_tel_data_add_dict_int(d, k.c_str(), static_cast<int>(v.i));
        case TelValue::Kind::str: return rte_tel_data_add_dict_string(d, k.c_str(), cut(v.s).c_str());
        default: break;
    }
    rte_tel_data* c = rte_tel_data_alloc();
    if (c == nullptr) return -ENOMEM;
    int rc = 0;
    if (v.kind == TelValue::Kind::strings) {
        rte_tel_data_start_array(c, RTE_TEL_STRING_VAL);
        for (size_t i = 0; i < v.ss.size() && i < RTE_TEL_MAX_ARRAY_ENTRIES; ++i) {
            rte_tel_data_add_array_string(c, cut(v.ss[i]).c_str());
        }
    } else if (v.kind == TelValue::Kind::u64s) {
        rte_tel_data_start_array(c, RTE_TEL_U64_VAL);
        for (size_t i = 0; i < v.us.size() && i < RTE_TEL_MAX_ARRAY_ENTRIES; ++i) {
            rte_tel_data_add_array_u64(c, v.us[i]);
        }
    } else if (v.d) {
        rte_tel_data_start_dict(c);
        rc = fill(c, *v.d, depth + 1);
    }
    if (rc == 0) rc = rte_tel_data_add_dict_container(d, k.c_str(), c, 0);
    if (rc != 0) rte_tel_data_free(c);
    return rc;
}

int fill(rte_tel_data* d, const TelDict& dict, int depth) {
    size_t n = 0;
    for (const auto& [k, v] : dict.entries) {
        if (n++ >= RTE_TEL_MAX_DICT_ENTRIES) break;
        if (depth > 0 && v.kind == TelValue::Kind::dict) continue;  // one level of nesting
        add_value(d, k, v, depth);
    }
    return 0;
}

int dispatch(const char* cmd, const char* params, rte_tel_data* d) {
    std::shared_lock<std::shared_mutex> g(g_mu);
    const auto it = handlers().find(std::string_view(cmd));
    if (it == handlers().end()) return -ENODEV;
    TelDict out;
    if (!it->second(params ? std::string_view(params) : std::string_view(), out)) return -EINVAL;
    rte_tel_data_start_dict(d);
    return fill(d, out, 0);
}

}  // namespace

TelDict& TelDict::u64(std::string k, uint64_t v) {
    TelValue& x = entries.emplace_back(std::move(k), TelValue{}).second;
    x.kind = TelValue::Kind::u64;
    x.u = v;
    return *this;
}
TelDict& TelDict::i64(std::string k, int64_t v) {
    TelValue& x = entries.emplace_back(std::move(k), TelValue{}).second;
    x.kind = TelValue::Kind::i64;
    x.i = v;
    return *this;
}
TelDict& TelDict::str(std::string k, std::string v) {
    TelValue& x = entries.emplace_back(std::move(k), TelValue{}).second;
    x.kind = TelValue::Kind::str;
    x.s = std::move(v);
    return *this;
}
TelDict& TelDict::strings(std::string k, std::vector<std::string> v) {
    TelValue& x = entries.emplace_back(std::move(k), TelValue{}).second;
    x.kind = TelValue::Kind::strings;
    x.ss = std::move(v);
    return *this;
}
TelDict& TelDict::u64s(std::string k, std::vector<uint64_t> v) {
    TelValue& x = entries.emplace_back(std::move(k), TelValue{}).second;
    x.kind = TelValue::Kind::u64s;
    x.us = std::move(v);
    return *this;
}
TelDict& TelDict::dict(std::string k, TelDict v) {
    TelValue& x = entries.emplace_back(std::move(k), TelValue{}).second;
    x.kind = TelValue::Kind::dict;
    x.d = std::make_shared<TelDict>(std::move(v));
    return *this;
}

std::string telemetry_key(std::string_view s) {
    std::string k(s.substr(0, RTE_TEL_MAX_STRING_LEN - 1));
    for (char& c : k) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '_' || c == '/';
        if (!ok) c = '_';
    }
    return k.empty() ? "_" : k;
}

bool register_telemetry(const std::string& cmd, const std::string& help, TelHandler handler) {
    std::unique_lock<std::shared_mutex> g(g_mu);
    handlers()[cmd] = std::move(handler);
    if (registered().count(cmd)) return true;
    // DPDK keeps the help pointer: give it storage that lives as long as the process.
    static std::vector<std::unique_ptr<std::string>> helps;
    helps.push_back(std::make_unique<std::string>(help));
    if (rte_telemetry_register_cmd(cmd.c_str(), dispatch, helps.back()->c_str()) != 0) return false;
    registered()[cmd] = true;
    return true;
}

void clear_telemetry() {
    std::unique_lock<std::shared_mutex> g(g_mu);
    handlers().clear();
}

}  // namespace updproxy::stats

#include "control/config/yaml_node.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <system_error>

namespace updproxy::config::detail {

Position position_of(const YAML::Mark& m) {
    // yaml-cpp counts from 0 and uses -1 for "no mark" (a null document).
    if (m.line < 0 || m.column < 0) return {};
    return {m.line + 1, m.column + 1};
}

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string join(std::initializer_list<std::string_view> words) {
    std::string out;
    for (auto w : words) {
        if (!out.empty()) out += ", ";
        out += w;
    }
    return out;
}

}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
    // Three rolling rows are enough for the transposition term.
    std::vector<size_t> prev2(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1])) {
                cur[j] = std::min(cur[j], prev2[j - 2] + 1);
            }
        }
        std::swap(prev2, prev);
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string_view suggest(std::string_view word, const std::vector<std::string_view>& candidates,
                         size_t max_distance) {
    std::string_view best;
    size_t best_d = max_distance + 1;
    for (auto c : candidates) {
        size_t d = edit_distance(word, c);
        // "warning" for "warn", "err" for "error": a prefix of three or more
        // letters is as good a clue as a typo.
        const size_t common = std::min(word.size(), c.size());
        if (common >= 3 && edit_distance(word.substr(0, common), c.substr(0, common)) == 0) {
            d = std::min<size_t>(d, 1);
        }
        // Two edits turn any one- or two-letter word into any other: a
        // suggestion must keep at least one letter of the word.
        if (d < best_d && d < std::max(word.size(), c.size())) {
            best = c;
            best_d = d;
        }
    }
    return best;
}

std::string quote(std::string_view text) {
    static const char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += ch;
        }
    }
    out += '"';
    return out;
}

Position empty_item_position(const std::string& text, const YAML::Mark& next) {
    if (next.pos < 0) return position_of(next);
    // Walk back line by line from the token after the item; in each line only
    // the part before a comment counts.
    size_t end = std::min(static_cast<size_t>(next.pos), text.size());
    int line = next.line;
    while (true) {
        const size_t nl = end == 0 ? std::string::npos : text.rfind('\n', end - 1);
        const size_t line_start = nl == std::string::npos ? 0 : nl + 1;
        std::string_view l(text.data() + line_start, end - line_start);
        for (size_t i = 0; i < l.size(); ++i) {
            if (l[i] == '#' && (i == 0 || l[i - 1] == ' ' || l[i - 1] == '\t')) {
                l = l.substr(0, i);
                break;
            }
        }
        const size_t last = l.find_last_not_of(" \t\r\n");
        if (last != std::string_view::npos) {
            if (l[last] == '-' || l[last] == ',' || l[last] == '[') {
                return {line + 1, static_cast<int>(last) + 1};
            }
            break;
        }
        if (line_start == 0) break;
        end = line_start - 1;
        --line;
    }
    return position_of(next);
}

Node Node::root(const YAML::Node& node, const Source& src) {
    Position p = position_of(node.Mark());
    if (p.line == 0) p = {1, 1};
    return Node(node, "", p, p, &src);
}

std::string_view Node::kind() const {
    switch (node_.Type()) {
        case YAML::NodeType::Map: return "a mapping";
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Scalar: return "a string";
        default: return "no value";
    }
}

void Node::fail(std::string message) const { fail_at(pos_, std::move(message)); }

void Node::fail_at(Position pos, std::string message) const {
    throw Failure{ConfigError{src_->file, pos.line, pos.column, path_, std::move(message)}};
}

std::string Node::child_path(std::string_view key) const {
    // A key that is not a plain name (a misplaced value, a multi-line plain
    // scalar) is quoted so the path stays one readable line.
    const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
    const std::string k = plain ? std::string(key) : quote(key);
    if (path_.empty()) return k;
    return path_ + "." + k;
}

void Node::expect_map() const {
    if (!is_map()) fail("expected a mapping (key: value lines), got " + std::string(kind()));
}

void Node::check_known_keys(std::initializer_list<std::string_view> known) const {
    expect_map();
    std::vector<std::pair<std::string, Position>> seen;
    for (const auto& kv : node_) {
        const YAML::Node k = kv.first;
        const Position kp = position_of(k.Mark());
        if (!k.IsScalar()) {
            throw Failure{ConfigError{src_->file, kp.line, kp.column, path_,
                                      "a key must be a plain name, got " +
                                          std::string(k.IsMap() ? "a mapping" : "a list")}};
        }
        const std::string& name = k.Scalar();
        const std::string kpath = child_path(name);
        for (const auto& [other, op] : seen) {
            if (other == name) {
                throw Failure{ConfigError{src_->file, kp.line, kp.column, kpath,
                                          "duplicate key (first given at line " +
                                              std::to_string(op.line) + ")"}};
            }
        }
        seen.emplace_back(name, kp);
        if (std::find(known.begin(), known.end(), name) != known.end()) continue;
        std::string msg = "unknown key";
        if (auto s = suggest(name, known); !s.empty()) {
            msg += " (did you mean \"" + std::string(s) + "\"?)";
        } else {
            msg += " (expected one of: " + join(known) + ")";
        }
        throw Failure{ConfigError{src_->file, kp.line, kp.column, kpath, std::move(msg)}};
    }
}

bool Node::has(std::string_view key) const {
    if (!is_map()) return false;
    for (const auto& kv : node_) {
        if (kv.first.IsScalar() && kv.first.Scalar() == key) return true;
    }
    return false;
}

std::optional<Node> Node::optional(std::string_view key) const {
    expect_map();
    for (const auto& kv : node_) {
        if (!kv.first.IsScalar() || kv.first.Scalar() != key) continue;
        const Position kp = position_of(kv.first.Mark());
        const YAML::Node v = kv.second;
        Node child(v, child_path(key), v.IsNull() ? kp : position_of(v.Mark()), kp, src_);
        if (v.IsNull()) {
            child.fail("has no value (give one, or remove the key to use the default)");
        }
        return child;
    }
    return std::nullopt;
}

Node Node::required(std::string_view key) const {
    if (auto n = optional(key)) return *n;
    throw Failure{ConfigError{src_->file, key_pos_.line, key_pos_.column, child_path(key),
                              "required key is missing"}};
}

bool Node::boolean_or(std::string_view key, bool def) const {
    auto n = optional(key);
    return n ? n->boolean() : def;
}

void Node::expect_sequence() const {
    if (!is_sequence()) fail("expected a list, got " + std::string(kind()));
}

std::vector<Node> Node::items() const {
    expect_sequence();
    std::vector<Node> out;
    out.reserve(node_.size());
    size_t i = 0;
    for (const auto& item : node_) {
        const YAML::Node v = item;
        const Position p =
            v.IsNull() ? empty_item_position(src_->text, v.Mark()) : position_of(v.Mark());
        Node child(v, path_ + "[" + std::to_string(i++) + "]", p, p, src_);
        if (v.IsNull()) child.fail("list item has no value");
        out.push_back(std::move(child));
    }
    return out;
}

std::string Node::string() const {
    if (!is_scalar()) fail("expected a string, got " + std::string(kind()));
    return node_.Scalar();
}

std::string Node::nonempty_string() const {
    std::string s = string();
    if (s.empty()) fail("must not be empty");
    return s;
}

std::string Node::identifier() const {
    std::string s = nonempty_string();
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (!ok) {
            fail(quote(s) + " is not a valid name (letters, digits, '_', '.', '-' only)");
        }
    }
    return s;
}

std::string Node::one_of(std::initializer_list<std::string_view> choices,
                         std::string_view what) const {
    std::string s = string();
    if (std::find(choices.begin(), choices.end(), s) != choices.end()) return s;
    std::string msg = quote(s) + " is not " + std::string(what);
    if (auto sug = suggest(s, choices); !sug.empty()) {
        msg += " (did you mean \"" + std::string(sug) + "\"?)";
    } else {
        msg += " (expected one of: " + join(choices) + ")";
    }
    fail(std::move(msg));
}

int64_t Node::integer(int64_t lo, int64_t hi) const {
    if (!is_scalar()) fail("expected an integer, got " + std::string(kind()));
    const std::string& s = node_.Scalar();
    if (quoted()) fail("expected an integer, got the quoted string " + quote(s));
    const std::string range = std::to_string(lo) + ".." + std::to_string(hi);

    std::string_view t = s;
    bool negative = false;
    if (!t.empty() && (t[0] == '-' || t[0] == '+')) {
        negative = t[0] == '-';
        t.remove_prefix(1);
    }
    int base = 10;
    if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
        base = 16;
        t.remove_prefix(2);
    } else if (t.size() > 2 && t[0] == '0' && t[1] == 'o') {
        base = 8;
        t.remove_prefix(2);
    }
    uint64_t mag = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), mag, base);
    if (t.empty() || end != t.data() + t.size() || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
        fail("expected an integer, got " + quote(s));
    }
    const bool too_big = ec == std::errc::result_out_of_range ||
                         mag > static_cast<uint64_t>(INT64_MAX);
    const int64_t v = negative ? -static_cast<int64_t>(mag) : static_cast<int64_t>(mag);
    if (too_big || v < lo || v > hi) fail(s + " is out of range " + range);
    return v;
}

bool Node::boolean() const {
    if (!is_scalar()) fail("expected true or false, got " + std::string(kind()));
    const std::string& s = node_.Scalar();
    if (!quoted()) {
        if (s == "true" || s == "True" || s == "TRUE") return true;
        if (s == "false" || s == "False" || s == "FALSE") return false;
    }
    fail("expected true or false, got " + quote(s));
}

}  // namespace updproxy::config::detail

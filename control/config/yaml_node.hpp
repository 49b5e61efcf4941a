// Validation helpers over yaml-cpp, private to the config library.
//
// A Node is a YAML node plus what an error message needs: the key path that led
// to it ("links[1].prefix"), its position, and the position of the key that
// introduced it. Every accessor checks the type and range it promises and
// throws a Failure naming all three otherwise, so section parsers read like a
// list of declarations:
//
//     n.check_known_keys({"name", "device", "rx_descriptors"});
//     p.name = n.required("name").identifier();
//     p.rx_descriptors = n.integer_or<unsigned>("rx_descriptors", 1024, 32, 32768);
//
// New sections (update servers, TSIG keys, listeners, metrics) use the same
// calls; nothing here knows about a particular key.
//
// Failure is an exception on purpose: the configuration is read once at start,
// far from the packet path, and unwinding to parse_config is the simplest way
// to stop at the first error from any depth.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "control/config/config.hpp"

namespace updproxy::config::detail {

struct Failure {
    ConfigError error;
};

// 1-based; {0, 0} = unknown.
struct Position {
    int line = 0;
    int column = 0;
};

Position position_of(const YAML::Mark& m);

// Optimal string alignment distance (Levenshtein plus adjacent
// transpositions, so "prefxi" is one edit from "prefix"), ASCII
// case-insensitive.
size_t edit_distance(std::string_view a, std::string_view b);
// The candidate within `max_distance` edits of `word`, nearest first, earlier
// candidates winning ties; empty when there is none.
std::string_view suggest(std::string_view word, const std::vector<std::string_view>& candidates,
                         size_t max_distance = 2);
inline std::string_view suggest(std::string_view word,
                                std::initializer_list<std::string_view> candidates,
                                size_t max_distance = 2) {
    return suggest(word, std::vector<std::string_view>(candidates), max_distance);
}

// The text being parsed and the name to report it under. Outlives every Node.
struct Source {
    std::string file;
    std::string text;
};

// Where the "-" or "," before an empty list item is. yaml-cpp marks an empty
// item at the token after it (often the next line), so the text is searched
// backwards from that mark, over blanks and comments.
Position empty_item_position(const std::string& text, const YAML::Mark& next);

class Node {
public:
    // The document root. A null `node` (an empty file) is allowed here; the
    // caller decides what an empty document means.
    static Node root(const YAML::Node& node, const Source& src);

    const std::string& path() const { return path_; }
    // The file the document came from (as given to parse_config).
    const std::string& source_path() const { return src_->file; }
    // Where the value is; for an empty value (`key:` with nothing after it)
    // yaml-cpp marks the next token, so the key's position is used instead.
    Position position() const { return pos_; }
    // Where the key that introduced this node is (the item itself for list
    // items, the first key for the root). "Missing key" errors point here.
    Position key_position() const { return key_pos_; }
    int line() const { return pos_.line; }

    bool is_null() const { return node_.IsNull(); }
    bool is_map() const { return node_.IsMap(); }
    bool is_sequence() const { return node_.IsSequence(); }
    bool is_scalar() const { return node_.IsScalar(); }
    // "a mapping", "a list", "a string", "no value": for type errors.
    std::string_view kind() const;

    [[noreturn]] void fail(std::string message) const;
    [[noreturn]] void fail_at(Position pos, std::string message) const;

    // --- mappings -------------------------------------------------------
    void expect_map() const;
    // Checks this is a mapping whose keys are plain strings, each known and
    // given once. An unknown key is reported with a "did you mean" when a
    // known key is at most two edits away, or with the list of known keys.
    void check_known_keys(std::initializer_list<std::string_view> known) const;
    bool has(std::string_view key) const;
    // The value under `key`, or nullopt when the key is absent. A key that is
    // present with no value is an error: `vdevs:` alone is more likely an
    // unfinished edit than a request for the default.
    std::optional<Node> optional(std::string_view key) const;
    // The value under `key`; its absence is an error at this map's key line.
    Node required(std::string_view key) const;

    template <class T>
    T integer_or(std::string_view key, T def, int64_t lo, int64_t hi) const {
        auto n = optional(key);
        return n ? static_cast<T>(n->integer(lo, hi)) : def;
    }
    bool boolean_or(std::string_view key, bool def) const;

    // --- lists ----------------------------------------------------------
    void expect_sequence() const;
    // The items, with paths "key[0]", "key[1]", ...
    std::vector<Node> items() const;

    // --- scalars --------------------------------------------------------
    // Any scalar as text (a plain `123` is the string "123").
    std::string string() const;
    // A string that is not empty.
    std::string nonempty_string() const;
    // [A-Za-z0-9_.-]+: names used in logs and metric labels.
    std::string identifier() const;
    // One of `choices`, with a suggestion when the value is close to one.
    std::string one_of(std::initializer_list<std::string_view> choices,
                       std::string_view what) const;
    // A plain (unquoted) integer in lo..hi: decimal, 0x hex or 0o octal
    // (YAML 1.2 core schema). A quoted "1024" is a string, not a number.
    int64_t integer(int64_t lo, int64_t hi) const;
    // true/false in YAML 1.2 spellings only; YAML 1.1's yes/no/on/off are
    // refused because they surprise people ("no" as a country code).
    bool boolean() const;

private:
    Node(YAML::Node node, std::string path, Position pos, Position key_pos,
         const Source* src)
        : node_(std::move(node)), path_(std::move(path)), pos_(pos), key_pos_(key_pos),
          src_(src) {}
    std::string child_path(std::string_view key) const;
    bool quoted() const { return node_.Tag() == "!"; }

    YAML::Node node_;
    std::string path_;
    Position pos_;
    Position key_pos_;
    const Source* src_;
};

// `text` quoted for a message: "192.0.2.0/33", with control characters and
// quotes escaped so one error stays one line.
std::string quote(std::string_view text);

}  // namespace updproxy::config::detail

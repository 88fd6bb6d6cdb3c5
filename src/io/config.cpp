#include "structseq/io/config.h"
#include "structseq/io/read_file.h"

#include "structseq/core/error.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

namespace structseq::io {

// --- schema ----------------------------------------------------------------------------------

ConfigField ConfigField::number(double default_value) {
    ConfigField f(Kind::Number);
    f.default_ = default_value;
    return f;
}

ConfigField ConfigField::integer(std::int64_t default_value) {
    ConfigField f(Kind::Integer);
    f.default_ = default_value;
    return f;
}

ConfigField ConfigField::boolean(bool default_value) {
    ConfigField f(Kind::Boolean);
    f.default_ = default_value;
    return f;
}

ConfigField ConfigField::string(std::string default_value) {
    ConfigField f(Kind::String);
    f.default_ = std::move(default_value);
    return f;
}

ConfigField ConfigField::choice(std::string default_value, std::vector<std::string> choices) {
    ConfigField f = string(std::move(default_value));
    f.choices_ = std::move(choices);
    return f;
}

ConfigField ConfigField::strings(std::vector<std::string> default_value) {
    ConfigField f(Kind::Strings);
    f.default_ = std::move(default_value);
    return f;
}

ConfigField ConfigField::section(Fields fields) {
    ConfigField f(Kind::Section);
    f.fields_ = std::move(fields);
    return f;
}

ConfigField& ConfigField::at_least(double bound) {
    min_ = bound;
    min_exclusive_ = false;
    return *this;
}

ConfigField& ConfigField::greater_than(double bound) {
    min_ = bound;
    min_exclusive_ = true;
    return *this;
}

ConfigField& ConfigField::at_most(double bound) {
    max_ = bound;
    return *this;
}

ConfigField& ConfigField::nullable() {
    nullable_ = true;
    return *this;
}

ConfigField& ConfigField::no_default() {
    default_ = std::monostate{};
    nullable_ = true;
    return *this;
}

// --- loading ---------------------------------------------------------------------------------

std::string closest_name(std::string_view word, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = static_cast<std::size_t>(-1);
    for (const auto& candidate : candidates) {
        std::vector<std::size_t> row(candidate.size() + 1);
        for (std::size_t j = 0; j < row.size(); ++j) row[j] = j;
        for (std::size_t i = 1; i <= word.size(); ++i) {
            std::size_t diagonal = row[0];
            row[0] = i;
            for (std::size_t j = 1; j <= candidate.size(); ++j) {
                const std::size_t above = row[j];
                row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                                   diagonal + (word[i - 1] == candidate[j - 1] ? 0 : 1)});
                diagonal = above;
            }
        }
        if (row.back() < best_distance) {
            best_distance = row.back();
            best = candidate;
        }
    }
    return best;
}

class ConfigLoader {
public:
    explicit ConfigLoader(std::string source) : source_(std::move(source)) {}

    Config load(const YAML::Node& root, const ConfigField& schema) {
        Config config;
        read_section(std::optional<YAML::Node>(root), schema, "", config);
        return config;
    }

private:
    [[noreturn]] void fail_at(const std::string& path, std::string_view message) const {
        fail("{}: {}: {}", source_, path, message);
    }

    static std::string describe(const YAML::Node& node) {
        if (node.IsNull()) return "null";
        if (node.IsSequence()) return "a list";
        if (node.IsMap()) return "a mapping";
        if (node.Tag() == "!") return fmt::format("\"{}\"", node.Scalar());
        return node.Scalar();
    }

    static bool is_plain_scalar(const YAML::Node& node) {
        return node.IsScalar() && node.Tag() != "!";
    }

    std::string bounds_text(const ConfigField& field) const {
        std::string text;
        if (field.min_)
            text += fmt::format(" {} {}", field.min_exclusive_ ? ">" : ">=", *field.min_);
        if (field.max_) text += fmt::format("{} <= {}", field.min_ ? " and" : "", *field.max_);
        return text;
    }

    void check_bounds(double value, const ConfigField& field, const std::string& path,
                      std::string_view kind, const YAML::Node& node) const {
        const bool low =
            field.min_ && (field.min_exclusive_ ? value <= *field.min_ : value < *field.min_);
        const bool high = field.max_ && value > *field.max_;
        if (low || high) {
            fail_at(path,
                    fmt::format("expected {}{}, got {}", kind, bounds_text(field), describe(node)));
        }
    }

    static std::optional<double> parse_number(std::string text) {
        if (!text.empty() && text.front() == '+') text.erase(0, 1);
        std::string lower = text;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (lower == ".nan") return std::nan("");
        if (lower == ".inf" || lower == "-.inf") return lower[0] == '-' ? -HUGE_VAL : HUGE_VAL;
        double value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || ec != std::errc() || end != text.data() + text.size())
            return std::nullopt;
        return value;
    }

    ConfigValue read_leaf(const YAML::Node& node, const ConfigField& field,
                          const std::string& path) const {
        switch (field.kind_) {
            case ConfigField::Kind::Number: {
                const auto value =
                    is_plain_scalar(node) ? parse_number(node.Scalar()) : std::nullopt;
                if (!value) fail_at(path, fmt::format("expected a number, got {}", describe(node)));
                if (!std::isfinite(*value)) {
                    fail_at(path, fmt::format("expected a finite number, got {}", describe(node)));
                }
                check_bounds(*value, field, path, "a number", node);
                return *value;
            }
            case ConfigField::Kind::Integer: {
                std::int64_t value = 0;
                const std::string text = is_plain_scalar(node) ? node.Scalar() : std::string();
                const auto [end, ec] =
                    std::from_chars(text.data(), text.data() + text.size(), value);
                if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
                    fail_at(path, fmt::format("expected an integer, got {}", describe(node)));
                }
                check_bounds(static_cast<double>(value), field, path, "an integer", node);
                return value;
            }
            case ConfigField::Kind::Boolean: {
                std::string text = is_plain_scalar(node) ? node.Scalar() : std::string();
                std::transform(text.begin(), text.end(), text.begin(),
                               [](unsigned char c) { return std::tolower(c); });
                if (text == "true" || text == "yes" || text == "on") return true;
                if (text == "false" || text == "no" || text == "off") return false;
                fail_at(path, fmt::format("expected true or false, got {}", describe(node)));
            }
            case ConfigField::Kind::String: {
                if (!node.IsScalar())
                    fail_at(path, fmt::format("expected a string, got {}", describe(node)));
                const std::string& text = node.Scalar();
                if (!field.choices_.empty() &&
                    std::find(field.choices_.begin(), field.choices_.end(), text) ==
                        field.choices_.end()) {
                    fail_at(path, fmt::format("expected one of {}, got \"{}\"",
                                              fmt::join(field.choices_, ", "), text));
                }
                return text;
            }
            case ConfigField::Kind::Strings: {
                if (node.IsScalar()) return std::vector<std::string>{node.Scalar()};
                if (!node.IsSequence()) {
                    fail_at(path, fmt::format("expected a string or a list of strings, got {}",
                                              describe(node)));
                }
                std::vector<std::string> items;
                for (std::size_t i = 0; i < node.size(); ++i) {
                    if (!node[i].IsScalar()) {
                        fail_at(fmt::format("{}[{}]", path, i),
                                fmt::format("expected a string, got {}", describe(node[i])));
                    }
                    items.push_back(node[i].Scalar());
                }
                return items;
            }
            case ConfigField::Kind::Section:
                break;
        }
        fail("internal error: read_leaf on a section");
    }

    // `node` is empty when the section is absent from the file.
    void read_section(const std::optional<YAML::Node>& node, const ConfigField& schema,
                      const std::string& prefix, Config& config) const {
        const bool is_map = node && node->IsMap();
        if (node && !node->IsNull() && !is_map) {
            if (prefix.empty())
                fail("{}: expected a mapping at the top level, got {}", source_, describe(*node));
            fail_at(prefix, fmt::format("expected a mapping, got {}", describe(*node)));
        }
        std::vector<std::string> names;
        for (const auto& [name, field] : schema.fields_) names.push_back(name);
        if (is_map) {
            for (const auto& item : *node) {
                const std::string key = item.first.Scalar();
                if (std::find(names.begin(), names.end(), key) != names.end()) continue;
                const std::string dotted = prefix.empty() ? key : prefix + "." + key;
                const std::string suggestion = closest_name(key, names);
                if (suggestion.empty())
                    fail("{}: unknown key '{}' (this section takes no keys)", source_, dotted);
                fail("{}: unknown key '{}'; did you mean '{}'?", source_, dotted,
                     prefix.empty() ? suggestion : prefix + "." + suggestion);
            }
        }
        for (const auto& [name, field] : schema.fields_) {
            const std::string path = prefix.empty() ? name : prefix + "." + name;
            std::optional<YAML::Node> child;
            if (is_map) {
                if (const YAML::Node found = (*node)[name]) child = found;
            }
            if (field.kind_ == ConfigField::Kind::Section) {
                read_section(child, field, path, config);
            } else if (!child) {
                config.values_.emplace_back(path, field.default_);
            } else if (child->IsNull()) {
                if (!field.nullable_) fail_at(path, "expected a value, got null");
                config.values_.emplace_back(path, ConfigValue{});
            } else {
                config.values_.emplace_back(path, read_leaf(*child, field, path));
            }
        }
    }

    std::string source_;
};

// YAML streams hold printable Unicode only: tab, line breaks and no other control characters,
// in valid UTF-8. yaml-cpp is lenient here, so the loader checks first.
void check_yaml_characters(std::string_view text, const std::string& source) {
    int line = 1;
    int column = 1;
    for (std::size_t i = 0; i < text.size(); ++column) {
        const auto c = static_cast<unsigned char>(text[i]);
        std::size_t length = c < 0x80           ? 1
                             : (c >> 5) == 0x6  ? 2
                             : (c >> 4) == 0xE  ? 3
                             : (c >> 3) == 0x1E ? 4
                                                : 0;
        bool valid = length != 0 && i + length <= text.size();
        std::uint32_t code = length == 1 ? c : c & (0x7F >> length);
        for (std::size_t k = 1; valid && k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            valid = (next & 0xC0) == 0x80;
            code = (code << 6) | (next & 0x3F);
        }
        const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
        valid = valid && code >= smallest[length] && code <= 0x10FFFF &&
                (code < 0xD800 || code > 0xDFFF);
        if (!valid) fail("{}:{}:{}: the text is not valid UTF-8", source, line, column);
        const bool control = (code < 0x20 && code != '\t' && code != '\n' && code != '\r') ||
                             (code >= 0x7F && code <= 0x9F && code != 0x85);
        if (control) {
            fail("{}:{}:{}: control character U+{:04X} is not allowed in YAML", source, line,
                 column, code);
        }
        if (code == '\n') {
            ++line;
            column = 0;
        }
        i += length;
    }
}

Config parse_config(std::string_view text, const ConfigField& schema, const std::string& source) {
    check_yaml_characters(text, source);
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        fail("{}:{}:{}: YAML syntax error: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg);
    }
    try {
        return ConfigLoader(source).load(root, schema);
    } catch (const YAML::Exception& e) {
        fail("{}: {}", source, e.what());
    }
}

Config load_config(const std::string& path, const ConfigField& schema) {
    return parse_config(read_file(path, "the configuration file"), schema, path);
}

// --- access ----------------------------------------------------------------------------------

const ConfigValue& Config::value(std::string_view path, std::string_view wanted) const {
    for (const auto& [name, value] : values_) {
        if (name == path) {
            if (std::holds_alternative<std::monostate>(value)) {
                fail("config: '{}' is not set (it has no default)", path);
            }
            return value;
        }
    }
    fail("config: no {} setting '{}'", wanted, path);
}

bool Config::has(std::string_view path) const {
    for (const auto& [name, value] : values_) {
        if (name == path) return !std::holds_alternative<std::monostate>(value);
    }
    return false;
}

double Config::number(std::string_view path) const {
    const auto& v = value(path, "number");
    if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
    if (const auto* d = std::get_if<double>(&v)) return *d;
    fail("config: '{}' is not a number", path);
}

std::int64_t Config::integer(std::string_view path) const {
    const auto* i = std::get_if<std::int64_t>(&value(path, "integer"));
    if (i == nullptr) fail("config: '{}' is not an integer", path);
    return *i;
}

bool Config::boolean(std::string_view path) const {
    const auto* b = std::get_if<bool>(&value(path, "boolean"));
    if (b == nullptr) fail("config: '{}' is not a boolean", path);
    return *b;
}

const std::string& Config::string(std::string_view path) const {
    const auto* s = std::get_if<std::string>(&value(path, "string"));
    if (s == nullptr) fail("config: '{}' is not a string", path);
    return *s;
}

const std::vector<std::string>& Config::strings(std::string_view path) const {
    const auto* s = std::get_if<std::vector<std::string>>(&value(path, "list"));
    if (s == nullptr) fail("config: '{}' is not a list of strings", path);
    return *s;
}

std::string Config::to_yaml() const {
    // Paths arrive in schema order, so every section's keys are contiguous.
    YAML::Emitter out;
    out << YAML::BeginMap;
    std::vector<std::string> open;  // the sections currently open, outermost first
    for (const auto& [path, value] : values_) {
        std::vector<std::string> parts;
        std::stringstream stream(path);
        for (std::string part; std::getline(stream, part, '.');) parts.push_back(part);
        std::size_t common = 0;
        while (common < open.size() && common + 1 < parts.size() && open[common] == parts[common])
            ++common;
        for (; open.size() > common; open.pop_back()) out << YAML::EndMap;
        for (; open.size() + 1 < parts.size(); open.push_back(parts[open.size()])) {
            out << YAML::Key << parts[open.size()] << YAML::Value << YAML::BeginMap;
        }
        out << YAML::Key << parts.back() << YAML::Value;
        std::visit(
            [&](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::monostate>) {
                    out << YAML::Null;
                } else if constexpr (std::is_same_v<T, double>) {
                    out << fmt::format("{}", v);  // the shortest text that reads back exactly
                } else if constexpr (std::is_same_v<T, std::string>) {
                    out << YAML::DoubleQuoted << v;
                } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                    out << YAML::Flow << YAML::BeginSeq;
                    for (const auto& item : v) out << YAML::DoubleQuoted << item;
                    out << YAML::EndSeq;
                } else {
                    out << v;
                }
            },
            value);
    }
    for (; !open.empty(); open.pop_back()) out << YAML::EndMap;
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

}  // namespace structseq::io

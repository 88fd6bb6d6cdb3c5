#pragma once
// YAML configuration checked against a schema. The schema is a tree of sections whose leaves are
// typed fields with defaults and bounds; loading fills in every default and refuses, with the
// dotted path of the offending key:
//   - a key the schema does not know ("unknown key 'training.learnig_rate'; did you mean
//     'training.learning_rate'?"),
//   - a value of the wrong type ("training.learning_rate: expected a number, got \"abc\""),
//   - NaN or infinite numbers, values out of bounds, strings outside a field's choices.
// Quoted scalars are strings, as YAML says: "0.1" in quotes is not a number.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace structseq::io {

class ConfigField {
public:
    enum class Kind { Number, Integer, Boolean, String, Strings, Section };
    using Fields = std::vector<std::pair<std::string, ConfigField>>;

    static ConfigField number(double default_value);
    static ConfigField integer(std::int64_t default_value);
    static ConfigField boolean(bool default_value);
    static ConfigField string(std::string default_value);
    static ConfigField choice(std::string default_value, std::vector<std::string> choices);
    // One string or a list of strings (a scalar is read as a list of one).
    static ConfigField strings(std::vector<std::string> default_value);
    static ConfigField section(Fields fields);

    ConfigField& at_least(double bound);      // value >= bound
    ConfigField& greater_than(double bound);  // value > bound
    ConfigField& at_most(double bound);       // value <= bound
    ConfigField& nullable();                  // `null` (or no default) is allowed: has() is false
    ConfigField& no_default();                // absent unless given; implies nullable()

    Kind kind() const { return kind_; }
    const Fields& fields() const { return fields_; }

private:
    friend class ConfigLoader;
    explicit ConfigField(Kind kind) : kind_(kind) {}

    Kind kind_;
    std::variant<std::monostate, double, std::int64_t, bool, std::string, std::vector<std::string>>
        default_;
    std::optional<double> min_;
    bool min_exclusive_ = false;
    std::optional<double> max_;
    std::vector<std::string> choices_;
    bool nullable_ = false;
    Fields fields_;
};

using ConfigValue =
    std::variant<std::monostate, double, std::int64_t, bool, std::string, std::vector<std::string>>;

class Config {
public:
    bool has(std::string_view path) const;  // a non-null value is present
    double number(std::string_view path) const;
    std::int64_t integer(std::string_view path) const;
    bool boolean(std::string_view path) const;
    const std::string& string(std::string_view path) const;
    const std::vector<std::string>& strings(std::string_view path) const;

    // Every leaf in schema order, dotted paths: ("training.learning_rate", 0.0005).
    const std::vector<std::pair<std::string, ConfigValue>>& values() const { return values_; }
    std::string to_yaml() const;  // the full configuration, defaults included

private:
    friend class ConfigLoader;
    const ConfigValue& value(std::string_view path, std::string_view wanted) const;
    std::vector<std::pair<std::string, ConfigValue>> values_;
};

Config parse_config(std::string_view text, const ConfigField& schema, const std::string& source);
Config load_config(const std::string& path, const ConfigField& schema);

// The candidate with the smallest edit distance to `word` (first on ties); empty when none.
std::string closest_name(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace structseq::io

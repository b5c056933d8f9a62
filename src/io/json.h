// json.h — a small JSON reader and writer (RFC 8259).
//
// Objects keep their key order, so a parsed file dumps back in the same order. Numbers
// keep an exact int64 when the literal is an integer that fits; every number also has a
// double. Parsing is strict (no comments, no trailing commas) with a nesting limit, and
// errors name the source and the byte offset.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace t2l::json {

enum class Type { Null, Bool, Number, String, Array, Object };

struct Value {
    Type type = Type::Null;
    bool boolean = false;
    double number = 0.0;
    int64_t integer = 0;
    bool is_integer = false;  // the literal was an integer that fits in int64
    std::string string;
    std::vector<Value> array;
    std::vector<std::pair<std::string, Value>> object;

    static Value null() { return Value(); }
    static Value from_bool(bool b);
    static Value from_int(int64_t i);
    static Value from_double(double d);
    static Value from_string(std::string s);
    static Value new_array();
    static Value new_object();

    bool is_null() const { return type == Type::Null; }
    bool is_object() const { return type == Type::Object; }
    bool is_array() const { return type == Type::Array; }
    bool is_string() const { return type == Type::String; }
    bool is_number() const { return type == Type::Number; }
    bool is_bool() const { return type == Type::Bool; }

    // Lookups: find returns nullptr when absent (or when this is not an object).
    const Value* find(const std::string& key) const;
    Value* find(const std::string& key);
    // Typed accessors throw Error("<what>: ...") naming the key when the type is wrong.
    const Value& at(const std::string& key) const;
    int64_t as_int() const;
    double as_double() const;
    bool as_bool() const;
    const std::string& as_string() const;

    // Builders (objects: set replaces an existing key, keeping its position).
    Value& set(const std::string& key, Value v);
    Value& push(Value v);
};

// A document of small values ("[0,0,0,...]") costs 112 bytes of tree per 2 bytes of text, so
// parse refuses one with more than max_values values. The default fits the largest
// tokenizer.json (a 262K vocabulary with 500K merges is about 2M values) four times over and
// keeps a hostile document's tree under 1 GB.
constexpr size_t kJsonMaxValues = 1 << 23;
// Parse text; `source` names the file or field in error messages.
Value parse(const std::string& text, const std::string& source, size_t max_values = kJsonMaxValues);
// Serialise; indent < 0 gives the compact form.
std::string dump(const Value& v, int indent = -1);

}  // namespace t2l::json

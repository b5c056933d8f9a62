// test_yaml.cpp — the args.yaml reader against PyYAML: the fixture script wrote each .yaml
// with yaml.dump (or by hand) and the .json beside it from yaml.safe_load, so equality here
// means we read what the reference reads. Then one refusal per construct outside the subset.
#include <cmath>
#include <string>

#include "common.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "io/yaml.h"
#include "test_util.h"

using namespace t2l;
using t2l_test::fixture;

namespace {

// Structural equality; *where is the path of the first difference.
bool same(const json::Value& a, const json::Value& b, std::string* where, const std::string& path = "") {
    *where = path.empty() ? "(top)" : path;
    if (a.type != b.type) return false;
    switch (a.type) {
    case json::Type::Null: return true;
    case json::Type::Bool: return a.boolean == b.boolean;
    case json::Type::Number:
        if (a.is_integer != b.is_integer) return false;
        return a.is_integer ? a.integer == b.integer : a.number == b.number;
    case json::Type::String: return a.string == b.string;
    case json::Type::Array:
        if (a.array.size() != b.array.size()) return false;
        for (size_t i = 0; i < a.array.size(); i++)
            if (!same(a.array[i], b.array[i], where, path + "[" + std::to_string(i) + "]")) return false;
        return true;
    case json::Type::Object:
        if (a.object.size() != b.object.size()) return false;
        for (size_t i = 0; i < a.object.size(); i++) {
            if (a.object[i].first != b.object[i].first) {
                *where = path + "." + a.object[i].first;
                return false;
            }
            if (!same(a.object[i].second, b.object[i].second, where, path + "." + a.object[i].first)) return false;
        }
        return true;
    }
    return false;
}

std::string yaml_error(const std::string& text) {
    try {
        yaml::parse(text, "cfg.yaml");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("args.yaml as yaml.dump writes it reads as PyYAML reads it", "[io][yaml]") {
    const json::Value got = yaml::load_file(fixture("io/args.yaml"));
    const json::Value want = json::parse(read_file(fixture("io/args.json")), "args.json");
    std::string where;
    const bool equal = same(got, want, &where);
    INFO("first difference at " << where);
    CHECK(equal);

    CHECK(got.at("hypernet_latent_size").is_integer);
    CHECK(got.at("hypernet_latent_size").integer == 512);
    CHECK(got.at("head_in_size").as_int() == 2048);
    CHECK(got.at("model_dir").as_string() == "mistralai/Mistral-7B-Instruct-v0.2");
    CHECK(got.at("lr").as_double() == 2.5e-05);
    CHECK(got.at("delta_w_scaling").integer == 10000);
    CHECK(got.at("pred_z_score").as_bool() == true);
    CHECK(got.at("shared_AB_head").as_bool() == false);
    CHECK(got.at("mt_lora_path").is_null());
    CHECK(got.at("notes").as_string() == "");
    CHECK(!got.at("save_freq").is_integer);
    CHECK(got.at("save_freq").number == 1e100);  // 10**100 does not fit an int64
    const json::Value& tm = got.at("target_modules");
    REQUIRE(tm.array.size() == 2);
    CHECK(tm.array[0].as_string() == "q_proj");
    CHECK(tm.array[1].as_string() == "v_proj");
    // Strings that only look like other types, quoted by yaml.dump (or not, for 1e-4).
    const json::Value& extra = got.at("additional_eval_descs");
    REQUIRE(extra.array.size() == 5);
    CHECK(extra.array[1].as_string() == "7@9.x#/y,s'2OC^0#q");
    CHECK(extra.array[2].as_string() == "yes");
    CHECK(extra.array[3].as_string() == "1e-4");
    CHECK(extra.array[4].as_string() == "0777");
    // A folded plain scalar and a double-quoted one with \u escapes and an escaped line break.
    const json::Value& descs = got.at("eval_ds_info").at("task_b").at("descriptions");
    REQUIRE(descs.array.size() == 2);
    CHECK(descs.array[0].as_string() ==
          "Read a short paragraph about the weather and decide whether the forecast it gives is sunny or rainy.");
    CHECK(descs.array[1].as_string() ==
          "You\xe2\x80\x99ll sort a list of words by length and then alphabetically, keeping duplicates where they appear.");
    CHECK(got.at("eval_ds_info").at("task_a").at("weight").as_double() == 0.5);
    CHECK(got.at("empty_list").is_array());
    CHECK(got.at("empty_list").array.empty());
    CHECK(got.at("empty_map").is_object());
}

TEST_CASE("the corners of the subset read as PyYAML reads them", "[io][yaml]") {
    const json::Value got = yaml::load_file(fixture("io/subset.yaml"));
    const json::Value want = json::parse(read_file(fixture("io/subset.json")), "subset.json");
    std::string where;
    const bool equal = same(got, want, &where);
    INFO("first difference at " << where);
    CHECK(equal);

    CHECK(got.at("quoted_single").as_string() == "it's # not a comment");
    CHECK(got.at("quoted_double").as_string() == "tab\tnew\nline \xc3\xa9 A \"q\" \\");
    CHECK(got.at("folded_double").as_string() == "first second third");
    CHECK(got.at("multi_line_plain").as_string() == "this scalar continues here\nand after a blank line");
    const int64_t ints[] = {0, -17, 3, 1000, 31, 511, 5, -16};
    REQUIRE(got.at("ints").array.size() == 8);
    for (int i = 0; i < 8; i++) CHECK(got.at("ints").array[i].integer == ints[i]);
    const double floats[] = {1.5, -0.25, 2.5e-05, 1000.0, 0.5, 6.0};
    REQUIRE(got.at("floats").array.size() == 6);
    for (int i = 0; i < 6; i++) CHECK(got.at("floats").array[i].number == floats[i]);
    for (const json::Value& s : got.at("strings_not_numbers").array) CHECK(s.is_string());
    const json::Value& list = got.at("nested").at("level2").at("list");
    REQUIRE(list.array.size() == 3);
    CHECK(list.array[1].array[1].as_string() == "inner2");
    CHECK(list.array[2].at("k2").array[1].as_string() == "y z");
    CHECK(got.at("nested").at("sibling").integer == 2);
    CHECK(got.at("empty_value").is_null());
}

TEST_CASE("YAML special floats and small documents", "[io][yaml]") {
    const json::Value v = yaml::parse("a: .inf\nb: -.Inf\nc: .nan\nd: +.INF\n", "f.yaml");
    CHECK(std::isinf(v.at("a").number));
    CHECK(v.at("a").number > 0);
    CHECK(v.at("b").number < 0);
    CHECK(std::isnan(v.at("c").number));
    CHECK(v.at("d").number > 0);
    const json::Value w = yaml::parse("\xef\xbb\xbf# comment\r\nkey: \"x\"  # trailing\r\n...\n", "w.yaml");
    CHECK(w.at("key").as_string() == "x");
    CHECK(yaml::parse("big: 9223372036854775807\nsmall: -9223372036854775808\n", "i.yaml").at("small").integer == INT64_MIN);
    CHECK(!yaml::parse("over: 9223372036854775808\n", "i.yaml").at("over").is_integer);
}

TEST_CASE("YAML outside the subset is refused with the file and line", "[io][yaml]") {
    CHECK(yaml_error("a: 1\nb: &x 2\nc: *x\n") == "cfg.yaml:2: anchors and aliases (& and *) are not supported");
    CHECK(yaml_error("args: !!python/object:argparse.Namespace\n") ==
          "cfg.yaml:1: tags such as '!!python/object:argparse.Namespace' are not supported");
    CHECK(yaml_error("a: 1\n---\nb: 2\n") == "cfg.yaml:2: a second YAML document ('---') is not supported");
    CHECK(yaml_error("a:\n\t- x\n") == "cfg.yaml:2: tab character in indentation (YAML indents with spaces)");
    CHECK(yaml_error("a:\n  b: 1\n c: 2\n") == "cfg.yaml:3: unexpected indentation");
    CHECK(yaml_error("a: 1\n  b: 2\n") == "cfg.yaml:2: ': ' inside a plain value (quote the value, or check the indentation)");
    CHECK(yaml_error("a: \"abc\nb: 1\n") == "cfg.yaml:1: unterminated quoted string");
    CHECK(yaml_error("a: 1\na: 2\n") == "cfg.yaml:2: duplicate key 'a'");
    CHECK(yaml_error("a: |\n  text\n") == "cfg.yaml:1: block scalars (| and >) are not supported");
    CHECK(yaml_error("a: {b: 1}\n") == "cfg.yaml:1: flow mappings {...} are not supported (only the empty {})");
    CHECK(yaml_error("a: [1, 2\nb: 3\n") == "cfg.yaml:1: a flow list [...] must close on the line where it opens");
    CHECK(yaml_error("a: [x: 1]\n") == "cfg.yaml:1: flow mappings (a: b) inside [...] are not supported");
    CHECK(yaml_error("when: 2024-01-31\n") == "cfg.yaml:1: timestamps ('2024-01-31') are not supported; quote the value");
    CHECK(yaml_error("t: 1:30\n") == "cfg.yaml:1: sexagesimal numbers ('1:30') are not supported; quote the value");
    CHECK(yaml_error("- a\n- b\n") == "cfg.yaml:1: the top level is not a mapping of 'key: value' lines");
    CHECK(yaml_error("") == "cfg.yaml:1: empty document (expected a mapping of arguments)");
    CHECK(yaml_error("# only a comment\n\n") == "cfg.yaml:2: empty document (expected a mapping of arguments)");
    CHECK(yaml_error("%YAML 1.1\n---\na: 1\n") == "cfg.yaml:1: directives (%YAML, %TAG) are not supported");
    CHECK(yaml_error("a: \"\\q\"\n") == "cfg.yaml:1: unknown escape '\\q' in a double-quoted string");
    CHECK(yaml_error("a: \"\\ud800\"\n") == "cfg.yaml:1: escape is not a Unicode scalar value");
    CHECK(yaml_error("? a\n: b\n") == "cfg.yaml:1: complex keys ('? ') are not supported");
    CHECK(yaml_error("a: - b\n") == "cfg.yaml:1: a list item cannot start on this line");
    CHECK(yaml_error("a: 1\nb\n") == "cfg.yaml:2: expected 'key: value'");
    CHECK(yaml_error("a: 1\n- b\n") == "cfg.yaml:2: a list item where a 'key: value' line was expected");
    CHECK(yaml_error("a: 'x' y\n") == "cfg.yaml:1: unexpected text after the value: 'y'");
    CHECK(yaml_error("a: <<\n") == "cfg.yaml:1: merge keys (<<) and value keys (=) are not supported");
    std::string deep;
    for (int i = 0; i < 40; i++) deep += std::string((size_t)i * 2, ' ') + "k" + std::to_string(i) + ":\n";
    CHECK(yaml_error(deep) == "cfg.yaml:34: nested deeper than 32 levels");
    CHECK_THROWS_WITH(yaml::load_file("tests/fixtures/io/none.yaml"), Catch::Contains("tests/fixtures/io/none.yaml"));
}

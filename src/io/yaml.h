// yaml.h — the YAML subset of T2L's args.yaml, read the way the reference reads it.
//
// Takes: text written by PyYAML's yaml.dump (the reference saves vars(args) that way), or a
//   hand-written config in the same style. The reference loads it with yaml.safe_load, so
//   plain scalars resolve with PyYAML's YAML 1.1 rules: yes/no/on/off are booleans, 0777 is
//   octal, 1_000 is 1000, .inf/.nan are floats, and a float needs a dot (1.0e-4 is a float,
//   1e-4 stays the string "1e-4", as in PyYAML).
// Gives: a json::Value object, keys in file order. Integers beyond int64 (the reference's
//   save_freq default is 10**100) become doubles.
// The subset: block mappings nested to any depth (bounded), block sequences (also at the
//   key's own indentation, as yaml.dump writes them, and "- key: v" items), one-line flow
//   sequences [a, 'b', [c]], the empty flow mapping {}, plain / 'single' / "double" scalars
//   over several lines (folded as YAML folds them), comments, one leading "---".
// Outside it, each an Error "<source>:<line>: ...": anchors and aliases, tags
//   (!!python/object...), block scalars (| >), non-empty flow mappings, complex keys (?),
//   merge keys (<<), timestamps, sexagesimal numbers, a second document, tabs in
//   indentation, duplicate keys, a top level that is not a mapping.
#pragma once

#include <string>

#include "io/json.h"

namespace t2l::yaml {

json::Value parse(const std::string& text, const std::string& source);
json::Value load_file(const std::string& path);  // read_file + parse, errors name the path

}  // namespace t2l::yaml

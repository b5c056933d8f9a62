// test_pickle.cpp — the restricted unpickler and the torch.save reader: real torch output
// checked value by value against the JSON the fixture script wrote beside it, then one
// refusal per kind of hostile or broken input (fixtures: tools/reference/make_io_fixtures.py).
#include <cmath>
#include <string>

#include "common.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "io/pickle.h"
#include "io/torch_checkpoint.h"
#include "test_util.h"

using namespace t2l;
using t2l_test::fixture;

namespace {

// Element i of a tensor as a double (exact for every dtype the fixtures use).
double element(const TensorView& t, int64_t i) {
    const uint8_t* p = t.data + (size_t)i * dtype_size(t.dtype);
    switch (t.dtype) {
    case DType::F32: return load_le<float>(p);
    case DType::F16: return f16_to_f32(load_le<uint16_t>(p));
    case DType::BF16: return bf16_to_f32(load_le<uint16_t>(p));
    case DType::F64: return load_le<double>(p);
    case DType::I64: return (double)load_le<int64_t>(p);
    case DType::I32: return load_le<int32_t>(p);
    case DType::I16: return load_le<int16_t>(p);
    case DType::I8: return (int8_t)*p;
    case DType::U8: return *p;
    case DType::BOOL: return *p;
    }
    return NAN;
}

std::string checkpoint_error(const std::string& path) {
    try {
        TorchCheckpoint c(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

#define B(s) std::string(s, sizeof(s) - 1)  // a byte string literal, NULs included

std::string unpickle_error(const std::string& bytes, const std::string& source = "test.pkl") {
    try {
        pickle::Unpickled u((const uint8_t*)bytes.data(), bytes.size(), source);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// Dict lookup by string key in an unpickled object.
const pickle::Object* get(const pickle::Object& dict, const std::string& key) {
    for (size_t i = 0; i + 1 < dict.items.size(); i += 2)
        if (dict.items[i]->kind == pickle::Kind::Str && dict.items[i]->text == key) return dict.items[i + 1];
    return nullptr;
}

}  // namespace

TEST_CASE("torch.save state dict: every tensor's name, dtype, shape and values", "[io][pickle]") {
    TorchCheckpoint ck(fixture("io/state_dict.pt"));
    const json::Value expected = json::parse(read_file(fixture("io/state_dict.json")), "state_dict.json");
    const json::Value& list = expected.at("tensors");
    REQUIRE(ck.tensors().size() == list.array.size());
    REQUIRE(ck.tensors().size() == 20);
    CHECK(ck.values().empty());  // _metadata rides on the OrderedDict, not as an entry

    for (size_t i = 0; i < list.array.size(); i++) {
        const json::Value& e = list.array[i];
        const TensorView& t = ck.tensors()[i];
        INFO("tensor " << i << " '" << t.name << "'");
        CHECK(t.name == e.at("name").as_string());
        CHECK(dtype_name(t.dtype) == e.at("dtype").as_string());
        std::vector<int64_t> shape;
        for (const json::Value& d : e.at("shape").array) shape.push_back(d.as_int());
        CHECK(t.shape == shape);
        const std::vector<json::Value>& vals = e.at("values").array;
        REQUIRE(t.numel() == (int64_t)vals.size());
        REQUIRE(t.nbytes == vals.size() * dtype_size(t.dtype));
        int mismatches = 0;
        for (size_t k = 0; k < vals.size(); k++) mismatches += element(t, (int64_t)k) != vals[k].as_double();
        CHECK(mismatches == 0);
        CHECK(ck.find(t.name) == &t);
    }
    CHECK(ck.find("nope") == nullptr);

    // Spot checks that do not depend on the JSON.
    const TensorView* w = ck.find("lin.weight");
    REQUIRE(w != nullptr);
    CHECK(element(*w, 1 * 4 + 2) == 0.5);  // arange(12) * 0.25 - 1 at [1][2]
    const TensorView* steps = ck.find("steps");
    REQUIRE(steps != nullptr);
    CHECK(steps->dtype == DType::I64);
    for (int i = 0; i < 5; i++) CHECK(element(*steps, i) == i - 2);
    CHECK(load_le<uint16_t>(ck.find("emb.bf16")->data) == 0xbf80);  // -1.0 in bf16
    CHECK(ck.find("scalar")->shape.empty());
    CHECK(element(*ck.find("scalar"), 0) == 3.5);
    CHECK(ck.find("empty")->shape == std::vector<int64_t>{0, 3});
    CHECK(ck.find("empty")->nbytes == 0);
    CHECK(ck.find("AB_offset.A.q_proj")->shape == std::vector<int64_t>{2, 2, 4});
}

TEST_CASE("contiguous tensors are views into the file; strided views are copies", "[io][pickle]") {
    TorchCheckpoint ck(fixture("io/state_dict.pt"));
    const TensorView* base = ck.find("base");
    const TensorView* row1 = ck.find("base_row1");
    const TensorView* col2 = ck.find("base_col2");
    const TensorView* bt = ck.find("base_t");
    REQUIRE((base && row1 && col2 && bt));
    CHECK(ck.copied_count() == 2);                 // base_t and base_col2
    CHECK(row1->data == base->data + 4 * 4);       // same storage, offset 4: zero copy
    CHECK((bt->data < base->data || bt->data >= base->data + base->nbytes));
    CHECK(bt->shape == std::vector<int64_t>{4, 3});
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) CHECK(element(*bt, i * 3 + j) == element(*base, j * 4 + i));
    for (int i = 0; i < 3; i++) CHECK(element(*col2, i) == 4 * i + 2);
}

TEST_CASE("a hand-made strided view over a double storage", "[io][pickle]") {
    // (2, 3) with stride (1, 2) at offset 1 of storage [0..6]: v[i][j] = 1 + i + 2j.
    TorchCheckpoint ck(fixture("io/strided.pt"));
    REQUIRE(ck.tensors().size() == 1);
    const TensorView& v = ck.tensors()[0];
    CHECK(v.name == "v");
    CHECK(v.dtype == DType::F64);
    const double want[6] = {1, 3, 5, 2, 4, 6};
    for (int k = 0; k < 6; k++) CHECK(element(v, k) == want[k]);
}

TEST_CASE("nested dicts, lists, parameters and plain values", "[io][pickle]") {
    TorchCheckpoint ck(fixture("io/nested.pt"));
    std::vector<std::string> names;
    for (const TensorView& t : ck.tensors()) names.push_back(t.name);
    CHECK(names == std::vector<std::string>{"state_dict.w", "state_dict.layers.0", "state_dict.layers.1", "param"});
    CHECK(element(*ck.find("state_dict.w"), 3) == 4.0);
    CHECK(element(*ck.find("state_dict.layers.1"), 0) == 20.0);
    CHECK(ck.find("state_dict.layers.1")->dtype == DType::BF16);
    CHECK(element(*ck.find("param"), 1) == 6.0);  // an nn.Parameter, via _rebuild_parameter

    std::vector<std::string> values;
    for (const CheckpointValue& v : ck.values()) values.push_back(v.name + " " + v.kind + " " + v.text);
    CHECK(values == std::vector<std::string>{"epoch int 3", "big int 1099511627776", "neg int -5", "lr float 0.25",
                                             "name str t2l", "flags.0 bool true", "flags.1 none None", "empty dict {}"});
}

TEST_CASE("plain values through Python's pickler, protocols 2 and 5", "[io][pickle]") {
    for (const char* name : {"io/values_p2.pkl", "io/values_p5.pkl"}) {
        INFO(name);
        const std::string bytes = t2l_test::read_bytes(fixture(name));
        pickle::Unpickled u((const uint8_t*)bytes.data(), bytes.size(), name);
        const pickle::Object& d = u.root();
        REQUIRE(d.kind == pickle::Kind::Dict);
        CHECK(get(d, "f")->number == 1.5);
        const pickle::Object* ints = get(d, "ints");
        REQUIRE(ints->kind == pickle::Kind::List);
        const int64_t want[] = {0, 255, 65535, -1, 2147483648LL, -1099511627776LL, INT64_MAX};
        REQUIRE(ints->items.size() == 7);
        for (int i = 0; i < 7; i++) CHECK(ints->items[i]->integer == want[i]);
        CHECK(get(d, "s")->text == "h\xc3\xa9llo \xe2\x80\x99");
        const pickle::Object* t = get(d, "t");
        REQUIRE(t->items.size() == 3);
        CHECK(t->items[0]->kind == pickle::Kind::None);
        CHECK((t->items[1]->kind == pickle::Kind::Bool && t->items[1]->boolean));
        CHECK((t->items[2]->kind == pickle::Kind::Bool && !t->items[2]->boolean));
        CHECK(get(d, "shared") == ints);  // the memo hands back the same object
    }
    const std::string p5 = t2l_test::read_bytes(fixture("io/values_p5.pkl"));
    pickle::Unpickled u((const uint8_t*)p5.data(), p5.size(), "p5");
    CHECK(get(u.root(), "b")->kind == pickle::Kind::Bytes);
    CHECK(get(u.root(), "b")->text == std::string("\x00\xff", 2));
}

TEST_CASE("globals outside the whitelist are refused by name", "[io][pickle]") {
    auto file_error = [](const char* name) { return unpickle_error(t2l_test::read_bytes(fixture(name)), "hypermod.pt"); };
    CHECK(file_error("io/evil_os_system.pkl") == "hypermod.pt: pickle asks for global 'os.system', which a state dict never needs; refusing");
    CHECK(file_error("io/evil_eval.pkl") == "hypermod.pt: pickle asks for global 'builtins.eval', which a state dict never needs; refusing");
    CHECK(file_error("io/evil_stack_global.pkl") == "hypermod.pt: pickle asks for global 'posix.system', which a state dict never needs; refusing");
    const std::string pt = fixture("io/evil_global.pt");
    CHECK(checkpoint_error(pt) == pt + ": pickle asks for global 'os.system', which a state dict never needs; refusing");
    // Near misses of allowed names are still refused.
    CHECK_THAT(unpickle_error("\x80\x02" "ctorch\nComplexFloatStorage\n."), Catch::Contains("'torch.ComplexFloatStorage'"));
    CHECK_THAT(unpickle_error("\x80\x02" "ctorch._utils\n_rebuild_qtensor\n."), Catch::Contains("'torch._utils._rebuild_qtensor'"));
    CHECK_THAT(unpickle_error("\x80\x02" "c__builtin__\ngetattr\n."), Catch::Contains("'__builtin__.getattr'"));
}

TEST_CASE("malformed pickles are refused with the byte offset", "[io][pickle]") {
    using Catch::Contains;
    CHECK(unpickle_error(B("\x80\x02\xff.")) == "test.pkl: malformed pickle at byte 2: unsupported opcode 0xff");
    CHECK(unpickle_error("\x80\x02i__builtin__\neval\n.") == "test.pkl: malformed pickle at byte 2: unsupported opcode 0x69 ('i')");
    CHECK(unpickle_error("\x80\x02\x85.") == "test.pkl: malformed pickle at byte 2: TUPLE1/2/3 needs a value but the stack is empty");
    CHECK_THAT(unpickle_error("\x80\x02N(N\x86."), Contains("at byte 5: TUPLE1/2/3 needs a value"));  // MARK hides the first None
    CHECK(unpickle_error("\x80\x02h\x05.") == "test.pkl: malformed pickle at byte 2: memo index 5 is not defined");
    CHECK_THAT(unpickle_error("\x80\x02Nj\xff\xff\xff\xff."), Contains("memo index 4294967295 is not defined"));
    CHECK_THAT(unpickle_error("\x80\x02q\x01."), Contains("PUT needs a value but the stack is empty"));
    CHECK(unpickle_error("\x80\x02N") == "test.pkl: malformed pickle at byte 3: the pickle ends without STOP");
    CHECK(unpickle_error("\x80\x02N.N") == "test.pkl: malformed pickle at byte 3: 1 bytes after STOP");
    CHECK(unpickle_error(B("\x80\x02X\x10\x00\x00\x00" "ab.")) ==
          "test.pkl: malformed pickle at byte 2: needs 16 more bytes, only 3 left");
    CHECK_THAT(unpickle_error("\x80\x02\x8c\x02\xc3\x28."), Contains("at byte 2: string is not valid UTF-8"));
    CHECK_THAT(unpickle_error("\x80\x02\x8a\x09" "123456789."), Contains("integer of 9 bytes does not fit in 64 bits"));
    CHECK_THAT(unpickle_error("\x80\x02t."), Contains("TUPLE without a MARK"));
    CHECK_THAT(unpickle_error("\x80\x06N."), Contains("at byte 0: pickle protocol 6 (2 to 5 are supported)"));
    CHECK_THAT(unpickle_error("\x80\x02N)R."), Contains("REDUCE's callable must be a global, got a none"));
    CHECK_THAT(unpickle_error("\x80\x02NQ."), Contains("persistent id must be a tuple, got a none"));
    CHECK_THAT(unpickle_error("\x80\x02]NNs."), Contains("SETITEM's target must be a dict, got a list"));
    CHECK_THAT(unpickle_error("\x80\x02}(Nu."), Contains("SETITEMS with an odd number of items"));
    CHECK_THAT(unpickle_error("\x80\x02" "ctorch\nFloatStorage\n)R."), Contains("'torch.FloatStorage' is not callable here"));
    CHECK_THAT(unpickle_error("\x80\x02" "ccollections\nOrderedDict\n(N" "tR."), Contains("OrderedDict called with arguments"));
    CHECK_THAT(unpickle_error("\x80\x02" "ccollections\nOrderedDict\n" "\x95\xff\xff\xff\xff\xff\xff\xff\x7f"),
               Contains("frame of 9223372036854775807 bytes runs past the end"));
    CHECK_THAT(unpickle_error("\x80\x02" "cos"), Contains("GLOBAL name without a newline"));
    // A persistent id of the wrong shape, and a tensor whose size and stride disagree.
    CHECK_THAT(unpickle_error(B("\x80\x02(X\x07\x00\x00\x00storageNtQ.")), Contains("persistent id is not ('storage', type, key, location, numel)"));
    const std::string pid = B("(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQ");
    const std::string rebuild = "ctorch._utils\n_rebuild_tensor_v2\n(";
    const std::string hooks = "\x89" "ccollections\nOrderedDict\n)R";
    CHECK_THAT(unpickle_error("\x80\x02" + rebuild + pid + B("K\x00K\x02\x85K\x01K\x01\x86") + hooks + "tR."),
               Contains("tensor size has 1 dims but stride has 2"));
    CHECK_THAT(unpickle_error("\x80\x02" + rebuild + pid + B("K\x00K\x02\x85K\x04\x85") + hooks + "tR."),
               Contains("test.pkl: tensor view (offset 0, size (2), stride (4)) reaches element 4 of storage '0', which has only 4"));
    CHECK(unpickle_error("\x80\x02" + rebuild + pid + B("K\x00K\x02\x85K\x02\x85") + hooks + "tR.").empty());  // elements 0 and 2 fit
}

TEST_CASE("torch checkpoint refusals name the file and the problem", "[io][pickle]") {
    auto err = [](const char* name) { return checkpoint_error(fixture(name)); };
    const std::string dir = fixture("io/");
    CHECK(err("io/bad_storage_small.pt") == dir + "bad_storage_small.pt: tensor view (offset 0, size (4, 4), stride (4, 1)) "
                                                  "reaches element 15 of storage '0', which has only 8");
    CHECK(err("io/bad_missing_data.pt") == dir + "bad_missing_data.pt: storage '0' has no entry 'archive/data/0'");
    CHECK(err("io/bad_entry_size.pt") == dir + "bad_entry_size.pt: entry 'archive/data/0' holds 64 bytes but its storage is 8 x f32 (8 * 4 bytes)");
    CHECK(err("io/bad_byteorder.pt") == dir + "bad_byteorder.pt: byte order 'big' (only little-endian checkpoints are supported)");
    CHECK(err("io/bad_storage_types.pt") == dir + "bad_storage_types.pt: storage '0' is used as both f32[8] and i64[4]");
    CHECK(err("io/bad_cycle.pt") == dir + "bad_cycle.pt: 'x.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0' "
                                          "is nested deeper than 32 levels (or is cyclic)");
    CHECK(err("io/bad_repeat.pt") == dir + "bad_repeat.pt: tensor 'r' repeats elements of its storage "
                                            "(4000 bytes from a 8-byte storage: a stride-0 view); not supported");
    CHECK(err("io/bad_copies.pt") == dir + "bad_copies.pt: strided views need more than the file's size in copies "
                                            "at tensor 't2'; refusing");
    CHECK(err("io/bad_root.pt") == dir + "bad_root.pt: the pickle holds a list, not a dict of tensors (a state dict)");
    CHECK(err("io/plain.zip") == dir + "plain.zip: no '<prefix>/data.pkl' entry; not a torch.save archive");
    CHECK_THAT(err("io/compressed.zip"), Catch::Contains("is compressed (method 8)"));
    CHECK(err("io/nothing-here.pt") == dir + "nothing-here.pt: cannot open: No such file or directory");

    t2l_test::ScratchDir scratch;
    const std::string legacy = scratch.file("legacy.pt");
    t2l_test::write_bytes(legacy, "\x80\x02\x8a\x0alegacy magic number follows");
    CHECK(checkpoint_error(legacy) == legacy + ": legacy torch.save format (a bare pickle, PyTorch < 1.6) is not supported; "
                                               "re-save it with a recent PyTorch");
}

// test_tokenizer.cpp — the tokenizers against the oracle, and the edges around them.
//
// Oracle: tests/fixtures/tokenizers/ (tools/reference/make_fixtures.py --only tokenizers),
// written with Hugging Face `tokenizers`: corpus.json {"strings": [...]} and, per tokenizer,
// tokenizer.json, tokenizer_config.json, expected.safetensors {ids: int32, offsets: int64}
// (the ids of string i, without special tokens, are ids[offsets[i] .. offsets[i+1]]) and
// expected.json {decoded, with_special_tokens, chat}. Every string must give the same ids and
// decode to the same text; the tests print how many strings they compared.
// The other cases need no fixture: UTF-8 handling, split patterns, decoders on bytes,
// streaming, refusals of unsupported components, chat formats, load time and the CLI.
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common.h"
#include "format/t2l_file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "tokenizer/chat.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/split_patterns.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

using namespace t2l;
using t2l_test::fixture;
using t2l_test::path_exists;
using t2l_test::read_bytes;
using t2l_test::ScratchDir;

namespace {

using t2l_test::error_of;

std::string ids_text(const std::vector<int32_t>& ids, size_t max = 24) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size() && i < max; i++) s += (i ? " " : "") + std::to_string(ids[i]);
    return s + (ids.size() > max ? " ...]" : "]");
}

std::vector<int32_t> json_ids(const json::Value& v) {
    std::vector<int32_t> out;
    for (const json::Value& x : v.array) out.push_back((int32_t)x.as_int());
    return out;
}

Tokenizer load_dir(const std::string& dir) {
    std::string config = path_exists(dir + "/tokenizer_config.json") ? read_bytes(dir + "/tokenizer_config.json") : "";
    return Tokenizer::from_json(read_bytes(dir + "/tokenizer.json"), config, dir + "/tokenizer.json");
}

// The whole oracle comparison for one fixture tokenizer.
void check_against_oracle(const std::string& name) {
    const std::string root = fixture("tokenizers");
    const std::string dir = root + "/" + name;
    if (!path_exists(root + "/corpus.json") || !path_exists(dir + "/expected.json"))
        T2L_SKIP("no oracle fixture " + dir + " (python3 tools/reference/make_fixtures.py --only tokenizers)");

    Tokenizer tok = load_dir(dir);
    json::Value corpus = json::parse(read_bytes(root + "/corpus.json"), root + "/corpus.json");
    json::Value expected = json::parse(read_bytes(dir + "/expected.json"), dir + "/expected.json");
    const std::vector<json::Value>& strings = corpus.at("strings").array;
    const std::vector<json::Value>& decoded = expected.at("decoded").array;
    SafetensorsFile st(dir + "/expected.safetensors");
    const TensorView* ids_t = st.find("ids");
    const TensorView* off_t = st.find("offsets");
    REQUIRE(ids_t);
    REQUIRE(off_t);
    REQUIRE(ids_t->dtype == DType::I32);
    REQUIRE(off_t->dtype == DType::I64);
    REQUIRE((size_t)off_t->numel() == strings.size() + 1);
    REQUIRE(decoded.size() == strings.size());
    const int32_t* want_ids = (const int32_t*)ids_t->data;
    const int64_t* offsets = (const int64_t*)off_t->data;

    size_t id_mismatch = 0, decode_mismatch = 0, stream_mismatch = 0, n_ids = 0;
    double seconds = 0;
    EncodeOptions plain;
    plain.add_special_tokens = false;
    for (size_t i = 0; i < strings.size(); i++) {
        const std::string& text = strings[i].string;
        std::vector<int32_t> want(want_ids + offsets[i], want_ids + offsets[i + 1]);
        auto t0 = std::chrono::steady_clock::now();
        std::vector<int32_t> got = tok.encode(text, plain);
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        n_ids += got.size();
        if (got != want && ++id_mismatch <= 5)
            UNSCOPED_INFO(name << " string " << i << " " << json::dump(strings[i]) << "\n  want " << ids_text(want)
                               << "\n  got  " << ids_text(got));
        // Round trip: decoding the oracle's ids gives the oracle's text, streamed or not.
        std::string text_back = tok.decode(want);
        if (text_back != decoded[i].string && ++decode_mismatch <= 5)
            UNSCOPED_INFO(name << " decode " << i << ": want " << json::dump(decoded[i]) << " got "
                               << json::dump(json::Value::from_string(text_back)));
        StreamDecoder stream(tok);
        std::string streamed;
        for (int32_t id : want) streamed += stream.step(id);
        streamed += stream.finish();
        if (streamed != text_back) stream_mismatch++;
    }

    size_t special_mismatch = 0;
    const std::vector<json::Value>& with_special = expected.at("with_special_tokens").array;
    for (const json::Value& ex : with_special) {
        size_t index = (size_t)ex.at("index").as_int();
        REQUIRE(index < strings.size());
        std::vector<int32_t> want = json_ids(ex.at("ids"));
        std::vector<int32_t> got = tok.encode(strings[index].string);
        std::string back = tok.decode(want, /*skip_special_tokens=*/true);
        if ((got != want || back != ex.at("decoded_skip_special").string) && ++special_mismatch <= 3)
            UNSCOPED_INFO(name << " with special tokens, string " << index << ": want " << ids_text(want) << " got "
                               << ids_text(got) << "; decoded " << json::dump(json::Value::from_string(back)));
    }

    std::printf("tokenizer %-15s %zu strings compared (%zu ids): %zu id mismatches, %zu decode mismatches, "
                "%zu stream mismatches; %zu with special tokens: %zu mismatches; encode %.1f ms (%.2f M ids/s)\n",
                name.c_str(), strings.size(), n_ids, id_mismatch, decode_mismatch, stream_mismatch, with_special.size(),
                special_mismatch, seconds * 1e3, n_ids / std::max(seconds, 1e-9) / 1e6);
    CHECK(strings.size() >= 2000);
    CHECK(id_mismatch == 0);
    CHECK(decode_mismatch == 0);
    CHECK(stream_mismatch == 0);
    CHECK(special_mismatch == 0);
    CHECK(tok.vocab_size() == (size_t)expected.at("vocab_size").as_int());
}

// Chat cases of the fixture: our renderer must give the oracle's text and ids.
void check_chat(const std::string& name, ChatFormat format) {
    const std::string dir = fixture("tokenizers/" + name);
    if (!path_exists(dir + "/expected.json")) T2L_SKIP("no oracle fixture " + dir);
    Tokenizer tok = load_dir(dir);
    json::Value expected = json::parse(read_bytes(dir + "/expected.json"), dir + "/expected.json");
    const json::Value* chats = expected.find("chat");
    REQUIRE(chats);
    REQUIRE(!chats->array.empty());
    EncodeOptions plain;
    plain.add_special_tokens = false;
    for (const json::Value& c : chats->array) {
        std::vector<ChatMessage> msgs;
        for (const json::Value& m : c.at("messages").array) msgs.push_back({m.at("role").string, m.at("content").string});
        std::string text = render_chat(format, msgs, c.at("add_generation_prompt").as_bool(), tok.bos_token(), tok.eos_token());
        CHECK(text == c.at("text").string);
        CHECK(tok.encode(text, plain) == json_ids(c.at("ids")));
        CHECK(tok.encode(text) == json_ids(c.at("ids_special")));
    }
    std::printf("chat %-9s %zu conversations rendered and encoded as the reference\n", chat_format_name(format),
                chats->array.size());
}

// A minimal tokenizer.json around a BPE model (vocab/merges as JSON text) and extra fields.
std::string bpe_json(const std::string& vocab, const std::string& merges, const std::string& model_extra,
                     const std::string& rest) {
    return "{\"version\": \"1.0\", \"added_tokens\": [], " + rest + "\"model\": {\"type\": \"BPE\", " + model_extra +
           "\"vocab\": " + vocab + ", \"merges\": " + merges + "}}";
}

// Byte-level and byte-fallback vocabularies: every byte has a token.
std::string byte_level_vocab() {
    json::Value v = json::Value::new_object();
    for (int b = 0; b < 256; b++) {
        std::string s;
        unicode::append_utf8(s, tok::byte_to_char((uint8_t)b));
        v.set(s, json::Value::from_int(b));
    }
    return json::dump(v);
}

std::string byte_fallback_vocab() {
    json::Value v = json::Value::new_object();
    v.set("<unk>", json::Value::from_int(0));
    for (int b = 0; b < 256; b++) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        v.set(name, json::Value::from_int(1 + b));
    }
    v.set("a", json::Value::from_int(257));
    v.set("\xE2\x96\x81", json::Value::from_int(258));  // ▁
    return json::dump(v);
}

std::vector<std::string> split_llama3(const std::string& text) {
    std::vector<std::string> out;
    for (const auto& r : tok::find_pattern_matches(tok::SplitPatternKind::Llama3, text))
        out.push_back(text.substr(r.first, r.second - r.first));
    return out;
}

}  // namespace

// ---- the oracle ------------------------------------------------------------------------------

TEST_CASE("byte-level BPE (Llama 3) matches the oracle id for id", "[tokenizer]") { check_against_oracle("llama3_bpe"); }
TEST_CASE("SentencePiece BPE, Replace+Prepend form (Mistral) matches the oracle", "[tokenizer]") {
    check_against_oracle("spm_mistral");
}
TEST_CASE("SentencePiece BPE, Metaspace form matches the oracle", "[tokenizer]") { check_against_oracle("spm_metaspace"); }
TEST_CASE("SentencePiece BPE, Gemma form matches the oracle", "[tokenizer]") { check_against_oracle("spm_gemma"); }
TEST_CASE("WordPiece (BERT / gte) matches the oracle", "[tokenizer]") { check_against_oracle("bert_wordpiece"); }

TEST_CASE("chat formats render the reference templates' text and ids", "[tokenizer]") {
    SECTION("llama3") { check_chat("llama3_bpe", ChatFormat::Llama3); }
    SECTION("mistral") { check_chat("spm_mistral", ChatFormat::Mistral); }
    SECTION("gemma") { check_chat("spm_gemma", ChatFormat::Gemma); }
}

TEST_CASE("WordPiece truncation keeps [CLS] ... [SEP] within max length", "[tokenizer]") {
    const std::string dir = fixture("tokenizers/bert_wordpiece");
    if (!path_exists(dir + "/tokenizer.json")) T2L_SKIP("no oracle fixture " + dir);
    Tokenizer tok = load_dir(dir);
    CHECK(tok.model_max_length() == 8192);
    std::string text;
    for (int i = 0; i < 50; i++) text += "answer multiple choice science questions ";
    std::vector<int32_t> full = tok.encode(text);
    REQUIRE(full.size() > 20);
    EncodeOptions opt;
    opt.max_length = 10;
    std::vector<int32_t> cut = tok.encode(text, opt);
    REQUIRE(cut.size() == 10);
    CHECK(cut.front() == tok.token_id("[CLS]"));
    CHECK(cut.back() == tok.token_id("[SEP]"));
    CHECK(std::equal(cut.begin(), cut.end() - 1, full.begin()));  // the first 9 ids are the untruncated ones
    opt.max_length = 1;
    CHECK(error_of([&] { tok.encode(text, opt); }).find("smaller than the 2 special tokens") != std::string::npos);
}

TEST_CASE("the gte encoder's tokenizer gives the reference's input ids, truncated at 8192", "[tokenizer]") {
    const std::string dir = fixture("gte_encoder");
    if (!path_exists(dir + "/expected.json")) T2L_SKIP("no oracle fixture " + dir);
    Tokenizer tok = load_dir(dir);
    json::Value expected = json::parse(read_bytes(dir + "/expected.json"), dir + "/expected.json");
    SafetensorsFile st(dir + "/expected.safetensors");
    EncodeOptions opt;
    opt.max_length = 8192;  // what T2L's encoder path asks for
    size_t compared = 0, truncated = 0;
    for (const auto& kv : expected.at("cases").object) {
        const TensorView* want_t = st.find(kv.first + ".input_ids");
        REQUIRE(want_t);
        REQUIRE(want_t->dtype == DType::I32);
        const int32_t* w = (const int32_t*)want_t->data;
        std::vector<int32_t> want(w, w + want_t->numel());
        std::vector<int32_t> got = tok.encode(kv.second.at("formatted").string, opt);
        INFO("case " << kv.first << ": want " << ids_text(want) << " got " << ids_text(got));
        CHECK(got == want);
        compared++;
        if (kv.second.at("truncated").as_bool()) {
            truncated++;
            CHECK(got.size() == 8192);
            CHECK(got.back() == tok.token_id("[SEP]"));
        }
    }
    std::printf("gte encoder tokenizer: %zu descriptions compared (%zu truncated at 8192)\n", compared, truncated);
    CHECK(compared >= 6);
    CHECK(truncated >= 1);
}

// ---- UTF-8 -----------------------------------------------------------------------------------

TEST_CASE("invalid UTF-8 input is refused with its byte offset", "[tokenizer]") {
    // `tokenizers` only takes Unicode strings (Python raises TypeError for a lone surrogate),
    // so bytes that are not UTF-8 are an error here, never silently altered.
    std::string tj = bpe_json(byte_level_vocab(), "[]", "",
                              "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                              "\"use_regex\": true}, \"decoder\": {\"type\": \"ByteLevel\"}, ");
    Tokenizer tok = Tokenizer::from_json(tj, "", "test.json");
    const char* bad[] = {"ab\xFF", "\xC3", "x\xED\xA0\x80y", "\xC0\xAF", "\xF4\x90\x80\x80", "\xE2\x82"};
    const size_t at[] = {2, 0, 1, 0, 0, 0};
    for (size_t i = 0; i < 6; i++) {
        std::string msg = error_of([&] { tok.encode(bad[i]); });
        INFO(json::dump(json::Value::from_string(unicode::utf8_lossy(bad[i]))));
        CHECK(msg.find("invalid UTF-8 at byte " + std::to_string(at[i])) != std::string::npos);
    }
    // After the lossy repair Python's errors="replace" makes, the text encodes.
    std::vector<int32_t> ids = tok.encode(unicode::utf8_lossy("ab\xFF"));
    CHECK(tok.decode(ids) == "ab\xEF\xBF\xBD");
}

TEST_CASE("lossy UTF-8 decoding replaces maximal subparts like Python and Rust", "[tokenizer]") {
    // Expected values: bytes.decode("utf-8", errors="replace") in Python 3.11.
    const std::string R = "\xEF\xBF\xBD";
    CHECK(unicode::utf8_lossy("\xE2\x82" "a") == R + "a");
    CHECK(unicode::utf8_lossy("\xED\xA0\x80") == R + R + R);        // surrogate: 3 subparts
    CHECK(unicode::utf8_lossy("\xE0\x80\xAF") == R + R + R);        // overlong
    CHECK(unicode::utf8_lossy("\xF4\x90\x80\x80") == R + R + R + R); // past U+10FFFF
    CHECK(unicode::utf8_lossy("\xF0\x9F\x98" "a") == R + "a");      // truncated 4-byte sequence
    CHECK(unicode::utf8_lossy("\xFF\xFE") == R + R);
    CHECK(unicode::utf8_lossy("\xF0\x9F\x98\x80") == "\xF0\x9F\x98\x80");
    // What a stream holds back: an unfinished but still possible sequence at the end only.
    CHECK(unicode::utf8_complete_prefix("ab\xF0\x9F\x98") == 2);
    CHECK(unicode::utf8_complete_prefix("ab\xF0\x9F\x98\x80") == 6);
    CHECK(unicode::utf8_complete_prefix("ab\xFF") == 3);
    CHECK(unicode::utf8_complete_prefix("ab\xED\xA0") == 4);  // can never complete: nothing to wait for
}

TEST_CASE("decoding bytes that are not UTF-8 gives U+FFFD as the reference does", "[tokenizer]") {
    const std::string R = "\xEF\xBF\xBD";
    SECTION("ByteLevel: one U+FFFD per maximal invalid subpart") {
        Tokenizer tok = Tokenizer::from_json(bpe_json(byte_level_vocab(), "[]", "", "\"decoder\": {\"type\": \"ByteLevel\"}, "),
                                             "", "test.json");
        CHECK(tok.decode({0xE2, 0x82, 'a'}) == R + "a");
        CHECK(tok.decode({0xED, 0xA0, 0x80}) == R + R + R);
        CHECK(tok.decode({0xF0, 0x9F, 0x98, 0x80}) == "\xF0\x9F\x98\x80");
    }
    SECTION("ByteFallback: one U+FFFD per byte of an invalid run") {
        std::string dec = "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": "
                          "{\"String\": \"\xE2\x96\x81\"}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, "
                          "{\"type\": \"Fuse\"}]}, ";
        Tokenizer tok = Tokenizer::from_json(bpe_json(byte_fallback_vocab(), "[]", "\"byte_fallback\": true, ", dec), "", "t.json");
        const int32_t a = 257;
        CHECK(tok.decode({1 + 0xE2, 1 + 0x82, a}) == R + R + "a");
        CHECK(tok.decode({1 + 0xED, 1 + 0xA0, 1 + 0x80, a}) == R + R + R + "a");
        CHECK(tok.decode({1 + 0xC3, 1 + 0xA9, a}) == "\xC3\xA9" "a");
        // Encoding: characters outside the vocabulary become their UTF-8 bytes.
        EncodeOptions plain;
        plain.add_special_tokens = false;
        CHECK(tok.encode("a\xC3\xA9", plain) == std::vector<int32_t>{a, 1 + 0xC3, 1 + 0xA9});
    }
}

TEST_CASE("stream decoding never splits a UTF-8 character", "[tokenizer]") {
    std::string dec = "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": "
                      "{\"String\": \"\xE2\x96\x81\"}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": "
                      "\"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]}, ";
    Tokenizer tok = Tokenizer::from_json(bpe_json(byte_fallback_vocab(), "[]", "\"byte_fallback\": true, ", dec), "", "t.json");
    const int32_t a = 257, space = 258;
    StreamDecoder s(tok);
    CHECK(s.step(space) == "");          // the leading "▁" is stripped, as decode() does
    CHECK(s.step(a) == "a");
    CHECK(s.step(1 + 0xF0) == "");       // first byte of an emoji: held back
    CHECK(s.step(1 + 0x9F) == "");
    CHECK(s.step(1 + 0x98) == "");
    CHECK(s.step(1 + 0x80) == "\xF0\x9F\x98\x80");
    // The window keeps the last printed token as context, so the Strip decoder (which removes
    // the space SentencePiece puts before the first word) acts only at the very start.
    CHECK(s.step(space) == " ");
    CHECK(s.step(a) == "a");
    CHECK(s.step(1 + 0xC3) == "");
    CHECK(s.finish() == "\xEF\xBF\xBD");  // the unfinished character, replaced
}

TEST_CASE("Unicode properties follow the tables each part of tokenizers uses", "[tokenizer]") {
    // Current Unicode (Oniguruma, Rust std): letters, numbers, whitespace, lowercase.
    CHECK(unicode::is_letter(U'\u00E9'));
    CHECK(unicode::is_letter(U'\u4E2D'));
    CHECK_FALSE(unicode::is_letter(U'\u0301'));
    CHECK(unicode::is_number(U'\u0663'));   // ARABIC-INDIC DIGIT THREE
    CHECK(unicode::is_number(U'\u00BD'));   // VULGAR FRACTION ONE HALF (No)
    CHECK(unicode::is_whitespace(U'\u3000'));
    CHECK_FALSE(unicode::is_whitespace(U'\u200B'));  // ZERO WIDTH SPACE is not White_Space
    CHECK(unicode::lowercase(U"\u0130") == U"i\u0307");  // full mapping: two characters
    CHECK(unicode::lowercase(U"\u03A3") == U"\u03C3");   // no final-sigma context, as Rust's char::to_lowercase
    // Unicode 8.0 (unicode_categories, used by BERT): U+166D was punctuation then (So today);
    // U+0890 (a Cf added in 14.0) was unassigned, so clean_text keeps it.
    CHECK(unicode::is_bert_punctuation(U'\u166D'));
    CHECK(unicode::is_bert_punctuation(U'$'));     // ASCII symbols count as punctuation
    CHECK(unicode::is_bert_control(U'\u200B'));
    CHECK_FALSE(unicode::is_bert_control(U'\u0890'));
    CHECK_FALSE(unicode::is_bert_control(U'\t'));
    // Unicode 9.0 (unicode-normalization): U+1CF2 was a spacing mark then (Lo today).
    CHECK(unicode::is_combining_mark(U'\u1CF2'));
    CHECK(unicode::nfd(U"\u00E9") == U"e\u0301");
    CHECK(unicode::nfc(U"e\u0301") == U"\u00E9");
    CHECK(unicode::nfd(U"\uAC00") == U"\u1100\u1161");     // Hangul by arithmetic
    CHECK(unicode::nfc(U"\u1100\u1161\u11A8") == U"\uAC01");
    CHECK(unicode::nfkc(U"\uFB01") == U"fi");
    CHECK(unicode::nfd(U"a\u0301\u0323") == U"a\u0323\u0301");  // canonical order: ccc 220 before 230
    CHECK(unicode::nfc(U"\u1E0B\u0323") == U"\u1E0D\u0307");    // reorder, then compose d + dot below
}

// ---- pre-tokenization ------------------------------------------------------------------------

TEST_CASE("the hand-written Llama-3 split pattern matches the regex engine", "[tokenizer]") {
    // Expected pieces: pre_tokenizers.Split(Regex(<llama3 pattern>), "isolated") in tokenizers 0.23.
    using V = std::vector<std::string>;
    CHECK(split_llama3("a \n\n  b") == V{"a", " \n\n", " ", " b"});
    CHECK(split_llama3("a  \t b") == V{"a", "  \t", " b"});
    CHECK(split_llama3("a ") == V{"a", " "});
    CHECK(split_llama3("1234567") == V{"123", "456", "7"});
    CHECK(split_llama3("'hello") == V{"'hello"});
    CHECK(split_llama3(" 'x") == V{" '", "x"});
    CHECK(split_llama3("?!\r\n\r\nz") == V{"?!\r\n\r\n", "z"});
    CHECK(split_llama3("x'LLa") == V{"x", "'LL", "a"});
    CHECK(split_llama3("x'\xC5\xBF" "a") == V{"x", "'\xC5\xBF", "a"});  // U+017F folds to 's'
    CHECK(split_llama3("x'Ka") == V{"x", "'Ka"});
    CHECK(split_llama3("I'm here, don't") == V{"I", "'m", " here", ",", " don", "'t"});
    CHECK(split_llama3("") == V{});
    std::string pattern = tok::split_pattern_text(tok::SplitPatternKind::Llama3);
    tok::SplitPatternKind kind;
    CHECK(tok::recognise_split_pattern(pattern, &kind));
    CHECK(kind == tok::SplitPatternKind::Llama3);
    CHECK_FALSE(tok::recognise_split_pattern(pattern + "|x", &kind));
}

TEST_CASE("unsupported components are one clear error naming them", "[tokenizer]") {
    auto load_error = [](const std::string& rest, const std::string& model = "") {
        std::string tj = model.empty() ? bpe_json("{\"a\": 0}", "[]", "", rest) : "{" + rest + "\"model\": " + model + "}";
        return error_of([&] { Tokenizer::from_json(tj, "", "x/tokenizer.json"); });
    };
    CHECK(load_error("", "{\"type\": \"Unigram\", \"vocab\": []}").find("model type 'Unigram' is not supported") !=
          std::string::npos);
    CHECK(load_error("\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"\"}, ")
              .find("normalizer type 'Precompiled' is not supported") != std::string::npos);
    CHECK(load_error("\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\d+\"}, \"behavior\": "
                     "\"Isolated\", \"invert\": false}, ")
              .find("regex \"\\\\d+\" is not supported") != std::string::npos);
    CHECK(load_error("\"decoder\": {\"type\": \"CTC\"}, ").find("decoder type 'CTC' is not supported") != std::string::npos);
    CHECK(load_error("\"post_processor\": {\"type\": \"Nope\"}, ").find("post-processor type 'Nope'") != std::string::npos);
    CHECK(load_error("", "{\"type\": \"BPE\", \"dropout\": 0.1, \"vocab\": {}, \"merges\": []}").find("dropout") !=
          std::string::npos);
    CHECK(load_error("", "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}")
              .find("merge #0 uses 'b', which is not in the vocabulary") != std::string::npos);
    std::string msg = load_error("\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Nmt\"}]}, ");
    CHECK(msg.find("x/tokenizer.json normalizer[0]: normalizer type 'Nmt' is not supported") != std::string::npos);
}

TEST_CASE("added tokens are cut out before splitting, with lstrip/rstrip/single_word", "[tokenizer]") {
    std::string added =
        "\"added_tokens\": ["
        "{\"id\": 1, \"content\": \"<s>\", \"special\": true, \"normalized\": false, \"lstrip\": false, \"rstrip\": false, \"single_word\": false},"
        "{\"id\": 2, \"content\": \"<mask>\", \"special\": true, \"normalized\": false, \"lstrip\": true, \"rstrip\": true, \"single_word\": false},"
        "{\"id\": 3, \"content\": \"ab\", \"special\": false, \"normalized\": true, \"lstrip\": false, \"rstrip\": false, \"single_word\": true}],";
    std::string tj = "{" + added +
                     "\"normalizer\": {\"type\": \"Lowercase\"}, \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"}, "
                     "\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0, \"<s>\": 1, "
                     "\"<mask>\": 2, \"ab\": 3, \"x\": 4, "
                     "\"a\": 5, \"##b\": 6, \"b\": 7, \"##a\": 8}}, "
                     "\"decoder\": {\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": true}}";
    Tokenizer tok = Tokenizer::from_json(tj, "", "t.json");
    EncodeOptions plain;
    plain.add_special_tokens = false;
    using V = std::vector<int32_t>;
    CHECK(tok.encode("x<s>x", plain) == V{4, 1, 4});
    CHECK(tok.encode("x  <mask>  x", plain) == V{4, 2, 4});   // the whitespace goes with the token
    CHECK(tok.encode("AB x", plain) == V{3, 4});             // normalized token: matched after lowercasing
    CHECK(tok.encode("xab", plain) == V{4, 8, 6});           // single_word: not inside a word
    CHECK(tok.encode("xyz ab", plain) == V{0, 3});
    CHECK(tok.encode("ba", plain) == V{7, 8});
    CHECK(tok.is_special(1));
    CHECK_FALSE(tok.is_special(3));
    CHECK(tok.decode({4, 1, 4}) == "x <s> x");
    CHECK(tok.decode({4, 1, 4}, true) == "x x");
    CHECK(tok.decode({4, 999, 4}) == "x x");  // unknown ids are skipped, as the reference does
}

// ---- chat ------------------------------------------------------------------------------------

TEST_CASE("chat formats as plain functions", "[tokenizer]") {
    std::vector<ChatMessage> msgs = {{"system", " Be brief. "}, {"user", "Hi\n"}};
    CHECK(render_chat(ChatFormat::Llama3, msgs, true, "<|begin_of_text|>", "<|eot_id|>") ==
          "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
          "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    CHECK(render_chat(ChatFormat::Mistral, msgs, true, "<s>", "</s>") == "<s> [INST]  Be brief. \n\nHi\n [/INST]");
    CHECK(render_chat(ChatFormat::Gemma, {{"user", "Hi"}, {"assistant", "Yo"}}, true, "<bos>", "<eos>") ==
          "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nYo<end_of_turn>\n<start_of_turn>model\n");
    CHECK(render_chat(ChatFormat::Mistral, {{"user", "q"}, {"assistant", "a"}, {"user", "r"}}, false, "<s>", "</s>") ==
          " [INST] q [/INST] a</s> [INST] r [/INST]");
    CHECK(error_of([] { render_chat(ChatFormat::Mistral, {{"user", "q"}, {"system", "s"}}, false, "<s>", "</s>"); })
              .find("only user and assistant roles") != std::string::npos);
    CHECK(chat_format_from_name("gemma") == ChatFormat::Gemma);
    CHECK(error_of([] { chat_format_from_name("phi"); }).find("chat format 'phi' is unknown") != std::string::npos);
}

// ---- size and speed --------------------------------------------------------------------------

TEST_CASE("a 10 MB byte-level tokenizer.json loads in under a second", "[tokenizer]") {
    // First a cheap guard: a JSON reader that scans an object's keys linearly on insert is
    // quadratic, and a 128k-entry vocabulary then takes about a minute instead of 0.3 s.
    {
        std::string obj = "{";
        for (int i = 0; i < 16384; i++) obj += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
        obj += "}";
        auto t0 = std::chrono::steady_clock::now();
        json::Value v = json::parse(obj, "guard");
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        REQUIRE(v.object.size() == 16384);
        INFO("json::parse of a 16k-key object took " << s << " s: parse_object (src/io/json.cpp) looks keys up linearly");
#if defined(__SANITIZE_ADDRESS__)
        REQUIRE(s < 1.0);
#else
        REQUIRE(s < 0.1);
#endif
    }
    // A Llama-3-sized file: 128k tokens (every string of 1-3 characters over 50 byte-level
    // characters) and 252k merges (each 3-character token made two ways).
    std::vector<std::string> alphabet;
    for (int b = 0; b < 50; b++) {
        std::string s;
        unicode::append_utf8(s, tok::byte_to_char((uint8_t)(b < 33 ? b : 0x7F + b - 33)));  // all 2-byte characters
        alphabet.push_back(s);
    }
    std::string vocab = "{", merges = "[";
    int id = 0;
    // Spaced like the pretty-printed files `tokenizers` writes.
    auto add_token = [&](const std::string& t) {
        vocab += std::string(id ? "," : "") + "\n      " + json::dump(json::Value::from_string(t)) + ": " + std::to_string(id);
        id++;
    };
    auto add_merge = [&](const std::string& a, const std::string& b) {
        merges += std::string(merges.size() > 1 ? "," : "") + "\n      [\n        " + json::dump(json::Value::from_string(a)) +
                  ",\n        " + json::dump(json::Value::from_string(b)) + "\n      ]";
    };
    for (const auto& a : alphabet) add_token(a);
    for (const auto& a : alphabet)
        for (const auto& b : alphabet) { add_token(a + b); add_merge(a, b); }
    for (const auto& a : alphabet)
        for (const auto& b : alphabet)
            for (const auto& c : alphabet) { add_token(a + b + c); add_merge(a, b + c); add_merge(a + b, c); }
    std::string tj = bpe_json(vocab + "}", merges + "]", "\"ignore_merges\": true, ",
                              "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
                              "\"pattern\": {\"Regex\": " +
                                  json::dump(json::Value::from_string(tok::split_pattern_text(tok::SplitPatternKind::Llama3))) +
                                  "}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
                                  "\"add_prefix_space\": false, \"use_regex\": false}]}, ");
    REQUIRE(tj.size() > 9'000'000);
    auto t0 = std::chrono::steady_clock::now();
    Tokenizer tok = Tokenizer::from_json(tj, "", "big.json");
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("tokenizer load: %.1f MB tokenizer.json (%zu tokens) in %.3f s\n", tj.size() / 1e6, tok.vocab_size(), seconds);
    CHECK(tok.vocab_size() == 50 + 2500 + 125000);
    CHECK(tok.encode("\x01\x02\x03\x04\x05\x06\x07").size() == 3);  // one pre-token, merged to 2 + 2 + 3
#if defined(__SANITIZE_ADDRESS__)
    CHECK(seconds < 20.0);  // sanitizers slow everything down about tenfold
#else
    CHECK(seconds < 1.0);
#endif
}

// ---- the CLI ---------------------------------------------------------------------------------

TEST_CASE("t2l tokenize prints ids and tokens and JSON from a .t2l file", "[tokenizer][cli]") {
    ScratchDir dir;
    std::string tj = bpe_json(byte_level_vocab(), "[]", "",
                              "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                              "\"use_regex\": true}, \"decoder\": {\"type\": \"ByteLevel\"}, ");
    const std::string path = dir.file("tok.t2l");
    {
        T2lWriter w(path);
        w.set_meta("tokenizer.json", MetaValue::of_json(tj));
        w.finish();
    }
    std::string out;
    int rc = t2l_test::run_binary("t2l", "tokenize -m " + path + " 'hi!'", &out);
    INFO(out);
    REQUIRE(rc == 0);
    CHECK(out == "104 105 33\n");
    REQUIRE(t2l_test::run_binary("t2l", "tokenize -m " + path + " 'a b' --json --verbose", &out) == 0);
    CHECK(out == "{\"ids\":[97,32,98],\"tokens\":[\"a\",\"\xC4\xA0\",\"b\"],\"count\":3}\n");
    REQUIRE(t2l_test::run_binary("t2l", "tokenize -m " + path + " --decode 104,105", &out) == 0);
    CHECK(out == "hi\n");
    CHECK(t2l_test::run_binary("t2l", "tokenize -m " + path + " \"$(printf '\\377')\"", &out) != 0);
    CHECK(out.find("invalid UTF-8 at byte 0") != std::string::npos);
    CHECK(t2l_test::run_binary("t2l", "tokenize 'x'", &out) != 0);
    CHECK(out.find("-m MODEL.t2l is required") != std::string::npos);
}

TEST_CASE("ChatML conversations render as <|im_start|>role ... <|im_end|>", "[tokenizer][chat]") {
    const std::vector<ChatMessage> msgs = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "2+2?"}};
    CHECK(render_chat(ChatFormat::ChatML, msgs, true, "", "") ==
          "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
          "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n");
    CHECK(render_chat(ChatFormat::ChatML, {{"user", "x"}}, false, "", "") == "<|im_start|>user\nx<|im_end|>\n");
    CHECK(chat_format_from_name("chatml") == ChatFormat::ChatML);
}

// gguf_import.cpp — GGUF model -> HF config, tokenizer and tensors (see gguf_import.h).
//
// Shapes: a GGUF tensor with ne = {cols, rows} is the row-major (rows, cols) matrix HF stores;
// 1-D tensors (norms) are (n).
#include "convert/gguf_import.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "common.h"
#include "io/gguf_quant.h"
#include "io/json.h"
#include "tokenizer/tokenizer.h"

namespace t2l {

namespace {

// ---- typed access to GGUF keys, each failure naming the file and the key ----------------------

bool is_int_type(GgufType t) {
    switch (t) {
        case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16: case GgufType::U32:
        case GgufType::I32: case GgufType::U64: case GgufType::I64: return true;
        default: return false;
    }
}

struct Keys {
    const GgufFile& g;
    const std::string& path;

    const GgufValue* find(const std::string& key) const { return g.find(key); }
    bool has(const std::string& key) const { return g.find(key) != nullptr; }
    int64_t integer(const std::string& key) const {
        const GgufValue* v = g.find(key);
        if (!v) fail(path, ": GGUF key '", key, "' is missing");
        return as_int(*v, key);
    }
    int64_t integer_or(const std::string& key, int64_t def) const {
        const GgufValue* v = g.find(key);
        return v ? as_int(*v, key) : def;
    }
    int64_t as_int(const GgufValue& v, const std::string& key) const {
        if (v.type == GgufType::ARRAY) fail(path, ": GGUF key '", key, "' holds one value per layer; only a single value is supported");
        if (!is_int_type(v.type)) fail(path, ": GGUF key '", key, "' must be an integer");
        if (v.type == GgufType::U64 && v.u > (uint64_t)INT64_MAX) fail(path, ": GGUF key '", key, "' is out of range");
        return v.i;
    }
    // A positive count that must fit an int (layers, heads, sizes).
    int positive(const std::string& key) const {
        const int64_t n = integer(key);
        if (n <= 0 || n > (1 << 30)) fail(path, ": GGUF key '", key, "' = ", n, " is not a usable size");
        return (int)n;
    }
    double number(const std::string& key) const {
        const GgufValue* v = g.find(key);
        if (!v) fail(path, ": GGUF key '", key, "' is missing");
        if (v->type == GgufType::F32) return f32_decimal((float)v->f);
        if (v->type == GgufType::F64) return v->f;
        if (is_int_type(v->type)) return (double)v->i;
        fail(path, ": GGUF key '", key, "' must be a number");
    }
    double number_or(const std::string& key, double def) const { return has(key) ? number(key) : def; }
    std::string string_or(const std::string& key, const std::string& def) const {
        const GgufValue* v = g.find(key);
        if (!v) return def;
        if (v->type != GgufType::STRING) fail(path, ": GGUF key '", key, "' must be a string");
        return v->s;
    }
    bool boolean_or(const std::string& key, bool def) const {
        const GgufValue* v = g.find(key);
        if (!v) return def;
        if (v->type != GgufType::BOOL) fail(path, ": GGUF key '", key, "' must be a bool");
        return v->i != 0;
    }
    // An array whose elements all have one of the given types.
    const std::vector<GgufValue>* array(const std::string& key, std::initializer_list<GgufType> elems, bool required) const {
        const GgufValue* v = g.find(key);
        if (!v) {
            if (required) fail(path, ": GGUF key '", key, "' is missing");
            return nullptr;
        }
        bool ok = v->type == GgufType::ARRAY;
        if (ok) ok = std::find(elems.begin(), elems.end(), v->elem) != elems.end();
        if (!ok) fail(path, ": GGUF key '", key, "' has the wrong type");
        return &v->arr;
    }

    // GGUF stores hyperparameters such as 1e-5 as f32; HF configs hold the decimal the model
    // was made with. The shortest decimal that reads back to the same f32 is that number.
    static double f32_decimal(float f) {
        if (!std::isfinite(f)) return f;
        char buf[32];
        for (int prec = 1; prec <= 9; prec++) {
            std::snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
            if ((float)std::strtod(buf, nullptr) == f) break;
        }
        return std::strtod(buf, nullptr);
    }
};

json::Value jint(int64_t i) { return json::Value::from_int(i); }
json::Value jnum(double d) { return json::Value::from_double(d); }
json::Value jstr(const std::string& s) { return json::Value::from_string(s); }
json::Value jbool(bool b) { return json::Value::from_bool(b); }

// ---- architectures ----------------------------------------------------------------------------

struct ArchSpec {
    std::string gguf_arch;       // general.architecture
    std::string model_type;      // HF config model_type
    std::string hf_class;        // HF config architectures[0]
    bool permute_qk = false;     // llama.cpp permuted q/k rows for its interleaved RoPE
    bool norm_plus_one = false;  // GGUF norms hold HF's w + 1
    // blk.N.<gguf>.weight -> model.layers.N.<hf>.weight
    std::vector<std::pair<std::string, std::string>> layer;
};

const std::vector<std::pair<std::string, std::string>> kLlamaLayer = {
    {"attn_norm", "input_layernorm"},       {"attn_q", "self_attn.q_proj"},  {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},         {"attn_output", "self_attn.o_proj"},
    {"ffn_norm", "post_attention_layernorm"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
};
// Gemma 2 keeps four norms per layer; llama.cpp's names differ from llama's for the same HF
// name: HF post_attention_layernorm is GGUF post_attention_norm here, ffn_norm is the
// *pre*-feedforward norm.
const std::vector<std::pair<std::string, std::string>> kGemma2Layer = {
    {"attn_norm", "input_layernorm"},          {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},            {"attn_output", "self_attn.o_proj"},
    {"post_attention_norm", "post_attention_layernorm"}, {"ffn_norm", "pre_feedforward_layernorm"},
    {"post_ffw_norm", "post_feedforward_layernorm"},     {"ffn_gate", "mlp.gate_proj"},
    {"ffn_up", "mlp.up_proj"},                 {"ffn_down", "mlp.down_proj"},
};

ArchSpec arch_spec(const std::string& arch, const std::string& path) {
    ArchSpec a;
    a.gguf_arch = arch;
    if (arch == "llama") {
        a.model_type = "llama";
        a.hf_class = "LlamaForCausalLM";
        a.permute_qk = true;
        a.layer = kLlamaLayer;
    } else if (arch == "gemma2") {
        a.model_type = "gemma2";
        a.hf_class = "Gemma2ForCausalLM";
        a.norm_plus_one = true;
        a.layer = kGemma2Layer;
    } else if (arch == "gemma3") {
        a.model_type = "gemma3_text";
        a.hf_class = "Gemma3ForCausalLM";
        a.norm_plus_one = true;
        a.layer = kGemma2Layer;
        a.layer.push_back({"attn_q_norm", "self_attn.q_norm"});
        a.layer.push_back({"attn_k_norm", "self_attn.k_norm"});
    } else {
        fail(path, ": GGUF architecture '", arch, "' is not supported (llama, gemma2, gemma3)");
    }
    return a;
}

// ---- llama 3 RoPE scaling from rope_freqs.weight ------------------------------------------------

// llama.cpp bakes Llama 3.1's RoPE scaling into one divisor per frequency. Recover the four
// HF parameters by recomputing the divisors for candidate parameters (the released models use
// factor 8 or 32, low 1, high 4, original context 8192) and requiring an exact-enough match.
bool llama3_rope_from_factors(const std::vector<float>& ff, double theta, int head_dim, json::Value* scaling) {
    float fmax = 1;
    for (float f : ff) fmax = std::max(fmax, f);
    if (fmax == 1.0f) return false;  // all ones: no scaling
    const double factor = Keys::f32_decimal(fmax);
    for (double old_ctx : {8192.0, 4096.0, 2048.0, 16384.0, 32768.0, 131072.0})
        for (double low : {1.0, 2.0, 0.5})
            for (double high : {4.0, 8.0, 2.0, 1.0}) {
                if (high <= low) continue;
                const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
                bool match = true;
                for (size_t j = 0; j < ff.size() && match; j++) {
                    // The converter's arithmetic: f32 frequencies, Python-double wavelength.
                    const float inv = 1.0f / std::pow((float)theta, (float)(2 * j) / (float)head_dim);
                    const double wavelen = 2 * M_PI / (double)inv;
                    double want;
                    if (wavelen < high_wavelen) want = 1;
                    else if (wavelen > low_wavelen) want = factor;
                    else {
                        const double smooth = (old_ctx / wavelen - low) / (high - low);
                        want = 1 / ((1 - smooth) / factor + smooth);
                    }
                    match = std::fabs(want - (double)ff[j]) <= 1e-4 * want;
                }
                if (!match) continue;
                *scaling = json::Value::new_object();
                scaling->set("factor", jnum(factor));
                scaling->set("high_freq_factor", jnum(high));
                scaling->set("low_freq_factor", jnum(low));
                scaling->set("original_max_position_embeddings", jint((int64_t)old_ctx));
                scaling->set("rope_type", jstr("llama3"));
                return true;
            }
    return false;
}

// ---- tokenizer ----------------------------------------------------------------------------------

// llama.cpp token types (tokenizer.ggml.token_type).
enum TokenType { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

const char kLlama3Split[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";

// How tokenizer.ggml.pre names a byte-level pre-tokenizer, as the HF file would spell it.
// llama.cpp's own lists (llama-vocab.cpp): "llama-bpe" is Llama 3's split regex; the
// starcoder family (smollm included) splits every digit apart and then uses GPT-2's regex,
// which HF writes as Digits(individual_digits) + ByteLevel(use_regex).
json::Value byte_level_pre_tokenizer(const std::string& pre, const std::string& path, bool* ignore_merges) {
    auto byte_level = [](bool use_regex) {
        json::Value b = json::Value::new_object();
        b.set("type", jstr("ByteLevel"));
        b.set("add_prefix_space", jbool(false));
        b.set("trim_offsets", jbool(true));
        b.set("use_regex", jbool(use_regex));
        return b;
    };
    auto sequence = [](json::Value a, json::Value b) {
        json::Value s = json::Value::new_object();
        s.set("type", jstr("Sequence"));
        json::Value list = json::Value::new_array();
        list.push(std::move(a));
        list.push(std::move(b));
        s.set("pretokenizers", std::move(list));
        return s;
    };
    *ignore_merges = false;
    if (pre == "llama-bpe" || pre == "llama3") {
        *ignore_merges = true;  // Llama 3's tokenizer.json: a pre-token found whole in the vocab is one id
        json::Value split = json::Value::new_object();
        split.set("type", jstr("Split"));
        json::Value pat = json::Value::new_object();
        pat.set("Regex", jstr(kLlama3Split));
        split.set("pattern", std::move(pat));
        split.set("behavior", jstr("Isolated"));
        split.set("invert", jbool(false));
        return sequence(std::move(split), byte_level(false));
    }
    if (pre == "smollm" || pre == "starcoder" || pre == "refact" || pre == "codeshell" || pre == "command-r" ||
        pre == "exaone" || pre == "minerva") {
        json::Value digits = json::Value::new_object();
        digits.set("type", jstr("Digits"));
        digits.set("individual_digits", jbool(true));
        return sequence(std::move(digits), byte_level(true));
    }
    if (pre == "gpt-2" || pre == "gpt2" || pre == "mpt" || pre == "olmo" || pre == "jais") return byte_level(true);
    fail(path, ": tokenizer.ggml.pre '", pre,
         "' is not supported (llama-bpe; gpt-2, mpt, olmo, jais; smollm, starcoder, refact, codeshell, command-r, exaone, minerva)");
}

// Byte offsets where a UTF-8 string may be cut into two non-empty pieces.
std::vector<size_t> char_boundaries(const std::string& s) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < s.size(); i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) cuts.push_back(i);
    return cuts;
}

json::Value added_token(int64_t id, const std::string& content, bool special, bool normalized) {
    json::Value t = json::Value::new_object();
    t.set("id", jint(id));
    t.set("content", jstr(content));
    t.set("single_word", jbool(false));
    t.set("lstrip", jbool(false));
    t.set("rstrip", jbool(false));
    t.set("normalized", jbool(normalized));
    t.set("special", jbool(special));
    return t;
}

json::Value template_post_processor(const std::vector<std::pair<std::string, int64_t>>& before,
                                    const std::vector<std::pair<std::string, int64_t>>& after) {
    json::Value tp = json::Value::new_object();
    tp.set("type", jstr("TemplateProcessing"));
    auto special = [](const std::string& tok, int type_id) {
        json::Value o = json::Value::new_object(), inner = json::Value::new_object();
        inner.set("id", jstr(tok));
        inner.set("type_id", jint(type_id));
        o.set("SpecialToken", std::move(inner));
        return o;
    };
    auto seq = [](const char* id, int type_id) {
        json::Value o = json::Value::new_object(), inner = json::Value::new_object();
        inner.set("id", jstr(id));
        inner.set("type_id", jint(type_id));
        o.set("Sequence", std::move(inner));
        return o;
    };
    json::Value single = json::Value::new_array(), pair = json::Value::new_array();
    for (const auto& b : before) single.push(special(b.first, 0));
    single.push(seq("A", 0));
    for (const auto& a : after) single.push(special(a.first, 0));
    for (const auto& b : before) pair.push(special(b.first, 0));
    pair.push(seq("A", 0));
    for (const auto& a : after) pair.push(special(a.first, 0));
    for (const auto& b : before) pair.push(special(b.first, 1));
    pair.push(seq("B", 1));
    for (const auto& a : after) pair.push(special(a.first, 1));
    tp.set("single", std::move(single));
    tp.set("pair", std::move(pair));
    json::Value specials = json::Value::new_object();
    std::set<std::string> seen;
    for (const auto* list : {&before, &after})
        for (const auto& t : *list) {
            if (!seen.insert(t.first).second) continue;
            json::Value e = json::Value::new_object(), ids = json::Value::new_array(), toks = json::Value::new_array();
            ids.push(jint(t.second));
            toks.push(jstr(t.first));
            e.set("id", jstr(t.first));
            e.set("ids", std::move(ids));
            e.set("tokens", std::move(toks));
            specials.set(t.first, std::move(e));
        }
    tp.set("special_tokens", std::move(specials));
    return tp;
}

}  // namespace

int64_t llama_permuted_row(int64_t row, int64_t rows, int64_t n_head) {
    const int64_t hd = rows / n_head, half = hd / 2;
    const int64_t h = row / hd, rem = row % hd;
    const int64_t t = rem / half, i = rem % half;
    return h * hd + 2 * i + t;
}

GgufTokenizerFiles gguf_tokenizer_to_hf(const GgufFile& g) {
    const std::string& path = g.path();
    Keys k{g, path};
    GgufTokenizerFiles out;
    const std::string model = k.string_or("tokenizer.ggml.model", "");
    if (model.empty()) fail(path, ": has no tokenizer (tokenizer.ggml.model is missing)");
    if (model != "gpt2" && model != "llama")
        fail(path, ": tokenizer.ggml.model '", model, "' is not supported (gpt2: byte-level BPE, llama: SentencePiece BPE)");
    const bool spm = model == "llama";

    const auto& tokens = *k.array("tokenizer.ggml.tokens", {GgufType::STRING}, true);
    const size_t n = tokens.size();
    if (n == 0) fail(path, ": tokenizer.ggml.tokens is empty");
    if (n > (size_t)INT32_MAX) fail(path, ": tokenizer.ggml.tokens has too many entries");
    std::vector<int> types(n, kNormal);
    if (const auto* tt = k.array("tokenizer.ggml.token_type", {GgufType::I32, GgufType::U32, GgufType::I8, GgufType::U8}, false)) {
        if (tt->size() != n) fail(path, ": tokenizer.ggml.token_type has ", tt->size(), " entries for ", n, " tokens");
        for (size_t i = 0; i < n; i++) types[i] = (int)(*tt)[i].i;
    }
    std::vector<double> scores(n, 0.0);
    const auto* sc = k.array("tokenizer.ggml.scores", {GgufType::F32}, false);
    if (sc) {
        if (sc->size() != n) fail(path, ": tokenizer.ggml.scores has ", sc->size(), " entries for ", n, " tokens");
        for (size_t i = 0; i < n; i++) scores[i] = (*sc)[i].f;
    } else if (spm) {
        for (size_t i = 0; i < n; i++) scores[i] = -(double)i;  // no scores: earlier pieces rank first
        out.notes.push_back("tokenizer: no scores; SentencePiece merges ranked by token id");
    }
    auto token_id_key = [&](const char* key) -> int64_t {
        const int64_t id = k.integer_or(key, -1);
        if (id < 0 || id == 0xFFFFFFFFll) return (int64_t)-1;  // absent, or -1 written as u32 for "none"
        if (id >= (int64_t)n) fail(path, ": GGUF key '", key, "' = ", id, " is not a token id (", n, " tokens)");
        return id;
    };
    const int64_t bos = token_id_key("tokenizer.ggml.bos_token_id");
    const int64_t eos = token_id_key("tokenizer.ggml.eos_token_id");
    const int64_t unk = token_id_key("tokenizer.ggml.unknown_token_id");
    const int64_t pad = token_id_key("tokenizer.ggml.padding_token_id");
    const bool add_bos = k.boolean_or("tokenizer.ggml.add_bos_token", spm);
    const bool add_eos = k.boolean_or("tokenizer.ggml.add_eos_token", false);
    if (add_bos && bos < 0) fail(path, ": tokenizer.ggml.add_bos_token is set but there is no bos_token_id");
    if (add_eos && eos < 0) fail(path, ": tokenizer.ggml.add_eos_token is set but there is no eos_token_id");

    // Token strings as HF spells them. llama.cpp stores SentencePiece user-defined pieces
    // "pre-normalized", with the meta space "▁" turned back into " " ("▁▁" is written "  ");
    // the vocabulary needs the piece itself.
    std::vector<std::string> text(n);
    for (size_t i = 0; i < n; i++) {
        text[i] = tokens[i].s;
        if (spm && types[i] == kUserDefined)
            for (size_t p = 0; (p = text[i].find(' ', p)) != std::string::npos;) text[i].replace(p, 1, "\xE2\x96\x81");
    }
    auto has_meta_space = [](const std::string& s) { return s.find("\xE2\x96\x81") != std::string::npos; };

    // Vocabulary: token -> id, the first id winning where a string repeats (HF's vocab is a map).
    json::Value vocab = json::Value::new_object();
    vocab.object.reserve(n);
    std::unordered_map<std::string, int64_t> ids;
    ids.reserve(n * 2);
    size_t duplicates = 0;
    for (size_t i = 0; i < n; i++) {
        const std::string& t = text[i];
        if (!ids.emplace(t, (int64_t)i).second) {
            duplicates++;
            continue;
        }
        vocab.object.emplace_back(t, jint((int64_t)i));
    }
    if (duplicates) out.notes.push_back(cat("tokenizer: ", duplicates, " repeated token strings kept at their first id"));

    // Added tokens: control and unknown tokens are special; user-defined ones are matched whole
    // in the raw text (SentencePiece's user_defined_symbols, a BPE's non-special added tokens),
    // except SentencePiece pieces holding "▁": those exist only after normalisation and are
    // reached through merges instead.
    json::Value added = json::Value::new_array();
    size_t n_special = 0, n_user = 0;
    for (size_t i = 0; i < n; i++) {
        const int t = types[i];
        if (t != kControl && t != kUnknown && t != kUserDefined) continue;
        const std::string& s = text[i];
        if (s.empty() || ids.at(s) != (int64_t)i) continue;
        const bool special = t != kUserDefined;
        if (!special && spm && has_meta_space(s)) continue;
        added.push(added_token((int64_t)i, s, special, /*normalized=*/false));
        (special ? n_special : n_user)++;
    }

    json::Value merges = json::Value::new_array();
    json::Value bpe = json::Value::new_object();
    json::Value root = json::Value::new_object();
    root.set("version", jstr("1.0"));
    root.set("truncation", json::Value::null());
    root.set("padding", json::Value::null());
    root.set("added_tokens", std::move(added));
    auto tok = [&](int64_t id) { return text[(size_t)id]; };
    std::vector<std::pair<std::string, int64_t>> before, after;
    if (add_bos) before.push_back({tok(bos), bos});
    if (add_eos) after.push_back({tok(eos), eos});

    if (!spm) {
        // Byte-level BPE: the merges are stored; check each against the vocabulary now, so a
        // broken file fails here and not when the model is first run.
        const auto& ml = *k.array("tokenizer.ggml.merges", {GgufType::STRING}, true);
        merges.array.reserve(ml.size());
        for (size_t i = 0; i < ml.size(); i++) {
            const std::string& m = ml[i].s;
            const size_t sp = m.find(' ');
            if (sp == std::string::npos || sp == 0 || sp + 1 >= m.size() || m.find(' ', sp + 1) != std::string::npos)
                fail(path, ": tokenizer.ggml.merges[", i, "] '", m, "' is not two tokens separated by one space");
            const std::string a = m.substr(0, sp), b = m.substr(sp + 1);
            if (!ids.count(a) || !ids.count(b) || !ids.count(a + b))
                fail(path, ": tokenizer.ggml.merges[", i, "] '", m, "' uses or makes a token that is not in the vocabulary");
            merges.array.push_back(jstr(m));
        }
        bool ignore_merges = false;
        const std::string pre = k.string_or("tokenizer.ggml.pre", "gpt-2");
        root.set("normalizer", json::Value::null());
        root.set("pre_tokenizer", byte_level_pre_tokenizer(pre, path, &ignore_merges));
        json::Value bl = json::Value::new_object();
        bl.set("type", jstr("ByteLevel"));
        bl.set("add_prefix_space", jbool(true));
        bl.set("trim_offsets", jbool(false));
        bl.set("use_regex", jbool(true));
        if (before.empty() && after.empty()) {
            root.set("post_processor", bl);
        } else {
            json::Value seq = json::Value::new_object(), list = json::Value::new_array();
            seq.set("type", jstr("Sequence"));
            list.push(bl);
            list.push(template_post_processor(before, after));
            seq.set("processors", std::move(list));
            root.set("post_processor", std::move(seq));
        }
        json::Value dec = json::Value::new_object();
        dec.set("type", jstr("ByteLevel"));
        dec.set("add_prefix_space", jbool(true));
        dec.set("trim_offsets", jbool(true));
        dec.set("use_regex", jbool(true));
        root.set("decoder", std::move(dec));
        bpe.set("type", jstr("BPE"));
        bpe.set("dropout", json::Value::null());
        bpe.set("unk_token", json::Value::null());
        bpe.set("continuing_subword_prefix", json::Value::null());
        bpe.set("end_of_word_suffix", json::Value::null());
        bpe.set("fuse_unk", jbool(false));
        bpe.set("byte_fallback", jbool(false));
        bpe.set("ignore_merges", jbool(ignore_merges));
        out.notes.push_back(cat("tokenizer: byte-level BPE, ", n, " tokens (", n_special, " special), ", ml.size(),
                                " merges, pre-tokenizer '", pre, "'"));
    } else {
        // SentencePiece BPE: the file has pieces and scores, not merges. SentencePiece merges the
        // adjacent pair whose concatenation is the highest-scoring piece; as HF's converter does,
        // every split of a piece into two pieces becomes a merge, ranked by the merged piece's
        // score (then ids, for a stable order; user-defined pieces first). Normal and user-defined pieces take part (a run
        // of user-defined "▁▁" can then form from spaces); control, byte and unused ones do not.
        struct Merge {
            double score;
            int64_t id, left, right;
            size_t cut;
        };
        std::vector<Merge> list;
        auto mergeable = [&](int64_t id) { return types[(size_t)id] == kNormal || types[(size_t)id] == kUserDefined; };
        for (size_t i = 0; i < n; i++) {
            if (!mergeable((int64_t)i)) continue;
            const std::string& s = text[i];
            if (ids.at(s) != (int64_t)i) continue;
            for (size_t cut : char_boundaries(s)) {
                auto l = ids.find(s.substr(0, cut));
                auto r = ids.find(s.substr(cut));
                if (l == ids.end() || r == ids.end()) continue;
                if (!mergeable(l->second) || !mergeable(r->second)) continue;
                list.push_back({scores[i], (int64_t)i, l->second, r->second, cut});
            }
        }
        // SentencePiece takes user-defined pieces whole before any scored merge: they rank first.
        for (Merge& m : list)
            if (types[(size_t)m.id] == kUserDefined) m.score = INFINITY;
        std::sort(list.begin(), list.end(), [](const Merge& a, const Merge& b) {
            if (a.score != b.score) return a.score > b.score;
            if (a.id != b.id) return a.id < b.id;
            if (a.left != b.left) return a.left < b.left;
            return a.right < b.right;
        });
        merges.array.reserve(list.size());
        for (const Merge& m : list) {
            const std::string& s = text[(size_t)m.id];
            json::Value pair = json::Value::new_array();
            pair.push(jstr(s.substr(0, m.cut)));
            pair.push(jstr(s.substr(m.cut)));
            merges.array.push_back(std::move(pair));
        }
        size_t n_bytes = 0;
        for (int t : types) n_bytes += t == kByte;
        const bool add_space_prefix = k.boolean_or("tokenizer.ggml.add_space_prefix", true);
        // Spaces become "▁"; older Llama/Mistral files also prepend one to the text.
        json::Value replace = json::Value::new_object(), pat = json::Value::new_object();
        replace.set("type", jstr("Replace"));
        pat.set("String", jstr(" "));
        replace.set("pattern", std::move(pat));
        replace.set("content", jstr("\xE2\x96\x81"));
        if (add_space_prefix) {
            json::Value seq = json::Value::new_object(), list2 = json::Value::new_array(), prep = json::Value::new_object();
            prep.set("type", jstr("Prepend"));
            prep.set("prepend", jstr("\xE2\x96\x81"));
            list2.push(std::move(prep));
            list2.push(replace);
            seq.set("type", jstr("Sequence"));
            seq.set("normalizers", std::move(list2));
            root.set("normalizer", std::move(seq));
        } else {
            root.set("normalizer", replace);
        }
        root.set("pre_tokenizer", json::Value::null());
        root.set("post_processor", before.empty() && after.empty() ? json::Value::null() : template_post_processor(before, after));
        json::Value dec = json::Value::new_object(), decs = json::Value::new_array();
        dec.set("type", jstr("Sequence"));
        json::Value rep = json::Value::new_object(), rpat = json::Value::new_object();
        rep.set("type", jstr("Replace"));
        rpat.set("String", jstr("\xE2\x96\x81"));
        rep.set("pattern", std::move(rpat));
        rep.set("content", jstr(" "));
        decs.push(std::move(rep));
        json::Value bf = json::Value::new_object();
        bf.set("type", jstr("ByteFallback"));
        decs.push(std::move(bf));
        json::Value fuse = json::Value::new_object();
        fuse.set("type", jstr("Fuse"));
        decs.push(std::move(fuse));
        if (add_space_prefix) {
            json::Value strip = json::Value::new_object();
            strip.set("type", jstr("Strip"));
            strip.set("content", jstr(" "));
            strip.set("start", jint(1));
            strip.set("stop", jint(0));
            decs.push(std::move(strip));
        }
        dec.set("decoders", std::move(decs));
        root.set("decoder", std::move(dec));
        bpe.set("type", jstr("BPE"));
        bpe.set("dropout", json::Value::null());
        bpe.set("unk_token", unk >= 0 ? jstr(tok(unk)) : json::Value::null());
        bpe.set("continuing_subword_prefix", json::Value::null());
        bpe.set("end_of_word_suffix", json::Value::null());
        bpe.set("fuse_unk", jbool(true));
        bpe.set("byte_fallback", jbool(n_bytes > 0));
        bpe.set("ignore_merges", jbool(false));
        out.notes.push_back(cat("tokenizer: SentencePiece BPE, ", n, " pieces (", n_special, " special, ", n_user,
                                " user-defined, ", n_bytes, " bytes), ", list.size(), " merges from scores"));
    }
    bpe.set("vocab", std::move(vocab));
    bpe.set("merges", std::move(merges));
    root.set("model", std::move(bpe));
    out.tokenizer_json = json::dump(root);

    json::Value cfg = json::Value::new_object();
    cfg.set("add_bos_token", jbool(add_bos));
    cfg.set("add_eos_token", jbool(add_eos));
    if (bos >= 0) cfg.set("bos_token", jstr(tok(bos)));
    if (eos >= 0) cfg.set("eos_token", jstr(tok(eos)));
    if (unk >= 0) cfg.set("unk_token", jstr(tok(unk)));
    if (pad >= 0) cfg.set("pad_token", jstr(tok(pad)));
    cfg.set("clean_up_tokenization_spaces", jbool(false));
    const std::string arch = k.string_or("general.architecture", "");
    if (const int64_t ctx = k.integer_or(arch + ".context_length", 0); ctx > 0) cfg.set("model_max_length", jint(ctx));
    const std::string chat = k.string_or("tokenizer.chat_template", "");
    if (!chat.empty()) cfg.set("chat_template", jstr(chat));
    cfg.set("tokenizer_class", jstr(spm ? "LlamaTokenizerFast" : "PreTrainedTokenizerFast"));
    out.tokenizer_config = json::dump(cfg, 2);
    return out;
}

GgufImport import_gguf(const std::string& path, const std::string& dtype_choice) {
    GgufImport imp;
    imp.file = std::make_shared<GgufFile>(path);
    const GgufFile& g = *imp.file;
    Keys k{g, path};
    const std::string arch_name = k.string_or("general.architecture", "");
    if (arch_name.empty()) fail(path, ": GGUF key 'general.architecture' is missing");
    const std::string file_kind = k.string_or("general.type", "model");
    if (file_kind != "model") fail(path, ": GGUF general.type is '", file_kind, "'; only model files convert (not adapters)");
    const ArchSpec arch = arch_spec(arch_name, path);
    const std::string a = arch_name + ".";

    // Hyperparameters.
    const int n_layers = k.positive(a + "block_count");
    const int hidden = k.positive(a + "embedding_length");
    const int ffn = k.positive(a + "feed_forward_length");
    const int n_heads = k.positive(a + "attention.head_count");
    const int n_kv = k.has(a + "attention.head_count_kv") ? k.positive(a + "attention.head_count_kv") : n_heads;
    if (n_heads % n_kv) fail(path, ": ", a, "attention.head_count ", n_heads, " is not a multiple of head_count_kv ", n_kv);
    int head_dim = k.has(a + "attention.key_length") ? k.positive(a + "attention.key_length") : hidden / n_heads;
    if (k.has(a + "attention.value_length") && k.positive(a + "attention.value_length") != head_dim)
        fail(path, ": attention.key_length and value_length differ; not supported");
    if (k.has(a + "rope.dimension_count") && k.positive(a + "rope.dimension_count") != head_dim)
        fail(path, ": ", a, "rope.dimension_count ", k.integer(a + "rope.dimension_count"), " is not the head size ", head_dim,
             " (partial RoPE is not supported)");
    if (head_dim % 2) fail(path, ": head size ", head_dim, " is odd");
    const double eps = k.number_or(a + "attention.layer_norm_rms_epsilon", arch.norm_plus_one ? 1e-6 : 1e-5);
    const double theta = k.number_or(a + "rope.freq_base", 10000.0);
    const int64_t ctx = k.integer_or(a + "context_length", 0);

    // Tensors: map every GGUF name to its HF name (or a role), checking each is expected once.
    struct Planned {
        const GgufTensorInfo* t;
        std::string hf;
        int permute_heads = 0;  // > 0: undo llama.cpp's q/k permutation over this many heads
        bool minus_one = false;
    };
    std::vector<Planned> plan;
    const GgufTensorInfo* rope_freqs = nullptr;
    bool has_output = false;
    std::map<std::string, std::string> layer_map(arch.layer.begin(), arch.layer.end());
    std::set<std::string> seen_hf;
    for (const GgufTensorInfo& t : g.tensors()) {
        const std::string& nm = t.name;
        Planned p{&t, "", 0, false};
        std::string base = nm;
        if (base.size() > 7 && base.compare(base.size() - 7, 7, ".weight") == 0) base.resize(base.size() - 7);
        else fail(path, ": tensor '", nm, "' has no place in a ", arch_name, " model (only .weight tensors are expected)");
        if (base == "token_embd") p.hf = "model.embed_tokens";
        else if (base == "output_norm") p.hf = "model.norm";
        else if (base == "output") { p.hf = "lm_head"; has_output = true; }
        else if (base == "rope_freqs" && arch.gguf_arch == "llama") { rope_freqs = &t; continue; }
        else if (base.compare(0, 4, "blk.") == 0) {
            const size_t dot = base.find('.', 4);
            const std::string num = base.substr(4, dot == std::string::npos ? std::string::npos : dot - 4);
            char* end = nullptr;
            const long layer = std::strtol(num.c_str(), &end, 10);
            auto it = dot == std::string::npos ? layer_map.end() : layer_map.find(base.substr(dot + 1));
            if (num.empty() || *end || layer < 0 || layer >= n_layers || it == layer_map.end())
                fail(path, ": tensor '", nm, "' has no place in a ", n_layers, "-layer ", arch_name, " model");
            p.hf = cat("model.layers.", layer, ".", it->second);
            if (arch.permute_qk && it->first == "attn_q") p.permute_heads = n_heads;
            if (arch.permute_qk && it->first == "attn_k") p.permute_heads = n_kv;
        } else {
            fail(path, ": tensor '", nm, "' has no place in a ", arch_name, " model");
        }
        p.hf += ".weight";
        p.minus_one = arch.norm_plus_one && base.size() >= 4 && base.compare(base.size() - 4, 4, "norm") == 0;
        seen_hf.insert(p.hf);
        plan.push_back(p);
    }
    // Every tensor the model needs must be there.
    std::vector<std::string> expected = {"model.embed_tokens.weight", "model.norm.weight"};
    for (int l = 0; l < n_layers; l++)
        for (const auto& m : arch.layer) expected.push_back(cat("model.layers.", l, ".", m.second, ".weight"));
    for (const auto& e : expected)
        if (!seen_hf.count(e)) fail(path, ": has no tensor for ", e, " (a ", n_layers, "-layer ", arch_name, " model needs it)");

    // Shapes, types and the dtype each tensor is stored in.
    const GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
    if (embd->ne.size() != 2) fail(path, ": token_embd.weight must be 2-D");
    const int64_t vocab = (int64_t)embd->ne[1];
    std::map<std::string, size_t> type_counts;
    json::Value source_types = json::Value::new_object();  // engine name -> GGUF type, for llama.cpp parity runs
    size_t n_dequant = 0, n_permuted = 0, n_shifted = 0;
    DType bulk_dtype = DType::BF16;
    for (const Planned& p : plan) {
        const GgufTensorInfo& t = *p.t;
        GgmlTypeInfo info;
        if (!ggml_type_info(t.type, &info) || !info.dequantizable || !t.data)
            fail(path, ": tensor '", t.name, "' is stored as ", ggml_type_name(t.type),
                 ", which this converter cannot read (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)");
        if (t.ne.size() > 2) fail(path, ": tensor '", t.name, "' has ", t.ne.size(), " dimensions (1 or 2 expected)");
        ImportedTensor it;
        it.name = p.hf;
        it.source_name = t.name;
        it.source_type = t.type;
        it.source_bytes = t.nbytes;
        for (size_t d = t.ne.size(); d-- > 0;) it.shape.push_back((int64_t)t.ne[d]);
        it.row_elems = (int64_t)t.ne[0];
        const int64_t rows = t.ne.size() == 2 ? (int64_t)t.ne[1] : 1;
        DType src_float;
        const bool is_float = ggml_float_type(t.type, &src_float);
        if (dtype_choice == "keep") it.dtype = is_float ? src_float : DType::BF16;
        else if (!dtype_from_name(dtype_choice, &it.dtype)) fail("--dtype: '", dtype_choice, "' is not one of keep, f32, bf16, f16");
        if (!is_float) n_dequant++;
        if (t.ne.size() == 2 && rows > 1) bulk_dtype = it.dtype;
        type_counts[info.name]++;
        source_types.set(p.hf, jstr(info.name));
        if (p.permute_heads) {
            if (rows % p.permute_heads || (rows / p.permute_heads) % 2)
                fail(path, ": tensor '", t.name, "' has ", rows, " rows, which do not split into ", p.permute_heads,
                     " heads of even size");
            n_permuted++;
        }
        if (p.minus_one) n_shifted++;
        uint64_t row_bytes = 0;
        ggml_row_bytes(t.type, t.ne[0], &row_bytes);  // validated by the reader
        const uint8_t* data = t.data;
        const uint32_t type = t.type;
        const int64_t cols = it.row_elems, heads = p.permute_heads;
        const bool minus_one = p.minus_one;
        auto owner = imp.file;
        it.rows = [owner, data, type, row_bytes, cols, rows, heads, minus_one](int64_t r0, int64_t r1, float* out) {
            for (int64_t r = r0; r < r1; r++) {
                const int64_t src = heads ? llama_permuted_row(r, rows, heads) : r;
                float* o = out + (r - r0) * cols;
                dequantize_ggml(type, data + (uint64_t)src * row_bytes, o, (size_t)cols);
                if (minus_one)  // Gemma: llama.cpp stored 1 + w; HF keeps w
                    for (int64_t j = 0; j < cols; j++) o[j] -= 1.0f;
            }
        };
        imp.tensors.push_back(std::move(it));
    }

    // The HF config.
    json::Value cfg = json::Value::new_object();
    json::Value archs = json::Value::new_array();
    archs.push(jstr(arch.hf_class));
    cfg.set("architectures", std::move(archs));
    cfg.set("model_type", jstr(arch.model_type));
    cfg.set("vocab_size", jint(vocab));
    cfg.set("hidden_size", jint(hidden));
    cfg.set("intermediate_size", jint(ffn));
    cfg.set("num_hidden_layers", jint(n_layers));
    cfg.set("num_attention_heads", jint(n_heads));
    cfg.set("num_key_value_heads", jint(n_kv));
    cfg.set("head_dim", jint(head_dim));
    if (ctx > 0) cfg.set("max_position_embeddings", jint(ctx));
    cfg.set("rms_norm_eps", jnum(eps));
    cfg.set("rope_theta", jnum(theta));
    cfg.set("tie_word_embeddings", jbool(!has_output));
    if (!has_output) imp.notes.push_back("no output.weight: lm_head is tied to the embeddings");

    json::Value rope_scaling = json::Value::null();
    if (rope_freqs) {
        if (rope_freqs->type != kGgmlTypeF32 || rope_freqs->ne.size() != 1 || (int64_t)rope_freqs->ne[0] != head_dim / 2)
            fail(path, ": rope_freqs.weight must be f32 of ", head_dim / 2, " values");
        std::vector<float> ff((size_t)head_dim / 2);
        std::memcpy(ff.data(), rope_freqs->data, ff.size() * 4);
        if (llama3_rope_from_factors(ff, theta, head_dim, &rope_scaling))
            imp.notes.push_back(cat("rope_freqs.weight -> llama3 rope scaling ", json::dump(rope_scaling)));
        else if (std::any_of(ff.begin(), ff.end(), [](float f) { return f != 1.0f; }))
            fail(path, ": rope_freqs.weight does not match Llama 3 RoPE scaling for any known parameters");
    }
    const std::string scaling_type = k.string_or(a + "rope.scaling.type", "");
    const double linear_scale = k.number_or(a + "rope.scale_linear", 0.0);
    if (!scaling_type.empty() && scaling_type != "none") {
        if (!rope_scaling.is_null()) fail(path, ": both rope_freqs.weight and ", a, "rope.scaling.type are set");
        rope_scaling = json::Value::new_object();
        rope_scaling.set("factor", jnum(k.number(a + "rope.scaling.factor")));
        rope_scaling.set("rope_type", jstr(scaling_type));
        if (k.has(a + "rope.scaling.original_context_length"))
            rope_scaling.set("original_max_position_embeddings", jint(k.integer(a + "rope.scaling.original_context_length")));
    } else if (linear_scale > 0 && linear_scale != 1.0) {
        rope_scaling = json::Value::new_object();
        rope_scaling.set("factor", jnum(linear_scale));
        rope_scaling.set("rope_type", jstr("linear"));
    }
    cfg.set("rope_scaling", std::move(rope_scaling));

    if (arch.gguf_arch == "llama") {
        cfg.set("hidden_act", jstr("silu"));
    } else {
        cfg.set("hidden_activation", jstr("gelu_pytorch_tanh"));
        const int64_t window = k.integer_or(a + "attention.sliding_window", 0);
        if (window > 0) cfg.set("sliding_window", jint(window));
        // The query scale 1/sqrt(query_pre_attn_scalar): llama.cpp's converter does not store it
        // (unless as attention.scale) and uses 1/sqrt(hidden / heads) for the 27B models (Gemma 2:
        // 46 layers, Gemma 3: 62) and 1/sqrt(head_dim) otherwise, as the released configs say.
        double query_scalar = (arch.gguf_arch == "gemma2" ? n_layers == 46 : n_layers == 62) ? hidden / n_heads : head_dim;
        if (k.has(a + "attention.scale")) {
            const double sc = k.number(a + "attention.scale");
            if (!(sc > 0)) fail(path, ": ", a, "attention.scale must be positive");
            query_scalar = 1.0 / (sc * sc);
            // The scalar is an integer in every released config; the f32 scale only approximates it.
            if (std::fabs(query_scalar - std::round(query_scalar)) < 1e-4 * query_scalar) query_scalar = std::round(query_scalar);
        }
        const json::Value qs = query_scalar == std::floor(query_scalar) ? jint((int64_t)query_scalar) : jnum(query_scalar);
        if (arch.gguf_arch == "gemma2") {
            cfg.set("query_pre_attn_scalar", qs);
            cfg.set("attn_logit_softcapping", jnum(k.number_or(a + "attn_logit_softcapping", 50.0)));
            cfg.set("final_logit_softcapping", jnum(k.number_or(a + "final_logit_softcapping", 30.0)));
        } else {
            // Gemma 3: five local (sliding, RoPE base 10000) layers, then one global layer.
            const int64_t pattern = k.integer_or(a + "attention.sliding_window_pattern", 6);
            if (pattern <= 0) fail(path, ": ", a, "attention.sliding_window_pattern must be positive");
            cfg.set("query_pre_attn_scalar", qs);
            cfg.set("rope_local_base_freq", jnum(10000.0));
            cfg.set("sliding_window_pattern", jint(pattern));
            json::Value lt = json::Value::new_array();
            for (int l = 0; l < n_layers; l++) lt.push(jstr((l + 1) % pattern ? "sliding_attention" : "full_attention"));
            cfg.set("layer_types", std::move(lt));
            cfg.set("attn_logit_softcapping", json::Value::null());
            cfg.set("final_logit_softcapping",
                    k.has(a + "final_logit_softcapping") ? jnum(k.number(a + "final_logit_softcapping")) : json::Value::null());
        }
    }
    const int64_t bos = k.integer_or("tokenizer.ggml.bos_token_id", -1), eos = k.integer_or("tokenizer.ggml.eos_token_id", -1);
    if (bos >= 0 && bos < vocab) cfg.set("bos_token_id", jint(bos));
    if (eos >= 0 && eos < vocab) cfg.set("eos_token_id", jint(eos));
    cfg.set("torch_dtype", jstr(bulk_dtype == DType::F32 ? "float32" : bulk_dtype == DType::F16 ? "float16" : "bfloat16"));
    imp.metadata.emplace_back("hf.config", MetaValue::of_json(json::dump(cfg, 2)));

    // Generation stops at eos and, for chat models, the end-of-turn tokens.
    json::Value gen = json::Value::new_object();
    if (bos >= 0 && bos < vocab) gen.set("bos_token_id", jint(bos));
    std::vector<int64_t> stops;
    for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
        const int64_t id = k.integer_or(key, -1);
        if (id >= 0 && id < vocab && std::find(stops.begin(), stops.end(), id) == stops.end()) stops.push_back(id);
    }
    if (stops.size() == 1) gen.set("eos_token_id", jint(stops[0]));
    if (stops.size() > 1) {
        json::Value list = json::Value::new_array();
        for (int64_t id : stops) list.push(jint(id));
        gen.set("eos_token_id", std::move(list));
    }
    if (const int64_t p = k.integer_or("tokenizer.ggml.padding_token_id", -1); p >= 0 && p < vocab) gen.set("pad_token_id", jint(p));
    imp.metadata.emplace_back("hf.generation_config", MetaValue::of_json(json::dump(gen, 2)));

    // The tokenizer, checked by loading it the way the engine will.
    GgufTokenizerFiles tok = gguf_tokenizer_to_hf(g);
    Tokenizer::from_json(tok.tokenizer_json, tok.tokenizer_config, path + " (tokenizer rebuilt from tokenizer.ggml.*)");
    imp.metadata.emplace_back("tokenizer.json", MetaValue::of_json(tok.tokenizer_json));
    imp.metadata.emplace_back("tokenizer.config", MetaValue::of_json(tok.tokenizer_config));
    imp.notes.insert(imp.notes.end(), tok.notes.begin(), tok.notes.end());

    // What happened, for the summary and for `t2l inspect`.
    std::string types;
    for (const auto& tc : type_counts) types += cat(types.empty() ? "" : ", ", tc.first, " x", tc.second);
    imp.notes.insert(imp.notes.begin(), cat("GGUF ", arch_name, ", ", n_layers, " layers, tensors ", types));
    if (n_dequant) imp.notes.push_back(cat("dequantised ", n_dequant, " tensors to ", dtype_name(bulk_dtype)));
    if (n_permuted) imp.notes.push_back(cat("undid llama.cpp's q/k row permutation in ", n_permuted, " tensors"));
    if (n_shifted) imp.notes.push_back(cat("subtracted the 1 llama.cpp adds to ", n_shifted, " Gemma norm weights"));
    imp.metadata.emplace_back("gguf.architecture", MetaValue::of_string(arch_name));
    imp.metadata.emplace_back("gguf.tensor_types", MetaValue::of_json(json::dump(source_types)));
    std::string joined;
    for (const auto& nt : imp.notes) joined += (joined.empty() ? "" : "; ") + nt;
    imp.metadata.emplace_back("gguf.conversion", MetaValue::of_string(joined));
    return imp;
}

}  // namespace t2l

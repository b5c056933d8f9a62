// tokenizer.cpp — the tokenizer.json pipeline: added tokens, normalizer, pre-tokenizer, model,
// truncation, post-processor; decoding; streaming decode (see tokenizer.h).
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "common.h"
#include "format/t2l_file.h"
#include "io/json.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoders.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/unicode.h"
#include "tokenizer/wordpiece.h"

namespace t2l {

using namespace tok;

namespace {

// An entry of tokenizer.json's "added_tokens": matched in the text before the model runs.
struct AddedToken {
    std::string content;
    int32_t id = -1;
    bool special = false;
    bool normalized = false;   // matched in normalized text (against match_text), not in raw text
    bool lstrip = false, rstrip = false;  // the match swallows whitespace on that side
    bool single_word = false;  // only matches when not inside a word
    std::string match_text;    // content, normalized when `normalized`
};

// Finds added tokens in text: the leftmost match, the longest one at that position (what
// `tokenizers`' Aho-Corasick automaton in LeftmostLongest mode reports).
class TokenMatcher {
public:
    void add(const AddedToken* t) {
        if (t->match_text.empty()) return;
        by_first_byte_[(unsigned char)t->match_text[0]].push_back(t);
        any_ = true;
    }
    // Longest first within each bucket, so the first hit at a position is the longest.
    void finish() {
        for (auto& list : by_first_byte_)
            std::stable_sort(list.begin(), list.end(), [](const AddedToken* a, const AddedToken* b) {
                return a->match_text.size() > b->match_text.size();
            });
    }
    bool empty() const { return !any_; }
    // First match at or after `from`: returns the token and sets *start.
    const AddedToken* find(std::string_view s, size_t from, size_t* start) const {
        for (size_t i = from; i < s.size(); i++) {
            for (const AddedToken* t : by_first_byte_[(unsigned char)s[i]]) {
                const std::string& m = t->match_text;
                if (s.size() - i >= m.size() && std::memcmp(s.data() + i, m.data(), m.size()) == 0) {
                    *start = i;
                    return t;
                }
            }
        }
        return nullptr;
    }

private:
    std::vector<const AddedToken*> by_first_byte_[256];
    bool any_ = false;
};

// The post-processor reduced to what a single sequence needs: an ordered list of items, each
// the encoded text ($A) or fixed special ids. A Sequence of processors is a list of these.
struct Template {
    struct Item {
        bool is_text = false;
        std::vector<int32_t> ids;
    };
    std::vector<Item> items;
    size_t added_count() const {
        size_t n = 0;
        for (const Item& i : items) n += i.ids.size();
        return n;
    }
};

// The last character of non-empty valid UTF-8 text.
char32_t last_char(std::string_view s) {
    size_t i = s.size() - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    size_t len = 0;
    return unicode::decode_utf8(s, i, &len);
}

bool get_bool(const json::Value& v, const char* key, bool def) {
    const json::Value* f = v.find(key);
    return f && f->is_bool() ? f->boolean : def;
}

// tokenizer_config.json writes special tokens as "<s>" or as {"content": "<s>", ...}.
std::string token_name(const json::Value* v) {
    if (!v || v->is_null()) return "";
    if (v->is_string()) return v->string;
    if (v->is_object())
        if (const json::Value* c = v->find("content"); c && c->is_string()) return c->string;
    return "";
}

}  // namespace

struct Tokenizer::Pipeline {
    std::string source;
    std::optional<Normalizer> normalizer;
    std::optional<PreTokenizer> pre_tokenizer;
    enum class ModelKind { Bpe, WordPiece } model_kind = ModelKind::Bpe;
    BpeModel bpe;
    WordPieceModel wordpiece;
    std::vector<Template> post;  // applied in order when add_special_tokens
    std::optional<Decoder> decoder;
    size_t truncation_max = 0;   // tokenizer.json "truncation" (0 = none)
    bool truncate_left = false;

    std::vector<AddedToken> added;      // in file order
    TokenMatcher raw_matcher, normalized_matcher;
    std::vector<int32_t> added_index_by_id;  // id -> index into `added`, or -1
    std::unordered_map<std::string, int32_t> added_by_content;  // content -> id
    std::unordered_set<std::string> special_contents;           // contents of special added tokens

    std::string bos_token, eos_token;
    size_t model_max_length = 0;

    const std::vector<std::string>& model_tokens() const {
        return model_kind == ModelKind::Bpe ? bpe.id_to_token : wordpiece.id_to_token;
    }
    int32_t model_token_id(const std::string& s) const {
        const auto& vocab = model_kind == ModelKind::Bpe ? bpe.vocab : wordpiece.vocab;
        auto it = vocab.find(s);
        return it == vocab.end() ? -1 : it->second;
    }
    const AddedToken* added_by_id(int32_t id) const {
        if (id < 0 || (size_t)id >= added_index_by_id.size() || added_index_by_id[(size_t)id] < 0) return nullptr;
        return &added[(size_t)added_index_by_id[(size_t)id]];
    }
    int32_t token_id(const std::string& s) const {
        auto it = added_by_content.find(s);
        return it != added_by_content.end() ? it->second : model_token_id(s);
    }

    // Cut added tokens out of each piece that is not one yet.
    void split_added(std::vector<PreToken>& pieces, const TokenMatcher& matcher) const {
        if (matcher.empty()) return;
        std::vector<PreToken> out;
        for (PreToken& p : pieces) {
            if (p.added_id >= 0) {
                out.push_back(std::move(p));
                continue;
            }
            const std::string& s = p.text;
            size_t done = 0;  // end of the last emitted piece
            size_t scan = 0;  // where the matcher continues
            auto emit_text = [&](size_t b, size_t e) {
                if (b >= e) return;
                PreToken t;
                t.text = s.substr(b, e - b);
                t.at_input_start = p.at_input_start && b == 0;
                out.push_back(std::move(t));
            };
            size_t start = 0;
            while (const AddedToken* t = matcher.find(s, scan, &start)) {
                size_t stop = start + t->match_text.size();
                scan = stop;  // a rejected match is still consumed, as in the reference
                if (t->single_word) {
                    // Not glued to a word character on either side.
                    bool left_ok = start == 0 || !unicode::is_word(last_char(std::string_view(s).substr(0, start)));
                    size_t len = 0;
                    bool right_ok = stop == s.size() || !unicode::is_word(unicode::decode_utf8(s, stop, &len));
                    if (!left_ok || !right_ok) continue;
                }
                if (t->lstrip) {
                    // Back over the whitespace before the match, but not into the previous one.
                    size_t b = start;
                    while (b > 0) {
                        size_t k = b - 1;
                        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
                        size_t len = 0;
                        if (!unicode::is_whitespace(unicode::decode_utf8(s, k, &len))) break;
                        b = k;
                    }
                    start = std::max(b, done);
                }
                if (t->rstrip) {
                    size_t len = 0;
                    while (stop < s.size() && unicode::is_whitespace(unicode::decode_utf8(s, stop, &len))) stop += len;
                }
                emit_text(done, start);
                PreToken tok_piece;
                tok_piece.text = s.substr(start, stop - start);
                tok_piece.added_id = t->id;
                out.push_back(std::move(tok_piece));
                done = stop;
            }
            emit_text(done, s.size());
        }
        pieces.swap(out);
    }

    std::vector<int32_t> encode(std::string_view text, const EncodeOptions& opt) const {
        unicode::check_utf8(text, "tokenizer input");
        std::vector<PreToken> pieces(1);
        pieces[0].text.assign(text);
        pieces[0].at_input_start = true;
        if (pieces[0].text.empty()) pieces.clear();

        split_added(pieces, raw_matcher);
        if (normalizer) {
            for (PreToken& p : pieces)
                if (p.added_id < 0) normalize(*normalizer, p.text);
            pieces.erase(std::remove_if(pieces.begin(), pieces.end(),
                                        [](const PreToken& p) { return p.added_id < 0 && p.text.empty(); }),
                         pieces.end());
        }
        split_added(pieces, normalized_matcher);
        if (pre_tokenizer) pre_tokenize(*pre_tokenizer, pieces);

        std::vector<int32_t> ids;
        for (const PreToken& p : pieces) {
            if (p.added_id >= 0) ids.push_back(p.added_id);
            else if (p.text.empty()) continue;
            else if (model_kind == ModelKind::Bpe) bpe.encode(p.text, ids);
            else wordpiece.encode(p.text, ids);
        }

        // Truncation counts the special tokens the post-processor will add.
        size_t max_len = opt.max_length ? opt.max_length : truncation_max;
        bool left = opt.max_length ? false : truncate_left;
        if (max_len) {
            size_t reserved = 0;
            if (opt.add_special_tokens)
                for (const Template& t : post) reserved += t.added_count();
            if (max_len < reserved)
                fail(source, ": max length ", max_len, " is smaller than the ", reserved, " special tokens it must hold");
            size_t keep = max_len - reserved;
            if (ids.size() > keep) {
                if (left) ids.erase(ids.begin(), ids.end() - (ptrdiff_t)keep);
                else ids.resize(keep);
            }
        }
        if (opt.add_special_tokens) {
            for (const Template& t : post) {
                std::vector<int32_t> out;
                for (const Template::Item& item : t.items) {
                    if (item.is_text) out.insert(out.end(), ids.begin(), ids.end());
                    else out.insert(out.end(), item.ids.begin(), item.ids.end());
                }
                ids.swap(out);
            }
        }
        return ids;
    }

    // The token string decoding uses for an id (an added token's normalized form when it has one).
    const std::string* token_for_decode(int32_t id) const {
        if (const AddedToken* t = added_by_id(id)) return &t->match_text;
        const auto& tokens = model_tokens();
        if (id >= 0 && (size_t)id < tokens.size() && !tokens[(size_t)id].empty()) return &tokens[(size_t)id];
        return nullptr;
    }

    std::string decode(const std::vector<int32_t>& ids, bool skip_special) const {
        std::vector<std::string> tokens;
        tokens.reserve(ids.size());
        for (int32_t id : ids) {
            const std::string* s = token_for_decode(id);
            if (!s) continue;
            if (skip_special && is_special_string(*s)) continue;
            tokens.push_back(*s);
        }
        if (!decoder) {
            std::string out;
            for (size_t i = 0; i < tokens.size(); i++) out += (i ? " " : "") + tokens[i];
            return out;
        }
        std::string out;
        for (const std::string& t : decode_chain(*decoder, std::move(tokens))) out += t;
        return out;
    }

    // `tokenizers` skips by content: any token whose string is a special added token's.
    bool is_special_string(const std::string& s) const { return special_contents.count(s) > 0; }
};

namespace {

using Pipeline = Tokenizer::Pipeline;

Template parse_template(const json::Value& v, const std::string& where) {
    Template t;
    const json::Value* single = v.find("single");
    const json::Value* specials = v.find("special_tokens");
    if (!single || !single->is_array()) fail(where, ": 'single' must be an array");
    for (const json::Value& piece : single->array) {
        if (const json::Value* seq = piece.find("Sequence")) {
            const json::Value* id = seq->find("id");
            if (!id || !id->is_string() || id->string != "A")
                fail(where, ": a single-sequence template can only use sequence A");
            t.items.push_back({true, {}});
        } else if (const json::Value* sp = piece.find("SpecialToken")) {
            const json::Value* name = sp->find("id");
            if (!name || !name->is_string()) fail(where, ": SpecialToken needs a string 'id'");
            const json::Value* entry = specials ? specials->find(name->string) : nullptr;
            const json::Value* ids = entry ? entry->find("ids") : nullptr;
            if (!ids || !ids->is_array()) fail(where, ": special token '", name->string, "' is not in 'special_tokens'");
            Template::Item item;
            for (const json::Value& i : ids->array) {
                if (!i.is_number() || !i.is_integer) fail(where, ": ids of '", name->string, "' must be integers");
                item.ids.push_back((int32_t)i.integer);
            }
            t.items.push_back(std::move(item));
        } else {
            fail(where, ": template pieces are {\"Sequence\": ...} or {\"SpecialToken\": ...}");
        }
    }
    return t;
}

// BertProcessing/RobertaProcessing: cls $A sep, from ["[CLS]", 101]-style pairs.
Template parse_cls_sep(const json::Value& v, const std::string& where) {
    auto id_of = [&](const char* key) {
        const json::Value* p = v.find(key);
        if (!p || !p->is_array() || p->array.size() != 2 || !p->array[1].is_number())
            fail(where, ": '", key, "' must be [token, id]");
        return (int32_t)p->array[1].as_int();
    };
    Template t;
    t.items.push_back({false, {id_of("cls")}});
    t.items.push_back({true, {}});
    t.items.push_back({false, {id_of("sep")}});
    return t;
}

void parse_post_processor(const json::Value& v, const std::string& where, std::vector<Template>& out) {
    if (v.is_null()) return;
    const json::Value* type = v.find("type");
    if (!type || !type->is_string()) fail(where, ": 'type' must be a string");
    const std::string here = where + " (" + type->string + ")";
    if (type->string == "TemplateProcessing") out.push_back(parse_template(v, here));
    else if (type->string == "BertProcessing" || type->string == "RobertaProcessing") out.push_back(parse_cls_sep(v, here));
    else if (type->string == "ByteLevel") return;  // only adjusts offsets
    else if (type->string == "Sequence") {
        const json::Value* list = v.find("processors");
        if (!list || !list->is_array()) fail(here, ": 'processors' must be an array");
        for (size_t i = 0; i < list->array.size(); i++) parse_post_processor(list->array[i], cat(where, "[", i, "]"), out);
    } else {
        fail(where, ": post-processor type '", type->string, "' is not supported");
    }
}

void parse_added_tokens(const json::Value* list, Pipeline& p, const std::string& where) {
    if (!list || list->is_null()) return;
    if (!list->is_array()) fail(where, ": 'added_tokens' must be an array");
    // A content the model already knows keeps the model's id; a new one gets the next id after
    // the vocabulary. The "id" field is only checked by the reference, which warns on a mismatch.
    const size_t model_size = p.model_kind == Pipeline::ModelKind::Bpe ? p.bpe.vocab.size() : p.wordpiece.vocab.size();
    int64_t next_id = (int64_t)model_size;
    for (size_t i = 0; i < list->array.size(); i++) {
        const json::Value& e = list->array[i];
        const std::string here = cat(where, " added_tokens[", i, "]");
        const json::Value* content = e.find("content");
        const json::Value* id = e.find("id");
        if (!content || !content->is_string() || !id || !id->is_number() || !id->is_integer || id->integer < 0)
            fail(here, ": needs a string 'content' and a non-negative integer 'id'");
        if (content->string.empty()) continue;  // `tokenizers` ignores empty added tokens
        AddedToken t;
        t.content = content->string;
        t.special = get_bool(e, "special", false);
        t.normalized = get_bool(e, "normalized", !t.special);
        t.lstrip = get_bool(e, "lstrip", false);
        t.rstrip = get_bool(e, "rstrip", false);
        t.single_word = get_bool(e, "single_word", false);
        int32_t known = p.token_id(t.content);
        t.id = known >= 0 ? known : (int32_t)next_id++;
        if (next_id > INT32_MAX) fail(here, ": too many added tokens");
        t.match_text = t.content;
        if (t.normalized && p.normalizer) normalize(*p.normalizer, t.match_text);
        auto same = std::find_if(p.added.begin(), p.added.end(), [&](const AddedToken& a) { return a.content == t.content; });
        if (same != p.added.end()) *same = t;
        else p.added.push_back(t);
        p.added_by_content[t.content] = t.id;
    }
}

}  // namespace

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view config_json, const std::string& source) {
    auto p = std::make_shared<Pipeline>();
    p->source = source;
    // Every token string is used as UTF-8 from here on (serde_json refuses invalid UTF-8 too).
    unicode::check_utf8(tokenizer_json, source);
    json::Value root = json::parse(std::string(tokenizer_json), source);
    if (!root.is_object()) fail(source, ": expected a JSON object");
    if (const json::Value* v = root.find("version"); v && v->is_string() && v->string != "1.0")
        fail(source, ": tokenizer.json version '", v->string, "' is not supported (expected 1.0)");

    const json::Value* model = root.find("model");
    if (!model || !model->is_object()) fail(source, ": 'model' must be an object");
    const json::Value* mtype = model->find("type");
    std::string model_type = mtype && mtype->is_string() ? mtype->string : "";
    if (model_type.empty()) {
        // Files written by old versions omit the type: BPE has merges, WordPiece does not.
        model_type = model->find("merges") ? "BPE" : model->find("continuing_subword_prefix") ? "WordPiece" : "";
    }
    if (model_type == "BPE") {
        p->model_kind = Pipeline::ModelKind::Bpe;
        p->bpe = parse_bpe(*model, source + " model (BPE)");
    } else if (model_type == "WordPiece") {
        p->model_kind = Pipeline::ModelKind::WordPiece;
        p->wordpiece = parse_wordpiece(*model, source + " model (WordPiece)");
    } else {
        fail(source, ": model type '", model_type, "' is not supported (BPE and WordPiece are)");
    }

    if (const json::Value* n = root.find("normalizer"); n && !n->is_null())
        p->normalizer = parse_normalizer(*n, source + " normalizer");
    if (const json::Value* n = root.find("pre_tokenizer"); n && !n->is_null())
        p->pre_tokenizer = parse_pre_tokenizer(*n, source + " pre_tokenizer");
    if (const json::Value* n = root.find("post_processor"); n && !n->is_null())
        parse_post_processor(*n, source + " post_processor", p->post);
    if (const json::Value* n = root.find("decoder"); n && !n->is_null())
        p->decoder = parse_decoder(*n, source + " decoder");
    if (const json::Value* t = root.find("truncation"); t && t->is_object()) {
        const json::Value* m = t->find("max_length");
        if (!m || !m->is_number() || !m->is_integer || m->integer <= 0)
            fail(source, ": truncation 'max_length' must be a positive integer");
        p->truncation_max = (size_t)m->integer;
        const json::Value* dir = t->find("direction");
        p->truncate_left = dir && dir->is_string() && dir->string == "Left";
    }
    // "padding" concerns batches only: one sequence is never padded here.

    parse_added_tokens(root.find("added_tokens"), *p, source);
    int32_t max_added = -1;
    for (const AddedToken& t : p->added) max_added = std::max(max_added, t.id);
    p->added_index_by_id.assign((size_t)(max_added + 1), -1);
    for (size_t i = 0; i < p->added.size(); i++) p->added_index_by_id[(size_t)p->added[i].id] = (int32_t)i;
    for (const AddedToken& t : p->added) {
        (t.normalized ? p->normalized_matcher : p->raw_matcher).add(&t);
        if (t.special) p->special_contents.insert(t.content);
    }
    p->raw_matcher.finish();
    p->normalized_matcher.finish();

    if (!config_json.empty()) {
        const std::string where = source + " (tokenizer_config.json)";
        unicode::check_utf8(config_json, where);
        json::Value cfg = json::parse(std::string(config_json), where);
        if (!cfg.is_object()) fail(where, ": expected a JSON object");
        p->bos_token = token_name(cfg.find("bos_token"));
        p->eos_token = token_name(cfg.find("eos_token"));
        if (const json::Value* m = cfg.find("model_max_length"); m && m->is_number() && m->number > 0 && m->number < 1e12)
            p->model_max_length = (size_t)m->number;
        // transformers rebuilds the post-processor from add_bos_token / add_eos_token when the
        // config names either (LlamaTokenizer, GemmaTokenizer): the config wins over the file.
        const json::Value* add_bos = cfg.find("add_bos_token");
        const json::Value* add_eos = cfg.find("add_eos_token");
        if ((add_bos && add_bos->is_bool()) || (add_eos && add_eos->is_bool())) {
            Template t;
            int32_t bos = p->bos_token.empty() ? -1 : p->token_id(p->bos_token);
            int32_t eos = p->eos_token.empty() ? -1 : p->token_id(p->eos_token);
            if (add_bos && add_bos->is_bool() && add_bos->boolean && bos >= 0) t.items.push_back({false, {bos}});
            t.items.push_back({true, {}});
            if (add_eos && add_eos->is_bool() && add_eos->boolean && eos >= 0) t.items.push_back({false, {eos}});
            p->post.assign(1, t);
        }
    }

    Tokenizer tok;
    tok.p_ = std::move(p);
    return tok;
}

Tokenizer Tokenizer::from_t2l(const T2lFile& file, const std::string& key_prefix) {
    const std::string key = key_prefix + "tokenizer.json";
    if (!file.find_meta(key)) fail(file.path(), ": has no '", key, "' metadata (convert the model with its tokenizer.json)");
    std::string config;
    if (file.find_meta(key_prefix + "tokenizer.config")) config = file.meta_string(key_prefix + "tokenizer.config");
    return from_json(file.meta_string(key), config, file.path() + " " + key);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
    return p_->encode(text, options);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    return p_->decode(ids, skip_special_tokens);
}

size_t Tokenizer::vocab_size() const { return std::max(p_->model_tokens().size(), p_->added_index_by_id.size()); }

std::string Tokenizer::token(int32_t id) const {
    if (const AddedToken* t = p_->added_by_id(id)) return t->content;
    const auto& tokens = p_->model_tokens();
    return id >= 0 && (size_t)id < tokens.size() ? tokens[(size_t)id] : std::string();
}

int32_t Tokenizer::token_id(std::string_view token) const { return p_->token_id(std::string(token)); }

bool Tokenizer::is_special(int32_t id) const {
    const AddedToken* t = p_->added_by_id(id);
    return t && t->special;
}

int32_t Tokenizer::bos_id() const { return p_->bos_token.empty() ? -1 : p_->token_id(p_->bos_token); }
int32_t Tokenizer::eos_id() const { return p_->eos_token.empty() ? -1 : p_->token_id(p_->eos_token); }
const std::string& Tokenizer::bos_token() const { return p_->bos_token; }
const std::string& Tokenizer::eos_token() const { return p_->eos_token; }
size_t Tokenizer::model_max_length() const { return p_->model_max_length; }
const std::string& Tokenizer::source() const { return p_->source; }

// ---- StreamDecoder ----------------------------------------------------------------------------
//
// The window ids_ holds the ids already printed that later text may depend on (prefix_ is their
// decode) plus the ids not printed yet. A step prints the new tail of decode(ids_) unless that
// tail ends in U+FFFD: then a character is still incomplete and the id waits for the next.

namespace {
bool ends_with_replacement(const std::string& s) {
    return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}
}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tok_(tokenizer), skip_special_(skip_special_tokens) {}

std::string StreamDecoder::step(int32_t id) {
    if (prefix_.empty() && !ids_.empty()) {
        std::string p = tok_.decode(ids_, skip_special_);
        if (!ends_with_replacement(p)) {
            prefix_ = p;
            prefix_index_ = ids_.size();
        }
    }
    ids_.push_back(id);
    std::string text = tok_.decode(ids_, skip_special_);
    if (text.compare(0, prefix_.size(), prefix_) != 0) {
        // The new id changed text already printed: a byte run such as <0x12><0xDB> turns the
        // valid "\x12" into U+FFFD U+FFFD once the second byte arrives (the reference raises
        // an error here). What is printed stays printed: continue after it, without context.
        ids_.erase(ids_.begin(), ids_.begin() + (ptrdiff_t)prefix_index_);
        prefix_.clear();
        prefix_index_ = 0;
        text = tok_.decode(ids_, skip_special_);
    }
    if (text.size() <= prefix_.size() || ends_with_replacement(text)) return "";
    std::string fresh = text.substr(prefix_.size());
    // Keep only the ids after the printed context: they are the next step's context.
    ids_.erase(ids_.begin(), ids_.begin() + (ptrdiff_t)prefix_index_);
    prefix_ = tok_.decode(ids_, skip_special_);
    prefix_index_ = ids_.size();
    return fresh;
}

std::string StreamDecoder::finish() {
    std::string text = tok_.decode(ids_, skip_special_);
    std::string rest = text.size() > prefix_.size() && text.compare(0, prefix_.size(), prefix_) == 0
                           ? text.substr(prefix_.size())
                           : std::string();
    ids_.clear();
    prefix_.clear();
    prefix_index_ = 0;
    return rest;
}

}  // namespace t2l

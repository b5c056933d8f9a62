// bpe.cpp — BPE model: load from tokenizer.json, encode one pre-token (see bpe.h).
#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <queue>

#include "common.h"
#include "tokenizer/unicode.h"

namespace t2l::tok {

namespace {

inline uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

// One symbol of the word being merged: a doubly linked list over a vector, as in `tokenizers`
// (a symbol merged into its left neighbour keeps its slot with len = 0).
struct Symbol {
    int32_t id;
    int prev, next;  // -1 at the ends
    size_t len;      // bytes of the pre-token it covers; 0 once merged away
};

struct Candidate {
    uint32_t rank;
    size_t pos;      // index of the left symbol
    int32_t result;
    // priority_queue pops the largest: invert so the lowest rank, then leftmost, comes first.
    bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

void add_symbol(std::vector<Symbol>& word, int32_t id, size_t len) {
    int n = (int)word.size();
    if (n) word.back().next = n;
    word.push_back({id, n ? n - 1 : -1, -1, len});
}

}  // namespace

void BpeModel::encode(std::string_view w, std::vector<int32_t>& out) const {
    if (ignore_merges) {
        auto it = vocab.find(std::string(w));
        if (it != vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }

    // 1. One symbol per character (with prefix/suffix as configured); unknown characters
    //    become byte tokens, or the unk token, or nothing.
    std::vector<Symbol> word;
    word.reserve(w.size());
    bool have_unk = false;
    int32_t unk_id = -1;
    size_t unk_len = 0;
    auto unk_token_id = [&]() {
        auto it = vocab.find(unk_token);
        if (it == vocab.end()) fail("tokenizer.json model (BPE): unk_token '", unk_token, "' is not in the vocabulary");
        return it->second;
    };
    size_t len = 0;
    for (size_t i = 0; i < w.size(); i += len) {
        unicode::decode_utf8(w, i, &len);
        std::string s(w.substr(i, len));
        if (i > 0 && !continuing_subword_prefix.empty()) s.insert(0, continuing_subword_prefix);
        if (i + len == w.size() && !end_of_word_suffix.empty()) s += end_of_word_suffix;
        auto it = vocab.find(s);
        if (it != vocab.end()) {
            if (have_unk) {
                add_symbol(word, unk_id, unk_len);
                have_unk = false;
            }
            add_symbol(word, it->second, len);
            continue;
        }
        if (byte_fallback) {
            bool all = true;
            for (unsigned char b : s) all = all && byte_token[b] >= 0;
            if (all) {
                // As in `tokenizers`, a pending unk is not flushed first: it lands after these bytes.
                for (unsigned char b : s) add_symbol(word, byte_token[b], 1);
                continue;
            }
        }
        if (unk_token.empty()) continue;
        if (have_unk && fuse_unk) {
            unk_len += len;
        } else {
            if (have_unk) add_symbol(word, unk_id, unk_len);
            unk_id = unk_token_id();
            unk_len = len;
            have_unk = true;
        }
    }
    if (have_unk) add_symbol(word, unk_id, unk_len);

    // 2. Merge: repeatedly the lowest-ranked pair present, leftmost first.
    auto lookup = [&](int32_t a, int32_t b) -> const Merge* {
        auto it = merges.find(pair_key(a, b));
        return it == merges.end() ? nullptr : &it->second;
    };
    std::priority_queue<Candidate> queue;
    for (size_t i = 0; i + 1 < word.size(); i++)
        if (const Merge* m = lookup(word[i].id, word[i + 1].id)) queue.push({m->rank, i, m->result});
    while (!queue.empty()) {
        Candidate top = queue.top();
        queue.pop();
        Symbol& left = word[top.pos];
        if (left.len == 0 || left.next < 0) continue;  // merged away, or now the last symbol
        Symbol right = word[(size_t)left.next];
        const Merge* m = lookup(left.id, right.id);
        if (!m || m->result != top.result) continue;    // stale: a neighbour changed since
        size_t right_pos = (size_t)left.next;
        left.id = top.result;
        left.len += right.len;
        left.next = right.next;
        word[right_pos].len = 0;
        if (right.next >= 0) word[(size_t)right.next].prev = (int)top.pos;
        if (left.prev >= 0)
            if (const Merge* p = lookup(word[(size_t)left.prev].id, left.id))
                queue.push({p->rank, (size_t)left.prev, p->result});
        if (left.next >= 0)
            if (const Merge* n = lookup(left.id, word[(size_t)left.next].id)) queue.push({n->rank, top.pos, n->result});
    }
    for (const Symbol& s : word)
        if (s.len) out.push_back(s.id);
}

BpeModel parse_bpe(const json::Value& v, const std::string& where) {
    BpeModel m;
    auto opt_string = [&](const char* key) -> std::string {
        const json::Value* f = v.find(key);
        if (!f || f->is_null()) return "";
        if (!f->is_string()) fail(where, ": '", key, "' must be a string or null");
        return f->string;
    };
    auto opt_bool = [&](const char* key) {
        const json::Value* f = v.find(key);
        if (!f || f->is_null()) return false;
        if (!f->is_bool()) fail(where, ": '", key, "' must be true, false or null");
        return f->boolean;
    };
    if (const json::Value* d = v.find("dropout"); d && !d->is_null()) {
        if (!d->is_number()) fail(where, ": 'dropout' must be a number or null");
        if (d->number != 0.0) fail(where, ": BPE dropout ", d->number, " makes encoding random; only null or 0 is supported");
    }
    m.unk_token = opt_string("unk_token");
    m.continuing_subword_prefix = opt_string("continuing_subword_prefix");
    m.end_of_word_suffix = opt_string("end_of_word_suffix");
    m.fuse_unk = opt_bool("fuse_unk");
    m.byte_fallback = opt_bool("byte_fallback");
    m.ignore_merges = opt_bool("ignore_merges");

    const json::Value* vocab = v.find("vocab");
    if (!vocab || !vocab->is_object()) fail(where, ": 'vocab' must be an object {token: id}");
    m.vocab.reserve(vocab->object.size() * 2);
    int32_t max_id = -1;
    for (const auto& kv : vocab->object) {
        if (!kv.second.is_number() || !kv.second.is_integer || kv.second.integer < 0 || kv.second.integer > INT32_MAX)
            fail(where, ": vocab id of '", kv.first, "' must be a non-negative integer");
        int32_t id = (int32_t)kv.second.integer;
        m.vocab[kv.first] = id;
        max_id = std::max(max_id, id);
    }
    m.id_to_token.assign((size_t)(max_id + 1), std::string());
    for (const auto& kv : m.vocab) m.id_to_token[(size_t)kv.second] = kv.first;
    for (int b = 0; b < 256; b++) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        auto it = m.vocab.find(name);
        m.byte_token[b] = it == m.vocab.end() ? -1 : it->second;
    }

    // Merges: ["a b", ...] (older files) or [["a", "b"], ...]; rank = position in the list.
    const json::Value* merges = v.find("merges");
    if (!merges || !merges->is_array()) fail(where, ": 'merges' must be an array");
    m.merges.reserve(merges->array.size() * 2);
    uint32_t rank = 0;
    std::string left, right;
    for (size_t i = 0; i < merges->array.size(); i++) {
        const json::Value& e = merges->array[i];
        if (e.is_string()) {
            if (e.string.rfind("#version", 0) == 0) continue;  // a merges.txt header line
            size_t sp = e.string.find(' ');
            if (sp == std::string::npos || e.string.find(' ', sp + 1) != std::string::npos)
                fail(where, ": merge #", i, " '", e.string, "' is not two tokens separated by one space");
            left = e.string.substr(0, sp);
            right = e.string.substr(sp + 1);
        } else if (e.is_array() && e.array.size() == 2 && e.array[0].is_string() && e.array[1].is_string()) {
            left = e.array[0].string;
            right = e.array[1].string;
        } else {
            fail(where, ": merge #", i, " must be \"a b\" or [\"a\", \"b\"]");
        }
        auto a = m.vocab.find(left), b = m.vocab.find(right);
        if (a == m.vocab.end() || b == m.vocab.end())
            fail(where, ": merge #", i, " uses '", a == m.vocab.end() ? left : right, "', which is not in the vocabulary");
        // The merged token drops the right side's continuing-subword prefix.
        size_t skip = m.continuing_subword_prefix.size();
        std::string merged = left + (right.size() >= skip ? right.substr(skip) : std::string());
        auto r = m.vocab.find(merged);
        if (r == m.vocab.end()) fail(where, ": merge #", i, " makes '", merged, "', which is not in the vocabulary");
        // A repeated pair keeps its last rank, as a hash map filled in order would.
        m.merges[pair_key(a->second, b->second)] = {rank, r->second};
        rank++;
    }
    return m;
}

}  // namespace t2l::tok

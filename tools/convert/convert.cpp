// convert.cpp — source detection, metadata gathering and the streaming tensor copy.
#include "convert/convert.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "cli/progress.h"
#include "common.h"
#include "convert/gguf_import.h"
#include "format/t2l_file.h"
#include "io/json.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "io/yaml.h"
#include "models/encoder.h"

namespace t2l {

namespace {

// Everything one source contributes: metadata, tensor views kept alive by `owners`, and
// tensors computed row by row (GGUF: dequantised, re-ordered), which follow the views.
struct Source {
    std::string kind;
    std::vector<std::pair<std::string, MetaValue>> metadata;
    std::vector<TensorView> tensors;
    std::vector<ImportedTensor> computed;
    std::vector<std::shared_ptr<void>> owners;
    std::vector<std::string> notes;

    void meta(const std::string& key, MetaValue v) { metadata.emplace_back(key, std::move(v)); }
};

// A JSON file stored as a Json metadata value, validated on the way in. Kept as the
// original text so the engine sees exactly what the source had.
void add_json_file(Source& s, const std::string& key, const std::string& path, bool required) {
    if (!file_exists(path)) {
        if (required) fail(path, ": missing (needed for the ", key, " metadata)");
        return;
    }
    std::string text = read_file(path);
    json::parse(text, path);  // throws with the position of the first error
    s.meta(key, MetaValue::of_json(text));
}

// Text encoders are HF folders too; their architecture tells them apart from decoders.
bool is_encoder_config(const json::Value& cfg) {
    static const char* kEncoderTypes[] = {"new", "bert", "roberta", "xlm-roberta", "nomic_bert"};
    if (const json::Value* mt = cfg.find("model_type"); mt && mt->is_string())
        for (const char* t : kEncoderTypes)
            if (mt->string == t) return true;
    return false;
}

void load_hf_folder(Source& s, const std::string& dir, const std::string& prefix, const std::string& meta_prefix) {
    const std::string config_path = join_path(dir, "config.json");
    add_json_file(s, meta_prefix + "hf.config", config_path, true);
    add_json_file(s, meta_prefix + "hf.generation_config", join_path(dir, "generation_config.json"), false);
    add_json_file(s, meta_prefix + "tokenizer.json", join_path(dir, "tokenizer.json"), false);
    add_json_file(s, meta_prefix + "tokenizer.config", join_path(dir, "tokenizer_config.json"), false);
    add_json_file(s, meta_prefix + "tokenizer.special_tokens_map", join_path(dir, "special_tokens_map.json"), false);
    auto ckpt = std::make_shared<SafetensorsCheckpoint>(dir);
    for (TensorView t : ckpt->tensors()) {
        t.name = prefix + t.name;
        s.tensors.push_back(std::move(t));
    }
    s.owners.push_back(ckpt);
}

// Whether a tokenizer.json normalizer lower-cases (BertNormalizer with lowercase, Lowercase,
// or a Sequence holding one).
bool normalizer_lowercases(const json::Value* n) {
    const json::Value* type = n && n->is_object() ? n->find("type") : nullptr;
    if (!type || !type->is_string()) return false;
    if (type->string == "Lowercase") return true;
    if (type->string == "BertNormalizer") {
        const json::Value* lc = n->find("lowercase");
        return lc && lc->is_bool() && lc->boolean;
    }
    if (const json::Value* seq = n->find("normalizers"); type->string == "Sequence" && seq && seq->is_array())
        for (const json::Value& m : seq->array)
            if (normalizer_lowercases(&m)) return true;
    return false;
}

// A sentence-transformers folder says how the model makes one vector of a sentence:
// modules.json lists Transformer -> Pooling (-> Normalize), the pooling folder's config.json
// names the pooling, sentence_bert_config.json the token limit. Recorded as "sentence.config"
// (models/encoder.h) so `t2l embed` gives that embedding. A pipeline the engine does not
// reproduce (Dense layers, other poolings, lower-casing the tokenizer does not do) records
// nothing and says so in a note.
void add_sentence_config(Source& s, const std::string& dir, const json::Value& cfg) {
    const std::string modules_path = join_path(dir, "modules.json");
    if (!file_exists(modules_path)) return;
    const json::Value modules = json::parse(read_file(modules_path), modules_path);
    if (!modules.is_array()) fail(modules_path, ": not a list of modules");
    std::string pooling_dir;
    bool normalize = false;
    for (const json::Value& m : modules.array) {
        const json::Value* type = m.find("type");
        const std::string t = type && type->is_string() ? type->string : "";
        const std::string name = t.substr(t.rfind('.') + 1);  // sentence_transformers.models.Pooling -> Pooling
        if (name == "Transformer") continue;
        if (name == "Pooling") {
            const json::Value* path = m.find("path");
            pooling_dir = path && path->is_string() ? path->string : "";
        } else if (name == "Normalize") {
            normalize = true;
        } else {
            s.notes.push_back(cat("modules.json: module '", t, "' is not reproduced; no sentence embedding recorded"));
            return;
        }
    }
    if (pooling_dir.empty()) {
        s.notes.push_back("modules.json: no Pooling module; no sentence embedding recorded");
        return;
    }
    const std::string pool_path = join_path(join_path(dir, pooling_dir), "config.json");
    if (!file_exists(pool_path)) fail(pool_path, ": missing (modules.json names the Pooling module there)");
    const json::Value pc = json::parse(read_file(pool_path), pool_path);
    std::string modes;
    int n_modes = 0;
    for (const auto& kv : pc.object)
        if (kv.first.rfind("pooling_mode_", 0) == 0 && kv.second.is_bool() && kv.second.boolean) {
            modes += (n_modes++ ? "+" : "") + kv.first.substr(13);
        }
    const std::string pooling = n_modes != 1           ? ""
                                : modes == "cls_token"   ? "cls"
                                : modes == "mean_tokens" ? "mean"
                                : modes == "max_tokens"  ? "max"
                                                         : "";
    if (pooling.empty()) {
        s.notes.push_back(cat(pool_path, ": pooling '", modes, "' is not reproduced (cls, mean or max); no sentence embedding recorded"));
        return;
    }
    if (const json::Value* d = pc.find("word_embedding_dimension"); d && d->is_number() && cfg.find("hidden_size") &&
                                                                   d->as_int() != cfg.at("hidden_size").as_int())
        fail(pool_path, ": word_embedding_dimension ", d->as_int(), " differs from the model's hidden_size");
    int max_length = 0;
    const std::string sb_path = join_path(dir, "sentence_bert_config.json");
    if (file_exists(sb_path)) {
        const json::Value sb = json::parse(read_file(sb_path), sb_path);
        if (const json::Value* m = sb.find("max_seq_length"); m && m->is_number()) max_length = (int)m->as_int();
        const json::Value* lc = sb.find("do_lower_case");
        if (lc && lc->is_bool() && lc->boolean) {
            const std::string tok_path = join_path(dir, "tokenizer.json");
            const json::Value tok = file_exists(tok_path) ? json::parse(read_file(tok_path), tok_path) : json::Value();
            if (!normalizer_lowercases(tok.find("normalizer"))) {
                s.notes.push_back(cat(sb_path, ": do_lower_case and a tokenizer that keeps case are not reproduced; no sentence embedding recorded"));
                return;
            }
        }
    }
    json::Value sc = json::Value::new_object();
    sc.set("pooling", json::Value::from_string(pooling));
    sc.set("normalize", json::Value::from_bool(normalize));
    sc.set("max_length", json::Value::from_int(max_length));
    s.meta(SentenceConfig::kMetaKey, MetaValue::of_json(json::dump(sc)));
    s.notes.push_back(cat("sentence embedding (t2l embed): ", pooling, " pooling", normalize ? ", L2-normalised" : "",
                          max_length ? cat(", at most ", max_length, " tokens") : std::string()));
}

// A GGUF file says so in its first four bytes, whatever it is called.
bool is_gguf_file(const std::string& path) {
    MappedFile f(path);
    return f.size() >= 4 && std::memcmp(f.data(), "GGUF", 4) == 0;
}

Source load_source(const ConvertOptions& opts) {
    Source s;
    const std::string& src = opts.src;
    if (!is_directory(src)) {
        if (!file_exists(src)) fail(src, ": no such file or folder");
        if (is_gguf_file(src)) {
            if (!opts.encoder_dir.empty()) fail("--encoder: only T2L checkpoints bundle an encoder");
            GgufImport g = import_gguf(src, opts.dtype);
            s.kind = "model";
            s.metadata = std::move(g.metadata);
            s.computed = std::move(g.tensors);
            s.notes = std::move(g.notes);
            s.owners.push_back(g.file);
            if (s.computed.empty()) fail(src, ": holds no tensors");
            return s;
        }
        fail(src, ": not a checkpoint (expected a GGUF file, or an HF model, T2L or PEFT adapter folder)");
    }
    if (file_exists(join_path(src, "hypermod.pt"))) {
        s.kind = "t2l";
        auto ckpt = std::make_shared<TorchCheckpoint>(join_path(src, "hypermod.pt"));
        s.tensors = ckpt->tensors();
        s.owners.push_back(ckpt);
        // A hypernetwork saved from a multi-GPU run carries the wrapper's "module." prefix.
        const bool wrapped = std::all_of(s.tensors.begin(), s.tensors.end(),
                                         [](const TensorView& t) { return t.name.rfind("module.", 0) == 0; });
        if (wrapped)
            for (auto& t : s.tensors) t.name = t.name.substr(7);
        const std::string args_path = join_path(src, "args.yaml");
        if (!file_exists(args_path)) fail(args_path, ": missing (a T2L checkpoint folder holds hypermod.pt, args.yaml, adapter_config.json)");
        s.meta("t2l.args", MetaValue::of_json(json::dump(yaml::load_file(args_path))));
        add_json_file(s, "t2l.adapter_config", join_path(src, "adapter_config.json"), true);
        if (!opts.encoder_dir.empty()) load_hf_folder(s, opts.encoder_dir, "encoder.", "encoder.");
    } else if (file_exists(join_path(src, "adapter_config.json"))) {
        s.kind = "adapter";
        add_json_file(s, "peft.adapter_config", join_path(src, "adapter_config.json"), true);
        const std::string st = join_path(src, "adapter_model.safetensors");
        if (!file_exists(st)) {
            if (file_exists(join_path(src, "adapter_model.bin")))
                fail(src, ": adapter_model.bin (pickle) adapters are not supported; save it as safetensors");
            fail(st, ": missing (a PEFT adapter folder holds adapter_model.safetensors)");
        }
        auto f = std::make_shared<SafetensorsFile>(st);
        s.tensors = f->tensors();
        s.owners.push_back(f);
    } else if (file_exists(join_path(src, "config.json"))) {
        json::Value cfg = json::parse(read_file(join_path(src, "config.json")), join_path(src, "config.json"));
        s.kind = is_encoder_config(cfg) ? "encoder" : "model";
        load_hf_folder(s, src, "", "");
        if (s.kind == "encoder") add_sentence_config(s, src, cfg);
    } else {
        fail(src, ": not a checkpoint folder: no config.json, hypermod.pt or adapter_config.json");
    }
    if (!opts.encoder_dir.empty() && s.kind != "t2l") fail("--encoder: only T2L checkpoints bundle an encoder");
    if (s.tensors.empty()) fail(src, ": holds no tensors");
    return s;
}

DType target_dtype(const std::string& choice, DType src) {
    if (choice == "keep" || !dtype_is_float(src)) return src;
    DType d;
    dtype_from_name(choice, &d);
    return d;
}

// Elements whose value changed in the narrowing (src -> dst -> src differs).
uint64_t count_rounded(DType dst, const uint8_t* out, DType src, const uint8_t* in, size_t n) {
    if (dtype_size(dst) >= dtype_size(src) && !(dst == DType::F16 && src == DType::BF16) &&
        !(dst == DType::BF16 && src == DType::F16))
        return 0;  // widening is exact
    std::vector<uint8_t> back(n * dtype_size(src));
    convert_elements(src, back.data(), dst, out, n);
    uint64_t changed = 0;
    const size_t es = dtype_size(src);
    for (size_t i = 0; i < n; i++)
        if (std::memcmp(back.data() + i * es, in + i * es, es) != 0) changed++;
    return changed;
}

}  // namespace

ConvertReport convert_checkpoint(const ConvertOptions& opts) {
    const auto t0 = std::chrono::steady_clock::now();
    if (opts.dtype != "keep" && opts.dtype != "f32" && opts.dtype != "bf16" && opts.dtype != "f16")
        fail("--dtype: '", opts.dtype, "' is not one of keep, f32, bf16, f16");
    if (opts.out.empty()) fail("-o: an output file is required");
    Source s = load_source(opts);

    ConvertReport rep;
    rep.kind = s.kind;
    rep.notes = s.notes;
    T2lWriter w(opts.out);
    w.set_meta("general.kind", MetaValue::of_string(s.kind));
    w.set_meta("general.source", MetaValue::of_string(base_name(opts.src)));
    w.set_meta("general.converter", MetaValue::of_string("t2l-convert"));
    for (auto& kv : s.metadata) w.set_meta(kv.first, kv.second);
    uint64_t total_in = 0;
    for (const auto& t : s.tensors) {
        w.add_tensor(t.name, target_dtype(opts.dtype, t.dtype), t.shape);
        total_in += t.nbytes;
    }
    for (const auto& t : s.computed) {
        w.add_tensor(t.name, t.dtype, t.shape);
        total_in += t.source_bytes;
    }

    // Stream each tensor in pieces: same-dtype bytes go straight from the map to the file,
    // others through a bounded conversion buffer.
    Progress bar("convert", total_in);
    constexpr size_t kChunkElems = 1u << 20;
    std::vector<uint8_t> buf;
    uint64_t done = 0;
    for (const auto& t : s.tensors) {
        const DType dst = target_dtype(opts.dtype, t.dtype);
        const size_t es = dtype_size(t.dtype);
        const size_t n = (size_t)t.numel();
        for (size_t i = 0; i < n; i += kChunkElems) {
            const size_t m = std::min(kChunkElems, n - i);
            const uint8_t* in = t.data + i * es;
            if (dst == t.dtype) {
                w.write_data(in, m * es);
            } else {
                buf.resize(m * dtype_size(dst));
                convert_elements(dst, buf.data(), t.dtype, in, m);
                rep.values_converted += m;
                rep.values_rounded += count_rounded(dst, buf.data(), t.dtype, in, m);
                w.write_data(buf.data(), buf.size());
            }
            done += m * es;
            bar.update(done);
        }
        rep.tensors++;
    }
    // Computed tensors: rows in f32 from the source, then to the stored dtype.
    std::vector<float> rows;
    for (const auto& t : s.computed) {
        const int64_t cols = std::max<int64_t>(t.row_elems, 1);
        int64_t numel = 1;
        for (int64_t d : t.shape) numel *= d;
        const int64_t n_rows = numel / cols;
        const int64_t step = std::max<int64_t>(1, (int64_t)kChunkElems / cols);
        DType src_float;
        const bool quantised = !ggml_float_type(t.source_type, &src_float);
        const uint64_t done0 = done;
        for (int64_t r = 0; r < n_rows; r += step) {
            const int64_t m = std::min(step, n_rows - r);
            const size_t n = (size_t)(m * cols);
            rows.resize(n);
            t.rows(r, r + m, rows.data());
            if (quantised) rep.values_dequantized += n;
            if (quantised || src_float != t.dtype) rep.values_converted += n;
            if (t.dtype == DType::F32) {
                w.write_data(rows.data(), n * 4);  // f32 holds every decoded value exactly
            } else {
                buf.resize(n * dtype_size(t.dtype));
                convert_elements(t.dtype, buf.data(), DType::F32, rows.data(), n);
                rep.values_rounded += count_rounded(t.dtype, buf.data(), DType::F32, (const uint8_t*)rows.data(), n);
                w.write_data(buf.data(), buf.size());
            }
            done = done0 + (uint64_t)((double)t.source_bytes * (double)(r + m) / (double)n_rows);
            bar.update(done);
        }
        rep.tensors++;
    }
    bar.finish();
    w.finish();
    rep.bytes_in = total_in;
    rep.bytes_out = w.total_data_bytes();
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

}  // namespace t2l

// adapter.cpp — adapter naming and PEFT output (see adapter.h).
#include "lora/adapter.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <sys/stat.h>

#include "common.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "format/t2l_file.h"
#include "io/safetensors.h"
#include "lora/adapter_gguf.h"

namespace t2l {

double LoraAdapter::scale() const { return use_rslora ? alpha / std::sqrt((double)r) : alpha / r; }

const LoraModule* LoraAdapter::find(int layer, const std::string& module) const {
    for (const auto& m : modules)
        if (m.layer == layer && m.module == module) return &m;
    return nullptr;
}

Tensor& LoraAdapter::slot(int layer, const std::string& module, char which, const std::string& source,
                          const std::string& name) {
    LoraModule* m = nullptr;
    for (auto& e : modules)
        if (e.layer == layer && e.module == module) m = &e;
    if (!m) {
        modules.push_back(LoraModule{layer, module, Tensor(), Tensor()});
        m = &modules.back();
    }
    Tensor& dst = which == 'A' ? m->A : m->B;
    if (dst.data) fail(source, ": tensor '", name, "' appears twice");
    return dst;
}

const char* projection_parent(const std::string& module) {
    if (module == "gate_proj" || module == "up_proj" || module == "down_proj") return "mlp";
    return "self_attn";
}

void make_portable(LoraAdapter& a) {
    if (!a.use_rslora) return;
    const float fold = (float)std::sqrt((double)a.r);
    for (auto& m : a.modules) {
        Tensor b = m.B.to(Device::CPU);  // a private copy: the caller's B may be shared
        for (int64_t i = 0; i < b.numel(); i++) b.f32()[i] *= fold;
        m.B = b;
    }
    a.use_rslora = false;
    if (a.config.is_object()) a.config.set("use_rslora", json::Value::from_bool(false));
}

std::string peft_key(int layer, const std::string& module, char which) {
    return cat("base_model.model.model.layers.", layer, ".", projection_parent(module), ".", module, ".lora_", which,
               ".weight");
}

namespace {
// JSON with object keys sorted at every level (Python's json.dumps(sort_keys=True)).
json::Value sorted_keys(const json::Value& v) {
    json::Value out = v;
    if (v.is_object()) {
        out.object.clear();
        std::vector<std::pair<std::string, json::Value>> items = v.object;
        std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (auto& kv : items) out.object.emplace_back(kv.first, sorted_keys(kv.second));
    } else if (v.is_array()) {
        for (auto& e : out.array) e = sorted_keys(e);
    }
    return out;
}

}  // namespace

void write_peft_adapter(const std::string& dir, const LoraAdapter& a, const json::Value& metadata) {
    make_dirs(dir);
    std::vector<TensorView> views;
    for (const auto& m : a.modules) {
        for (char which : {'A', 'B'}) {
            const Tensor& t = which == 'A' ? m.A : m.B;
            TensorView v;
            v.name = peft_key(m.layer, m.module, which);
            v.dtype = t.dtype;
            v.shape = t.shape;
            v.data = (const uint8_t*)t.data;
            v.nbytes = t.nbytes();
            views.push_back(std::move(v));
        }
    }
    // Both files are complete on disk before either is renamed into place.
    AtomicFile weights(join_path(dir, "adapter_model.safetensors"));
    write_safetensors(weights, views, metadata);
    AtomicFile config(join_path(dir, "adapter_config.json"));
    const std::string text = json::dump(sorted_keys(a.config), 2);
    config.write(text.data(), text.size());
    weights.commit();
    config.commit();
}

void write_t2l_adapter(const std::string& path, const LoraAdapter& a,
                       const std::vector<std::pair<std::string, std::string>>& metadata) {
    T2lWriter w(path);
    w.set_meta("general.kind", MetaValue::of_string("adapter"));
    w.set_meta("peft.adapter_config", MetaValue::of_json(json::dump(a.config)));
    for (const auto& kv : metadata) {
        const std::string suffix = "_json";
        const bool is_json = kv.first.size() > suffix.size() && kv.first.compare(kv.first.size() - suffix.size(), suffix.size(), suffix) == 0;
        if (is_json) w.set_meta(kv.first.substr(0, kv.first.size() - suffix.size()), MetaValue::of_json(kv.second));
        else w.set_meta(kv.first, MetaValue::of_string(kv.second));
    }
    for (const auto& m : a.modules) {
        w.add_tensor(peft_key(m.layer, m.module, 'A'), DType::F32, m.A.shape);
        w.add_tensor(peft_key(m.layer, m.module, 'B'), DType::F32, m.B.shape);
    }
    for (const auto& m : a.modules) {
        const Tensor A = m.A.on(Device::CPU), B = m.B.on(Device::CPU);
        w.write_data(A.data, A.nbytes());
        w.write_data(B.data, B.nbytes());
    }
    w.finish();
}

namespace {
// "base_model.model.model.layers.12.self_attn.q_proj.lora_A.weight" -> (12, "q_proj", 'A').
bool parse_peft_key(const std::string& key, int* layer, std::string* module, char* which) {
    const std::string pre = "base_model.model.model.layers.";
    if (key.compare(0, pre.size(), pre) != 0) return false;
    size_t p = pre.size(), dot = key.find('.', p);
    if (dot == std::string::npos || dot == p) return false;
    for (size_t i = p; i < dot; i++)
        if (!std::isdigit((unsigned char)key[i])) return false;
    *layer = std::atoi(key.substr(p, dot - p).c_str());
    const std::string rest = key.substr(dot + 1);  // self_attn.q_proj.lora_A.weight
    for (const char* suffix : {".lora_A.weight", ".lora_B.weight"}) {
        const size_t sl = std::strlen(suffix);
        if (rest.size() > sl && rest.compare(rest.size() - sl, sl, suffix) == 0) {
            const std::string path = rest.substr(0, rest.size() - sl);
            const size_t last = path.rfind('.');
            *module = last == std::string::npos ? path : path.substr(last + 1);
            *which = suffix[6];
            return path == std::string(projection_parent(*module)) + "." + *module;
        }
    }
    return false;
}
}  // namespace

LoraAdapter load_adapter(const std::string& path) {
    if (path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return read_gguf_adapter(path);
    LoraAdapter a;
    std::vector<TensorView> views;
    std::unique_ptr<SafetensorsFile> st;
    std::unique_ptr<T2lFile> tf;
    std::string source = path;
    if (is_directory(path)) {
        const std::string cfg_path = join_path(path, "adapter_config.json");
        a.config = json::parse(read_file(cfg_path), cfg_path);
        source = join_path(path, "adapter_model.safetensors");
        st = std::make_unique<SafetensorsFile>(source);
        views = st->tensors();
    } else {
        tf = std::make_unique<T2lFile>(path);
        if (!tf->find_meta("peft.adapter_config")) fail(path, ": not a LoRA adapter (.t2l without peft.adapter_config)");
        a.config = tf->meta_json("peft.adapter_config");
        for (const auto& t : tf->tensors()) views.push_back(t.view);
    }
    const json::Value& c = a.config;
    if (!c.find("r") || !c.find("lora_alpha")) fail(path, ": adapter_config has no r / lora_alpha");
    a.r = (int)c.at("r").as_int();
    a.alpha = c.at("lora_alpha").as_double();
    a.use_rslora = c.find("use_rslora") && c.at("use_rslora").is_bool() && c.at("use_rslora").boolean;
    if (const json::Value* tm = c.find("target_modules"); tm && tm->is_array())
        for (const auto& m : tm->array) a.target_modules.push_back(m.as_string());

    for (const auto& v : views) {
        int layer;
        std::string module;
        char which;
        if (!parse_peft_key(v.name, &layer, &module, &which))
            fail(source, ": tensor '", v.name, "' is not a PEFT LoRA weight of a decoder layer");
        if (!dtype_is_float(v.dtype) || v.shape.size() != 2) fail(source, ": tensor '", v.name, "' must be a float matrix");
        a.slot(layer, module, which, source, v.name) = Tensor::borrow(v).to_dtype(DType::F32);
    }
    for (const auto& m : a.modules) {
        if (!m.A.data || !m.B.data) fail(source, ": layer ", m.layer, " ", m.module, " has only one of lora_A / lora_B");
        if (m.A.dim(0) != a.r || m.B.dim(1) != a.r)
            fail(source, ": layer ", m.layer, " ", m.module, ": rank ", m.A.dim(0), " does not match r = ", a.r);
    }
    if (a.modules.empty()) fail(source, ": holds no LoRA weights");
    return a;
}

}  // namespace t2l

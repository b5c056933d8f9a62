// adapter.cpp — adapter naming and PEFT output (see adapter.h).
#include "lora/adapter.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <sys/stat.h>

#include "common.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

namespace t2l {

double LoraAdapter::scale() const { return use_rslora ? alpha / std::sqrt((double)r) : alpha / r; }

const LoraModule* LoraAdapter::find(int layer, const std::string& module) const {
    for (const auto& m : modules)
        if (m.layer == layer && m.module == module) return &m;
    return nullptr;
}

const char* projection_parent(const std::string& module) {
    if (module == "gate_proj" || module == "up_proj" || module == "down_proj") return "mlp";
    return "self_attn";
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

void make_dir(const std::string& dir) {
    if (is_directory(dir)) return;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail(dir, ": cannot create folder: ", std::strerror(errno));
}
}  // namespace

void write_peft_adapter(const std::string& dir, const LoraAdapter& a, const json::Value& metadata) {
    make_dir(dir);
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

}  // namespace t2l

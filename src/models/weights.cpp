// weights.cpp — see weights.h.
#include "models/weights.h"

#include "common.h"

namespace t2l {

WeightSource::WeightSource(const T2lFile& file, std::string prefix, Device device)
    : file_(file), prefix_(std::move(prefix)), device_(device) {}

bool WeightSource::has(const std::string& name) const { return file_.find(prefix_ + name) != nullptr; }

Tensor WeightSource::get(const std::string& name, const std::vector<int64_t>& shape) const {
    Tensor t = get_host(name, shape);
    return device_ == Device::CPU ? t : t.to(device_);
}

Tensor WeightSource::get_host(const std::string& name, const std::vector<int64_t>& shape) const {
    const std::string full = prefix_ + name;
    const TensorView* v = file_.find(full);
    if (!v) fail(file_.path(), ": missing tensor '", full, "'");
    if (!shape.empty() && v->shape != shape)
        fail(file_.path(), ": tensor '", full, "' has shape ", shape_string(v->shape), ", expected ", shape_string(shape));
    if (!dtype_is_float(v->dtype) || v->dtype == DType::F64)
        fail(file_.path(), ": tensor '", full, "' is ", dtype_name(v->dtype), "; weights must be f32, bf16 or f16");
    used_.insert(full);
    return Tensor::borrow(*v);
}

std::vector<std::string> WeightSource::unused() const {
    std::vector<std::string> out;
    for (const auto& t : file_.tensors()) {
        const std::string& n = t.view.name;
        if (n.compare(0, prefix_.size(), prefix_) == 0 && !used_.count(n)) out.push_back(n);
    }
    return out;
}

}  // namespace t2l

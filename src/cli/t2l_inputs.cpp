// t2l_inputs.cpp — see t2l_inputs.h.
#include "cli/t2l_inputs.h"

#include <cerrno>
#include <cstdlib>

#include "common.h"
#include "gpu.h"
#include "models/t2l_pipeline.h"
#include "tokenizer/tokenizer.h"

namespace t2l {

std::string encoder_prefix(const T2lFile& file) {
    if (file.find_meta("encoder.hf.config")) return "encoder.";
    if (file.find_meta("hf.config")) {
        const MetaValue* kind = file.find_meta("general.kind");
        if (!kind || kind->s == "encoder") return "";
    }
    fail(file.path(), ": holds no text encoder (convert one, or bundle it with t2l-convert --encoder)");
}

std::vector<int32_t> tokenize_for_encoder(const T2lFile& file, const std::string& prefix, const std::string& text) {
    if (!file.find_meta(prefix + "tokenizer.json")) fail(file.path(), ": the encoder has no tokenizer.json");
    EncodeOptions opt;
    opt.max_length = kEncoderMaxTokens;
    return Tokenizer::from_t2l(file, prefix).encode(text, opt);
}

Device resolve_device(const std::string& choice) {
    if (choice == "cpu") return Device::CPU;
    if (choice == "cuda") {
        if (!gpu_info().available) fail("--device cuda: ", gpu_info().reason);
        return Device::CUDA;
    }
    if (choice == "auto") return gpu_info().available ? Device::CUDA : Device::CPU;
    fail("--device: '", choice, "' is not cpu, cuda or auto");
}

std::vector<int32_t> parse_id_list(const std::string& s, const std::string& what) {
    std::vector<int32_t> ids;
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t comma = s.find(',', pos);
        std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        errno = 0;
        char* end = nullptr;
        long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end || errno || v < 0 || v > INT32_MAX) fail(what, ": '", item, "' is not a token id");
        ids.push_back((int32_t)v);
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    if (ids.empty()) fail(what, ": no token ids");
    return ids;
}

}  // namespace t2l

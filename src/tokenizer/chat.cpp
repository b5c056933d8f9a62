// chat.cpp — chat formats (see chat.h).
#include "tokenizer/chat.h"

#include "common.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace t2l {

namespace {

// Jinja's `trim` filter is Python's str.strip(): Unicode whitespace at both ends.
std::string trim(const std::string& s) {
    std::u32string cps = unicode::to_u32(unicode::utf8_lossy(s));
    size_t b = 0, e = cps.size();
    while (b < e && unicode::is_python_space(cps[b])) b++;
    while (e > b && unicode::is_python_space(cps[e - 1])) e--;
    return unicode::to_utf8(std::u32string_view(cps).substr(b, e - b));
}

std::string render_llama3(const std::vector<ChatMessage>& msgs, bool gen, const std::string& bos) {
    std::string out;
    size_t first = 0;
    if (!msgs.empty() && msgs[0].role == "system") {
        out += bos + "<|start_header_id|>system<|end_header_id|>\n\n" + trim(msgs[0].content) + "<|eot_id|>";
        first = 1;
    }
    for (size_t i = first; i < msgs.size(); i++)
        out += "<|start_header_id|>" + msgs[i].role + "<|end_header_id|>\n\n" + trim(msgs[i].content) + "<|eot_id|>";
    if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
}

std::string render_mistral(const std::vector<ChatMessage>& msgs, const std::string& bos, const std::string& eos) {
    std::string out;
    size_t first = 0;
    bool has_system = !msgs.empty() && msgs[0].role == "system";
    if (has_system) {
        out += bos;
        first = 1;
    }
    for (size_t i = first; i < msgs.size(); i++) {
        const ChatMessage& m = msgs[i];
        if (m.role == "user") {
            // The system prompt rides in the first [INST] block: Mistral has no system role.
            if (i == first && has_system) out += " [INST] " + msgs[0].content + "\n\n" + m.content + " [/INST]";
            else out += " [INST] " + m.content + " [/INST]";
        } else if (m.role == "assistant") {
            out += " " + m.content + eos;
        } else {
            fail("chat (mistral): message ", i, " has role '", m.role,
                 "'; only user and assistant roles are supported, after an optional system message");
        }
    }
    return out;
}

std::string render_gemma(const std::vector<ChatMessage>& msgs, bool gen, const std::string& bos) {
    std::string out;
    if (!msgs.empty() && msgs[0].role == "system") out += bos;
    for (const ChatMessage& m : msgs) {
        const std::string role = m.role == "assistant" ? "model" : m.role;
        out += "<start_of_turn>" + role + "\n" + trim(m.content) + "<end_of_turn>\n";
    }
    if (gen) out += "<start_of_turn>model\n";
    return out;
}

// ChatML (SmolLM2, Qwen and others): <|im_start|>ROLE\nCONTENT<|im_end|>\n per message, no BOS.
// Models whose template injects a default system message get it only through --system.
std::string render_chatml(const std::vector<ChatMessage>& msgs, bool gen) {
    std::string out;
    for (const ChatMessage& m : msgs) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    if (gen) out += "<|im_start|>assistant\n";
    return out;
}

}  // namespace

std::string render_chat(ChatFormat format, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& bos_token, const std::string& eos_token) {
    switch (format) {
        case ChatFormat::Llama3: return render_llama3(messages, add_generation_prompt, bos_token);
        case ChatFormat::Mistral: return render_mistral(messages, bos_token, eos_token);
        case ChatFormat::Gemma: return render_gemma(messages, add_generation_prompt, bos_token);
        case ChatFormat::ChatML: return render_chatml(messages, add_generation_prompt);
    }
    return "";
}

ChatFormat chat_format_from_name(const std::string& name) {
    if (name == "llama3" || name == "llama") return ChatFormat::Llama3;
    if (name == "mistral") return ChatFormat::Mistral;
    if (name == "gemma" || name == "gemma2") return ChatFormat::Gemma;
    if (name == "chatml") return ChatFormat::ChatML;
    fail("chat format '", name, "' is unknown (llama3, mistral, gemma, chatml)");
}

const char* chat_format_name(ChatFormat format) {
    switch (format) {
        case ChatFormat::Llama3: return "llama3";
        case ChatFormat::Mistral: return "mistral";
        case ChatFormat::Gemma: return "gemma";
        case ChatFormat::ChatML: return "chatml";
    }
    return "?";
}

bool detect_chat_format(const Tokenizer& tok, ChatFormat* format) {
    if (tok.token_id("<|start_header_id|>") >= 0 && tok.token_id("<|eot_id|>") >= 0) *format = ChatFormat::Llama3;
    else if (tok.token_id("<start_of_turn>") >= 0 && tok.token_id("<end_of_turn>") >= 0) *format = ChatFormat::Gemma;
    else if (tok.token_id("<|im_start|>") >= 0 && tok.token_id("<|im_end|>") >= 0) *format = ChatFormat::ChatML;
    else if (tok.bos_token() == "<s>" && tok.eos_token() == "</s>") *format = ChatFormat::Mistral;
    else return false;
    return true;
}

}  // namespace t2l

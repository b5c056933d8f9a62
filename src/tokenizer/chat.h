// chat.h — the chat formats `t2l run --chat` uses: a list of {role, content} messages to the
// prompt text, rendered exactly as the T2L reference's chat templates render it (written as
// plain functions; tools/reference/fx_tokenizers.py holds the Jinja originals).
//
//   Llama 3:  [bos if a system message] <|start_header_id|>ROLE<|end_header_id|>\n\n CONTENT
//             <|eot_id|> ... [<|start_header_id|>assistant<|end_header_id|>\n\n]
//   Mistral:  [bos if a system message] " [INST] " [SYSTEM "\n\n"] USER " [/INST]"
//             " " ASSISTANT eos ...   (no generation prompt: the text ends with [/INST])
//   Gemma:    [bos if a system message] <start_of_turn>ROLE\n CONTENT <end_of_turn>\n ...
//             [<start_of_turn>model\n]   (role "assistant" is written "model")
// Llama 3 and Gemma trim each content (Python's str.strip); Mistral uses it as given and
// accepts only user/assistant after an optional leading system message (else an Error).
// Tokenize the result with add_special_tokens = false, as transformers' apply_chat_template does.
#pragma once

#include <string>
#include <vector>

namespace t2l {

class Tokenizer;

enum class ChatFormat { Llama3, Mistral, Gemma, ChatML };

struct ChatMessage {
    std::string role;     // "system", "user" or "assistant"
    std::string content;
};

std::string render_chat(ChatFormat format, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& bos_token, const std::string& eos_token);

// "llama3" / "llama", "mistral", "gemma", "chatml" (as in a model family name); Error otherwise.
ChatFormat chat_format_from_name(const std::string& name);
const char* chat_format_name(ChatFormat format);
// Guess from the special tokens a tokenizer has; false when none of the three fits.
bool detect_chat_format(const Tokenizer& tokenizer, ChatFormat* format);

}  // namespace t2l

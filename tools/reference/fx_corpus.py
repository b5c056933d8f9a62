"""Text corpora used by the fixtures.

- read_descriptions(): rows of ../shared/data/task_descriptions.tsv (task, source, in_training, text).
- tokenizer_training_texts(): what the fixture tokenizers are trained on (all descriptions plus a
  little code/numbers so those have pieces of their own).
- tokenizer_test_corpus(): >= 2,000 strings whose token ids every tokenizer fixture records:
  task descriptions and hand-written edge cases (code, numbers, whitespace runs, accents, CJK,
  emoji, control characters, escaped lone surrogates, very long words, special-token lookalikes).
Everything is deterministic: fixed selection rules and random.Random with fixed integer seeds.
"""

import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))


def tsv_path():
    for cand in (
        os.path.join(REPO, "..", "shared", "data", "task_descriptions.tsv"),
        os.path.join(REPO, "shared", "data", "task_descriptions.tsv"),
        os.environ.get("T2L_DESCRIPTIONS_TSV", ""),
    ):
        if cand and os.path.exists(cand):
            return os.path.normpath(cand)
    raise FileNotFoundError("task_descriptions.tsv not found (expected ../shared/data/ next to the repo, or set T2L_DESCRIPTIONS_TSV)")


def read_descriptions():
    rows = []
    with open(tsv_path(), encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        assert header == ["task", "source", "in_t2l_training_set", "description"], header
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                continue
            rows.append(tuple(parts))
    return rows


CODE_SNIPPETS = [
    "def add(a, b):\n    return a + b\n",
    "for (int i = 0; i < n; ++i) { sum += x[i] * y[i]; }",
    "#include <stdio.h>\nint main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
    '{"name": "t2l", "version": [1, 2, 3], "ok": true, "none": null}',
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
    "x = [i**2 for i in range(10) if i % 2 == 0]  # squares",
    "if __name__ == '__main__':\n    main()",
    "git commit -m 'fix: handle lone surrogates' && git push origin main",
    "const f = (x) => x ?? 0; let y = `template ${f(1)}`;",
    "fn main() { let v: Vec<u8> = vec![0xde, 0xad, 0xbe, 0xef]; println!(\"{:?}\", v); }",
    "<html><body class=\"main\"><p>Hello &amp; welcome</p></body></html>",
    "a_b__c___d ____init____ self.__dict__['x']",
    "while(1){if(x>=y&&y!=z||!w)break;}",
    "matrix[i][j] += alpha * A[i][k] * B[k][j];",
    "    indented with four spaces\n        and eight",
    "\tTabbed\tcolumns\tof\tdata\n1\t2\t3\t4",
    "$ ls -la /usr/local/bin | grep -E '^d' | wc -l",
    "print(f\"{value:>10.3f} | {name!r:<20}\")",
    "// TODO(someone): remove this hack\r\n/* block */",
    "import torch.nn.functional as F; y = F.silu(x) * torch.sigmoid(g)",
]

NUMBERS = [
    "0", "7", "42", "123", "1234", "12345", "123456789", "3.14159", "2.718281828459045",
    "1e-10", "6.022e23", "-17", "+5", "1,000,000", "1.000.000,00", "0x7FFFFFFF", "0b1011",
    "2024-06-15", "12:34:56", "v1.2.3-rc4", "99.9%", "$1,299.99", "€5", "1/2", "3/4 cup",
    "12345678901234567890123456789", "000123", "3rd", "21st century", "10x faster",
    "٣٤٥ (Arabic-Indic digits)", "१२३ (Devanagari digits)", "１２３ (fullwidth digits)",
    "Ⅻ roman numeral", "½ ¾ ⅓", "2²=4, x³", "π ≈ 3.14", "∑ i = n(n+1)/2",
]

WHITESPACE = [
    "", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n\n", " \n ", "a  b", "a   b", "a    b",
    "a\tb", "a\t\tb", "a\nb", "a\n\nb", "a \n b", " leading space", "  two leading",
    "trailing space ", "trailing two  ", "   both   ", "word\u00a0nbsp", "ideographic\u3000space",
    "em\u2003space", "thin\u2009space", "zero\u200bwidth", "line\u2028separator",
    "para\u2029separator", "\u0085next line", "x\x0by\x0cz", "end with newline\n",
    "\n\nstarts with newlines", "multiple     spaces     between     words",
    "tabs\tand  spaces \t mixed", "   \t\n  ", "\u3000\u3000",
]

ACCENTS = [
    "café", "naïve", "résumé", "Ångström", "façade", "jalapeño", "Zürich", "São Paulo",
    "Dvořák", "Łódź", "Øresund", "crème brûlée", "coöperate", "ÉCOLE", "Ærø", "İstanbul",
    "straße", "ﬁnance ligature", "e\u0301 (e + combining acute)", "n\u0303o", "A\u030a",
    "Ελληνικά κείμενα", "Русский текст", "Українська", "עברית", "العربية", "हिन्दी",
    "ไทย", "ქართული", "Հայերեն", "Tiếng Việt có dấu", "Ἀθῆναι", "ǅemal", "ŉ ſ ƒ",
]

CJK = [
    "中文", "中文字符测试", "机器学习", "你好，世界！", "日本語のテキスト", "ひらがな", "カタカナ",
    "漢字と仮名", "한국어", "안녕하세요 세계", "繁體中文測試", "「引用」『二重』", "。、・",
    "東京タワー333m", "ｈａｌｆｗｉｄｔｈ　ｆｕｌｌ", "ｶﾀｶﾅ半角", "𠀀𠀁 (CJK ext B)",
    "mixed 中文 and English", "数学题：1+1=2", "⿰氵青",
]

EMOJI = [
    "👍", "👍🏽", "😀😃😄", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "🇯🇵🇺🇸", "❤️", "☺︎",
    "🤖 robot", "emoji at end 🎉", "🎉 emoji at start", "a🍕b", "🧑\u200d💻 coder",
    "1️⃣2️⃣", "🫠", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "♠♣♥♦", "✓ ✗ ✔ ✘", "→ ← ↑ ↓ ⇒", "★☆", "©®™", "░▒▓█",
]

CONTROL = [
    "\x00", "a\x00b", "\x01\x02\x03", "\x07bell", "\x08backspace", "\x1b[31mred\x1b[0m",
    "\x7f", "\x1f\x1e", "\u200e\u200f", "\ufeffBOM", "\ufffd replacement", "\ufffe\uffff",
    "soft\u00adhyphen", "\u2060word joiner", "\u202eRTL override", "\u034fcgj",
    "tab\x09inside", "cr\ronly", "\x85", "\x9b\x9c",
]

ESCAPED = [
    "\\ud800", "\\udfff", "\\ud83d\\ude00", "lone \\ud800 surrogate", "\\x00\\xff",
    "\\xff\\xfe", "%E2%82%AC", "%ZZ", "\\u0000", "\\n\\t\\r", "&#x1F600; &#128512;",
    "\\\\server\\share", "C:\\Program Files\\t2l", "\\N{SNOWMAN}", "\\U0001F600",
    "\xc3\xa9 (mojibake)", "Ã©Ã¨Ãª", "â€™ â€œ â€", "\\xc3\\x28",
]

SPECIAL_LOOKALIKES = [
    "<s>", "</s>", "<unk>", "<s>hello</s>", " <s> spaced </s> ", "<|begin_of_text|>",
    "<|begin_of_text|>Hello", "<|eot_id|><|start_header_id|>user<|end_header_id|>",
    "<|reserved_special_token_3|>", "<|end_of_text|> trailing", "[CLS] [SEP] [MASK] [PAD] [UNK]",
    "[cls] lower", "<bos><start_of_turn>user\nhi<end_of_turn>", "<start_of_turn>model",
    "<end_of_turn>\n", "<pad><eos>", "[INST] What is 2+2? [/INST]", "[INST]no spaces[/INST]",
    "<0x41>", "<0xFF>", "▁", "▁▁hello", "Ġhello", "##ing", "<|not_a_token|>", "<<s>>",
]

CONTRACTIONS = [
    "don't", "DON'T", "I'm", "I'M", "you're", "YOU'RE", "they've", "we'll", "WE'LL", "he'd",
    "it's", "IT'S", "o'clock", "rock 'n' roll", "'quoted'", "''", "'s", "the cat's toy",
    "students' papers", "can't won't shouldn't", "y'all'd've",
]

LONG_WORDS = [
    "a" * 300,
    "supercalifragilisticexpialidocious" * 4,
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 101,
    "ab" * 150,
    "Donaudampfschifffahrtsgesellschaftskapitänswitwe",
    "1" * 120,
    "-" * 80,
    "=" * 64 + ">",
    "ha" * 60 + "!",
    "中" * 40,
    "🙂" * 30,
    "hyper" * 25 + "network",
    "https://example.com/a/very/long/path/with/many/segments?query=value&other=thing#frag",
    "averyveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryverylongtokenwithoutspaces",
]

MISC = [
    "Hello, world!", "Hello world", "hello world", "HELLO WORLD", "Hello,world", "Hello ,world",
    "The quick brown fox jumps over the lazy dog.", "A.B.C.", "e.g., i.e., etc.",
    "Mr. Smith's T2L hypernetwork generates LoRA adapters.", "U.S.A.", "...", "…", "?!?!",
    "«guillemets»", "“curly quotes”", "‘single’", "—em dash—", "–en dash–", "semi;colon:colon",
    "(parens) [brackets] {braces} <angles>", "email@example.com", "@mention #hashtag",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE", "a-b-c", "a/b/c", "a|b|c",
    "TaskDescription: answer multiple-choice science questions",
    "Summarize the text.", "Translate English to French: cheese =>",
]


def _mixes(rng, pools, n):
    """Random concatenations of pieces from the pools: exercises boundaries between categories."""
    out = []
    flat = [s for pool in pools for s in pool if s]
    seps = ["", " ", "  ", "\n", "\t", ", ", " - "]
    for _ in range(n):
        k = rng.randint(2, 4)
        parts = [rng.choice(flat) for _ in range(k)]
        s = parts[0]
        for p in parts[1:]:
            s += rng.choice(seps) + p
        out.append(s)
    return out


def _char_soup(rng, n):
    """Short strings of random code points drawn from several blocks (valid UTF-8 only)."""
    ranges = [
        (0x20, 0x7E), (0xA0, 0x17F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
        (0x900, 0x97F), (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAC80), (0x1F300, 0x1F64F),
        (0x2000, 0x206F), (0xFF00, 0xFF60),
    ]
    out = []
    for _ in range(n):
        length = rng.randint(1, 24)
        chars = []
        for _ in range(length):
            lo, hi = rng.choice(ranges)
            chars.append(chr(rng.randint(lo, hi)))
        out.append("".join(chars))
    return out


def tokenizer_test_corpus():
    """The >= 2,000 strings every tokenizer fixture is checked on (order is part of the fixture)."""
    rows = read_descriptions()
    # Every 73rd description (deterministic, spread over all 511 tasks) -> ~1,400 strings.
    descs = [r[3] for i, r in enumerate(rows) if i % 73 == 0]
    hand = (CODE_SNIPPETS + NUMBERS + WHITESPACE + ACCENTS + CJK + EMOJI + CONTROL + ESCAPED
            + SPECIAL_LOOKALIKES + CONTRACTIONS + LONG_WORDS + MISC)
    rng = random.Random(20250611)
    mixes = _mixes(rng, [CODE_SNIPPETS, NUMBERS, WHITESPACE, ACCENTS, CJK, EMOJI, CONTROL, ESCAPED,
                         SPECIAL_LOOKALIKES, CONTRACTIONS, MISC, descs[:50]], 300)
    soup = _char_soup(random.Random(7), 120)
    # Descriptions with their case/whitespace perturbed.
    pert = []
    prng = random.Random(99)
    for d in descs[:80]:
        choice = prng.randint(0, 3)
        if choice == 0:
            pert.append(d.upper())
        elif choice == 1:
            pert.append("  " + d.replace(" ", "  ") + "  ")
        elif choice == 2:
            pert.append(d.replace(" ", "\n"))
        else:
            pert.append(d.lower().replace(".", " ."))
    corpus = descs + hand + mixes + soup + pert
    for s in corpus:
        s.encode("utf-8")  # every string must be valid UTF-8 (no lone surrogates)
    assert len(corpus) >= 2000, len(corpus)
    return corpus


def tokenizer_training_texts():
    """Training text for the fixture tokenizers: all descriptions, plus code and numbers."""
    rows = read_descriptions()
    texts = [r[3] for r in rows]
    extra = CODE_SNIPPETS + NUMBERS + MISC + CONTRACTIONS
    return texts + extra * 20

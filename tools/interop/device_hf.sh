#!/usr/bin/env bash
# device_hf.sh — the HF transformers + peft leg of the adapter interop on a machine that has
# torch, transformers and peft but cannot download anything (hf_peft_logits.py runs as well on
# this CPU; this is for a GPU machine).
#
#   bash tools/interop/device_hf.sh stage     here, after run_parity.sh adapter: fills weights/.interop/
#   bash tools/interop/device_hf.sh part N    there: keeps part N of the GGUF in /tmp/t2l-hf
#   bash tools/interop/device_hf.sh run       there: joins the GGUF, installs gguf, writes $OUT/hf_*.npy
#
# weights/ is git-ignored, so weights/.interop/ travels only where it is carried. The GGUF
# (98 MB) is larger than one transfer allows, so it goes over in three parts, one call each;
# `run` checks the joined file's sha256 against weights/manifest.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
stage="$root/weights/.interop"
WORK=${WORK:-/tmp/t2l-interop}
keep=/tmp/t2l-hf
case "${1:-}" in
    stage)
        [ -f "$WORK/logits/tokens.json" ] || { echo "device_hf.sh: run run_parity.sh adapter first ($WORK/logits/tokens.json)" >&2; exit 1; }
        rm -rf "$stage" && mkdir -p "$stage/whl"
        split -b 34000000 -d -a 1 "$root/weights/.cache/smollm2.gguf" "$stage/smollm2.gguf.part"
        cp -r "$WORK/adapter" "$stage/adapter"
        cp "$WORK/logits/tokens.json" "$stage/tokens.json"
        python3 -m pip download -q --no-deps --only-binary=:all: -d "$stage/whl" gguf==0.19.0
        ls -l "$stage" "$stage/whl"
        ;;
    part)
        mkdir -p "$keep" && cp "$stage/smollm2.gguf.part$2" "$keep/"
        ls -l "$keep"
        ;;
    run)
        mkdir -p "$keep"
        [ -f "$stage/smollm2.gguf.part2" ] && cp "$stage/smollm2.gguf.part2" "$keep/"
        cat "$keep/smollm2.gguf.part0" "$keep/smollm2.gguf.part1" "$keep/smollm2.gguf.part2" > "$keep/smollm2.gguf"
        want=$(awk '$1 == "gguf" && $2 == "smollm2" {print $5}' "$root/weights/manifest.txt")
        got=$(sha256sum "$keep/smollm2.gguf" | cut -d' ' -f1)
        [ "$want" = "$got" ] || { echo "device_hf.sh: joined GGUF sha256 $got, manifest says $want" >&2; exit 1; }
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$stage"/whl/*.whl
        export PYTHONPATH=/tmp/site
        python3 -c "import importlib.metadata, torch, transformers, peft, gguf; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'gguf', importlib.metadata.version('gguf'), 'gpu', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')"
        python3 "$root/tools/interop/hf_peft_logits.py" --gguf "$keep/smollm2.gguf" --adapter "$stage/adapter" \
            --tokens "$stage/tokens.json" --out "${OUT:-$keep/out}"
        ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
esac

#!/usr/bin/env bash
# run_parity.sh — t2l against llama.cpp on the same GGUF files, in one run: tokenisation,
# greedy continuations, per-position logits, decode speed (parity.py), then the LoRA adapter
# interop on SmolLM2 (adapter_interop.py). See tools/interop/README.md.
#
#   LLAMA_CPP_DIR=/work/llama.cpp bash tools/interop/run_parity.sh [smollm2] [gemma3-270m] [adapter]
#
# LLAMA_CPP_DIR is a llama.cpp source tree outside this repository; libllama is built there
# (CPU only, build/) when missing, and llama_interop.cpp is compiled against it into $WORK.
# Without LLAMA_CPP_DIR nothing runs. T2L (default ./t2l) and T2L_CONVERT are the binaries to
# test; the GGUFs are weights/.cache/NAME.gguf (`make weights WEIGHTS_MODELS="smollm2
# gemma3-270m"`). THREADS (default 2) is given to both engines; PARTS picks parity.py's
# comparisons (tokenize,greedy,logits,speed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -z "${LLAMA_CPP_DIR:-}" ]; then
    echo "run_parity.sh: set LLAMA_CPP_DIR to a llama.cpp source tree (outside this repository)" >&2
    exit 2
fi
T2L=${T2L:-$root/t2l}
T2L_CONVERT=${T2L_CONVERT:-$(dirname "$T2L")/t2l-convert}
WORK=${WORK:-/tmp/t2l-interop}
THREADS=${THREADS:-2}
JOBS=${JOBS:-2}
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(smollm2 gemma3-270m adapter)
mkdir -p "$WORK"

# libllama, CPU only, shared; then the small program that drives it.
lib="$LLAMA_CPP_DIR/build/bin/libllama.so"
if [ ! -f "$lib" ]; then
    echo "== building libllama in $LLAMA_CPP_DIR/build"
    cmake -S "$LLAMA_CPP_DIR" -B "$LLAMA_CPP_DIR/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=ON \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF \
        -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >/dev/null
    nice -n 10 cmake --build "$LLAMA_CPP_DIR/build" --target llama -j"$JOBS" >/dev/null
fi
bin="$WORK/llama_interop"
if [ ! -x "$bin" ] || [ "$here/llama_interop.cpp" -nt "$bin" ] || [ "$lib" -nt "$bin" ]; then
    g++ -O2 -std=c++17 "$here/llama_interop.cpp" -o "$bin" -I"$LLAMA_CPP_DIR/include" -I"$LLAMA_CPP_DIR/ggml/include" \
        -L"$LLAMA_CPP_DIR/build/bin" -lllama -lggml -lggml-base -lggml-cpu -Wl,-rpath,"$LLAMA_CPP_DIR/build/bin"
fi
ggml_version=$(sed -n 's/^set(GGML_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))/\2/p' "$LLAMA_CPP_DIR/ggml/CMakeLists.txt" | paste -sd.)
llama_version="no git metadata"
[ -d "$LLAMA_CPP_DIR/.git" ] && llama_version=$(git -C "$LLAMA_CPP_DIR" describe --tags --always 2>/dev/null || echo "$llama_version")
echo "llama.cpp: $LLAMA_CPP_DIR ($llama_version, ggml $ggml_version), CPU build"
echo "t2l: $T2L; threads: $THREADS; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"

cd "$here"
for w in "${what[@]}"; do
    case "$w" in
        smollm2|gemma3-270m)
            gguf="$root/weights/.cache/$w.gguf"
            [ -f "$gguf" ] || { echo "run_parity.sh: $gguf is missing: make weights WEIGHTS_MODELS=\"$w\"" >&2; exit 1; }
            # The shipped conversion (bf16) and an exact f32 one (every dequantised value kept).
            [ -f "$WORK/$w-f32.t2l" ] && [ "$WORK/$w-f32.t2l" -nt "$T2L_CONVERT" ] || "$T2L_CONVERT" "$gguf" -o "$WORK/$w-f32.t2l" --dtype f32 >"$WORK/convert-$w.log" 2>&1
            # The same dequantisation done by llama.cpp (llama_model_quantize to F32): both engines
            # then hold identical weights, and only the arithmetic differs.
            [ -f "$WORK/$w-f32.gguf" ] || "$bin" dequantize -m "$gguf" -o "$WORK/$w-f32.gguf"
            python3 parity.py --name "$w" --gguf "$gguf" --gguf-f32 "$WORK/$w-f32.gguf" \
                --model "$WORK/$w-f32.t2l" --model "ggml:$WORK/$w-f32.t2l" --model "$root/weights/$w.t2l" \
                --t2l "$T2L" --llama "$bin" --work "$WORK" --threads "$THREADS" --json "$WORK/parity-$w.json" \
                --parts "${PARTS:-tokenize,greedy,logits,speed}"
            ;;
        adapter)
            gguf="$root/weights/.cache/smollm2.gguf"
            [ -f "$WORK/smollm2-f32.t2l" ] || "$T2L_CONVERT" "$gguf" -o "$WORK/smollm2-f32.t2l" --dtype f32 >"$WORK/convert-smollm2.log" 2>&1
            [ -f "$WORK/smollm2-f32.gguf" ] || "$bin" dequantize -m "$gguf" -o "$WORK/smollm2-f32.gguf"
            python3 gen_adapter.py -o "$WORK/adapter"
            "$T2L" convert-adapter "$WORK/adapter" --format gguf --base "$root/weights/smollm2.t2l" -o "$WORK/adapter.gguf"
            python3 adapter_interop.py --gguf "$gguf" --gguf-f32 "$WORK/smollm2-f32.gguf" --model "$WORK/smollm2-f32.t2l" --model "$root/weights/smollm2.t2l" \
                --adapter "$WORK/adapter" --adapter-gguf "$WORK/adapter.gguf" --t2l "$T2L" --llama "$bin" \
                --out "$WORK/logits" --threads "$THREADS"
            python3 compare_engines.py "$WORK/logits"
            ;;
        *) echo "run_parity.sh: unknown part '$w' (smollm2, gemma3-270m, adapter)" >&2; exit 2 ;;
    esac
done

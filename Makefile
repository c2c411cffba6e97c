# qwenvl: the two entry points of the README, and the steps they are made of.
#   make demo   install what is needed, build, answer questions about a picture with the demo checkpoint
#   make test   install what is needed, build with -Werror, run every test, then the sanitizer build

BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-release test-asan clean

all: build

deps:
	./scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

demo: build
	./scripts/demo.sh $(BUILD)

test: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DQWENVL_WERROR=ON $(CMAKE_FLAGS)
	ninja -C $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900
	$(MAKE) test-asan

# AddressSanitizer + UndefinedBehaviorSanitizer build of the test suite: every C++ suite runs under
# the sanitizers (the browser and install tests, which exercise no more C++, run in the release
# build only).
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DQWENVL_WERROR=ON -DQWENVL_SANITIZE=ON -DQWENVL_BENCH=OFF $(CMAKE_FLAGS)
	ninja -C $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 1800 -LE 'web|install'

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

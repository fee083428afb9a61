# The common tasks, so that nobody needs to know CMake:
#   make          build (release) into build/
#   make test     install dependencies, build, run every test (release), then
#                 the sanitizer configuration (ASan + UBSan) in build-asan/
#   make demo     install dependencies, build, and run the driver monitor on a clip
#                 (Megamind.avi; CAMERA=/dev/video0 for a camera)
#   make demo-vision    face mesh + head pose + body pose per second of a clip
#   make demo-classify  the ResNet-50 vs ONNX Runtime demo
#   make bench-tfjs     ledge vs TF.js WASM on the TF.js models only
#   make bench    build and run the benchmarks in bench/
#   make fuzz     build the libFuzzer targets with clang and fuzz the ONNX loader
#                 (FUZZ_TARGET=fuzz_npy|fuzz_tfjs|fuzz_media|fuzz_train_data|fuzz_ledge|fuzz_serve_decode for the other parsers;
#                 FUZZ_SECONDS=N)
#   make format   clang-format the C sources
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 120
FUZZ_TARGET ?= fuzz_onnx
CMAKE_FLAGS ?=

.PHONY: all build deps test test-release test-asan demo demo-vision demo-classify bench bench-tfjs fuzz format clean

all: build

deps:
	@scripts/install-deps

build:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: deps
	@$(MAKE) --no-print-directory test-release
	@$(MAKE) --no-print-directory test-asan

test-release: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure

test-asan:
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEDGE_SANITIZE=ON \
	  $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest -j $(JOBS) --output-on-failure

demo: deps build
	@CAMERA="$(CAMERA)" scripts/driver-demo.sh $(BUILD)/bin/ledge

demo-vision: deps build
	@scripts/demo.sh $(BUILD)/bin/ledge

demo-classify: deps build
	@scripts/demo-classify.sh $(BUILD)/bin/ledge

bench: build
	@bench/run.sh $(BUILD)/bin/ledge
	@/usr/bin/python3 bench/tfjs_wasm/run.py --build $(BUILD)

bench-tfjs: build
	@/usr/bin/python3 bench/tfjs_wasm/run.py --build $(BUILD)

fuzz:
	@cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DLEDGE_FUZZ=ON -DLEDGE_SANITIZE=ON -DLEDGE_NETWORK_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(FUZZ_TARGET)
	@mkdir -p $(FUZZ_BUILD)/corpus-$(FUZZ_TARGET) $(FUZZ_BUILD)/seeds-$(FUZZ_TARGET) tests/fuzz/crashers
	@case $(FUZZ_TARGET) in \
	  fuzz_onnx) for d in /usr/share/libonnx-testdata/data/*/*/; do \
	    cp -n "$$d/model.onnx" "$(FUZZ_BUILD)/seeds-$(FUZZ_TARGET)/$$(basename $$d).onnx" 2>/dev/null || true; done ;; \
	  fuzz_npy) cp -n tests/data/npy/*.npy $(FUZZ_BUILD)/seeds-$(FUZZ_TARGET)/ 2>/dev/null || true ;; \
	  fuzz_serve_decode) cp -n tests/serve/fuzz_seeds/* $(FUZZ_BUILD)/seeds-$(FUZZ_TARGET)/ ;; \
	  fuzz_ledge) cp -n tests/data/ledge/*.ledge $(FUZZ_BUILD)/seeds-$(FUZZ_TARGET)/ 2>/dev/null || true ;; \
	  fuzz_media) cp -n /usr/lib/python3/dist-packages/skimage/data/*.png \
	    /usr/share/doc/opencv-doc/examples/data/*.jpg $(FUZZ_BUILD)/seeds-$(FUZZ_TARGET)/ 2>/dev/null || true ;; \
	  fuzz_train_data) cp -n tests/fuzz/seeds/train_data/* $(FUZZ_BUILD)/seeds-$(FUZZ_TARGET)/ ;; \
	esac
	ASAN_OPTIONS=allocator_may_return_null=1 $(FUZZ_BUILD)/bin/$(FUZZ_TARGET) -max_total_time=$(FUZZ_SECONDS) \
	  -rss_limit_mb=2048 -timeout=10 -max_len=65536 -artifact_prefix=tests/fuzz/crashers/$(FUZZ_TARGET)- \
	  $(FUZZ_BUILD)/corpus-$(FUZZ_TARGET) $(FUZZ_BUILD)/seeds-$(FUZZ_TARGET)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# Sluice: build, serve and test. See README.md.
SWIFT ?= swift
HOST ?= 127.0.0.1
PORT ?= 8080
MODEL ?= .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
SERVE_FLAGS ?=
# Tests run on the release build: the engine's tests are too slow in debug.
SWIFT_TEST_FLAGS ?= -c release -Xswiftc -enable-testing

.PHONY: bootstrap build serve test swift-test client-test format lint bench clean

bootstrap:
	@scripts/bootstrap.sh

build: bootstrap
	$(SWIFT) build -c release --product sluice

serve: build
	.build/release/sluice serve --host $(HOST) --port $(PORT) --model $(MODEL) $(SERVE_FLAGS)

test: bootstrap
	$(SWIFT) build $(SWIFT_TEST_FLAGS) --product sluice
	$(SWIFT) test $(SWIFT_TEST_FLAGS)
	SLUICE_BINARY=.build/release/sluice .venv/bin/python -m pytest -q Tests/EndToEnd

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

lint:
	$(SWIFT) format lint --recursive Sources Tests Package.swift

bench: bootstrap
	scripts/bench.sh

clean:
	rm -rf .build

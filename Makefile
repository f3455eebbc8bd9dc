# obs: build, test, bench, fuzz, demo.
GO       ?= go
BIN      ?= bin
PREFIX   ?= /usr/local
FUZZTIME ?= 5s
# Tests share two cores with BPF-attached fixtures: keep parallelism modest.
TESTFLAGS ?= -p 2 -timeout 12m

.PHONY: all build test bench fuzz demo install vet fmt clean

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/obs ./cmd/obs

test:
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

bench: build
	bash scripts/bench.sh

fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

demo: build
	bash scripts/demo.sh

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN)/obs $(DESTDIR)$(PREFIX)/bin/obs

clean:
	rm -rf $(BIN)

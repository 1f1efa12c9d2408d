# Ziett Campaigns. `make run` starts everything locally; `make test` runs
# every test, starting the broker and databases it needs itself.

GO        ?= go
BIN       := bin/ziett
PKGS      := ./...
TEST_FLAGS ?=

.PHONY: run build test fuzz bench lint fmt clean

build:
	$(GO) build -o $(BIN) ./cmd/ziett

run: build
	./$(BIN) dev

test:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 12m $(TEST_FLAGS) $(PKGS)

# Longer fuzzing than the committed corpus that `make test` replays.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseRequest -fuzztime 60s ./domain/campaign/

bench: build
	$(GO) run ./cmd/ziett bench

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin var

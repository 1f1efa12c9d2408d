# Ziett Campaigns. `make run` starts everything locally; `make test` runs
# every test, starting the broker and databases it needs itself.

GO        ?= go
BIN       := bin/ziett
PKGS      := ./...
TEST_FLAGS ?=

.PHONY: run build test fuzz bench bench-kannel chaos lint fmt clean screenshots bench-dashboard

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/ziett

run: build
	./$(BIN) dev

test:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 12m $(TEST_FLAGS) $(PKGS)

# Longer fuzzing than the committed corpora that `make test` replays, one
# target after the other (go test fuzzes one target per run).
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseBatch$$' -fuzztime $(FUZZTIME) ./adapters/httpapi/
	$(GO) test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME) ./domain/phone/
	$(GO) test -run '^$$' -fuzz '^FuzzBatch$$' -fuzztime $(FUZZTIME) ./adapters/httpapi/contract/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./adapters/smpp/
	$(GO) test -run '^$$' -fuzz '^FuzzSplitText$$' -fuzztime $(FUZZTIME) ./adapters/smpp/

# The load benchmark (BENCHMARKS.md): its own program, cmd/ziett-bench, not
# part of the ziett binary. BENCH_FLAGS=-quick for a short run.
BENCH_FLAGS ?=
bench: bench-dashboard
	$(GO) run ./cmd/ziett-bench $(BENCH_FLAGS)

# Kannel (bearerbox, smsbox) and Ziett over SMPP into one embedded SMSC, side
# by side (BENCHMARKS.md). Needs Debian's kannel; not part of `make test`.
KANNEL_FLAGS ?=
bench-kannel:
	$(GO) run ./cmd/ziett-bench kannel $(KANNEL_FLAGS)

# Kill -9 the whole `ziett dev` 20 times, then single `ziett serve`
# components 20 times, under load; then check the books (RELIABILITY.md).
# Not part of `make test`: it takes several minutes.
# cmd/ziett-chaos drives the ziett binary from outside.
CHAOS_FLAGS ?=
chaos: build
	$(GO) build -o bin/ziett-chaos ./cmd/ziett-chaos
	./bin/ziett-chaos -ziett $(BIN) $(CHAOS_FLAGS)

# The dashboard's campaign list for an organisation with 10,000 campaigns:
# p50 and p99 per case (BENCHMARKS.md, "Dashboard").
bench-dashboard:
	$(GO) test -run '^$$' -bench '^BenchmarkCampaignList$$' -benchtime 500x ./adapters/dashboard/

# PNG screenshots of the dashboard's main pages (docs/screenshots), taken
# by headless Chromium from a fresh stack with sample campaigns.
screenshots:
	ZIETT_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestScreenshots$$' ./adapters/dashboard/

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin var

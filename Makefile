# reos — `make green` is the main job, `make test` runs the tests.
# Every target prepares the machine first (scripts/setup, idempotent).
GO ?= go

.PHONY: green green-race test race up bench fuzz mutants setup

green: setup ## run the eight flows in mock mode, then in production mode against the contract doubles; seal and verify the evidence
	$(GO) run ./cmd/reos green

green-race: setup ## make green with the suite and the product built with the race detector: a data race fails it
	$(GO) run ./cmd/reos green --race

test: setup ## check formatting, vet, and run every test against real PostgreSQL, Redis and RabbitMQ (the flows run in make green)
	@unformatted=$$("$$($(GO) env GOROOT)/bin/gofmt" -l .); if [ -n "$$unformatted" ]; then echo "not gofmt-ed (run gofmt -w):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@mkdir -p .reos/test; started=$$(date -u +%Y-%m-%dT%H:%M:%SZ); status=0; \
	$(GO) tool gotestsum --format pkgname --junitfile .reos/test/junit.xml -- -count=1 $$($(GO) list ./... | grep -v '/suites$$') || status=$$?; \
	dirty=false; [ -z "$$(git status --porcelain 2>/dev/null)" ] || dirty=true; \
	printf '{"command":"make test","commit":"%s","dirty":%s,"started":"%s","ended":"%s","exit_status":%d,"junit":"junit.xml"}\n' \
	  "$$(git rev-parse HEAD 2>/dev/null || echo unknown)" $$dirty $$started $$(date -u +%Y-%m-%dT%H:%M:%SZ) $$status > .reos/test/facts.json; \
	echo "results: .reos/test/junit.xml (make green's packs carry them under verdict/)"; exit $$status
	@echo "the eight flows run in make green (or: go tool ginkgo -p ./suites)"

race: setup ## every test with the race detector (about four minutes here)
	$(GO) test -race -count=1 ./...

up: setup ## run the product in mock mode on http://127.0.0.1:8000
	$(GO) run ./cmd/reos up

mutants: setup ## plant each bug of the catalog (internal/mutants) in a scratch copy, run its checks, write the kill matrix (.reos/mutants)
	$(GO) run ./cmd/reos mutants

bench: setup ## every benchmark's figures, then each hot path against its anchor measured in the same run (wrk; Prism from the npm registry)
	GO=$(GO) scripts/bench

FUZZ_TARGETS = ./system/api:FuzzDecodeJSONBody ./system/provider/twilio:FuzzValidateSignature \
	./system/provider/sendgrid:FuzzVerify ./system/webhook:FuzzVerify ./system/mocktwilio:FuzzCreate \
	./system/postgres:FuzzParseVersionNotice ./mocks/sendgrid:FuzzMailSend \
	./mocks/openai:FuzzChatCompletion ./mocks/gotenberg:FuzzConvertHTML ./system/api:FuzzListQuery ./mocks/s3:FuzzSignature ./cmd/reos:FuzzPeekName ./cmd/reos:FuzzParseQuestion

fuzz: ## run each fuzz test for FUZZTIME (default 30s); the seed corpus also runs in `make test`
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $${t##*:} ($${t%%:*})"; \
	  $(GO) test -run='^$$' -fuzz="^$${t##*:}\$$" -fuzztime=$${FUZZTIME:-30s} $${t%%:*} || exit 1; \
	done

setup:
	@scripts/setup

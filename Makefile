# awacompat: `make` lists the targets.
.DEFAULT_GOAL := help
MATRIX ?= matrix.yaml
OUT ?= awacompat-out
# The staticcheck release lint runs (CI too); change it here only.
STATICCHECK_VERSION ?= v0.8.2

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## install a PostgreSQL server, python3-venv, chromium and docker.io if missing, start dockerd (Debian)
	@bash scripts/setup.sh

build: ## build ./awacompat
	go build -o awacompat ./cmd/awacompat

run: setup build ## set up, then run matrix.yaml on the embedded server (results in awacompat-out/)
	./awacompat run $(MATRIX) --out $(OUT)

test: setup ## run every test (real PostgreSQL, real awa artifacts)
	go test -count=1 -timeout 80m ./...

lint: ## go vet and staticcheck (installed at the pinned version); fails on any finding
	go vet ./...
	go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	gobin="$$(go env GOBIN)"; "$${gobin:-$$(go env GOPATH)/bin}/staticcheck" ./...

fuzz: ## fuzz matrix loading and planning for FUZZTIME (default 30s; CI runs it)
	go test ./matrix -run '^$$' -fuzz FuzzLoadAndPlan -fuzztime $(or $(FUZZTIME),30s) -fuzzminimizetime 1s

bench: setup build ## time the shipped matrix warm (RUNS=1, ARGS="--parallel N"): bench.json, bench-out/
	go run ./cmd/awacompat-bench --awacompat ./awacompat --runs $(or $(RUNS),1) --args "$(ARGS)" --out bench.json $(MATRIX)

.PHONY: help setup build run test lint fuzz bench

# KubeVirt secondary-network DNS: status-monitor + zone-manager.
# `make help` lists the targets.

CARGO ?= cargo
DOMAIN ?= example.com
NAME_SERVER_IP ?= 192.0.2.53
ZONES_DIR ?= $(CURDIR)/zones

.PHONY: help
help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: demo
demo: ## Run status-monitor on examples/, writing $(ZONES_DIR)/db.vm.$(DOMAIN)
	mkdir -p $(ZONES_DIR)
	DOMAIN=$(DOMAIN) NAME_SERVER_IP=$(NAME_SERVER_IP) ZONES_DIR=$(ZONES_DIR) \
		$(CARGO) run --locked -p status-monitor -- --source-dir examples

.PHONY: render-examples
render-examples: ## Print the zone of examples/ (the one checked in under examples/expected)
	DOMAIN=$(DOMAIN) NAME_SERVER_IP=$(NAME_SERVER_IP) \
		$(CARGO) run --locked -q -p status-monitor -- render --serial 2026112101 examples

.PHONY: test
test: unit integration ## The whole test suite: unit and integration tiers

.PHONY: unit
unit: ## Unit tier: no cluster; real files, real inotify, BIND and Knot zone checkers
	hack/install-test-deps.sh unit
	$(CARGO) test --workspace --locked

.PHONY: integration
integration: ## Integration tier: real etcd + kube-apiserver (built once, cached), knotd, dig
	hack/install-test-deps.sh integration
	hack/kube-assets.sh >/dev/null
	$(CARGO) test --locked -p status-monitor --test integration -- --ignored --test-threads=1

.PHONY: build
build: ## Build the release binary
	$(CARGO) build --workspace --locked --release

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## rustfmt check, clippy with warnings as errors, shellcheck
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	bash -n hack/*.sh .ci/run
	if command -v shellcheck >/dev/null; then shellcheck hack/*.sh .ci/run; else echo "shellcheck not installed; skipped"; fi

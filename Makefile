# KubeVirt secondary-network DNS: status-monitor + zone-manager + CoreDNS.
# `make help` lists the targets.

CARGO ?= cargo
REGISTRY ?= quay.io
REPO ?= kubevirt-dns
IMG ?= $(REPO)/status-monitor
IMAGE_TAG ?= latest
OCI_BIN ?= $(shell if podman ps >/dev/null 2>&1; then echo podman; elif docker ps >/dev/null 2>&1; then echo docker; fi)
TLS_SETTING := $(if $(filter $(OCI_BIN),podman),--tls-verify=false,)
SHA := $(shell git describe --no-match --always --abbrev=40 --dirty 2>/dev/null)
# The cluster-* targets and functest act on kubevirtci's cluster whatever
# KUBECONFIG says, unless KUBECTL is given explicitly (KUBECTL=kubectl: the
# cluster of your KUBECONFIG). deploy, undeploy and create-nodeport use plain
# kubectl unless KUBECTL says otherwise.
CLUSTER_KUBECTL := $(if $(filter undefined default,$(origin KUBECTL)),$(CURDIR)/cluster/kubectl.sh,$(KUBECTL))
KUBECTL ?= kubectl
# cluster-sync's tag: unique to the tree (hack/image-tag.sh) unless IMAGE_TAG is
# given; the default "latest" would let nodes run a stale cached image. Not
# exported, so that a make run by a recipe still tells the default from a choice.
CLUSTER_IMAGE_TAG = $(if $(filter file,$(origin IMAGE_TAG)),$(shell hack/image-tag.sh),$(IMAGE_TAG))
export KUBECTL REGISTRY IMG

# Zone settings for `deploy` (empty: keep the ConfigMap's) and for the demo.
DOMAIN ?=
NAME_SERVER_IP ?=
export DOMAIN NAME_SERVER_IP
DEMO_DOMAIN ?= example.com
DEMO_NAME_SERVER_IP ?= 192.0.2.53
ZONES_DIR ?= $(CURDIR)/zones

.PHONY: help
help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

## Running without a cluster

.PHONY: demo
demo: ## Run status-monitor on examples/, writing $(ZONES_DIR)/db.vm.$(DEMO_DOMAIN)
	mkdir -p $(ZONES_DIR)
	@echo "demo: metrics at http://127.0.0.1:8081/metrics (curl it in a second terminal); alerts and a dashboard: docs/monitoring.md"
	DOMAIN=$(DEMO_DOMAIN) NAME_SERVER_IP=$(DEMO_NAME_SERVER_IP) ZONES_DIR=$(ZONES_DIR) HTTP_ADDR=127.0.0.1:8081 LOCAL_DNS_ADDR= \
		$(CARGO) run --locked -p status-monitor -- --source-dir examples

.PHONY: render-examples
render-examples: ## Print the zone of examples/ (the one checked in under examples/expected)
	DOMAIN=$(DEMO_DOMAIN) NAME_SERVER_IP=$(DEMO_NAME_SERVER_IP) \
		$(CARGO) run --locked -q -p status-monitor -- render --serial 2026112101 examples

## Tests

.PHONY: test
test: unit integration cluster-test ## The whole test suite: unit, integration and cluster tiers

.PHONY: unit
unit: ## Unit tier: no cluster; real files, real inotify, BIND and Knot zone checkers
	hack/install-test-deps.sh unit
	$(CARGO) test --workspace --locked

.PHONY: integration
integration: ## Integration tier: real etcd + kube-apiserver (built once, cached), knotd, dig
	hack/install-test-deps.sh integration
	hack/kube-assets.sh >/dev/null
	$(CARGO) test --locked -p status-monitor --test integration -- --ignored --test-threads=1

.PHONY: cluster-test
cluster-test: ## Cluster tier: a real local node (KUBEVIRT_PROVIDER=local), cluster-sync, functest with every overlay, cluster-down (root)
	hack/cluster-test.sh

.PHONY: bench
bench: ## Benchmarks: render+write 1k/10k/100k, one change in 100k, projection, burst, memory, the streaming decoder, network-mode memory (BENCHMARKS.md)
	$(CARGO) bench --locked -p zone-manager --bench zone
	$(CARGO) bench --locked -p status-monitor --bench projection
	$(CARGO) test --locked --release -p status-monitor --test burst -- --nocapture
	$(CARGO) bench --locked -p status-monitor --bench memory
	$(CARGO) bench --locked -p status-monitor --bench decode
	$(CARGO) bench --locked -p status-monitor --bench network_memory

.PHONY: bench-e2e
bench-e2e: ## End to end with CoreDNS: VMI change → answer, first answer, peak RSS, idle CPU, query latency (BENCH_E2E_SIZES, BENCH_E2E_NAMESPACES, BENCH_E2E_ZONES_MAX, BENCH_E2E_RELOAD), and with a silent secondary (BENCHMARKS.md)
	hack/install-test-deps.sh integration
	hack/kube-assets.sh >/dev/null
	$(CARGO) test --locked --release -p status-monitor --test bench_e2e -- --ignored --nocapture --test-threads=1
	$(CARGO) test --locked --release -p status-monitor --test zone_transfer -- --ignored --nocapture bench_

.PHONY: scale
scale: ## Scale on a real kube-apiserver: SCALE_VMIS (5000) VMIs, time to first zone and RSS
	hack/install-test-deps.sh integration
	hack/kube-assets.sh >/dev/null
	SCALE_VMIS=$${SCALE_VMIS:-5000} $(CARGO) test --locked --release -p status-monitor --test integration -- --ignored scale --nocapture

FUZZ_SECONDS ?= 20
.PHONY: fuzz
fuzz: ## Fuzz projection and rendering for FUZZ_SECONDS each (cargo-fuzz; the CI smoke run)
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	for target in projection render; do \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --fuzz-dir status-monitor/fuzz -s none $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

.PHONY: functest
functest: ## End-to-end tests on the cluster with the product deployed (fails without one)
	KUBECTL="$(CLUSTER_KUBECTL)" hack/functest.sh

.PHONY: image-check
image-check: ## Build what the Dockerfile's build stage copies, as it does, without an image engine
	hack/check-image-build.sh

## Build and deploy

.PHONY: binary
binary: ## Build the release binary (target/release/status-monitor)
	$(CARGO) build --workspace --locked --release

.PHONY: build
build: ## Build the image $(REGISTRY)/$(IMG):$(IMAGE_TAG) with $(OCI_BIN)
	$(OCI_BIN) build -t $(REGISTRY)/$(IMG):$(IMAGE_TAG) --build-arg git_sha=$(SHA) .

.PHONY: push
push: ## Push the image
	$(OCI_BIN) push $(TLS_SETTING) $(REGISTRY)/$(IMG):$(IMAGE_TAG)

.PHONY: manifests
manifests: ## Render deploy/ into the all-in-one manifest
	kubectl kustomize deploy > deploy/all-in-one/kubevirt-dns.yaml

.PHONY: deploy
deploy: ## Deploy to the cluster ($(KUBECTL)), image $(REGISTRY)/$(IMG):$(IMAGE_TAG)
	IMAGE_TAG="$(IMAGE_TAG)" hack/deploy.sh

.PHONY: undeploy
undeploy: ## Remove everything deploy (or an optional overlay) created
	# By label, not by manifest: a cluster without one of their kinds (1.20 has
	# no policy/v1) refuses a `delete -k`. The namespace holds the rest.
	$(KUBECTL) delete --ignore-not-found --wait=true namespace kubevirt-dns
	$(KUBECTL) delete --ignore-not-found clusterrolebindings,clusterroles -l app.kubernetes.io/name=kubevirt-dns

.PHONY: create-nodeport
create-nodeport: ## Expose DNS on NodePort 31111 (UDP and TCP)
	hack/create-nodeport.sh

## kubevirtci development cluster

.PHONY: cluster-up
cluster-up: ## Start a kubevirtci cluster with KubeVirt and Multus (CNAO)
	cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop it
	cluster/down.sh

.PHONY: cluster-sync
cluster-sync: ## Build, push under a tag unique to this tree, deploy it, NodePort 31111
	KUBECTL="$(CLUSTER_KUBECTL)" IMAGE_TAG="$(CLUSTER_IMAGE_TAG)" cluster/sync.sh

.PHONY: cluster-clean
cluster-clean: ## Remove the product from the cluster
	KUBECTL="$(CLUSTER_KUBECTL)" cluster/clean.sh

## Code

.PHONY: design-picture
design-picture: ## Render images/architecture.png from its Graphviz source
	dot -Tpng -Gdpi=110 images/architecture.dot -o images/architecture.png

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## rustfmt check, clippy -D warnings, bash -n and shellcheck on every script
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	for f in hack/*.sh cluster/*.sh cluster/local/*.sh .ci/run; do bash -n "$$f" || exit 1; done
	shellcheck -x hack/*.sh cluster/*.sh cluster/local/*.sh .ci/run

#!/usr/bin/env bash
# End-to-end tests against the cluster KUBECTL talks to (make functest: kubevirtci's
# cluster/kubectl.sh unless KUBECTL is given), with KubeVirt, Multus and this
# product deployed. Fails when no cluster answers or the product is missing.
# Environment: KUBECTL, DNS_SERVER (127.0.0.1), DNS_PORT (31111).
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECTL="${KUBECTL:-$PWD/cluster/kubectl.sh}"
command -v dig >/dev/null || { echo "functest: dig is needed (bind9-dnsutils)" >&2; exit 1; }

work="$(mktemp -d)"
cleanup() {
  # Namespaces a panicking test could not delete itself.
  $KUBECTL delete namespace -l kubevirt-dns.io/functest=true --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
}
if ! $KUBECTL get --request-timeout=10s --raw /version >"$work/version" 2>"$work/error"; then
  echo "functest: no cluster answers through '$KUBECTL': $(tail -n 1 "$work/error")" >&2
  echo "functest: run 'make cluster-up cluster-sync', or KUBECTL=kubectl for the cluster of your KUBECONFIG" >&2
  rm -rf "$work"
  exit 1
fi
trap cleanup EXIT
if ! $KUBECTL -n kubevirt-dns get --request-timeout=10s configmap kubevirt-dns >/dev/null 2>"$work/error"; then
  echo "functest: the product is not deployed: run 'make cluster-sync' (or make deploy create-nodeport)" >&2
  exit 1
fi
if [ "${KUBEVIRT_PROVIDER:-}" = local ]; then
  # No KubeVirt or Multus there: the tests' stand-in plays them with real pods
  # and real CNI plugins on the node (status-monitor/tests/common/kubevirt.rs).
  source cluster/local/config.sh
  export FUNCTEST_STANDIN_NETNS="$LOCAL_NETNS" FUNCTEST_STANDIN_IMAGE="$LOCAL_REGISTRY/pause:local"
  export FUNCTEST_STANDIN_CONTAINERD="$LOCAL_DIR/containerd/containerd.sock"
  export FUNCTEST_KUBELET_DIR="$LOCAL_DIR/kubelet"
fi
# The Rust tests reach the same cluster through a kubeconfig of their own.
$KUBECTL config view --raw --minify --flatten >"$work/kubeconfig"
export KUBECONFIG="$work/kubeconfig" FUNCTEST_REQUIRE_CLUSTER=1
export DNS_SERVER="${DNS_SERVER:-127.0.0.1}" DNS_PORT="${DNS_PORT:-31111}"
$KUBECTL delete namespace -l kubevirt-dns.io/functest=true --wait=true >/dev/null 2>&1 || true
functest() {
  cargo test --locked -p status-monitor --test functest -- --ignored --test-threads=1 --nocapture "$@"
}
functest --skip overlay_

# The optional overlays, each applied for real over the running product with
# its own images (as `make deploy DEPLOY_OVERLAY=...`), then deploy/ again.
images="$($KUBECTL -n kubevirt-dns get deployment kubevirt-dns \
  -o jsonpath='{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[1].image}')"
monitor_image="${images%% *}"
export COREDNS_IMAGE="${images##* }" REGISTRY="${monitor_image%%/*}"
IMG="${monitor_image#*/}"
export IMAGE_TAG="${IMG##*:}" IMG="${IMG%:*}"
$KUBECTL api-versions | grep -qx policy/v1 || export PDB_API_VERSION=policy/v1beta1
redeploy() {
  echo "functest: deploying $1" >&2
  DEPLOY_OVERLAY="$1" hack/deploy.sh >/dev/null
}
trap 'redeploy deploy || true; cleanup' EXIT
# The overlay's prerequisite: external-dns' DNSEndpoint CRD.
$KUBECTL apply -f status-monitor/tests/fixtures/dnsendpoint-crd.yaml >/dev/null
# deploy/zone-transfer's pods start only with the key's Secret: made by
# the command in docs/secondaries.md. The secondary (knotd) runs here, where the tests run.
if ! $KUBECTL -n kubevirt-dns get secret kubevirt-dns-transfer-key >/dev/null 2>&1; then
  awk '/<!-- secondaries: make-key -->/{f=1; next} f && /^```sh/{next} f && /^```/{exit} f' docs/secondaries.md >"$work/make-key.sh"
  (cd "$work" && sh make-key.sh)
  $KUBECTL -n kubevirt-dns create secret generic kubevirt-dns-transfer-key --from-file="$work/transfer.key" >/dev/null
fi
export FUNCTEST_SECONDARY_ADDRESS="${FUNCTEST_SECONDARY_ADDRESS:-${LOCAL_HOST_IP:-}}"
for overlay in network-addresses dns-endpoints zone-transfer; do
  redeploy "deploy/$overlay"
  functest "overlay_${overlay//-/_}_"
done

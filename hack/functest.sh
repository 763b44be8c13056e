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
cargo test --locked -p status-monitor --test functest -- --ignored --test-threads=1 --nocapture

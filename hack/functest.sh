#!/usr/bin/env bash
# End-to-end tests against a cluster with KubeVirt, Multus and this product
# deployed (make cluster-up cluster-sync). Without a reachable cluster the tests
# say so and skip. Environment: KUBECONFIG (default: kubevirtci's), DNS_SERVER
# (127.0.0.1), DNS_PORT (31111), DOMAIN (the one deployed).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${KUBECONFIG:-}" ] && [ -f cluster/cluster.sh ]; then
  # shellcheck source=cluster/cluster.sh
  source cluster/cluster.sh
  candidate="$(cluster::kubeconfig)"
  [ -f "$candidate" ] && export KUBECONFIG="$candidate"
fi
export DNS_SERVER="${DNS_SERVER:-127.0.0.1}" DNS_PORT="${DNS_PORT:-31111}"
command -v dig >/dev/null || { echo "functest: dig is needed (bind9-dnsutils)" >&2; exit 1; }
cargo test --locked -p status-monitor --test functest -- --ignored --test-threads=1 --nocapture

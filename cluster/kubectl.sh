#!/usr/bin/env bash
# kubectl against the kubevirtci cluster.
set -euo pipefail
# shellcheck source=cluster/cluster.sh
source "$(dirname "$0")/cluster.sh"
if cluster::is_local; then
  exec kubectl --kubeconfig "$(local::kubeconfig)" "$@"
fi
cluster::install
exec "$(cluster::path)/cluster-up/kubectl.sh" "$@"

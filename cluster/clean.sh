#!/usr/bin/env bash
# Removes the product from the kubevirtci cluster (the cluster stays).
set -euo pipefail
cd "$(dirname "$0")/.."
export KUBECTL="${KUBECTL:-cluster/kubectl.sh}"
make undeploy

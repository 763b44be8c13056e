#!/usr/bin/env bash
# Removes the product from the kubevirtci cluster (the cluster stays), or from
# the cluster KUBECTL talks to when it is given.
set -euo pipefail
cd "$(dirname "$0")/.."
export KUBECTL="${KUBECTL:-$PWD/cluster/kubectl.sh}"
make undeploy

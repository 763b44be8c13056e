#!/usr/bin/env bash
# Stops the kubevirtci cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
source cluster/cluster.sh
cluster::is_local && exec cluster/local/down.sh
cluster::install
"$(cluster::path)/cluster-up/down.sh"

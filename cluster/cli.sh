#!/usr/bin/env bash
# kubevirtci's gocli (ports, ssh, ...) for the development cluster.
set -euo pipefail
# shellcheck source=cluster/cluster.sh
source "$(dirname "$0")/cluster.sh"
cluster::install
exec "$(cluster::path)/cluster-up/cli.sh" "$@"

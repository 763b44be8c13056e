#!/usr/bin/env bash
# Builds the image, pushes it to the cluster's registry, (re)deploys the product
# and exposes DNS on NodePort 31111.
set -euo pipefail
cd "$(dirname "$0")/.."
source cluster/cluster.sh
cluster::install

registry_port="$(cluster/cli.sh ports registry | tr -d '\r')"
make build push REGISTRY="localhost:$registry_port"
make cluster-clean
# Nodes pull from the registry by its in-cluster name.
make deploy REGISTRY=registry:5000 DOMAIN="${DOMAIN:-}" NAME_SERVER_IP="${NAME_SERVER_IP:-}"
make create-nodeport
echo "synced: dig @127.0.0.1 -p 31111 <interface>.<vmi>.<namespace>.vm${DOMAIN:+.$DOMAIN}"

#!/usr/bin/env bash
# Builds the image, pushes it to the cluster's registry under a tag unique to
# this tree (hack/image-tag.sh), (re)deploys the product with it and exposes DNS
# on NodePort 31111. Acts on kubevirtci's cluster unless KUBECTL says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
source cluster/cluster.sh
cluster::install

export KUBECTL="${KUBECTL:-$PWD/cluster/kubectl.sh}"
IMAGE_TAG="${IMAGE_TAG:-$(hack/image-tag.sh)}"
registry_port="$(cluster/cli.sh ports registry | tr -d '\r')"
make build push REGISTRY="localhost:$registry_port" IMAGE_TAG="$IMAGE_TAG"
make cluster-clean
# Nodes pull from the registry by its in-cluster name.
make deploy REGISTRY=registry:5000 IMAGE_TAG="$IMAGE_TAG" DOMAIN="${DOMAIN:-}" NAME_SERVER_IP="${NAME_SERVER_IP:-}"
make create-nodeport
echo "synced registry:5000/${IMG:-kubevirt-dns/status-monitor}:$IMAGE_TAG"
echo "dig @127.0.0.1 -p 31111 <interface>.<vmi>.<namespace>.vm${DOMAIN:+.$DOMAIN}   (UDP; see README for TCP)"

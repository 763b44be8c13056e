#!/usr/bin/env bash
# Builds the image, pushes it to the cluster's registry under a tag unique to
# this tree (hack/image-tag.sh), (re)deploys the product with it and exposes DNS
# on NodePort 31111. Acts on kubevirtci's cluster unless KUBECTL says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
source cluster/cluster.sh

export KUBECTL="${KUBECTL:-$PWD/cluster/kubectl.sh}"
IMAGE_TAG="${IMAGE_TAG:-$(hack/image-tag.sh)}"
if cluster::is_local; then
  # No image engine here: the release binary and ../shared/bin/coredns become
  # images of one layer each (cluster/local/images.sh), pushed to the local
  # registry. Kubernetes 1.20 has no policy/v1: the PDB is served as v1beta1
  # (same fields) on this provider only.
  make binary
  cluster/local/images.sh product "$IMAGE_TAG"
  make cluster-clean
  make deploy REGISTRY="$LOCAL_REGISTRY" IMAGE_TAG="$IMAGE_TAG" \
    COREDNS_IMAGE="$LOCAL_REGISTRY/coredns/coredns:$IMAGE_TAG" PDB_API_VERSION=policy/v1beta1 \
    DOMAIN="${DOMAIN:-}" NAME_SERVER_IP="${NAME_SERVER_IP:-}"
  make create-nodeport
  echo "synced $LOCAL_REGISTRY/kubevirt-dns/status-monitor:$IMAGE_TAG"
  echo "dig @127.0.0.1 -p $LOCAL_DNS_NODEPORT <interface>.<vmi>.<namespace>.vm${DOMAIN:+.$DOMAIN}   (UDP, or +tcp)"
  exit 0
fi
cluster::install
registry_port="$(cluster/cli.sh ports registry | tr -d '\r')"
make build push REGISTRY="localhost:$registry_port" IMAGE_TAG="$IMAGE_TAG"
make cluster-clean
# Nodes pull from the registry by its in-cluster name.
make deploy REGISTRY=registry:5000 IMAGE_TAG="$IMAGE_TAG" DOMAIN="${DOMAIN:-}" NAME_SERVER_IP="${NAME_SERVER_IP:-}"
make create-nodeport
echo "synced registry:5000/${IMG:-kubevirt-dns/status-monitor}:$IMAGE_TAG"
echo "dig @127.0.0.1 -p 31111 <interface>.<vmi>.<namespace>.vm${DOMAIN:+.$DOMAIN}   (UDP; see README for TCP)"

#!/usr/bin/env bash
# Applies deploy/ with the image $REGISTRY/$IMG:$IMAGE_TAG and, when set, DOMAIN
# and NAME_SERVER_IP; then waits for the Deployment to be available.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECTL="${KUBECTL:-kubectl}"
image="${REGISTRY:-quay.io}/${IMG:-kubevirt-dns/status-monitor}:${IMAGE_TAG:-latest}"
namespace=kubevirt-dns

$KUBECTL apply -k deploy
if [ -n "${DOMAIN:-}" ] || [ -n "${NAME_SERVER_IP:-}" ]; then
  patch=$(printf '{"data":{"DOMAIN":"%s","NAME_SERVER_IP":"%s"}}' "${DOMAIN:-}" "${NAME_SERVER_IP:-}")
  $KUBECTL -n "$namespace" patch configmap kubevirt-dns --type merge -p "$patch"
fi
$KUBECTL -n "$namespace" set image deployment/kubevirt-dns "status-monitor=$image"
# A ConfigMap change reaches the containers only through a restart.
$KUBECTL -n "$namespace" rollout restart deployment/kubevirt-dns
$KUBECTL -n "$namespace" rollout status deployment/kubevirt-dns --timeout=5m

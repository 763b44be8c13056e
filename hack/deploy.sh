#!/usr/bin/env bash
# Applies deploy/ (or DEPLOY_OVERLAY, e.g. deploy/network-addresses) once, with
# the image $REGISTRY/$IMG:$IMAGE_TAG and, when set, DOMAIN and NAME_SERVER_IP
# already in place, so that the first rollout runs the right image and the
# right settings; then waits for the Deployment to be available.
# COREDNS_IMAGE (name:tag) replaces the CoreDNS image; PDB_API_VERSION (e.g.
# policy/v1beta1, for Kubernetes < 1.21) the PodDisruptionBudget's API.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECTL="${KUBECTL:-kubectl}"
overlay_base="${DEPLOY_OVERLAY:-deploy}"
namespace=kubevirt-dns

# kustomize takes bases by relative path: a temporary overlay beside deploy/.
overlay="$(mktemp -d "$PWD/.deploy-XXXXXX")"
trap 'rm -rf "$overlay"' EXIT
cat >"$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../$overlay_base
images:
- name: quay.io/kubevirt-dns/status-monitor
  newName: ${REGISTRY:-quay.io}/${IMG:-kubevirt-dns/status-monitor}
  newTag: ${IMAGE_TAG:-latest}
YAML
if [ -n "${COREDNS_IMAGE:-}" ]; then
  cat >>"$overlay/kustomization.yaml" <<YAML
- name: registry.k8s.io/coredns/coredns
  newName: ${COREDNS_IMAGE%:*}
  newTag: ${COREDNS_IMAGE##*:}
YAML
fi
echo "patches:" >>"$overlay/kustomization.yaml"
if [ -n "${PDB_API_VERSION:-}" ]; then
  cat >>"$overlay/kustomization.yaml" <<YAML
- target: {kind: PodDisruptionBudget, name: kubevirt-dns}
  patch: |
    - {op: replace, path: /apiVersion, value: "$PDB_API_VERSION"}
YAML
fi
if [ -n "${DOMAIN:-}" ] || [ -n "${NAME_SERVER_IP:-}" ]; then
  # The settings also go into the pod template, so that changing them rolls
  # the pods (a ConfigMap change alone reaches no running container).
  cat >>"$overlay/kustomization.yaml" <<YAML
- target: {kind: ConfigMap, name: kubevirt-dns}
  patch: |
    - {op: replace, path: /data/DOMAIN, value: "${DOMAIN:-}"}
    - {op: replace, path: /data/NAME_SERVER_IP, value: "${NAME_SERVER_IP:-}"}
- target: {kind: Deployment, name: kubevirt-dns}
  patch: |
    - {op: add, path: /spec/template/metadata/annotations/kubevirt-dns.io~1settings, value: "DOMAIN=${DOMAIN:-} NAME_SERVER_IP=${NAME_SERVER_IP:-}"}
YAML
fi
# An empty list is not a valid kustomization field.
grep -q '^- target' "$overlay/kustomization.yaml" || sed -i '/^patches:$/d' "$overlay/kustomization.yaml"
$KUBECTL apply -k "$overlay"
$KUBECTL -n "$namespace" rollout status deployment/kubevirt-dns --timeout=5m

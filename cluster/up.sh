#!/usr/bin/env bash
# Starts a kubevirtci cluster with Multus (through CNAO) and KubeVirt.
set -euo pipefail
cd "$(dirname "$0")/.."
source cluster/cluster.sh
cluster::is_local && exec cluster/local/up.sh

DEPLOY_CNAO="${DEPLOY_CNAO:-true}"
DEPLOY_KUBEVIRT="${DEPLOY_KUBEVIRT:-true}"
# Pinned with the provider (cluster/cluster.sh): KubeVirt supports three
# Kubernetes minors per release (1.6: 1.31-1.33; 1.7: 1.32-1.34), so
# k8s-1.34 needs 1.7. KUBEVIRT_VERSION=vX.Y.Z overrides; change both together.
KUBEVIRT_VERSION="${KUBEVIRT_VERSION:-v1.7.0}"

cluster::install
if [ "$KUBEVIRT_PROVIDER" != external ]; then
  if [ "$DEPLOY_CNAO" = true ]; then
    export KUBEVIRT_WITH_CNAO=true KUBVIRT_WITH_CNAO_SKIP_CONFIG=true
  fi
  "$(cluster::path)/cluster-up/up.sh"
  if [ "$DEPLOY_CNAO" = true ]; then
    cluster/kubectl.sh apply -f - <<'YAML'
apiVersion: networkaddonsoperator.network.kubevirt.io/v1
kind: NetworkAddonsConfig
metadata:
  name: cluster
spec:
  imagePullPolicy: Always
  multus: {}
  linuxBridge: {}
YAML
    cluster/kubectl.sh wait networkaddonsconfig cluster --for condition=Available --timeout=300s
  fi
fi

if [ "$DEPLOY_KUBEVIRT" = true ]; then
  release="https://github.com/kubevirt/kubevirt/releases/download/$KUBEVIRT_VERSION"
  cluster/kubectl.sh apply -f "$release/kubevirt-operator.yaml"
  for _ in $(seq 60); do
    cluster/kubectl.sh get crd kubevirts.kubevirt.io >/dev/null 2>&1 && break
    sleep 2
  done
  cluster/kubectl.sh apply -f "$release/kubevirt-cr.yaml"
  # Nested virtualization is not always there; emulation keeps VMs booting.
  cluster/kubectl.sh -n kubevirt patch kubevirt kubevirt --type merge \
    -p '{"spec":{"configuration":{"developerConfiguration":{"useEmulation":true}}}}'
  cluster/kubectl.sh -n kubevirt wait kv kubevirt --for condition=Available --timeout=600s
fi
echo "cluster is up: make cluster-sync deploys the product"

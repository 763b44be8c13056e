# Shared settings of the kubevirtci development cluster; sourced by the other scripts.
# shellcheck shell=bash

# KUBEVIRT_PROVIDER=local: a real one-node cluster on this machine, built from
# Debian's packages, without VMs (cluster/local/); any other value is
# kubevirtci's provider of that name.
export KUBEVIRT_PROVIDER="${KUBEVIRT_PROVIDER:-k8s-1.34}"
export KUBEVIRT_NUM_NODES="${KUBEVIRT_NUM_NODES:-1}"
export KUBEVIRT_MEMORY_SIZE="${KUBEVIRT_MEMORY_SIZE:-6144M}"
# Pinned: bump deliberately, with the provider above.
export KUBEVIRTCI_TAG="${KUBEVIRTCI_TAG:-2509181951-8264c60a}"
KUBEVIRTCI_REPO="${KUBEVIRTCI_REPO:-https://github.com/kubevirt/kubevirtci.git}"
# Where kubevirtci is checked out (git-ignored).
CLUSTER_PATH="${CLUSTER_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/_kubevirtci}"

cluster::install() {
  if [ -d "$CLUSTER_PATH" ]; then
    local repo tag
    repo="$(git -C "$CLUSTER_PATH" remote get-url origin)"
    tag="$(git -C "$CLUSTER_PATH" describe --tags 2>/dev/null || true)"
    if [ "$repo" != "$KUBEVIRTCI_REPO" ] || [ "$tag" != "$KUBEVIRTCI_TAG" ]; then
      rm -rf "$CLUSTER_PATH"
    fi
  fi
  if [ ! -d "$CLUSTER_PATH" ]; then
    git clone "$KUBEVIRTCI_REPO" "$CLUSTER_PATH"
    git -C "$CLUSTER_PATH" checkout "$KUBEVIRTCI_TAG"
  fi
}

cluster::path() {
  echo -n "$CLUSTER_PATH"
}

cluster::kubeconfig() {
  echo -n "$CLUSTER_PATH/_ci-configs/$KUBEVIRT_PROVIDER/.kubeconfig"
}

cluster::is_local() {
  [ "$KUBEVIRT_PROVIDER" = local ]
}

if cluster::is_local; then
  # shellcheck source=cluster/local/config.sh
  source "$(dirname "${BASH_SOURCE[0]}")/local/config.sh"
fi

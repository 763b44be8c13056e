# Settings and helpers of the local provider (KUBEVIRT_PROVIDER=local): a real
# one-node Kubernetes 1.20.2 built from Debian's packages, in a network
# namespace of its own. Sourced by cluster/local/*.sh and cluster/*.sh.
# shellcheck shell=bash disable=SC2034 # the settings are used by the scripts that source this

LOCAL_NETNS="${LOCAL_NETNS:-kubevirt-dns-local}"
# Everything the cluster writes that its flags can place: certificates, etcd,
# containerd, kubelet, registry, logs, pids. cluster-down removes it.
LOCAL_DIR="${LOCAL_CLUSTER_DIR:-/var/lib/kubevirt-dns-local}"
LOCAL_NODE_NAME=node01
# Documentation (RFC 5737) and benchmarking (RFC 2544) ranges: nothing outside
# this machine is ever addressed, and the namespace has no default route.
LOCAL_HOST_IP=198.51.100.1
LOCAL_NODE_IP=198.51.100.2
LOCAL_POD_CIDR=198.18.0.0/24
LOCAL_SERVICE_CIDR=198.19.0.0/24
LOCAL_KUBERNETES_SERVICE_IP=198.19.0.1
LOCAL_API_PORT=6443
# kubevirtci's registry role: pushed to from the host, pulled from by kubelet.
LOCAL_REGISTRY="$LOCAL_NODE_IP:5000"
LOCAL_DNS_NODEPORT=31111
LOCAL_VETH_HOST=kvdns-host
LOCAL_VETH_NODE=kvdns-node

local::kubeconfig() {
  echo -n "$LOCAL_DIR/pki/admin.kubeconfig"
}

# Runs a command in the node's network namespace. nsenter, not `ip netns
# exec`: that also unshares the mount namespace, and containerd would then not
# see the kubelet's volume mounts.
local::in_node() {
  nsenter --net="/run/netns/$LOCAL_NETNS" -- "$@"
}

local::is_up() {
  [ -e "/run/netns/$LOCAL_NETNS" ] && [ -s "$LOCAL_DIR/pids/kube-apiserver" ] &&
    kill -0 "$(cat "$LOCAL_DIR/pids/kube-apiserver")" 2>/dev/null
}

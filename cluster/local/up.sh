#!/usr/bin/env bash
# KUBEVIRT_PROVIDER=local make cluster-up: a real one-node Kubernetes 1.20.2
# (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy), containerd with runc, the CNI plugins and a registry, all from
# Debian's packages, in the network namespace $LOCAL_NETNS. On the host there
# is only the DNS forward: 127.0.0.1:31111, UDP and TCP, to NodePort 31111.
# The Kubernetes binaries are built from Debian's source once and cached
# (hack/kube-assets.sh). Any failure names its step; cluster-down undoes it all.
set -euo pipefail
cd "$(dirname "$0")/../.."
source cluster/local/config.sh

step=""
step() {
  step="$1"
  echo "cluster-up (local): $step" >&2
}
on_exit() {
  local rc=$?
  [ "$rc" -eq 0 ] || echo "cluster-up (local): FAILED at step: $step (logs: $LOCAL_DIR/logs; make cluster-down cleans up)" >&2
}
trap on_exit EXIT

[ "$(id -u)" -eq 0 ] || { echo "cluster-up (local): needs root (network namespace, containerd, kubelet)" >&2; exit 1; }
if local::is_up; then
  echo "cluster-up (local): already up (make cluster-down first to start anew)" >&2
  exit 0
fi

step "installing Debian's packages"
declare -A package_of=(
  [containerd]=containerd [runc]=runc [/usr/lib/cni/bridge]=containernetworking-plugins
  [docker-registry]=docker-registry [conntrack]=conntrack [iptables]=iptables
  [catatonit]=catatonit [skopeo]=skopeo [socat]=socat [openssl]=openssl
  [nsenter]=util-linux [ip]=iproute2 [setcap]=libcap2-bin [curl]=curl
)
missing=()
for command in "${!package_of[@]}"; do
  command -v "$command" >/dev/null || [ -x "$command" ] || missing+=("${package_of[$command]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v kubectl >/dev/null || { echo "cluster-up (local): kubectl (any client >= 1.20 with kustomize v5) is needed" >&2; exit 1; }

step "building or finding the Kubernetes binaries (hack/kube-assets.sh node)"
bin="$(hack/kube-assets.sh node)"

mkdir -p "$LOCAL_DIR"/{pki,logs,pids,etcd,registry,kubelet,cni/net.d,cni/ipam,containerd,run,config}
log() { echo "$LOCAL_DIR/logs/$1.log"; }
# Starts a component in the node's namespace, in the background, by pid file.
start() {
  local name="$1"
  shift
  setsid nsenter --net="/run/netns/$LOCAL_NETNS" -- "$@" >"$(log "$name")" 2>&1 </dev/null &
  echo $! >"$LOCAL_DIR/pids/$name"
}
wait_for() {
  local what="$1" seconds="$2"
  shift 2
  for _ in $(seq "$((seconds * 2))"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "cluster-up (local): $what did not come within ${seconds}s" >&2
  return 1
}

step "saving the global sysctls kubelet changes"
if [ ! -s "$LOCAL_DIR/sysctls" ]; then
  sysctl -n vm.overcommit_memory kernel.panic kernel.panic_on_oops |
    paste -d' ' <(printf '%s\n' vm.overcommit_memory kernel.panic kernel.panic_on_oops) - >"$LOCAL_DIR/sysctls"
fi

step "recording what cluster-down must restore"
if [ ! -e "$LOCAL_DIR/cgroups-before" ]; then
  find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | sort >"$LOCAL_DIR/cgroups-before"
  {
    echo "# paths that existed before cluster-up"
    for path in /var/log/pods /var/log/containers /var/lib/kubelet /var/lib/cni /run/containerd; do
      [ -e "$path" ] && echo "$path"
    done
  } >"$LOCAL_DIR/paths-before"
  if mountpoint -q /run/netns; then touch "$LOCAL_DIR/netns-mount-before"; fi
fi

step "creating the network namespace $LOCAL_NETNS and its veth"
ip netns add "$LOCAL_NETNS"
ip link add "$LOCAL_VETH_HOST" type veth peer name "$LOCAL_VETH_NODE"
ip link set "$LOCAL_VETH_NODE" netns "$LOCAL_NETNS"
ip addr add "$LOCAL_HOST_IP/24" dev "$LOCAL_VETH_HOST"
ip link set "$LOCAL_VETH_HOST" up
local::in_node ip link set lo up
local::in_node ip addr add "$LOCAL_NODE_IP/24" dev "$LOCAL_VETH_NODE"
local::in_node ip link set "$LOCAL_VETH_NODE" up
# No default route on purpose: pod traffic can reach the node, the pods and
# the host's end of the veth, and nothing beyond this machine.
local::in_node sysctl -qw net.ipv4.ip_forward=1
# Replies from the host to pods (a secondary answering a NOTIFY) go back
# through the node, never out of the host's default route; gone with the veth.
ip route add "$LOCAL_POD_CIDR" via "$LOCAL_NODE_IP" dev "$LOCAL_VETH_HOST"

step "making the certificates"
pki="$LOCAL_DIR/pki"
openssl_quiet() { openssl "$@" 2>/dev/null; }
if [ ! -s "$pki/ca.crt" ]; then
  openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=kubevirt-dns-local-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt"
  openssl_quiet genrsa -out "$pki/sa.key" 2048
  openssl_quiet rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
fi
# cert NAME SUBJECT [SANs]
cert() {
  local name="$1" subject="$2" sans="${3:-}"
  [ -s "$pki/$name.crt" ] && return 0
  openssl_quiet req -newkey rsa:2048 -nodes -subj "$subject" -keyout "$pki/$name.key" -out "$pki/$name.csr"
  local ext="$pki/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$sans"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$ext"
  openssl_quiet x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -extfile "$ext" -out "$pki/$name.crt"
  rm -f "$pki/$name.csr" "$ext"
}
cert apiserver "/CN=kube-apiserver" \
  "IP:$LOCAL_KUBERNETES_SERVICE_IP,IP:$LOCAL_NODE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
cert kubelet-serving "/CN=$LOCAL_NODE_NAME" "IP:$LOCAL_NODE_IP,DNS:$LOCAL_NODE_NAME"
cert admin "/O=system:masters/CN=kubevirt-dns-admin"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert node "/O=system:nodes/CN=system:node:$LOCAL_NODE_NAME"
cert kube-proxy "/CN=system:kube-proxy"
cert controller-manager "/CN=system:kube-controller-manager"
cert scheduler "/CN=system:kube-scheduler"
kubeconfig() {
  local name="$1" server="$2"
  cat >"$pki/$name.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    certificate-authority: $pki/ca.crt
    server: $server
users:
- name: $name
  user:
    client-certificate: $pki/$name.crt
    client-key: $pki/$name.key
contexts:
- name: local
  context: {cluster: local, user: $name}
current-context: local
YAML
}
api="https://$LOCAL_NODE_IP:$LOCAL_API_PORT"
for identity in admin node kube-proxy controller-manager scheduler; do
  kubeconfig "$identity" "$api"
done

step "starting etcd"
start etcd etcd --name local --data-dir "$LOCAL_DIR/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster local=http://127.0.0.1:2380 --log-level warn
wait_for etcd 30 local::in_node etcdctl --endpoints=http://127.0.0.1:2379 endpoint health

step "starting kube-apiserver"
start kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:2379 \
  --bind-address=0.0.0.0 --secure-port="$LOCAL_API_PORT" --insecure-port=0 \
  --advertise-address="$LOCAL_NODE_IP" \
  --service-cluster-ip-range="$LOCAL_SERVICE_CIDR" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --profiling=false
export KUBECONFIG="$pki/admin.kubeconfig"
wait_for kube-apiserver 60 kubectl get --raw /readyz

step "starting kube-controller-manager and kube-scheduler"
start kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig="$pki/controller-manager.kubeconfig" \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --use-service-account-credentials --allocate-node-cidrs=false --leader-elect=false \
  --bind-address=127.0.0.1 --port=0 --flex-volume-plugin-dir="$LOCAL_DIR/kubelet/flexvolume"
start kube-scheduler "$bin/kube-scheduler" \
  --kubeconfig="$pki/scheduler.kubeconfig" --leader-elect=false --bind-address=127.0.0.1 --port=0

step "starting the registry"
cat >"$LOCAL_DIR/config/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $LOCAL_DIR/registry}
  delete: {enabled: true}
http:
  addr: $LOCAL_REGISTRY
YAML
start registry docker-registry serve "$LOCAL_DIR/config/registry.yml"
wait_for registry 30 curl -sf "http://$LOCAL_REGISTRY/v2/"

step "pushing the pause image"
cluster/local/images.sh pause

step "starting containerd"
cat >"$LOCAL_DIR/cni/net.d/10-pods.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "pods",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$LOCAL_DIR/cni/ipam",
        "ranges": [[{"subnet": "$LOCAL_POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
cat >"$LOCAL_DIR/config/containerd.toml" <<TOML
version = 2
root = "$LOCAL_DIR/containerd/root"
state = "$LOCAL_DIR/containerd/state"
[grpc]
  address = "$LOCAL_DIR/containerd/containerd.sock"
[ttrpc]
  address = "$LOCAL_DIR/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$LOCAL_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$LOCAL_REGISTRY/pause:local"
  # root cannot lower oom_score_adj here (no CAP_SYS_RESOURCE).
  restrict_oom_score_adj = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$LOCAL_DIR/run/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$LOCAL_DIR/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$LOCAL_REGISTRY"]
    endpoint = ["http://$LOCAL_REGISTRY"]
TOML
start containerd containerd --config "$LOCAL_DIR/config/containerd.toml"
wait_for containerd 30 ctr --address "$LOCAL_DIR/containerd/containerd.sock" version

step "starting kubelet"
cat >"$LOCAL_DIR/config/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
cgroupDriver: cgroupfs
failSwapOn: false
# The default (-999) needs CAP_SYS_RESOURCE, which root lacks here.
oomScoreAdj: 0
readOnlyPort: 0
volumePluginDir: $LOCAL_DIR/kubelet/volume-plugins
clusterDomain: cluster.local
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
YAML
start kubelet "$bin/kubelet" \
  --kubeconfig="$pki/node.kubeconfig" --config="$LOCAL_DIR/config/kubelet.yaml" \
  --container-runtime=remote --container-runtime-endpoint="unix://$LOCAL_DIR/containerd/containerd.sock" \
  --node-ip="$LOCAL_NODE_IP" --hostname-override="$LOCAL_NODE_NAME" \
  --root-dir="$LOCAL_DIR/kubelet" --cert-dir="$LOCAL_DIR/kubelet/pki" \
  --pod-infra-container-image="$LOCAL_REGISTRY/pause:local"

step "starting kube-proxy"
cat >"$LOCAL_DIR/config/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $pki/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: $LOCAL_NODE_NAME
bindAddress: $LOCAL_NODE_IP
clusterCIDR: $LOCAL_POD_CIDR
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# No CAP_SYS_RESOURCE-free way to raise nf_conntrack_max here: leave it.
conntrack: {maxPerCore: 0}
YAML
start kube-proxy "$bin/kube-proxy" --config="$LOCAL_DIR/config/kube-proxy.yaml"

step "waiting for node $LOCAL_NODE_NAME to be Ready"
wait_for "node $LOCAL_NODE_NAME" 90 kubectl get node "$LOCAL_NODE_NAME"
kubectl wait --for=condition=Ready "node/$LOCAL_NODE_NAME" --timeout=120s >/dev/null

step "forwarding 127.0.0.1:$LOCAL_DNS_NODEPORT (UDP and TCP) to the NodePort"
setsid socat "UDP4-RECVFROM:$LOCAL_DNS_NODEPORT,bind=127.0.0.1,reuseaddr,fork" \
  "UDP4-SENDTO:$LOCAL_NODE_IP:$LOCAL_DNS_NODEPORT" >"$(log forward-udp)" 2>&1 </dev/null &
echo $! >"$LOCAL_DIR/pids/forward-udp"
setsid socat "TCP4-LISTEN:$LOCAL_DNS_NODEPORT,bind=127.0.0.1,reuseaddr,fork" \
  "TCP4:$LOCAL_NODE_IP:$LOCAL_DNS_NODEPORT" >"$(log forward-tcp)" 2>&1 </dev/null &
echo $! >"$LOCAL_DIR/pids/forward-tcp"

step "installing the VirtualMachineInstance and NetworkAttachmentDefinition CRDs"
kubectl apply -f cluster/local/manifests/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s \
  crd/virtualmachineinstances.kubevirt.io crd/network-attachment-definitions.k8s.cni.cncf.io >/dev/null

step="done"
echo "cluster is up (local): KUBEVIRT_PROVIDER=local make cluster-sync deploys the product;" \
  "cluster/kubectl.sh talks to it"

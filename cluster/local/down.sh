#!/usr/bin/env bash
# KUBEVIRT_PROVIDER=local make cluster-down: removes the local cluster and
# everything it left: workloads first (in the foreground, so that no
# ReplicaSet makes new pods), then its processes by pid, its mounts, its
# network namespace, its cgroups and the paths kubelet and containerd write
# whatever their flags say; the global sysctls kubelet set are restored.
# Ends by checking that nothing is left, and fails naming what is.
set -euo pipefail
cd "$(dirname "$0")/../.."
source cluster/local/config.sh

say() { echo "cluster-down (local): $*" >&2; }
[ "$(id -u)" -eq 0 ] || { say "needs root"; exit 1; }
[ -d "$LOCAL_DIR" ] || [ -e "/run/netns/$LOCAL_NETNS" ] || { say "nothing to remove"; exit 0; }

export KUBECONFIG
KUBECONFIG="$(local::kubeconfig)"
ctr_k8s() { ctr --address "$LOCAL_DIR/containerd/containerd.sock" -n k8s.io "$@"; }

if local::is_up && kubectl get --request-timeout=5s --raw /readyz >/dev/null 2>&1; then
  say "deleting the workloads"
  kubectl delete namespace -l kubevirt-dns.io/functest=true --wait=true --timeout=120s >/dev/null 2>&1 || true
  kubectl delete deployments,replicasets,daemonsets,statefulsets,jobs --all --all-namespaces \
    --cascade=foreground --wait=true --timeout=120s >/dev/null 2>&1 || true
  kubectl delete pods --all --all-namespaces --wait=true --timeout=120s >/dev/null 2>&1 || true
fi
# Whatever kubelet did not stop in time: its sandboxes and containers.
if [ -S "$LOCAL_DIR/containerd/containerd.sock" ]; then
  for task in $(ctr_k8s task ls -q 2>/dev/null); do
    ctr_k8s task kill -s KILL "$task" >/dev/null 2>&1 || true
  done
  sleep 1
  for task in $(ctr_k8s task ls -q 2>/dev/null); do
    ctr_k8s task delete -f "$task" >/dev/null 2>&1 || true
  done
fi

say "stopping the processes"
for name in forward-tcp forward-udp kube-proxy kubelet kube-scheduler kube-controller-manager \
  kube-apiserver registry etcd containerd; do
  pid_file="$LOCAL_DIR/pids/$name"
  [ -s "$pid_file" ] || continue
  pid="$(cat "$pid_file")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pid_file"
done
# The shims daemonize away from containerd; each names containerd's socket.
pkill -9 -f -- "-address $LOCAL_DIR/containerd/containerd.sock" 2>/dev/null || true
# Anything else started from the cluster's files (a container's processes).
for pid in $(pgrep -f -- "$LOCAL_DIR" || true); do kill -9 "$pid" 2>/dev/null || true; done
sleep 0.5

say "unmounting"
for _ in 1 2 3; do
  mapfile -t mounts < <(awk -v dir="$LOCAL_DIR" 'index($2, dir) == 1 {print $2}' /proc/mounts | sort -r)
  [ ${#mounts[@]} -eq 0 ] && break
  for mount in "${mounts[@]}"; do umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true; done
done

say "deleting the network namespace"
ip netns delete "$LOCAL_NETNS" 2>/dev/null || true
ip link delete "$LOCAL_VETH_HOST" 2>/dev/null || true

say "removing cgroups and the paths kubelet and containerd write anyway"
if [ -s "$LOCAL_DIR/cgroups-before" ]; then
  # Deepest first; only what the cluster made.
  comm -13 "$LOCAL_DIR/cgroups-before" <(find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | sort) |
    awk '{print length, $0}' | sort -rn | cut -d' ' -f2- |
    while read -r group; do rmdir "$group" 2>/dev/null || true; done
fi
if [ -s "$LOCAL_DIR/paths-before" ]; then
  for path in /var/log/pods /var/log/containers /var/lib/kubelet /var/lib/cni /run/containerd; do
    grep -qxF "$path" "$LOCAL_DIR/paths-before" || rm -rf "$path"
  done
fi
if [ -s "$LOCAL_DIR/sysctls" ]; then
  while read -r key value; do sysctl -qw "$key=$value"; done <"$LOCAL_DIR/sysctls"
fi
netns_was_mounted=false
[ -e "$LOCAL_DIR/netns-mount-before" ] && netns_was_mounted=true
rm -rf "$LOCAL_DIR"
# `ip netns add` made /run/netns a mount; undo it when it was ours and is empty.
if ! $netns_was_mounted && mountpoint -q /run/netns && [ -z "$(ls -A /run/netns)" ]; then
  umount /run/netns 2>/dev/null || true
fi

left=()
pgrep -f -- "$LOCAL_DIR" >/dev/null && left+=("processes: $(pgrep -f -- "$LOCAL_DIR" | tr '\n' ' ')")
grep -qF "$LOCAL_DIR" /proc/mounts && left+=("mounts under $LOCAL_DIR")
[ -e "/run/netns/$LOCAL_NETNS" ] && left+=("network namespace $LOCAL_NETNS")
ip link show "$LOCAL_VETH_HOST" >/dev/null 2>&1 && left+=("interface $LOCAL_VETH_HOST")
find /sys/fs/cgroup -maxdepth 2 -name kubepods -type d 2>/dev/null | grep -q . && left+=("kubepods cgroups")
if [ ${#left[@]} -gt 0 ]; then
  say "left behind: ${left[*]}"
  exit 1
fi
say "done: nothing is left"

#!/usr/bin/env bash
# Prints a directory holding `kube-apiserver` and `etcd`, following the envtest
# convention: $KUBEBUILDER_ASSETS when set, otherwise a cache built once from
# Debian's packages (Kubernetes 1.20.2 source + etcd 3.4), reused by later runs.
# The cache also holds the node's binaries (kubelet, kube-controller-manager,
# kube-scheduler, kube-proxy) for the local cluster (cluster/local/): one `make`
# builds all five, about 20 minutes on 2 cores; everything comes from Debian.
# `kube-assets.sh node` requires the node's binaries too (KUBEBUILDER_ASSETS
# then must hold them).
set -euo pipefail

log() { echo "kube-assets: $*" >&2; }

binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
wanted=(kube-apiserver etcd)
[ "${1:-}" = node ] && wanted+=(kube-controller-manager kube-scheduler kubelet kube-proxy)

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  for bin in "${wanted[@]}"; do
    [ -x "$KUBEBUILDER_ASSETS/$bin" ] || { log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no $bin"; exit 1; }
  done
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

K8S_VERSION=1.20.2
cache="${KUBE_ASSETS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubevirt-secondary-dns/kube-$K8S_VERSION}"
complete=true
for bin in "${wanted[@]}"; do [ -x "$cache/$bin" ] || complete=false; done
if $complete; then
  echo "$cache"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || { log "building kube-apiserver needs root for apt-get; or set KUBEBUILDER_ASSETS"; exit 1; }
export DEBIAN_FRONTEND=noninteractive
packages=(golang-1.19-go rsync make etcd-server openssl golang-github-modern-go-reflect2-dev dpkg-dev)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  log "installing ${packages[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# Source packages: a deb-src twin of Debian's own entry (same mirror and keyring).
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  log "adding deb-src entries"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >/etc/apt/sources.list.d/debian-src.sources
  else
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' >/etc/apt/sources.list.d/debian-src.list
  fi
  apt-get update -qq
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log "fetching the kubernetes source package"
(cd "$work" && apt-get source --download-only kubernetes >/dev/null 2>&1)
tarball="$(find "$work" -maxdepth 1 -name 'kubernetes_*.orig.tar.gz' | head -n 1)"
mkdir "$work/src"
tar -xzf "$tarball" -C "$work/src" --strip-components=1

# The vendored reflect2 1.0.1 crashes under Go >= 1.18 on the first object
# create; Debian's 1.0.2 is the fix.
rm -rf "$work/src/vendor/github.com/modern-go/reflect2"
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$work/src/vendor/github.com/modern-go/reflect2"

log "building ${binaries[*]} $K8S_VERSION (about 20 minutes)"
(
  cd "$work/src"
  export PATH="/usr/lib/go-1.19/bin:$PATH" GOPROXY=off GOSUMDB=off GOFLAGS='' CGO_ENABLED=0
  export HOME="$work/home" GOCACHE="$work/gocache" GOPATH="$work/gopath"
  make WHAT="${binaries[*]/#/cmd/}" KUBE_GIT_VERSION="v$K8S_VERSION" KUBE_GIT_TREE_STATE=clean \
    KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; exit 1; }
)
mkdir -p "$cache"
for bin in "${binaries[@]}"; do
  install -m 0755 "$work/src/_output/bin/$bin" "$cache/$bin.new"
  mv "$cache/$bin.new" "$cache/$bin"
done
ln -sf /usr/bin/etcd "$cache/etcd"
log "cached in $cache"
echo "$cache"

#!/usr/bin/env bash
# Builds the local provider's images without an image engine or a pull, and
# pushes them to its registry (cluster/local/config.sh, LOCAL_REGISTRY):
#   images.sh pause        the pod sandbox: Debian's static catatonit
#   images.sh product TAG  status-monitor (the release binary in the
#                          Dockerfile's runtime shape: glibc, CA certificates,
#                          user 65532) and CoreDNS (COREDNS or
#                          ../shared/bin/coredns, with the upstream image's
#                          cap_net_bind_service=+ep and user), both as TAG
# Each image is one layer written by GNU tar (capabilities kept as xattrs) in
# an OCI layout, which skopeo pushes.
set -euo pipefail
cd "$(dirname "$0")/../.."
source cluster/local/config.sh

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# oci_push ROOTFS NAME TAG USER ENTRYPOINT-JSON
oci_push() {
  local rootfs="$1" name="$2" tag="$3" user="$4" entrypoint="$5"
  local layout="$work/$name-oci" blobs
  blobs="$layout/blobs/sha256"
  mkdir -p "$blobs"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    --xattrs --xattrs-include=security.capability -C "$rootfs" -cf "$work/layer.tar" .
  local diff_id layer layer_size
  diff_id="$(sha256 "$work/layer.tar")"
  gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"
  layer="$(sha256 "$work/layer.tar.gz")"
  layer_size="$(stat -c %s "$work/layer.tar.gz")"
  mv "$work/layer.tar.gz" "$blobs/$layer"
  cat >"$work/config.json" <<JSON
{"architecture":"amd64","os":"linux",
 "config":{"User":"$user","Entrypoint":$entrypoint,
  "Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
  "Labels":{"org.opencontainers.image.title":"$name","org.opencontainers.image.revision":"${git_sha:-unknown}"}},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},
 "history":[{"created_by":"cluster/local/images.sh"}]}
JSON
  local config config_size manifest manifest_size
  config="$(sha256 "$work/config.json")"
  config_size="$(stat -c %s "$work/config.json")"
  mv "$work/config.json" "$blobs/$config"
  cat >"$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$config_size},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer","size":$layer_size}]}
JSON
  manifest="$(sha256 "$work/manifest.json")"
  manifest_size="$(stat -c %s "$work/manifest.json")"
  mv "$work/manifest.json" "$blobs/$manifest"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  cat >"$layout/index.json" <<JSON
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "digest":"sha256:$manifest","size":$manifest_size,"annotations":{"org.opencontainers.image.ref.name":"$tag"}}]}
JSON
  skopeo copy --quiet --dest-tls-verify=false "oci:$layout:$tag" "docker://$LOCAL_REGISTRY/$name:$tag"
  rm -f "$work/layer.tar"
  echo "$LOCAL_REGISTRY/$name:$tag"
}

# The files of a distroless "nonroot" base: users, groups, CA certificates, /tmp.
base_rootfs() {
  local rootfs="$1"
  mkdir -p "$rootfs"/{etc/ssl/certs,tmp,home/nonroot}
  chmod 1777 "$rootfs/tmp"
  chown 65532:65532 "$rootfs/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
}

case "${1:-}" in
pause)
  rootfs="$work/pause"
  mkdir -p "$rootfs"
  cp /usr/bin/catatonit "$rootfs/pause"
  oci_push "$rootfs" pause local 65535:65535 '["/pause","-P"]' >/dev/null
  ;;
product)
  tag="${2:?usage: images.sh product TAG}"
  git_sha="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  binary="${STATUS_MONITOR_BINARY:-target/release/status-monitor}"
  [ -x "$binary" ] || { echo "images: $binary is missing: cargo build --release -p status-monitor" >&2; exit 1; }
  rootfs="$work/status-monitor"
  base_rootfs "$rootfs"
  install -D -m 0755 "$binary" "$rootfs/usr/local/bin/status-monitor"
  # glibc and whatever else the binary links, at the paths it looks for them.
  ldd "$binary" | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r library; do
    install -D -m 0755 "$(readlink -f "$library")" "$rootfs$library"
  done
  oci_push "$rootfs" kubevirt-dns/status-monitor "$tag" 65532:65532 '["/usr/local/bin/status-monitor"]'

  coredns="${COREDNS:-$(cd .. && pwd)/shared/bin/coredns}"
  [ -x "$coredns" ] || { echo "images: no CoreDNS at $coredns (set COREDNS)" >&2; exit 1; }
  rootfs="$work/coredns"
  base_rootfs "$rootfs"
  install -m 0755 "$coredns" "$rootfs/coredns"
  # As the upstream image: binding port 53 as a non-root user.
  setcap cap_net_bind_service=+ep "$rootfs/coredns"
  oci_push "$rootfs" coredns/coredns "$tag" 65532:65532 '["/coredns"]'
  ;;
*)
  echo "usage: images.sh pause | product TAG" >&2
  exit 2
  ;;
esac

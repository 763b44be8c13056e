#!/usr/bin/env bash
# Installs what the test suite runs besides cargo, from Debian's packages:
#   unit tier:        named-checkzone and named-checkconf (BIND), kzonecheck
#                     (Knot), dig; knotd/knotc, named and openssl (the
#                     secondaries of the zone-transfer tests, README's key command); setcap and
#                     setpriv (CoreDNS under the pod's securityContext); ip and
#                     the CNI plugins (the functest's networks in namespaces);
#                     prometheus and promtool (the alerts and the dashboard)
#   integration tier: etcdctl (kube-apiserver and etcd come from
#                     hack/kube-assets.sh), kubectl (preinstalled)
# CoreDNS itself comes from COREDNS or ../shared/bin/coredns (see README).
# Idempotent: installs only what is missing. Usage: install-test-deps.sh [unit|integration]
set -euo pipefail

tier="${1:-unit}"
declare -A package_of=(
  [named-checkzone]=bind9-utils
  [named-checkconf]=bind9-utils
  [knotd]=knot
  [knotc]=knot
  [named]=bind9
  [openssl]=openssl
  [kzonecheck]=knot-dnssecutils
  [dig]=bind9-dnsutils
  [setcap]=libcap2-bin
  [setpriv]=util-linux
  [ip]=iproute2
  [/usr/lib/cni/ptp]=containernetworking-plugins
  [prometheus]=prometheus
  [promtool]=prometheus
)
if [ "$tier" = integration ]; then
  package_of+=([etcdctl]=etcd-client)
fi

missing=()
for command in "${!package_of[@]}"; do
  command -v "$command" >/dev/null || [ -x "$command" ] || missing+=("${package_of[$command]}")
done
if [ "$tier" = integration ] && ! command -v kubectl >/dev/null; then
  echo "install-test-deps: kubectl is needed (any version >= 1.20 client)" >&2
  exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# knot's, bind9's and prometheus's packages start system daemons we do not need.
for service in knot:knot bind9:named prometheus:prometheus; do
  if [[ " ${missing[*]} " == *" ${service%%:*} "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now "${service##*:}" >/dev/null 2>&1 || true
  fi
done

#!/usr/bin/env bash
# Installs what the test suite runs besides cargo: the strict zone checkers of
# BIND (named-checkzone) and Knot (kzonecheck). Idempotent; a no-op when present.
set -euo pipefail

missing=()
command -v named-checkzone >/dev/null || missing+=(bind9-utils)
command -v kzonecheck >/dev/null || missing+=(knot-dnssecutils)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

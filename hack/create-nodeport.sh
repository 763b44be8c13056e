#!/usr/bin/env bash
# Exposes the DNS server on NodePort 31111, UDP and TCP (deploy/expose/nodeport.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECTL="${KUBECTL:-kubectl}"
if ! $KUBECTL get namespace kubevirt-dns >/dev/null 2>&1; then
  echo "create-nodeport: namespace kubevirt-dns not found; run make deploy first" >&2
  exit 1
fi
$KUBECTL apply -f deploy/expose/nodeport.yaml
echo "DNS: <node-ip>:31111 (kubevirtci forwards 127.0.0.1:31111), e.g. dig @127.0.0.1 -p 31111 <name>"

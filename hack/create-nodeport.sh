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
echo "DNS on <node-ip>:31111, UDP and TCP. On kubevirtci's host only UDP is forwarded:"
echo "  dig @127.0.0.1 -p 31111 <name>          (UDP, from the host)"
echo "  dig +tcp @<node-ip> -p 31111 <name>     (TCP, from a node or a machine routed to it)"

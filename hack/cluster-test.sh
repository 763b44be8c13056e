#!/usr/bin/env bash
# The cluster tier (make cluster-test, part of make test): the product as users
# run it, on a real one-node Kubernetes here (KUBEVIRT_PROVIDER=local):
# cluster-up, cluster-sync, functest, then cluster-down, which must leave
# nothing behind. Fails (never skips) when any step fails, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."
export KUBEVIRT_PROVIDER=local
# Run from make, KUBECTL holds its exported default (kubectl), which the
# cluster targets would take as chosen; an IMAGE_TAG from the caller would
# replace the tree's unique tag. Unset, they pick the local cluster's kubectl
# and that tag.
unset KUBECTL IMAGE_TAG
start="$(date +%s)"
elapsed() { echo "$(($(date +%s) - start)) s"; }

# What an interrupted earlier run left.
make -s cluster-down
status=0
for target in cluster-up cluster-sync functest; do
  echo "cluster-test: make $target ($(elapsed) so far)" >&2
  if ! make -s "$target"; then
    echo "cluster-test: FAILED at make $target" >&2
    status=1
    break
  fi
done
if ! make -s cluster-down; then
  echo "cluster-test: FAILED at make cluster-down: it left something behind" >&2
  status=1
fi
echo "cluster-test: $([ "$status" -eq 0 ] && echo passed || echo failed) in $(elapsed)" >&2
exit "$status"

#!/usr/bin/env bash
# Prints an image tag unique to the tree being built: git-<commit> for a clean
# tree, git-<commit>-dirty-<unix time> otherwise, so that every cluster-sync of
# changed sources pushes a reference no node has cached yet (the Deployment
# pulls IfNotPresent).
set -euo pipefail
cd "$(dirname "$0")/.."
commit="$(git rev-parse --short=12 HEAD)"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "git-$commit-dirty-$(date +%s)"
else
  echo "git-$commit"
fi

#!/usr/bin/env bash
# kubevirtci's gocli (ports, ssh, ...) for the development cluster.
set -euo pipefail
# shellcheck source=cluster/cluster.sh
source "$(dirname "$0")/cluster.sh"
if cluster::is_local; then
  # The gocli verbs this project uses: `ports registry|dns` and
  # `ssh node01 -- COMMAND` (run in the node's network namespace).
  case "${1:-}" in
  ports)
    case "${2:-}" in
    registry) echo "${LOCAL_REGISTRY##*:}" ;;
    dns) echo "$LOCAL_DNS_NODEPORT" ;;
    *) echo "cli.sh ports: registry or dns" >&2; exit 2 ;;
    esac
    ;;
  ssh)
    [ "${2:-}" = "$LOCAL_NODE_NAME" ] || { echo "cli.sh ssh: the only node is $LOCAL_NODE_NAME" >&2; exit 2; }
    shift 2
    [ "${1:-}" = -- ] && shift
    local::in_node "${@:-bash}"
    ;;
  *) echo "cli.sh (local): ports registry|dns, ssh $LOCAL_NODE_NAME -- COMMAND" >&2; exit 2 ;;
  esac
  exit
fi
cluster::install
exec "$(cluster::path)/cluster-up/cli.sh" "$@"

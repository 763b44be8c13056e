#!/usr/bin/env bash
# Runs the Dockerfile's build stage without an image engine: its COPY steps
# copy from the files git knows (what a clean checkout's build context holds)
# into a scratch WORKDIR, and its RUN steps run there in order, with this
# machine's cargo (the same toolchain version as the stage's FROM). Then the
# path the final stage copies out must hold a working binary.
# Usage: hack/check-image-build.sh [Dockerfile]
set -euo pipefail
cd "$(dirname "$0")/.."
dockerfile="${1:-Dockerfile}"

log() { echo "check-image-build: $*" >&2; }

# The instructions of the first stage, continuation lines joined.
mapfile -t instructions < <(
  sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$dockerfile" | grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$'
)
workdir=""
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
stage=0
for line in "${instructions[@]}"; do
  keyword="${line%% *}"
  rest="${line#* }"
  case "$keyword" in
    FROM)
      stage=$((stage + 1))
      if [ "$stage" -eq 2 ]; then break; fi
      ;;
    WORKDIR)
      workdir="$rest"
      mkdir -p "$scratch$workdir"
      ;;
    COPY)
      read -r -a words <<<"$rest"
      destination="${words[-1]}"
      unset 'words[-1]'
      [[ "$destination" = /* ]] || destination="$workdir/$destination"
      for source in "${words[@]}"; do
        files="$(git ls-files --cached --others --exclude-standard -- "$source")"
        [ -n "$files" ] || { log "COPY $source: nothing in the build context"; exit 1; }
        while IFS= read -r file; do
          # Docker's rules: a directory's contents go under the destination; a
          # file goes into it when it ends in / or there are several sources.
          if [ "$file" != "$source" ]; then
            target="${destination%/}/${file#"$source"/}"
          elif [[ "$destination" = */ ]] || [ "${#words[@]}" -gt 1 ]; then
            target="${destination%/}/$(basename "$file")"
          else
            target="$destination"
          fi
          mkdir -p "$scratch$(dirname "$target")"
          cp -p "$file" "$scratch$target"
        done <<<"$files"
      done
      ;;
    RUN)
      log "RUN $rest"
      (cd "$scratch$workdir" && env -u CARGO_TARGET_DIR bash -euo pipefail -c "$rest")
      ;;
    ARG | ENV | LABEL | USER | ENTRYPOINT | CMD) ;;
    *)
      log "unsupported instruction in the build stage: $keyword"
      exit 1
      ;;
  esac
done

# What the final stage takes from the build stage.
copied="$(grep -oP '^COPY --from=build \K\S+' "$dockerfile")"
binary="$scratch$copied"
[ -x "$binary" ] || { log "the final stage copies $copied, which the build stage did not make"; exit 1; }
"$binary" --help >/dev/null
log "ok: $copied built from the Dockerfile's COPY set"

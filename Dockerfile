# status-monitor image: built with the workspace's locked dependencies, shipped
# on distroless (glibc, CA certificates, no shell), running as non-root.
# `make image-check` runs this build stage's COPY and RUN steps without an
# image engine (hack/check-image-build.sh).
# The toolchain the tests run with; bump it deliberately.
FROM docker.io/library/rust:1.95.0-bookworm AS build
WORKDIR /src
# Dependencies in a layer of their own: the manifests and the lock with empty
# stand-ins for every target, so that a source change recompiles only our crates.
COPY Cargo.toml Cargo.lock ./
COPY zone-manager/Cargo.toml zone-manager/
COPY status-monitor/Cargo.toml status-monitor/
RUN for target in zone-manager/src/lib.rs zone-manager/benches/zone.rs \
      status-monitor/src/lib.rs status-monitor/src/main.rs \
      status-monitor/benches/memory.rs status-monitor/benches/projection.rs \
      status-monitor/benches/decode.rs status-monitor/benches/network_memory.rs; do \
      mkdir -p "$(dirname "$target")" && echo 'fn main() {}' >"$target"; \
    done \
 && cargo build --release --locked -p status-monitor \
 && rm -r zone-manager/src zone-manager/benches status-monitor/src status-monitor/benches
COPY zone-manager zone-manager
COPY status-monitor status-monitor
# COPY keeps the sources' own times, which may be older than the stand-ins'.
RUN find zone-manager status-monitor -name '*.rs' -exec touch {} + \
 && cargo build --release --locked -p status-monitor

FROM gcr.io/distroless/cc-debian12:nonroot
ARG git_sha=unknown
LABEL multi.GIT_SHA=$git_sha \
      org.opencontainers.image.title="status-monitor" \
      org.opencontainers.image.description="DNS zone of KubeVirt VMs' secondary interfaces" \
      org.opencontainers.image.revision=$git_sha \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/target/release/status-monitor /usr/local/bin/status-monitor
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/status-monitor"]

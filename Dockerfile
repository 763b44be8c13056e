# status-monitor image: built with the workspace's locked dependencies, shipped
# on distroless (glibc, CA certificates, no shell), running as non-root.
FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY zone-manager zone-manager
COPY status-monitor status-monitor
RUN cargo build --release --locked -p status-monitor \
 && install -D -m 0755 target/release/status-monitor /out/status-monitor

FROM gcr.io/distroless/cc-debian12:nonroot
ARG git_sha=unknown
LABEL multi.GIT_SHA=$git_sha \
      org.opencontainers.image.title="status-monitor" \
      org.opencontainers.image.description="DNS zone of KubeVirt VMs' secondary interfaces" \
      org.opencontainers.image.revision=$git_sha \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/status-monitor /usr/local/bin/status-monitor
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/status-monitor"]

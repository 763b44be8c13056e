//! HTTP endpoints: `/healthz` (alive), `/readyz` (the first complete zones are served),
//! `/metrics` (Prometheus text format).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::ListenAddress;

use crate::metrics::Metrics;
use crate::readiness::{Readiness, ReadyWhen, Stage};

#[derive(Clone)]
struct AppState {
    readiness: Readiness,
    ready_when: ReadyWhen,
    metrics: Arc<Metrics>,
}

pub fn router(readiness: Readiness, ready_when: ReadyWhen, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AppState {
            readiness,
            ready_when,
            metrics,
        })
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.readiness.is_ready(state.ready_when) {
        return (StatusCode::OK, "ready\n");
    }
    let waiting = match (state.readiness.stage(), state.ready_when) {
        (Stage::NothingOnDisk, _) => "initial VMI list not written yet\n",
        // The DNS server beside us loads new zone files on its own schedule.
        (_, ReadyWhen::Served) => {
            "zones written; waiting for the DNS server at LOCAL_DNS_ADDR to serve them\n"
        }
        (_, ReadyWhen::OnDiskFor(_)) => {
            "zones written; waiting READY_DELAY_MS for the DNS server to load them\n"
        }
    };
    (StatusCode::SERVICE_UNAVAILABLE, waiting)
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// Binds `address` (so that a port in use stops startup) and serves in the background.
pub async fn serve(
    address: ListenAddress,
    readiness: Readiness,
    ready_when: ReadyWhen,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let listener = match address {
        ListenAddress::Socket(address) => TcpListener::bind(address).await?,
        ListenAddress::AllInterfaces { port } => match bind_dual_stack(port) {
            Err(e) if ipv6_is_unavailable(&e) => {
                warn!(error = %e, "no IPv6 here: serving HTTP on IPv4 only");
                TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).await?
            }
            bound => bound?,
        },
    };
    info!(address = %listener.local_addr()?, "serving /healthz, /readyz and /metrics");
    let app = router(readiness, ready_when, metrics);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(())
}

/// `[::]:port` with IPV6_V6ONLY off, so that IPv4 clients (as `::ffff:a.b.c.d`)
/// and IPv6 ones reach it whatever `net.ipv6.bindv6only` says: kubelet probes
/// the pod IP, which is IPv6 on IPv6-only clusters and IPv4 on the others.
fn bind_dual_stack(port: u16) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV6, Type::STREAM, None)?;
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// A kernel without IPv6 (`ipv6.disable=1`) refuses the socket or the address;
/// any other error (a port in use) is the operator's to see.
fn ipv6_is_unavailable(error: &std::io::Error) -> bool {
    const EAFNOSUPPORT: i32 = 97;
    const EADDRNOTAVAIL: i32 = 99;
    const EPROTONOSUPPORT: i32 = 93;
    matches!(
        error.raw_os_error(),
        Some(EAFNOSUPPORT | EADDRNOTAVAIL | EPROTONOSUPPORT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_ipv6_falls_back_to_ipv4() {
        for errno in [97, 99, 93] {
            assert!(ipv6_is_unavailable(&std::io::Error::from_raw_os_error(
                errno
            )));
        }
        // EADDRINUSE, EACCES: startup must stop, not quietly serve on IPv4.
        for errno in [98, 13] {
            assert!(!ipv6_is_unavailable(&std::io::Error::from_raw_os_error(
                errno
            )));
        }
    }
}

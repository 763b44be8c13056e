//! API server faults the real server of the integration tier cannot be made to
//! produce on demand: 5xx answers, a connection reset in the middle of a list, a
//! slow watch. kube's `Client` runs over a `tower_test` mock service (the
//! controller-rs pattern) that plays the API server; the watcher must back off,
//! never crash, and deliver the complete list once the server behaves.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

#[allow(dead_code)] // the VMI builder alone, without the rest of common
#[path = "common/fixtures.rs"]
mod fixtures;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use kube::client::Body;
use serde_json::json;
use status_monitor::config::AddressSource;
use status_monitor::metrics::Metrics;
use status_monitor::projection::Rules;
use status_monitor::source::kubernetes;
use status_monitor::source::{KeptAnnotations, SourceEvent};
use tokio::sync::mpsc;
use tower_test::mock::{self, Handle, SendResponse};
use zone_manager::Origin;

use fixtures::Vmi;

type ResponseBody = BoxBody<Bytes, std::io::Error>;
type ApiServer = Handle<Request<Body>, Response<ResponseBody>>;

fn vmi(name: &str, ip: &str) -> serde_json::Value {
    Vmi::new("lab", name)
        .secondary("red", &[ip])
        .resource_version("10")
        .json()
}

fn list_body() -> Vec<u8> {
    json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceList",
        "metadata": {"resourceVersion": "10"},
        "items": [vmi("a", "10.0.0.1"), vmi("b", "10.0.0.2")]
    })
    .to_string()
    .into_bytes()
}

fn full(status: StatusCode, body: Vec<u8>) -> Response<ResponseBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap()
}

fn server_error() -> Response<ResponseBody> {
    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "message": "etcdserver: leader changed", "reason": "InternalError", "code": 500});
    full(
        StatusCode::INTERNAL_SERVER_ERROR,
        status.to_string().into_bytes(),
    )
}

/// Half a list, then the connection dies.
fn reset_mid_list() -> Response<ResponseBody> {
    let body = list_body();
    let half = Bytes::from(body[..body.len() / 2].to_vec());
    let frames = futures::stream::iter([
        Ok(Frame::data(half)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        )),
    ]);
    Response::builder()
        .status(StatusCode::OK)
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap()
}

/// One watch event, sent only after `delay`; then the stream stays open.
fn slow_watch(delay: Duration) -> Response<ResponseBody> {
    let event = json!({"type": "MODIFIED", "object": vmi("a", "10.0.0.9")}).to_string() + "\n";
    use futures::StreamExt as _;
    let frames = futures::stream::once(async move {
        tokio::time::sleep(delay).await;
        Ok::<_, std::io::Error>(Frame::data(Bytes::from(event)))
    })
    .chain(futures::stream::pending());
    Response::builder()
        .status(StatusCode::OK)
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap()
}

async fn next_request(
    server: &mut ApiServer,
) -> (Request<Body>, SendResponse<Response<ResponseBody>>) {
    tokio::time::timeout(Duration::from_secs(30), server.next_request())
        .await
        .expect("the watcher asked again (with backoff)")
        .expect("service not dropped")
}

fn is_list(request: &Request<Body>) -> bool {
    let query = request.uri().query().unwrap_or_default();
    request.uri().path() == "/apis/kubevirt.io/v1/virtualmachineinstances"
        && !query.contains("watch=true")
}

fn start() -> (
    ApiServer,
    mpsc::Receiver<SourceEvent>,
    Arc<Metrics>,
    tokio::task::JoinHandle<()>,
) {
    let (service, server) = mock::pair::<Request<Body>, Response<ResponseBody>>();
    let client = kube::Client::new(service, "default");
    let (sink, events) = mpsc::channel(16);
    let metrics = Arc::new(Metrics::new());
    let origin = Origin::for_domain("example.com").unwrap();
    let task = tokio::spawn(kubernetes::run(
        client,
        origin,
        Rules::default(),
        sink,
        metrics.clone(),
        AddressSource::Any,
        KeptAnnotations::default(),
    ));
    (server, events, metrics, task)
}

async fn expect_resync(events: &mut mpsc::Receiver<SourceEvent>) -> Vec<String> {
    match tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .unwrap()
    {
        Some(SourceEvent::Resync { vms, .. }) => {
            vms.iter().map(|vm| vm.name().to_string()).collect()
        }
        other => panic!("expected the complete list, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_are_retried_and_the_complete_list_still_arrives() {
    let (mut server, mut events, metrics, task) = start();
    for _ in 0..2 {
        let (request, respond) = next_request(&mut server).await;
        assert!(is_list(&request), "{}", request.uri());
        respond.send_response(server_error());
    }
    let (request, respond) = next_request(&mut server).await;
    assert!(
        is_list(&request),
        "the list is asked again: {}",
        request.uri()
    );
    respond.send_response(full(StatusCode::OK, list_body()));
    assert_eq!(expect_resync(&mut events).await, ["a", "b"]);
    assert_eq!(metrics.watch_errors.get(), 2);
    assert!(!task.is_finished(), "the watch goes on");
    task.abort();
}

#[tokio::test]
async fn a_connection_reset_mid_list_is_retried_and_nothing_partial_is_sent() {
    let (mut server, mut events, metrics, task) = start();
    let (request, respond) = next_request(&mut server).await;
    assert!(is_list(&request));
    respond.send_response(reset_mid_list());
    let (request, respond) = next_request(&mut server).await;
    assert!(
        is_list(&request),
        "relisted after the reset: {}",
        request.uri()
    );
    assert!(
        events.try_recv().is_err(),
        "nothing sent from the broken list"
    );
    respond.send_response(full(StatusCode::OK, list_body()));
    assert_eq!(expect_resync(&mut events).await, ["a", "b"]);
    assert!(metrics.watch_errors.get() >= 1);
    task.abort();
}

#[tokio::test]
async fn a_slow_watch_delivers_its_events_when_they_come() {
    let (mut server, mut events, metrics, task) = start();
    let (_, respond) = next_request(&mut server).await;
    respond.send_response(full(StatusCode::OK, list_body()));
    assert_eq!(expect_resync(&mut events).await, ["a", "b"]);

    let (request, respond) = next_request(&mut server).await;
    assert!(
        request
            .uri()
            .query()
            .unwrap_or_default()
            .contains("watch=true"),
        "{}",
        request.uri()
    );
    respond.send_response(slow_watch(Duration::from_secs(2)));
    match tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .unwrap()
    {
        Some(SourceEvent::Apply {
            vmi, vm: Some(vm), ..
        }) => {
            assert_eq!(vmi.to_string(), "lab/a");
            assert_eq!(
                vm.interfaces().next().unwrap().ipv4()[0].to_string(),
                "10.0.0.9"
            );
        }
        other => panic!("expected the watched change, got {other:?}"),
    }
    assert_eq!(metrics.watch_errors.get(), 0);
    task.abort();
}

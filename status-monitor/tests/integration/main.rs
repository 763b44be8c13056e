//! The integration tier: status-monitor against a real etcd + kube-apiserver
//! with RBAC enforced, authenticated as the service account the deployment ships,
//! its zone served by real DNS servers and asked with dig: knotd (reloaded on
//! demand) and CoreDNS with the shipped Corefile (COREDNS or
//! ../shared/bin/coredns; reloading on its own schedule, as in the pod).
//!
//! Run with `make integration` (builds or reuses kube-apiserver; see
//! hack/kube-assets.sh). Each scenario starts its own control plane.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

#[path = "../common/mod.rs"]
mod common;

mod access;
mod addresses;
mod dns_endpoints;
mod names;
mod replicas;
mod scale;
mod zones;

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::cluster::{Cluster, repo_root};
use common::coredns::CoreDns;
use common::dns::{Knot, check_zone_file};
use common::monitor::{Monitor, fqdn, wait_until};
use common::vmis::Vmis;
use futures::{StreamExt, stream};
use tempfile::TempDir;

/// A control plane, a zones directory served by knotd and CoreDNS, and (once
/// started) the monitor.
struct Setup {
    cluster: Cluster,
    vmis: Vmis,
    zones: TempDir,
    knot: Knot,
    /// `None` only where no CoreDNS binary is provided (said on stderr).
    coredns: Option<CoreDns>,
}

impl Setup {
    async fn new() -> Self {
        let cluster = Cluster::start();
        let vmis = Vmis::connect(&cluster).await;
        let zones = tempfile::tempdir().unwrap();
        let knot = Knot::serve(zones.path());
        let coredns = CoreDns::serve(zones.path());
        Self {
            cluster,
            vmis,
            zones,
            knot,
            coredns,
        }
    }

    /// CoreDNS answers NAME TYPE with `expected` (once it has reloaded).
    fn coredns_answers(&self, name: &str, rtype: &str, expected: &[&str]) {
        if let Some(coredns) = &self.coredns {
            let response = coredns.wait_for_answer(name, rtype, expected);
            assert!(response.is_authoritative(), "{}", response.text);
        }
    }

    /// CoreDNS answers NAME with NXDOMAIN (once it has reloaded).
    fn coredns_nxdomain(&self, name: &str) {
        if let Some(coredns) = &self.coredns {
            coredns.wait_for_rcode(name, "A", "NXDOMAIN");
        }
    }

    /// status-monitor in Kubernetes mode, as the shipped service account.
    fn start_monitor(&self) -> Monitor {
        self.start_monitor_with(&[])
    }

    fn start_monitor_with(&self, extra_env: &[(&str, &str)]) -> Monitor {
        let kubeconfig = self.cluster.kubeconfig("monitor");
        let mut env = vec![("KUBECONFIG", kubeconfig.to_str().unwrap())];
        env.extend_from_slice(extra_env);
        Monitor::spawn(self.zones.path(), &env, &[] as &[&OsStr])
    }

    fn ready_monitor(&self) -> Monitor {
        let monitor = self.start_monitor();
        monitor.wait_until_ready();
        monitor
    }
}

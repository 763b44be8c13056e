//! status-monitor: watches KubeVirt VirtualMachineInstances, projects each to the
//! addresses of its secondary interfaces and keeps DNS zones of them on disk.
//!
//! Data flows one way, one folder per stage:
//! [`source`] (the Kubernetes API or a manifest directory, decoded by [`vmi`])
//! → [`projection`] → [`output`] (the zone files; DNSEndpoints when enabled).
//! [`config`], [`http`], [`metrics`] and [`logging`] serve them all;
//! [`explain`] runs one VMI through the same projection for people.

pub mod config;
pub mod dns_query;
pub mod explain;
pub mod file_events;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod projection;
pub mod readiness;
pub mod relist;
pub mod retry;
pub mod source;
pub mod vmi;

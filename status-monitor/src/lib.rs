//! status-monitor: watches KubeVirt VirtualMachineInstances, projects each to the
//! addresses of its secondary interfaces and keeps a DNS zone of them on disk.
//!
//! source (manifests or the Kubernetes API) → [`projection`] → zone-manager
//! records → render → atomic write.

pub mod catalog;
pub mod config;
pub mod debounce;
pub mod dns_endpoint;
pub mod endpoint_sink;
pub mod http;
pub mod kubernetes;
pub mod local;
pub mod logging;
pub mod manifests;
pub mod metrics;
pub mod network_status;
pub mod pipeline;
pub mod projection;
pub mod publisher;
pub mod selection;
pub mod vmi;
pub mod watched;

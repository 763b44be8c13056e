//! status-monitor: watches KubeVirt VirtualMachineInstances, projects each to the
//! addresses of its secondary interfaces and keeps a DNS zone of them on disk.
//!
//! source (manifests or the Kubernetes API) → [`projection`] → zone-manager
//! records → render → atomic write.

pub mod catalog;
pub mod config;
pub mod local;
pub mod logging;
pub mod manifests;
pub mod projection;
pub mod publisher;
pub mod vmi;

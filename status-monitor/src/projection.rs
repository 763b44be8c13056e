//! From a VMI to what the zone needs of it: validated names and the usable
//! addresses of its secondary interfaces ([`VmAddresses`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use std::sync::Arc;
use tracing::warn;

use zone_manager::{InterfaceAddresses, Label, LabelInterner, NameError, Origin, VmAddresses};

use crate::metrics::Metrics;

use crate::vmi::{InterfaceStatus, VirtualMachineInstance, VmiRef};

/// More interfaces than a VM can have (KubeVirt is bound by PCI slots): the
/// object is hostile or broken, and skipped.
pub const MAX_INTERFACES: usize = 256;
/// More addresses than any real interface reports: the interface is skipped.
pub const MAX_ADDRESSES_PER_INTERFACE: usize = 64;

/// Why a VMI gives no records at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmiSkip {
    #[error("VMI name {name:?} is not a DNS label: it {reason}")]
    InvalidName { name: String, reason: NameError },
    #[error("namespace {namespace:?} is not a DNS label: it {reason}")]
    InvalidNamespace {
        namespace: String,
        reason: NameError,
    },
    #[error("the VM's name would be too long: it {0}")]
    NameTooLong(NameError),
    #[error("{0} interfaces in status, more than the {MAX_INTERFACES} a VM can have")]
    TooManyInterfaces(usize),
}

impl VmiSkip {
    /// The `reason` label of the skip metric.
    pub fn reason(&self) -> &'static str {
        match self {
            VmiSkip::InvalidName { .. } => "invalid_name",
            VmiSkip::InvalidNamespace { .. } => "invalid_namespace",
            VmiSkip::NameTooLong(_) => "name_too_long",
            VmiSkip::TooManyInterfaces(_) => "too_many_interfaces",
        }
    }
}

/// Something of a VMI left out of the zone while the rest of it is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceSkip {
    InvalidName {
        interface: String,
        reason: NameError,
    },
    NameTooLong {
        interface: String,
        reason: NameError,
    },
    Duplicate {
        interface: String,
    },
    TooManyAddresses {
        interface: String,
        count: usize,
    },
    UnparsableAddress {
        interface: String,
        address: String,
    },
}

impl InterfaceSkip {
    /// The `reason` label of the skip metric.
    pub fn reason(&self) -> &'static str {
        match self {
            InterfaceSkip::InvalidName { .. } => "interface_invalid_name",
            InterfaceSkip::NameTooLong { .. } => "interface_name_too_long",
            InterfaceSkip::Duplicate { .. } => "interface_duplicate",
            InterfaceSkip::TooManyAddresses { .. } => "interface_too_many_addresses",
            InterfaceSkip::UnparsableAddress { .. } => "unparsable_address",
        }
    }
}

impl fmt::Display for InterfaceSkip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceSkip::InvalidName { interface, reason } => {
                write!(
                    f,
                    "interface {interface:?} skipped: its name is not a DNS label: it {reason}"
                )
            }
            InterfaceSkip::NameTooLong { interface, reason } => {
                write!(f, "interface {interface:?} skipped: its name {reason}")
            }
            InterfaceSkip::Duplicate { interface } => write!(
                f,
                "interface {interface:?} skipped: the name appears more than once in status.interfaces"
            ),
            InterfaceSkip::TooManyAddresses { interface, count } => write!(
                f,
                "interface {interface:?} skipped: {count} addresses, more than {MAX_ADDRESSES_PER_INTERFACE}"
            ),
            InterfaceSkip::UnparsableAddress { interface, address } => write!(
                f,
                "interface {interface:?}: address {address:?} is not an IP address and is ignored"
            ),
        }
    }
}

/// A VMI as the zone sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    pub vm: VmAddresses,
    /// Parts left out, each to be reported with the VMI's name.
    pub skipped: Vec<InterfaceSkip>,
}

/// Projects a VMI: its secondary interfaces (every named status interface that is
/// not on the default network) with their publishable addresses.
pub fn project(vmi: &VirtualMachineInstance, origin: &Origin) -> Result<Projection, VmiSkip> {
    project_with(vmi, origin, &mut LabelInterner::default())
}

fn project_with(
    vmi: &VirtualMachineInstance,
    origin: &Origin,
    labels: &mut LabelInterner,
) -> Result<Projection, VmiSkip> {
    let vmi_ref = VmiRef::of(vmi);
    let namespace =
        labels
            .label(&vmi_ref.namespace)
            .map_err(|reason| VmiSkip::InvalidNamespace {
                namespace: vmi_ref.namespace.clone(),
                reason,
            })?;
    let name = Label::new(&vmi_ref.name).map_err(|reason| VmiSkip::InvalidName {
        name: vmi_ref.name.clone(),
        reason,
    })?;
    origin
        .check_fits(&[&name, &namespace])
        .map_err(VmiSkip::NameTooLong)?;

    let statuses = vmi
        .status
        .as_ref()
        .and_then(|s| s.interfaces.as_deref())
        .unwrap_or_default();
    if statuses.len() > MAX_INTERFACES {
        return Err(VmiSkip::TooManyInterfaces(statuses.len()));
    }
    let default_networks: BTreeSet<&str> = vmi
        .spec
        .networks
        .iter()
        .flatten()
        .filter(|n| n.is_default())
        .filter_map(|n| n.name.as_deref())
        .collect();

    // Group by network name first: a name seen twice is ambiguous, and picking
    // one would depend on the order KubeVirt happened to list them in.
    let mut by_name: BTreeMap<&str, Vec<&InterfaceStatus>> = BTreeMap::new();
    for status in statuses {
        match status.name.as_deref() {
            Some(n) if !n.is_empty() && !default_networks.contains(n) => {
                by_name.entry(n).or_default().push(status)
            }
            // Unnamed (guest-agent only) and default-network interfaces are not ours.
            _ => {}
        }
    }

    let mut skipped = Vec::new();
    let mut interfaces = Vec::new();
    for (interface, entries) in by_name {
        if entries.len() > 1 {
            skipped.push(InterfaceSkip::Duplicate {
                interface: interface.to_owned(),
            });
            continue;
        }
        if let Some(found) = project_interface(
            interface,
            entries[0],
            &name,
            &namespace,
            origin,
            labels,
            &mut skipped,
        ) {
            interfaces.push(found);
        }
    }
    Ok(Projection {
        vm: VmAddresses::new(namespace, name, interfaces),
        skipped,
    })
}

fn project_interface(
    interface: &str,
    status: &InterfaceStatus,
    vm: &Label,
    namespace: &Label,
    origin: &Origin,
    labels: &mut LabelInterner,
    skipped: &mut Vec<InterfaceSkip>,
) -> Option<InterfaceAddresses> {
    let label = match labels.label(interface) {
        Ok(label) => label,
        Err(reason) => {
            skipped.push(InterfaceSkip::InvalidName {
                interface: interface.to_owned(),
                reason,
            });
            return None;
        }
    };
    if let Err(reason) = origin.check_fits(&[&label, vm, namespace]) {
        skipped.push(InterfaceSkip::NameTooLong {
            interface: interface.to_owned(),
            reason,
        });
        return None;
    }
    let raw = addresses_of(status);
    if raw.len() > MAX_ADDRESSES_PER_INTERFACE {
        skipped.push(InterfaceSkip::TooManyAddresses {
            interface: interface.to_owned(),
            count: raw.len(),
        });
        return None;
    }
    let mut addresses = Vec::with_capacity(raw.len());
    for text in raw {
        match text.trim().parse::<IpAddr>() {
            Ok(address) => addresses.push(address),
            Err(_) => skipped.push(InterfaceSkip::UnparsableAddress {
                interface: interface.to_owned(),
                address: text.to_owned(),
            }),
        }
    }
    Some(InterfaceAddresses::new(label, addresses))
}

/// `ipAddresses`, or `[ipAddress]` when that list is empty.
fn addresses_of(status: &InterfaceStatus) -> Vec<&str> {
    let list: Vec<&str> = status
        .ip_addresses
        .iter()
        .flatten()
        .map(String::as_str)
        .filter(|a| !a.is_empty())
        .collect();
    if !list.is_empty() {
        return list;
    }
    status
        .ip_address
        .as_deref()
        .filter(|a| !a.is_empty())
        .into_iter()
        .collect()
}

/// Projects the VMIs of one source for one zone, sharing repeated labels, and
/// reports what is left out: a warning naming the VMI for each skip (inside the
/// caller's span) and the skip metric.
pub struct Projector {
    origin: Origin,
    labels: LabelInterner,
    metrics: Arc<Metrics>,
}

impl Projector {
    pub fn new(origin: Origin, metrics: Arc<Metrics>) -> Self {
        Self {
            origin,
            labels: LabelInterner::default(),
            metrics,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The VM's addresses, or `None` when the VMI is skipped.
    pub fn project(&mut self, vmi: &VirtualMachineInstance) -> Option<VmAddresses> {
        match project_with(vmi, &self.origin, &mut self.labels) {
            Ok(projection) => {
                for skip in &projection.skipped {
                    self.metrics.skip(skip.reason());
                    warn!(vmi = %VmiRef::of(vmi), "{skip}");
                }
                Some(projection.vm)
            }
            Err(reason) => {
                self.metrics.skip(reason.reason());
                warn!(vmi = %VmiRef::of(vmi), %reason, "skipping VMI");
                None
            }
        }
    }

    /// Drops shared labels no VM uses any more; call after a relist or rescan.
    pub fn forget_unused_labels(&mut self) {
        self.labels.forget_unused();
    }
}

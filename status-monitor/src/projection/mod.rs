//! From a VMI to what the zone needs of it: validated names and the usable
//! addresses of its secondary interfaces ([`VmAddresses`]). Every rule of what
//! is published lives here, so that `render`, the watched directory and the
//! Kubernetes watch agree: names, default network, final phases, hot-unplug,
//! SR-IOV addresses by MAC, the owner's annotations and the label selector.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use kube::core::{Selector, SelectorExt};
use tracing::{debug, warn};
use zone_manager::{
    ChosenNames, InterfaceAddresses, Label, LabelInterner, Origin, SchemeName, VmAddresses,
};

use crate::metrics::Metrics;
use crate::vmi::{InterfaceStatus, VirtualMachineInstance, VmiRef};

pub mod network;
pub mod selection;
mod skips;

pub use skips::{InterfaceSkip, VmiSkip};

/// More interfaces than a VM can have (KubeVirt is bound by PCI slots): the
/// object is hostile or broken, and skipped.
pub const MAX_INTERFACES: usize = 256;
/// More addresses than any real interface reports: the interface is skipped.
pub const MAX_ADDRESSES_PER_INTERFACE: usize = 64;
/// `"false"` keeps a VMI out of DNS; `"true"` (or none) publishes it as usual.
pub const PUBLISH_ANNOTATION: &str = "kubevirt-dns.io/publish";
/// The interface whose addresses (both families) `<vmi>.<namespace>` takes.
pub const VM_NAME_INTERFACE_ANNOTATION: &str = "kubevirt-dns.io/vm-name-interface";
/// `"www, api"`: `www.<namespace>` and `api.<namespace>`, CNAMEs to the VM name.
pub const ALIASES_ANNOTATION: &str = "kubevirt-dns.io/aliases";
/// Seconds, 0 to [`MAX_TTL`]: the TTL of every record of the VM.
pub const TTL_ANNOTATION: &str = "kubevirt-dns.io/ttl";
/// The largest TTL a VM may set: a day.
pub const MAX_TTL: u32 = 86_400;
/// More aliases than anyone means: the rest are ignored, with a warning.
pub const MAX_ALIASES: usize = 64;

/// The settings of the projection that come from the configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// `VMI_LABEL_SELECTOR`: only VMIs it matches are published (the API
    /// server applies it to the watch too; manifests are filtered here).
    pub selector: Option<Selector>,
    /// SR-IOV and other bindings: a named interface without addresses takes the
    /// guest agent's, from the unnamed status entry with its MAC. Off with
    /// `ADDRESS_SOURCE=network`, where only the CNI's addresses count.
    pub addresses_by_mac: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            selector: None,
            addresses_by_mac: true,
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
    project_with(
        vmi,
        origin,
        &Rules::default(),
        &mut LabelInterner::default(),
    )
}

/// Whether `VMI_LABEL_SELECTOR` (if any) selects `vmi`.
pub fn is_selected(rules: &Rules, vmi: &VirtualMachineInstance) -> bool {
    let no_labels = BTreeMap::new();
    rules
        .selector
        .as_ref()
        .is_none_or(|selector| selector.matches(vmi.metadata.labels.as_ref().unwrap_or(&no_labels)))
}

/// [`project`] under `rules` (the selector aside: see [`is_selected`]).
pub fn project_with_rules(
    vmi: &VirtualMachineInstance,
    origin: &Origin,
    rules: &Rules,
) -> Result<Projection, VmiSkip> {
    project_with(vmi, origin, rules, &mut LabelInterner::default())
}

/// At most the first 64 characters of an owner's value, for a log line.
fn shortened(value: &str) -> String {
    match value.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

/// The value of the VMI's annotation `key`.
fn annotation<'a>(vmi: &'a VirtualMachineInstance, key: &str) -> Option<&'a str> {
    let annotations = vmi.metadata.annotations.as_ref()?;
    annotations.get(key).map(|value| value.trim())
}

fn project_with(
    vmi: &VirtualMachineInstance,
    origin: &Origin,
    rules: &Rules,
    labels: &mut LabelInterner,
) -> Result<Projection, VmiSkip> {
    let vmi_ref = VmiRef::of(vmi);
    let mut skipped = Vec::new();
    match annotation(vmi, PUBLISH_ANNOTATION) {
        Some("false") => return Err(VmiSkip::OptedOut),
        None | Some("true") => {}
        Some(other) => skipped.push(InterfaceSkip::InvalidAnnotation {
            annotation: PUBLISH_ANNOTATION,
            value: shortened(other),
            consequence: "expected \"true\" or \"false\"; published as usual",
        }),
    }
    if let Some(status) = vmi.status.as_ref().filter(|s| s.is_final()) {
        return Err(VmiSkip::FinalPhase(
            status.phase.clone().unwrap_or_default(),
        ));
    }
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

    let statuses = vmi.status_interfaces();
    if statuses.len() > MAX_INTERFACES {
        return Err(VmiSkip::TooManyInterfaces(statuses.len()));
    }
    let default_networks = vmi.spec.default_network_names();

    let devices = vmi.spec.device_interfaces();
    let unplugged: BTreeSet<&str> = devices
        .iter()
        .filter(|d| d.is_unplugged())
        .filter_map(|d| d.name.as_deref())
        .collect();

    // Group by network name first: a name seen twice is ambiguous, and picking
    // one would depend on the order KubeVirt happened to list them in.
    let mut by_name: BTreeMap<&str, Vec<&InterfaceStatus>> = BTreeMap::new();
    // Entries only the guest agent knows (no name), by MAC: SR-IOV's addresses.
    let mut unnamed = Vec::new();
    for status in statuses {
        match status.name.as_deref() {
            Some(n) if !n.is_empty() && !default_networks.contains(n) => {
                by_name.entry(n).or_default().push(status)
            }
            Some(n) if !n.is_empty() => {} // the default network is not ours
            _ => unnamed.push(status),
        }
    }

    let mut interfaces = Vec::new();
    for (interface, entries) in by_name {
        if entries.len() > 1 {
            skipped.push(InterfaceSkip::Duplicate {
                interface: interface.to_owned(),
            });
            continue;
        }
        if unplugged.contains(interface) {
            skipped.push(InterfaceSkip::Unplugged {
                interface: interface.to_owned(),
            });
            continue;
        }
        let mut addresses = addresses_of(entries[0]);
        if addresses.is_empty() && rules.addresses_by_mac {
            let device_mac = devices
                .iter()
                .find(|d| d.name.as_deref() == Some(interface))
                .and_then(|d| d.mac_address.as_deref());
            if let Some(mac) = device_mac.or(entries[0].mac.as_deref()) {
                addresses = guest_addresses_with_mac(&unnamed, mac);
            }
        }
        if let Some(found) = project_interface(
            interface,
            addresses,
            &name,
            &namespace,
            origin,
            labels,
            &mut skipped,
        ) {
            interfaces.push(found);
        }
    }
    let vm_name_interface = match annotation(vmi, VM_NAME_INTERFACE_ANNOTATION) {
        None => None,
        Some(wanted) => {
            let found = interfaces
                .iter()
                .find(|i| i.name().as_str() == wanted && !i.is_empty())
                .map(|i| i.name().clone());
            if found.is_none() {
                skipped.push(InterfaceSkip::InvalidAnnotation {
                    annotation: VM_NAME_INTERFACE_ANNOTATION,
                    value: shortened(wanted),
                    consequence: "no published interface of that name; the VM name takes the first interfaces by name",
                });
            }
            found
        }
    };
    let chosen = chosen_names(vmi, &name, &namespace, origin, labels, &mut skipped);
    let vm = VmAddresses::with_vm_name_interface(
        namespace,
        name,
        interfaces,
        vm_name_interface.as_ref(),
    );
    Ok(Projection {
        vm: vm.with_chosen_names(chosen),
        skipped,
    })
}

fn invalid_scheme_name(
    field: &'static str,
    value: &str,
) -> impl FnOnce(zone_manager::NameError) -> InterfaceSkip {
    let value = shortened(value);
    move |reason| InterfaceSkip::InvalidSchemeName {
        field,
        value,
        reason,
    }
}

/// The names the VMI's owner chose: KubeVirt's `<hostname>.<subdomain>`
/// scheme from the spec, aliases and a TTL from annotations. What does not
/// fit is left out with a warning; the VM's own names are published anyway.
fn chosen_names(
    vmi: &VirtualMachineInstance,
    name: &Label,
    namespace: &Label,
    origin: &Origin,
    labels: &mut LabelInterner,
    skipped: &mut Vec<InterfaceSkip>,
) -> ChosenNames {
    let mut chosen = ChosenNames::default();
    // As in the cluster DNS: a hostname alone gives no name.
    if let Some(subdomain) = vmi.spec.subdomain.as_deref().filter(|s| !s.is_empty()) {
        let hostname = vmi.spec.hostname.as_deref().filter(|h| !h.is_empty());
        let scheme = (|| {
            let subdomain = labels
                .label(subdomain)
                .map_err(invalid_scheme_name("spec.subdomain", subdomain))?;
            let hostname = match hostname {
                Some(text) => labels
                    .label(text)
                    .map_err(invalid_scheme_name("spec.hostname", text))?,
                None => name.clone(),
            };
            origin
                .check_fits(&[&hostname, &subdomain, namespace])
                .map_err(invalid_scheme_name("spec.hostname", hostname.as_str()))?;
            Ok(SchemeName {
                hostname,
                subdomain,
            })
        })();
        match scheme {
            Ok(scheme) => chosen.scheme = Some(scheme),
            Err(skip) => skipped.push(skip),
        }
    }
    if let Some(text) = annotation(vmi, ALIASES_ANNOTATION) {
        let entries = text.split(',').map(str::trim).filter(|a| !a.is_empty());
        let mut count = 0;
        for alias in entries {
            count += 1;
            if count > MAX_ALIASES {
                continue;
            }
            let label = labels.label(alias).and_then(|label| {
                origin.check_fits(&[&label, namespace])?;
                Ok(label)
            });
            match label {
                Ok(label) => chosen.aliases.push(label),
                Err(reason) => skipped.push(InterfaceSkip::InvalidAlias {
                    alias: shortened(alias),
                    reason,
                }),
            }
        }
        if count > MAX_ALIASES {
            skipped.push(InterfaceSkip::TooManyAliases { count });
        }
    }
    if let Some(text) = annotation(vmi, TTL_ANNOTATION) {
        match text.parse::<u32>() {
            Ok(ttl) if ttl <= MAX_TTL => chosen.ttl = Some(ttl),
            _ => skipped.push(InterfaceSkip::InvalidAnnotation {
                annotation: TTL_ANNOTATION,
                value: shortened(text),
                consequence: "not a whole number of seconds from 0 to 86400; the zone's TTL applies",
            }),
        }
    }
    chosen
}

/// The addresses of the unnamed status entries whose MAC is `mac` (in any case).
fn guest_addresses_with_mac<'a>(unnamed: &[&'a InterfaceStatus], mac: &str) -> Vec<&'a str> {
    unnamed
        .iter()
        .filter(|entry| {
            entry
                .mac
                .as_deref()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(mac.trim()))
        })
        .flat_map(|entry| addresses_of(entry))
        .collect()
}

fn project_interface(
    interface: &str,
    raw: Vec<&str>,
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
pub fn addresses_of(status: &InterfaceStatus) -> Vec<&str> {
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
    rules: Rules,
    labels: LabelInterner,
    metrics: Arc<Metrics>,
}

impl Projector {
    pub fn new(origin: Origin, metrics: Arc<Metrics>) -> Self {
        Self::with_rules(origin, Rules::default(), metrics)
    }

    pub fn with_rules(origin: Origin, rules: Rules, metrics: Arc<Metrics>) -> Self {
        Self {
            origin,
            rules,
            labels: LabelInterner::default(),
            metrics,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The VM's addresses, or `None` when the VMI is skipped.
    pub fn project(&mut self, vmi: &VirtualMachineInstance) -> Option<VmAddresses> {
        if !is_selected(&self.rules, vmi) {
            debug!(vmi = %VmiRef::of(vmi), "not selected by VMI_LABEL_SELECTOR");
            return None;
        }
        match project_with(vmi, &self.origin, &self.rules, &mut self.labels) {
            Ok(projection) => {
                for skip in &projection.skipped {
                    self.metrics.skip(skip.reason());
                    if skip.is_expected() {
                        debug!(vmi = %VmiRef::of(vmi), "{skip}");
                    } else {
                        warn!(vmi = %VmiRef::of(vmi), "{skip}");
                    }
                }
                Some(projection.vm)
            }
            Err(reason) => {
                self.metrics.skip(reason.reason());
                if reason.is_expected() {
                    debug!(vmi = %VmiRef::of(vmi), %reason, "publishing nothing for this VMI");
                } else {
                    warn!(vmi = %VmiRef::of(vmi), %reason, "skipping VMI");
                }
                None
            }
        }
    }

    /// Drops shared labels no VM uses any more; call after a relist or rescan.
    pub fn forget_unused_labels(&mut self) {
        self.labels.forget_unused();
    }
}

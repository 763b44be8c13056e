//! `status-monitor explain`: one VMI through the same projection the monitor
//! runs, for the person asking "why is my VM not in DNS?". It tells every name
//! and record the VMI gets and in which zone file, everything of it left out
//! with the reason, and whether the DNS server beside status-monitor serves
//! the zone file's serial.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use hickory_proto::rr::Name;
use serde::Serialize;
use zone_manager::chosen_names::resolve;
use zone_manager::reverse::for_each_ptr;
use zone_manager::{
    ChosenKind, Label, Origin, Owner, RecordData, VmAddresses, is_link_local, is_publishable,
    read_serial,
};

use crate::config::Config;
use crate::dns_query::{MessageIds, soa_serial};
use crate::projection::{self, InterfaceSkip};
use crate::source::directory::manifests::{ManifestError, ReadVmi, manifest_files, read_vmis};
use crate::vmi::decode::LenientVmi;
use crate::vmi::{VirtualMachineInstance, VmiRef};

/// What the zones hold of one VMI, and why anything of it is not there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub namespace: String,
    pub name: String,
    pub records: Vec<ExplainedRecord>,
    pub left_out: Vec<LeftOut>,
    /// Whether the zone of the VM's names is served at the serial on disk;
    /// `None` without a zones directory or a DNS server to ask.
    pub served: Option<ServedZone>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExplainedRecord {
    pub name: String,
    pub r#type: &'static str,
    pub data: String,
    /// The zone it is in, and that zone's file in ZONES_DIR.
    pub zone: String,
    pub file: String,
}

/// A part of the VMI that gives no record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    /// The VMI, one of its interfaces, or one address.
    pub what: String,
    /// The reason, as the `objects_skipped_total` metric labels it where it counts.
    pub reason: &'static str,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServedZone {
    pub zone: String,
    /// The serial of the zone file on disk, if there is one.
    pub written: Option<u32>,
    /// The serial the DNS server answers with, if it answers.
    pub served: Option<u32>,
}

impl Explanation {
    /// Whether the VMI has at least one record.
    pub fn is_published(&self) -> bool {
        !self.records.is_empty()
    }
}

/// Why `explain` has nothing to say.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("no VMI {0}")]
    NotFound(VmiRef),
    #[error(
        "no Kubernetes credentials (in-cluster service account or KUBECONFIG): {0}; use --source-dir for manifests"
    )]
    NoCredentials(kube::Error),
    #[error("cannot read VMI {vmi}: {error}")]
    Api { vmi: VmiRef, error: kube::Error },
    #[error(transparent)]
    Manifests(#[from] ManifestError),
}

/// Finds `wanted` (in `--source-dir`'s manifests, else in the cluster) and
/// explains it, served serial included.
pub async fn explain_vmi(config: &Config, wanted: &VmiRef) -> Result<Explanation, ExplainError> {
    let (found, neighbours) = match &config.source_dir {
        Some(dir) => find_in_manifests(dir, wanted)?,
        None => find_in_cluster(wanted).await?,
    };
    let mut explanation = match found {
        Some(Ok(vmi)) => explain(&vmi, &neighbours, config),
        Some(Err(malformed)) => Explanation {
            namespace: wanted.namespace.clone(),
            name: wanted.name.clone(),
            left_out: vec![LeftOut {
                what: "the VMI".into(),
                reason: "malformed",
                detail: malformed.message,
            }],
            ..Explanation::default()
        },
        None => return Err(ExplainError::NotFound(wanted.clone())),
    };
    check_served(&mut explanation, config).await;
    Ok(explanation)
}

/// The VMI `wanted` and the other VMIs of its namespace (whose names may
/// collide with its chosen ones).
type Found = (Option<ReadVmi>, Vec<VirtualMachineInstance>);

/// The VMI `wanted` among the manifests under `dir`, decoded or not, and its
/// namespace's other VMIs; files that cannot be read are reported and passed over.
fn find_in_manifests(dir: &Path, wanted: &VmiRef) -> Result<Found, ExplainError> {
    let mut found = None;
    let mut neighbours = Vec::new();
    for file in manifest_files(dir)? {
        let read = read_vmis(&file, |vmi| {
            let this = match &vmi {
                Ok(vmi) => VmiRef::of(vmi),
                Err(e) => e.vmi.clone(),
            };
            if &this == wanted {
                found = Some(vmi);
            } else if let (Ok(vmi), true) = (vmi, this.namespace == wanted.namespace) {
                neighbours.push(vmi);
            }
        });
        if let Err(e) = read {
            eprintln!("status-monitor: {e}");
        }
    }
    Ok((found, neighbours))
}

/// The VMI `wanted` from the cluster, decoded or not, and its namespace's
/// other VMIs.
async fn find_in_cluster(wanted: &VmiRef) -> Result<Found, ExplainError> {
    let client = kube::Client::try_default()
        .await
        .map_err(ExplainError::NoCredentials)?;
    let vmis: kube::Api<LenientVmi> = kube::Api::namespaced(client, &wanted.namespace);
    let vmi = vmis
        .get_opt(&wanted.name)
        .await
        .map_err(|error| ExplainError::Api {
            vmi: wanted.clone(),
            error,
        })?;
    let neighbours = vmis
        .list(&kube::api::ListParams::default())
        .await
        .map_err(|error| ExplainError::Api {
            vmi: wanted.clone(),
            error,
        })?
        .items
        .into_iter()
        .filter(|vmi| vmi.metadata.name.as_deref() != Some(wanted.name.as_str()))
        .filter_map(|vmi| vmi.decode().ok())
        .collect();
    Ok((vmi.map(LenientVmi::decode), neighbours))
}

/// Explains `vmi` under `config`'s projection rules, zone layout and reverse
/// zones, with the chosen names it keeps against `neighbours`, the other VMIs
/// of its namespace.
pub fn explain(
    vmi: &VirtualMachineInstance,
    neighbours: &[VirtualMachineInstance],
    config: &Config,
) -> Explanation {
    let vmi_ref = VmiRef::of(vmi);
    let mut explanation = Explanation {
        namespace: vmi_ref.namespace.clone(),
        name: vmi_ref.name.clone(),
        ..Explanation::default()
    };
    let rules = config.projection_rules();
    if !projection::is_selected(&rules, vmi) {
        explanation.left_out.push(LeftOut {
            what: "the VMI".into(),
            reason: "not_selected",
            detail: "its labels do not match VMI_LABEL_SELECTOR".into(),
        });
        return explanation;
    }
    let origin = &config.zone.origin;
    let projection = match projection::project_with_rules(vmi, origin, &rules) {
        Ok(projection) => projection,
        Err(skip) => {
            explanation.left_out.push(LeftOut {
                what: "the VMI".into(),
                reason: skip.reason(),
                detail: skip.to_string(),
            });
            return explanation;
        }
    };
    let defaults = vmi.spec.default_network_names();
    for interface in default_network_interfaces(vmi, &defaults) {
        explanation.left_out.push(LeftOut {
            what: format!("interface {interface}"),
            reason: "default_network",
            detail: "the pod network: only secondary (Multus) networks are published".into(),
        });
    }
    for skip in &projection.skipped {
        explanation.left_out.push(LeftOut {
            what: skip_subject(skip),
            reason: skip.reason(),
            detail: skip.to_string(),
        });
    }
    let vm = &projection.vm;
    let forward = if has_own_zone(config, vm.namespace()) {
        origin.child(vm.namespace())
    } else {
        origin.clone()
    };
    let mut published = BTreeSet::new();
    for record in vm.records() {
        published.extend(record.data.address());
        explanation.records.push(ExplainedRecord {
            name: format!("{}.{origin}", record.owner),
            r#type: record.data.record_type().as_str(),
            data: record.data.rdata().to_string(),
            zone: forward.to_string(),
            file: forward.file_name(),
        });
    }
    for_each_ptr(config.reverse_zones.iter(), vm, |zone, ptr| {
        let zone = config.reverse_zones[zone].origin();
        explanation.records.push(ExplainedRecord {
            name: Name::from(ptr.address).to_string(),
            r#type: "PTR",
            data: format!(
                "{}.{}.{}.{origin}",
                ptr.interface,
                vm.name(),
                vm.namespace()
            ),
            file: zone.file_name(),
            zone: zone.to_string(),
        });
    });
    explain_chosen_names(&mut explanation, vm, neighbours, config, &forward);
    explanation
        .records
        .sort_by(|a, b| (&a.file, &a.name).cmp(&(&b.file, &b.name)));
    explanation
        .left_out
        .extend(unpublished_addresses(vmi, &defaults, &published));
    if explanation.records.is_empty() && explanation.left_out.is_empty() {
        explanation.left_out.push(LeftOut {
            what: "the VMI".into(),
            reason: "no_address",
            detail: "no secondary interface reports an address in its status yet".into(),
        });
    }
    explanation
}

/// The names `vm`'s owner chose that are published, resolved against the
/// other published VMs of its namespace as the zone manager does, and those
/// that lost a collision.
fn explain_chosen_names(
    explanation: &mut Explanation,
    vm: &VmAddresses,
    neighbours: &[VirtualMachineInstance],
    config: &Config,
    forward: &Origin,
) {
    let Some(chosen) = vm.chosen_names() else {
        return;
    };
    let origin = &config.zone.origin;
    let rules = config.projection_rules();
    let others: Vec<VmAddresses> = neighbours
        .iter()
        .filter(|other| projection::is_selected(&rules, other))
        .filter_map(|other| projection::project_with_rules(other, origin, &rules).ok())
        .map(|projection| projection.vm)
        .filter(|other| !other.publishes_nothing())
        .collect();
    let mut vms: Vec<&VmAddresses> = others.iter().chain([vm]).collect();
    vms.sort_by(|a, b| a.name().cmp(b.name()));
    let resolved = resolve(&vms, config.zone.record_ttl, origin);
    let namespace = vm.namespace();
    let subdomain = chosen.scheme.as_ref().map(|s| &s.subdomain);
    let own_target = format!("{}.{namespace}.{origin}", vm.name());
    for record in &resolved.records {
        let Owner::Below(labels) = record.owner else {
            continue;
        };
        let labels: Vec<&str> = labels.iter().collect();
        let data = record.data.rdata().to_string();
        let ours = match (&labels[..], &record.data) {
            // Its scheme name and its group, by their labels.
            ([h, s, _], _) => chosen
                .scheme
                .as_ref()
                .is_some_and(|c| c.hostname.as_str() == *h && c.subdomain.as_str() == *s),
            ([s, _], RecordData::A(_) | RecordData::Aaaa(_)) => {
                subdomain.is_some_and(|c| c.as_str() == *s)
            }
            ([_, _], RecordData::Cname(_)) => data == own_target,
            _ => false,
        };
        if ours {
            explanation.records.push(ExplainedRecord {
                name: format!("{}.{origin}", labels.join(".")),
                r#type: record.data.record_type().as_str(),
                data,
                zone: forward.to_string(),
                file: forward.file_name(),
            });
        }
    }
    for lost in &resolved.collisions {
        let member = lost.kind == ChosenKind::Group
            && subdomain.is_some_and(|s| lost.name == format!("{s}.{namespace}"));
        if &lost.vmi == vm.name() || member {
            explanation.left_out.push(LeftOut {
                what: format!("name {}", lost.name),
                reason: "name_collision",
                detail: lost.to_string(),
            });
        }
    }
}

/// Whether the VM's namespace has a zone of its own. Under
/// `NAMESPACE_ZONES_MAX` that depends on every namespace's size, which one
/// VMI does not tell: the zones directory does when it holds the parent (in
/// the pod); elsewhere, the namespace is taken to be within the limit.
fn has_own_zone(config: &Config, namespace: &Label) -> bool {
    if !config.zone_layout.allows_own_zone(namespace) {
        return false;
    }
    let origin = &config.zone.origin;
    let on_disk = |zone: &Origin| config.zones_dir.zones().join(zone.file_name()).is_file();
    config.namespace_zones_max.is_none() || !on_disk(origin) || on_disk(&origin.child(namespace))
}

/// The zone file's serial against the one the DNS server at `LOCAL_DNS_ADDR`
/// serves, for the zone of the VM's names.
async fn check_served(explanation: &mut Explanation, config: &Config) {
    let zones_dir = config.zones_dir.zones();
    let Some(record) = explanation.records.iter().find(|r| r.r#type != "PTR") else {
        return;
    };
    let Ok(zone) = Origin::parse(&record.zone) else {
        return;
    };
    let written = std::fs::read_to_string(zones_dir.join(&record.file))
        .ok()
        .and_then(|text| read_serial(&text, &zone).ok())
        .map(|serial| serial.get());
    let served = match config.notify.local_dns {
        Some(server) => soa_serial(
            server,
            &zone,
            &MessageIds::default(),
            Duration::from_secs(1),
        )
        .await
        .map(|serial| serial.get()),
        None => None,
    };
    explanation.served = Some(ServedZone {
        zone: record.zone.clone(),
        written,
        served,
    });
}

fn skip_subject(skip: &InterfaceSkip) -> String {
    match skip {
        InterfaceSkip::Unplugged { interface }
        | InterfaceSkip::InvalidName { interface, .. }
        | InterfaceSkip::NameTooLong { interface, .. }
        | InterfaceSkip::Duplicate { interface }
        | InterfaceSkip::TooManyAddresses { interface, .. } => format!("interface {interface}"),
        InterfaceSkip::UnparsableAddress { interface, address } => {
            format!("address {address} of interface {interface}")
        }
        InterfaceSkip::InvalidAnnotation { annotation, .. } => format!("annotation {annotation}"),
        InterfaceSkip::InvalidSchemeName { field, .. } => field.to_string(),
        InterfaceSkip::InvalidAlias { alias, .. } => format!("alias {alias}"),
        InterfaceSkip::TooManyAliases { .. } => {
            format!("annotation {}", crate::projection::ALIASES_ANNOTATION)
        }
    }
}

/// The status interfaces on the pod network (`pod: {}` or a default Multus network).
fn default_network_interfaces<'a>(
    vmi: &'a VirtualMachineInstance,
    defaults: &BTreeSet<&str>,
) -> Vec<&'a str> {
    vmi.status_interfaces()
        .iter()
        .filter_map(|s| s.name.as_deref())
        .filter(|name| defaults.contains(name))
        .collect()
}

/// Addresses a secondary interface reports that give no record: link-local,
/// loopback, multicast or unspecified ones mean nothing off the VM's link.
fn unpublished_addresses(
    vmi: &VirtualMachineInstance,
    defaults: &BTreeSet<&str>,
    published: &BTreeSet<IpAddr>,
) -> Vec<LeftOut> {
    let mut left_out = Vec::new();
    for status in vmi.status_interfaces() {
        let Some(interface) = status.name.as_deref().filter(|n| !defaults.contains(n)) else {
            continue;
        };
        let mut seen = BTreeSet::new();
        for address in projection::addresses_of(status)
            .into_iter()
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        {
            if published.contains(&address) || is_publishable(address) || !seen.insert(address) {
                continue;
            }
            let link_local = is_link_local(address);
            left_out.push(LeftOut {
                what: format!("address {address} of interface {interface}"),
                reason: if link_local { "link_local" } else { "not_routable" },
                detail: "link-local, loopback, multicast and unspecified addresses mean nothing outside the VM's link".into(),
            });
        }
    }
    left_out
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "VMI {}/{}", self.namespace, self.name)?;
        if self.records.is_empty() {
            writeln!(f, "  no records: it is not in DNS")?;
        } else {
            writeln!(f, "  records:")?;
            let mut file = "";
            for record in &self.records {
                if record.file != file {
                    file = &record.file;
                    writeln!(f, "    in {file} (zone {}):", record.zone)?;
                }
                writeln!(f, "      {} {} {}", record.name, record.r#type, record.data)?;
            }
        }
        if !self.left_out.is_empty() {
            writeln!(f, "  left out:")?;
            for left in &self.left_out {
                writeln!(f, "    {}: {} ({})", left.what, left.detail, left.reason)?;
            }
        }
        if let Some(served) = &self.served {
            let mut line = format!("  zone {}: ", served.zone);
            match (served.written, served.served) {
                (Some(w), Some(s)) if w == s => write!(line, "serial {w} on disk and served")?,
                (Some(w), Some(s)) => {
                    write!(line, "serial {w} on disk, {s} served: not loaded yet")?
                }
                (Some(w), None) => write!(
                    line,
                    "serial {w} on disk; the DNS server does not answer for it"
                )?,
                (None, _) => write!(line, "no zone file on disk")?,
            }
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

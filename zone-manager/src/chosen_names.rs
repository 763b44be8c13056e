//! The names VM owners choose, resolved for one namespace at a time: which of
//! them are published, and the records they give. The result depends only on
//! the set of VMs, never on the order in which they came:
//! - a VM's own names (`<vmi>`, `<iface>.<vmi>`) always win;
//! - then the hostname/subdomain scheme names `<hostname>.<subdomain>`;
//! - then the subdomain groups `<subdomain>`, holding every member's addresses;
//! - then the aliases `<alias>`, each a CNAME, so alone at its name.
//!
//! Among names of one kind, the VM first by name wins.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;

use crate::name::{Label, Origin};
use crate::record::{Labels, Name, Owner, Record, RecordData};
use crate::vm_addresses::VmAddresses;

/// What a chosen name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChosenKind {
    /// `<hostname>.<subdomain>`
    Scheme,
    /// `<subdomain>`
    Group,
    /// `<alias>`
    Alias,
}

impl ChosenKind {
    fn describe(self) -> &'static str {
        match self {
            ChosenKind::Scheme => "hostname and subdomain",
            ChosenKind::Group => "subdomain group",
            ChosenKind::Alias => "alias",
        }
    }
}

/// Who holds a name that a chosen name wanted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Holder {
    /// A VM's own name.
    Own { vmi: Label },
    /// A chosen name of another kind, or of a VM before it by name.
    Chosen { kind: ChosenKind, vmi: Label },
}

/// A chosen name left out because another name holds it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NameCollision {
    pub namespace: Label,
    /// The name relative to `vm.<DOMAIN>`: `primary.db.tenant`.
    pub name: String,
    pub kind: ChosenKind,
    /// The VM whose name is left out (for a group, its first member by name).
    pub vmi: Label,
    pub holder: Holder,
}

impl fmt::Display for NameCollision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = &self.namespace;
        write!(
            f,
            "name {} ({} of VMI {ns}/{}) is not published: it is ",
            self.name,
            self.kind.describe(),
            self.vmi
        )?;
        match &self.holder {
            Holder::Own { vmi } => write!(f, "a name of VMI {ns}/{vmi} itself"),
            Holder::Chosen { kind, vmi } => {
                write!(f, "the {} of VMI {ns}/{vmi}", kind.describe())
            }
        }
    }
}

/// A name relative to the namespace: `(first label of two, last label)`.
type Key<'a> = (Option<&'a str>, &'a str);

/// The published chosen names of one namespace and those left out.
#[derive(Debug, Default)]
pub struct Resolved<'a> {
    /// Relative to `vm.<DOMAIN>`, like a VM's own records; sorted by owner.
    pub records: Vec<Record<'a>>,
    pub collisions: Vec<NameCollision>,
}

/// Resolves the chosen names of `vms`, all of one namespace and sorted by
/// name. `default_ttl` is the zone's `$TTL` (a group takes its members'
/// smallest); CNAMEs point into `origin`, the forward zone.
pub fn resolve<'a>(vms: &[&'a VmAddresses], default_ttl: u32, origin: &'a Origin) -> Resolved<'a> {
    let mut resolved = Resolved::default();
    if vms.iter().all(|vm| vm.chosen_names().is_none()) {
        return resolved;
    }
    let Some(namespace) = vms.first().map(|vm| vm.namespace()) else {
        return resolved;
    };
    let mut taken: HashMap<Key<'a>, Holder> = HashMap::new();
    for vm in vms {
        let own = Holder::Own {
            vmi: vm.name().clone(),
        };
        taken.insert((None, vm.name().as_str()), own.clone());
        for interface in vm.interfaces() {
            taken.insert(
                (Some(interface.name().as_str()), vm.name().as_str()),
                own.clone(),
            );
        }
    }
    let mut claim = |key: Key<'a>, kind: ChosenKind, vm: &VmAddresses, name: String| {
        if let Some(holder) = taken.get(&key) {
            resolved.collisions.push(NameCollision {
                namespace: namespace.clone(),
                name,
                kind,
                vmi: vm.name().clone(),
                holder: holder.clone(),
            });
            return false;
        }
        let holder = Holder::Chosen {
            kind,
            vmi: vm.name().clone(),
        };
        taken.insert(key, holder);
        true
    };
    let mut records = Vec::new();

    // 1. `<hostname>.<subdomain>`: the addresses of `<vmi>`.
    let mut groups: BTreeMap<&'a Label, Vec<&'a VmAddresses>> = BTreeMap::new();
    for vm in vms {
        let Some(scheme) = vm.chosen_names().and_then(|c| c.scheme.as_ref()) else {
            continue;
        };
        groups.entry(&scheme.subdomain).or_default().push(vm);
        let key = (Some(scheme.hostname.as_str()), scheme.subdomain.as_str());
        let name = format!("{}.{}.{namespace}", scheme.hostname, scheme.subdomain);
        if claim(key, ChosenKind::Scheme, vm, name) {
            let owner = Owner::Below(Labels::new(&[
                &scheme.hostname,
                &scheme.subdomain,
                namespace,
            ]));
            for address in vm.vm_name_addresses() {
                records.push(Record {
                    owner,
                    ttl: vm.ttl(),
                    data: RecordData::from(address),
                });
            }
        }
    }

    // 2. `<subdomain>`: every member's addresses, at the smallest TTL.
    for (subdomain, members) in &groups {
        let name = format!("{subdomain}.{namespace}");
        if !claim(
            (None, subdomain.as_str()),
            ChosenKind::Group,
            members[0],
            name,
        ) {
            continue;
        }
        let addresses: BTreeSet<IpAddr> = members
            .iter()
            .flat_map(|vm| vm.vm_name_addresses())
            .collect();
        let ttl = members.iter().any(|vm| vm.ttl().is_some()).then(|| {
            members
                .iter()
                .map(|vm| vm.ttl().unwrap_or(default_ttl))
                .min()
                .unwrap_or(default_ttl)
        });
        let owner = Owner::Below(Labels::new(&[*subdomain, namespace]));
        for address in addresses {
            records.push(Record {
                owner,
                ttl,
                data: RecordData::from(address),
            });
        }
    }

    // 3. `<alias>`: a CNAME to `<vmi>.<namespace>.vm.<DOMAIN>.`.
    for vm in vms {
        let Some(chosen) = vm.chosen_names() else {
            continue;
        };
        for alias in &chosen.aliases {
            let name = format!("{alias}.{namespace}");
            if claim((None, alias.as_str()), ChosenKind::Alias, vm, name) {
                let target = Name {
                    labels: Labels::new(&[vm.name(), namespace]),
                    origin: Some(origin),
                };
                records.push(Record {
                    owner: Owner::Below(Labels::new(&[alias, namespace])),
                    ttl: vm.ttl(),
                    data: RecordData::Cname(target),
                });
            }
        }
    }
    // Sorted by owner, each owner's records in the order they were made.
    records.sort_by_cached_key(|record| match record.owner {
        Owner::Below(labels) => labels.iter().rev().collect::<Vec<_>>(),
        _ => Vec::new(),
    });
    resolved.records = records;
    resolved
}

//! The DNSEndpoint policy, as pure functions: what an annotated VMI wants,
//! whether an existing DNSEndpoint is ours, and what to do about a key.
//!
//! Never touched: a DNSEndpoint that is not ours (no `managed-by` label and
//! controller reference to its VMI), whatever its name.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use zone_manager::VmAddresses;

use super::dns_endpoint::{
    DNSEndpoint, DnsEndpointSpec, EndpointRequest, MANAGED_BY_LABEL, MANAGER,
};
use crate::vmi::{VirtualMachineInstance, VmiRef};

/// What an annotated VMI wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    Publish {
        uid: String,
        spec: DnsEndpointSpec,
    },
    /// No address right now (booting, migrating).
    NoAddresses,
    /// Annotated, but no name in it is valid: whatever exists is left alone.
    NoValidName,
}

impl Wanted {
    pub fn new(uid: String, request: &EndpointRequest, vm: Option<&VmAddresses>) -> Self {
        if request.hostnames.is_empty() {
            return Wanted::NoValidName;
        }
        match request.endpoints(vm) {
            Some(spec) => Wanted::Publish { uid, spec },
            None => Wanted::NoAddresses,
        }
    }
}

/// A DNSEndpoint as its metadata shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub uid: String,
    /// The uid of the VMI it belongs to, when it is ours; `None`: someone else's.
    pub owner: Option<String>,
}

impl Observed {
    /// `None` for an object without name, namespace or uid.
    pub fn from_meta(meta: &ObjectMeta) -> Option<(VmiRef, Self)> {
        let name = meta.name.as_deref()?;
        let key = VmiRef::new(Some(meta.namespace.as_deref()?), Some(name));
        let labelled = meta
            .labels
            .as_ref()
            .and_then(|l| l.get(MANAGED_BY_LABEL))
            .is_some_and(|v| v == MANAGER);
        let owner = meta
            .owner_references
            .iter()
            .flatten()
            .find(|r| {
                r.controller == Some(true)
                    && r.kind == VirtualMachineInstance::kind(&())
                    && r.api_version == VirtualMachineInstance::api_version(&())
                    && r.name == name
            })
            .filter(|_| labelled)
            .map(|r| r.uid.clone());
        let uid = meta.uid.clone()?;
        Some((key, Self { uid, owner }))
    }

    pub fn is_ours(&self) -> bool {
        self.owner.is_some()
    }
}

/// What we last applied: for which VMI uid, with which spec.
pub type Applied = (String, DnsEndpointSpec);

#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// No DNSEndpoint of that name: create ours (an apply that yields to anyone
    /// who created it meanwhile).
    Create {
        uid: String,
        spec: DnsEndpointSpec,
    },
    /// Ours, out of date: apply, taking back fields someone else changed.
    Update {
        uid: String,
        spec: DnsEndpointSpec,
    },
    /// Ours and no longer wanted: delete exactly that object.
    Delete {
        uid: String,
    },
    /// Wanted, but the name is taken by someone else's DNSEndpoint.
    LeaveForeign,
}

/// The whole policy, as a function of what is wanted, what exists and what we
/// applied last.
pub fn decide(
    wanted: Option<&Wanted>,
    observed: Option<&Observed>,
    applied: Option<&Applied>,
    keep_without_addresses: bool,
) -> Action {
    let ours = observed.filter(|o| o.is_ours());
    match (wanted, observed) {
        (Some(Wanted::Publish { .. }), Some(o)) if !o.is_ours() => Action::LeaveForeign,
        (Some(Wanted::Publish { uid, spec }), None) => Action::Create {
            uid: uid.clone(),
            spec: spec.clone(),
        },
        (Some(Wanted::Publish { uid, spec }), Some(o)) => {
            let current = o.owner.as_ref() == Some(uid)
                && applied.is_some_and(|(u, s)| u == uid && s == spec);
            if current {
                Action::Nothing
            } else {
                Action::Update {
                    uid: uid.clone(),
                    spec: spec.clone(),
                }
            }
        }
        (Some(Wanted::NoAddresses), Some(o)) if o.is_ours() && !keep_without_addresses => {
            Action::Delete { uid: o.uid.clone() }
        }
        (Some(_), _) => Action::Nothing,
        (None, _) => match ours {
            Some(o) => Action::Delete { uid: o.uid.clone() },
            None => Action::Nothing,
        },
    }
}

/// Our DNSEndpoint for `vmi`: labelled as ours and controlled by the VMI, so that
/// Kubernetes deletes it with the VMI.
pub fn owned_endpoint(vmi: &VmiRef, uid: &str, spec: DnsEndpointSpec) -> DNSEndpoint {
    let mut object = DNSEndpoint::new(&vmi.name, spec);
    object.metadata.namespace = Some(vmi.namespace.clone());
    object.metadata.labels = Some([(MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned())].into());
    object.metadata.owner_references = Some(vec![OwnerReference {
        api_version: VirtualMachineInstance::api_version(&()).into_owned(),
        kind: VirtualMachineInstance::kind(&()).into_owned(),
        name: vmi.name.clone(),
        uid: uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: None,
    }]);
    object
}

#[cfg(test)]
mod tests {
    use super::super::dns_endpoint::Endpoint;
    use super::*;

    fn spec(target: &str) -> DnsEndpointSpec {
        DnsEndpointSpec {
            endpoints: vec![Endpoint {
                dns_name: "web.example.com".into(),
                record_type: "A".into(),
                targets: vec![target.into()],
                record_ttl: None,
            }],
        }
    }

    fn publish(uid: &str, target: &str) -> Wanted {
        Wanted::Publish {
            uid: uid.into(),
            spec: spec(target),
        }
    }

    fn ours(owner: &str) -> Observed {
        Observed {
            uid: "endpoint-uid".into(),
            owner: Some(owner.into()),
        }
    }

    fn foreign() -> Observed {
        Observed {
            uid: "endpoint-uid".into(),
            owner: None,
        }
    }

    #[test]
    fn a_new_annotated_vmi_gets_a_dnsendpoint() {
        let wanted = publish("vmi-1", "10.0.0.1");
        assert_eq!(
            decide(Some(&wanted), None, None, true),
            Action::Create {
                uid: "vmi-1".into(),
                spec: spec("10.0.0.1")
            }
        );
    }

    #[test]
    fn ours_is_updated_only_when_something_changed() {
        let wanted = publish("vmi-1", "10.0.0.2");
        let applied = ("vmi-1".to_owned(), spec("10.0.0.2"));
        assert_eq!(
            decide(Some(&wanted), Some(&ours("vmi-1")), Some(&applied), true),
            Action::Nothing
        );
        let stale = ("vmi-1".to_owned(), spec("10.0.0.1"));
        assert_eq!(
            decide(Some(&wanted), Some(&ours("vmi-1")), Some(&stale), true),
            Action::Update {
                uid: "vmi-1".into(),
                spec: spec("10.0.0.2")
            }
        );
        // After a restart nothing is known to be applied: apply once (a no-op
        // for the API server when nothing changed).
        assert_eq!(
            decide(Some(&wanted), Some(&ours("vmi-1")), None, true),
            Action::Update {
                uid: "vmi-1".into(),
                spec: spec("10.0.0.2")
            }
        );
        // A VMI recreated under the same name: the owner reference moves to it.
        let applied_old = ("vmi-0".to_owned(), spec("10.0.0.2"));
        assert_eq!(
            decide(
                Some(&wanted),
                Some(&ours("vmi-0")),
                Some(&applied_old),
                true
            ),
            Action::Update {
                uid: "vmi-1".into(),
                spec: spec("10.0.0.2")
            }
        );
    }

    #[test]
    fn someone_elses_dnsendpoint_is_never_touched() {
        let wanted = publish("vmi-1", "10.0.0.1");
        assert_eq!(
            decide(Some(&wanted), Some(&foreign()), None, true),
            Action::LeaveForeign
        );
        assert_eq!(decide(None, Some(&foreign()), None, true), Action::Nothing);
        assert_eq!(
            decide(Some(&Wanted::NoAddresses), Some(&foreign()), None, false),
            Action::Nothing
        );
    }

    #[test]
    fn ours_is_deleted_when_the_annotation_or_the_vmi_goes() {
        assert_eq!(
            decide(None, Some(&ours("vmi-1")), None, true),
            Action::Delete {
                uid: "endpoint-uid".into()
            }
        );
        assert_eq!(decide(None, None, None, true), Action::Nothing);
    }

    #[test]
    fn without_addresses_ours_is_kept_unless_configured_otherwise() {
        let no_addresses = Wanted::NoAddresses;
        assert_eq!(
            decide(Some(&no_addresses), Some(&ours("vmi-1")), None, true),
            Action::Nothing
        );
        assert_eq!(
            decide(Some(&no_addresses), Some(&ours("vmi-1")), None, false),
            Action::Delete {
                uid: "endpoint-uid".into()
            }
        );
        assert_eq!(
            decide(Some(&no_addresses), None, None, false),
            Action::Nothing
        );
    }

    #[test]
    fn an_annotation_with_no_valid_name_leaves_everything_as_it_is() {
        assert_eq!(
            decide(
                Some(&Wanted::NoValidName),
                Some(&ours("vmi-1")),
                None,
                false
            ),
            Action::Nothing
        );
    }

    #[test]
    fn ours_means_our_label_and_a_controller_reference_to_the_vmi_of_that_name() {
        let meta = |labelled: bool, owner_name: &str, controller: bool| ObjectMeta {
            name: Some("web".into()),
            namespace: Some("lab".into()),
            uid: Some("endpoint-uid".into()),
            labels: labelled.then(|| [(MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned())].into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "kubevirt.io/v1".into(),
                kind: "VirtualMachineInstance".into(),
                name: owner_name.into(),
                uid: "vmi-1".into(),
                controller: Some(controller),
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        };
        let owner = |m: ObjectMeta| Observed::from_meta(&m).unwrap().1.owner;
        assert_eq!(owner(meta(true, "web", true)), Some("vmi-1".into()));
        assert_eq!(owner(meta(false, "web", true)), None, "not labelled");
        assert_eq!(owner(meta(true, "other", true)), None, "another VMI");
        assert_eq!(owner(meta(true, "web", false)), None, "not the controller");
        let object = owned_endpoint(
            &VmiRef::new(Some("lab"), Some("web")),
            "vmi-1",
            spec("10.0.0.1"),
        );
        assert_eq!(
            Observed::from_meta(&ObjectMeta {
                uid: Some("endpoint-uid".into()),
                ..object.metadata
            }),
            Some((VmiRef::new(Some("lab"), Some("web")), ours("vmi-1"))),
            "what we apply is what we recognise as ours"
        );
    }
}

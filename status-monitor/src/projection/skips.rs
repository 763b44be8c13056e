//! What the projection leaves out, and why: a whole VMI ([`VmiSkip`]) or a
//! part of it ([`InterfaceSkip`]), each with the reason label of its metric.

use std::fmt;

use zone_manager::NameError;

use super::{
    ALIASES_ANNOTATION, MAX_ADDRESSES_PER_INTERFACE, MAX_ALIASES, MAX_INTERFACES,
    PUBLISH_ANNOTATION,
};

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
    #[error("phase {0}: the VM does not run, its last addresses may be someone else's now")]
    FinalPhase(String),
    #[error("annotation {PUBLISH_ANNOTATION} is \"false\"")]
    OptedOut,
}

impl VmiSkip {
    /// The `reason` label of the skip metric.
    pub fn reason(&self) -> &'static str {
        match self {
            VmiSkip::InvalidName { .. } => "invalid_name",
            VmiSkip::InvalidNamespace { .. } => "invalid_namespace",
            VmiSkip::NameTooLong(_) => "name_too_long",
            VmiSkip::TooManyInterfaces(_) => "too_many_interfaces",
            VmiSkip::FinalPhase(_) => "final_phase",
            VmiSkip::OptedOut => "opted_out",
        }
    }

    /// A skip that is the VM's normal life, not a problem: logged at debug.
    pub fn is_expected(&self) -> bool {
        matches!(self, VmiSkip::FinalPhase(_) | VmiSkip::OptedOut)
    }
}

/// Something of a VMI left out of the zone, or a setting of it ignored, while
/// the rest of it is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceSkip {
    /// Hot-unplugged (`state: absent`) though the status still lists it.
    Unplugged {
        interface: String,
    },
    /// An annotation whose value cannot be followed; the default applies.
    InvalidAnnotation {
        annotation: &'static str,
        value: String,
        consequence: &'static str,
    },
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
    /// `spec.hostname` or `spec.subdomain` is not a label: no scheme name.
    InvalidSchemeName {
        field: &'static str,
        value: String,
        reason: NameError,
    },
    InvalidAlias {
        alias: String,
        reason: NameError,
    },
    /// More than [`MAX_ALIASES`]: only the first are read.
    TooManyAliases {
        count: usize,
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
            InterfaceSkip::Unplugged { .. } => "unplugged",
            InterfaceSkip::InvalidAnnotation { .. } => "invalid_annotation",
            InterfaceSkip::InvalidSchemeName { .. } => "invalid_scheme_name",
            InterfaceSkip::InvalidAlias { .. } => "invalid_alias",
            InterfaceSkip::TooManyAliases { .. } => "too_many_aliases",
        }
    }

    /// A skip that is the VM's normal life, not a problem: logged at debug.
    pub fn is_expected(&self) -> bool {
        matches!(self, InterfaceSkip::Unplugged { .. })
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
            InterfaceSkip::Unplugged { interface } => write!(
                f,
                "interface {interface:?} is unplugged (state: absent) and publishes nothing"
            ),
            InterfaceSkip::InvalidAnnotation {
                annotation,
                value,
                consequence,
            } => write!(f, "annotation {annotation}={value:?}: {consequence}"),
            InterfaceSkip::InvalidSchemeName {
                field,
                value,
                reason,
            } => write!(
                f,
                "{field} {value:?} is not a DNS label (it {reason}): no hostname/subdomain names; the VM's own names are published"
            ),
            InterfaceSkip::InvalidAlias { alias, reason } => write!(
                f,
                "alias {alias:?} ({ALIASES_ANNOTATION}) is not a DNS label: it {reason}; the other aliases are kept"
            ),
            InterfaceSkip::TooManyAliases { count } => write!(
                f,
                "{count} aliases in {ALIASES_ANNOTATION}: only the first {MAX_ALIASES} are read"
            ),
        }
    }
}

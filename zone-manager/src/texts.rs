//! What each zone file holds, for [`crate::tracked::TrackedFile`] to write:
//! the forward zone's text (one zone, or the parent and a zone per
//! namespace) and each reverse zone's.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::layout::OwnZones;
use crate::name::{Label, Origin};
use crate::render::{render_namespace_body, render_parent_body, render_reverse_body, write_header};
use crate::reverse::{Ptr, ReversePrefix, for_each_ptr};
use crate::serial::Serial;
use crate::settings::ZoneSettings;
use crate::tracked::ZoneText;
use crate::vm_addresses::VmAddresses;

/// `vm.<DOMAIN>`: every record, or with zones per namespace their
/// delegations and the records kept here.
pub(crate) struct ParentText<'a> {
    pub(crate) settings: &'a ZoneSettings,
    pub(crate) vms: &'a BTreeMap<Label, BTreeMap<Label, VmAddresses>>,
    /// The namespaces delegated to zones of their own.
    pub(crate) own: &'a OwnZones,
}

impl ZoneText for ParentText<'_> {
    fn origin(&self) -> Origin {
        self.settings.origin.clone()
    }
    fn header<W: Write + ?Sized>(&self, serial: Serial, out: &mut W) -> std::fmt::Result {
        write_header(self.settings, &self.settings.origin, serial, out)
    }
    fn body<W: Write + ?Sized>(&self, out: &mut W) -> std::fmt::Result {
        let own = self.own;
        let delegated = self.vms.keys().filter(|ns| own.contains(ns));
        let kept = self.vms.iter().filter(|(ns, _)| !own.contains(ns));
        render_parent_body(
            self.settings,
            delegated,
            kept.flat_map(|(_, by_name)| by_name.values()),
            out,
        )
    }
}

/// `<namespace>.vm.<DOMAIN>`.
pub(crate) struct NamespaceText<'a> {
    pub(crate) settings: &'a ZoneSettings,
    pub(crate) origin: &'a Origin,
    pub(crate) vms: Option<&'a BTreeMap<Label, VmAddresses>>,
}

impl ZoneText for NamespaceText<'_> {
    fn origin(&self) -> Origin {
        self.origin.clone()
    }
    fn header<W: Write + ?Sized>(&self, serial: Serial, out: &mut W) -> std::fmt::Result {
        write_header(self.settings, self.origin, serial, out)
    }
    fn body<W: Write + ?Sized>(&self, out: &mut W) -> std::fmt::Result {
        render_namespace_body(
            self.settings,
            self.vms.into_iter().flat_map(BTreeMap::values),
            out,
        )
    }
}

pub(crate) struct ReverseText<'a> {
    pub(crate) settings: &'a ZoneSettings,
    pub(crate) prefix: &'a ReversePrefix,
    pub(crate) origin: &'a Origin,
    pub(crate) ptrs: &'a [Ptr<'a>],
}

impl ZoneText for ReverseText<'_> {
    fn origin(&self) -> Origin {
        self.origin.clone()
    }
    fn header<W: Write + ?Sized>(&self, serial: Serial, out: &mut W) -> std::fmt::Result {
        write_header(self.settings, self.origin, serial, out)
    }
    fn body<W: Write + ?Sized>(&self, out: &mut W) -> std::fmt::Result {
        render_reverse_body(self.settings, self.prefix, self.ptrs, out)
    }
}

/// The PTRs of reverse zone `index` of `prefixes`, sorted so that the file is the same for the
/// same records.
pub(crate) fn collect_ptrs<'a, 'p>(
    prefixes: impl Iterator<Item = &'p ReversePrefix> + Clone,
    index: usize,
    vms: &'a BTreeMap<Label, BTreeMap<Label, VmAddresses>>,
) -> Vec<Ptr<'a>> {
    let mut ptrs = Vec::new();
    for vm in vms.values().flat_map(BTreeMap::values) {
        for_each_ptr(prefixes.clone(), vm, |zone, ptr| {
            if zone == index {
                ptrs.push(ptr);
            }
        });
    }
    ptrs.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    ptrs
}

//! What each zone file holds, for [`crate::tracked::TrackedFile`] to write:
//! the forward zone's text and each reverse zone's.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::name::{Label, Origin};
use crate::records::VmAddresses;
use crate::render::{
    ZoneSettings, render_body, render_header, render_reverse_body, render_reverse_header,
};
use crate::reverse::{Ptr, ReversePrefix, for_each_ptr};
use crate::serial::Serial;
use crate::tracked::ZoneText;

pub(crate) struct ForwardText<'a> {
    pub(crate) settings: &'a ZoneSettings,
    pub(crate) vms: &'a BTreeMap<Label, BTreeMap<Label, VmAddresses>>,
}

impl ZoneText for ForwardText<'_> {
    fn origin(&self) -> Origin {
        self.settings.origin.clone()
    }
    fn header<W: Write + ?Sized>(&self, serial: Serial, out: &mut W) -> std::fmt::Result {
        render_header(self.settings, serial, out)
    }
    fn body<W: Write + ?Sized>(&self, out: &mut W) -> std::fmt::Result {
        render_body(
            self.settings,
            self.vms.values().flat_map(BTreeMap::values),
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
        render_reverse_header(self.settings, self.origin, serial, out)
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

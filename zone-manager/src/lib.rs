//! zone-manager keeps the DNS records of KubeVirt VMs' secondary interfaces and
//! publishes them as SOA-headed RFC 1035 zone files, each written atomically:
//! the parent `vm.<DOMAIN>`, one zone per namespace, reverse zones and a catalog.
//!
//! Data flows one way: [`VmAddresses`] (one VM's projection) → [`ZoneManager`]
//! (all VMs, canonical order) → [`render_zone`] (text) → [`ZoneFile`] (atomic write).
//! With [`ZoneLayout::Namespace`] each namespace gets a zone of its own,
//! delegated from the parent; with [`ReversePrefix`]es the same VMs also give
//! one PTR zone per prefix.

mod ascii_text;
mod catalog;
pub mod chosen_names;
pub mod layout;
pub mod name;
mod namespace_zones;
/// The zone parser the tests (and fuzz targets) read zones back with; not part
/// of the library: enable the `test-support` feature to get it.
#[cfg(feature = "test-support")]
pub mod parsed;
mod publication;
mod read_back;
pub mod record;
pub mod render;
pub mod reverse;
mod reverse_zones;
pub mod serial;
pub mod settings;
mod texts;
mod tracked;
pub mod vm_addresses;
pub mod zone;
pub mod zone_file;

pub use catalog::member_id;
pub use chosen_names::{ChosenKind, Holder, NameCollision};
pub use layout::{NamespaceZoneLimit, ZoneLayout};
pub use name::{Label, LabelInterner, Mailbox, NameError, Origin};
pub use read_back::{SerialReadError, read_serial};
pub use record::{Labels, Name, Owner, Record, RecordCounts, RecordData, RecordType, Soa};
pub use render::{render_zone, write_record};
pub use reverse::{PrefixError, Ptr, ReversePrefix};
pub use serial::{
    ClockSerials, Content, ContentDigest, Serial, SerialGrants, SerialRequest, SerialSource,
};
pub use settings::ZoneSettings;
pub use tracked::Published;
pub use vm_addresses::{
    ChosenNames, Interface, InterfaceAddresses, SchemeName, VmAddresses, is_link_local,
    is_publishable,
};
pub use zone::{Publication, ZoneManager};
pub use zone_file::{
    FileStamp, TEMP_PREFIX, Written, ZoneFile, ZoneFileError, ZoneWriter, ZonesDir,
};

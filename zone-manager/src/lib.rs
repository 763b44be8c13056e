//! zone-manager keeps the DNS records of KubeVirt VMs' secondary interfaces and
//! publishes them as one SOA-headed RFC 1035 zone file, written atomically.
//!
//! Data flows one way: [`VmAddresses`] (one VM's projection) → [`ZoneManager`]
//! (all VMs, canonical order) → [`render_zone`] (text) → [`ZoneFile`] (atomic write).

pub mod name;
pub mod parsed;
pub mod records;
pub mod render;
pub mod serial;
pub mod zone;
pub mod zone_file;

pub use name::{Label, LabelInterner, Mailbox, NameError, Origin};
pub use records::{Interface, InterfaceAddresses, OwnerName, Record, RecordData, VmAddresses};
pub use render::{ZoneSettings, render_body, render_header, render_zone};
pub use serial::Serial;
pub use zone::{Published, RecordCounts, ZoneManager};
pub use zone_file::{
    FileStamp, TEMP_PREFIX, Written, ZoneFile, ZoneFileError, ZoneWriter, read_serial,
};

//! What one publish did to each zone file.

use crate::name::Origin;
use crate::tracked::Published;

/// What [`crate::ZoneManager::publish_all`] did to each zone file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    /// `vm.<DOMAIN>`: the one forward zone, or the parent of the namespace zones.
    pub forward: Published,
    /// One per namespace zone, in namespace order.
    pub namespaces: Vec<(Origin, Published)>,
    /// Namespace zones whose files were removed: their namespace is gone (or,
    /// at startup, was gone already).
    pub removed: Vec<Origin>,
    /// One per reverse zone, in the order of the prefixes given to
    /// [`crate::ZoneManager::open_with`].
    pub reverse: Vec<(Origin, Published)>,
    /// The catalog zone, with [`crate::ZoneManager::with_catalog`].
    pub catalog: Option<(Origin, Published)>,
}

impl Publication {
    /// Whether any zone file was written or removed.
    pub fn wrote(&self) -> bool {
        !self.removed.is_empty()
            || std::iter::once(&self.forward)
                .chain(self.other_zones().map(|(_, p)| p))
                .any(|p| matches!(p, Published::Written { .. }))
    }

    /// Every zone but the forward one: the namespace zones, the reverse zones,
    /// then the catalog.
    pub fn other_zones(&self) -> impl Iterator<Item = &(Origin, Published)> {
        self.namespaces
            .iter()
            .chain(&self.reverse)
            .chain(&self.catalog)
    }
}

/// Every result of zones tried one after the other: all their outcomes, or
/// the first error (the others were still tried; what failed is tried again
/// by the next publish).
pub(crate) fn all_or_first_error<T, E>(
    results: impl IntoIterator<Item = Result<T, E>>,
) -> Result<Vec<T>, E> {
    let mut first_error = None;
    let mut done = Vec::new();
    for result in results {
        match result {
            Ok(value) => done.push(value),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

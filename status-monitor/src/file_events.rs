//! File-system events, as `notify` reports them, for the two watchers that
//! read what they watch: the manifest directory and ZONES_DIR.

/// Whether a file event may mean new content. Opening and reading do not: our
/// own reads would otherwise wake us up again, forever.
pub fn changes_content(event: &notify::Event) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

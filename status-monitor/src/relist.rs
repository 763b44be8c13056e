//! The relist buffer of every watch: between a watcher's `Init` and `InitDone`
//! the objects of the new list are collected apart, and replace the current
//! set only once the list is complete, so that a relist never shows a partial
//! set to anyone.

/// The current set, and the one being listed.
#[derive(Debug, Default)]
pub struct Relist<T> {
    current: T,
    listing: Option<T>,
    completed: u64,
}

impl<T: Default> Relist<T> {
    /// `Init`: a new list starts.
    pub fn begin(&mut self) {
        self.listing = Some(T::default());
    }

    /// Where an object goes now: the list being collected, else the current set.
    pub fn target(&mut self) -> &mut T {
        self.listing.as_mut().unwrap_or(&mut self.current)
    }

    /// `InitDone`: the collected list becomes the current set.
    pub fn finish(&mut self) -> &mut T {
        if let Some(listed) = self.listing.take() {
            self.current = listed;
        }
        self.completed += 1;
        &mut self.current
    }

    pub fn current(&self) -> &T {
        &self.current
    }

    pub fn current_mut(&mut self) -> &mut T {
        &mut self.current
    }

    /// At least one list was completed: the current set is complete.
    pub fn is_complete(&self) -> bool {
        self.completed > 0 && self.listing.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_replaces_the_set_only_once_complete() {
        let mut relist: Relist<Vec<&str>> = Relist::default();
        relist.target().push("live");
        relist.begin();
        relist.target().push("listed");
        assert_eq!(
            relist.current(),
            &["live"],
            "the set stays whole while listing"
        );
        assert!(!relist.is_complete());
        assert_eq!(relist.finish(), &["listed"]);
        assert!(relist.is_complete());
        relist.target().push("after");
        assert_eq!(relist.current(), &["listed", "after"]);
    }
}

//! Coalescing bursts of changes into few zone writes.

use std::time::Duration;

use tokio::time::Instant;

/// Decides when pending changes are published: `window` after the last change,
/// but never later than `max_delay` after the first unpublished one, so that a
/// constant stream of events still produces regular writes.
#[derive(Clone, Debug)]
pub struct Debouncer {
    window: Duration,
    max_delay: Duration,
    first_pending: Option<Instant>,
    last_change: Option<Instant>,
}

impl Debouncer {
    pub fn new(window: Duration, max_delay: Duration) -> Self {
        Self {
            window,
            max_delay: max_delay.max(window),
            first_pending: None,
            last_change: None,
        }
    }

    /// Records a change that the zone does not show yet.
    pub fn changed(&mut self, now: Instant) {
        self.first_pending.get_or_insert(now);
        self.last_change = Some(now);
    }

    /// When to publish, if anything is pending.
    pub fn deadline(&self) -> Option<Instant> {
        let first = self.first_pending?;
        let last = self.last_change.unwrap_or(first);
        Some((last + self.window).min(first + self.max_delay))
    }

    /// When the oldest unpublished change came.
    pub fn first_pending(&self) -> Option<Instant> {
        self.first_pending
    }

    pub fn is_pending(&self) -> bool {
        self.first_pending.is_some()
    }

    /// Everything pending was published.
    pub fn published(&mut self) {
        self.first_pending = None;
        self.last_change = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(2);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nothing_pending_means_no_deadline() {
        let d = Debouncer::new(WINDOW, MAX);
        assert_eq!(d.deadline(), None);
        assert!(!d.is_pending());
    }

    #[test]
    fn a_single_change_is_published_one_window_later() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(WINDOW, MAX);
        d.changed(t0);
        assert_eq!(d.deadline(), Some(t0 + WINDOW));
    }

    #[test]
    fn each_change_within_the_window_pushes_the_deadline() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(WINDOW, MAX);
        d.changed(t0);
        d.changed(t0 + ms(150));
        d.changed(t0 + ms(300));
        assert_eq!(d.deadline(), Some(t0 + ms(500)));
    }

    #[test]
    fn a_constant_stream_is_still_published_after_the_maximum_delay() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(WINDOW, MAX);
        for i in 0..100 {
            d.changed(t0 + ms(i * 50));
        }
        assert_eq!(d.deadline(), Some(t0 + MAX));
    }

    #[test]
    fn publishing_starts_a_new_burst() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(WINDOW, MAX);
        d.changed(t0);
        d.published();
        assert_eq!(d.deadline(), None);
        d.changed(t0 + ms(5000));
        assert_eq!(d.deadline(), Some(t0 + ms(5000) + WINDOW));
    }

    #[test]
    fn a_burst_of_ten_thousand_events_gives_one_deadline() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(WINDOW, MAX);
        let mut publishes = 0;
        let mut now = t0;
        for _ in 0..10_000 {
            if d.deadline().is_some_and(|at| at <= now) {
                d.published();
                publishes += 1;
            }
            d.changed(now);
            now += Duration::from_micros(10); // 10k events in 100 ms
        }
        assert_eq!(publishes, 0);
        assert_eq!(d.deadline(), Some(now - Duration::from_micros(10) + WINDOW));
    }

    #[test]
    fn max_delay_is_never_shorter_than_the_window() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(WINDOW, ms(10));
        d.changed(t0);
        assert_eq!(d.deadline(), Some(t0 + WINDOW));
    }
}

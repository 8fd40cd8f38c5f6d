//! The circuit breaker of one model group: per backend, closed (used), open (cooling down,
//! skipped) or due for a probe (the cooldown is over: one request may try it).
//!
//! A failure in one of the group's `on` classes (but `context_overflow`, which is about the
//! request) opens the breaker for `cooldown_secs`. When the cooldown is over, the next request
//! that reaches the backend is its probe; while the probe runs (at most another cooldown, in
//! case its client went away) other requests still skip it. Any answer that is not such a
//! failure closes the breaker. Times are durations on the group's injected clock, so tests move
//! time by hand.

use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default)]
struct Health {
    /// Skipped until then (`None`: closed).
    open_until: Option<Duration>,
    /// When it last failed.
    failed_at: Option<Duration>,
    /// A probe runs until then.
    probe_until: Option<Duration>,
}

/// The breakers of one group's backends (by member index).
#[derive(Debug)]
pub(crate) struct Breaker {
    members: Mutex<Vec<Health>>,
    cooldown: Duration,
}

impl Breaker {
    pub(crate) fn new(members: usize, cooldown: Duration) -> Self {
        Breaker {
            members: Mutex::new(vec![Health::default(); members]),
            cooldown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Health>> {
        // The state is a few timestamps, valid after any panic: recover it.
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `member` may be tried at `now` (closed, or due for a probe nobody runs).
    pub(crate) fn is_available(&self, member: usize, now: Duration) -> bool {
        self.lock().get(member).is_some_and(|h| available(h, now))
    }

    /// Members not available at `now`, least recently failed first.
    pub(crate) fn cooling_by_age(&self, now: Duration) -> Vec<usize> {
        let members = self.lock();
        let mut cooling: Vec<(usize, Duration)> = members
            .iter()
            .enumerate()
            .filter(|(_, h)| !available(h, now))
            .map(|(i, h)| (i, h.failed_at.unwrap_or_default()))
            .collect();
        cooling.sort_by_key(|&(i, at)| (at, i));
        cooling.into_iter().map(|(i, _)| i).collect()
    }

    /// Claims `member` for an attempt at `now`: true when it is closed, or due for a probe
    /// (which this attempt then is). `force` tries it whatever its state (every member is
    /// cooling down).
    pub(crate) fn begin(&self, member: usize, now: Duration, force: bool) -> bool {
        let mut members = self.lock();
        let Some(h) = members.get_mut(member) else {
            return false;
        };
        match h.open_until {
            None => true,
            Some(_) if !force && !available(h, now) => false,
            Some(_) => {
                h.probe_until = Some(now + self.cooldown);
                true
            }
        }
    }

    /// `member` failed with a class that cools it down.
    pub(crate) fn failed(&self, member: usize, now: Duration) {
        if let Some(h) = self.lock().get_mut(member) {
            *h = Health {
                open_until: Some(now + self.cooldown),
                failed_at: Some(now),
                probe_until: None,
            };
        }
    }

    /// `member` answered (well, or with a failure that says nothing about its health).
    pub(crate) fn answered(&self, member: usize) {
        if let Some(h) = self.lock().get_mut(member) {
            *h = Health::default();
        }
    }
}

/// One member's breaker as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberHealth {
    /// `closed` (used), `cooling_down` (skipped), `probing` (one request is trying it) or
    /// `probe_due` (the next request tries it).
    pub state: &'static str,
    /// Time left in the cooldown.
    pub cooldown_left: Option<Duration>,
    /// Time since its last failure that cooled it down (while not closed again).
    pub failed_ago: Option<Duration>,
}

impl Breaker {
    /// Every member's state at `now`.
    pub(crate) fn snapshot(&self, now: Duration) -> Vec<MemberHealth> {
        self.lock()
            .iter()
            .map(|h| {
                let state = match h.open_until {
                    None => "closed",
                    Some(until) if now < until => "cooling_down",
                    Some(_) if h.probe_until.is_some_and(|p| now < p) => "probing",
                    Some(_) => "probe_due",
                };
                MemberHealth {
                    state,
                    cooldown_left: h.open_until.and_then(|u| u.checked_sub(now)),
                    failed_ago: h.failed_at.and_then(|f| now.checked_sub(f)),
                }
            })
            .collect()
    }
}

fn available(h: &Health, now: Duration) -> bool {
    match h.open_until {
        None => true,
        Some(until) => now >= until && h.probe_until.is_none_or(|p| now >= p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_failure_cools_down_then_one_probe_goes_through() {
        let b = Breaker::new(2, S(30));
        assert!(b.begin(0, S(0), false));
        b.failed(0, S(1));
        assert!(!b.is_available(0, S(30)));
        assert!(!b.begin(0, S(30), false), "still cooling");
        assert!(b.is_available(0, S(31)));
        assert!(b.begin(0, S(31), false), "the probe");
        assert!(!b.is_available(0, S(32)), "one probe at a time");
        assert!(!b.begin(0, S(32), false));
        b.answered(0);
        assert!(b.is_available(0, S(32)), "a good answer closes it");
        assert!(b.begin(0, S(32), false));
    }

    #[test]
    fn a_failed_probe_cools_down_again_and_a_lost_one_expires() {
        let b = Breaker::new(1, S(10));
        b.failed(0, S(0));
        assert!(b.begin(0, S(10), false));
        b.failed(0, S(11));
        assert!(!b.is_available(0, S(20)));
        assert!(b.is_available(0, S(21)));
        // A probe whose client went away never reports: another may go after a cooldown.
        assert!(b.begin(0, S(21), false));
        assert!(!b.is_available(0, S(30)));
        assert!(b.is_available(0, S(31)));
    }

    #[test]
    fn cooling_members_are_listed_least_recently_failed_first_and_can_be_forced() {
        let b = Breaker::new(3, S(30));
        b.failed(2, S(5));
        b.failed(0, S(7));
        assert_eq!(b.cooling_by_age(S(8)), vec![2, 0]);
        assert!(!b.begin(2, S(8), false));
        assert!(b.begin(2, S(8), true));
        // A zero cooldown only marks the failure.
        let z = Breaker::new(1, Duration::ZERO);
        z.failed(0, S(1));
        assert!(z.is_available(0, S(1)));
    }

    #[test]
    fn the_snapshot_names_each_state() {
        let b = Breaker::new(2, S(10));
        b.failed(1, S(100));
        let at = |t| {
            b.snapshot(S(t))
                .into_iter()
                .map(|m| m.state)
                .collect::<Vec<_>>()
        };
        assert_eq!(at(105), ["closed", "cooling_down"]);
        assert_eq!(b.snapshot(S(105))[1].cooldown_left, Some(S(5)));
        assert_eq!(b.snapshot(S(105))[1].failed_ago, Some(S(5)));
        assert_eq!(at(111), ["closed", "probe_due"]);
        assert!(b.begin(1, S(111), false));
        assert_eq!(at(112), ["closed", "probing"]);
        b.answered(1);
        assert_eq!(at(112), ["closed", "closed"]);
    }
}

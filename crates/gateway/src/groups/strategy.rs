//! The order in which one request tries a group's backends, by strategy. The first entry is the
//! backend the strategy picked; the rest follow as fallbacks.
//!
//! * `fallback`: config order, always.
//! * `round_robin`: config order rotated one step further for each request.
//! * `weighted`: smooth weighted round robin (each pick adds every weight to its backend's
//!   credit and takes the largest credit, which then pays the total): deterministic, in
//!   proportion, never a burst to one backend; the rest follow in config order.
//! * `least_busy`: fewest of this group's requests in flight first (ties in config order).
//!
//! In-flight requests are counted for every strategy: an [`InFlight`] guard is held by the
//! answer (inside a streamed body, until the client has it all or goes away).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::GroupStrategy;

/// Picks the order of one group's members (indices into the group's `backends`).
#[derive(Debug)]
pub(crate) struct Picker {
    strategy: GroupStrategy,
    weights: Vec<i64>,
    /// Requests seen (`round_robin`).
    turn: AtomicUsize,
    /// Smooth weighted round robin credits (`weighted`).
    credit: Mutex<Vec<i64>>,
    in_flight: Arc<Vec<AtomicUsize>>,
}

impl Picker {
    pub(crate) fn new(strategy: GroupStrategy, members: usize, weights: &[u32]) -> Self {
        Picker {
            strategy,
            weights: (0..members)
                .map(|i| i64::from(weights.get(i).copied().unwrap_or(1)))
                .collect(),
            turn: AtomicUsize::new(0),
            credit: Mutex::new(vec![0; members]),
            in_flight: Arc::new((0..members).map(|_| AtomicUsize::new(0)).collect()),
        }
    }

    /// Every member once, in the order this request should try them.
    pub(crate) fn order(&self) -> Vec<usize> {
        let n = self.weights.len();
        let mut order: Vec<usize> = (0..n).collect();
        if n < 2 {
            return order;
        }
        match self.strategy {
            GroupStrategy::Fallback => {}
            GroupStrategy::RoundRobin => {
                let start = self.turn.fetch_add(1, Ordering::Relaxed) % n;
                order.rotate_left(start);
            }
            GroupStrategy::Weighted => {
                let first = self.weighted_pick();
                order.retain(|&m| m != first);
                order.insert(0, first);
            }
            GroupStrategy::LeastBusy => {
                order.sort_by_key(|&m| self.in_flight(m));
            }
        }
        order
    }

    fn weighted_pick(&self) -> usize {
        let mut credit = self.credit.lock().unwrap_or_else(|e| e.into_inner());
        let total: i64 = self.weights.iter().sum();
        let mut best: Option<(usize, i64)> = None;
        for (m, (c, w)) in credit.iter_mut().zip(&self.weights).enumerate() {
            *c += w;
            // Ties go to the earlier member.
            if best.is_none_or(|(_, b)| *c > b) {
                best = Some((m, *c));
            }
        }
        let best = best.map_or(0, |(m, _)| m);
        if let Some(c) = credit.get_mut(best) {
            *c -= total;
        }
        best
    }

    /// Requests of this group in flight on `member`.
    pub(crate) fn in_flight(&self, member: usize) -> usize {
        self.in_flight
            .get(member)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Counts a request in flight on `member` until the guard drops.
    pub(crate) fn enter(&self, member: usize) -> InFlight {
        if let Some(c) = self.in_flight.get(member) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        InFlight {
            counters: self.in_flight.clone(),
            member,
        }
    }
}

/// One request in flight on one member; dropping it ends it.
#[derive(Debug)]
pub(crate) struct InFlight {
    counters: Arc<Vec<AtomicUsize>>,
    member: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(c) = self.counters.get(self.member) {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firsts(p: &Picker, n: usize) -> Vec<usize> {
        (0..n).map(|_| p.order()[0]).collect()
    }

    #[test]
    fn fallback_keeps_config_order_and_round_robin_rotates() {
        let p = Picker::new(GroupStrategy::Fallback, 3, &[]);
        assert_eq!(p.order(), vec![0, 1, 2]);
        assert_eq!(p.order(), vec![0, 1, 2]);
        let p = Picker::new(GroupStrategy::RoundRobin, 3, &[]);
        assert_eq!(p.order(), vec![0, 1, 2]);
        assert_eq!(p.order(), vec![1, 2, 0]);
        assert_eq!(p.order(), vec![2, 0, 1]);
        assert_eq!(p.order(), vec![0, 1, 2]);
    }

    #[test]
    fn weighted_spreads_in_proportion_without_bursts() {
        let p = Picker::new(GroupStrategy::Weighted, 2, &[3, 1]);
        assert_eq!(firsts(&p, 8), vec![0, 0, 1, 0, 0, 0, 1, 0]);
        let p = Picker::new(GroupStrategy::Weighted, 3, &[5, 1, 1]);
        let picks = firsts(&p, 70);
        let count = |m| picks.iter().filter(|&&x| x == m).count();
        assert_eq!((count(0), count(1), count(2)), (50, 10, 10));
        assert_eq!(p.order().len(), 3, "every member stays a fallback");
    }

    #[test]
    fn least_busy_prefers_fewer_requests_in_flight() {
        let p = Picker::new(GroupStrategy::LeastBusy, 3, &[]);
        assert_eq!(p.order(), vec![0, 1, 2]);
        let a = p.enter(0);
        let _b = p.enter(0);
        let _c = p.enter(1);
        assert_eq!(p.order(), vec![2, 1, 0]);
        drop(a);
        assert_eq!(p.in_flight(0), 1);
        assert_eq!(p.order(), vec![2, 0, 1]);
    }
}

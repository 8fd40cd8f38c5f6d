//! The gateway's side of the console's backend view: what the config says of each backend
//! and, per model group, its breaker now; the traffic and failures come from the usage log
//! (`crate::usage`).

use super::Gateway;
use crate::usage::{BackendFacts, BackendHealth, GroupState};

impl Gateway {
    /// Each backend's health: breaker per model group, recent traffic and upstream failures.
    pub fn backend_health(&self) -> Vec<BackendHealth> {
        let groups = self.groups.health();
        let facts = self
            .config
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| BackendFacts {
                name: b.name.clone(),
                kind: b.protocol.as_str(),
                key_missing: b.key_missing,
                groups: groups
                    .iter()
                    .flat_map(|(model, members)| {
                        members
                            .iter()
                            .filter(move |(backend, _)| *backend == i)
                            .map(move |(_, h)| GroupState {
                                model: model.clone(),
                                state: h.state,
                                cooldown_left_secs: h.cooldown_left.map(|d| d.as_secs_f64()),
                                failed_secs_ago: h.failed_ago.map(|d| d.as_secs_f64()),
                            })
                    })
                    .collect(),
            })
            .collect();
        self.usage.backend_health(facts)
    }
}

//! Model groups at run time (`model_groups` in the config): several backends behind one request
//! model, tried in the order the group's strategy picks, moving on to the next backend when an
//! attempt fails before any byte reached the client with a failure class the group names in
//! `on`.
//!
//! One request's life in a group ([`Group::serve`]):
//!
//! 1. The strategy orders the members (`strategy.rs`); members cooling down are skipped
//!    (`breaker.rs`). When every member cools down, they are all tried, least recently failed
//!    first, rather than refusing the request.
//! 2. Each attempt sends the request to one backend (its own upstream model, its own converter,
//!    the history's reasoning opened for it: `state/replay.rs`) and holds the answer back until
//!    its first content (`commit.rs`). The failure's class comes from where it was mapped
//!    (`trigger.rs`).
//! 3. A failure in `on` puts the backend in cooldown (but `context_overflow`, which moves on
//!    only to a backend with a larger `context_window`) and tries the next one; any other
//!    outcome is the answer. After the last attempt its failure is the answer.
//!
//! Invariants: each backend is tried at most once per request; nothing is retried once a byte
//! reached the client (failures after that stay in the stream); the answer names the backend
//! that gave it and how many were tried (`x-ccp-backend`, `x-ccp-attempts`,
//! `x-ccp-fallback-count`; logged for every answer, since WebSocket answers carry no headers).

mod breaker;
mod commit;
mod strategy;
mod trigger;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

pub use breaker::MemberHealth;
pub(crate) use commit::GroupAnswer;
pub(crate) use trigger::{class_of_failure, FailureNote};

use crate::config::{Backend, FailureClass, ModelGroup};
use crate::error::GatewayError;

/// How many backends a group request tried.
pub const ATTEMPTS_HEADER: HeaderName = HeaderName::from_static("x-ccp-attempts");
/// Attempts after the first: how often the request fell back.
pub const FALLBACK_COUNT_HEADER: HeaderName = HeaderName::from_static("x-ccp-fallback-count");

/// The context window assumed for a backend that sets none (as `codex-config` does).
const DEFAULT_CONTEXT_WINDOW: u64 = 128_000;

/// Monotonic time for cooldowns, as the time since some fixed start.
pub type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// The real clock (tokio's, so a test with paused time controls it too).
pub fn monotonic_clock() -> Clock {
    let start = tokio::time::Instant::now();
    Arc::new(move || start.elapsed())
}

/// One attempt of a group request at one backend: its answer, or its failure before the first
/// byte (classified in the attempt's [`FailureNote`]).
pub(crate) type AttemptFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, GatewayError>> + Send + 'a>>;

/// What a group request came to.
pub(crate) struct Served<T> {
    /// The answer: the first committed one, or the last attempt's failure.
    pub(crate) result: Result<T, GatewayError>,
    /// The backend (index into `Config::backends`) that gave it.
    pub(crate) backend: usize,
    /// Backends tried.
    pub(crate) attempts: usize,
}

/// One group with its breakers and strategy state.
pub(crate) struct Group {
    config: ModelGroup,
    names: Vec<String>,
    windows: Vec<u64>,
    breaker: breaker::Breaker,
    picker: strategy::Picker,
}

/// Every configured group and the clock their cooldowns run on.
pub(crate) struct Groups {
    groups: Vec<Group>,
    clock: Clock,
}

impl Groups {
    pub(crate) fn new(config: &[ModelGroup], backends: &[Backend], clock: Clock) -> Self {
        let groups = config
            .iter()
            .map(|g| {
                let member = |i: &usize| backends.get(*i);
                Group {
                    names: g
                        .backends
                        .iter()
                        .map(|i| member(i).map(|b| b.name.clone()).unwrap_or_default())
                        .collect(),
                    windows: g
                        .backends
                        .iter()
                        .map(|i| {
                            member(i)
                                .and_then(|b| b.context_window)
                                .unwrap_or(DEFAULT_CONTEXT_WINDOW)
                        })
                        .collect(),
                    breaker: breaker::Breaker::new(g.backends.len(), g.cooldown),
                    picker: strategy::Picker::new(g.strategy, g.backends.len(), &g.weights),
                    config: g.clone(),
                }
            })
            .collect();
        Groups { groups, clock }
    }

    /// The same groups on another clock.
    pub(crate) fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    pub(crate) fn get(&self, group: usize) -> Option<&Group> {
        self.groups.get(group)
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Each group's model, and per member its backend (index into `Config::backends`) and
    /// breaker state now.
    pub(crate) fn health(&self) -> Vec<(String, Vec<(usize, breaker::MemberHealth)>)> {
        let now = (self.clock)();
        self.groups
            .iter()
            .map(|g| {
                let members = g
                    .config
                    .backends
                    .iter()
                    .copied()
                    .zip(g.breaker.snapshot(now))
                    .collect();
                (g.config.model.clone(), members)
            })
            .collect()
    }
}

impl Group {
    /// The group's `model` pattern.
    pub(crate) fn model(&self) -> &str {
        &self.config.model
    }

    /// Runs one request: `attempt(backend, note)` sends it to a backend.
    pub(crate) async fn serve<'a, T, F>(&self, clock: &Clock, mut attempt: F) -> Served<T>
    where
        T: GroupAnswer,
        F: FnMut(usize, Arc<FailureNote>) -> AttemptFuture<'a, T>,
    {
        let now = clock();
        let order = self.picker.order();
        let mut members: Vec<usize> = order
            .into_iter()
            .filter(|&m| self.breaker.is_available(m, now))
            .collect();
        let all_cooling = members.is_empty();
        if all_cooling {
            members = self.breaker.cooling_by_age(now);
        }
        let mut attempts = 0;
        let mut last: Option<Served<T>> = None;
        let mut overflowed: Option<u64> = None;
        let count = members.len();
        for (position, member) in members.into_iter().enumerate() {
            let window = self.windows.get(member).copied().unwrap_or_default();
            if overflowed.is_some_and(|w| window <= w) {
                continue;
            }
            // The last candidate goes even if a concurrent probe claimed it: a request that
            // reaches it has nothing else to try.
            let force = all_cooling || (attempts == 0 && position + 1 == count);
            if !self.breaker.begin(member, clock(), force) {
                continue;
            }
            attempts += 1;
            let Some(&backend) = self.config.backends.get(member) else {
                continue;
            };
            let guard = self.picker.enter(member);
            let note = Arc::new(FailureNote::default());
            let result = attempt(backend, note.clone()).await;
            let settled = T::settle(result, &note).await;
            let class = match settled.failed {
                None => {
                    self.breaker.answered(member);
                    return self.served(settled.result.map(|a| a.hold(guard)), backend, attempts);
                }
                Some(class) => class,
            };
            let moves_on = class.is_some_and(|c| self.config.on.contains(&c));
            match class {
                Some(c) if moves_on && c.cools_down() => self.breaker.failed(member, clock()),
                _ => self.breaker.answered(member),
            }
            if !moves_on {
                return self.served(settled.result, backend, attempts);
            }
            if class == Some(FailureClass::ContextOverflow) {
                overflowed = Some(window);
            }
            tracing::warn!(
                target: "ccp::access",
                group = %self.config.model,
                backend = %self.name(member),
                failure = class.map_or("", FailureClass::as_str),
                attempt = attempts,
                "model group: the backend failed before answering; trying the next one"
            );
            last = Some(self.served(settled.result, backend, attempts));
        }
        last.unwrap_or_else(|| {
            // Unreachable with a validated config (a group has a backend, and the last
            // candidate is always tried); answered rather than assumed.
            Served {
                result: Err(GatewayError::Internal(format!(
                    "model group {:?}: no backend could be tried",
                    self.config.model
                ))),
                backend: self.config.backends.first().copied().unwrap_or(0),
                attempts,
            }
        })
    }

    fn served<T>(
        &self,
        result: Result<T, GatewayError>,
        backend: usize,
        attempts: usize,
    ) -> Served<T> {
        Served {
            result,
            backend,
            attempts,
        }
    }

    fn name(&self, member: usize) -> &str {
        self.names.get(member).map_or("", String::as_str)
    }
}

/// The headers of a group's answer, and its log line (the only record over WebSocket).
pub(crate) fn answer_headers(
    group: &str,
    backend: &str,
    upstream_model: &str,
    attempts: usize,
    outcome: &str,
) -> HeaderMap {
    tracing::info!(
        target: "ccp::access",
        group = %group,
        backend = %backend,
        upstream_model = %upstream_model,
        attempts,
        fallback_count = attempts.saturating_sub(1),
        outcome,
        "model group answered"
    );
    let mut headers = HeaderMap::new();
    let pairs = [
        (crate::routing::BACKEND_HEADER, backend.to_owned()),
        (
            crate::routing::UPSTREAM_MODEL_HEADER,
            upstream_model.to_owned(),
        ),
        (ATTEMPTS_HEADER, attempts.to_string()),
        (
            FALLBACK_COUNT_HEADER,
            attempts.saturating_sub(1).to_string(),
        ),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    headers
}

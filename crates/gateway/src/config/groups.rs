//! `model_groups`: several backends serving one request model, with a strategy that orders them
//! per request and the failure classes that move a request on to the next one (issue 14).
//!
//! ```json
//! "model_groups": [{"model": "gpt-4o", "backends": ["primary", "fallback"],
//!                   "strategy": "fallback", "on": ["5xx", "timeout", "429", "connect"],
//!                   "cooldown_secs": 30}]
//! ```
//!
//! Invariants of a validated [`ModelGroup`]: at least one backend, every one an index into
//! `Config::backends`, none twice; `weights` has one positive entry per backend exactly when the
//! strategy is `weighted` (empty otherwise); no two groups share the same `model` text. What the
//! groups do at run time is in `crate::groups`.

use std::time::Duration;

use serde::Deserialize;

/// Default `cooldown_secs`.
pub const DEFAULT_COOLDOWN_SECS: u64 = 30;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModelGroup {
    pub model: Option<String>,
    pub backends: Option<Vec<String>>,
    pub strategy: Option<String>,
    pub weights: Option<Vec<u32>>,
    pub on: Option<Vec<String>>,
    pub cooldown_secs: Option<u64>,
}

/// How a group orders its backends for each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStrategy {
    /// Config order: the first backend serves, the others are fallbacks in turn.
    Fallback,
    /// Each request starts one backend further along.
    RoundRobin,
    /// Requests spread in proportion to `weights` (smooth weighted round robin: deterministic,
    /// no bursts).
    Weighted,
    /// The backend with the fewest of this group's requests in flight first.
    LeastBusy,
}

impl GroupStrategy {
    const NAMES: &'static [(&'static str, GroupStrategy)] = &[
        ("fallback", GroupStrategy::Fallback),
        ("round_robin", GroupStrategy::RoundRobin),
        ("weighted", GroupStrategy::Weighted),
        ("least_busy", GroupStrategy::LeastBusy),
    ];

    /// The spelling used in the config file.
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(n, _)| *n)
            .unwrap_or("fallback")
    }

    fn parse(text: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, s)| *s)
    }
}

/// A class of upstream failure, before any byte reached the client, that may move a request
/// on to the group's next backend (`on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// `5xx`: the upstream answered a server error (or an unusable answer).
    ServerError,
    /// `timeout`: a connect, first-byte or idle timeout fired before the answer began.
    Timeout,
    /// `429`: the upstream rate-limited the request (or its quota ran out with a 429).
    RateLimited,
    /// `connect`: no connection (refused, reset, DNS, TLS), or it broke before the answer began.
    Connect,
    /// `context_overflow`: the input does not fit the model's context window.
    ContextOverflow,
}

impl FailureClass {
    const NAMES: &'static [(&'static str, FailureClass)] = &[
        ("5xx", FailureClass::ServerError),
        ("timeout", FailureClass::Timeout),
        ("429", FailureClass::RateLimited),
        ("connect", FailureClass::Connect),
        ("context_overflow", FailureClass::ContextOverflow),
    ];

    /// Every class, in the order of the config reference.
    pub const ALL: [FailureClass; 5] = [
        FailureClass::ServerError,
        FailureClass::Timeout,
        FailureClass::RateLimited,
        FailureClass::Connect,
        FailureClass::ContextOverflow,
    ];

    /// The spelling used in the config file (and in logs).
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map(|(n, _)| *n)
            .unwrap_or("5xx")
    }

    fn parse(text: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, c)| *c)
    }

    /// Whether a failure of this class says something about the backend's health (and so puts
    /// it in cooldown). A context overflow is about the request, not the backend.
    pub fn cools_down(self) -> bool {
        self != FailureClass::ContextOverflow
    }
}

/// The `on` list when a group does not set one: everything but context overflow.
pub const DEFAULT_TRIGGERS: [FailureClass; 4] = [
    FailureClass::ServerError,
    FailureClass::Timeout,
    FailureClass::RateLimited,
    FailureClass::Connect,
];

/// One validated entry of `model_groups`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelGroup {
    /// The request model served by the group: an exact name or a `*` glob.
    pub model: String,
    /// Indices into `Config::backends`, in config order.
    pub backends: Vec<usize>,
    pub strategy: GroupStrategy,
    /// One per backend with `weighted`; empty otherwise.
    pub weights: Vec<u32>,
    /// The failure classes that move a request on to the next backend.
    pub on: Vec<FailureClass>,
    /// How long a backend that failed with one of `on` is skipped.
    pub cooldown: Duration,
}

/// Validates `model_groups` against the backend names (`names[i]` is `backends[i]`'s name, ""
/// when it has none); problems go to `push(path, message)`.
pub(crate) fn validate_model_groups(
    raw: Option<Vec<RawModelGroup>>,
    names: &[String],
    push: &mut dyn FnMut(String, String),
) -> Vec<ModelGroup> {
    let mut groups: Vec<ModelGroup> = Vec::new();
    for (i, g) in raw.unwrap_or_default().into_iter().enumerate() {
        let at = |field: &str| format!("model_groups[{i}].{field}");
        let model = g.model.unwrap_or_default();
        if model.trim().is_empty() {
            push(
                at("model"),
                "missing — add the request model this group serves, e.g. \"gpt-4o\" (or a glob \
                 such as \"claude-*\")"
                    .into(),
            );
        } else if let Some(first) = groups.iter().position(|x| x.model == model) {
            push(
                at("model"),
                format!(
                    "{model:?} is already served by model_groups[{first}] — merge the two \
                     groups' backends into one"
                ),
            );
        }
        let backends = group_backends(g.backends, names, &at, push);
        let strategy = match g.strategy.as_deref() {
            None => GroupStrategy::Fallback,
            Some(s) => GroupStrategy::parse(s).unwrap_or_else(|| {
                push(
                    at("strategy"),
                    format!(
                        "{s:?} is not a strategy — use \"fallback\" (in order), \
                         \"round_robin\", \"weighted\" (with \"weights\") or \"least_busy\""
                    ),
                );
                GroupStrategy::Fallback
            }),
        };
        let weights = group_weights(g.weights, strategy, backends.len(), &at, push);
        let on = group_triggers(g.on, &at, push);
        groups.push(ModelGroup {
            model,
            backends,
            strategy,
            weights,
            on,
            cooldown: Duration::from_secs(g.cooldown_secs.unwrap_or(DEFAULT_COOLDOWN_SECS)),
        });
    }
    groups
}

fn group_backends(
    raw: Option<Vec<String>>,
    names: &[String],
    at: &dyn Fn(&str) -> String,
    push: &mut dyn FnMut(String, String),
) -> Vec<usize> {
    let list = raw.unwrap_or_default();
    if list.is_empty() {
        push(
            at("backends"),
            "missing or empty — list the names of the backends that serve this model, first \
             choice first, e.g. [\"primary\", \"fallback\"]"
                .into(),
        );
    }
    let mut out = Vec::with_capacity(list.len());
    for (j, name) in list.iter().enumerate() {
        match names.iter().position(|n| !n.is_empty() && n == name) {
            None => {
                let known: Vec<&str> = names
                    .iter()
                    .filter(|n| !n.is_empty())
                    .map(String::as_str)
                    .collect();
                push(
                    at(&format!("backends[{j}]")),
                    format!(
                        "{name:?} is not the name of a backend — use one of: {}",
                        known.join(", ")
                    ),
                );
            }
            Some(index) if out.contains(&index) => push(
                at(&format!("backends[{j}]")),
                format!("{name:?} is listed twice — name each backend once"),
            ),
            Some(index) => out.push(index),
        }
    }
    out
}

fn group_weights(
    raw: Option<Vec<u32>>,
    strategy: GroupStrategy,
    backends: usize,
    at: &dyn Fn(&str) -> String,
    push: &mut dyn FnMut(String, String),
) -> Vec<u32> {
    match (raw, strategy) {
        (None, GroupStrategy::Weighted) => {
            push(
                at("weights"),
                format!(
                    "missing — strategy \"weighted\" needs one weight per backend ({backends}), \
                     e.g. [3, 1] sends three requests to the first for each one to the second"
                ),
            );
            Vec::new()
        }
        (None, _) => Vec::new(),
        (Some(_), other) if other != GroupStrategy::Weighted => {
            push(
                at("weights"),
                format!(
                    "only applies to strategy \"weighted\" (this group's is {:?}) — remove it, \
                     or set \"strategy\": \"weighted\"",
                    other.as_str()
                ),
            );
            Vec::new()
        }
        (Some(weights), _) => {
            if weights.len() != backends {
                push(
                    at("weights"),
                    format!(
                        "has {} entries for {backends} backends — give one weight per backend, \
                         in the same order",
                        weights.len()
                    ),
                );
            }
            if weights.contains(&0) {
                push(
                    at("weights"),
                    "contains 0 — every weight must be at least 1 (remove a backend to stop \
                     sending it requests)"
                        .into(),
                );
            }
            weights
        }
    }
}

fn group_triggers(
    raw: Option<Vec<String>>,
    at: &dyn Fn(&str) -> String,
    push: &mut dyn FnMut(String, String),
) -> Vec<FailureClass> {
    let Some(list) = raw else {
        return DEFAULT_TRIGGERS.to_vec();
    };
    let mut out = Vec::with_capacity(list.len());
    for (j, text) in list.iter().enumerate() {
        match FailureClass::parse(text) {
            Some(class) if !out.contains(&class) => out.push(class),
            Some(_) => {}
            None => {
                let known: Vec<String> = FailureClass::ALL
                    .iter()
                    .map(|c| format!("{:?}", c.as_str()))
                    .collect();
                push(
                    at(&format!("on[{j}]")),
                    format!(
                        "{text:?} is not a failure class — use any of {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    fn config(groups: &str) -> String {
        format!(
            r#"{{"backends": [
              {{"name": "a", "url": "http://127.0.0.1:1/v1", "model": "ma", "match_rules": {{"default": true}}}},
              {{"name": "b", "url": "http://127.0.0.1:2/v1", "model": "mb"}},
              {{"name": "c", "protocol": "mock", "model": "mc"}}
            ], "model_groups": {groups}}}"#
        )
    }

    fn problems(groups: &str) -> Vec<String> {
        match parse_str(&config(groups), &|_| None) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_minimal_group_gets_the_defaults() {
        let c = parse_str(
            &config(r#"[{"model": "gpt-4o", "backends": ["b", "a"]}]"#),
            &|_| None,
        )
        .unwrap();
        let g = &c.model_groups[0];
        assert_eq!(g.model, "gpt-4o");
        assert_eq!(g.backends, vec![1, 0]);
        assert_eq!(g.strategy, GroupStrategy::Fallback);
        assert!(g.weights.is_empty());
        assert_eq!(g.on, DEFAULT_TRIGGERS.to_vec());
        assert_eq!(g.cooldown, Duration::from_secs(DEFAULT_COOLDOWN_SECS));
    }

    #[test]
    fn every_field_is_read() {
        let c = parse_str(
            &config(
                r#"[{"model": "claude-*", "backends": ["a", "b", "c"], "strategy": "weighted",
                     "weights": [3, 1, 1], "on": ["context_overflow", "5xx"], "cooldown_secs": 0}]"#,
            ),
            &|_| None,
        )
        .unwrap();
        let g = &c.model_groups[0];
        assert_eq!(g.strategy, GroupStrategy::Weighted);
        assert_eq!(g.weights, vec![3, 1, 1]);
        assert_eq!(
            g.on,
            vec![FailureClass::ContextOverflow, FailureClass::ServerError]
        );
        assert_eq!(g.cooldown, Duration::ZERO);
        let summary = c.summary_json();
        assert_eq!(summary["model_groups"][0]["backends"][2], "c");
        assert_eq!(summary["model_groups"][0]["on"][0], "context_overflow");
    }

    #[test]
    fn every_problem_is_named_with_its_path() {
        let found = problems(
            r#"[{"backends": ["a", "zz", "a"], "strategy": "fastest", "on": ["500"]},
                {"model": "m", "backends": ["a", "b"], "strategy": "weighted", "weights": [1]},
                {"model": "m", "backends": [], "weights": [1, 0]},
                {"model": "n", "backends": ["a", "b"], "strategy": "weighted", "weights": [0, 1]},
                {"model": "o", "backends": ["a"], "strategy": "weighted"}]"#,
        );
        let expect = [
            "model_groups[0].model: missing",
            "model_groups[0].backends[1]: \"zz\" is not the name of a backend — use one of: a, b, c",
            "model_groups[0].backends[2]: \"a\" is listed twice",
            "model_groups[0].strategy: \"fastest\" is not a strategy",
            "model_groups[0].on[0]: \"500\" is not a failure class — use any of \"5xx\", \"timeout\", \"429\", \"connect\", \"context_overflow\"",
            "model_groups[1].weights: has 1 entries for 2 backends",
            "model_groups[2].model: \"m\" is already served by model_groups[1]",
            "model_groups[2].backends: missing or empty",
            "model_groups[2].weights: only applies to strategy \"weighted\"",
            "model_groups[3].weights: contains 0",
            "model_groups[4].weights: missing",
        ];
        for e in expect {
            assert!(
                found.iter().any(|p| p.starts_with(e)),
                "no problem starting {e:?} in {found:#?}"
            );
        }
        assert_eq!(found.len(), expect.len(), "{found:#?}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let found = problems(r#"[{"model": "m", "backends": ["a"], "fallbacks": ["b"]}]"#);
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("model_groups[0].fallbacks: unknown field")),
            "{found:#?}"
        );
    }
}

//! Issue 14's configuration sections for governance, parsed in two steps: raw serde structs
//! (`deny_unknown_fields`, the binding names) and validation into runtime types, the only way to
//! build them. Money and thresholds become integers here (micro-USD, millionths); no float
//! survives validation. `pricing` is [`crate::pricing::PriceConfig`].
//!
//! Budgets: on a key, `scope` `key` counts that key, `principal` every key of the key's
//! principal, `team` every key of its team, `global` everything. Top-level budgets (scopes
//! `global`, `team`, `principal`) apply to every key: a top-level team budget gives each team its
//! own counter with that limit.

use std::collections::{BTreeMap, HashSet};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::calendar::{parse_rfc3339, Window};
use crate::keys::secret::KeyHasher;
use crate::keys::{CacheMode, KeyPolicy, RateLimits, VirtualKey};
use crate::limits::budget::{BudgetSpec, ScopeKind};

/// A refused configuration value, with its path (`virtual_keys[2].budgets[0].limit_usd`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

fn config_error(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

fn default_warn_at() -> f64 {
    0.8
}

/// One budget as configured.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    pub scope: ScopeKind,
    pub window: Window,
    pub limit_usd: f64,
    /// The share of the limit at which warnings start (default 0.8).
    #[serde(default = "default_warn_at")]
    pub warn_at: f64,
}

impl BudgetConfig {
    /// The integer budget.
    pub fn validate(&self, path: &str) -> Result<BudgetSpec, ConfigError> {
        if !self.limit_usd.is_finite() || !(0.0..=1e12).contains(&self.limit_usd) {
            return Err(config_error(
                format!("{path}.limit_usd"),
                "must be a number of USD from 0 to 10^12",
            ));
        }
        if !self.warn_at.is_finite() || self.warn_at <= 0.0 || self.warn_at > 1.0 {
            return Err(config_error(
                format!("{path}.warn_at"),
                "must be a share of the limit above 0 and at most 1 (0.8 = 80 %)",
            ));
        }
        Ok(BudgetSpec {
            scope: self.scope,
            window: self.window,
            // In range and finite: the casts cannot saturate.
            limit_micro_usd: (self.limit_usd * 1e6).round() as u64,
            warn_at_ppm: (self.warn_at * 1e6).round() as u32,
        })
    }
}

/// The top-level `budgets` (scopes `global`, `team`, `principal`).
pub fn validate_global_budgets(budgets: &[BudgetConfig]) -> Result<Vec<BudgetSpec>, ConfigError> {
    budgets
        .iter()
        .enumerate()
        .map(|(i, budget)| {
            let path = format!("budgets[{i}]");
            if budget.scope == ScopeKind::Key {
                return Err(config_error(
                    format!("{path}.scope"),
                    "a top-level budget is global, team or principal; put key budgets on the key",
                ));
            }
            budget.validate(&path)
        })
        .collect()
}

/// One virtual key as configured (issue 14's `virtual_keys` entries). The secret is held
/// redacted (`Debug` never shows it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualKeyConfig {
    pub name: String,
    pub key: SecretString,
    #[serde(default)]
    pub principal: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub models_allowed: Option<Vec<String>>,
    #[serde(default)]
    pub model_aliases: BTreeMap<String, String>,
    #[serde(default)]
    pub budgets: Vec<BudgetConfig>,
    #[serde(default)]
    pub rate_limits: RateLimits,
    #[serde(default)]
    pub cache: CacheMode,
    /// RFC 3339.
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// A configured key, ready for lookup by hash.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfiguredKey {
    pub key: VirtualKey,
    pub key_hash: String,
}

/// Shortest secret accepted in the config (a hand-chosen key must still be hard to guess).
pub const MIN_KEY_LEN: usize = 16;

impl VirtualKeyConfig {
    /// The runtime key (id `cfg:<name>`, created at 0), hashed with `hasher`.
    pub fn validate(&self, path: &str, hasher: &KeyHasher) -> Result<ConfiguredKey, ConfigError> {
        if self.name.trim().is_empty() {
            return Err(config_error(format!("{path}.name"), "must not be empty"));
        }
        let secret = self.key.expose_secret();
        if secret.len() < MIN_KEY_LEN {
            return Err(config_error(
                format!("{path}.key"),
                format!(
                    "must be at least {MIN_KEY_LEN} characters (a generated `sk-ccp-` key has 50)"
                ),
            ));
        }
        if let Some(patterns) = &self.models_allowed {
            if let Some(i) = patterns.iter().position(|p| p.trim().is_empty()) {
                return Err(config_error(
                    format!("{path}.models_allowed[{i}]"),
                    "must not be empty",
                ));
            }
        }
        for (field, limit) in [("rpm", self.rate_limits.rpm), ("tpm", self.rate_limits.tpm)] {
            if limit == Some(0) {
                return Err(config_error(
                    format!("{path}.rate_limits.{field}"),
                    "must be at least 1 (leave it out for no limit)",
                ));
            }
        }
        let mut budgets = Vec::with_capacity(self.budgets.len());
        for (i, budget) in self.budgets.iter().enumerate() {
            let bpath = format!("{path}.budgets[{i}]");
            let missing = match budget.scope {
                ScopeKind::Principal if self.principal.is_none() => Some("principal"),
                ScopeKind::Team if self.team.is_none() => Some("team"),
                _ => None,
            };
            if let Some(what) = missing {
                return Err(config_error(
                    format!("{bpath}.scope"),
                    format!("a {what} budget needs the key's `{what}`"),
                ));
            }
            budgets.push(budget.validate(&bpath)?);
        }
        let expires_at = self
            .expires_at
            .as_deref()
            .map(|text| {
                parse_rfc3339(text)
                    .map(|ms| ms.div_euclid(1_000))
                    .map_err(|e| config_error(format!("{path}.expires_at"), e.to_string()))
            })
            .transpose()?;
        Ok(ConfiguredKey {
            key_hash: hasher.hash(secret),
            key: VirtualKey {
                id: format!("cfg:{}", self.name),
                name: self.name.clone(),
                principal: self.principal.clone(),
                team: self.team.clone(),
                policy: KeyPolicy {
                    models_allowed: self.models_allowed.clone(),
                    model_aliases: self.model_aliases.clone(),
                    budgets,
                    rate_limits: self.rate_limits,
                    cache: self.cache,
                },
                expires_at,
                metadata: self.metadata.clone(),
                revoked_at: None,
                created_at: 0,
            },
        })
    }
}

/// The `virtual_keys` list: each validated, names and secrets unique.
pub fn validate_virtual_keys(
    keys: &[VirtualKeyConfig],
    hasher: &KeyHasher,
) -> Result<Vec<ConfiguredKey>, ConfigError> {
    let mut names = HashSet::new();
    let mut hashes = HashSet::new();
    let mut out = Vec::with_capacity(keys.len());
    for (i, config) in keys.iter().enumerate() {
        let path = format!("virtual_keys[{i}]");
        let configured = config.validate(&path, hasher)?;
        if !names.insert(config.name.clone()) {
            return Err(config_error(
                format!("{path}.name"),
                format!("`{}` is used by an earlier key", config.name),
            ));
        }
        if !hashes.insert(configured.key_hash.clone()) {
            return Err(config_error(
                format!("{path}.key"),
                "the same secret is used by an earlier key",
            ));
        }
        out.push(configured);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Vec<VirtualKeyConfig> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_full_key_validates_into_integers() {
        let hasher = KeyHasher::new(b"server");
        let keys = parse(json!([{
            "name": "alice-laptop",
            "key": "sk-ccp-alice-0123456789abcdef",
            "principal": "alice",
            "team": "core",
            "models_allowed": ["kimi-*", "glm-4.6"],
            "model_aliases": {"fast": "kimi-k2-turbo-preview"},
            "budgets": [
                {"scope": "key", "window": "day", "limit_usd": 5.25},
                {"scope": "team", "window": "month", "limit_usd": 100, "warn_at": 0.9}
            ],
            "rate_limits": {"rpm": 60, "tpm": 200000},
            "cache": "disable",
            "expires_at": "2027-01-01T00:00:00Z",
            "metadata": {"ticket": "OPS-7"}
        }]));
        let configured = validate_virtual_keys(&keys, &hasher).unwrap();
        let key = &configured[0].key;
        assert_eq!(
            configured[0].key_hash,
            hasher.hash("sk-ccp-alice-0123456789abcdef")
        );
        assert_eq!(key.id, "cfg:alice-laptop");
        assert_eq!(key.policy.budgets[0].limit_micro_usd, 5_250_000);
        assert_eq!(key.policy.budgets[0].warn_at_ppm, 800_000);
        assert_eq!(key.policy.budgets[1].warn_at_ppm, 900_000);
        assert_eq!(key.policy.cache, CacheMode::Disable);
        assert_eq!(key.expires_at, Some(1_798_761_600));
        assert_eq!(key.policy.rate_limits.tpm, Some(200_000));
        // The secret is redacted in Debug output.
        assert!(!format!("{keys:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn refusals_name_the_path() {
        let hasher = KeyHasher::new(b"server");
        let base = json!({"name": "k", "key": "sk-ccp-0123456789abcdef"});
        let cases = [
            (json!({"key": "short"}), "virtual_keys[0].key"),
            (
                json!({"budgets": [{"scope": "team", "window": "day", "limit_usd": 1}]}),
                "virtual_keys[0].budgets[0].scope",
            ),
            (
                json!({"budgets": [{"scope": "key", "window": "day", "limit_usd": -1}]}),
                "virtual_keys[0].budgets[0].limit_usd",
            ),
            (
                json!({"budgets": [{"scope": "key", "window": "day", "limit_usd": 1, "warn_at": 1.5}]}),
                "virtual_keys[0].budgets[0].warn_at",
            ),
            (
                json!({"rate_limits": {"rpm": 0}}),
                "virtual_keys[0].rate_limits.rpm",
            ),
            (
                json!({"expires_at": "tomorrow"}),
                "virtual_keys[0].expires_at",
            ),
            (
                json!({"models_allowed": [""]}),
                "virtual_keys[0].models_allowed[0]",
            ),
        ];
        for (patch, path) in cases {
            let mut value = base.clone();
            for (k, v) in patch.as_object().unwrap() {
                value[k] = v.clone();
            }
            let err = validate_virtual_keys(&parse(json!([value])), &hasher).unwrap_err();
            assert_eq!(err.path, path, "{err}");
        }
        let twice =
            parse(json!([base.clone(), {"name": "other", "key": "sk-ccp-0123456789abcdef"}]));
        assert_eq!(
            validate_virtual_keys(&twice, &hasher).unwrap_err().path,
            "virtual_keys[1].key"
        );
        let same_name =
            parse(json!([base.clone(), {"name": "k", "key": "sk-ccp-fedcba9876543210"}]));
        assert_eq!(
            validate_virtual_keys(&same_name, &hasher).unwrap_err().path,
            "virtual_keys[1].name"
        );
        assert!(serde_json::from_value::<Vec<VirtualKeyConfig>>(
            json!([{"name": "k", "key": "sk-ccp-0123456789abcdef", "budget": []}])
        )
        .is_err());
    }

    #[test]
    fn global_budgets() {
        let budgets: Vec<BudgetConfig> = serde_json::from_value(json!([
            {"scope": "global", "window": "month", "limit_usd": 1000},
            {"scope": "team", "window": "week", "limit_usd": 0.000001}
        ]))
        .unwrap();
        let specs = validate_global_budgets(&budgets).unwrap();
        assert_eq!(specs[0].limit_micro_usd, 1_000_000_000);
        assert_eq!(specs[1].limit_micro_usd, 1);
        let key_scoped: Vec<BudgetConfig> =
            serde_json::from_value(json!([{"scope": "key", "window": "day", "limit_usd": 1}]))
                .unwrap();
        assert_eq!(
            validate_global_budgets(&key_scoped).unwrap_err().path,
            "budgets[0].scope"
        );
    }
}

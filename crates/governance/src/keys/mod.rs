//! Virtual keys: who a caller is, what they may use, and what limits them.
//!
//! Invariants:
//! - A [`VirtualKey`] never holds its secret; it is found by the secret's keyed hash
//!   ([`secret::KeyHasher`]) and stored as a [`ccp_store::VirtualKeyRecord`].
//! - A key is usable only while it is neither revoked nor past `expires_at` ([`KeyStatus`]).
//! - Model names resolve through one alias step, the key's aliases before the global ones; a
//!   model is allowed when the requested name or its alias target matches a `models_allowed`
//!   pattern ([`crate::glob`]). No allowlist means every model; an empty one means none.
//! - The budgets applied to a request are the key's own plus the top-level ones, each bound to
//!   this key's id, principal or team; a scope the key lacks (a team budget on a key with no
//!   team) does not apply to it.

pub mod secret;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::glob::glob_match;
use crate::limits::budget::{BudgetScope, BudgetSpec, ScopeKind};
use crate::limits::rate::{RateCharge, RateDimension, RateScope};

/// Requests and tokens per minute (issue 14's `rate_limits`); `None`: unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
}

impl RateLimits {
    /// The charges for one request of about `estimated_tokens` against these limits on `scope`.
    pub fn charges(&self, scope: &RateScope, estimated_tokens: u64) -> Vec<RateCharge> {
        let mut out = Vec::new();
        if let Some(rpm) = self.rpm {
            out.push(RateCharge {
                scope: scope.clone(),
                dimension: RateDimension::Requests,
                limit_per_minute: rpm,
                amount: 1,
            });
        }
        if let Some(tpm) = self.tpm {
            out.push(RateCharge {
                scope: scope.clone(),
                dimension: RateDimension::Tokens,
                limit_per_minute: tpm,
                amount: estimated_tokens,
            });
        }
        out
    }
}

/// Whether responses for this key may come from (and go to) the response cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    #[default]
    Respect,
    Disable,
}

/// A usable, expired or revoked key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

/// The requested model is not on the key's allowlist (403 `model_not_allowed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model `{requested}` is not allowed for this key")]
pub struct ModelNotAllowed {
    pub requested: String,
}

impl ModelNotAllowed {
    pub const CODE: &'static str = "model_not_allowed";
}

/// What a key may do, as one JSON document at rest (`virtual_keys.policy`). Unknown fields are
/// ignored, so a replica still on an older version reads policies a newer one wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPolicy {
    /// Names and globs (`kimi-*`); `None`: every model.
    #[serde(default)]
    pub models_allowed: Option<Vec<String>>,
    #[serde(default)]
    pub model_aliases: BTreeMap<String, String>,
    #[serde(default)]
    pub budgets: Vec<BudgetSpec>,
    #[serde(default)]
    pub rate_limits: RateLimits,
    #[serde(default)]
    pub cache: CacheMode,
}

/// One virtual key (without its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualKey {
    pub id: String,
    pub name: String,
    pub principal: Option<String>,
    pub team: Option<String>,
    pub policy: KeyPolicy,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    pub metadata: Map<String, Value>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

impl VirtualKey {
    /// Active, expired (at or after `expires_at`) or revoked, at `now_secs`.
    pub fn status(&self, now_secs: i64) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| now_secs >= at) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// The model `requested` names: the key's alias, else the global alias, else itself.
    pub fn resolve_model<'a>(
        &'a self,
        requested: &'a str,
        global_aliases: &'a BTreeMap<String, String>,
    ) -> &'a str {
        self.policy
            .model_aliases
            .get(requested)
            .or_else(|| global_aliases.get(requested))
            .map_or(requested, String::as_str)
    }

    /// The resolved model when this key may use `requested`.
    pub fn authorize_model(
        &self,
        requested: &str,
        global_aliases: &BTreeMap<String, String>,
    ) -> Result<String, ModelNotAllowed> {
        let resolved = self.resolve_model(requested, global_aliases);
        let allowed = match &self.policy.models_allowed {
            None => true,
            Some(patterns) => patterns
                .iter()
                .any(|p| glob_match(p, requested) || glob_match(p, resolved)),
        };
        if allowed {
            Ok(resolved.to_owned())
        } else {
            Err(ModelNotAllowed {
                requested: requested.to_owned(),
            })
        }
    }

    /// Every budget that applies to a request with this key: its own, then `global_budgets`
    /// (the top-level ones), each bound to this key's scope ids.
    pub fn budget_scopes(&self, global_budgets: &[BudgetSpec]) -> Vec<BudgetScope> {
        self.policy
            .budgets
            .iter()
            .chain(global_budgets)
            .filter_map(|spec| {
                let id = match spec.scope {
                    ScopeKind::Key => Some(self.id.as_str()),
                    ScopeKind::Principal => self.principal.as_deref(),
                    ScopeKind::Team => self.team.as_deref(),
                    ScopeKind::Global => Some(""),
                }?;
                Some(BudgetScope::new(spec, id))
            })
            .collect()
    }

    /// This key's rate-limit charges for one request of about `estimated_tokens` (the key's
    /// buckets; per-model limits are added by the caller with [`RateLimits::charges`] on
    /// [`RateScope::Model`]).
    pub fn rate_charges(&self, estimated_tokens: u64) -> Vec<RateCharge> {
        self.policy
            .rate_limits
            .charges(&RateScope::Key(self.id.clone()), estimated_tokens)
    }

    /// The stored form, with the secret's hash.
    pub fn to_record(
        &self,
        key_hash: &str,
    ) -> Result<ccp_store::VirtualKeyRecord, serde_json::Error> {
        Ok(ccp_store::VirtualKeyRecord {
            id: self.id.clone(),
            key_hash: key_hash.to_owned(),
            name: self.name.clone(),
            principal: self.principal.clone(),
            team: self.team.clone(),
            policy: serde_json::to_value(&self.policy)?,
            metadata: Value::Object(self.metadata.clone()),
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            created_at: self.created_at,
        })
    }

    /// The key a stored record describes.
    pub fn from_record(record: ccp_store::VirtualKeyRecord) -> Result<Self, serde_json::Error> {
        let metadata = match record.metadata {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Ok(VirtualKey {
            id: record.id,
            name: record.name,
            principal: record.principal,
            team: record.team,
            policy: serde_json::from_value(record.policy)?,
            expires_at: record.expires_at,
            metadata,
            revoked_at: record.revoked_at,
            created_at: record.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::calendar::Window;

    fn key(models_allowed: Option<Vec<&str>>) -> VirtualKey {
        VirtualKey {
            id: "vk_1".to_owned(),
            name: "laptop".to_owned(),
            principal: Some("alice".to_owned()),
            team: None,
            policy: KeyPolicy {
                models_allowed: models_allowed.map(|m| m.into_iter().map(str::to_owned).collect()),
                model_aliases: BTreeMap::from([("fast".to_owned(), "kimi-k2-turbo".to_owned())]),
                budgets: vec![BudgetSpec {
                    scope: ScopeKind::Key,
                    window: Window::Day,
                    limit_micro_usd: 5_000_000,
                    warn_at_ppm: 800_000,
                }],
                rate_limits: RateLimits {
                    rpm: Some(60),
                    tpm: None,
                },
                cache: CacheMode::Respect,
            },
            expires_at: Some(2_000),
            metadata: Map::new(),
            revoked_at: None,
            created_at: 1_000,
        }
    }

    #[test]
    fn allowlist_and_aliases() {
        let global = BTreeMap::from([
            ("fast".to_owned(), "glm-4.5-air".to_owned()),
            ("smart".to_owned(), "glm-4.6".to_owned()),
        ]);
        let k = key(Some(vec!["kimi-*", "smart"]));
        // The key's alias wins over the global one, and its target matches `kimi-*`.
        assert_eq!(k.authorize_model("fast", &global).unwrap(), "kimi-k2-turbo");
        // The requested alias itself is on the list, though its target is not.
        assert_eq!(k.authorize_model("smart", &global).unwrap(), "glm-4.6");
        assert_eq!(k.authorize_model("KIMI-K2", &global).unwrap(), "KIMI-K2");
        let denied = k.authorize_model("glm-4.6", &global).unwrap_err();
        assert_eq!(denied.requested, "glm-4.6");
        assert_eq!(ModelNotAllowed::CODE, "model_not_allowed");
        assert!(key(None).authorize_model("anything", &global).is_ok());
        assert!(key(Some(vec![]))
            .authorize_model("kimi-k2", &global)
            .is_err());
    }

    #[test]
    fn status_and_scopes() {
        let mut k = key(None);
        assert_eq!(k.status(1_999), KeyStatus::Active);
        assert_eq!(k.status(2_000), KeyStatus::Expired);
        k.revoked_at = Some(1_500);
        assert_eq!(k.status(1_600), KeyStatus::Revoked);
        let team_budget = BudgetSpec {
            scope: ScopeKind::Team,
            window: Window::Month,
            limit_micro_usd: 1,
            warn_at_ppm: 0,
        };
        let principal_budget = BudgetSpec {
            scope: ScopeKind::Principal,
            ..team_budget
        };
        let global_budget = BudgetSpec {
            scope: ScopeKind::Global,
            ..team_budget
        };
        let scopes = k.budget_scopes(&[team_budget, principal_budget, global_budget]);
        let ids: Vec<_> = scopes.iter().map(|s| (s.kind, s.id.as_str())).collect();
        assert_eq!(
            ids,
            vec![
                (ScopeKind::Key, "vk_1"),
                (ScopeKind::Principal, "alice"),
                (ScopeKind::Global, "")
            ]
        );
        let charges = k.rate_charges(500);
        assert_eq!(charges.len(), 1);
        assert_eq!(charges[0].dimension, RateDimension::Requests);
    }

    #[test]
    fn record_round_trip() {
        let mut k = key(Some(vec!["kimi-*"]));
        k.metadata.insert("owner".to_owned(), Value::from("ops"));
        let record = k.to_record("abcd").unwrap();
        assert_eq!(record.key_hash, "abcd");
        assert_eq!(record.policy["budgets"][0]["scope"], "key");
        assert_eq!(VirtualKey::from_record(record).unwrap(), k);
    }
}

//! Managing virtual keys (the admin API and the `keys` command): create, list, show, update,
//! revoke. Keys created here live in the store, by keyed hash; the secret exists only in the
//! answer to `create`. Keys declared in the config are listed, read-only.
//!
//! A key's settings use the config's names (`name`, `principal`, `team`, `models_allowed`,
//! `model_aliases`, `budgets`, `rate_limits`, `cache`, `expires_at`, `metadata`) and go through
//! the same validation as `virtual_keys` entries.

use std::collections::BTreeMap;

use ccp_governance::calendar::format_rfc3339;
use ccp_governance::config::{BudgetConfig, VirtualKeyConfig};
use ccp_governance::keys::secret::{display_prefix, generate_key, generate_key_id};
use ccp_governance::keys::{CacheMode, KeyStatus, RateLimits, VirtualKey};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::Governor;
use crate::error::GatewayError;

/// A key's settings as an admin sends them (every field optional on update).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    pub name: Option<String>,
    pub principal: Option<String>,
    pub team: Option<String>,
    pub models_allowed: Option<Vec<String>>,
    pub model_aliases: Option<BTreeMap<String, String>>,
    pub budgets: Option<Vec<BudgetConfig>>,
    pub rate_limits: Option<RateLimits>,
    pub cache: Option<CacheMode>,
    pub expires_at: Option<String>,
    pub metadata: Option<Map<String, Value>>,
}

fn bad(param: &str, message: String) -> GatewayError {
    GatewayError::BadRequest {
        param: Some(param.to_owned()),
        message,
    }
}

/// A validation problem of the key's settings, naming the field (`rate_limits.rpm`, not the
/// `key.` path prefix validation is run with).
fn invalid(e: ccp_governance::config::ConfigError) -> GatewayError {
    let field = e.path.strip_prefix("key.").unwrap_or(&e.path);
    bad(field, format!("`{field}` {}", e.message))
}

fn no_store() -> GatewayError {
    GatewayError::Internal("keys need the store (data_dir or storage.url)".into())
}

fn store_failed(e: ccp_store::StoreError) -> GatewayError {
    tracing::error!(error = %e, "key store failed");
    GatewayError::Internal("the key store is unavailable; try again".into())
}

/// The public view of a key: never its secret or hash.
pub fn key_view(key: &VirtualKey, source: &str) -> Value {
    let now = crate::state::now_secs();
    let status = match key.status(now) {
        KeyStatus::Active => "active",
        KeyStatus::Expired => "expired",
        KeyStatus::Revoked => "revoked",
    };
    let budgets: Vec<Value> = key
        .policy
        .budgets
        .iter()
        .map(|b| {
            json!({"scope": b.scope.as_str(), "window": b.window.as_str(),
                   "limit_usd": b.limit_micro_usd as f64 / 1e6, "warn_at": f64::from(b.warn_at_ppm) / 1e6})
        })
        .collect();
    json!({
        "id": key.id, "name": key.name, "principal": key.principal, "team": key.team,
        "status": status, "source": source,
        "models_allowed": key.policy.models_allowed, "model_aliases": key.policy.model_aliases,
        "budgets": budgets, "rate_limits": key.policy.rate_limits, "cache": key.policy.cache,
        "expires_at": key.expires_at.map(|s| format_rfc3339(s * 1000)),
        "revoked_at": key.revoked_at.map(|s| format_rfc3339(s * 1000)),
        "created_at": format_rfc3339(key.created_at * 1000),
        "metadata": key.metadata,
    })
}

impl Governor {
    /// Creates a key: returns its view with the secret (shown this once) under `key`.
    pub async fn create_key(&self, spec: KeySpec) -> Result<Value, GatewayError> {
        let store = self.store.as_ref().ok_or_else(no_store)?;
        let name = spec
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                bad(
                    "name",
                    "`name` is required: a label such as \"eng-laptop-1\"".into(),
                )
            })?;
        let secret = generate_key().map_err(|e| GatewayError::Internal(e.to_string()))?;
        let config = to_config(&name, secret.clone(), &spec, None);
        let configured = config.validate("key", &self.hasher).map_err(invalid)?;
        let mut key = configured.key;
        key.id = generate_key_id().map_err(|e| GatewayError::Internal(e.to_string()))?;
        key.created_at = crate::state::now_secs();
        let record = key
            .to_record(&configured.key_hash)
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
        store.put_virtual_key(&record).await.map_err(store_failed)?;
        tracing::info!(key_id = %key.id, name = %key.name, prefix = %display_prefix(&secret), "virtual key created");
        let mut view = key_view(&key, "store");
        view["key"] = Value::String(secret.expose_secret().to_owned());
        Ok(view)
    }

    /// Every key: the config's, then the store's (newest first).
    pub async fn list_keys(&self) -> Result<Vec<Value>, GatewayError> {
        let mut out: Vec<Value> = self
            .configured_keys()
            .iter()
            .map(|k| key_view(k, "config"))
            .collect();
        if let Some(store) = &self.store {
            let mut stored = store.list_virtual_keys().await.map_err(store_failed)?;
            stored.sort_by_key(|k| std::cmp::Reverse(k.created_at));
            for record in stored {
                if let Ok(key) = VirtualKey::from_record(record) {
                    out.push(key_view(&key, "store"));
                }
            }
        }
        Ok(out)
    }

    /// One key by id.
    pub async fn get_key(&self, id: &str) -> Result<Value, GatewayError> {
        if let Some(k) = self.configured_keys().iter().find(|k| k.id == id) {
            return Ok(key_view(k, "config"));
        }
        let key = self.stored_key(id).await?;
        Ok(key_view(&key, "store"))
    }

    async fn stored_key(&self, id: &str) -> Result<VirtualKey, GatewayError> {
        let store = self.store.as_ref().ok_or_else(no_store)?;
        let record = store
            .virtual_key(id)
            .await
            .map_err(store_failed)?
            .ok_or_else(|| not_found(id))?;
        VirtualKey::from_record(record).map_err(|e| GatewayError::Internal(e.to_string()))
    }

    /// Changes a stored key's settings (config keys change in the config).
    pub async fn update_key(&self, id: &str, spec: KeySpec) -> Result<Value, GatewayError> {
        self.refuse_config_key(id)?;
        let store = self.store.as_ref().ok_or_else(no_store)?;
        let record = store
            .virtual_key(id)
            .await
            .map_err(store_failed)?
            .ok_or_else(|| not_found(id))?;
        let hash = record.key_hash.clone();
        let current =
            VirtualKey::from_record(record).map_err(|e| GatewayError::Internal(e.to_string()))?;
        let name = spec.name.clone().unwrap_or_else(|| current.name.clone());
        // Validated like a new key (a placeholder secret: the real one never changes).
        let placeholder = SecretString::from("x".repeat(32));
        let config = to_config(&name, placeholder, &spec, Some(&current));
        let configured = config.validate("key", &self.hasher).map_err(invalid)?;
        let mut key = configured.key;
        key.id = current.id.clone();
        key.created_at = current.created_at;
        key.revoked_at = current.revoked_at;
        let record = key
            .to_record(&hash)
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
        store
            .update_virtual_key(&record)
            .await
            .map_err(store_failed)?;
        // Other replicas pick the change up within a second (their cached copy refreshes).
        self.forget_id(id);
        Ok(key_view(&key, "store"))
    }

    /// Revokes a stored key on every replica (within a second).
    pub async fn revoke_key(&self, id: &str) -> Result<Value, GatewayError> {
        self.refuse_config_key(id)?;
        let store = self.store.as_ref().ok_or_else(no_store)?;
        let now = crate::state::now_secs();
        if !store
            .revoke_virtual_key(id, now)
            .await
            .map_err(store_failed)?
        {
            // Unknown, or already revoked.
            self.stored_key(id).await?;
        }
        if let Err(e) = self.counters.revoke(id).await {
            tracing::error!(error = %e, key_id = %id, "revocation notice not sent to other replicas; they drop the key when their cached copy refreshes (1 s)");
        }
        self.forget_id(id);
        tracing::info!(key_id = %id, "virtual key revoked");
        let key = self.stored_key(id).await?;
        Ok(key_view(&key, "store"))
    }

    fn refuse_config_key(&self, id: &str) -> Result<(), GatewayError> {
        if self.configured_keys().iter().any(|k| k.id == id) {
            return Err(GatewayError::Forbidden {
                code: "config_key",
                message: format!(
                    "key `{id}` is declared in the config file; change or remove it there"
                ),
            });
        }
        Ok(())
    }
}

fn not_found(id: &str) -> GatewayError {
    GatewayError::State {
        status: 404,
        code: "key_not_found",
        param: None,
        message: format!("no virtual key with id '{id}'"),
    }
}

/// A config entry for `spec` (over `current` when updating).
fn to_config(
    name: &str,
    secret: SecretString,
    spec: &KeySpec,
    current: Option<&VirtualKey>,
) -> VirtualKeyConfig {
    let budgets = match (&spec.budgets, current) {
        (Some(b), _) => b.clone(),
        (None, Some(k)) => k
            .policy
            .budgets
            .iter()
            .map(|b| BudgetConfig {
                scope: b.scope,
                window: b.window,
                limit_usd: b.limit_micro_usd as f64 / 1e6,
                warn_at: f64::from(b.warn_at_ppm) / 1e6,
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    let pick = |new: &Option<String>, old: Option<&Option<String>>| {
        new.clone().or_else(|| old.cloned().flatten())
    };
    VirtualKeyConfig {
        name: name.to_owned(),
        key: secret,
        principal: pick(&spec.principal, current.map(|k| &k.principal)),
        team: pick(&spec.team, current.map(|k| &k.team)),
        models_allowed: spec
            .models_allowed
            .clone()
            .or_else(|| current.and_then(|k| k.policy.models_allowed.clone())),
        model_aliases: spec
            .model_aliases
            .clone()
            .or_else(|| current.map(|k| k.policy.model_aliases.clone()))
            .unwrap_or_default(),
        budgets,
        rate_limits: spec
            .rate_limits
            .or_else(|| current.map(|k| k.policy.rate_limits))
            .unwrap_or_default(),
        cache: spec
            .cache
            .or_else(|| current.map(|k| k.policy.cache))
            .unwrap_or_default(),
        expires_at: spec
            .expires_at
            .clone()
            .or_else(|| current.and_then(|k| k.expires_at.map(|s| format_rfc3339(s * 1000)))),
        metadata: spec
            .metadata
            .clone()
            .or_else(|| current.map(|k| k.metadata.clone()))
            .unwrap_or_default(),
    }
}

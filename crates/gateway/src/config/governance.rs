//! Issue 14's top-level governance settings: `admin_keys`, `redis_url`, `model_aliases`,
//! `pricing`, `virtual_keys`, `budgets`, and the estimate used to reserve budget before a call.
//! The raw sections are `ccp_governance::config`'s types (binding names, deny_unknown_fields);
//! here they are validated with everything else, every problem reported with its path.
//!
//! Virtual keys are hashed with the server secret, which lives in the store; the config keeps
//! them unhashed (secrets redacted) and `Gateway::open` hashes them. Validation here hashes with
//! a throwaway key only to run the same checks.

use std::collections::BTreeMap;

use ccp_governance::config::{
    validate_global_budgets, validate_virtual_keys, BudgetConfig, VirtualKeyConfig,
};
use ccp_governance::keys::secret::KeyHasher;
use ccp_governance::limits::budget::BudgetSpec;
use ccp_governance::pricing::{PriceConfig, PriceTable};

use super::env::{expand_env_refs, Expanded};
use super::Secret;

/// Output tokens assumed when reserving budget for a request without `max_output_tokens`.
pub const DEFAULT_RESERVE_OUTPUT_TOKENS: u64 = 4096;

/// The validated governance settings.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Governance {
    /// Keys for the admin API (never accepted as client keys).
    pub admin_keys: Vec<Secret>,
    /// Counters, reservations, revocations (and the cache) shared by replicas.
    pub redis_url: Option<Secret>,
    /// Model names clients type → the model routed (before routing; a key's aliases win).
    pub model_aliases: BTreeMap<String, String>,
    /// Prices: the built-in table with `pricing` over it.
    pub prices: PriceTable,
    /// The `virtual_keys` entries, secrets still unhashed.
    pub virtual_keys: Vec<VirtualKeyConfig>,
    /// Top-level budgets (scopes `global`, `team`, `principal`).
    pub budgets: Vec<BudgetSpec>,
    /// Output tokens reserved for a request that names no `max_output_tokens`.
    pub reserve_output_tokens: u64,
}

impl Governance {
    /// Whether anything asks for keys on client requests (virtual keys in the config, or an
    /// admin API that can create them).
    pub fn keys_possible(&self) -> bool {
        !self.virtual_keys.is_empty() || !self.admin_keys.is_empty()
    }

    /// Every secret value here, for redaction.
    pub fn secrets(&self) -> Vec<String> {
        use secrecy::ExposeSecret as _;
        let admin = self.admin_keys.iter().map(|k| k.expose().to_owned());
        let keys = self
            .virtual_keys
            .iter()
            .map(|k| k.key.expose_secret().to_owned());
        let redis = self
            .redis_url
            .as_ref()
            .and_then(|u| super::storage::url_password(u.expose()).map(str::to_owned));
        admin.chain(keys).chain(redis).collect()
    }
}

/// The raw governance fields of the top level.
pub(crate) struct RawGovernance {
    pub admin_keys: Option<Vec<String>>,
    pub redis_url: Option<String>,
    pub model_aliases: Option<BTreeMap<String, String>>,
    pub pricing: Option<BTreeMap<String, PriceConfig>>,
    pub virtual_keys: Option<Vec<VirtualKeyConfig>>,
    pub budgets: Option<Vec<BudgetConfig>>,
    pub reserve_output_tokens: Option<u64>,
}

/// Validates the governance fields; problems go to `push(path, message)`.
pub(crate) fn validate_governance(
    raw: RawGovernance,
    env: &dyn Fn(&str) -> Option<String>,
    push: &mut dyn FnMut(String, String),
) -> Governance {
    let mut out = Governance {
        reserve_output_tokens: DEFAULT_RESERVE_OUTPUT_TOKENS,
        prices: PriceTable::builtin(),
        ..Governance::default()
    };
    for (i, text) in raw.admin_keys.unwrap_or_default().iter().enumerate() {
        match expand_env_refs(text, env) {
            Ok(Expanded { value, .. }) if value.trim().is_empty() => {}
            Ok(Expanded { value, .. }) if value.trim().len() < 16 => push(
                format!("admin_keys[{i}]"),
                "is shorter than 16 characters — an admin key must be hard to guess (e.g. `openssl rand -hex 24`)".into(),
            ),
            Ok(Expanded { value, .. }) => out.admin_keys.push(Secret::new(value.trim())),
            Err(e) => push(
                format!("admin_keys[{i}]"),
                format!("cannot resolve an environment reference ({e:?}) — export the variable"),
            ),
        }
    }
    if let Some(url) = raw.redis_url {
        match expand_env_refs(&url, env) {
            Ok(Expanded { value, .. }) if value.trim().is_empty() => {}
            Ok(Expanded { value, .. }) => {
                let v = value.trim();
                if v.starts_with("redis://") || v.starts_with("rediss://") {
                    out.redis_url = Some(Secret::new(v));
                } else {
                    push(
                        "redis_url".into(),
                        "is not a Redis URL — use e.g. \"redis://127.0.0.1:6379\"".into(),
                    );
                }
            }
            Err(e) => push(
                "redis_url".into(),
                format!("cannot resolve an environment reference ({e:?}) — export the variable"),
            ),
        }
    }
    for (from, to) in raw.model_aliases.unwrap_or_default() {
        if from.trim().is_empty() || to.trim().is_empty() {
            push(
                "model_aliases".into(),
                format!("{from:?} → {to:?}: both names must be non-empty"),
            );
        } else {
            out.model_aliases.insert(from, to);
        }
    }
    if let Some(pricing) = raw.pricing {
        match PriceTable::from_config(&pricing) {
            Ok(table) => out.prices = table,
            Err(e) => push(format!("pricing.{}", e.model), e.to_string()),
        }
    }
    if let Some(budgets) = raw.budgets {
        match validate_global_budgets(&budgets) {
            Ok(specs) => out.budgets = specs,
            Err(e) => push(e.path, e.message),
        }
    }
    if let Some(keys) = raw.virtual_keys {
        let keys = resolve_key_env(keys, env, push);
        let check = KeyHasher::new(b"config validation only");
        match validate_virtual_keys(&keys, &check) {
            Ok(_) => out.virtual_keys = keys,
            Err(e) => push(e.path, e.message),
        }
    }
    if let Some(n) = raw.reserve_output_tokens {
        if n == 0 {
            push(
                "reserve_output_tokens".into(),
                "must be at least 1 — remove it for the default (4096)".into(),
            );
        } else {
            out.reserve_output_tokens = n;
        }
    }
    out
}

/// `${VAR}` references in the keys' secrets, resolved.
fn resolve_key_env(
    keys: Vec<VirtualKeyConfig>,
    env: &dyn Fn(&str) -> Option<String>,
    push: &mut dyn FnMut(String, String),
) -> Vec<VirtualKeyConfig> {
    use secrecy::{ExposeSecret as _, SecretString};
    keys.into_iter()
        .enumerate()
        .map(|(i, mut k)| {
            match expand_env_refs(k.key.expose_secret(), env) {
                Ok(Expanded { value, .. }) => k.key = SecretString::from(value.trim().to_owned()),
                Err(e) => push(
                    format!("virtual_keys[{i}].key"),
                    format!(
                        "cannot resolve an environment reference ({e:?}) — export the variable"
                    ),
                ),
            }
            k
        })
        .collect()
}

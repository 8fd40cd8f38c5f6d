//! Governance at request time (issue 14), over `ccp_governance`: who the caller's virtual key
//! is, which model it may use under which name, and what it may spend and how fast.
//!
//! One [`Governor`] per gateway. It holds the key hasher (keyed by a server secret kept in the
//! store, so replicas agree), the counters (in process, or Redis shared by replicas), prices,
//! aliases, top-level budgets, and an in-memory cache of keys by hash.
//!
//! Invariants: the hot path never waits on the database for a key it has seen (a cached key
//! older than [`REFRESH_AFTER`] is served and refreshed in the background); an unknown key is
//! looked up once and remembered as unknown for [`NEGATIVE_TTL`]; a revocation on any replica
//! reaches this one through the counters' revocation notices (Redis: polled every 200 ms) and
//! takes effect at once; no secret is ever kept — only its keyed hash.

pub mod admit;
pub mod keys;
pub mod ledger;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ccp_governance::clock::SystemClock;
use ccp_governance::config::validate_virtual_keys;
use ccp_governance::keys::secret::KeyHasher;
use ccp_governance::keys::{KeyStatus, VirtualKey};
use ccp_governance::limits::budget::BudgetSpec;
use ccp_governance::limits::Counters;
use ccp_governance::pricing::PriceTable;
use ccp_store::Store;

use crate::config::{Governance as GovernanceConfig, Secret};
use crate::error::GatewayError;
use crate::identity::ClientIdentity;

/// A cached key older than this is refreshed from the store in the background.
pub const REFRESH_AFTER: Duration = Duration::from_secs(1);
/// An unknown key is not looked up again for this long.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(1);
/// At most this many unknown keys are remembered (a flood of random keys cannot grow memory).
const NEGATIVE_CAP: usize = 10_000;

#[derive(Clone)]
struct Cached {
    /// `None`: known to be unknown.
    key: Option<Arc<VirtualKey>>,
    loaded: Instant,
    /// From the config (never refreshed from the store).
    configured: bool,
}

/// Request-time governance.
pub struct Governor {
    hasher: KeyHasher,
    counters: Counters,
    store: Option<Store>,
    prices: PriceTable,
    aliases: BTreeMap<String, String>,
    budgets: Vec<BudgetSpec>,
    reserve_output_tokens: u64,
    keys_possible: bool,
    admin_keys: Vec<Secret>,
    cache: RwLock<HashMap<String, Cached>>,
    /// Batched ledger writes (with a store).
    pub(crate) spend: Option<Arc<ledger::SpendWriter>>,
}

impl std::fmt::Debug for Governor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governor")
            .field("keys_possible", &self.keys_possible)
            .field("store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

fn now_secs() -> i64 {
    crate::state::now_secs()
}

impl Governor {
    /// Governance from `config` with in-process counters and no store: config keys only.
    pub fn without_store(config: &GovernanceConfig) -> Result<Self, GatewayError> {
        let secret = ccp_governance::keys::secret::generate_server_secret().map_err(|e| {
            GatewayError::Internal(format!("no usable random number generator: {e}"))
        })?;
        let counters = Counters::in_process(Arc::new(SystemClock), 0);
        Self::build(config, KeyHasher::new(secret.as_bytes()), counters, None)
    }

    /// Governance with the store (keys created by the admin API, the spend ledger, the server
    /// secret) and, with `redis_url`, counters shared by replicas.
    pub async fn open(config: &GovernanceConfig, store: &Store) -> Result<Self, String> {
        let hasher = KeyHasher::from_store(store)
            .await
            .map_err(|e| format!("cannot read the key secret from the store: {e}"))?;
        let counters = match &config.redis_url {
            Some(url) => Counters::redis(url.expose(), "ccp", Arc::new(SystemClock), 0)
                .await
                .map_err(|e| {
                    format!(
                        "cannot reach Redis at {} ({e}); start it or remove redis_url",
                        crate::config::Storage::redact_url(url.expose())
                    )
                })?,
            None => Counters::in_process(Arc::new(SystemClock), 0),
        };
        let governor = Self::build(config, hasher, counters, Some(store.clone()))
            .map_err(|e| e.to_string())?;
        governor.seed_budgets().await;
        Ok(governor)
    }

    fn build(
        config: &GovernanceConfig,
        hasher: KeyHasher,
        counters: Counters,
        store: Option<Store>,
    ) -> Result<Self, GatewayError> {
        let configured = validate_virtual_keys(&config.virtual_keys, &hasher)
            .map_err(|e| GatewayError::Internal(format!("{}: {}", e.path, e.message)))?;
        let now = Instant::now();
        let cache = configured
            .into_iter()
            .map(|c| {
                let cached = Cached {
                    key: Some(Arc::new(c.key)),
                    loaded: now,
                    configured: true,
                };
                (c.key_hash, cached)
            })
            .collect();
        let spend = store.clone().map(ledger::SpendWriter::start);
        Ok(Governor {
            hasher,
            counters,
            store,
            prices: config.prices.clone(),
            aliases: config.model_aliases.clone(),
            budgets: config.budgets.clone(),
            reserve_output_tokens: config.reserve_output_tokens,
            keys_possible: config.keys_possible(),
            admin_keys: config.admin_keys.clone(),
            cache: RwLock::new(cache),
            spend,
        })
    }

    /// In-process counters start empty: after a restart, what the ledger says was spent in the
    /// current windows counts again (config keys and top-level budgets; keys from the store are
    /// seeded when first seen).
    async fn seed_budgets(&self) {
        let Some(store) = &self.store else { return };
        let keys: Vec<Arc<VirtualKey>> = self.cached_keys();
        let mut scopes = Vec::new();
        for key in &keys {
            scopes.extend(key.budget_scopes(&self.budgets));
        }
        if let Err(e) =
            ccp_governance::ledger::seed_from_ledger(&self.counters, store, &scopes).await
        {
            tracing::warn!(error = %e, "could not seed budgets from the spend ledger");
        }
    }

    fn cached_keys(&self) -> Vec<Arc<VirtualKey>> {
        self.cache
            .read()
            .map(|c| c.values().filter_map(|v| v.key.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether client requests must present a key (virtual keys configured, or an admin API
    /// that can create them).
    pub fn keys_possible(&self) -> bool {
        self.keys_possible
    }

    /// The admin keys.
    pub fn admin_keys(&self) -> &[Secret] {
        &self.admin_keys
    }

    /// The counters (rate limits, budgets, revocations).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The key hasher.
    pub fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    /// The store, when attached.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Global model aliases.
    pub fn aliases(&self) -> &BTreeMap<String, String> {
        &self.aliases
    }

    /// Listens for revocations (from any replica) and drops revoked keys from the cache.
    pub fn spawn_revocation_listener(self: &Arc<Self>) {
        let mut notices = self.counters.revocations();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                match notices.recv().await {
                    Ok(id) => {
                        let Some(gov) = weak.upgrade() else { return };
                        gov.forget_id(&id);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Drops the cached entry of key `id` (revoked or changed elsewhere).
    pub fn forget_id(&self, id: &str) {
        if let Ok(mut cache) = self.cache.write() {
            cache.retain(|_, c| c.configured || c.key.as_ref().is_none_or(|k| k.id != id));
        }
    }

    /// The identity for a presented secret that is a virtual key; `Ok(None)` when it is not one
    /// (the caller then answers 401); an error for a revoked or expired key.
    pub async fn authenticate(
        self: &Arc<Self>,
        presented: &str,
    ) -> Result<Option<ClientIdentity>, GatewayError> {
        let hash = self.hasher.hash(presented);
        let cached = self.cache.read().ok().and_then(|c| c.get(&hash).cloned());
        let key = match cached {
            Some(c) if c.configured => c.key,
            Some(c) if c.loaded.elapsed() < REFRESH_AFTER => c.key,
            Some(c) if c.key.is_some() => {
                // Known: answer now, refresh behind the request — one refresh per key at a
                // time (the entry counts as fresh again until the refresh lands).
                if let Ok(mut cache) = self.cache.write() {
                    if let Some(entry) = cache.get_mut(&hash) {
                        entry.loaded = Instant::now();
                    }
                }
                let gov = self.clone();
                let h = hash.clone();
                tokio::spawn(async move { gov.load(&h).await });
                c.key
            }
            _ => self.load(&hash).await?,
        };
        let Some(key) = key else { return Ok(None) };
        if self.counters.is_revoked(&key.id) {
            return Err(revoked(&key));
        }
        match key.status(now_secs()) {
            KeyStatus::Active => Ok(Some(ClientIdentity::virtual_key(key))),
            KeyStatus::Revoked => Err(revoked(&key)),
            KeyStatus::Expired => Err(GatewayError::Unauthorized(format!(
                "virtual key `{}` expired at {}; ask its owner for a new key",
                key.name,
                ccp_governance::calendar::format_rfc3339(key.expires_at.unwrap_or(0) * 1000)
            ))),
        }
    }

    /// Looks a hash up in the store and caches the answer (also "unknown").
    async fn load(&self, hash: &str) -> Result<Option<Arc<VirtualKey>>, GatewayError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let record = store.virtual_key_by_hash(hash).await.map_err(|e| {
            tracing::error!(error = %e, "key lookup failed");
            GatewayError::Internal("the key store is unavailable; try again".into())
        })?;
        let key = match record.map(VirtualKey::from_record).transpose() {
            Ok(k) => k.map(Arc::new),
            Err(e) => {
                tracing::error!(error = %e, "a stored key's policy is malformed");
                None
            }
        };
        if let Some(k) = &key {
            if let Err(e) = ccp_governance::ledger::seed_from_ledger(
                &self.counters,
                store,
                &k.budget_scopes(&self.budgets),
            )
            .await
            {
                tracing::warn!(error = %e, "could not seed a key's budgets from the ledger");
            }
        }
        if let Ok(mut cache) = self.cache.write() {
            if key.is_none() && cache.len() >= NEGATIVE_CAP {
                cache.retain(|_, c| c.key.is_some());
            }
            cache.insert(
                hash.to_owned(),
                Cached {
                    key: key.clone(),
                    loaded: Instant::now(),
                    configured: false,
                },
            );
        }
        Ok(key)
    }

    /// The model a request is routed by: the key's alias, else a global alias, else as asked;
    /// refused when the key's allowlist does not cover it.
    pub fn resolve_model(
        &self,
        identity: &ClientIdentity,
        model: &str,
    ) -> Result<String, GatewayError> {
        match &identity.key {
            Some(key) => key.authorize_model(model, &self.aliases).map_err(|_| {
                GatewayError::ModelNotAllowed {
                    model: model.to_owned(),
                    allowed: key.policy.models_allowed.clone().unwrap_or_default(),
                }
            }),
            None => Ok(self
                .aliases
                .get(model)
                .cloned()
                .unwrap_or_else(|| model.to_owned())),
        }
    }

    /// Writes pending spend to the ledger now (it is written every half second anyway).
    pub async fn flush_ledger(&self) {
        if let Some(w) = &self.spend {
            w.flush().await;
        }
    }

    /// The configured (read-only) keys, for listings.
    pub fn configured_keys(&self) -> Vec<Arc<VirtualKey>> {
        self.cache
            .read()
            .map(|c| {
                let mut keys: Vec<_> = c
                    .values()
                    .filter(|v| v.configured)
                    .filter_map(|v| v.key.clone())
                    .collect();
                keys.sort_by(|a, b| a.name.cmp(&b.name));
                keys
            })
            .unwrap_or_default()
    }

    /// Prices.
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// Top-level budgets.
    pub fn budgets(&self) -> &[BudgetSpec] {
        &self.budgets
    }
}

fn revoked(key: &VirtualKey) -> GatewayError {
    GatewayError::Unauthorized(format!(
        "virtual key `{}` has been revoked; ask its owner for a new key",
        key.name
    ))
}

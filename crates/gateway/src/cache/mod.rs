//! The exact-match response cache (issue 14): a successful Responses answer kept under a hash
//! of the normalized request (`key`), in process memory (`memory`, size-bounded) or in Redis
//! (`redis`, shared by replicas), and replayed for an identical request (`entry`).
//!
//! It is opt-in twice over: no `cache` block in the config, no cache at all (and no
//! `x-ccp-cache` header); with the block, each request may still opt out through its virtual
//! key's [`CacheMode`] or a `Cache-Control: no-cache` / `no-store` header ([`CachePolicy`]).
//!
//! Where it sits: [`crate::Gateway::respond`] looks up after `resolve_state` (so a
//! `previous_response_id` chain is hashed as the expanded input) and before the upstream call;
//! the answer — a hit or the upstream's — then goes through the state layer's `Recorder` as
//! usual, so a hit with `store` on is stored under its own fresh id and its reasoning is sealed
//! with the current server secret.
//!
//! Invariants: only a completed answer is written (never a failure, an incomplete answer or a
//! stream the client abandoned); entries are scoped by the caller's identity unless
//! `cache.shared` is on; a cache failure (Redis down, an entry that no longer decodes) is logged
//! and counts as a miss — it never fails a request.

mod entry;
mod key;
mod memory;
mod redis;
mod synth;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::config::{CacheSettings, Config};
use crate::error::GatewayError;
use crate::pipeline::{GatewayResponse, PreparedRequest};

pub(crate) use key::CacheKey;

/// The response header that says whether the answer came from the cache.
pub const CACHE_HEADER: HeaderName = HeaderName::from_static("x-ccp-cache");

/// Whether requests may use the cache: `cache.mode` in the config, and a virtual key's `cache`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// Read and write the cache, honouring the request's `Cache-Control`.
    #[default]
    Respect,
    /// Never read or write it (`x-ccp-cache: bypass`).
    Disable,
}

impl CacheMode {
    /// The mode named `text` (`respect` or `disable`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "respect" => Some(CacheMode::Respect),
            "disable" => Some(CacheMode::Disable),
            _ => None,
        }
    }

    /// The spelling used in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheMode::Respect => "respect",
            CacheMode::Disable => "disable",
        }
    }
}

/// The request's `Cache-Control` directives that concern the proxy's cache (RFC 9111).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `no-cache`: do not answer from the cache; the fresh answer is still written.
    pub no_cache: bool,
    /// `no-store`: neither read nor write the cache.
    pub no_store: bool,
}

impl CacheControl {
    /// Reads every `Cache-Control` header (directives are case-insensitive; unknown ones and
    /// arguments such as `max-age=0` are ignored).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut control = CacheControl::default();
        let directives = headers
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for directive in directives {
            let name = directive.split('=').next().unwrap_or_default().trim();
            if name.eq_ignore_ascii_case("no-cache") {
                control.no_cache = true;
            } else if name.eq_ignore_ascii_case("no-store") {
                control.no_store = true;
            }
        }
        control
    }
}

/// How one request may use the cache, as the edge knows it: the caller's virtual-key mode, the
/// caller's scope and the request's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    /// The caller's virtual key's `cache` ([`CacheMode::Respect`] for callers without one).
    pub mode: CacheMode,
    /// Whose answers these are: the caller's identity id (`ClientIdentity::id`). Entries of one
    /// scope never answer another, unless `cache.shared` makes the cache global.
    pub scope: String,
    pub control: CacheControl,
}

impl CachePolicy {
    /// The policy of a request from `scope` with these headers, in [`CacheMode::Respect`].
    pub fn new(scope: impl Into<String>, headers: &HeaderMap) -> Self {
        CachePolicy {
            mode: CacheMode::Respect,
            scope: scope.into(),
            control: CacheControl::from_headers(headers),
        }
    }

    /// The same policy with the caller's key's mode.
    pub fn with_mode(mut self, mode: CacheMode) -> Self {
        self.mode = mode;
        self
    }
}

/// What the cache did for one answer (the `x-ccp-cache` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Answered from the cache; the upstream was not called.
    Hit,
    /// Answered by the upstream (the answer is written when it completes).
    Miss,
    /// The cache was not used: disabled (config or key), `no-store`, or not cacheable.
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Bypass => "bypass",
        }
    }

    /// The status an answer's headers carry, if the cache is configured.
    pub fn of(response: &GatewayResponse) -> Option<Self> {
        match response.headers.get(CACHE_HEADER)?.as_bytes() {
            b"hit" => Some(CacheStatus::Hit),
            b"miss" => Some(CacheStatus::Miss),
            b"bypass" => Some(CacheStatus::Bypass),
            _ => None,
        }
    }

    fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }
}

/// Unix time in milliseconds; injectable so expiry is testable without sleeping.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    })
}

/// Where entries live.
enum Store {
    Memory(memory::MemoryStore),
    Redis(redis::RedisStore),
}

/// What the pipeline does with the cache for one request.
pub(crate) enum Plan {
    /// Answer from the upstream; mark the answer with this status (`Bypass`).
    Skip(CacheStatus),
    /// Look up (unless `no-cache`), and write a completed answer from the upstream.
    Use { key: CacheKey, read: bool },
}

/// The response cache of one gateway.
pub struct ResponseCache {
    store: Store,
    settings: CacheSettings,
    clock: Clock,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = match self.store {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        };
        f.debug_struct("ResponseCache")
            .field("store", &store)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ResponseCache {
    /// The cache `config` asks for: none without a `cache` block; in Redis with `redis_url`
    /// (connected lazily, so an unreachable Redis never stops the proxy from starting), else in
    /// process memory.
    pub fn from_config(config: &Config) -> Result<Option<Self>, GatewayError> {
        let Some(settings) = config.cache.clone() else {
            return Ok(None);
        };
        let store = match &config.redis_url {
            Some(url) => Store::Redis(
                redis::RedisStore::new(url.expose(), &settings.redis_prefix).map_err(|e| {
                    GatewayError::Internal(format!(
                        "redis_url: {e} — use redis://host:6379 or redis+unix:///path"
                    ))
                })?,
            ),
            None => Store::Memory(memory::MemoryStore::new(settings.max_bytes, settings.ttl)),
        };
        Ok(Some(ResponseCache {
            store,
            settings,
            clock: system_clock(),
        }))
    }

    /// The same cache reading time from `clock` (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// What to do for `prepared` (state already resolved) under `policy`.
    pub(crate) fn plan(
        &self,
        prepared: &PreparedRequest,
        backend: &str,
        policy: &CachePolicy,
    ) -> Plan {
        let off = self.settings.mode == CacheMode::Disable
            || policy.mode == CacheMode::Disable
            || policy.control.no_store;
        if off {
            return Plan::Skip(CacheStatus::Bypass);
        }
        let scope = if self.settings.shared {
            None
        } else {
            Some(policy.scope.as_str())
        };
        match key::request_key(scope, backend, prepared) {
            Some(key) => Plan::Use {
                key,
                read: !policy.control.no_cache,
            },
            None => Plan::Skip(CacheStatus::Bypass),
        }
    }

    /// The answer stored under `key`, replayed for this request (as a stream when `stream`);
    /// `None` on a miss, an expired or undecodable entry, or a store failure.
    pub(crate) async fn lookup(&self, key: &CacheKey, stream: bool) -> Option<GatewayResponse> {
        let bytes = match &self.store {
            Store::Memory(m) => m.get(&key.hash),
            Store::Redis(r) => r.get(&key.hash).await.map(Bytes::from),
        }?;
        let now_ms = (self.clock)();
        let entry = match entry::Entry::decode(&bytes) {
            Some(e) if e.expires_at_ms > now_ms => e,
            Some(_) => {
                if let Store::Memory(m) = &self.store {
                    m.remove(&key.hash);
                }
                return None;
            }
            None => {
                tracing::warn!(key = %key.hash, "response cache: an entry does not decode; treated as a miss");
                return None;
            }
        };
        let replayed = entry.replay(stream, &key.echo, now_ms / 1000);
        if replayed.is_none() {
            tracing::debug!(key = %key.hash, stream, "response cache: the entry cannot answer this request; treated as a miss");
        }
        replayed
    }

    /// Writes `entry` under `key` (errors are logged by the store).
    async fn put(&self, key: &str, entry: entry::Entry) {
        let Some(bytes) = entry.encode() else { return };
        if bytes.len() > entry::MAX_ENTRY_BYTES {
            return;
        }
        match &self.store {
            Store::Memory(m) => m.put(key, Bytes::from(bytes)),
            Store::Redis(r) => r.put(key, bytes, self.settings.ttl).await,
        }
    }

    /// The expiry of an entry written now.
    fn expires_at_ms(&self) -> u64 {
        let ttl = u64::try_from(self.settings.ttl.as_millis()).unwrap_or(u64::MAX);
        (self.clock)().saturating_add(ttl)
    }

    /// The upstream's answer, passed on unchanged; written under `key` once it completes (a
    /// stream: when its `response.completed` passes, before it is released).
    pub(crate) async fn capture(
        self: &Arc<Self>,
        key: CacheKey,
        response: GatewayResponse,
    ) -> GatewayResponse {
        entry::capture(self.clone(), key.hash, response).await
    }
}

/// Sets `x-ccp-cache` on an answer.
pub(crate) fn mark(response: &mut GatewayResponse, status: CacheStatus) {
    response.headers.insert(CACHE_HEADER, status.header_value());
}

/// The TTL given to a store (at least one millisecond).
fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_directives_are_read_from_every_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            CacheControl::from_headers(&headers),
            CacheControl::default()
        );
        headers.append(
            "cache-control",
            HeaderValue::from_static("max-age=0, No-Cache"),
        );
        let c = CacheControl::from_headers(&headers);
        assert!(c.no_cache && !c.no_store, "{c:?}");
        headers.append("cache-control", HeaderValue::from_static("no-store"));
        let c = CacheControl::from_headers(&headers);
        assert!(c.no_cache && c.no_store, "{c:?}");
        let mut other = HeaderMap::new();
        other.insert(
            "cache-control",
            HeaderValue::from_static("no-transform, private"),
        );
        assert_eq!(CacheControl::from_headers(&other), CacheControl::default());
    }

    #[test]
    fn modes_parse_and_print() {
        for mode in [CacheMode::Respect, CacheMode::Disable] {
            assert_eq!(CacheMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(CacheMode::parse("force"), None);
        let parsed: CacheMode = serde_json::from_str("\"disable\"").unwrap_or_default();
        assert_eq!(parsed, CacheMode::Disable);
    }
}

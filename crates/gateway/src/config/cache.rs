//! `cache` and `redis_url`: the response cache (issue 14, `crate::cache`). Without a `cache`
//! block there is no cache at all; with one, its `mode` defaults to `respect`. `redis_url` puts
//! the cache in Redis, shared by replicas; without it the cache lives in process memory, bounded
//! by `cache.max_bytes`.
//!
//! Invariant: a Redis URL may carry a password, so it is a [`Secret`]; views meant for people
//! show it with the password replaced.

use std::time::Duration;

use serde::Deserialize;

use super::env::{expand_env_refs, Expanded};
use super::Secret;
use crate::cache::CacheMode;

/// Default `cache.ttl_secs`: one hour.
pub const DEFAULT_CACHE_TTL_SECS: u64 = 3600;
/// Default `cache.max_bytes` (in-process cache only): 256 MiB.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 256 << 20;
/// Default `cache.redis_prefix`.
pub const DEFAULT_CACHE_REDIS_PREFIX: &str = "ccp:cache:";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    pub mode: Option<String>,
    pub ttl_secs: Option<u64>,
    pub shared: Option<bool>,
    pub max_bytes: Option<u64>,
    pub redis_prefix: Option<String>,
}

/// The validated `cache` block.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheSettings {
    /// `disable` turns the cache off for everyone (answers say `x-ccp-cache: bypass`).
    pub mode: CacheMode,
    /// How long an answer is served after it was written.
    pub ttl: Duration,
    /// One scope for all callers instead of one per identity.
    pub shared: bool,
    /// Bound of the in-process cache, in bytes of entries.
    pub max_bytes: u64,
    /// Prefix of the cache's keys in Redis.
    pub redis_prefix: String,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            mode: CacheMode::Respect,
            ttl: Duration::from_secs(DEFAULT_CACHE_TTL_SECS),
            shared: false,
            max_bytes: DEFAULT_CACHE_MAX_BYTES,
            redis_prefix: DEFAULT_CACHE_REDIS_PREFIX.to_owned(),
        }
    }
}

/// Validates `cache`; problems go to `push(path, message)`.
pub(crate) fn validate_cache(
    raw: Option<RawCache>,
    push: &mut dyn FnMut(String, String),
) -> Option<CacheSettings> {
    let raw = raw?;
    let mut cache = CacheSettings::default();
    if let Some(mode) = raw.mode {
        match CacheMode::parse(&mode) {
            Some(m) => cache.mode = m,
            None => push(
                "cache.mode".into(),
                format!("{mode:?} is not a cache mode — use \"respect\" (honour Cache-Control) or \"disable\"; remove the `cache` block for no cache at all"),
            ),
        }
    }
    if let Some(secs) = raw.ttl_secs {
        if secs == 0 {
            push(
                "cache.ttl_secs".into(),
                format!("0 would keep nothing — use a number of seconds (default {DEFAULT_CACHE_TTL_SECS}), or \"mode\": \"disable\""),
            );
        } else {
            cache.ttl = Duration::from_secs(secs);
        }
    }
    cache.shared = raw.shared.unwrap_or(false);
    if let Some(bytes) = raw.max_bytes {
        if bytes < 1024 * 1024 {
            push(
                "cache.max_bytes".into(),
                format!("{bytes} is too small for a cache — use at least 1048576 (1 MiB); the default is {DEFAULT_CACHE_MAX_BYTES} (256 MiB)"),
            );
        } else {
            cache.max_bytes = bytes;
        }
    }
    if let Some(prefix) = raw.redis_prefix {
        cache.redis_prefix = prefix;
    }
    Some(cache)
}

/// Validates `redis_url` (`${ENV}` references resolved).
pub(crate) fn validate_redis_url(
    raw: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
    push: &mut dyn FnMut(String, String),
) -> Option<Secret> {
    let raw = raw?;
    let value = match expand_env_refs(&raw, env) {
        Ok(Expanded { value, .. }) => value.trim().to_owned(),
        Err(e) => {
            push(
                "redis_url".into(),
                format!("cannot resolve an environment reference: {e:?} — export the variable or write the URL"),
            );
            return None;
        }
    };
    let known = ["redis://", "redis+unix://", "unix://"];
    if known.iter().any(|p| value.starts_with(p)) && redis::Client::open(value.as_str()).is_ok() {
        return Some(Secret::new(value));
    }
    push(
        "redis_url".into(),
        format!(
            "{:?} is not a Redis URL this proxy can use — write \"redis://host:6379\" (optionally \
             \"redis://:password@host:6379/0\") or \"redis+unix:///path/to/redis.sock\"; TLS \
             (rediss://) is not supported",
            super::storage::redact_url_password(&value)
        ),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_block_is_the_defaults_and_no_block_is_no_cache() {
        let mut problems = Vec::new();
        let empty = RawCache {
            mode: None,
            ttl_secs: None,
            shared: None,
            max_bytes: None,
            redis_prefix: None,
        };
        let c = validate_cache(Some(empty), &mut |p, m| problems.push((p, m)));
        assert_eq!(c, Some(CacheSettings::default()));
        assert_eq!(c.map(|c| c.mode), Some(CacheMode::Respect));
        assert_eq!(
            validate_cache(None, &mut |p, m| problems.push((p, m))),
            None
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn bad_values_are_named() {
        let mut problems = Vec::new();
        let raw = RawCache {
            mode: Some("force".into()),
            ttl_secs: Some(0),
            shared: Some(true),
            max_bytes: Some(10),
            redis_prefix: None,
        };
        validate_cache(Some(raw), &mut |p, _| problems.push(p));
        assert_eq!(
            problems,
            ["cache.mode", "cache.ttl_secs", "cache.max_bytes"]
        );
        let mut problems = Vec::new();
        for url in ["http://x", "rediss://h:6379", "${NOPE}"] {
            assert!(
                validate_redis_url(Some(url.into()), &|_| None, &mut |p, m| problems
                    .push((p, m)))
                .is_none()
            );
        }
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(!problems.iter().any(|(_, m)| m.contains("hunter2")));
    }

    #[test]
    fn redis_urls_resolve_from_the_environment() {
        let env = |n: &str| (n == "R").then(|| "redis://:hunter2@127.0.0.1:6379/0".to_owned());
        let url = validate_redis_url(Some("${R}".into()), &env, &mut |p, m| panic!("{p}: {m}"));
        assert_eq!(
            url.map(|u| u.expose().to_owned()).as_deref(),
            Some("redis://:hunter2@127.0.0.1:6379/0")
        );
    }
}

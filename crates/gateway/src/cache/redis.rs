//! The Redis store, shared by every replica that points at the same `redis_url`: one string per
//! entry, `<redis_prefix><hash>`, written with `SET … PX <ttl>` so Redis drops it on expiry.
//!
//! Failure is a miss, never an error: the connection is made on first use (an unreachable Redis
//! does not stop the proxy from starting), every connection attempt and command is bounded by
//! [`REDIS_TIMEOUT`], and after a failure the store stays out of the way for [`BACKOFF`] —
//! lookups miss and writes are skipped at once instead of each request waiting on a dead
//! server. The URL (it may carry a password) is never logged.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::{timeout, Instant};

use super::ttl_millis;

/// The most one connection attempt or one command may take.
pub(crate) const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// How long Redis is left alone after a failure.
pub(crate) const BACKOFF: Duration = Duration::from_secs(5);

pub(crate) struct RedisStore {
    client: redis::Client,
    prefix: String,
    /// Made on first use; the manager reconnects by itself after that.
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    /// Set after a failure: Redis is not tried again before then.
    down_until: Mutex<Option<Instant>>,
}

impl RedisStore {
    /// Checks the URL; connects later.
    pub fn new(url: &str, prefix: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        Ok(RedisStore {
            client,
            prefix: prefix.to_owned(),
            conn: tokio::sync::Mutex::new(None),
            down_until: Mutex::new(None),
        })
    }

    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn failed(&self, what: &str, error: &str) {
        tracing::warn!(
            error,
            "response cache: Redis {what} failed; the cache is skipped for {}s",
            BACKOFF.as_secs()
        );
        *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + BACKOFF);
    }

    /// A connection, unless Redis failed recently or cannot be reached now.
    async fn connection(&self) -> Option<ConnectionManager> {
        let down = *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if down.is_some_and(|until| Instant::now() < until) {
            return None;
        }
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Some(conn.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let attempt = self.client.get_connection_manager_with_config(config);
        match timeout(REDIS_TIMEOUT * 2, attempt).await {
            Ok(Ok(conn)) => {
                *slot = Some(conn.clone());
                Some(conn)
            }
            Ok(Err(e)) => {
                self.failed("connection", &e.to_string());
                None
            }
            Err(_) => {
                self.failed("connection", "timed out");
                None
            }
        }
    }

    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut conn = self.connection().await?;
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.name(key));
        match timeout(REDIS_TIMEOUT, cmd.query_async::<Option<Vec<u8>>>(&mut conn)).await {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => {
                self.failed("GET", &e.to_string());
                None
            }
            Err(_) => {
                self.failed("GET", "timed out");
                None
            }
        }
    }

    pub async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let Some(mut conn) = self.connection().await else {
            return;
        };
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.name(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_millis(ttl));
        match timeout(REDIS_TIMEOUT, cmd.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.failed("SET", &e.to_string()),
            Err(_) => self.failed("SET", "timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_redis_urls_are_accepted() {
        assert!(RedisStore::new("redis://127.0.0.1:6379", "p:").is_ok());
        assert!(RedisStore::new("http://127.0.0.1:6379", "p:").is_err());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_quick_miss() {
        // Port 9 (discard) on loopback: nothing listens there in CI.
        let store = RedisStore::new("redis://127.0.0.1:9", "p:").unwrap();
        let started = Instant::now();
        assert_eq!(store.get("k").await, None);
        store.put("k", b"v".to_vec(), Duration::from_secs(1)).await;
        assert_eq!(store.get("k").await, None);
        assert!(
            started.elapsed() < REDIS_TIMEOUT * 3,
            "the backoff keeps later calls from waiting: {:?}",
            started.elapsed()
        );
    }
}

//! Shared by the governance integration tests: counters of either backend on an injected clock,
//! and the store's SQLite/PostgreSQL helpers (crates/store/tests/common).
//!
//! Redis comes from `CCP_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); when it is
//! unreachable the Redis tests fail, they never skip (.ci/run starts it). Each test uses its own
//! random key prefix, so tests running at once never share a counter, and removes its keys at
//! the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

#[allow(unused_macros)]
#[path = "../../../store/tests/common/mod.rs"]
pub mod store;

use std::future::Future;
use std::sync::Arc;

use ccp_governance::calendar::parse_rfc3339;
use ccp_governance::clock::ManualClock;
use ccp_governance::limits::Counters;

pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

pub fn redis_url() -> String {
    std::env::var("CCP_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

pub fn at(rfc3339: &str) -> i64 {
    parse_rfc3339(rfc3339).unwrap()
}

/// Which counters a test runs on. `replica()` gives another handle on the same shared state:
/// for Redis a separate connection and poller (another replica); in-process, the same counters
/// (one process has no replicas).
#[derive(Clone)]
pub enum Backend {
    Memory(Counters),
    Redis { prefix: String },
}

impl Backend {
    pub async fn memory(clock: Arc<ManualClock>) -> (Self, Counters) {
        let counters = Counters::in_process(clock, 0);
        (Backend::Memory(counters.clone()), counters)
    }

    pub async fn redis(clock: Arc<ManualClock>) -> (Self, Counters) {
        let prefix = format!("ccp-test:{:016x}:", fastrand::u64(..));
        let backend = Backend::Redis { prefix };
        let counters = backend.replica(clock).await;
        (backend, counters)
    }

    pub async fn replica(&self, clock: Arc<ManualClock>) -> Counters {
        match self {
            Backend::Memory(counters) => counters.clone(),
            Backend::Redis { prefix } => {
                let url = redis_url();
                Counters::redis(&url, prefix, clock, 0).await.unwrap_or_else(|e| {
                    panic!("Redis at {url} is unreachable ({e}); start it (.ci/run does) or set CCP_TEST_REDIS_URL")
                })
            }
        }
    }

    pub fn is_redis(&self) -> bool {
        matches!(self, Backend::Redis { .. })
    }

    /// Removes this test's Redis keys.
    pub async fn cleanup(&self) {
        if let Backend::Redis { prefix } = self {
            let client = redis::Client::open(redis_url()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut conn)
                .await
                .unwrap();
            if !keys.is_empty() {
                let _: () = redis::cmd("DEL")
                    .arg(keys)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }
}

/// A test body run on one backend, starting at `start` on a manual clock.
pub async fn run<F, Fut>(redis: bool, start: &str, body: F)
where
    F: FnOnce(Backend, Counters, Arc<ManualClock>) -> Fut,
    Fut: Future<Output = ()>,
{
    let clock = Arc::new(ManualClock::new(at(start)));
    let (backend, counters) = if redis {
        Backend::redis(clock.clone()).await
    } else {
        Backend::memory(clock.clone()).await
    };
    body(backend.clone(), counters, clock).await;
    backend.cleanup().await;
}

/// `name` run on both backends: `memory::name` and `redis::name`. Each test function takes
/// `(Backend, Counters, Arc<ManualClock>)` and starts at 2026-03-04T12:00:00Z.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                $crate::common::run(false, "2026-03-04T12:00:00Z", super::$name).await;
            })*
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                $crate::common::run(true, "2026-03-04T12:00:00Z", super::$name).await;
            })*
        }
    };
}

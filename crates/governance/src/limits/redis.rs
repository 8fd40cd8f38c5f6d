//! The Redis counters, shared by every replica: each admission and settlement is one Lua script
//! (`lua/*.lua`), so it is atomic across replicas exactly as the in-process mutex is within one.
//! Names are `<prefix>` + the counter's name; rate buckets expire when full again, budget
//! counters when their window ends. A single Redis node is assumed (the scripts touch several
//! keys, which Redis Cluster allows only within one hash slot).
//!
//! Revocation: `revoke` adds the key id to the set `<prefix>revoked` and bumps the counter
//! `<prefix>revoked:version` in one transaction. Every replica polls that counter every
//! [`REVOCATION_POLL`] and, when it moved, reloads the set: a revoked key stops working on every
//! replica within that interval plus one round trip (bounded well below 1 s), and a replica that
//! lost its connection catches up on the next successful poll (nothing is lost, unlike pub/sub).

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use tokio::sync::broadcast;

use crate::limits::budget::{ReservedScope, ScopeUsage};
use crate::limits::rate::{self, RateCharge, RateDenied, TokenTicket};
use crate::limits::LimitError;

/// How often a replica checks for revocations.
pub const REVOCATION_POLL: Duration = Duration::from_millis(200);
/// How long one connection attempt or one command may take before it counts as unavailable
/// (the caller then fails open or closed; a request never hangs on Redis).
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// Reconnection attempts (exponential backoff from 100 ms) before an operation fails.
const CONNECT_RETRIES: usize = 3;

struct Scripts {
    rate_admit: Script,
    rate_settle: Script,
    budget_reserve: Script,
    budget_settle: Script,
    budget_seed: Script,
}

/// The revocations this replica knows of, and who wants to hear about new ones.
#[derive(Debug)]
struct Revocations {
    revoked: RwLock<HashSet<String>>,
    notices: broadcast::Sender<String>,
}

impl Revocations {
    /// Takes in the full set; announces the ids that are new here.
    fn absorb(&self, all: Vec<String>) {
        let mut revoked = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
        for id in all {
            if revoked.insert(id.clone()) {
                let _ = self.notices.send(id);
            }
        }
    }
}

pub(crate) struct RedisCounters {
    conn: ConnectionManager,
    prefix: String,
    scripts: Scripts,
    revocations: Arc<Revocations>,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: redis::RedisError) -> LimitError {
    LimitError::Unavailable(e.to_string())
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl RedisCounters {
    /// Connects (the URL's credentials are never logged) and starts the revocation poller.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, LimitError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(CONNECT_RETRIES)
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(unavailable)?;
        let revocations = Arc::new(Revocations {
            revoked: RwLock::new(HashSet::new()),
            notices: broadcast::channel(1_024).0,
        });
        let counters = RedisCounters {
            conn,
            prefix: prefix.to_owned(),
            scripts: Scripts {
                rate_admit: Script::new(include_str!("lua/rate_admit.lua")),
                rate_settle: Script::new(include_str!("lua/rate_settle.lua")),
                budget_reserve: Script::new(include_str!("lua/budget_reserve.lua")),
                budget_settle: Script::new(include_str!("lua/budget_settle.lua")),
                budget_seed: Script::new(include_str!("lua/budget_seed.lua")),
            },
            revocations,
        };
        // Start with what is revoked already, then follow changes.
        let mut conn = counters.conn.clone();
        let version: Option<i64> = conn
            .get(counters.name("revoked:version"))
            .await
            .map_err(unavailable)?;
        let all: Vec<String> = conn
            .smembers(counters.name("revoked"))
            .await
            .map_err(unavailable)?;
        counters.revocations.absorb(all);
        tokio::spawn(poll_revocations(
            conn,
            counters.prefix.clone(),
            version,
            Arc::downgrade(&counters.revocations),
        ));
        Ok(counters)
    }

    fn name(&self, counter: &str) -> String {
        format!("{}{counter}", self.prefix)
    }

    pub async fn admit(
        &self,
        charges: &[RateCharge],
        now_us: i64,
    ) -> Result<Result<Vec<i64>, RateDenied>, LimitError> {
        let mut invocation = self.scripts.rate_admit.prepare_invoke();
        invocation.arg(now_us).arg(rate::PERIOD_US);
        for charge in charges {
            let (increment, check) = charge.gcra_args();
            invocation
                .key(self.name(&charge.bucket()))
                .arg(increment)
                .arg(check);
        }
        let reply: Vec<i64> = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        match reply.as_slice() {
            [0, tats @ ..] if tats.len() == charges.len() => Ok(Ok(tats.to_vec())),
            [index, wait] if *index > 0 => {
                let charge = usize::try_from(*index - 1)
                    .ok()
                    .and_then(|i| charges.get(i))
                    .ok_or_else(|| malformed("rate_admit"))?;
                Ok(Err(RateDenied::new(charge, *wait)))
            }
            _ => Err(malformed("rate_admit")),
        }
    }

    pub async fn settle_tokens(
        &self,
        ticket: &TokenTicket,
        actual: u64,
        now_us: i64,
    ) -> Result<(), LimitError> {
        if ticket.buckets.is_empty() {
            return Ok(());
        }
        let mut invocation = self.scripts.rate_settle.prepare_invoke();
        invocation.arg(now_us);
        for bucket in &ticket.buckets {
            invocation
                .key(self.name(&bucket.name))
                .arg(bucket.delta_us(actual));
        }
        let _: i64 = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub async fn reserve(
        &self,
        scopes: &[ReservedScope],
        estimate: u64,
        now_ms: i64,
    ) -> Result<Result<Vec<ScopeUsage>, (usize, ScopeUsage)>, LimitError> {
        let mut invocation = self.scripts.budget_reserve.prepare_invoke();
        invocation.arg(estimate);
        for scope in scopes {
            invocation
                .key(self.name(&scope.counter_name()))
                .arg(scope.scope.limit_micro_usd)
                .arg((scope.window_end_ms - now_ms).max(1));
        }
        let reply: Vec<i64> = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let usage = |s: i64, r: i64| ScopeUsage {
            spent_micro_usd: to_u64(s),
            reserved_micro_usd: to_u64(r),
            requests: 0,
        };
        match reply.as_slice() {
            [0, pairs @ ..] if pairs.len() == 2 * scopes.len() => {
                Ok(Ok(pairs.chunks(2).map(|p| usage(p[0], p[1])).collect()))
            }
            [index, s, r] if *index > 0 => {
                let index = usize::try_from(*index - 1).map_err(|_| malformed("budget_reserve"))?;
                Ok(Err((index, usage(*s, *r))))
            }
            _ => Err(malformed("budget_reserve")),
        }
    }

    pub async fn settle(
        &self,
        scopes: &[ReservedScope],
        estimate: u64,
        actual: u64,
        now_ms: i64,
    ) -> Result<Vec<Option<ScopeUsage>>, LimitError> {
        let mut invocation = self.scripts.budget_settle.prepare_invoke();
        invocation.arg(estimate).arg(actual).arg(now_ms);
        for scope in scopes {
            invocation
                .key(self.name(&scope.counter_name()))
                .arg(scope.window_end_ms);
        }
        let reply: Vec<i64> = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        if reply.len() != 3 * scopes.len() {
            return Err(malformed("budget_settle"));
        }
        Ok(reply
            .chunks(3)
            .map(|t| {
                (t[0] >= 0).then(|| ScopeUsage {
                    spent_micro_usd: to_u64(t[0]),
                    reserved_micro_usd: to_u64(t[1]),
                    requests: to_u64(t[2]),
                })
            })
            .collect())
    }

    pub async fn usage(
        &self,
        scope: &ReservedScope,
        now_ms: i64,
    ) -> Result<ScopeUsage, LimitError> {
        if now_ms >= scope.window_end_ms {
            return Ok(ScopeUsage::default());
        }
        let (s, r, n): (Option<i64>, Option<i64>, Option<i64>) = redis::cmd("HMGET")
            .arg(self.name(&scope.counter_name()))
            .arg("s")
            .arg("r")
            .arg("n")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(ScopeUsage {
            spent_micro_usd: to_u64(s.unwrap_or(0)),
            reserved_micro_usd: to_u64(r.unwrap_or(0)),
            requests: to_u64(n.unwrap_or(0)),
        })
    }

    pub async fn seed_spent(
        &self,
        scope: &ReservedScope,
        spent: u64,
        now_ms: i64,
    ) -> Result<(), LimitError> {
        let _: i64 = self
            .scripts
            .budget_seed
            .key(self.name(&scope.counter_name()))
            .arg(spent)
            .arg((scope.window_end_ms - now_ms).max(1))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub async fn revoke(&self, key_id: &str) -> Result<(), LimitError> {
        let _: () = redis::pipe()
            .atomic()
            .sadd(self.name("revoked"), key_id)
            .ignore()
            .incr(self.name("revoked:version"), 1)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        // This replica knows at once; the others within one poll.
        self.revocations.absorb(vec![key_id.to_owned()]);
        Ok(())
    }

    pub fn is_revoked(&self, key_id: &str) -> bool {
        self.revocations
            .revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key_id)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.revocations.notices.subscribe()
    }
}

fn malformed(script: &str) -> LimitError {
    LimitError::Unavailable(format!(
        "Redis script {script} returned an unexpected reply"
    ))
}

/// Follows `<prefix>revoked:version` until the counters are dropped. Errors are retried on the
/// next tick (the connection manager reconnects by itself).
async fn poll_revocations(
    mut conn: ConnectionManager,
    prefix: String,
    mut seen: Option<i64>,
    revocations: Weak<Revocations>,
) {
    let version_key = format!("{prefix}revoked:version");
    let set_key = format!("{prefix}revoked");
    let mut tick = tokio::time::interval(REVOCATION_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if revocations.strong_count() == 0 {
            return;
        }
        let Ok(version) = conn.get::<_, Option<i64>>(&version_key).await else {
            continue;
        };
        if version == seen {
            continue;
        }
        let Ok(all) = conn.smembers::<_, Vec<String>>(&set_key).await else {
            continue;
        };
        let Some(revocations) = revocations.upgrade() else {
            return;
        };
        revocations.absorb(all);
        seen = version;
    }
}

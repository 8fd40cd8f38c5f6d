//! Spend reaches the store's ledger in batches: settlements add to an in-memory table merged by
//! (scope, window), and a background task writes it in one transaction every
//! [`FLUSH_EVERY`] (and on [`SpendWriter::flush`]). The live budget is the counters' (in
//! process or Redis), so batching costs no accuracy at admission; a crash loses at most the
//! last interval's ledger rows, never a budget's hold. Without this, every request would pay a
//! database commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccp_store::{SpendDelta, Store};

/// How often pending spend is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);

type Key = (String, String, String, i64);

/// Pending ledger additions and the store they go to.
pub struct SpendWriter {
    store: Store,
    pending: Mutex<HashMap<Key, (u64, u64)>>,
    /// One flush at a time, so rows are never written twice or out of order.
    writing: tokio::sync::Mutex<()>,
}

impl SpendWriter {
    /// A writer into `store`, flushing in the background for as long as it lives.
    pub fn start(store: Store) -> Arc<Self> {
        let writer = Arc::new(SpendWriter {
            store,
            pending: Mutex::new(HashMap::new()),
            writing: tokio::sync::Mutex::new(()),
        });
        let weak = Arc::downgrade(&writer);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(w) = weak.upgrade() else { return };
                w.flush().await;
            }
        });
        writer
    }

    /// Adds one settlement's deltas.
    pub fn add(&self, deltas: Vec<SpendDelta>) {
        if let Ok(mut pending) = self.pending.lock() {
            for d in deltas {
                let e = pending
                    .entry((d.scope_kind, d.scope_id, d.window_kind, d.window_start))
                    .or_insert((0, 0));
                e.0 = e.0.saturating_add(d.micro_usd);
                e.1 = e.1.saturating_add(d.requests);
            }
        }
    }

    /// Writes everything pending now (one transaction); on failure it stays pending.
    pub async fn flush(&self) {
        let _one = self.writing.lock().await;
        let batch: Vec<SpendDelta> = match self.pending.lock() {
            Ok(mut p) => p
                .drain()
                .map(
                    |((scope_kind, scope_id, window_kind, window_start), (micro_usd, requests))| {
                        SpendDelta {
                            scope_kind,
                            scope_id,
                            window_kind,
                            window_start,
                            micro_usd,
                            requests,
                        }
                    },
                )
                .collect(),
            Err(_) => return,
        };
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.store.add_spend(&batch).await {
            tracing::error!(error = %e, rows = batch.len(), "could not write spend to the ledger; kept for the next flush");
            self.add(batch);
        }
    }
}

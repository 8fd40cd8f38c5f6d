//! Usage rows reach the store in batches, like the spend ledger (`crate::govern::ledger`):
//! finished requests append to an in-memory queue, and a background task writes it in one
//! transaction every [`FLUSH_EVERY`] (and on [`UsageWriter::flush`]). A request never waits on a
//! commit; a crash loses at most the last interval's rows.
//!
//! The queue is bounded ([`MAX_PENDING`]): while the store is down, rows past the bound are
//! dropped and counted, so memory cannot grow without end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ccp_store::{Store, UsageRecord};

/// How often pending rows are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// At most this many rows wait for the store.
pub const MAX_PENDING: usize = 100_000;

/// Pending usage rows and the store they go to.
pub struct UsageWriter {
    store: Store,
    pending: Mutex<Vec<UsageRecord>>,
    /// One flush at a time, so rows are never written twice.
    writing: tokio::sync::Mutex<()>,
    dropped: AtomicU64,
}

impl UsageWriter {
    /// A writer into `store`, flushing in the background for as long as it lives.
    pub fn start(store: Store) -> Arc<Self> {
        let writer = Arc::new(UsageWriter {
            store,
            pending: Mutex::new(Vec::new()),
            writing: tokio::sync::Mutex::new(()),
            dropped: AtomicU64::new(0),
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

    /// Queues one row.
    pub fn add(&self, record: UsageRecord) {
        self.add_all(vec![record]);
    }

    fn add_all(&self, records: Vec<UsageRecord>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let room = MAX_PENDING.saturating_sub(pending.len());
        let lost = records.len().saturating_sub(room);
        pending.extend(records.into_iter().take(room));
        if lost > 0 {
            self.dropped.fetch_add(lost as u64, Ordering::Relaxed);
        }
    }

    /// Rows dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes everything pending now (one transaction); on failure it stays pending.
    pub async fn flush(&self) {
        let _one = self.writing.lock().await;
        let batch =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.store.insert_usage_batch(&batch).await {
            tracing::error!(error = %e, rows = batch.len(), dropped = self.dropped(), "could not write usage records; kept for the next flush");
            // Older rows first, so the order of the table stays the order requests ended.
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let newer = std::mem::replace(&mut *pending, batch);
            drop(pending);
            self.add_all(newer);
        }
    }
}

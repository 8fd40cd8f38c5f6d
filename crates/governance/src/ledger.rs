//! The durable side of budgets: a [`Settlement`] becomes one addition per scope to the store's
//! spend ledger (one transaction), and the ledger seeds empty counters after a restart.
//!
//! Invariant: a ledger row is the exact sum of the actual costs of the settlements charged to
//! its (scope, window), whichever replica settled them; window starts are Unix seconds.

use ccp_store::{SpendDelta, Store, StoreError};

use crate::limits::budget::{BudgetScope, Settlement};
use crate::limits::{Counters, LimitError};

/// The ledger additions of one settlement.
pub fn spend_deltas(settlement: &Settlement) -> Vec<SpendDelta> {
    settlement
        .scopes
        .iter()
        .map(|held| SpendDelta {
            scope_kind: held.scope.kind.as_str().to_owned(),
            scope_id: held.scope.id.clone(),
            window_kind: held.scope.window.as_str().to_owned(),
            window_start: held.window_start_ms.div_euclid(1_000),
            micro_usd: settlement.actual_micro_usd,
            requests: 1,
        })
        .collect()
}

/// Writes one settlement to the ledger.
pub async fn record_settlement(store: &Store, settlement: &Settlement) -> Result<(), StoreError> {
    store.add_spend(&spend_deltas(settlement)).await
}

/// What can go wrong seeding counters.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Counters(#[from] LimitError),
}

/// Raises each scope's current-window counter to what the ledger holds (after a restart of the
/// in-process counters, or a Redis that lost its data). Reservations in flight are not in the
/// ledger, so they are not restored.
pub async fn seed_from_ledger(
    counters: &Counters,
    store: &Store,
    scopes: &[BudgetScope],
) -> Result<(), SeedError> {
    for scope in scopes {
        let held = counters.current_window(scope);
        let row = store
            .spend(
                scope.kind.as_str(),
                &scope.id,
                scope.window.as_str(),
                held.window_start_ms.div_euclid(1_000),
            )
            .await?;
        if let Some(row) = row {
            counters.seed_spent(scope, row.spent_micro_usd).await?;
        }
    }
    Ok(())
}

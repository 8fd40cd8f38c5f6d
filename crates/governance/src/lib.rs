//! The governance core (issue 14): virtual keys, prices, budgets and rate limits, as a library.
//! The request pipeline (crates/gateway) calls it; nothing here knows HTTP.
//!
//! - [`keys`]: key secrets (generation, keyed hash at rest), the [`keys::VirtualKey`] record,
//!   model allowlists and aliases.
//! - [`pricing`]: integer prices and the exact cost of a request.
//! - [`limits`]: the counters shared by requests (and replicas, through Redis): rate limits,
//!   budget reservations, revocations.
//! - [`ledger`]: settlements into the store's spend ledger.
//! - [`config`]: issue 14's config sections, raw and validated.
//! - [`calendar`], [`clock`]: budget windows and the injected time they use.
//!
//! Errors clients see: [`keys::ModelNotAllowed`] (403 `model_not_allowed`),
//! [`limits::budget::BudgetDenied`] (402 `budget_exceeded`), [`limits::rate::RateDenied`]
//! (429 `rate_limit_exceeded` with `Retry-After` and `x-ratelimit-*`).

pub mod calendar;
pub mod clock;
pub mod config;
mod glob;
pub mod keys;
pub mod ledger;
pub mod limits;
pub mod pricing;

pub use glob::glob_match;

/// What can go wrong in governance outside a client's request.
#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    #[error(transparent)]
    Store(#[from] ccp_store::StoreError),
    #[error(transparent)]
    Random(#[from] keys::secret::RandomError),
    #[error(transparent)]
    Limits(#[from] limits::LimitError),
    #[error("stored key policy is malformed: {0}")]
    Json(#[from] serde_json::Error),
}

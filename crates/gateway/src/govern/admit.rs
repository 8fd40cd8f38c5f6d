//! Admission and settlement of one request: rate limits and budget reservations before the
//! upstream is called, the actual cost charged after.
//!
//! * Before: the key's rate limits (requests, and tokens estimated from the body) and every
//!   budget that applies (the key's, its principal's, its team's, the top-level ones) reserve an
//!   estimate: input tokens from the body size (4 bytes a token), output tokens from
//!   `max_output_tokens` or `reserve_output_tokens`, priced with the upstream model's price.
//! * After: the answer's usage is priced exactly (integer micro-USD) and settles the
//!   reservation and the token buckets; the spend goes to the store's ledger.
//! * A stream the client drops before its end is charged for what it produced (estimated from
//!   the text it streamed), never for nothing and never for the whole estimate.
//!
//! The overshoot of a budget is bounded: a request is admitted while spent + reserved is below
//! the limit, so past the limit only what requests already in flight spend beyond their
//! estimates lands (docs/governance.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ccp_governance::limits::budget::Reservation;
use ccp_governance::limits::rate::TokenTicket;
use ccp_governance::limits::{RateError, ReserveError};
use ccp_governance::pricing::TokenUsage;
use ccp_types::events::{ResponseEvent, ResponseUsage, StreamEvent};
use futures_util::StreamExt as _;

use super::Governor;
use crate::error::GatewayError;
use crate::identity::ClientIdentity;
use crate::pipeline::EventStream;

/// Header naming the budgets at or past their warning threshold (`scope:id:percent`).
pub const BUDGET_WARNING_HEADER: &str = "x-ccp-budget-warning";

/// What an admitted request holds until it is settled.
pub struct Admission {
    governor: Arc<Governor>,
    reservation: Option<Reservation>,
    ticket: Option<TokenTicket>,
    /// The model prices are looked up by (the upstream model, else the client's).
    models: [String; 2],
    estimate_input_tokens: u64,
    /// `x-ratelimit-*` and the budget warning, for the answer.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("reserved", &self.reservation.is_some())
            .finish_non_exhaustive()
    }
}

/// The usage of an answer in the governance crate's terms.
pub fn token_usage(u: &ResponseUsage) -> TokenUsage {
    TokenUsage {
        input: u.input_tokens,
        cached_input: u.input_tokens_details.cached_tokens,
        output: u.output_tokens,
        reasoning: u.output_tokens_details.reasoning_tokens,
    }
}

impl Governor {
    /// Admits a request of `body_len` bytes for `identity` to `upstream_model` (asked for as
    /// `client_model`), or refuses it with the rate limit or the budget that stops it.
    pub async fn admit(
        self: &Arc<Self>,
        identity: &ClientIdentity,
        client_model: &str,
        upstream_model: &str,
        body_len: impl FnOnce() -> usize,
        max_output_tokens: Option<u64>,
    ) -> Result<Option<Admission>, GatewayError> {
        let scopes = match &identity.key {
            Some(key) => key.budget_scopes(&self.budgets),
            // Without a virtual key only the global budgets apply.
            None => self
                .budgets
                .iter()
                .filter(|b| b.scope == ccp_governance::limits::budget::ScopeKind::Global)
                .map(|b| ccp_governance::limits::budget::BudgetScope::new(b, ""))
                .collect(),
        };
        if scopes.is_empty()
            && identity
                .key
                .as_ref()
                .is_none_or(|k| k.policy.rate_limits == Default::default())
        {
            return Ok(None);
        }
        let estimate_input_tokens = (body_len() / 4) as u64;
        let charges = identity
            .key
            .as_ref()
            .map(|k| k.rate_charges(estimate_input_tokens))
            .unwrap_or_default();
        let mut headers = Vec::new();
        let ticket = if charges.is_empty() {
            None
        } else {
            match self.counters.admit_rate(&charges).await {
                Ok(admission) => {
                    headers.extend(admission.headers());
                    Some(admission.ticket)
                }
                Err(RateError::Limited(denied)) => {
                    return Err(GatewayError::RateLimited {
                        message: denied.message(),
                        retry_after: denied.retry_after_secs,
                        headers: denied
                            .headers()
                            .into_iter()
                            .filter(|(k, _)| k != "retry-after")
                            .collect(),
                    })
                }
                Err(RateError::Unavailable(e)) => return Err(unavailable(&e.to_string())),
            }
        };
        let models = [upstream_model.to_owned(), client_model.to_owned()];
        let reservation = if scopes.is_empty() {
            None
        } else {
            let usage = TokenUsage {
                input: estimate_input_tokens,
                cached_input: 0,
                output: max_output_tokens.unwrap_or(self.reserve_output_tokens),
                reasoning: 0,
            };
            let estimate = self.cost(&models, &usage);
            match self.counters.reserve(&scopes, estimate).await {
                Ok(r) => {
                    let warn: Vec<String> = r.warnings.iter().map(|w| w.header_value()).collect();
                    if !warn.is_empty() {
                        tracing::warn!(client = %identity.id, budgets = %warn.join(", "), "budget past its warning threshold");
                        headers.push((BUDGET_WARNING_HEADER.to_owned(), warn.join(", ")));
                    }
                    Some(r)
                }
                Err(ReserveError::Denied(denied)) => {
                    let now_ms = crate::state::now_secs() * 1000;
                    return Err(GatewayError::BudgetExceeded {
                        message: denied.message(),
                        retry_after: u64::try_from((denied.resets_at_ms - now_ms) / 1000)
                            .unwrap_or(1)
                            .max(1),
                    });
                }
                Err(ReserveError::Unavailable(e)) => return Err(unavailable(&e.to_string())),
            }
        };
        Ok(Some(Admission {
            governor: self.clone(),
            reservation,
            ticket,
            models,
            estimate_input_tokens,
            headers,
        }))
    }

    /// The price of `usage` on the first of `models` with a price (0, logged, when none has).
    fn cost(&self, models: &[String; 2], usage: &TokenUsage) -> u64 {
        for m in models {
            if let Some(c) = self.prices.cost_micro_usd(m, usage) {
                return c;
            }
        }
        tracing::debug!(model = %models[0], "no price for this model; its requests cost 0 against budgets (set `pricing`)");
        0
    }
}

fn unavailable(e: &str) -> GatewayError {
    tracing::error!(error = %e, "governance counters unavailable");
    GatewayError::Upstream {
        status: 503,
        code: "server_error".into(),
        message: "the gateway's limit counters are unavailable (Redis); try again in 1s.".into(),
        retry_after: Some(1),
    }
}

impl Admission {
    /// Charges the answer's `usage` (or, without one, `output_chars` of streamed text over
    /// the input estimate): settles the reservation and the token buckets, records the spend.
    pub async fn settle(mut self, usage: Option<TokenUsage>, output_chars: u64) {
        let usage = usage.unwrap_or(TokenUsage {
            input: self.estimate_input_tokens,
            cached_input: 0,
            output: output_chars.div_ceil(4),
            reasoning: 0,
        });
        let gov = self.governor.clone();
        if let Some(ticket) = self.ticket.take() {
            if let Err(e) = gov
                .counters
                .settle_tokens(&ticket, usage.input + usage.output)
                .await
            {
                tracing::warn!(error = %e, "could not correct the token rate bucket");
            }
        }
        let Some(reservation) = self.reservation.take() else {
            return;
        };
        let cost = gov.cost(&self.models, &usage);
        match gov.counters.settle(reservation, cost).await {
            Ok(settlement) => {
                // Batched: the ledger is written every half second (`ledger.rs`).
                if let Some(writer) = &gov.spend {
                    writer.add(ccp_governance::ledger::spend_deltas(&settlement));
                }
            }
            Err(e) => tracing::error!(error = %e.error, "could not settle a budget reservation"),
        }
    }

    /// Settles at no cost: the upstream was not charged (it failed before answering, or the
    /// answer came from the response cache). The reservation goes back.
    pub async fn release(self) {
        self.settle(Some(TokenUsage::default()), 0).await;
    }

    /// Wraps a stream so the admission settles when it ends (with the usage of its terminal
    /// event) or when the client drops it (with what it streamed).
    pub fn wrap(self, events: EventStream) -> EventStream {
        let guard = SettleGuard {
            admission: Some(self),
            chars: Arc::new(AtomicU64::new(0)),
        };
        Box::pin(futures_util::stream::unfold(
            (events, guard),
            |(mut events, mut guard)| async move {
                let ev = events.next().await?;
                guard.observe(&ev);
                if ev.is_terminal() {
                    if let Some(adm) = guard.admission.take() {
                        adm.settle(terminal_usage(&ev), guard.chars.load(Ordering::Relaxed))
                            .await;
                    }
                }
                Some((ev, (events, guard)))
            },
        ))
    }
}

/// The usage of a Chat Completions answer or chunk (`usage.prompt_tokens`, …).
pub fn chat_usage(v: &serde_json::Value) -> Option<TokenUsage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let n = |p: &str| {
        u.pointer(p)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    Some(TokenUsage {
        input: n("/prompt_tokens"),
        cached_input: n("/prompt_tokens_details/cached_tokens"),
        output: n("/completion_tokens"),
        reasoning: n("/completion_tokens_details/reasoning_tokens"),
    })
}

impl Admission {
    /// Wraps a Chat Completions stream: settles with the usage chunk when `[DONE]` arrives, or
    /// with what was streamed when the client drops it.
    pub fn wrap_chat(self, frames: crate::pipeline::ChatStream) -> crate::pipeline::ChatStream {
        use crate::pipeline::ChatFrame;
        let guard = SettleGuard {
            admission: Some(self),
            chars: Arc::new(AtomicU64::new(0)),
        };
        Box::pin(futures_util::stream::unfold(
            (frames, guard, None::<TokenUsage>),
            |(mut frames, mut guard, mut usage)| async move {
                let frame = frames.next().await?;
                match &frame {
                    ChatFrame::Data(v) => {
                        if let Some(u) = chat_usage(v) {
                            usage = Some(u);
                        }
                        let text = v
                            .pointer("/choices/0/delta/content")
                            .and_then(serde_json::Value::as_str)
                            .map_or(0, str::len);
                        guard.chars.fetch_add(text as u64, Ordering::Relaxed);
                    }
                    ChatFrame::Relayed(text) => {
                        if text.contains("\"usage\"") {
                            if let Some(u) = serde_json::from_str::<serde_json::Value>(text)
                                .ok()
                                .as_ref()
                                .and_then(chat_usage)
                            {
                                usage = Some(u);
                            }
                        }
                        guard
                            .chars
                            .fetch_add(text.len() as u64 / 2, Ordering::Relaxed);
                    }
                    ChatFrame::Done => {
                        if let Some(adm) = guard.admission.take() {
                            adm.settle(usage, guard.chars.load(Ordering::Relaxed)).await;
                        }
                    }
                    ChatFrame::KeepAlive => {}
                }
                Some((frame, (frames, guard, usage)))
            },
        ))
    }
}

/// Settles on drop when the stream did not finish.
struct SettleGuard {
    admission: Option<Admission>,
    chars: Arc<AtomicU64>,
}

impl SettleGuard {
    fn observe(&self, ev: &StreamEvent) {
        let n = match ev {
            StreamEvent::Typed(
                ResponseEvent::OutputTextDelta { delta, .. }
                | ResponseEvent::ReasoningTextDelta { delta, .. }
                | ResponseEvent::ReasoningSummaryTextDelta { delta, .. }
                | ResponseEvent::FunctionCallArgumentsDelta { delta, .. },
            ) => delta.len(),
            StreamEvent::Raw(raw) if raw.kind.ends_with(".delta") => raw.data.len() / 2,
            _ => 0,
        };
        self.chars.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Drop for SettleGuard {
    fn drop(&mut self) {
        if let Some(adm) = self.admission.take() {
            let chars = self.chars.load(Ordering::Relaxed);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(adm.settle(None, chars));
            }
        }
    }
}

/// The usage a terminal event carries.
fn terminal_usage(ev: &StreamEvent) -> Option<TokenUsage> {
    match ev {
        StreamEvent::Typed(
            ResponseEvent::Completed { response }
            | ResponseEvent::Incomplete { response }
            | ResponseEvent::Failed { response },
        ) => response.usage.as_ref().map(token_usage),
        StreamEvent::Raw(raw) => raw
            .response()
            .and_then(|r| r.usage)
            .as_ref()
            .map(token_usage),
        StreamEvent::Typed(_) => None,
    }
}

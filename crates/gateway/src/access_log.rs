//! The access log: one line per request with backend, model, status, duration and token usage,
//! written when the answer is complete; bodies too when `log_body` is on (always redacted).
//!
//! The same moments end the request's telemetry ([`RequestScope`]): the outcome, the usage and
//! the response's id, model and finish reasons go on its span and into the metrics, and an
//! upstream failure is counted by its mapped code.

use std::time::Instant;

use ccp_types::events::{
    OutputItem, ResponseEvent, ResponseObject, ResponseStatus, ResponseSummary, ResponseUsage,
    StreamEvent,
};

use ccp_telemetry::{Outcome, RequestScope, Tokens};

use crate::error::{GatewayError, UpstreamFailure};
use crate::groups::{class_of_failure, FailureNote};
use crate::redact::Redactor;

/// One log line per request, written when the answer is complete.
#[derive(Clone)]
pub(crate) struct RequestLog {
    pub(crate) backend: String,
    pub(crate) model: String,
    pub(crate) upstream_model: String,
    pub(crate) started: Instant,
    pub(crate) log_body: bool,
    pub(crate) redactor: Redactor,
    /// For an attempt of a model group: where the class of its failure is noted.
    pub(crate) note: Option<std::sync::Arc<FailureNote>>,
    /// The request's spans and metrics.
    pub(crate) scope: RequestScope,
    /// Where upstream failures are listed for the console (`crate::usage`).
    pub(crate) usage: std::sync::Arc<crate::usage::UsageLog>,
}

impl RequestLog {
    pub(crate) fn finish_event(&self, ev: &ResponseEvent) {
        match ev {
            ResponseEvent::Completed { response } | ResponseEvent::Incomplete { response } => {
                self.finish(response, 200)
            }
            ResponseEvent::Failed { response } => self.finish(response, 200),
            _ => {}
        }
    }

    /// Logs the end of a stream from its terminal event, built or relayed.
    pub(crate) fn finish_stream_event(&self, ev: &StreamEvent) {
        match ev {
            StreamEvent::Typed(ev) => self.finish_event(ev),
            StreamEvent::Raw(raw) => {
                if let Some(summary) = raw.response() {
                    self.finish_summary(&summary, 200);
                }
            }
        }
    }

    /// Logs a relayed response (read leniently).
    pub(crate) fn finish_summary(&self, resp: &ResponseSummary, status: u16) {
        let code = resp
            .error
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(|c| c.as_str())
            .unwrap_or("");
        let usage = resp.usage.clone().unwrap_or_default();
        self.line(status, &resp.status, code, &usage);
        self.scope.finish(Outcome {
            status: outcome_status(status, code),
            code,
            tokens: Some(tokens_of(&usage)),
            response_id: Some(&resp.id),
            response_model: Some(&resp.model),
            finish_reasons: vec![finish_reason(&resp.status, resp.output.iter().any(is_call))],
            output_messages: self.scope.capture_content().then(|| {
                ccp_telemetry::content::responses_output(&serde_json::Value::Array(
                    resp.output.clone(),
                ))
            }),
        });
        if self.log_body {
            let body = serde_json::to_string(&resp.output).unwrap_or_default();
            tracing::info!(backend = %self.backend, response_output = %self.redactor.redact(&body), "response body");
        }
    }

    pub(crate) fn finish(&self, resp: &ResponseObject, status: u16) {
        let usage = resp.usage.clone().unwrap_or_default();
        let outcome = match resp.status {
            ResponseStatus::Completed => "completed",
            ResponseStatus::Incomplete => "incomplete",
            ResponseStatus::Failed => "failed",
            ResponseStatus::InProgress => "in_progress",
        };
        let code = resp.error.as_ref().map(|e| e.code.as_str()).unwrap_or("");
        self.line(status, outcome, code, &usage);
        let reason = match (&resp.status, &resp.incomplete_details) {
            (ResponseStatus::Incomplete, Some(d)) if d.reason.contains("content") => {
                "content_filter"
            }
            _ => {
                let calls = resp.output.iter().any(|item| {
                    matches!(
                        item,
                        OutputItem::FunctionCall(_) | OutputItem::CustomToolCall(_)
                    )
                });
                finish_reason(outcome, calls)
            }
        };
        self.scope.finish(Outcome {
            status: outcome_status(status, code),
            code,
            tokens: Some(tokens_of(&usage)),
            response_id: Some(&resp.id),
            response_model: Some(&resp.model),
            finish_reasons: vec![reason],
            output_messages: self.scope.capture_content().then(|| {
                let output = serde_json::to_value(&resp.output).unwrap_or_default();
                ccp_telemetry::content::responses_output(&output)
            }),
        });
        if self.log_body {
            let body = serde_json::to_string(&resp.output).unwrap_or_default();
            tracing::info!(backend = %self.backend, response_output = %self.redactor.redact(&body), "response body");
        }
    }

    /// Logs the end of a relayed Chat answer (the passthrough), with its usage when the
    /// upstream sent one.
    pub(crate) fn finish_chat(&self, outcome: &str, error_code: &str, usage: &ResponseUsage) {
        self.line(200, outcome, error_code, usage);
        self.scope.finish(Outcome {
            status: outcome_status(200, error_code),
            code: error_code,
            tokens: Some(tokens_of(usage)),
            finish_reasons: vec![finish_reason(outcome, false)],
            ..Outcome::default()
        });
    }

    /// The request as sent upstream: logged (redacted) with `log_body`, and kept for the
    /// request's record when its scope keeps bodies (`log_body` too).
    pub(crate) fn upstream_request(&self, body: &str) {
        if !self.log_body {
            return;
        }
        let body = self.redactor.redact(body);
        tracing::info!(backend = %self.backend, upstream_body = %body, "upstream request body");
        if let Some(bodies) = self.scope.bodies() {
            bodies.set_upstream_request(&body);
        }
    }

    fn line(&self, status: u16, outcome: &str, error_code: &str, usage: &ResponseUsage) {
        tracing::info!(
            target: "ccp::access",
            backend = %self.backend,
            model = %self.model,
            upstream_model = %self.upstream_model,
            status,
            outcome,
            error_code,
            duration_ms = self.started.elapsed().as_millis() as u64,
            input_tokens = usage.input_tokens,
            cached_tokens = usage.input_tokens_details.cached_tokens,
            output_tokens = usage.output_tokens,
            reasoning_tokens = usage.output_tokens_details.reasoning_tokens,
            "request finished"
        );
    }

    /// Logs the error `failure` was mapped to and notes its class for a model group.
    pub(crate) fn failed(&self, e: &GatewayError, failure: &UpstreamFailure) {
        if let Some(note) = &self.note {
            note.set(class_of_failure(failure, e));
        }
        self.error(e);
    }

    pub(crate) fn error(&self, e: &GatewayError) {
        self.usage.upstream_error(crate::usage::UpstreamError {
            at_ms: crate::usage::unix_ms_now(),
            backend: self.backend.clone(),
            request_id: self.scope.request_id().unwrap_or_default().to_owned(),
            status: e.status(),
            code: e.code().to_owned(),
            message: crate::usage::short(&self.redactor.redact(&e.to_string())),
        });
        // A group's attempt does not end the request: the group may move on (and when it does
        // not, the edge ends it with the failure it answers).
        if self.note.is_some() {
            self.scope.attempt_failed(e.code());
        } else {
            self.scope.upstream_error(e.status(), e.code());
        }
        tracing::error!(
            target: "ccp::access",
            backend = %self.backend,
            model = %self.model,
            status = e.status(),
            code = e.code(),
            duration_ms = self.started.elapsed().as_millis() as u64,
            error = %self.redactor.redact(&e.to_string()),
            "upstream failure"
        );
    }
}

/// The status a failed answer would have had before any byte was sent (502 for an upstream
/// failure reported inside a stream); `status` otherwise.
fn outcome_status(status: u16, code: &str) -> u16 {
    if code.is_empty() || status >= 400 {
        status
    } else {
        502
    }
}

fn tokens_of(usage: &ResponseUsage) -> Tokens {
    Tokens {
        input: usage.input_tokens,
        output: usage.output_tokens,
        cached: usage.input_tokens_details.cached_tokens,
        reasoning: usage.output_tokens_details.reasoning_tokens,
    }
}

/// `gen_ai.response.finish_reasons` from a Responses status.
fn finish_reason(status: &str, tool_calls: bool) -> &'static str {
    match status {
        "completed" if tool_calls => "tool_calls",
        "completed" => "stop",
        "incomplete" => "length",
        "failed" => "error",
        _ => "stop",
    }
}

fn is_call(item: &serde_json::Value) -> bool {
    matches!(
        item.get("type").and_then(serde_json::Value::as_str),
        Some("function_call" | "custom_tool_call" | "local_shell_call")
    )
}

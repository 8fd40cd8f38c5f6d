//! W3C trace context on HTTP headers: the client's `traceparent`/`tracestate` read into the
//! parent of the request span, and the upstream attempt's context written as the `traceparent`
//! the upstream receives.
//!
//! Invariant: only the two trace-context headers are read or written; nothing else of the
//! client's request (keys included) reaches the upstream through here.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// The remote parent named by a request's `traceparent` (and `tracestate`), if valid.
pub fn extract_parent(headers: &HeaderMap) -> Option<SpanContext> {
    let cx = TraceContextPropagator::new().extract(&Headers(headers));
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.clone())
}

struct Collect(Vec<(HeaderName, HeaderValue)>);

impl Injector for Collect {
    fn set(&mut self, key: &str, value: String) {
        if value.is_empty() {
            return;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.push((name, value));
        }
    }
}

/// `traceparent` (and `tracestate` when not empty) naming `span` as the parent.
pub fn trace_headers(span: &SpanContext) -> Vec<(HeaderName, HeaderValue)> {
    if !span.is_valid() {
        return Vec::new();
    }
    let cx = Context::new().with_remote_span_context(span.clone());
    let mut out = Collect(Vec::with_capacity(2));
    TraceContextPropagator::new().inject_context(&cx, &mut out);
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        let parent = extract_parent(&headers).unwrap();
        assert_eq!(
            parent.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert!(parent.is_remote() && parent.is_sampled());
        let out = trace_headers(&parent);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, "traceparent");
        assert_eq!(
            out[0].1,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
    }

    #[test]
    fn garbage_is_no_parent() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static("00-zz-yy-01"));
        assert!(extract_parent(&headers).is_none());
        assert!(extract_parent(&HeaderMap::new()).is_none());
        assert!(trace_headers(&SpanContext::empty_context()).is_empty());
    }
}

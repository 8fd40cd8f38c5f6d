//! The `responses` kind: an OpenAI Responses upstream (the OpenAI API, Azure OpenAI, OpenRouter's
//! or vLLM's Responses endpoint, another gateway), passed through.
//!
//! Anatomy (as every kind): what it sends — the client's body as it came, apart from the model
//! substitution and the top-level fields the backend declares unsupported (`quirks.drop_fields`);
//! every other value is copied byte for byte ([`edit_top_level`]). With which credentials — the
//! backend's key in the header it wants (`Authorization: Bearer`, Azure's `api-key`), never the
//! client's; Azure's `api-version` as a query parameter. How its answer becomes Responses events
//! — relayed verbatim by the [`RelayDecoder`], which only builds what the proxy adds (keep-alives
//! during silence, a `response.failed` when the upstream breaks mid-answer) and drops the
//! non-standard events strict clients reject.
//!
//! Upstream errors before the first byte are answered as HTTP errors in OpenAI's shape, as the
//! upstream itself would have.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use ccp_providers::sse::SseEvent;
use ccp_types::events::{RawEvent, ResponseError, ResponseEvent, ResponseObject, StreamEvent};
use http::{HeaderMap, HeaderName, Uri};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::stream::{self, Decoder, Step};
use super::transport::{Credentials, HttpTransport, UpstreamResponse};
use super::{new_response_id, now_secs, Call};
use crate::config::{AuthHeader, Backend, BackendKind};
use crate::error::{GatewayError, UpstreamFailure};
use crate::pipeline::{ClientBody, GatewayResponse, ResponseBody};

/// A Responses backend.
pub struct ResponsesUpstream {
    transport: HttpTransport,
    uri: Uri,
    credentials: Credentials,
    drop_fields: Vec<String>,
}

impl ResponsesUpstream {
    pub(crate) fn new(backend: &Backend, transport: HttpTransport) -> Result<Self, String> {
        let BackendKind::Responses {
            api_version,
            auth_header,
        } = &backend.kind
        else {
            return Err("not a responses backend".into());
        };
        let mut url = backend
            .responses_url()
            .ok_or_else(|| "a responses backend needs a url".to_owned())?;
        if let Some(v) = api_version {
            url.push_str("?api-version=");
            url.push_str(v);
        }
        let key = backend.api_key.as_ref().map(|k| k.expose()).unwrap_or("");
        let credentials = match (auth_header, key.is_empty()) {
            (_, true) => Credentials::none(),
            (AuthHeader::Bearer, false) => Credentials::bearer(key)?,
            (AuthHeader::ApiKey, false) => {
                Credentials::header(HeaderName::from_static("api-key"), "", key)?
            }
            (AuthHeader::XApiKey, false) => {
                Credentials::header(HeaderName::from_static("x-api-key"), "", key)?
            }
        };
        Ok(ResponsesUpstream {
            transport,
            uri: super::transport::parse_upstream_url(&url)?,
            credentials,
            drop_fields: backend.profile.quirks().drop_fields.clone(),
        })
    }

    pub(crate) async fn call(&self, call: Call<'_>) -> Result<GatewayResponse, GatewayError> {
        let body = passthrough_body(&call, &self.drop_fields)?;
        if call.log.log_body {
            call.log.upstream_request(&String::from_utf8_lossy(&body));
        }
        let stream = call.prepared.request.stream;
        let resp = send(
            &self.transport,
            &self.uri,
            &self.credentials,
            body,
            stream,
            &call,
        )
        .await?;
        let headers = relayed_headers(resp.headers());
        let mut answer = if stream {
            let whole_body = stream::content_type_is(&resp, "application/json");
            let decoder = RelayDecoder::new(&call.log.backend);
            GatewayResponse::stream(stream::relay(
                decoder,
                VecDeque::new(),
                resp,
                call.mapper,
                self.transport.policy,
                call.log,
                whole_body,
            ))
        } else {
            whole_json(resp, &self.transport, call).await?
        };
        answer.headers.extend(headers);
        Ok(answer)
    }
}

/// POSTs within the total timeout; a failure is mapped, logged and returned.
pub(crate) async fn send(
    transport: &HttpTransport,
    uri: &Uri,
    credentials: &Credentials,
    body: Bytes,
    stream: bool,
    call: &Call<'_>,
) -> Result<UpstreamResponse, GatewayError> {
    transport
        .send_before(&call.log, uri, credentials, body, stream)
        .await
        .map_err(|f| call.mapper.fail(&call.log, &f))
}

/// A non-streaming answer: the upstream's `Response` JSON, relayed as it came.
async fn whole_json(
    resp: UpstreamResponse,
    transport: &HttpTransport,
    call: Call<'_>,
) -> Result<GatewayResponse, GatewayError> {
    let Call { log, mapper, .. } = call;
    let fail = |f: UpstreamFailure| mapper.fail(&log, &f);
    let bytes = resp
        .bytes_before(transport.deadline(log.started))
        .await
        .map_err(fail)?;
    let summary: ccp_types::events::ResponseSummary = match serde_json::from_slice::<Value>(&bytes)
    {
        Ok(v) if v.get("error").is_some_and(|e| !e.is_null()) && v.get("output").is_none() => {
            return Err(fail(UpstreamFailure::InBand(v)))
        }
        Ok(v) if v.is_object() => serde_json::from_value(v).unwrap_or_default(),
        Ok(_) | Err(_) => {
            return Err(fail(UpstreamFailure::Protocol(
                "expected a Response JSON object".into(),
            )))
        }
    };
    log.finish_summary(&summary, 200);
    Ok(GatewayResponse {
        headers: HeaderMap::new(),
        body: ResponseBody::RawJson(bytes),
    })
}

/// Upstream response headers worth passing to the client: rate limits (Codex reads its
/// `x-codex-*` family) and the reasoning/model-catalog hints. Never `openai-model`: Codex warns
/// "model rerouted" when it differs from the model it asked for, and the proxy may substitute it.
pub(crate) fn relayed_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in upstream {
        let n = name.as_str();
        if n.starts_with("x-codex-")
            || n.starts_with("x-ratelimit-")
            || n == "x-reasoning-included"
            || n == "x-models-etag"
        {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// The body to send: the client's, with the model substituted and the declared fields removed.
fn passthrough_body(call: &Call<'_>, drop_fields: &[String]) -> Result<Bytes, GatewayError> {
    let prepared = call.prepared;
    let model = prepared.upstream_model.as_str();
    match &prepared.body {
        ClientBody::Bytes(bytes) => {
            let same_model = prepared.request.model.as_deref() == Some(model);
            let drops = drop_fields.iter().any(|f| contains_key(bytes, f));
            if same_model && !drops {
                return Ok(bytes.clone());
            }
            edit_top_level(bytes, model, drop_fields)
        }
        ClientBody::Frame(frame) => {
            let mut frame = frame.clone();
            frame.insert("model".into(), Value::String(model.to_owned()));
            for f in drop_fields {
                frame.remove(f);
            }
            serde_json::to_vec(&frame).map(Bytes::from).map_err(|e| {
                GatewayError::Internal(format!("could not serialize the upstream request: {e}"))
            })
        }
    }
}

/// A cheap pre-check: could the body have this top-level key at all.
fn contains_key(bytes: &[u8], key: &str) -> bool {
    let needle = format!("\"{key}\"");
    memchr::memmem::find(bytes, needle.as_bytes()).is_some()
}

/// Rewrites the top level of a JSON object: `model` set, `drop` removed, every other member's
/// value copied byte for byte, in the client's order.
pub(crate) fn edit_top_level(
    body: &[u8],
    model: &str,
    drop: &[String],
) -> Result<Bytes, GatewayError> {
    let members: Members<'_> =
        serde_json::from_slice(body).map_err(|e| GatewayError::BadRequest {
            param: None,
            message: format!("malformed JSON body: {e}"),
        })?;
    let mut out = Vec::with_capacity(body.len() + model.len() + 16);
    out.push(b'{');
    let mut first = true;
    let mut push_key = |out: &mut Vec<u8>, key: &str| -> Result<(), GatewayError> {
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut *out, key)
            .map_err(|e| GatewayError::Internal(format!("could not write a key: {e}")))?;
        out.push(b':');
        Ok(())
    };
    let mut model_written = false;
    for (key, value) in &members.0 {
        if drop.iter().any(|d| d == key.as_ref()) {
            continue;
        }
        push_key(&mut out, key)?;
        if key == "model" {
            serde_json::to_writer(&mut out, model)
                .map_err(|e| GatewayError::Internal(format!("could not write the model: {e}")))?;
            model_written = true;
        } else {
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    if !model_written {
        push_key(&mut out, "model")?;
        serde_json::to_writer(&mut out, model)
            .map_err(|e| GatewayError::Internal(format!("could not write the model: {e}")))?;
    }
    out.push(b'}');
    Ok(Bytes::from(out))
}

/// The members of a JSON object in order, values kept as raw text.
struct Members<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Members<'a>, M::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((key, value));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// What the relay reads of each upstream event.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    sequence_number: Option<u64>,
}

/// Relays Responses events verbatim, remembering what it needs to add its own events.
pub(crate) struct RelayDecoder {
    backend: String,
    /// The upstream's `response.created` response object, as text (for keep-alives).
    created: Option<String>,
    id: Option<String>,
    model: String,
    created_at: u64,
    /// `output_item.done` items by output index, to rebuild an empty `completed.output`.
    items: BTreeMap<u64, Value>,
    finished: bool,
    /// Told the error behind a failure event the relay builds itself, for a caller that answers
    /// it as an HTTP error (a collapsed non-streaming answer) and needs its status and
    /// retry-after, which the event does not carry.
    failure_tx: Option<tokio::sync::oneshot::Sender<GatewayError>>,
}

impl RelayDecoder {
    pub(crate) fn new(backend: &str) -> Self {
        RelayDecoder {
            backend: backend.to_owned(),
            created: None,
            id: None,
            model: String::new(),
            created_at: now_secs(),
            items: BTreeMap::new(),
            finished: false,
            failure_tx: None,
        }
    }

    /// Also sends the error behind a failure event the relay builds to `tx`.
    pub(crate) fn report_failure_to(
        mut self,
        tx: tokio::sync::oneshot::Sender<GatewayError>,
    ) -> Self {
        self.failure_tx = Some(tx);
        self
    }

    fn remember_created(&mut self, data: &str) {
        #[derive(Deserialize)]
        struct Created<'a> {
            #[serde(borrow)]
            response: &'a RawValue,
        }
        if let Ok(c) = serde_json::from_str::<Created<'_>>(data) {
            self.created = Some(c.response.get().to_owned());
            if let Ok(summary) =
                serde_json::from_str::<ccp_types::events::ResponseSummary>(c.response.get())
            {
                self.id = Some(summary.id);
                self.model = summary.model;
            }
        }
    }

    fn remember_item(&mut self, data: &str) {
        #[derive(Deserialize)]
        struct Done {
            output_index: u64,
            item: Value,
        }
        if let Ok(d) = serde_json::from_str::<Done>(data) {
            self.items.insert(d.output_index, d.item);
        }
    }

    /// A terminal event; `response.completed` with an empty `output` gets the items back (the
    /// ChatGPT backend sends them only in `output_item.done`).
    fn terminal(&mut self, head: Head, data: String) -> StreamEvent {
        self.finished = true;
        if head.kind == "response.completed" && !self.items.is_empty() {
            if let Ok(mut v) = serde_json::from_str::<Value>(&data) {
                let empty = v
                    .pointer("/response/output")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty);
                if empty {
                    if let Some(resp) = v.get_mut("response") {
                        resp["output"] = Value::Array(self.items.values().cloned().collect());
                    }
                    if let Ok(text) = serde_json::to_string(&v) {
                        return raw(head, text);
                    }
                }
            }
        }
        raw(head, data)
    }
}

fn raw(head: Head, data: String) -> StreamEvent {
    StreamEvent::Raw(RawEvent {
        kind: head.kind,
        data,
        sequence_number: head.sequence_number,
    })
}

impl Decoder for RelayDecoder {
    type Item = StreamEvent;

    fn on_event(&mut self, event: SseEvent, out: &mut VecDeque<StreamEvent>) -> Step {
        if event.data.trim() == "[DONE]" {
            return if self.finished {
                Step::Done
            } else {
                Step::Continue
            };
        }
        let head: Head = match serde_json::from_str(&event.data) {
            Ok(h) => h,
            Err(e) => {
                return Step::Fail(UpstreamFailure::Protocol(format!(
                    "malformed upstream event: {e}"
                )))
            }
        };
        match head.kind.as_str() {
            // Non-standard events of the ChatGPT backend; strict SDK clients reject them.
            "keepalive" | "codex.rate_limits" => Step::Continue,
            "error" => {
                let payload = serde_json::from_str::<Value>(&event.data).unwrap_or(Value::Null);
                let payload = match payload.get("error") {
                    Some(e) if e.is_object() => payload,
                    _ => serde_json::json!({"error": payload}),
                };
                Step::Fail(UpstreamFailure::InBand(payload))
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                out.push_back(self.terminal(head, event.data));
                Step::Done
            }
            kind => {
                if kind == "response.created" {
                    self.remember_created(&event.data);
                } else if kind == "response.output_item.done" {
                    self.remember_item(&event.data);
                }
                out.push_back(raw(head, event.data));
                Step::Continue
            }
        }
    }

    fn on_whole_body(&mut self, body: &[u8], out: &mut VecDeque<StreamEvent>) -> Step {
        // A Response object answered to a streaming request: replay it as the events a stream
        // would have had.
        let Ok(response) = serde_json::from_slice::<Value>(body) else {
            return Step::Fail(UpstreamFailure::Protocol(
                "expected an SSE stream or a Response JSON object".into(),
            ));
        };
        if response.get("output").is_none() {
            return Step::Fail(UpstreamFailure::InBand(response));
        }
        let mut created = response.clone();
        created["status"] = Value::String("in_progress".into());
        created["output"] = Value::Array(Vec::new());
        let mut events = vec![serde_json::json!({"type": "response.created", "response": created})];
        for (i, item) in response["output"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            events.push(serde_json::json!({"type": "response.output_item.added", "output_index": i, "item": item}));
            events.push(serde_json::json!({"type": "response.output_item.done", "output_index": i, "item": item}));
        }
        let terminal = match response.get("status").and_then(Value::as_str) {
            Some("incomplete") => "response.incomplete",
            Some("failed") => "response.failed",
            _ => "response.completed",
        };
        events.push(serde_json::json!({"type": terminal, "response": response}));
        for (seq, mut ev) in events.into_iter().enumerate() {
            ev["sequence_number"] = Value::from(seq);
            let kind = ev["type"].as_str().unwrap_or_default().to_owned();
            out.push_back(StreamEvent::Raw(RawEvent {
                kind,
                data: ev.to_string(),
                sequence_number: Some(seq as u64),
            }));
        }
        self.finished = true;
        Step::Done
    }

    fn on_end(&mut self, out: &mut VecDeque<StreamEvent>) {
        if !self.finished {
            let e = GatewayError::Upstream {
                status: 502,
                code: "server_error".into(),
                message: format!(
                    "backend `{}`: the upstream stream ended before the response completed",
                    self.backend
                ),
                retry_after: None,
            };
            self.fail(&e, out);
        }
    }

    fn keepalive(&mut self) -> Option<StreamEvent> {
        let created = self.created.as_ref()?;
        Some(StreamEvent::Raw(RawEvent {
            kind: "response.in_progress".into(),
            data: format!("{{\"type\":\"response.in_progress\",\"response\":{created}}}"),
            sequence_number: None,
        }))
    }

    fn fail(&mut self, error: &GatewayError, out: &mut VecDeque<StreamEvent>) {
        if let Some(tx) = self.failure_tx.take() {
            // The receiver is gone only when nobody waits for the answer any more.
            let _ = tx.send(error.clone());
        }
        let id = self.id.clone().unwrap_or_else(new_response_id);
        let mut resp = ResponseObject::new(id, self.model.clone(), self.created_at);
        if self.created.is_none() {
            out.push_back(StreamEvent::Typed(ResponseEvent::Created {
                response: Box::new(resp.clone()),
            }));
        }
        resp.status = ccp_types::events::ResponseStatus::Failed;
        resp.error = Some(ResponseError {
            code: error.code().to_owned(),
            message: error.to_string(),
        });
        out.push_back(StreamEvent::Typed(ResponseEvent::Failed {
            response: Box::new(resp),
        }));
        self.finished = true;
    }

    fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_edit_keeps_other_values_byte_for_byte() {
        let body = br#"{"model":"a", "input":[{"type":"message","content":"x\u00e9  y"}],"max_output_tokens":5,"metadata":{"k":1.50}}"#;
        let out = edit_top_level(body, "b", &["max_output_tokens".into()]).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"model":"b","input":[{"type":"message","content":"x\u00e9  y"}],"metadata":{"k":1.50}}"#
        );
        let out = edit_top_level(br#"{"input":"hi"}"#, "m", &[]).unwrap();
        assert_eq!(&out[..], br#"{"input":"hi","model":"m"}"#);
        assert!(edit_top_level(b"[1]", "m", &[]).is_err());
    }

    fn event(data: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: data.to_owned(),
        }
    }

    #[test]
    fn relay_passes_events_verbatim_and_rebuilds_an_empty_output() {
        let mut d = RelayDecoder::new("b");
        let mut out = VecDeque::new();
        let created = r#"{"type":"response.created","response":{"id":"resp_1","status":"in_progress","model":"m","output":[]},"sequence_number":0}"#;
        assert!(matches!(
            d.on_event(event(created), &mut out),
            Step::Continue
        ));
        assert!(matches!(
            d.on_event(event(r#"{"type":"codex.rate_limits","x":1}"#), &mut out),
            Step::Continue
        ));
        let done = r#"{"type":"response.output_item.done","output_index":0,"item":{"type":"message","id":"m1"},"sequence_number":1}"#;
        d.on_event(event(done), &mut out);
        let completed = r#"{"type":"response.completed","response":{"id":"resp_1","status":"completed","output":[]},"sequence_number":2}"#;
        assert!(matches!(d.on_event(event(completed), &mut out), Step::Done));
        assert_eq!(out.len(), 3, "the rate-limit event is dropped");
        let StreamEvent::Raw(first) = &out[0] else {
            panic!("raw")
        };
        assert_eq!(first.data, created);
        let StreamEvent::Raw(last) = &out[2] else {
            panic!("raw")
        };
        let v: Value = serde_json::from_str(&last.data).unwrap();
        assert_eq!(v["response"]["output"][0]["id"], "m1");
        assert_eq!(last.sequence_number, Some(2));
        let ka = d.keepalive().unwrap();
        assert_eq!(ka.kind(), "response.in_progress");
    }

    #[test]
    fn relay_failure_mid_stream_is_a_terminal_failed_event_with_the_upstream_id() {
        let mut d = RelayDecoder::new("b");
        let mut out = VecDeque::new();
        d.on_event(
            event(r#"{"type":"response.created","response":{"id":"resp_9","model":"m"}}"#),
            &mut out,
        );
        let e = GatewayError::Upstream {
            status: 504,
            code: "server_error".into(),
            message: "idle timeout".into(),
            retry_after: None,
        };
        d.fail(&e, &mut out);
        let StreamEvent::Typed(ResponseEvent::Failed { response }) = &out[1] else {
            panic!("failed event")
        };
        assert_eq!(response.id, "resp_9");
        assert_eq!(response.error.as_ref().unwrap().code, "server_error");
        assert!(d.is_finished());
    }

    #[test]
    fn relay_stream_ending_early_fails_and_error_events_fail() {
        let mut d = RelayDecoder::new("b");
        let mut out = VecDeque::new();
        d.on_end(&mut out);
        assert_eq!(out.len(), 2, "created + failed");
        let mut d = RelayDecoder::new("b");
        let step = d.on_event(
            event(r#"{"type":"error","code":"rate_limit_exceeded","message":"slow"}"#),
            &mut out,
        );
        let Step::Fail(UpstreamFailure::InBand(v)) = step else {
            panic!("fail")
        };
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    }
}

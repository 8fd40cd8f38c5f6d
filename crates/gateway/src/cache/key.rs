//! The cache key: SHA-256 over a canonical encoding of the normalized request.
//!
//! What goes in: the scope (the caller's identity, unless the cache is shared), the backend and
//! upstream model the router chose, and the request body as the upstream call will see it after
//! `resolve_state` (a `previous_response_id` chain already expanded into `input`) — every
//! top-level field except the ones that do not change the answer ([`IGNORED_FIELDS`]: `stream`,
//! `store`, `metadata`, `user`, `prompt_cache_key`, `previous_response_id`, …). Input items are
//! hashed without their `id`, which the proxy assigns afresh on every stored turn.
//!
//! The encoding is canonical: object keys sorted, every string and number length-prefixed, so
//! key order and whitespace in the client's JSON do not matter and no two requests share an
//! encoding. Numbers are hashed as written (`1` and `1.0` are different requests).

use std::borrow::Cow;

use ring::digest::{Context, SHA256};
use serde_json::{Map, Value};

use crate::pipeline::{ClientBody, PreparedRequest};

/// Top-level request fields left out of the key: they steer streaming, storage, billing or
/// bookkeeping, not the answer.
pub(crate) const IGNORED_FIELDS: &[&str] = &[
    "stream",
    "stream_options",
    "store",
    "metadata",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "previous_response_id",
    "client_metadata",
];

/// Bumped whenever the encoding or the entry format changes, so old entries are never read.
const VERSION: &[u8] = b"ccp-response-cache-v1";

/// A request's key, and what a hit must echo from this request rather than the cached one.
#[derive(Debug, Clone)]
pub(crate) struct CacheKey {
    /// Hex SHA-256.
    pub hash: String,
    pub echo: Echo,
}

/// Request fields an OpenAI `Response` object echoes, which are not part of the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Echo {
    pub previous_response_id: Option<String>,
    pub metadata: Option<Value>,
    pub user: Option<Value>,
}

/// The key of `prepared` for `backend`; `scope` is `None` for a shared cache. `None` when the
/// body is not a JSON object (then the request is not cached).
pub(crate) fn request_key(
    scope: Option<&str>,
    backend: &str,
    prepared: &PreparedRequest,
) -> Option<CacheKey> {
    let body: Cow<'_, Map<String, Value>> = match &prepared.body {
        ClientBody::Bytes(bytes) => Cow::Owned(serde_json::from_slice(bytes).ok()?),
        ClientBody::Frame(frame) => Cow::Borrowed(frame),
    };
    let mut h = Hasher(Context::new(&SHA256));
    h.bytes(VERSION);
    match scope {
        Some(scope) => {
            h.tag(b's');
            h.bytes(scope.as_bytes());
        }
        None => h.tag(b'*'),
    }
    h.bytes(backend.as_bytes());
    h.bytes(prepared.upstream_model.as_bytes());
    let mut fields: Vec<(&String, &Value)> = body
        .iter()
        .filter(|(k, _)| !IGNORED_FIELDS.contains(&k.as_str()))
        .collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    h.tag(b'{');
    for (name, value) in fields {
        h.bytes(name.as_bytes());
        match (name.as_str(), value) {
            ("input", Value::Array(items)) => {
                h.tag(b'[');
                for item in items {
                    h.value_without(item, "id");
                }
                h.tag(b']');
            }
            _ => h.value(value),
        }
    }
    h.tag(b'}');
    let digest = h.0.finish();
    let hash = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let echo = Echo {
        previous_response_id: prepared.request.previous_response_id.clone(),
        metadata: body.get("metadata").cloned(),
        user: body.get("user").cloned(),
    };
    Some(CacheKey { hash, echo })
}

struct Hasher(Context);

impl Hasher {
    fn tag(&mut self, tag: u8) {
        self.0.update(&[tag]);
    }

    /// Length-prefixed bytes.
    fn bytes(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn value(&mut self, value: &Value) {
        self.value_without(value, "");
    }

    /// `value`, leaving out the member `skip` if it is an object.
    fn value_without(&mut self, value: &Value, skip: &str) {
        match value {
            Value::Null => self.tag(b'n'),
            Value::Bool(b) => self.tag(if *b { b't' } else { b'f' }),
            Value::Number(n) => {
                self.tag(b'#');
                self.bytes(n.to_string().as_bytes());
            }
            Value::String(s) => {
                self.tag(b'"');
                self.bytes(s.as_bytes());
            }
            Value::Array(items) => {
                self.tag(b'[');
                for item in items {
                    self.value(item);
                }
                self.tag(b']');
            }
            Value::Object(map) => {
                let mut members: Vec<(&String, &Value)> =
                    map.iter().filter(|(k, _)| k.as_str() != skip).collect();
                members.sort_by(|a, b| a.0.cmp(b.0));
                self.tag(b'{');
                for (k, v) in members {
                    self.bytes(k.as_bytes());
                    self.value(v);
                }
                self.tag(b'}');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;

    fn prepared(body: Value) -> PreparedRequest {
        let bytes = Bytes::from(body.to_string());
        PreparedRequest {
            backend: 0,
            group: None,
            context_items: 0,
            telemetry: Default::default(),
            upstream_model: "up".into(),
            request: ccp_types::responses::parse_request(&bytes).unwrap(),
            body: ClientBody::Bytes(bytes),
        }
    }

    fn key(scope: Option<&str>, body: Value) -> String {
        request_key(scope, "main", &prepared(body)).unwrap().hash
    }

    #[test]
    fn bookkeeping_fields_key_order_and_item_ids_do_not_matter() {
        let base = key(
            Some("a"),
            json!({"model": "m", "input": [{"role": "user", "content": "hi"}], "temperature": 0.5}),
        );
        let same = key(
            Some("a"),
            json!({"temperature": 0.5, "stream": true, "store": false, "metadata": {"k": "v"},
                   "user": "u", "prompt_cache_key": "p", "previous_response_id": "resp_1",
                   "client_metadata": {"turn": 3},
                   "input": [{"content": "hi", "role": "user", "id": "msg_123"}], "model": "m"}),
        );
        assert_eq!(base, same);
        assert_eq!(base.len(), 64);
    }

    #[test]
    fn what_shapes_the_answer_changes_the_key() {
        let body = json!({"model": "m", "input": "hi", "instructions": "be brief",
                          "tools": [], "temperature": 0.5});
        let base = key(Some("a"), body.clone());
        let changes = [
            ("input", json!("hello")),
            ("instructions", json!("be long")),
            (
                "tools",
                json!([{"type": "function", "name": "f", "parameters": {}}]),
            ),
            ("tool_choice", json!("required")),
            ("temperature", json!(0.7)),
            ("top_p", json!(0.9)),
            ("max_output_tokens", json!(10)),
            ("text", json!({"format": {"type": "json_object"}})),
            ("reasoning", json!({"effort": "high"})),
            ("stop", json!(["x"])),
            ("model", json!("other")),
        ];
        for (field, value) in changes {
            let mut changed = body.clone();
            changed[field] = value;
            assert_ne!(key(Some("a"), changed), base, "{field}");
        }
        assert_ne!(key(Some("b"), body.clone()), base, "another scope");
        assert_ne!(key(None, body.clone()), base, "the shared scope");
        let other_backend = request_key(Some("a"), "other", &prepared(body.clone()))
            .unwrap()
            .hash;
        assert_ne!(other_backend, base, "another backend");
        let mut other_model = prepared(body);
        other_model.upstream_model = "up-2".into();
        assert_ne!(
            request_key(Some("a"), "main", &other_model).unwrap().hash,
            base,
            "another upstream model"
        );
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        // Without length prefixes these two would hash the same bytes.
        assert_ne!(
            key(Some("a"), json!({"input": "ab", "instructions": "c"})),
            key(Some("a"), json!({"input": "a", "instructions": "bc"}))
        );
        assert_ne!(
            key(Some("a"), json!({"input": "x"})),
            key(Some(""), json!({"input": "x"}))
        );
    }

    #[test]
    fn echoed_fields_come_from_the_request() {
        let k = request_key(
            Some("a"),
            "main",
            &prepared(json!({"input": "x", "metadata": {"k": 1}, "user": "u",
                             "previous_response_id": "resp_9"})),
        )
        .unwrap();
        assert_eq!(k.echo.metadata, Some(json!({"k": 1})));
        assert_eq!(k.echo.user, Some(json!("u")));
        assert_eq!(k.echo.previous_response_id.as_deref(), Some("resp_9"));
    }
}

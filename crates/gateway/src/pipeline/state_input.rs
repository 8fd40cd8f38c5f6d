//! The input side of stored state for one request: `previous_response_id` and
//! `item_reference`s resolved from the store, sealed reasoning kept for the backend that gets
//! it, the request's own items (ids assigned) handed to the recorder (`crate::state`).

use super::{ClientBody, Gateway, PreparedRequest};
use crate::error::GatewayError;
use crate::state::record::{assign_ids, Recorder};
use crate::state::resolve;

impl Gateway {
    /// The input side of [`Gateway::respond`]: rewrites `prepared` (typed request and client
    /// body) when the store is involved, and returns the recorder for the answer.
    pub(super) async fn resolve_state(
        &self,
        owner: &str,
        prepared: &mut PreparedRequest,
    ) -> Result<Recorder, GatewayError> {
        use ccp_types::responses::{Input, InputItem};
        let request = &prepared.request;
        if request.conversation.as_ref().is_some_and(|c| !c.is_null()) {
            return Err(GatewayError::BadRequest {
                param: Some("conversation".into()),
                message: "`conversation` (the Conversations API) is not supported by this proxy; \
                          chain turns with `previous_response_id` instead, or send the whole \
                          conversation as `input`"
                    .into(),
            });
        }
        let store = request.store.unwrap_or(true) && self.state.store().is_some();
        let include_encrypted = includes(request.include.as_ref(), "reasoning.encrypted_content");
        let previous = request.previous_response_id.clone();
        let typed_refs = match &request.input {
            Input::Items(items) => items.iter().any(|i| match i {
                InputItem::Other { item_type } => item_type == "item_reference",
                InputItem::Reasoning(r) => {
                    r.id.is_some()
                        && r.summary.is_empty()
                        && r.content.as_ref().is_none_or(Vec::is_empty)
                        && r.encrypted_content.as_deref().is_none_or(str::is_empty)
                }
                _ => false,
            }),
            Input::Text(_) => false,
        };
        let mut recorder = Recorder {
            state: self.state.clone(),
            owner: owner.to_owned(),
            store,
            include_encrypted,
            previous_response_id: previous.clone(),
            instructions: request.instructions.clone(),
            own_items: Vec::new(),
            sealed: Default::default(),
            origin: None,
        };
        let rewrite = previous.is_some() || typed_refs;
        if !rewrite && !store {
            // Codex's path: no JSON round trip (sealed reasoning is opened on the typed items
            // for the backend that gets them).
            return Ok(recorder);
        }
        let mut body = match &prepared.body {
            ClientBody::Bytes(b) => match serde_json::from_slice::<serde_json::Value>(b) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => serde_json::Map::new(),
            },
            ClientBody::Frame(map) => map.clone(),
        };
        let mut own = resolve::input_items(body.get("input"));
        if typed_refs {
            resolve::resolve_references(self.state.store(), owner, &mut own).await?;
        }
        let mut full = Vec::new();
        if let Some(previous) = &previous {
            let Some(st) = self.state.store() else {
                return Err(resolve::previous_not_found(previous));
            };
            let (context, last_output) = resolve::chain_context(st, owner, previous).await?;
            resolve::check_pending_calls(&last_output, &context, &own)?;
            full = context;
        }
        assign_ids(&mut own);
        recorder.own_items = own.clone();
        if !rewrite {
            return Ok(recorder);
        }
        prepared.context_items = full.len();
        full.extend(own);
        let mut typed = Vec::with_capacity(full.len());
        for (i, item) in full.iter().enumerate() {
            typed.push(InputItem::from_value(item.clone()).map_err(|e| {
                GatewayError::BadRequest {
                    param: Some("input".into()),
                    message: format!("invalid stored or referenced item (input[{i}]{e})"),
                }
            })?);
        }
        prepared.request.input = Input::Items(typed);
        body.insert("input".into(), serde_json::Value::Array(full));
        body.remove("previous_response_id");
        prepared.body = ClientBody::Frame(body);
        Ok(recorder)
    }
}

/// Whether `include` (an array of strings, or one string) names `what`.
fn includes(include: Option<&serde_json::Value>, what: &str) -> bool {
    match include {
        Some(serde_json::Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(what)),
        Some(serde_json::Value::String(s)) => s.split(',').any(|p| p.trim() == what),
        _ => false,
    }
}

//! The input side of Responses state: what a request's `input` means once the store is asked.
//!
//! * `previous_response_id`: the chain is walked back to its first response; the context is each
//!   response's own input items followed by its output items, oldest first, then the new input.
//!   `instructions` (and every other per-request parameter) are never carried over.
//! * `item_reference` (`{"type":"item_reference","id"}`, or a bare `{"id"}`) is replaced, in
//!   place, by the stored item with that id. A reasoning item with an id and nothing else is an
//!   implicit reference: replaced when stored, left alone (it carries nothing) when not.
//! * Reasoning `encrypted_content` sealed by the proxy stays sealed here: it is opened for the
//!   backend that receives the request (`replay.rs`).
//!
//! Invariants: a lookup only ever sees the caller's own rows (the store scopes every query by
//! owner), so another identity's id is "not found", exactly like an unknown one; a missing link
//! is an error naming the id, never a silently shorter history.

use ccp_store::Store;
use serde_json::{json, Value};

use crate::error::GatewayError;

/// Longest chain walked (a guard; real chains are far shorter).
const MAX_CHAIN: usize = 10_000;

/// The request's own input items as JSON (a string input is one user message).
pub fn input_items(input: Option<&Value>) -> Vec<Value> {
    match input {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(text)) => vec![json!({
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": text}],
        })],
        _ => Vec::new(),
    }
}

/// Whether `item` is a reference the store resolves: `Some(true)` for an explicit one (unknown
/// is an error), `Some(false)` for an implicit reasoning reference (unknown is left alone).
fn reference(item: &Value) -> Option<(&str, bool)> {
    let obj = item.as_object()?;
    let id = obj.get("id").and_then(Value::as_str)?;
    match obj.get("type").and_then(Value::as_str) {
        Some("item_reference") => Some((id, true)),
        None if !obj.contains_key("role") => Some((id, true)),
        Some("reasoning") => {
            let empty = |k: &str| match obj.get(k) {
                None | Some(Value::Null) => true,
                Some(Value::Array(a)) => a.is_empty(),
                Some(Value::String(s)) => s.is_empty(),
                Some(_) => false,
            };
            (empty("summary") && empty("content") && empty("encrypted_content"))
                .then_some((id, false))
        }
        _ => None,
    }
}

/// Replaces every reference in `items` by the stored item of `owner` (with no store, every
/// explicit reference is unknown).
pub async fn resolve_references(
    store: Option<&Store>,
    owner: &str,
    items: &mut [Value],
) -> Result<(), GatewayError> {
    for (i, item) in items.iter_mut().enumerate() {
        let Some((id, explicit)) = reference(item) else {
            continue;
        };
        let id = id.to_owned();
        let found = match store {
            Some(store) => store.get_item(owner, &id).await.map_err(store_error)?,
            None => None,
        };
        match found {
            Some(found) => *item = found.record.item,
            None if explicit => {
                return Err(GatewayError::State {
                    status: 404,
                    code: "item_not_found",
                    param: Some(format!("input[{i}]")),
                    message: format!(
                        "Item with id '{id}' not found. Items are kept only for responses created \
                         with `store` true (the default), by the same client key, and not yet \
                         deleted or expired; send the item itself instead of a reference."
                    ),
                })
            }
            None => {}
        }
    }
    Ok(())
}

/// `previous_response_not_found` for `id`.
pub fn previous_not_found(id: &str) -> GatewayError {
    GatewayError::State {
        status: 400,
        code: "previous_response_not_found",
        param: Some("previous_response_id".into()),
        message: format!(
            "Previous response with id '{id}' not found. A response can be continued only by the \
             client key that created it, while it is stored (created with `store` true, not \
             deleted, not expired); otherwise send the whole conversation as `input`."
        ),
    }
}

/// The context a `previous_response_id` stands for: every response of the chain, oldest first,
/// its input items then its output items. Also returns the previous response's output (for the
/// pending-tool-call check).
pub async fn chain_context(
    store: &Store,
    owner: &str,
    previous: &str,
) -> Result<(Vec<Value>, Vec<Value>), GatewayError> {
    let mut records = Vec::new();
    let mut next = Some(previous.to_owned());
    while let Some(id) = next.take() {
        if records.len() >= MAX_CHAIN {
            return Err(GatewayError::BadRequest {
                param: Some("previous_response_id".into()),
                message: format!(
                    "the chain of responses before '{previous}' is longer than {MAX_CHAIN}; start a new chain"
                ),
            });
        }
        let now = super::now_secs();
        let record = store
            .get_response(owner, &id)
            .await
            .map_err(store_error)?
            .filter(|r| r.expires_at.is_none_or(|at| at > now));
        let Some(record) = record else {
            if id == previous {
                return Err(previous_not_found(&id));
            }
            return Err(GatewayError::State {
                status: 400,
                code: "previous_response_not_found",
                param: Some("previous_response_id".into()),
                message: format!(
                    "Previous response with id '{previous}' cannot be continued: '{id}', earlier \
                     in its chain, is no longer stored (deleted or expired); send the whole \
                     conversation as `input`."
                ),
            });
        };
        next = record.previous_response_id.clone();
        records.push(record);
    }
    let last_output = records
        .first()
        .map(|r| r.output_items.iter().map(|i| i.item.clone()).collect())
        .unwrap_or_default();
    let mut context = Vec::new();
    for record in records.into_iter().rev() {
        context.extend(record.input_items.into_iter().map(|i| i.item));
        context.extend(record.output_items.into_iter().map(|i| i.item));
    }
    Ok((context, last_output))
}

/// OpenAI's check on a continued response: every call the previous response ended with needs
/// its output in the new input, and every output needs a call somewhere in the context.
pub fn check_pending_calls(
    previous_output: &[Value],
    context: &[Value],
    own: &[Value],
) -> Result<(), GatewayError> {
    let call_id = |v: &Value| v.get("call_id").and_then(Value::as_str).map(str::to_owned);
    let kind = |v: &Value| {
        v.get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let outputs: Vec<String> = own
        .iter()
        .filter(|i| kind(i).ends_with("_output"))
        .filter_map(call_id)
        .collect();
    for call in previous_output
        .iter()
        .filter(|i| kind(i).ends_with("_call"))
    {
        if let Some(id) = call_id(call) {
            if !outputs.contains(&id) {
                return Err(GatewayError::BadRequest {
                    param: Some("input".into()),
                    message: format!(
                        "No tool output found for function call {id}: the previous response ended \
                         with this call, so the new input must include its output \
                         ({{\"type\": \"function_call_output\", \"call_id\": \"{id}\", \"output\": …}})."
                    ),
                });
            }
        }
    }
    let calls: Vec<String> = context
        .iter()
        .chain(own)
        .filter(|i| kind(i).ends_with("_call"))
        .filter_map(call_id)
        .collect();
    for (i, output) in own.iter().enumerate() {
        if !kind(output).ends_with("_output") {
            continue;
        }
        if let Some(id) = call_id(output).filter(|id| !calls.contains(id)) {
            return Err(GatewayError::BadRequest {
                param: Some(format!("input[{i}]")),
                message: format!("No tool call found for function call output with call_id {id}."),
            });
        }
    }
    Ok(())
}

/// A store failure as the client sees it (the details go to the log, not the answer).
pub fn store_error(e: ccp_store::StoreError) -> GatewayError {
    tracing::error!(error = %e, "response store failed");
    GatewayError::Internal(
        "the response store is unavailable; try again, or send the whole conversation with \
         `store` false"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_explicit_bare_and_implicit() {
        assert_eq!(
            reference(&json!({"type": "item_reference", "id": "msg_1"})),
            Some(("msg_1", true))
        );
        assert_eq!(reference(&json!({"id": "msg_1"})), Some(("msg_1", true)));
        assert_eq!(
            reference(&json!({"type": "reasoning", "id": "rs_1", "summary": []})),
            Some(("rs_1", false))
        );
        for not in [
            json!({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "t"}]}),
            json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "x"}),
            json!({"role": "user", "id": "msg_1", "content": "hi"}),
            json!({"type": "message", "id": "msg_1", "role": "assistant", "content": []}),
            json!({"type": "item_reference"}),
        ] {
            assert_eq!(reference(&not), None, "{not}");
        }
    }

    #[test]
    fn pending_calls_need_outputs_and_outputs_need_calls() {
        let prev =
            vec![json!({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"})];
        let answered =
            vec![json!({"type": "function_call_output", "call_id": "c1", "output": "ok"})];
        assert!(check_pending_calls(&prev, &prev, &answered).is_ok());
        let e = check_pending_calls(&prev, &prev, &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("No tool output found for function call c1"),
            "{e}"
        );
        let stray = vec![json!({"type": "function_call_output", "call_id": "zz", "output": "?"})];
        let e = check_pending_calls(&[], &[], &stray).unwrap_err();
        assert!(e.to_string().contains("call_id zz"), "{e}");
    }
}

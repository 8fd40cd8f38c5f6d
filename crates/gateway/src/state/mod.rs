//! Responses state (issue 13): stored responses for clients that chain turns
//! (`previous_response_id`, `item_reference`), the stored-response endpoints' logic (retrieve,
//! delete, input items), the sealing of the proxy's reasoning blobs, and retention.
//!
//! One [`ResponseState`] per gateway. It holds the store (`ccp_store`, SQLite under `data_dir` by
//! default, PostgreSQL for replicas) and the [`Sealer`] keyed by the server secret, which lives in
//! the store's settings so every replica and restart shares it. A gateway built without a store
//! (library use, unit tests) still seals, with a per-process key, and answers every stored-state
//! request with "not found".
//!
//! Invariants: every read and write is scoped by the caller's identity (`ClientIdentity::id`); an
//! expired response is "not found" even before the background purge removes it; retention work
//! (purge, eviction to `max_bytes`) runs in background tasks, never on a request's path.

pub mod record;
pub mod replay;
pub mod resolve;
pub mod seal;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccp_store::{Order, ResponseRecord, Store};
use serde_json::{json, Value};

use crate::config::Storage;
use crate::error::GatewayError;
pub use seal::Sealer;

/// The settings row holding the server secret (hex).
const SECRET_SETTING: &str = "server_secret";

/// The store, the sealer and the retention settings.
pub struct ResponseState {
    store: Option<Store>,
    pub(crate) sealer: Sealer,
    pub(crate) ttl_secs: i64,
    max_bytes: u64,
    /// Bytes written since the last size check.
    written: AtomicU64,
    evicting: AtomicBool,
}

impl std::fmt::Debug for ResponseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseState")
            .field("store", &self.store.is_some())
            .field("ttl_secs", &self.ttl_secs)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

/// Unix seconds now.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl ResponseState {
    /// No store: nothing is kept; blobs are sealed with a per-process key.
    pub fn without_store() -> Result<Self, GatewayError> {
        let sealer = Sealer::random()
            .map_err(|_| GatewayError::Internal("no usable random number generator".into()))?;
        Ok(Self::build(None, sealer, &Storage::default()))
    }

    /// Opens (creating and migrating) the configured store and reads (or, first, writes) the
    /// server secret.
    pub async fn open(storage: &Storage) -> Result<Self, String> {
        let store = Store::open(storage.location.expose()).await.map_err(|e| {
            format!(
                "cannot open the store at {}: {e}",
                storage.display_location()
            )
        })?;
        Self::with_store(store, storage).await
    }

    /// The state over an opened store.
    pub async fn with_store(store: Store, storage: &Storage) -> Result<Self, String> {
        let fresh = ccp_governance::keys::secret::generate_server_secret()
            .map_err(|e| format!("no usable random number generator: {e}"))?;
        let secret = store
            .setting_or_init(SECRET_SETTING, &fresh)
            .await
            .map_err(|e| format!("cannot read the server secret from the store: {e}"))?;
        let sealer = Sealer::new(secret.as_bytes())
            .map_err(|_| "cannot derive the sealing key".to_owned())?;
        Ok(Self::build(Some(store), sealer, storage))
    }

    fn build(store: Option<Store>, sealer: Sealer, storage: &Storage) -> Self {
        ResponseState {
            store,
            sealer,
            ttl_secs: storage.ttl_secs(),
            max_bytes: storage.max_bytes,
            written: AtomicU64::new(0),
            evicting: AtomicBool::new(false),
        }
    }

    /// The sealer of the proxy's reasoning blobs.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The store, when one is attached.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Writes a response; a failure is logged (the client already has its answer). Every
    /// `max_bytes / 16` written, a background task enforces the size bound.
    pub(crate) async fn put(self: &Arc<Self>, record: &ResponseRecord) {
        let Some(store) = &self.store else { return };
        let stored = match store.put_response(record).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(error = %e, response_id = %record.id, "could not store the response; it cannot be continued or retrieved");
                return;
            }
        };
        // Rows take about twice their serialized size on disk (indexes, pages).
        let written = self.written.fetch_add(stored * 2, Ordering::Relaxed) + stored * 2;
        if written > self.max_bytes / 16 {
            self.written.store(0, Ordering::Relaxed);
            let state = self.clone();
            tokio::spawn(async move { state.enforce_size().await });
        }
    }

    async fn enforce_size(&self) {
        let Some(store) = &self.store else { return };
        if self.evicting.swap(true, Ordering::AcqRel) {
            return;
        }
        match store.evict_to(self.max_bytes).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                evicted = n,
                max_bytes = self.max_bytes,
                "store over its size bound: oldest responses evicted"
            ),
            Err(e) => tracing::warn!(error = %e, "could not evict stored responses"),
        }
        self.evicting.store(false, Ordering::Release);
    }

    /// One retention pass: expired responses purged, the size bound enforced.
    pub async fn retention_pass(&self) {
        let Some(store) = &self.store else { return };
        match store.purge_expired(now_secs()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired responses removed"),
            Err(e) => tracing::warn!(error = %e, "could not purge expired responses"),
        }
        self.enforce_size().await;
    }

    /// Runs [`Self::retention_pass`] in the background, every quarter of the TTL (between one
    /// second and a minute), for as long as the state lives.
    pub fn spawn_retention(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        self.store.as_ref()?;
        let period =
            Duration::from_secs(u64::try_from(self.ttl_secs / 4).unwrap_or(1).clamp(1, 60));
        let weak = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(state) = weak.upgrade() else { return };
                state.retention_pass().await;
            }
        }))
    }

    /// The stored, unexpired response `id` of `owner`.
    pub(crate) async fn record(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<Option<ResponseRecord>, GatewayError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let record = store
            .get_response(owner, id)
            .await
            .map_err(resolve::store_error)?;
        Ok(record.filter(|r| r.expires_at.is_none_or(|at| at > now_secs())))
    }

    /// `GET /v1/responses/{id}`: the Response object as it completed; reasoning
    /// `encrypted_content` only when `include` asks for it.
    pub async fn retrieve(
        &self,
        owner: &str,
        id: &str,
        include_encrypted: bool,
    ) -> Result<Value, GatewayError> {
        check_id(id)?;
        let record = self.record(owner, id).await?.ok_or_else(|| not_found(id))?;
        let mut response = record.response.clone().unwrap_or_else(|| rebuild(&record));
        if !include_encrypted {
            if let Some(items) = response.get_mut("output").and_then(Value::as_array_mut) {
                for item in items {
                    if item.get("type").and_then(Value::as_str) == Some("reasoning") {
                        if let Some(obj) = item.as_object_mut() {
                            obj.insert("encrypted_content".into(), Value::Null);
                        }
                    }
                }
            }
        }
        Ok(response)
    }

    /// `DELETE /v1/responses/{id}`.
    pub async fn delete(&self, owner: &str, id: &str) -> Result<Value, GatewayError> {
        check_id(id)?;
        let deleted = match &self.store {
            Some(store) => store
                .delete_response(owner, id)
                .await
                .map_err(resolve::store_error)?,
            None => false,
        };
        if !deleted {
            return Err(not_found(id));
        }
        Ok(json!({"id": id, "object": "response", "deleted": true}))
    }

    /// `POST /v1/responses/{id}/cancel`: only background responses can be cancelled, and this
    /// proxy runs none, so a stored response gets a 400 saying so (an unknown one, 404).
    pub async fn cancel(&self, owner: &str, id: &str) -> Result<Value, GatewayError> {
        check_id(id)?;
        if self.record(owner, id).await?.is_none() {
            return Err(not_found(id));
        }
        Err(GatewayError::State {
            status: 400,
            code: "not_background",
            param: None,
            message: format!(
                "Response '{id}' cannot be cancelled: only background responses can be, and this \
                 proxy answers every response in the foreground (it has already finished)."
            ),
        })
    }

    /// `GET /v1/responses/{id}/input_items`: OpenAI's list shape.
    pub async fn input_items(
        &self,
        owner: &str,
        id: &str,
        after: Option<&str>,
        limit: u32,
        order: Order,
    ) -> Result<Value, GatewayError> {
        check_id(id)?;
        if self.record(owner, id).await?.is_none() {
            return Err(not_found(id));
        }
        let Some(store) = &self.store else {
            return Err(not_found(id));
        };
        let page = match store.list_input_items(owner, id, after, limit, order).await {
            Ok(Some(page)) => page,
            Ok(None) => return Err(not_found(id)),
            Err(ccp_store::StoreError::UnknownCursor(after)) => {
                return Err(GatewayError::State {
                    status: 400,
                    code: "invalid_cursor",
                    param: Some("after".into()),
                    message: format!(
                        "`after` names no input item of response '{id}': '{after}' (use an id from this list)"
                    ),
                })
            }
            Err(e) => return Err(resolve::store_error(e)),
        };
        let first = page.items.first().map(|i| i.id.clone());
        let last = page.items.last().map(|i| i.id.clone());
        let data: Vec<Value> = page
            .items
            .into_iter()
            .map(|i| listed_item(i.item))
            .collect();
        Ok(
            json!({"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": page.has_more}),
        )
    }
}

/// An input item as `input_items` lists it: OpenAI's item shape, whatever shorthand the client
/// sent. A message gets `type: "message"` and `status: "completed"`, and string content becomes
/// one part (`output_text` with no annotations for the assistant, `input_text` otherwise), so
/// typed clients (openai-python's `ResponseInputMessageItem`, `ResponseOutputMessage`) read its
/// text. The stored item is left as sent; only the listing is normalised.
fn listed_item(mut item: Value) -> Value {
    let Some(obj) = item.as_object_mut() else {
        return item;
    };
    let is_message = match obj.get("type").and_then(Value::as_str) {
        Some("message") => true,
        None => obj.contains_key("role"),
        Some(_) => false,
    };
    if !is_message {
        return item;
    }
    obj.insert("type".into(), json!("message"));
    obj.entry("status").or_insert_with(|| json!("completed"));
    if let Some(Value::String(text)) = obj.get("content") {
        let part = if obj.get("role").and_then(Value::as_str) == Some("assistant") {
            json!({"type": "output_text", "text": text, "annotations": []})
        } else {
            json!({"type": "input_text", "text": text})
        };
        obj.insert("content".into(), json!([part]));
    }
    item
}

/// A response id must look like one (OpenAI's check), before any lookup.
fn check_id(id: &str) -> Result<(), GatewayError> {
    let shaped = id.starts_with("resp")
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if shaped {
        return Ok(());
    }
    let shown: String = id.chars().take(80).collect();
    Err(GatewayError::State {
        status: 400,
        code: "invalid_response_id",
        param: Some("response_id".into()),
        message: format!(
            "Invalid 'response_id': '{shown}'. Expected an ID that begins with 'resp'."
        ),
    })
}

fn not_found(id: &str) -> GatewayError {
    GatewayError::State {
        status: 404,
        code: "response_not_found",
        param: None,
        message: format!(
            "Response with id '{id}' not found. Responses are visible only to the client key that \
             created them, while stored (`store` true, not deleted or expired)."
        ),
    }
}

/// A Response object for a row stored before the whole object was kept (schema v1).
fn rebuild(record: &ResponseRecord) -> Value {
    json!({
        "id": record.id, "object": "response", "created_at": record.created_at,
        "status": record.status, "model": record.model,
        "output": record.output_items.iter().map(|i| i.item.clone()).collect::<Vec<_>>(),
        "usage": record.usage, "instructions": record.instructions,
        "previous_response_id": record.previous_response_id, "store": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_messages_take_openai_item_shape() {
        let user = listed_item(json!({"id": "msg_1", "role": "user", "content": "hi"}));
        assert_eq!(
            user,
            json!({"id": "msg_1", "type": "message", "role": "user", "status": "completed",
                   "content": [{"type": "input_text", "text": "hi"}]})
        );
        let assistant = listed_item(json!({"id": "msg_2", "role": "assistant", "content": "yo"}));
        assert_eq!(
            assistant["content"],
            json!([{"type": "output_text", "text": "yo", "annotations": []}])
        );
        let parts = json!({"id": "msg_3", "type": "message", "role": "user", "status": "incomplete",
                           "content": [{"type": "input_text", "text": "x"}]});
        assert_eq!(listed_item(parts.clone()), parts, "already in shape");
        let call = json!({"id": "fc_1", "type": "function_call", "call_id": "c", "name": "f",
                          "arguments": "{}"});
        assert_eq!(listed_item(call.clone()), call, "only messages change");
    }

    #[test]
    fn ids_are_checked_before_lookup() {
        assert!(check_id("resp_0123abc").is_ok());
        for bad in ["", "msg_1", "resp_1/../x", "resp 1", &"resp".repeat(60)] {
            let e = check_id(bad).unwrap_err();
            assert_eq!(
                (e.status(), e.code()),
                (400, "invalid_response_id"),
                "{bad}"
            );
        }
    }
}

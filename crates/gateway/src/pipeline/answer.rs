//! The Responses and Chat answers with everything around the upstream call: stored state
//! (`resolve.rs`), governance admission and settlement (`crate::govern`), the response cache
//! (`crate::cache`), the backend or its model group (`serve.rs`), and the state recorder.

use http::HeaderMap;

use super::{
    extend_headers, Answer, ChatBody, ChatResponse, EventStream, Gateway, GatewayResponse,
    PreparedChat, PreparedRequest, ResponseBody,
};
use crate::cache::{self, CachePolicy, CacheStatus, Plan};
use crate::error::GatewayError;
use crate::identity::ClientIdentity;
use crate::upstream::new_response_id;
use ccp_types::events::{ResponseObject, StreamEvent};

impl Gateway {
    /// Runs a Responses request for `owner` with its state: `previous_response_id` and
    /// `item_reference`s resolved from the store, then the caller's governance (rate limits,
    /// budgets), then the answer: from the response cache under `cache`, else from the backend
    /// or its model group (sealed reasoning opened for the backend that gets it); the answer is
    /// then sealed, recorded (with `store`, default true) and settled.
    pub async fn respond(
        &self,
        identity: &ClientIdentity,
        prepared: PreparedRequest,
        cache: &CachePolicy,
    ) -> Result<GatewayResponse, GatewayError> {
        let Answer { headers, result } = self.answer(identity, prepared, cache).await;
        result.map(|mut response| {
            response.headers.extend(headers);
            response
        })
    }

    /// [`Gateway::answer`] without the request's record-keeping (`record.rs`).
    pub(super) async fn answer_governed(
        &self,
        identity: &ClientIdentity,
        mut prepared: PreparedRequest,
        cache: &CachePolicy,
    ) -> Answer<GatewayResponse> {
        let mut recorder = match self.resolve_state(&identity.id, &mut prepared).await {
            Ok(r) => r,
            Err(e) => return Answer::plain(Err(e)),
        };
        let client_model = prepared
            .request
            .model
            .clone()
            .unwrap_or_else(|| prepared.upstream_model.clone());
        let admission = match self
            .governor
            .admit(
                identity,
                &client_model,
                &prepared.upstream_model,
                || prepared.body.approx_len(),
                prepared.request.max_output_tokens,
            )
            .await
        {
            Ok(a) => a,
            Err(e) => return Answer::plain(Err(e)),
        };
        // A key with `cache: disable` never reads or writes the response cache.
        let policy = match identity.key.as_ref().map(|k| k.policy.cache) {
            Some(ccp_governance::keys::CacheMode::Disable) => {
                cache.clone().with_mode(crate::cache::CacheMode::Disable)
            }
            _ => cache.clone(),
        };
        let (backend, headers, result) = self.cached_or_served(prepared, &policy).await;
        recorder.origin = self.origins.get(backend).cloned();
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                if let Some(adm) = admission {
                    adm.release().await;
                }
                return Answer {
                    headers,
                    result: Err(e),
                };
            }
        };
        // A cache hit cost nothing upstream: it counts against rate limits, not budgets.
        let admission = match admission {
            Some(adm) if CacheStatus::of(&response) == Some(CacheStatus::Hit) => {
                extend_headers(&mut response.headers, &adm.headers);
                adm.release().await;
                None
            }
            other => other,
        };
        if let Some(adm) = &admission {
            extend_headers(&mut response.headers, &adm.headers);
        }
        response.body = match response.body {
            ResponseBody::Stream(events) => {
                let events = recorder.wrap(events);
                ResponseBody::Stream(match admission {
                    Some(adm) => adm.wrap(events),
                    None => events,
                })
            }
            ResponseBody::Json(mut resp) => {
                recorder.finish_json(&mut resp).await;
                if let Some(adm) = admission {
                    let usage = resp.usage.as_ref().map(crate::govern::admit::token_usage);
                    adm.settle(usage, 0).await;
                }
                ResponseBody::Json(resp)
            }
            ResponseBody::RawJson(bytes) => {
                recorder.finish_raw(&bytes).await;
                if let Some(adm) = admission {
                    let usage =
                        serde_json::from_slice::<ccp_types::events::ResponseSummary>(&bytes)
                            .ok()
                            .and_then(|r| r.usage)
                            .map(|u| crate::govern::admit::token_usage(&u));
                    adm.settle(usage, 0).await;
                }
                ResponseBody::RawJson(bytes)
            }
        };
        Answer {
            headers,
            result: Ok(response),
        }
    }

    /// The answer to a resolved request: from the response cache on a hit, else from the
    /// backend or its group ([`Gateway::serve`]; written to the cache when it completes). With a
    /// cache configured, the answer carries `x-ccp-cache`. Returns the backend that answered
    /// (the routed one for a hit) and a group's headers.
    async fn cached_or_served(
        &self,
        prepared: PreparedRequest,
        policy: &CachePolicy,
    ) -> (usize, HeaderMap, Result<GatewayResponse, GatewayError>) {
        let routed = prepared.backend;
        let Some(cache) = &self.cache else {
            let (served, headers) = self.serve(prepared).await;
            return (served.backend, headers, served.result);
        };
        let backend_name = self.config.backends[routed].name.clone();
        let (key, read) = match cache.plan(&prepared, &backend_name, policy) {
            Plan::Skip(status) => {
                let (served, headers) = self.serve(prepared).await;
                let result = served.result.map(|mut r| {
                    cache::mark(&mut r, status);
                    r
                });
                return (served.backend, headers, result);
            }
            Plan::Use { key, read } => (key, read),
        };
        if read {
            if let Some(mut hit) = cache.lookup(&key, prepared.request.stream).await {
                cache::mark(&mut hit, CacheStatus::Hit);
                return (routed, HeaderMap::new(), Ok(hit));
            }
        }
        let (served, headers) = self.serve(prepared).await;
        let result = match served.result {
            Ok(fresh) => {
                let mut r = cache.capture(key, fresh).await;
                cache::mark(&mut r, CacheStatus::Miss);
                Ok(r)
            }
            Err(e) => Err(e),
        };
        (served.backend, headers, result)
    }

    /// A governance denial as a Responses stream (`response.created`, then `response.failed`
    /// with the code Codex acts on: see [`GatewayError::in_stream_code`]).
    pub fn denial_stream(&self, e: &GatewayError, model: &str) -> EventStream {
        use ccp_types::events::{ResponseError, ResponseEvent, ResponseStatus};
        let mut resp = ResponseObject::new(
            new_response_id(),
            model.to_owned(),
            u64::try_from(crate::state::now_secs()).unwrap_or(0),
        );
        let created = ResponseEvent::Created {
            response: Box::new(resp.clone()),
        };
        resp.status = ResponseStatus::Failed;
        // The binding code leads the message: Codex prints the message, not the code.
        let message = match e {
            GatewayError::ModelNotAllowed { .. } | GatewayError::BudgetExceeded { .. } => {
                format!("{}: {e}", e.code())
            }
            _ => e.to_string(),
        };
        resp.error = Some(ResponseError {
            code: e.in_stream_code().to_owned(),
            message,
        });
        let failed = ResponseEvent::Failed {
            response: Box::new(resp),
        };
        Box::pin(futures_util::stream::iter([
            StreamEvent::Typed(created),
            StreamEvent::Typed(failed),
        ]))
    }

    /// Runs a prepared Chat Completions request for `identity`: admitted by governance, then
    /// on its backend or its model group's backends, then settled.
    pub async fn execute_chat(
        &self,
        identity: &ClientIdentity,
        prepared: PreparedChat,
    ) -> Result<ChatResponse, GatewayError> {
        let Answer { headers, result } = self.answer_chat(identity, prepared).await;
        result.map(|mut response| {
            response.headers.extend(headers);
            response
        })
    }

    /// [`Gateway::answer_chat`] without the request's record-keeping (`record.rs`).
    pub(super) async fn answer_chat_governed(
        &self,
        identity: &ClientIdentity,
        prepared: PreparedChat,
    ) -> Answer<ChatResponse> {
        let client_model = prepared
            .model()
            .unwrap_or(&prepared.upstream_model)
            .to_owned();
        let max_output = ["max_completion_tokens", "max_tokens"]
            .iter()
            .find_map(|k| prepared.body.get(*k).and_then(serde_json::Value::as_u64));
        let admission = match self
            .governor
            .admit(
                identity,
                &client_model,
                &prepared.upstream_model,
                || prepared.body_len,
                max_output,
            )
            .await
        {
            Ok(a) => a,
            Err(e) => return Answer::plain(Err(e)),
        };
        let Answer { headers, result } = self.serve_chat(prepared).await;
        let Some(adm) = admission else {
            return Answer { headers, result };
        };
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                adm.release().await;
                return Answer {
                    headers,
                    result: Err(e),
                };
            }
        };
        extend_headers(&mut response.headers, &adm.headers);
        response.body = match response.body {
            ChatBody::Json(bytes) => {
                let usage = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .as_ref()
                    .and_then(crate::govern::admit::chat_usage);
                adm.settle(usage, 0).await;
                ChatBody::Json(bytes)
            }
            ChatBody::Stream(frames) => ChatBody::Stream(adm.wrap_chat(frames)),
        };
        Answer {
            headers,
            result: Ok(response),
        }
    }
}

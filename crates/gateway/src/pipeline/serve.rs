//! One request on its backend, or on its model group's backends (`crate::groups`): the glue
//! between the pipeline and the group's attempt loop. Each attempt is the same typed request
//! with the attempt's backend and upstream model, and the history's sealed reasoning opened
//! for that backend (`crate::state::replay`); the backend's own kind converts it.

use std::sync::Arc;

use http::HeaderMap;

use super::{Answer, ChatResponse, Gateway, GatewayResponse, PreparedChat, PreparedRequest};
use crate::error::GatewayError;
use crate::groups::{answer_headers, FailureNote, Group, Served};
use crate::state::replay::{self, ReplayTarget};
use crate::upstream::{Call, ChatCall};

impl Gateway {
    /// Runs a Responses request: on its backend, or through its model group (then with the
    /// group's headers).
    pub(super) async fn serve(
        &self,
        prepared: PreparedRequest,
    ) -> (Served<GatewayResponse>, HeaderMap) {
        let Some(group) = prepared.group.and_then(|g| self.groups.get(g)) else {
            let backend = prepared.backend;
            let result = self.call_backend(prepared, None).await;
            let served = Served {
                result,
                backend,
                attempts: 1,
            };
            return (served, HeaderMap::new());
        };
        let base = &prepared;
        let requested = base.request.model.as_deref();
        // A failed attempt the group moves on from does not end the request's telemetry.
        base.telemetry.hold_finish();
        let served = group
            .serve(self.groups.clock(), move |backend, note| {
                Box::pin(async move {
                    base.telemetry.discard_held();
                    let mut attempt = base.clone();
                    attempt.upstream_model = self.router.upstream_model_for(backend, requested);
                    attempt.backend = backend;
                    self.call_backend(attempt, Some(note)).await
                })
            })
            .await;
        base.telemetry.release_held();
        let headers = self.group_headers(group, &served, requested);
        (served, headers)
    }

    /// Runs a Chat Completions request on its backend, or through its model group, with the
    /// facts of how the answer was served (a group's headers), which go with an error too.
    pub(super) async fn serve_chat(&self, prepared: PreparedChat) -> Answer<ChatResponse> {
        let Some(group) = prepared.group.and_then(|g| self.groups.get(g)) else {
            return Answer::plain(self.call_chat_backend(&prepared, None).await);
        };
        let base = &prepared;
        let requested = base.model();
        base.telemetry.hold_finish();
        let served = group
            .serve(self.groups.clock(), move |backend, note| {
                Box::pin(async move {
                    base.telemetry.discard_held();
                    let mut attempt = base.clone();
                    attempt.upstream_model = self.router.upstream_model_for(backend, requested);
                    attempt.backend = backend;
                    self.call_chat_backend(&attempt, Some(note)).await
                })
            })
            .await;
        base.telemetry.release_held();
        let headers = self.group_headers(group, &served, requested);
        Answer {
            headers,
            result: served.result,
        }
    }

    /// One backend's call, sealed reasoning opened for it.
    async fn call_backend(
        &self,
        mut prepared: PreparedRequest,
        note: Option<Arc<FailureNote>>,
    ) -> Result<GatewayResponse, GatewayError> {
        let backend = prepared.backend;
        let target = ReplayTarget {
            origin: self.origins.get(backend).map_or("", String::as_str),
            passthrough: self.upstreams[backend].forwards_client_body(),
        };
        replay::open_for(&self.state.sealer, &mut prepared, target)?;
        let client_model = prepared
            .request
            .model
            .clone()
            .unwrap_or_else(|| prepared.upstream_model.clone());
        let scope = &prepared.telemetry;
        let input = scope.capture_content().then(|| {
            let input = serde_json::to_value(&prepared.request.input).unwrap_or_default();
            let instructions = prepared.request.instructions.as_deref();
            ccp_telemetry::content::responses_input(instructions, &input)
        });
        let (log, mapper) = self.call_setup(
            scope,
            (backend, &client_model, &prepared.upstream_model),
            prepared.request.stream,
            input,
            note,
        )?;
        let call = Call {
            prepared: &prepared,
            backend: &self.config.backends[backend],
            client_model,
            log,
            mapper,
        };
        self.upstreams[backend].call(call).await
    }

    async fn call_chat_backend(
        &self,
        prepared: &PreparedChat,
        note: Option<Arc<FailureNote>>,
    ) -> Result<ChatResponse, GatewayError> {
        let backend = prepared.backend;
        let client_model = prepared
            .model()
            .unwrap_or(&prepared.upstream_model)
            .to_owned();
        let input = prepared.telemetry.capture_content().then(|| {
            let messages = prepared.body.get("messages").cloned().unwrap_or_default();
            ccp_telemetry::content::chat_input(&messages)
        });
        let (log, mapper) = self.call_setup(
            &prepared.telemetry,
            (backend, &client_model, &prepared.upstream_model),
            prepared.stream(),
            input,
            note,
        )?;
        let call = ChatCall {
            prepared,
            backend: &self.config.backends[backend],
            client_model,
            log,
            mapper,
        };
        self.upstreams[backend].call_chat(call).await
    }

    fn group_headers<T>(
        &self,
        group: &Group,
        served: &Served<T>,
        requested: Option<&str>,
    ) -> HeaderMap {
        let name = self
            .config
            .backends
            .get(served.backend)
            .map_or("", |b| b.name.as_str());
        let upstream_model = self.router.upstream_model_for(served.backend, requested);
        let outcome = if served.result.is_ok() {
            "answered"
        } else {
            "failed"
        };
        answer_headers(
            group.model(),
            name,
            &upstream_model,
            served.attempts,
            outcome,
        )
    }
}

//! What the gateway adds to a request's telemetry (`ccp_telemetry::RequestScope`): the route
//! (backend, `gen_ai.provider.name`, the model sent upstream, the upstream's address) and,
//! with `capture_content`, the prompt as GenAI messages.
//!
//! Invariant: the metric label of a model is a name written in the config (a backend's `model`
//! or `models`, a literal `match_rules.models` entry) or `other`, never a client's free string.

use std::collections::HashSet;

use ccp_telemetry::metrics::OTHER;
use ccp_telemetry::Route;

use crate::config::{Backend, BackendKind, Config};

/// The model names a metric label may carry.
#[derive(Debug, Default)]
pub(crate) struct ModelNames(HashSet<String>);

impl ModelNames {
    pub(crate) fn new(config: &Config) -> Self {
        let mut names = HashSet::new();
        for b in &config.backends {
            names.insert(b.model.clone());
            let listed = b.models.iter().chain(&b.match_rules.models);
            names.extend(listed.filter(|m| !m.contains('*')).cloned());
        }
        ModelNames(names)
    }

    /// `model` if the config names it, else `other`.
    pub(crate) fn label(&self, model: &str) -> String {
        if self.0.contains(model) {
            model.to_owned()
        } else {
            OTHER.to_owned()
        }
    }
}

/// `gen_ai.provider.name` of a backend: the GenAI well-known value where there is one, a
/// custom value for the providers the conventions do not list.
pub(crate) fn provider_name(backend: &Backend) -> String {
    match backend.kind {
        BackendKind::Anthropic { .. } => "anthropic".to_owned(),
        BackendKind::Codex { .. } => "openai".to_owned(),
        BackendKind::Mock => "mock".to_owned(),
        BackendKind::Chat | BackendKind::Responses { .. } => match backend.profile.id().as_str() {
            "glm" => "zhipu".to_owned(),
            "kimi" => "moonshot".to_owned(),
            other => other.to_owned(),
        },
    }
}

/// The route of a request to `backend`, sending `upstream_model`.
pub(crate) fn route(
    backend: &Backend,
    names: &ModelNames,
    upstream_model: &str,
    stream: bool,
    input_messages: Option<String>,
) -> Route {
    let uri = backend
        .endpoint_url()
        .and_then(|u| u.parse::<http::Uri>().ok());
    let server_address = uri.as_ref().and_then(|u| u.host()).map(str::to_owned);
    let server_port = uri.as_ref().and_then(|u| {
        u.port_u16().or(match u.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        })
    });
    Route {
        backend: backend.name.clone(),
        provider: provider_name(backend),
        request_model: upstream_model.to_owned(),
        model_label: names.label(upstream_model),
        server_address,
        server_port,
        stream,
        input_messages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_outside_the_config_are_other() {
        let config = crate::config::parse_str(
            r#"{"backends": [{"name": "glm", "url": "https://open.bigmodel.cn/api/paas/v4",
                "model": "glm-5", "models": ["glm-4.6"],
                "match_rules": {"default": true, "models": ["glm-*", "glm-air"]}}]}"#,
            &|_| None,
        )
        .unwrap();
        let names = ModelNames::new(&config);
        assert_eq!(names.label("glm-5"), "glm-5");
        assert_eq!(names.label("glm-air"), "glm-air");
        assert_eq!(names.label("glm-whatever-a-client-sent"), "other");
        let r = route(&config.backends[0], &names, "glm-5", true, None);
        assert_eq!(r.provider, "zhipu");
        assert_eq!(r.server_address.as_deref(), Some("open.bigmodel.cn"));
        assert_eq!(r.server_port, Some(443));
    }
}

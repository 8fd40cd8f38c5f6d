//! The startup summary, printed once the proxy listens: each backend with its kind, its route,
//! its upstream and whether its key is set, then the Codex `base_url` for each route — so a
//! newcomer sees what the proxy serves without reading the config again.
//!
//! Invariants: no key is ever shown, only whether one is set and the variable it came from; an
//! upstream shows as `scheme://host[:port]`, never its path, query or user info (a path can carry
//! a token). The human form goes to stderr; the same facts go to the log file as one `info`
//! event per backend, with [`crate::logging::FILE_ONLY`] as target so stderr does not get them
//! twice.

use std::fmt::Write as _;
use std::net::SocketAddr;

use ccp_gateway::config::{Backend, Config, Protocol};

/// What the summary says about one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSummary {
    pub name: String,
    pub protocol: &'static str,
    /// `model group gpt-4o, prefix /kimi, models kimi-*, header x-backend: kimi, default`.
    pub route: String,
    /// `https://api.moonshot.cn`, or `built in (no network)` for the mock.
    pub upstream: String,
    /// `set (from KIMI_API_KEY)`, `not set: …`, `not needed`, …
    pub key: String,
    /// The Codex `base_url` that reaches this backend: its prefix route, else the plain `/v1`.
    pub base_url: String,
}

/// Prints the summary to stderr and logs it (see the module doc).
pub fn announce(config: &Config, local: SocketAddr) {
    let proxy_url = crate::codex_config::proxy_url_from_listen(&local);
    let backends: Vec<BackendSummary> = config
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let groups: Vec<&str> = config
                .model_groups
                .iter()
                .filter(|g| g.backends.contains(&i))
                .map(|g| g.model.as_str())
                .collect();
            summarize(b, &proxy_url, &groups)
        })
        .collect();
    eprint!("{}", human(config, &backends, &proxy_url, local));
    for b in &backends {
        tracing::info!(
            target: crate::logging::FILE_ONLY,
            backend = %b.name,
            protocol = b.protocol,
            route = %b.route,
            upstream = %b.upstream,
            key = %b.key,
            codex_base_url = %b.base_url,
            "backend"
        );
    }
}

/// The facts about one backend, without any secret.
/// `groups`: the `model` of each model group the backend serves in.
pub fn summarize(backend: &Backend, proxy_url: &str, groups: &[&str]) -> BackendSummary {
    let rules = &backend.match_rules;
    let base_url = match &rules.path_prefix {
        Some(prefix) => format!("{proxy_url}{prefix}/v1"),
        None => format!("{proxy_url}/v1"),
    };
    BackendSummary {
        name: backend.name.clone(),
        protocol: backend.protocol.as_str(),
        route: route(backend, groups),
        upstream: upstream(backend),
        key: key_state(backend),
        base_url,
    }
}

fn route(backend: &Backend, groups: &[&str]) -> String {
    let rules = &backend.match_rules;
    let mut parts = Vec::new();
    for model in groups {
        parts.push(format!("model group {model}"));
    }
    if let Some(prefix) = &rules.path_prefix {
        parts.push(format!("prefix {prefix}"));
    }
    if !rules.models.is_empty() {
        parts.push(format!("models {}", rules.models.join(" ")));
    }
    if let Some(header) = &rules.header {
        parts.push(format!("header {}: {}", header.name, header.value));
    }
    if rules.default {
        parts.push("default".to_owned());
    }
    if parts.is_empty() {
        "none (no match rule reaches it)".to_owned()
    } else {
        parts.join(", ")
    }
}

/// `scheme://host[:port]` of the backend's url: no path, query or user info.
fn upstream(backend: &Backend) -> String {
    if backend.protocol == Protocol::Mock {
        return "built in (no network)".to_owned();
    }
    let Some(url) = backend.url.as_deref() else {
        return "no url".to_owned();
    };
    match reqwest::Url::parse(url) {
        Ok(url) => {
            let host = url.host_str().unwrap_or_default();
            match url.port() {
                Some(port) => format!("{}://{host}:{port}", url.scheme()),
                None => format!("{}://{host}", url.scheme()),
            }
        }
        Err(_) => "an unparsable url".to_owned(),
    }
}

fn key_state(backend: &Backend) -> String {
    let vars = backend.api_key_env.join(", ");
    if backend.protocol == Protocol::Mock {
        "not needed".to_owned()
    } else if backend.key_missing {
        format!("not set: {vars} is unset, so requests to it get 401 until it is exported")
    } else if backend.api_key.is_none() {
        "none (no Authorization header is sent)".to_owned()
    } else if vars.is_empty() {
        "set (written in the config file)".to_owned()
    } else {
        format!("set (from {vars})")
    }
}

fn human(
    config: &Config,
    backends: &[BackendSummary],
    proxy_url: &str,
    local: SocketAddr,
) -> String {
    let width = |f: fn(&BackendSummary) -> usize, title: &str| {
        backends
            .iter()
            .map(f)
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let name_w = width(|b| b.name.len(), "backend");
    let kind_w = width(|b| b.protocol.len(), "kind");
    let route_w = width(|b| b.route.len(), "route");
    let up_w = width(|b| b.upstream.len(), "upstream");
    let mut out = format!(
        "codex-convert-proxy on {local}, {} backend(s):\n",
        backends.len()
    );
    let mut row = |a: &str, b: &str, c: &str, d: &str, e: &str| {
        let _ = writeln!(
            out,
            "  {a:name_w$}  {b:kind_w$}  {c:route_w$}  {d:up_w$}  {e}"
        );
    };
    row("backend", "kind", "route", "upstream", "API key");
    for b in backends {
        row(&b.name, b.protocol, &b.route, &b.upstream, &b.key);
    }
    let default = config
        .backends
        .get(config.default_backend_index())
        .map(|b| b.name.as_str())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Codex base_url per route (`codex-config --write` puts them into $CODEX_HOME/config.toml):"
    );
    let plain = format!("{proxy_url}/v1");
    let prefixed: Vec<&BackendSummary> = backends.iter().filter(|b| b.base_url != plain).collect();
    let url_w = prefixed
        .iter()
        .map(|b| b.base_url.len())
        .chain([plain.len()])
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "  {plain:url_w$}  routes by model and header, else to the default backend `{default}`"
    );
    for b in prefixed {
        let _ = writeln!(out, "  {:url_w$}  backend `{}`", b.base_url, b.name);
    }
    let storage = &config.storage;
    let _ = writeln!(
        out,
        "Store: {} (stored responses kept {} days, at most {} MiB)",
        storage.display_location(),
        storage.response_ttl_days,
        storage.max_bytes / (1024 * 1024)
    );
    if let Some(cache) = &config.cache {
        let store = match config.redis_url_display() {
            Some(url) => format!("in Redis at {url}"),
            None => format!("in memory, at most {} MiB", cache.max_bytes / (1024 * 1024)),
        };
        let scope = if cache.shared {
            "shared by all callers"
        } else {
            "per caller"
        };
        let _ = writeln!(
            out,
            "Response cache: {} ({store}, {scope}, answers kept {} s; docs/cache.md)",
            cache.mode.as_str(),
            cache.ttl.as_secs()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(url: &str, api_key: &str) -> Backend {
        let text = format!(
            r#"{{"backends": [{{"name": "up", "protocol": "openai", "url": "{url}", "api_key": "{api_key}",
                "model": "m", "match_rules": {{"default": true}}}}]}}"#
        );
        let env = |name: &str| (name == "UP_KEY").then(|| "sk-from-env-123456".to_owned());
        match ccp_gateway::config::parse_str(&text, &env) {
            Ok(mut config) => config.backends.remove(0),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn upstream_is_the_origin_only() {
        let b = backend("https://user:pw@api.example.com:8443/t0ken/v1", "${UP_KEY}");
        let s = summarize(&b, "http://127.0.0.1:8280", &[]);
        assert_eq!(s.upstream, "https://api.example.com:8443");
        assert_eq!(s.key, "set (from UP_KEY)");
        assert_eq!(s.route, "default");
        assert_eq!(s.base_url, "http://127.0.0.1:8280/v1");
        let b = backend("http://[::1]:9000/v1", "${NOT_SET_KEY:-}");
        let s = summarize(&b, "http://127.0.0.1:8280", &["gpt-4o"]);
        assert_eq!(s.route, "model group gpt-4o, default");
        assert_eq!(s.upstream, "http://[::1]:9000");
        assert!(
            s.key.starts_with("not set: NOT_SET_KEY is unset"),
            "{}",
            s.key
        );
    }
}

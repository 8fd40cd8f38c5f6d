//! The proxy's configuration: a JSON file loaded in two steps — raw serde structs that reject
//! unknown fields and quote JSON paths (`raw`), then `validate`, which checks meaning, resolves
//! `${ENV}` references and builds the runtime [`Config`] while collecting *every* problem.
//!
//! Invariants: `validate` is the only constructor of [`Config`] (the structs are
//! `#[non_exhaustive]`), so a `Config` always has at least one backend, exactly one default
//! backend, unique backend names and path prefixes, and an http(s) URL on every non-mock
//! backend. Key material lives only in [`Secret`], whose `Debug` prints `[redacted]`; nothing
//! in this module (errors, summaries, `Debug`) ever shows a key.

mod cache;
mod env;
mod governance;
mod groups;
mod kinds;
mod raw;
mod storage;
mod telemetry;
mod validate;

pub use cache::{
    CacheSettings, DEFAULT_CACHE_MAX_BYTES, DEFAULT_CACHE_REDIS_PREFIX, DEFAULT_CACHE_TTL_SECS,
};
pub use governance::{Governance, DEFAULT_RESERVE_OUTPUT_TOKENS};
pub use groups::{
    FailureClass, GroupStrategy, ModelGroup, DEFAULT_COOLDOWN_SECS, DEFAULT_TRIGGERS,
};
pub use storage::{Storage, DEFAULT_DATA_DIR, DEFAULT_MAX_BYTES, DEFAULT_RESPONSE_TTL_DAYS};
pub use telemetry::Telemetry;

#[cfg(test)]
mod readme_reference;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

/// Loads and validates the config file at `path`, resolving `${VAR}` from the process
/// environment.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with_env(path, &|name: &str| std::env::var(name).ok())
}

/// [`load`] with an injected environment lookup (tests, `--check-config` dry runs).
pub fn load_with_env(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        ConfigErrors(vec![ConfigProblem::new(
            "",
            format!(
                "cannot read config file {}: {err} — check the path (or pass --config <file>)",
                path.display()
            ),
        )])
    })?;
    parse_str(&text, env)
}

/// Parses and validates config text; `env` resolves `${VAR}` references.
pub fn parse_str(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    let raw = raw::parse_raw(text)?;
    validate::validate(raw, env)
}

/// One thing wrong with the config: where (a JSON path like `backends[1].url`, or `""` for the
/// file as a whole) and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a config, in file order; `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A secret string (upstream API key, client key). `Debug` never shows the value; call
/// [`Secret::expose`] only where the value is put on the wire or compared.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The dialect a backend speaks (`protocol` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A Chat Completions endpoint (`"openai"` or `"chat"`).
    Chat,
    /// An OpenAI Responses endpoint, passed through (`"responses"`).
    Responses,
    /// The ChatGPT Codex backend with a ChatGPT login (`"codex"`).
    Codex,
    /// An Anthropic Messages endpoint (`"anthropic"`).
    Anthropic,
    /// The built-in scripted backend; makes no network calls.
    Mock,
}

impl Protocol {
    /// The name shown in summaries and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Chat => "chat",
            Protocol::Responses => "responses",
            Protocol::Codex => "codex",
            Protocol::Anthropic => "anthropic",
            Protocol::Mock => "mock",
        }
    }
}

/// Which header carries a Responses backend's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthHeader {
    /// `Authorization: Bearer <key>` (OpenAI and most gateways).
    Bearer,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKey,
    /// `x-api-key: <key>`.
    XApiKey,
}

impl AuthHeader {
    /// The spelling used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthHeader::Bearer => "authorization",
            AuthHeader::ApiKey => "api-key",
            AuthHeader::XApiKey => "x-api-key",
        }
    }
}

/// What is particular to each kind of backend, validated by that kind's own validator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendKind {
    /// A Chat Completions upstream; requests are converted and shaped by the provider profile.
    Chat,
    /// A Responses upstream; the client's body goes through as it came.
    Responses {
        /// `api-version` query parameter (Azure), if any.
        api_version: Option<String>,
        auth_header: AuthHeader,
    },
    /// The ChatGPT Codex backend, authenticated by a Codex login.
    Codex {
        auth_file: PathBuf,
        token_url: String,
    },
    /// An Anthropic Messages upstream; requests are converted to Messages.
    Anthropic {
        /// The `anthropic-version` header.
        anthropic_version: String,
        /// Place `cache_control` breakpoints (system, last tool, end of history).
        prompt_cache: bool,
        /// `max_tokens` when the request sets no `max_output_tokens`; `None`: the model's
        /// default.
        max_tokens: Option<u64>,
    },
    /// The built-in mock.
    Mock,
}

impl BackendKind {
    /// The protocol of this kind.
    pub fn protocol(&self) -> Protocol {
        match self {
            BackendKind::Chat => Protocol::Chat,
            BackendKind::Responses { .. } => Protocol::Responses,
            BackendKind::Codex { .. } => Protocol::Codex,
            BackendKind::Anthropic { .. } => Protocol::Anthropic,
            BackendKind::Mock => Protocol::Mock,
        }
    }
}

/// The ChatGPT Codex backend's base URL, used when a `codex` backend sets no `url`.
pub const CODEX_DEFAULT_URL: &str = "https://chatgpt.com/backend-api/codex";

/// Anthropic's API, used when an `anthropic` backend sets no `url`.
pub const ANTHROPIC_DEFAULT_URL: &str = "https://api.anthropic.com";

/// The `anthropic-version` header sent when the config sets none.
pub const ANTHROPIC_DEFAULT_VERSION: &str = "2023-06-01";

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Routes a request to a backend when the named header has exactly this value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderRule {
    /// Lower-cased header name (header names are case-insensitive).
    pub name: String,
    pub value: String,
}

/// How requests reach a backend; see `routing` for the order the rules are tried in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MatchRules {
    /// `/kimi`-style prefix: starts with '/', no trailing '/', not a reserved first segment.
    pub path_prefix: Option<String>,
    /// Exact model names or `*` globs.
    pub models: Vec<String>,
    pub header: Option<HeaderRule>,
    pub default: bool,
}

/// One upstream (or the mock) as validated at load.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Backend {
    /// Unique, `[A-Za-z0-9_-]+`.
    pub name: String,
    pub protocol: Protocol,
    /// What is particular to this backend's kind.
    pub kind: BackendKind,
    /// Base URL without trailing '/', query or fragment. Always set for chat, responses and
    /// codex backends.
    pub url: Option<String>,
    /// `None` means no `Authorization` header is sent.
    pub api_key: Option<Secret>,
    /// The config asked for a key (`${VAR:-}`) but it resolved to nothing: requests to this
    /// backend should fail with a clear "no API key" error rather than reach the upstream.
    pub key_missing: bool,
    /// Environment variables the `api_key` referenced, for "export X" hints. Not secret.
    pub api_key_env: Vec<String>,
    /// The upstream model used when the request's model is not one this backend serves.
    pub model: String,
    /// Further model names passed through unchanged.
    pub models: Vec<String>,
    /// Provider profile name (quirk presets); interpreted elsewhere.
    pub provider: Option<String>,
    /// Raw per-backend quirk overrides, as written in the config.
    pub quirks: Map<String, Value>,
    /// The provider profile (explicit `provider`, else inferred from the name, then the URL host)
    /// with `quirks` applied.
    pub profile: ccp_providers::profile::ResolvedProfile,
    pub match_rules: MatchRules,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub idle_timeout: Duration,
    pub total_timeout: Duration,
    pub max_retries: u32,
    /// `None` when `keepalive_interval_secs` is 0 (keep-alives disabled).
    pub keepalive_interval: Option<Duration>,
    /// Most idle upstream connections kept for reuse (0: none are kept).
    pub pool_max_idle: usize,
    /// How long an idle upstream connection is kept.
    pub pool_idle_timeout: Duration,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u64>,
}

const CHAT_SUFFIX: &str = "/chat/completions";
const RESPONSES_SUFFIX: &str = "/responses";
const MESSAGES_SUFFIX: &str = "/v1/messages";

impl Backend {
    /// The upstream Chat Completions endpoint: `{url}/chat/completions`, or `url` itself when
    /// it already ends there. Never inserts a `/v1`. `None` only for a mock without a URL.
    pub fn chat_url(&self) -> Option<String> {
        let base = self.url.as_deref()?.trim_end_matches('/');
        if base.ends_with(CHAT_SUFFIX) {
            Some(base.to_owned())
        } else {
            Some(format!("{base}{CHAT_SUFFIX}"))
        }
    }

    /// The upstream Responses endpoint: `{url}/responses`, or `url` itself when it already ends
    /// there.
    pub fn responses_url(&self) -> Option<String> {
        let base = self.url.as_deref()?.trim_end_matches('/');
        if base.ends_with(RESPONSES_SUFFIX) {
            Some(base.to_owned())
        } else {
            Some(format!("{base}{RESPONSES_SUFFIX}"))
        }
    }

    /// The Anthropic Messages endpoint: `{url}/v1/messages` (`{url}/messages` when `url` ends in
    /// `/v1`; `url` itself when it already ends in `/v1/messages`).
    pub fn messages_url(&self) -> Option<String> {
        let base = self.url.as_deref()?.trim_end_matches('/');
        Some(if base.ends_with(MESSAGES_SUFFIX) {
            base.to_owned()
        } else if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}{MESSAGES_SUFFIX}")
        })
    }

    /// The upstream endpoint requests go to, whatever the kind (`None` for the mock).
    pub fn endpoint_url(&self) -> Option<String> {
        match self.kind {
            BackendKind::Chat => self.chat_url(),
            BackendKind::Responses { .. } | BackendKind::Codex { .. } => self.responses_url(),
            BackendKind::Anthropic { .. } => self.messages_url(),
            BackendKind::Mock => None,
        }
    }

    /// The upstream model list endpoint: `{base}/models`, where `base` is `url` without a
    /// trailing `/chat/completions` or `/responses`.
    pub fn models_url(&self) -> Option<String> {
        let base = self.url.as_deref()?.trim_end_matches('/');
        let base = base
            .strip_suffix(CHAT_SUFFIX)
            .or_else(|| base.strip_suffix(RESPONSES_SUFFIX))
            .unwrap_or(base);
        Some(format!("{base}/models"))
    }

    /// Whether `model` is one this backend serves as-is (`model` or an entry of `models`).
    pub fn serves_model(&self, model: &str) -> bool {
        self.model == model || self.models.iter().any(|m| m == model)
    }
}

/// The validated runtime configuration. Build it with [`load`] or [`parse_str`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    pub listen: SocketAddr,
    pub log_dir: PathBuf,
    pub log_body: bool,
    /// At least one; exactly one has `match_rules.default`.
    pub backends: Vec<Backend>,
    pub telemetry: Telemetry,
    /// A separate listener for `/metrics` (without it, `/metrics` is on `listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// Keys clients must present; empty means no client auth is configured.
    pub client_keys: Vec<Secret>,
    pub allow_unauthenticated: bool,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    /// Answer 404 `model_not_found` for a model no backend serves, instead of sending it to the
    /// default backend's model.
    pub strict_models: bool,
    /// Where the store lives (`data_dir`, `storage`).
    pub storage: Storage,
    /// Keys, aliases, prices, budgets (issue 14).
    pub governance: Governance,
    /// The response cache; `None` (no `cache` block): no cache at all.
    pub cache: Option<CacheSettings>,
    /// Redis shared by replicas (`redis_url`): where the response cache lives when set.
    pub redis_url: Option<Secret>,
    /// Several backends behind one request model (`model_groups`), in config order.
    pub model_groups: Vec<ModelGroup>,
}

impl Config {
    /// Whether the listen address only accepts local connections.
    pub fn is_loopback_listen(&self) -> bool {
        self.listen.ip().is_loopback()
    }

    /// Index of the default backend (validation guarantees exactly one).
    pub fn default_backend_index(&self) -> usize {
        self.backends
            .iter()
            .position(|b| b.match_rules.default)
            .unwrap_or(0)
    }

    /// The backend called `name`, if any.
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// `redis_url` for logs and summaries: its password replaced by `***`.
    pub fn redis_url_display(&self) -> Option<String> {
        let url = self.redis_url.as_ref()?;
        Some(storage::redact_url_password(url.expose()))
    }

    /// The password inside `redis_url`, for the redactor.
    pub fn redis_password(&self) -> Option<String> {
        let url = self.redis_url.as_ref()?;
        storage::url_password(url.expose()).map(str::to_owned)
    }

    /// A redacted view for `/health` and `--check-config`: no key material, only whether a
    /// key is present and which variables it came from.
    pub fn summary_json(&self) -> Value {
        let backends: Vec<Value> = self.backends.iter().map(backend_summary).collect();
        let cache = self.cache.as_ref().map(|c| {
            json!({
                "mode": c.mode.as_str(),
                "ttl_secs": c.ttl.as_secs(),
                "shared": c.shared,
                "store": if self.redis_url.is_some() { "redis" } else { "memory" },
                "max_bytes": c.max_bytes,
                "redis_prefix": c.redis_prefix,
            })
        });
        let redis_url = self.redis_url_display();
        json!({
            "listen": self.listen.to_string(),
            "log_dir": self.log_dir.display().to_string(),
            "log_body": self.log_body,
            "client_keys": self.client_keys.len(),
            "admin_keys": self.governance.admin_keys.len(),
            "virtual_keys": self.governance.virtual_keys.iter().map(|k| k.name.clone()).collect::<Vec<_>>(),
            "redis": self.governance.redis_url.is_some(),
            "model_aliases": self.governance.model_aliases,
            "allow_unauthenticated": self.allow_unauthenticated,
            "max_body_bytes": self.max_body_bytes,
            "shutdown_grace_secs": self.shutdown_grace.as_secs(),
            "strict_models": self.strict_models,
            "storage": {
                "location": self.storage.display_location(),
                "response_ttl_days": self.storage.response_ttl_days,
                "max_bytes": self.storage.max_bytes,
            },
            "cache": cache,
            "redis_url": redis_url,
            "telemetry": {
                "enabled": self.telemetry.enabled,
                "service_name": self.telemetry.service_name,
                "otlp_endpoint": self.telemetry.otlp_endpoint,
                "otlp_protocol": self.telemetry.otlp_protocol.as_str(),
                "headers": self.telemetry.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
                "sample_ratio": self.telemetry.sample_ratio,
                "capture_content": self.telemetry.capture_content,
            },
            "metrics_listen": self.metrics_listen.map(|a| a.to_string()),
            "backends": backends,
            "model_groups": self.model_groups.iter().map(|g| self.group_summary(g)).collect::<Vec<_>>(),
        })
    }

    fn group_summary(&self, g: &ModelGroup) -> Value {
        let names: Vec<&str> = g
            .backends
            .iter()
            .filter_map(|&i| self.backends.get(i).map(|b| b.name.as_str()))
            .collect();
        json!({
            "model": g.model,
            "backends": names,
            "strategy": g.strategy.as_str(),
            "weights": g.weights,
            "on": g.on.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "cooldown_secs": g.cooldown.as_secs(),
        })
    }
}

fn backend_summary(b: &Backend) -> Value {
    let rules = &b.match_rules;
    json!({
        "name": b.name,
        "protocol": b.protocol.as_str(),
        "kind": kind_summary(&b.kind),
        "provider": b.profile.id().as_str(),
        "model": b.model,
        "models": b.models,
        "url": b.url,
        "endpoint_url": b.endpoint_url(),
        "has_api_key": b.api_key.is_some(),
        "key_missing": b.key_missing,
        "api_key_env": b.api_key_env,
        "match_rules": {
            "path_prefix": rules.path_prefix,
            "models": rules.models,
            "header": rules.header.as_ref().map(|h| json!({"name": h.name, "value": h.value})),
            "default": rules.default,
        },
        "timeouts_secs": {
            "connect": b.connect_timeout.as_secs(),
            "first_byte": b.first_byte_timeout.as_secs(),
            "idle": b.idle_timeout.as_secs(),
            "total": b.total_timeout.as_secs(),
        },
        "max_retries": b.max_retries,
        "pool": {"max_idle": b.pool_max_idle, "idle_timeout_secs": b.pool_idle_timeout.as_secs()},
        "context_window": b.context_window,
        "max_output_tokens": b.max_output_tokens,
    })
}

fn kind_summary(kind: &BackendKind) -> Value {
    match kind {
        BackendKind::Responses {
            api_version,
            auth_header,
        } => json!({"api_version": api_version, "auth_header": auth_header.as_str()}),
        BackendKind::Codex {
            auth_file,
            token_url,
        } => json!({"auth_file": auth_file.display().to_string(), "token_url": token_url}),
        BackendKind::Anthropic {
            anthropic_version,
            prompt_cache,
            max_tokens,
        } => json!({"anthropic_version": anthropic_version, "prompt_cache": prompt_cache,
            "max_tokens": max_tokens}),
        BackendKind::Chat | BackendKind::Mock => json!({}),
    }
}

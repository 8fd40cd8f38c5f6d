//! Step 2 of config loading: raw structs → runtime [`Config`], checking meaning and
//! cross-field rules and resolving `${ENV}` references.
//!
//! Invariants: every check runs even after an earlier one failed, so one run reports every
//! problem; each message says what is wrong and how to fix it; no resolved secret ever appears
//! in a message (only variable names do).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::env::{expand_env_refs, EnvError, Expanded};
use super::kinds::{self, parse_protocol, FieldProblems};
use super::raw::{RawBackend, RawConfig, RawHeaderRule, RawMatchRules};
use super::{Backend, Config, ConfigErrors, ConfigProblem, HeaderRule, MatchRules, Secret};

const DEFAULT_LISTEN: &str = "127.0.0.1:8280";
const DEFAULT_LOG_DIR: &str = "./logs";
const DEFAULT_MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;

const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
const DEFAULT_FIRST_BYTE_TIMEOUT_SECS: u64 = 300;
const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 300;
const DEFAULT_TOTAL_TIMEOUT_SECS: u64 = 1800;
const DEFAULT_MAX_RETRIES: u32 = 2;
const DEFAULT_KEEPALIVE_SECS: u64 = 10;
const MAX_RETRIES_LIMIT: u32 = 10;
/// Idle upstream connections kept per backend: enough for a team's usual concurrency (and the
/// c=64 benchmark) without a burst of 1,000 streams leaving 1,000 connections' buffers behind.
const DEFAULT_POOL_MAX_IDLE: usize = 64;
const POOL_MAX_IDLE_LIMIT: usize = 10_000;
const DEFAULT_POOL_IDLE_TIMEOUT_SECS: u64 = 90;

/// First path segments the proxy serves itself; a backend prefix may not shadow them.
pub(crate) const RESERVED_PREFIX_SEGMENTS: &[&str] = &[
    "v1",
    "responses",
    "health",
    "models",
    "chat",
    "metrics",
    "admin",
];

/// Collects problems in the order they are found.
#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem::new(path, message));
    }
}

pub(crate) fn validate(
    raw: RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut problems = Problems::default();

    let listen = validate_listen(raw.listen.as_deref(), &mut problems);
    let log_dir = raw.log_dir.unwrap_or_else(|| DEFAULT_LOG_DIR.to_owned());
    if log_dir.trim().is_empty() {
        problems.push(
            "log_dir",
            "is empty — set a directory for log files, e.g. \"./logs\", or remove the field",
        );
    }
    let telemetry = super::telemetry::validate_telemetry(
        raw.telemetry,
        env,
        &|url| check_http_url(url, false),
        &mut |p, m| problems.push(p, m),
    );
    let metrics_listen = super::telemetry::validate_metrics_listen(
        raw.metrics_listen.as_deref(),
        listen,
        &mut |p, m| problems.push(p, m),
    );
    let client_keys = validate_client_keys(raw.client_keys.unwrap_or_default(), env, &mut problems);
    let max_body_bytes = validate_max_body(raw.max_body_bytes, &mut problems);
    let storage = super::storage::validate_storage(raw.data_dir, raw.storage, env, &mut |p, m| {
        problems.push(p, m)
    });
    let cache = super::cache::validate_cache(raw.cache, &mut |p, m| problems.push(p, m));
    let redis_url =
        super::cache::validate_redis_url(raw.redis_url, env, &mut |p, m| problems.push(p, m));
    let governance = super::governance::validate_governance(
        super::governance::RawGovernance {
            admin_keys: raw.admin_keys,
            redis_url: None,
            model_aliases: raw.model_aliases,
            pricing: raw.pricing,
            virtual_keys: raw.virtual_keys,
            budgets: raw.budgets,
            reserve_output_tokens: raw.reserve_output_tokens,
        },
        env,
        &mut |p, m| problems.push(p, m),
    );
    let mut governance = governance;
    governance.redis_url = redis_url.clone();

    let mut names: Vec<String> = Vec::new();
    let backends = match raw.backends {
        None => {
            problems.push(
                "backends",
                "missing — add a \"backends\" list with at least one backend, e.g. \
                 [{\"name\": \"mock\", \"protocol\": \"mock\", \"model\": \"mock-model\", \
                 \"match_rules\": {\"default\": true}}]",
            );
            Vec::new()
        }
        Some(list) if list.is_empty() => {
            problems.push(
                "backends",
                "is empty — add at least one backend, e.g. {\"name\": \"mock\", \"protocol\": \
                 \"mock\", \"model\": \"mock-model\", \"match_rules\": {\"default\": true}}",
            );
            Vec::new()
        }
        Some(list) => {
            names = list
                .iter()
                .map(|b| b.name.clone().unwrap_or_default())
                .collect();
            let cross = cross_backend_problems(&list);
            let backends: Vec<Backend> = list
                .into_iter()
                .enumerate()
                .filter_map(|(i, b)| validate_backend(i, b, env, &mut problems))
                .collect();
            problems.0.extend(cross.0);
            backends
        }
    };

    let model_groups =
        super::groups::validate_model_groups(raw.model_groups, &names, &mut |p, m| {
            problems.push(p, m)
        });

    if !problems.0.is_empty() {
        return Err(ConfigErrors(problems.0));
    }
    Ok(Config {
        model_groups,
        listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8280))),
        log_dir: PathBuf::from(log_dir),
        log_body: raw.log_body.unwrap_or(false),
        backends,
        telemetry,
        metrics_listen,
        client_keys,
        allow_unauthenticated: raw.allow_unauthenticated.unwrap_or(false),
        max_body_bytes,
        strict_models: raw.strict_models.unwrap_or(false),
        storage,
        governance,
        cache,
        redis_url,
        shutdown_grace: Duration::from_secs(
            raw.shutdown_grace_secs
                .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS),
        ),
    })
}

fn validate_listen(listen: Option<&str>, problems: &mut Problems) -> Option<SocketAddr> {
    let text = listen.unwrap_or(DEFAULT_LISTEN);
    match text.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push(
                "listen",
                format!(
                    "{text:?} is not an IP address with a port — use e.g. \"127.0.0.1:8280\" \
                     (this machine only) or \"0.0.0.0:8280\" (all interfaces)"
                ),
            );
            None
        }
    }
}

fn validate_max_body(value: Option<u64>, problems: &mut Problems) -> usize {
    let bytes = value.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if bytes == 0 {
        problems.push(
            "max_body_bytes",
            "must be greater than 0 — remove it to use the default (67108864 = 64 MiB)",
        );
    }
    match usize::try_from(bytes) {
        Ok(n) => n,
        Err(_) => {
            problems.push(
                "max_body_bytes",
                format!(
                    "{bytes} does not fit this platform — use at most {}",
                    usize::MAX
                ),
            );
            0
        }
    }
}

fn validate_client_keys(
    raw: Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Vec<Secret> {
    let mut keys = Vec::new();
    for (i, text) in raw.iter().enumerate() {
        let path = format!("client_keys[{i}]");
        if text.trim().is_empty() {
            problems.push(path, "is empty — remove it or put a client key here");
            continue;
        }
        match expand_env_refs(text, env) {
            // `${VAR:-}` resolving to nothing means "no such key", not an error.
            Ok(Expanded { value, .. }) if value.trim().is_empty() => {}
            Ok(Expanded { value, .. }) => keys.push(Secret::new(value.trim())),
            Err(err) => problems.push(path, env_error_message(&err, "client keys")),
        }
    }
    keys
}

fn validate_backend(
    i: usize,
    raw: RawBackend,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Option<Backend> {
    let at = |field: &str| format!("backends[{i}].{field}");
    let start = problems.0.len();

    let name = raw.name.clone().unwrap_or_default();
    if name.is_empty() {
        problems.push(
            at("name"),
            "missing — add a unique \"name\" such as \"deepseek\" (letters, digits, '_' and '-')",
        );
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        problems.push(
            at("name"),
            format!(
                "{name:?} may only contain ASCII letters, digits, '_' and '-' — rename it, \
                 e.g. {:?}",
                suggest_name(&name)
            ),
        );
    }
    // How messages refer to this backend, even when its name is missing.
    let label = if name.is_empty() {
        format!("backends[{i}]")
    } else {
        format!("backend {name:?}")
    };

    let mut kind_problems = FieldProblems::new();
    let protocol = parse_protocol(raw.protocol.as_deref(), &mut kind_problems);

    let url = match raw.url.clone() {
        Some(url) => match check_http_url(&url, true) {
            Ok(()) => Some(url.trim_end_matches('/').to_owned()),
            Err(why) => {
                problems.push(
                    at("url"),
                    format!(
                        "{url:?} {why} — use the provider's base URL, e.g. \
                         \"https://api.deepseek.com/v1\""
                    ),
                );
                None
            }
        },
        None => protocol.and_then(kinds::default_url).map(str::to_owned),
    };
    let kind = protocol
        .and_then(|p| kinds::validate_kind(p, &raw, url.as_deref(), env, &mut kind_problems));
    for (field, message) in kind_problems {
        problems.push(at(&field), message);
    }

    let (api_key, key_missing, api_key_env) = match raw.api_key {
        None => (None, false, Vec::new()),
        Some(text) => match expand_env_refs(&text, env) {
            Ok(Expanded { value, vars }) => {
                let value = value.trim();
                if value.is_empty() {
                    // An explicitly empty key means "no Authorization header" (local servers);
                    // a reference that resolved to nothing means the key is missing.
                    (None, !vars.is_empty(), vars)
                } else {
                    (Some(Secret::new(value)), false, vars)
                }
            }
            Err(err) => {
                problems.push(at("api_key"), env_error_message(&err, &label));
                (None, false, Vec::new())
            }
        },
    };

    let model = raw.model.unwrap_or_default();
    if model.trim().is_empty() {
        problems.push(
            at("model"),
            "missing — add the upstream model name to use by default, e.g. \"deepseek-chat\"",
        );
    }
    let models = raw.models.unwrap_or_default();
    for (j, m) in models.iter().enumerate() {
        if m.trim().is_empty() {
            problems.push(
                at(&format!("models[{j}]")),
                "is empty — remove it or write a model name",
            );
        }
    }

    let match_rules = validate_match_rules(i, raw.match_rules.unwrap_or_default(), problems);

    let timeout = |field: &str, value: Option<u64>, default: u64, problems: &mut Problems| {
        let secs = value.unwrap_or(default);
        if secs == 0 {
            problems.push(
                at(field),
                format!("must be at least 1 second — remove it to use the default ({default})"),
            );
        }
        Duration::from_secs(secs)
    };
    let connect_timeout = timeout(
        "connect_timeout_secs",
        raw.connect_timeout_secs,
        DEFAULT_CONNECT_TIMEOUT_SECS,
        problems,
    );
    let first_byte_timeout = timeout(
        "first_byte_timeout_secs",
        raw.first_byte_timeout_secs,
        DEFAULT_FIRST_BYTE_TIMEOUT_SECS,
        problems,
    );
    let idle_timeout = timeout(
        "idle_timeout_secs",
        raw.idle_timeout_secs,
        DEFAULT_IDLE_TIMEOUT_SECS,
        problems,
    );
    let total_timeout = timeout(
        "total_timeout_secs",
        raw.total_timeout_secs,
        DEFAULT_TOTAL_TIMEOUT_SECS,
        problems,
    );
    if first_byte_timeout > total_timeout {
        problems.push(
            at("first_byte_timeout_secs"),
            format!(
                "({}) exceeds total_timeout_secs ({}) — lower it or raise total_timeout_secs",
                first_byte_timeout.as_secs(),
                total_timeout.as_secs()
            ),
        );
    }
    let max_retries = raw.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
    if max_retries > MAX_RETRIES_LIMIT {
        problems.push(
            at("max_retries"),
            format!("{max_retries} is too many — use at most {MAX_RETRIES_LIMIT}"),
        );
    }
    let keepalive_secs = raw
        .keepalive_interval_secs
        .unwrap_or(DEFAULT_KEEPALIVE_SECS);
    let keepalive_interval = (keepalive_secs > 0).then(|| Duration::from_secs(keepalive_secs));
    let pool_max_idle = raw.pool_max_idle.unwrap_or(DEFAULT_POOL_MAX_IDLE);
    if pool_max_idle > POOL_MAX_IDLE_LIMIT {
        problems.push(
            at("pool_max_idle"),
            format!("{pool_max_idle} is too many — use at most {POOL_MAX_IDLE_LIMIT}"),
        );
    }
    let pool_idle_timeout = timeout(
        "pool_idle_timeout_secs",
        raw.pool_idle_timeout_secs,
        DEFAULT_POOL_IDLE_TIMEOUT_SECS,
        problems,
    );
    for (field, value) in [
        ("context_window", raw.context_window),
        ("max_output_tokens", raw.max_output_tokens),
    ] {
        if value == Some(0) {
            problems.push(
                at(field),
                "must be greater than 0 — remove it to leave it unset",
            );
        }
    }

    let quirks = raw.quirks.unwrap_or_default();
    let profile = match ccp_providers::profile::resolve_backend(
        raw.provider.as_deref(),
        &name,
        url.as_deref(),
        &quirks,
    ) {
        Ok(profile) => Some(profile),
        Err(found) => {
            for (path, message) in found {
                problems.push(at(&path), message);
            }
            None
        }
    };

    let protocol = protocol?;
    let kind = kind?;
    let profile = profile?;
    if problems.0.len() > start {
        return None;
    }
    Some(Backend {
        name,
        protocol,
        kind,
        url,
        api_key,
        key_missing,
        api_key_env,
        model,
        models,
        provider: raw.provider,
        quirks,
        profile,
        match_rules,
        connect_timeout,
        first_byte_timeout,
        idle_timeout,
        total_timeout,
        max_retries,
        keepalive_interval,
        pool_max_idle,
        pool_idle_timeout,
        context_window: raw.context_window,
        max_output_tokens: raw.max_output_tokens,
    })
}

fn validate_match_rules(i: usize, raw: RawMatchRules, problems: &mut Problems) -> MatchRules {
    let at = |field: &str| format!("backends[{i}].match_rules.{field}");
    if let Some(prefix) = &raw.path_prefix {
        if let Err(why) = check_path_prefix(prefix) {
            problems.push(at("path_prefix"), format!("{prefix:?} {why}"));
        }
    }
    let models = raw.models.unwrap_or_default();
    for (j, pattern) in models.iter().enumerate() {
        if pattern.trim().is_empty() {
            problems.push(
                at(&format!("models[{j}]")),
                "is empty — remove it or write a model name or glob such as \"kimi-*\"",
            );
        }
    }
    let header = raw
        .header
        .and_then(|h| validate_header_rule(&at("header"), h, problems));
    MatchRules {
        path_prefix: raw.path_prefix,
        models,
        header,
        default: raw.default.unwrap_or(false),
    }
}

fn validate_header_rule(
    path: &str,
    raw: RawHeaderRule,
    problems: &mut Problems,
) -> Option<HeaderRule> {
    let name = raw.name.clone().unwrap_or_default();
    let mut ok = true;
    if name.is_empty() {
        problems.push(
            format!("{path}.name"),
            "missing — add the header to match on, e.g. \"x-ccp-backend\"",
        );
        ok = false;
    } else if !name.bytes().all(is_header_name_byte) {
        problems.push(
            format!("{path}.name"),
            format!(
                "{name:?} is not a valid HTTP header name — use letters, digits and '-', \
                 e.g. \"x-ccp-backend\""
            ),
        );
        ok = false;
    }
    let Some(value) = raw.value else {
        problems.push(
            format!("{path}.value"),
            "missing — add the exact header value that selects this backend",
        );
        return None;
    };
    ok.then(|| HeaderRule {
        name: name.to_ascii_lowercase(),
        value,
    })
}

fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks a `path_prefix`; the error completes a sentence that starts with the quoted prefix.
fn check_path_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') {
        return Err(format!(
            "must start with '/' — write \"/{}\"",
            prefix.trim_end_matches('/')
        ));
    }
    if prefix == "/" {
        return Err(
            "matches every path — remove path_prefix and use \"default\": true instead".to_owned(),
        );
    }
    if prefix.ends_with('/') {
        return Err(format!(
            "must not end with '/' — write {:?}",
            prefix.trim_end_matches('/')
        ));
    }
    let segments: Vec<&str> = prefix[1..].split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("contains an empty segment ('//') — remove the extra '/'".to_owned());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.~".contains(c);
    if segments.iter().any(|s| !s.chars().all(allowed)) {
        return Err(
            "may only contain letters, digits, '-', '_', '.', '~' and '/' — e.g. \"/kimi\""
                .to_owned(),
        );
    }
    let first = segments.first().copied().unwrap_or_default();
    if RESERVED_PREFIX_SEGMENTS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(first))
    {
        return Err(format!(
            "starts with the reserved segment {first:?} (the proxy's own routes use /v1, \
             /responses, /health, /models, /chat, /metrics, /admin) — pick another prefix, \
             e.g. \"/my-backend\""
        ));
    }
    Ok(())
}

/// Checks an http(s) URL; the error completes a sentence that starts with the quoted URL.
pub(crate) fn check_http_url(text: &str, forbid_query: bool) -> Result<(), String> {
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        return Err("must start with http:// or https://".to_owned());
    }
    let url = reqwest::Url::parse(text).map_err(|e| format!("is not a valid URL ({e})"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".to_owned());
    }
    if forbid_query && (url.query().is_some() || url.fragment().is_some()) {
        return Err(
            "must not contain a query string or fragment (remove the '?…' or '#…' part)".to_owned(),
        );
    }
    Ok(())
}

fn env_error_message(err: &EnvError, owner: &str) -> String {
    match err {
        EnvError::Unset(var) => format!(
            "environment variable {var} is not set ({owner}) — export it or put the key in the config"
        ),
        EnvError::Unterminated => format!(
            "has \"${{\" without a closing '}}' ({owner}) — write ${{NAME}} or ${{NAME:-default}}"
        ),
        EnvError::BadName(name) => format!(
            "\"${{{name}}}\" is not a valid variable reference ({owner}) — write ${{NAME}} or \
             ${{NAME:-default}} with NAME made of letters, digits and '_'"
        ),
    }
}

fn suggest_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    cleaned
}

/// Rules that span backends: unique names, unique path prefixes, exactly one default. Runs
/// on the raw list so a backend with its own problems still takes part.
fn cross_backend_problems(backends: &[RawBackend]) -> Problems {
    let mut problems = Problems::default();
    let mut seen_names: Vec<(&str, usize)> = Vec::new();
    let mut seen_prefixes: Vec<(&str, usize)> = Vec::new();
    for (i, b) in backends.iter().enumerate() {
        if let Some(name) = b.name.as_deref().filter(|n| !n.is_empty()) {
            match seen_names.iter().find(|(n, _)| *n == name) {
                Some((_, first)) => problems.push(
                    format!("backends[{i}].name"),
                    format!(
                        "{name:?} is already the name of backends[{first}] — give every \
                         backend a unique name"
                    ),
                ),
                None => seen_names.push((name, i)),
            }
        }
        let prefix = b
            .match_rules
            .as_ref()
            .and_then(|r| r.path_prefix.as_deref());
        if let Some(prefix) = prefix {
            match seen_prefixes.iter().find(|(p, _)| *p == prefix) {
                Some((_, first)) => problems.push(
                    format!("backends[{i}].match_rules.path_prefix"),
                    format!(
                        "{prefix:?} is already the path_prefix of {} — give each backend a \
                         distinct prefix",
                        describe(backends, *first)
                    ),
                ),
                None => seen_prefixes.push((prefix, i)),
            }
        }
    }

    let defaults: Vec<usize> = backends
        .iter()
        .enumerate()
        .filter(|(_, b)| b.match_rules.as_ref().and_then(|r| r.default) == Some(true))
        .map(|(i, _)| i)
        .collect();
    match defaults.len() {
        0 => problems.push(
            "backends",
            "no backend is the default — add \"match_rules\": {\"default\": true} to the \
             backend that should receive requests no other rule matches",
        ),
        1 => {}
        _ => {
            let named: Vec<String> = defaults.iter().map(|&i| describe(backends, i)).collect();
            problems.push(
                "backends",
                format!(
                    "{} backends are marked \"default\": true ({}) — keep it on exactly one \
                     and remove it from the others",
                    defaults.len(),
                    named.join(", ")
                ),
            );
        }
    }
    problems
}

/// `backend "kimi" at backends[1]`, or just `backends[1]` when it has no name.
fn describe(backends: &[RawBackend], i: usize) -> String {
    match backends.get(i).and_then(|b| b.name.as_deref()) {
        Some(name) if !name.is_empty() => format!("backend {name:?} at backends[{i}]"),
        _ => format!("backends[{i}]"),
    }
}

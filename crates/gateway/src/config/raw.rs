//! Step 1 of config loading: the JSON file as written, in serde structs that reject unknown
//! fields, parsed through `serde_path_to_error` so a type error quotes its JSON path.
//!
//! Invariants: nothing here checks meaning (that is `validate`'s job, which reports every
//! problem at once); fields whose absence or shape `validate` can explain better (names, urls,
//! protocol, listen address) stay `Option<String>` here rather than failing at the first one.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ConfigErrors, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub listen: Option<String>,
    pub log_dir: Option<String>,
    pub log_body: Option<bool>,
    pub backends: Option<Vec<RawBackend>>,
    pub telemetry: Option<RawTelemetry>,
    pub client_keys: Option<Vec<String>>,
    pub allow_unauthenticated: Option<bool>,
    pub max_body_bytes: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
    pub strict_models: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelemetry {
    pub enabled: Option<bool>,
    pub service_name: Option<String>,
    pub otlp_endpoint: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackend {
    pub name: Option<String>,
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub model: Option<String>,
    pub models: Option<Vec<String>>,
    pub protocol: Option<String>,
    pub provider: Option<String>,
    pub quirks: Option<Map<String, Value>>,
    pub match_rules: Option<RawMatchRules>,
    pub connect_timeout_secs: Option<u64>,
    pub first_byte_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub total_timeout_secs: Option<u64>,
    pub max_retries: Option<u32>,
    pub keepalive_interval_secs: Option<u64>,
    pub pool_max_idle: Option<usize>,
    pub pool_idle_timeout_secs: Option<u64>,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// `responses` (Azure): the `api-version` query parameter.
    pub api_version: Option<String>,
    /// `responses`: the header that carries the key (`authorization` Bearer, `api-key`,
    /// `x-api-key`).
    pub auth_header: Option<String>,
    /// `codex`: the Codex `auth.json` holding the ChatGPT login.
    pub auth_file: Option<String>,
    /// `codex`: the OAuth token endpoint used to refresh the login.
    pub token_url: Option<String>,
}

// The raw api_key may be a literal key, so Debug must not print it.
impl std::fmt::Debug for RawBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBackend")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("model", &self.model)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatchRules {
    pub path_prefix: Option<String>,
    pub models: Option<Vec<String>>,
    pub header: Option<RawHeaderRule>,
    pub default: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeaderRule {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// Parses the file text into raw structs; a failure is a single problem with its JSON path.
pub(crate) fn parse_raw(text: &str) -> Result<RawConfig, ConfigErrors> {
    let mut de = serde_json::Deserializer::from_str(text);
    let raw = serde_path_to_error::deserialize::<_, RawConfig>(&mut de).map_err(|err| {
        ConfigErrors(vec![problem_from_json_error(
            json_path(err.path()),
            err.inner(),
        )])
    })?;
    // Trailing text after the top-level object is a syntax error, reported at the root.
    de.end()
        .map_err(|err| ConfigErrors(vec![problem_from_json_error(String::new(), &err)]))?;
    Ok(raw)
}

fn problem_from_json_error(path: String, inner: &serde_json::Error) -> ConfigProblem {
    let text = inner.to_string();
    let fix = match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            "fix the JSON syntax at that position (a trailing comma or a missing quote is the usual cause)"
        }
        serde_json::error::Category::Io => "check that the file is readable",
        serde_json::error::Category::Data if text.starts_with("unknown field") => {
            "remove it or correct its spelling to one of the listed fields"
        }
        serde_json::error::Category::Data if text.starts_with("invalid type") => {
            "change the value to the expected type (see config.example.json)"
        }
        serde_json::error::Category::Data if text.starts_with("invalid value") => {
            "change the value to one in the expected range"
        }
        serde_json::error::Category::Data => "correct the value (see config.example.json)",
    };
    ConfigProblem::new(path, format!("{text} — {fix}"))
}

/// Formats a path the way `validate` does (`backends[1].url`, `""` for the root), dropping
/// the unknown segments a syntax error leaves where a key failed to parse.
fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

//! One validator per backend kind (`protocol`): each checks the fields only it uses, the shape
//! of its `url`, and refuses the fields of other kinds, naming the kind they belong to.
//!
//! Invariants: a kind that calls an upstream (chat, responses, codex, anthropic) always ends with a
//! validated base URL; a URL that can never work for the kind (a Chat endpoint on a Responses
//! backend and the reverse, `/v1/v1`, a doubled endpoint suffix) is refused at load with the URL
//! to write instead, so the proxy never calls `…/chat/completions/responses/chat/completions`.

use std::path::PathBuf;

use super::env::{expand_env_refs, Expanded};
use super::raw::RawBackend;
use super::{
    AuthHeader, BackendKind, Protocol, ANTHROPIC_DEFAULT_URL, ANTHROPIC_DEFAULT_VERSION,
    CODEX_DEFAULT_URL,
};

/// The `protocol` values, as a sentence fragment for messages.
pub(crate) const VALID_PROTOCOLS: &str =
    "\"openai\" (or its clearer name \"chat\"), \"responses\", \"codex\", \"anthropic\" or \"mock\"";

/// Collects `(field, message)` problems for one backend; the caller adds the path.
pub(crate) type FieldProblems = Vec<(String, String)>;

/// The protocol a backend asks for; `None` (and a problem) for an unknown one.
pub(crate) fn parse_protocol(raw: Option<&str>, problems: &mut FieldProblems) -> Option<Protocol> {
    match raw {
        None | Some("openai") | Some("chat") => Some(Protocol::Chat),
        Some("responses") => Some(Protocol::Responses),
        Some("codex") => Some(Protocol::Codex),
        Some("anthropic") => Some(Protocol::Anthropic),
        Some("mock") => Some(Protocol::Mock),
        Some(other) => {
            problems.push((
                "protocol".into(),
                format!("unknown protocol {other:?} — use one of {VALID_PROTOCOLS}"),
            ));
            None
        }
    }
}

/// Validates the kind-specific fields of a backend whose protocol is known. `url` is the
/// already syntax-checked base URL (trailing '/' removed), if any.
pub(crate) fn validate_kind(
    protocol: Protocol,
    raw: &RawBackend,
    url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut FieldProblems,
) -> Option<BackendKind> {
    refuse_foreign_fields(protocol, raw, problems);
    match protocol {
        Protocol::Chat => validate_chat(raw, url, problems),
        Protocol::Responses => validate_responses(raw, url, problems),
        Protocol::Codex => validate_codex(raw, url, env, problems),
        Protocol::Anthropic => validate_anthropic(raw, url, problems),
        Protocol::Mock => Some(BackendKind::Mock),
    }
}

/// The URL a backend of this kind uses when the config gives none.
pub(crate) fn default_url(protocol: Protocol) -> Option<&'static str> {
    match protocol {
        Protocol::Codex => Some(CODEX_DEFAULT_URL),
        Protocol::Anthropic => Some(ANTHROPIC_DEFAULT_URL),
        Protocol::Chat | Protocol::Responses | Protocol::Mock => None,
    }
}

fn validate_chat(
    raw: &RawBackend,
    url: Option<&str>,
    problems: &mut FieldProblems,
) -> Option<BackendKind> {
    let Some(url) = url else {
        if raw.url.is_some() {
            return None; // invalid, already reported
        }
        problems.push((
            "url".into(),
            "missing — add the provider's base URL, e.g. \"https://api.deepseek.com/v1\" \
             (the proxy appends /chat/completions)"
                .into(),
        ));
        return None;
    };
    let path = url_path(url);
    if let Some(base) = path
        .strip_suffix("/chat/completions/responses")
        .or_else(|| path.strip_suffix("/responses"))
    {
        problems.push((
            "url".into(),
            format!(
                "{url:?} ends in /responses, a Responses API endpoint, but protocol \"openai\" \
                 (chat) calls {{url}}/chat/completions — use the base URL {:?}, or set \
                 \"protocol\": \"responses\" if the upstream serves the Responses API",
                with_path(url, base)
            ),
        ));
        return None;
    }
    check_doubled_v1(url, problems)?;
    Some(BackendKind::Chat)
}

fn validate_responses(
    raw: &RawBackend,
    url: Option<&str>,
    problems: &mut FieldProblems,
) -> Option<BackendKind> {
    let start = problems.len();
    match url {
        None if raw.url.is_some() => {} // invalid, already reported
        None => problems.push((
            "url".into(),
            "missing — add the Responses API base URL, e.g. \"https://api.openai.com/v1\" (the \
             proxy appends /responses)"
                .into(),
        )),
        Some(url) => {
            let path = url_path(url);
            if let Some(base) = path.strip_suffix("/chat/completions") {
                problems.push((
                    "url".into(),
                    format!(
                        "{url:?} is a Chat Completions endpoint, but protocol \"responses\" \
                         calls {{url}}/responses — use the base URL {:?}, or set \"protocol\": \
                         \"chat\" if the upstream only serves Chat Completions",
                        with_path(url, base)
                    ),
                ));
            } else if path.ends_with("/responses/responses") {
                problems.push((
                    "url".into(),
                    format!(
                        "{url:?} repeats /responses — write it once (or leave it out: the \
                         proxy appends /responses)"
                    ),
                ));
            }
            let _ = check_doubled_v1(url, problems);
        }
    }
    let api_version = match raw.api_version.as_deref().map(str::trim) {
        Some("") => {
            problems.push((
                "api_version".into(),
                "is empty — set the Azure api-version, e.g. \"2025-04-01-preview\", or remove it"
                    .into(),
            ));
            None
        }
        Some(v)
            if !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
        {
            problems.push((
                "api_version".into(),
                format!("{v:?} is not an api-version — use a value like \"2025-04-01-preview\""),
            ));
            None
        }
        other => other.map(str::to_owned),
    };
    let auth_header = match raw.auth_header.as_deref() {
        None => AuthHeader::Bearer,
        Some(h) if h.eq_ignore_ascii_case("authorization") || h.eq_ignore_ascii_case("bearer") => {
            AuthHeader::Bearer
        }
        Some(h) if h.eq_ignore_ascii_case("api-key") => AuthHeader::ApiKey,
        Some(h) if h.eq_ignore_ascii_case("x-api-key") => AuthHeader::XApiKey,
        Some(other) => {
            problems.push((
                "auth_header".into(),
                format!(
                    "{other:?} is not supported — use \"api-key\" (Azure OpenAI), \"x-api-key\" \
                     or \"authorization\" (Bearer, the default)"
                ),
            ));
            AuthHeader::Bearer
        }
    };
    (problems.len() == start).then_some(BackendKind::Responses {
        api_version,
        auth_header,
    })
}

fn validate_codex(
    raw: &RawBackend,
    url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut FieldProblems,
) -> Option<BackendKind> {
    let start = problems.len();
    if raw.api_key.is_some() {
        problems.push((
            "api_key".into(),
            "is not used by protocol \"codex\", which signs in with your ChatGPT login from \
             auth_file — remove it (run `codex login` to create the login)"
                .into(),
        ));
    }
    if let Some(url) = url {
        if url_path(url).ends_with("/chat/completions") {
            problems.push((
                "url".into(),
                format!(
                    "{url:?} is a Chat Completions endpoint; the ChatGPT Codex backend speaks the \
                     Responses API — remove \"url\" to use {CODEX_DEFAULT_URL:?}"
                ),
            ));
        }
    }
    let auth_file = match raw.auth_file.as_deref() {
        None => crate::codex_auth::default_auth_file(env),
        Some(text) => match expand_env_refs(text, env) {
            Ok(Expanded { value, .. }) if !value.trim().is_empty() => PathBuf::from(value.trim()),
            Ok(_) => {
                problems.push((
                    "auth_file".into(),
                    "is empty — set the path of Codex's auth.json, or remove it to use \
                     $CODEX_HOME/auth.json (~/.codex/auth.json)"
                        .into(),
                ));
                PathBuf::new()
            }
            Err(_) => {
                problems.push((
                    "auth_file".into(),
                    "has an unset or malformed ${VAR} reference — export the variable or write \
                     the path"
                        .into(),
                ));
                PathBuf::new()
            }
        },
    };
    let token_url = raw
        .token_url
        .clone()
        .unwrap_or_else(|| crate::codex_auth::DEFAULT_TOKEN_URL.to_owned());
    if let Err(why) = super::validate::check_http_url(&token_url, false) {
        problems.push((
            "token_url".into(),
            format!(
                "{token_url:?} {why} — remove it to use {:?}",
                crate::codex_auth::DEFAULT_TOKEN_URL
            ),
        ));
    }
    (problems.len() == start).then_some(BackendKind::Codex {
        auth_file,
        token_url,
    })
}

fn validate_anthropic(
    raw: &RawBackend,
    url: Option<&str>,
    problems: &mut FieldProblems,
) -> Option<BackendKind> {
    let start = problems.len();
    if let Some(url) = url {
        let path = url_path(url);
        if path.ends_with("/chat/completions") || path.ends_with("/responses") {
            problems.push((
                "url".into(),
                format!(
                    "{url:?} is an OpenAI-style endpoint, but protocol \"anthropic\" calls \
                     {{url}}/v1/messages — use the Messages base URL (e.g. \
                     {ANTHROPIC_DEFAULT_URL:?}), or set \"protocol\": \"chat\""
                ),
            ));
        }
        let _ = check_doubled_v1(url, problems);
    }
    let anthropic_version = match raw.anthropic_version.as_deref().map(str::trim) {
        None => ANTHROPIC_DEFAULT_VERSION.to_owned(),
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            v.to_owned()
        }
        Some(v) => {
            problems.push((
                "anthropic_version".into(),
                format!(
                    "{v:?} is not an anthropic-version — use a date like \
                     {ANTHROPIC_DEFAULT_VERSION:?}, or remove it"
                ),
            ));
            String::new()
        }
    };
    if raw.max_tokens == Some(0) {
        problems.push((
            "max_tokens".into(),
            "must be at least 1 — set the model's output limit (e.g. 8192), or remove it to use \
             the model's default"
                .into(),
        ));
    }
    (problems.len() == start).then_some(BackendKind::Anthropic {
        anthropic_version,
        prompt_cache: raw.prompt_cache.unwrap_or(true),
        max_tokens: raw.max_tokens,
    })
}

/// Fields of one kind set on a backend of another.
fn refuse_foreign_fields(protocol: Protocol, raw: &RawBackend, problems: &mut FieldProblems) {
    let fields: [(&str, bool, Protocol); 7] = [
        (
            "api_version",
            raw.api_version.is_some(),
            Protocol::Responses,
        ),
        (
            "auth_header",
            raw.auth_header.is_some(),
            Protocol::Responses,
        ),
        ("auth_file", raw.auth_file.is_some(), Protocol::Codex),
        ("token_url", raw.token_url.is_some(), Protocol::Codex),
        (
            "anthropic_version",
            raw.anthropic_version.is_some(),
            Protocol::Anthropic,
        ),
        (
            "prompt_cache",
            raw.prompt_cache.is_some(),
            Protocol::Anthropic,
        ),
        ("max_tokens", raw.max_tokens.is_some(), Protocol::Anthropic),
    ];
    for (field, set, owner) in fields {
        if set && owner != protocol {
            problems.push((
                field.into(),
                format!(
                    "only applies to protocol \"{}\", not \"{}\" — remove it or change \
                     \"protocol\"",
                    owner.as_str(),
                    protocol.as_str()
                ),
            ));
        }
    }
}

/// `https://h/v1/v1` is never right: a base URL copied with its `/v1` onto a prefix that had one.
fn check_doubled_v1(url: &str, problems: &mut FieldProblems) -> Option<()> {
    let path = url_path(url);
    if path.contains("/v1/v1") {
        let fixed = path.replacen("/v1/v1", "/v1", 1);
        problems.push((
            "url".into(),
            format!("{url:?} has /v1 twice — use {:?}", with_path(url, &fixed)),
        ));
        return None;
    }
    Some(())
}

/// The path part of a validated `http(s)://host[:port]/path` URL.
fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme.find('/').map_or("", |i| &after_scheme[i..])
}

/// `url` with its path replaced.
fn with_path(url: &str, path: &str) -> String {
    let path_len = url_path(url).len();
    format!("{}{path}", &url[..url.len() - path_len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_path_and_with_path() {
        assert_eq!(url_path("https://h:1/a/b"), "/a/b");
        assert_eq!(url_path("https://h"), "");
        assert_eq!(with_path("https://h/v1/v1", "/v1"), "https://h/v1");
    }
}

//! The OAuth refresh call to `auth.openai.com/oauth/token` (or an override) and the
//! classification of its answer into success, a permanent refusal (only a new `codex login`
//! helps) or a transient failure (try again later).
//!
//! Invariants: the client follows no redirects (a redirect would carry the refresh token to
//! another URL) and has connect and total timeouts; failure reasons name the HTTP status and
//! the endpoint's error code, never a token or the raw body.

use std::time::Duration;

use serde_json::{json, Value};

/// Codex CLI's OAuth client id.
pub(super) const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The tokens a successful refresh returned; each is optional and replaces only its own field.
#[derive(Default)]
pub(super) struct TokenUpdate {
    pub(super) id_token: Option<String>,
    pub(super) access_token: Option<String>,
    pub(super) refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenUpdate([redacted])")
    }
}

/// Why a refresh did not produce tokens. The text completes "the refresh token …" for
/// `Permanent`, and stands alone for `Transient`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RefreshFailure {
    /// The endpoint refused this refresh token for good.
    Permanent(String),
    /// A network error, a timeout, a 5xx or an unexpected answer.
    Transient(String),
}

/// The client for refresh calls.
pub(super) fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| error_chain(&e))
}

/// POSTs the refresh grant for `refresh_token` to `url`.
pub(super) async fn request(
    client: &reqwest::Client,
    url: &str,
    refresh_token: &str,
) -> Result<TokenUpdate, RefreshFailure> {
    let body = json!({
        "client_id": CLIENT_ID,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "scope": "openid profile email",
    });
    let unreachable =
        |e: reqwest::Error| RefreshFailure::Transient(format!("{url}: {}", error_chain(&e)));
    let response = client
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&body)
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(unreachable)?;
    if status == 200 {
        parse_success(&bytes)
    } else {
        Err(classify(status, &bytes))
    }
}

fn parse_success(body: &[u8]) -> Result<TokenUpdate, RefreshFailure> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(RefreshFailure::Transient(
            "the token endpoint answered 200 without a JSON object".into(),
        ));
    };
    let take = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ok(TokenUpdate {
        id_token: take("id_token"),
        access_token: take("access_token"),
        refresh_token: take("refresh_token"),
    })
}

/// Classifies a non-200 answer of the token endpoint (upstreams.md §1.4).
pub(super) fn classify(status: u16, body: &[u8]) -> RefreshFailure {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let code = parsed.as_ref().and_then(error_code);
    let shown = code.map(|c| format!(" {c}")).unwrap_or_default();
    match code {
        Some("refresh_token_expired") => RefreshFailure::Permanent("has expired".into()),
        Some("refresh_token_reused") => RefreshFailure::Permanent(
            "was already used (refresh tokens rotate: another program, such as your own Codex \
             CLI, refreshed with it first)"
                .into(),
        ),
        Some("refresh_token_invalidated") => RefreshFailure::Permanent("was revoked".into()),
        _ if status == 401 => {
            RefreshFailure::Permanent(format!("was refused by the token endpoint (401{shown})"))
        }
        Some("invalid_grant") if status == 400 => RefreshFailure::Permanent(
            "was refused by the token endpoint (400 invalid_grant)".into(),
        ),
        _ => RefreshFailure::Transient(format!("the token endpoint answered {status}{shown}")),
    }
}

/// The error code in `error.code`, `error` (a string) or a top-level `code`, if it looks like a
/// code (short, `[A-Za-z0-9_.-]`), so that nothing else from the body reaches a message.
fn error_code(body: &Value) -> Option<&str> {
    let error = body.get("error");
    let code = error
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .or_else(|| error.and_then(Value::as_str))
        .or_else(|| body.get("code").and_then(Value::as_str))?;
    let looks_like_code = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    looks_like_code.then_some(code)
}

/// `e` and its sources joined with ": ", skipping repeats.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permanent(status: u16, body: &str) -> bool {
        matches!(
            classify(status, body.as_bytes()),
            RefreshFailure::Permanent(_)
        )
    }

    #[test]
    fn rotation_codes_are_permanent_wherever_the_code_sits() {
        for code in [
            "refresh_token_expired",
            "refresh_token_reused",
            "refresh_token_invalidated",
        ] {
            for body in [
                format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#),
                format!(r#"{{"error":"{code}"}}"#),
                format!(r#"{{"code":"{code}"}}"#),
            ] {
                assert!(permanent(400, &body), "{body}");
                assert!(permanent(403, &body), "{body}");
            }
        }
    }

    #[test]
    fn invalid_grant_and_any_401_are_permanent() {
        assert!(permanent(400, r#"{"error":"invalid_grant"}"#));
        assert!(permanent(401, "not json"));
        assert!(permanent(401, r#"{"error":{"code":"whatever"}}"#));
    }

    #[test]
    fn everything_else_is_transient() {
        assert!(!permanent(500, r#"{"error":"invalid_grant"}"#));
        assert!(!permanent(400, r#"{"error":"invalid_request"}"#));
        assert!(!permanent(502, "<html>bad gateway</html>"));
        assert!(!permanent(302, ""));
        assert_eq!(
            classify(503, br#"{"error":{"code":"overloaded"}}"#),
            RefreshFailure::Transient("the token endpoint answered 503 overloaded".into())
        );
    }

    #[test]
    fn reasons_quote_only_code_shaped_values() {
        let body = r#"{"error":{"code":"rt_SECRET value with spaces","message":"rt_SECRET"}}"#;
        let (RefreshFailure::Permanent(reason) | RefreshFailure::Transient(reason)) =
            classify(401, body.as_bytes());
        assert!(!reason.contains("SECRET"), "{reason}");
    }

    #[test]
    fn success_takes_only_present_non_empty_tokens() {
        let update =
            parse_success(br#"{"access_token":"a2","refresh_token":"","extra":1}"#).unwrap();
        assert_eq!(update.access_token.as_deref(), Some("a2"));
        assert_eq!(update.refresh_token, None);
        assert_eq!(update.id_token, None);
        assert!(parse_success(b"[]").is_err());
    }
}

//! The few JWT claims the ChatGPT backend needs, read from the payload segment without any
//! signature check: the tokens come from our own credential file, and the backend (not us)
//! decides whether they are valid. We only read `exp` (to refresh before expiry) and the
//! account claims under `https://api.openai.com/auth` (to send `ChatGPT-Account-ID` and
//! `X-OpenAI-Fedramp`).
//!
//! Invariant: decoding never fails loudly. A token that is not a JWT, or whose payload is not a
//! JSON object, simply has no claims; nothing here returns or logs the token text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

/// The claim object OpenAI puts its account data under.
const AUTH_CLAIM: &str = "https://api.openai.com/auth";

/// The payload (second dot-separated segment, base64url without padding) as a JSON object.
pub(super) fn payload(token: &str) -> Option<Map<String, Value>> {
    let segment = token.split('.').nth(1)?;
    // Some encoders pad; the no-pad engine refuses padding, so strip it.
    let bytes = URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The token's `exp` claim (seconds since the epoch) as a time.
pub(super) fn expiry(token: &str) -> Option<SystemTime> {
    let exp = payload(token)?.get("exp")?.as_f64()?;
    if !exp.is_finite() || exp < 0.0 {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::from_secs_f64(exp.min(u64::MAX as f64 / 2.0)))
}

/// `chatgpt_account_id` from the OpenAI auth claims, when present and non-empty.
pub(super) fn account_id(token: &str) -> Option<String> {
    let payload = payload(token)?;
    let id = payload
        .get(AUTH_CLAIM)?
        .get("chatgpt_account_id")?
        .as_str()?;
    (!id.is_empty()).then(|| id.to_owned())
}

/// `chatgpt_account_is_fedramp` from the OpenAI auth claims; `None` when the claim is absent.
pub(super) fn fedramp(token: &str) -> Option<bool> {
    payload(token)?
        .get(AUTH_CLAIM)?
        .get("chatgpt_account_is_fedramp")?
        .as_bool()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    /// An unsigned JWT with `claims` as its payload (test fixture; the signature is junk).
    pub(crate) fn jwt(claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{body}.c2lnbmF0dXJl")
    }

    #[test]
    fn reads_exp_and_account_claims() {
        let token = jwt(&json!({
            "exp": 1_796_385_600,
            AUTH_CLAIM: {"chatgpt_account_id": "acc-1", "chatgpt_account_is_fedramp": true}
        }));
        assert_eq!(
            expiry(&token),
            Some(UNIX_EPOCH + Duration::from_secs(1_796_385_600))
        );
        assert_eq!(account_id(&token).as_deref(), Some("acc-1"));
        assert_eq!(fedramp(&token), Some(true));
    }

    #[test]
    fn accepts_a_padded_payload() {
        let body = base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":55}"#);
        assert!(body.ends_with('='), "fixture must carry padding: {body}");
        assert_eq!(
            expiry(&format!("h.{body}.s")),
            Some(UNIX_EPOCH + Duration::from_secs(55))
        );
    }

    #[test]
    fn non_jwts_have_no_claims() {
        for token in ["opaque", "a.b.c", "a..c", "a.W10.c", ""] {
            assert_eq!(payload(token), None, "{token}");
            assert_eq!(expiry(token), None, "{token}");
            assert_eq!(account_id(token), None, "{token}");
        }
        let empty_id = jwt(&json!({AUTH_CLAIM: {"chatgpt_account_id": ""}, "exp": "soon"}));
        assert_eq!(account_id(&empty_id), None);
        assert_eq!(expiry(&empty_id), None);
        assert_eq!(fedramp(&empty_id), None);
    }
}

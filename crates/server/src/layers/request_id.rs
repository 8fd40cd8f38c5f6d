//! Request ids: every answer carries `x-request-id`. A client's own id is kept when it is sane
//! (1–128 characters of `A–Z a–z 0–9 - _ . :`), so a caller can find its request in the proxy's
//! log; anything else is replaced by a new `req_…` id rather than echoed (an id goes into log
//! lines and response headers, so it must not be able to carry arbitrary text).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The request id header, on requests and answers.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied id kept.
pub const MAX_LEN: usize = 128;

/// The request's id, in the request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The client's id if it is sane, else a new one.
    pub fn from_client(value: Option<&HeaderValue>) -> Self {
        match value.and_then(|v| v.to_str().ok()) {
            Some(id) if is_sane(id) => RequestId(id.to_owned()),
            _ => RequestId::generate(),
        }
    }

    /// A new `req_` + 24 hex digits id.
    pub fn generate() -> Self {
        let mut s = String::with_capacity(28);
        s.push_str("req_");
        for _ in 0..24 {
            s.push(char::from(b"0123456789abcdef"[fastrand::usize(0..16)]));
        }
        RequestId(s)
    }
}

/// True for an id worth keeping.
pub fn is_sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The middleware: picks the id, stores it in the request extensions, sets it on the answer.
pub async fn assign(mut req: Request, next: Next) -> Response {
    let id = RequestId::from_client(req.headers().get(&REQUEST_ID_HEADER));
    let header = HeaderValue::from_str(id.as_str()).ok();
    req.extensions_mut().insert(id);
    let mut resp = next.run(req).await;
    if let Some(v) = header {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        let kept = |s: &str| RequestId::from_client(Some(&HeaderValue::from_str(s).unwrap()));
        assert_eq!(kept("abc-123_x.y:z").as_str(), "abc-123_x.y:z");
        for bad in [
            "",
            "has space",
            "semi;colon",
            "ünï",
            &"a".repeat(MAX_LEN + 1),
        ] {
            let id = match HeaderValue::from_str(bad) {
                Ok(v) => RequestId::from_client(Some(&v)),
                Err(_) => RequestId::from_client(None),
            };
            assert!(id.as_str().starts_with("req_"), "{bad:?} → {id:?}");
            assert_eq!(id.as_str().len(), 28);
        }
        assert_eq!(kept(&"a".repeat(MAX_LEN)).as_str().len(), MAX_LEN);
        assert_ne!(RequestId::generate(), RequestId::generate());
    }
}

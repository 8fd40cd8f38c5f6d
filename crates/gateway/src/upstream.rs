//! The upstream HTTP call: one pooled rustls client per backend, bearer auth with the backend's
//! key, retries with jittered backoff for failures that happen before any byte reached the
//! client, and classification of every failure into [`UpstreamFailure`].

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};

use crate::error::UpstreamFailure;

/// Timeouts and retry policy of one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamPolicy {
    pub connect: Duration,
    pub first_byte: Duration,
    pub idle: Duration,
    pub total: Duration,
    pub max_retries: u32,
    pub keepalive_interval: Duration,
}

impl Default for UpstreamPolicy {
    fn default() -> Self {
        UpstreamPolicy {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(300),
            idle: Duration::from_secs(300),
            total: Duration::from_secs(1800),
            max_retries: 2,
            keepalive_interval: Duration::from_secs(10),
        }
    }
}

/// A client for one backend.
#[derive(Clone)]
pub struct UpstreamClient {
    client: reqwest::Client,
    url: reqwest::Url,
    auth: Option<HeaderValue>,
    pub policy: UpstreamPolicy,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("url", &self.url)
            .field("auth", &"[redacted]")
            .finish()
    }
}

/// Largest error body read from an upstream (the rest is not needed to classify it).
const MAX_ERROR_BODY: usize = 64 * 1024;

impl UpstreamClient {
    /// Builds the client. `api_key` empty means no Authorization header (local servers).
    pub fn new(url: String, api_key: &str, policy: UpstreamPolicy) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(policy.connect)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .user_agent(concat!("codex-convert-proxy/", env!("CARGO_PKG_VERSION")))
            // Never follow a redirect: it would carry the backend's key to another URL.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("could not build the HTTP client: {e}"))?;
        // Parsed once: reqwest would otherwise re-parse the URL string on every request.
        let url =
            reqwest::Url::parse(&url).map_err(|e| format!("invalid upstream url {url:?}: {e}"))?;
        let auth = if api_key.is_empty() {
            None
        } else {
            let mut v = HeaderValue::from_str(&format!("Bearer {api_key}")).map_err(|_| {
                "the api_key contains characters that cannot go in an HTTP header".to_owned()
            })?;
            v.set_sensitive(true);
            Some(v)
        };
        Ok(UpstreamClient {
            client,
            url,
            auth,
            policy,
        })
    }

    /// The chat completions URL this client posts to.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// POSTs the body, retrying retryable failures, and returns a 2xx response whose body has not
    /// been read yet.
    pub async fn send(
        &self,
        body: Bytes,
        stream: bool,
    ) -> Result<reqwest::Response, UpstreamFailure> {
        let mut attempt: u32 = 0;
        loop {
            let failure = match self.send_once(body.clone(), stream).await {
                Ok(resp) => return Ok(resp),
                Err(f) => f,
            };
            if attempt >= self.policy.max_retries || !failure.is_retryable_before_first_byte() {
                return Err(failure);
            }
            attempt += 1;
            let delay = backoff(attempt);
            tracing::warn!(url = %self.url, attempt, ?delay, failure = ?failure, "upstream failed before the first byte; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(
        &self,
        body: Bytes,
        stream: bool,
    ) -> Result<reqwest::Response, UpstreamFailure> {
        let mut req = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(
                "accept",
                if stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            )
            .body(body);
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        let resp = match tokio::time::timeout(self.policy.first_byte, req.send()).await {
            Err(_) => return Err(UpstreamFailure::Timeout("first byte")),
            Ok(Err(e)) => return Err(classify_reqwest(&e)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = read_limited(resp, MAX_ERROR_BODY).await;
        Err(UpstreamFailure::Status {
            status,
            body,
            retry_after,
        })
    }
}

/// Exponential backoff with full jitter: 100 ms · 2^(n-1), ±50 %.
pub fn backoff(attempt: u32) -> Duration {
    let base = 100u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(8));
    let jitter = fastrand::u64(0..=base);
    Duration::from_millis(base / 2 + jitter / 2 + 1)
}

/// `Retry-After` as seconds (a number of seconds or an HTTP date).
pub fn parse_retry_after(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(secs.ceil() as u64);
        }
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// Classifies a reqwest error without echoing URLs that could carry credentials.
pub fn classify_reqwest(e: &reqwest::Error) -> UpstreamFailure {
    if e.is_timeout() {
        if e.is_connect() {
            UpstreamFailure::Timeout("connect")
        } else {
            UpstreamFailure::Timeout("first byte")
        }
    } else if e.is_connect() {
        UpstreamFailure::Connect(root_cause(e))
    } else if e.is_body() || e.is_decode() {
        UpstreamFailure::Disconnected(root_cause(e))
    } else {
        UpstreamFailure::Connect(root_cause(e))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        buf.extend_from_slice(&chunk);
        if buf.len() >= limit {
            buf.truncate(limit);
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_rejects_garbage() {
        assert_eq!(parse_retry_after("1"), Some(1));
        assert_eq!(parse_retry_after("1.5"), Some(2));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 1..20 {
            let d = backoff(attempt);
            assert!(d >= Duration::from_millis(1));
            assert!(d <= Duration::from_millis(100 * 256 + 1));
        }
        assert!(backoff(1) <= Duration::from_millis(101));
    }

    #[test]
    fn debug_hides_the_key() {
        let c = UpstreamClient::new(
            "http://x/v1/chat/completions".into(),
            "sk-secret-123",
            UpstreamPolicy::default(),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("sk-secret"));
    }
}

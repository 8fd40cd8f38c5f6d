//! The upstream HTTP transport, shared by every upstream kind: one pooled rustls client per
//! backend, the request's URL and credentials given per call, retries with jittered backoff for
//! failures that happen before any byte reached the client, the first-byte timeout, and
//! classification of every transport failure into [`UpstreamFailure`]. It knows no protocol.
//!
//! Each attempt is a child span of the request's (`ccp_telemetry::Attempt`): the upstream gets
//! its context as `traceparent`, retries are counted, and the span lasts until the answer's body
//! is dropped.
//!
//! The client is hyper's pooled client with a rustls connector, used directly: reqwest's layers
//! (URL re-parsing, a redirect layer that runs even when redirects are off, body wrappers) were
//! a seventh of the proxy's instructions per small request. Redirects are never followed: they
//! would carry the backend's key to another URL.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use ccp_telemetry::{Attempt, RequestScope};

use crate::access_log::RequestLog;
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
    /// Most idle connections kept for reuse.
    pub pool_max_idle: usize,
    /// How long an idle connection is kept.
    pub pool_idle_timeout: Duration,
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
            pool_max_idle: 64,
            pool_idle_timeout: Duration::from_secs(90),
        }
    }
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The HTTP client of one backend.
#[derive(Clone)]
pub struct HttpTransport {
    client: Client<Connector, Full<Bytes>>,
    pub policy: UpstreamPolicy,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("policy", &self.policy)
            .finish()
    }
}

/// Credentials for one call, as the headers that carry them (values marked sensitive, so they
/// never appear in `Debug`). Each kind builds them per call: a static key in the header that
/// backend wants, or a freshly refreshed OAuth token.
#[derive(Clone, Default)]
pub struct Credentials(pub Vec<(http::HeaderName, HeaderValue)>);

impl Credentials {
    /// No credentials (local servers).
    pub fn none() -> Self {
        Credentials(Vec::new())
    }

    /// `name: prefix + secret`, marked sensitive; an error when the secret cannot go in a header.
    pub fn header(name: http::HeaderName, prefix: &str, secret: &str) -> Result<Self, String> {
        let mut v = HeaderValue::from_str(&format!("{prefix}{secret}")).map_err(|_| {
            "the key contains characters that cannot go in an HTTP header".to_owned()
        })?;
        v.set_sensitive(true);
        Ok(Credentials(vec![(name, v)]))
    }

    /// `Authorization: Bearer <token>`, or no credentials for an empty token.
    pub fn bearer(token: &str) -> Result<Self, String> {
        if token.is_empty() {
            return Ok(Credentials::none());
        }
        Credentials::header(AUTHORIZATION, "Bearer ", token)
    }

    /// Adds a non-secret header (an account id, a client name).
    pub fn with(mut self, name: http::HeaderName, value: HeaderValue) -> Self {
        self.0.push((name, value));
        self
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Credentials")
            .field("headers", &names)
            .finish()
    }
}

/// Parses an upstream URL once (at startup), refusing anything but http(s)://host.
pub fn parse_upstream_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("invalid upstream url {url:?}: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(format!(
            "invalid upstream url {url:?}: needs http(s)://host"
        ));
    }
    Ok(uri)
}

/// A 2xx upstream answer whose body has not been read yet.
pub struct UpstreamResponse {
    inner: Response<Incoming>,
    /// The attempt's span, ended when the answer is dropped.
    _attempt: Attempt,
}

impl UpstreamResponse {
    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The next non-empty piece of the body; `None` at its end. Cancel-safe.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, hyper::Error> {
        loop {
            match self.inner.body_mut().frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Ok(Some(data));
                        }
                    }
                }
            }
        }
    }

    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, hyper::Error> {
        Ok(self.inner.into_body().collect().await?.to_bytes())
    }

    /// The whole body, read before `deadline` (the request's total timeout).
    pub async fn bytes_before(
        self,
        deadline: tokio::time::Instant,
    ) -> Result<Bytes, UpstreamFailure> {
        match tokio::time::timeout_at(deadline, self.bytes()).await {
            Err(_) => Err(UpstreamFailure::Timeout("total")),
            Ok(Err(e)) => Err(UpstreamFailure::Disconnected(e.to_string())),
            Ok(Ok(b)) => Ok(b),
        }
    }
}

/// Largest error body read from an upstream (the rest is not needed to classify it).
const MAX_ERROR_BODY: usize = 64 * 1024;

const USER_AGENT_VALUE: &str = concat!("codex-convert-proxy/", env!("CARGO_PKG_VERSION"));

impl HttpTransport {
    /// Builds the client.
    pub fn new(policy: UpstreamPolicy) -> Result<Self, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(policy.connect));
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("could not set up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(policy.pool_idle_timeout)
            .pool_max_idle_per_host(policy.pool_max_idle)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(HttpTransport { client, policy })
    }

    /// When a request that arrived at `started` runs out of time (`total_timeout_secs`).
    pub fn deadline(&self, started: std::time::Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(started + self.policy.total)
    }

    /// [`send`](Self::send), bounded by the total timeout of the request `log` describes.
    pub(crate) async fn send_before(
        &self,
        log: &RequestLog,
        uri: &Uri,
        credentials: &Credentials,
        body: Bytes,
        stream: bool,
    ) -> Result<UpstreamResponse, UpstreamFailure> {
        tokio::time::timeout_at(
            self.deadline(log.started),
            self.send(&log.scope, uri, credentials, body, stream),
        )
        .await
        .unwrap_or(Err(UpstreamFailure::Timeout("total")))
    }

    /// POSTs the body to `uri` with `credentials`, retrying retryable failures, and returns a
    /// 2xx response whose body has not been read yet. Each attempt is a span of `scope`.
    pub async fn send(
        &self,
        scope: &RequestScope,
        uri: &Uri,
        credentials: &Credentials,
        body: Bytes,
        stream: bool,
    ) -> Result<UpstreamResponse, UpstreamFailure> {
        let mut attempt: u32 = 0;
        loop {
            let span = scope.attempt(uri.host().unwrap_or_default(), port_of(uri));
            let sent = self.send_once(span, uri, credentials, body.clone(), stream);
            let failure = match sent.await {
                Ok(resp) => return Ok(resp),
                Err(f) => f,
            };
            if attempt >= self.policy.max_retries || !failure.is_retryable_before_first_byte() {
                return Err(failure);
            }
            attempt += 1;
            let delay = backoff(attempt);
            tracing::warn!(url = %redacted_url(uri), attempt, ?delay, failure = ?failure, "upstream failed before the first byte; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(
        &self,
        mut span: Attempt,
        uri: &Uri,
        credentials: &Credentials,
        body: Bytes,
        stream: bool,
    ) -> Result<UpstreamResponse, UpstreamFailure> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = uri.clone();
        let headers = req.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(if stream {
                "text/event-stream"
            } else {
                "application/json"
            }),
        );
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        for (name, value) in &credentials.0 {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in span.trace_headers() {
            headers.insert(name, value);
        }
        let resp =
            match tokio::time::timeout(self.policy.first_byte, self.client.request(req)).await {
                Err(_) => {
                    span.failed("timeout");
                    return Err(UpstreamFailure::Timeout("first byte"));
                }
                Ok(Err(e)) => {
                    let failure = classify_client_error(&e);
                    span.failed(match failure {
                        UpstreamFailure::Timeout(_) => "timeout",
                        _ => "connect",
                    });
                    return Err(failure);
                }
                Ok(Ok(r)) => r,
            };
        let status = resp.status().as_u16();
        span.answered(status);
        if (200..300).contains(&status) {
            return Ok(UpstreamResponse {
                inner: resp,
                _attempt: span,
            });
        }
        if (300..400).contains(&status) {
            // Passed on as a status, a redirect would reach the client as a 3xx without its
            // Location; the fix is in the config, so say where the upstream points.
            let to = resp
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<Uri>().ok())
                .map(|u| format!(" to {}", location_shown(&u)))
                .unwrap_or_default();
            return Err(UpstreamFailure::Protocol(format!(
                "it answered a redirect (HTTP {status}{to}), which is not followed because it \
                 would carry the key — set the backend's url to the address it redirects to"
            )));
        }
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let answer = UpstreamResponse {
            inner: resp,
            _attempt: span,
        };
        let body = read_limited(answer, MAX_ERROR_BODY).await;
        tracing::debug!(url = %redacted_url(uri), status, "upstream answered an error status");
        Err(UpstreamFailure::Status {
            status,
            body,
            retry_after,
        })
    }
}

/// The port of `uri`, or its scheme's default.
fn port_of(uri: &Uri) -> Option<u16> {
    uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })
}

/// The URL without its query (which may carry secrets, e.g. a key in `?key=`), for logs and
/// messages.
pub fn redacted_url(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    format!("{scheme}://{authority}{}", uri.path())
}

/// A redirect target for a message: scheme, host, port and path (no user info, no query).
fn location_shown(uri: &Uri) -> String {
    match uri.host() {
        Some(host) => {
            let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
            let scheme = uri.scheme_str().unwrap_or("http");
            format!("{scheme}://{host}{port}{}", uri.path())
        }
        None => uri.path().to_owned(),
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

/// Classifies a client error without echoing URLs that could carry credentials.
fn classify_client_error(e: &hyper_util::client::legacy::Error) -> UpstreamFailure {
    if e.is_connect() {
        let timed_out =
            std::iter::successors(Some(e as &(dyn std::error::Error + 'static)), |cur| {
                cur.source()
            })
            .any(|cur| {
                cur.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            });
        if timed_out {
            return UpstreamFailure::Timeout("connect");
        }
    }
    // Connection refused, reset or closed before the answer began: nothing reached the client.
    UpstreamFailure::Connect(root_cause(e))
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

async fn read_limited(mut resp: UpstreamResponse, limit: usize) -> String {
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
        let c = Credentials::bearer("sk-secret-123").unwrap();
        assert!(!format!("{c:?}").contains("sk-secret"));
        assert!(format!("{c:?}").contains("authorization"));
        let a = Credentials::header(
            http::HeaderName::from_static("api-key"),
            "",
            "azure-secret-1",
        )
        .unwrap();
        assert!(!format!("{a:?}").contains("azure-secret"));
        assert!(a.0[0].1.is_sensitive());
    }

    #[test]
    fn redirect_targets_are_shown_without_credentials_or_query() {
        let u: Uri = "https://user:pw@h.example:8443/v2/responses?key=s"
            .parse()
            .unwrap();
        assert_eq!(location_shown(&u), "https://h.example:8443/v2/responses");
        let u: Uri = "/v2/responses?key=s".parse().unwrap();
        assert_eq!(location_shown(&u), "/v2/responses");
    }

    #[test]
    fn urls_are_checked_and_logged_without_query() {
        assert!(parse_upstream_url("ftp://x/y").is_err());
        let u = parse_upstream_url(
            "https://r.openai.azure.com/openai/v1/responses?api-version=1&key=s",
        )
        .unwrap();
        assert_eq!(
            redacted_url(&u),
            "https://r.openai.azure.com/openai/v1/responses"
        );
    }
}

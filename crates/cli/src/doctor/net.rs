//! Network probes for `doctor`: DNS, TCP connect, "is this our proxy?" via `/health`, and a
//! WebSocket upgrade attempt that only looks at the status line.
//!
//! Invariants: every probe has a timeout; nothing here prints, and header values (keys) never
//! appear in returned messages.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Timeout for the small probes (health, WebSocket, DNS when the backend sets none).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client for probes; never retries and follows no redirects (a redirect is an answer
/// worth reporting).
pub fn client(connect_timeout: Duration, timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {}", error_chain(&e)))
}

/// `e` and its sources, joined with ": ", without repeats.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Resolves `host:port`.
pub async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(format!("DNS lookup of `{host}` returned no addresses"))
            } else {
                Ok(addrs)
            }
        }
        Ok(Err(e)) => Err(format!("DNS lookup of `{host}` failed: {e}")),
        Err(_) => Err(format!(
            "DNS lookup of `{host}` timed out after {}s",
            timeout.as_secs()
        )),
    }
}

/// Connects to the first address that accepts; the error lists the last failure.
pub async fn tcp_connect(addrs: &[SocketAddr], timeout: Duration) -> Result<SocketAddr, String> {
    let mut last = String::from("no address to try");
    for addr in addrs {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => return Ok(*addr),
            Ok(Err(e)) => last = format!("TCP connect to {addr} failed: {e}"),
            Err(_) => {
                last = format!(
                    "TCP connect to {addr} timed out after {}s",
                    timeout.as_secs()
                )
            }
        }
    }
    Err(last)
}

/// What answered at a provider's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `/health` answered `{"status":"ok","config":{…}}`.
    ThisProxy,
    /// Something answered, but not like this proxy.
    Other(String),
    /// Nothing answered.
    Unreachable(String),
}

/// `base_url` without a trailing `/` and one trailing `/v1`.
pub fn strip_v1(base_url: &str) -> &str {
    let trimmed = base_url.trim_end_matches('/');
    trimmed.strip_suffix("/v1").unwrap_or(trimmed)
}

/// Asks `<base_url minus /v1>/health` whether it is this proxy.
pub async fn health(base_url: &str) -> Health {
    let url = format!("{}/health", strip_v1(base_url));
    let client = match client(PROBE_TIMEOUT, PROBE_TIMEOUT) {
        Ok(c) => c,
        Err(e) => return Health::Unreachable(e),
    };
    let resp = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) => return Health::Unreachable(format!("GET {url}: {}", error_chain(&e))),
    };
    let status = resp.status().as_u16();
    let body: Option<serde_json::Value> = resp.json().await.ok();
    let is_proxy = body.as_ref().is_some_and(|b| {
        b.get("status").and_then(|s| s.as_str()) == Some("ok")
            && b.get("config").is_some_and(|c| c.is_object())
    });
    if status == 200 && is_proxy {
        Health::ThisProxy
    } else if status == 200 {
        Health::Other(format!(
            "GET {url} answered 200 but not with codex-convert-proxy's health JSON"
        ))
    } else {
        Health::Other(format!("GET {url} answered HTTP {status}"))
    }
}

/// Sends a WebSocket upgrade for `<base_url>/responses` and returns the HTTP status of the
/// answer (101 when the server speaks WebSocket there). Plain `http://` only; the raw request
/// keeps the check independent of any client library's upgrade handling.
pub async fn websocket_status(base_url: &str, bearer: Option<&str>) -> Result<u16, String> {
    let url = reqwest::Url::parse(&format!("{}/responses", base_url.trim_end_matches('/')))
        .map_err(|e| format!("base_url is not a valid URL: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "the WebSocket check supports http:// URLs only, not {}://",
            url.scheme()
        ));
    }
    let host = url.host_str().ok_or("base_url has no host")?.to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let mut path = url.path().to_owned();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let connect_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let work = async move {
        let mut stream = tokio::net::TcpStream::connect((connect_host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {host_header}: {e}"))?;
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: Y29kZXgtY29udmVydC1wcng=\r\nSec-WebSocket-Version: 13\r\n"
        );
        if let Some(token) = bearer {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("cannot send the upgrade request: {e}"))?;
        let mut head = Vec::with_capacity(256);
        let mut buf = [0u8; 256];
        while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("cannot read the upgrade answer: {e}"))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        parse_status_line(&head)
            .ok_or_else(|| "the server closed the connection without an HTTP answer".to_owned())
    };
    tokio::time::timeout(PROBE_TIMEOUT, work)
        .await
        .map_err(|_| {
            format!(
                "no answer to the WebSocket upgrade within {}s",
                PROBE_TIMEOUT.as_secs()
            )
        })?
}

fn parse_status_line(head: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_v1_removes_one_trailing_v1() {
        assert_eq!(strip_v1("http://h:1/v1/"), "http://h:1");
        assert_eq!(strip_v1("http://h:1/kimi/v1"), "http://h:1/kimi");
        assert_eq!(strip_v1("http://h:1"), "http://h:1");
    }

    #[test]
    fn parses_status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 101 Switching Protocols\r\n"),
            Some(101)
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.1 426 Upgrade Required\r\nx: y"),
            Some(426)
        );
        assert_eq!(parse_status_line(b"garbage\r\n"), None);
    }
}
